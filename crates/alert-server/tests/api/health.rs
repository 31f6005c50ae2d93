//! Job-health conditions through the server: a binding lists `CHECKPOINT_FAILED` (with its
//! thresholds) in `statuses`; the cluster's watcher reads the job's checkpoint statistics
//! because of it and the group gets one alert when checkpoints keep failing and one
//! "recovered" message when one completes, never one per poll.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alert_testkit::dingtalk::MockRobot;
use alert_testkit::wiremock::matchers::{method, path_regex};
use alert_testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use serde_json::{json, Value};

use crate::common::{received, robot, TestServer, SETTLE};
use crate::flink::flink;

/// Answers with whatever the test put in.
struct Shared(Arc<Mutex<Value>>);

impl Respond for Shared {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(self.0.lock().unwrap().clone())
    }
}

/// One checkpoint of the statistics.
fn entry(id: u64, status: &str, at: i64) -> Value {
    let failed = status == "FAILED";
    json!({
        "className": status.to_lowercase(), "id": id, "status": status, "is_savepoint": false,
        "checkpoint_type": "CHECKPOINT", "trigger_timestamp": at, "latest_ack_timestamp": at + 20,
        "end_to_end_duration": 20, "num_subtasks": 2, "num_acknowledged_subtasks": 1,
        "external_path": if failed { Value::Null } else { json!("file:/tmp/chk") },
        "failure_timestamp": if failed { json!(at + 30) } else { Value::Null },
        "failure_message": if failed { json!("Asynchronous task checkpoint failed.") } else { Value::Null },
    })
}

