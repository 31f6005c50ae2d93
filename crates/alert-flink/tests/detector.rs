//! Detector rules on synthetic poll sequences: baseline, outage confirmation, vanished jobs,
//! restart storms, degraded jobs, facts that arrive late, persistence.

mod common;

use alert_core::JobStatus;
use alert_flink::model::{JobOverview, JobsOverview, TaskCounts};
use alert_flink::{
    CheckpointFacts, ClusterRef, Detector, DetectorConfig, DetectorState, ExceptionSummary,
    FactKind, Finding, JobFacts, PollResult, SavepointFact,
};
use common::{at, parse};

const S: i64 = 1000;

fn job(id: &str, state: JobStatus, running: u32, total: u32) -> JobOverview {
    let mut j = JobOverview::new(id, format!("job-{id}"), state);
    j.tasks = TaskCounts {
        running,
        total,
        scheduled: total - running,
        ..TaskCounts::default()
    };
    j
}

fn running(id: &str) -> JobOverview {
    job(id, JobStatus::Running, 2, 2)
}

fn ended(id: &str, state: JobStatus) -> JobOverview {
    job(id, state, 0, 2)
}

fn down() -> PollResult {
    PollResult::failed(
        true,
        "GET /jobs/overview: cannot connect to the JobManager (connection refused)",
    )
}

fn kinds(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| match f {
            Finding::Ended { status, .. } => format!("ended:{status}"),
            other => other.kind().to_owned(),
        })
        .collect()
}

/// History with `n` entries at timestamps 1..=n (newest first).
fn history(n: i64) -> ExceptionSummary {
    ExceptionSummary {
        root_cause: Some("java.lang.IllegalStateException: flaky".into()),
        entry_timestamps: (1..=n).rev().collect(),
        ..ExceptionSummary::default()
    }
}

#[test]
fn the_first_poll_is_a_baseline_and_ended_jobs_never_alert() {
    let mixed: JobsOverview = parse("2.3", "jobs_overview_mixed.json");
    let mut d = Detector::new(DetectorConfig::default());
    assert!(
        d.wanted_facts(&mixed.jobs).is_empty(),
        "nothing is fetched for a baseline"
    );
    assert!(d
        .observe(at(0), PollResult::jobs(mixed.jobs.clone()))
        .is_empty());
    assert!(
        d.wanted_facts(&mixed.jobs).is_empty(),
        "ended jobs of the baseline need no facts"
    );
    assert!(d
        .observe(at(5 * S), PollResult::jobs(mixed.jobs.clone()))
        .is_empty());
    assert_eq!(d.jobs().len(), 5);

    // The running one is canceled afterwards: that alerts.
    let mut jobs = mixed.jobs.clone();
    let live = jobs
        .iter_mut()
        .find(|j| j.state == JobStatus::Running)
        .unwrap();
    live.state = JobStatus::Canceled;
    let found = d.observe(at(10 * S), PollResult::jobs(jobs));
    assert_eq!(kinds(&found), ["ended:CANCELED"]);
}

#[test]
fn a_job_that_starts_and_ends_between_two_polls_alerts_once() {
    let mut d = Detector::new(DetectorConfig::default());
    assert!(d.observe(at(0), PollResult::jobs(vec![])).is_empty());
    let jobs = vec![
        ended("a", JobStatus::Failed),
        ended("b", JobStatus::Finished),
    ];
    let wanted = d.wanted_facts(&jobs);
    assert_eq!(wanted.len(), 2);
    let poll = PollResult::jobs(jobs.clone())
        .with_facts(
            "a",
            JobFacts::exceptions(common::exceptions("2.3", "exceptions_failed.json")),
        )
        .with_facts(
            "b",
            JobFacts::checkpoints(&common::checkpoints("2.3", "checkpoints_finished.json")),
        );
    let found = d.observe(at(5 * S), poll);
    assert_eq!(kinds(&found), ["ended:FAILED", "ended:FINISHED"]);
    let Finding::Ended {
        previous,
        restarts,
        error,
        ..
    } = &found[0]
    else {
        unreachable!()
    };
    assert_eq!((*previous, *restarts), (None, 2));
    assert!(error
        .as_deref()
        .unwrap()
        .starts_with("java.lang.ArithmeticException: / by zero"));
    assert!(d
        .observe(at(10 * S), PollResult::jobs(jobs.clone()))
        .is_empty());
    assert!(d.wanted_facts(&jobs).is_empty());
}

