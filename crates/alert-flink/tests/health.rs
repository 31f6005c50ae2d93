//! The health conditions on the real captures of `data/flink-2.3/health/` (Flink 2.3.0:
//! checkpoints that fail, checkpoints that expire, an exception every ~6 s) and the captured
//! `/taskmanagers` answers of both versions around a TaskManager kill: exactly one start and
//! one clear per episode, the facts in the findings, detection within two polls of the
//! threshold, and nothing at all when no binding asks for a condition.

mod common;

use std::collections::BTreeMap;

use alert_core::JobStatus;
use alert_flink::model::{
    CheckpointEntry, CheckpointingStatistics, JobExceptions, JobsOverview, TaskManagers,
};
use alert_flink::{
    ClusterRef, Detector, DetectorConfig, ExceptionSummary, FactKind, Finding, HealthCondition,
    HealthNeed, HealthNeeds, JobFacts, PollResult, RouteStatus, TaskManagerFacts,
};
use chrono::{DateTime, Utc};
use common::{parse, VERSIONS};
use serde::Deserialize;

const POLL_MS: i64 = 5_000;

fn health<T: serde::de::DeserializeOwned>(scenario: &str, file: &str) -> T {
    parse("2.3", &format!("health/{scenario}/{file}"))
}

fn stats(scenario: &str, file: &str) -> CheckpointingStatistics {
    health(scenario, file)
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

fn cluster() -> ClusterRef {
    ClusterRef {
        name: "flink-2.3".into(),
        web_ui: "http://127.0.0.1:18181".into(),
    }
}

/// The job of a scenario, as `/jobs/overview` listed it at t0 (all three jobs of the cluster
/// are listed; the others stay as they were).
fn overview(scenario: &str) -> Vec<alert_flink::model::JobOverview> {
    health::<JobsOverview>(scenario, "jobs_overview.json").jobs
}

fn job_id(scenario: &str) -> String {
    let name = format!("flink-alert-{}", scenario.replace('_', "-"));
    overview(scenario)
        .into_iter()
        .find(|j| j.name == name && j.state == JobStatus::Running)
        .unwrap()
        .jid
}

fn needs(conditions: &[HealthCondition]) -> HealthNeeds {
    HealthNeeds::all(HealthNeed::of(conditions.iter().copied())).with_max_requests(100)
}

/// One poll: the detector plans its reads, `facts` answers them (`None`: not available).
fn poll(
    d: &mut Detector,
    now: i64,
    jobs: &[alert_flink::model::JobOverview],
    facts: &mut dyn FnMut(&str, FactKind) -> Option<JobFacts>,
) -> Vec<Finding> {
    let mut p = PollResult::jobs(jobs.to_vec());
    for req in d.plan_facts(jobs) {
        if let Some(f) = facts(&req.job_id, req.kind) {
            p = p.with_facts(req.job_id.clone(), f);
        }
    }
    d.observe(time(now), p)
}

fn kinds(found: &[(i64, Finding)]) -> Vec<&'static str> {
    found.iter().map(|(_, f)| f.kind()).collect()
}

/// When the latest failed checkpoint of `s` failed.
fn latest_failure(s: &CheckpointingStatistics) -> i64 {
    s.latest.failed.as_ref().unwrap().failure_timestamp.unwrap()
}

/// `stats` after a checkpoint `id` completed in `duration_ms` (acknowledged at `ack`).
fn with_completed(
    mut s: CheckpointingStatistics,
    id: u64,
    duration_ms: i64,
    ack: i64,
) -> CheckpointingStatistics {
    let done = CheckpointEntry {
        id,
        status: "COMPLETED".into(),
        checkpoint_type: "CHECKPOINT".into(),
        trigger_timestamp: ack - duration_ms,
        latest_ack_timestamp: ack,
        end_to_end_duration: duration_ms,
        ..CheckpointEntry::default()
    };
    s.counts.completed += 1;
    s.counts.total += 1;
    s.history.insert(0, done.clone());
    s.latest.completed = Some(done);
    s
}

