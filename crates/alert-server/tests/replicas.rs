//! Several alert-server replicas on one PostgreSQL database (issue #7), as real processes.
//!
//! Every test creates a database of its own (`support/pg.rs`; PostgreSQL must be reachable: an
//! unreachable server fails the test, it is never skipped), starts N `alert-server serve`
//! processes on it (the binary cargo built for this test, each on its own loopback port, short
//! leases through `FLINK_ALERT_*`), configures instances, groups, bindings and clusters through
//! one replica's REST API (the others see it within the routing cache's 1 s), and sends to mock
//! DingTalk robots on 127.0.0.1 that check the token and the signature of every request and
//! record when it arrived and what it said. Every process is killed when its test ends, panics
//! included; every wait is bounded.
//!
//! What is proven:
//! - `two_replicas_deliver_every_event_once`, `three_replicas_deliver_every_event_once`:
//!   1,000 events posted round-robin to all replicas (8 in flight), bound to 2 unlimited
//!   instances: every (event, instance) reaches its robot, none twice, and the history API
//!   shows every delivery `sent`.
//! - `kill_9_mid_send_redelivers_after_the_lease`: 500 events posted quickly (32 at a time)
//!   to two replicas sending to a slow robot (1 s per answer, up to 256 sends in flight per
//!   replica); one replica is SIGKILLed as soon as the last event is committed, while its
//!   sends are in flight. The survivor delivers everything, taking each of the dead replica's
//!   rows only after its lease (3 s) ended; the duplicates (sends that reached the robot but
//!   whose answer the dead replica never recorded) are printed and bounded by the rows it had
//!   claimed.
//! - `watcher_fails_over_and_alerts_a_cancel_once`: a mock Flink JobManager watched by one of
//!   two replicas (watch lease 1.5 s). Nothing is alerted for the running job; the watching
//!   replica is SIGKILLed, the job is canceled while no one watches, the other replica takes
//!   the cluster over within two lease periods (plus slack) and the cancel is alerted exactly
//!   once.
//! - `rate_budget_holds_across_replicas`: 3 replicas, 100 events for one DingTalk robot with
//!   `rate_per_minute: 20`: every event ends sent, or suppressed into a digest that was sent
//!   (so nothing more will ever be sent for them, and what the robot received is complete);
//!   the bodies together name all 100 jobs, and no 60 s window holds more than 20 requests.
//!
//! The replicas run a private hard link (or copy) of the binary cargo built for this run, so
//! that another build in the same target directory cannot swap it mid-test.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alert_testkit::dingtalk::expected_sign;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[path = "support/pg.rs"]
mod pg;

/// Signing secret of the mock robots.
const SECRET: &str = "SECreplicas-0123456789abcdef";
/// The delivery lease of every replica (`delivery.lease_secs`).
const LEASE_SECS: u64 = 3;
/// The watcher lease of every replica (`watch.lease_ms`).
const WATCH_LEASE_MS: u64 = 1500;
/// The prefix of every job name the tests post (the robots' bodies are searched for it).
const JOB_PREFIX: &str = "rjob_";

// ---------------------------------------------------------------------------------------------
// Replicas

/// One `alert-server serve` process; SIGKILLed (and reaped) on drop.
struct Replica {
    /// Its `FLINK_ALERT_REPLICA_ID`.
    id: String,
    /// `http://127.0.0.1:<port>`.
    base: String,
    child: Option<Child>,
    pid: u32,
    log: PathBuf,
}

impl Replica {
    /// SIGKILL (`kill -9`) and reap.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }

    /// The last lines of its log (stdout and stderr).
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A private link to (or copy of) the alert-server binary cargo built for this test run, made
/// once per run: other builds sharing the target directory may replace
/// `target/debug/alert-server` while the tests run, and every replica must run the same code.
/// Links left by earlier runs (whose process is gone) are removed.
fn server_binary() -> &'static std::path::Path {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("replicas-alert-server-") {
                    if !PathBuf::from(format!("/proc/{pid}")).exists() {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
        let private = dir.join(format!("replicas-alert-server-{}", std::process::id()));
        let built = env!("CARGO_BIN_EXE_alert-server");
        let _ = std::fs::remove_file(&private);
        if std::fs::hard_link(built, &private).is_err() {
            std::fs::copy(built, &private).expect("a copy of the alert-server binary");
        }
        private
    })
}

