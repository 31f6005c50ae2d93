//! [`HistoryStore::stats`](crate::HistoryStore::stats): delivery statistics of a window, in a
//! few aggregate statements that read indexes rather than rows.
//!
//! Indexes (migrations `sqlite/0012_stats_index.sql`, `postgres/0009_stats_index.sql`):
//! `deliveries_hourly (created_at / 3600000, state, instance_id, created_at)` covers the counts
//! by hour and state (in its order: no sort) and the failed deliveries per instance;
//! `attempts_errors (finished_at, delivery_id, outcome) WHERE outcome <> 'sent'` holds only
//! failed attempts, so the errors of a window are read without the (many more) successful
//! ones; `events_received (received_at)` counts the events.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use super::super::{Conn, DbRow, EngineStore};
use super::{col, opt_json_col};
use crate::model::{DeliveryStats, HourCount, InstanceTrouble, HOUR_MS};
use crate::shared::db;
use crate::StoreResult;

const WHAT: &str = "computing delivery statistics";

/// A count as returned by `COUNT(*)`/`SUM(...)`.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl EngineStore {
    /// See [`HistoryStore::stats`](crate::HistoryStore::stats): one read transaction, so the
    /// parts agree with each other.
    pub(super) async fn delivery_stats(
        &self,
        since: i64,
        until: i64,
        now: i64,
    ) -> StoreResult<DeliveryStats> {
        let mut tx = self.read_tx(WHAT).await?;
        let (by_state, hourly) = by_hour(&mut tx, since, until).await?;
        let events: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE received_at >= $1 AND received_at < $2",
        )
        .bind(since)
        .bind(until)
        .fetch_one(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        let troubled = troubled(&mut tx, since, until, now).await?;
        tx.commit().await.map_err(db(WHAT))?;
        Ok(DeliveryStats {
            by_state,
            hourly,
            events: count(events),
            troubled,
        })
    }
}

/// Deliveries by state, in all and per hour of creation.
async fn by_hour(
    conn: &mut Conn,
    since: i64,
    until: i64,
) -> StoreResult<(BTreeMap<String, u64>, Vec<HourCount>)> {
    // Grouped by the indexed expression, in index order: one pass, no sort. Integer division
    // truncates on both engines (times are positive); 3600000 = HOUR_MS.
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(concat!(
        "SELECT created_at / 3600000 AS hour, state, COUNT(*) AS n FROM deliveries",
        indexed_by!("deliveries_hourly"),
        " WHERE created_at / 3600000 >= $3 AND created_at / 3600000 <= $4 \
         AND created_at >= $1 AND created_at < $2 \
         GROUP BY created_at / 3600000, state ORDER BY hour"
    ))
    .bind(since)
    .bind(until)
    .bind(since.div_euclid(HOUR_MS))
    .bind((until - 1).div_euclid(HOUR_MS))
    .fetch_all(conn)
    .await
    .map_err(db(WHAT))?;
    let mut by_state = BTreeMap::new();
    let mut hourly: Vec<HourCount> = Vec::new();
    for (hour, state, n) in rows {
        let hour = hour * HOUR_MS;
        *by_state.entry(state.clone()).or_insert(0) += count(n);
        match hourly.last_mut() {
            Some(last) if last.hour == hour => {
                last.by_state.insert(state, count(n));
            }
            _ => hourly.push(HourCount {
                hour,
                by_state: BTreeMap::from([(state, count(n))]),
            }),
        }
    }
    Ok((by_state, hourly))
}

/// Instances with failed attempts or failed deliveries in the window, or paused at `now`.
async fn troubled(
    conn: &mut Conn,
    since: i64,
    until: i64,
    now: i64,
) -> StoreResult<Vec<InstanceTrouble>> {
    let mut out: BTreeMap<i64, InstanceTrouble> = BTreeMap::new();
    // Failed attempts per instance, with the latest one's error. Deleted instances are left out.
    let rows = sqlx::query(
        "SELECT t.instance_id AS instance_id, i.name AS name, i.kind AS kind, \
         i.enabled AS enabled, t.errors AS errors, t.throttles AS throttles, \
         t.first_at AS first_at, a.finished_at AS last_at, a.error AS last_error \
         FROM (SELECT d.instance_id AS instance_id, \
               SUM(CASE WHEN a.outcome = 'throttle' THEN 0 ELSE 1 END) AS errors, \
               SUM(CASE WHEN a.outcome = 'throttle' THEN 1 ELSE 0 END) AS throttles, \
               MIN(a.finished_at) AS first_at, MAX(a.id) AS last_id \
               FROM attempts AS a JOIN deliveries AS d ON d.id = a.delivery_id \
               WHERE a.finished_at >= $1 AND a.finished_at < $2 AND a.outcome <> 'sent' \
               GROUP BY d.instance_id) AS t \
         JOIN attempts AS a ON a.id = t.last_id \
         JOIN alert_instances AS i ON i.id = t.instance_id",
    )
    .bind(since)
    .bind(until)
    .fetch_all(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    for row in &rows {
        let t = entry(&mut out, row)?;
        t.errors = count(col(row, "errors")?);
        t.throttles = count(col(row, "throttles")?);
        t.first_error_at = col(row, "first_at")?;
        t.last_error_at = col(row, "last_at")?;
        t.last_error = opt_json_col(row, "last_error")?;
    }
    // Deliveries of the window given up, per instance: the window's entries of the hourly
    // index, the failed ones sorted by instance.
    let failed = sqlx::query(concat!(
        "SELECT f.instance_id AS instance_id, f.n AS n, i.name AS name, i.kind AS kind, \
         i.enabled AS enabled \
         FROM (SELECT instance_id, COUNT(*) AS n FROM deliveries",
        indexed_by!("deliveries_hourly"),
        " WHERE created_at / 3600000 >= $3 AND created_at / 3600000 <= $4 \
               AND created_at >= $1 AND created_at < $2 AND state = 'failed' \
               GROUP BY instance_id) AS f \
         JOIN alert_instances AS i ON i.id = f.instance_id"
    ))
    .bind(since)
    .bind(until)
    .bind(since.div_euclid(HOUR_MS))
    .bind((until - 1).div_euclid(HOUR_MS))
    .fetch_all(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    for row in &failed {
        entry(&mut out, row)?.failed = count(col(row, "n")?);
    }
    // Pauses a channel imposed that are still in force (shared by every replica).
    let paused = sqlx::query(
        "SELECT r.instance_id AS instance_id, r.blocked_until AS blocked_until, \
         i.name AS name, i.kind AS kind, i.enabled AS enabled \
         FROM rate_budgets AS r JOIN alert_instances AS i ON i.id = r.instance_id \
         WHERE r.blocked_until > $1",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    for row in &paused {
        entry(&mut out, row)?.paused_until = Some(col(row, "blocked_until")?);
    }
    Ok(out.into_values().collect())
}

/// The entry of the row's instance (`instance_id`, `name`, `kind`, `enabled`).
fn entry<'a>(
    out: &'a mut BTreeMap<i64, InstanceTrouble>,
    row: &DbRow,
) -> StoreResult<&'a mut InstanceTrouble> {
    let id: i64 = col(row, "instance_id")?;
    Ok(match out.entry(id) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(InstanceTrouble::new(
            id,
            col(row, "name")?,
            col(row, "kind")?,
            col(row, "enabled")?,
        )),
    })
}
