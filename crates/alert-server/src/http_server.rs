//! The HTTP server under the router: hyper-util's connection builder with a header read
//! timeout, at most `http.max_connections` connections at once, graceful shutdown; and
//! [`limit_body`], the request body limit whose 413 a client still sending can read.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, EXPECT};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::api::body::BodyLimit;
use crate::api::error::ApiError;
use crate::config::HttpConfig;

/// Serves `app` on `listener` until `stop` turns true; then stops accepting, lets every open
/// connection finish its request in flight (idle ones close at once) and returns once all are
/// closed.
///
/// HTTP/1.1 (and 1.0). A connection is accepted only while fewer than `http.max_connections`
/// are open: the others wait in the listen backlog. A connection that does not send a whole
/// request head within `http.header_read_timeout_ms` (the first one, or the next one on a
/// kept-alive connection) is closed.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: &HttpConfig,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // HTTP/1 only: guessing the protocol from the first bytes (HTTP/2 without TLS, which no
    // client of this API speaks) would wait for them without any timeout.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut stopping = std::pin::pin!(async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    let mut waiting_logged = false;
    loop {
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                waiting_logged = false;
                permit
            }
            Err(_) => {
                if !waiting_logged {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "http.max_connections connections open; new ones wait"
                    );
                    waiting_logged = true;
                }
                tokio::select! {
                    permit = Arc::clone(&permits).acquire_owned() => permit.expect("never closed"),
                    () = &mut stopping => break,
                }
            }
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut stopping => break,
        };
        // Answers go out as soon as they are written, not held back by Nagle's algorithm
        // until the client has acknowledged an earlier segment (a request/response protocol).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
        }
        let service = TowerToHyperService::new(app.clone());
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// After a failed accept: errors of one connection are skipped, others (out of file
/// descriptors, ...) pause accepting for a second, as `axum::serve` does.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Refuses a request that announces a body over `http.max_body_bytes` with
/// `413 payload_too_large` and `Connection: close`. Unless the client waits for
/// `100 Continue` (then it sends no body), a body of at most `http.max_discard_bytes` is read
/// and thrown away first (within `http.header_read_timeout_ms`): a client that writes its whole
/// body before reading would otherwise see its connection reset instead of the answer.
/// Bodies without a length are cut at the limit by the extractors (`BodyLimit` names it).
pub async fn limit_body(
    State(limits): State<Arc<HttpConfig>>,
    mut request: Request,
    next: Next,
) -> Response {
    let announced = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(length) = announced.filter(|&n| n > limits.max_body_bytes as u64) else {
        request
            .extensions_mut()
            .insert(BodyLimit(limits.max_body_bytes));
        return next.run(request).await;
    };
    let expects_continue = request
        .headers()
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expects_continue && length <= limits.max_discard_bytes {
        discard(request.into_body(), limits.header_read_timeout()).await;
    }
    let mut response = ApiError::payload_too_large(limits.max_body_bytes).into_response();
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Reads `body` to its end (or its first error, or `within`), keeping nothing.
async fn discard(mut body: Body, within: Duration) {
    let _ = tokio::time::timeout(within, async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
}
