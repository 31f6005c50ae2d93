//! [`Detector`]: the pure state machine that turns polls of one cluster into [`Finding`]s.
//!
//! No I/O, no clock: the caller passes the time of each poll, so the same polls always give the
//! same findings (the tests replay real captures through it).
//!
//! # Rules
//!
//! - **Baseline.** The first successful poll records every job and reports nothing; jobs already
//!   ended then are never reported. A job first seen later is new, even when it is already
//!   ended: a job that starts and ends between two polls is reported once.
//! - **Ended.** FAILED (with the root cause), CANCELED (a CANCELLING phase reports nothing),
//!   FINISHED, or STOPPED when the checkpoint statistics show a stop-with-savepoint
//!   ([`crate::CheckpointFacts::stop_savepoint`]): once per job run. A FINISHED or FAILED job waits up
//!   to [`DetectorConfig::facts_wait_polls`] polls for its facts, then is reported without them
//!   (with a note). A run is a job id with a start time: the same id with another start time
//!   (application mode reuses `000…0`) is a new job.
//! - **Cluster outage.** Any failed poll counts (connection refused, timeout and 5xx, but also a
//!   404 or a body that is not Flink's: the jobs' states are unknown either way). After
//!   [`DetectorConfig::confirm_polls`] consecutive failures (3): one
//!   [`Finding::ClusterUnreachable`] listing the jobs not ended; nothing for fewer; nothing more
//!   while it lasts. The next answer gives one [`Finding::ClusterRecovered`] for the same jobs,
//!   listing those the cluster no longer knows; those get no other finding.
//! - **Vanished.** A known job that has not ended and is missing from
//!   [`DetectorConfig::vanish_polls`] (3) consecutive answering polls is reported UNKNOWN and
//!   forgotten; jobs confirmed by the same poll share one [`Finding::Vanished`]. Ended jobs that
//!   leave the overview (`jobstore.expiration-time`) are forgotten silently.
//! - **Restarts** are counted from the exception history ([`crate::ExceptionSummary`]: entries
//!   newer than the newest already counted), and from polled `RESTARTING` states only when the
//!   history was not read (a poll misses short RESTARTING phases; the history does not). The
//!   first restart of an episode gives one [`Finding::Restarted`]; later ones fold into one
//!   [`Finding::RestartsFolded`] per [`DetectorConfig::restart_fold_window`] (10 min). When all
//!   tasks run again, one [`Finding::Recovered`] (once per episode); the episode closes after a
//!   whole window without restarts. A job that ends carries its restart count in
//!   [`Finding::Ended`] instead.
//! - **Degraded.** A job RUNNING with 0 running tasks (and at least one task), or RESTARTING,
//!   is not processing. Not processing for [`DetectorConfig::degraded_after`] (the confirmation
//!   window: 3 polls × the interval) → one [`Finding::Degraded`]; when all its tasks run again →
//!   one [`Finding::Recovered`].
//!
//! # Health conditions
//!
//! Only for the jobs whose [`HealthNeeds`] (given by the caller, from the bindings; default:
//! none) ask for a condition, with that job's [`HealthThresholds`](crate::HealthThresholds)
//! (several bindings on one job: the union of their conditions, the most sensitive
//! thresholds). Each condition is an episode: one finding when it starts, one when it clears,
//! nothing per poll in between; an episode open when the job ends clears with the end
//! (`ended` set, after the [`Finding::Ended`]); one whose condition is no longer wanted is
//! dropped without a finding, as are those of a job forgotten as vanished (the
//! [`Finding::Vanished`] tells) or replaced by another run under the same id. Open episodes
//! are in [`DetectorState`] and survive a restart. A condition that already holds when the
//! watcher starts is reported at the first read after the baseline (unlike jobs that already
//! ended); exception-history entries older than the baseline never count.
//!
//! - **`CHECKPOINT_FAILED`.** The checkpoint statistics of a RUNNING job show at least
//!   `checkpoint_failures` (3) checkpoints failed or expired in a row after the latest
//!   completed one ([`crate::facts::consecutive_failures`]) → one
//!   [`Finding::CheckpointFailing`] with the count and Flink's `failure_message`. Cleared by a
//!   checkpoint newer than the latest completed one at the start → one
//!   [`Finding::CheckpointRecovered`].
//! - **`CHECKPOINT_SLOW`.** The latest completed checkpoint took longer than
//!   `checkpoint_duration_ms` (600 000), or, with checkpointing on (`counts.total` > 0), none
//!   completed for longer than `checkpoint_age_ms` (1 800 000; counted from the job's start
//!   when none ever did) → one [`Finding::CheckpointSlow`]. Cleared by a newer checkpoint that
//!   took no longer than `checkpoint_duration_ms` → one [`Finding::CheckpointRecovered`]. Both
//!   thresholds are "longer than": exactly the threshold is not slow.
//! - **`EXCEPTION`.** History entries newer than those already counted (the restart rule's
//!   cursor: each entry counts once, as a restart and as an exception), while the job has not
//!   ended: the first of an episode → one [`Finding::ExceptionRaised`] (count, newest root
//!   cause); later ones fold into one [`Finding::ExceptionsFolded`] per fold window
//!   (`exception_fold_ms`, 600 000 like the restart fold window); a whole window without a new
//!   entry → the pending digest, then one [`Finding::ExceptionsCleared`].
//! - **`TASKMANAGER_LOST`** (cluster level). `/taskmanagers` lists fewer TaskManagers than the
//!   previous read → one [`Finding::TaskManagersLost`] (before, now, the ids gone) listing the
//!   jobs not ended that want the condition; as many as before the loss again → one
//!   [`Finding::TaskManagersBack`] listing the same jobs. More TaskManagers while no loss is
//!   open raise the count to compare with. A poll without the read changes nothing.
//!
//! **Reads** ([`Detector::plan_facts`]). Checkpoint statistics (`CHECKPOINT_*`) and the
//! exception history (`EXCEPTION`) are read only for RUNNING jobs whose need asks for them, at
//! most [`HealthNeeds::max_requests_per_poll`] (`b`, default 256) per poll on top of the
//! job-state reads (those are not bounded: a job newly FINISHED, FAILED or RESTARTING, or one
//! whose `last-modification` moved). A job that went through a restart at the previous poll
//! has its history read first (the JobManager caches it ~3 s). Then the checkpoint statistics,
//! round-robin over the `c` jobs wanting them in id order, with `b` reads (`b − 1` when some
//! job also wants `EXCEPTION` and `b` ≥ 2): each is read every ⌈c / that⌉ polls, so a
//! checkpoint threshold crossed is detected within ⌈c / that⌉ + 1 polls (within two polls when
//! `c` fits, e.g. `b` = jobs + 1 with every job wanting every condition). The histories are
//! read when the overview shows a change: every new entry comes with a failover, which moves
//! the job's `last-modification` (or its state), so a restart's exception is detected at the
//! same or the next poll whatever the bound. Their periodic round-robin over the `e` jobs
//! wanting `EXCEPTION`, a safety net for an entry the overview would not show, takes one read
//! per poll at most (when the checkpoint statistics leave one; always when `b` ≥ 2): each
//! every `e` polls. `/taskmanagers` is read once per poll when some job not ended (or
//! every job) wants `TASKMANAGER_LOST` ([`Detector::wants_taskmanagers`]).
//!
//! **When** ([`Detector::plan_facts_at`], what the watcher calls; `plan_facts` skips this). A
//! job's checkpoint statistics are not read again before the earliest time the last read says a
//! wanted checkpoint condition could be crossed: every checkpoint seen completed, so the first
//! that can fail or be slow is the oldest in progress, else the next one, triggered at least
//! the shortest gap between two triggers in the history after the latest; `CHECKPOINT_FAILED`
//! then needs `checkpoint_failures − 1` more, each a gap later, and `CHECKPOINT_SLOW`
//! `checkpoint_duration_ms` after that trigger, or `checkpoint_age_ms` after the latest
//! completed one (or the job's start); the read comes [`DetectorConfig::checkpoint_read_slack`]
//! (one interval) after that time. So a job checkpointing every minute is read about every two
//! minutes, and a threshold crossed is detected within two polls (at the first with a slack of
//! zero), while the reads due fit the bound `b`. Read at every poll: a job with failures counting or an episode open, one that
//! has triggered fewer than two checkpoints (or none: checkpointing off), and any job when no
//! time is given. The JobManager's timestamps are compared with the server's clock: a
//! JobManager clock ahead of the server's by `d` delays detection by `d`. A checkpoint
//! triggered by hand sooner than the interval after the latest is not foreseen (the shortest
//! gap seen counts it from then on).
//!
//! Findings of one poll come in this order: cluster recovery, then per job (by id) restarts,
//! digest, degraded, recovered, ended, then its health findings; vanished jobs, then the
//! TaskManager finding last.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use alert_core::JobStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::facts::{
    CheckpointSummary, FactKind, FactRequest, JobFacts, PollError, PollResult, TaskManagerFacts,
};
use crate::health::{HealthCondition, HealthNeeds};