#[test]
fn cancelling_then_canceled_is_one_alert() {
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(at(0), PollResult::jobs(vec![running("a")]));
    assert!(d
        .observe(
            at(5 * S),
            PollResult::jobs(vec![job("a", JobStatus::Cancelling, 1, 2)])
        )
        .is_empty());
    let found = d.observe(
        at(10 * S),
        PollResult::jobs(vec![ended("a", JobStatus::Canceled)]),
    );
    assert_eq!(kinds(&found), ["ended:CANCELED"]);
    assert!(d
        .observe(
            at(15 * S),
            PollResult::jobs(vec![ended("a", JobStatus::Canceled)])
        )
        .is_empty());
}

#[test]
fn cluster_outage_alerts_once_after_three_failed_polls_then_recovers_once() {
    let mut d = Detector::new(DetectorConfig::default());
    let jobs = vec![
        running("a"),
        job("b", JobStatus::Initializing, 0, 0),
        ended("c", JobStatus::Finished),
    ];
    d.observe(at(0), PollResult::jobs(jobs.clone()));

    // One or two failed polls alert nobody, and an answer resets the count.
    assert!(d.observe(at(5 * S), down()).is_empty());
    assert!(d.observe(at(10 * S), down()).is_empty());
    assert!(!d.health().reachable);
    assert!(d
        .observe(at(15 * S), PollResult::jobs(jobs.clone()))
        .is_empty());
    assert!(d.health().reachable);
    assert!(d.observe(at(20 * S), down()).is_empty());
    assert!(d.observe(at(25 * S), down()).is_empty());

    let found = d.observe(at(30 * S), down());
    assert_eq!(kinds(&found), ["cluster_unreachable"]);
    let Finding::ClusterUnreachable {
        jobs: listed,
        since,
        failed_polls,
        ..
    } = &found[0]
    else {
        unreachable!()
    };
    assert_eq!(*failed_polls, 3);
    assert_eq!(*since, at(20 * S));
    let names: Vec<_> = listed.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["job-a", "job-b"], "the ended job is not listed");
    let event = found[0].to_event(&ClusterRef {
        name: "prod".into(),
        web_ui: "http://jm:8081".into(),
    });
    assert_eq!(event.status, JobStatus::Unknown);
    assert_eq!(event.labels["jobs"], "job-a,job-b");
    assert_eq!(event.labels["job_ids"], "a,b");
    assert_eq!(event.job_name, "job-a, job-b");
    assert_eq!(event.url.as_deref(), Some("http://jm:8081/#/overview"));

    for i in 7..20 {
        assert!(d.observe(at(i * 5 * S), down()).is_empty(), "poll {i}");
    }
    let found = d.observe(at(100 * S), PollResult::jobs(jobs.clone()));
    assert_eq!(kinds(&found), ["cluster_recovered"]);
    let Finding::ClusterRecovered {
        jobs: back,
        missing,
        since,
        ..
    } = &found[0]
    else {
        unreachable!()
    };
    assert_eq!((back.len(), missing.len(), *since), (2, 0, at(20 * S)));
    for i in 21..30 {
        assert!(d
            .observe(at(i * 5 * S), PollResult::jobs(jobs.clone()))
            .is_empty());
    }
}

#[test]
fn jobs_forgotten_by_a_restarted_jobmanager_are_named_once_by_the_recovery() {
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(at(0), PollResult::jobs(vec![running("a"), running("b")]));
    for i in 1..=3 {
        d.observe(at(i * 5 * S), down());
    }
    // Without HA the new JobManager knows no job.
    let found = d.observe(at(20 * S), PollResult::jobs(vec![]));
    assert_eq!(kinds(&found), ["cluster_recovered"]);
    let Finding::ClusterRecovered { missing, .. } = &found[0] else {
        unreachable!()
    };
    assert_eq!(missing.len(), 2);
    for i in 5..15 {
        assert!(
            d.observe(at(i * 5 * S), PollResult::jobs(vec![]))
                .is_empty(),
            "no vanished alerts after"
        );
    }
}

