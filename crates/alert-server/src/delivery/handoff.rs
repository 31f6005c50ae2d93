//! Deliveries that arrive claimed: the intake that stores an event claims the deliveries it
//! creates for this process in the same transaction
//! ([`OutboxStore::insert_events_leased`](alert_store::OutboxStore::insert_events_leased)) and
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
