//! What an import of Dinky rows does to our store, object by object: create, update, unchanged
//! or skip (with the reason), plus the [`ImportBatch`] that [`Store::apply_import`] writes.
//!
//! Objects remember their source ([`ImportKey`]: source database, tenant, table, id), so a
//! re-run updates what changed in Dinky and leaves the rest alone. A name already taken by an
//! object that was not imported from this source is never overwritten: that row is skipped.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::map::{map_instance, parse_params};
use super::rules::{map_rules, RuleMapping};
use super::{get_bool, get_i64, get_str, DinkyData, DinkyVersion, Row};
use crate::rules::MAX_NAME_LEN;
use alert_store::{
    ImportBatch, ImportBinding, ImportGroup, ImportInstance, ImportKey, ImportRef, ImportedKind,
    InstanceInput, Store, StoreError,
};

/// What the import does with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Not imported yet: created.
    Create,
    /// Imported before and changed in Dinky: updated.
    Update,
    /// Imported before and unchanged.
    Unchanged,
    /// Not imported (see the reason).
    Skip,
}

impl Action {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
            Self::Skip => "skip",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    /// `instance`, `group` or `binding`.
    pub kind: &'static str,
    /// The Dinky row id (a task's id for a binding).
    pub dinky_id: i64,
    /// The Dinky tenant code, when the source has tenants.
    pub tenant: Option<String>,
    /// The Dinky name (a task's name for a binding).
    pub dinky_name: String,
    /// Our name (`job → group` for a binding), `None` when skipped before naming.
    pub name: Option<String>,
    /// What happens.
    pub action: Action,
    /// Why it is skipped, or what the mapping dropped (never a secret).
    pub reason: Option<String>,
    /// Our instance kind, for instances that map.
    pub channel: Option<&'static str>,
    /// The mapped parameters with secrets masked (instances).
    pub params: Option<Value>,
    /// Our id: the existing object's, or after `--apply` the created one's.
    pub id: Option<i64>,
    /// The step of the batch that writes it (internal).
    #[serde(skip)]
    pub step: Option<usize>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The source identity (no credentials).
    pub source: String,
    /// The Dinky schema version.
    pub version: DinkyVersion,
    /// One line per object, instances, then groups, then bindings.
    pub rows: Vec<PlanRow>,
    /// What `--apply` writes.
    pub batch: ImportBatch,
    /// Tasks without an alert group (nothing to import for them).
    pub unbound_tasks: usize,
}

impl Plan {
    /// How many rows have this action.
    pub fn count(&self, action: Action) -> usize {
        self.rows.iter().filter(|r| r.action == action).count()
    }
}

/// Bad input found while planning (unknown tenant, ...).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The arguments do not fit the source.
    #[error("{0}")]
    BadInput(String),
    /// Reading our store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The tenants of a source and which ones are imported.
struct Tenants {
    codes: HashMap<i64, String>,
    default: Option<i64>,
    only: Option<i64>,
    has_tenants: bool,
}

