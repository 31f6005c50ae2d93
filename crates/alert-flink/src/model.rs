//! Serde models of the Flink REST answers the watcher reads, for Flink 1.20 and 2.x alike.
//!
//! Every model ignores fields it does not name (Flink adds fields between versions: 2.x has
//! `jobType`, `pending-operators` and `schedulerType` in `/jobs/overview`, 1.20 has the legacy
//! `root-exception`/`all-exceptions` in `/jobs/{id}/exceptions`), and every field that one of the
//! two versions lacks has a default. Times are epoch milliseconds as Flink sends them; Flink's
//! `-1` ("not yet") becomes `None`.

use std::collections::BTreeMap;

use alert_core::JobStatus;
use serde::{Deserialize, Deserializer, Serialize};

/// `GET /jobs/overview`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobsOverview {
    /// Every job the JobManager still knows (running, and ended ones until
    /// `jobstore.expiration-time`). The order is not stable; do not rely on it.
    #[serde(default)]
    pub jobs: Vec<JobOverview>,
}

/// One entry of `GET /jobs/overview`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOverview {
    /// Job id (32 hex characters).
    pub jid: String,
    /// Job name.
    #[serde(default)]
    pub name: String,
    /// Job state. A name this crate does not know (a future Flink state) reads as
    /// [`JobStatus::Unknown`], which the detector treats as non-terminal and never alerts on.
    #[serde(deserialize_with = "lenient_status")]
    pub state: JobStatus,
    /// When the job was submitted.
    #[serde(rename = "start-time", default, deserialize_with = "epoch_ms")]
    pub start_time: Option<i64>,
    /// When the job ended (`None` while it runs).
    #[serde(rename = "end-time", default, deserialize_with = "epoch_ms")]
    pub end_time: Option<i64>,
    /// Run time in milliseconds (until now, or until the end).
    #[serde(default, deserialize_with = "non_negative")]
    pub duration: Option<u64>,
    /// When the job last changed state: a newer value while the job stays `RUNNING` means it
    /// went through another state (a restart) between two polls.
    #[serde(rename = "last-modification", default, deserialize_with = "epoch_ms")]
    pub last_modification: Option<i64>,
    /// Task counters by execution state.
    #[serde(default)]
    pub tasks: TaskCounts,
    /// `STREAMING` or `BATCH`; only Flink 2.x lists it here (`jobType`).
    #[serde(rename = "jobType", default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
}

impl JobOverview {
    /// A job entry with the given id, name and state, and no times (tests and replays).
    pub fn new(jid: impl Into<String>, name: impl Into<String>, state: JobStatus) -> Self {
        Self {
            jid: jid.into(),
            name: name.into(),
            state,
            start_time: None,
            end_time: None,
            duration: None,
            last_modification: None,
            tasks: TaskCounts::default(),
            job_type: None,
        }
    }
}

/// `tasks` of a `/jobs/overview` entry: how many tasks are in each execution state. The
/// counters always sum to `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskCounts {
    /// All tasks of the job.
    pub total: u32,
    /// Running.
    pub running: u32,
    /// Created, not yet scheduled.
    pub created: u32,
    /// Waiting for a slot (after a TaskManager loss they stay here until one returns).
    pub scheduled: u32,
    /// Being deployed to a TaskManager.
    pub deploying: u32,
    /// Restoring state.
    pub initializing: u32,
    /// Reconciling after a JobManager failover.
    pub reconciling: u32,
    /// Finished (bounded sources, or the whole job).
    pub finished: u32,
    /// Being canceled.
    pub canceling: u32,
    /// Canceled.
    pub canceled: u32,
    /// Failed.
    pub failed: u32,
}

