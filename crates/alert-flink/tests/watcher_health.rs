//! The watcher's extra reads for the health conditions, against a mock Flink answering with the
//! captures of `data/flink-2.3/health/checkpoint_fail/` and the captured `/taskmanagers`:
//! nothing extra without needs; with needs, the wanted job's checkpoint statistics and
//! `/taskmanagers` once per poll, and their findings as events.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alert_core::JobEvent;
use alert_flink::model::JobsOverview;
use alert_flink::{
    ClusterConfig, ClusterWatcher, HealthCondition, HealthNeed, HealthNeeds, PollReport,
};
use common::text;
use tokio::sync::mpsc;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const OVERVIEW: &str = "health/checkpoint_fail/jobs_overview.json";

/// Answers in turn; the last one repeats.
struct Sequence(Vec<ResponseTemplate>, AtomicUsize);

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.1.fetch_add(1, Ordering::SeqCst);
        self.0[i.min(self.0.len() - 1)].clone()
    }
}

fn json(file: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(text("2.3", file), "application/json")
}

fn job_id() -> String {
    common::parse::<JobsOverview>("2.3", OVERVIEW)
        .jobs
        .into_iter()
        .find(|j| j.name == "flink-alert-checkpoint-fail")
        .unwrap()
        .jid
}

async fn mock_flink() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jobs/overview"))
        .respond_with(json(OVERVIEW))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/jobs/{}/checkpoints", job_id())))
        .respond_with(Sequence(
            vec![
                json("health/checkpoint_fail/checkpoints_t0.json"),
                json("health/checkpoint_fail/checkpoints_t60.json"),
            ],
            AtomicUsize::new(0),
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/jobs/[0-9a-f]+/(checkpoints|exceptions)$"))
        .respond_with(json("health/recurring_exception/exceptions_t0.json"))
        .with_priority(5)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/taskmanagers"))
        .respond_with(Sequence(
            vec![
                json("taskmanagers.json"),
                json("taskmanagers_after_loss_detected.json"),
                json("taskmanagers_after_loss_detected.json"),
                json("taskmanagers.json"),
            ],
            AtomicUsize::new(0),
        ))
        .mount(&server)
        .await;
    server
}

fn config(server: &MockServer) -> ClusterConfig {
    ClusterConfig::new("flink-2.3", server.uri()).with_poll_interval(Duration::from_millis(50))
}

async fn requests(server: &MockServer, suffix: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with(suffix))
        .count()
}

#[tokio::test]
async fn without_needs_nothing_more_is_read() {
    let server = mock_flink().await;
    let mut watcher = ClusterWatcher::new(config(&server)).unwrap();
    let (tx, mut rx) = mpsc::channel::<JobEvent>(64);
    for i in 0..4 {
        watcher.poll_once(common::at(i * 5000), &tx).await.unwrap();
    }
    assert!(rx.try_recv().is_err(), "no event");
    assert_eq!(requests(&server, "/taskmanagers").await, 0);
    assert_eq!(requests(&server, "/checkpoints").await, 0);
    assert_eq!(requests(&server, "/exceptions").await, 0);
}

#[tokio::test]
async fn needs_read_the_wanted_job_and_the_taskmanagers_once_per_poll() {
    let server = mock_flink().await;
    let needs = HealthNeeds::per_job(|name, _| {
        if name == "flink-alert-checkpoint-fail" {
            HealthNeed::of([
                HealthCondition::CheckpointFailed,
                HealthCondition::TaskmanagerLost,
            ])
        } else {
            HealthNeed::NONE
        }
    });
    let mut watcher = ClusterWatcher::new(config(&server))
        .unwrap()
        .with_health_needs(needs);
    let (tx, mut rx) = mpsc::channel::<PollReport>(64);
    let polls = 5;
    for i in 0..polls {
        watcher.poll_once(common::at(i * 5000), &tx).await.unwrap();
    }
    let mut kinds = Vec::new();
    while let Ok(report) = rx.try_recv() {
        for e in report.events {
            kinds.push((e.labels["kind"].clone(), e.job_name.clone()));
        }
    }
    let kinds: Vec<_> = kinds.iter().map(|(k, n)| format!("{k}:{n}")).collect();
    assert_eq!(
        kinds,
        [
            // The same poll: job findings first, then the cluster's TaskManagers.
            "checkpoint_failed:flink-alert-checkpoint-fail",
            "taskmanager_lost:flink-alert-checkpoint-fail",
            "taskmanager_back:flink-alert-checkpoint-fail",
        ]
    );
    assert_eq!(requests(&server, "/taskmanagers").await, polls as usize);
    // Every poll after the baseline reads the one wanted job's statistics, nothing else.
    assert_eq!(requests(&server, "/checkpoints").await, polls as usize - 1);
    assert_eq!(
        requests(&server, &format!("{}/checkpoints", job_id())).await,
        polls as usize - 1
    );
    assert_eq!(requests(&server, "/exceptions").await, 0);
}
