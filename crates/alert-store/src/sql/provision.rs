//! [`ConfigStore::apply_provision`](crate::ConfigStore::apply_provision): a provisioning plan
//! in one transaction. Updates and deletes are restricted to provisioned rows (`AND
//! provisioned`), so that a row made through the API is never changed by a file.

use super::super::Conn;
use super::create::{
    groups_holding, insert_cluster, insert_group, insert_instance, template_json, update_cluster,
    update_instance, Rows,
};
use super::members::replace_members;
use crate::model::{Change, ClusterInput, InstanceInput, ProvisionBinding, ProvisionGroup};
use crate::shared::{bad_reference_or, db, name_taken_or, to_json};
use crate::{StoreError, StoreResult};

const WHAT: &str = "applying a provisioning file";

/// The error for an update or delete whose provisioned row is gone (changed since the plan).
fn vanished(what: &str, id: i64) -> StoreError {
    StoreError::BadReference {
        field: "provision",
        message: format!(
            "provisioned {what} {id} was changed or removed while the file was applied; apply it again"
        ),
    }
}

/// Marks a created row provisioned (`table` is one of ours, never input).
async fn mark(conn: &mut Conn, table: &'static str, id: i64) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE {table} SET provisioned = TRUE WHERE id = $1"
    ))
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    Ok(())
}

/// Deletes one provisioned row of `table`.
async fn delete(conn: &mut Conn, table: &'static str, what: &str, id: i64) -> StoreResult<()> {
    let done = sqlx::query(&format!(
        "DELETE FROM {table} WHERE id = $1 AND provisioned"
    ))
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    if done.rows_affected() == 0 {
        return Err(vanished(what, id));
    }
    Ok(())
}

/// Fails unless row `id` of `table` exists and is provisioned.
async fn ensure_provisioned(
    conn: &mut Conn,
    table: &'static str,
    what: &str,
    id: i64,
) -> StoreResult<()> {
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT id FROM {table} WHERE id = $1 AND provisioned"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    match found {
        Some(_) => Ok(()),
        None => Err(vanished(what, id)),
    }
}

/// The first deletes of a plan, before its creates and updates: bindings, then groups (their
/// members go with them; refused while a binding made through the API uses one).
pub(super) async fn delete_bindings_and_groups(
    conn: &mut Conn,
    bindings: &[Change<ProvisionBinding>],
    groups: &[Change<ProvisionGroup>],
) -> StoreResult<()> {
    for id in deleted(bindings) {
        delete(conn, "bindings", "binding", id).await?;
    }
    for id in deleted(groups) {
        ensure_provisioned(conn, "alert_groups", "group", id).await?;
        let used: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM bindings WHERE group_id = $1 AND NOT provisioned ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db(WHAT))?;
        if !used.is_empty() {
            return Err(StoreError::InUse(format!(
                "group {id} is no longer in the file, but bindings made through the API use it \
                 (ids {used:?}); delete them or keep the group in the file"
            )));
        }
        delete(conn, "alert_groups", "group", id).await?;
    }
    Ok(())
}

/// The last deletes of a plan, after its group updates (which may have dropped the instances
/// from their members): instances (refused while a group still holds one), then clusters.
pub(super) async fn delete_instances_and_clusters(
    conn: &mut Conn,
    instances: &[Change<InstanceInput>],
    clusters: &[Change<ClusterInput>],
) -> StoreResult<()> {
    for id in deleted(instances) {
        ensure_provisioned(conn, "alert_instances", "instance", id).await?;
        let groups = groups_holding(conn, id, WHAT).await?;
        if !groups.is_empty() {
            return Err(StoreError::InUse(format!(
                "instance {id} is no longer in the file, but groups still hold it: {}; remove \
                 it from them or keep it in the file",
                groups.join(", ")
            )));
        }
        delete(conn, "alert_instances", "instance", id).await?;
    }
    for id in deleted(clusters) {
        delete(conn, "clusters", "cluster", id).await?;
    }
    Ok(())
}

fn deleted<T>(changes: &[Change<T>]) -> impl Iterator<Item = i64> + '_ {
    changes.iter().filter_map(|c| match c {
        Change::Delete(id) => Some(*id),
        _ => None,
    })
}

/// Creates or updates one provisioned cluster.
pub(super) async fn cluster(
    conn: &mut Conn,
    change: &Change<ClusterInput>,
    now: i64,
) -> StoreResult<()> {
    match change {
        Change::Create(c) => {
            insert_cluster(&mut *conn, c, true, now, WHAT).await?;
        }
        Change::Update { id, to: c } => {
            if update_cluster(&mut *conn, *id, c, Rows::Provisioned, now, WHAT)
                .await?
                .is_none()
            {
                return Err(vanished("cluster", *id));
            }
        }
        Change::Delete(_) => {}
    }
    Ok(())
}

