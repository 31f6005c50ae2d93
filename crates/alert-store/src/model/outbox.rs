//! Job events and the outbox: deliveries, attempts, digests and the history that lists them.

use std::sync::Arc;

use alert_core::{JobEvent, JobStatus};
use serde::Serialize;
use serde_json::Value;

/// The times stamped on stored events and their deliveries (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTimes {
    /// Received; deliveries are due now.
    pub now: i64,
    /// Give up retrying after this.
    pub deadline_at: i64,
    /// Flapping window start (see [`OutboxStore::insert_event`](crate::OutboxStore::insert_event)).
    pub repeat_since: i64,
}

/// One event to store with its deliveries ([`OutboxStore::insert_events`](crate::OutboxStore::insert_events)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventItem<'a> {
    /// The event.
    pub event: &'a JobEvent,
    /// One delivery per target.
    pub targets: &'a [Target],
    /// Its times.
    pub times: EventTimes,
    /// The active silence it matched: its deliveries are recorded `silenced` (with this id)
    /// and nothing is sent.
    pub silence_id: Option<i64>,
}

/// A lease taken on the deliveries an intake creates
/// ([`IntakeBatch::lease`], [`OutboxStore::store_intake`](crate::OutboxStore::store_intake)): they are
/// claimed by `worker` as they are inserted, as [`claim_due`](crate::OutboxStore::claim_due)
/// would claim them, so that the process that received the event sends them without claiming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeLease<'a> {
    /// The claiming process (unique among replicas).
    pub worker: &'a str,
    /// Until when (ms); an unsent row is due again then, for any worker.
    pub until: i64,
    /// At most this many rows are claimed (the first ones, in input order); the rest are
    /// stored unclaimed.
    pub max_rows: usize,
}

/// A watcher's new state, saved with the events of its poll ([`IntakeBatch::checkpoints`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatcherCheckpoint<'a> {
    /// The watched cluster.
    pub cluster_id: i64,
    /// The URL the state was observed at.
    pub url: &'a str,
    /// The watcher's state.
    pub state: &'a Value,
    /// When it was observed (ms).
    pub saved_at: i64,
}

/// What one intake transaction stores ([`OutboxStore::store_intake`](crate::OutboxStore::store_intake)):
/// events with their deliveries, watchers' states, and the lease under which the pending
/// deliveries are claimed for the receiving process.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntakeBatch<'a> {
    /// The events, as [`OutboxStore::insert_events`](crate::OutboxStore::insert_events) takes them.
    pub events: &'a [EventItem<'a>],
    /// Watchers' states saved in the same transaction (in order: the last of a cluster wins).
    pub checkpoints: &'a [WatcherCheckpoint<'a>],
    /// Claim the first pending deliveries created for this worker (`None`: all unclaimed).
    pub lease: Option<IntakeLease<'a>>,
}

/// One event of a watcher's poll with its routed targets.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedEvent {
    /// The event.
    pub event: JobEvent,
    /// Where it goes.
    pub targets: Vec<Target>,
    /// The active silence it matched (see [`EventItem::silence_id`]).
    pub silence_id: Option<i64>,
}

/// One delivery to create with an event: this instance, because of this group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The instance to send to.
    pub instance_id: i64,
    /// The group that routed it.
    pub group_id: Option<i64>,
}

/// The result of [`OutboxStore::insert_event`](crate::OutboxStore::insert_event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertedEvent {
    /// The event's id (the first one's, for a duplicate).
    pub event_id: i64,
    /// Deliveries created (those of the first event, for a duplicate).
    pub deliveries: usize,
    /// True when the same (job id, status, occurred_at) was already stored: nothing new created.
    pub duplicate: bool,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Id.
    pub id: i64,
    /// The event.
    pub event: JobEvent,
    /// When it was received, ms.
    pub received_at: i64,
}

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not sent yet (due now or later).
    Pending,
    /// Accepted by the channel.
    Sent,
    /// Given up: permanent error or deadline passed.
    Failed,
    /// Folded into a digest (see `digest_id`).
    Suppressed,
    /// Held back by a silence (see `silence_id`): never sent.
    Silenced,
}

