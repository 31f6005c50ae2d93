//! Storage: configuration (instances, groups, bindings), events, and the durable delivery outbox.
//!
//! The dispatcher and the API talk to storage only through the [`Store`] trait, with two
//! backends: [`sqlite`] (embedded, one process) and [`postgres`] (several replicas on one
//! database). Times are Unix milliseconds (`i64`) throughout.

pub mod postgres;
pub mod snapshot;
pub mod sqlite;

use alert_core::{JobEvent, JobStatus};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique name is already taken (`field` is `name`).
    #[error("{what} named `{name}` already exists")]
    NameTaken {
        /// `instance` or `group`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A referenced row does not exist (`field` names the reference, e.g. `instance_ids`).
    #[error("{field}: {message}")]
    BadReference {
        /// The request field that holds the reference.
        field: &'static str,
        /// What is missing.
        message: String,
    },
    /// The row is used elsewhere and cannot be deleted (e.g. an instance still in groups).
    #[error("{0}")]
    InUse(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
}

/// Shorthand.
pub type StoreResult<T> = Result<T, StoreError>;

/// An alert instance as given by the API (params with secrets in clear).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceInput {
    /// Unique name.
    pub name: String,
    /// Plugin kind.
    pub kind: String,
    /// Disabled instances receive nothing.
    pub enabled: bool,
    /// Validated, normalized parameters (secrets in clear: storage only).
    pub params: Value,
    /// Send budget per minute; `None` = unlimited.
    pub rate_per_minute: Option<u32>,
}

/// A stored alert instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Id.
    pub id: i64,
    /// The rest.
    pub input: InstanceInput,
    /// Created, ms.
    pub created_at: i64,
    /// Last updated, ms.
    pub updated_at: i64,
}

/// An alert group as given by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInput {
    /// Unique name.
    pub name: String,
    /// Disabled groups alert nobody.
    pub enabled: bool,
    /// Member instances (each must exist).
    pub instance_ids: Vec<i64>,
}

/// A stored alert group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Id.
    pub id: i64,
    /// The rest.
    pub input: GroupInput,
    /// Created, ms.
    pub created_at: i64,
    /// Last updated, ms.
    pub updated_at: i64,
}

/// Which jobs alert which group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingInput {
    /// Job name or glob (`orders_*`).
    pub job: String,
    /// Cluster name; `None` matches every cluster.
    pub cluster: Option<String>,
    /// The group to alert (must exist).
    pub group_id: i64,
    /// Statuses that alert.
    pub statuses: Vec<JobStatus>,
    /// Set for an Alertmanager binding (whose `job` is empty and matches no job event).
    pub alertmanager: Option<AmMatch>,
}

/// What an Alertmanager binding matches (see `docs/ALERTMANAGER.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AmMatch {
    /// Label matchers: label → anchored regex (`!` first negates); all must match.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The Alertmanager receiver name; `None` matches every receiver.
    pub receiver: Option<String>,
    /// One message per alert instead of one per group notification.
    pub per_alert: bool,
}

/// The dedup key of an Alertmanager alert: delivered once per instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AmAlertKey {
    /// Alertmanager's fingerprint of the label set.
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// `startsAt` as sent.
    pub starts_at: String,
}

/// One message to create for an Alertmanager notification: these alerts (indexes into
/// [`AmNotificationInput::alerts`]) to this target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmMessagePlan {
    /// Where it goes.
    pub target: Target,
    /// Which alerts it carries, in order.
    pub alerts: Vec<usize>,
}

/// An Alertmanager notification to store with its deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct AmNotificationInput {
    /// Receiver name.
    pub receiver: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Alertmanager's group key.
    pub group_key: String,
    /// The webhook body as received.
    pub payload: Value,
    /// The dedup key of every alert, in the payload's order.
    pub alerts: Vec<AmAlertKey>,
    /// Alerts that matched no binding.
    pub unrouted: usize,
    /// The messages routing asks for (before dedup).
    pub messages: Vec<AmMessagePlan>,
}

