//! [`DetectorState`]: what the detector must remember across restarts of the server, so that
//! it never alerts the same transition twice (serde; store it as JSON per cluster).
//!
//! Only what decides future findings is in here: task counters, last-seen times and other
//! fields that change on every poll are kept apart (see `Detector::jobs`), so the state only
//! changes, and needs writing, when something happened.

use std::collections::BTreeMap;

use alert_core::JobStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::finding::JobRef;
use crate::model::JobOverview;

/// Format version of [`DetectorState`].
pub const STATE_VERSION: u32 = 1;

/// Everything the detector of one cluster remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectorState {
    /// [`STATE_VERSION`] when written.
    pub version: u32,
    /// Whether a first successful poll was recorded (before it, nothing alerts: what that poll
    /// finds is the baseline).
    pub baselined: bool,
    /// Known jobs by id.
    pub jobs: BTreeMap<String, JobRecord>,
    /// Failed polls and the outage alert.
    pub outage: OutageState,
    /// The registered TaskManagers and their loss (`TASKMANAGER_LOST`).
    pub taskmanagers: TaskManagerState,
}

impl Default for DetectorState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            baselined: false,
            jobs: BTreeMap::new(),
            outage: OutageState::default(),
            taskmanagers: TaskManagerState::default(),
        }
    }
}

/// What the detector remembers of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRecord {
    /// Job name.
    pub name: String,
    /// State in the latest overview that listed it.
    pub state: JobStatus,
    /// The latest non-terminal state (the "previous" state of a terminal alert).
    pub last_active: Option<JobStatus>,
    /// Submission time: another value under the same id is another run (application mode
    /// reuses the id `000…0`).
    pub start_time: Option<i64>,
    /// The terminal status reported (`FAILED`, `CANCELED`, `FINISHED`, `STOPPED`), or the
    /// terminal state found by the baseline poll (not alerted). Nothing more is reported.
    pub reported: Option<JobStatus>,
    /// Polls a terminal report has waited for its facts (checkpoints, exceptions).
    pub facts_waits: u32,
    /// Consecutive answering polls that did not list the job.
    pub missing_polls: u32,
    /// Not processing (RUNNING with 0 running tasks, or RESTARTING) since.
    pub degraded: Option<DegradedState>,
    /// Restart bookkeeping.
    pub restarts: RestartState,
    /// The open episodes of the health conditions.
    pub health: JobHealthState,
}

impl Default for JobRecord {
    fn default() -> Self {
        Self {
            name: String::new(),
            state: JobStatus::Unknown,
            last_active: None,
            start_time: None,
            reported: None,
            facts_waits: 0,
            missing_polls: 0,
            degraded: None,
            restarts: RestartState::default(),
            health: JobHealthState::default(),
        }
    }
}

impl JobRecord {
    /// A job first seen after the baseline: everything in its exception history is new.
    pub(crate) fn new(job: &JobOverview) -> Self {
        Self {
            name: job.name.clone(),
            state: job.state,
            start_time: job.start_time,
            ..Self::default()
        }
    }

    /// A job found by the baseline poll: ended ones count as reported, and only failures
    /// newer than `now` count as restarts.
    pub(crate) fn baseline(job: &JobOverview, now: DateTime<Utc>) -> Self {
        let terminal = job.state.is_terminal();
        Self {
            last_active: (!terminal).then_some(job.state),
            reported: terminal.then_some(job.state),
            restarts: RestartState {
                exception_ts: Some(now.timestamp_millis()),
                ..RestartState::default()
            },
            ..Self::new(job)
        }
    }

    /// Whether `job` is another run than the one recorded (same id, other start time).
    pub(crate) fn is_other_run(&self, job: &JobOverview) -> bool {
        matches!((self.start_time, job.start_time), (Some(a), Some(b)) if a != b)
    }

    /// Not ended, as far as the detector knows.
    pub(crate) fn is_active(&self) -> bool {
        self.reported.is_none() && !self.state.is_terminal()
    }

    pub(crate) fn job_ref(&self, id: &str) -> JobRef {
        JobRef {
            id: id.to_owned(),
            name: self.name.clone(),
            state: self.state,
        }
    }
}

