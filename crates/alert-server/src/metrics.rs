//! Prometheus metrics (`GET /metrics`), all prefixed `flink_alert_`; `docs/METRICS.md` lists
//! every one with its labels. The process metrics are read from `/proc/self` at each scrape
//! ([`process`], Linux only).

mod process;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use alert_flink::PollResult;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The git revision this binary was built from (`git rev-parse --short=12 HEAD` at build time,
/// or `ALERT_SERVER_REVISION` when set for the build), `unknown` outside a git checkout. (Not a
/// `FLINK_ALERT_` name: cargo also sets it when running tests, where the configuration would
/// take it for an unknown setting.)
pub const REVISION: &str = match option_env!("ALERT_SERVER_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// The `route` label of requests no route matched (the console's page fallback, unknown
/// paths): raw paths never become label values.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Buckets of the HTTP request duration histogram, in seconds.
const HTTP_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Labels of per-channel counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindOutcome {
    /// Channel kind.
    pub kind: String,
    /// `sent`, `retry`, `throttle`, `too_long`, `permanent`, `refresh_auth`, `expired`, `suppressed`.
    pub outcome: String,
}

/// Labels of per-kind counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Channel kind.
    pub kind: String,
}

/// Labels of per-cluster gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabel {
    /// The cluster's name.
    pub cluster: String,
}

/// Labels of the watcher poll counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterOutcome {
    /// The cluster's name.
    pub cluster: String,
    /// `ok` (the job overview was read) or `error`.
    pub outcome: String,
}

/// Labels of the jobs gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterState {
    /// The cluster's name.
    pub cluster: String,
    /// A Flink job state (`RUNNING`, `FAILED`, ...).
    pub state: String,
}

/// Labels of the HTTP request histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// `GET`, `POST`, ... (`other` for a method HTTP does not define).
    pub method: String,
    /// The route template, e.g. `/api/v1/events/{id}`, or [`UNMATCHED_ROUTE`].
    pub route: String,
    /// The answer's status code.
    pub status: String,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Delivery attempts by kind and outcome.
    pub deliveries: Family<KindOutcome, Counter>,
    /// Pending deliveries.
    pub queue_depth: Gauge,
    /// Seconds from an event's receipt to the channel's acceptance.
    pub event_to_send: Histogram,
    /// Retries scheduled, by kind.
    pub retries: Family<KindLabel, Counter>,
    /// Throttles (channel said "too fast" or the instance's budget was spent), by kind.
    pub throttles: Family<KindLabel, Counter>,
    /// Digests sent, by kind.
    pub digests: Family<KindLabel, Counter>,
    /// Events accepted.
    pub events: Counter,
    /// Events accepted and held back by a silence (their deliveries recorded `silenced`).
    pub events_silenced: Counter,
    /// Alertmanager alerts received, by outcome (`routed`, `unrouted`, `silenced`, `duplicate`).
    pub alertmanager_alerts: Family<OutcomeLabel, Counter>,
    /// 1 when the cluster's last poll read its job overview, else 0 (clusters watched here).
    pub cluster_up: Family<ClusterLabel, Gauge>,
    /// Watcher polls by cluster and outcome.
    pub watcher_polls: Family<ClusterOutcome, Counter>,
    /// Jobs per Flink state at the cluster's last answered poll.
    pub jobs: Family<ClusterState, Gauge>,
    /// The states `jobs` has a series for, by cluster (zeroed when no job is in them).
    job_states: Mutex<HashMap<String, BTreeSet<String>>>,
    /// HTTP request durations by method, route template and status.
    pub http_requests: Family<HttpLabels, Histogram, fn() -> Histogram>,
}

