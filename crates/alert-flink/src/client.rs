//! [`FlinkClient`]: the few JobManager REST calls the watcher needs, with classified errors.
//!
//! States come from `GET /jobs/overview` only: it is not cached, while `/jobs/{id}` is served
//! from a cache refreshed every `web.refresh-interval` (3 s) and lags behind.

use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;

use crate::facts::CheckpointFacts;
use crate::model::{
    CheckpointingStatistics, ClusterOverview, DashboardConfig, ErrorBody, JobExceptions,
    JobOverview, JobsOverview, TaskManagers,
};

/// Default timeout of one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest piece of an unexpected answer quoted in an error (bytes).
const EXCERPT_BYTES: usize = 200;

/// Why a request to the Flink REST API failed.
///
/// [`is_unreachable`](Self::is_unreachable) tells the failures that mean "the cluster does not
/// answer" (connection refused, timeout, HTTP 5xx) from those that mean "it answers, but not
/// as expected" (404, another 4xx, a body that is not Flink's JSON: usually a wrong URL).
/// Messages never contain credentials of the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not an `http(s)://` URL.
    #[error("invalid Flink REST URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given (credentials masked).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection (refused, DNS, TLS, reset).
    #[error("GET {path}: cannot connect to the JobManager ({message})")]
    Connect {
        /// The request path, e.g. `/jobs/overview`.
        path: String,
        /// The transport's explanation.
        message: String,
    },
    /// No answer within the request timeout.
    #[error("GET {path}: no answer within {timeout_ms} ms")]
    Timeout {
        /// The request path.
        path: String,
        /// The timeout that expired.
        timeout_ms: u64,
    },
    /// A 5xx answer: the JobManager is up but cannot serve (starting, leader election, ...).
    #[error("GET {path}: HTTP {status} from the JobManager: {message}")]
    Server {
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// First line of Flink's error, or an excerpt of the body.
        message: String,
    },
    /// HTTP 404: an unknown job (forgotten after `jobstore.expiration-time` or a JobManager
    /// restart without HA), or a URL that is not the REST endpoint.
    #[error("GET {path}: not found (HTTP 404): {message}")]
    NotFound {
        /// The request path.
        path: String,
        /// First line of Flink's error, or an excerpt of the body.
        message: String,
    },
    /// Another non-success status (401/403 from a gateway, 400, ...).
    #[error("GET {path}: HTTP {status}: {message}")]
    Status {
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// First line of Flink's error, or an excerpt of the body.
        message: String,
    },
    /// A 2xx answer that is not the expected JSON.
    #[error("GET {path}: the answer is not Flink's JSON ({message}); is the URL the JobManager's REST address?")]
    Decode {
        /// The request path.
        path: String,
        /// The parse error and an excerpt.
        message: String,
    },
    /// Any other transport failure (body cut, protocol error).
    #[error("GET {path}: request failed ({message})")]
    Transport {
        /// The request path.
        path: String,
        /// The transport's explanation.
        message: String,
    },
}

impl ClientError {
    /// Whether the cluster does not answer: connection refused or reset, timeout, HTTP 5xx.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::Timeout { .. }
                | Self::Server { .. }
                | Self::Transport { .. }
        )
    }

    /// Whether the answer was a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// A short word for logs and metrics: `connect`, `timeout`, `http_5xx`, `not_found`,
    /// `http_status`, `decode`, `transport`, `invalid_url`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidUrl { .. } => "invalid_url",
            Self::Connect { .. } => "connect",
            Self::Timeout { .. } => "timeout",
            Self::Server { .. } => "http_5xx",
            Self::NotFound { .. } => "not_found",
            Self::Status { .. } => "http_status",
            Self::Decode { .. } => "decode",
            Self::Transport { .. } => "transport",
        }
    }
}

/// A client of one JobManager's REST API.
///
/// ```
/// use alert_flink::FlinkClient;
/// let client = FlinkClient::new("http://127.0.0.1:8081", std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!(
///     client.job_url("917d8e662def483b5220539b37903342", false),
///     "http://127.0.0.1:8081/#/job/running/917d8e662def483b5220539b37903342/overview"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct FlinkClient {
    http: reqwest::Client,
    /// The REST base, ending with `/` so that relative paths join below it.
    base: Url,
    timeout: Duration,
}

