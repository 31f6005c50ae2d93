//! Job-health conditions a binding can ask for next to the job states ([`HealthCondition`]),
//! their [`HealthThresholds`], and [`HealthNeeds`]: which jobs of a cluster want which
//! conditions, given by the caller so that the watcher reads checkpoint statistics, exception
//! histories and `/taskmanagers` only where they are wanted.
//!
//! The detector's rules for them are in [`crate::detector`]'s module docs.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alert_core::JobStatus;
use serde::{Deserialize, Serialize};

/// A job-health condition (what a binding lists in `statuses`, next to the job states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthCondition {
    /// `checkpoint_failures` checkpoints in a row failed or expired.
    CheckpointFailed,
    /// The latest completed checkpoint took longer than `checkpoint_duration_ms`, or none
    /// completed for `checkpoint_age_ms`.
    CheckpointSlow,
    /// New entries in the exception history of a job that has not ended.
    Exception,
    /// The cluster's registered TaskManagers dropped below the number seen before.
    TaskmanagerLost,
}

impl HealthCondition {
    /// Every condition.
    pub const ALL: [HealthCondition; 4] = [
        Self::CheckpointFailed,
        Self::CheckpointSlow,
        Self::Exception,
        Self::TaskmanagerLost,
    ];

    /// The name bindings use: `CHECKPOINT_FAILED`, `CHECKPOINT_SLOW`, `EXCEPTION`,
    /// `TASKMANAGER_LOST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheckpointFailed => "CHECKPOINT_FAILED",
            Self::CheckpointSlow => "CHECKPOINT_SLOW",
            Self::Exception => "EXCEPTION",
            Self::TaskmanagerLost => "TASKMANAGER_LOST",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for HealthCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`HealthCondition::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown health condition `{0}` (expected CHECKPOINT_FAILED, CHECKPOINT_SLOW, EXCEPTION or TASKMANAGER_LOST)")]
pub struct UnknownCondition(pub String);

impl FromStr for HealthCondition {
    type Err = UnknownCondition;

    /// Case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCondition(s.to_owned()))
    }
}

/// What a binding can list in `statuses` and a finding is routed by: a job state or a
/// health condition. [`crate::Finding::routes`] gives them; the `route_statuses` label joins
/// their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RouteStatus {
    /// A job state (`FAILED`, `RESTARTING`, ...).
    Job(JobStatus),
    /// A health condition (`CHECKPOINT_FAILED`, ...).
    Condition(HealthCondition),
}

impl RouteStatus {
    /// The name a binding lists.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job(s) => s.as_str(),
            Self::Condition(c) => c.as_str(),
        }
    }
}

impl FromStr for RouteStatus {
    type Err = UnknownCondition;

    /// A job state's or a condition's name (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().parse::<JobStatus>() {
            Ok(status) => Ok(Self::Job(status)),
            Err(_) => s.parse().map(Self::Condition),
        }
    }
}

/// A set of [`HealthCondition`]s (a bit set: cheap to copy and test per job and poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ConditionSet(u8);

impl ConditionSet {
    /// No condition.
    pub const NONE: Self = Self(0);

    /// Every condition.
    pub fn all() -> Self {
        HealthCondition::ALL.into_iter().collect()
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: HealthCondition) -> bool {
        self.0 & c.bit() != 0
    }

    /// The set with `c` added.
    #[must_use]
    pub fn with(self, c: HealthCondition) -> Self {
        Self(self.0 | c.bit())
    }

    /// The union.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The conditions, in [`HealthCondition::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = HealthCondition> {
        HealthCondition::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// Whether a checkpoint condition is in the set (the job's checkpoint statistics are
    /// needed).
    pub fn needs_checkpoints(self) -> bool {
        self.contains(HealthCondition::CheckpointFailed)
            || self.contains(HealthCondition::CheckpointSlow)
    }
}

impl FromIterator<HealthCondition> for ConditionSet {
    fn from_iter<I: IntoIterator<Item = HealthCondition>>(iter: I) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

impl Serialize for ConditionSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for ConditionSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BTreeSet::<HealthCondition>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

/// The thresholds of the health conditions (a binding's optional `thresholds` object; every
/// field optional, defaults below).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthThresholds {
    /// `CHECKPOINT_FAILED`: this many checkpoints in a row failed or expired (3).
    pub checkpoint_failures: u32,
    /// `CHECKPOINT_SLOW`: the latest completed checkpoint took longer than this (600 000 ms).
    pub checkpoint_duration_ms: u64,
    /// `CHECKPOINT_SLOW`: no checkpoint completed for longer than this while the job runs
    /// with checkpointing on (1 800 000 ms).
    pub checkpoint_age_ms: u64,
    /// `EXCEPTION`: new entries after the first fold into one message per window, and the
    /// condition clears after a whole window without one (600 000 ms, the restart fold
    /// window).
    pub exception_fold_ms: u64,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        Self {
            checkpoint_failures: 3,
            checkpoint_duration_ms: 600_000,
            checkpoint_age_ms: 1_800_000,
            exception_fold_ms: 600_000,
        }
    }
}

