//! Silences: for planned work, what matches one is stored and recorded as `silenced`, and
//! nothing is sent.

use std::collections::BTreeMap;

use alert_core::JobStatus;
use serde::{Deserialize, Serialize};

/// What a silence matches. Every given matcher must match; `job` always is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatchers {
    /// Job name or glob (`orders_*`); for an Alertmanager alert, its `job` label.
    pub job: String,
    /// Cluster name or glob; for an Alertmanager alert, its `cluster` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Only these job statuses (empty: any). A silence with statuses matches no Alertmanager
    /// alert (alerts have no job status).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<JobStatus>,
    /// Labels that must be present, each value a name or glob.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A silence as given by the API (checked there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceInput {
    /// What it matches.
    pub matchers: SilenceMatchers,
    /// In force from, ms.
    pub starts_at: i64,
    /// In force until (exclusive), ms.
    pub ends_at: i64,
    /// Why (required).
    pub comment: String,
    /// Who.
    pub created_by: Option<String>,
}

/// Where a silence is in its life at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Starts later.
    Pending,
    /// In force.
    Active,
    /// Ended (or expired by hand).
    Expired,
}

impl SilenceState {
    /// Lower-case name, as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Expired => "expired",
        }
    }

    /// Parses a lower-case name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "active" => Some(Self::Active),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// Id.
    pub id: i64,
    /// The rest.
    pub input: SilenceInput,
    /// Created, ms.
    pub created_at: i64,
    /// Last changed (created or expired), ms.
    pub updated_at: i64,
}

impl Silence {
    /// Its state at `now` (ms): pending before `starts_at`, expired from `ends_at` on.
    pub fn state(&self, now: i64) -> SilenceState {
        if now >= self.input.ends_at {
            SilenceState::Expired
        } else if now < self.input.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }
}
