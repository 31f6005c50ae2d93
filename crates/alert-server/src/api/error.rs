//! API errors: `{"error":{"code":"...","message":"...","field":"..."}}` with the right status.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use alert_store::StoreError;

/// The JSON shape of every error answer (for the OpenAPI document).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// `{"code","message","field"}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code: `invalid`, `invalid_body`, `malformed_json`, `not_found`, `name_taken`,
    /// `in_use`, `provisioned`, `unauthorized`, `unsupported_media_type`, `payload_too_large`,
    /// `database_unavailable` (503, with `Retry-After`), `storage_full` (507), `internal`.
    pub code: String,
    /// What is wrong and what to do.
    pub message: String,
    /// The request field to blame, e.g. `params.webhook`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a template's error: the line (from 1) of that field's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// For a template's error: the column (from 1, in characters) of that line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code (`invalid`, `not_found`, `name_taken`, ...).
    pub code: &'static str,
    /// What is wrong and what to do.
    pub message: String,
    /// The request field to blame (`name`, `params.webhook`), when there is one.
    pub field: Option<String>,
    /// Seconds for the `Retry-After` header, when the client should come back later.
    pub retry_after: Option<u64>,
    /// Where in the field's text (a template) it went wrong: line and column, from 1.
    pub position: (Option<usize>, Option<usize>),
}

/// The `Retry-After` of a `503 database_unavailable`, in seconds.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    /// Any error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            position: (None, None),
        }
    }

    /// Blames `field`.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Points at a line and column of the field's text (a template's error).
    #[must_use]
    pub fn at(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        self.position = (line, column);
        self
    }

    /// The same error for item `index` of an array body: its field becomes `[index].field`.
    pub fn within(mut self, index: usize) -> Self {
        self.field = Some(match self.field {
            Some(field) => format!("[{index}].{field}"),
            None => format!("[{index}]"),
        });
        self
    }

    /// 422: a well-formed request whose values are not acceptable.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
    }

    /// 400: the body is not the JSON this endpoint takes.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(what: &str, id: i64) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} {id} does not exist"),
        )
    }

    /// 409: the object comes from a provisioning file; change the file instead.
    pub fn provisioned(what: &str, id: i64) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "provisioned",
            format!(
                "{what} {id} is provisioned from a file: change the provisioning file and apply it                  (or send the server SIGHUP) instead"
            ),
        )
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API token: send `Authorization: Bearer <token>`",
        )
    }

    /// 413: the request body is over `http.max_body_bytes` (`limit`).
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "request body over the limit of {limit} bytes (setting `http.max_body_bytes`); send less per request"
            ),
        )
    }

    /// 503 `database_unavailable` with `Retry-After`: the database cannot be reached now;
    /// nothing was stored. Logged at most once per [`OUTAGE_LOG_EVERY_MS`] (with the count of
    /// the ones left out), not per request.
    pub fn database_unavailable(error: &dyn std::fmt::Display) -> Self {
        log_outage(error);
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            format!(
                "the database is unavailable (the connection failed or timed out); nothing was \
                 stored: send the request again after {DATABASE_RETRY_AFTER_SECS} s (Retry-After). \
                 Operators: check the database and GET /healthz"
            ),
        );
        e.retry_after = Some(DATABASE_RETRY_AFTER_SECS);
        e
    }

    /// 507 `storage_full`: the database has no room left; nothing was stored. Logged like
    /// [`database_unavailable`](Self::database_unavailable).
    pub fn storage_full(error: &dyn std::fmt::Display) -> Self {
        log_outage(error);
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "the database has no room left; nothing was stored: free disk space (or raise the \
             database's size limit), then send the request again",
        )
    }

    /// 500, logged; the answer says only that something failed inside.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NameTaken { .. } => {
                Self::new(StatusCode::CONFLICT, "name_taken", e.to_string()).with_field("name")
            }
            StoreError::BadReference { field, message } => Self::invalid(field, message),
            StoreError::InUse(message) => Self::new(StatusCode::CONFLICT, "in_use", message),
            StoreError::Database(_) => Self::internal(&e),
            StoreError::Unavailable(_) => Self::database_unavailable(&e),
            StoreError::Full(_) => Self::storage_full(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = field.into();
        }
        if let Some(line) = self.position.0 {
            error["line"] = line.into();
        }
        if let Some(column) = self.position.1 {
            error["column"] = column.into();
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// How often, at most, a database outage seen by requests is logged.
pub const OUTAGE_LOG_EVERY_MS: i64 = 10_000;

/// Logs a database outage a request ran into, at most once per [`OUTAGE_LOG_EVERY_MS`]: during
/// an outage every request fails alike, and one line says it.
fn log_outage(error: &dyn std::fmt::Display) {
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    static LEFT_OUT: AtomicU64 = AtomicU64::new(0);
    let now = crate::clock::now_ms();
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= OUTAGE_LOG_EVERY_MS
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let left_out = LEFT_OUT.swap(0, Ordering::Relaxed);
        tracing::warn!(error = %error, similar_left_out = left_out, "request failed: the database is unavailable or full");
    } else {
        LEFT_OUT.fetch_add(1, Ordering::Relaxed);
    }
}
