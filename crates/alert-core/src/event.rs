//! [`JobEvent`] (what happened to a job) and [`Alert`] (what a channel receives).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::JobStatus;

/// How loud an alert is.
///
/// Deliberately exhaustive (not `#[non_exhaustive]`): channels map every level to a colour, an
/// icon or a priority, and a new level must make each of them decide, at compile time. Adding
/// one is a breaking change of alert-core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational (e.g. a job finished normally or recovered).
    Info,
    /// Needs attention (canceled, stopped, restarting).
    Warning,
    /// Needs action now (failed, unknown).
    Critical,
}

impl Severity {
    /// Lower-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state of one Flink job.
///
/// This is also the JSON body that `alert-server send --event` and the REST API accept:
///
/// ```
/// use alert_core::{JobEvent, JobStatus};
/// let ev: JobEvent = serde_json::from_str(r#"{
///     "job_id": "a1b2", "job_name": "orders", "cluster": "prod",
///     "status": "FAILED", "previous_status": "RUNNING",
///     "occurred_at": "2026-11-25T08:00:00+08:00"
/// }"#).unwrap();
/// assert_eq!(ev.status, JobStatus::Failed);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JobEvent {
    /// Flink's job id (32 hex characters).
    pub job_id: String,
    /// The job's name.
    pub job_name: String,
    /// Name of the Flink cluster the job runs on.
    #[serde(default)]
    pub cluster: String,
    /// The state the job is in now.
    pub status: JobStatus,
    /// The state it was in before, when known.
    #[serde(default)]
    pub previous_status: Option<JobStatus>,
    /// When the change was observed (with the offset it was given in).
    pub occurred_at: DateTime<FixedOffset>,
    /// How long the job had run, in milliseconds, when known.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// One-line root cause (and optionally a short stack excerpt) for failures.
    #[serde(default)]
    pub error: Option<String>,
    /// Link to the job in the Flink web UI.
    #[serde(default)]
    pub url: Option<String>,
    /// Free labels (team, env, ...), available to templates.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl JobEvent {
    /// An event with the four fields every event has; the optional ones start empty and are set
    /// with the `with_*` methods (or by assigning the public fields).
    ///
    /// ```
    /// use alert_core::{JobEvent, JobStatus};
    /// let at = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00+08:00").unwrap();
    /// let ev = JobEvent::new("a1b2", "orders", JobStatus::Failed, at)
    ///     .with_cluster("prod")
    ///     .with_previous_status(JobStatus::Running)
    ///     .with_error("java.lang.ArithmeticException: / by zero");
    /// assert_eq!(ev.cluster, "prod");
    /// ```
    pub fn new(
        job_id: impl Into<String>,
        job_name: impl Into<String>,
        status: JobStatus,
        occurred_at: DateTime<FixedOffset>,
    ) -> Self {
        Self {
            job_id: job_id.into(),
            job_name: job_name.into(),
            cluster: String::new(),
            status,
            previous_status: None,
            occurred_at,
            duration_ms: None,
            error: None,
            url: None,
            labels: BTreeMap::new(),
        }
    }

    /// Sets the cluster's name.
    #[must_use]
    pub fn with_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = cluster.into();
        self
    }

    /// Sets the state the job was in before.
    #[must_use]
    pub fn with_previous_status(mut self, previous: JobStatus) -> Self {
        self.previous_status = Some(previous);
        self
    }

    /// Sets how long the job had run, in milliseconds.
    #[must_use]
    pub fn with_duration_ms(mut self, duration_ms: u64) -> Self {
        self.duration_ms = Some(duration_ms);
        self
    }

    /// Sets the root cause of a failure.
    #[must_use]
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// Sets the link to the job in the Flink web UI.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Adds one label.
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// The event's severity, derived from the new status.
    pub fn severity(&self) -> Severity {
        self.status.severity()
    }
}

/// One message, rendered and ready for any channel.
///
/// Channels pick `text` or `markdown` by their own `show_type`; both are always filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alert {
    /// Short title (markdown title in DingTalk, first line elsewhere).
    pub title: String,
    /// Plain-text body.
    pub text: String,
    /// Markdown body.
    pub markdown: String,
    /// How loud it is.
    pub severity: Severity,
    /// The job event it was rendered from, if any (ad-hoc and test messages have none).
    pub event: Option<JobEvent>,
}

impl Alert {
    /// An alert from its rendered parts, with no event (see [`Alert::with_event`]).
    pub fn new(
        title: impl Into<String>,
        text: impl Into<String>,
        markdown: impl Into<String>,
        severity: Severity,
    ) -> Self {
        Self {
            title: title.into(),
            text: text.into(),
            markdown: markdown.into(),
            severity,
            event: None,
        }
    }

    /// Attaches the job event the alert was rendered from.
    #[must_use]
    pub fn with_event(mut self, event: JobEvent) -> Self {
        self.event = Some(event);
        self
    }

    /// An alert with the same body as plain text and markdown, and no event (ad-hoc and test sends).
    pub fn plain(title: impl Into<String>, body: impl Into<String>) -> Self {
        let body = body.into();
        Self {
            title: title.into(),
            markdown: body.clone(),
            text: body,
            severity: Severity::Info,
            event: None,
        }
    }
}