/// A job that is not processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DegradedState {
    /// First poll that saw it not processing.
    pub since: DateTime<Utc>,
    /// Whether the degraded finding was emitted.
    pub reported: bool,
}

/// Restarts of one job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartState {
    /// Restarts counted while watched.
    pub total: u32,
    /// Newest exception-history timestamp already counted (epoch ms); `None`: none yet, every
    /// entry is new.
    pub exception_ts: Option<i64>,
    /// Restarts counted from polled `RESTARTING` states that the history has not confirmed yet
    /// (so they are not counted twice when it does).
    pub unconfirmed: u32,
    /// The open restart episode, if any.
    pub episode: Option<RestartEpisode>,
}

/// Restarts that are reported together: the first one alerts, later ones fold into a digest
/// per window; it closes once the job has run for a whole window without restarting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartEpisode {
    /// First restart.
    pub started_at: DateTime<Utc>,
    /// Start of the current fold window.
    pub window_start: DateTime<Utc>,
    /// Latest restart.
    pub last_restart_at: DateTime<Utc>,
    /// Restarts in the episode.
    pub restarts: u32,
    /// Restarts since the last finding, waiting for the window to end.
    pub folded: u32,
    /// Whether "recovered" was reported for this episode.
    pub recovered_sent: bool,
}

/// Failed polls of the cluster.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OutageState {
    /// Consecutive failed polls.
    pub failed_polls: u32,
    /// First failed poll of the run.
    pub since: Option<DateTime<Utc>>,
    /// The latest failure.
    pub last_error: Option<String>,
    /// The jobs listed by the unreachable finding, once emitted.
    pub reported: Option<Vec<JobRef>>,
}

/// The open episodes of one job's health conditions (each gives one finding when it starts and
/// one when it clears).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JobHealthState {
    /// `CHECKPOINT_FAILED`, open.
    pub checkpoint_failed: Option<CheckpointEpisode>,
    /// `CHECKPOINT_SLOW`, open.
    pub checkpoint_slow: Option<CheckpointEpisode>,
    /// `EXCEPTION`, open.
    pub exceptions: Option<ExceptionEpisode>,
}

impl JobHealthState {
    /// Whether no episode is open.
    pub fn is_clear(&self) -> bool {
        self.checkpoint_failed.is_none()
            && self.checkpoint_slow.is_none()
            && self.exceptions.is_none()
    }
}

/// A checkpoint condition that holds: it clears when a checkpoint newer than `completed_id`
/// completes (in time, for `CHECKPOINT_SLOW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointEpisode {
    /// The poll that started it.
    pub since: DateTime<Utc>,
    /// The latest completed checkpoint when it started (`None`: none had completed).
    pub completed_id: Option<u64>,
    /// `CHECKPOINT_FAILED`: the most failures in a row seen during the episode.
    pub failures: u32,
}

/// New exception-history entries of a job, folded like restarts: the first alerts, later
/// ones fold into one digest per window; it closes after a whole window without a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionEpisode {
    /// The poll that saw the first one.
    pub started_at: DateTime<Utc>,
    /// Start of the current fold window.
    pub window_start: DateTime<Utc>,
    /// The latest poll that saw a new one.
    pub last_at: DateTime<Utc>,
    /// Entries in the episode.
    pub count: u32,
    /// Entries since the last finding, waiting for the window to end.
    pub folded: u32,
    /// The newest root cause ([`crate::ExceptionSummary::error_text`]).
    pub error: Option<String>,
}

/// The cluster's registered TaskManagers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskManagerState {
    /// The ids listed by the latest read while no loss was open (`None`: never read).
    pub seen: Option<Vec<String>>,
    /// The open loss, if any.
    pub lost: Option<TaskManagerEpisode>,
}

/// TaskManagers fewer than before: it clears when as many are registered again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskManagerEpisode {
    /// The read that saw fewer.
    pub since: DateTime<Utc>,
    /// How many were registered before.
    pub was: u32,
    /// The ids that are gone.
    pub lost_ids: Vec<String>,
    /// The jobs the loss finding listed (the recovery lists the same).
    pub jobs: Vec<JobRef>,
}
