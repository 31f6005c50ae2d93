//! The delivery engine: works the durable outbox.
//!
//! One loop claims due deliveries (leased, so a crashed process's rows come back), groups them
//! by instance, asks the [`pacing::Pacer`] whether to send, fold into a digest, or wait, and
//! spawns sends bounded by a global semaphore and a per-instance share of it (rows beyond the
//! share wait in a bounded in-memory queue, fed as that instance's sends finish, and go back
//! to the outbox after a quarter of their lease). Each outcome kind moves the row: sent, retry
//! with backoff until the deadline, wait out a throttle, or fail with the reason. Results are
//! recorded in batches by one recorder task.
//!
//! Delivery is at-least-once: a crash after the channel accepted a message and before its
//! result was committed (a window of milliseconds: the recorder flushes at once) sends it
//! again once the lease expires.

mod attempt;
pub mod backoff;
pub mod channels;
pub mod digest;
pub mod handoff;
mod outage;
pub mod pacing;
mod recorder;
pub mod templates;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use self::attempt::send_one;
use serde_json::json;
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinSet;

use self::channels::{ChannelCache, ReadyInstance};
use self::digest::{DigestLine, DigestPayload};
use self::handoff::{Handed, Handoff};
use self::outage::{retry_release, ClaimFailures};
use self::pacing::{Decision, Pacer};
use self::recorder::record_loop;
use self::templates::{GroupRenderers, RenderedAlerts};
use crate::clock::now_ms;
use crate::config::DeliveryConfig;
use crate::metrics::Metrics;
use alert_store::{AttemptRecord, ClaimedDelivery, DeliveryState, DigestInput, Store};

/// How long rows of an instance at its in-flight share wait before being claimed again, when
/// its queue is full.
const BUSY_INSTANCE_DELAY_MS: i64 = 200;

/// An instance at its in-flight share keeps up to this many times
/// `max_in_flight_per_instance` claimed rows in memory, sent as its sends finish. With the
/// defaults that is a whole claim (512 rows): a storm to one channel no longer sends part of
/// each claim back to the outbox for 200 ms (`cargo xtask vs-alertmanager`, one robot: 5,600 →
/// 7,000 alerts/s; with 4 shares).
const QUEUED_PER_SHARE: usize = 8;

/// A claimed row waiting in memory for its instance to have room.
struct Queued {
    row: ClaimedDelivery,
    ready: Arc<ReadyInstance>,
    /// When it was claimed (ms): rows are given back well before their lease ends.
    since: i64,
}

/// Everything the engine shares with its send tasks.
struct Shared {
    store: Arc<dyn Store>,
    channels: Arc<ChannelCache>,
    metrics: Arc<Metrics>,
    config: DeliveryConfig,
    /// Job events render with their group's template.
    templates: Arc<GroupRenderers>,
    /// An event's message through a group, rendered once for all its deliveries.
    rendered: RenderedAlerts,
    pacer: Mutex<Pacer>,
    in_flight: Mutex<HashSet<i64>>,
    /// Sends in flight per instance: a slow or hanging channel holds at most
    /// `max_in_flight_per_instance` of the global permits, so it never starves the others.
    per_instance: Mutex<HashMap<i64, usize>>,
    /// The earliest time a row this process put back becomes due (the loop wakes for it).
    /// (Every time rows were put back for, until it passes: keeping only the earliest lost the
    /// later ones once it had passed, and the loop then slept a whole poll interval.)
    next_due: Mutex<std::collections::BTreeSet<i64>>,
    /// Claimed rows of instances at their in-flight share, by instance, oldest first: fed to
    /// the channel as its sends finish instead of going back to the database and being claimed
    /// again (which capped one instance at a few hundred messages a second).
    queued: Mutex<HashMap<i64, std::collections::VecDeque<Queued>>>,
    /// Notified when an instance's queue has drained to half its bound, or one of its sends
    /// ended with nothing queued: the loop, holding off claims while queues were full, may
    /// claim again.
    room: Notify,
    /// Set once the loop stopped claiming: sends no longer take queued rows.
    stopping: AtomicBool,
    /// The global bound on sends in flight.
    permits: Arc<Semaphore>,
    /// Rows intakes reserved room for ([`Handoff::reserve`]) that the loop has not dispatched.
    handed: AtomicUsize,
    worker: String,
}

