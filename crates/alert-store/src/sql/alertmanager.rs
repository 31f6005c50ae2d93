//! Alertmanager notifications in: a batch of notifications, their dedup keys and deliveries in
//! a few statements, whatever the batch's size.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::super::{reserve_ids, Conn};
use crate::model::{AmAlertKey, AmInserted, AmItem, AmMessagePlan};
use crate::shared::{count, db, split_fresh, to_json, AM_WHAT};
use crate::{StoreError, StoreResult};

/// Stores Alertmanager notifications and their deliveries on `conn`, inside the caller's write
/// transaction (see [`OutboxStore::insert_alertmanager`](crate::OutboxStore::insert_alertmanager)),
/// in a few statements for the whole batch rather than several per notification: each
/// statement is a round trip (to SQLite's connection thread, or to PostgreSQL), and a storm of
/// notifications was waiting on those hops.
///
/// 1. The ids of the new notifications and deliveries are reserved first (`reserve_ids`:
///    `MAX(id) + 1` onwards under SQLite's write lock, the id sequences on PostgreSQL), so
///    each planned message knows its delivery's id before the dedup keys are written.
/// 2. One `INSERT … ON CONFLICT DO NOTHING RETURNING` adds every (instance, key) of the batch,
///    in order: what comes back is fresh, the rest was delivered before (or earlier in this
///    batch, or by another replica that committed it meanwhile).
/// 3. The messages with fresh alerts are rendered and inserted in one statement; then the
///    notifications, with their counts, in one more.
pub(super) async fn insert_batch(
    conn: &mut Conn,
    items: &[AmItem<'_>],
) -> StoreResult<Vec<AmInserted>> {
    // Every planned message: (item, its alerts with their keys, the delivery id it would get).
    struct Planned<'a> {
        item: usize,
        message: &'a AmMessagePlan,
        keys: Vec<(usize, &'a AmAlertKey)>,
        delivery_id: i64,
    }
    let messages: usize = items.iter().map(|it| it.input.messages.len()).sum();
    let notification_ids = reserve_ids(conn, "am_notifications", items.len()).await?;
    let mut delivery_ids = reserve_ids(conn, "deliveries", messages).await?.into_iter();
    let mut planned = Vec::with_capacity(messages);
    let mut key_rows = Vec::new();
    for (item, it) in items.iter().enumerate() {
        for message in &it.input.messages {
            let delivery_id = delivery_ids
                .next()
                .ok_or_else(|| StoreError::Database(format!("{AM_WHAT}: too few ids")))?;
            let keys: Vec<(usize, &AmAlertKey)> = message
                .alerts
                .iter()
                .filter_map(|&i| it.input.alerts.get(i).map(|key| (i, key)))
                .collect();
            for (_, k) in &keys {
                key_rows.push(json!({
                    "instance_id": message.target.instance_id,
                    "fingerprint": k.fingerprint,
                    "status": k.status,
                    "starts_at": k.starts_at,
                    "delivery_id": delivery_id,
                    "notification_id": notification_ids[item],
                }));
            }
            planned.push(Planned {
                item,
                message,
                keys,
                delivery_id,
            });
        }
    }
    let added: Vec<(i64, String, String, String)> = if key_rows.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(concat!(
            "INSERT INTO am_sent (instance_id, fingerprint, status, starts_at, delivery_id, \
             notification_id) \
             SELECT k.instance_id, k.fingerprint, k.status, k.starts_at, k.delivery_id, \
             k.notification_id FROM ",
            json_rows!("$1"; instance_id bigint, fingerprint text, status text,
                starts_at text, delivery_id bigint, notification_id bigint),
            " AS k WHERE TRUE ORDER BY k.ord \
             ON CONFLICT DO NOTHING RETURNING delivery_id, fingerprint, status, starts_at"
        ))
        .bind(to_json(&key_rows)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db(AM_WHAT))?
    };
    let mut added_by_delivery: HashMap<i64, Vec<(String, String, String)>> = HashMap::new();
    for (delivery_id, fingerprint, status, starts_at) in added {
        added_by_delivery
            .entry(delivery_id)
            .or_default()
            .push((fingerprint, status, starts_at));
    }
    let mut counts = vec![(0usize, 0usize); items.len()]; // (deliveries, duplicates)
    let mut delivery_rows = Vec::new();
    for p in &planned {
        let it = &items[p.item];
        let (fresh, dup) = split_fresh(
            &p.keys,
            added_by_delivery.remove(&p.delivery_id).unwrap_or_default(),
        );
        counts[p.item].1 += dup;
        if fresh.is_empty() {
            continue;
        }
        let payload = (it.render)(&fresh)
            .map_err(|e| StoreError::Database(format!("rendering an Alertmanager message: {e}")))?;
        counts[p.item].0 += 1;
        delivery_rows.push(json!({
            "id": p.delivery_id,
            "instance_id": p.message.target.instance_id,
            "group_id": p.message.target.group_id,
            "now": it.times.now,
            "deadline_at": it.times.deadline_at,
            "payload": to_json(&payload)?,
            "notification_id": notification_ids[p.item],
        }));
    }
    if !delivery_rows.is_empty() {
        let expected = delivery_rows.len() as u64;
        let inserted = sqlx::query(concat!(
            "INSERT INTO deliveries (id, event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, payload, created_at, \
             am_notification_id) \
             SELECT d.id, NULL, i.id, i.name, i.kind, d.group_id, 'pending', 0, d.now, \
             d.deadline_at, d.payload, d.now, d.notification_id FROM ",
            json_rows!("$1"; id bigint, instance_id bigint, group_id bigint, now bigint,
                deadline_at bigint, payload text, notification_id bigint),
            " AS d JOIN alert_instances AS i ON i.id = d.instance_id ORDER BY d.ord"
        ))
        .bind(to_json(&delivery_rows)?)
        .execute(&mut *conn)
        .await
        .map_err(db(AM_WHAT))?
        .rows_affected();
        if inserted != expected {
            // Rolled back by the caller (the transaction is dropped).
            let ids: Vec<i64> = planned
                .iter()
                .map(|p| p.message.target.instance_id)
                .collect();
            return Err(super::members::missing_target(conn, &ids).await);
        }
    }
    let notification_rows: Vec<Value> = items
        .iter()
        .zip(&counts)
        .zip(&notification_ids)
        .map(|((it, (deliveries, duplicates)), id)| {
            let n = it.input;
            Ok(json!({
                "id": id,
                "receiver": n.receiver,
                "status": n.status,
                "group_key": n.group_key,
                "alerts": count(n.alerts.len()),
                "unrouted": count(n.unrouted),
                "silenced": count(n.silenced),
                "duplicates": count(*duplicates),
                "deliveries": count(*deliveries),
                "payload": to_json(&n.payload)?,
                "received_at": it.times.now,
            }))
        })
        .collect::<StoreResult<_>>()?;
    sqlx::query(concat!(
        "INSERT INTO am_notifications (id, receiver, status, group_key, alerts, unrouted, \
         duplicates, deliveries, payload, received_at, silenced) \
         SELECT n.id, n.receiver, n.status, n.group_key, n.alerts, n.unrouted, n.duplicates, \
         n.deliveries, n.payload, n.received_at, n.silenced FROM ",
        json_rows!("$1"; id bigint, receiver text, status text, group_key text, alerts bigint,
            unrouted bigint, duplicates bigint, deliveries bigint, payload text,
            received_at bigint, silenced bigint),
        " AS n ORDER BY n.ord"
    ))
    .bind(to_json(&notification_rows)?)
    .execute(&mut *conn)
    .await
    .map_err(db(AM_WHAT))?;
    Ok(counts
        .into_iter()
        .zip(notification_ids)
        .map(|((deliveries, duplicates), notification_id)| AmInserted {
            notification_id,
            deliveries,
            duplicates,
        })
        .collect())
}