/// Labels of per-outcome counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// The outcome.
    pub outcome: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("flink_alert");
        let deliveries = Family::<KindOutcome, Counter>::default();
        registry.register(
            "deliveries",
            "Delivery attempts by channel kind and outcome",
            deliveries.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Pending deliveries in the outbox",
            queue_depth.clone(),
        );
        let event_to_send = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
        ]);
        registry.register(
            "event_to_send_seconds",
            "Time from receiving an event to the channel accepting its message",
            event_to_send.clone(),
        );
        let retries = Family::<KindLabel, Counter>::default();
        registry.register(
            "retries",
            "Retries scheduled after transient failures",
            retries.clone(),
        );
        let throttles = Family::<KindLabel, Counter>::default();
        registry.register(
            "throttles",
            "Sends held back by a rate limit",
            throttles.clone(),
        );
        let digests = Family::<KindLabel, Counter>::default();
        registry.register(
            "digests",
            "Digest messages created during alert storms",
            digests.clone(),
        );
        let events = Counter::default();
        registry.register("events", "Job events accepted", events.clone());
        let events_silenced = Counter::default();
        registry.register(
            "events_silenced",
            "Job events accepted and held back by a silence (nothing sent)",
            events_silenced.clone(),
        );
        let alertmanager_alerts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "alertmanager_alerts",
            "Alertmanager alerts received: routed, unrouted (no binding matched), silenced (held back by a silence), duplicate (already delivered to an instance)",
            alertmanager_alerts.clone(),
        );
        let build = Info::new(vec![
            ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
            ("revision".to_owned(), REVISION.to_owned()),
        ]);
        registry.register(
            "build",
            "The running build: version and git revision (value 1)",
            build,
        );
        let cluster_up = Family::<ClusterLabel, Gauge>::default();
        registry.register(
            "cluster_up",
            "1 when the last poll of the cluster read its job overview from the JobManager, else 0",
            cluster_up.clone(),
        );
        let watcher_polls = Family::<ClusterOutcome, Counter>::default();
        registry.register(
            "watcher_polls",
            "Polls of Flink clusters by outcome: ok (the job overview was read) or error",
            watcher_polls.clone(),
        );
        let jobs = Family::<ClusterState, Gauge>::default();
        registry.register(
            "jobs",
            "Jobs the JobManager lists, by Flink state, at the cluster's last answered poll",
            jobs.clone(),
        );
        let http_requests: Family<HttpLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(HTTP_BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method, route template and status",
            http_requests.clone(),
        );
        registry.register_collector(Box::new(StoreErrors));
        #[cfg(target_os = "linux")]
        registry.register_collector(Box::new(process::ProcessCollector));
        Self {
            registry,
            alertmanager_alerts,
            cluster_up,
            watcher_polls,
            jobs,
            job_states: Mutex::new(HashMap::new()),
            http_requests,
            deliveries,
            queue_depth,
            event_to_send,
            retries,
            throttles,
            digests,
            events,
            events_silenced,
        }
    }
}