/// `GET /overview`: the cluster's resources and job counts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterOverview {
    /// Registered TaskManagers (a killed one stays counted until its heartbeat times out).
    pub taskmanagers: u32,
    /// Task slots in total.
    #[serde(rename = "slots-total")]
    pub slots_total: u32,
    /// Free task slots.
    #[serde(rename = "slots-available")]
    pub slots_available: u32,
    /// Jobs running.
    #[serde(rename = "jobs-running")]
    pub jobs_running: u32,
    /// Jobs finished (still in the job store).
    #[serde(rename = "jobs-finished")]
    pub jobs_finished: u32,
    /// Jobs canceled (Flink spells it `cancelled` here).
    #[serde(rename = "jobs-cancelled")]
    pub jobs_cancelled: u32,
    /// Jobs failed.
    #[serde(rename = "jobs-failed")]
    pub jobs_failed: u32,
    /// Flink version, e.g. `2.3.0`.
    #[serde(rename = "flink-version")]
    pub flink_version: String,
    /// Short commit id of the build.
    #[serde(rename = "flink-commit")]
    pub flink_commit: String,
}

/// `GET /config`: the web dashboard's configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DashboardConfig {
    /// How long `/jobs/{id}` answers are cached, in ms (3000 by default).
    #[serde(rename = "refresh-interval")]
    pub refresh_interval: u64,
    /// Flink version, e.g. `1.20.5`.
    #[serde(rename = "flink-version")]
    pub flink_version: String,
    /// Commit and build date.
    #[serde(rename = "flink-revision")]
    pub flink_revision: String,
    /// The JobManager's time zone name.
    #[serde(rename = "timezone-name")]
    pub timezone_name: String,
    /// The JobManager's UTC offset, in ms.
    #[serde(rename = "timezone-offset")]
    pub timezone_offset: i64,
    /// Dashboard features (`web-submit`, `web-cancel`, ...).
    pub features: BTreeMap<String, bool>,
}

/// `GET /jobs/{id}/exceptions`.
///
/// Only `exceptionHistory` is read: it has the same shape in 1.20 and 2.x, while the legacy
/// 1.x fields (`root-exception`, `all-exceptions`) are gone in 2.x and, in 1.20, stay set after
/// the job recovered (a non-null `root-exception` does not mean the job failed).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobExceptions {
    /// The failures Flink handled, newest first.
    #[serde(rename = "exceptionHistory", default)]
    pub exception_history: ExceptionHistory,
}

/// `exceptionHistory` of `/jobs/{id}/exceptions`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExceptionHistory {
    /// One entry per failure Flink handled (each led to a restart, or ended the job), newest
    /// first; bounded by `web.exception-history-size` (16 by default).
    pub entries: Vec<ExceptionEntry>,
    /// Whether older entries were dropped.
    pub truncated: bool,
}

/// One failure in the exception history.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExceptionEntry {
    /// Java class of the exception, e.g. `org.apache.flink.runtime.JobException`.
    #[serde(rename = "exceptionName")]
    pub exception_name: String,
    /// The Java stack trace, `Caused by:` chain included.
    pub stacktrace: String,
    /// When Flink handled the failure (epoch ms).
    pub timestamp: i64,
    /// Labels attached by failure enrichers.
    #[serde(rename = "failureLabels")]
    pub failure_labels: BTreeMap<String, String>,
    /// The failed task (`"... (1/1) - execution #N"`); absent for global failures.
    #[serde(rename = "taskName", skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// The TaskManager's `host:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The same `host:port`, under its 1.x name (1.20 sends both; 2.x only `endpoint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The TaskManager's id.
    #[serde(rename = "taskManagerId", skip_serializing_if = "Option::is_none")]
    pub task_manager_id: Option<String>,
    /// Failures of other tasks handled together with this one.
    #[serde(rename = "concurrentExceptions")]
    pub concurrent_exceptions: Vec<ExceptionEntry>,
}

/// `GET /jobs/{id}/checkpoints`: checkpoint statistics (the `summary` is not read).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointingStatistics {
    /// Counters.
    pub counts: CheckpointCounts,
    /// The latest checkpoint of each kind.
    pub latest: LatestCheckpoints,
    /// Recent checkpoints, newest first.
    pub history: Vec<CheckpointEntry>,
}

