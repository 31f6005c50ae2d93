//! What a phase measured ([`Phase`]) and the Markdown report.

use std::fmt::Write as _;
use std::time::Duration;

use super::args::Args;
use super::child::Cpu;
use crate::proc::Stopped;

/// One receiver's result in a phase.
#[derive(Debug, Clone, Copy)]
pub(super) struct Arrivals {
    pub(super) requests: u64,
    pub(super) alerts: usize,
    pub(super) first: Option<Duration>,
    /// Arrival of the last new alert.
    pub(super) last: Duration,
}

#[derive(Debug)]
pub(super) struct Phase {
    pub(super) name: &'static str,
    pub(super) round: u32,
    /// Time to post every alert (all answered).
    pub(super) post: Duration,
    pub(super) baseline: Arrivals,
    pub(super) bridge: Option<Arrivals>,
    pub(super) cpu: Cpu,
    /// Wall time the CPU was measured over (first POST to last arrival).
    pub(super) wall: Duration,
    pub(super) am_stop: Stopped,
    pub(super) am_metrics: WebhookMetrics,
    /// Alertmanager's CPU-s per s over [`IDLE_SAMPLE`] after the phase.
    pub(super) am_idle: f64,
}
/// Alertmanager's own counters for its webhook integration (both receivers together).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct WebhookMetrics {
    /// Notifications, and those that failed for good.
    pub(super) notifications: f64,
    pub(super) notifications_failed: f64,
    /// HTTP requests (attempts, retries included), and those that failed.
    pub(super) requests: f64,
    pub(super) requests_failed: f64,
    /// Sum and count of the notification latency histogram (seconds).
    pub(super) latency_sum: f64,
    pub(super) latency_count: f64,
}

fn rate(n: usize, d: Duration) -> String {
    if d.is_zero() {
        return "–".into();
    }
    #[allow(clippy::cast_precision_loss)]
    let r = n as f64 / d.as_secs_f64();
    format!("{r:.0}")
}

pub(super) fn markdown(args: &Args, phases: &[Phase], server_stop: &Stopped) -> String {
    let n = usize::try_from(args.alerts).unwrap_or(usize::MAX);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### am-bench: {} alerts per phase, {} per POST, {} POSTs in flight, {} alerts per group, \
         group_wait = group_interval = {} ms\n",
        args.alerts, args.batch, args.concurrency, args.per_group, args.group_wait_ms
    );
    let _ = writeln!(
        out,
        "| phase | POST (ingest) alerts/s | baseline: alerts / notifications | baseline done (s) | \
         baseline alerts/s | bridge: alerts / DingTalk messages | bridge done (s) | bridge alerts/s | \
         bridge − baseline (s) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for p in phases {
        let (b_alerts, b_done, b_rate, delta) = match p.bridge {
            Some(b) => (
                format!("{} / {}", b.alerts, b.requests),
                format!("{:.2}", b.last.as_secs_f64()),
                rate(b.alerts, b.last),
                format!(
                    "{:+.2}",
                    b.last.as_secs_f64() - p.baseline.last.as_secs_f64()
                ),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            out,
            "| {} #{} | {} ({:.2} s) | {} / {} | {:.2} | {} | {b_alerts} | {b_done} | {b_rate} | {delta} |",
            p.name,
            p.round,
            rate(n, p.post),
            p.post.as_secs_f64(),
            p.baseline.alerts,
            p.baseline.requests,
            p.baseline.last.as_secs_f64(),
            rate(p.baseline.alerts, p.baseline.last),
        );
    }
    let _ = writeln!(
        out,
        "\nCPU seconds over each phase (first POST to the last arrival + 0.3 s; 2 cores = 2 CPU-s per s):\n"
    );
    let _ = writeln!(
        out,
        "| phase | wall (s) | Alertmanager | alert-server | mocks | load generator | first arrival baseline / bridge (s) | Alertmanager afterwards, idle (CPU-s/s) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for p in phases {
        let first =
            |a: Option<Duration>| a.map_or("–".into(), |d| format!("{:.2}", d.as_secs_f64()));
        let _ = writeln!(
            out,
            "| {} #{} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} / {} | {:.2} |",
            p.name,
            p.round,
            p.wall.as_secs_f64(),
            p.cpu.alertmanager,
            p.cpu.server,
            p.cpu.mocks,
            p.cpu.generator,
            first(p.baseline.first),
            first(p.bridge.and_then(|b| b.first)),
            p.am_idle,
        );
    }
    let _ = writeln!(
        out,
        "\nAlertmanager's webhook metrics (`/metrics`, `integration=\"webhook\"`, both receivers):\n"
    );
    let _ = writeln!(
        out,
        "| phase | notifications | failed | HTTP requests | failed requests | mean notification latency (s) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for p in phases {
        let m = p.am_metrics;
        let mean = if m.latency_count > 0.0 {
            format!("{:.3}", m.latency_sum / m.latency_count)
        } else {
            "–".into()
        };
        let _ = writeln!(
            out,
            "| {} #{} | {} | {} | {} | {} | {mean} |",
            p.name, p.round, m.notifications, m.notifications_failed, m.requests, m.requests_failed
        );
    }
    let _ = writeln!(
        out,
        "\nAlertmanager stopped (SIGTERM) in {}; alert-server in {:.2} s{}.",
        phases
            .iter()
            .map(|p| format!(
                "{:.2} s{}",
                p.am_stop.took.as_secs_f64(),
                if p.am_stop.graceful { "" } else { " (killed)" }
            ))
            .collect::<Vec<_>>()
            .join(", "),
        server_stop.took.as_secs_f64(),
        if server_stop.graceful {
            ""
        } else {
            " (killed)"
        }
    );
    out
}
