//! Alert → request body: the versioned default document, or the user's JSON body template.

use alert_core::{Alert, ChannelError, ParamError};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

/// The `schema` of the default document. A change that breaks receivers gets a new version.
pub const SCHEMA: &str = "flink-alert/webhook/v1";

/// The default body (`schema` [`SCHEMA`]), and the variables a body template sees.
///
/// ```json
/// {
///   "schema": "flink-alert/webhook/v1",
///   "alert": {"title": "...", "text": "...", "markdown": "...", "severity": "critical"},
///   "event": {"job_id": "...", "job_name": "...", "cluster": "...", "status": "FAILED",
///             "previous_status": "RUNNING", "occurred_at": "2026-01-01T00:00:00+08:00",
///             "duration_ms": 61000, "error": "...", "url": "...", "labels": {"team": "data"}}
/// }
/// ```
///
/// `event` is `null` for ad-hoc and test messages; its fields are those of
/// [`alert_core::JobEvent`] (absent optional values are `null`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Document<'a> {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The rendered message.
    pub alert: AlertFields<'a>,
    /// The job event, when the alert came from one.
    pub event: Option<&'a alert_core::JobEvent>,
}

/// The rendered message in the document.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AlertFields<'a> {
    /// Short title.
    pub title: &'a str,
    /// Plain-text body.
    pub text: &'a str,
    /// Markdown body.
    pub markdown: &'a str,
    /// `info`, `warning` or `critical`.
    pub severity: alert_core::Severity,
}

impl<'a> Document<'a> {
    /// The document of `alert`.
    pub fn new(alert: &'a Alert) -> Self {
        Self {
            schema: SCHEMA,
            alert: AlertFields {
                title: &alert.title,
                text: &alert.text,
                markdown: &alert.markdown,
                severity: alert.severity,
            },
            event: alert.event.as_ref(),
        }
    }

    /// Serialized as the default body.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the document serializes")
    }
}

/// A JSON body template: minijinja in which every `{{ expression }}` is inserted as a JSON
/// value (strings quoted and escaped; `| tojson` is accepted and changes nothing), checked at
/// configuration time to render valid JSON for a sample alert full of quotes and newlines.
///
/// ```
/// use alert_webhook::request::BodyTemplate;
/// let t = BodyTemplate::parse(r#"{"msg_type": "text", "content": {"text": {{ alert.text }}}}"#).unwrap();
/// let body = t.render(&alert_core::Alert::plain("t", "say \"hi\"\n")).unwrap();
/// let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
/// assert_eq!(v["content"]["text"], "say \"hi\"\n");
/// ```
#[derive(Debug)]
pub struct BodyTemplate {
    source: String,
    env: Environment<'static>,
}

const NAME: &str = "body";

fn environment(source: &str, undefined: UndefinedBehavior) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Json);
    env.set_undefined_behavior(undefined);
    env.add_template_owned(NAME, source.to_owned())
        .map_err(|e| describe(&e))?;
    Ok(env)
}

fn describe(e: &minijinja::Error) -> String {
    let mut message = e
        .detail()
        .map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
    if let Some(line) = e.line() {
        message.push_str(&format!(" (line {line})"));
    }
    message
}

/// An alert whose every field is set and full of characters JSON must escape.
fn tricky_sample() -> Alert {
    let mut event = alert_core::template::sample_event();
    event.error = Some("java.lang.Exception: \"quoted\" \\ back\\slash\n\tat line 2".into());
    let mut alert = alert_core::Renderer::default()
        .render(&event)
        .expect("default templates render");
    alert.title.push_str(" \"quoted\"");
    alert
}