/// Replays a checkpoint scenario: a baseline poll, then `reads` (each answered by its
/// statistics, for every job that asks) one poll apart.
fn replay_checkpoints(
    scenario: &str,
    needs: HealthNeeds,
    start: i64,
    reads: &[CheckpointingStatistics],
) -> Vec<(i64, Finding)> {
    let jobs = overview(scenario);
    let id = job_id(scenario);
    let mut d = Detector::new(DetectorConfig::default()).with_health_needs(needs);
    let mut out = Vec::new();
    assert!(poll(&mut d, start, &jobs, &mut |_, _| None).is_empty());
    for (i, s) in reads.iter().enumerate() {
        let now = start + (i as i64 + 1) * POLL_MS;
        let mut answer = |job: &str, kind| {
            (job == id && kind == FactKind::Checkpoints).then(|| JobFacts::checkpoints(s))
        };
        // Only the health findings (another job of that overview may be degraded).
        out.extend(
            poll(&mut d, now, &jobs, &mut answer)
                .into_iter()
                .filter(|f| f.condition().is_some())
                .map(|f| (now, f)),
        );
    }
    out
}

#[test]
fn failing_checkpoints_alert_once_with_count_and_message_and_clear_once() {
    for (scenario, t0_count, t60_count, message) in [
        (
            "checkpoint_fail",
            16,
            46,
            "Asynchronous task checkpoint failed.",
        ),
        (
            "checkpoint_timeout",
            8,
            38,
            "Checkpoint expired before completing.",
        ),
    ] {
        let t0 = stats(scenario, "checkpoints_t0.json");
        let t60 = stats(scenario, "checkpoints_t60.json");
        let failed_at = latest_failure(&t0);
        let completed = with_completed(t60.clone(), 47, 900, failed_at + 70_000);
        let reads = [
            t0.clone(),
            t60.clone(),
            t60.clone(),
            completed.clone(),
            completed,
        ];
        let found = replay_checkpoints(
            scenario,
            needs(&[HealthCondition::CheckpointFailed]),
            failed_at,
            &reads,
        );
        assert_eq!(
            kinds(&found),
            ["checkpoint_failed", "checkpoint_recovered"],
            "{scenario}"
        );
        let Finding::CheckpointFailing {
            consecutive,
            message: m,
            job,
            ..
        } = &found[0].1
        else {
            unreachable!()
        };
        assert_eq!(*consecutive, t0_count, "{scenario}");
        assert_eq!(m.as_deref(), Some(message));
        assert_eq!(job.id, job_id(scenario));
        assert_eq!(
            found[0].0,
            failed_at + POLL_MS,
            "the first read after the baseline"
        );
        let Finding::CheckpointRecovered {
            failures,
            checkpoint_id,
            condition,
            ended,
            ..
        } = &found[1].1
        else {
            unreachable!()
        };
        assert_eq!(*failures, t60_count, "{scenario}: the most in a row seen");
        assert_eq!(*checkpoint_id, Some(47));
        assert_eq!(*condition, HealthCondition::CheckpointFailed);
        assert_eq!(*ended, None);

        let events: Vec<_> = found.iter().map(|(_, f)| f.to_event(&cluster())).collect();
        let ev = &events[0];
        assert_eq!(ev.labels["route_statuses"], "CHECKPOINT_FAILED");
        assert_eq!(ev.labels["condition_state"], "firing");
        assert_eq!(ev.labels["consecutive_failures"], t0_count.to_string());
        assert_eq!(ev.labels["checkpoint_failure"], message);
        assert!(ev.error.as_deref().unwrap().contains(message));
        assert_eq!(ev.cluster, "flink-2.3");
        assert_eq!(events[1].labels["condition_state"], "resolved");
        insta::assert_json_snapshot!(format!("health__{scenario}"), events);
    }
}

#[test]
fn the_expired_checkpoints_of_the_earlier_run_completed_in_between() {
    // Completed 25, failed 70, but the latest completed (93) is newer than the latest failed.
    let mixed = stats(
        "checkpoint_timeout",
        "checkpoints_mixed_completed_failed.json",
    );
    assert_eq!(alert_flink::facts::consecutive_failures(&mixed), 0);
    let t0 = stats("checkpoint_timeout", "checkpoints_t0.json");
    let start = latest_failure(&t0);
    let found = replay_checkpoints(
        "checkpoint_timeout",
        needs(&[
            HealthCondition::CheckpointFailed,
            HealthCondition::CheckpointSlow,
        ]),
        start,
        &[t0, mixed],
    );
    // Failing (8 expired), then cleared by the completed checkpoint 93 (6 ms: not slow).
    assert_eq!(kinds(&found), ["checkpoint_failed", "checkpoint_recovered"]);
}

