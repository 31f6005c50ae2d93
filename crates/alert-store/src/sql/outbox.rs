//! [`OutboxStore`]: events and notifications in, deliveries claimed, attempted, folded or put
//! back.

use std::collections::HashSet;

use alert_core::JobEvent;
use async_trait::async_trait;
use serde_json::Value;

use super::super::{lock_event_keys, EngineStore};
use super::alertmanager::insert_batch;
use super::intake::{insert_events_in, save_watcher_state};
use crate::model::{
    AmInserted, AmItem, AmNotificationInput, AmRender, AttemptRecord, ClaimedDelivery, DigestInput,
    EventItem, EventTimes, InsertedEvent, IntakeBatch, RoutedEvent, Target, WatcherCheckpoint,
};
use crate::shared::{db, from_json, outcome_of, rounds, to_json, AM_WHAT};
use crate::{OutboxStore, StoreError, StoreResult};

/// Records of one round become attempts, numbered after their delivery's count so far, in
/// delivery id order; `$lock` locks the delivery rows read (see `lock_rows!`).
macro_rules! insert_attempts {
    ($($lock:tt)*) => {
        concat!(
            "INSERT INTO attempts \
             (delivery_id, number, started_at, finished_at, outcome, error, warnings) \
             SELECT d.id, d.attempts + 1, r.started_at, r.finished_at, r.outcome, r.error, \
             r.warnings FROM ",
            json_tuples!("$1"; 0 delivery_id bigint, 1 started_at bigint, 2 finished_at bigint,
                5 outcome text, 6 error text, 7 warnings text),
            " AS r JOIN deliveries AS d ON d.id = r.delivery_id ORDER BY d.id",
            $($lock)*
        )
    };
}

/// One attempt record as the JSON array `record_attempts` binds (serialized straight to text,
/// without a `Value` tree per record): delivery id, started at, finished at, state, next
/// attempt at, outcome, error, warnings.
#[derive(serde::Serialize)]
struct AttemptRow<'a>(
    i64,
    i64,
    i64,
    &'a str,
    Option<i64>,
    String,
    Option<String>,
    String,
);

impl EngineStore {
    /// Events with their deliveries and watchers' states in one transaction (see
    /// [`OutboxStore::store_intake`]).
    async fn intake(
        &self,
        batch: IntakeBatch<'_>,
        what: &'static str,
    ) -> StoreResult<(Vec<InsertedEvent>, Vec<ClaimedDelivery>)> {
        let mut tx = self.write_tx(what).await?;
        lock_event_keys(&mut tx, batch.events.iter().map(|it| it.event)).await?;
        let stored = insert_events_in(&mut tx, batch.events, batch.lease).await?;
        for c in batch.checkpoints {
            save_watcher_state(&mut tx, c).await?;
        }
        tx.commit().await.map_err(db(what))?;
        Ok(stored)
    }
}

