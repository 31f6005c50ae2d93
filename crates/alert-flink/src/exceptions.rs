//! [`ExceptionSummary`]: the root cause and restart facts read from a job's exception history.
//!
//! # The one-line rule
//!
//! The root cause is taken from the **newest** entry of `exceptionHistory.entries` (the
//! failure that ended the job, or caused the latest restart): the **deepest** `Caused by:` of its
//! stack trace, or its first line when it has none. For the divide-by-zero job that is
//! `java.lang.ArithmeticException: / by zero`, not Flink's wrapper
//! `org.apache.flink.runtime.JobException: Recovery is suppressed by ...`; the wrapper is kept
//! as context (it says that the restart strategy gave up). Only the first line of a multi-line
//! exception message is kept.
//!
//! # Counting restarts
//!
//! Each history entry is one failure Flink handled: every entry led to a restart, except the
//! newest one of a `FAILED` job, which ended it. So restarts = entries, or entries − 1 for a
//! job that is `FAILED` (the fixtures: 3 entries = 2 restarts + the final `JobException`). The
//! history is bounded (`web.exception-history-size`, 16), so the detector counts entries newer
//! than the newest timestamp it has already seen rather than comparing totals.

use crate::model::{ExceptionEntry, JobExceptions};

/// How many stack frames of the root cause the excerpt keeps.
pub const EXCERPT_FRAMES: usize = 3;

/// Longest line kept in a summary (bytes); longer lines are cut with `…`.
pub const MAX_LINE_BYTES: usize = 300;

/// What an exception history says, reduced to what an alert needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ExceptionSummary {
    /// One line: the deepest cause of the newest failure (see the module docs). `None` when the
    /// history is empty.
    pub root_cause: Option<String>,
    /// Up to [`EXCERPT_FRAMES`] `at ...` frames of the root cause.
    pub stack_excerpt: Vec<String>,
    /// The first line of the newest failure when it differs from the root cause (Flink's
    /// wrapper, e.g. `JobException: Recovery is suppressed by ...`).
    pub wrapper: Option<String>,
    /// The task that failed, when the newest failure names one (its own or a concurrent one).
    pub task: Option<String>,
    /// Timestamps of the history entries, newest first (epoch ms).
    pub entry_timestamps: Vec<i64>,
    /// Whether Flink dropped older entries.
    pub truncated: bool,
}

impl ExceptionSummary {
    /// Summarizes an answer of `GET /jobs/{id}/exceptions` (both 1.20 and 2.x shapes).
    ///
    /// ```
    /// use alert_flink::{model::JobExceptions, ExceptionSummary};
    /// let answer: JobExceptions = serde_json::from_str(r#"{"exceptionHistory": {"entries": [
    ///   {"exceptionName": "org.apache.flink.runtime.JobException", "timestamp": 3,
    ///    "stacktrace": "org.apache.flink.runtime.JobException: Recovery is suppressed\n\tat a.B.c(B.java:1)\nCaused by: java.lang.ArithmeticException: / by zero\n\tat Calc.process(Unknown Source)\n"},
    ///   {"exceptionName": "java.lang.ArithmeticException", "timestamp": 1,
    ///    "stacktrace": "java.lang.ArithmeticException: / by zero\n"}
    /// ], "truncated": false}}"#).unwrap();
    /// let s = ExceptionSummary::from_response(&answer);
    /// assert_eq!(s.root_cause.as_deref(), Some("java.lang.ArithmeticException: / by zero"));
    /// assert_eq!(s.restart_count(true), 1);
    /// ```
    pub fn from_response(answer: &JobExceptions) -> Self {
        let history = &answer.exception_history;
        let mut summary = Self {
            entry_timestamps: history.entries.iter().map(|e| e.timestamp).collect(),
            truncated: history.truncated,
            ..Self::default()
        };
        let Some(newest) = history.entries.first() else {
            return summary;
        };
        let (first_line, cause, frames) = analyse(&newest.stacktrace);
        let first_line = first_line.unwrap_or_else(|| newest.exception_name.clone());
        match cause {
            Some(cause) => {
                summary.root_cause = Some(cause);
                summary.wrapper = Some(first_line);
            }
            None => summary.root_cause = Some(first_line),
        }
        summary.stack_excerpt = frames;
        summary.task = task_of(newest);
        summary
    }

    /// How many entries the history holds.
    pub fn entries(&self) -> usize {
        self.entry_timestamps.len()
    }

