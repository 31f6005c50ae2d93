//! What a run measured ([`Report`]), its verdict and its Markdown report.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::args::LoadArgs;
use super::pg::{PgDb, PgStats};
use super::procfs::{cores, Cpu, Memory};
use super::IDLE_WAIT;
use crate::proc::Stopped;

/// Everything measured.
#[derive(Debug, Default)]
pub(super) struct Report {
    /// Per replica.
    pub(super) rss_start: Vec<Memory>,
    pub(super) rss_idle: Vec<Memory>,
    pub(super) idle_cpu: Vec<f64>,
    pub(super) a: PhaseA,
    pub(super) b: PhaseB,
    pub(super) requests: u64,
    pub(super) unmatched: u64,
    /// `/proc/loadavg`'s first three fields when the servers were up.
    pub(super) loadavg: String,
    /// How busy the machine was before the run ([`wait_quiet`]).
    pub(super) quiet: String,
    /// The load database's counters, read after the servers stopped (PostgreSQL only).
    pub(super) pg_stats: Option<PgStats>,
}

#[derive(Debug, Default)]
pub(super) struct PhaseA {
    pub(super) accept: Duration,
    pub(super) rejected: u64,
    pub(super) first_error: Option<String>,
    /// First POST to the last robot request (or to the timeout).
    pub(super) end_to_end: Duration,
    /// Between the 10th and the 90th percentile arrival.
    pub(super) p10_p90: Duration,
    /// The 99th percentile arrival after the first POST: the event → robot latency when the
    /// events are few and posted at once (a fan-out to many instances).
    pub(super) arrival_p99: Duration,
    pub(super) complete: bool,
    pub(super) missing: usize,
    pub(super) duplicates: u64,
    pub(super) cpu: Cpu,
    /// The server's busiest threads.
    pub(super) threads: String,
}

#[derive(Debug, Default)]
pub(super) struct PhaseB {
    pub(super) events: usize,
    /// First to last scheduled send.
    pub(super) sending: Duration,
    /// Worst delay of a send behind its schedule.
    pub(super) max_lag: Duration,
    pub(super) rejected: u64,
    pub(super) first_error: Option<String>,
    pub(super) complete: bool,
    pub(super) missing: usize,
    pub(super) duplicates: u64,
    /// Milliseconds, sorted.
    pub(super) from_send: Vec<f64>,
    pub(super) from_ack: Vec<f64>,
    /// Deliveries that reached the robot before the client had the 202.
    pub(super) before_ack: usize,
    pub(super) post_rtt: Vec<f64>,
    pub(super) cpu: Cpu,
    pub(super) threads: String,
    pub(super) wall: Duration,
}

/// Events accepted (202 received) and robot requests, per second of a phase (ns offsets from
/// its start), one line per second, for stderr.
pub(super) fn timeline(phase: &str, acks: &[u64], arrivals: &[u64]) -> String {
    let second = |ns: &u64| usize::try_from(ns / 1_000_000_000).unwrap_or(usize::MAX);
    let len = acks
        .iter()
        .chain(arrivals)
        .map(second)
        .max()
        .map_or(0, |s| s + 1);
    let (mut accepted, mut delivered) = (vec![0_u64; len], vec![0_u64; len]);
    acks.iter().for_each(|ns| accepted[second(ns)] += 1);
    arrivals.iter().for_each(|ns| delivered[second(ns)] += 1);
    let mut out = format!("{phase}, per second: accepted events / robot requests\n");
    for (s, (a, d)) in accepted.iter().zip(&delivered).enumerate() {
        let _ = writeln!(out, "  {s:>3} s: {a:>6} / {d:>6}");
    }
    out
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn distribution(sorted: &[f64]) -> String {
    format!(
        "p50 {:.1} / p90 {:.1} / p99 {:.1} / max {:.1} ms",
        percentile(sorted, 50.0),
        percentile(sorted, 90.0),
        percentile(sorted, 99.0),
        sorted.last().copied().unwrap_or(f64::NAN)
    )
}

fn per_sec(count: f64, d: Duration) -> f64 {
    count / d.as_secs_f64().max(1e-9)
}

fn mib(kib: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = kib as f64 / 1024.0;
    format!("{m:.1} MiB")
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "✅"
    } else {
        "❌"
    }
}