/// Renders the message of the alerts (indexes) left after dedup: the stored delivery payload.
pub type AmRender<'a> = &'a (dyn Fn(&[usize]) -> Result<Value, String> + Send + Sync);

/// Splits a message's alerts (`(index, key)`) by the keys the store just `added` for the
/// instance: the indexes to send (`fresh`, in order) and how many were delivered before. A key
/// listed twice in one message is sent once.
pub(crate) fn split_fresh(
    keys: &[(usize, &AmAlertKey)],
    added: Vec<(String, String, String)>,
) -> (Vec<usize>, usize) {
    let mut added: std::collections::HashSet<(String, String, String)> =
        added.into_iter().collect();
    let mut fresh = Vec::with_capacity(keys.len());
    let mut duplicates = 0;
    for (i, key) in keys {
        let tuple = (
            key.fingerprint.clone(),
            key.status.clone(),
            key.starts_at.clone(),
        );
        if added.remove(&tuple) {
            fresh.push(*i);
        } else {
            duplicates += 1;
        }
    }
    (fresh, duplicates)
}

/// [`Store::insert_alertmanager_batch`] for either backend: `together` (the backend's one
/// transaction for all of `items`) when there are several; when it fails, or for a single item,
/// each through [`Store::insert_alertmanager`] in a transaction of its own, so that one bad
/// notification fails alone.
pub(crate) async fn insert_alertmanager_batch_with<S: Store + ?Sized>(
    store: &S,
    items: &[AmItem<'_>],
    together: impl std::future::Future<Output = StoreResult<Vec<AmInserted>>>,
) -> Vec<StoreResult<AmInserted>> {
    if items.len() > 1 {
        if let Ok(out) = together.await {
            return out.into_iter().map(Ok).collect();
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(
            store
                .insert_alertmanager(item.input, item.render, item.times)
                .await,
        );
    }
    out
}

/// One notification of [`Store::insert_alertmanager_batch`].
#[derive(Clone, Copy)]
pub struct AmItem<'a> {
    /// The notification.
    pub input: &'a AmNotificationInput,
    /// Its renderer.
    pub render: AmRender<'a>,
    /// Its times.
    pub times: EventTimes,
}

impl std::fmt::Debug for AmItem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmItem")
            .field("input", self.input)
            .field("times", &self.times)
            .finish_non_exhaustive()
    }
}

/// The result of [`Store::insert_alertmanager`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmInserted {
    /// The notification's id.
    pub notification_id: i64,
    /// Deliveries created.
    pub deliveries: usize,
    /// (alert, instance) pairs left out because they were delivered before.
    pub duplicates: usize,
}

/// A stored Alertmanager notification, as `GET /api/v1/ingest/alertmanager` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmNotification {
    /// Id.
    pub id: i64,
    /// Receiver.
    pub receiver: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Group key.
    pub group_key: String,
    /// Alerts in it.
    pub alerts: u32,
    /// Alerts that matched no binding.
    pub unrouted: u32,
    /// (alert, instance) pairs not sent again.
    pub duplicates: u32,
    /// Deliveries created.
    pub deliveries: u32,
    /// The delivery ids.
    pub delivery_ids: Vec<i64>,
    /// The body as received.
    pub payload: Value,
    /// Received, ms.
    pub received_at: i64,
}

/// A stored binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Id.
    pub id: i64,
    /// The rest.
    pub input: BindingInput,
    /// Created, ms.
    pub created_at: i64,
}

/// A Flink cluster as given by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInput {
    /// Unique name (what bindings' `cluster` matches).
    pub name: String,
    /// JobManager REST URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
    /// Disabled clusters are not polled.
    pub enabled: bool,
    /// Poll interval, ms.
    pub poll_interval_ms: u64,
}

/// A stored cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Id.
    pub id: i64,
    /// The rest.
    pub input: ClusterInput,
    /// Created, ms.
    pub created_at: i64,
    /// Last updated, ms.
    pub updated_at: i64,
}

