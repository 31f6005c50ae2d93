//! The statements that create and change configuration objects, shared by the API's writes
//! ([`ConfigStore`](crate::ConfigStore)), imports and provisioning.

use super::super::DbRow;
use super::super::{Conn, Db};
use crate::model::{ClusterInput, GroupTemplate, InstanceInput};
use crate::shared::{db, name_taken_or, to_json};
use crate::StoreResult;

/// Inserts an alert instance; its id. `NameTaken` when the name is used.
pub(super) async fn insert_instance<'e>(
    executor: impl sqlx::Executor<'e, Database = Db>,
    input: &InstanceInput,
    now: i64,
    doing: &'static str,
) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO alert_instances \
         (name, kind, enabled, params, rate_per_minute, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(&input.name)
    .bind(&input.kind)
    .bind(input.enabled)
    .bind(to_json(&input.params)?)
    .bind(input.rate_per_minute.map(i64::from))
    .bind(now)
    .fetch_one(executor)
    .await
    .map_err(name_taken_or("instance", &input.name, doing))
}

/// Inserts an alert group, without members; its id. `NameTaken` when the name is used.
pub(super) async fn insert_group<'e>(
    executor: impl sqlx::Executor<'e, Database = Db>,
    name: &str,
    enabled: bool,
    template: Option<&GroupTemplate>,
    now: i64,
    doing: &'static str,
) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO alert_groups (name, enabled, template, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(name)
    .bind(enabled)
    .bind(template_json(template)?)
    .bind(now)
    .fetch_one(executor)
    .await
    .map_err(name_taken_or("group", name, doing))
}

/// Which rows an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rows {
    /// Any row (the API; it refuses provisioned ones before).
    Any,
    /// Only a provisioned row (a provisioning run).
    Provisioned,
}

/// Updates an alert instance (name, kind, enabled, params, rate); its `(created_at,
/// provisioned)`, `None` when no such row (of `rows`). `NameTaken` when the name is used.
pub(super) async fn update_instance<'e>(
    executor: impl sqlx::Executor<'e, Database = Db>,
    id: i64,
    input: &InstanceInput,
    rows: Rows,
    now: i64,
    doing: &'static str,
) -> StoreResult<Option<(i64, bool)>> {
    sqlx::query_as(
        "UPDATE alert_instances SET name = $1, kind = $2, enabled = $3, params = $4, \
         rate_per_minute = $5, updated_at = $6 WHERE id = $7 AND (provisioned OR NOT $8) \
         RETURNING created_at, provisioned",
    )
    .bind(&input.name)
    .bind(&input.kind)
    .bind(input.enabled)
    .bind(to_json(&input.params)?)
    .bind(input.rate_per_minute.map(i64::from))
    .bind(now)
    .bind(id)
    .bind(rows == Rows::Provisioned)
    .fetch_optional(executor)
    .await
    .map_err(name_taken_or("instance", &input.name, doing))
}

/// The names of the groups that hold an instance, in group order.
pub(super) async fn groups_holding(
    conn: &mut Conn,
    instance_id: i64,
    doing: &'static str,
) -> StoreResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT g.name FROM group_members AS m JOIN alert_groups AS g ON g.id = m.group_id \
         WHERE m.instance_id = $1 ORDER BY g.id",
    )
    .bind(instance_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db(doing))
}

/// A group's template as stored: JSON text, NULL for none (or one that replaces nothing).
pub(super) fn template_json(template: Option<&GroupTemplate>) -> StoreResult<Option<String>> {
    template.filter(|t| !t.is_empty()).map(to_json).transpose()
}

/// Inserts a Flink cluster (`provisioned` as given); its row. `NameTaken` when the name is used.
pub(super) async fn insert_cluster<'e>(
    executor: impl sqlx::Executor<'e, Database = Db>,
    input: &ClusterInput,
    provisioned: bool,
    now: i64,
    doing: &'static str,
) -> StoreResult<DbRow> {
    sqlx::query(
        "INSERT INTO clusters (name, url, enabled, poll_interval_ms, created_at, updated_at, \
         provisioned) VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING *",
    )
    .bind(&input.name)
    .bind(&input.url)
    .bind(input.enabled)
    .bind(poll_interval(input))
    .bind(now)
    .bind(provisioned)
    .fetch_one(executor)
    .await
    .map_err(name_taken_or("cluster", &input.name, doing))
}

/// Updates a Flink cluster (name, url, enabled, poll interval); its row, `None` when no such
/// row (of `rows`). `NameTaken` when the name is used.
pub(super) async fn update_cluster<'e>(
    executor: impl sqlx::Executor<'e, Database = Db>,
    id: i64,
    input: &ClusterInput,
    rows: Rows,
    now: i64,
    doing: &'static str,
) -> StoreResult<Option<DbRow>> {
    sqlx::query(
        "UPDATE clusters SET name = $2, url = $3, enabled = $4, poll_interval_ms = $5, \
         updated_at = $6 WHERE id = $1 AND (provisioned OR NOT $7) RETURNING *",
    )
    .bind(id)
    .bind(&input.name)
    .bind(&input.url)
    .bind(input.enabled)
    .bind(poll_interval(input))
    .bind(now)
    .bind(rows == Rows::Provisioned)
    .fetch_optional(executor)
    .await
    .map_err(name_taken_or("cluster", &input.name, doing))
}

/// A cluster's poll interval as stored.
fn poll_interval(input: &ClusterInput) -> i64 {
    i64::try_from(input.poll_interval_ms).unwrap_or(i64::MAX)
}
