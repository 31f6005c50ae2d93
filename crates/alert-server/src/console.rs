//! The web console: a small single-page front end served at `/`.
//!
//! The built front end (`console/dist/`, committed, produced by `npm run build` in
//! `crates/alert-server/console/`) is embedded in the binary with `include_bytes!`: nothing is
//! read from disk or fetched at run time. Its file names carry no content hash, so the set of
//! files is fixed and listed in [`ASSETS`]; a unit test checks the list against `dist/`.
//!
//! - `GET /` and every other non-API path without a file extension: `index.html` (the console
//!   routes in the browser, so a reload of `/history` works).
//! - `GET /assets/...`: the scripts, styles and icons, with their content types.
//! - `GET /console/api/events/{id}/message`: the message the delivery engine renders for a job
//!   event (title, plain text, markdown), for the history's preview. It sits behind the API token
//!   like `/api/v1`.
//!
//! The console itself needs no token: it is static, and asks for the API token in the browser
//! when the API answers `401`. Every answer carries a strict Content-Security-Policy (scripts,
//! styles and connections from this origin only) and is revalidated with an `ETag`.

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::AppState;

/// The Content-Security-Policy of every console answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file of the built console.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path under `console/dist/`, e.g. `assets/app.js`.
    pub path: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/dist/", $path)),
        }
    };
}

/// Every file of `console/dist/` (kept in step with the build by a unit test).
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("assets/app.js", "text/javascript; charset=utf-8"),
    asset!("assets/app.css", "text/css; charset=utf-8"),
    asset!("assets/favicon.svg", "image/svg+xml"),
];

/// The embedded file at `path` (relative to `dist/`), if there is one.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The console's routes, to merge into the server's router. `state` gives the message preview
/// its store and the API token.
pub fn routes(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/console/api/events/{id}/message", get(event_message))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::api::auth::require_token,
        ));
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(static_file))
        .merge(protected)
        .fallback(fallback)
}

/// `GET /`: the console page.
async fn index(headers: HeaderMap) -> Response {
    serve(
        asset("index.html").expect("index.html is embedded"),
        &headers,
    )
}

/// `GET /assets/{*path}`.
async fn static_file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match asset(&format!("assets/{path}")) {
        Some(a) => serve(a, &headers),
        None => not_found(),
    }
}

/// Anything else: `index.html` for page paths (GET or HEAD, no file extension, not under
/// `/api/`), a 404 otherwise.
async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let last = path.rsplit('/').next().unwrap_or_default();
    let is_page = (method == Method::GET || method == Method::HEAD)
        && !path.starts_with("/api/")
        && path != "/api"
        && !path.starts_with("/console/api/")
        && !last.contains('.');
    if is_page {
        serve(
            asset("index.html").expect("index.html is embedded"),
            &headers,
        )
    } else if path.starts_with("/api") || path.starts_with("/console/api/") {
        crate::api::system::api_not_found().await.into_response()
    } else {
        not_found()
    }
}

fn not_found() -> Response {
    let mut response = (StatusCode::NOT_FOUND, "not found\n").into_response();
    security_headers(response.headers_mut());
    response
}

/// A weak validator for every asset, computed once (FNV-1a over the bytes).
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let hash = a.bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                format!("\"{hash:016x}-{}\"", a.bytes.len())
            })
            .collect()
    });
    let index = ASSETS
        .iter()
        .position(|a| a.path == asset.path)
        .unwrap_or_default();
    &tags[index]
}

fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let tag = etag(asset);
    let fresh = request
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
            asset.bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(ETAG, HeaderValue::from_static(tag));
    // File names carry no hash: always revalidate (a 304 costs one round trip, no body).
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(headers);
    response
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// `GET /console/api/events/{id}/message`: the event rendered as the delivery engine renders it
/// for every channel (`{"title","text","markdown","severity"}`): with the template of the group
/// its deliveries went to (the first one's), else the built-in one. The API stores no rendered
/// message for job-event deliveries (only for digests and Alertmanager messages, shown in the
/// history's `message`), so the console asks for this preview.
async fn event_message(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let (stored, deliveries) = state
        .store
        .get_event(id)
        .await?
        .ok_or_else(|| ApiError::not_found("event", id))?;
    let group = deliveries.iter().find_map(|d| d.group_id);
    let alert = state
        .templates
        .get(state.store.as_ref(), group)
        .await
        .render(&stored.event)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({
        "title": alert.title,
        "text": alert.text,
        "markdown": alert.markdown,
        "severity": alert.severity,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build's record of its inputs (see `console/build.mjs`): in `dist/`, not served.
    const INPUTS_RECORD: &str = "inputs.sha256";

    /// Every file the front-end build writes is embedded, and nothing else (but the record of
    /// the build's inputs, which is not served).
    #[test]
    fn assets_match_dist() {
        let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console/dist");
        let mut on_disk = Vec::new();
        let mut dirs = vec![dist.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("console/dist exists") {
                let path = entry.expect("readable").path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let rel = path.strip_prefix(&dist).expect("under dist");
                    on_disk.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.retain(|p| p != INPUTS_RECORD);
        on_disk.sort();
        assert!(
            asset(INPUTS_RECORD).is_none(),
            "the inputs record is not served"
        );
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "console/dist and console::ASSETS differ: list every built file in ASSETS"
        );
    }

    #[test]
    fn etags_differ_per_asset() {
        let tags: std::collections::HashSet<_> = ASSETS.iter().map(etag).collect();
        assert_eq!(tags.len(), ASSETS.len());
    }
}
