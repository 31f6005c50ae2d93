//! Shared HTTP plumbing for channel crates (feature `http`): a client with the mandatory
//! timeout and the instance's proxy, and the common classification of answers
//! (protocols.md, "Common rules for every channel").

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{classify_http_status, ChannelError, ParamError, Secret};

/// Default request timeout (protocols.md: a timeout is mandatory, 10 s by default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the instance's own client: request timeout, optional HTTP(S) proxy with credentials.
///
/// A bad proxy URL is reported against the `proxy` parameter, without echoing its password.
pub fn build_client(
    timeout: Duration,
    proxy: Option<&Secret>,
) -> Result<reqwest::Client, ParamError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("flink-alert/", env!("CARGO_PKG_VERSION")));
    builder = match proxy {
        Some(p) => {
            let url = url::Url::parse(p.expose())
                .map_err(|e| ParamError::new("proxy", format!("is not a valid URL ({e})")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ParamError::new(
                    "proxy",
                    "must be an http:// or https:// proxy URL",
                ));
            }
            let proxy = reqwest::Proxy::all(url.as_str()).map_err(|e| {
                ParamError::new("proxy", format!("is not usable ({})", e.without_url()))
            })?;
            builder.proxy(proxy)
        }
        // An instance without a proxy goes direct, whatever HTTP_PROXY says.
        None => builder.no_proxy(),
    };
    builder.build().map_err(|e| {
        ParamError::new(
            "proxy",
            format!("HTTP client could not be built ({})", describe(&e)),
        )
    })
}

/// Classifies a transport failure: timeouts and connect errors are `Retry`.
///
/// The message never contains the URL (it may carry an access token).
pub fn transport_error(e: &reqwest::Error) -> ChannelError {
    let what = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    ChannelError::retry(format!("{what}: {}", describe(e)))
}

/// The error and its causes, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
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
    crate::text::redact_urls_in(&parts.join(": "))
}

/// Sends a prepared request and parses a JSON answer of type `T`.
///
/// Non-2xx statuses are classified by [`classify_http_status`]; a 2xx answer that is not the
/// expected JSON is `Permanent` (the URL most likely points somewhere else than the channel).
pub async fn send_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, ChannelError> {
    let response = request.send().await.map_err(|e| transport_error(&e))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await.map_err(|e| transport_error(&e))?;
    if !status.is_success() {
        let excerpt = String::from_utf8_lossy(&body);
        return Err(classify_http_status(
            status.as_u16(),
            retry_after.as_deref(),
            &excerpt,
        ));
    }
    serde_json::from_slice(&body).map_err(|e| {
        let excerpt = String::from_utf8_lossy(&body);
        let excerpt = crate::text::truncate_bytes(excerpt.trim(), 120, "…");
        ChannelError::permanent(format!(
            "answer is not the channel's JSON ({e}); is the URL right? got: {excerpt}"
        ))
    })
}