mod health;
mod job;
mod schedule;
use crate::finding::{Finding, JobRef};
use crate::model::{JobOverview, TaskCounts};
use crate::state::{DetectorState, JobHealthState, JobRecord};
use job::{ended, step, track_degraded, Facts};

/// Periodic exception-history reads per poll, at most (see the module docs' **Reads**).
const PERIODIC_HISTORY_READS: usize = 1;

/// The detector's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorConfig {
    /// Consecutive failed polls before the cluster is reported unreachable (3).
    pub confirm_polls: u32,
    /// Consecutive answering polls a job must be missing from before it is reported (3).
    pub vanish_polls: u32,
    /// How long a job must not process before it is reported degraded (3 × the interval).
    pub degraded_after: Duration,
    /// Restarts after the first of an episode fold into one digest per window (10 min).
    pub restart_fold_window: Duration,
    /// Polls a FINISHED or FAILED job waits for its checkpoint statistics or exception history
    /// before it is reported without them (3).
    pub facts_wait_polls: u32,
    /// Largest distance between a `SYNC_SAVEPOINT`'s acknowledgement and the job's end for the
    /// job to count as stopped with it (10 min; the captures show a few ms to ~100 ms).
    pub stop_savepoint_max_gap: Duration,
    /// How long after the earliest time a checkpoint threshold could be crossed its statistics
    /// are read again (see the module docs' **When**): one interval, so a crossing is detected
    /// within two polls with half the reads of detecting it at the first; zero reads at the
    /// first poll after it.
    pub checkpoint_read_slack: Duration,
}

