//! The storage traits, split by concern, and [`Store`], which is all of them.
//!
//! Every method is one transaction. Implementations must be safe to share between tasks.
//! [`SqliteStore`](crate::SqliteStore) and [`PgStore`](crate::PgStore) implement them all with
//! the same SQL (see [`crate::sql`](crate#one-implementation-two-engines)).

use alert_core::JobEvent;
use async_trait::async_trait;
use serde_json::Value;

use crate::copy;
use crate::model::{
    AmInserted, AmItem, AmNotification, AmNotificationInput, AmRender, Attempt, AttemptRecord,
    Binding, BindingInput, ClaimedDelivery, Cluster, ClusterInput, Delivery, DeliveryStats,
    DigestInput, EventItem, EventTimes, Group, GroupInput, GroupTemplate, HistoryFilter,
    HistoryRow, ImportBatch, ImportOutcome, ImportRecord, InsertedEvent, Instance, InstanceInput,
    IntakeBatch, ProvisionPlan, RoutedEvent, Silence, SilenceInput, SilenceState, StoredEvent,
    Target,
};
use crate::StoreResult;

/// Configuration: alert instances, alert groups, bindings, Flink clusters, and the imports that create them.
#[async_trait]
pub trait ConfigStore: Send + Sync + 'static {
    /// Creates an instance; `NameTaken` when the name is used.
    async fn create_instance(&self, input: &InstanceInput, now: i64) -> StoreResult<Instance>;
    /// Every instance, by id.
    async fn list_instances(&self) -> StoreResult<Vec<Instance>>;
    /// One instance.
    async fn get_instance(&self, id: i64) -> StoreResult<Option<Instance>>;
    /// Each of `ids` that exists, by id: one query for many (the instances a claim round
    /// meets for the first time).
    async fn get_instances(&self, ids: &[i64]) -> StoreResult<Vec<Instance>>;
    /// The `updated_at` of each of `ids` that exists, as `(id, updated_at)`: one query for a
    /// whole claim round's instances, to check cached instances against.
    async fn instance_versions(&self, ids: &[i64]) -> StoreResult<Vec<(i64, i64)>>;
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
    /// A group's `updated_at` and message template, without its members (one row, whatever
    /// the group's size: what a sender checks its cached template against).
    async fn group_template(&self, id: i64) -> StoreResult<Option<(i64, Option<GroupTemplate>)>>;
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
    /// The recorded imports of one source (see `alert-server import`).
    async fn import_records(&self, source: &str) -> StoreResult<Vec<ImportRecord>>;
    /// Applies an import in one `BEGIN IMMEDIATE` transaction: creates and updates its
    /// instances, groups and bindings and records their sources. Any error (a name taken since
    /// the plan was made: `NameTaken`; a vanished target: `BadReference`) rolls everything back.
    async fn apply_import(&self, batch: &ImportBatch, now: i64) -> StoreResult<ImportOutcome>;
    /// Applies a provisioning plan in one write transaction (in the order of [`ProvisionPlan`]),
    /// marking what it creates as provisioned. Updates and
    /// deletes touch provisioned rows only: a row that is gone or no longer provisioned is a
    /// `BadReference` (re-plan and retry); a name taken since the plan was made is `NameTaken`;
    /// removing an instance that a group made through the API still holds is `InUse`. Any error
    /// rolls everything back.
    async fn apply_provision(&self, plan: &ProvisionPlan, now: i64) -> StoreResult<()>;
}