impl Shared {
    /// How many more sends `instance` may start now.
    fn instance_room(&self, instance: i64) -> usize {
        let busy = self
            .per_instance
            .lock()
            .expect("not poisoned")
            .get(&instance)
            .copied()
            .unwrap_or(0);
        self.config.max_in_flight_per_instance.saturating_sub(busy)
    }

    /// Claimed rows waiting in memory for their instance, in all.
    fn queued_rows(&self) -> usize {
        self.queued
            .lock()
            .expect("not poisoned")
            .values()
            .map(std::collections::VecDeque::len)
            .sum()
    }

    /// How many claimed rows an intake may hand over now: the free permits, less the rows
    /// queued in memory and those already on their way.
    fn handoff_room(&self) -> usize {
        if self.stopping.load(Ordering::SeqCst) {
            return 0;
        }
        self.permits
            .available_permits()
            .saturating_sub(self.queued_rows())
            .saturating_sub(self.handed.load(Ordering::SeqCst))
    }

    /// The most claimed rows one instance keeps queued in memory.
    fn queue_bound(&self) -> usize {
        self.config.max_in_flight_per_instance * QUEUED_PER_SHARE
    }

    /// How long a claimed row may wait in an instance's queue before it is given back: a
    /// quarter of its lease.
    fn max_queue_wait(&self) -> i64 {
        i64::try_from(self.config.lease_secs * 1000 / 4).unwrap_or(i64::MAX)
    }

    /// Takes the next queued row of `instance` for a send of it that just finished, moving it
    /// to `in_flight` (in one step, so that shutdown finds every row in one of the two). A row
    /// waiting longer than [`max_queue_wait`](Self::max_queue_wait) is left for the loop to
    /// give back; once the engine is stopping, every row is (only sends in flight finish).
    fn next_queued(&self, instance: i64) -> Option<Queued> {
        if self.stopping.load(Ordering::SeqCst) {
            return None;
        }
        let mut queued = self.queued.lock().expect("not poisoned");
        let queue = queued.get_mut(&instance)?;
        if queue
            .front()
            .is_some_and(|w| now_ms() - w.since > self.max_queue_wait())
        {
            return None;
        }
        let next = queue.pop_front()?;
        if queue.len() == self.queue_bound() / 2 {
            self.room.notify_one();
        }
        if queue.is_empty() {
            queued.remove(&instance);
        }
        self.in_flight
            .lock()
            .expect("not poisoned")
            .insert(next.row.delivery.id);
        Some(next)
    }
}