impl FlinkClient {
    /// A client with its own connection pool and the given request timeout. The environment's
    /// proxy settings are ignored (as for channels): the JobManager is reached directly.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, ClientError> {
        let http = Self::http_pool(timeout.min(Duration::from_secs(5))).map_err(|e| {
            ClientError::InvalidUrl {
                url: alert_core::text::redact_url(base_url),
                reason: format!("HTTP client could not be built: {e}"),
            }
        })?;
        Self::with_http(base_url, http, timeout)
    }

    /// An HTTP client to share between the clients of many clusters (see
    /// [`with_http`](Self::with_http)): no proxy, the given connect timeout, the request
    /// timeout left to each [`FlinkClient`].
    pub fn http_pool(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .no_proxy()
            .user_agent(concat!("flink-alert/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// A client on a shared `reqwest::Client` (one pool for many clusters). `timeout` is
    /// applied to every request.
    pub fn with_http(
        base_url: &str,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            http,
            base: parse_base(base_url)?,
            timeout,
        })
    }

    /// The REST base URL (ends with `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /jobs/overview`: every job with its state and task counters.
    pub async fn jobs_overview(&self) -> Result<Vec<JobOverview>, ClientError> {
        Ok(self
            .get_json::<JobsOverview>(&["jobs", "overview"])
            .await?
            .jobs)
    }

    /// `GET /jobs/{id}/exceptions`.
    pub async fn job_exceptions(&self, job_id: &str) -> Result<JobExceptions, ClientError> {
        self.get_json(&["jobs", job_id, "exceptions"]).await
    }

    /// `GET /jobs/{id}/checkpoints`. Read it as soon as a job shows `FINISHED`: the
    /// statistics disappear with the job from the JobManager's memory.
    pub async fn job_checkpoints(
        &self,
        job_id: &str,
    ) -> Result<CheckpointingStatistics, ClientError> {
        self.get_json(&["jobs", job_id, "checkpoints"]).await
    }

    /// `GET /jobs/{id}/checkpoints`, read straight into the [`CheckpointFacts`] the detector
    /// needs ([`CheckpointFacts::from_json`]: no `summary`, borrowed strings): what the watcher
    /// uses, for it reads them for many jobs every poll when bindings want the checkpoint
    /// conditions.
    pub async fn job_checkpoint_facts(&self, job_id: &str) -> Result<CheckpointFacts, ClientError> {
        let (path, body) = self.get(&["jobs", job_id, "checkpoints"]).await?;
        let body = body.as_ref();
        CheckpointFacts::from_json(body).map_err(|e| ClientError::Decode {
            path,
            message: format!("{e}; got: {}", excerpt(body)),
        })
    }

    /// `GET /overview`: TaskManagers, slots and the Flink version.
    pub async fn cluster_overview(&self) -> Result<ClusterOverview, ClientError> {
        self.get_json(&["overview"]).await
    }

    /// `GET /taskmanagers`: the registered TaskManagers (read once per poll when a binding
    /// wants `TASKMANAGER_LOST`).
    pub async fn taskmanagers(&self) -> Result<TaskManagers, ClientError> {
        self.get_json(&["taskmanagers"]).await
    }

    /// `GET /config`: the dashboard configuration (Flink version, cache period).
    pub async fn dashboard_config(&self) -> Result<DashboardConfig, ClientError> {
        self.get_json(&["config"]).await
    }

    /// The job's page in the Flink web UI (see [`web_ui_job_url`]).
    pub fn job_url(&self, job_id: &str, ended: bool) -> String {
        web_ui_job_url(&self.base, job_id, ended)
    }

    async fn get_json<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        let (path, body) = self.get(segments).await?;
        let body = body.as_ref();
        serde_json::from_slice(body).map_err(|e| ClientError::Decode {
            path,
            message: format!("{e}; got: {}", excerpt(body)),
        })
    }

    /// The body of a successful `GET` below the base, with the request path for errors.
    async fn get(&self, segments: &[&str]) -> Result<(String, impl AsRef<[u8]>), ClientError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| ClientError::InvalidUrl {
                    url: alert_core::text::redact_url(self.base.as_str()),
                    reason: "cannot be a base".into(),
                })?;
            path.pop_if_empty();
            // Each segment is percent-encoded: a job id cannot reach another path.
            path.extend(segments);
        }
        let path = format!("/{}", segments.join("/"));
        let response = self
            .http
            .get(url)
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(&path, &e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&path, &e))?;
        if !status.is_success() {
            let message = error_message(&body);
            let status = status.as_u16();
            return Err(match status {
                404 => ClientError::NotFound { path, message },
                500..=599 => ClientError::Server {
                    path,
                    status,
                    message,
                },
                _ => ClientError::Status {
                    path,
                    status,
                    message,
                },
            });
        }
        Ok((path, body))
    }

    fn transport_error(&self, path: &str, e: &reqwest::Error) -> ClientError {
        let path = path.to_owned();
        if e.is_timeout() {
            ClientError::Timeout {
                path,
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            }
        } else if e.is_connect() {
            ClientError::Connect {
                path,
                message: describe(e),
            }
        } else {
            ClientError::Transport {
                path,
                message: describe(e),
            }
        }
    }
}