impl Tenants {
    fn new(data: &DinkyData, only: Option<&str>) -> Result<Self, PlanError> {
        let codes: HashMap<i64, String> = data
            .tenants
            .iter()
            .filter_map(|t| Some((get_i64(t, "id")?, get_str(t, "tenant_code")?)))
            .collect();
        let has_tenants = data.version != DinkyVersion::V06;
        let default = codes
            .iter()
            .find(|(_, c)| c.as_str() == "DefaultTenant")
            .map(|(id, _)| *id)
            .or_else(|| codes.keys().min().copied())
            .or(has_tenants.then_some(1));
        let only = match only {
            None => None,
            Some(_) if !has_tenants => {
                return Err(PlanError::BadInput(format!(
                    "--tenant: this Dinky {} source has no tenants",
                    data.version.label()
                )))
            }
            Some(code) => {
                let mut known: Vec<&String> = codes.values().collect();
                known.sort();
                Some(
                    codes
                        .iter()
                        .find(|(_, c)| c.as_str() == code)
                        .map(|(id, _)| *id)
                        .ok_or_else(|| {
                            PlanError::BadInput(format!(
                                "--tenant: no tenant with code `{code}` (the source has: {})",
                                known
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        })?,
                )
            }
        };
        Ok(Self {
            codes,
            default,
            only,
            has_tenants,
        })
    }

    fn of(&self, row: &Row) -> i64 {
        if self.has_tenants {
            get_i64(row, "tenant_id").or(self.default).unwrap_or(1)
        } else {
            0
        }
    }

    fn included(&self, row: &Row) -> bool {
        self.only.is_none_or(|t| t == self.of(row))
    }

    fn code(&self, tenant: i64) -> Option<String> {
        self.has_tenants.then(|| {
            self.codes
                .get(&tenant)
                .cloned()
                .unwrap_or_else(|| format!("tenant{tenant}"))
        })
    }

    /// Our name: unprefixed for the default (or the one selected) tenant, else `code/name`.
    fn name(&self, tenant: i64, name: &str) -> String {
        let name = name.trim();
        if !self.has_tenants || self.only.is_some() || Some(tenant) == self.default {
            name.to_owned()
        } else {
            format!("{}/{name}", self.code(tenant).unwrap_or_default())
        }
    }
}

fn check_name(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("the name is empty".to_owned())
    } else if name.chars().count() > MAX_NAME_LEN {
        Some(format!("the name is longer than {MAX_NAME_LEN} characters"))
    } else {
        None
    }
}

/// An imported instance or group as groups and bindings refer to it.
#[derive(Clone, Copy)]
struct Resolved {
    reference: ImportRef,
    /// Its id when it exists already (unchanged or updated).
    known: Option<i64>,
}

/// Plans the import of `data` (from `source`) into `store`; `tenant` limits it to one tenant.
pub async fn plan(
    data: &DinkyData,
    source: &str,
    tenant: Option<&str>,
    store: &dyn Store,
) -> Result<Plan, PlanError> {
    let tenants = Tenants::new(data, tenant)?;
    let records: HashMap<ImportKey, (ImportedKind, i64)> = store
        .import_records(source)
        .await?
        .into_iter()
        .map(|r| (r.key, (r.kind, r.target_id)))
        .collect();
    let instances = store.list_instances().await?;
    let groups = store.list_groups().await?;
    let bindings = store.list_bindings().await?;
    let key = |table: &str, row: &Row, id: i64| ImportKey {
        source: source.to_owned(),
        tenant: tenants.of(row),
        table: format!("{}{table}", data.table_prefix),
        id,
    };
    let recorded = |k: &ImportKey, kind: ImportedKind| {
        records
            .get(k)
            .filter(|(k2, _)| *k2 == kind)
            .map(|(_, id)| *id)
    };
    let mut rows = Vec::new();
    let mut batch = ImportBatch::default();

    // Instances.
    let mut inst: HashMap<i64, Resolved> = HashMap::new();
    let mut inst_skipped: HashMap<i64, String> = HashMap::new();
    let mut planned_names: HashMap<String, i64> = HashMap::new();
    for row in data.instances.iter().filter(|r| tenants.included(r)) {
        let Some(id) = get_i64(row, "id") else {
            continue;
        };
        let t = tenants.of(row);
        let dinky_name = get_str(row, "name").unwrap_or_default();
        let mut line = PlanRow {
            kind: "instance",
            dinky_id: id,
            tenant: tenants.code(t),
            dinky_name: dinky_name.clone(),
            name: None,
            action: Action::Skip,
            reason: None,
            channel: None,
            params: None,
            id: None,
            step: None,
        };
        let name = tenants.name(t, &dinky_name);
        let mapped = parse_params(row.get("params"))
            .and_then(|p| map_instance(&get_str(row, "type").unwrap_or_default(), &p));
        let mapped = match mapped {
            Ok(m) => m,
            Err(reason) => {
                inst_skipped.insert(id, reason.clone());
                line.reason = Some(reason);
                rows.push(line);
                continue;
            }
        };
        line.name = Some(name.clone());
        line.channel = Some(mapped.kind);
        line.params = crate::registry()
            .get(mapped.kind)
            .ok()
            .map(|d| d.mask_secrets(&mapped.params));
        let notes = (!mapped.notes.is_empty()).then(|| mapped.notes.join("; "));
        if let Some(reason) = check_name(&name) {
            inst_skipped.insert(id, reason.clone());
            line.reason = Some(reason);
            rows.push(line);
            continue;
        }
        let k = key("alert_instance", row, id);
        let target = recorded(&k, ImportedKind::Instance)
            .and_then(|tid| instances.iter().find(|i| i.id == tid));
        let owner = instances.iter().find(|i| i.input.name == name);
        let conflict = match (owner, target) {
            (Some(o), Some(t)) if o.id != t.id => Some(format!(
                "name `{name}` is taken by instance {} that was not imported from this row",
                o.id
            )),
            (Some(o), None) => Some(format!(
                "name `{name}` is taken by instance {}, which was not imported from this source",
                o.id
            )),
            _ => planned_names.get(&name).map(|other| {
                format!(
                    "Dinky instance {other} already imports as `{name}` (names repeat in Dinky)"
                )
            }),
        };
        if let Some(reason) = conflict {
            inst_skipped.insert(id, reason.clone());
            line.reason = Some(reason);
            rows.push(line);
            continue;
        }
        planned_names.insert(name.clone(), id);
        let enabled = get_bool(row, "enabled").unwrap_or(true);
        let input = InstanceInput {
            name: name.clone(),
            kind: mapped.kind.to_owned(),
            enabled,
            params: mapped.params,
            rate_per_minute: mapped.rate_per_minute,
        };
        line.reason = notes;
        match target {
            Some(t)
                if t.input.name == input.name
                    && t.input.kind == input.kind
                    && t.input.enabled == input.enabled
                    && t.input.params == input.params =>
            {
                line.action = Action::Unchanged;
                line.id = Some(t.id);
                inst.insert(
                    id,
                    Resolved {
                        reference: ImportRef::Existing(t.id),
                        known: Some(t.id),
                    },
                );
            }
            _ => {
                line.action = if target.is_some() {
                    Action::Update
                } else {
                    Action::Create
                };
                line.id = target.map(|t| t.id);
                line.step = Some(batch.instances.len());
                inst.insert(
                    id,
                    Resolved {
                        reference: ImportRef::Step(batch.instances.len()),
                        known: target.map(|t| t.id),
                    },
                );
                batch.instances.push(ImportInstance {
                    key: k,
                    target: target.map(|t| t.id),
                    input,
                });
            }
        }
        rows.push(line);
    }
    let source_instances: HashSet<i64> = data
        .instances
        .iter()
        .filter_map(|r| get_i64(r, "id"))
        .collect();

    // Groups.
    let mut grp: HashMap<i64, Resolved> = HashMap::new();
    let mut grp_skipped: HashMap<i64, String> = HashMap::new();
    let mut planned_groups: HashMap<String, i64> = HashMap::new();
    for row in data.groups.iter().filter(|r| tenants.included(r)) {
        let Some(id) = get_i64(row, "id") else {
            continue;
        };
        let t = tenants.of(row);
        let dinky_name = get_str(row, "name").unwrap_or_default();
        let name = tenants.name(t, &dinky_name);
        let mut line = PlanRow {
            kind: "group",
            dinky_id: id,
            tenant: tenants.code(t),
            dinky_name,
            name: Some(name.clone()),
            action: Action::Skip,
            reason: None,
            channel: None,
            params: None,
            id: None,
            step: None,
        };
        let mut members: Vec<Resolved> = Vec::new();
        let mut dropped: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for part in get_str(row, "alert_instance_ids")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "0")
        {
            let Ok(mid) = part.parse::<i64>() else {
                dropped.push(format!("`{part}` (not an id)"));
                continue;
            };
            if !seen.insert(mid) {
                continue;
            }
            if let Some(r) = inst.get(&mid) {
                members.push(*r);
            } else if inst_skipped.contains_key(&mid) {
                dropped.push(format!("{mid} (skipped)"));
            } else if source_instances.contains(&mid) {
                dropped.push(format!("{mid} (another tenant)"));
            } else {
                dropped.push(format!("{mid} (deleted in Dinky)"));
            }
        }
        if !dropped.is_empty() {
            line.reason = Some(format!("members dropped: {}", dropped.join(", ")));
        }
        if let Some(reason) = check_name(&name) {
            grp_skipped.insert(id, reason.clone());
            line.reason = Some(reason);
            rows.push(line);
            continue;
        }
        let k = key("alert_group", row, id);
        let target =
            recorded(&k, ImportedKind::Group).and_then(|tid| groups.iter().find(|g| g.id == tid));
        let owner = groups.iter().find(|g| g.input.name == name);
        let conflict = match (owner, target) {
            (Some(o), Some(t)) if o.id != t.id => Some(format!(
                "name `{name}` is taken by group {} that was not imported from this row",
                o.id
            )),
            (Some(o), None) => Some(format!(
                "name `{name}` is taken by group {}, which was not imported from this source",
                o.id
            )),
            _ => planned_groups.get(&name).map(|other| {
                format!("Dinky group {other} already imports as `{name}` (names repeat in Dinky)")
            }),
        };
        if let Some(reason) = conflict {
            grp_skipped.insert(id, reason.clone());
            line.reason = Some(reason);
            rows.push(line);
            continue;
        }
        planned_groups.insert(name.clone(), id);
        let enabled = get_bool(row, "enabled").unwrap_or(true);
        let known: Option<Vec<i64>> = members.iter().map(|m| m.known).collect();
        let same = target.is_some_and(|t| {
            t.input.name == name
                && t.input.enabled == enabled
                && known.as_ref() == Some(&t.input.instance_ids)
        });
        if let (true, Some(t)) = (same, target) {
            line.action = Action::Unchanged;
            line.id = Some(t.id);
            grp.insert(
                id,
                Resolved {
                    reference: ImportRef::Existing(t.id),
                    known: Some(t.id),
                },
            );
        } else {
            line.action = if target.is_some() {
                Action::Update
            } else {
                Action::Create
            };
            line.id = target.map(|t| t.id);
            line.step = Some(batch.groups.len());
            grp.insert(
                id,
                Resolved {
                    reference: ImportRef::Step(batch.groups.len()),
                    known: target.map(|t| t.id),
                },
            );
            batch.groups.push(ImportGroup {
                key: k,
                target: target.map(|t| t.id),
                name,
                enabled,
                members: members.iter().map(|m| m.reference).collect(),
            });
        }
        rows.push(line);
    }
    let source_groups: HashMap<i64, String> = data
        .groups
        .iter()
        .filter_map(|r| Some((get_i64(r, "id")?, get_str(r, "name").unwrap_or_default())))
        .collect();

