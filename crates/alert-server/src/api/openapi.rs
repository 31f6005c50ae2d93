//! The OpenAPI document of the REST API, generated from the handlers and types (utoipa).
//! Served at `/api/v1/openapi.json`, committed as `docs/openapi.json` (a test fails when stale).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    alertmanager, bindings, clusters, error, events, groups, history, instances, silences, stats,
    system, templates,
};

/// The path of the committed copy, relative to the workspace root.
pub const OPENAPI_JSON: &str = "docs/openapi.json";

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "flink-alert",
        description = "Alert instances, groups, bindings, job events, silences, Prometheus Alertmanager notifications and delivery history. Errors are `{\"error\":{\"code\",\"message\",\"field\"}}`. With a token configured, `/api/v1` needs `Authorization: Bearer <token>`."
    ),
    paths(
        system::healthz, system::metrics, system::plugins,
        instances::list, instances::create, instances::get, instances::update, instances::delete, instances::test,
        groups::list, groups::create, groups::get, groups::update, groups::delete,
        templates::preview,
        bindings::list, bindings::create, bindings::get, bindings::delete,
        clusters::list, clusters::create, clusters::get, clusters::update, clusters::delete, clusters::jobs,
        events::create, events::get,
        history::list, stats::get,
        silences::list, silences::create, silences::get, silences::expire,
        alertmanager::ingest, alertmanager::list,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    // The crate version would make the committed file stale on every release bump.
    doc.info.version = "v1".to_owned();
    let mut out = doc
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    out.push('\n');
    out
}

/// `GET /api/v1/openapi.json`
pub async fn serve() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
}