/// The job's page in the Flink web UI: `{base}/#/job/running/{id}/overview` while the job
/// runs, `{base}/#/job/completed/{id}/overview` once it ended. Credentials of `base` are left
/// out (the link goes into messages).
pub fn web_ui_job_url(base: &Url, job_id: &str, ended: bool) -> String {
    let which = if ended { "completed" } else { "running" };
    format!("{}/#/job/{which}/{job_id}/overview", web_ui_base(base))
}

/// The web UI's address: the REST base without credentials, query or trailing `/`.
pub fn web_ui_base(base: &Url) -> String {
    let mut url = base.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.as_str().trim_end_matches('/').to_owned()
}

fn parse_base(raw: &str) -> Result<Url, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: alert_core::text::redact_url(raw),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(raw.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Flink's `{"errors": [...]}` first line, or an excerpt of whatever came.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.first_line().map(str::to_owned))
        .map_or_else(|| excerpt(body), |m| excerpt(m.as_bytes()))
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    alert_core::text::truncate_bytes(text, EXCERPT_BYTES, "…").into_owned()
}

/// The error and its causes, without URLs (they may carry credentials).
fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    alert_core::text::redact_urls_in(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalized() {
        let c = FlinkClient::new("http://h:8081", DEFAULT_REQUEST_TIMEOUT).unwrap();
        assert_eq!(c.base_url().as_str(), "http://h:8081/");
        let c = FlinkClient::new("https://gw/flink/prod?x=1#y", DEFAULT_REQUEST_TIMEOUT).unwrap();
        assert_eq!(c.base_url().as_str(), "https://gw/flink/prod/");
        assert_eq!(
            c.job_url("ab", true),
            "https://gw/flink/prod/#/job/completed/ab/overview"
        );
    }

    #[test]
    fn links_never_carry_credentials() {
        let c = FlinkClient::new("http://u:pw@h:8081/", DEFAULT_REQUEST_TIMEOUT).unwrap();
        assert_eq!(
            c.job_url("ab", false),
            "http://h:8081/#/job/running/ab/overview"
        );
    }

    #[test]
    fn bad_urls_are_rejected_without_echoing_passwords() {
        for bad in ["ftp://h/", "not a url", "http://"] {
            assert!(matches!(
                FlinkClient::new(bad, DEFAULT_REQUEST_TIMEOUT),
                Err(ClientError::InvalidUrl { .. })
            ));
        }
        let err = FlinkClient::new("ftp://u:secret@h/", DEFAULT_REQUEST_TIMEOUT).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn flink_error_bodies_give_their_first_line() {
        let body = br#"{"errors": ["org.apache.flink.runtime.rest.NotFoundException: Job 00 not found\n\tat x"]}"#;
        assert_eq!(
            error_message(body),
            "org.apache.flink.runtime.rest.NotFoundException: Job 00 not found"
        );
        assert_eq!(error_message(b"<html>nginx</html>"), "<html>nginx</html>");
        assert_eq!(error_message(b""), "(empty body)");
    }
}
