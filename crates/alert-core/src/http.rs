//! Shared HTTP plumbing for channel crates (feature `http`): a client with the mandatory
//! timeout and the instance's proxy, and the common classification of answers
//! (protocols.md, "Common rules for every channel").

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{classify_http_status, ChannelError, ParamError, Secret};

mod client;

/// The request types [`HttpClient::send`] takes (the `http` crate's, which reqwest shares).
pub use ::http::{header, Method};
pub use client::{Answer, HttpClient, MAX_ANSWER_BYTES};

/// Default request timeout (protocols.md: a timeout is mandatory, 10 s by default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client for an instance's timeout and proxy: request timeout, optional HTTP(S) proxy with
/// credentials.
///
/// Instances with the same timeout and proxy share one client, so they share its connection
/// pool (keep-alive connections to a channel's host serve every instance that sends there) and
/// its TLS configuration, which is costly to build (the root certificates are parsed for each
/// one): a server with a thousand robots builds one client, not a thousand.
///
/// A bad proxy URL is reported against the `proxy` parameter, without echoing its password.
pub fn build_client(
    timeout: Duration,
    proxy: Option<&Secret>,
) -> Result<reqwest::Client, ParamError> {
    static CLIENTS: OnceLock<ClientCache<reqwest::Client>> = OnceLock::new();
    shared_client(&CLIENTS, timeout, proxy, || new_client(timeout, proxy))
}

/// Clients by (timeout, proxy URL): one per setting for the whole process.
type ClientCache<C> = Mutex<HashMap<(Duration, Option<String>), C>>;

/// The client of `cache` for this timeout and proxy, built by `build` on first use.
fn shared_client<C: Clone>(
    cache: &OnceLock<ClientCache<C>>,
    timeout: Duration,
    proxy: Option<&Secret>,
    build: impl FnOnce() -> Result<C, ParamError>,
) -> Result<C, ParamError> {
    let key = (timeout, proxy.map(|p| p.expose().to_owned()));
    let clients = cache.get_or_init(ClientCache::default);
    if let Some(client) = clients.lock().expect("not poisoned").get(&key) {
        return Ok(client.clone());
    }
    let client = build()?;
    Ok(clients
        .lock()
        .expect("not poisoned")
        .entry(key)
        .or_insert(client)
        .clone())
}

/// Builds a client (see [`build_client`]).
fn new_client(timeout: Duration, proxy: Option<&Secret>) -> Result<reqwest::Client, ParamError> {
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
    error_chain(e)
}

/// An error's causes (or the error itself when it has none), each once, URLs redacted: what
/// a channel error says about a transport failure.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = e.source();
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
    let retry_after = retry_after(response.headers());
    let body = response.bytes().await.map_err(|e| transport_error(&e))?;
    parse_json_answer(status.as_u16(), retry_after.as_deref(), &body)
}

/// The `Retry-After` header, if any and if it is text.
fn retry_after(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A JSON answer of type `T`, or the error its status or body means (see [`send_json`]).
fn parse_json_answer<T: DeserializeOwned>(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<T, ChannelError> {
    if !(200..300).contains(&status) {
        let excerpt = String::from_utf8_lossy(body);
        return Err(classify_http_status(status, retry_after, &excerpt));
    }
    serde_json::from_slice(body).map_err(|e| {
        let excerpt = String::from_utf8_lossy(body);
        let excerpt = crate::text::truncate_bytes(excerpt.trim(), 120, "…");
        ChannelError::permanent(format!(
            "answer is not the channel's JSON ({e}); is the URL right? got: {excerpt}"
        ))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A keep-alive HTTP/1.1 server on loopback that answers `200 {}` to every request and
    /// counts the connections it accepted.
    pub(crate) async fn counting_server() -> (url::Url, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if socket.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url::Url::parse(&url).unwrap(), accepted)
    }

    #[tokio::test]
    async fn instances_with_the_same_settings_share_one_connection_pool() {
        let (url, accepted) = counting_server().await;
        // A timeout no other test uses: the client cache is process-wide.
        let timeout = Duration::from_millis(4_321);
        let first = build_client(timeout, None).unwrap();
        let second = build_client(timeout, None).unwrap();
        for client in [&first, &second, &first] {
            let answer = client.get(url.clone()).send().await.unwrap();
            assert_eq!(answer.text().await.unwrap(), "{}");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "both clients reuse one kept-alive connection"
        );
        // Another timeout is another client, with its own pool.
        let other = build_client(Duration::from_millis(4_322), None).unwrap();
        other.get(url.clone()).send().await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_bad_proxy_is_still_refused_on_its_parameter() {
        let bad = Secret::new("ftp://user:hunter2@proxy.example:21".to_owned());
        let err = build_client(DEFAULT_TIMEOUT, Some(&bad)).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("proxy") && !text.contains("hunter2"),
            "{text}"
        );
    }
}
