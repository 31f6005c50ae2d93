//! Which instances a list names: the members of a group, the targets of deliveries.

use super::super::Conn;
use crate::shared::{bad_reference_or, db, to_json};
use crate::{StoreError, StoreResult};

/// Fails with `BadReference` for the first of `ids` that is no instance.
pub(super) async fn check_instances_exist(
    conn: &mut super::super::Conn,
    ids: &[i64],
) -> StoreResult<()> {
    let missing: Option<i64> = sqlx::query_scalar(concat!(
        "SELECT t.id FROM ",
        id_list!("$1"),
        " AS t LEFT JOIN alert_instances AS i ON i.id = t.id \
         WHERE i.id IS NULL ORDER BY t.ord LIMIT 1"
    ))
    .bind(to_json(ids)?)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("checking group members"))?;
    match missing {
        Some(id) => Err(StoreError::BadReference {
            field: "instance_ids",
            message: format!("instance {id} does not exist"),
        }),
        None => Ok(()),
    }
}

/// Replaces the members of a group, in the given order, after [`check_instances_exist`]. An
/// instance deleted by another replica since the check is a `BadReference` too (the foreign
/// key catches it).
pub(super) async fn replace_members(
    conn: &mut super::super::Conn,
    group_id: i64,
    ids: &[i64],
    doing: &'static str,
) -> StoreResult<()> {
    check_instances_exist(conn, ids).await?;
    sqlx::query("DELETE FROM group_members WHERE group_id = $1")
        .bind(group_id)
        .execute(&mut *conn)
        .await
        .map_err(db(doing))?;
    sqlx::query(concat!(
        "INSERT INTO group_members (group_id, instance_id, position) SELECT $1, t.id, t.ord FROM ",
        id_list!("$2"),
        " AS t"
    ))
    .bind(group_id)
    .bind(to_json(ids)?)
    .execute(&mut *conn)
    .await
    .map_err(bad_reference_or(
        "instance_ids",
        || "an instance does not exist".to_owned(),
        "storing group members",
    ))?;
    Ok(())
}

/// The members of one group, in order.
pub(super) async fn group_members(
    conn: &mut super::super::Conn,
    group_id: i64,
) -> StoreResult<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT instance_id FROM group_members WHERE group_id = $1 ORDER BY position",
    )
    .bind(group_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("reading group members"))
}

/// The error for targets of which an instance does not exist (a delivery insert joined with
/// `alert_instances` created fewer rows than asked): `BadReference` on `targets`, naming the
/// first missing instance of `ids`.
pub(super) async fn missing_target(conn: &mut Conn, ids: &[i64]) -> StoreError {
    match check_instances_exist(conn, ids).await {
        Err(StoreError::BadReference { message, .. }) => StoreError::BadReference {
            field: "targets",
            message,
        },
        Err(other) => other,
        Ok(()) => StoreError::BadReference {
            field: "targets",
            message: "an instance does not exist".to_owned(),
        },
    }
}
