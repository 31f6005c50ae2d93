//! The mock DingTalk robots: they check the token and the signature of every request and
//! record when it arrived and what it said.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alert_testkit::dingtalk::expected_sign;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{JOB_PREFIX, SECRET};

/// One request the robot accepted.
#[derive(Debug, Clone)]
pub(super) struct Arrival {
    pub(super) at: Instant,
    pub(super) body: Value,
}

/// A DingTalk custom robot on 127.0.0.1 that checks the access token and the `timestamp`/`sign`
/// query parameters (HMAC-SHA256 of DingTalk, computed by alert-testkit independently of the
/// plugin) and the body shape, records every accepted request with its arrival time, and
/// answers `{"errcode":0,"errmsg":"ok"}` after `delay`.
pub(super) struct Robot {
    server: MockServer,
    token: String,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    rejected: Arc<Mutex<Vec<String>>>,
}

struct RobotResponder {
    token: String,
    delay: Duration,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    rejected: Arc<Mutex<Vec<String>>>,
}

impl RobotResponder {
    fn check(&self, req: &Request) -> Result<Value, String> {
        let query: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
        if query.get("access_token") != Some(&self.token) {
            return Err(format!("wrong access_token in {}", req.url));
        }
        let (Some(ts), Some(sign)) = (query.get("timestamp"), query.get("sign")) else {
            return Err("timestamp or sign missing".into());
        };
        let now = chrono::Utc::now().timestamp_millis();
        let ts_ms: i64 = ts.parse().map_err(|_| format!("timestamp {ts}"))?;
        if (now - ts_ms).abs() > 3_600_000 {
            return Err(format!("timestamp {ts} more than an hour away"));
        }
        if *sign != expected_sign(SECRET, ts) {
            return Err("the signature is wrong".into());
        }
        let body: Value = serde_json::from_slice(&req.body).map_err(|e| format!("body: {e}"))?;
        let content = match body["msgtype"].as_str() {
            Some("markdown") => body["markdown"]["text"].as_str(),
            Some("text") => body["text"]["content"].as_str(),
            _ => None,
        };
        if content.is_none_or(str::is_empty) {
            return Err(format!("no content: {body}"));
        }
        Ok(body)
    }
}

impl Respond for RobotResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let at = Instant::now();
        match self.check(req) {
            Ok(body) => {
                self.arrivals.lock().unwrap().push(Arrival { at, body });
                ResponseTemplate::new(200)
                    .set_body_json(json!({"errcode": 0, "errmsg": "ok"}))
                    .set_delay(self.delay)
            }
            Err(why) => {
                self.rejected.lock().unwrap().push(why.clone());
                ResponseTemplate::new(200).set_body_json(
                    json!({"errcode": 310000, "errmsg": format!("sign not match, more: [{why}]")}),
                )
            }
        }
    }
}

impl Robot {
    pub(super) async fn start(delay: Duration) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let token = format!("replicas-tok-{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let rejected = Arc::new(Mutex::new(Vec::new()));
        Mock::given(method("POST"))
            .and(path("/robot/send"))
            .respond_with(RobotResponder {
                token: token.clone(),
                delay,
                arrivals: Arc::clone(&arrivals),
                rejected: Arc::clone(&rejected),
            })
            .mount(&server)
            .await;
        Self {
            server,
            token,
            arrivals,
            rejected,
        }
    }

    pub(super) fn webhook(&self) -> String {
        format!(
            "{}/robot/send?access_token={}",
            self.server.uri(),
            self.token
        )
    }

    pub(super) fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    pub(super) fn count(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    /// Asserts no request failed the robot's checks.
    #[track_caller]
    pub(super) fn assert_no_rejections(&self) {
        let rejected = self.rejected.lock().unwrap();
        assert!(
            rejected.is_empty(),
            "the robot refused {} requests, first: {}",
            rejected.len(),
            rejected[0]
        );
    }

    /// What the accepted bodies name, job by job.
    pub(super) fn tally(&self) -> Tally {
        Tally::of(&self.arrivals())
    }

    /// Waits (at most `within`) until the bodies name `n` distinct test jobs.
    pub(super) async fn wait_jobs(&self, n: usize, within: Duration) -> Tally {
        let deadline = Instant::now() + within;
        loop {
            let tally = self.tally();
            if tally.per_job.len() >= n {
                return tally;
            }
            assert!(
                Instant::now() < deadline,
                "the robot saw {} of {n} jobs after {within:?} ({} requests)",
                tally.per_job.len(),
                tally.requests
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Test job names in request bodies: how many requests named each.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) requests: usize,
    pub(super) per_job: HashMap<String, usize>,
}

impl Tally {
    fn of(arrivals: &[Arrival]) -> Self {
        let mut tally = Tally {
            requests: arrivals.len(),
            ..Tally::default()
        };
        for a in arrivals {
            for name in job_names(&a.body.to_string()) {
                *tally.per_job.entry(name).or_default() += 1;
            }
        }
        tally
    }

    /// Requests beyond the first per job (a job named by k requests counts k - 1).
    pub(super) fn duplicates(&self) -> usize {
        self.per_job.values().map(|k| k - 1).sum()
    }
}

/// The distinct test job names (`rjob_NNNNN`) in `text`.
pub(super) fn job_names(text: &str) -> HashSet<String> {
    text.match_indices(JOB_PREFIX)
        .filter_map(|(at, _)| {
            let digits = text.get(at + JOB_PREFIX.len()..at + JOB_PREFIX.len() + 5)?;
            digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| format!("{JOB_PREFIX}{digits}"))
        })
        .collect()
}
