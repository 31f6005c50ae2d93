//! Provisioning (`alert-server provision`, `serve --provision`): the changes that make the
//! stored configuration match a file, applied by
//! [`ConfigStore::apply_provision`](crate::ConfigStore::apply_provision) in one transaction.
//!
//! Only rows marked `provisioned` are updated or deleted; rows made through the API are never
//! touched. Groups and bindings name their instances and groups, so that objects created by the
//! same plan can be referenced before they have ids.

use alert_core::JobStatus;

use super::{ClusterInput, GroupTemplate, InstanceInput};

/// One change to one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<T> {
    /// Create it, marked provisioned.
    Create(T),
    /// Replace the provisioned row `id` with this.
    Update {
        /// The provisioned row.
        id: i64,
        /// What it becomes.
        to: T,
    },
    /// Delete the provisioned row.
    Delete(i64),
}

/// A provisioned group: members by instance name, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionGroup {
    /// Unique name.
    pub name: String,
    /// Disabled groups alert nobody.
    pub enabled: bool,
    /// Member instance names (instances of this plan or existing ones).
    pub members: Vec<String>,
    /// The group's message template; `None` uses the built-in one.
    pub template: Option<GroupTemplate>,
}

/// A provisioned job binding: its group by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionBinding {
    /// Job name or glob.
    pub job: String,
    /// Cluster name; `None` matches every cluster.
    pub cluster: Option<String>,
    /// The group's name.
    pub group: String,
    /// Statuses that alert.
    pub statuses: Vec<JobStatus>,
    /// Job-health conditions that alert (`CHECKPOINT_FAILED`, …).
    pub conditions: Vec<String>,
    /// Their thresholds (a JSON object; `None`: the defaults).
    pub thresholds: Option<serde_json::Value>,
}

/// Everything one provisioning run changes. Applied as: deletes of bindings and groups, then
/// creates and updates (clusters, instances, groups, bindings), then deletes of instances and
/// clusters (so that a group updated to let go of an instance lets it be removed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProvisionPlan {
    /// Instance changes.
    pub instances: Vec<Change<InstanceInput>>,
    /// Group changes (members replaced on update).
    pub groups: Vec<Change<ProvisionGroup>>,
    /// Binding changes.
    pub bindings: Vec<Change<ProvisionBinding>>,
    /// Cluster changes.
    pub clusters: Vec<Change<ClusterInput>>,
}

impl ProvisionPlan {
    /// True when applying it would change nothing.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
            && self.groups.is_empty()
            && self.bindings.is_empty()
            && self.clusters.is_empty()
    }
}