impl Metrics {
    /// Counts one delivery outcome.
    pub fn delivery(&self, kind: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&KindOutcome {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts `n` Alertmanager alerts of one outcome.
    pub fn alertmanager_alert(&self, outcome: &str, n: u64) {
        let c = self.alertmanager_alerts.get_or_create(&OutcomeLabel {
            outcome: outcome.to_owned(),
        });
        c.inc_by(n);
    }

    /// Counts one watcher poll of `cluster` and, when the cluster answered, sets its jobs per
    /// state (states of earlier polls that no job is in now read 0).
    pub fn watcher_poll(&self, cluster: &str, result: &PollResult) {
        let label = ClusterLabel {
            cluster: cluster.to_owned(),
        };
        let (up, outcome) = match result {
            PollResult::Answered { .. } => (1, "ok"),
            PollResult::Failed(_) => (0, "error"),
        };
        self.cluster_up.get_or_create(&label).set(up);
        self.watcher_polls
            .get_or_create(&ClusterOutcome {
                cluster: cluster.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        let PollResult::Answered { jobs, .. } = result else {
            return;
        };
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for job in jobs {
            *counts.entry(job.state.as_str()).or_default() += 1;
        }
        let mut known = self.job_states.lock().unwrap_or_else(|e| e.into_inner());
        let states = known.entry(cluster.to_owned()).or_default();
        states.extend(counts.keys().map(|s| (*s).to_owned()));
        for state in states.iter() {
            let n = counts.get(state.as_str()).copied().unwrap_or(0);
            self.jobs
                .get_or_create(&ClusterState {
                    cluster: cluster.to_owned(),
                    state: state.clone(),
                })
                .set(n);
        }
    }

    /// Drops the gauges of a cluster this process no longer watches (stopped, deleted, renamed,
    /// or its lease went to another replica); its poll counts stay.
    pub fn forget_cluster(&self, cluster: &str) {
        self.cluster_up.remove(&ClusterLabel {
            cluster: cluster.to_owned(),
        });
        let states = self
            .job_states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(cluster)
            .unwrap_or_default();
        for state in states {
            self.jobs.remove(&ClusterState {
                cluster: cluster.to_owned(),
                state,
            });
        }
    }

    /// Records one answered HTTP request.
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

/// Middleware timing every request into [`Metrics::http_requests`], labelled with the route
/// template that matched (axum's [`MatchedPath`]), never the raw path.
pub async fn track_http(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "CONNECT"
        | "TRACE") => m.to_owned(),
        _ => "other".to_owned(),
    };
    let response = next.run(request).await;
    metrics.http_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Encodes `flink_alert_store_errors_total` from [`alert_store::failed_calls`] at each scrape.
#[derive(Debug)]
struct StoreErrors;

impl prometheus_client::collector::Collector for StoreErrors {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let counter =
            prometheus_client::metrics::counter::ConstCounter::new(alert_store::failed_calls());
        let metric = encoder.encode_descriptor(
            "store_errors",
            "Database calls that failed (unreachable, timed out, full, or any other database error)",
            None,
            counter.metric_type(),
        )?;
        counter.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alert_core::JobStatus;
    use alert_flink::model::JobOverview;

    fn answered(states: &[JobStatus]) -> PollResult {
        PollResult::jobs(
            states
                .iter()
                .enumerate()
                .map(|(i, s)| JobOverview::new(format!("{i:032x}"), format!("job-{i}"), *s))
                .collect(),
        )
    }

    /// The lines of the exposition that start with `prefix`.
    fn lines(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn build_info_names_the_version_and_a_revision() {
        let text = Metrics::default().encode();
        let info = lines(&text, "flink_alert_build_info{");
        assert_eq!(info.len(), 1, "{text}");
        assert!(
            info[0].contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
            "{info:?}"
        );
        assert!(
            info[0].contains(&format!("revision=\"{REVISION}\"")) && !REVISION.is_empty(),
            "{info:?}"
        );
        assert!(info[0].ends_with(" 1"), "{info:?}");
    }

    #[test]
    fn polls_set_up_count_outcomes_and_jobs_per_state() {
        let m = Metrics::default();
        m.watcher_poll(
            "prod",
            &answered(&[JobStatus::Running, JobStatus::Running, JobStatus::Failed]),
        );
        let text = m.encode();
        assert!(
            text.contains("flink_alert_cluster_up{cluster=\"prod\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("flink_alert_jobs{cluster=\"prod\",state=\"RUNNING\"} 2\n"));
        assert!(text.contains("flink_alert_jobs{cluster=\"prod\",state=\"FAILED\"} 1\n"));
        m.watcher_poll("prod", &PollResult::failed(true, "connection refused"));
        let text = m.encode();
        assert!(
            text.contains("flink_alert_cluster_up{cluster=\"prod\"} 0\n"),
            "{text}"
        );
        assert!(text
            .contains("flink_alert_watcher_polls_total{cluster=\"prod\",outcome=\"error\"} 1\n"));
        // A failed poll keeps the last known jobs.
        assert!(text.contains("flink_alert_jobs{cluster=\"prod\",state=\"RUNNING\"} 2\n"));
        m.watcher_poll("prod", &answered(&[JobStatus::Canceled]));
        let text = m.encode();
        assert!(
            text.contains("flink_alert_cluster_up{cluster=\"prod\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("flink_alert_watcher_polls_total{cluster=\"prod\",outcome=\"ok\"} 2\n")
        );
        assert!(text.contains("flink_alert_jobs{cluster=\"prod\",state=\"RUNNING\"} 0\n"));
        assert!(text.contains("flink_alert_jobs{cluster=\"prod\",state=\"FAILED\"} 0\n"));
        assert!(text.contains("flink_alert_jobs{cluster=\"prod\",state=\"CANCELED\"} 1\n"));

        m.forget_cluster("prod");
        let text = m.encode();
        assert!(lines(&text, "flink_alert_cluster_up{").is_empty(), "{text}");
        assert!(lines(&text, "flink_alert_jobs{").is_empty(), "{text}");
        assert_eq!(lines(&text, "flink_alert_watcher_polls_total{").len(), 2);
    }

    #[tokio::test]
    async fn requests_are_timed_by_route_template_never_by_path() {
        use axum::body::Body;
        use axum::routing::get;
        use tower::ServiceExt;

        let metrics = Arc::new(Metrics::default());
        let api = axum::Router::new().route("/events/{id}", get(|| async { "event" }));
        let app =
            axum::Router::new()
                .nest("/api/v1", api)
                .layer(axum::middleware::from_fn_with_state(
                    Arc::clone(&metrics),
                    track_http,
                ));
        for uri in ["/api/v1/events/42", "/api/v1/events/43", "/nowhere/7"] {
            let request = axum::http::Request::builder()
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let text = metrics.encode();
        assert!(
            text.contains("flink_alert_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/events/{id}\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("flink_alert_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("/42") && !text.contains("nowhere"), "{text}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_come_from_proc_self() {
        let text = Metrics::default().encode();
        for name in [
            "flink_alert_process_cpu_seconds_total ",
            "flink_alert_process_resident_memory_bytes ",
            "flink_alert_process_open_fds ",
        ] {
            let line = lines(&text, name);
            assert_eq!(line.len(), 1, "{name}: {text}");
            let value: f64 = line[0][name.len()..].parse().unwrap();
            assert!(value >= 0.0, "{line:?}");
        }
        let fds = &lines(&text, "flink_alert_process_open_fds ")[0];
        assert!(
            !fds.ends_with(" 0"),
            "stdin, stdout and stderr at least: {fds}"
        );
    }
}
