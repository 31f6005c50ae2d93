//! The watcher against a mock Flink (wiremock) replaying the captured answers: overview
//! answers that change from poll to poll, the checkpoints of the stopped job, the exceptions of
//! the failed one, an outage.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alert_core::{JobEvent, JobStatus};
use alert_flink::model::JobsOverview;
use alert_flink::{
    ClientError, ClusterConfig, ClusterWatcher, EventSink, FlinkClient, PollReport, SinkError,
};
use common::{at, text, VERSIONS};
use serde_json::Value;
use tokio::sync::mpsc;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers in turn; the last one repeats.
struct Sequence {
    answers: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Sequence {
    fn new(answers: Vec<ResponseTemplate>) -> Self {
        Self {
            answers,
            next: AtomicUsize::new(0),
        }
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.answers[i.min(self.answers.len() - 1)].clone()
    }
}

fn json(version: &str, file: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(text(version, file), "application/json")
}

fn json_value(v: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

/// The jobs of the mixed overview, by role.
struct Ids {
    failed: String,
    stopped: String,
    canceled: String,
    bounded: String,
    late: String,
}

fn ids(version: &str) -> Ids {
    let mixed: JobsOverview = common::parse(version, "jobs_overview_mixed.json");
    let running: JobsOverview = common::parse(version, "jobs_overview_running.json");
    let bounded = running
        .jobs
        .iter()
        .find(|j| j.state == JobStatus::Finished)
        .unwrap()
        .jid
        .clone();
    let pick = |state| {
        mixed
            .jobs
            .iter()
            .find(|j| j.state == state && j.jid != bounded)
            .unwrap()
            .jid
            .clone()
    };
    Ids {
        failed: pick(JobStatus::Failed),
        stopped: pick(JobStatus::Finished),
        canceled: pick(JobStatus::Canceled),
        late: pick(JobStatus::Running),
        bounded,
    }
}

/// The mixed overview as it was before the scenarios ended: failed, stopped and canceled jobs
/// still RUNNING, the last job not yet submitted.
fn before_the_end(version: &str, ids: &Ids) -> Value {
    let mut v: Value = serde_json::from_str(&text(version, "jobs_overview_mixed.json")).unwrap();
    let earlier: Value =
        serde_json::from_str(&text(version, "jobs_overview_running.json")).unwrap();
    let jobs = v["jobs"].as_array_mut().unwrap();
    jobs.retain(|j| j["jid"] != ids.late.as_str());
    for j in jobs.iter_mut() {
        if j["jid"] != ids.bounded.as_str() {
            j["state"] = "RUNNING".into();
            j["end-time"] = (-1).into();
            // No state change since it went RUNNING (as in the earlier overview when it is there).
            let seen = earlier["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["jid"] == j["jid"]);
            j["last-modification"] = match seen {
                Some(e) => e["last-modification"].clone(),
                None => j["start-time"].clone(),
            };
            j["tasks"]["running"] = 2.into();
            for k in ["canceled", "finished", "failed"] {
                j["tasks"][k] = 0.into();
            }
        }
    }
    v
}

async fn mock_flink(version: &str, overview: Vec<ResponseTemplate>) -> (MockServer, Ids) {
    let server = MockServer::start().await;
    let ids = ids(version);
    Mock::given(method("GET"))
        .and(path("/jobs/overview"))
        .respond_with(Sequence::new(overview))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/jobs/{}/checkpoints", ids.stopped)))
        .respond_with(json(version, "checkpoints_stopped.json"))
        .expect(1) // read once, when FINISHED is first seen
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/jobs/{}/exceptions", ids.failed)))
        .respond_with(json(version, "exceptions_failed.json"))
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let not_found: Value = serde_json::from_str(&text(version, "job_not_found.json")).unwrap();
    Mock::given(method("GET"))
        .and(path_regex(r"^/jobs/[0-9a-f]+/(checkpoints|exceptions)$"))
        .respond_with(ResponseTemplate::new(404).set_body_json(&not_found["body"]))
        .with_priority(5)
        .mount(&server)
        .await;
    (server, ids)
}

fn config(server: &MockServer, version: &str) -> ClusterConfig {
    ClusterConfig::new(format!("flink-{version}"), server.uri())
        .with_poll_interval(Duration::from_millis(50))
}

fn drain(rx: &mut mpsc::Receiver<JobEvent>) -> Vec<JobEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn polls_report_stopped_failed_canceled_then_one_outage_and_its_recovery() {
    for v in VERSIONS {
        let ids = ids(v);
        let overview = vec![
            json(v, "jobs_overview_running.json"),
            json_value(&before_the_end(v, &ids)),
            json(v, "jobs_overview_mixed.json"),
            json(v, "jobs_overview_mixed.json"),
            ResponseTemplate::new(503).set_body_string("{\"errors\": [\"Service temporarily unavailable due to an ongoing leader election. Please refresh.\"]}"),
            ResponseTemplate::new(503),
            ResponseTemplate::new(503),
            ResponseTemplate::new(503),
            json(v, "jobs_overview_mixed.json"),
        ];
        let (server, _) = mock_flink(v, overview).await;
        let mut watcher = ClusterWatcher::new(config(&server, v)).unwrap();
        let (tx, mut rx) = mpsc::channel::<JobEvent>(64);
        let mut per_poll = Vec::new();
        for i in 0..9 {
            watcher.poll_once(at(i * 5000), &tx).await.unwrap();
            per_poll.push(drain(&mut rx));
        }
        let summary: Vec<Vec<String>> = per_poll
            .iter()
            .map(|evs| {
                evs.iter()
                    .map(|e| format!("{}:{}", e.labels["kind"], e.status))
                    .collect()
            })
            .collect();
        let empty: Vec<String> = Vec::new();
        assert_eq!(summary[0], empty, "{v}: baseline");
        assert_eq!(summary[1], empty, "{v}: jobs started");
        let mut third = summary[2].clone();
        third.sort();
        assert_eq!(
            third,
            ["ended:CANCELED", "ended:FAILED", "ended:STOPPED"],
            "{v}"
        );
        for (i, s) in summary.iter().enumerate().take(6).skip(3) {
            assert_eq!(*s, empty, "{v}: poll {i}: 1 or 2 failed polls alert nobody");
        }
        assert_eq!(
            summary[6],
            ["cluster_unreachable:UNKNOWN"],
            "{v}: third failed poll"
        );
        assert_eq!(summary[7], empty, "{v}");
        assert_eq!(summary[8], ["cluster_recovered:RUNNING"], "{v}");

        let by_id = |id: &str| per_poll[2].iter().find(|e| e.job_id == id).unwrap().clone();
        let failed = by_id(&ids.failed);
        assert_eq!(failed.previous_status, Some(JobStatus::Running));
        assert_eq!(
            failed.error.as_deref().unwrap().lines().next(),
            Some("java.lang.ArithmeticException: / by zero"),
            "{v}"
        );
        assert_eq!(failed.labels.get("restarts").map(String::as_str), Some("2"));
        assert_eq!(
            failed.url.as_deref(),
            Some(format!("{}/#/job/completed/{}/overview", server.uri(), ids.failed).as_str())
        );
        assert!(failed.duration_ms.is_some());
        assert_eq!(by_id(&ids.canceled).status, JobStatus::Canceled);
        let stopped = by_id(&ids.stopped);
        assert_eq!(stopped.status, JobStatus::Stopped, "{v}: not FINISHED");
        assert!(stopped.labels["savepoint"].contains("savepoint-"));
        // occurred_at is Flink's end time.
        let mixed: JobsOverview = common::parse(v, "jobs_overview_mixed.json");
        let end = mixed
            .jobs
            .iter()
            .find(|j| j.jid == ids.stopped)
            .unwrap()
            .end_time
            .unwrap();
        assert_eq!(stopped.occurred_at.timestamp_millis(), end);

        let unknown = &per_poll[6][0];
        assert_eq!(unknown.job_id, ids.late, "{v}: the only job not ended");
        assert!(
            unknown.error.as_deref().unwrap().contains("HTTP 503"),
            "{v}: {:?}",
            unknown.error
        );

        let view = watcher.view();
        assert!(view.health.reachable);
        assert_eq!(view.jobs.len(), 5);
        let statuses: Vec<_> = view.jobs.iter().map(|j| (j.id.clone(), j.status)).collect();
        assert!(statuses.contains(&(ids.stopped.clone(), JobStatus::Stopped)));
        server.verify().await;
    }
}

/// A sink that fails the first `n` deliveries, then records.
struct Flaky {
    failures_left: AtomicUsize,
    got: tokio::sync::Mutex<Vec<PollReport>>,
}

#[alert_flink::async_trait]
impl EventSink for Flaky {
    async fn deliver(&self, report: &PollReport) -> Result<(), SinkError> {
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SinkError::Failed("database is locked".into()));
        }
        self.got.lock().await.push(report.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_delivery_is_found_again_by_the_next_poll_and_state_comes_with_events() {
    let v = "2.3";
    let ids = ids(v);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jobs/overview"))
        .respond_with(Sequence::new(vec![
            json(v, "jobs_overview_running.json"),
            json_value(&before_the_end(v, &ids)),
            json(v, "jobs_overview_mixed.json"),
        ]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"/checkpoints$"))
        .respond_with(json(v, "checkpoints_stopped.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/jobs/{}/exceptions", ids.failed)))
        .respond_with(json(v, "exceptions_failed.json"))
        .mount(&server)
        .await;

    let sink = Flaky {
        failures_left: AtomicUsize::new(0),
        got: Default::default(),
    };
    let mut watcher = ClusterWatcher::new(config(&server, v)).unwrap();
    let r = watcher.poll_once(at(0), &sink).await.unwrap();
    assert!(
        r.findings.is_empty() && r.state.is_some(),
        "the baseline is a state change"
    );
    let r = watcher.poll_once(at(5000), &sink).await.unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    // The three jobs end, and the store fails: nothing is lost...
    sink.failures_left.store(1, Ordering::SeqCst);
    assert_eq!(
        watcher.poll_once(at(10_000), &sink).await.unwrap_err(),
        SinkError::Failed("database is locked".into())
    );
    // ...the next poll finds them again, with the state to persist alongside.
    let r = watcher.poll_once(at(15_000), &sink).await.unwrap();
    assert_eq!(r.findings.len(), 3);
    assert_eq!(r.events.len(), 3);
    let state = r.state.clone().expect("state comes with the events");
    assert!(state
        .jobs
        .values()
        .any(|j| j.reported == Some(JobStatus::Stopped)));
    // Quiet poll: nothing delivered.
    let r = watcher.poll_once(at(20_000), &sink).await.unwrap();
    assert!(r.is_empty());
    assert_eq!(sink.got.lock().await.len(), 3);

    // Restored from that state, a new watcher reports nothing again.
    let mut again = ClusterWatcher::new(config(&server, v))
        .unwrap()
        .restore(state);
    let r = again.poll_once(at(25_000), &sink).await.unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[tokio::test]
async fn a_spawned_watcher_emits_events_and_stops_with_its_state() {
    let v = "1.20";
    let ids = ids(v);
    let (server, _) = mock_flink(
        v,
        vec![
            json(v, "jobs_overview_running.json"),
            json_value(&before_the_end(v, &ids)),
            json(v, "jobs_overview_mixed.json"),
        ],
    )
    .await;
    let (tx, mut rx) = mpsc::channel::<JobEvent>(16);
    let handle = ClusterWatcher::new(config(&server, v))
        .unwrap()
        .with_limiter(Arc::new(tokio::sync::Semaphore::new(1)))
        .with_start_delay(Duration::ZERO)
        .spawn(tx);
    let mut events = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while events.len() < 3 {
            events.push(rx.recv().await.unwrap());
        }
    })
    .await
    .expect("three events within 10 s");
    let mut statuses: Vec<_> = events.iter().map(|e| e.status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [JobStatus::Failed, JobStatus::Canceled, JobStatus::Stopped]
    );
    assert!(events.iter().all(|e| e.cluster == "flink-1.20"));
    // A few more polls: nothing new.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.try_recv().is_err());
    let mut views = handle.subscribe();
    views.changed().await.unwrap();
    assert_eq!(handle.view().jobs.len(), 5);
    let state = handle.stop().await.unwrap();
    assert_eq!(state.jobs.len(), 5);
    server.verify().await;
}

#[tokio::test]
async fn client_errors_are_classified() {
    let server = MockServer::start().await;
    let not_found: Value = serde_json::from_str(&text("2.3", "job_not_found.json")).unwrap();
    Mock::given(path("/jobs/00000000000000000000000000000000/exceptions"))
        .respond_with(ResponseTemplate::new(404).set_body_json(&not_found["body"]))
        .mount(&server)
        .await;
    Mock::given(path("/jobs/00000000000000000000000000000000/checkpoints"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string("{\"errors\": [\"Internal server error.\"]}"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/overview"))
        .respond_with(ResponseTemplate::new(401).set_body_string("Unauthorized"))
        .mount(&server)
        .await;
    Mock::given(path("/config"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>not flink</html>"))
        .mount(&server)
        .await;
    Mock::given(path("/jobs/overview"))
        .respond_with(json("2.3", "jobs_overview_empty.json").set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;

    let c = FlinkClient::new(&server.uri(), Duration::from_millis(300)).unwrap();
    let id = "00000000000000000000000000000000";
    let e = c.job_exceptions(id).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::NotFound { message, .. } if message.contains("NotFoundException: Job")),
        "{e}"
    );
    assert!(!e.is_unreachable());
    let e = c.job_checkpoints(id).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Server { status: 500, .. }) && e.is_unreachable(),
        "{e}"
    );
    let e = c.cluster_overview().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Status { status: 401, .. }) && !e.is_unreachable(),
        "{e}"
    );
    let e = c.dashboard_config().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Decode { .. }) && !e.is_unreachable(),
        "{e}"
    );
    assert!(e.to_string().contains("<html>not flink</html>"));
    let e = c.jobs_overview().await.unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Timeout {
                timeout_ms: 300,
                ..
            }
        ) && e.is_unreachable(),
        "{e}"
    );

    // Connection refused: a port that was just freed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = FlinkClient::new(
        &format!("http://user:s3cret@127.0.0.1:{port}"),
        Duration::from_secs(2),
    )
    .unwrap();
    let e = c.jobs_overview().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Connect { .. }) && e.is_unreachable(),
        "{e}"
    );
    assert_eq!(e.kind(), "connect");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[tokio::test]
