//! Deliveries that arrive claimed: the intake that stores an event claims the deliveries it
//! creates for this process in the same transaction
//! ([`OutboxStore::store_intake`](alert_store::OutboxStore::store_intake) under a lease) and
//! hands them to the engine in memory. A delivery is then written twice less (no claim round
//! and no claim update) and goes out without waiting for the claim loop.
//!
//! The intake reserves room first ([`Handoff::reserve`]): never more rows than the engine
//! has free send permits for, less the rows already queued in memory or on their way. What
//! does not fit is stored unclaimed and claimed by the loop as before. A claimed row the
//! engine cannot take (it is stopping) is given back at once; one lost with the process comes
//! back when its lease ends, like any claimed row.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use alert_store::{ClaimedDelivery, IntakeLease};
use tokio::sync::mpsc;

use super::Shared;
use crate::clock::now_ms;

/// Claimed rows on their way to the engine, with the room reserved for them.
pub(super) struct Handed {
    pub(super) rows: Vec<ClaimedDelivery>,
    pub(super) reserved: usize,
}

/// Where an intake hands the deliveries it claimed to this process's engine.
#[derive(Clone)]
pub struct Handoff {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Handed>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("worker", &self.shared.worker)
            .finish_non_exhaustive()
    }
}

impl Handoff {
    pub(super) fn new(shared: Arc<Shared>, tx: mpsc::UnboundedSender<Handed>) -> Self {
        Self { shared, tx }
    }

    /// Reserves room for up to `wanted` claimed rows: `None` when the engine has none (store
    /// the rows unclaimed and wake the loop instead). The room is given back when the rows
    /// reach the engine, or when the reservation is dropped unused.
    pub fn reserve(&self, wanted: usize) -> Option<Reservation> {
        let granted = wanted.min(self.shared.handoff_room());
        if granted == 0 {
            return None;
        }
        self.shared.handed.fetch_add(granted, Ordering::SeqCst);
        let lease_ms = i64::try_from(self.shared.config.lease_secs * 1000).unwrap_or(i64::MAX);
        Some(Reservation {
            handoff: self.clone(),
            granted,
            until: now_ms().saturating_add(lease_ms),
            delivered: false,
        })
    }
}

/// Room reserved in the engine for the rows one intake transaction claims.
#[derive(Debug)]
pub struct Reservation {
    handoff: Handoff,
    granted: usize,
    until: i64,
    delivered: bool,
}

impl Reservation {
    /// The lease to store the rows under: this process, at most the rows reserved.
    pub fn lease(&self) -> IntakeLease<'_> {
        IntakeLease {
            worker: &self.handoff.shared.worker,
            until: self.until,
            max_rows: self.granted,
        }
    }

    /// Whether the lease covers `rows` rows: all of them were claimed if pending.
    pub fn covers(&self, rows: usize) -> bool {
        self.granted >= rows
    }

    /// Hands the rows claimed under [`lease`](Self::lease) to the engine. When the engine is
    /// gone (shutting down), they are given back to the outbox, due now.
    pub async fn deliver(mut self, rows: Vec<ClaimedDelivery>) {
        self.delivered = true;
        let handed = Handed {
            rows,
            reserved: self.granted,
        };
        if let Err(mpsc::error::SendError(handed)) = self.handoff.tx.send(handed) {
            let shared = &self.handoff.shared;
            shared.handed.fetch_sub(handed.reserved, Ordering::SeqCst);
            let ids: Vec<i64> = handed.rows.iter().map(|r| r.delivery.id).collect();
            if let Err(e) = shared.store.release(&ids, now_ms()).await {
                tracing::warn!(error = %e, count = ids.len(), "could not give back deliveries claimed at intake; their lease will expire");
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.delivered {
            self.handoff
                .shared
                .handed
                .fetch_sub(self.granted, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Engine;
    use super::*;
    use crate::config::DeliveryConfig;
    use tokio::sync::Notify;

    async fn engine(max_in_flight: usize) -> Engine {
        let store = alert_store::connect("sqlite::memory:")
            .await
            .expect("store");
        Engine::new(
            store,
            Arc::default(),
            Arc::default(),
            Arc::default(),
            DeliveryConfig {
                max_in_flight,
                ..DeliveryConfig::default()
            },
            Arc::new(Notify::new()),
            "test@1".to_owned(),
        )
    }

    #[tokio::test]
    async fn reservations_never_exceed_the_free_permits_and_come_back_when_dropped() {
        let engine = engine(4).await;
        let handoff = engine.handoff();
        let first = handoff.reserve(3).expect("room for 3");
        assert!(first.covers(3));
        let lease = first.lease();
        assert_eq!((lease.worker, lease.max_rows), ("test@1", 3));
        // One permit is left: a batch of 3 gets a lease on 1 row, and nothing after that.
        let second = handoff.reserve(3).expect("room for 1");
        assert!(!second.covers(3) && second.covers(1));
        assert!(handoff.reserve(1).is_none());
        // Unused reservations give their room back.
        drop(first);
        drop(second);
        assert!(handoff.reserve(4).expect("room again").covers(4));
    }

    #[tokio::test]
    async fn rows_handed_to_a_stopped_engine_go_back_to_the_outbox() {
        let engine = engine(4).await;
        let store = Arc::clone(&engine.shared.store);
        let handoff = engine.handoff();
        let instance = store
            .create_instance(
                &alert_store::InstanceInput {
                    name: "robot".to_owned(),
                    kind: "dingtalk".to_owned(),
                    enabled: true,
                    params: serde_json::json!({"webhook": "http://127.0.0.1:9/robot/send?access_token=t"}),
                    rate_per_minute: None,
                },
                1,
            )
            .await
            .expect("instance");
        let event = alert_core::JobEvent::new(
            "job",
            "job",
            alert_core::JobStatus::Failed,
            chrono::Utc::now().fixed_offset(),
        );
        let targets = [alert_store::Target {
            instance_id: instance.id,
            group_id: None,
        }];
        let now = now_ms();
        let item = alert_store::EventItem {
            event: &event,
            targets: &targets,
            times: alert_store::EventTimes {
                now,
                deadline_at: now + 60_000,
                repeat_since: now,
            },
            silence_id: None,
        };
        let reservation = handoff.reserve(1).expect("room");
        let items = [item];
        let batch = alert_store::IntakeBatch {
            events: &items,
            lease: Some(reservation.lease()),
            ..alert_store::IntakeBatch::default()
        };
        let (_, claimed) = store.store_intake(batch).await.expect("stored");
        assert_eq!(claimed.len(), 1);
        // Leased: nobody can claim it now.
        assert!(store
            .claim_due(now, 10, "other", 1_000)
            .await
            .expect("claim")
            .is_empty());
        // The engine is gone: the row is given back, due at once, and the room with it.
        drop(engine);
        reservation.deliver(claimed).await;
        let again = store
            .claim_due(now_ms(), 10, "other", 1_000)
            .await
            .expect("claim");
        assert_eq!(again.len(), 1);
        assert!(handoff.reserve(4).is_some());
    }
}