/// The outbox: job events and Alertmanager notifications come in with their deliveries, workers claim the due ones, record their attempts, fold them into digests or put them back.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
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
    /// Stores several events with their deliveries as [`insert_event`](Self::insert_event) does,
    /// in one transaction and a few statements whatever their number: all of them or nothing
    /// (an unknown instance among the targets fails the whole batch). Results in input order;
    /// an event repeated within the batch is a duplicate of its first occurrence, and each
    /// event's repeat check sees the events before it in the batch.
    async fn insert_events(&self, items: &[EventItem<'_>]) -> StoreResult<Vec<InsertedEvent>>;
    /// One intake transaction: the events of `batch` with their deliveries (as
    /// [`insert_events`](Self::insert_events) stores them) and its watchers' states (as
    /// [`save_watch_report`](Self::save_watch_report) saves one), all of it or nothing. Under
    /// `batch.lease`, the first `max_rows` `pending` deliveries created are claimed in the same
    /// transaction and returned as [`claim_due`](Self::claim_due) returns rows (oldest first):
    /// the receiving process hands them to its delivery engine instead of claiming them (one
    /// write and one claim round less per delivery). Rows it never sends come back once the
    /// lease ends, like any claimed row.
    async fn store_intake(
        &self,
        batch: IntakeBatch<'_>,
    ) -> StoreResult<(Vec<InsertedEvent>, Vec<ClaimedDelivery>)>;
    /// [`insert_events`](Self::insert_events) for independent writers (a group commit): one
    /// result each, in order. When the batch fails, each is stored in a transaction of its own,
    /// so that one bad event fails alone; but when it fails because the database is out of
    /// reach or full ([`StoreError::is_outage`](crate::StoreError::is_outage)), every write
    /// gets that error at once (nothing was stored, and one more try each would only make
    /// every caller wait longer).
    async fn insert_event_batch(&self, items: &[EventItem<'_>]) -> Vec<StoreResult<InsertedEvent>> {
        if items.len() > 1 {
            match self.insert_events(items).await {
                Ok(all) => return all.into_iter().map(Ok).collect(),
                Err(e) if e.is_outage() => return items.iter().map(|_| Err(e.clone())).collect(),
                Err(_) => {}
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(
                self.insert_events(std::slice::from_ref(item))
                    .await
                    .and_then(|mut one| {
                        one.pop()
                            .ok_or_else(|| crate::StoreError::Database("no result".to_owned()))
                    }),
            );
        }
        out
    }
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
    /// [`insert_alertmanager`](Self::insert_alertmanager) for several notifications in one transaction (group
    /// commit: one commit, one set of written pages for all). Each gets its own result, in order;
    /// when one fails, the others are stored each in a transaction of its own, so one bad
    /// notification never fails the rest. When the database is out of reach or full
    /// ([`StoreError::is_outage`](crate::StoreError::is_outage)), every one gets that error at
    /// once.
    async fn insert_alertmanager_batch(&self, items: &[AmItem<'_>])
        -> Vec<StoreResult<AmInserted>>;
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
}

/// What was stored and sent: events with their deliveries, attempts, the history listing, the queue depth, the Alertmanager notifications.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// One event with its deliveries.
    async fn get_event(&self, id: i64) -> StoreResult<Option<(StoredEvent, Vec<Delivery>)>>;
    /// The attempts of one delivery, in order.
    async fn attempts(&self, delivery_id: i64) -> StoreResult<Vec<Attempt>>;
    /// Number of pending deliveries (queue depth).
    async fn pending_count(&self) -> StoreResult<u64>;
    /// Deliveries with their event and instance, newest first.
    async fn history(&self, filter: &HistoryFilter) -> StoreResult<Vec<HistoryRow>>;
    /// Delivery statistics of the window `[since, until)` (ms), aggregated in the database
    /// ([`DeliveryStats`]): deliveries created in it by state and by hour, events received, and
    /// the instances in trouble (failed attempts or deliveries in the window, or a channel's
    /// pause in force at `now`). Reads indexes only for the counts, however long the history.
    async fn stats(&self, since: i64, until: i64, now: i64) -> StoreResult<DeliveryStats>;
    /// Alertmanager notifications, newest first; only those with unrouted alerts when asked.
    async fn list_alertmanager(
        &self,
        unrouted_only: bool,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AmNotification>>;
}

/// What replicas sharing one database agree on: leases (which replica watches which cluster), per-instance send budgets and channel pauses, and whether the database answers.
#[async_trait]
pub trait CoordinationStore: Send + Sync + 'static {
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
    /// `instance_id` in any [`BUDGET_WINDOW_MS`](crate::BUDGET_WINDOW_MS) (what DingTalk's "20 per minute" means, across
    /// every replica). Takes `n` sends at `now` when they all fit and returns `Ok(Ok(()))`;
    /// otherwise takes none and returns `Ok(Err(t))`, `t` = the earliest time (ms) one send
    /// fits (or the instance's `blocked_until` if later). See [`window_take`](crate::window_take).
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
    /// [`take_budget`](Self::take_budget) for every instance of a claim round at once: each
    /// takes all its `n` sends, or when several do not fit one, for a digest
    /// ([`take_all_or_one`](crate::take_all_or_one)): `Ok(k)`, `k` sends taken, or `Err(t)` as
    /// `take_budget` answers. One read for the unlimited instances and one transaction for the
    /// others, whatever their number; an unknown instance fails the call (`BadReference`).
    async fn take_budgets(
        &self,
        asks: &[crate::BudgetAsk],
        now: i64,
    ) -> StoreResult<Vec<Result<u32, i64>>>;
    /// A channel said "too fast": no budget for `instance_id` before `until` (ms), for every
    /// replica. An earlier block still in force is kept when it ends later.
    async fn block_instance(&self, instance_id: i64, until: i64) -> StoreResult<()>;
    /// True when several processes may share this store (PostgreSQL): the engine then paces
    /// through [`take_budget`](Self::take_budget) and watchers take leases.
    fn is_shared(&self) -> bool;
    /// Checks the database answers (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;
}

/// Export and import of every copied table, for `alert-server migrate` ([`crate::copy`]).
#[async_trait]
pub trait CopyStore: Send + Sync + 'static {
    /// Reads every row of the tables `alert-server migrate` copies ([`copy::TABLES`]) in
    /// one consistent read, handing them to `sink` in batches, table by table; returns where
    /// each id sequence stands (the highest id handed out, deleted rows' included).
    async fn export_rows(
        &self,
        sink: &mut dyn copy::RowSink,
    ) -> StoreResult<Vec<(&'static str, i64)>>;
    /// Starts a copy into this store, in one transaction: `InUse` (naming the tables that hold
    /// rows) unless every copied table is empty. Nothing is visible before the writer commits.
    async fn begin_import(&self) -> StoreResult<Box<dyn copy::RowWriter>>;
    /// Every copied row in memory (tests, small stores): [`export_rows`](Self::export_rows)
    /// into a [`copy::Snapshot`].
    async fn export_all(&self) -> StoreResult<copy::Snapshot> {
        let mut all = copy::Snapshot::empty();
        all.sequences = self.export_rows(&mut all).await?;
        Ok(all)
    }
    /// Writes a whole snapshot with [`begin_import`](Self::begin_import), ids as given, and
    /// moves the id sequences past the snapshot's.
    async fn import_all(&self, all: &copy::Snapshot) -> StoreResult<()> {
        let mut writer = self.begin_import().await?;
        for table in &all.tables {
            if !table.rows.is_empty() {
                writer.write(table.spec, &table.rows).await?;
            }
        }
        writer.commit(&all.sequences).await
    }
    /// `(label, rows)` per copied table, in [`copy::TABLES`] order.
    async fn row_counts(&self) -> StoreResult<Vec<(&'static str, u64)>>;
}

/// Silences for planned work: what matches one in force is recorded `silenced` and not sent.
#[async_trait]
pub trait SilenceStore: Send + Sync + 'static {
    /// Creates a silence (checked by the caller).
    async fn create_silence(&self, input: &SilenceInput, now: i64) -> StoreResult<Silence>;
    /// Silences in `state` at `now` (every one when `None`), newest first.
    async fn list_silences(
        &self,
        state: Option<SilenceState>,
        now: i64,
    ) -> StoreResult<Vec<Silence>>;
    /// One silence.
    async fn get_silence(&self, id: i64) -> StoreResult<Option<Silence>>;
    /// Ends a silence at `now` (a pending one never starts); an expired one is left as it is.
    /// `None` when it does not exist.
    async fn expire_silence(&self, id: i64, now: i64) -> StoreResult<Option<Silence>>;
    /// The silences not ended at `now` (active and pending), by id: what routing matches against.
    async fn silences_in_force(&self, now: i64) -> StoreResult<Vec<Silence>>;
}

/// Everything the server needs of storage: every storage trait at once. Implemented for every
/// type that implements them all, so `Arc<dyn Store>` reaches each method.
pub trait Store:
    ConfigStore + OutboxStore + HistoryStore + CoordinationStore + CopyStore + SilenceStore
{
}

impl<T> Store for T where
    T: ConfigStore + OutboxStore + HistoryStore + CoordinationStore + CopyStore + SilenceStore
{
}
