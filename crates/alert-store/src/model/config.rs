//! Configuration: alert instances, alert groups, bindings and Flink clusters.

use alert_core::JobStatus;
use serde_json::Value;

use super::AmMatch;

/// An alert instance as given by the API (params with secrets in clear).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceInput {
    /// Unique name.
    pub name: String,
    /// Plugin kind.
    pub kind: String,
    /// Disabled instances receive nothing.
    pub enabled: bool,
    /// Validated, normalized parameters (secrets in clear: storage only).
    pub params: Value,
    /// Send budget per minute; `None` = unlimited.
    pub rate_per_minute: Option<u32>,
}

/// A stored alert instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Id.
    pub id: i64,
    /// The rest.
    pub input: InstanceInput,
    /// Created, ms.
    pub created_at: i64,
    /// Declared in a provisioning file: only provisioning changes it (the API answers 409).
    pub provisioned: bool,
    /// Last updated, ms.
    pub updated_at: i64,
}

/// An alert group as given by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInput {
    /// Unique name.
    pub name: String,
    /// Disabled groups alert nobody.
    pub enabled: bool,
    /// Member instances (each must exist).
    pub instance_ids: Vec<i64>,
    /// The group's own message template for job events; `None` uses the built-in one.
    pub template: Option<GroupTemplate>,
}

/// A group's message template: minijinja sources of the parts it replaces (the built-in
/// template fills the others). Checked by the API before it is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupTemplate {
    /// Title template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Plain-text body template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Markdown body template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
}

impl GroupTemplate {
    /// True when it replaces no part (stored as no template).
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.text.is_none() && self.markdown.is_none()
    }
}

/// A stored alert group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Id.
    pub id: i64,
    /// The rest.
    pub input: GroupInput,
    /// Created, ms.
    pub created_at: i64,
    /// Declared in a provisioning file: only provisioning changes it (the API answers 409).
    pub provisioned: bool,
    /// Last updated, ms.
    pub updated_at: i64,
}

/// Which jobs alert which group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingInput {
    /// Job name or glob (`orders_*`).
    pub job: String,
    /// Cluster name; `None` matches every cluster.
    pub cluster: Option<String>,
    /// The group to alert (must exist).
    pub group_id: i64,
    /// Statuses that alert.
    pub statuses: Vec<JobStatus>,
    /// Job-health conditions that alert (`CHECKPOINT_FAILED`, ...; checked by the server).
    pub conditions: Vec<String>,
    /// Thresholds of the conditions (a JSON object; `None`: the defaults).
    pub thresholds: Option<serde_json::Value>,
    /// Set for an Alertmanager binding (whose `job` is empty and matches no job event).
    pub alertmanager: Option<AmMatch>,
}

/// A stored binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Id.
    pub id: i64,
    /// The rest.
    pub input: BindingInput,
    /// Created, ms.
    pub created_at: i64,
    /// Declared in a provisioning file: only provisioning changes it (the API answers 409).
    pub provisioned: bool,
}

/// A Flink cluster as given by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInput {
    /// Unique name (what bindings' `cluster` matches).
    pub name: String,
    /// JobManager REST URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
    /// Disabled clusters are not polled.
    pub enabled: bool,
    /// Poll interval, ms.
    pub poll_interval_ms: u64,
}

/// A stored cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Id.
    pub id: i64,
    /// The rest.
    pub input: ClusterInput,
    /// Created, ms.
    pub created_at: i64,
    /// Declared in a provisioning file: only provisioning changes it (the API answers 409).
    pub provisioned: bool,
    /// Last updated, ms.
    pub updated_at: i64,
}