#[test]
fn a_job_missing_from_three_answers_is_unknown_once() {
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(
        at(0),
        PollResult::jobs(vec![
            running("a"),
            running("b"),
            ended("c", JobStatus::Failed),
        ]),
    );
    // A reappearance within the window resets the count.
    assert!(d
        .observe(at(5 * S), PollResult::jobs(vec![running("b")]))
        .is_empty());
    assert!(d
        .observe(
            at(10 * S),
            PollResult::jobs(vec![running("a"), running("b")])
        )
        .is_empty());
    // Then a and b vanish together; c (ended) leaves silently.
    assert!(d.observe(at(15 * S), PollResult::jobs(vec![])).is_empty());
    assert!(d.observe(at(20 * S), PollResult::jobs(vec![])).is_empty());
    let found = d.observe(at(25 * S), PollResult::jobs(vec![]));
    assert_eq!(kinds(&found), ["vanished"]);
    let Finding::Vanished { jobs, .. } = &found[0] else {
        unreachable!()
    };
    assert_eq!(jobs.len(), 2, "one finding for both");
    for i in 6..12 {
        assert!(d
            .observe(at(i * 5 * S), PollResult::jobs(vec![]))
            .is_empty());
    }
    assert!(d.jobs().is_empty());
}

/// A job that fails every 10 s for 30 minutes, polled every 5 s with the facts the watcher
/// would fetch: one restart alert, one recovery, then one digest per 10 minutes.
#[test]
fn flapping_restarts_do_not_storm() {
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(at(0), PollResult::jobs(vec![running("a")]));
    let mut found = Vec::new();
    let mut failures = 0;
    let mut last_change = 0;
    let mut prev = JobStatus::Running;
    for i in 1..=360 {
        let t = i * 5 * S;
        let state = if i % 2 == 1 {
            JobStatus::Restarting
        } else {
            JobStatus::Running
        };
        if state == JobStatus::Restarting {
            failures += 1;
        }
        if state != prev {
            last_change = t;
            prev = state;
        }
        let mut j = if state == JobStatus::Running {
            running("a")
        } else {
            job("a", state, 0, 2)
        };
        j.last_modification = Some(at(last_change).timestamp_millis());
        let mut poll = PollResult::jobs(vec![j.clone()]);
        for req in d.wanted_facts(&[j]) {
            assert_eq!(req.kind, FactKind::Exceptions);
            let mut h = history(failures);
            // Timestamps in the watcher's time.
            h.entry_timestamps = (1..=failures)
                .rev()
                .map(|k| at(k * 10 * S - 5 * S).timestamp_millis())
                .collect();
            poll = poll.with_facts("a", JobFacts::exceptions(h));
        }
        found.extend(d.observe(at(t), poll));
    }
    // Then it runs steadily for 11 minutes: the last window's restarts come in one digest.
    for i in 361..=492 {
        let mut j = running("a");
        j.last_modification = Some(at(last_change).timestamp_millis());
        found.extend(d.observe(at(i * 5 * S), PollResult::jobs(vec![j])));
    }
    let k = kinds(&found);
    assert_eq!(&k[..2], ["restart", "recovered"]);
    assert!(k[2..].iter().all(|k| k == "restart_digest"), "{k:?}");
    assert!(found.len() <= 5, "{k:?}");
    let digested: u32 = found
        .iter()
        .map(|f| match f {
            Finding::Restarted { restarts, .. } | Finding::RestartsFolded { restarts, .. } => {
                *restarts
            }
            _ => 0,
        })
        .sum();
    assert_eq!(
        digested, 180,
        "every restart is counted in exactly one finding"
    );
    assert_eq!(d.jobs()[0].restarts, 180);
}

