//! [`ClusterWatcher`]: polls one cluster on an interval, fetches the facts the detector asks
//! for, and hands each poll's findings, events and new state to an [`EventSink`].
//!
//! The watcher knows no channel and no storage: the sink decides what happens to events and
//! state. A report carries the detector's new state together with the findings that led to it;
//! when the sink fails, the watcher keeps the report and hands it over again, merged with the
//! next poll's findings and newer state, so a sink that stores events and state in one
//! transaction loses nothing and duplicates nothing. (Should the process die meanwhile, the
//! last stored state is older than the findings and a restored watcher finds them again.)
//!
//! Memory: the detector is updated in place (no copy per poll), the state last delivered is
//! remembered as a hash, and the [`ClusterView`] is built only when asked for.
//!
//! One watcher is one task. Many clusters: spawn one watcher each and give them one shared
//! [`Semaphore`] ([`ClusterWatcher::with_limiter`]) to bound how many polls run at once; each
//! poll makes one overview request plus at most [`ClusterConfig::max_concurrent_facts`]
//! concurrent fact requests (the detector's [`Detector::plan_facts`]: job-state facts, plus at
//! most [`HealthNeeds::max_requests_per_poll`] for the health conditions), and one
//! `GET /taskmanagers` when a job wants `TASKMANAGER_LOST`. Start times are spread over the interval (by the cluster's
//! name) so that clusters added together do not poll together.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alert_core::JobEvent;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::client::{FlinkClient, DEFAULT_REQUEST_TIMEOUT};
use crate::detector::{ClusterHealth, Detector, DetectorConfig, JobView};
use crate::facts::{FactKind, JobFacts, PollResult, TaskManagerFacts};
use crate::finding::{ClusterRef, Finding};
use crate::health::HealthNeeds;
use crate::state::DetectorState;
use crate::{ClientError, ExceptionSummary};

/// The default poll interval.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// One cluster to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The cluster's name (events carry it; bindings match it).
    pub name: String,
    /// The JobManager's REST base URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
    /// Time between polls (5 s).
    pub poll_interval: Duration,
    /// Timeout of each request (5 s).
    pub request_timeout: Duration,
    /// Concurrent fact requests within one poll (4).
    pub max_concurrent_facts: usize,
    /// The detector's thresholds.
    pub detector: DetectorConfig,
}

impl ClusterConfig {
    /// A cluster with the default interval and thresholds.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_facts: 4,
            detector: DetectorConfig::for_poll_interval(DEFAULT_POLL_INTERVAL),
        }
    }

    /// Sets the interval; the degraded window follows it (`confirm_polls` × interval). The
    /// request timeout does not: a poll that takes longer than the interval delays the next one
    /// rather than failing.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self.detector.degraded_after = interval * self.detector.confirm_polls.max(1);
        self
    }
}

/// What one poll produced, handed to the [`EventSink`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollReport {
    /// The cluster's name.
    pub cluster: String,
    /// When the poll started.
    pub at: DateTime<Utc>,
    /// What the detector concluded.
    pub findings: Vec<Finding>,
    /// The same, as events (`findings[i]` → `events[i]`).
    pub events: Vec<JobEvent>,
    /// The detector's new state, when it differs from the last one delivered: persist it
    /// together with the events.
    pub state: Option<DetectorState>,
}

impl PollReport {
    /// Nothing to deliver (no finding, no state change).
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty() && self.state.is_none()
    }
}

/// Why a sink did not take a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The receiving side is gone: the watcher stops.
    #[error("the event receiver is closed")]
    Closed,
    /// A failure worth retrying: the watcher drops this poll and finds the same again later.
    #[error("the event sink failed: {0}")]
    Failed(String),
}

/// Where a watcher delivers its reports.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Takes one non-empty report. Return only once it is safe (e.g. committed): the watcher
    /// then considers the findings delivered and the state persisted.
    async fn deliver(&self, report: &PollReport) -> Result<(), SinkError>;

    /// Sees what every poll read, before the detector does, whether or not the poll leads to a
    /// report: a failed poll ([`PollResult::Failed`]) or an unchanged cluster is never
    /// [`deliver`](Self::deliver)ed. For metrics (did the JobManager answer, jobs per state).
    /// Called on the watcher's task, once per [`ClusterWatcher::apply`]: keep it quick. The
    /// default does nothing.
    fn polled(&self, result: &PollResult) {
        let _ = result;
    }
}

