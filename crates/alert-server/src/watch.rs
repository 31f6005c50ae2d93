//! Flink cluster watchers inside the server: one [`alert_flink::ClusterWatcher`] per enabled
//! cluster, whose polls are routed like `POST /api/v1/events` and committed through the same
//! intake ([`crate::intake`]), together with the watcher's state, in one transaction (a restart
//! neither re-alerts nor misses a transition).
//!
//! On a shared database (PostgreSQL, several replicas) a replica watches a cluster only while
//! it holds the cluster's lease (`watch:<id>` in the store): a loop renews the leases every
//! third of `watch.lease_ms`, starts the watchers of the leases it gets and stops those it
//! loses; a replica that dies stops renewing and another takes its clusters over once the
//! lease expires (within two lease periods). The new watcher starts from the state the old
//! one committed, so it neither re-alerts old transitions nor misses the one during the
//! failover. Before committing a poll the watcher renews its lease, and a watcher that lost it
//! stops without committing, so two replicas never alert the same transition.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alert_flink::{
    ClusterConfig, ClusterRef, ClusterView, ClusterWatcher, Detector, DetectorConfig,
    DetectorState, EventSink, Finding, PollReport, PollResult, SinkError, WatcherHandle,
};
use tokio::sync::{watch, Mutex, Semaphore};

use crate::clock::now_ms;
use crate::config::DeliveryConfig;
use crate::health_rules::HealthRules;
use crate::intake::{Checkpoint, EventIngest, EventJob, IntakeWrite};
use crate::metrics::Metrics;
use crate::routing::{binding_matches, binding_takes_condition, RoutingCache, Snapshot};
use alert_core::JobStatus;
use alert_store::{Cluster, ClusterInput, EventTimes, RoutedEvent, Store};

/// Polls running at once over all clusters.
const MAX_CONCURRENT_POLLS: usize = 16;

/// The lease of a cluster's watcher.
pub fn lease_name(cluster_id: i64) -> String {
    format!("watch:{cluster_id}")
}

/// Who this replica is and how long its watcher leases last.
#[derive(Debug, Clone)]
struct Lease {
    holder: String,
    ttl_ms: i64,
}

/// A watcher this process runs, with the cluster settings it was started with.
struct Running {
    input: ClusterInput,
    handle: WatcherHandle,
    /// When its lease was last renewed (shared database only).
    renewed_at: i64,
}

impl Running {
    /// Stops the watcher and drops its cluster's gauges (this process no longer watches it).
    async fn stop(self, metrics: &Metrics) {
        self.handle.stop().await;
        metrics.forget_cluster(&self.input.name);
    }
}

/// The watchers of this process, by cluster id.
pub struct Watchers {
    store: Arc<dyn Store>,
    routing: Arc<RoutingCache>,
    ingest: Arc<EventIngest>,
    metrics: Arc<Metrics>,
    delivery: DeliveryConfig,
    limiter: Arc<Semaphore>,
    /// One connection pool for every cluster (a client per cluster costs ~26 KB and a pool).
    http: Option<reqwest::Client>,
    /// Set on a shared database: watchers run under leases.
    lease: Option<Lease>,
    /// Bound of the health reads per poll of one cluster (`watch.health_reads_per_poll`).
    health_reads_per_poll: usize,
    closing: watch::Sender<bool>,
    handles: Mutex<HashMap<i64, Running>>,
}

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchers").finish_non_exhaustive()
    }
}

