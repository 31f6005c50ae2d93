//! The job events' intake: the events of API requests and the watchers' polls, stored through
//! one group commit (see [`crate::group_commit`]).
//!
//! Writes that arrive while others are being stored go together in the next transaction: a
//! storm of single-event requests, or a hundred watchers polling in the same second, costs a few
//! transactions rather than one each. A write is one request's events (one, or an array stored
//! all or nothing) or one watcher poll's events with the watcher's new state; each gets its own
//! results, in order, once its transaction is committed.

use std::sync::Arc;

use alert_core::JobEvent;
use alert_store::{
    EventItem, EventTimes, InsertedEvent, IntakeBatch, Store, StoreResult, Target,
    WatcherCheckpoint,
};
use serde_json::Value;
use tokio::sync::Notify;

use crate::delivery::handoff::Handoff;
use crate::group_commit::{store_outage, GroupCommit};

/// Writes gathered by one round of the group commit at most.
const INGEST_MAX_BATCH: usize = 256;

/// Events per transaction of the group commit at most (a larger write has one of its own).
const INGEST_MAX_EVENTS: usize = 1024;

/// Deliveries per transaction of the group commit at most (a larger write has one of its own).
///
/// The engine gets a transaction's deliveries only once it is committed, and the one SQLite
/// writer stores a few hundred thousand rows a second at best. Ten events to 4,000 robots each
/// in one transaction kept every robot waiting 0.5–0.7 s while one core stored them and the
/// other had nothing to send; one event per transaction, the first ones are sent while the
/// next are stored.
const INGEST_MAX_DELIVERIES: usize = 2048;

/// An event on its way into the store, with where it goes.
#[derive(Debug)]
pub struct EventJob {
    /// The event.
    pub event: JobEvent,
    /// One delivery per target.
    pub targets: Vec<Target>,
    /// Its times.
    pub times: EventTimes,
    /// The active silence it matched (its deliveries are recorded `silenced`).
    pub silence_id: Option<i64>,
}

/// A watcher's new state, saved in the transaction of its poll's events.
#[derive(Debug)]
pub struct Checkpoint {
    /// The watched cluster.
    pub cluster_id: i64,
    /// The URL the state was observed at.
    pub url: String,
    /// The watcher's state.
    pub state: Value,
    /// When it was observed (ms).
    pub saved_at: i64,
}

/// One write of the intake: stored all or nothing, answered with one result per event.
#[derive(Debug, Default)]
pub struct IntakeWrite {
    /// The events (an API request's, or a watcher poll's).
    pub events: Vec<EventJob>,
    /// A watcher's state to save with them.
    pub checkpoint: Option<Checkpoint>,
}

impl From<Vec<EventJob>> for IntakeWrite {
    fn from(events: Vec<EventJob>) -> Self {
        Self {
            events,
            checkpoint: None,
        }
    }
}

/// The intake's group commit (see the module documentation).
pub type EventIngest = GroupCommit<IntakeWrite, StoreResult<Vec<InsertedEvent>>>;

/// Where the intake's committers store, and whom they tell about the deliveries created.
#[derive(Clone)]
pub struct IntakeSink {
    /// The store.
    pub store: Arc<dyn Store>,
    /// This process's delivery engine, which takes the deliveries claimed at intake (`None`:
    /// every delivery is stored unclaimed, for the claim loop).
    pub handoff: Option<Handoff>,
    /// Notified when deliveries were stored unclaimed: the engine's loop claims them.
    pub wake: Arc<Notify>,
}

impl std::fmt::Debug for IntakeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeSink")
            .field("handoff", &self.handoff)
            .finish_non_exhaustive()
    }
}

/// Committers on a shared (server) database: one batch is committed while the next is
/// gathered. Two did 3–10 % more deliveries than four, with 5–10 % less PostgreSQL CPU, for one
/// replica and for two (`cargo xtask load --database-url …`, 3 runs each, docs/BENCHMARKS.md):
/// fewer, larger transactions.
const SHARED_COMMITTERS: usize = 2;

/// Starts the intake's committers on `sink`: one on a single-writer store,
/// [`SHARED_COMMITTERS`] on a shared (server) database.
pub fn event_ingest(sink: IntakeSink) -> EventIngest {
    let committers = if sink.store.is_shared() {
        SHARED_COMMITTERS
    } else {
        1
    };
    let sink = Arc::new(sink);
    GroupCommit::start_with_outage(
        committers,
        INGEST_MAX_BATCH,
        move |writes: Vec<IntakeWrite>| {
            let sink = Arc::clone(&sink);
            async move { commit_writes(&sink, &writes).await }
        },
        store_outage,
    )
}

