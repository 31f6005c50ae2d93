//! The steps of [`ConfigStore::apply_import`](crate::ConfigStore::apply_import), each inside
//! the import's one transaction.

use super::super::Conn;
use super::create::{insert_group, insert_instance};
use super::members::replace_members;
use crate::model::{ImportBinding, ImportGroup, ImportInstance, ImportKey, ImportedKind};
use crate::shared::{bad_reference_or, check_no_repeats, db, name_taken_or, to_json};
use crate::{StoreError, StoreResult};

const WHAT: &str = "applying an import";

/// Creates or updates (name, kind, enabled, params; the rate is kept) one imported instance.
pub(super) async fn instance_in(
    conn: &mut Conn,
    step: &ImportInstance,
    now: i64,
) -> StoreResult<i64> {
    let input = &step.input;
    let Some(target) = step.target else {
        return insert_instance(&mut *conn, input, now, WHAT).await;
    };
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE alert_instances SET name = $1, kind = $2, enabled = $3, params = $4, \
         updated_at = $5 WHERE id = $6 RETURNING id",
    )
    .bind(&input.name)
    .bind(&input.kind)
    .bind(input.enabled)
    .bind(to_json(&input.params)?)
    .bind(now)
    .bind(target)
    .fetch_optional(&mut *conn)
    .await
    .map_err(name_taken_or("instance", &input.name, WHAT))?;
    id.ok_or_else(|| StoreError::BadReference {
        field: "import",
        message: format!(
            "instance {target} (to update as `{}`) no longer exists",
            input.name
        ),
    })
}

/// Creates or updates one imported group and replaces its members.
pub(super) async fn group_in(
    conn: &mut Conn,
    step: &ImportGroup,
    members: &[i64],
    now: i64,
) -> StoreResult<i64> {
    check_no_repeats(members)?;
    let id = match step.target {
        // An imported group has no template of its own (Dinky has none).
        None => insert_group(&mut *conn, &step.name, step.enabled, None, now, WHAT).await?,
        Some(target) => sqlx::query_scalar(
            "UPDATE alert_groups SET name = $1, enabled = $2, updated_at = $3 WHERE id = $4 \
             RETURNING id",
        )
        .bind(&step.name)
        .bind(step.enabled)
        .bind(now)
        .bind(target)
        .fetch_optional(&mut *conn)
        .await
        .map_err(name_taken_or("group", &step.name, WHAT))?
        .ok_or_else(|| StoreError::BadReference {
            field: "import",
            message: format!(
                "group {target} (to update as `{}`) no longer exists",
                step.name
            ),
        })?,
    };
    replace_members(conn, id, members, WHAT).await?;
    Ok(id)
}

/// Creates or updates one imported binding (every cluster).
pub(super) async fn binding_in(
    conn: &mut Conn,
    step: &ImportBinding,
    group_id: i64,
    now: i64,
) -> StoreResult<i64> {
    let statuses = to_json(&step.statuses)?;
    let conditions = to_json(&step.conditions)?;
    let thresholds = step.thresholds.as_ref().map(to_json).transpose()?;
    let query = match step.target {
        None => sqlx::query_scalar(
            "INSERT INTO bindings (job, cluster, group_id, statuses, created_at, conditions, \
             thresholds) VALUES ($1, NULL, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&step.job)
        .bind(group_id)
        .bind(statuses)
        .bind(now)
        .bind(conditions)
        .bind(thresholds),
        Some(target) => sqlx::query_scalar(
            "UPDATE bindings SET job = $1, cluster = NULL, group_id = $2, statuses = $3, \
             conditions = $5, thresholds = $6 WHERE id = $4 RETURNING id",
        )
        .bind(&step.job)
        .bind(group_id)
        .bind(statuses)
        .bind(target)
        .bind(conditions)
        .bind(thresholds),
    };
    let id: Option<i64> = query
        .fetch_optional(&mut *conn)
        .await
        .map_err(bad_reference_or(
            "group_id",
            || format!("group {group_id} does not exist"),
            WHAT,
        ))?;
    id.ok_or_else(|| StoreError::BadReference {
        field: "import",
        message: format!(
            "binding {} (job `{}`) no longer exists",
            step.target.unwrap_or_default(),
            step.job
        ),
    })
}

/// Records (or moves) the source of an imported object.
pub(super) async fn record_in(
    conn: &mut Conn,
    key: &ImportKey,
    kind: ImportedKind,
    target_id: i64,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO import_sources \
         (source, tenant, source_table, source_id, kind, target_id, imported_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (source, tenant, source_table, source_id) DO UPDATE SET \
         kind = excluded.kind, target_id = excluded.target_id, imported_at = excluded.imported_at",
    )
    .bind(&key.source)
    .bind(key.tenant)
    .bind(&key.table)
    .bind(key.id)
    .bind(kind.as_str())
    .bind(target_id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db("recording an import source"))?;
    Ok(())
}