#[test]
fn a_restart_seen_only_in_the_history_alerts_once_without_a_separate_recovery() {
    let mut d = Detector::new(DetectorConfig::default());
    let mut j = running("a");
    j.last_modification = Some(100);
    d.observe(at(0), PollResult::jobs(vec![]));
    d.observe(at(5 * S), PollResult::jobs(vec![j.clone()]));
    assert!(d.wanted_facts(&[j.clone()]).is_empty());
    // RUNNING again, but last-modification moved: it went through RESTARTING in between.
    j.last_modification = Some(200);
    let wanted = d.wanted_facts(&[j.clone()]);
    assert_eq!(wanted.len(), 1);
    assert_eq!(wanted[0].kind, FactKind::Exceptions);
    let found = d.observe(
        at(10 * S),
        PollResult::jobs(vec![j.clone()]).with_facts("a", JobFacts::exceptions(history(1))),
    );
    assert_eq!(kinds(&found), ["restart"]);
    assert!(matches!(
        found[0],
        Finding::Restarted {
            running_again: true,
            ..
        }
    ));
    assert!(d.observe(at(15 * S), PollResult::jobs(vec![j])).is_empty());
}

#[test]
fn degraded_needs_the_whole_window_and_recovers_once() {
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(at(0), PollResult::jobs(vec![]));
    // Normal start: scheduled for 10 s, then running: nothing.
    for t in [5, 10, 15] {
        assert!(d
            .observe(
                at(t * S),
                PollResult::jobs(vec![job("a", JobStatus::Running, 0, 2)])
            )
            .is_empty());
    }
    assert!(d
        .observe(at(20 * S), PollResult::jobs(vec![running("a")]))
        .is_empty());
    // TaskManager lost: nothing running from 25 s on; degraded at 40 s (15 s later), once.
    let mut found = Vec::new();
    for t in (25..=60).step_by(5) {
        found.extend(d.observe(
            at(t * S),
            PollResult::jobs(vec![job("a", JobStatus::Running, 0, 2)]),
        ));
    }
    assert_eq!(kinds(&found), ["degraded"]);
    assert!(
        matches!(&found[0], Finding::Degraded { at: a, since, .. } if *a == at(40 * S) && *since == at(25 * S))
    );
    let event = found[0].to_event(&common::cluster("2.3"));
    assert_eq!(event.status, JobStatus::Unknown);
    assert_eq!(event.labels["route_statuses"], "UNKNOWN,RESTARTING");
    assert!(event
        .error
        .unwrap()
        .contains("0 of 2 tasks running for 15s"));
    // Partly running is not yet recovered; all running is.
    assert!(d
        .observe(
            at(65 * S),
            PollResult::jobs(vec![job("a", JobStatus::Running, 1, 2)])
        )
        .is_empty());
    let found = d.observe(at(70 * S), PollResult::jobs(vec![running("a")]));
    assert_eq!(kinds(&found), ["recovered"]);
    let event = found[0].to_event(&common::cluster("2.3"));
    assert_eq!(
        (event.status, event.previous_status),
        (JobStatus::Running, Some(JobStatus::Unknown))
    );
    assert!(d
        .observe(at(75 * S), PollResult::jobs(vec![running("a")]))
        .is_empty());
}

#[test]
fn finished_waits_for_its_checkpoints_a_few_polls() {
    let stop = CheckpointFacts {
        latest_savepoint: Some(SavepointFact {
            checkpoint_type: "SYNC_SAVEPOINT".into(),
            status: "COMPLETED".into(),
            external_path: Some("file:/sp/1".into()),
            ack_timestamp: Some(1_000),
        }),
        ..CheckpointFacts::default()
    };
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(at(0), PollResult::jobs(vec![running("a"), running("b")]));
    let mut a = ended("a", JobStatus::Finished);
    a.end_time = Some(1_050);
    let b = ended("b", JobStatus::Finished);
    // The checkpoint requests failed: nothing yet.
    assert!(d
        .observe(at(5 * S), PollResult::jobs(vec![a.clone(), b.clone()]))
        .is_empty());
    // a's arrive: STOPPED; b still waits.
    let found = d.observe(
        at(10 * S),
        PollResult::jobs(vec![a.clone(), b.clone()]).with_facts(
            "a",
            JobFacts {
                checkpoints: Some(stop),
                exceptions: None,
            },
        ),
    );
    assert_eq!(kinds(&found), ["ended:STOPPED"]);
    assert_eq!(
        d.jobs().iter().find(|j| j.id == "a").unwrap().status,
        JobStatus::Stopped
    );
    // b gives up at its third poll and says why.
    let found = d.observe(at(15 * S), PollResult::jobs(vec![a, b]));
    assert_eq!(kinds(&found), ["ended:FINISHED"]);
    let Finding::Ended { note, .. } = &found[0] else {
        unreachable!()
    };
    assert!(note.as_deref().unwrap().contains("cannot be told"));
}

