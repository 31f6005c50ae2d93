//! 3. Watcher failover: the other replica takes the cluster over and alerts a cancel once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::replica::ReplicaSet;
use super::robot::Robot;
use super::WATCH_LEASE_MS;

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
        "../../../alert-flink/tests/data/flink-1.20/checkpoints_running.json"
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