impl DetectorConfig {
    /// Defaults for a cluster polled every `poll_interval`: the degraded window is 3 polls.
    pub fn for_poll_interval(poll_interval: Duration) -> Self {
        Self {
            confirm_polls: 3,
            vanish_polls: 3,
            degraded_after: poll_interval * 3,
            restart_fold_window: Duration::from_secs(600),
            facts_wait_polls: 3,
            stop_savepoint_max_gap: Duration::from_secs(600),
            checkpoint_read_slack: poll_interval,
        }
    }
}

impl Default for DetectorConfig {
    /// Defaults for the default interval of 5 s.
    fn default() -> Self {
        Self::for_poll_interval(crate::DEFAULT_POLL_INTERVAL)
    }
}

/// A job as the watcher currently sees it (for `GET /api/v1/clusters/{id}/jobs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    /// Job id.
    pub id: String,
    /// Job name.
    pub name: String,
    /// The state as reported: Flink's, except STOPPED for a job stopped with a savepoint.
    pub status: JobStatus,
    /// Flink's state in the latest overview that listed it.
    pub flink_state: JobStatus,
    /// Task counters (absent after a restore, until the next poll).
    pub tasks: Option<TaskCounts>,
    /// Submission time.
    pub start_time: Option<DateTime<Utc>>,
    /// End time, once ended.
    pub end_time: Option<DateTime<Utc>>,
    /// Run time in ms, when known.
    pub duration_ms: Option<u64>,
    /// The latest poll that listed it.
    pub last_seen: Option<DateTime<Utc>>,
    /// Not processing since (RUNNING with 0 running tasks, or RESTARTING).
    pub not_processing_since: Option<DateTime<Utc>>,
    /// Restarts counted while watched.
    pub restarts: u32,
    /// Its checkpoints as last read: only for a job whose checkpoint statistics are read (a
    /// binding asks for `CHECKPOINT_FAILED` or `CHECKPOINT_SLOW`), and only on the replica
    /// that watches the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<CheckpointSummary>,
    /// Entries of its exception history counted while watched (since this replica started
    /// watching; the history itself keeps only the latest 16).
    #[serde(default)]
    pub exceptions: u32,
    /// Its open health conditions (failing or slow checkpoints, recurring exceptions), when a
    /// binding asks for them.
    #[serde(default, skip_serializing_if = "JobHealthState::is_clear")]
    pub health: JobHealthState,
}