/// A free loopback port (bound, read, released: the replica binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// N replicas on one fresh database, with the HTTP client the tests talk to them through.
struct ReplicaSet {
    replicas: Vec<Replica>,
    http: reqwest::Client,
    logs: PathBuf,
    // Last: dropped after every process is gone.
    db: pg::PgDb,
}

impl ReplicaSet {
    /// Creates a database and starts `n` replicas on it (all at once, so their migrations
    /// race), with the short test settings plus `extra_env`; waits until each `/healthz` is 200.
    async fn start(tag: &str, n: usize, extra_env: &[(&str, &str)]) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let db = pg::PgDb::create(&format!("rep{tag}")).await;
        let logs = std::env::temp_dir().join(format!(
            "flink-alert-replicas-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&logs).expect("a log directory");
        let lease = LEASE_SECS.to_string();
        let watch_lease = WATCH_LEASE_MS.to_string();
        let mut replicas = Vec::with_capacity(n);
        for i in 0..n {
            let port = free_port();
            let id = format!("{tag}-replica-{i}");
            let log = logs.join(format!("{id}.log"));
            let out = File::create(&log).expect("a log file");
            let err = out.try_clone().expect("a log file");
            let mut cmd = Command::new(server_binary());
            cmd.arg("serve")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--database-url")
                .arg(&db.url);
            // Nothing from the environment of the test run: only what is set here.
            for (key, _) in std::env::vars() {
                if key.starts_with("FLINK_ALERT_") || key == "RUST_LOG" {
                    cmd.env_remove(key);
                }
            }
            let settings = [
                ("FLINK_ALERT_LOG", "warn"),
                ("FLINK_ALERT_REPLICA_ID", id.as_str()),
                ("FLINK_ALERT_DELIVERY__LEASE_SECS", lease.as_str()),
                ("FLINK_ALERT_DELIVERY__POLL_INTERVAL_MS", "100"),
                ("FLINK_ALERT_DELIVERY__BACKOFF_MIN_MS", "100"),
                ("FLINK_ALERT_DELIVERY__BACKOFF_MAX_MS", "1000"),
                ("FLINK_ALERT_DELIVERY__SEND_TIMEOUT_SECS", "5"),
                ("FLINK_ALERT_DELIVERY__SHUTDOWN_GRACE_SECS", "1"),
                ("FLINK_ALERT_WATCH__LEASE_MS", watch_lease.as_str()),
            ];
            cmd.envs(settings.iter().copied())
                .envs(extra_env.iter().copied())
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            let child = cmd.spawn().expect("alert-server starts");
            replicas.push(Replica {
                id,
                base: format!("http://127.0.0.1:{port}"),
                pid: child.id(),
                child: Some(child),
                log,
            });
        }
        let set = Self {
            replicas,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(16)
                .build()
                .expect("an HTTP client"),
            logs,
            db,
        };
        for i in 0..n {
            set.wait_healthy(i).await;
        }
        set
    }

    /// Waits (at most 30 s) until replica `i` answers `/healthz` with 200.
    async fn wait_healthy(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = self
                .http
                .get(format!("{}/healthz", self.replicas[i].base))
                .send()
                .await
            {
                if res.status() == 200 {
                    // Where it says, it says who it is and what it runs on.
                    let body: Value = res.json().await.unwrap_or(Value::Null);
                    let r = &self.replicas[i];
                    if let Some(backend) = body.get("backend") {
                        assert_eq!(backend, "postgres", "healthz of {}: {body}", r.id);
                    }
                    if let Some(replica) = body.get("replica") {
                        assert_eq!(replica, &json!(r.id), "healthz of {}: {body}", r.id);
                    }
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "replica {} never became healthy; its log:\n{}",
                self.replicas[i].id,
                self.replicas[i].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request to replica `i`: status and JSON body (`null` when there is none).
    async fn call(
        &self,
        i: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.replicas[i].base));
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} on {}: {e}", self.replicas[i].id));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, i: usize, path: &str) -> Value {
        let (status, body) = self.call(i, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POSTs `body` to replica `i`, expects 201, returns the new id.
    async fn create(&self, i: usize, path: &str, body: Value) -> i64 {
        let (status, answer) = self.call(i, reqwest::Method::POST, path, Some(&body)).await;
        assert_eq!(status, 201, "POST {path} {body}: {answer}");
        answer["id"].as_i64().expect("an id")
    }

    /// A DingTalk instance on `robot` with `rate_per_minute`, created through replica 0.
    async fn dingtalk(&self, name: &str, robot: &Robot, rate_per_minute: u32) -> i64 {
        self.create(
            0,
            "/api/v1/instances",
            json!({
                "name": name,
                "kind": "dingtalk",
                "params": {"webhook": robot.webhook(), "secret": SECRET},
                "rate_per_minute": rate_per_minute,
            }),
        )
        .await
    }

    /// A group of `instances` bound to every job of the tests (default statuses).
    async fn group_for_test_jobs(&self, instances: &[i64]) -> i64 {
        let group = self
            .create(
                0,
                "/api/v1/groups",
                json!({"name": "ops", "enabled": true, "instance_ids": instances}),
            )
            .await;
        self.create(
            0,
            "/api/v1/bindings",
            json!({"job": format!("{JOB_PREFIX}*"), "group_id": group}),
        )
        .await;
        group
    }

    /// Waits until every replica's routing cache (TTL 1 s) has seen the configuration.
    async fn let_config_spread(&self) {
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }

    /// Posts events for jobs `0..n` round-robin to the live replicas, `in_flight` at a time;
    /// each must be accepted with `deliveries` deliveries.
    async fn post_events(&self, n: usize, in_flight: usize, deliveries: usize) {
        let bases: Arc<Vec<String>> = Arc::new(
            self.replicas
                .iter()
                .filter(|r| r.alive())
                .map(|r| r.base.clone())
                .collect(),
        );
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..in_flight {
            let (bases, next, http) = (Arc::clone(&bases), Arc::clone(&next), self.http.clone());
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let base = &bases[i % bases.len()];
                    let res = http
                        .post(format!("{base}/api/v1/events"))
                        .json(&job_event(i))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("posting event {i} to {base}: {e}"));
                    let status = res.status().as_u16();
                    let body: Value = res.json().await.unwrap_or(Value::Null);
                    assert_eq!(status, 202, "event {i} to {base}: {body}");
                    assert_eq!(
                        body["deliveries"],
                        json!(deliveries),
                        "event {i} to {base} was not routed to every instance: {body}"
                    );
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }

    /// Every history row (paged through replica `i`), newest first.
    async fn all_history(&self, i: usize) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut before = String::new();
        loop {
            let page = self
                .get(i, &format!("/api/v1/history?limit=1000{before}"))
                .await;
            let page = page.as_array().expect("history is a list").clone();
            let Some(last) = page.last() else {
                return rows;
            };
            before = format!("&before={}", last["id"]);
            rows.extend(page);
        }
    }

    /// Waits (at most `within`) until no delivery is pending, through replica `i`; returns the
    /// history.
    async fn wait_settled(&self, i: usize, expected_rows: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let rows = self.all_history(i).await;
            let pending = rows.iter().filter(|r| r["state"] == "pending").count();
            if rows.len() >= expected_rows && pending == 0 {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "deliveries still pending after {within:?}: {pending} of {} rows (expected at least {expected_rows}); states: {:?}",
                rows.len(),
                count_states(&rows)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A direct connection to the test database.
    async fn sql(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&self.db.url)
            .await
            .expect("the test database")
    }
}

impl Drop for ReplicaSet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for r in &self.replicas {
                eprintln!("---- log of {} (pid {}):\n{}", r.id, r.pid, r.log_tail());
            }
        }
        for r in &mut self.replicas {
            r.kill9();
        }
        let _ = std::fs::remove_dir_all(&self.logs);
    }
}