impl Report {
    /// Why the run failed: missing or duplicate pairs, failed POSTs, timeouts (empty: passed).
    pub(super) fn failures(&self) -> Vec<String> {
        let mut why = Vec::new();
        for (phase, missing, duplicates, rejected, complete) in [
            (
                "A",
                self.a.missing,
                self.a.duplicates,
                self.a.rejected,
                self.a.complete,
            ),
            (
                "B",
                self.b.missing,
                self.b.duplicates,
                self.b.rejected,
                self.b.complete,
            ),
        ] {
            if missing > 0 {
                why.push(format!(
                    "{phase}: {missing} (event, instance) pairs never delivered"
                ));
            }
            if duplicates > 0 {
                why.push(format!("{phase}: {duplicates} duplicate deliveries"));
            }
            if rejected > 0 {
                why.push(format!("{phase}: {rejected} POSTs failed"));
            }
            if !complete && missing == 0 {
                why.push(format!("{phase}: timed out"));
            }
        }
        if self.unmatched > 0 {
            why.push(format!("{} unrecognized robot requests", self.unmatched));
        }
        why
    }

    pub(super) fn markdown(
        &self,
        args: &LoadArgs,
        bin: &Path,
        pg: Option<&PgDb>,
        stops: &[Stopped],
        log_lines: &[usize],
        db_bytes: Option<u64>,
    ) -> String {
        #[allow(clippy::cast_precision_loss)]
        let (n, k) = (args.events as f64, args.instances as f64);
        let a = &self.a;
        let b = &self.b;
        let deliveries_per_sec = per_sec(n * k, a.end_to_end);
        let p99 = percentile(&b.from_send, 99.0);
        let mut out = String::new();
        let mut row = |metric: &str, value: String| {
            let _ = writeln!(out, "| {metric} | {value} |");
        };
        let failures = self.failures();
        row(
            "verdict",
            if failures.is_empty() {
                "**PASS**: every (event, instance) pair delivered exactly once".to_owned()
            } else {
                format!("**FAIL** ❌: {}", failures.join("; "))
            },
        );
        row(
            "command",
            format!(
                "`cargo xtask load --events {} --instances {} --rate {} --duration-secs {} --concurrency {}{}{}`",
                args.events,
                args.instances,
                args.rate,
                args.duration_secs,
                args.concurrency,
                pg.map(|pg| format!(" --database-url {}", pg.admin_shown))
                    .unwrap_or_default(),
                if args.replicas > 1 {
                    format!(" --replicas {}", args.replicas)
                } else {
                    String::new()
                }
            ),
        );
        row(
            "server",
            format!(
                "{} × `{}` on {} ({} cores shared with {}the load generator and the mock robot; load average at start {}; before the run: {})",
                args.replicas,
                bin.display(),
                pg.map_or_else(|| "SQLite".to_owned(), |pg| format!("PostgreSQL, database `{}`", pg.name)),
                cores(),
                if pg.is_some() { "PostgreSQL, " } else { "" },
                self.loadavg,
                self.quiet
            ),
        );
        // Issue 16's targets: 20,000 deliveries/s on SQLite, 10,000 on one PostgreSQL replica;
        // 8,000 events/s accepted, one event per request.
        let deliveries_target = if pg.is_some() { 10_000.0 } else { 20_000.0 };
        let events_per_sec = per_sec(n, a.accept);
        row(
            "A: events accepted",
            format!(
                "{} in {:.2} s = **{events_per_sec:.0} events/s** {} (target ≥ 8000/s; {} rejected{})",
                args.events,
                a.accept.as_secs_f64(),
                verdict(events_per_sec >= 8_000.0 && a.rejected == 0),
                a.rejected,
                a.first_error
                    .as_ref()
                    .map(|e| format!(", first: {e}"))
                    .unwrap_or_default()
            ),
        );
        row(
            "A: deliveries end to end",
            format!(
                "{:.0} robot requests in {:.2} s = **{deliveries_per_sec:.0} deliveries/s** {} (target ≥ {deliveries_target:.0}/s)",
                n * k,
                a.end_to_end.as_secs_f64(),
                verdict(deliveries_per_sec >= deliveries_target && a.complete)
            ),
        );
        row(
            "A: deliveries, 10th→90th percentile arrival",
            format!("{:.0} deliveries/s", per_sec(0.8 * n * k, a.p10_p90)),
        );
        row(
            "A: 99th percentile arrival after the first POST",
            format!("{:.0} ms", a.arrival_p99.as_secs_f64() * 1000.0),
        );
        row(
            "A: exactly once",
            format!(
                "{} missing, {} duplicates{}",
                a.missing,
                a.duplicates,
                if a.complete { "" } else { " (timed out)" }
            ),
        );
        row("A: CPU", a.cpu.describe(a.end_to_end));
        row("A: busiest server threads", a.threads.clone());
        row(
            "B: schedule",
            format!(
                "{} events at {}/s, sent over {:.2} s (worst lag behind schedule {:.1} ms), {} rejected{}",
                b.events,
                args.rate,
                b.sending.as_secs_f64(),
                b.max_lag.as_secs_f64() * 1e3,
                b.rejected,
                b.first_error
                    .as_ref()
                    .map(|e| format!(", first: {e}"))
                    .unwrap_or_default()
            ),
        );
        row(
            "B: latency, before POST → robot request",
            format!(
                "**{}** {} (target p99 < 50 ms)",
                distribution(&b.from_send),
                verdict(p99 < 50.0 && b.complete)
            ),
        );
        row(
            "B: latency, 202 received → robot request",
            format!(
                "{} ({} of {} deliveries arrived before the client saw the 202; counted as 0)",
                distribution(&b.from_ack),
                b.before_ack,
                b.from_ack.len()
            ),
        );
        row("B: POST round trip", distribution(&b.post_rtt));
        row(
            "B: exactly once",
            format!(
                "{} missing, {} duplicates{}",
                b.missing,
                b.duplicates,
                if b.complete { "" } else { " (timed out)" }
            ),
        );
        row("B: CPU", b.cpu.describe(b.wall));
        row("B: busiest server threads", b.threads.clone());
        let each = |f: &dyn Fn(usize) -> String| -> String {
            (0..self.rss_start.len().max(self.rss_idle.len()))
                .map(|i| {
                    if self.rss_start.len() > 1 {
                        format!("load-{i} {}", f(i))
                    } else {
                        f(i)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        row(
            "RSS after start (idle)",
            each(&|i| {
                let m = self.rss_start.get(i).copied().unwrap_or_default();
                format!("**{}** {}", mib(m.rss_kib), verdict(m.rss_kib < 30 * 1024))
            }),
        );
        row(
            "RSS after the load (idle)",
            format!(
                "{} (server CPU while idle over {} s)",
                each(&|i| {
                    let m = self.rss_idle.get(i).copied().unwrap_or_default();
                    format!(
                        "**{}** {} (target < 60 MB; peak VmHWM {}; {:.2} s CPU)",
                        mib(m.rss_kib),
                        verdict(m.rss_kib * 1024 < 60_000_000),
                        mib(m.peak_kib),
                        self.idle_cpu.get(i).copied().unwrap_or(0.0)
                    )
                }),
                IDLE_WAIT.as_secs()
            ),
        );
        #[allow(clippy::cast_precision_loss)]
        let db_mib = |b: u64| b as f64 / 1_048_576.0;
        row(
            "database",
            match (pg, db_bytes) {
                (None, Some(b)) => format!("{:.1} MiB (db + WAL)", db_mib(b)),
                (Some(_), Some(b)) => format!("{:.1} MiB (pg_database_size)", db_mib(b)),
                (_, None) => "size unknown".to_owned(),
            },
        );
        if let Some(st) = self.pg_stats {
            #[allow(clippy::cast_precision_loss)]
            let events = (args.events + args.rate * args.duration_secs) as f64;
            #[allow(clippy::cast_precision_loss)]
            let per = |v: u64| v as f64 / events;
            row(
                "PostgreSQL transactions (whole run)",
                format!(
                    "{} commits + {} rollbacks = {:.2} per event; rows inserted {}, updated {}, deleted {} ({:.1} / {:.1} per event)",
                    st.commits,
                    st.rollbacks,
                    per(st.commits + st.rollbacks),
                    st.inserted,
                    st.updated,
                    st.deleted,
                    per(st.inserted),
                    per(st.updated)
                ),
            );
        }
        row(
            "robot requests",
            format!("{} in all, {} unrecognized", self.requests, self.unmatched),
        );
        row(
            "shutdown",
            stops
                .iter()
                .map(|stop| {
                    format!(
                        "SIGTERM → exit in {:.2} s ({}, {})",
                        stop.took.as_secs_f64(),
                        if stop.graceful { "graceful" } else { "KILLED" },
                        stop.status
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        );
        row(
            "server log",
            format!(
                "{} lines at level warn",
                log_lines
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
        );
        format!("| metric | value |\n|---|---|\n{out}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((percentile(&v, 50.0) - 50.0).abs() < 1e-9);
        assert!((percentile(&v, 99.0) - 99.0).abs() < 1e-9);
        assert!((percentile(&v, 100.0) - 100.0).abs() < 1e-9);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn missing_pairs_and_duplicates_fail_the_run() {
        let mut report = Report::default();
        report.a.complete = true;
        report.b.complete = true;
        assert!(report.failures().is_empty());
        report.b.duplicates = 3;
        report.a.missing = 2;
        report.a.complete = false;
        let why = report.failures().join("; ");
        assert!(
            why.contains("A: 2 (event, instance) pairs never delivered"),
            "{why}"
        );
        assert!(why.contains("B: 3 duplicate deliveries"), "{why}");
        assert!(!why.contains("timed out"), "{why}");
    }
}
