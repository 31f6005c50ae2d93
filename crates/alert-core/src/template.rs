//! Rendering a [`JobEvent`] into a [`crate::Alert`], and Dinky's `{placeholder}` body templates.
//!
//! User templates use minijinja with strict undefined: a typo in a variable name is an error at
//! configuration time, not an empty hole in a message sent at 3 a.m.

use std::fmt::Write as _;

#[cfg(feature = "templates")]
use minijinja::{Environment, UndefinedBehavior, Value as TplValue};
#[cfg(feature = "templates")]
use serde::Serialize;

#[cfg(feature = "templates")]
use crate::Alert;
use crate::JobEvent;

/// The built-in title template.
pub const DEFAULT_TITLE: &str = "[Flink] {{ job_name }} {{ condition or transition }}";

/// The built-in plain-text body.
pub const DEFAULT_TEXT: &str = "\
Flink 作业告警 / Flink job alert
作业 Job: {{ job_name }}
作业 ID Job ID: {{ job_id }}
状态 Status: {{ transition }} ({{ status_zh }})
{% if condition %}状况 Condition: {{ condition }}
{% endif %}{% if summary %}详情 Details: {{ summary }}
{% endif %}{% if cluster %}集群 Cluster: {{ cluster }}
{% endif %}时间 Time: {{ time }}
{% if duration %}运行时长 Duration: {{ duration }}
{% endif %}{% if error %}错误 Error: {{ error }}
{% endif %}{% if url %}链接 Link: {{ url }}
{% endif %}";

/// The built-in markdown body (reads well in DingTalk and WeCom markdown).
pub const DEFAULT_MARKDOWN: &str = "\
### {{ icon }} Flink 作业告警 / Flink job alert
- **作业 Job**: {{ job_name }}
- **作业 ID**: {{ job_id }}
- **状态 Status**: {{ transition }} ({{ status_zh }})
{% if condition %}- **状况 Condition**: {{ condition }}
{% endif %}{% if summary %}- **详情 Details**: {{ summary }}
{% endif %}{% if cluster %}- **集群 Cluster**: {{ cluster }}
{% endif %}- **时间 Time**: {{ time }}
{% if duration %}- **运行时长 Duration**: {{ duration }}
{% endif %}{% if error %}- **错误 Error**:

{{ error | quote }}
{% endif %}{% if url %}
[查看作业 Open in Flink web UI]({{ url }})
{% endif %}";

/// A template that failed to compile or render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} template: {message}")]
#[non_exhaustive]
pub struct TemplateError {
    /// Which template (`title`, `text`, `markdown`, `body`).
    pub name: String,
    /// What is wrong, with the line and column when known.
    pub message: String,
    /// The line (from 1) of the template where it went wrong, when known.
    pub line: Option<usize>,
    /// The column (from 1, in characters) of that line, when known.
    pub column: Option<usize>,
}

impl TemplateError {
    /// An error of the template `name`.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

#[cfg(feature = "templates")]
impl TemplateError {
    /// The error of template `name` whose text is `source` (for the column).
    fn from_jinja(name: &str, source: &str, e: &minijinja::Error) -> Self {
        let mut message = e
            .detail()
            .map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
        let line = e.line();
        // The span's start, counted in characters from the start of its line.
        let column = e.range().and_then(|range| {
            let before = source.get(..range.start)?;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            Some(before[line_start..].chars().count() + 1)
        });
        match (line, column) {
            (Some(line), Some(column)) => {
                let _ = write!(message, " (line {line}, column {column})");
            }
            (Some(line), None) => {
                let _ = write!(message, " (line {line})");
            }
            _ => {}
        }
        Self {
            name: name.to_owned(),
            message,
            line,
            column,
        }
    }
}

#[cfg(feature = "templates")]
/// Template sources for the three parts of an alert; `None` keeps the built-in one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct TemplateSources {
    /// Title template.
    #[serde(default)]
    pub title: Option<String>,
    /// Plain-text body template.
    #[serde(default)]
    pub text: Option<String>,
    /// Markdown body template.
    #[serde(default)]
    pub markdown: Option<String>,
}

#[cfg(feature = "templates")]
impl TemplateSources {
    /// Sets the title template.
    #[must_use]
    pub fn with_title(mut self, source: impl Into<String>) -> Self {
        self.title = Some(source.into());
        self
    }

    /// Sets the plain-text body template.
    #[must_use]
    pub fn with_text(mut self, source: impl Into<String>) -> Self {
        self.text = Some(source.into());
        self
    }

    /// Sets the markdown body template.
    #[must_use]
    pub fn with_markdown(mut self, source: impl Into<String>) -> Self {
        self.markdown = Some(source.into());
        self
    }
}