#[test]
fn a_reused_job_id_with_another_start_time_is_a_new_run() {
    let id = "00000000000000000000000000000000";
    let mut run1 = ended(id, JobStatus::Finished);
    run1.start_time = Some(1_000);
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(at(0), PollResult::jobs(vec![run1]));
    let mut run2 = running(id);
    run2.start_time = Some(9_000);
    assert!(d
        .observe(at(5 * S), PollResult::jobs(vec![run2.clone()]))
        .is_empty());
    run2.state = JobStatus::Canceled;
    assert_eq!(
        kinds(&d.observe(at(10 * S), PollResult::jobs(vec![run2]))),
        ["ended:CANCELED"]
    );
}

#[test]
fn a_restored_detector_does_not_alert_again() {
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(
        at(0),
        PollResult::jobs(vec![running("a"), running("b"), running("c")]),
    );
    let found = d.observe(
        at(5 * S),
        PollResult::jobs(vec![
            ended("a", JobStatus::Canceled),
            running("b"),
            running("c"),
        ]),
    );
    assert_eq!(kinds(&found), ["ended:CANCELED"]);
    for i in 2..=4 {
        d.observe(at(i * 5 * S), down());
    }
    let json = serde_json::to_string(&d.snapshot()).unwrap();

    // The server restarts: same cluster, still down, then b was canceled meanwhile.
    let state: DetectorState = serde_json::from_str(&json).unwrap();
    let mut d = Detector::restore(DetectorConfig::default(), state);
    assert!(
        d.observe(at(60 * S), down()).is_empty(),
        "the outage was already reported"
    );
    let found = d.observe(
        at(65 * S),
        PollResult::jobs(vec![
            ended("a", JobStatus::Canceled),
            ended("b", JobStatus::Canceled),
            running("c"),
        ]),
    );
    assert_eq!(kinds(&found), ["cluster_recovered", "ended:CANCELED"]);
    let Finding::Ended { job, .. } = &found[1] else {
        unreachable!()
    };
    assert_eq!(job.id, "b");
    assert_eq!(d.snapshot().version, alert_flink::state::STATE_VERSION);
}

#[test]
fn any_failed_poll_counts_and_the_state_only_changes_when_something_happens() {
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(at(0), PollResult::jobs(vec![running("a")]));
    let before = d.snapshot();
    d.observe(at(5 * S), PollResult::jobs(vec![running("a")]));
    assert_eq!(
        d.snapshot(),
        before,
        "a quiet poll changes nothing worth persisting"
    );
    for i in 2..=3 {
        assert!(d
            .observe(
                at(i * 5 * S),
                PollResult::failed(false, "GET /jobs/overview: not found (HTTP 404)")
            )
            .is_empty());
    }
    assert_eq!(
        kinds(&d.observe(at(20 * S), PollResult::failed(false, "HTTP 404"))),
        ["cluster_unreachable"]
    );
}

#[test]
fn findings_that_list_jobs_narrow_to_a_groups_jobs() {
    let mut d = Detector::new(DetectorConfig::default());
    d.observe(at(0), PollResult::jobs(vec![running("a"), running("b")]));
    let found = (1..=3)
        .flat_map(|i| d.observe(at(i * 5 * S), down()))
        .collect::<Vec<_>>();
    let only_b = found[0].retain_jobs(|j| j.id == "b").unwrap();
    let event = only_b.to_event(&common::cluster("2.3"));
    assert_eq!(
        (event.job_id.as_str(), event.job_name.as_str()),
        ("b", "job-b")
    );
    assert_eq!(event.labels["jobs"], "job-b");
    assert!(found[0].retain_jobs(|j| j.id == "zzz").is_none());
    assert!(found[0].lists_jobs());
    assert_eq!(found[0].route_statuses(), [JobStatus::Unknown]);
}