/// Creates or updates one provisioned instance.
pub(super) async fn instance(
    conn: &mut Conn,
    change: &Change<InstanceInput>,
    now: i64,
) -> StoreResult<()> {
    match change {
        Change::Create(input) => {
            let id = insert_instance(&mut *conn, input, now, WHAT).await?;
            mark(conn, "alert_instances", id).await?;
        }
        Change::Update { id, to: input } => {
            let row = update_instance(&mut *conn, *id, input, Rows::Provisioned, now, WHAT).await?;
            if row.is_none() {
                return Err(vanished("instance", *id));
            }
        }
        Change::Delete(_) => {}
    }
    Ok(())
}

/// The id of the instance or group named `name` (`table` is one of ours).
async fn id_by_name(
    conn: &mut Conn,
    table: &'static str,
    field: &'static str,
    name: &str,
) -> StoreResult<i64> {
    let id: Option<i64> = sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db(WHAT))?;
    id.ok_or_else(|| StoreError::BadReference {
        field,
        message: format!("`{name}` does not exist"),
    })
}

/// Creates or updates one provisioned group, members by name.
pub(super) async fn group(
    conn: &mut Conn,
    change: &Change<ProvisionGroup>,
    now: i64,
) -> StoreResult<()> {
    let (id, g) = match change {
        Change::Create(g) => {
            let id = insert_group(
                &mut *conn,
                &g.name,
                g.enabled,
                g.template.as_ref(),
                now,
                WHAT,
            )
            .await?;
            mark(conn, "alert_groups", id).await?;
            (id, g)
        }
        Change::Update { id, to: g } => {
            let done = sqlx::query(
                "UPDATE alert_groups SET name = $1, enabled = $2, updated_at = $3, template = $5 \
                 WHERE id = $4 AND provisioned",
            )
            .bind(&g.name)
            .bind(g.enabled)
            .bind(now)
            .bind(id)
            .bind(template_json(g.template.as_ref())?)
            .execute(&mut *conn)
            .await
            .map_err(name_taken_or("group", &g.name, WHAT))?;
            if done.rows_affected() == 0 {
                return Err(vanished("group", *id));
            }
            (*id, g)
        }
        Change::Delete(_) => return Ok(()),
    };
    let mut members = Vec::with_capacity(g.members.len());
    for name in &g.members {
        members.push(id_by_name(conn, "alert_instances", "instances", name).await?);
    }
    replace_members(conn, id, &members, WHAT).await
}

/// Creates or updates one provisioned job binding, its group by name.
pub(super) async fn binding(
    conn: &mut Conn,
    change: &Change<ProvisionBinding>,
    now: i64,
) -> StoreResult<()> {
    let (target, b) = match change {
        Change::Create(b) => (None, b),
        Change::Update { id, to } => (Some(*id), to),
        Change::Delete(_) => return Ok(()),
    };
    let group_id = id_by_name(conn, "alert_groups", "group", &b.group).await?;
    let statuses = to_json(&b.statuses)?;
    let conditions = to_json(&b.conditions)?;
    let thresholds = b.thresholds.as_ref().map(to_json).transpose()?;
    let query = match target {
        None => sqlx::query(
            "INSERT INTO bindings (job, cluster, group_id, statuses, created_at, provisioned, \
             conditions, thresholds) VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7)",
        )
        .bind(&b.job)
        .bind(&b.cluster)
        .bind(group_id)
        .bind(statuses)
        .bind(now)
        .bind(conditions)
        .bind(thresholds),
        Some(id) => sqlx::query(
            "UPDATE bindings SET job = $1, cluster = $2, group_id = $3, statuses = $4, \
             conditions = $6, thresholds = $7 WHERE id = $5 AND provisioned",
        )
        .bind(&b.job)
        .bind(&b.cluster)
        .bind(group_id)
        .bind(statuses)
        .bind(id)
        .bind(conditions)
        .bind(thresholds),
    };
    let done = query.execute(&mut *conn).await.map_err(bad_reference_or(
        "group",
        || format!("group `{}` does not exist", b.group),
        WHAT,
    ))?;
    match target {
        Some(id) if done.rows_affected() == 0 => Err(vanished("binding", id)),
        _ => Ok(()),
    }
}
