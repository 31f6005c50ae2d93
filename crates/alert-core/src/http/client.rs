//! [`HttpClient`]: the client channel crates send with. A direct instance (no proxy) sends
//! through hyper's pooled client with rustls; an instance behind a proxy through reqwest,
//! which speaks to proxies.
//!
//! Why not reqwest for both: on the delivery path the client is a large share of the server's
//! CPU, and reqwest's layers (redirect policy, URL re-parsing, per-request boxed timeouts) cost
//! about twice hyper's client per request (docs/BENCHMARKS.md; `cargo bench -p alert-core
//! --features http --bench http_client`). A channel request needs none of them: one method,
//! one URL, a few headers, a small body, an answer read whole.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ::http::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use ::http::Method;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use url::Url;

use crate::{ChannelError, ParamError, Secret};

/// The most of an answer's body that is read; a channel's answer is a few hundred bytes, so
/// anything longer is not the channel (and is not kept in memory).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// How long an idle kept-alive connection stays in the pool (reqwest's default).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The `User-Agent` of every channel request.
const AGENT: &str = concat!("flink-alert/", env!("CARGO_PKG_VERSION"));

/// A channel's HTTP client: the instance's timeout (the whole request, answer included) and
/// optional HTTP(S) proxy.
///
/// Instances with the same timeout and proxy share one client and so one connection pool:
/// kept-alive connections to a channel's host serve every instance that sends there, and the
/// TLS configuration (whose root certificates are costly to parse) is built once, not once per
/// robot. Cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    timeout: Duration,
    route: Route,
}

/// How requests leave.
#[derive(Clone)]
enum Route {
    /// Straight to the host, through hyper's client (shared: one clone per instance).
    Direct(Arc<DirectClient>),
    /// Through the instance's proxy, with reqwest.
    Proxied(reqwest::Client),
}

type DirectClient = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A channel's answer, read whole: what [`crate::classify_http_status`] and a channel's own
/// classification need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, if any and if it is text.
    pub retry_after: Option<String>,
    /// The body, at most [`MAX_ANSWER_BYTES`].
    pub body: Bytes,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The proxy URL may carry a password: say only whether there is one.
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .field("proxied", &matches!(self.route, Route::Proxied(_)))
            .finish()
    }
}

impl HttpClient {
    /// The shared client for this timeout and proxy (built on first use).
    ///
    /// A bad proxy URL is reported against the `proxy` parameter, without echoing its password.
    pub fn new(timeout: Duration, proxy: Option<&Secret>) -> Result<Self, ParamError> {
        static CLIENTS: OnceLock<super::ClientCache<HttpClient>> = OnceLock::new();
        super::shared_client(&CLIENTS, timeout, proxy, || {
            let route = match proxy {
                Some(_) => Route::Proxied(super::build_client(timeout, proxy)?),
                None => Route::Direct(Arc::new(direct_client(timeout)?)),
            };
            Ok(Self { timeout, route })
        })
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request and reads its answer whole (at most [`MAX_ANSWER_BYTES`]).
    ///
    /// `User-Agent` and `Accept` are set unless `headers` has them. Redirects are not followed:
    /// a channel's API answers where it is asked, and a redirected webhook would lose its body.
    /// Timeouts and connection failures are `Retry`; no error contains the URL (it may carry
    /// an access token).
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Answer, ChannelError> {
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        let answer = match &self.route {
            Route::Direct(client) => {
                let exchange = direct_exchange(client, method, url, headers, body);
                tokio::time::timeout(self.timeout, exchange)
                    .await
                    .unwrap_or_else(|_| Err(ChannelError::retry("request timed out")))?
            }
            Route::Proxied(client) => {
                let request = client
                    .request(method, url.clone())
                    .headers(headers)
                    .body(body);
                proxied_exchange(request).await?
            }
        };
        if (300..400).contains(&answer.status) {
            return Err(ChannelError::permanent(format!(
                "HTTP {}: the URL redirects elsewhere; configure the URL it points to",
                answer.status
            ))
            .with_code(i64::from(answer.status)));
        }
        Ok(answer)
    }

    /// POSTs a JSON body and parses a JSON answer of type `T`, classified like [`super::send_json`].
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        url: &Url,
        body: Vec<u8>,
    ) -> Result<T, ChannelError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let answer = self.send(Method::POST, url, headers, body).await?;
        json_answer(&answer)
    }

    /// GETs `url` and parses a JSON answer of type `T`, classified like [`super::send_json`].
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, ChannelError> {
        let answer = self
            .send(Method::GET, url, HeaderMap::new(), Vec::new())
            .await?;
        json_answer(&answer)
    }
}

/// Non-2xx statuses through [`crate::classify_http_status`]; a 2xx answer that is not the
/// expected JSON is `Permanent` (the URL most likely points somewhere else than the channel).
fn json_answer<T: DeserializeOwned>(answer: &Answer) -> Result<T, ChannelError> {
    super::parse_json_answer(answer.status, answer.retry_after.as_deref(), &answer.body)
}

/// hyper's pooled client with rustls (webpki roots, the ring provider reqwest also uses),
/// HTTP/1.1 and, with the `http2` feature, HTTP/2 where the server offers it through ALPN.
fn direct_client(timeout: Duration) -> Result<DirectClient, ParamError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeout.min(Duration::from_secs(5))));
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| ParamError::new("timeout", format!("TLS could not be set up ({e})")))?
        .https_or_http();
    #[cfg(feature = "http2")]
    let connector = tls.enable_all_versions().wrap_connector(http);
    #[cfg(not(feature = "http2"))]
    let connector = tls.enable_http1().wrap_connector(http);
    Ok(
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector),
    )
}

/// One request through hyper's client, the answer read whole.
async fn direct_exchange(
    client: &DirectClient,
    method: Method,
    url: &Url,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<Answer, ChannelError> {
    let uri: http::Uri = url
        .as_str()
        .parse()
        .map_err(|_| ChannelError::permanent("the URL is not a valid HTTP URI"))?;
    let mut request = http::Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    let response = client
        .request(request)
        .await
        .map_err(|e| direct_error(&e))?;
    read_answer(response).await
}

/// One request through reqwest (the proxied route), the answer read whole.
async fn proxied_exchange(request: reqwest::RequestBuilder) -> Result<Answer, ChannelError> {
    let response = request
        .send()
        .await
        .map_err(|e| super::transport_error(&e))?;
    read_answer(::http::Response::from(response)).await
}

/// The status, `Retry-After` and body of an answer, the body read whole up to
/// [`MAX_ANSWER_BYTES`] (whether or not the server announced its length).
async fn read_answer<B>(response: ::http::Response<B>) -> Result<Answer, ChannelError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let status = response.status().as_u16();
    let retry_after = super::retry_after(response.headers());
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ChannelError::permanent(format!(
                    "answer is longer than {MAX_ANSWER_BYTES} bytes; is the URL right?"
                ))
            } else {
                ChannelError::retry(format!(
                    "reading the answer failed: {}",
                    super::error_chain(&*e)
                ))
            }
        })?
        .to_bytes();
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// Classifies a failure of hyper's client: connection failures are `Retry`, and so is a
/// request that failed on the way (the channel may or may not have it; a retry is what
/// protocols.md asks for a transport error).
fn direct_error(e: &hyper_util::client::legacy::Error) -> ChannelError {
    let what = if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    ChannelError::retry(format!("{what}: {}", super::error_chain(e)))
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