#[test]
fn failures_are_detected_within_two_polls_of_crossing_the_threshold() {
    // The capture's history (ids 37..=46, one failure every 2 s) grown one checkpoint at a
    // time after a completed checkpoint 36; polled every 5 s.
    let t60 = stats("checkpoint_fail", "checkpoints_t60.json");
    let base = with_completed(
        CheckpointingStatistics::default(),
        36,
        900,
        1_796_549_990_000,
    );
    let mut entries: Vec<CheckpointEntry> = t60.history.clone();
    entries.reverse(); // oldest first
    let at_checkpoint = |k: usize| {
        let mut s = base.clone();
        for e in &entries[..k] {
            s.history.insert(0, e.clone());
            s.latest.failed = Some(e.clone());
            s.counts.failed += 1;
            s.counts.total += 1;
        }
        s
    };
    // Poll i sees floor(i * 5 / 2) failures: 0, 2, 5, 7, 10.
    let reads: Vec<_> = (0..5).map(|i| at_checkpoint((i * 5 / 2).min(10))).collect();
    let found = replay_checkpoints(
        "checkpoint_fail",
        needs(&[HealthCondition::CheckpointFailed]),
        1_796_549_990_000,
        &reads,
    );
    assert_eq!(kinds(&found), ["checkpoint_failed"]);
    let crossed = 1_796_549_990_000 + 3 * POLL_MS; // the read that first shows >= 3
    assert!(
        found[0].0 - crossed < 2 * POLL_MS,
        "detected within two polls"
    );
    let Finding::CheckpointFailing { consecutive, .. } = &found[0].1 else {
        unreachable!()
    };
    assert_eq!(*consecutive, 5);
}

#[test]
fn no_checkpoint_for_the_age_threshold_is_slow_once_and_a_completed_one_clears_it() {
    let t60 = stats("checkpoint_fail", "checkpoints_t60.json");
    let job = overview("checkpoint_fail")
        .into_iter()
        .find(|j| j.jid == job_id("checkpoint_fail"))
        .unwrap();
    let started = job.start_time.unwrap();
    // None completed since the job started: the age counts from its start. Exactly 30 min is
    // not "longer than"; 5 s more is.
    let start = started + 1_800_000 - POLL_MS;
    let completed = with_completed(t60.clone(), 47, 1_200, start + 4 * POLL_MS);
    let found = replay_checkpoints(
        "checkpoint_fail",
        needs(&[HealthCondition::CheckpointSlow]),
        start,
        &[t60.clone(), t60.clone(), t60, completed.clone(), completed],
    );
    assert_eq!(kinds(&found), ["checkpoint_slow", "checkpoint_recovered"]);
    assert_eq!(found[0].0, started + 1_800_000 + POLL_MS);
    let Finding::CheckpointSlow {
        age_ms,
        duration_ms,
        checkpoint_id,
        ..
    } = &found[0].1
    else {
        unreachable!()
    };
    assert_eq!(*age_ms, Some(1_800_000 + POLL_MS as u64));
    assert_eq!((*duration_ms, *checkpoint_id), (None, None));
    let ev = found[0].1.to_event(&cluster());
    assert_eq!(ev.labels["route_statuses"], "CHECKPOINT_SLOW");
    assert!(
        ev.labels["summary"].contains("none since the job started"),
        "{}",
        ev.labels["summary"]
    );
}

#[test]
fn a_job_without_checkpointing_is_never_slow() {
    // recurring_exception: checkpointing off, the endpoint answers with all counts 0.
    let off = stats("recurring_exception", "checkpoints_t60.json");
    assert_eq!(off.counts.total, 0);
    let scenario = "recurring_exception";
    let jobs = overview(scenario);
    let id = job_id(scenario);
    let mut d = Detector::new(DetectorConfig::default())
        .with_health_needs(needs(&[HealthCondition::CheckpointSlow]));
    let t = jobs[0].start_time.unwrap();
    for i in 0..4 {
        let now = t + i * 3_600_000;
        let found = poll(&mut d, now, &jobs, &mut |j, k| {
            (j == id && k == FactKind::Checkpoints).then(|| JobFacts::checkpoints(&off))
        });
        assert!(found.is_empty(), "{found:?}");
    }
}

