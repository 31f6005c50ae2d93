//! `/api/v1/instances`: alert instances (one configured channel each).

use alert_core::secret::MASK;
use alert_core::{Alert, ChannelDescriptor, RegistryError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::{rfc3339, AppState};
use crate::clock::now_ms;
use crate::delivery::channels::ReadyInstance;
use crate::rules::MAX_NAME_LEN;
use alert_store::{Instance, InstanceInput};

/// The body of create and update.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceBody {
    /// Unique name.
    pub name: String,
    /// Plugin kind (see `/api/v1/plugins`).
    pub kind: String,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Plugin parameters; on update, a secret sent as `******` keeps the stored value.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Value,
    /// Messages per minute; absent = the plugin's default, 0 = unlimited.
    #[serde(default)]
    pub rate_per_minute: Option<u32>,
}

fn yes() -> bool {
    true
}

/// An instance as the API shows it: secrets masked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstanceView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Enabled.
    pub enabled: bool,
    /// Parameters, secret values shown as `******`.
    #[schema(value_type = Object)]
    pub params: Value,
    /// Messages per minute, 0 = unlimited.
    pub rate_per_minute: u32,
    /// From a provisioning file: read-only here (writes answer `409 provisioned`).
    pub provisioned: bool,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last updated (RFC 3339).
    pub updated_at: String,
}

impl InstanceView {
    /// The view of a stored instance.
    pub fn of(i: &Instance) -> Self {
        let params = match crate::registry().get(&i.input.kind) {
            Ok(d) => d.mask_secrets(&i.input.params),
            // A kind no longer linked: show no values at all rather than risk a secret.
            Err(_) => Value::Object(Default::default()),
        };
        Self {
            id: i.id,
            name: i.input.name.clone(),
            kind: i.input.kind.clone(),
            enabled: i.input.enabled,
            params,
            rate_per_minute: i.input.rate_per_minute.unwrap_or(0),
            provisioned: i.provisioned,
            created_at: rfc3339(i.created_at),
            updated_at: rfc3339(i.updated_at),
        }
    }
}

/// Checks a unique name.
pub fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::invalid(
            "name",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn registry_error(e: &RegistryError) -> ApiError {
    ApiError::invalid(e.field().unwrap_or_else(|| "params".into()), e.to_string())
}

/// Validates a body into what the store keeps; `previous` supplies secrets sent as `******`.
pub(crate) fn validate(
    body: InstanceBody,
    previous: Option<&Instance>,
) -> Result<InstanceInput, ApiError> {
    let name = check_name(&body.name)?;
    let descriptor: &ChannelDescriptor = crate::registry()
        .get(&body.kind)
        .map_err(|e| registry_error(&e))?;
    let mut params = match body.params {
        Value::Null => Value::Object(Default::default()),
        Value::Object(map) => Value::Object(map),
        _ => return Err(ApiError::invalid("params", "must be a JSON object")),
    };
    for spec in descriptor.params.iter().filter(|p| p.secret) {
        if params.get(spec.name).and_then(Value::as_str) == Some(MASK) {
            let stored = previous
                .filter(|p| p.input.kind == body.kind)
                .and_then(|p| p.input.params.get(spec.name))
                .cloned();
            match stored {
                Some(v) => params[spec.name] = v,
                None => {
                    return Err(ApiError::invalid(
                        format!("params.{}", spec.name),
                        "no stored value to keep: send the secret itself, not ******",
                    ))
                }
            }
        }
    }
    let valid = descriptor
        .validate(&params)
        .map_err(|e| registry_error(&e.into()))?;
    // Build once to run the plugin's own checks (per-type requirements, templates, URLs).
    (descriptor.build)(&valid).map_err(|e| registry_error(&e.into()))?;
    let rate_per_minute = match body.rate_per_minute {
        Some(0) => None,
        Some(n) => Some(n),
        None => (descriptor.default_rate_per_minute)(&valid),
    };
    Ok(InstanceInput {
        name,
        kind: body.kind,
        enabled: body.enabled,
        params: Value::Object(valid.into_inner()),
        rate_per_minute,
    })
}

/// `GET /api/v1/instances`
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", responses((status = 200, body = [InstanceView])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<InstanceView>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_instances()
            .await?
            .iter()
            .map(InstanceView::of)
            .collect(),
    ))
}