/// How the cluster answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterHealth {
    /// The latest poll succeeded (or none failed yet).
    pub reachable: bool,
    /// Consecutive failed polls.
    pub failed_polls: u32,
    /// An outage was reported and is not over.
    pub outage_reported: bool,
    /// The first failed poll of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    /// The latest failure.
    pub last_error: Option<String>,
    /// The latest poll.
    pub last_poll_at: Option<DateTime<Utc>>,
    /// The latest successful poll.
    pub last_success_at: Option<DateTime<Utc>>,
}

/// What changes on every poll and is not worth persisting.
#[derive(Debug, Clone, Default)]
struct LiveJob {
    tasks: TaskCounts,
    last_seen: Option<DateTime<Utc>>,
    end_time: Option<i64>,
    duration_ms: Option<u64>,
    last_modification: Option<i64>,
    /// `last-modification` moved at the latest poll (the job went through a restart).
    modified: bool,
    /// The latest checkpoint statistics read.
    checkpoints: Option<CheckpointSummary>,
    /// Exception-history entries counted while watched (by this detector since it started).
    exceptions: u32,
    /// The checkpoint statistics need no read before this (`None`: at every poll).
    checkpoints_due: Option<DateTime<Utc>>,
}

/// The transition detector of one cluster. See the module docs for the rules.
///
/// ```
/// use alert_core::JobStatus;
/// use alert_flink::{model::JobOverview, Detector, Finding, PollResult};
/// use chrono::{TimeZone, Utc};
///
/// let t = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
/// let job = |state| JobOverview::new("a1", "orders", state);
/// let mut d = Detector::new(Default::default());
/// assert!(d.observe(t(0), PollResult::jobs(vec![job(JobStatus::Running)])).is_empty());
/// let found = d.observe(t(5), PollResult::jobs(vec![job(JobStatus::Canceled)]));
/// assert!(matches!(&found[..], [Finding::Ended { status: JobStatus::Canceled, .. }]));
/// // Reported once: the next poll is quiet.
/// assert!(d.observe(t(10), PollResult::jobs(vec![job(JobStatus::Canceled)])).is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectorConfig,
    state: DetectorState,
    live: HashMap<String, LiveJob>,
    last_poll_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    needs: HealthNeeds,
    /// The job whose checkpoint statistics the periodic health reads served last
    /// (round-robin).
    checkpoints_cursor: Option<String>,
    /// The job whose exception history the periodic health reads served last (round-robin).
    exceptions_cursor: Option<String>,
}

impl Detector {
    /// A detector that has seen nothing: its first successful poll is the baseline.
    pub fn new(config: DetectorConfig) -> Self {
        Self::restore(config, DetectorState::default())
    }

    /// A detector that continues from a persisted [`snapshot`](Self::snapshot): transitions
    /// already reported are not reported again, and changes since are.
    pub fn restore(config: DetectorConfig, state: DetectorState) -> Self {
        Self {
            config,
            state,
            live: HashMap::new(),
            last_poll_at: None,
            last_success_at: None,
            needs: HealthNeeds::default(),
            checkpoints_cursor: None,
            exceptions_cursor: None,
        }
    }

