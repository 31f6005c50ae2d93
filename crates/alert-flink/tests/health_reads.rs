//! When the checkpoint statistics are read (`Detector::plan_facts_at`): not before a wanted
//! checkpoint condition could be crossed, as the last read bounds it, plus the slack of one
//! interval, so that a job checkpointing every minute is not read every poll; yet a threshold
//! crossed is still detected within two polls (at the first without the slack), and a job with
//! failures counting, an open episode or unknown timing is read at every poll.

mod common;

use alert_core::JobStatus;
use alert_flink::model::{CheckpointEntry, CheckpointingStatistics, JobOverview, TaskCounts};
use alert_flink::{
    Detector, DetectorConfig, FactKind, Finding, HealthCondition, HealthNeed, HealthNeeds,
    JobFacts, PollResult,
};
use common::at;

const S: i64 = 1000;
const POLL: i64 = 5 * S;
const INTERVAL: i64 = 60 * S;

fn running() -> JobOverview {
    let mut j = JobOverview::new("a", "orders", JobStatus::Running);
    j.tasks = TaskCounts {
        running: 2,
        total: 2,
        ..TaskCounts::default()
    };
    j.start_time = Some(at(0).timestamp_millis());
    j
}

/// The statistics at `now` of a job started at 0 that triggers a checkpoint every
/// [`INTERVAL`] (the first at `INTERVAL`), each taking 200 ms, failing from `failing_from` on.
fn stats_at(now: i64, failing_from: Option<i64>) -> CheckpointingStatistics {
    let mut s = CheckpointingStatistics::default();
    let done = (now - 200) / INTERVAL; // checkpoints finished by now
    for id in 1..=done.max(0) {
        let trigger = at(id * INTERVAL).timestamp_millis();
        let failed = failing_from.is_some_and(|f| id * INTERVAL >= f);
        let e = CheckpointEntry {
            id: id as u64,
            status: if failed { "FAILED" } else { "COMPLETED" }.into(),
            checkpoint_type: "CHECKPOINT".into(),
            trigger_timestamp: trigger,
            latest_ack_timestamp: trigger + 200,
            end_to_end_duration: 200,
            failure_message: failed.then(|| "Checkpoint expired before completing.".into()),
            failure_timestamp: failed.then_some(trigger + 200),
            ..CheckpointEntry::default()
        };
        if failed {
            s.counts.failed += 1;
            s.latest.failed = Some(e.clone());
        } else {
            s.counts.completed += 1;
            s.latest.completed = Some(e.clone());
        }
        s.history.insert(0, e);
    }
    s.history.truncate(10);
    s.counts.total = s.counts.completed + s.counts.failed;
    s
}

fn detector(conditions: &[HealthCondition]) -> Detector {
    detector_with(conditions, DetectorConfig::default())
}

fn detector_with(conditions: &[HealthCondition], config: DetectorConfig) -> Detector {
    let needs = HealthNeeds::all(HealthNeed::of(conditions.iter().copied()));
    let mut d = Detector::new(config).with_health_needs(needs);
    assert!(d
        .observe(at(0), PollResult::jobs(vec![running()]))
        .is_empty());
    d
}

/// Polls every [`POLL`] from `from` to `until`: the times the statistics were read and the
/// health findings with their time.
fn run(
    d: &mut Detector,
    from: i64,
    until: i64,
    failing_from: Option<i64>,
) -> (Vec<i64>, Vec<(i64, Finding)>) {
    let (mut reads, mut found) = (Vec::new(), Vec::new());
    let mut t = from;
    while t <= until {
        let jobs = vec![running()];
        let mut poll = PollResult::jobs(jobs.clone());
        for req in d.plan_facts_at(at(t), &jobs) {
            if req.kind == FactKind::Checkpoints {
                reads.push(t);
                poll = poll.with_facts(
                    req.job_id.clone(),
                    JobFacts::checkpoints(&stats_at(t, failing_from)),
                );
            }
        }
        found.extend(
            d.observe(at(t), poll)
                .into_iter()
                .filter(|f| f.condition().is_some())
                .map(|f| (t, f)),
        );
        t += POLL;
    }
    (reads, found)
}

#[test]
fn a_healthy_job_is_read_once_per_three_intervals_not_every_poll() {
    let mut d = detector(&[HealthCondition::CheckpointFailed]);
    let (reads, found) = run(&mut d, POLL, 30 * INTERVAL, None);
    assert!(found.is_empty(), "{found:?}");
    // Until two checkpoints were seen the interval is unknown: every poll.
    assert_eq!(&reads[..3], &[POLL, 2 * POLL, 3 * POLL]);
    // Then three failures in a row take the next checkpoint and two more, each an interval
    // later, plus the slack of a poll: a read every three intervals, 9 in the last 27 (not
    // 324).
    let steady: Vec<_> = reads.iter().filter(|t| **t > 3 * INTERVAL).collect();
    assert!(steady.len() <= 10, "{} reads: {reads:?}", steady.len());
    for pair in steady.windows(2) {
        assert_eq!(*pair[1] - *pair[0], 3 * INTERVAL, "{reads:?}");
    }
}