/// Statistics whose history (newest first) is `entries`.
fn stats(entries: &[Value]) -> Value {
    let latest = |status: &str| {
        entries
            .iter()
            .find(|e| e["status"] == status)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let count = |status: &str| entries.iter().filter(|e| e["status"] == status).count();
    json!({
        "counts": {"restored": 0, "total": entries.len(), "in_progress": 0,
                   "completed": count("COMPLETED"), "failed": count("FAILED")},
        "latest": {"completed": latest("COMPLETED"), "savepoint": null, "failed": latest("FAILED"),
                   "restored": null},
        "history": entries,
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Makes `jobmanager` answer requests for paths matching `path` with a value the test can
/// change; before any answer `flink()` mounted.
async fn answer(jobmanager: &MockServer, path: &str, first: Value) -> Arc<Mutex<Value>> {
    let shared = Arc::new(Mutex::new(first));
    Mock::given(method("GET"))
        .and(path_regex(path))
        .respond_with(Shared(Arc::clone(&shared)))
        .with_priority(1)
        .mount(jobmanager)
        .await;
    shared
}

/// A robot in group `ops`, bound to `orders_*` with `binding`'s statuses and thresholds, and
/// the cluster `prod` on `jobmanager`, polled every 500 ms: the robot and the cluster's id.
async fn watched(server: &TestServer, jobmanager: &MockServer, binding: Value) -> (MockRobot, i64) {
    let ding = robot(None).await;
    let instance = server
        .dingtalk("ops-robot", &ding, json!({"rate_per_minute": 0}))
        .await;
    let group = server.group("ops", &[instance], true).await;
    let mut binding = binding;
    binding["job"] = json!("orders_*");
    binding["group_id"] = json!(group);
    server.post("/api/v1/bindings", &binding).await.expect(201);
    let cluster = server
        .post(
            "/api/v1/clusters",
            &json!({"name": "prod", "url": jobmanager.uri(), "poll_interval_ms": 500}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    (ding, cluster)
}

#[tokio::test]
async fn bindings_take_conditions_and_thresholds_and_name_bad_ones() {
    let server = TestServer::start().await;
    let group = server.group("ops", &[], true).await;
    let created = server
        .post(
            "/api/v1/bindings",
            &json!({"job": "orders_*", "group_id": group,
                "statuses": ["FAILED", "CHECKPOINT_FAILED", "exception"],
                "thresholds": {"checkpoint_failures": 5}}),
        )
        .await
        .expect(201);
    assert_eq!(
        created["statuses"],
        json!(["FAILED", "CHECKPOINT_FAILED", "EXCEPTION"])
    );
    assert_eq!(created["thresholds"]["checkpoint_failures"], 5);
    assert_eq!(
        created["thresholds"]["checkpoint_age_ms"], 1_800_000,
        "defaults filled in"
    );
    // Only a condition: no job state alerts (not the default five).
    let only = server
        .post(
            "/api/v1/bindings",
            &json!({"job": "billing", "group_id": group, "statuses": ["TASKMANAGER_LOST"]}),
        )
        .await
        .expect(201);
    assert_eq!(only["statuses"], json!(["TASKMANAGER_LOST"]));
    // Without a condition, no thresholds are shown.
    let plain = server.bind("plain", group, None).await;
    let listed = server
        .get(&format!("/api/v1/bindings/{plain}"))
        .await
        .expect(200);
    assert!(listed.get("thresholds").is_none(), "{listed}");

    for (body, field) in [
        (
            json!({"job": "x", "group_id": group, "statuses": ["FAILED", "CHECKPOINT_BROKEN"]}),
            "statuses[1]",
        ),
        (
            json!({"job": "x", "group_id": group, "statuses": ["EXCEPTION"], "thresholds": {"checkpoint_failures": 0}}),
            "thresholds.checkpoint_failures",
        ),
        (
            json!({"job": "x", "group_id": group, "statuses": ["EXCEPTION"], "thresholds": {"checkpoint_failurez": 2}}),
            "thresholds.checkpoint_failurez",
        ),
        (
            json!({"job": "x", "group_id": group, "statuses": ["EXCEPTION"], "thresholds": {"checkpoint_age_ms": "soon"}}),
            "thresholds.checkpoint_age_ms",
        ),
        (
            json!({"labels": {"severity": "critical"}, "group_id": group, "thresholds": {}}),
            "thresholds",
        ),
    ] {
        let res = server.post("/api/v1/bindings", &body).await;
        res.expect_error(422, "invalid", Some(field));
    }
}

#[tokio::test]
async fn failing_checkpoints_alert_once_and_recover_once() {
    let server = TestServer::start().await;
    let (jobmanager, _overview) = flink().await;
    let start = now() - 60_000;
    let checkpoints = answer(
        &jobmanager,
        r"^/jobs/[0-9a-f]+/checkpoints$",
        stats(&[entry(1, "COMPLETED", start)]),
    )
    .await;
    let (ding, cluster) = watched(
        &server,
        &jobmanager,
        json!({"statuses": ["CHECKPOINT_FAILED"], "thresholds": {"checkpoint_failures": 2}}),
    )
    .await;

    // The watcher reads the job's checkpoints only because the binding asks.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let asked = jobmanager
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| r.url.path().ends_with("/checkpoints"));
        if asked {
            break;
        }
        assert!(Instant::now() < deadline, "the checkpoints were never read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(received(&ding).await, 0, "healthy: nothing to say");

    // Three failures in a row (the threshold is two): one alert, however many polls see it.
    *checkpoints.lock().unwrap() = stats(&[
        entry(4, "FAILED", now() - 1_000),
        entry(3, "FAILED", now() - 2_000),
        entry(2, "FAILED", now() - 3_000),
        entry(1, "COMPLETED", start),
    ]);
    let alert = wait_for_message(&ding, 1).await;
    assert!(alert.contains("orders_etl"), "{alert}");
    assert!(
        alert.contains("Asynchronous task checkpoint failed."),
        "{alert}"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(received(&ding).await, 1, "one alert, not one per poll");
    // The cluster's job list shows the open condition.
    let jobs = server
        .get(&format!("/api/v1/clusters/{cluster}/jobs"))
        .await
        .expect(200);
    let failing = &jobs["jobs"][0]["health"]["checkpoint_failed"];
    assert_eq!(failing["failures"], 3, "{jobs}");

    // A checkpoint completes: one "recovered" message (not taken for a repeat of the alert).
    *checkpoints.lock().unwrap() = stats(&[
        entry(5, "COMPLETED", now() - 500),
        entry(4, "FAILED", now() - 1_000),
        entry(3, "FAILED", now() - 2_000),
    ]);
    let recovered = wait_for_message(&ding, 2).await;
    assert!(recovered.contains("orders_etl"), "{recovered}");
    tokio::time::sleep(SETTLE * 3).await;
    assert_eq!(received(&ding).await, 2);
    let history = server.history("limit=10").await;
    assert_eq!(history.len(), 2, "{history:?}");
    assert!(history.iter().all(|r| r["state"] == "sent"), "{history:?}");
}

/// An exception-history entry shaped like Flink 2.3's (`/ by zero`, as in the captures).
fn exception(at: i64, execution: u32) -> Value {
    json!({
        "exceptionName": "java.lang.ArithmeticException",
        "stacktrace": "java.lang.ArithmeticException: / by zero\n\tat StreamExecCalc$5.processElement(Unknown Source)",
        "timestamp": at, "failureLabels": {},
        "taskName": format!("Source: src[1] -> Calc[2] (1/1) - execution #{execution}"),
        "endpoint": "localhost:42161", "taskManagerId": "127.0.0.1:33913-bd61bb",
        "concurrentExceptions": [],
    })
}

/// Exception history whose entries (newest first) are `entries`.
fn history(entries: &[Value]) -> Value {
    json!({"exceptionHistory": {"entries": entries, "truncated": false}})
}

#[tokio::test]
async fn recurring_exceptions_alert_once_then_fold_then_clear() {
    let server = TestServer::start().await;
    let (jobmanager, _overview) = flink().await;
    let exceptions = answer(&jobmanager, r"^/jobs/[0-9a-f]+/exceptions$", history(&[])).await;
    // A short fold window, far below the repeat (flapping) window of 10 minutes.
    let (ding, _) = watched(
        &server,
        &jobmanager,
        json!({"statuses": ["EXCEPTION"], "thresholds": {"exception_fold_ms": 3_000}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(received(&ding).await, 0, "no exception: nothing to say");

    // The first exception: one alert with the root cause.
    let first = now();
    *exceptions.lock().unwrap() = history(&[exception(first, 1)]);
    let alert = wait_for_message(&ding, 1).await;
    assert!(alert.contains("orders_etl"), "{alert}");
    assert!(alert.contains("/ by zero"), "{alert}");
    // Two more within the window: folded into one digest at the window's end, not one each,
    // and not held back as a repeat of the alert.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = now();
    *exceptions.lock().unwrap() = history(&[exception(second, 2), exception(first, 1)]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    *exceptions.lock().unwrap() = history(&[
        exception(now(), 3),
        exception(second, 2),
        exception(first, 1),
    ]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(received(&ding).await, 1, "folded, not one per exception");
    let digest = wait_for_message(&ding, 2).await;
    assert!(
        digest.contains("2 more exceptions") && digest.contains("(3 in this episode)"),
        "{digest}"
    );
    assert!(
        digest.contains("EXCEPTION"),
        "the condition is named: {digest}"
    );
    // A whole window without a new entry: the condition clears, once.
    let cleared = wait_for_message(&ding, 3).await;
    assert!(cleared.contains("orders_etl"), "{cleared}");
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(
        received(&ding).await,
        3,
        "nothing more while the job is quiet"
    );
    let history = server.history("limit=10").await;
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(history.iter().all(|r| r["state"] == "sent"), "{history:?}");
}

/// Waits for the `n`-th message at the robot; its body as text.
async fn wait_for_message(robot: &alert_testkit::dingtalk::MockRobot, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let bodies = robot.bodies().await;
        if bodies.len() >= n {
            return bodies[n - 1].to_string();
        }
        assert!(
            Instant::now() < deadline,
            "message {n} never came; got {}",
            bodies.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