/// Sends each event; ignores the state (nothing is persisted).
#[async_trait::async_trait]
impl EventSink for mpsc::Sender<JobEvent> {
    async fn deliver(&self, report: &PollReport) -> Result<(), SinkError> {
        for event in &report.events {
            self.send(event.clone())
                .await
                .map_err(|_| SinkError::Closed)?;
        }
        Ok(())
    }
}

/// Sends the whole report.
#[async_trait::async_trait]
impl EventSink for mpsc::Sender<PollReport> {
    async fn deliver(&self, report: &PollReport) -> Result<(), SinkError> {
        self.send(report.clone())
            .await
            .map_err(|_| SinkError::Closed)
    }
}

/// What the watcher sees of its cluster (for the clusters API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The cluster's name.
    pub name: String,
    /// Its web UI.
    pub web_ui: String,
    /// How it answers.
    pub health: ClusterHealth,
    /// Its jobs with their last state, by name.
    pub jobs: Vec<JobView>,
}

/// The poller of one cluster. See the module docs.
#[derive(Debug)]
pub struct ClusterWatcher {
    config: ClusterConfig,
    client: FlinkClient,
    cluster: ClusterRef,
    /// Shared with the [`WatcherHandle`], which builds views from it on demand.
    detector: Arc<Mutex<Detector>>,
    /// Hash of the state last accepted by the sink (a copy would double the memory).
    delivered: u64,
    /// A report the sink refused, handed over again with the next poll's.
    undelivered: Option<PollReport>,
    limiter: Option<Arc<Semaphore>>,
    start_delay: Option<Duration>,
}

impl ClusterWatcher {
    /// A watcher with its own HTTP client; its detector starts with a baseline poll.
    pub fn new(config: ClusterConfig) -> Result<Self, ClientError> {
        let client = FlinkClient::new(&config.url, config.request_timeout)?;
        Ok(Self::with_client(config, client))
    }

    /// A watcher on a given client (e.g. built with [`FlinkClient::with_http`] on a pool
    /// shared by every cluster). `config.url` is not read again.
    pub fn with_client(config: ClusterConfig, client: FlinkClient) -> Self {
        let detector = Detector::new(config.detector);
        Self {
            cluster: ClusterRef::new(config.name.clone(), client.base_url()),
            delivered: state_hash(detector.state()),
            detector: Arc::new(Mutex::new(detector)),
            undelivered: None,
            config,
            client,
            limiter: None,
            start_delay: None,
        }
    }

    /// Continues from a persisted state instead of a baseline.
    #[must_use]
    pub fn restore(mut self, state: DetectorState) -> Self {
        self.delivered = state_hash(&state);
        let needs = self.detector().health_needs().clone();
        self.detector = Arc::new(Mutex::new(
            Detector::restore(self.config.detector, state).with_health_needs(needs),
        ));
        self.undelivered = None;
        self
    }

    /// Which jobs want which health conditions (default: none; the watcher then reads
    /// nothing more than before). Change it later with [`WatcherHandle::set_health_needs`].
    #[must_use]
    pub fn with_health_needs(self, needs: HealthNeeds) -> Self {
        self.detector().set_health_needs(needs);
        self
    }

