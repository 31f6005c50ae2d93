//! # alert-flink
//!
//! Watches Apache Flink clusters (1.20 and 2.x) through the JobManager's REST API and turns
//! what it sees into [`alert_core::JobEvent`]s: FAILED (with the root cause), CANCELED,
//! FINISHED, STOPPED (a stop-with-savepoint, which Flink reports as FINISHED), UNKNOWN (cluster
//! unreachable, or a job vanished), restarts folded into digests, degraded jobs (RUNNING with
//! nothing running) and their recovery; and, where the caller's [`HealthNeeds`] ask for them,
//! the job-health conditions `CHECKPOINT_FAILED`, `CHECKPOINT_SLOW`, `EXCEPTION` and
//! `TASKMANAGER_LOST`, each alerted when it starts and once more when it clears.
//!
//! The data flows one way:
//!
//! ```text
//! FlinkClient ──► PollResult ──► Detector::observe ──► Finding ──► Finding::to_event ──► JobEvent
//! (client.rs)     (facts.rs)     (detector.rs)          (finding.rs)                       │
//!      ▲                                                                                    ▼
//!      └────────────── ClusterWatcher (watcher.rs): interval, facts, delivery ──► EventSink
//! ```
//!
//! **Invariant:** this crate knows no channel and no storage. It emits events and a
//! serializable detector state; the server routes, stores and persists.
//!
//! - [`client`]: [`FlinkClient`] (`/jobs/overview`, `/jobs/{id}/exceptions`,
//!   `/jobs/{id}/checkpoints`, `/taskmanagers`, `/overview`, `/config`) with [`ClientError`]s that tell
//!   "unreachable" (refused, timeout, 5xx) from "answers wrongly" (404, 4xx, not Flink's JSON);
//!   the web UI link of a job.
//! - [`model`]: serde models tolerant of unknown fields and of both versions' shapes.
//! - [`exceptions`]: [`ExceptionSummary`], the one-line root cause rule and restart counting.
//! - [`health`]: [`HealthCondition`], [`HealthThresholds`], [`RouteStatus`] and
//!   [`HealthNeeds`] (which jobs want which condition: set with
//!   [`ClusterWatcher::with_health_needs`] / [`WatcherHandle::set_health_needs`]).
//! - [`detector`]: [`Detector`], the pure state machine; its module docs list every rule.
//! - [`finding`]: [`Finding`] and its event, with the routing table (`route_statuses`).
//! - [`state`]: [`DetectorState`], what must survive a restart.
//! - [`watcher`]: [`ClusterWatcher`], the async poller of one cluster.
//!
//! ## For the server: one watcher per cluster
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use alert_flink::{ClusterConfig, ClusterWatcher, DetectorState, EventSink, PollReport, SinkError};
//!
//! struct Outbox; // the server's store
//! #[alert_flink::async_trait]
//! impl EventSink for Outbox {
//!     async fn deliver(&self, report: &PollReport) -> Result<(), SinkError> {
//!         // In one transaction: route and insert `report.events` (as POST /api/v1/events
//!         // does, using the `route_statuses` label and `Finding::retain_jobs` for findings
//!         // that list jobs), and, when `report.state` is Some, save it as the cluster's state.
//!         Ok(())
//!     }
//! }
//!
//! # async fn run(saved: Option<DetectorState>) -> Result<(), alert_flink::ClientError> {
//! let limiter = Arc::new(tokio::sync::Semaphore::new(16)); // shared by every cluster
//! let config = ClusterConfig::new("prod", "http://127.0.0.1:8081")
//!     .with_poll_interval(Duration::from_millis(5000));
//! let mut watcher = ClusterWatcher::new(config)?.with_limiter(limiter);
//! if let Some(state) = saved {
//!     watcher = watcher.restore(state); // no re-alerting of what was already reported
//! }
//! let handle = watcher.spawn(Outbox);
//! let jobs = handle.view().jobs; // GET /api/v1/clusters/{id}/jobs
//! let final_state = handle.stop().await; // on PUT/DELETE of the cluster, or shutdown
//! # let _ = (jobs, final_state);
//! # Ok(()) }
//! ```
//!
//! - **Create**: [`ClusterConfig`] `{name, url, poll_interval}` → [`ClusterWatcher::new`] (or
//!   [`ClusterWatcher::with_client`] with a [`FlinkClient::with_http`] on a shared pool) →
//!   [`ClusterWatcher::spawn`] with an [`EventSink`]. A `tokio::sync::mpsc::Sender<JobEvent>`
//!   or `Sender<PollReport>` is a sink too.
//! - **Persist / restore**: each [`PollReport`] carries [`PollReport::state`] when the
//!   detector's state changed; store it as JSON with the events. The watcher takes the new state
//!   only after the sink returned `Ok`, so a crash in between re-detects rather than loses. Pass
//!   the stored state to [`ClusterWatcher::restore`] on start. A renamed cluster keeps its
//!   state; a cluster whose URL now points to another Flink should start without it (its known
//!   jobs would otherwise be reported as vanished).
//! - **Receive**: [`PollReport::events`] (`findings[i]` → `events[i]`); every event has the
//!   labels `kind` and `route_statuses` ([`finding`] explains both).
//! - **Observe every poll**: [`EventSink::polled`] sees each poll's [`PollResult`] (answered
//!   with the jobs, or failed), also the polls that deliver nothing; the server counts polls
//!   and jobs per state from it.
//! - **List jobs**: [`WatcherHandle::view`] → [`ClusterView`] (health, and each job's id, name,
//!   status, task counters, times, restarts), updated after every poll.
//! - **Stop**: [`WatcherHandle::stop`] returns the final state; dropping the handle stops the
//!   task too.
//!
//! Multi-cluster scheduling is one task per cluster plus the shared semaphore: the caller
//! keeps the handles (e.g. in a map by cluster id) and starts/stops them on API changes.

pub mod client;
pub mod detector;
pub mod exceptions;
pub mod facts;
pub mod finding;
pub mod health;
pub mod model;
pub mod state;
pub mod watcher;

pub use client::{web_ui_job_url, ClientError, FlinkClient, DEFAULT_REQUEST_TIMEOUT};
pub use detector::{ClusterHealth, Detector, DetectorConfig, JobView};
pub use exceptions::ExceptionSummary;
pub use facts::{
    CheckpointFacts, CheckpointSummary, CheckpointTiming, FactKind, FactRequest, JobFacts,
    PollError, PollResult, SavepointFact, TaskManagerFacts,
};
pub use finding::{ClusterRef, Finding, JobRef};
pub use health::{
    ConditionSet, HealthCondition, HealthNeed, HealthNeeds, HealthThresholds, RouteStatus,
    DEFAULT_MAX_HEALTH_REQUESTS,
};
pub use state::DetectorState;
pub use watcher::{
    ClusterConfig, ClusterView, ClusterWatcher, EventSink, PollReport, SinkError, WatcherHandle,
    DEFAULT_POLL_INTERVAL,
};

// Re-exported so sinks implement `EventSink` without naming `async-trait` themselves.
pub use async_trait::async_trait;
