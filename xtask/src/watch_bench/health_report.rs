//! `--health`: how many polls each injected problem took from its threshold crossing to the
//! robot request naming it, and the Markdown section that reports it.

use std::fmt::Write as _;

use super::args::BenchArgs;
use super::health::{Problem, ProblemKind};

/// One problem, measured.
#[derive(Debug, Clone)]
pub(super) struct ProblemRow {
    pub(super) problem: Problem,
    /// Polls of its cluster served after the crossing up to the robot request: the one that
    /// detected it is the last (1 = the first poll after the crossing).
    pub(super) polls: Option<usize>,
}

impl ProblemRow {
    /// Measures `problem` against the overview polls served, `(cluster, ns)`.
    pub(super) fn measure(problem: Problem, polls: &[(usize, u64)]) -> Self {
        let polls_to = problem.robot_ns.map(|robot| {
            polls
                .iter()
                .filter(|&&(c, at)| c == problem.cluster && at > problem.crossed_ns && at <= robot)
                .count()
        });
        Self {
            problem,
            polls: polls_to,
        }
    }

    fn latency_ms(&self) -> Option<f64> {
        let p = &self.problem;
        #[allow(clippy::cast_precision_loss)]
        p.robot_ns
            .map(|r| r.saturating_sub(p.crossed_ns) as f64 / 1e6)
    }
}

/// The Markdown section: a summary row per kind and a row per problem.
pub(super) fn section(
    args: &BenchArgs,
    rows: &[ProblemRow],
    taskmanager_reads: u64,
    window_start_ns: u64,
) -> String {
    let mut out = String::new();
    let reads = args
        .health_reads
        .map_or("the server's default".to_owned(), |n| n.to_string());
    let _ = writeln!(
        out,
        "\n**Health** (`--health`): one binding `{{\"job\":\"*\"}}` listing the default job states and \
         CHECKPOINT_FAILED, CHECKPOINT_SLOW, EXCEPTION, TASKMANAGER_LOST (default thresholds: 3 \
         failed checkpoints in a row); every job checkpoints every {} ms; \
         `watch.health_reads_per_poll` = {reads}; {} reads of `/taskmanagers`. Detection = the \
         poll of the problem's cluster that found it, counted from the threshold crossing (1 = \
         the first poll after it); target ≤ 2.\n",
        args.checkpoint_interval_ms, taskmanager_reads
    );
    let _ = writeln!(
        out,
        "| condition | problems | detected | polls to detection, min / max | ≤ 2 polls | crossing → robot, min / max |\n|---|---|---|---|---|---|"
    );
    for kind in ProblemKind::ALL {
        let of: Vec<&ProblemRow> = rows.iter().filter(|r| r.problem.kind == kind).collect();
        if of.is_empty() {
            continue;
        }
        let polls: Vec<usize> = of.iter().filter_map(|r| r.polls).collect();
        let lat: Vec<f64> = of.iter().filter_map(|r| r.latency_ms()).collect();
        let within = polls.iter().filter(|&&p| p <= 2).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} / {} | {} of {} {} | {:.0} / {:.0} ms |",
            kind.condition(),
            of.len(),
            polls.len(),
            polls.iter().min().map_or("—".into(), ToString::to_string),
            polls.iter().max().map_or("—".into(), ToString::to_string),
            within,
            of.len(),
            if within == of.len() { "✅" } else { "❌" },
            lat.iter().copied().fold(f64::NAN, f64::min),
            lat.iter().copied().fold(f64::NAN, f64::max),
        );
    }
    let _ = writeln!(
        out,
        "\n| problem | condition | cluster | injected (s into window) | crossed (s) | polls to detection | crossing → robot | robot requests |\n|---|---|---|---|---|---|---|---|"
    );
    #[allow(clippy::cast_precision_loss)]
    let secs = |ns: u64| ns.saturating_sub(window_start_ns) as f64 / 1e9;
    for (i, r) in rows.iter().enumerate() {
        let p = &r.problem;
        let _ = writeln!(
            out,
            "| {} | {} | c{} | {:.2} | {:.2} | {} | {} | {} |",
            i + 1,
            p.kind.condition(),
            p.cluster,
            secs(p.injected_ns),
            secs(p.crossed_ns),
            r.polls.map_or("**never**".into(), |n| n.to_string()),
            r.latency_ms().map_or("—".into(), |v| format!("{v:.0} ms")),
            p.robot_requests
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_counts_the_polls_after_the_crossing() {
        let problem = Problem {
            kind: ProblemKind::CheckpointFailed,
            cluster: 1,
            needle: "ab".into(),
            injected_ns: 0,
            crossed_ns: 100,
            robot_ns: Some(1_000),
            robot_requests: 1,
        };
        let polls = [(1, 50), (1, 300), (0, 400), (1, 900), (1, 1_100)];
        let row = ProblemRow::measure(problem.clone(), &polls);
        assert_eq!(row.polls, Some(2));
        let never = ProblemRow::measure(
            Problem {
                robot_ns: None,
                ..problem
            },
            &polls,
        );
        assert_eq!(never.polls, None);
    }
}
