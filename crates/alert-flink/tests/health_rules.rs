//! The health rules on synthetic polls: thresholds at their boundary, episodes closed by the
//! job's end, needs that change, persistence, TaskManager counts, and which reads a poll plans.

mod common;

use alert_core::JobStatus;
use alert_flink::model::{CheckpointEntry, CheckpointingStatistics, JobOverview, TaskCounts};
use alert_flink::{
    Detector, DetectorConfig, DetectorState, ExceptionSummary, FactKind, Finding, HealthCondition,
    HealthNeed, HealthNeeds, HealthThresholds, JobFacts, PollResult, TaskManagerFacts,
};
use common::at;

const S: i64 = 1000;
const POLL: i64 = 5 * S;

fn running(id: &str) -> JobOverview {
    let mut j = JobOverview::new(id, format!("job-{id}"), JobStatus::Running);
    j.tasks = TaskCounts {
        running: 2,
        total: 2,
        ..TaskCounts::default()
    };
    j.start_time = Some(at(0).timestamp_millis());
    j
}

fn entry(id: u64, status: &str, duration: i64, ack: i64) -> CheckpointEntry {
    CheckpointEntry {
        id,
        status: status.into(),
        checkpoint_type: "CHECKPOINT".into(),
        trigger_timestamp: ack - duration,
        latest_ack_timestamp: ack,
        end_to_end_duration: duration,
        failure_message: (status == "FAILED")
            .then(|| "Checkpoint expired before completing.".into()),
        failure_timestamp: (status == "FAILED").then_some(ack),
        ..CheckpointEntry::default()
    }
}

/// Statistics with a completed checkpoint `completed` (id, duration, ack) followed by
/// `failed` failures.
fn stats(completed: Option<(u64, i64, i64)>, failed: u64) -> CheckpointingStatistics {
    let mut s = CheckpointingStatistics::default();
    let mut next = 1;
    if let Some((id, duration, ack)) = completed {
        let e = entry(id, "COMPLETED", duration, ack);
        s.history.insert(0, e.clone());
        s.latest.completed = Some(e);
        s.counts.completed = 1;
        next = id + 1;
    }
    for i in 0..failed {
        let e = entry(next + i, "FAILED", 10, at(0).timestamp_millis());
        s.history.insert(0, e.clone());
        s.latest.failed = Some(e);
        s.counts.failed += 1;
    }
    s.counts.total = s.counts.completed + s.counts.failed;
    s
}

fn need(c: HealthCondition, thresholds: HealthThresholds) -> HealthNeeds {
    HealthNeeds::all(HealthNeed {
        conditions: [c].into_iter().collect(),
        thresholds,
    })
}

fn detector(needs: HealthNeeds) -> Detector {
    let mut d = Detector::new(DetectorConfig::default()).with_health_needs(needs);
    assert!(d
        .observe(at(0), PollResult::jobs(vec![running("a")]))
        .is_empty());
    d
}

fn with_stats(d: &mut Detector, t: i64, s: &CheckpointingStatistics) -> Vec<Finding> {
    let jobs = vec![running("a")];
    let planned = d.plan_facts(&jobs);
    assert!(planned.iter().any(|r| r.kind == FactKind::Checkpoints));
    d.observe(
        at(t),
        PollResult::jobs(jobs).with_facts("a", JobFacts::checkpoints(s)),
    )
}

fn kinds(found: &[Finding]) -> Vec<&'static str> {
    found.iter().map(Finding::kind).collect()
}

#[test]
fn failures_alert_at_the_threshold_not_below() {
    for threshold in [1, 3, 5] {
        let t = HealthThresholds {
            checkpoint_failures: threshold,
            ..HealthThresholds::default()
        };
        let mut d = detector(need(HealthCondition::CheckpointFailed, t));
        let below = stats(Some((1, 10, 1)), u64::from(threshold) - 1);
        assert!(with_stats(&mut d, POLL, &below).is_empty(), "{threshold}");
        let at_it = stats(Some((1, 10, 1)), u64::from(threshold));
        let found = with_stats(&mut d, 2 * POLL, &at_it);
        assert_eq!(kinds(&found), ["checkpoint_failed"], "{threshold}");
        // More failures: the same episode, no second alert.
        let more = stats(Some((1, 10, 1)), u64::from(threshold) + 4);
        assert!(with_stats(&mut d, 3 * POLL, &more).is_empty());
    }
}