async fn a_base_path_and_odd_job_ids_stay_below_the_base() {
    let server = MockServer::start().await;
    Mock::given(path("/flink/prod/jobs/overview"))
        .respond_with(json("1.20", "jobs_overview_running.json"))
        .mount(&server)
        .await;
    Mock::given(path("/flink/prod/jobs/a%2F..%2Fb/exceptions"))
        .respond_with(json("1.20", "exceptions_running.json"))
        .mount(&server)
        .await;
    let c = FlinkClient::new(
        &format!("{}/flink/prod", server.uri()),
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(c.jobs_overview().await.unwrap().len(), 2);
    let ex = c.job_exceptions("a/../b").await.unwrap();
    assert!(ex.exception_history.entries.is_empty());
}

/// A sink that records what every poll read (`Some(jobs)` when the cluster answered) and how
/// many reports it was given.
#[derive(Default)]
struct Observer {
    polls: std::sync::Mutex<Vec<Option<Vec<JobStatus>>>>,
    delivered: AtomicUsize,
}

#[alert_flink::async_trait]
impl EventSink for Observer {
    async fn deliver(&self, _: &PollReport) -> Result<(), SinkError> {
        self.delivered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn polled(&self, result: &alert_flink::PollResult) {
        let seen = match result {
            alert_flink::PollResult::Answered { jobs, .. } => {
                Some(jobs.iter().map(|j| j.state).collect())
            }
            alert_flink::PollResult::Failed(_) => None,
        };
        self.polls.lock().unwrap().push(seen);
    }
}

#[tokio::test]
async fn every_poll_is_shown_to_the_sink_also_failed_and_quiet_ones() {
    let v = "2.3";
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jobs/overview"))
        .respond_with(Sequence::new(vec![
            json(v, "jobs_overview_running.json"),
            json(v, "jobs_overview_running.json"),
            ResponseTemplate::new(503),
            json(v, "jobs_overview_running.json"),
        ]))
        .mount(&server)
        .await;
    let running: JobsOverview =
        serde_json::from_str(&text(v, "jobs_overview_running.json")).unwrap();
    let states: Vec<JobStatus> = running.jobs.iter().map(|j| j.state).collect();
    assert!(!states.is_empty());

    let sink = Observer::default();
    let mut watcher = ClusterWatcher::new(config(&server, v)).unwrap();
    watcher.poll_once(at(0), &sink).await.unwrap();
    assert_eq!(sink.delivered.load(Ordering::SeqCst), 1, "the baseline");
    // A quiet poll delivers nothing, but the sink still sees it.
    assert!(watcher.poll_once(at(5000), &sink).await.unwrap().is_empty());
    assert_eq!(sink.delivered.load(Ordering::SeqCst), 1);
    watcher.poll_once(at(10_000), &sink).await.unwrap();
    watcher.poll_once(at(15_000), &sink).await.unwrap();
    let polls = sink.polls.lock().unwrap().clone();
    assert_eq!(
        polls,
        [
            Some(states.clone()),
            Some(states.clone()),
            None,
            Some(states)
        ]
    );
}
