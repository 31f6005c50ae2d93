//! What applying a provisioning file changes: the file's objects against the stored ones, by
//! name (bindings by job, cluster and group). Only provisioned rows are updated or removed; a
//! name already used by an object made through the API is an error on the file's line.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde_json::Value;

use super::file::{Desired, FileError, Located};
use alert_store::{
    Binding, Change, Cluster, Group, Instance, ProvisionBinding, ProvisionGroup, ProvisionPlan,
};

/// The stored configuration a plan is made against.
#[derive(Debug, Clone, Default)]
pub struct Current {
    /// Every instance.
    pub instances: Vec<Instance>,
    /// Every group.
    pub groups: Vec<Group>,
    /// Every binding.
    pub bindings: Vec<Binding>,
    /// Every cluster.
    pub clusters: Vec<Cluster>,
}

impl Current {
    /// Reads it from a store.
    pub async fn read(store: &dyn alert_store::Store) -> Result<Self, alert_store::StoreError> {
        Ok(Self {
            instances: store.list_instances().await?,
            groups: store.list_groups().await?,
            bindings: store.list_bindings().await?,
            clusters: store.list_clusters().await?,
        })
    }
}

/// What one line of the diff does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Created.
    Create,
    /// Changed.
    Change,
    /// Removed.
    Remove,
}

/// One line of the diff: `+ instance ops-robot (dingtalk)`. Never carries a parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// What happens.
    pub op: Op,
    /// To what, and for a change, which fields.
    pub text: String,
}

impl fmt::Display for DiffLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.op {
            Op::Create => '+',
            Op::Change => '~',
            Op::Remove => '-',
        };
        write!(f, "{sign} {}", self.text)
    }
}

/// A plan and its diff.
#[derive(Debug, Clone, Default)]
pub struct Planned {
    /// What the store applies.
    pub plan: ProvisionPlan,
    /// What is printed.
    pub diff: Vec<DiffLine>,
    /// Clusters created or changed (by name), for the watchers.
    pub clusters_touched: BTreeSet<String>,
    /// Clusters removed (by id), for the watchers.
    pub clusters_removed: Vec<i64>,
    /// Provisioned instances changed or removed (by id), for the channel cache.
    pub instances_touched: Vec<i64>,
}

impl Planned {
    /// `N to create, N to change, N to remove`, or `no changes`.
    pub fn summary(&self) -> String {
        if self.diff.is_empty() {
            return "no changes".to_owned();
        }
        let n = |op| self.diff.iter().filter(|d| d.op == op).count();
        format!(
            "{} to create, {} to change, {} to remove",
            n(Op::Create),
            n(Op::Change),
            n(Op::Remove)
        )
    }
}

fn err(line: usize, field: String, message: String) -> FileError {
    FileError {
        line: Some(line),
        field: Some(field),
        message,
    }
}

fn taken(what: &str, name: &str, id: i64) -> String {
    format!(
        "a {what} named `{name}` was made through the API (id {id}); a file never takes over such \
         an object: rename one of them, or delete it through the API first"
    )
}