#[test]
fn a_history_of_failures_only_is_counted_from_the_ids() {
    // The history keeps 10; 25 failed after checkpoint 1 completed.
    let mut s = stats(Some((1, 10, 1)), 25);
    s.history.truncate(10);
    assert_eq!(alert_flink::facts::consecutive_failures(&s), 25);
    // A savepoint or an in-progress checkpoint between failures does not break the run.
    let mut s = stats(Some((1, 10, 1)), 3);
    let mut sp = entry(9, "COMPLETED", 10, 1);
    sp.is_savepoint = true;
    s.history.insert(1, sp);
    s.history.insert(0, entry(10, "IN_PROGRESS", 10, 1));
    assert_eq!(alert_flink::facts::consecutive_failures(&s), 3);
    // `counts.failed` without a failed entry (a trigger failure): nothing in a row.
    let mut s = stats(Some((1, 10, 1)), 0);
    s.counts.failed = 4;
    assert_eq!(alert_flink::facts::consecutive_failures(&s), 0);
}

#[test]
fn a_checkpoint_longer_than_the_duration_threshold_is_slow_until_a_newer_one_is_not() {
    let t = HealthThresholds::default();
    let mut d = detector(need(HealthCondition::CheckpointSlow, t));
    let ack = at(POLL).timestamp_millis();
    assert!(with_stats(&mut d, POLL, &stats(Some((1, 600_000, ack)), 0)).is_empty());
    let found = with_stats(&mut d, 2 * POLL, &stats(Some((2, 600_001, ack)), 0));
    assert_eq!(kinds(&found), ["checkpoint_slow"]);
    let Finding::CheckpointSlow {
        duration_ms,
        age_ms,
        checkpoint_id,
        ..
    } = &found[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (*duration_ms, *age_ms, *checkpoint_id),
        (Some(600_001), None, Some(2))
    );
    // Another slow one: still the same episode.
    assert!(with_stats(&mut d, 3 * POLL, &stats(Some((3, 700_000, ack)), 0)).is_empty());
    let found = with_stats(&mut d, 4 * POLL, &stats(Some((4, 20_000, ack)), 0));
    assert_eq!(kinds(&found), ["checkpoint_recovered"]);
    assert!(with_stats(&mut d, 5 * POLL, &stats(Some((4, 20_000, ack)), 0)).is_empty());
}

#[test]
fn no_completed_checkpoint_for_longer_than_the_age_threshold_is_slow() {
    let t = HealthThresholds {
        checkpoint_age_ms: 60_000,
        ..HealthThresholds::default()
    };
    let mut d = detector(need(HealthCondition::CheckpointSlow, t));
    let ack = at(0).timestamp_millis();
    let s = stats(Some((1, 100, ack)), 2);
    assert!(
        with_stats(&mut d, 60 * S, &s).is_empty(),
        "exactly the threshold"
    );
    let found = with_stats(&mut d, 60 * S + 1, &s);
    assert_eq!(kinds(&found), ["checkpoint_slow"]);
    let Finding::CheckpointSlow { age_ms, .. } = &found[0] else {
        unreachable!()
    };
    assert_eq!(*age_ms, Some(60_001));
    assert!(with_stats(&mut d, 70 * S, &s).is_empty());
}

fn exceptions(n: i64, first_ts: i64) -> ExceptionSummary {
    ExceptionSummary {
        root_cause: Some("java.lang.IllegalStateException: flaky".into()),
        entry_timestamps: (0..n).rev().map(|i| first_ts + i).collect(),
        ..ExceptionSummary::default()
    }
}

fn with_exceptions(d: &mut Detector, t: i64, ex: ExceptionSummary) -> Vec<Finding> {
    let jobs = vec![running("a")];
    let planned = d.plan_facts(&jobs);
    assert!(planned.iter().any(|r| r.kind == FactKind::Exceptions));
    d.observe(
        at(t),
        PollResult::jobs(jobs).with_facts("a", JobFacts::exceptions(ex)),
    )
}