    /// Restarts the history shows: every entry, minus the newest when the job is `FAILED`
    /// (that one ended it). A lower bound when [`truncated`](Self::truncated).
    pub fn restart_count(&self, job_failed: bool) -> u32 {
        let n = u32::try_from(self.entries()).unwrap_or(u32::MAX);
        if job_failed {
            n.saturating_sub(1)
        } else {
            n
        }
    }

    /// Entries strictly newer than `after` (all of them when `None`).
    pub fn entries_after(&self, after: Option<i64>) -> u32 {
        let n = match after {
            None => self.entries(),
            Some(ts) => self.entry_timestamps.iter().filter(|t| **t > ts).count(),
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The newest entry's timestamp.
    pub fn newest_timestamp(&self) -> Option<i64> {
        self.entry_timestamps.iter().copied().max()
    }

    /// The text for [`alert_core::JobEvent::error`]: the root cause on the first line, then the
    /// excerpt frames, then the wrapper (`via ...`). `None` for an empty history.
    pub fn error_text(&self) -> Option<String> {
        let cause = self.root_cause.as_ref()?;
        let mut out = cause.clone();
        for frame in &self.stack_excerpt {
            out.push_str("\n  ");
            out.push_str(frame);
        }
        if let Some(wrapper) = &self.wrapper {
            out.push_str("\nvia ");
            out.push_str(wrapper);
        }
        Some(out)
    }
}

/// The first line, the deepest top-level `Caused by:` and up to [`EXCERPT_FRAMES`] frames of
/// that cause (of the first exception when there is no cause).
fn analyse(stacktrace: &str) -> (Option<String>, Option<String>, Vec<String>) {
    let mut lines = stacktrace.lines();
    let first = lines.next().map(clip).filter(|l| !l.is_empty());
    let mut cause = None;
    let mut frames = Vec::new();
    for line in lines {
        // Only column-0 causes belong to the main chain; suppressed exceptions are indented.
        if let Some(c) = line.strip_prefix("Caused by: ") {
            cause = Some(clip(c));
            frames.clear();
        } else if let Some(frame) = line.strip_prefix("\tat ") {
            if frames.len() < EXCERPT_FRAMES {
                frames.push(clip(&format!("at {frame}")));
            }
        }
    }
    (first, cause, frames)
}

fn task_of(entry: &ExceptionEntry) -> Option<String> {
    entry.task_name.clone().or_else(|| {
        entry
            .concurrent_exceptions
            .iter()
            .find_map(|c| c.task_name.clone())
    })
}

fn clip(line: &str) -> String {
    alert_core::text::truncate_bytes(line.trim_end(), MAX_LINE_BYTES, "…").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_when_there_is_no_cause() {
        let (first, cause, frames) = analyse("x.Y: boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)\n");
        assert_eq!(first.as_deref(), Some("x.Y: boom"));
        assert_eq!(cause, None);
        assert_eq!(frames, ["at a.b(C.java:1)", "at d.e(F.java:2)"]);
    }

    #[test]
    fn deepest_cause_wins_and_suppressed_are_ignored() {
        let st = "A: top\n\tat a(A)\nCaused by: B: middle\n\tat b(B)\nCaused by: C: deep\n\tat c1(C)\n\tat c2(C)\n\tat c3(C)\n\tat c4(C)\n\tSuppressed: D: other\n\t\tat d(D)\n\t\tCaused by: E: nested\n\t... 3 more\n";
        let (first, cause, frames) = analyse(st);
        assert_eq!(first.as_deref(), Some("A: top"));
        assert_eq!(cause.as_deref(), Some("C: deep"));
        assert_eq!(frames, ["at c1(C)", "at c2(C)", "at c3(C)"]);
    }

    #[test]
    fn long_lines_are_clipped() {
        let long = format!("x.Y: {}", "a".repeat(1000));
        let (first, _, _) = analyse(&long);
        assert!(first.unwrap().len() <= MAX_LINE_BYTES);
    }

    #[test]
    fn empty_history_has_no_cause_and_no_restarts() {
        let s = ExceptionSummary::from_response(&JobExceptions::default());
        assert_eq!(s.error_text(), None);
        assert_eq!(s.restart_count(true), 0);
        assert_eq!(s.restart_count(false), 0);
        assert_eq!(s.entries_after(None), 0);
    }
}
