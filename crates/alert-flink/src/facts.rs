//! What the detector is fed: one [`PollResult`] per poll, with the extra [`JobFacts`] the
//! watcher fetched for the jobs the detector asked about ([`FactRequest`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{CheckpointingStatistics, JobOverview, TaskManagers};
use crate::{ClientError, ExceptionSummary};

mod lean;

/// The outcome of one poll of `GET /jobs/overview`.
#[derive(Debug, Clone, PartialEq)]
pub enum PollResult {
    /// The cluster answered.
    Answered {
        /// Every job of the overview.
        jobs: Vec<JobOverview>,
        /// Facts fetched for some of them, by job id.
        facts: BTreeMap<String, JobFacts>,
        /// `GET /taskmanagers`, when it was read ([`crate::Detector::wants_taskmanagers`])
        /// and answered.
        taskmanagers: Option<TaskManagerFacts>,
    },
    /// The poll failed.
    Failed(PollError),
}

impl PollResult {
    /// An answer with these jobs and no facts.
    pub fn jobs(jobs: Vec<JobOverview>) -> Self {
        Self::Answered {
            jobs,
            facts: BTreeMap::new(),
            taskmanagers: None,
        }
    }

    /// Adds the registered TaskManagers (no effect on a failed poll).
    #[must_use]
    pub fn with_taskmanagers(mut self, tms: TaskManagerFacts) -> Self {
        if let Self::Answered { taskmanagers, .. } = &mut self {
            *taskmanagers = Some(tms);
        }
        self
    }

    /// Adds facts for one job (no effect on a failed poll).
    #[must_use]
    pub fn with_facts(mut self, job_id: impl Into<String>, job_facts: JobFacts) -> Self {
        if let Self::Answered { facts, .. } = &mut self {
            facts.insert(job_id.into(), job_facts);
        }
        self
    }

    /// A failed poll with this explanation.
    pub fn failed(unreachable: bool, message: impl Into<String>) -> Self {
        Self::Failed(PollError {
            unreachable,
            message: message.into(),
        })
    }
}

/// Why a poll failed.
///
/// Every failed poll counts toward the confirmation window, whatever the reason: while the
/// overview cannot be read, the state of every job is unknown. `unreachable` only says which
/// kind of failure it was (connection refused, timeout, 5xx vs. 404, 401, not Flink's JSON),
/// so that the message can point at the likely fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollError {
    /// Connection refused, timeout or 5xx (see [`ClientError::is_unreachable`]).
    pub unreachable: bool,
    /// What failed, without credentials.
    pub message: String,
}

impl From<&ClientError> for PollError {
    fn from(e: &ClientError) -> Self {
        Self {
            unreachable: e.is_unreachable(),
            message: e.to_string(),
        }
    }
}

/// Extra facts about one job, fetched by the watcher when the detector asks for them.
///
/// `None` means "not fetched, or the fetch failed": the detector then waits a few polls for
/// them before reporting a terminal state without them. A fetch answered with 404 (the job is
/// already forgotten) should be given as an empty value, not `None`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobFacts {
    /// From `GET /jobs/{id}/checkpoints`: tells STOPPED from FINISHED.
    pub checkpoints: Option<CheckpointFacts>,
    /// From `GET /jobs/{id}/exceptions`: root cause and restarts.
    pub exceptions: Option<ExceptionSummary>,
}

impl JobFacts {
    /// Facts with only the checkpoint statistics.
    pub fn checkpoints(stats: &CheckpointingStatistics) -> Self {
        Self {
            checkpoints: Some(CheckpointFacts::from(stats)),
            exceptions: None,
        }
    }

    /// Facts with only the exception summary.
    pub fn exceptions(summary: ExceptionSummary) -> Self {
        Self {
            checkpoints: None,
            exceptions: Some(summary),
        }
    }
}

/// A job's checkpoints as last read (the cluster page's "last checkpoint"): only known for
/// jobs whose checkpoint statistics the watcher reads (a binding asks for a checkpoint
/// condition), as of `read_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSummary {
    /// When the statistics were read.
    pub read_at: DateTime<Utc>,
    /// Checkpointing is on (`counts.total` > 0).
    pub enabled: bool,
    /// Id of the latest completed checkpoint.
    pub last_completed_id: Option<u64>,
    /// When it completed (its last acknowledgement); its age is `read_at` (or now) minus this.
    pub last_completed_at: Option<DateTime<Utc>>,
    /// How long it took, end to end (ms).
    pub last_completed_duration_ms: Option<u64>,
    /// When the latest failed or expired checkpoint failed.
    pub last_failed_at: Option<DateTime<Utc>>,
    /// Flink's message for it (`Checkpoint expired before completing.`, ...).
    pub last_failure_message: Option<String>,
    /// Checkpoints failed or expired in a row since the latest completed one.
    pub consecutive_failures: u32,
}