/// Stores several writes, in transactions of up to [`INGEST_MAX_EVENTS`] events and
/// [`INGEST_MAX_DELIVERIES`] deliveries (a write is never split).
async fn commit_writes(
    sink: &IntakeSink,
    writes: &[IntakeWrite],
) -> Vec<StoreResult<Vec<InsertedEvent>>> {
    let mut out = Vec::with_capacity(writes.len());
    let mut rest = writes;
    while !rest.is_empty() {
        let take = chunk_len(rest, INGEST_MAX_EVENTS, INGEST_MAX_DELIVERIES);
        let (chunk, after) = rest.split_at(take);
        out.extend(commit_together(sink, chunk).await);
        rest = after;
    }
    out
}

/// How many of `writes`, from the first, one transaction takes: as many as stay within
/// `max_events` events and `max_deliveries` deliveries together, and at least one.
fn chunk_len(writes: &[IntakeWrite], max_events: usize, max_deliveries: usize) -> usize {
    let (mut events, mut deliveries) = (0, 0);
    writes
        .iter()
        .take_while(|w| {
            events += w.events.len();
            deliveries += w.events.iter().map(|e| e.targets.len()).sum::<usize>();
            events <= max_events && deliveries <= max_deliveries
        })
        .count()
        .max(1)
}

/// The store's view of some writes: their events and their watchers' states.
fn batch_of(writes: &[IntakeWrite]) -> (Vec<EventItem<'_>>, Vec<WatcherCheckpoint<'_>>) {
    let events = writes
        .iter()
        .flat_map(|w| &w.events)
        .map(|job| EventItem {
            event: &job.event,
            targets: &job.targets,
            times: job.times,
            silence_id: job.silence_id,
        })
        .collect();
    let checkpoints = writes
        .iter()
        .filter_map(|w| w.checkpoint.as_ref())
        .map(|c| WatcherCheckpoint {
            cluster_id: c.cluster_id,
            url: &c.url,
            state: &c.state,
            saved_at: c.saved_at,
        })
        .collect();
    (events, checkpoints)
}

/// Stores several writes in one transaction; when that fails other than by an outage (a
/// request naming an instance deleted meanwhile, a poll of a cluster deleted meanwhile), each
/// write in a transaction of its own, so that one write's failure never fails the others, nor
/// stores part of it.
///
/// As many deliveries as the engine has room for are claimed for it as they are stored and
/// handed over ([`Handoff`]); the engine's loop is woken for the others.
async fn commit_together(
    sink: &IntakeSink,
    writes: &[IntakeWrite],
) -> Vec<StoreResult<Vec<InsertedEvent>>> {
    let (events, checkpoints) = batch_of(writes);
    let targets: usize = events.iter().map(|it| it.targets.len()).sum();
    let reservation = sink.handoff.as_ref().and_then(|h| h.reserve(targets));
    let batch = IntakeBatch {
        events: &events,
        checkpoints: &checkpoints,
        lease: reservation.as_ref().map(|r| r.lease()),
    };
    let result = sink.store.store_intake(batch).await;
    match result {
        Ok((inserted, claimed)) => {
            let created: usize = inserted
                .iter()
                .filter(|i| !i.duplicate)
                .map(|i| i.deliveries)
                .sum();
            let handed_all = reservation.as_ref().is_some_and(|r| r.covers(targets));
            if let Some(r) = reservation {
                r.deliver(claimed).await;
            }
            if created > 0 && !handed_all {
                sink.wake.notify_one();
            }
            let mut inserted = inserted.into_iter();
            writes
                .iter()
                .map(|w| Ok(inserted.by_ref().take(w.events.len()).collect()))
                .collect()
        }
        // Out of reach or full: each alone would fail alike, only later. A lone write has
        // had its try.
        Err(e) if e.is_outage() || writes.len() == 1 => {
            writes.iter().map(|_| Err(e.clone())).collect()
        }
        Err(_) => {
            drop(reservation);
            let mut out = Vec::with_capacity(writes.len());
            for write in writes {
                out.push(Box::pin(commit_together(sink, std::slice::from_ref(write))).await);
            }
            out.into_iter().flatten().collect()
        }
    }
}

#[cfg(test)]
mod tests;