/// Deliveries per state.
fn count_states(rows: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in rows {
        *counts
            .entry(r["state"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    counts
}

/// The event of test job `i` (job name `rjob_0000i`, a Flink-like id), FAILED now.
fn job_event(i: usize) -> Value {
    json!({
        "job_id": format!("{:032x}", 0xa1e7_0000_usize + i),
        "job_name": job_name(i),
        "cluster": "prod",
        "status": "FAILED",
        "previous_status": "RUNNING",
        "error": "java.lang.RuntimeException: boom",
    })
}

fn job_name(i: usize) -> String {
    format!("{JOB_PREFIX}{i:05}")
}

// ---------------------------------------------------------------------------------------------
// Mock DingTalk robot

/// One request the robot accepted.
#[derive(Debug, Clone)]
struct Arrival {
    at: Instant,
    body: Value,
}

/// A DingTalk custom robot on 127.0.0.1 that checks the access token and the `timestamp`/`sign`
/// query parameters (HMAC-SHA256 of DingTalk, computed by alert-testkit independently of the
/// plugin) and the body shape, records every accepted request with its arrival time, and
/// answers `{"errcode":0,"errmsg":"ok"}` after `delay`.
struct Robot {
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
    async fn start(delay: Duration) -> Self {
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

    fn webhook(&self) -> String {
        format!(
            "{}/robot/send?access_token={}",
            self.server.uri(),
            self.token
        )
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    /// Asserts no request failed the robot's checks.
    #[track_caller]
    fn assert_no_rejections(&self) {
        let rejected = self.rejected.lock().unwrap();
        assert!(
            rejected.is_empty(),
            "the robot refused {} requests, first: {}",
            rejected.len(),
            rejected[0]
        );
    }

    /// What the accepted bodies name, job by job.
    fn tally(&self) -> Tally {
        Tally::of(&self.arrivals())
    }

    /// Waits (at most `within`) until the bodies name `n` distinct test jobs.
    async fn wait_jobs(&self, n: usize, within: Duration) -> Tally {
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
struct Tally {
    requests: usize,
    per_job: HashMap<String, usize>,
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
    fn duplicates(&self) -> usize {
        self.per_job.values().map(|k| k - 1).sum()
    }
}

/// The distinct test job names (`rjob_NNNNN`) in `text`.
fn job_names(text: &str) -> HashSet<String> {
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

// ---------------------------------------------------------------------------------------------
// 1. Every (event, instance) exactly once

async fn every_event_once(replicas: usize) {
    const EVENTS: usize = 1000;
    let started = Instant::now();
    let set = ReplicaSet::start(&format!("once{replicas}"), replicas, &[]).await;
    let robots = [
        Robot::start(Duration::ZERO).await,
        Robot::start(Duration::ZERO).await,
    ];
    let a = set.dingtalk("robot-a", &robots[0], 0).await;
    let b = set.dingtalk("robot-b", &robots[1], 0).await;
    set.group_for_test_jobs(&[a, b]).await;
    set.let_config_spread().await;

    let posting = Instant::now();
    set.post_events(EVENTS, 8, 2).await;
    let posted = posting.elapsed();
    let tallies = [
        robots[0].wait_jobs(EVENTS, Duration::from_secs(60)).await,
        robots[1].wait_jobs(EVENTS, Duration::from_secs(60)).await,
    ];
    let delivered = posting.elapsed();
    // A late duplicate would arrive within a lease: look again after a while.
    let rows = set
        .wait_settled(replicas - 1, 2 * EVENTS, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tallies_after = [robots[0].tally(), robots[1].tally()];
    println!(
        "{replicas} replicas: {EVENTS} events posted in {posted:?}, {} deliveries at the robots after {delivered:?} (requests {} + {}), duplicates {} + {}; total {:?}",
        tallies_after[0].per_job.len() + tallies_after[1].per_job.len(),
        tallies_after[0].requests,
        tallies_after[1].requests,
        tallies_after[0].duplicates(),
        tallies_after[1].duplicates(),
        started.elapsed()
    );
    for (robot, (tally, after)) in robots.iter().zip(tallies.iter().zip(&tallies_after)) {
        robot.assert_no_rejections();
        assert_eq!(after.per_job.len(), EVENTS, "every job reached the robot");
        assert_eq!(after.duplicates(), 0, "a job reached the robot twice");
        assert_eq!(after.requests, EVENTS, "one request per event");
        assert_eq!(tally.requests, after.requests);
    }
    // The history agrees: one row per (event, instance), all sent.
    assert_eq!(rows.len(), 2 * EVENTS);
    assert_eq!(
        count_states(&rows),
        BTreeMap::from([("sent".to_owned(), 2 * EVENTS)])
    );
    let pairs: HashSet<(String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["job_id"].as_str().unwrap().to_owned(),
                r["instance_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs.len(),
        2 * EVENTS,
        "one delivery per (event, instance)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_deliver_every_event_once() {
    every_event_once(2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_deliver_every_event_once() {
    every_event_once(3).await;
}

// ---------------------------------------------------------------------------------------------
// 2. kill -9 mid-send

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_send_redelivers_after_the_lease() {
    const EVENTS: usize = 500;
    // Shorter than the lease and the send timeout: a held answer is a slow channel, not a dead
    // one; long enough that the sends of the last second of posting are all in flight.
    const ANSWER_DELAY: Duration = Duration::from_millis(1000);
    let started = Instant::now();
    let mut set = ReplicaSet::start(
        "kill9",
        2,
        &[("FLINK_ALERT_DELIVERY__MAX_IN_FLIGHT_PER_INSTANCE", "256")],
    )
    .await;
    let robot = Robot::start(ANSWER_DELAY).await;
    let instance = set.dingtalk("slow-robot", &robot, 0).await;
    set.group_for_test_jobs(&[instance]).await;
    set.let_config_spread().await;

    // Post fast (32 at a time) and kill one replica as soon as all are committed: the sends
    // of the last second are at the robot, unanswered.
    let posting = Instant::now();
    set.post_events(EVENTS, 32, 1).await;
    let posted = posting.elapsed();
    let victim = 0;
    let at_kill = robot.count();
    set.replicas[victim].kill9();
    let killed = Instant::now();
    // What the dead replica held: pending rows still claimed by it (its claims carry its
    // replica id or its pid).
    let mut sql = set.sql().await;
    let held: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, lease_until FROM deliveries WHERE state = 'pending' \
         AND (claimed_by LIKE $1 || '%' OR claimed_by LIKE $2 || '-%')",
    )
    .bind(&set.replicas[victim].id)
    .bind(set.replicas[victim].pid.to_string())
    .fetch_all(&mut sql)
    .await
    .expect("claims read");
    let claimed = held.len();
    let (pending,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM deliveries WHERE state = 'pending'")
            .fetch_one(&mut sql)
            .await
            .expect("pending read");
    assert!(
        claimed > 0,
        "the killed replica held no rows: nothing was in flight ({at_kill} requests had arrived, {pending} pending)"
    );

    // After the lease, the survivor sends what the dead replica held.
    let survivor = 1 - victim;
    let rows = set
        .wait_settled(survivor, EVENTS, Duration::from_secs(30))
        .await;
    let settled = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tally = robot.tally();
    robot.assert_no_rejections();
    println!(
        "kill -9: {EVENTS} events posted in {posted:?}; at the kill {at_kill} requests had reached the robot, {pending} deliveries were pending, {claimed} of them claimed by the killed replica; all sent {settled:?} after the kill (lease {LEASE_SECS} s); {} requests for {} jobs: {} duplicates (bound: {claimed}); total {:?}",
        tally.requests,
        tally.per_job.len(),
        tally.duplicates(),
        started.elapsed()
    );
    assert_eq!(tally.per_job.len(), EVENTS, "every event reached the robot");
    assert!(
        tally.duplicates() <= claimed,
        "{} duplicates, more than the {claimed} rows the killed replica had claimed",
        tally.duplicates()
    );
    assert_eq!(rows.len(), EVENTS);
    assert_eq!(
        count_states(&rows),
        BTreeMap::from([("sent".to_owned(), EVENTS)])
    );
    // The dead replica's rows waited for their lease: the survivor's attempt of each started
    // after the lease the dead replica held it under.
    let ids: Vec<i64> = held.iter().map(|(id, _)| *id).collect();
    let retaken: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT delivery_id, min(started_at) FROM attempts WHERE delivery_id = ANY($1) \
         GROUP BY delivery_id",
    )
    .bind(&ids)
    .fetch_all(&mut sql)
    .await
    .expect("attempts read");
    let lease_of: HashMap<i64, i64> = held.into_iter().collect();
    assert_eq!(retaken.len(), claimed, "every held row was attempted again");
    for (id, started) in retaken {
        assert!(
            started >= lease_of[&id],
            "delivery {id} was taken over at {started}, before its lease ended at {}",
            lease_of[&id]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Watcher failover

const JOB_ID: &str = "6a8639a1c44205352edb15affd66223d";

/// A mock JobManager whose `/jobs/overview` the test changes; counts the polls.
struct Overview {
    state: Arc<Mutex<Value>>,
    polls: Arc<AtomicUsize>,
}

impl Respond for Overview {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.polls.fetch_add(1, Ordering::Relaxed);
        ResponseTemplate::new(200).set_body_json(self.state.lock().unwrap().clone())
    }
}

/// The overview of one job `rjob_orders` in `state` (`end` = -1 while it runs).
fn overview(state: &str, end: i64, last_modification: i64) -> Value {
    let running = if state == "RUNNING" { 2 } else { 0 };
    let canceled = if state == "CANCELED" { 2 } else { 0 };
    let start = 1_795_642_644_533_i64;
    let duration = if end < 0 { 60_000 } else { end - start };
    json!({"jobs": [{
        "jid": JOB_ID, "name": "rjob_orders", "state": state,
        "start-time": start, "end-time": end, "duration": duration,
        "last-modification": last_modification,
        "tasks": {"running": running, "canceling": 0, "canceled": canceled, "total": 2,
                  "created": 0, "scheduled": 0, "deploying": 0, "reconciling": 0,
                  "finished": 0, "initializing": 0, "failed": 0}
    }]})
}

async fn mock_flink() -> (MockServer, Arc<Mutex<Value>>, Arc<AtomicUsize>) {
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let state = Arc::new(Mutex::new(overview("RUNNING", -1, 1_795_642_645_048)));
    let polls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/jobs/overview"))
        .respond_with(Overview {
            state: Arc::clone(&state),
            polls: Arc::clone(&polls),
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/jobs/[0-9a-f]+/exceptions$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"exceptionHistory": {"entries": [], "truncated": false}})),
        )
        .mount(&server)
        .await;
    let checkpoints: Value = serde_json::from_str(include_str!(
        "../../alert-flink/tests/data/flink-1.20/checkpoints_running.json"
    ))
    .expect("fixture");
    Mock::given(method("GET"))
        .and(path_regex(r"^/jobs/[0-9a-f]+/checkpoints$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(checkpoints))
        .mount(&server)
        .await;
    (server, state, polls)
}

impl ReplicaSet {
    /// The live replicas watching `cluster`: from `/healthz` (`"watching": [ids]`) when it
    /// says, else from the unexpired leases in the database that name the cluster.
    async fn watchers(&self, cluster: i64) -> Vec<usize> {
        let mut found = Vec::new();
        let mut from_healthz = true;
        for (i, r) in self.replicas.iter().enumerate() {
            if !r.alive() {
                continue;
            }
            let (status, body) = self.call(i, reqwest::Method::GET, "/healthz", None).await;
            assert_eq!(status, 200, "healthz of {}: {body}", r.id);
            match body["watching"].as_array() {
                Some(ids) => {
                    if ids.iter().any(|id| {
                        id.as_i64() == Some(cluster) || id.as_str() == Some(&cluster.to_string())
                    }) {
                        found.push(i);
                    }
                }
                None => from_healthz = false,
            }
        }
        if from_healthz {
            return found;
        }
        let now = chrono::Utc::now().timestamp_millis();
        let leases: Vec<(String, String)> =
            sqlx::query_as("SELECT name, holder FROM leases WHERE expires_at >= $1")
                .bind(now)
                .fetch_all(&mut self.sql().await)
                .await
                .expect("leases read");
        let names_cluster = |name: &str| {
            name.split(|c: char| !c.is_ascii_digit())
                .any(|part| part == cluster.to_string())
        };
        self.replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| r.alive())
            .filter(|(_, r)| {
                leases.iter().any(|(name, holder)| {
                    names_cluster(name)
                        && (*holder == r.id || holder.starts_with(&format!("{}-", r.pid)))
                })
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Waits (at most `within`) until exactly one live replica watches `cluster`.
    async fn wait_single_watcher(&self, cluster: i64, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let watchers = self.watchers(cluster).await;
            if let [one] = watchers[..] {
                return one;
            }
            assert!(
                Instant::now() < deadline,
                "no single replica took cluster {cluster} within {within:?} (watchers: {watchers:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watcher_fails_over_and_alerts_a_cancel_once() {
    const POLL_MS: u64 = 500;
    let started = Instant::now();
    let mut set = ReplicaSet::start("watch", 2, &[]).await;
    let (jobmanager, state, polls) = mock_flink().await;
    let robot = Robot::start(Duration::ZERO).await;
    let instance = set.dingtalk("ops-robot", &robot, 0).await;
    let group = set
        .create(
            0,
            "/api/v1/groups",
            json!({"name": "ops", "enabled": true, "instance_ids": [instance]}),
        )
        .await;
    set.create(
        0,
        "/api/v1/bindings",
        json!({"job": "rjob_*", "cluster": "prod", "group_id": group}),
    )
    .await;
    let cluster = set
        .create(
            0,
            "/api/v1/clusters",
            json!({"name": "prod", "url": jobmanager.uri(), "poll_interval_ms": POLL_MS}),
        )
        .await;

    // One replica takes the cluster and records the running job as its baseline.
    let watcher = set
        .wait_single_watcher(cluster, Duration::from_secs(15))
        .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let jobs = set
            .get(watcher, &format!("/api/v1/clusters/{cluster}/jobs"))
            .await;
        if jobs["jobs"].as_array().is_some_and(|j| !j.is_empty()) {
            assert_eq!(jobs["jobs"][0]["name"], "rjob_orders", "{jobs}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the job was never listed: {jobs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A few more polls: the baseline is stored, and alerts nothing.
    let seen = polls.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while polls.load(Ordering::Relaxed) < seen + 3 {
        assert!(Instant::now() < deadline, "the watcher stopped polling");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        set.watchers(cluster).await,
        vec![watcher],
        "the cluster changed hands"
    );
    assert_eq!(robot.count(), 0, "the running job was alerted");

    // kill -9 the watcher; the job is canceled while nobody watches.
    set.replicas[watcher].kill9();
    let killed = Instant::now();
    *state.lock().unwrap() = overview("CANCELED", 1_795_642_700_000, 1_795_642_700_000);
    let lease = Duration::from_millis(WATCH_LEASE_MS);
    let slack = Duration::from_millis(1500);
    let taker = set.wait_single_watcher(cluster, 2 * lease + slack).await;
    let takeover = killed.elapsed();
    assert_ne!(taker, watcher);

    let deadline = Instant::now() + Duration::from_secs(10);
    while robot.count() == 0 {
        assert!(
            Instant::now() < deadline,
            "the cancel was never alerted (takeover after {takeover:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alerted = killed.elapsed();
    // A few more polls: no second alert.
    let seen = polls.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while polls.load(Ordering::Relaxed) < seen + 4 {
        assert!(Instant::now() < deadline, "the new watcher stopped polling");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    robot.assert_no_rejections();
    let arrivals = robot.arrivals();
    println!(
        "watcher failover: {} held cluster {cluster}, killed; {} took over {takeover:?} after the kill (lease {lease:?}), the cancel alerted {alerted:?} after it; {} alert(s) in all; total {:?}",
        set.replicas[watcher].id,
        set.replicas[taker].id,
        arrivals.len(),
        started.elapsed()
    );
    assert_eq!(arrivals.len(), 1, "the cancel was alerted more than once");
    let text = arrivals[0].body.to_string();
    assert!(
        text.contains("rjob_orders") && text.contains("CANCELED"),
        "{text}"
    );
    let history = set.all_history(taker).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["state"], "sent");
    assert_eq!(history[0]["status_change"], "RUNNING → CANCELED");
}

// ---------------------------------------------------------------------------------------------
// 4. One rate budget across replicas

#[tokio::test(flavor = "multi_thread")]
async fn rate_budget_holds_across_replicas() {
    const EVENTS: usize = 100;
    const RATE: usize = 20;
    const WINDOW: Duration = Duration::from_secs(60);
    let started = Instant::now();
    let set = ReplicaSet::start("rate", 3, &[]).await;
    let robot = Robot::start(Duration::ZERO).await;
    let instance = set.dingtalk("paced-robot", &robot, RATE as u32).await;
    set.group_for_test_jobs(&[instance]).await;
    set.let_config_spread().await;

    let first_post = Instant::now();
    set.post_events(EVENTS, 8, 1).await;
    // Every event ends sent or folded into a digest that was sent.
    let deadline = Instant::now() + Duration::from_secs(75);
    let rows = loop {
        let rows = set.all_history(0).await;
        let pending = rows.iter().filter(|r| r["state"] == "pending").count();
        if pending == 0 && rows.len() >= EVENTS && robot.tally().per_job.len() >= EVENTS {
            break rows;
        }
        let arrivals = robot.arrivals();
        assert!(
            Instant::now() < deadline,
            "after {:?}: {:?}, the robot got {} requests naming {} jobs (max {} in a 60 s window)",
            first_post.elapsed(),
            count_states(&rows),
            arrivals.len(),
            robot.tally().per_job.len(),
            max_in_window(&arrivals, WINDOW)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Nothing more comes for a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    robot.assert_no_rejections();
    let arrivals = robot.arrivals();
    let max = max_in_window(&arrivals, WINDOW);
    let tally = robot.tally();
    let digests: Vec<&Value> = rows.iter().filter(|r| r["event_id"].is_null()).collect();
    let suppressed = rows.iter().filter(|r| r["state"] == "suppressed").count();
    println!(
        "rate budget: {EVENTS} events over 3 replicas, rate {RATE}/min: {} requests ({} digests, {suppressed} deliveries folded), at most {max} in any 60 s window, all delivered {:?} after the first post; {} jobs named, {} named twice; total {:?}",
        arrivals.len(),
        digests.len(),
        first_post.elapsed(),
        tally.per_job.len(),
        tally.duplicates(),
        started.elapsed()
    );
    assert!(
        max <= RATE,
        "{max} requests reached the robot within 60 s (budget {RATE})"
    );
    assert_eq!(
        tally.per_job.len(),
        EVENTS,
        "every job named by the robot's bodies"
    );
    let by_id: HashMap<i64, &Value> = rows
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r))
        .collect();
    let events: Vec<&Value> = rows.iter().filter(|r| !r["event_id"].is_null()).collect();
    assert_eq!(events.len(), EVENTS, "one delivery per event");
    for row in &events {
        match row["state"].as_str() {
            Some("sent") => {}
            Some("suppressed") => {
                // Folded into a digest that was sent (perhaps through a later digest).
                let mut digest = row["digest_id"].as_i64();
                let mut hops = 0;
                loop {
                    let Some(id) = digest else {
                        panic!("suppressed without a digest: {row}");
                    };
                    let d = by_id
                        .get(&id)
                        .unwrap_or_else(|| panic!("digest {id} not in history: {row}"));
                    if d["state"] == "sent" {
                        break;
                    }
                    assert_eq!(d["state"], "suppressed", "digest {d} of {row}");
                    digest = d["digest_id"].as_i64();
                    hops += 1;
                    assert!(hops < 10, "digest chain too long: {row}");
                }
            }
            _ => panic!("neither sent nor digested: {row}"),
        }
    }
}

/// The most arrivals within any `window` (sliding, starting at an arrival).
fn max_in_window(arrivals: &[Arrival], window: Duration) -> usize {
    let mut times: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    times.sort();
    let mut max = 0;
    let mut end = 0;
    for (start, t) in times.iter().enumerate() {
        while end < times.len() && times[end] < *t + window {
            end += 1;
        }
        max = max.max(end - start);
    }
    max
}

#[test]
fn job_names_are_found_in_bodies() {
    let names = job_names(r#"{"t":"rjob_00012 rjob_00012 rjob_7 x rjob_99999"}"#);
    assert_eq!(
        names,
        HashSet::from(["rjob_00012".to_owned(), "rjob_99999".to_owned()])
    );
    let now = Instant::now();
    let at = |ms: u64| Arrival {
        at: now + Duration::from_millis(ms),
        body: Value::Null,
    };
    let arrivals = [at(0), at(100), at(59_999), at(60_000), at(61_000)];
    assert_eq!(max_in_window(&arrivals, Duration::from_secs(60)), 3);
}