/// The outbox worker of this process.
pub struct Engine {
    shared: Arc<Shared>,
    wake: Arc<Notify>,
    handed_tx: mpsc::UnboundedSender<Handed>,
    /// Taken by [`run`](Self::run).
    handed_rx: Option<mpsc::UnboundedReceiver<Handed>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("worker", &self.shared.worker)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store`; `wake` is notified when new deliveries are committed; `worker`
    /// names this process in delivery claims (unique among replicas).
    pub fn new(
        store: Arc<dyn Store>,
        channels: Arc<ChannelCache>,
        templates: Arc<GroupRenderers>,
        metrics: Arc<Metrics>,
        config: DeliveryConfig,
        wake: Arc<Notify>,
        worker: String,
    ) -> Self {
        let shared = Shared {
            store,
            channels,
            metrics,
            permits: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
            templates,
            rendered: RenderedAlerts::default(),
            pacer: Mutex::new(Pacer::default()),
            in_flight: Mutex::new(HashSet::new()),
            per_instance: Mutex::new(HashMap::new()),
            next_due: Mutex::new(std::collections::BTreeSet::new()),
            queued: Mutex::new(HashMap::new()),
            room: Notify::new(),
            stopping: AtomicBool::new(false),
            handed: AtomicUsize::new(0),
            worker,
        };
        let (handed_tx, handed_rx) = mpsc::unbounded_channel();
        Self {
            shared: Arc::new(shared),
            wake,
            handed_tx,
            handed_rx: Some(handed_rx),
        }
    }

    /// Where intakes hand this engine the deliveries they stored claimed for it.
    pub fn handoff(&self) -> Handoff {
        Handoff::new(Arc::clone(&self.shared), self.handed_tx.clone())
    }

    /// Runs until `shutdown` turns true, then lets in-flight sends finish (up to the grace
    /// period), releases the rest, and flushes the recorder.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut handed = self.handed_rx.take().expect("run once");
        let s = &self.shared;
        let (tx, rx) = mpsc::channel::<AttemptRecord>(4096);
        let recorder =
            crate::writer_thread::handle().spawn(record_loop(Arc::clone(&self.shared), rx));
        let permits = Arc::clone(&s.permits);
        let mut sends = JoinSet::new();
        let poll = Duration::from_millis(s.config.poll_interval_ms);
        let mut next_depth_update = 0;
        let mut claim_failures = ClaimFailures::default();
        loop {
            if *shutdown.borrow() {
                break;
            }
            while sends.try_join_next().is_some() {}
            self.feed_queued(&permits, &mut sends, &tx).await;
            while let Ok(rows) = handed.try_recv() {
                self.take_handed(rows, &permits, &mut sends, &tx).await;
            }
            let now = now_ms();
            if now >= next_depth_update {
                if let Ok(depth) = s.store.pending_count().await {
                    s.metrics
                        .queue_depth
                        .set(i64::try_from(depth).unwrap_or(i64::MAX));
                }
                next_depth_update = now + 1_000;
            }
            let free = permits.available_permits();
            // With most permits taken, wait for a quarter of them before claiming: claims of a
            // few rows each would take the one writer as often as sends finish.
            let low_water = (s.config.max_in_flight / 4)
                .min(usize::try_from(s.config.claim_batch / 4).unwrap_or(usize::MAX))
                .max(1);
            if free < low_water && !sends.is_empty() {
                tokio::select! {
                    _ = sends.join_next() => {}
                    Some(rows) = handed.recv() => {
                        self.take_handed(rows, &permits, &mut sends, &tx).await;
                    }
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            // Rows already queued in memory will take free permits first: claim for the rest,
            // but never less than the low-water mark, so that other instances move on while
            // one channel's queue is full.
            let limit = u32::try_from(free.saturating_sub(s.queued_rows()).max(low_water))
                .unwrap_or(u32::MAX)
                .min(s.config.claim_batch);
            let lease = i64::try_from(s.config.lease_secs * 1000).unwrap_or(i64::MAX);
            let claimed = match s.store.claim_due(now, limit, &s.worker, lease).await {
                Ok(rows) => {
                    claim_failures.recovered();
                    rows
                }
                Err(e) => {
                    // The database is down (or full): back off, log at a bounded rate, and
                    // resume by itself once a claim works again.
                    let nap = claim_failures.failed(&e, poll);
                    tokio::select! {
                        () = tokio::time::sleep(nap) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            if claimed.is_empty() {
                // Rows this loop put back (instance busy, budget spent) are due before the next
                // poll: wake for them rather than a whole poll interval later.
                let soon = next_put_back_due(&mut s.next_due.lock().expect("not poisoned"), now);
                let now = now_ms();
                let nap = soon.map_or(poll, |at| {
                    poll.min(Duration::from_millis(
                        u64::try_from(at - now).unwrap_or(0).max(1),
                    ))
                });
                let until = tokio::time::Instant::now() + nap;
                let mut fed = false;
                loop {
                    let queued = !s.queued.lock().expect("not poisoned").is_empty();
                    if fed && !queued {
                        break;
                    }
                    tokio::select! {
                        () = self.wake.notified() => break,
                        () = tokio::time::sleep_until(until) => break,
                        // A send finished: its instance may take a queued row. Feed it without
                        // claiming (a claim is a write transaction; new rows wake the loop).
                        Some(_) = sends.join_next(), if queued => {
                            while sends.try_join_next().is_some() {}
                            self.feed_queued(&permits, &mut sends, &tx).await;
                            fed = true;
                        }
                        // Rows an intake stored claimed: send them, no claim needed.
                        Some(rows) = handed.recv() => {
                            self.take_handed(rows, &permits, &mut sends, &tx).await;
                        }
                        _ = shutdown.changed() => break,
                    }
                }
                continue;
            }
            if self.dispatch(claimed, &permits, &mut sends, &tx).await {
                // Instances were at their queue bound and rows went back: claiming again at
                // once would only claim and give back rows of the same instances. Wait for
                // their queues to drain to half (or for the rows' delay).
                tokio::select! {
                    () = s.room.notified() => {}
                    Some(rows) = handed.recv() => {
                        self.take_handed(rows, &permits, &mut sends, &tx).await;
                    }
                    () = tokio::time::sleep(Duration::from_millis(
                        u64::try_from(BUSY_INSTANCE_DELAY_MS).unwrap_or(0),
                    )) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        // Shutdown: stop claiming, taking handed rows and feeding queued rows; give in-flight
        // sends the grace period.
        s.stopping.store(true, Ordering::SeqCst);
        handed.close();
        let mut left: Vec<i64> = Vec::new();
        while let Ok(rows) = handed.try_recv() {
            s.handed.fetch_sub(rows.reserved, Ordering::SeqCst);
            left.extend(rows.rows.iter().map(|r| r.delivery.id));
        }
        let grace = Duration::from_secs(s.config.shutdown_grace_secs);
        let drained =
            tokio::time::timeout(grace, async { while sends.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            sends.abort_all();
            while sends.join_next().await.is_some() {}
        }
        drop(tx);
        let _ = recorder.await;
        left.extend(s.in_flight.lock().expect("not poisoned").drain());
        left.extend(
            s.queued
                .lock()
                .expect("not poisoned")
                .drain()
                .flat_map(|(_, q)| q.into_iter().map(|w| w.row.delivery.id)),
        );
        if !left.is_empty() {
            tracing::info!(
                count = left.len(),
                "releasing unfinished deliveries for the next start"
            );
            if let Err(e) = s.store.release(&left, now_ms()).await {
                tracing::warn!(error = %e, "could not release deliveries; their lease will expire");
            }
        }
    }

    /// Sends queued rows of instances that have room again (as many as the free permits
    /// allow), and gives back to the outbox the rows that waited a quarter of their lease.
    async fn feed_queued(
        &self,
        permits: &Arc<Semaphore>,
        sends: &mut JoinSet<()>,
        tx: &mpsc::Sender<AttemptRecord>,
    ) {
        let s = &self.shared;
        let now = now_ms();
        let max_wait = s.max_queue_wait();
        let mut stale = Vec::new();
        let mut ready_rows = Vec::new();
        {
            let mut queued = s.queued.lock().expect("not poisoned");
            if queued.is_empty() {
                return;
            }
            let mut free = permits.available_permits();
            queued.retain(|&instance, queue| {
                while queue.front().is_some_and(|w| now - w.since > max_wait) {
                    stale.extend(queue.pop_front().map(|w| w.row));
                }
                let take = s.instance_room(instance).min(free).min(queue.len());
                free -= take;
                ready_rows.extend(queue.drain(..take));
                !queue.is_empty()
            });
        }
        for w in ready_rows {
            spawn_send(s, &w.ready, w.row, permits, sends, tx).await;
        }
        if !stale.is_empty() {
            release(s, &stale, now).await;
        }
    }

    /// Dispatches rows an intake stored claimed for this engine, and gives back their room.
    async fn take_handed(
        &self,
        handed: Handed,
        permits: &Arc<Semaphore>,
        sends: &mut JoinSet<()>,
        tx: &mpsc::Sender<AttemptRecord>,
    ) {
        let Handed { rows, reserved } = handed;
        if !rows.is_empty() {
            // Dispatched rows count as in flight or queued from here on. Rows of a full
            // queue go back to the outbox, due shortly, as claimed rows do.
            self.dispatch(rows, permits, sends, tx).await;
        }
        self.shared.handed.fetch_sub(reserved, Ordering::SeqCst);
    }

    async fn dispatch(
        &self,
        claimed: Vec<ClaimedDelivery>,
        permits: &Arc<Semaphore>,
        sends: &mut JoinSet<()>,
        tx: &mpsc::Sender<AttemptRecord>,
    ) -> bool {
        let s = &self.shared;
        let mut overflowed = false;
        let mut by_instance: Vec<(i64, Vec<ClaimedDelivery>)> = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        for row in claimed {
            let id = row.delivery.instance_id;
            let slot = *index.entry(id).or_insert_with(|| {
                by_instance.push((id, Vec::new()));
                by_instance.len() - 1
            });
            by_instance[slot].1.push(row);
        }
        let now = now_ms();
        // The instances that can send, with their rows; the others' rows fail or go back.
        let mut sendable: Vec<(Arc<ReadyInstance>, Vec<ClaimedDelivery>)> = Vec::new();
        let ids: Vec<i64> = by_instance.iter().map(|(id, _)| *id).collect();
        let found = s.channels.get_many(s.store.as_ref(), &ids).await;
        for ((instance_id, rows), found) in by_instance.into_iter().zip(found) {
            let ready = match found {
                Ok(Some(r)) => r,
                Ok(None) => {
                    fail_all(tx, &rows, now, "instance no longer exists").await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, instance = instance_id, "loading instance failed; will retry");
                    release(s, &rows, now + 1_000).await;
                    continue;
                }
            };
            if !ready.enabled {
                fail_all(tx, &rows, now, "instance is disabled").await;
                continue;
            }
            if let Err(e) = &ready.channel {
                fail_all(tx, &rows, now, e).await;
                continue;
            }
            sendable.push((ready, rows));
        }
        let decisions = if s.store.is_shared() {
            // Replicas share the instances' budgets through the database: one call for the
            // whole round, whatever the number of instances in it.
            let round: Vec<(i64, Option<u32>, usize)> = sendable
                .iter()
                .map(|(ready, rows)| (ready.id, ready.rate_per_minute, rows.len()))
                .collect();
            match pacing::decide_shared(s.store.as_ref(), &round, now).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, instances = round.len(), "reading the send budgets failed; will retry");
                    let rows: Vec<ClaimedDelivery> =
                        sendable.into_iter().flat_map(|(_, rows)| rows).collect();
                    release(s, &rows, now + 1_000).await;
                    return false;
                }
            }
        } else {
            let mut pacer = s.pacer.lock().expect("not poisoned");
            sendable
                .iter()
                .map(|(ready, rows)| pacer.decide(ready.id, ready.rate_per_minute, rows.len(), now))
                .collect()
        };
        for ((ready, rows), decision) in sendable.into_iter().zip(decisions) {
            let instance_id = ready.id;
            match decision {
                Decision::SendAll => {
                    let room = s.instance_room(instance_id).min(rows.len());
                    let mut rows = rows;
                    let mut later = rows.split_off(room);
                    for row in rows {
                        spawn_send(s, &ready, row, permits, sends, tx).await;
                    }
                    if !later.is_empty() {
                        // This instance is at its share of the sends: the rest wait (in
                        // memory, up to a bound, else in the outbox) instead of taking permits
                        // from other instances.
                        let overflow = {
                            let mut queued = s.queued.lock().expect("not poisoned");
                            let queue = queued.entry(instance_id).or_default();
                            let bound = s.queue_bound();
                            let fit = bound.saturating_sub(queue.len()).min(later.len());
                            let overflow = later.split_off(fit);
                            queue.extend(later.into_iter().map(|row| Queued {
                                row,
                                ready: Arc::clone(&ready),
                                since: now,
                            }));
                            if queue.is_empty() {
                                queued.remove(&instance_id);
                            }
                            overflow
                        };
                        if !overflow.is_empty() {
                            overflowed = true;
                            release(s, &overflow, now + BUSY_INSTANCE_DELAY_MS).await;
                        }
                    }
                }
                Decision::Digest if s.instance_room(instance_id) == 0 => {
                    overflowed = true;
                    release(s, &rows, now + BUSY_INSTANCE_DELAY_MS).await;
                }
                Decision::Digest => match fold(s, &ready, &rows, now).await {
                    Ok((digest, rest)) => {
                        if !rest.is_empty() {
                            // Over the channel's size limit: they stay pending, by name in the
                            // next digest the budget allows.
                            release(s, rest, now).await;
                        }
                        s.metrics
                            .digests
                            .get_or_create(&crate::metrics::KindLabel {
                                kind: ready.kind.clone(),
                            })
                            .inc();
                        spawn_send(s, &ready, digest, permits, sends, tx).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, instance = instance_id, "creating a digest failed; retrying shortly");
                        release(s, &rows, now + 1_000).await;
                    }
                },
                Decision::WaitUntil(at) => {
                    s.metrics
                        .throttles
                        .get_or_create(&crate::metrics::KindLabel {
                            kind: ready.kind.clone(),
                        })
                        .inc();
                    release(s, &rows, at).await;
                }
            }
        }
        overflowed
    }
}

/// After a claim at `claimed_at` found nothing: forgets the put-back times up to it (their rows
/// were due for that claim) and returns the earliest one left, when the loop should claim
/// again.
///
/// A time that passed only while the claim ran is kept, so the loop naps 1 ms and claims
/// its rows. Forgetting it too (every time up to the clock after the claim) left those rows for
/// the next poll, a second later: the 1.2–1.6 s tails of `cargo xtask vs-alertmanager`.
fn next_put_back_due(due: &mut std::collections::BTreeSet<i64>, claimed_at: i64) -> Option<i64> {
    *due = due.split_off(&(claimed_at + 1));
    due.first().copied()
}

async fn release(s: &Shared, rows: &[ClaimedDelivery], at: i64) {
    {
        s.next_due.lock().expect("not poisoned").insert(at);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.delivery.id).collect();
    match s.store.release(&ids, at).await {
        Ok(()) => {}
        Err(e) if e.is_outage() => {
            tracing::warn!(error = %e, count = ids.len(), "could not release deliveries; retrying while their lease runs");
            retry_release(
                Arc::clone(&s.store),
                ids,
                at,
                Duration::from_secs(s.config.lease_secs),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not release deliveries; their lease will expire");
        }
    }
}

async fn fail_all(tx: &mpsc::Sender<AttemptRecord>, rows: &[ClaimedDelivery], now: i64, why: &str) {
    for row in rows {
        let record = AttemptRecord {
            delivery_id: row.delivery.id,
            started_at: now,
            finished_at: now,
            state: DeliveryState::Failed,
            next_attempt_at: None,
            error: Some(json!({"kind": "permanent", "message": why})),
            warnings: vec![],
        };
        let _ = tx.send(record).await;
    }
}

/// Folds the leading `rows` that fit in one message into one digest delivery (created claimed
/// by this worker) and returns it with the rows that did not fit (still claimed: release them).
async fn fold<'a>(
    s: &Shared,
    ready: &ReadyInstance,
    rows: &'a [ClaimedDelivery],
    now: i64,
) -> Result<(ClaimedDelivery, &'a [ClaimedDelivery]), String> {
    let groups: Vec<Vec<DigestLine>> = rows
        .iter()
        .map(|row| match (&row.event, &row.delivery.payload) {
            (Some(event), _) => vec![DigestLine::from_event(event)],
            (None, Some(payload)) => serde_json::from_value::<DigestPayload>(payload.clone())
                .map(|earlier| earlier.lines)
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        })
        .collect();
    let max_bytes = ready
        .channel
        .as_ref()
        .ok()
        .and_then(|c| c.max_message_bytes());
    let (payload, taken) = DigestPayload::fitting(&groups, max_bytes);
    let (rows, rest) = rows.split_at(taken);
    let payload_json = serde_json::to_value(&payload).map_err(|e| e.to_string())?;
    let deadline_at = rows
        .iter()
        .map(|r| r.delivery.deadline_at)
        .max()
        .unwrap_or(now);
    let lease_until = now + i64::try_from(s.config.lease_secs * 1000).unwrap_or(i64::MAX);
    let input = DigestInput {
        instance_id: ready.id,
        folded: rows.iter().map(|r| r.delivery.id).collect(),
        payload: payload_json.clone(),
        next_attempt_at: now,
        deadline_at,
        claimed_by: Some(s.worker.clone()),
        lease_until: Some(lease_until),
    };
    let id = s
        .store
        .create_digest(&input, now)
        .await
        .map_err(|e| e.to_string())?;
    for _ in rows {
        s.metrics.delivery(&ready.kind, "suppressed");
    }
    let mut delivery = rows[0].delivery.clone();
    delivery.id = id;
    delivery.event_id = None;
    delivery.group_id = None;
    delivery.state = DeliveryState::Pending;
    delivery.attempts = 0;
    delivery.deadline_at = deadline_at;
    delivery.last_error = None;
    delivery.digest_id = None;
    delivery.payload = Some(payload_json);
    delivery.created_at = now;
    Ok((
        ClaimedDelivery {
            delivery,
            event: None,
        },
        rest,
    ))
}

async fn spawn_send(
    s: &Arc<Shared>,
    ready: &Arc<ReadyInstance>,
    row: ClaimedDelivery,
    permits: &Arc<Semaphore>,
    sends: &mut JoinSet<()>,
    tx: &mpsc::Sender<AttemptRecord>,
) {
    let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
        return;
    };
    s.in_flight
        .lock()
        .expect("not poisoned")
        .insert(row.delivery.id);
    *s.per_instance
        .lock()
        .expect("not poisoned")
        .entry(ready.id)
        .or_default() += 1;
    let (s, ready, tx) = (Arc::clone(s), Arc::clone(ready), tx.clone());
    sends.spawn(async move {
        let instance = ready.id;
        let (mut ready, mut row) = (ready, row);
        loop {
            let record = send_one(&s, &ready, &row).await;
            // Leave in_flight only once the recorder has the result (shutdown releases the rest).
            let _ = tx.send(record).await;
            // The instance's next queued row goes out on this send's permit and share, at once:
            // a storm to one channel flows at the channel's pace, not at the claim loop's.
            let next = s.next_queued(instance);
            s.in_flight
                .lock()
                .expect("not poisoned")
                .remove(&row.delivery.id);
            match next {
                Some(queued) => (ready, row) = (queued.ready, queued.row),
                None => break,
            }
        }
        if let Some(n) = s
            .per_instance
            .lock()
            .expect("not poisoned")
            .get_mut(&instance)
        {
            *n = n.saturating_sub(1);
        }
        s.room.notify_one();
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn put_back_times_passed_during_the_claim_are_kept() {
        let mut due = [100, 150, 300].into_iter().collect();
        // Claimed at 120: 100 was due for it; 150 passed while it ran and still needs a claim.
        assert_eq!(super::next_put_back_due(&mut due, 120), Some(150));
        assert_eq!(due.into_iter().collect::<Vec<_>>(), [150, 300]);
        let mut due = [100].into_iter().collect();
        assert_eq!(super::next_put_back_due(&mut due, 100), None);
    }
}