/// Findings with the poll time.
type Found = Vec<(i64, Finding)>;
/// Reads with the poll time.
type Reads = Vec<(i64, FactKind)>;

/// One line of `states.jsonl` (200 ms polls of `/jobs/overview`).
#[derive(Deserialize)]
struct StateLine {
    t_ms: i64,
    state: String,
}

/// The recurring-exception job as polled at `t`: its state from `states.jsonl` while that
/// covers `t` (RUNNING outside), its `last-modification` the newest failure before `t`; its
/// exception history at `t` is that of t60 without the entries newer than `t`.
struct Recurring {
    states: Vec<StateLine>,
    history: JobExceptions,
    job: alert_flink::model::JobOverview,
}

impl Recurring {
    fn load() -> Self {
        let states = common::text("2.3", "health/recurring_exception/states.jsonl")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let id = job_id("recurring_exception");
        let job = overview("recurring_exception")
            .into_iter()
            .find(|j| j.jid == id)
            .unwrap();
        Self {
            states,
            history: health("recurring_exception", "exceptions_t60.json"),
            job,
        }
    }

    fn timestamps(&self) -> Vec<i64> {
        self.history
            .exception_history
            .entries
            .iter()
            .map(|e| e.timestamp)
            .collect()
    }

    fn jobs_at(&self, t: i64) -> Vec<alert_flink::model::JobOverview> {
        let mut job = self.job.clone();
        let state = self
            .states
            .iter()
            .take_while(|l| l.t_ms <= t)
            .last()
            .filter(|_| t <= self.states.last().unwrap().t_ms + 200)
            .map_or("RUNNING", |l| l.state.as_str());
        job.state = state.parse().unwrap();
        job.last_modification = self.timestamps().into_iter().filter(|ts| *ts <= t).max();
        vec![job]
    }

    fn exceptions_at(&self, t: i64) -> ExceptionSummary {
        let mut h = self.history.clone();
        h.exception_history.entries.retain(|e| e.timestamp <= t);
        ExceptionSummary::from_response(&h)
    }

    /// Polls every 5 s from the first state line until `until`.
    fn replay(&self, needs: HealthNeeds, until: i64) -> (Found, Reads) {
        let mut d = Detector::new(DetectorConfig::default()).with_health_needs(needs);
        self.replay_on(&mut d, until)
    }

    /// [`replay`](Self::replay) on a given detector.
    fn replay_on(&self, d: &mut Detector, until: i64) -> (Found, Reads) {
        let (mut found, mut reads) = (Vec::new(), Vec::new());
        let mut t = self.states[0].t_ms;
        while t <= until {
            let jobs = self.jobs_at(t);
            let mut answer = |_: &str, kind: FactKind| {
                reads.push((t, kind));
                match kind {
                    FactKind::Exceptions => Some(JobFacts::exceptions(self.exceptions_at(t))),
                    FactKind::Checkpoints => None,
                }
            };
            found.extend(poll(d, t, &jobs, &mut answer).into_iter().map(|f| (t, f)));
            t += POLL_MS;
        }
        (found, reads)
    }
}

