//! Flink cluster watchers inside the server: one [`alert_flink::ClusterWatcher`] per enabled
//! cluster, whose polls are routed like `POST /api/v1/events` and committed, together with the
//! watcher's state, in one transaction (a restart neither re-alerts nor misses a transition).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alert_flink::{
    ClusterConfig, ClusterRef, ClusterView, ClusterWatcher, DetectorState, EventSink, Finding,
    PollReport, SinkError, WatcherHandle,
};
use tokio::sync::{Mutex, Notify, Semaphore};

use crate::config::DeliveryConfig;
use crate::delivery::now_ms;
use crate::metrics::Metrics;
use crate::routing::{binding_matches, groups_for, RoutingCache, Snapshot};
use crate::store::{Cluster, EventTimes, RoutedEvent, Store};

/// Polls running at once over all clusters.
const MAX_CONCURRENT_POLLS: usize = 16;

/// The watchers of this process, by cluster id.
pub struct Watchers {
    store: Arc<dyn Store>,
    routing: Arc<RoutingCache>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    delivery: DeliveryConfig,
    limiter: Arc<Semaphore>,
    /// One connection pool for every cluster (a client per cluster costs ~26 KB and a pool).
    http: Option<reqwest::Client>,
    handles: Mutex<HashMap<i64, WatcherHandle>>,
}

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchers").finish_non_exhaustive()
    }
}

impl Watchers {
    /// No watcher yet; [`start_all`](Self::start_all) starts those of enabled clusters.
    pub fn new(
        store: Arc<dyn Store>,
        routing: Arc<RoutingCache>,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
        delivery: DeliveryConfig,
    ) -> Self {
        Self {
            store,
            routing,
            wake,
            metrics,
            delivery,
            limiter: Arc::new(Semaphore::new(MAX_CONCURRENT_POLLS)),
            http: alert_flink::FlinkClient::http_pool(Duration::from_secs(5))
                .map_err(|e| tracing::warn!(error = %e, "no shared HTTP client for watchers"))
                .ok(),
            handles: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a watcher for every enabled cluster.
    pub async fn start_all(&self) -> Result<(), crate::store::StoreError> {
        for cluster in self.store.list_clusters().await? {
            self.apply(&cluster).await;
        }
        Ok(())
    }

    /// (Re)starts the cluster's watcher after a create or update (stops it when disabled).
    pub async fn apply(&self, cluster: &Cluster) {
        self.stop(cluster.id).await;
        if !cluster.input.enabled {
            return;
        }
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
                return;
            }
        };
        let watcher = match self.store.watcher_state(cluster.id).await {
            // A state seen at another URL belongs to another Flink: its jobs would be "vanished".
            Ok(Some((url, state))) if url == cluster.input.url => {
                match serde_json::from_value::<DetectorState>(state) {
                    Ok(state) => watcher.restore(state),
                    Err(e) => {
                        tracing::warn!(cluster = %cluster.input.name, error = %e, "stored watcher state unreadable; starting afresh");
                        watcher
                    }
                }
            }
            Ok(_) => watcher,
            Err(e) => {
                tracing::warn!(cluster = %cluster.input.name, error = %e, "cannot read the watcher state; starting afresh");
                watcher
            }
        };
        let cluster_ref = watcher.cluster().clone();
        let sink = StoreSink {
            cluster_id: cluster.id,
            url: cluster.input.url.clone(),
            cluster: cluster_ref,
            store: Arc::clone(&self.store),
            routing: Arc::clone(&self.routing),
            wake: Arc::clone(&self.wake),
            metrics: Arc::clone(&self.metrics),
            delivery: self.delivery.clone(),
        };
        tracing::info!(cluster = %cluster.input.name, url = %cluster.input.url, "watching Flink cluster");
        self.handles
            .lock()
            .await
            .insert(cluster.id, watcher.spawn(sink));
    }