/// Plans `desired` against `current`.
pub fn plan(desired: &Desired, current: &Current) -> Result<Planned, Vec<FileError>> {
    let mut out = Planned::default();
    let mut errors = Vec::new();

    // Instances, by name.
    let wanted: HashMap<&str, &Located<_>> = desired
        .instances
        .iter()
        .map(|l| (l.value.name.as_str(), l))
        .collect();
    for (i, l) in desired.instances.iter().enumerate() {
        let want = &l.value;
        match current.instances.iter().find(|c| c.input.name == want.name) {
            None => {
                out.plan.instances.push(Change::Create(want.clone()));
                out.diff.push(DiffLine {
                    op: Op::Create,
                    text: format!("instance {} ({})", want.name, want.kind),
                });
            }
            Some(c) if !c.provisioned => errors.push(err(
                l.line,
                format!("instances[{i}].name"),
                taken("instance", &want.name, c.id),
            )),
            Some(c) => {
                let mut fields = Vec::new();
                if c.input.kind != want.kind {
                    fields.push("kind".to_owned());
                }
                if c.input.enabled != want.enabled {
                    fields.push("enabled".to_owned());
                }
                fields.extend(changed_params(&c.input.params, &want.params));
                if c.input.rate_per_minute != want.rate_per_minute {
                    fields.push("rate_per_minute".to_owned());
                }
                if !fields.is_empty() {
                    out.plan.instances.push(Change::Update {
                        id: c.id,
                        to: want.clone(),
                    });
                    out.instances_touched.push(c.id);
                    out.diff.push(DiffLine {
                        op: Op::Change,
                        text: format!("instance {}: {}", want.name, fields.join(", ")),
                    });
                }
            }
        }
    }
    for c in current.instances.iter().filter(|c| c.provisioned) {
        if !wanted.contains_key(c.input.name.as_str()) {
            out.plan.instances.push(Change::Delete(c.id));
            out.instances_touched.push(c.id);
            out.diff.push(DiffLine {
                op: Op::Remove,
                text: format!("instance {}", c.input.name),
            });
        }
    }
    // An instance a group may name: in the file, or made through the API.
    let instance_name = |id: i64| {
        current
            .instances
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.input.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    let member_ok = |name: &str| {
        wanted.contains_key(name)
            || current
                .instances
                .iter()
                .any(|c| c.input.name == name && !c.provisioned)
    };

    // Groups, by name.
    let wanted_groups: HashMap<&str, &ProvisionGroup> = desired
        .groups
        .iter()
        .map(|l| (l.value.name.as_str(), &l.value))
        .collect();
    for (i, l) in desired.groups.iter().enumerate() {
        let want = &l.value;
        for m in &want.members {
            if !member_ok(m) {
                errors.push(err(
                    l.line,
                    format!("groups[{i}].instances"),
                    format!("no instance named `{m}` in the file or made through the API"),
                ));
            }
        }
        match current.groups.iter().find(|c| c.input.name == want.name) {
            None => {
                out.plan.groups.push(Change::Create(want.clone()));
                out.diff.push(DiffLine {
                    op: Op::Create,
                    text: format!("group {} [{}]", want.name, want.members.join(", ")),
                });
            }
            Some(c) if !c.provisioned => errors.push(err(
                l.line,
                format!("groups[{i}].name"),
                taken("group", &want.name, c.id),
            )),
            Some(c) => {
                let mut fields = Vec::new();
                if c.input.enabled != want.enabled {
                    fields.push("enabled");
                }
                let members: Vec<String> = c
                    .input
                    .instance_ids
                    .iter()
                    .map(|id| instance_name(*id))
                    .collect();
                if members != want.members {
                    fields.push("instances");
                }
                if c.input.template != want.template {
                    fields.push("template");
                }
                if !fields.is_empty() {
                    out.plan.groups.push(Change::Update {
                        id: c.id,
                        to: want.clone(),
                    });
                    out.diff.push(DiffLine {
                        op: Op::Change,
                        text: format!("group {}: {}", want.name, fields.join(", ")),
                    });
                }
            }
        }
    }
    for c in current.groups.iter().filter(|c| c.provisioned) {
        if !wanted_groups.contains_key(c.input.name.as_str()) {
            out.plan.groups.push(Change::Delete(c.id));
            out.diff.push(DiffLine {
                op: Op::Remove,
                text: format!("group {}", c.input.name),
            });
        }
    }

    // Job bindings, by (job, cluster, group name).
    let group_name = |id: i64| {
        current
            .groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.input.name.clone())
            .unwrap_or_default()
    };
    let stored: Vec<(&Binding, ProvisionBinding)> = current
        .bindings
        .iter()
        .filter(|b| b.provisioned && b.input.alertmanager.is_none())
        .map(|b| {
            (
                b,
                ProvisionBinding {
                    job: b.input.job.clone(),
                    cluster: b.input.cluster.clone(),
                    group: group_name(b.input.group_id),
                    statuses: b.input.statuses.clone(),
                    conditions: b.input.conditions.clone(),
                    thresholds: b.input.thresholds.clone(),
                },
            )
        })
        .collect();
    let same_key = |a: &ProvisionBinding, b: &ProvisionBinding| {
        a.job == b.job && a.cluster == b.cluster && a.group == b.group
    };
    for (i, l) in desired.bindings.iter().enumerate() {
        let want = &l.value;
        let group_ok = wanted_groups.contains_key(want.group.as_str())
            || current
                .groups
                .iter()
                .any(|g| g.input.name == want.group && !g.provisioned);
        if !group_ok {
            errors.push(err(
                l.line,
                format!("bindings[{i}].group"),
                format!(
                    "no group named `{}` in the file or made through the API",
                    want.group
                ),
            ));
        }
        match stored.iter().find(|(_, s)| same_key(s, want)) {
            None => {
                out.plan.bindings.push(Change::Create(want.clone()));
                out.diff.push(DiffLine {
                    op: Op::Create,
                    text: format!("binding {}", describe(want)),
                });
            }
            Some((b, s))
                if s.statuses != want.statuses
                    || s.conditions != want.conditions
                    || s.thresholds != want.thresholds =>
            {
                out.plan.bindings.push(Change::Update {
                    id: b.id,
                    to: want.clone(),
                });
                out.diff.push(DiffLine {
                    op: Op::Change,
                    text: format!("binding {}: statuses", describe(want)),
                });
            }
            Some(_) => {}
        }
    }
    for (b, s) in &stored {
        if !desired.bindings.iter().any(|l| same_key(&l.value, s)) {
            out.plan.bindings.push(Change::Delete(b.id));
            out.diff.push(DiffLine {
                op: Op::Remove,
                text: format!("binding {}", describe(s)),
            });
        }
    }

    // Clusters, by name.
    for (i, l) in desired.clusters.iter().enumerate() {
        let want = &l.value;
        match current.clusters.iter().find(|c| c.input.name == want.name) {
            None => {
                out.plan.clusters.push(Change::Create(want.clone()));
                out.clusters_touched.insert(want.name.clone());
                out.diff.push(DiffLine {
                    op: Op::Create,
                    text: format!(
                        "cluster {} ({})",
                        want.name,
                        alert_core::text::redact_url(&want.url)
                    ),
                });
            }
            Some(c) if !c.provisioned => errors.push(err(
                l.line,
                format!("clusters[{i}].name"),
                taken("cluster", &want.name, c.id),
            )),
            Some(c) => {
                let mut fields = Vec::new();
                if c.input.url != want.url {
                    fields.push("url");
                }
                if c.input.enabled != want.enabled {
                    fields.push("enabled");
                }
                if c.input.poll_interval_ms != want.poll_interval_ms {
                    fields.push("poll_interval_ms");
                }
                if !fields.is_empty() {
                    out.plan.clusters.push(Change::Update {
                        id: c.id,
                        to: want.clone(),
                    });
                    out.clusters_touched.insert(want.name.clone());
                    out.diff.push(DiffLine {
                        op: Op::Change,
                        text: format!("cluster {}: {}", want.name, fields.join(", ")),
                    });
                }
            }
        }
    }
    for c in current.clusters.iter().filter(|c| c.provisioned) {
        if !desired
            .clusters
            .iter()
            .any(|l| l.value.name == c.input.name)
        {
            out.plan.clusters.push(Change::Delete(c.id));
            out.clusters_removed.push(c.id);
            out.diff.push(DiffLine {
                op: Op::Remove,
                text: format!("cluster {}", c.input.name),
            });
        }
    }

    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `orders_* on prod → ops [FAILED, CANCELED]`.
fn describe(b: &ProvisionBinding) -> String {
    let statuses: Vec<String> = b
        .statuses
        .iter()
        .map(ToString::to_string)
        .chain(b.conditions.iter().cloned())
        .collect();
    format!(
        "{} on {} → {} [{}]",
        b.job,
        b.cluster.as_deref().unwrap_or("every cluster"),
        b.group,
        statuses.join(", ")
    )
}

/// The parameter names whose values differ (never the values: they may be secrets).
fn changed_params(stored: &Value, wanted: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let a = stored.as_object().unwrap_or(&empty);
    let b = wanted.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("params.{k}"))
        .collect()
}