impl DeliveryState {
    /// Lower-case name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
            Self::Silenced => "silenced",
        }
    }
}

/// A delivery as history shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// Id.
    pub id: i64,
    /// The event, `None` for a digest.
    pub event_id: Option<i64>,
    /// The instance.
    pub instance_id: i64,
    /// The routing group, if any.
    pub group_id: Option<i64>,
    /// Pending, sent, failed, suppressed, silenced.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// Earliest time of the next attempt, ms (pending only).
    pub next_attempt_at: i64,
    /// Give up after this time, ms.
    pub deadline_at: i64,
    /// The last error (`{"kind","code","message"}`), if any.
    pub last_error: Option<Value>,
    /// For suppressed rows: the digest delivery that carried them.
    pub digest_id: Option<i64>,
    /// For silenced rows: the silence that held them back.
    pub silence_id: Option<i64>,
    /// For digests: the rendered message (title, text, markdown) as JSON.
    pub payload: Option<Value>,
    /// Created, ms.
    pub created_at: i64,
    /// Accepted by the channel, ms.
    pub sent_at: Option<i64>,
}

/// A delivery claimed by a worker, with what it needs to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    /// The delivery.
    pub delivery: Delivery,
    /// Its event (`None` for a digest, whose message is in `delivery.payload`), shared by the
    /// rows of one event that came together (a fan-out claims thousands of them at once).
    pub event: Option<Arc<JobEvent>>,
}

/// What a worker reports after an attempt; the store records the attempt and moves the row.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// The delivery.
    pub delivery_id: i64,
    /// When the attempt started, ms.
    pub started_at: i64,
    /// When it ended, ms.
    pub finished_at: i64,
    /// The new state: Sent, Failed, or Pending (retry at `next_attempt_at`).
    pub state: DeliveryState,
    /// For Pending: when to try again, ms.
    pub next_attempt_at: Option<i64>,
    /// The error of this attempt (`{"kind","code","message"}`), `None` when sent.
    pub error: Option<Value>,
    /// Warnings of a successful send.
    pub warnings: Vec<String>,
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// 1-based number.
    pub number: u32,
    /// Start, ms.
    pub started_at: i64,
    /// End, ms.
    pub finished_at: i64,
    /// `sent`, `retry`, `throttle`, `permanent`, ... (the outcome kind).
    pub outcome: String,
    /// The error, if any.
    pub error: Option<Value>,
    /// Warnings, if any.
    pub warnings: Vec<String>,
}

/// A digest to create: one message carrying several pending deliveries of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestInput {
    /// The instance.
    pub instance_id: i64,
    /// The deliveries folded into it (they become `suppressed` with `digest_id` set).
    pub folded: Vec<i64>,
    /// The rendered message (title, text, markdown) as JSON.
    pub payload: Value,
    /// Due time, ms.
    pub next_attempt_at: i64,
    /// Give up after, ms.
    pub deadline_at: i64,
    /// Create it already claimed by this worker (which sends it at once), lease until `lease_until`.
    pub claimed_by: Option<String>,
    /// Lease end, ms, with `claimed_by`.
    pub lease_until: Option<i64>,
}

/// Filters of the history listing (all optional; newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Job id.
    pub job_id: Option<String>,
    /// Instance id.
    pub instance_id: Option<i64>,
    /// Group id.
    pub group_id: Option<i64>,
    /// Delivery state.
    pub state: Option<DeliveryState>,
    /// Held back by this silence.
    pub silence_id: Option<i64>,
    /// Only rows with id below this (paging).
    pub before: Option<i64>,
    /// At most this many rows (1..=1000).
    pub limit: u32,
}

/// A history row: a delivery joined with its event and instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRow {
    /// The delivery.
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Job name (`None` for digests).
    pub job_name: Option<String>,
    /// Job id (`None` for digests).
    pub job_id: Option<String>,
    /// The job's cluster (`None` for digests).
    pub cluster: Option<String>,
    /// Previous status.
    pub previous_status: Option<JobStatus>,
    /// New status.
    pub status: Option<JobStatus>,
    /// Instance name.
    pub instance_name: String,
    /// Instance kind.
    pub kind: String,
}
