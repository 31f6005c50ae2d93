//! The inserts that create configuration objects, shared by the API's creates
//! ([`ConfigStore`](crate::ConfigStore)) and by imports.

use super::super::Db;
use crate::model::InstanceInput;
use crate::shared::{name_taken_or, to_json};
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
    now: i64,
    doing: &'static str,
) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO alert_groups (name, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(name)
    .bind(enabled)
    .bind(now)
    .fetch_one(executor)
    .await
    .map_err(name_taken_or("group", name, doing))
}