#[async_trait]
impl OutboxStore for EngineStore {
    async fn watcher_state(&self, cluster_id: i64) -> StoreResult<Option<(String, Value)>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT url, state FROM watcher_state WHERE cluster_id = $1")
                .bind(cluster_id)
                .fetch_optional(self.reader())
                .await
                .map_err(db("reading a watcher state"))?;
        row.map(|(url, state)| Ok((url, from_json("watcher_state.state", &state)?)))
            .transpose()
    }

    async fn save_watch_report(
        &self,
        cluster_id: i64,
        url: &str,
        events: &[RoutedEvent],
        state: Option<&Value>,
        times: EventTimes,
    ) -> StoreResult<Vec<InsertedEvent>> {
        let items: Vec<EventItem<'_>> = events
            .iter()
            .map(|r| EventItem {
                event: &r.event,
                targets: &r.targets,
                times,
                silence_id: r.silence_id,
            })
            .collect();
        let checkpoint = state.map(|state| WatcherCheckpoint {
            cluster_id,
            url,
            state,
            saved_at: times.now,
        });
        let batch = IntakeBatch {
            events: &items,
            checkpoints: checkpoint.as_slice(),
            lease: None,
        };
        let (inserted, _) = self.intake(batch, "storing a watcher poll").await?;
        Ok(inserted)
    }

    async fn insert_event(
        &self,
        event: &JobEvent,
        targets: &[Target],
        now: i64,
        deadline_at: i64,
        repeat_since: i64,
    ) -> StoreResult<InsertedEvent> {
        let item = EventItem {
            event,
            targets,
            times: EventTimes {
                now,
                deadline_at,
                repeat_since,
            },
            silence_id: None,
        };
        self.insert_events(&[item])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Database("storing an event: no result".to_owned()))
    }

    async fn insert_events(&self, items: &[EventItem<'_>]) -> StoreResult<Vec<InsertedEvent>> {
        let batch = IntakeBatch {
            events: items,
            ..IntakeBatch::default()
        };
        Ok(self.intake(batch, "storing events").await?.0)
    }

    async fn store_intake(
        &self,
        batch: IntakeBatch<'_>,
    ) -> StoreResult<(Vec<InsertedEvent>, Vec<ClaimedDelivery>)> {
        self.intake(batch, "storing events").await
    }

    async fn insert_alertmanager(
        &self,
        input: &AmNotificationInput,
        render: AmRender<'_>,
        times: EventTimes,
    ) -> StoreResult<AmInserted> {
        let item = AmItem {
            input,
            render,
            times,
        };
        let mut tx = self.write_tx(AM_WHAT).await?;
        let mut inserted = insert_batch(&mut tx, &[item]).await?;
        tx.commit().await.map_err(db(AM_WHAT))?;
        inserted
            .pop()
            .ok_or_else(|| StoreError::Database(format!("{AM_WHAT}: no result")))
    }

    async fn insert_alertmanager_batch(
        &self,
        items: &[AmItem<'_>],
    ) -> Vec<StoreResult<AmInserted>> {
        // Several in one transaction; when that fails, or for a single item, each in a
        // transaction of its own, so that one bad notification fails alone.
        if items.len() > 1 {
            let together = async {
                let mut tx = self.write_tx(AM_WHAT).await?;
                let out = insert_batch(&mut tx, items).await?;
                tx.commit().await.map_err(db(AM_WHAT))?;
                StoreResult::Ok(out)
            };
            match together.await {
                Ok(out) => return out.into_iter().map(Ok).collect(),
                // Out of reach or full: each alone would fail alike, only later.
                Err(e) if e.is_outage() => return items.iter().map(|_| Err(e.clone())).collect(),
                Err(_) => {}
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(
                self.insert_alertmanager(item.input, item.render, item.times)
                    .await,
            );
        }
        out
    }

    async fn claim_due(
        &self,
        now: i64,
        limit: u32,
        worker: &str,
        lease_ms: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.claim(now, limit, worker, now.saturating_add(lease_ms))
            .await
    }

    async fn record_attempts(&self, records: &[AttemptRecord]) -> StoreResult<()> {
        const WHAT: &str = "recording attempts";
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx(WHAT).await?;
        // Each round is one JSON batch applied by two statements, whatever its size.
        for (round_no, round) in rounds(records).into_iter().enumerate() {
            let items = round
                .iter()
                .map(|r| {
                    Ok(AttemptRow(
                        r.delivery_id,
                        r.started_at,
                        r.finished_at,
                        r.state.as_str(),
                        r.next_attempt_at,
                        outcome_of(r),
                        r.error.as_ref().map(to_json).transpose()?,
                        to_json(&r.warnings)?,
                    ))
                })
                .collect::<StoreResult<Vec<AttemptRow<'_>>>>()?;
            let batch = to_json(&items)?;
            // The attempt first: its number is the count before this one, plus one. The first
            // round holds every delivery of the records: it locks their rows (PostgreSQL), in id
            // order, so that two recorders of overlapping batches (a row taken over after its
            // lease expired) wait for each other instead of deadlocking.
            #[allow(clippy::if_same_then_else)] // the same statement on SQLite, which locks nothing
            let insert_attempts = if round_no == 0 {
                insert_attempts!(lock_rows!("d"))
            } else {
                insert_attempts!("")
            };
            sqlx::query(insert_attempts)
                .bind(&batch)
                .execute(&mut *tx)
                .await
                .map_err(db(WHAT))?;
            sqlx::query(concat!(
                "UPDATE deliveries SET \
                 attempts = deliveries.attempts + 1, \
                 state = r.state, \
                 next_attempt_at = CASE WHEN r.state = 'pending' AND r.next_attempt_at IS NOT NULL \
                   THEN r.next_attempt_at ELSE deliveries.next_attempt_at END, \
                 last_error = CASE WHEN r.state = 'sent' THEN NULL \
                   WHEN r.error IS NOT NULL THEN r.error ELSE deliveries.last_error END, \
                 sent_at = CASE WHEN r.state = 'sent' THEN r.finished_at \
                   ELSE deliveries.sent_at END, \
                 claimed_by = NULL, lease_until = NULL FROM ",
                json_tuples!("$1"; 0 delivery_id bigint, 3 state text, 4 next_attempt_at bigint,
                    6 error text, 2 finished_at bigint),
                " AS r WHERE deliveries.id = r.delivery_id"
            ))
            .bind(&batch)
            .execute(&mut *tx)
            .await
            .map_err(db(WHAT))?;
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(())
    }

    async fn release(&self, delivery_ids: &[i64], next_attempt_at: i64) -> StoreResult<()> {
        if delivery_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(concat!(
            "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL, next_attempt_at = $1 \
             WHERE id IN (SELECT t.id FROM ",
            id_list!("$2"),
            " AS t) AND state = 'pending'"
        ))
        .bind(next_attempt_at)
        .bind(to_json(delivery_ids)?)
        .execute(self.writer())
        .await
        .map_err(db("releasing deliveries"))?;
        Ok(())
    }

    async fn create_digest(&self, digest: &DigestInput, now: i64) -> StoreResult<i64> {
        const WHAT: &str = "creating a digest";
        let folded = to_json(&digest.folded)?;
        let distinct = digest.folded.iter().collect::<HashSet<_>>().len() as u64;
        let mut tx = self.write_tx(WHAT).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO deliveries (event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, payload, claimed_by, \
             lease_until, created_at) \
             SELECT NULL, id, name, kind, NULL, 'pending', 0, $1, $2, $3, $4, $5, $6 \
             FROM alert_instances WHERE id = $7 RETURNING id",
        )
        .bind(digest.next_attempt_at)
        .bind(digest.deadline_at)
        .bind(to_json(&digest.payload)?)
        .bind(&digest.claimed_by)
        .bind(digest.lease_until)
        .bind(now)
        .bind(digest.instance_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        let Some(id) = id else {
            return Err(StoreError::BadReference {
                field: "instance_id",
                message: format!("instance {} does not exist", digest.instance_id),
            });
        };
        // On PostgreSQL, row locks: a replica folding (or recording) the same rows at once
        // makes this wait, and the rows it moved out of `pending` no longer count here.
        let folded_rows = sqlx::query(concat!(
            "UPDATE deliveries SET state = 'suppressed', digest_id = $1, \
             claimed_by = NULL, lease_until = NULL \
             WHERE id IN (SELECT t.id FROM ",
            id_list!("$2"),
            " AS t) AND state = 'pending' AND instance_id = $3"
        ))
        .bind(id)
        .bind(&folded)
        .bind(digest.instance_id)
        .execute(&mut *tx)
        .await
        .map_err(db(WHAT))?
        .rows_affected();
        if folded_rows != distinct {
            let offender: Option<i64> = sqlx::query_scalar(concat!(
                "SELECT t.id FROM ",
                id_list!("$1"),
                " AS t WHERE NOT EXISTS (SELECT 1 FROM deliveries AS d \
                 WHERE d.id = t.id AND d.digest_id = $2) ORDER BY t.ord LIMIT 1"
            ))
            .bind(&folded)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(WHAT))?;
            // Dropping the transaction rolls the digest back.
            return Err(StoreError::BadReference {
                field: "folded",
                message: format!(
                    "delivery {} is not a pending delivery of instance {}",
                    offender.map_or_else(|| "?".to_owned(), |o| o.to_string()),
                    digest.instance_id
                ),
            });
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(id)
    }
}
