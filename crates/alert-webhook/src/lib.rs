//! # alert-webhook
//!
//! flink-alert channel plugin for any HTTP endpoint: an in-house system is reached with
//! configuration only, no code.
//!
//! - **Request.** `POST` (or `PUT`/`PATCH`) to `url`, `Content-Type: application/json` unless a
//!   header says otherwise, plus `headers` and `secret_headers` (one `Name: value` per line;
//!   the values of `secret_headers` are masked everywhere and marked sensitive in the client).
//! - **Body.** By default the versioned document [`request::Document`] (`schema`
//!   `flink-alert/webhook/v1`: the rendered `alert` and the job `event`). Or a `body_template`:
//!   minijinja over the same variables in which every `{{ expression }}` is inserted as a JSON
//!   value, checked at configuration time to render valid JSON:
//!
//!   ```text
//!   {"msg_type": "text", "content": {"text": {{ alert.title ~ "\n" ~ alert.text }}},
//!    "job": {{ event.job_name }}, "labels": {{ event.labels }}}
//!   ```
//! - **Signature.** With a `signing_secret`, every request carries
//!   `X-Flink-Alert-Timestamp: <unix seconds>` and
//!   `X-Flink-Alert-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
//!   (header names configurable). See [`sign`] for how a receiver checks it.
//! - **Outcome.** Delivered when the status is in `success_status` (default `200-299`) and, if
//!   `success_field` is set, the JSON answer's field equals `success_equals`; a failed field check
//!   is `Permanent`. Otherwise the common HTTP rules: 429 → Throttle (honouring `Retry-After`),
//!   other 4xx → Permanent, 5xx, timeouts and connection errors → Retry.
//!
//! Linking this crate registers the kind `"webhook"` in [`alert_core::registry()`]:
//!
//! ```no_run
//! use alert_core::{Alert, Channel};
//! use alert_webhook::{WebhookChannel, WebhookConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = WebhookConfig::new("https://alerts.example.com/hooks/flink");
//! config.secret_headers.push(("Authorization".into(), "Bearer ...".into()));
//! let hook = WebhookChannel::new(config)?;
//! hook.send(&Alert::plain("Flink", "orders: RUNNING → FAILED")).await?;
//! # Ok(()) }
//! ```

// The README (the crate's page on crates.io) is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod config;
pub mod request;
pub mod response;
pub mod sign;

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use alert_core::http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use alert_core::http::{HttpClient, Method as HttpMethod};
use alert_core::ChannelError;
use alert_core::{
    async_trait, Alert, Channel, ChannelDescriptor, ParamError, SendResult, ValidParams,
};
use url::Url;

pub use config::{FieldCheck, Method, Signing, SuccessRule, WebhookConfig, PARAMS};
use request::{BodyTemplate, Document};

/// The kind this crate registers.
pub const KIND: &str = "webhook";

/// The plugin's descriptor (also registered through `inventory`).
///
/// ```
/// assert_eq!(alert_webhook::DESCRIPTOR.kind, "webhook");
/// ```
// The receiver is ours to know: no default budget.
pub const DESCRIPTOR: ChannelDescriptor = ChannelDescriptor::new(
    KIND,
    "Webhook",
    "Generic HTTP webhook: JSON body (the flink-alert/webhook/v1 document or a template), custom and secret headers, optional HMAC signature, configurable success rule",
    PARAMS,
    build_channel,
);

alert_core::inventory::submit! { DESCRIPTOR }

fn build_channel(params: &ValidParams) -> Result<Arc<dyn Channel>, ParamError> {
    Ok(Arc::new(WebhookChannel::new(WebhookConfig::from_params(
        params,
    )?)?))
}

/// Headers the client sets itself; configuring them would corrupt the request.
const RESERVED: [&str; 3] = ["content-length", "host", "transfer-encoding"];

/// A configured webhook.
pub struct WebhookChannel {
    config: WebhookConfig,
    url: Url,
    headers: HeaderMap,
    template: Option<BodyTemplate>,
    client: HttpClient,
}

impl WebhookChannel {
    /// Validates the configuration (URL, headers, template) and builds the HTTP client.
    pub fn new(config: WebhookConfig) -> Result<Self, ParamError> {
        let url = config.validate_url()?;
        if config.timeout.is_zero() {
            return Err(ParamError::new("timeout_ms", "must be longer than zero"));
        }
        let headers = header_map(&config)?;
        let template = config
            .body_template
            .as_deref()
            .map(BodyTemplate::parse)
            .transpose()?;
        let client = HttpClient::new(config.timeout, config.proxy.as_ref())?;
        Ok(Self {
            config,
            url,
            headers,
            template,
            client,
        })
    }