/// The times stamped on stored events and their deliveries (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTimes {
    /// Received; deliveries are due now.
    pub now: i64,
    /// Give up retrying after this.
    pub deadline_at: i64,
    /// Flapping window start (see [`Store::insert_event`]).
    pub repeat_since: i64,
}

/// One event of a watcher's poll with its routed targets.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedEvent {
    /// The event.
    pub event: JobEvent,
    /// Where it goes.
    pub targets: Vec<Target>,
}

/// One delivery to create with an event: this instance, because of this group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The instance to send to.
    pub instance_id: i64,
    /// The group that routed it.
    pub group_id: Option<i64>,
}

/// The result of [`Store::insert_event`].
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
}

impl DeliveryState {
    /// Lower-case name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
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
    /// Pending, sent, failed, suppressed.
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
    /// Its event (`None` for a digest, whose message is in `delivery.payload`).
    pub event: Option<JobEvent>,
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
    /// Previous status.
    pub previous_status: Option<JobStatus>,
    /// New status.
    pub status: Option<JobStatus>,
    /// Instance name.
    pub instance_name: String,
    /// Instance kind.
    pub kind: String,
}

/// Where an imported object came from: one row of a source database (see `alert-server import`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImportKey {
    /// The source database, without credentials (`mysql://host:3306/dinky`, `file:/x.json`).
    pub source: String,
    /// The source tenant id, 0 when the source has no tenants.
    pub tenant: i64,
    /// The source table (`dinky_alert_instance`, ...).
    pub table: String,
    /// The source row id.
    pub id: i64,
}

/// What a recorded source row became here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportedKind {
    /// An alert instance.
    Instance,
    /// An alert group.
    Group,
    /// A binding.
    Binding,
}

impl ImportedKind {
    /// `instance`, `group` or `binding`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instance => "instance",
            Self::Group => "group",
            Self::Binding => "binding",
        }
    }
}

/// A recorded import: source row → our object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    /// The source row.
    pub key: ImportKey,
    /// What it became.
    pub kind: ImportedKind,
    /// Our id (the object may have been deleted since).
    pub target_id: i64,
}

/// A reference from an import step to an instance or group: one that exists, or one created
/// earlier in the same [`ImportBatch`] (index into its `instances` or `groups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportRef {
    /// An existing row id.
    Existing(i64),
    /// The object created (or updated) by this step of the batch.
    Step(usize),
}

/// One instance to create (`target` `None`) or update (keeps its `rate_per_minute`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportInstance {
    /// Its source row.
    pub key: ImportKey,
    /// The instance to update, `None` to create.
    pub target: Option<i64>,
    /// Name, kind, enabled, params (and the rate, used on create only).
    pub input: InstanceInput,
}

/// One group to create or update (members replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportGroup {
    /// Its source row.
    pub key: ImportKey,
    /// The group to update, `None` to create.
    pub target: Option<i64>,
    /// Name.
    pub name: String,
    /// Enabled.
    pub enabled: bool,
    /// Members, in order.
    pub members: Vec<ImportRef>,
}

/// One binding to create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportBinding {
    /// Its source row.
    pub key: ImportKey,
    /// The binding to update, `None` to create.
    pub target: Option<i64>,
    /// Job name.
    pub job: String,
    /// The group.
    pub group: ImportRef,
    /// Statuses that alert.
    pub statuses: Vec<JobStatus>,
}

/// Everything one import writes, applied by [`Store::apply_import`] in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportBatch {
    /// Instances, first.
    pub instances: Vec<ImportInstance>,
    /// Then groups ([`ImportRef::Step`] indexes `instances`).
    pub groups: Vec<ImportGroup>,
    /// Then bindings ([`ImportRef::Step`] indexes `groups`).
    pub bindings: Vec<ImportBinding>,
}

/// The ids an applied [`ImportBatch`] wrote, in the batch's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// One per batch instance.
    pub instance_ids: Vec<i64>,
    /// One per batch group.
    pub group_ids: Vec<i64>,
    /// One per batch binding.
    pub binding_ids: Vec<i64>,
}