#[test]
fn recurring_exceptions_alert_once_fold_into_one_digest_and_clear_once() {
    let r = Recurring::load();
    let first = r.states[0].t_ms;
    let newest = *r.timestamps().iter().max().unwrap();
    let after_baseline = r.timestamps().iter().filter(|t| **t > first).count() as u32;
    // 12 entries in the t60 answer; the baseline poll (the first 200 ms sample) came after
    // three of them.
    assert_eq!(after_baseline, 9, "entries newer than the baseline poll");
    let until = newest + 600_000 + 2 * POLL_MS;
    let (found, _) = r.replay(needs(&[HealthCondition::Exception]), until);
    let health: Vec<_> = found
        .iter()
        .filter(|(_, f)| f.condition().is_some())
        .cloned()
        .collect();
    assert_eq!(
        kinds(&health),
        ["exception", "exception_digest", "exceptions_cleared"]
    );
    let Finding::ExceptionRaised { count, error, .. } = &health[0].1 else {
        unreachable!()
    };
    // Detected within two polls of the first new entry.
    let entry = r
        .timestamps()
        .into_iter()
        .filter(|t| *t > first)
        .min()
        .unwrap();
    assert!(health[0].0 >= entry && health[0].0 - entry < 2 * POLL_MS);
    assert_eq!(
        error.as_deref().unwrap().lines().next(),
        Some("java.lang.ArithmeticException: / by zero")
    );
    let Finding::ExceptionsFolded {
        count: folded,
        total,
        error,
        ..
    } = &health[1].1
    else {
        unreachable!()
    };
    assert_eq!(count + folded, after_baseline);
    assert_eq!(*total, after_baseline);
    assert!(error
        .as_deref()
        .unwrap()
        .starts_with("java.lang.ArithmeticException"));
    let Finding::ExceptionsCleared { count, ended, .. } = &health[2].1 else {
        unreachable!()
    };
    assert_eq!((*count, *ended), (after_baseline, None));
    // Cleared one whole fold window after the newest entry was seen (within a poll).
    assert!(health[2].0 - newest >= 600_000 && health[2].0 - newest < 600_000 + 2 * POLL_MS);
    let events: Vec<_> = health.iter().map(|(_, f)| f.to_event(&cluster())).collect();
    assert_eq!(events[0].labels["route_statuses"], "EXCEPTION");
    assert_eq!(events[1].labels["exceptions_total"], "9");
    insta::assert_json_snapshot!("health__recurring_exception", events);
}

#[test]
fn the_job_list_shows_the_last_checkpoint_read_and_the_exceptions_counted() {
    let scenario = "checkpoint_timeout";
    let (jobs, id) = (overview(scenario), job_id(scenario));
    let t0 = stats(scenario, "checkpoints_t0.json");
    let failed_at = latest_failure(&t0);
    let mut d = Detector::new(DetectorConfig::default())
        .with_health_needs(needs(&[HealthCondition::CheckpointFailed]));
    let view = |d: &Detector| d.jobs().into_iter().find(|j| j.id == id).unwrap();
    poll(&mut d, failed_at, &jobs, &mut |_, _| None);
    assert_eq!(view(&d).checkpoints, None, "nothing read yet");
    let read = |s: CheckpointingStatistics| {
        move |job: &str, kind| {
            (job == job_id(scenario) && kind == FactKind::Checkpoints)
                .then(|| JobFacts::checkpoints(&s))
        }
    };
    poll(&mut d, failed_at + POLL_MS, &jobs, &mut read(t0.clone()));
    let cp = view(&d).checkpoints.expect("read");
    assert!(cp.enabled);
    assert_eq!(cp.read_at, time(failed_at + POLL_MS));
    assert_eq!(cp.consecutive_failures, 8);
    assert_eq!(
        cp.last_failure_message.as_deref(),
        Some("Checkpoint expired before completing.")
    );
    assert_eq!(cp.last_failed_at, Some(time(failed_at)));
    assert_eq!((cp.last_completed_id, cp.last_completed_at), (None, None));
    // A checkpoint completes: the next read shows it, with its duration and time.
    let done = with_completed(t0, 47, 900, failed_at + 7_000);
    poll(&mut d, failed_at + 2 * POLL_MS, &jobs, &mut read(done));
    let cp = view(&d).checkpoints.expect("read");
    assert_eq!(cp.last_completed_id, Some(47));
    assert_eq!(cp.last_completed_duration_ms, Some(900));
    assert_eq!(cp.last_completed_at, Some(time(failed_at + 7_000)));
    assert_eq!(cp.consecutive_failures, 0);
    assert_eq!(view(&d).exceptions, 0);

    // The exceptions: every entry newer than the baseline counts once, however often read.
    let r = Recurring::load();
    let first = r.states[0].t_ms;
    let mut d = Detector::new(DetectorConfig::default())
        .with_health_needs(needs(&[HealthCondition::Exception]));
    r.replay_on(&mut d, *r.timestamps().iter().max().unwrap() + 3 * POLL_MS);
    let after_baseline = r.timestamps().iter().filter(|t| **t > first).count() as u32;
    let job = d.jobs().into_iter().find(|j| j.id == r.job.jid).unwrap();
    assert_eq!(job.exceptions, after_baseline);
    assert_eq!(
        job.checkpoints, None,
        "no checkpoint condition wanted: not read"
    );
}

