//! Group message templates: the checks a group's `template` passes on save, and
//! `POST /api/v1/templates/preview`, what a template makes of an event and what an instance
//! would send.

use alert_core::channel::RequestPreview;
use alert_core::{Alert, TemplateError};
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::events::EventBody;
use super::AppState;
use crate::delivery::channels::ReadyInstance;
use crate::delivery::templates::compile;
use alert_store::GroupTemplate;

/// The longest template part, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;

/// A group's template for job events: minijinja, the variables of the default template
/// (`docs/TEMPLATES.md`); each part optional, the built-in one fills the rest.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Title template, e.g. `[{{ cluster }}] {{ job_name }} {{ status }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Plain-text body template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Markdown body template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
}

impl TemplateBody {
    /// The view of a stored template.
    pub fn of(t: &GroupTemplate) -> Self {
        Self {
            title: t.title.clone(),
            text: t.text.clone(),
            markdown: t.markdown.clone(),
        }
    }
}

/// Checks a template given as `field` (`template`): blank parts are dropped (the built-in one
/// is used), each part is at most [`MAX_TEMPLATE_BYTES`], and the whole must render a full
/// sample event (strict: an unknown variable is an error). `None` when nothing is replaced.
/// Errors are `422` naming `field.part`, with the line and column.
pub fn check(field: &str, body: Option<TemplateBody>) -> Result<Option<GroupTemplate>, ApiError> {
    let Some(body) = body else {
        return Ok(None);
    };
    let keep = |part: &str, source: Option<String>| -> Result<Option<String>, ApiError> {
        match source {
            Some(s) if s.len() > MAX_TEMPLATE_BYTES => Err(ApiError::invalid(
                format!("{field}.{part}"),
                format!("{} bytes, over the limit of {MAX_TEMPLATE_BYTES}", s.len()),
            )),
            Some(s) if s.trim().is_empty() => Ok(None),
            other => Ok(other),
        }
    };
    let template = GroupTemplate {
        title: keep("title", body.title)?,
        text: keep("text", body.text)?,
        markdown: keep("markdown", body.markdown)?,
    };
    if template.is_empty() {
        return Ok(None);
    }
    compile(&template).map_err(|e| template_error(field, &e))?;
    Ok(Some(template))
}

/// A template's error as a `422` naming `field.part`, its line and column.
pub fn template_error(field: &str, e: &TemplateError) -> ApiError {
    ApiError::invalid(
        format!("{field}.{}", e.name),
        format!("{} template: {}", e.name, e.message),
    )
    .at(e.line, e.column)
}

/// The body of `POST /api/v1/templates/preview`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// The template to try; absent: the built-in one.
    #[serde(default)]
    pub template: Option<TemplateBody>,
    /// The event to render (the body of `POST /api/v1/events`); absent: a sample event with
    /// every field set.
    #[serde(default)]
    pub event: Option<EventBody>,
    /// Also show the request this instance would send for the message.
    #[serde(default)]
    pub instance_id: Option<i64>,
}

/// The request an instance would send, secrets masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewRequest {
    /// The instance.
    pub instance_id: i64,
    /// Its name.
    pub instance: String,
    /// Its channel kind.
    pub kind: String,
    /// `POST`; absent when the channel does not show its request (`note` says so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The URL, secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The body exactly as sent (a JSON string for a body that is not JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub body: Option<Value>,
    /// Why there is no request to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The answer of a preview: the rendered message, and the request of the instance if one was
/// named.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewView {
    /// Rendered title.
    pub title: String,
    /// Rendered plain-text body.
    pub text: String,
    /// Rendered markdown body.
    pub markdown: String,
    /// `critical`, `warning` or `info` (from the event's status).
    pub severity: String,
    /// What the instance would send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<PreviewRequest>,
}