/// Storage of configuration, events and the outbox.
///
/// Every method is one transaction. Implementations must be safe to share between tasks.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an instance; `NameTaken` when the name is used.
    async fn create_instance(&self, input: &InstanceInput, now: i64) -> StoreResult<Instance>;
    /// Every instance, by id.
    async fn list_instances(&self) -> StoreResult<Vec<Instance>>;
    /// One instance.
    async fn get_instance(&self, id: i64) -> StoreResult<Option<Instance>>;
    /// Replaces an instance; `None` when it does not exist.
    async fn update_instance(
        &self,
        id: i64,
        input: &InstanceInput,
        now: i64,
    ) -> StoreResult<Option<Instance>>;
    /// Deletes an instance; `InUse` (listing the groups) while a group holds it; false when absent.
    async fn delete_instance(&self, id: i64) -> StoreResult<bool>;

    /// Creates a group; `BadReference` for unknown instance ids.
    async fn create_group(&self, input: &GroupInput, now: i64) -> StoreResult<Group>;
    /// Every group, by id.
    async fn list_groups(&self) -> StoreResult<Vec<Group>>;
    /// One group.
    async fn get_group(&self, id: i64) -> StoreResult<Option<Group>>;
    /// Replaces a group; `None` when it does not exist.
    async fn update_group(
        &self,
        id: i64,
        input: &GroupInput,
        now: i64,
    ) -> StoreResult<Option<Group>>;
    /// Deletes a group and its bindings; false when absent.
    async fn delete_group(&self, id: i64) -> StoreResult<bool>;

    /// Creates a binding; `BadReference` (field `group_id`) for an unknown group.
    async fn create_binding(&self, input: &BindingInput, now: i64) -> StoreResult<Binding>;
    /// Every binding, by id.
    async fn list_bindings(&self) -> StoreResult<Vec<Binding>>;
    /// Deletes a binding; false when absent.
    async fn delete_binding(&self, id: i64) -> StoreResult<bool>;

    /// Creates a cluster; `NameTaken` when the name is used.
    async fn create_cluster(&self, input: &ClusterInput, now: i64) -> StoreResult<Cluster>;
    /// Every cluster, by id.
    async fn list_clusters(&self) -> StoreResult<Vec<Cluster>>;
    /// One cluster.
    async fn get_cluster(&self, id: i64) -> StoreResult<Option<Cluster>>;
    /// Replaces a cluster; `None` when it does not exist.
    async fn update_cluster(
        &self,
        id: i64,
        input: &ClusterInput,
        now: i64,
    ) -> StoreResult<Option<Cluster>>;
    /// Deletes a cluster and its watcher state; false when absent.
    async fn delete_cluster(&self, id: i64) -> StoreResult<bool>;
    /// The watcher state last saved for a cluster, with the URL it was observed at.
    async fn watcher_state(&self, cluster_id: i64) -> StoreResult<Option<(String, Value)>>;
    /// Stores a watcher's poll in one transaction: its events with their deliveries (as
    /// [`insert_event`](Self::insert_event) does, duplicates included) and, when given, its new
    /// state. Either all of it is committed or nothing.
    async fn save_watch_report(
        &self,
        cluster_id: i64,
        url: &str,
        events: &[RoutedEvent],
        state: Option<&Value>,
        times: EventTimes,
    ) -> StoreResult<Vec<InsertedEvent>>;

    /// Stores an event and one pending delivery per target, due `now`, in one transaction.
    ///
    /// - An event with the same (job id, status, occurred_at) as a stored one creates nothing
    ///   and returns the first one's id with `duplicate: true`.
    /// - Flapping: when an earlier event of the same job id with the same status was received
    ///   at or after `repeat_since`, the deliveries are created `suppressed` (no digest) with
    ///   `last_error` `{"kind":"repeat","message":"repeat of event N"}`, so a job flapping
    ///   RESTARTING/RUNNING alerts once per window.
    async fn insert_event(
        &self,
        event: &JobEvent,
        targets: &[Target],
        now: i64,
        deadline_at: i64,
        repeat_since: i64,
    ) -> StoreResult<InsertedEvent>;
    /// One event with its deliveries.
    async fn get_event(&self, id: i64) -> StoreResult<Option<(StoredEvent, Vec<Delivery>)>>;

    /// Claims up to `limit` pending deliveries due at `now` whose lease is free or expired,
    /// oldest first, leasing them to `worker` until `now + lease_ms`.
    async fn claim_due(
        &self,
        now: i64,
        limit: u32,
        worker: &str,
        lease_ms: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records attempts and moves their rows (clears the lease), in one transaction.
    async fn record_attempts(&self, records: &[AttemptRecord]) -> StoreResult<()>;
    /// Puts claimed rows back unattempted (shutdown, pacing), due at `next_attempt_at`.
    async fn release(&self, delivery_ids: &[i64], next_attempt_at: i64) -> StoreResult<()>;
    /// Creates a digest delivery and suppresses the folded rows, in one transaction. Returns its id.
    async fn create_digest(&self, digest: &DigestInput, now: i64) -> StoreResult<i64>;
    /// The attempts of one delivery, in order.
    async fn attempts(&self, delivery_id: i64) -> StoreResult<Vec<Attempt>>;
    /// Number of pending deliveries (queue depth).
    async fn pending_count(&self) -> StoreResult<u64>;
    /// Deliveries with their event and instance, newest first.
    async fn history(&self, filter: &HistoryFilter) -> StoreResult<Vec<HistoryRow>>;

    /// The recorded imports of one source (see `alert-server import`).
    async fn import_records(&self, source: &str) -> StoreResult<Vec<ImportRecord>>;
    /// Applies an import in one `BEGIN IMMEDIATE` transaction: creates and updates its
    /// instances, groups and bindings and records their sources. Any error (a name taken since
    /// the plan was made: `NameTaken`; a vanished target: `BadReference`) rolls everything back.
    async fn apply_import(&self, batch: &ImportBatch, now: i64) -> StoreResult<ImportOutcome>;

    /// Stores an Alertmanager notification and its deliveries in one transaction. For each
    /// planned message, the alerts whose key was already delivered to that instance are left
    /// out (counted in `duplicates`); the rest are recorded as delivered to it and `render`
    /// makes the message (a digest-shaped payload) of a pending delivery due `times.now`.
    async fn insert_alertmanager(
        &self,
        notification: &AmNotificationInput,
        render: AmRender<'_>,
        times: EventTimes,
    ) -> StoreResult<AmInserted>;
    /// [`Store::insert_alertmanager`] for several notifications in one transaction (group
    /// commit: one commit, one set of written pages for all). Each gets its own result, in order;
    /// when one fails, the others are stored each in a transaction of its own, so one bad
    /// notification never fails the rest.
    async fn insert_alertmanager_batch(&self, items: &[AmItem<'_>])
        -> Vec<StoreResult<AmInserted>>;
    /// Alertmanager notifications, newest first; only those with unrouted alerts when asked.
    async fn list_alertmanager(
        &self,
        unrouted_only: bool,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AmNotification>>;

    /// Takes or renews the lease `name` for `holder` until `now + ttl_ms`; true when `holder`
    /// holds it afterwards (it was free, expired, or already held by `holder`).
    ///
    /// A lease holds up to and including its end time, and is expired strictly after it.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool>;
    /// Gives up a lease held by `holder` (shutdown); no-op otherwise.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
    /// Names of the unexpired leases `holder` holds, sorted.
    async fn leases_held(&self, holder: &str, now: i64) -> StoreResult<Vec<String>>;
    /// Shared per-instance budget, a sliding window: at most `rate_per_minute` sends of
    /// `instance_id` in any [`BUDGET_WINDOW_MS`] (what DingTalk's "20 per minute" means, across
    /// every replica). Takes `n` sends at `now` when they all fit and returns `Ok(Ok(()))`;
    /// otherwise takes none and returns `Ok(Err(t))`, `t` = the earliest time (ms) one send
    /// fits (or the instance's `blocked_until` if later). See [`window_take`].
    ///
    /// A `rate_per_minute` of 0 is unlimited (only [`block_instance`](Self::block_instance)
    /// applies). Taking from the budget of an unknown instance is `BadReference` (field
    /// `instance_id`).
    async fn take_budget(
        &self,
        instance_id: i64,
        rate_per_minute: u32,
        n: u32,
        now: i64,
    ) -> StoreResult<Result<(), i64>>;
    /// A channel said "too fast": no budget for `instance_id` before `until` (ms), for every
    /// replica. An earlier block still in force is kept when it ends later.
    async fn block_instance(&self, instance_id: i64, until: i64) -> StoreResult<()>;
    /// True when several processes may share this store (PostgreSQL): the engine then paces
    /// through [`take_budget`](Self::take_budget) and watchers take leases.
    fn is_shared(&self) -> bool;
    /// Checks the database answers (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Reads every row of the tables `alert-server migrate` copies ([`snapshot::TABLES`]) in
    /// one consistent read, handing them to `sink` in batches, table by table; returns where
    /// each id sequence stands (the highest id handed out, deleted rows' included).
    async fn export_rows(
        &self,
        sink: &mut dyn snapshot::RowSink,
    ) -> StoreResult<Vec<(&'static str, i64)>>;
    /// Starts a copy into this store, in one transaction: `InUse` (naming the tables that hold
    /// rows) unless every copied table is empty. Nothing is visible before the writer commits.
    async fn begin_import(&self) -> StoreResult<Box<dyn snapshot::RowWriter>>;
    /// Every copied row in memory (tests, small stores): [`export_rows`](Self::export_rows)
    /// into a [`snapshot::Snapshot`].
    async fn export_all(&self) -> StoreResult<snapshot::Snapshot> {
        let mut all = snapshot::Snapshot::empty();
        all.sequences = self.export_rows(&mut all).await?;
        Ok(all)
    }
    /// Writes a whole snapshot with [`begin_import`](Self::begin_import), ids as given, and
    /// moves the id sequences past the snapshot's.
    async fn import_all(&self, all: &snapshot::Snapshot) -> StoreResult<()> {
        let mut writer = self.begin_import().await?;
        for table in &all.tables {
            if !table.rows.is_empty() {
                writer.write(table.spec, &table.rows).await?;
            }
        }
        writer.commit(&all.sequences).await
    }
    /// `(label, rows)` per copied table, in [`snapshot::TABLES`] order.
    async fn row_counts(&self) -> StoreResult<Vec<(&'static str, u64)>>;
}

/// The window of a `rate_per_minute` budget.
pub const BUDGET_WINDOW_MS: i64 = 60_000;

/// A sliding-window budget of `rate_per_minute` sends: `sent` holds the times (ms, oldest
/// first) of the sends still in the window. Forgets the ones out of the window at `now`, then
/// records `n` sends at `now` when they are granted (`Ok`), or records nothing and returns the
/// earliest time one send is granted (`Err`). A rate of 0 is unlimited and records nothing.
///
/// No 60 s window ever holds more than `rate_per_minute` sends (a token bucket refilled at
/// `rate / 60 s` lets `2 × rate − 1` through in some minute). Within that, the budget has two
/// halves so that a storm does not spend the whole minute at once and then fall silent:
/// - the first half goes to whoever asks: `n` sends are granted while the window holds at
///   most `rate / 2` (rounded down) with them;
/// - the second half is paced: one send at a time, at least `60 s / (rate − rate / 2)` after
///   the latest one. The engine uses these for digests of whatever waits, so during a storm
///   one message carrying everything new goes out every few seconds.
pub fn window_take(sent: &mut Vec<i64>, rate_per_minute: u32, n: u32, now: i64) -> Result<(), i64> {
    if rate_per_minute == 0 {
        sent.clear();
        return Ok(());
    }
    sent.retain(|&t| t + BUDGET_WINDOW_MS > now);
    let rate = rate_per_minute as usize;
    let free = rate / 2;
    let n = n as usize;
    if sent.len() + n <= free {
        sent.extend(std::iter::repeat_n(now, n));
        return Ok(());
    }
    let spacing = BUDGET_WINDOW_MS / i64::from(rate_per_minute - rate_per_minute / 2);
    let paced_at = sent.last().map_or(now, |&last| (last + spacing).max(now));
    // One more send fits once all but `rate - 1` of the recorded ones have left the window.
    let room_at = if sent.len() < rate {
        now
    } else {
        sent[sent.len() - rate] + BUDGET_WINDOW_MS
    };
    let at = paced_at.max(room_at);
    if n == 1 && at == now {
        sent.push(now);
        return Ok(());
    }
    Err(at.max(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Greedy takes of `n` at a time from 0 to `until`; returns the send times.
    fn run(rate: u32, n: u32, until: i64) -> Vec<i64> {
        let mut sent = Vec::new();
        let mut log = Vec::new();
        let mut now = 0;
        while now < until {
            match window_take(&mut sent, rate, n, now)
                .or_else(|_| window_take(&mut sent, rate, 1, now))
            {
                Ok(()) => log.push(now),
                Err(at) => {
                    assert!(at > now, "{at} <= {now}");
                    now = at;
                }
            }
        }
        log
    }

    #[test]
    fn no_minute_ever_holds_more_than_the_rate() {
        for rate in [1, 2, 3, 7, 20, 60] {
            let log = run(rate, 1, 600_000);
            for (i, &t) in log.iter().enumerate() {
                let in_window = log[i..].iter().take_while(|&&u| u < t + 60_000).count();
                assert!(
                    in_window <= rate as usize,
                    "rate {rate}: {in_window} sends in the minute from {t}"
                );
            }
            // At least half the rate is usable over time (all of it when it comes in bursts).
            assert!(
                log.len() as u32 >= rate * 5,
                "rate {rate}: {} sends in 10 minutes",
                log.len()
            );
        }
    }

    #[test]
    fn half_at_once_then_one_every_few_seconds() {
        let mut sent = Vec::new();
        // 20 per minute: 10 at once...
        for i in 0..10 {
            assert_eq!(window_take(&mut sent, 20, 1, i), Ok(()), "send {i}");
        }
        // ...then one every 6 s (60 s / the 10 paced ones), counted from the latest send.
        assert_eq!(window_take(&mut sent, 20, 1, 100), Err(6_009));
        assert_eq!(
            window_take(&mut sent, 20, 5, 6_009),
            Err(6_009),
            "several never go paced"
        );
        assert_eq!(window_take(&mut sent, 20, 1, 6_009), Ok(()));
        assert_eq!(window_take(&mut sent, 20, 1, 6_010), Err(12_009));
        // A refusal records nothing.
        assert_eq!(sent.len(), 11);
        // A quiet minute later everything is free again.
        assert_eq!(window_take(&mut sent, 20, 10, 200_000), Ok(()));
        // More than the free half never fits at once; 0 is unlimited.
        assert_eq!(window_take(&mut Vec::new(), 20, 11, 0), Err(0));
        let mut sent = vec![1, 2, 3];
        assert_eq!(window_take(&mut sent, 0, 1_000, 5), Ok(()));
        assert!(sent.is_empty());
    }

    #[test]
    fn a_full_window_waits_for_its_oldest_send() {
        // 2 per minute: 1 free, 1 paced 60 s apart... and never 3 in a minute.
        let mut sent = Vec::new();
        assert_eq!(window_take(&mut sent, 2, 1, 0), Ok(()));
        assert_eq!(window_take(&mut sent, 2, 1, 1), Err(60_000));
        assert_eq!(window_take(&mut sent, 2, 1, 60_000), Ok(()));
        assert_eq!(window_take(&mut sent, 2, 1, 60_001), Err(120_000));
    }
}
