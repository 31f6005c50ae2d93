//! `/api/v1/groups`: named sets of instances.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::instances::check_name;
use super::templates::{check as check_template, TemplateBody};
use super::{rfc3339, AppState};
use crate::clock::now_ms;
use alert_store::{Group, GroupInput};

/// The body of create and update.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// Unique name.
    pub name: String,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Member instances.
    #[serde(default)]
    pub instance_ids: Vec<i64>,
    /// The group's own template for job events (each part optional; absent or `null`: the
    /// built-in one). Checked against a full sample event: `422` naming the part, line and
    /// column.
    #[serde(default)]
    pub template: Option<TemplateBody>,
}

fn yes() -> bool {
    true
}

/// A group as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Enabled.
    pub enabled: bool,
    /// Members, in order.
    pub instance_ids: Vec<i64>,
    /// The group's own template for job events; absent: the built-in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateBody>,
    /// From a provisioning file: read-only here (writes answer `409 provisioned`).
    pub provisioned: bool,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last updated (RFC 3339).
    pub updated_at: String,
}

impl GroupView {
    fn of(g: &Group) -> Self {
        Self {
            id: g.id,
            name: g.input.name.clone(),
            enabled: g.input.enabled,
            instance_ids: g.input.instance_ids.clone(),
            template: g.input.template.as_ref().map(TemplateBody::of),
            provisioned: g.provisioned,
            created_at: rfc3339(g.created_at),
            updated_at: rfc3339(g.updated_at),
        }
    }
}

fn validate(body: GroupBody) -> Result<GroupInput, ApiError> {
    let mut ids = Vec::with_capacity(body.instance_ids.len());
    for id in body.instance_ids {
        if ids.contains(&id) {
            return Err(ApiError::invalid(
                "instance_ids",
                format!("instance {id} is listed twice"),
            ));
        }
        ids.push(id);
    }
    Ok(GroupInput {
        name: check_name(&body.name)?,
        enabled: body.enabled,
        instance_ids: ids,
        template: check_template("template", body.template)?,
    })
}

/// `GET /api/v1/groups`
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", responses((status = 200, body = [GroupView])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<GroupView>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_groups()
            .await?
            .iter()
            .map(GroupView::of)
            .collect(),
    ))
}

/// `POST /api/v1/groups` → 201
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = GroupBody, responses(
    (status = 201, body = GroupView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<GroupBody>,
) -> Result<Response, ApiError> {
    let created = state.store.create_group(&validate(body)?, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(GroupView::of(&created))).into_response())
}

/// `GET /api/v1/groups/{id}`
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)), responses((status = 200, body = GroupView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<GroupView>, ApiError> {
    let group = state
        .store
        .get_group(id)
        .await?
        .ok_or_else(|| ApiError::not_found("group", id))?;
    Ok(Json(GroupView::of(&group)))
}

/// `PUT /api/v1/groups/{id}`
#[utoipa::path(put, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)), request_body = GroupBody, responses(
    (status = 200, body = GroupView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<GroupBody>,
) -> Result<Json<GroupView>, ApiError> {
    guard(&state, id).await?;
    let input = validate(body)?;
    let group = state
        .store
        .update_group(id, &input, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("group", id))?;
    state.templates.invalidate(id);
    Ok(Json(GroupView::of(&group)))
}

/// 404 for a missing group, 409 for a provisioned one.
async fn guard(state: &AppState, id: i64) -> Result<(), ApiError> {
    match state.store.get_group(id).await? {
        None => Err(ApiError::not_found("group", id)),
        Some(g) if g.provisioned => Err(ApiError::provisioned("group", id)),
        Some(_) => Ok(()),
    }
}

/// `DELETE /api/v1/groups/{id}` → 204 (its bindings go with it).
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    guard(&state, id).await?;
    if state.store.delete_group(id).await? {
        state.templates.invalidate(id);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("group", id))
    }
}