/// `POST /api/v1/instances` → 201
#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", request_body = InstanceBody, responses(
    (status = 201, body = InstanceView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<InstanceBody>,
) -> Result<Response, ApiError> {
    let input = validate(body, None)?;
    let created = state.store.create_instance(&input, now_ms()).await?;
    tracing::info!(instance = created.id, name = %created.input.name, kind = %created.input.kind, "instance created");
    Ok((StatusCode::CREATED, Json(InstanceView::of(&created))).into_response())
}

async fn load(state: &AppState, id: i64) -> Result<Instance, ApiError> {
    state
        .store
        .get_instance(id)
        .await?
        .ok_or_else(|| ApiError::not_found("instance", id))
}

/// `GET /api/v1/instances/{id}`
#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances", params(("id" = i64, Path)), responses((status = 200, body = InstanceView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(InstanceView::of(&load(&state, id).await?)))
}

/// `PUT /api/v1/instances/{id}`
#[utoipa::path(put, path = "/api/v1/instances/{id}", tag = "instances", params(("id" = i64, Path)), request_body = InstanceBody, responses(
    (status = 200, body = InstanceView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<InstanceBody>,
) -> Result<Json<InstanceView>, ApiError> {
    let previous = load(&state, id).await?;
    if previous.provisioned {
        return Err(ApiError::provisioned("instance", id));
    }
    let input = validate(body, Some(&previous))?;
    let updated = state
        .store
        .update_instance(id, &input, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("instance", id))?;
    state.channels.invalidate(id);
    Ok(Json(InstanceView::of(&updated)))
}

/// `DELETE /api/v1/instances/{id}` → 204; 409 while a group holds it.
#[utoipa::path(delete, path = "/api/v1/instances/{id}", tag = "instances", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if load(&state, id).await?.provisioned {
        return Err(ApiError::provisioned("instance", id));
    }
    if !state.store.delete_instance(id).await? {
        return Err(ApiError::not_found("instance", id));
    }
    state.channels.invalidate(id);
    Ok(StatusCode::NO_CONTENT)
}

/// The answer of a test send.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    /// Whether the channel accepted the message.
    pub ok: bool,
    /// Warnings of a successful send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
    /// The channel's error (`kind`, `code`, `message`) when it refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<alert_core::ChannelError>,
}

/// The message a test send carries.
pub fn test_alert(instance_name: &str) -> Alert {
    let mut alert = alert_core::Renderer::default()
        .render(&alert_core::template::sample_event())
        .expect("built-in templates render");
    let note = format!("【测试 / TEST】flink-alert test message for instance `{instance_name}`; the job below is a sample.");
    alert.title = format!("[TEST] {}", alert.title);
    alert.text = format!("{note}\n{}", alert.text);
    alert.markdown = format!("{note}\n\n{}", alert.markdown);
    alert
}

/// `POST /api/v1/instances/{id}/test`: sends a test message now; 200 `{"ok":true}` or 502 with
/// the channel's own error.
#[utoipa::path(post, path = "/api/v1/instances/{id}/test", tag = "instances", params(("id" = i64, Path)), responses(
    (status = 200, body = TestResult), (status = 502, body = TestResult), (status = 404, body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let instance = load(&state, id).await?;
    let ready = ReadyInstance::build(&instance);
    let channel = ready.channel.map_err(|e| ApiError::invalid("params", e))?;
    let alert = test_alert(&instance.input.name);
    let limit = std::time::Duration::from_secs(state.delivery.send_timeout_secs);
    let result = match tokio::time::timeout(limit, channel.send(&alert)).await {
        Ok(r) => r,
        Err(_) => Err(alert_core::ChannelError::retry(format!(
            "no answer within {} s",
            limit.as_secs()
        ))),
    };
    Ok(match result {
        Ok(d) => (
            StatusCode::OK,
            Json(TestResult {
                ok: true,
                warnings: Some(d.warnings),
                error: None,
            }),
        )
            .into_response(),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(TestResult {
                ok: false,
                warnings: None,
                error: Some(e),
            }),
        )
            .into_response(),
    })
}