#[test]
fn exceptions_clear_after_exactly_one_quiet_fold_window() {
    let t = HealthThresholds {
        exception_fold_ms: 60_000,
        ..HealthThresholds::default()
    };
    let mut d = detector(need(HealthCondition::Exception, t));
    let ts = at(S).timestamp_millis();
    let found = with_exceptions(&mut d, POLL, exceptions(2, ts));
    // The exception also counts as a restart that recovered (the job-state rules).
    let health: Vec<_> = found.iter().filter(|f| f.condition().is_some()).collect();
    assert!(matches!(
        health[..],
        [Finding::ExceptionRaised { count: 2, .. }]
    ));
    assert!(
        with_exceptions(&mut d, POLL + 60 * S - 1, exceptions(2, ts))
            .iter()
            .all(|f| f.condition().is_none())
    );
    let found = with_exceptions(&mut d, POLL + 60 * S, exceptions(2, ts));
    let health: Vec<_> = found.iter().filter(|f| f.condition().is_some()).collect();
    assert!(matches!(
        health[..],
        [Finding::ExceptionsCleared {
            count: 2,
            ended: None,
            ..
        }]
    ));
}

#[test]
fn the_end_of_the_job_clears_what_is_open() {
    let needs = HealthNeeds::all(HealthNeed::of(HealthCondition::ALL));
    let mut d = detector(needs);
    let found = with_stats(&mut d, POLL, &stats(None, 3));
    assert_eq!(kinds(&found), ["checkpoint_failed"]);
    let mut gone = running("a");
    gone.state = JobStatus::Canceled;
    let found = d.observe(at(2 * POLL), PollResult::jobs(vec![gone.clone()]));
    assert_eq!(kinds(&found), ["ended", "checkpoint_recovered"]);
    assert!(matches!(
        &found[1],
        Finding::CheckpointRecovered {
            ended: Some(JobStatus::Canceled),
            failures: 3,
            ..
        }
    ));
    let ev = found[1].to_event(&common::cluster("2.3"));
    assert!(ev.labels["summary"].contains("the job ended (CANCELED)"));
    assert!(d
        .observe(at(3 * POLL), PollResult::jobs(vec![gone]))
        .is_empty());
}

#[test]
fn an_episode_of_a_condition_no_longer_wanted_is_dropped_silently() {
    let mut d = detector(need(
        HealthCondition::CheckpointFailed,
        HealthThresholds::default(),
    ));
    assert_eq!(
        kinds(&with_stats(&mut d, POLL, &stats(None, 3))),
        ["checkpoint_failed"]
    );
    d.set_health_needs(HealthNeeds::default());
    assert!(
        d.plan_facts(&[running("a")]).is_empty(),
        "nothing to read any more"
    );
    assert!(d
        .observe(at(2 * POLL), PollResult::jobs(vec![running("a")]))
        .is_empty());
    assert!(d.state().jobs["a"].health.is_clear());
    // Asked again: a new episode, alerted again.
    d.set_health_needs(need(
        HealthCondition::CheckpointFailed,
        HealthThresholds::default(),
    ));
    assert_eq!(
        kinds(&with_stats(&mut d, 3 * POLL, &stats(None, 4))),
        ["checkpoint_failed"]
    );
}

#[test]
fn open_episodes_survive_a_restart_and_old_states_still_load() {
    let needs = || HealthNeeds::all(HealthNeed::of(HealthCondition::ALL));
    let mut d = detector(needs());
    with_stats(&mut d, POLL, &stats(None, 3));
    d.observe(
        at(2 * POLL),
        PollResult::jobs(vec![running("a")]).with_taskmanagers(TaskManagerFacts {
            ids: vec!["tm-1".into(), "tm-2".into()],
        }),
    );
    let lost = d.observe(
        at(3 * POLL),
        PollResult::jobs(vec![running("a")]).with_taskmanagers(TaskManagerFacts {
            ids: vec!["tm-1".into()],
        }),
    );
    assert_eq!(kinds(&lost), ["taskmanager_lost"]);
    let json = serde_json::to_string(&d.snapshot()).unwrap();
    let state: DetectorState = serde_json::from_str(&json).unwrap();
    let mut d = Detector::restore(DetectorConfig::default(), state).with_health_needs(needs());
    // The same facts again: nothing new.
    assert!(with_stats(&mut d, 4 * POLL, &stats(None, 5)).is_empty());
    let back = d.observe(
        at(5 * POLL),
        PollResult::jobs(vec![running("a")]).with_taskmanagers(TaskManagerFacts {
            ids: vec!["tm-1".into(), "tm-3".into()],
        }),
    );
    assert_eq!(kinds(&back), ["taskmanager_back"]);
    assert_eq!(
        kinds(&with_stats(
            &mut d,
            6 * POLL,
            &stats(Some((9, 10, at(6 * POLL).timestamp_millis())), 0)
        )),
        ["checkpoint_recovered"]
    );

    // A state saved before the health conditions existed.
    let old = r#"{"version": 1, "baselined": true, "jobs": {"a": {"name": "job-a",
        "state": "RUNNING", "restarts": {"total": 1}}}, "outage": {"failed_polls": 0}}"#;
    let state: DetectorState = serde_json::from_str(old).unwrap();
    assert!(state.jobs["a"].health.is_clear());
    assert_eq!(state.taskmanagers.seen, None);
}