    /// Which jobs want which health conditions (default: none; see the module docs).
    #[must_use]
    pub fn with_health_needs(mut self, needs: HealthNeeds) -> Self {
        self.needs = needs;
        self
    }

    /// Replaces the health needs (e.g. after the bindings changed). Episodes of conditions no
    /// longer wanted are dropped, without a finding, at the job's next poll.
    pub fn set_health_needs(&mut self, needs: HealthNeeds) {
        self.needs = needs;
    }

    /// The health needs.
    pub fn health_needs(&self) -> &HealthNeeds {
        &self.needs
    }

    /// The state to persist (it only changes when something happened; compare to the last
    /// one written).
    pub fn snapshot(&self) -> DetectorState {
        self.state.clone()
    }

    /// The persisted state, borrowed.
    pub fn state(&self) -> &DetectorState {
        &self.state
    }

    /// The thresholds.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The facts to fetch for this overview before [`observe`](Self::observe): checkpoint
    /// statistics of jobs newly FINISHED, the exception history of jobs newly FAILED or
    /// RESTARTING, or RUNNING with a newer `last-modification` than the previous poll showed
    /// (they went through a restart between two polls). Nothing before the baseline.
    pub fn wanted_facts(&self, jobs: &[JobOverview]) -> Vec<FactRequest> {
        if !self.state.baselined {
            return Vec::new();
        }
        let mut out = Vec::new();
        for job in jobs {
            let rec = self
                .state
                .jobs
                .get(&job.jid)
                .filter(|r| !r.is_other_run(job));
            let unreported = rec.is_none_or(|r| r.reported.is_none());
            let modified = rec.is_some()
                && matches!(
                    (self.live.get(&job.jid).and_then(|l| l.last_modification), job.last_modification),
                    (Some(before), Some(now)) if now > before
                );
            let kind = match job.state {
                JobStatus::Finished if unreported => Some(FactKind::Checkpoints),
                JobStatus::Failed if unreported => Some(FactKind::Exceptions),
                JobStatus::Restarting
                    if rec.is_none_or(|r| r.state != JobStatus::Restarting) || modified =>
                {
                    Some(FactKind::Exceptions)
                }
                JobStatus::Running
                    if modified && rec.is_some_and(|r| r.state == JobStatus::Running) =>
                {
                    Some(FactKind::Exceptions)
                }
                _ => None,
            };
            if let Some(kind) = kind {
                out.push(FactRequest {
                    job_id: job.jid.clone(),
                    kind,
                });
            }
        }
        out
    }

    /// [`wanted_facts`](Self::wanted_facts) plus the reads of the health conditions (see the
    /// module docs: `RUNNING` jobs whose need asks for them, at most
    /// [`HealthNeeds::max_requests_per_poll`], round-robin). Advances the round-robin: call it
    /// once per poll, before [`observe`](Self::observe).
    pub fn plan_facts(&mut self, jobs: &[JobOverview]) -> Vec<FactRequest> {
        self.plan(None, jobs)
    }

    /// [`plan_facts`](Self::plan_facts) for a poll taken at `now`: a job's checkpoint
    /// statistics are not read before the earliest time the last read says a wanted
    /// checkpoint condition could be crossed (see the module docs).
    pub fn plan_facts_at(&mut self, now: DateTime<Utc>, jobs: &[JobOverview]) -> Vec<FactRequest> {
        self.plan(Some(now), jobs)
    }