#[test]
fn nothing_is_read_or_reported_for_conditions_no_binding_asks_for() {
    let r = Recurring::load();
    let until = r.states[0].t_ms + 120_000;
    let (found, reads) = r.replay(HealthNeeds::default(), until);
    assert!(
        found.iter().all(|(_, f)| f.condition().is_none()),
        "{found:?}"
    );
    // Only the job-state reads (restarts), never checkpoint statistics.
    assert!(reads.iter().all(|(_, k)| *k == FactKind::Exceptions));
    // Asking for the checkpoint conditions only: no EXCEPTION finding either.
    let (found, _) = r.replay(
        needs(&[
            HealthCondition::CheckpointFailed,
            HealthCondition::CheckpointSlow,
        ]),
        until,
    );
    assert!(
        found.iter().all(|(_, f)| f.condition().is_none()),
        "{found:?}"
    );

    // The checkpoint captures without needs: no read of the statistics, no finding.
    let jobs = overview("checkpoint_fail");
    let mut d = Detector::new(DetectorConfig::default());
    for i in 0..5 {
        let found = poll(
            &mut d,
            1_796_549_960_000 + i * POLL_MS,
            &jobs,
            &mut |_, k| panic!("nothing should be read, got a request for {k:?}"),
        );
        assert!(found.is_empty());
    }
    assert!(!d.wants_taskmanagers(&jobs));
}

#[test]
fn reads_beyond_the_bound_go_round_robin_over_the_jobs() {
    // 3 RUNNING jobs on the health cluster, 2 reads each, 2 per poll: every read within 3
    // polls.
    let jobs = overview("checkpoint_fail");
    let running: Vec<_> = jobs
        .iter()
        .filter(|j| j.state == JobStatus::Running)
        .collect();
    assert_eq!(running.len(), 3);
    let needs = HealthNeeds::all(HealthNeed::of([
        HealthCondition::CheckpointFailed,
        HealthCondition::Exception,
    ]))
    .with_max_requests(2);
    let mut d = Detector::new(DetectorConfig::default()).with_health_needs(needs);
    d.observe(time(0), PollResult::jobs(jobs.clone()));
    let mut seen = BTreeMap::new();
    for i in 0..6 {
        let planned = d.plan_facts(&jobs);
        assert_eq!(planned.len(), 2, "the bound");
        for r in planned {
            *seen.entry((r.job_id, r.kind)).or_insert(0) += 1;
        }
        if i == 2 {
            assert_eq!(seen.len(), 6, "each (job, read) once in the first 3 polls");
        }
    }
    assert!(seen.values().all(|n| *n == 2), "{seen:?}");
}

#[test]
fn checkpoint_reads_come_first_and_histories_take_the_rest() {
    // 3 RUNNING jobs wanting both: a bound of 4 reads every job's checkpoints every poll and
    // one history per poll, round-robin; a bound of 3 reads two checkpoints (each job every
    // second poll) and one history.
    let jobs = overview("checkpoint_fail");
    let needs = |b| {
        HealthNeeds::all(HealthNeed::of([
            HealthCondition::CheckpointFailed,
            HealthCondition::Exception,
        ]))
        .with_max_requests(b)
    };
    let mut d = Detector::new(DetectorConfig::default()).with_health_needs(needs(4));
    d.observe(time(0), PollResult::jobs(jobs.clone()));
    let mut histories = BTreeMap::new();
    for _ in 0..3 {
        let planned = d.plan_facts(&jobs);
        let kinds: Vec<FactKind> = planned.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                FactKind::Checkpoints,
                FactKind::Checkpoints,
                FactKind::Checkpoints,
                FactKind::Exceptions
            ]
        );
        *histories.entry(planned[3].job_id.clone()).or_insert(0) += 1;
    }
    assert_eq!(
        histories.len(),
        3,
        "each history once in 3 polls: {histories:?}"
    );

    let mut d = Detector::new(DetectorConfig::default()).with_health_needs(needs(3));
    d.observe(time(0), PollResult::jobs(jobs.clone()));
    let mut checkpoints = BTreeMap::new();
    for _ in 0..2 {
        let planned = d.plan_facts(&jobs);
        assert_eq!(planned.len(), 3, "the bound");
        assert_eq!(planned[2].kind, FactKind::Exceptions);
        for r in &planned[..2] {
            assert_eq!(r.kind, FactKind::Checkpoints);
            *checkpoints.entry(r.job_id.clone()).or_insert(0) += 1;
        }
    }
    assert_eq!(
        checkpoints.len(),
        3,
        "every job's checkpoints within 2 polls"
    );
}