impl Watchers {
    /// No watcher yet; [`start_all`](Self::start_all) starts those of enabled clusters, which
    /// store their polls through `ingest`. On a shared store, `replica` holds the leases, each
    /// for `lease_ms`.
    pub fn new(
        store: Arc<dyn Store>,
        routing: Arc<RoutingCache>,
        ingest: Arc<EventIngest>,
        metrics: Arc<Metrics>,
        delivery: DeliveryConfig,
        replica: String,
        lease_ms: u64,
    ) -> Self {
        let lease = store.is_shared().then(|| Lease {
            holder: replica,
            ttl_ms: i64::try_from(lease_ms).unwrap_or(i64::MAX),
        });
        Self {
            store,
            routing,
            ingest,
            metrics,
            delivery,
            limiter: Arc::new(Semaphore::new(MAX_CONCURRENT_POLLS)),
            http: alert_flink::FlinkClient::http_pool(Duration::from_secs(5))
                .map_err(|e| tracing::warn!(error = %e, "no shared HTTP client for watchers"))
                .ok(),
            lease,
            health_reads_per_poll: alert_flink::DEFAULT_MAX_HEALTH_REQUESTS,
            closing: watch::channel(false).0,
            handles: Mutex::new(HashMap::new()),
        }
    }

    /// With another bound of the health reads per poll of one cluster
    /// (`watch.health_reads_per_poll`; default [`alert_flink::DEFAULT_MAX_HEALTH_REQUESTS`]).
    #[must_use]
    pub fn with_health_reads_per_poll(mut self, n: usize) -> Self {
        self.health_reads_per_poll = n.max(1);
        self
    }