impl CheckpointingStatistics {
    /// The latest savepoint, if any (`latest.savepoint`).
    pub fn latest_savepoint(&self) -> Option<&CheckpointEntry> {
        self.latest.savepoint.as_ref()
    }
}

/// `counts` of the checkpoint statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointCounts {
    /// Restores.
    pub restored: u64,
    /// All triggered checkpoints.
    pub total: u64,
    /// In progress.
    pub in_progress: u64,
    /// Completed.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
}

/// `latest` of the checkpoint statistics.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LatestCheckpoints {
    /// Latest completed checkpoint.
    pub completed: Option<CheckpointEntry>,
    /// Latest completed savepoint: after a stop-with-savepoint, a `SYNC_SAVEPOINT`.
    pub savepoint: Option<CheckpointEntry>,
    /// Latest failed checkpoint.
    pub failed: Option<CheckpointEntry>,
}

/// One checkpoint or savepoint.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointEntry {
    /// Checkpoint id.
    pub id: u64,
    /// `COMPLETED`, `IN_PROGRESS` or `FAILED`.
    pub status: String,
    /// Whether it is a savepoint.
    pub is_savepoint: bool,
    /// `CHECKPOINT`, `SAVEPOINT`, or `SYNC_SAVEPOINT` (taken by stop-with-savepoint).
    pub checkpoint_type: String,
    /// When it was triggered (epoch ms).
    pub trigger_timestamp: i64,
    /// When the last task acknowledged it (epoch ms).
    pub latest_ack_timestamp: i64,
    /// Where it was written, for completed ones.
    pub external_path: Option<String>,
    /// Whether it was discarded since.
    pub discarded: bool,
    /// How long it took from trigger to the last acknowledgement (ms; so far, while in
    /// progress).
    pub end_to_end_duration: i64,
    /// Why it failed (`Checkpoint expired before completing.`, ...), for failed ones.
    pub failure_message: Option<String>,
    /// When it failed (epoch ms), for failed ones.
    pub failure_timestamp: Option<i64>,
}

/// `GET /taskmanagers`: the registered TaskManagers (1.20 and 2.x).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskManagers {
    /// One entry per registered TaskManager.
    pub taskmanagers: Vec<TaskManagerInfo>,
}

/// One registered TaskManager (only what alerts need; resources and memory are not read).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskManagerInfo {
    /// Its id, e.g. `127.0.0.1:39225-030414`.
    pub id: String,
    /// Its RPC address (`pekko.tcp://flink@host:port/user/rpc/taskmanager_0`).
    pub path: String,
    /// Task slots.
    #[serde(rename = "slotsNumber")]
    pub slots_number: u32,
    /// Free task slots.
    #[serde(rename = "freeSlots")]
    pub free_slots: u32,
    /// Despite its name, the epoch-ms time of the last heartbeat (0 right after
    /// registration).
    #[serde(rename = "timeSinceLastHeartbeat")]
    pub time_since_last_heartbeat: i64,
}

/// The error body of the Flink REST API: `{"errors": ["..."]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// Messages; the first usually starts with the Java exception and may carry a stack trace.
    pub errors: Vec<String>,
}

impl ErrorBody {
    /// The first line of the first message, if any.
    pub fn first_line(&self) -> Option<&str> {
        self.errors
            .first()
            .and_then(|e| e.lines().next())
            .map(str::trim)
    }
}

fn lenient_status<'de, D: Deserializer<'de>>(d: D) -> Result<JobStatus, D::Error> {
    let raw = String::deserialize(d)?;
    Ok(raw.parse().unwrap_or_else(|_| {
        tracing::warn!(state = %raw, "unknown Flink job state; treated as UNKNOWN");
        JobStatus::Unknown
    }))
}

fn epoch_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.filter(|v| *v >= 0))
}

fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.and_then(|v| u64::try_from(v).ok()))
}
