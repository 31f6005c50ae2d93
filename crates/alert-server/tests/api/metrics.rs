//! `/metrics` as Prometheus scrapes it: the watcher's metrics against a mock Flink that goes
//! down and comes back, the HTTP histogram's route templates, the build and the process.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alert_testkit::wiremock::matchers::{method, path, path_regex};
use alert_testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use serde_json::{json, Value};

use crate::common::{TestServer, WAIT};

/// A JobManager whose `/jobs/overview` answers the jobs set by the test, or 503 while they are
/// `None` (down).
struct Overview(Arc<Mutex<Option<Value>>>);

impl Respond for Overview {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        match &*self.0.lock().unwrap() {
            Some(jobs) => ResponseTemplate::new(200).set_body_json(jobs),
            None => ResponseTemplate::new(503).set_body_string("JobManager is restarting"),
        }
    }
}

fn jobs(states: &[&str]) -> Value {
    let jobs: Vec<Value> = states
        .iter()
        .enumerate()
        .map(|(i, state)| {
            let ended = *state != "RUNNING";
            json!({
                "jid": format!("{i:032x}"), "name": format!("job_{i}"), "state": state,
                "start-time": 1_795_642_644_533_i64,
                "end-time": if ended { 1_795_642_700_000_i64 } else { -1 },
                "duration": 1629, "last-modification": 1_795_642_645_048_i64,
                "tasks": {"running": if ended { 0 } else { 1 }, "canceling": 0, "canceled": 0,
                          "total": 1, "created": 0, "scheduled": 0, "deploying": 0,
                          "reconciling": 0, "finished": if ended { 1 } else { 0 },
                          "initializing": 0, "failed": 0}
            })
        })
        .collect();
    json!({ "jobs": jobs })
}