impl CheckpointFacts {
    /// What the cluster page shows of these statistics, read at `read_at`.
    pub fn summary(&self, read_at: DateTime<Utc>) -> CheckpointSummary {
        let completed = self.latest_completed.as_ref();
        let failed = self.latest_failed.as_ref();
        CheckpointSummary {
            read_at,
            enabled: self.triggered > 0,
            last_completed_id: completed.map(|c| c.id),
            last_completed_at: completed
                .and_then(|c| c.ack_timestamp)
                .and_then(DateTime::from_timestamp_millis),
            last_completed_duration_ms: completed.map(|c| c.duration_ms),
            last_failed_at: failed
                .and_then(|f| f.at)
                .and_then(DateTime::from_timestamp_millis),
            last_failure_message: failed.and_then(|f| f.message.clone()),
            consecutive_failures: self.consecutive_failures,
        }
    }
}

/// The part of the checkpoint statistics that matters: the latest savepoint (STOPPED or
/// FINISHED), and what the checkpoint health conditions read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointFacts {
    /// `latest.savepoint`, if any.
    pub latest_savepoint: Option<SavepointFact>,
    /// `counts.total`: checkpoints triggered so far (> 0: checkpointing is on).
    pub triggered: u64,
    /// `latest.completed`, if any.
    pub latest_completed: Option<CompletedCheckpointFact>,
    /// `latest.failed`, if any.
    pub latest_failed: Option<FailedCheckpointFact>,
    /// Checkpoints failed or expired in a row since the latest completed one (see
    /// [`consecutive_failures`]).
    pub consecutive_failures: u32,
    /// When checkpoints were triggered (from `history`), for scheduling the next read.
    pub timing: CheckpointTiming,
}

/// When the checkpoints in `history` (not savepoints) were triggered: what bounds how soon a
/// checkpoint condition can be crossed after a read (see `Detector::plan_facts_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointTiming {
    /// The latest trigger time (epoch ms, JobManager clock).
    pub latest_trigger: Option<i64>,
    /// The shortest time between two consecutive triggers (ms): the checkpoint interval, or
    /// less when checkpoints were also triggered by hand.
    pub min_gap_ms: Option<u64>,
    /// The trigger time of the oldest checkpoint still in progress.
    pub pending_since: Option<i64>,
}

impl CheckpointTiming {
    /// From `(is_savepoint, status, trigger_timestamp)` of the history entries.
    pub fn of<'a>(entries: impl Iterator<Item = (bool, &'a str, i64)>) -> Self {
        let mut triggers = Vec::new();
        let mut pending_since: Option<i64> = None;
        for (savepoint, status, at) in entries {
            if savepoint || at <= 0 {
                continue;
            }
            triggers.push(at);
            if status.eq_ignore_ascii_case("IN_PROGRESS") {
                pending_since = Some(pending_since.map_or(at, |p| p.min(at)));
            }
        }
        triggers.sort_unstable();
        let min_gap_ms = triggers
            .windows(2)
            .filter_map(|w| u64::try_from(w[1] - w[0]).ok())
            .filter(|gap| *gap > 0)
            .min();
        Self {
            latest_trigger: triggers.last().copied(),
            min_gap_ms,
            pending_since,
        }
    }
}

/// `latest.completed` of the checkpoint statistics.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompletedCheckpointFact {
    /// Checkpoint id.
    pub id: u64,
    /// `end_to_end_duration` (ms).
    pub duration_ms: u64,
    /// When its last acknowledgement arrived (epoch ms).
    pub ack_timestamp: Option<i64>,
}

/// `latest.failed` of the checkpoint statistics.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FailedCheckpointFact {
    /// Checkpoint id.
    pub id: u64,
    /// Flink's `failure_message` (`Checkpoint expired before completing.`, ...).
    pub message: Option<String>,
    /// `failure_timestamp` (epoch ms).
    pub at: Option<i64>,
}

/// Checkpoints (not savepoints) failed in a row after the latest completed one: walks
/// `history` (newest first; in-progress ones skipped) down to a completed checkpoint. When the
/// history (10 entries by default, `web.checkpoints.history`) holds only failures, the count
/// is estimated from the ids (`latest.failed.id − latest.completed.id`), or `counts.failed`
/// when none ever completed; it is only needed exactly up to the threshold.
pub fn consecutive_failures(stats: &CheckpointingStatistics) -> u32 {
    failures_in_a_row(
        stats.latest.failed.as_ref().map(|f| f.id),
        stats.latest.completed.as_ref().map(|c| c.id),
        stats.counts.failed,
        stats
            .history
            .iter()
            .map(|e| (e.id, e.is_savepoint, e.status.as_str())),
    )
}