/// The captured `/taskmanagers` answers around the kill of the only TaskManager: listed, still
/// listed 5 s later, gone once Flink noticed; then a TaskManager registers again.
fn tm_sequence(version: &str) -> Vec<TaskManagerFacts> {
    let read = |f: &str| TaskManagerFacts::from(&parse::<TaskManagers>(version, f));
    let before = read("taskmanagers.json");
    vec![
        before.clone(),
        read("taskmanagers_taskmanager_lost.json"),
        read("taskmanagers_after_loss_detected.json"),
        read("taskmanagers_after_loss_detected.json"),
        read("taskmanagers_after_loss_detected.json"),
        TaskManagerFacts {
            ids: vec!["127.0.0.1:40001-a1b2c3".into()],
        },
        TaskManagerFacts {
            ids: vec!["127.0.0.1:40001-a1b2c3".into()],
        },
    ]
}

#[test]
fn taskmanager_loss_alerts_once_listing_running_jobs_and_clears_once() {
    for v in VERSIONS {
        let jobs = parse::<JobsOverview>(v, "jobs_overview_taskmanager_lost.json").jobs;
        let mut d = Detector::new(DetectorConfig::default())
            .with_health_needs(needs(&[HealthCondition::TaskmanagerLost]));
        assert!(d.wants_taskmanagers(&jobs));
        let mut found = Vec::new();
        for (i, tms) in tm_sequence(v).into_iter().enumerate() {
            let t = 1_800_000_000_000 + i as i64 * POLL_MS;
            let p = PollResult::jobs(jobs.clone()).with_taskmanagers(tms);
            found.extend(d.observe(time(t), p).into_iter().map(|f| (t, f)));
        }
        assert_eq!(
            kinds(&found),
            ["taskmanager_lost", "taskmanager_back"],
            "{v}"
        );
        let Finding::TaskManagersLost {
            jobs: listed,
            was,
            now,
            lost,
            ..
        } = &found[0].1
        else {
            unreachable!()
        };
        assert_eq!((*was, *now), (1, 0));
        assert_eq!(lost.len(), 1);
        let active: Vec<_> = jobs.iter().filter(|j| !j.state.is_terminal()).collect();
        assert_eq!(listed.len(), active.len(), "{v}");
        assert!(listed.iter().all(|j| j.state == JobStatus::Running));
        let ev = found[0].1.to_event(&cluster());
        assert_eq!(ev.labels["route_statuses"], "TASKMANAGER_LOST");
        assert_eq!(ev.labels["lost_taskmanagers"], lost[0]);
        assert!(found[0].1.lists_jobs());
        let Finding::TaskManagersBack { jobs: back, .. } = &found[1].1 else {
            unreachable!()
        };
        assert_eq!(back, listed);
        // A group whose bindings match none of the jobs gets nothing.
        assert!(found[0].1.retain_jobs(|_| false).is_none());
    }
}

#[test]
fn taskmanager_answers_parse_in_both_versions() {
    for v in VERSIONS {
        let tms: TaskManagers = parse(v, "taskmanagers.json");
        assert_eq!(tms.taskmanagers.len(), 1, "{v}");
        let tm = &tms.taskmanagers[0];
        assert_eq!(tm.slots_number, 4);
        assert!(tm.path.starts_with("pekko.tcp://"), "{v}");
        assert!(!tm.id.is_empty());
        let gone: TaskManagers = parse(v, "taskmanagers_after_loss_detected.json");
        assert!(gone.taskmanagers.is_empty());
    }
}

#[test]
fn health_findings_route_by_their_condition_only() {
    let t0 = stats("checkpoint_fail", "checkpoints_t0.json");
    let start = latest_failure(&t0);
    let found = replay_checkpoints(
        "checkpoint_fail",
        needs(&[HealthCondition::CheckpointFailed]),
        start,
        &[t0],
    );
    let f = &found[0].1;
    assert!(f.route_statuses().is_empty(), "no job state routes it");
    assert_eq!(
        f.routes(),
        [RouteStatus::Condition(HealthCondition::CheckpointFailed)]
    );
    assert_eq!(f.status(), JobStatus::Running);
}