    /// Stops the cluster's watcher, if it runs.
    pub async fn stop(&self, cluster_id: i64) {
        let handle = self.handles.lock().await.remove(&cluster_id);
        if let Some(handle) = handle {
            handle.stop().await;
        }
    }

    /// Stops every watcher (shutdown).
    pub async fn stop_all(&self) {
        let handles: Vec<_> = self.handles.lock().await.drain().collect();
        for (_, handle) in handles {
            handle.stop().await;
        }
    }

    /// What the cluster's watcher sees, when it runs.
    pub async fn view(&self, cluster_id: i64) -> Option<ClusterView> {
        self.handles
            .lock()
            .await
            .get(&cluster_id)
            .map(WatcherHandle::view)
    }
}

/// Where a watcher delivers: routing, then the store (events, deliveries and state together).
struct StoreSink {
    cluster_id: i64,
    url: String,
    cluster: ClusterRef,
    store: Arc<dyn Store>,
    routing: Arc<RoutingCache>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    delivery: DeliveryConfig,
}

#[async_trait::async_trait]
impl EventSink for StoreSink {
    async fn deliver(&self, report: &PollReport) -> Result<(), SinkError> {
        let snapshot = self
            .routing
            .get(self.store.as_ref())
            .await
            .map_err(|e| SinkError::Failed(e.to_string()))?;
        let mut routed = Vec::new();
        for (finding, event) in report.findings.iter().zip(&report.events) {
            routed.extend(route(&snapshot, &self.cluster, finding, event));
        }
        let state = match &report.state {
            Some(s) => Some(serde_json::to_value(s).map_err(|e| SinkError::Failed(e.to_string()))?),
            None => None,
        };
        let now = now_ms();
        let deadline =
            now + i64::try_from(self.delivery.retry_deadline().as_millis()).unwrap_or(i64::MAX);
        let repeat_since =
            now - i64::try_from(self.delivery.repeat_window_secs * 1000).unwrap_or(i64::MAX);
        let inserted = self
            .store
            .save_watch_report(
                self.cluster_id,
                &self.url,
                &routed,
                state.as_ref(),
                EventTimes {
                    now,
                    deadline_at: deadline,
                    repeat_since,
                },
            )
            .await
            .map_err(|e| SinkError::Failed(e.to_string()))?;
        let fresh = inserted.iter().filter(|i| !i.duplicate).count();
        for _ in 0..fresh {
            self.metrics.events.inc();
        }
        if inserted.iter().any(|i| !i.duplicate && i.deliveries > 0) {
            self.wake.notify_one();
        }
        for (finding, _) in report.findings.iter().zip(&report.events) {
            tracing::info!(cluster = %report.cluster, kind = finding.kind(), status = %finding.status(), "Flink job change detected");
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
    if !finding.lists_jobs() {
        let groups = groups_for(
            &event.job_name,
            &event.cluster,
            &statuses,
            &snapshot.bindings,
        );
        let chosen: Vec<_> = groups
            .iter()
            .filter_map(|id| snapshot.groups.iter().find(|g| g.id == *id))
            .collect();
        let targets = crate::routing::targets(&chosen, &snapshot.instances);
        return vec![RoutedEvent {
            event: event.clone(),
            targets,
        }];
    }
    let mut group_ids = Vec::new();
    for job in finding.jobs() {
        for g in groups_for(&job.name, &event.cluster, &statuses, &snapshot.bindings) {
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
        let Some(narrowed) = finding.retain_jobs(|j| {
            bindings
                .iter()
                .any(|b| binding_matches(b, &j.name, &event.cluster, &statuses))
        }) else {
            continue;
        };
        let mut per_group = narrowed.to_event(cluster);
        // One event per group: give each its own identity (duplicate detection keys on job id).
        per_group.job_id = format!("{}#{}#group-{group_id}", cluster.name, finding.kind());
        out.push(RoutedEvent {
            event: per_group,
            targets: snapshot.group_targets(group_id),
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
        });
    }
    out
}
