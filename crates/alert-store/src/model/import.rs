//! Imports from other systems (`alert-server import`): where each object came from, and the
//! batch that one import writes.

use alert_core::JobStatus;

use super::InstanceInput;

/// Where an imported object came from: one row of a source database (see `alert-server import`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImportKey {
    /// The source database, without credentials (`mysql://host:3306/dinky`, `file:/x.json`).
    pub source: String,
    /// The source tenant id, 0 when the source has no tenants.
    pub tenant: i64,
    /// The source table (`dinky_alert_instance`, ...).
    pub table: String,
    /// The source row id.
    pub id: i64,
}

/// What a recorded source row became here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportedKind {
    /// An alert instance.
    Instance,
    /// An alert group.
    Group,
    /// A binding.
    Binding,
}

impl ImportedKind {
    /// `instance`, `group` or `binding`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instance => "instance",
            Self::Group => "group",
            Self::Binding => "binding",
        }
    }
}

/// A recorded import: source row → our object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    /// The source row.
    pub key: ImportKey,
    /// What it became.
    pub kind: ImportedKind,
    /// Our id (the object may have been deleted since).
    pub target_id: i64,
}

/// A reference from an import step to an instance or group: one that exists, or one created
/// earlier in the same [`ImportBatch`] (index into its `instances` or `groups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportRef {
    /// An existing row id.
    Existing(i64),
    /// The object created (or updated) by this step of the batch.
    Step(usize),
}

/// One instance to create (`target` `None`) or update (keeps its `rate_per_minute`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportInstance {
    /// Its source row.
    pub key: ImportKey,
    /// The instance to update, `None` to create.
    pub target: Option<i64>,
    /// Name, kind, enabled, params (and the rate, used on create only).
    pub input: InstanceInput,
}

/// One group to create or update (members replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportGroup {
    /// Its source row.
    pub key: ImportKey,
    /// The group to update, `None` to create.
    pub target: Option<i64>,
    /// Name.
    pub name: String,
    /// Enabled.
    pub enabled: bool,
    /// Members, in order.
    pub members: Vec<ImportRef>,
}

/// One binding to create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportBinding {
    /// Its source row.
    pub key: ImportKey,
    /// The binding to update, `None` to create.
    pub target: Option<i64>,
    /// Job name.
    pub job: String,
    /// The group.
    pub group: ImportRef,
    /// Statuses that alert.
    pub statuses: Vec<JobStatus>,
    /// Job-health conditions that alert (`CHECKPOINT_FAILED`, …).
    pub conditions: Vec<String>,
    /// Their thresholds (a JSON object; `None`: the defaults).
    pub thresholds: Option<serde_json::Value>,
}

/// Everything one import writes, applied by [`ConfigStore::apply_import`](crate::ConfigStore::apply_import) in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportBatch {
    /// Instances, first.
    pub instances: Vec<ImportInstance>,
    /// Then groups ([`ImportRef::Step`] indexes `instances`).
    pub groups: Vec<ImportGroup>,
    /// Then bindings ([`ImportRef::Step`] indexes `groups`).
    pub bindings: Vec<ImportBinding>,
}

/// The ids an applied [`ImportBatch`] wrote, in the batch's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// One per batch instance.
    pub instance_ids: Vec<i64>,
    /// One per batch group.
    pub group_ids: Vec<i64>,
    /// One per batch binding.
    pub binding_ids: Vec<i64>,
}