impl HealthThresholds {
    /// The most sensitive of both (each field's minimum): what the detector uses for a job
    /// that several bindings watch with different thresholds.
    #[must_use]
    pub fn most_sensitive(self, other: Self) -> Self {
        Self {
            checkpoint_failures: self.checkpoint_failures.min(other.checkpoint_failures),
            checkpoint_duration_ms: self
                .checkpoint_duration_ms
                .min(other.checkpoint_duration_ms),
            checkpoint_age_ms: self.checkpoint_age_ms.min(other.checkpoint_age_ms),
            exception_fold_ms: self.exception_fold_ms.min(other.exception_fold_ms),
        }
    }

    /// Checks that each field is usable; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.checkpoint_failures == 0 {
            return Err("thresholds.checkpoint_failures must be at least 1".into());
        }
        for (name, v) in [
            ("checkpoint_duration_ms", self.checkpoint_duration_ms),
            ("checkpoint_age_ms", self.checkpoint_age_ms),
            ("exception_fold_ms", self.exception_fold_ms),
        ] {
            if v == 0 {
                return Err(format!("thresholds.{name} must be greater than 0"));
            }
        }
        Ok(())
    }

    /// The exception fold window.
    pub fn exception_fold_window(&self) -> Duration {
        Duration::from_millis(self.exception_fold_ms)
    }
}

/// The conditions wanted for one job, with their thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthNeed {
    /// The wanted conditions.
    pub conditions: ConditionSet,
    /// Their thresholds.
    pub thresholds: HealthThresholds,
}

impl HealthNeed {
    /// Nothing wanted.
    pub const NONE: Self = Self {
        conditions: ConditionSet::NONE,
        thresholds: HealthThresholds {
            checkpoint_failures: 3,
            checkpoint_duration_ms: 600_000,
            checkpoint_age_ms: 1_800_000,
            exception_fold_ms: 600_000,
        },
    };

    /// These conditions with the default thresholds.
    pub fn of(conditions: impl IntoIterator<Item = HealthCondition>) -> Self {
        Self {
            conditions: conditions.into_iter().collect(),
            thresholds: HealthThresholds::default(),
        }
    }

    /// Both needs at once: the union of the conditions, the most sensitive thresholds of those
    /// that want any.
    #[must_use]
    pub fn merge(self, other: Self) -> Self {
        let thresholds = match (self.conditions.is_empty(), other.conditions.is_empty()) {
            (true, _) => other.thresholds,
            (_, true) => self.thresholds,
            _ => self.thresholds.most_sensitive(other.thresholds),
        };
        Self {
            conditions: self.conditions.union(other.conditions),
            thresholds,
        }
    }

    /// Whether `c` is wanted.
    pub fn wants(&self, c: HealthCondition) -> bool {
        self.conditions.contains(c)
    }
}

/// The need of one job, by its name and id.
pub type NeedFn = dyn Fn(&str, &str) -> HealthNeed + Send + Sync;

/// Which jobs of a cluster want which conditions (the caller derives it from the bindings
/// that match the cluster), and how many extra requests a poll may make for them.
///
/// Default: nothing wanted, so nothing extra is read and no health finding is made.
#[derive(Clone)]
pub struct HealthNeeds {
    /// Wanted for every job of the cluster.
    pub all: HealthNeed,
    /// Wanted per job (by job name and id), on top of `all`.
    pub per_job: Option<Arc<NeedFn>>,
    /// Extra requests (checkpoint statistics, exception histories) per poll for the periodic
    /// reads of the health conditions ([`DEFAULT_MAX_HEALTH_REQUESTS`]); checkpoint statistics
    /// go first. See the detector's module docs for how detection latency depends on it: with
    /// every job wanting every condition, jobs + 1 reads every job's checkpoints every poll.
    pub max_requests_per_poll: usize,
}