/// `POST /api/v1/templates/preview`: renders an event (or the sample) with a template (or the
/// built-in one) and, with `instance_id`, shows the request that instance would send. Sends
/// nothing. A template that does not check answers `422` like a group's save would.
#[utoipa::path(post, path = "/api/v1/templates/preview", tag = "templates", request_body = PreviewBody, responses(
    (status = 200, body = PreviewView), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PreviewBody>,
) -> Result<Json<PreviewView>, ApiError> {
    // Checked as on save (which compiles it once more, against the sample event).
    let template = check("template", body.template)?;
    let renderer = match &template {
        Some(t) => std::sync::Arc::new(compile(t).map_err(|e| template_error("template", &e))?),
        None => crate::delivery::templates::builtin(),
    };
    let event = match body.event {
        Some(event) => {
            super::events::to_event(event)
                .map_err(|e| match e.field.clone() {
                    Some(f) => e.with_field(format!("event.{f}")),
                    None => e,
                })?
                .0
        }
        None => alert_core::template::sample_event(),
    };
    let alert = renderer
        .render(&event)
        .map_err(|e| template_error("template", &e))?;
    let request = match body.instance_id {
        Some(id) => Some(request_of(&state, id, &alert).await?),
        None => None,
    };
    Ok(Json(PreviewView {
        title: alert.title,
        text: alert.text,
        markdown: alert.markdown,
        severity: alert.severity.as_str().to_owned(),
        request,
    }))
}

/// What instance `id` would send for `alert`, its secrets masked.
async fn request_of(state: &AppState, id: i64, alert: &Alert) -> Result<PreviewRequest, ApiError> {
    let instance =
        state.store.get_instance(id).await?.ok_or_else(|| {
            ApiError::invalid("instance_id", format!("instance {id} does not exist"))
        })?;
    let ready = ReadyInstance::build(&instance);
    let channel = ready
        .channel
        .map_err(|e| ApiError::invalid("instance_id", e))?;
    let mut out = PreviewRequest {
        instance_id: id,
        instance: instance.input.name.clone(),
        kind: instance.input.kind.clone(),
        method: None,
        url: None,
        body: None,
        note: None,
    };
    match channel.preview(alert) {
        Some(request) => {
            let RequestPreview {
                method, url, body, ..
            } = mask(request, &secret_values(&instance));
            out.method = Some(method);
            out.url = Some(url);
            out.body = Some(body);
        }
        None => {
            out.note = Some(format!(
                "the {} channel does not show its request; the message above is what it sends",
                instance.input.kind
            ));
        }
    }
    Ok(out)
}

/// The values of the instance's secret parameters (the ones its masked view hides).
fn secret_values(instance: &alert_store::Instance) -> Vec<String> {
    let masked = crate::api::instances::InstanceView::of(instance).params;
    let Value::Object(params) = &instance.input.params else {
        return Vec::new();
    };
    params
        .iter()
        .filter(|(k, v)| masked.get(k.as_str()) != Some(v))
        .filter_map(|(_, v)| v.as_str())
        // Short values would mask ordinary words.
        .filter(|v| v.len() >= 6)
        .map(str::to_owned)
        .collect()
}

/// A channel masks its own secrets; this masks again any secret parameter's value that shows
/// up in clear anywhere in the request.
fn mask(mut request: RequestPreview, secrets: &[String]) -> RequestPreview {
    fn scrub(text: &str, secrets: &[String]) -> String {
        secrets.iter().fold(text.to_owned(), |t, s| {
            t.replace(s.as_str(), alert_core::secret::MASK)
        })
    }
    fn walk(v: &mut Value, secrets: &[String]) {
        match v {
            Value::String(s) => *s = scrub(s, secrets),
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, secrets)),
            Value::Object(map) => map.values_mut().for_each(|i| walk(i, secrets)),
            _ => {}
        }
    }
    request.url = scrub(&request.url, secrets);
    walk(&mut request.body, secrets);
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_part_line_and_column() {
        let e = check(
            "template",
            Some(TemplateBody {
                text: Some("ok\n{{ job_nmae }}".into()),
                ..TemplateBody::default()
            }),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("template.text"));
        assert_eq!(e.position, (Some(2), Some(4)), "{}", e.message);
        let blank = check(
            "template",
            Some(TemplateBody {
                title: Some("  ".into()),
                ..TemplateBody::default()
            }),
        )
        .unwrap();
        assert_eq!(blank, None);
    }

    #[test]
    fn secrets_in_clear_are_masked() {
        let request = RequestPreview::new(
            "POST",
            "https://example.com/hook/abcdef123",
            serde_json::json!({"a": ["x abcdef123 y"]}),
        );
        let masked = mask(request, &["abcdef123".to_owned()]);
        assert_eq!(masked.url, "https://example.com/hook/******");
        assert_eq!(masked.body["a"][0], "x ****** y");
    }
}