    fn plan(&mut self, now: Option<DateTime<Utc>>, jobs: &[JobOverview]) -> Vec<FactRequest> {
        let mut out = self.wanted_facts(jobs);
        if !self.state.baselined || self.needs.is_none() {
            return out;
        }
        let mut budget = self.needs.max_requests_per_poll.max(1);
        let mut follow_ups = Vec::new();
        let mut checkpoints = Vec::new();
        let mut exceptions = Vec::new();
        for job in jobs.iter().filter(|j| j.state == JobStatus::Running) {
            let known = self
                .state
                .jobs
                .get(&job.jid)
                .is_some_and(|r| !r.is_other_run(job) && r.reported.is_none());
            if !known {
                continue;
            }
            let need = self.needs.need(&job.name, &job.jid);
            let due = |l: &LiveJob| match (now, l.checkpoints_due) {
                (Some(now), Some(due)) => now >= due,
                _ => true,
            };
            if need.conditions.needs_checkpoints() && self.live.get(&job.jid).is_none_or(due) {
                checkpoints.push(job.jid.as_str());
            }
            if need.wants(HealthCondition::Exception) {
                // A restart the previous poll saw: read again, the history is cached ~3 s.
                if self.live.get(&job.jid).is_some_and(|l| l.modified) {
                    follow_ups.push(job.jid.as_str());
                } else {
                    exceptions.push(job.jid.as_str());
                }
            }
        }
        let push = |out: &mut Vec<FactRequest>, budget: &mut usize, job_id: &str, kind| {
            if out.iter().any(|r| r.kind == kind && r.job_id == job_id) {
                return true;
            }
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            out.push(FactRequest {
                job_id: job_id.to_owned(),
                kind,
            });
            true
        };
        for id in follow_ups {
            push(&mut out, &mut budget, id, FactKind::Exceptions);
        }
        // Checkpoint statistics first (nothing else tells that checkpoints fail); the periodic
        // history reads take the rest, at least one per poll when the bound allows two.
        let reserve = usize::from(!exceptions.is_empty() && budget >= 2);
        let mut checkpoint_budget = budget - reserve;
        let read = round_robin(&mut checkpoints, self.checkpoints_cursor.as_deref(), |id| {
            push(&mut out, &mut checkpoint_budget, id, FactKind::Checkpoints)
        });
        if let Some(last) = read {
            self.checkpoints_cursor = Some(last.to_owned());
        }
        // The periodic history reads are a safety net (an entry comes with a failover, which
        // the overview shows): one per poll at most, so that they never take what the
        // checkpoint statistics leave of a large bound.
        budget = (checkpoint_budget + reserve).min(PERIODIC_HISTORY_READS);
        let read = round_robin(&mut exceptions, self.exceptions_cursor.as_deref(), |id| {
            push(&mut out, &mut budget, id, FactKind::Exceptions)
        });
        if let Some(last) = read {
            self.exceptions_cursor = Some(last.to_owned());
        }
        out
    }

    /// Whether the poll should read `GET /taskmanagers`: some job that has not ended (or every
    /// job) wants `TASKMANAGER_LOST`.
    pub fn wants_taskmanagers(&self, jobs: &[JobOverview]) -> bool {
        self.needs.all.wants(HealthCondition::TaskmanagerLost)
            || (self.needs.per_job.is_some()
                && jobs.iter().any(|j| {
                    !j.state.is_terminal()
                        && self
                            .needs
                            .need(&j.name, &j.jid)
                            .wants(HealthCondition::TaskmanagerLost)
                }))
    }

    /// Feeds one poll taken at `now`; returns what it reveals.
    pub fn observe(&mut self, now: DateTime<Utc>, poll: PollResult) -> Vec<Finding> {
        self.last_poll_at = Some(now);
        match poll {
            PollResult::Failed(err) => self.failed_poll(now, err),
            PollResult::Answered {
                jobs,
                facts,
                taskmanagers,
            } => {
                let mut out = self.answered(now, jobs, &facts);
                if let Some(tms) = taskmanagers {
                    out.extend(self.taskmanagers(now, &tms));
                }
                out
            }
        }
    }