/// [`consecutive_failures`] from the ids of `latest.failed` and `latest.completed`,
/// `counts.failed` and the `history` entries as (id, is savepoint, status), newest first.
fn failures_in_a_row<'a>(
    failed: Option<u64>,
    completed: Option<u64>,
    failed_count: u64,
    history: impl Iterator<Item = (u64, bool, &'a str)>,
) -> u32 {
    let Some(failed) = failed else {
        return 0;
    };
    if completed.is_some_and(|c| c >= failed) {
        return 0;
    }
    let mut n: u64 = 0;
    let mut reached = false;
    for (id, _, status) in history.filter(|e| !e.1) {
        if completed.is_some_and(|c| id <= c) || status.eq_ignore_ascii_case("COMPLETED") {
            reached = true;
            break;
        }
        if status.eq_ignore_ascii_case("FAILED") {
            n += 1;
        }
    }
    if !reached {
        let estimate = match completed {
            Some(c) => failed - c,
            None => failed_count,
        };
        n = n.max(estimate);
    }
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<&CheckpointingStatistics> for CheckpointFacts {
    fn from(stats: &CheckpointingStatistics) -> Self {
        Self {
            triggered: stats.counts.total,
            latest_completed: stats
                .latest
                .completed
                .as_ref()
                .map(|c| CompletedCheckpointFact {
                    id: c.id,
                    duration_ms: u64::try_from(c.end_to_end_duration).unwrap_or(0),
                    ack_timestamp: Some(c.latest_ack_timestamp).filter(|t| *t > 0),
                }),
            latest_failed: stats.latest.failed.as_ref().map(|f| FailedCheckpointFact {
                id: f.id,
                message: f.failure_message.clone().filter(|m| !m.is_empty()),
                at: f.failure_timestamp.filter(|t| *t > 0),
            }),
            consecutive_failures: consecutive_failures(stats),
            timing: CheckpointTiming::of(
                stats
                    .history
                    .iter()
                    .map(|e| (e.is_savepoint, e.status.as_str(), e.trigger_timestamp)),
            ),
            latest_savepoint: stats.latest_savepoint().map(|s| SavepointFact {
                checkpoint_type: s.checkpoint_type.clone(),
                status: s.status.clone(),
                external_path: s.external_path.clone(),
                ack_timestamp: Some(s.latest_ack_timestamp).filter(|t| *t > 0),
            }),
        }
    }
}

impl CheckpointFacts {
    /// The savepoint that shows the job was stopped with a savepoint: `latest.savepoint` is a
    /// completed `SYNC_SAVEPOINT` (only stop-with-savepoint takes those) acknowledged at most
    /// `max_gap_ms` away from the job's end time (a few ms to ~100 ms in the captures; the check
    /// is skipped when either time is unknown).
    pub fn stop_savepoint(&self, end_time: Option<i64>, max_gap_ms: i64) -> Option<&SavepointFact> {
        let sp = self.latest_savepoint.as_ref()?;
        let completed = sp.status.is_empty() || sp.status.eq_ignore_ascii_case("COMPLETED");
        let close = match (end_time, sp.ack_timestamp) {
            (Some(end), Some(ack)) => (end - ack).abs() <= max_gap_ms,
            _ => true,
        };
        (sp.checkpoint_type == "SYNC_SAVEPOINT" && completed && close).then_some(sp)
    }
}

/// `latest.savepoint` of the checkpoint statistics.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SavepointFact {
    /// `SYNC_SAVEPOINT` after a stop, `SAVEPOINT` for one taken on demand.
    pub checkpoint_type: String,
    /// `COMPLETED`, ...
    pub status: String,
    /// Where the savepoint was written.
    pub external_path: Option<String>,
    /// When its last acknowledgement arrived (epoch ms).
    pub ack_timestamp: Option<i64>,
}

/// The registered TaskManagers, as `GET /taskmanagers` listed them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaskManagerFacts {
    /// Their ids, sorted.
    pub ids: Vec<String>,
}

impl From<&TaskManagers> for TaskManagerFacts {
    fn from(tms: &TaskManagers) -> Self {
        let mut ids: Vec<String> = tms.taskmanagers.iter().map(|t| t.id.clone()).collect();
        ids.sort();
        Self { ids }
    }
}

/// Which extra fact the detector wants for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    /// `GET /jobs/{id}/checkpoints` (a job newly `FINISHED`, or a `RUNNING` one whose
    /// checkpoint conditions are wanted).
    Checkpoints,
    /// `GET /jobs/{id}/exceptions` (a job newly `FAILED`, `RESTARTING`, or `RUNNING` again
    /// after a change the poll did not see, or a `RUNNING` one whose `EXCEPTION` condition is
    /// wanted).
    Exceptions,
}

/// A fact to fetch before the detector sees this poll.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FactRequest {
    /// The job.
    pub job_id: String,
    /// What to fetch.
    pub kind: FactKind,
}