    /// Takes a permit of `limiter` for each poll (one semaphore shared by every watcher bounds
    /// the polls in flight).
    #[must_use]
    pub fn with_limiter(mut self, limiter: Arc<Semaphore>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Delay before the first poll (default: spread over the interval by the cluster's name).
    #[must_use]
    pub fn with_start_delay(mut self, delay: Duration) -> Self {
        self.start_delay = Some(delay);
        self
    }

    /// The detector (locked; keep the guard short).
    pub fn detector(&self) -> MutexGuard<'_, Detector> {
        lock(&self.detector)
    }

    /// The cluster as events name it.
    pub fn cluster(&self) -> &ClusterRef {
        &self.cluster
    }

    /// What the watcher sees now.
    pub fn view(&self) -> ClusterView {
        view_of(&self.cluster, &self.detector)
    }

    /// Reads the overview and the facts the detector wants for it (without changing anything).
    pub async fn fetch(&self) -> PollResult {
        let jobs = match self.client.jobs_overview().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::debug!(cluster = %self.cluster.name, kind = e.kind(), error = %e, "poll failed");
                return PollResult::Failed((&e).into());
            }
        };
        let (wanted, want_tms) = {
            let mut detector = self.detector();
            (
                detector.plan_facts_at(chrono::Utc::now(), &jobs),
                detector.wants_taskmanagers(&jobs),
            )
        };
        let taskmanagers = async {
            if !want_tms {
                return None;
            }
            match self.client.taskmanagers().await {
                Ok(tms) => Some(TaskManagerFacts::from(&tms)),
                Err(e) => {
                    tracing::warn!(cluster = %self.cluster.name, error = %e, "could not read the TaskManagers");
                    None
                }
            }
        };
        let fetched = futures::stream::iter(wanted)
            .map(|req| async move {
                let facts = match req.kind {
                    FactKind::Checkpoints => JobFacts {
                        checkpoints: self.fact(
                            &req.job_id,
                            self.client.job_checkpoint_facts(&req.job_id).await,
                        ),
                        exceptions: None,
                    },
                    FactKind::Exceptions => JobFacts {
                        checkpoints: None,
                        exceptions: self
                            .fact(&req.job_id, self.client.job_exceptions(&req.job_id).await)
                            .map(|e| ExceptionSummary::from_response(&e)),
                    },
                };
                (req.job_id, facts)
            })
            .buffer_unordered(self.config.max_concurrent_facts.max(1))
            .collect::<Vec<_>>();
        let (fetched, taskmanagers) = futures::join!(fetched, taskmanagers);
        let mut facts: BTreeMap<String, JobFacts> = BTreeMap::new();
        for (id, f) in fetched {
            let entry = facts.entry(id).or_default();
            entry.checkpoints = entry.checkpoints.take().or(f.checkpoints);
            entry.exceptions = entry.exceptions.take().or(f.exceptions);
        }
        PollResult::Answered {
            jobs,
            facts,
            taskmanagers,
        }
    }

    /// A fetched fact; a 404 (job already forgotten) reads as empty, other failures as
    /// missing (the detector waits for it a few polls).
    fn fact<T: Default>(&self, job_id: &str, result: Result<T, ClientError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => Some(T::default()),
            Err(e) => {
                tracing::warn!(cluster = %self.cluster.name, job_id, error = %e, "could not read job details");
                None
            }
        }
    }

    /// Shows `result` to the sink ([`EventSink::polled`]), feeds it (taken at `now`) to the
    /// detector and delivers the report when it is not empty. A report the sink refuses is kept and delivered with the next one (see the
    /// module docs); the error is returned.
    pub async fn apply<S: EventSink + ?Sized>(
        &mut self,
        now: DateTime<Utc>,
        result: PollResult,
        sink: &S,
    ) -> Result<PollReport, SinkError> {
        sink.polled(&result);
        let (findings, hash, state) = {
            let mut detector = lock(&self.detector);
            let findings = detector.observe(now, result);
            let hash = state_hash(detector.state());
            let state = (hash != self.delivered).then(|| detector.snapshot());
            (findings, hash, state)
        };
        let events: Vec<JobEvent> = findings.iter().map(|f| f.to_event(&self.cluster)).collect();
        let report = match self.undelivered.take() {
            Some(mut earlier) => {
                earlier.at = now;
                earlier.findings.extend(findings);
                earlier.events.extend(events);
                earlier.state = state;
                earlier
            }
            None => PollReport {
                cluster: self.cluster.name.clone(),
                at: now,
                events,
                findings,
                state,
            },
        };
        if !report.is_empty() {
            if let Err(e) = sink.deliver(&report).await {
                self.undelivered = Some(report);
                return Err(e);
            }
        }
        for event in &report.events {
            tracing::info!(cluster = %event.cluster, job = %event.job_name, status = %event.status,
                kind = event.labels.get("kind").map_or("", String::as_str), "job event");
        }
        self.delivered = hash;
        Ok(report)
    }

    /// One poll now: [`fetch`](Self::fetch) then [`apply`](Self::apply).
    pub async fn poll_once<S: EventSink + ?Sized>(
        &mut self,
        now: DateTime<Utc>,
        sink: &S,
    ) -> Result<PollReport, SinkError> {
        let result = self.fetch().await;
        self.apply(now, result, sink).await
    }

    /// Runs the watcher in its own task until [`WatcherHandle::stop`] (or until the handle is
    /// dropped, or the sink reports [`SinkError::Closed`]).
    pub fn spawn<S: EventSink>(self, sink: S) -> WatcherHandle {
        let (polls_tx, polls_rx) = watch::channel(0);
        let (stop_tx, stop_rx) = watch::channel(false);
        let cluster = self.cluster.clone();
        let detector = Arc::clone(&self.detector);
        let task = tokio::spawn(self.run(sink, polls_tx, stop_rx));
        WatcherHandle {
            cluster,
            detector,
            polls: polls_rx,
            stop: stop_tx,
            task,
        }
    }

    async fn run<S: EventSink>(
        mut self,
        sink: S,
        polls: watch::Sender<u64>,
        mut stop: watch::Receiver<bool>,
    ) -> DetectorState {
        let interval = self.config.poll_interval.max(Duration::from_millis(10));
        let delay = self
            .start_delay
            .unwrap_or_else(|| stagger(&self.cluster.name, interval));
        let mut ticker = tokio::time::interval_at(Instant::now() + delay, interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = ticker.tick() => {}
            }
            let _permit = match &self.limiter {
                Some(limiter) => tokio::select! {
                    _ = stop.changed() => break,
                    permit = Arc::clone(limiter).acquire_owned() => permit.ok(),
                },
                None => None,
            };
            let now = Utc::now();
            // Fetching changes nothing, so it may be abandoned; delivery is not interrupted.
            let result = tokio::select! {
                _ = stop.changed() => break,
                result = self.fetch() => result,
            };
            match self.apply(now, result, &sink).await {
                Ok(_) => {}
                Err(SinkError::Closed) => break,
                Err(e) => {
                    tracing::warn!(cluster = %self.cluster.name, error = %e, "report not delivered; the next poll retries");
                }
            }
            polls.send_modify(|n| *n += 1);
        }
        self.detector().snapshot()
    }
}

