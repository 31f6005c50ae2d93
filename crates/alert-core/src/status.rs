//! [`JobStatus`]: Flink's job states, plus `STOPPED`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The state of a Flink job, with Flink's own names (`JobStatus` in Flink's REST API).
///
/// Deliberately exhaustive (not `#[non_exhaustive]`): routing, the watcher's detector and the
/// default alert statuses match on it, and a state they did not consider must fail their build
/// rather than be routed by a wildcard arm. Adding a state is a breaking change of alert-core.
///
/// `Stopped` is not a Flink state: Flink reports a stop-with-savepoint as `FINISHED`; a caller that
/// knows better (the watcher reads the checkpoints) says `STOPPED`.
///
/// ```
/// use alert_core::JobStatus;
/// assert_eq!("failed".parse::<JobStatus>().unwrap(), JobStatus::Failed);
/// assert_eq!("CANCELLED".parse::<JobStatus>().unwrap(), JobStatus::Canceled);
/// assert_eq!(JobStatus::Failed.to_string(), "FAILED");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    /// The cluster does not answer, or the job vanished.
    Unknown,
    /// Job is newly created, no task has started to run.
    Created,
    /// Some tasks are scheduled or running.
    Running,
    /// The job failed and waits for a restart.
    Failing,
    /// The job failed with a non-recoverable task failure.
    Failed,
    /// Job is being cancelled.
    Cancelling,
    /// Job has been cancelled.
    Canceled,
    /// All of the job's tasks have successfully finished.
    Finished,
    /// The job is being reset and restarted.
    Restarting,
    /// The job has been suspended (e.g. the JobManager lost leadership).
    Suspended,
    /// The job is being reconciled while the JobManager recovers.
    Reconciling,
    /// The job is waiting for resources.
    Initializing,
    /// Stopped with a savepoint (reported by Flink as FINISHED).
    Stopped,
}

impl JobStatus {
    /// Every status, in declaration order.
    pub const ALL: [JobStatus; 13] = [
        Self::Unknown,
        Self::Created,
        Self::Running,
        Self::Failing,
        Self::Failed,
        Self::Cancelling,
        Self::Canceled,
        Self::Finished,
        Self::Restarting,
        Self::Suspended,
        Self::Reconciling,
        Self::Initializing,
        Self::Stopped,
    ];

    /// Flink's English name, upper case (`STOPPED` for our own state).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Created => "CREATED",
            Self::Running => "RUNNING",
            Self::Failing => "FAILING",
            Self::Failed => "FAILED",
            Self::Cancelling => "CANCELLING",
            Self::Canceled => "CANCELED",
            Self::Finished => "FINISHED",
            Self::Restarting => "RESTARTING",
            Self::Suspended => "SUSPENDED",
            Self::Reconciling => "RECONCILING",
            Self::Initializing => "INITIALIZING",
            Self::Stopped => "STOPPED",
        }
    }

    /// A short Chinese label, shown beside the English name in default templates.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unknown => "未知",
            Self::Created => "已创建",
            Self::Running => "运行中",
            Self::Failing => "失败中",
            Self::Failed => "已失败",
            Self::Cancelling => "取消中",
            Self::Canceled => "已取消",
            Self::Finished => "已完成",
            Self::Restarting => "重启中",
            Self::Suspended => "已挂起",
            Self::Reconciling => "协调中",
            Self::Initializing => "初始化中",
            Self::Stopped => "已停止",
        }
    }

    /// Globally terminal: the job will not run again by itself.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::Canceled | Self::Finished | Self::Stopped
        )
    }

    /// The statuses the seed product alerts on: UNKNOWN, STOP, CANCEL, FINISHED, FAILED.
    pub fn is_alerting(self) -> bool {
        matches!(
            self,
            Self::Unknown | Self::Stopped | Self::Canceled | Self::Finished | Self::Failed
        )
    }

    /// How loud a change to this status is.
    pub fn severity(self) -> crate::Severity {
        use crate::Severity;
        match self {
            Self::Failed | Self::Failing | Self::Unknown => Severity::Critical,
            Self::Canceled
            | Self::Cancelling
            | Self::Stopped
            | Self::Restarting
            | Self::Suspended => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of Flink's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job status `{0}` (expected one of UNKNOWN, RUNNING, FAILED, CANCELED, FINISHED, STOPPED, ...)")]
pub struct UnknownStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let status = match upper.as_str() {
            // Dinky and Flink docs spell both; "STOP"/"CANCEL" are the seed product's words.
            "CANCELLED" | "CANCEL" => Self::Canceled,
            "STOP" => Self::Stopped,
            other => *Self::ALL
                .iter()
                .find(|st| st.as_str() == other)
                .ok_or_else(|| UnknownStatus(s.to_owned()))?,
        };
        Ok(status)
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_flink_name_in_any_case() {
        for st in JobStatus::ALL {
            assert_eq!(st.as_str().parse::<JobStatus>().unwrap(), st);
            assert_eq!(st.as_str().to_lowercase().parse::<JobStatus>().unwrap(), st);
        }
        assert_eq!(
            " Cancelled ".parse::<JobStatus>().unwrap(),
            JobStatus::Canceled
        );
        assert_eq!("stop".parse::<JobStatus>().unwrap(), JobStatus::Stopped);
    }

    #[test]
    fn rejects_unknown_names() {
        let err = "EXPLODED".parse::<JobStatus>().unwrap_err();
        assert!(err.to_string().contains("EXPLODED"));
    }

    #[test]
    fn serde_round_trip_uses_flink_names() {
        let json = serde_json::to_string(&JobStatus::Canceled).unwrap();
        assert_eq!(json, "\"CANCELED\"");
        assert_eq!(
            serde_json::from_str::<JobStatus>("\"restarting\"").unwrap(),
            JobStatus::Restarting
        );
    }

    #[test]
    fn alerting_statuses_match_the_seed_product() {
        let alerting: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_alerting())
            .collect();
        assert_eq!(
            alerting,
            [
                JobStatus::Unknown,
                JobStatus::Failed,
                JobStatus::Canceled,
                JobStatus::Finished,
                JobStatus::Stopped
            ]
        );
    }
}