#[test]
fn failing_checkpoints_are_still_detected_within_two_polls_of_the_threshold() {
    let first_poll = DetectorConfig {
        checkpoint_read_slack: std::time::Duration::ZERO,
        ..DetectorConfig::default()
    };
    for (config, polls) in [(DetectorConfig::default(), 2), (first_poll, 1)] {
        for failing_from in [7 * INTERVAL, 7 * INTERVAL + 30 * S, 11 * INTERVAL] {
            detected_within(config, failing_from, polls);
        }
    }
}

fn detected_within(config: DetectorConfig, failing_from: i64, polls: i64) {
    {
        let mut d = detector_with(&[HealthCondition::CheckpointFailed], config);
        let (reads, found) = run(&mut d, POLL, 20 * INTERVAL, Some(failing_from));
        // The third failure in a row shows at its trigger + 200 ms.
        let first = (failing_from + INTERVAL - 1) / INTERVAL * INTERVAL;
        let crossed = first + 2 * INTERVAL + 200;
        let (when, finding) = &found[0];
        assert_eq!(finding.kind(), "checkpoint_failed", "{found:?}");
        assert!(
            *when >= crossed && *when < crossed + polls * POLL,
            "crossed at {crossed}, detected at {when}, not within {polls} polls; reads {reads:?}"
        );
        // Once failures count, every poll reads (to see the threshold and the recovery).
        let after: Vec<_> = reads.iter().filter(|t| **t > crossed).collect();
        assert!(after.windows(2).all(|p| *p[1] - *p[0] == POLL), "{reads:?}");
    }
}

#[test]
fn slow_checkpoints_wait_for_the_age_or_duration_threshold() {
    // CHECKPOINT_SLOW alone: a completed checkpoint can be slow only 600 s after its trigger.
    let mut d = detector(&[HealthCondition::CheckpointSlow]);
    let (reads, _) = run(&mut d, POLL, 60 * INTERVAL, None);
    let steady: Vec<_> = reads.iter().filter(|t| **t > 3 * INTERVAL).collect();
    assert!(steady.len() <= 6, "{} reads: {reads:?}", steady.len());
    for pair in steady.windows(2) {
        assert!(*pair[1] - *pair[0] >= 600 * S, "{reads:?}");
    }
    // No checkpoint ever completes (every one fails): the age threshold (30 min from the
    // job's start) is still detected at the first poll after it.
    let mut d = detector(&[HealthCondition::CheckpointSlow]);
    let (_, found) = run(&mut d, POLL, 40 * INTERVAL, Some(0));
    let (when, finding) = &found[0];
    assert_eq!(finding.kind(), "checkpoint_slow");
    assert!(*when > 1_800 * S && *when <= 1_800 * S + 2 * POLL, "{when}");
}

#[test]
fn without_a_time_the_plan_reads_every_poll() {
    // `plan_facts` (no time given) keeps the plain round-robin: every poll here.
    let mut d = detector(&[HealthCondition::CheckpointFailed]);
    for t in 1..=30 {
        let jobs = vec![running()];
        let plan = d.plan_facts(&jobs);
        assert!(plan.iter().any(|r| r.kind == FactKind::Checkpoints), "{t}");
        let poll = PollResult::jobs(jobs)
            .with_facts("a", JobFacts::checkpoints(&stats_at(t * POLL, None)));
        d.observe(at(t * POLL), poll);
    }
}

#[test]
fn periodic_history_reads_are_one_per_poll_whatever_the_bound() {
    // Five jobs wanting EXCEPTION, a bound of 100: the safety-net reads of their histories go
    // round-robin, one per poll, not 5 per poll (a failover moves `last-modification`, which
    // triggers the read that finds a new entry).
    let jobs: Vec<JobOverview> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|id| {
            let mut j = running();
            j.jid = (*id).into();
            j
        })
        .collect();
    let needs =
        HealthNeeds::all(HealthNeed::of([HealthCondition::Exception])).with_max_requests(100);
    let mut d = Detector::new(DetectorConfig::default()).with_health_needs(needs);
    d.observe(at(0), PollResult::jobs(jobs.clone()));
    let mut read = Vec::new();
    for poll in 1..=5 {
        let plan = d.plan_facts_at(at(poll * POLL), &jobs);
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert_eq!(plan[0].kind, FactKind::Exceptions);
        read.push(plan[0].job_id.clone());
        d.observe(at(poll * POLL), PollResult::jobs(jobs.clone()));
    }
    read.sort();
    assert_eq!(read, ["a", "b", "c", "d", "e"], "each once in five polls");
}
