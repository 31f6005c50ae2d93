//! Prometheus metrics (`GET /metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

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
    /// Alertmanager alerts received, by outcome (`routed`, `unrouted`, `duplicate`).
    pub alertmanager_alerts: Family<OutcomeLabel, Counter>,
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
        let alertmanager_alerts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "alertmanager_alerts",
            "Alertmanager alerts received: routed, unrouted (no binding matched), duplicate (already delivered to an instance)",
            alertmanager_alerts.clone(),
        );
        Self {
            registry,
            alertmanager_alerts,
            deliveries,
            queue_depth,
            event_to_send,
            retries,
            throttles,
            digests,
            events,
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

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}