impl BodyTemplate {
    /// Compiles `source` and checks it: typos in variable names (strict undefined), and valid
    /// JSON for a sample alert. Errors are against `body_template`, with line and column.
    pub fn parse(source: &str) -> Result<Self, ParamError> {
        let err = |m: String| ParamError::new("body_template", m);
        let strict = environment(source, UndefinedBehavior::Strict).map_err(err)?;
        let sample = tricky_sample();
        let rendered = strict
            .get_template(NAME)
            .and_then(|t| t.render(Document::new(&sample)))
            .map_err(|e| err(describe(&e)))?;
        check_json(&rendered).map_err(err)?;
        // At send time an ad-hoc alert has no event: `event.job_name` then renders as null
        // instead of failing the send.
        let env = environment(source, UndefinedBehavior::Chainable).map_err(err)?;
        Ok(Self {
            source: source.to_owned(),
            env,
        })
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the body for `alert`; a failure (which the configuration check makes unlikely)
    /// is `Permanent`, as sending again would fail the same way.
    pub fn render(&self, alert: &Alert) -> Result<Vec<u8>, ChannelError> {
        let rendered = self
            .env
            .get_template(NAME)
            .and_then(|t| t.render(Document::new(alert)))
            .map_err(|e| ChannelError::permanent(format!("body_template: {}", describe(&e))))?;
        check_json(&rendered)
            .map_err(|m| ChannelError::permanent(format!("body_template: {m}")))?;
        Ok(rendered.trim().as_bytes().to_vec())
    }
}

fn check_json(rendered: &str) -> Result<(), String> {
    serde_json::from_str::<Value>(rendered).map(|_| ()).map_err(|e| {
        format!(
            "does not render valid JSON: {e}; every {{{{ expression }}}} is inserted as a JSON value with its quotes, so write {{{{ alert.title }}}}, not \"{{{{ alert.title }}}}\", and join strings inside the braces: {{{{ \"[\" ~ event.status ~ \"] \" ~ alert.title }}}}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_escaped_and_tojson_is_harmless() {
        let t = BodyTemplate::parse(
            r#"{"t": {{ alert.title }}, "e": {{ event.error | tojson }}, "s": {{ "[" ~ event.status ~ "] " ~ alert.title }}, "labels": {{ event.labels }}}"#,
        )
        .unwrap();
        let alert = tricky_sample();
        let v: Value = serde_json::from_slice(&t.render(&alert).unwrap()).unwrap();
        assert_eq!(v["t"], alert.title);
        assert_eq!(
            v["e"],
            alert.event.as_ref().unwrap().error.as_deref().unwrap()
        );
        assert!(v["s"].as_str().unwrap().starts_with("[FAILED] [Flink]"));
        assert_eq!(v["labels"]["team"], "data");
    }

    #[test]
    fn quoted_placeholders_typos_and_syntax_errors_are_caught_at_configuration() {
        let quoted = BodyTemplate::parse(r#"{"t": "{{ alert.title }}"}"#).unwrap_err();
        assert_eq!(quoted.field, "body_template");
        assert!(
            quoted.message.contains("not \"{{ alert.title }}\""),
            "{quoted}"
        );
        let typo = BodyTemplate::parse(r#"{"t": {{ alert.titel }}}"#).unwrap_err();
        assert!(typo.message.contains("undefined"), "{typo}");
        let syntax = BodyTemplate::parse("{\n\"t\": {{ alert.title }").unwrap_err();
        assert!(syntax.message.contains("line 2"), "{syntax}");
    }

    #[test]
    fn an_alert_without_event_renders_nulls() {
        let t = BodyTemplate::parse(r#"{"job": {{ event.job_name }}, "t": {{ alert.title }}}"#)
            .unwrap();
        let body = t.render(&Alert::plain("test", "x")).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, serde_json::json!({"job": null, "t": "test"}));
    }

    #[test]
    fn document_has_the_v1_shape() {
        let alert = Alert::plain("t", "x");
        let v: Value = serde_json::from_slice(&Document::new(&alert).to_body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"schema": "flink-alert/webhook/v1",
                "alert": {"title": "t", "text": "x", "markdown": "x", "severity": "info"},
                "event": null})
        );
    }
}