    // Bindings.
    let RuleMapping {
        statuses,
        conditions,
        thresholds,
        note: rules_note,
    } = map_rules(data);
    let mut unbound_tasks = 0;
    for row in data.tasks.iter().filter(|r| tenants.included(r)) {
        let Some(id) = get_i64(row, "id") else {
            continue;
        };
        let Some(group_id) = get_i64(row, "alert_group_id").filter(|g| *g > 0) else {
            unbound_tasks += 1;
            continue;
        };
        let t = tenants.of(row);
        let task_name = get_str(row, "name").unwrap_or_default();
        let job = match data.version {
            DinkyVersion::V06 | DinkyVersion::V07 => get_str(row, "alias")
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| task_name.clone()),
            DinkyVersion::V1 => task_name.clone(),
        }
        .trim()
        .to_owned();
        let mut line = PlanRow {
            kind: "binding",
            dinky_id: id,
            tenant: tenants.code(t),
            dinky_name: task_name,
            name: None,
            action: Action::Skip,
            reason: None,
            channel: None,
            params: None,
            id: None,
            step: None,
        };
        if !get_bool(row, "enabled").unwrap_or(true) {
            line.reason = Some("the task is disabled".to_owned());
            rows.push(line);
            continue;
        }
        let Some(group_name) = source_groups.get(&group_id) else {
            line.reason = Some(format!("alert group {group_id} does not exist in Dinky"));
            rows.push(line);
            continue;
        };
        line.name = Some(format!("{job} → {}", tenants.name(t, group_name)));
        if job.is_empty() {
            line.reason = Some("the task has no name".to_owned());
            rows.push(line);
            continue;
        }
        let group = match (grp.get(&group_id), grp_skipped.get(&group_id)) {
            (Some(g), _) => *g,
            (None, Some(why)) => {
                line.reason = Some(format!("alert group {group_id} is skipped: {why}"));
                rows.push(line);
                continue;
            }
            (None, None) => {
                line.reason = Some(format!("alert group {group_id} belongs to another tenant"));
                rows.push(line);
                continue;
            }
        };
        line.reason.clone_from(&rules_note);
        let k = key("task", row, id);
        let target = recorded(&k, ImportedKind::Binding)
            .and_then(|tid| bindings.iter().find(|b| b.id == tid));
        let same = target.is_some_and(|b| {
            b.input.job == job
                && b.input.cluster.is_none()
                && Some(b.input.group_id) == group.known
                && b.input.statuses == statuses
                && b.input.conditions == conditions
                && b.input.thresholds == thresholds
        });
        if let (true, Some(b)) = (same, target) {
            line.action = Action::Unchanged;
            line.id = Some(b.id);
        } else {
            line.action = if target.is_some() {
                Action::Update
            } else {
                Action::Create
            };
            line.id = target.map(|b| b.id);
            line.step = Some(batch.bindings.len());
            batch.bindings.push(ImportBinding {
                key: k,
                target: target.map(|b| b.id),
                job,
                group: group.reference,
                statuses: statuses.clone(),
                conditions: conditions.clone(),
                thresholds: thresholds.clone(),
            });
        }
        rows.push(line);
    }
    Ok(Plan {
        source: source.to_owned(),
        version: data.version,
        rows,
        batch,
        unbound_tasks,
    })
}
