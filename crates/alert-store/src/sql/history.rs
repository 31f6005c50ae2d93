//! [`HistoryStore`]: what was stored and sent.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::super::{Db, EngineStore};
use super::{
    col, delivery_from_row, event_from_row, json_col, opt_json_col, opt_status_col, u32_col,
};
use crate::model::{
    AmNotification, Attempt, Delivery, DeliveryState, DeliveryStats, HistoryFilter, HistoryRow,
    StoredEvent,
};
use crate::shared::{db, DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT};
use crate::{HistoryStore, StoreResult};

/// A listing's page size: the default for 0, at most [`MAX_HISTORY_LIMIT`].
fn page(limit: u32) -> i64 {
    i64::from(match limit {
        0 => DEFAULT_HISTORY_LIMIT,
        n => n.min(MAX_HISTORY_LIMIT),
    })
}

#[async_trait]
impl HistoryStore for EngineStore {
    async fn get_event(&self, id: i64) -> StoreResult<Option<(StoredEvent, Vec<Delivery>)>> {
        const WHAT: &str = "reading an event";
        let mut tx = self.read_tx(WHAT).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            event_cols!(),
            " FROM events AS e WHERE e.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        let Some(event) = row.as_ref().map(event_from_row).transpose()?.flatten() else {
            return Ok(None);
        };
        let deliveries = sqlx::query(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries AS d WHERE d.event_id = $1 ORDER BY d.id"
        ))
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(WHAT))?
        .iter()
        .map(delivery_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await.map_err(db(WHAT))?;
        Ok(Some((event, deliveries)))
    }

    async fn attempts(&self, delivery_id: i64) -> StoreResult<Vec<Attempt>> {
        sqlx::query(
            "SELECT number, started_at, finished_at, outcome, error, warnings FROM attempts \
             WHERE delivery_id = $1 ORDER BY number",
        )
        .bind(delivery_id)
        .fetch_all(self.reader())
        .await
        .map_err(db("reading attempts"))?
        .iter()
        .map(|row| {
            Ok(Attempt {
                number: u32_col(row, "number")?,
                started_at: col(row, "started_at")?,
                finished_at: col(row, "finished_at")?,
                outcome: col(row, "outcome")?,
                error: opt_json_col(row, "error")?,
                warnings: json_col(row, "warnings")?,
            })
        })
        .collect()
    }

    async fn pending_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
            .fetch_one(self.reader())
            .await
            .map_err(db("counting pending deliveries"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn history(&self, filter: &HistoryFilter) -> StoreResult<Vec<HistoryRow>> {
        // Only the filters in use appear in the SQL, so the planner can pick the matching index.
        let mut qb = QueryBuilder::<Db>::new(concat!(
            "SELECT ",
            delivery_cols!(),
            ", COALESCE(i.name, d.instance_name) AS instance_name, \
             COALESCE(i.kind, d.instance_kind) AS kind, \
             e.job_id AS job_id, e.job_name AS job_name, e.cluster AS cluster, \
             e.status AS status, \
             e.previous_status AS previous_status \
             FROM deliveries AS d LEFT JOIN events AS e ON e.id = d.event_id \
             LEFT JOIN alert_instances AS i ON i.id = d.instance_id WHERE TRUE"
        ));
        if let Some(job_id) = &filter.job_id {
            qb.push(" AND e.job_id = ").push_bind(job_id.clone());
        }
        if let Some(instance_id) = filter.instance_id {
            qb.push(" AND d.instance_id = ").push_bind(instance_id);
        }
        if let Some(group_id) = filter.group_id {
            qb.push(" AND d.group_id = ").push_bind(group_id);
        }
        if let Some(state) = filter.state {
            qb.push(" AND d.state = ").push_bind(state.as_str());
            if state != DeliveryState::Sent {
                // Implies the predicate of the partial index `deliveries_state`, which a
                // bound value does not prove to SQLite's planner.
                qb.push(" AND d.state <> 'sent'");
            }
        }
        if let Some(silence_id) = filter.silence_id {
            qb.push(" AND d.silence_id = ").push_bind(silence_id);
        }
        if let Some(before) = filter.before {
            qb.push(" AND d.id < ").push_bind(before);
        }
        qb.push(" ORDER BY d.id DESC LIMIT ")
            .push_bind(page(filter.limit));
        qb.build()
            .fetch_all(self.reader())
            .await
            .map_err(db("reading history"))?
            .iter()
            .map(|row| {
                Ok(HistoryRow {
                    delivery: delivery_from_row(row)?,
                    job_name: col(row, "job_name")?,
                    job_id: col(row, "job_id")?,
                    cluster: col(row, "cluster")?,
                    previous_status: opt_status_col(row, "previous_status")?,
                    status: opt_status_col(row, "status")?,
                    instance_name: col(row, "instance_name")?,
                    kind: col(row, "kind")?,
                })
            })
            .collect()
    }

    async fn stats(&self, since: i64, until: i64, now: i64) -> StoreResult<DeliveryStats> {
        self.delivery_stats(since, until, now).await
    }

    async fn list_alertmanager(
        &self,
        unrouted_only: bool,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AmNotification>> {
        let mut qb = QueryBuilder::<Db>::new(concat!(
            "SELECT n.id AS id, n.receiver AS receiver, n.status AS status, \
             n.group_key AS group_key, n.alerts AS alerts, n.unrouted AS unrouted, \
             n.silenced AS silenced, \
             n.duplicates AS duplicates, n.deliveries AS deliveries, n.payload AS payload, \
             n.received_at AS received_at, ",
            json_id_array!("d.id", "deliveries AS d WHERE d.am_notification_id = n.id"),
            " AS delivery_ids FROM am_notifications AS n WHERE TRUE"
        ));
        if unrouted_only {
            qb.push(" AND n.unrouted > 0");
        }
        if let Some(before) = before {
            qb.push(" AND n.id < ").push_bind(before);
        }
        qb.push(" ORDER BY n.id DESC LIMIT ").push_bind(page(limit));
        qb.build()
            .fetch_all(self.reader())
            .await
            .map_err(db("listing Alertmanager notifications"))?
            .iter()
            .map(|row| {
                Ok(AmNotification {
                    id: col(row, "id")?,
                    receiver: col(row, "receiver")?,
                    status: col(row, "status")?,
                    group_key: col(row, "group_key")?,
                    alerts: u32_col(row, "alerts")?,
                    unrouted: u32_col(row, "unrouted")?,
                    silenced: u32_col(row, "silenced")?,
                    duplicates: u32_col(row, "duplicates")?,
                    deliveries: u32_col(row, "deliveries")?,
                    delivery_ids: json_col(row, "delivery_ids")?,
                    payload: json_col(row, "payload")?,
                    received_at: col(row, "received_at")?,
                })
            })
            .collect()
    }
}
