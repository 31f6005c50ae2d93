//! What the detector is fed: one [`PollResult`] per poll, with the extra [`JobFacts`] the
//! watcher fetched for the jobs the detector asked about ([`FactRequest`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{CheckpointingStatistics, JobOverview};
use crate::{ClientError, ExceptionSummary};

/// The outcome of one poll of `GET /jobs/overview`.
#[derive(Debug, Clone, PartialEq)]
pub enum PollResult {
    /// The cluster answered.
    Answered {
        /// Every job of the overview.
        jobs: Vec<JobOverview>,
        /// Facts fetched for some of them, by job id.
        facts: BTreeMap<String, JobFacts>,
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
        }
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

/// The part of the checkpoint statistics that matters: the latest savepoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckpointFacts {
    /// `latest.savepoint`, if any.
    pub latest_savepoint: Option<SavepointFact>,
}

impl From<&CheckpointingStatistics> for CheckpointFacts {
    fn from(stats: &CheckpointingStatistics) -> Self {
        Self {
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

/// Which extra fact the detector wants for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    /// `GET /jobs/{id}/checkpoints` (a job newly `FINISHED`).
    Checkpoints,
    /// `GET /jobs/{id}/exceptions` (a job newly `FAILED`, `RESTARTING`, or `RUNNING` again
    /// after a change the poll did not see).
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