/// Default of [`HealthNeeds::max_requests_per_poll`].
///
/// A cap, not a rate: only reads that are due are made (see the detector's module docs), so a
/// cluster whose jobs checkpoint every minute needs about one read per job every two minutes;
/// the cap bounds the requests one poll sends to a JobManager (256 per 5 s poll: ≈ 51/s).
pub const DEFAULT_MAX_HEALTH_REQUESTS: usize = 256;

impl Default for HealthNeeds {
    fn default() -> Self {
        Self {
            all: HealthNeed::NONE,
            per_job: None,
            max_requests_per_poll: DEFAULT_MAX_HEALTH_REQUESTS,
        }
    }
}

impl fmt::Debug for HealthNeeds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthNeeds")
            .field("all", &self.all)
            .field("per_job", &self.per_job.as_ref().map(|_| "fn"))
            .field("max_requests_per_poll", &self.max_requests_per_poll)
            .finish()
    }
}

impl HealthNeeds {
    /// The same need for every job.
    pub fn all(need: HealthNeed) -> Self {
        Self {
            all: need,
            ..Self::default()
        }
    }

    /// A need per job, from its name and id (e.g. the bindings whose job pattern matches).
    pub fn per_job(f: impl Fn(&str, &str) -> HealthNeed + Send + Sync + 'static) -> Self {
        Self {
            per_job: Some(Arc::new(f)),
            ..Self::default()
        }
    }

    /// With another bound of extra requests per poll (at least 1 is used).
    #[must_use]
    pub fn with_max_requests(mut self, n: usize) -> Self {
        self.max_requests_per_poll = n;
        self
    }

    /// The need of one job.
    pub fn need(&self, name: &str, id: &str) -> HealthNeed {
        match &self.per_job {
            Some(f) => self.all.merge(f(name, id)),
            None => self.all,
        }
    }

    /// Whether nothing can be wanted (no per-job function and nothing for all jobs).
    pub fn is_none(&self) -> bool {
        self.per_job.is_none() && self.all.conditions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in HealthCondition::ALL {
            assert_eq!(c.as_str().parse::<HealthCondition>(), Ok(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
            assert_eq!(
                c.as_str().parse::<RouteStatus>(),
                Ok(RouteStatus::Condition(c))
            );
        }
        assert_eq!(
            "failed".parse::<RouteStatus>(),
            Ok(RouteStatus::Job(JobStatus::Failed))
        );
        assert!("CHECKPOINT".parse::<HealthCondition>().is_err());
    }

    #[test]
    fn sets_serialize_as_lists() {
        let set = ConditionSet::NONE
            .with(HealthCondition::Exception)
            .with(HealthCondition::CheckpointFailed);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["CHECKPOINT_FAILED","EXCEPTION"]"#);
        assert_eq!(serde_json::from_str::<ConditionSet>(&json).unwrap(), set);
        assert!(set.needs_checkpoints());
        assert!(!ConditionSet::NONE
            .with(HealthCondition::Exception)
            .needs_checkpoints());
    }

    #[test]
    fn thresholds_default_merge_and_validate() {
        let t: HealthThresholds = serde_json::from_str(r#"{"checkpoint_failures": 5}"#).unwrap();
        assert_eq!(t.checkpoint_failures, 5);
        assert_eq!(t.checkpoint_age_ms, 1_800_000);
        assert!(serde_json::from_str::<HealthThresholds>(r#"{"checkpoint_failure": 5}"#).is_err());
        let a = HealthNeed {
            conditions: ConditionSet::all(),
            thresholds: t,
        };
        let b = HealthNeed::of([HealthCondition::Exception]);
        let m = a.merge(b);
        assert_eq!(m.thresholds.checkpoint_failures, 3);
        assert_eq!(a.merge(HealthNeed::NONE).thresholds, t);
        assert_eq!(HealthNeed::NONE, HealthNeed::default());
        let zero = HealthThresholds {
            checkpoint_age_ms: 0,
            ..HealthThresholds::default()
        };
        assert!(zero.validate().unwrap_err().contains("checkpoint_age_ms"));
        assert!(HealthThresholds::default().validate().is_ok());
    }

    #[test]
    fn per_job_needs_add_to_all() {
        let needs = HealthNeeds::per_job(|name, _| {
            if name.starts_with("orders") {
                HealthNeed::of([HealthCondition::CheckpointFailed])
            } else {
                HealthNeed::NONE
            }
        });
        assert!(needs
            .need("orders-1", "a")
            .wants(HealthCondition::CheckpointFailed));
        assert!(needs.need("billing", "b").conditions.is_empty());
        assert!(HealthNeeds::default().is_none());
    }
}