    /// The jobs the latest polls listed, by name then id.
    pub fn jobs(&self) -> Vec<JobView> {
        let mut out: Vec<JobView> = self
            .state
            .jobs
            .iter()
            .map(|(id, rec)| {
                let live = self.live.get(id);
                JobView {
                    id: id.clone(),
                    name: rec.name.clone(),
                    status: rec.reported.unwrap_or(rec.state),
                    flink_state: rec.state,
                    tasks: live.map(|l| l.tasks),
                    start_time: rec.start_time.and_then(DateTime::from_timestamp_millis),
                    end_time: live
                        .and_then(|l| l.end_time)
                        .and_then(DateTime::from_timestamp_millis),
                    duration_ms: live.and_then(|l| l.duration_ms),
                    last_seen: live.and_then(|l| l.last_seen),
                    not_processing_since: rec.degraded.map(|d| d.since),
                    restarts: rec.restarts.total,
                    checkpoints: live.and_then(|l| l.checkpoints.clone()),
                    exceptions: live.map_or(0, |l| l.exceptions),
                    health: rec.health.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// How the cluster answers.
    pub fn health(&self) -> ClusterHealth {
        let o = &self.state.outage;
        ClusterHealth {
            reachable: o.failed_polls == 0,
            failed_polls: o.failed_polls,
            outage_reported: o.reported.is_some(),
            failing_since: o.since,
            last_error: o.last_error.clone(),
            last_poll_at: self.last_poll_at,
            last_success_at: self.last_success_at,
        }
    }

    fn failed_poll(&mut self, now: DateTime<Utc>, err: PollError) -> Vec<Finding> {
        let o = &mut self.state.outage;
        o.failed_polls = o.failed_polls.saturating_add(1);
        let since = *o.since.get_or_insert(now);
        o.last_error = Some(err.message.clone());
        if o.failed_polls < self.config.confirm_polls.max(1) || o.reported.is_some() {
            return Vec::new();
        }
        let jobs = self.active_jobs();
        let o = &mut self.state.outage;
        o.reported = Some(jobs.clone());
        vec![Finding::ClusterUnreachable {
            jobs,
            at: now,
            since,
            failed_polls: o.failed_polls,
            error: err.message,
        }]
    }

    /// Jobs that have not ended, by name then id.
    fn active_jobs(&self) -> Vec<JobRef> {
        let mut jobs: Vec<JobRef> = self
            .state
            .jobs
            .iter()
            .filter(|(_, r)| r.is_active())
            .map(|(id, r)| r.job_ref(id))
            .collect();
        jobs.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        jobs
    }

    fn answered(
        &mut self,
        now: DateTime<Utc>,
        jobs: Vec<JobOverview>,
        facts: &BTreeMap<String, JobFacts>,
    ) -> Vec<Finding> {
        self.last_success_at = Some(now);
        let outage = std::mem::take(&mut self.state.outage);
        let mut out = Vec::new();
        // By id: deterministic order, and one entry per id.
        let jobs: BTreeMap<String, JobOverview> =
            jobs.into_iter().map(|j| (j.jid.clone(), j)).collect();

        if !self.state.baselined {
            for (id, job) in &jobs {
                self.state
                    .jobs
                    .insert(id.clone(), JobRecord::baseline(job, now));
                if let Some(rec) = self.state.jobs.get_mut(id) {
                    // Starts the clock only: nothing is due at the baseline.
                    let _ = track_degraded(rec, job, now, self.config.degraded_after);
                }
                self.touch_live(job, now);
            }
            self.state.baselined = true;
            if let (Some(listed), Some(since)) = (outage.reported, outage.since) {
                out.push(Finding::ClusterRecovered {
                    jobs: listed,
                    missing: Vec::new(),
                    at: now,
                    since,
                });
            }
            return out;
        }

        let mut job_findings = Vec::new();
        for (id, job) in &jobs {
            let fresh = self.state.jobs.get(id).is_none_or(|r| r.is_other_run(job));
            if fresh {
                self.state.jobs.insert(id.clone(), JobRecord::new(job));
                self.live.remove(id);
            }
            let Some(rec) = self.state.jobs.get_mut(id) else {
                continue;
            };
            let prev = (!fresh).then_some(rec.state);
            let job_facts = facts.get(id);
            let new_exceptions = job_facts
                .and_then(|f| f.exceptions.as_ref())
                .map_or(0, |ex| ex.entries_after(rec.restarts.exception_ts));
            let was_reported = rec.reported.is_some();
            job_findings.extend(step(&self.config, rec, prev, job, job_facts, now));
            // The health needs of a job not ended (an ended one has no health reads planned).
            let need = (!was_reported).then(|| self.needs.need(&job.name, id));
            if let Some(need) = &need {
                job_findings.extend(health::job(rec, job, job_facts, new_exceptions, need, now));
            }
            self.touch_live(job, now);
            if let Some(live) = self.live.get_mut(id) {
                if let Some(cp) = job_facts.and_then(|f| f.checkpoints.as_ref()) {
                    live.checkpoints = Some(cp.summary(now));
                    let slack = chrono::TimeDelta::from_std(self.config.checkpoint_read_slack)
                        .unwrap_or_default();
                    live.checkpoints_due = need.as_ref().and_then(|need| {
                        let rec = self.state.jobs.get(id)?;
                        schedule::next_read(cp, need, &rec.health, job.start_time)
                            .map(|due| due + slack)
                    });
                }
                live.exceptions = live.exceptions.saturating_add(new_exceptions);
            }
        }

        let listed_in_outage: HashSet<String> = outage
            .reported
            .iter()
            .flatten()
            .map(|j| j.id.clone())
            .collect();
        let mut vanished = Vec::new();
        let mut missing_after_outage = Vec::new();
        let mut forget = Vec::new();
        for (id, rec) in &mut self.state.jobs {
            if jobs.contains_key(id) {
                continue;
            }
            if rec.reported.is_some() {
                forget.push(id.clone());
            } else if rec.state.is_terminal() {
                // Ended, waiting for its facts, and gone: report what is known.
                let status = rec.state;
                let facts = Facts {
                    note: Some("the job left the overview before its details could be read"),
                    ..Facts::default()
                };
                job_findings.push(ended(rec, id, status, now, None, facts));
                forget.push(id.clone());
            } else if listed_in_outage.contains(id) {
                missing_after_outage.push(rec.job_ref(id));
                forget.push(id.clone());
            } else {
                rec.missing_polls += 1;
                if rec.missing_polls >= self.config.vanish_polls.max(1) {
                    vanished.push(rec.job_ref(id));
                    forget.push(id.clone());
                }
            }
        }
        for id in forget {
            self.state.jobs.remove(&id);
            self.live.remove(&id);
        }

        if let (Some(listed), Some(since)) = (outage.reported, outage.since) {
            out.push(Finding::ClusterRecovered {
                jobs: listed,
                missing: missing_after_outage,
                at: now,
                since,
            });
        }
        out.extend(job_findings);
        if !vanished.is_empty() {
            out.push(Finding::Vanished {
                jobs: vanished,
                at: now,
                missing_polls: self.config.vanish_polls.max(1),
            });
        }
        out
    }

    fn touch_live(&mut self, job: &JobOverview, now: DateTime<Utc>) {
        let live = self.live.entry(job.jid.clone()).or_default();
        live.tasks = job.tasks;
        live.last_seen = Some(now);
        live.end_time = job.end_time;
        live.duration_ms = job.duration;
        live.modified = matches!((live.last_modification, job.last_modification),
            (Some(before), Some(now)) if now > before);
        live.last_modification = job.last_modification;
    }

    /// The TaskManager rule (cluster level).
    fn taskmanagers(&mut self, now: DateTime<Utc>, tms: &TaskManagerFacts) -> Vec<Finding> {
        let jobs: Vec<JobRef> = self
            .active_jobs()
            .into_iter()
            .filter(|j| {
                self.needs
                    .need(&j.name, &j.id)
                    .wants(HealthCondition::TaskmanagerLost)
            })
            .collect();
        health::taskmanagers(&mut self.state.taskmanagers, tms, jobs, now)
            .into_iter()
            .collect()
    }
}

/// Offers `ids` (sorted here) to `take` in turn, starting after `cursor`, until it refuses one
/// or all were offered; returns the last one taken (the next cursor).
fn round_robin<'a>(
    ids: &mut [&'a str],
    cursor: Option<&str>,
    mut take: impl FnMut(&str) -> bool,
) -> Option<&'a str> {
    ids.sort_unstable();
    let start = cursor.map_or(0, |c| ids.partition_point(|id| *id <= c));
    let n = ids.len();
    let mut last = None;
    for i in 0..n {
        let id = ids[(start + i) % n];
        if !take(id) {
            break;
        }
        last = Some(id);
    }
    last
}