    /// Starts a watcher for every enabled cluster; on a shared store, for every cluster whose
    /// lease this replica gets, and a task that keeps renewing and rebalancing them.
    pub async fn start_all(self: &Arc<Self>) -> Result<(), alert_store::StoreError> {
        let Some(lease) = &self.lease else {
            for cluster in self.store.list_clusters().await? {
                self.apply(&cluster).await;
            }
            return Ok(());
        };
        self.rebalance().await?;
        let every = Duration::from_millis(u64::try_from(lease.ttl_ms / 3).unwrap_or(1).max(1));
        let me = Arc::clone(self);
        let mut closing = self.closing.subscribe();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = closing.changed() => break,
                }
                if *closing.borrow() {
                    break;
                }
                if let Err(e) = me.rebalance().await {
                    tracing::warn!(error = %e, "renewing watcher leases failed");
                }
            }
        });
        Ok(())
    }

    /// Shared store: renews or takes the lease of every enabled cluster, starts the watchers of
    /// the leases held and stops the others (also those whose cluster changed or went away).
    async fn rebalance(&self) -> Result<(), alert_store::StoreError> {
        let Some(lease) = &self.lease else {
            return Ok(());
        };
        let clusters = self.store.list_clusters().await;
        let now = now_ms();
        let clusters = match clusters {
            Ok(c) => c,
            Err(e) => {
                // Without the database no lease can be renewed: stop what may have expired.
                self.stop_expired(now).await;
                return Err(e);
            }
        };
        let mut handles = self.handles.lock().await;
        let gone: Vec<i64> = handles
            .keys()
            .filter(|id| !clusters.iter().any(|c| c.id == **id && c.input.enabled))
            .copied()
            .collect();
        for id in gone {
            if let Some(running) = handles.remove(&id) {
                running.stop(&self.metrics).await;
            }
            self.release(id).await;
        }
        for cluster in clusters.iter().filter(|c| c.input.enabled) {
            let name = lease_name(cluster.id);
            match self
                .store
                .acquire_lease(&name, &lease.holder, now, lease.ttl_ms)
                .await
            {
                Ok(true) => {
                    let current = handles
                        .get_mut(&cluster.id)
                        .filter(|r| r.input == cluster.input && !r.handle.is_finished());
                    if let Some(running) = current {
                        running.renewed_at = now;
                        continue;
                    }
                    if let Some(old) = handles.remove(&cluster.id) {
                        old.stop(&self.metrics).await;
                    }
                    if let Some(handle) = self.spawn_watcher(cluster).await {
                        tracing::info!(cluster = %cluster.input.name, replica = %lease.holder, "took the watcher lease");
                        handles.insert(
                            cluster.id,
                            Running {
                                input: cluster.input.clone(),
                                handle,
                                renewed_at: now,
                            },
                        );
                    }
                }
                Ok(false) => {
                    if let Some(running) = handles.remove(&cluster.id) {
                        tracing::info!(cluster = %cluster.input.name, "another replica holds the watcher lease; stopping");
                        running.stop(&self.metrics).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(cluster = %cluster.input.name, error = %e, "renewing a watcher lease failed");
                    if handles
                        .get(&cluster.id)
                        .is_some_and(|r| r.renewed_at + lease.ttl_ms <= now)
                    {
                        if let Some(running) = handles.remove(&cluster.id) {
                            running.stop(&self.metrics).await;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Stops the watchers whose lease may have expired (not renewed for a whole period).
    async fn stop_expired(&self, now: i64) {
        let Some(lease) = &self.lease else { return };
        let mut handles = self.handles.lock().await;
        let expired: Vec<i64> = handles
            .iter()
            .filter(|(_, r)| r.renewed_at + lease.ttl_ms <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(running) = handles.remove(&id) {
                tracing::warn!(
                    cluster = %running.input.name,
                    "watcher lease not renewed in time; stopping"
                );
                running.stop(&self.metrics).await;
            }
        }
    }

    /// (Re)starts the cluster's watcher after a create or update (stops it when disabled). On
    /// a shared store, only when this replica gets the cluster's lease (other replicas pick the
    /// change up at their next renewal).
    pub async fn apply(&self, cluster: &Cluster) {
        self.stop_local(cluster.id).await;
        if !cluster.input.enabled {
            self.release(cluster.id).await;
            return;
        }
        let now = now_ms();
        if let Some(lease) = &self.lease {
            match self
                .store
                .acquire_lease(&lease_name(cluster.id), &lease.holder, now, lease.ttl_ms)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(cluster = %cluster.input.name, error = %e, "cannot take the watcher lease; the next renewal retries");
                    return;
                }
            }
        }
        if let Some(handle) = self.spawn_watcher(cluster).await {
            self.handles.lock().await.insert(
                cluster.id,
                Running {
                    input: cluster.input.clone(),
                    handle,
                    renewed_at: now,
                },
            );
        }
    }

    /// Starts a watcher for `cluster`, from its stored state when there is one.
    async fn spawn_watcher(&self, cluster: &Cluster) -> Option<WatcherHandle> {
        let config = ClusterConfig::new(cluster.input.name.clone(), cluster.input.url.clone())
            .with_poll_interval(Duration::from_millis(cluster.input.poll_interval_ms));
        let client = match &self.http {
            Some(http) => alert_flink::FlinkClient::with_http(
                &config.url,
                http.clone(),
                config.request_timeout,
            )
            .map(|client| ClusterWatcher::with_client(config, client)),
            None => ClusterWatcher::new(config),
        };
        let watcher = match client {
            Ok(w) => w.with_limiter(Arc::clone(&self.limiter)),
            Err(e) => {
                tracing::error!(cluster = %cluster.input.name, error = %e, "cannot watch this cluster");
                return None;
            }
        };
        let watcher = match self.stored_state(cluster).await {
            Some(state) => watcher.restore(state),
            None => watcher,
        };
        let bindings = match self.routing.get(self.store.as_ref()).await {
            Ok(snapshot) => snapshot.bindings.clone(),
            Err(e) => {
                tracing::warn!(cluster = %cluster.input.name, error = %e, "bindings unread: health conditions follow at the first poll");
                Vec::new()
            }
        };
        let health = HealthRules::new(&cluster.input.name, &bindings);
        let watcher =
            watcher.with_health_needs(health.needs().with_max_requests(self.health_reads_per_poll));
        let cluster_ref = watcher.cluster().clone();
        let sink = StoreSink {
            cluster_id: cluster.id,
            url: cluster.input.url.clone(),
            cluster: cluster_ref,
            store: Arc::clone(&self.store),
            routing: Arc::clone(&self.routing),
            ingest: Arc::clone(&self.ingest),
            metrics: Arc::clone(&self.metrics),
            delivery: self.delivery.clone(),
            lease: self.lease.clone(),
            health,
        };
        tracing::info!(cluster = %cluster.input.name, url = %cluster.input.url, "watching Flink cluster");
        Some(watcher.spawn(sink))
    }

    /// The state the cluster's watcher last committed, when it was observed at the cluster's
    /// current URL (a state seen at another URL belongs to another Flink: its jobs would be
    /// "vanished").
    async fn stored_state(&self, cluster: &Cluster) -> Option<DetectorState> {
        match self.store.watcher_state(cluster.id).await {
            Ok(Some((url, state))) if url == cluster.input.url => {
                match serde_json::from_value::<DetectorState>(state) {
                    Ok(state) => Some(state),
                    Err(e) => {
                        tracing::warn!(cluster = %cluster.input.name, error = %e, "stored watcher state unreadable; starting afresh");
                        None
                    }
                }
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(cluster = %cluster.input.name, error = %e, "cannot read the watcher state; starting afresh");
                None
            }
        }
    }

    async fn stop_local(&self, cluster_id: i64) {
        let running = self.handles.lock().await.remove(&cluster_id);
        if let Some(running) = running {
            running.stop(&self.metrics).await;
        }
    }

    async fn release(&self, cluster_id: i64) {
        if let Some(lease) = &self.lease {
            if let Err(e) = self
                .store
                .release_lease(&lease_name(cluster_id), &lease.holder)
                .await
            {
                tracing::warn!(cluster_id, error = %e, "could not release a watcher lease; it will expire");
            }
        }
    }

    /// Stops the cluster's watcher, if it runs here (cluster deleted or disabled).
    pub async fn stop(&self, cluster_id: i64) {
        self.stop_local(cluster_id).await;
        self.release(cluster_id).await;
    }

    /// Stops every watcher and gives up their leases (shutdown), so that another replica takes
    /// them over at its next renewal rather than after they expire.
    pub async fn stop_all(&self) {
        let _ = self.closing.send(true);
        let handles: Vec<_> = self.handles.lock().await.drain().collect();
        for (id, running) in handles {
            running.stop(&self.metrics).await;
            self.release(id).await;
        }
    }

    /// The clusters this process watches now, by id.
    pub async fn watching(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .handles
            .lock()
            .await
            .iter()
            .filter(|(_, r)| !r.handle.is_finished())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// What the cluster's watcher sees, when it runs here.
    pub async fn view(&self, cluster_id: i64) -> Option<ClusterView> {
        self.handles
            .lock()
            .await
            .get(&cluster_id)
            .map(|r| r.handle.view())
    }

    /// The jobs as the cluster's watcher last committed them (when another replica watches
    /// it, or none does): the stored state, without live task counts.
    pub async fn stored_view(&self, cluster: &Cluster) -> Option<ClusterView> {
        let state = self.stored_state(cluster).await?;
        let detector = Detector::restore(DetectorConfig::default(), state);
        Some(ClusterView {
            name: cluster.input.name.clone(),
            web_ui: alert_flink::ClusterRef::new(
                cluster.input.name.clone(),
                &url::Url::parse(&cluster.input.url).ok()?,
            )
            .web_ui,
            health: detector.health(),
            jobs: detector.jobs(),
        })
    }
}

/// Where a watcher delivers: routing, then the store through the intake's group commit (events,
/// deliveries and state together, with the other watchers' polls and the API's events of the
/// moment); every poll also updates the cluster's metrics.
struct StoreSink {
    cluster_id: i64,
    url: String,
    cluster: ClusterRef,
    store: Arc<dyn Store>,
    routing: Arc<RoutingCache>,
    ingest: Arc<EventIngest>,
    metrics: Arc<Metrics>,
    delivery: DeliveryConfig,
    /// On a shared store: renewed before each commit; lost → the watcher stops.
    lease: Option<Lease>,
    /// The health conditions the bindings ask of this cluster's jobs.
    health: Arc<HealthRules>,
}

#[async_trait::async_trait]
impl EventSink for StoreSink {
    /// Every poll: `cluster_up`, `watcher_polls_total` and `jobs` (see [`Metrics::watcher_poll`]);
    /// and the health rules follow the bindings (from the routing snapshot, re-read at most
    /// once a second; the next poll reads what they ask).
    fn polled(&self, result: &PollResult) {
        self.metrics.watcher_poll(&self.cluster.name, result);
        let (routing, store, health) = (
            Arc::clone(&self.routing),
            Arc::clone(&self.store),
            Arc::clone(&self.health),
        );
        tokio::spawn(async move {
            if let Ok(snapshot) = routing.get(store.as_ref()).await {
                health.update(&snapshot.bindings);
            }
        });
    }

    async fn deliver(&self, report: &PollReport) -> Result<(), SinkError> {
        if let Some(lease) = &self.lease {
            // The lease now runs a whole period past this commit: no other replica can have
            // taken the cluster over before it lands.
            match self
                .store
                .acquire_lease(
                    &lease_name(self.cluster_id),
                    &lease.holder,
                    now_ms(),
                    lease.ttl_ms,
                )
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(cluster = %self.cluster.name, "watcher lease lost to another replica; stopping without committing");
                    return Err(SinkError::Closed);
                }
                Err(e) => return Err(SinkError::Failed(e.to_string())),
            }
        }
        let snapshot = self
            .routing
            .get(self.store.as_ref())
            .await
            .map_err(|e| SinkError::Failed(e.to_string()))?;
        let now = now_ms();
        let deadline =
            now + i64::try_from(self.delivery.retry_deadline().as_millis()).unwrap_or(i64::MAX);
        let repeat_since =
            now - i64::try_from(self.delivery.repeat_window_secs * 1000).unwrap_or(i64::MAX);
        let times = EventTimes {
            now,
            deadline_at: deadline,
            repeat_since,
        };
        let mut routed = Vec::new();
        for (finding, event) in report.findings.iter().zip(&report.events) {
            for mut r in route(&snapshot, &self.cluster, finding, event) {
                r.silence_id = snapshot.silence_for(&r.event, now);
                routed.push(EventJob {
                    event: r.event,
                    targets: r.targets,
                    times,
                    silence_id: r.silence_id,
                });
            }
        }
        let checkpoint = match &report.state {
            Some(s) => Some(Checkpoint {
                cluster_id: self.cluster_id,
                url: self.url.clone(),
                state: serde_json::to_value(s).map_err(|e| SinkError::Failed(e.to_string()))?,
                saved_at: now,
            }),
            None => None,
        };
        // What the logs and metrics say of each event, once stored.
        let shown: Vec<(String, JobStatus, String, bool)> = routed
            .iter()
            .map(|r| {
                let e = &r.event;
                let kind = e.labels.get("kind").cloned().unwrap_or_default();
                (e.job_name.clone(), e.status, kind, r.silence_id.is_some())
            })
            .collect();
        let write = IntakeWrite {
            events: routed,
            checkpoint,
        };
        let inserted = self
            .ingest
            .submit(write)
            .await
            .map_err(|_| SinkError::Failed("the intake's commit did not finish".to_owned()))?
            .map_err(|e| SinkError::Failed(e.to_string()))?;
        let fresh = inserted.iter().filter(|i| !i.duplicate).count();
        self.metrics.events.inc_by(fresh as u64);
        let silenced = inserted
            .iter()
            .zip(&shown)
            .filter(|(i, (.., silenced))| !i.duplicate && *silenced)
            .count();
        self.metrics.events_silenced.inc_by(silenced as u64);
        for ((job, status, kind, _), stored) in shown.iter().zip(&inserted) {
            tracing::info!(cluster = %self.cluster.name, event = stored.event_id, job = %job,
                status = %status, kind = %kind,
                deliveries = stored.deliveries, duplicate = stored.duplicate, "Flink job change stored");
        }
        Ok(())
    }
}

/// The events to store for one finding: one with every matching group's instances, or, for a
/// finding that lists jobs (cluster outage, vanished jobs), one per group listing only the
/// jobs that group's bindings match.
fn route(
    snapshot: &Snapshot,
    cluster: &ClusterRef,
    finding: &Finding,
    event: &alert_core::JobEvent,
) -> Vec<RoutedEvent> {
    let statuses = finding.route_statuses();
    let condition = finding.condition();
    // A health finding goes to the bindings listing its condition, others by the job states.
    let takes = |b: &alert_store::Binding, job: &str| match condition {
        Some(c) => binding_takes_condition(b, job, &event.cluster, c.as_str()),
        None => binding_matches(b, job, &event.cluster, &statuses),
    };
    let groups_of = |job: &str| -> Vec<i64> {
        let mut ids = Vec::new();
        for b in snapshot.bindings.iter().filter(|b| takes(b, job)) {
            if !ids.contains(&b.input.group_id) {
                ids.push(b.input.group_id);
            }
        }
        ids
    };
    if !finding.lists_jobs() {
        let groups = groups_of(&event.job_name);
        let chosen: Vec<_> = groups
            .iter()
            .filter_map(|id| snapshot.groups.iter().find(|g| g.id == *id))
            .collect();
        let targets = crate::routing::targets(&chosen, &snapshot.instances);
        let mut event = event.clone();
        if let Some(c) = condition {
            // Its own identity per condition and phase: the repeat check (same job id and
            // state within the window) must not take a condition's "recovered" message for a
            // repeat of its alert, nor one condition's alert for another's, nor a digest for
            // a repeat of the alert or of the previous digest.
            // A digest is no repeat of anything (it carries the entries since the last
            // message): each gets an identity of its own, its fold window's end.
            let phase = if finding.kind() == "exception_digest" {
                format!("digest-{}", event.occurred_at.timestamp_millis())
            } else {
                event
                    .labels
                    .get("condition_state")
                    .cloned()
                    .unwrap_or_default()
            };
            event.job_id = format!("{}#{}#{phase}", event.job_id, c.as_str());
        }
        return vec![RoutedEvent {
            event,
            targets,
            silence_id: None,
        }];
    }
    let mut group_ids = Vec::new();
    for job in finding.jobs() {
        for g in groups_of(&job.name) {
            if !group_ids.contains(&g) {
                group_ids.push(g);
            }
        }
    }
    let mut out = Vec::new();
    for group_id in group_ids {
        let bindings: Vec<_> = snapshot
            .bindings
            .iter()
            .filter(|b| b.input.group_id == group_id)
            .collect();
        let Some(narrowed) = finding.retain_jobs(|j| bindings.iter().any(|b| takes(b, &j.name)))
        else {
            continue;
        };
        let mut per_group = narrowed.to_event(cluster);
        // One event per group: give each its own identity (duplicate detection keys on job id).
        per_group.job_id = format!("{}#{}#group-{group_id}", cluster.name, finding.kind());
        out.push(RoutedEvent {
            event: per_group,
            targets: snapshot.group_targets(group_id),
            silence_id: None,
        });
    }
    if out.is_empty() {
        // Nobody is bound: keep the event in history with no deliveries.
        let mut unrouted = event.clone();
        if unrouted.job_id.is_empty() {
            unrouted.job_id = format!("{}#{}", cluster.name, finding.kind());
        }
        out.push(RoutedEvent {
            event: unrouted,
            targets: Vec::new(),
            silence_id: None,
        });
    }
    out
}