fn tms(n: usize) -> TaskManagerFacts {
    TaskManagerFacts {
        ids: (0..n).map(|i| format!("tm-{i}")).collect(),
    }
}

#[test]
fn taskmanager_counts_alert_per_episode_and_follow_scale_ups() {
    let mut d = detector(HealthNeeds::all(HealthNeed::of([
        HealthCondition::TaskmanagerLost,
    ])));
    let mut found = Vec::new();
    for (i, n) in [3, 2, 2, 1, 2, 3, 3, 4, 3, 4].into_iter().enumerate() {
        let p = PollResult::jobs(vec![running("a")]).with_taskmanagers(tms(n));
        found.extend(d.observe(at(i as i64 * POLL), p));
    }
    // 3 → 2 (lost, 1 more lost and 1 back do not count) → 3 (back); 4 → 3 (lost) → 4 (back).
    assert_eq!(
        kinds(&found),
        [
            "taskmanager_lost",
            "taskmanager_back",
            "taskmanager_lost",
            "taskmanager_back"
        ]
    );
    assert!(matches!(
        found[0],
        Finding::TaskManagersLost { was: 3, now: 2, .. }
    ));
    assert!(matches!(
        found[2],
        Finding::TaskManagersLost { was: 4, now: 3, .. }
    ));
    // A poll without the read (it failed) changes nothing.
    assert!(d
        .observe(at(60 * POLL), PollResult::jobs(vec![running("a")]))
        .is_empty());
}

#[test]
fn only_jobs_that_want_taskmanager_loss_are_listed_and_read_for() {
    let needs = HealthNeeds::per_job(|name, _| {
        if name == "job-a" {
            HealthNeed::of([HealthCondition::TaskmanagerLost])
        } else {
            HealthNeed::NONE
        }
    });
    let mut d = detector(needs);
    let mut a_done = running("a");
    a_done.state = JobStatus::Finished;
    assert!(
        !d.wants_taskmanagers(&[running("b"), a_done]),
        "only ended jobs want it"
    );
    let jobs = vec![running("a"), running("b")];
    assert!(d.wants_taskmanagers(&jobs));
    d.observe(
        at(POLL),
        PollResult::jobs(jobs.clone()).with_taskmanagers(tms(2)),
    );
    let found = d.observe(
        at(2 * POLL),
        PollResult::jobs(jobs).with_taskmanagers(tms(1)),
    );
    let Finding::TaskManagersLost { jobs, lost, .. } = &found[0] else {
        panic!("{found:?}")
    };
    assert_eq!(
        jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(lost, &["tm-1".to_owned()]);
}

#[test]
fn a_restart_seen_by_the_previous_poll_is_read_again_first() {
    let needs = HealthNeeds::all(HealthNeed::of([HealthCondition::Exception])).with_max_requests(1);
    let mut d = Detector::new(DetectorConfig::default()).with_health_needs(needs);
    let job = |id: &str, modified: i64| {
        let mut j = running(id);
        j.last_modification = Some(modified);
        j
    };
    d.observe(at(0), PollResult::jobs(vec![job("a", 1), job("b", 1)]));
    // b restarted between polls: the job-state rules read its history now (not bounded) ...
    let jobs = vec![job("a", 1), job("b", 2)];
    let planned = d.plan_facts(&jobs);
    assert!(planned
        .iter()
        .any(|r| r.job_id == "b" && r.kind == FactKind::Exceptions));
    d.observe(at(POLL), PollResult::jobs(jobs.clone()));
    // ... and the health rules once more at the next poll (the history is cached ~3 s), before
    // the round-robin.
    let planned = d.plan_facts(&jobs);
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0].job_id, "b");
}