#[cfg(feature = "templates")]
/// Renders job events into alerts with the built-in or user templates.
///
/// ```
/// use alert_core::{JobEvent, Renderer};
/// let ev: JobEvent = serde_json::from_value(serde_json::json!({
///     "job_id": "a1", "job_name": "orders", "cluster": "prod", "status": "FAILED",
///     "previous_status": "RUNNING", "occurred_at": "2026-11-25T08:00:00+08:00"
/// })).unwrap();
/// let alert = Renderer::default().render(&ev).unwrap();
/// assert!(alert.markdown.contains("RUNNING → FAILED"));
/// ```
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
}

#[cfg(feature = "templates")]
impl Default for Renderer {
    fn default() -> Self {
        Self::new(&TemplateSources::default()).expect("built-in templates compile")
    }
}

#[cfg(feature = "templates")]
impl Renderer {
    /// Compiles the given templates (built-ins where `None`); errors name the template and line.
    pub fn new(sources: &TemplateSources) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_filter("quote", quote_filter);
        let parts = [
            ("title", sources.title.as_deref().unwrap_or(DEFAULT_TITLE)),
            ("text", sources.text.as_deref().unwrap_or(DEFAULT_TEXT)),
            (
                "markdown",
                sources.markdown.as_deref().unwrap_or(DEFAULT_MARKDOWN),
            ),
        ];
        for (name, source) in parts {
            env.add_template_owned(name, source.to_owned())
                .map_err(|e| TemplateError::from_jinja(name, source, &e))?;
        }
        let renderer = Self { env };
        // Strict undefined only bites at render time: try a full sample event now, so a typo is
        // reported when the template is configured.
        renderer.render(&sample_event())?;
        Ok(renderer)
    }

    /// Renders the three parts for `event`.
    pub fn render(&self, event: &JobEvent) -> Result<Alert, TemplateError> {
        let ctx = TplValue::from_serialize(EventContext::new(event));
        let part = |name: &str| -> Result<String, TemplateError> {
            let tpl = self
                .env
                .get_template(name)
                .map_err(|e| TemplateError::from_jinja(name, "", &e))?;
            tpl.render(&ctx)
                .map_err(|e| TemplateError::from_jinja(name, tpl.source(), &e))
        };
        Ok(Alert {
            title: part("title")?.trim().to_owned(),
            text: part("text")?.trim_end().to_owned(),
            markdown: part("markdown")?.trim_end().to_owned(),
            severity: event.severity(),
            event: Some(event.clone()),
        })
    }
}

#[cfg(feature = "templates")]
/// Prefixes every line with `> ` (a markdown quote block).
fn quote_filter(value: &str) -> String {
    value
        .lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(feature = "templates")]
/// The variables a template sees: the event's fields plus ready-made strings.
#[derive(Debug, Serialize)]
struct EventContext<'a> {
    /// Flink's job id (the ids of a cluster-level event's jobs); see [`display_job_id`].
    job_id: &'a str,
    job_name: &'a str,
    cluster: &'a str,
    status: &'static str,
    status_zh: &'static str,
    previous_status: Option<&'static str>,
    /// `RUNNING → FAILED`, or just `FAILED` when the previous state is unknown.
    transition: String,
    /// A job-health event's condition (`CHECKPOINT_FAILED`, `CHECKPOINT_FAILED resolved`), else
    /// none.
    condition: Option<String>,
    /// A job-health event's facts in one sentence (its `summary` label), else none.
    summary: Option<&'a str>,
    severity: &'static str,
    icon: &'static str,
    /// `2026-11-25 08:00:00 +08:00`
    time: String,
    occurred_at: String,
    /// `1h 2m 3s`
    duration: Option<String>,
    duration_ms: Option<u64>,
    error: Option<&'a str>,
    url: Option<&'a str>,
    labels: &'a std::collections::BTreeMap<String, String>,
}

#[cfg(feature = "templates")]
impl<'a> EventContext<'a> {
    fn new(e: &'a JobEvent) -> Self {
        let transition = match e.previous_status {
            Some(prev) => format!("{prev} → {}", e.status),
            None => e.status.to_string(),
        };
        let severity = e.severity();
        let condition = e.labels.get("condition").map(|c| {
            match e.labels.get("condition_state").map(String::as_str) {
                Some("resolved") => format!("{c} resolved"),
                _ => c.clone(),
            }
        });
        Self {
            job_id: display_job_id(e),
            job_name: &e.job_name,
            cluster: &e.cluster,
            status: e.status.as_str(),
            status_zh: e.status.label_zh(),
            previous_status: e.previous_status.map(crate::JobStatus::as_str),
            transition,
            condition,
            summary: e.labels.get("summary").map(String::as_str),
            severity: severity.as_str(),
            icon: match severity {
                crate::Severity::Critical => "🔴",
                crate::Severity::Warning => "🟠",
                crate::Severity::Info => "🟢",
            },
            time: e.occurred_at.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
            occurred_at: e.occurred_at.to_rfc3339(),
            duration: e.duration_ms.map(format_duration),
            duration_ms: e.duration_ms,
            error: e.error.as_deref(),
            url: e.url.as_deref(),
            labels: &e.labels,
        }
    }
}