    /// Builds a webhook from JSON parameters, validated against [`PARAMS`].
    pub fn from_json(params: &serde_json::Value) -> Result<Self, ParamError> {
        Self::new(WebhookConfig::from_params(&DESCRIPTOR.validate(params)?)?)
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// The body that would be sent for `alert` (for previews and tests).
    pub fn body(&self, alert: &Alert) -> Result<Vec<u8>, alert_core::ChannelError> {
        match &self.template {
            Some(t) => t.render(alert),
            None => Ok(Document::new(alert).to_body()),
        }
    }
}

/// Every configured header, checked; secret values are marked sensitive.
fn header_map(config: &WebhookConfig) -> Result<HeaderMap, ParamError> {
    let mut map = HeaderMap::new();
    let plain = config
        .headers
        .iter()
        .map(|(n, v)| ("headers", n.as_str(), v.as_str(), false));
    let secret = config
        .secret_headers
        .iter()
        .map(|(n, v)| ("secret_headers", n.as_str(), v.expose(), true));
    let signing: Vec<&str> = config
        .signing
        .iter()
        .flat_map(|s| [s.signature_header.as_str(), s.timestamp_header.as_str()])
        .collect();
    for (field, name, value, sensitive) in plain.chain(secret) {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ParamError::new(field, format!("`{name}` is not a valid header name")))?;
        if RESERVED.contains(&header.as_str()) {
            return Err(ParamError::new(
                field,
                format!("`{name}` is set by the HTTP client; remove it"),
            ));
        }
        if map.contains_key(&header) || signing.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return Err(ParamError::new(
                field,
                format!(
                    "`{name}` is set twice (in headers, secret_headers or as a signature header)"
                ),
            ));
        }
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            ParamError::new(
                field,
                format!("the value of `{name}` is not a valid header value"),
            )
        })?;
        value.set_sensitive(sensitive);
        map.insert(header, value);
    }
    if let Some(s) = &config.signing {
        for (field, name) in [
            ("signature_header", &s.signature_header),
            ("timestamp_header", &s.timestamp_header),
        ] {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ParamError::new(field, format!("`{name}` is not a valid header name"))
            })?;
        }
        if s.signature_header.eq_ignore_ascii_case(&s.timestamp_header) {
            return Err(ParamError::new(
                "timestamp_header",
                "must differ from signature_header",
            ));
        }
    }
    if !map.contains_key(CONTENT_TYPE) {
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(map)
}

impl fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry the credential in its path or query: show its origin only. Header
        // values are shown for `headers`, masked for `secret_headers` (the config's `Secret`s).
        f.debug_struct("WebhookChannel")
            .field("url", &config::redacted_url(&self.url))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One line for logs and lists, e.g. `Webhook POST https://alerts.example.com/***`.
impl fmt::Display for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Webhook {} {}",
            self.config.method,
            config::redacted_url(&self.url)
        )
    }
}

#[async_trait]
impl Channel for WebhookChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn send(&self, alert: &Alert) -> SendResult {
        let body = self.body(alert)?;
        let method = match self.config.method {
            Method::Post => HttpMethod::POST,
            Method::Put => HttpMethod::PUT,
            Method::Patch => HttpMethod::PATCH,
        };
        let mut headers = self.headers.clone();
        if let Some(signing) = &self.config.signing {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let timestamp = i64::try_from(now).unwrap_or(i64::MAX);
            let signature = sign::signature(signing.secret.expose(), timestamp, &body);
            let name = |n: &str| {
                HeaderName::from_bytes(n.as_bytes()).map_err(|_| {
                    ChannelError::permanent(format!("`{n}` is not a valid header name"))
                })
            };
            headers.insert(
                name(&signing.timestamp_header)?,
                HeaderValue::from(timestamp),
            );
            let mut signature = HeaderValue::from_str(&signature)
                .map_err(|_| ChannelError::permanent("the signature is not a header value"))?;
            signature.set_sensitive(true);
            headers.insert(name(&signing.signature_header)?, signature);
        }
        let answer = self.client.send(method, &self.url, headers, body).await?;
        response::classify(
            &self.config.success,
            answer.status,
            answer.retry_after.as_deref(),
            &answer.body,
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn headers_are_checked_and_reserved_ones_refused() {
        let field = |p: serde_json::Value| WebhookChannel::from_json(&p).unwrap_err().field;
        assert_eq!(
            field(json!({"url": "https://h/x", "headers": "Bad Name: 1"})),
            "headers"
        );
        assert_eq!(
            field(json!({"url": "https://h/x", "headers": "Host: other"})),
            "headers"
        );
        assert_eq!(
            field(json!({"url": "https://h/x", "headers": "X-A: 1", "secret_headers": "x-a: 2"})),
            "secret_headers"
        );
        assert_eq!(
            field(
                json!({"url": "https://h/x", "signing_secret": "k", "headers": "X-Flink-Alert-Signature: 1"})
            ),
            "headers"
        );
        assert_eq!(
            field(
                json!({"url": "https://h/x", "signing_secret": "k", "timestamp_header": "X-Flink-Alert-Signature"})
            ),
            "timestamp_header"
        );
        let ok = WebhookChannel::from_json(
            &json!({"url": "https://h/x", "headers": "Content-Type: application/vnd.x+json"}),
        )
        .unwrap();
        assert_eq!(ok.headers[CONTENT_TYPE], "application/vnd.x+json");
    }

    #[test]
    fn display_shows_method_and_origin_only() {
        let hook = WebhookChannel::new(WebhookConfig::new(
            "https://hooks.example.com/services/T0/B0/s3cr3t",
        ))
        .unwrap();
        assert_eq!(
            hook.to_string(),
            "Webhook POST https://hooks.example.com/***"
        );
    }
}
