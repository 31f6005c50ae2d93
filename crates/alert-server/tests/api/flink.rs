//! Flink clusters: registered through the API, watched, and their job changes delivered.

use std::sync::{Arc, Mutex};

use alert_testkit::wiremock::matchers::{method, path, path_regex};
use alert_testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use serde_json::{json, Value};

use crate::common::{received, robot, wait_received, TestServer};

/// A mock JobManager whose `/jobs/overview` answer the test changes.
struct Overview(Arc<Mutex<Value>>);

impl Respond for Overview {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(self.0.lock().unwrap().clone())
    }
}

pub(crate) fn job(state: &str, end: i64) -> Value {
    let running = if state == "RUNNING" { 2 } else { 0 };
    let canceled = if state == "CANCELED" { 2 } else { 0 };
    json!({"jobs": [{
        "jid": "6a8639a1c44205352edb15affd66223d", "name": "orders_etl", "state": state,
        "start-time": 1_795_642_644_533_i64, "end-time": end, "duration": 1629,
        "last-modification": 1_795_642_645_048_i64,
        "tasks": {"running": running, "canceling": 0, "canceled": canceled, "total": 2, "created": 0,
                  "scheduled": 0, "deploying": 0, "reconciling": 0, "finished": 0, "initializing": 0, "failed": 0}
    }]})
}

pub(crate) async fn flink() -> (MockServer, Arc<Mutex<Value>>) {
    let server = MockServer::start().await;
    let overview = Arc::new(Mutex::new(job("RUNNING", -1)));
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
    (server, overview)
}

#[tokio::test]
async fn a_canceled_job_on_a_watched_cluster_alerts_its_group_once() {
    let server = TestServer::start().await;
    let (jobmanager, overview) = flink().await;
    let robot = robot(None).await;
    let instance = server
        .dingtalk("ops-robot", &robot, json!({"rate_per_minute": 0}))
        .await;
    let group = server.group("ops", &[instance], true).await;
    server
        .post(
            "/api/v1/bindings",
            &json!({"job": "orders_*", "cluster": "prod", "group_id": group}),
        )
        .await
        .expect(201);
    let created = server
        .post(
            "/api/v1/clusters",
            &json!({"name": "prod", "url": jobmanager.uri(), "poll_interval_ms": 500}),
        )
        .await
        .expect(201);
    let id = created["id"].as_i64().unwrap();

    // The watcher sees the running job (first poll records, alerts nothing).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let jobs = server
            .get(&format!("/api/v1/clusters/{id}/jobs"))
            .await
            .expect(200);
        if jobs["jobs"].as_array().is_some_and(|j| !j.is_empty()) {
            assert_eq!(jobs["jobs"][0]["name"], "orders_etl");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher never listed the job: {jobs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(received(&robot).await, 0);

    *overview.lock().unwrap() = job("CANCELED", 1_795_642_700_000);
    wait_received(&robot, 1).await;
    let body = &robot.bodies().await[0];
    let text = body["markdown"]["text"].as_str().unwrap();
    assert!(
        text.contains("orders_etl") && text.contains("RUNNING → CANCELED"),
        "{text}"
    );
    let history = server.get("/api/v1/history?limit=10").await.expect(200);
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["status_change"], "RUNNING → CANCELED");

    // Later polls of the same CANCELED job alert nobody again.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(received(&robot).await, 1);
}

#[tokio::test]
async fn cluster_validation_and_restart_neither_misses_nor_re_alerts() {
    let mut server = TestServer::start().await;
    server
        .post("/api/v1/clusters", &json!({"name": "x", "url": "ftp://h"}))
        .await
        .expect_error(422, "invalid", Some("url"));
    server
        .post(
            "/api/v1/clusters",
            &json!({"name": "x", "url": "http://127.0.0.1:1", "poll_interval_ms": 10}),
        )
        .await
        .expect_error(422, "invalid", Some("poll_interval_ms"));
    let (jobmanager, overview) = flink().await;
    let robot = robot(None).await;
    let instance = server
        .dingtalk("r", &robot, json!({"rate_per_minute": 0}))
        .await;
    let group = server.group("g", &[instance], true).await;
    server.bind("*", group, None).await;
    server
        .post(
            "/api/v1/clusters",
            &json!({"name": "prod", "url": jobmanager.uri(), "poll_interval_ms": 500}),
        )
        .await
        .expect(201);
    // Let the watcher record the running job (and persist what it saw).
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(received(&robot).await, 0);
    // The job is canceled while alert-server is down: the restarted watcher, which restores
    // the state it persisted, still reports the transition (a fresh watcher would take the
    // CANCELED job for one that ended before it started, and say nothing).
    server.stop().await;
    *overview.lock().unwrap() = job("CANCELED", 1_795_642_700_000);
    server.restart().await;
    wait_received(&robot, 1).await;
    // And a further restart does not report it again.
    server.restart().await;
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    assert_eq!(
        received(&robot).await,
        1,
        "the restart re-alerted an old transition"
    );
    server
        .post(
            "/api/v1/clusters",
            &json!({"name": "prod", "url": jobmanager.uri()}),
        )
        .await
        .expect_error(409, "name_taken", Some("name"));
}