/// The job id a message shows: a cluster-level event's `job_ids` label (the jobs it lists),
/// else the event's id up to the first `#` (a watcher suffixes the ids it stores with
/// `#<condition>#<phase>` or `#<kind>#group-<id>`, for duplicate and repeat detection; Flink's
/// ids are hex).
#[cfg(feature = "templates")]
fn display_job_id(e: &JobEvent) -> &str {
    match e.labels.get("job_ids") {
        Some(ids) => ids,
        None => e.job_id.split('#').next().unwrap_or_default(),
    }
}

/// `3723000` ms → `1h 2m 3s`; days when over 24 h; `0s` for zero.
pub fn format_duration(ms: u64) -> String {
    let secs = ms / 1000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (v, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if v > 0 {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{v}{unit}");
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// An event with every optional field set, used to check user templates.
pub fn sample_event() -> JobEvent {
    JobEvent {
        job_id: "00000000000000000000000000000000".to_owned(),
        job_name: "sample-job".to_owned(),
        cluster: "sample-cluster".to_owned(),
        status: crate::JobStatus::Failed,
        previous_status: Some(crate::JobStatus::Running),
        occurred_at: chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00+08:00")
            .expect("valid"),
        duration_ms: Some(61_000),
        error: Some("java.lang.ArithmeticException: / by zero".to_owned()),
        url: Some(
            "http://localhost:8081/#/job/running/00000000000000000000000000000000/overview"
                .to_owned(),
        ),
        labels: std::collections::BTreeMap::from([("team".to_owned(), "data".to_owned())]),
    }
}

/// A value for a `{placeholder}`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum PlaceholderValue<'a> {
    /// Substituted JSON-escaped, without quotes (the template supplies them).
    Str(&'a str),
    /// Substituted as a bare number.
    Int(i64),
}

/// A Dinky-style JSON body template with `{name}` placeholders (WeCom app "send message
/// template"; see protocols.md, "The send-message template of Dinky").
///
/// Unlike Dinky, values are JSON-escaped, and the result is checked to be JSON.
///
/// ```
/// use alert_core::template::{PlaceholderTemplate, PlaceholderValue::*};
/// let t = PlaceholderTemplate::parse(
///     r#"{"touser":"{toUser}","agentid":{agentId},"msgtype":"{showType}","{showType}":{"content":"{msg}"}}"#,
///     &[("toUser", Str("a")), ("agentId", Int(1)), ("showType", Str("text")), ("msg", Str("x"))],
/// ).unwrap();
/// let body = t.render(&[("toUser", Str("@all")), ("agentId", Int(1000002)),
///     ("showType", Str("text")), ("msg", Str("say \"hi\"\n"))]).unwrap();
/// assert_eq!(body["text"]["content"], "say \"hi\"\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderTemplate {
    source: String,
}

impl PlaceholderTemplate {
    /// Checks the template by rendering it with `sample` values (which should contain quotes and
    /// newlines); the error says where the JSON breaks.
    pub fn parse(
        source: &str,
        sample: &[(&str, PlaceholderValue<'_>)],
    ) -> Result<Self, TemplateError> {
        let t = Self {
            source: source.trim().to_owned(),
        };
        t.render(sample)?;
        Ok(t)
    }

    /// Substitutes the values and parses the result as JSON.
    pub fn render(
        &self,
        values: &[(&str, PlaceholderValue<'_>)],
    ) -> Result<serde_json::Value, TemplateError> {
        let text = self.substitute(values);
        serde_json::from_str(&text).map_err(|e| TemplateError {
            name: "body".to_owned(),
            message: format!(
                "not valid JSON after substituting the placeholders: {e} (check quotes around string placeholders such as \"{{msg}}\"; {{agentId}} is a number)"
            ),
            // Positions in the substituted text, not in the template: not reported as the
            // template's own.
            line: None,
            column: None,
        })
    }

    fn substitute(&self, values: &[(&str, PlaceholderValue<'_>)]) -> String {
        let mut out = String::with_capacity(self.source.len() + 256);
        let mut rest = self.source.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let value = after.find('}').and_then(|close| {
                let name = &after[..close];
                values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (close, *v))
            });
            match value {
                Some((close, PlaceholderValue::Str(s))) => {
                    let quoted = serde_json::to_string(s).expect("strings serialize");
                    out.push_str(&quoted[1..quoted.len() - 1]);
                    rest = &after[close + 1..];
                }
                Some((close, PlaceholderValue::Int(i))) => {
                    let _ = write!(out, "{i}");
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::PlaceholderValue::{Int, Str};
    use super::*;

    #[cfg(feature = "templates")]
    fn event() -> JobEvent {
        sample_event()
    }

    #[cfg(feature = "templates")]
    #[test]
    fn default_templates_show_every_field() {
        let a = Renderer::default().render(&event()).unwrap();
        for needle in [
            "sample-job",
            "00000000000000000000000000000000",
            "RUNNING → FAILED",
            "sample-cluster",
            "2026-01-01 00:00:00 +08:00",
            "1m 1s",
            "/ by zero",
            "http://localhost:8081",
        ] {
            assert!(
                a.markdown.contains(needle),
                "markdown lacks {needle}:\n{}",
                a.markdown
            );
            assert!(a.text.contains(needle), "text lacks {needle}:\n{}", a.text);
        }
        assert_eq!(a.title, "[Flink] sample-job RUNNING → FAILED");
        assert_eq!(a.severity, crate::Severity::Critical);
    }

    #[cfg(feature = "templates")]
    #[test]
    fn default_messages_snapshot() {
        let a = Renderer::default().render(&event()).unwrap();
        insta::assert_snapshot!("default_title", a.title);
        insta::assert_snapshot!("default_text", a.text);
        insta::assert_snapshot!("default_markdown", a.markdown);
    }

    #[cfg(feature = "templates")]
    #[test]
    fn optional_fields_disappear_when_absent() {
        let mut e = event();
        e.previous_status = None;
        e.error = None;
        e.url = None;
        e.duration_ms = None;
        e.cluster.clear();
        let a = Renderer::default().render(&e).unwrap();
        assert!(
            !a.markdown.contains("Error")
                && !a.markdown.contains("Cluster")
                && !a.markdown.contains("Duration")
        );
        assert!(a.title.ends_with(" FAILED") && !a.title.contains('→'));
    }

    #[cfg(feature = "templates")]
    #[test]
    fn user_templates_are_strict_and_errors_name_the_template() {
        let ok = Renderer::new(&TemplateSources {
            title: Some("{{ job_name }}/{{ labels.team }}".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.render(&event()).unwrap().title, "sample-job/data");
        let typo = Renderer::new(&TemplateSources {
            text: Some("{{ job_nmae }}".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(typo.name, "text");
        assert!(typo.message.contains("undefined"), "{typo}");
        assert_eq!((typo.line, typo.column), (Some(1), Some(4)), "{typo}");
        let syntax = Renderer::new(&TemplateSources {
            markdown: Some("a\n{% if %}".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(syntax.name, "markdown");
        assert!(syntax.message.contains("line 2"), "{syntax}");
        assert_eq!(syntax.line, Some(2), "{syntax}");
        assert!(syntax.column.is_some(), "{syntax}");
        let nested = Renderer::new(&TemplateSources {
            title: Some("ok\n  {{ labels.tema }}".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            (nested.name.as_str(), nested.line),
            ("title", Some(2)),
            "{nested}"
        );
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(3_723_000), "1h 2m 3s");
        assert_eq!(format_duration(90_061_000), "1d 1h 1m 1s");
    }

    const DINKY: &str = r#"{"touser":"{toUser}","agentid":{agentId},"msgtype":"{showType}","{showType}":{"content":"{msg}"}}"#;

    #[test]
    fn placeholder_values_are_json_escaped() {
        let t = PlaceholderTemplate::parse(
            DINKY,
            &[
                ("toUser", Str("a")),
                ("agentId", Int(1)),
                ("showType", Str("text")),
                ("msg", Str("\"\\\n")),
            ],
        )
        .unwrap();
        let msg = "job \"orders\" failed\nC:\\tmp\t{x}";
        let v = t
            .render(&[
                ("toUser", Str("a|b")),
                ("agentId", Int(1_000_002)),
                ("showType", Str("markdown")),
                ("msg", Str(msg)),
            ])
            .unwrap();
        assert_eq!(v["markdown"]["content"], msg);
        assert_eq!(v["agentid"], 1_000_002);
        assert_eq!(v["touser"], "a|b");
    }

    #[test]
    fn dinky_docs_template_with_stray_quote_is_rejected_with_position() {
        let broken = r#"{"touser":"{toUser}","agentid":{agentId}","msgtype":"{showType}","{showType}":{"content":"{msg}"}}"#;
        let e = PlaceholderTemplate::parse(
            broken,
            &[
                ("toUser", Str("a")),
                ("agentId", Int(1)),
                ("showType", Str("text")),
                ("msg", Str("m")),
            ],
        )
        .unwrap_err();
        assert!(e.message.contains("line 1 column"), "{e}");
    }
}