/// A running watcher.
#[derive(Debug)]
pub struct WatcherHandle {
    cluster: ClusterRef,
    detector: Arc<Mutex<Detector>>,
    polls: watch::Receiver<u64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<DetectorState>,
}

impl WatcherHandle {
    /// What the watcher saw at its latest poll (built now).
    pub fn view(&self) -> ClusterView {
        view_of(&self.cluster, &self.detector)
    }

    /// Replaces the health needs (the bindings changed); the next poll uses them.
    pub fn set_health_needs(&self, needs: HealthNeeds) {
        lock(&self.detector).set_health_needs(needs);
    }

    /// A receiver of the number of polls done, which changes after every poll.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.polls.clone()
    }

    /// Whether the task ended (sink closed, or it panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the watcher (an in-flight fetch is abandoned, a delivery is finished) and returns
    /// its last delivered-or-not state, or `None` if the task panicked.
    pub async fn stop(self) -> Option<DetectorState> {
        let _ = self.stop.send(true);
        self.task.await.ok()
    }
}

/// Locks the detector; a panic while it was locked leaves a usable detector behind (the
/// watcher task ends with the panic anyway).
fn lock(detector: &Mutex<Detector>) -> MutexGuard<'_, Detector> {
    detector
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn view_of(cluster: &ClusterRef, detector: &Mutex<Detector>) -> ClusterView {
    let detector = lock(detector);
    ClusterView {
        name: cluster.name.clone(),
        web_ui: cluster.web_ui.clone(),
        health: detector.health(),
        jobs: detector.jobs(),
    }
}

/// A hash of the state's JSON form, written straight into the hasher (no buffer).
fn state_hash(state: &DetectorState) -> u64 {
    struct HashWriter(DefaultHasher);
    impl io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(DefaultHasher::new());
    // Serializing plain data into a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut w, state);
    w.0.finish()
}

/// A delay in `[0, interval)` derived from the name, stable across runs.
fn stagger(name: &str, interval: Duration) -> Duration {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    let ms = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(h.finish() % ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stagger_stays_within_the_interval() {
        let i = Duration::from_secs(5);
        for name in ["prod", "staging", "", "集群"] {
            assert!(stagger(name, i) < i);
            assert_eq!(stagger(name, i), stagger(name, i));
        }
    }

    #[test]
    fn the_degraded_window_follows_the_interval() {
        let c =
            ClusterConfig::new("c", "http://h:8081").with_poll_interval(Duration::from_secs(10));
        assert_eq!(c.detector.degraded_after, Duration::from_secs(30));
        assert_eq!(c.request_timeout, DEFAULT_REQUEST_TIMEOUT);
    }
}