async fn flink(answer: Option<Value>) -> (MockServer, Arc<Mutex<Option<Value>>>) {
    let server = MockServer::start().await;
    let overview = Arc::new(Mutex::new(answer));
    Mock::given(method("GET"))
        .and(path("/jobs/overview"))
        .respond_with(Overview(Arc::clone(&overview)))
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
    Mock::given(method("GET"))
        .and(path_regex(r"^/jobs/[0-9a-f]+/checkpoints$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    (server, overview)
}

/// The value of one series (`name{labels}` exactly as exposed), if exposed.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

/// Scrapes until `done` holds for the exposition (at most [`WAIT`]); returns it.
async fn scrape_until(server: &TestServer, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = server.metrics().await;
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; /metrics:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const UP: &str = "flink_alert_cluster_up{cluster=\"prod\"}";
const POLLS_OK: &str = "flink_alert_watcher_polls_total{cluster=\"prod\",outcome=\"ok\"}";
const POLLS_ERROR: &str = "flink_alert_watcher_polls_total{cluster=\"prod\",outcome=\"error\"}";

fn jobs_in(state: &str) -> String {
    format!("flink_alert_jobs{{cluster=\"prod\",state=\"{state}\"}}")
}

#[tokio::test]
async fn a_cluster_going_down_and_up_shows_in_up_polls_and_jobs() {
    let server = TestServer::start().await;
    let (jobmanager, overview) =
        flink(Some(jobs(&["RUNNING", "RUNNING", "CANCELED", "FINISHED"]))).await;
    let created = server
        .post(
            "/api/v1/clusters",
            &json!({"name": "prod", "url": jobmanager.uri(), "poll_interval_ms": 500}),
        )
        .await
        .expect(201);
    let id = created["id"].as_i64().unwrap();

    // Up: the jobs per state of the last poll.
    let text = scrape_until(&server, "the cluster up with its jobs", |t| {
        value(t, UP) == Some(1.0) && value(t, &jobs_in("RUNNING")) == Some(2.0)
    })
    .await;
    assert_eq!(value(&text, &jobs_in("CANCELED")), Some(1.0), "{text}");
    assert_eq!(value(&text, &jobs_in("FINISHED")), Some(1.0), "{text}");
    assert_eq!(value(&text, &jobs_in("FAILED")), None, "{text}");
    assert!(value(&text, POLLS_OK).unwrap() >= 1.0, "{text}");
    assert_eq!(
        value(&text, POLLS_ERROR),
        None,
        "no failed poll yet: {text}"
    );

    // Down: up goes to 0, failed polls are counted, the last known jobs stay.
    *overview.lock().unwrap() = None;
    let text = scrape_until(&server, "the cluster down", |t| {
        value(t, UP) == Some(0.0) && value(t, POLLS_ERROR).is_some_and(|n| n >= 2.0)
    })
    .await;
    assert_eq!(value(&text, &jobs_in("RUNNING")), Some(2.0), "{text}");
    let errors = value(&text, POLLS_ERROR).unwrap();
    let oks = value(&text, POLLS_OK).unwrap();

    // Up again, with one job fewer running and one failed: a state no job is in reads 0.
    *overview.lock().unwrap() = Some(jobs(&["RUNNING", "FAILED", "CANCELED", "FINISHED"]));
    let text = scrape_until(&server, "the cluster up again", |t| {
        value(t, UP) == Some(1.0) && value(t, &jobs_in("FAILED")) == Some(1.0)
    })
    .await;
    assert_eq!(value(&text, &jobs_in("RUNNING")), Some(1.0), "{text}");
    assert!(value(&text, POLLS_OK).unwrap() > oks, "{text}");
    let errors_now = value(&text, POLLS_ERROR).unwrap();
    assert!(errors_now >= errors, "{text}");
    // Answered polls add no errors.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let text = server.metrics().await;
    assert_eq!(value(&text, POLLS_ERROR), Some(errors_now), "{text}");
    assert_eq!(value(&text, UP), Some(1.0), "{text}");

    // A deleted cluster is no longer reported as up or down.
    server
        .delete(&format!("/api/v1/clusters/{id}"))
        .await
        .expect(204);
    let text = server.metrics().await;
    assert_eq!(value(&text, UP), None, "{text}");
    assert_eq!(value(&text, &jobs_in("RUNNING")), None, "{text}");
}

#[tokio::test]
async fn requests_are_timed_by_route_template_and_status() {
    let server = TestServer::start().await;
    server.get("/api/v1/events/424242").await.expect(404);
    server.get("/api/v1/events/434343").await.expect(404);
    server.get("/api/v1/no-such-thing/7").await.expect(404);
    server.get("/healthz").await.expect(200);
    let text = server.metrics().await;
    let count = |method: &str, route: &str, status: u16| {
        value(
            &text,
            &format!(
                "flink_alert_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(
        count("GET", "/api/v1/events/{id}", 404),
        Some(2.0),
        "{text}"
    );
    assert_eq!(count("GET", "/healthz", 200), Some(1.0), "{text}");
    // The ids and the unknown path are not labels.
    assert!(
        !text.contains("424242") && !text.contains("no-such-thing"),
        "{text}"
    );
    let inf = text
        .lines()
        .find(|l| {
            l.starts_with("flink_alert_http_request_duration_seconds_bucket{")
                && l.contains("route=\"/api/v1/events/{id}\"")
                && l.contains("le=\"+Inf\"")
        })
        .unwrap_or_else(|| panic!("no +Inf bucket: {text}"));
    assert!(inf.ends_with(" 2"), "{inf}");
}

#[tokio::test]
async fn build_and_process_metrics_are_exposed() {
    let server = TestServer::start().await;
    let text = server.metrics().await;
    let info = text
        .lines()
        .find(|l| l.starts_with("flink_alert_build_info{"))
        .unwrap_or_else(|| panic!("no build info: {text}"));
    assert!(
        info.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && info.contains("revision=\""),
        "{info}"
    );
    assert!(info.ends_with(" 1"), "{info}");
    if cfg!(target_os = "linux") {
        assert!(value(&text, "flink_alert_process_cpu_seconds_total").is_some_and(|s| s > 0.0));
        assert!(value(&text, "flink_alert_process_resident_memory_bytes")
            .is_some_and(|b| b > 1_000_000.0));
        assert!(value(&text, "flink_alert_process_open_fds").is_some_and(|n| n >= 3.0));
    }
}
