//! # alert-testkit
//!
//! Test helpers for channel crates (a dev-dependency only): local mock servers that check what
//! the real channel checks (token, signature, keyword, body shape, size) and answer the way it
//! does, errors included, plus sample events and alerts.
//!
//! Nothing here reaches the internet: every server listens on 127.0.0.1. [`proxy::TcpProxy`]
//! stands between a client and a local service (a database) to cut the path and restore it.

pub mod conformance;
pub mod dingtalk;
pub mod feishu;
#[cfg(feature = "pg")]
pub mod pg;
pub mod proxy;
pub mod smtp;
pub mod webhook;
pub mod wechat;

use alert_core::{Alert, JobEvent, Renderer};

pub use wiremock;

/// A job event with every field set (fixed time, so renders are stable for snapshots).
pub fn sample_event() -> JobEvent {
    alert_core::template::sample_event()
}

/// [`sample_event`] rendered with the default templates.
pub fn sample_alert() -> Alert {
    Renderer::default()
        .render(&sample_event())
        .expect("default templates render")
}

/// A JSON answer `{"errcode":code,"errmsg":msg}` with HTTP 200, as DingTalk and WeCom give.
pub fn errcode_answer(code: i64, msg: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"errcode": code, "errmsg": msg}))
}

/// A mock server of its own, not one from wiremock's pool.
///
/// `MockServer::start` hands out pooled servers, so a later test can get the address of an
/// earlier one. The channels share one `reqwest` client per timeout and proxy
/// (`alert_core::http::build_client`), whose pool may still hold the earlier test's keep-alive
/// connection to that address, driven by a Tokio runtime that is gone (each `#[tokio::test]`
/// has its own). Reused, it can fail as a transport error: a send the mock answered `200`
/// was seen as `Retry` (`alert-webhook`'s `success_field_check_decides_on_a_200`, once, on a
/// loaded machine).
pub async fn fresh_server() -> wiremock::MockServer {
    wiremock::MockServer::builder().start().await
}

/// The JSON bodies of every request the server received, in order.
pub async fn received_json(server: &wiremock::MockServer) -> Vec<serde_json::Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
        .collect()
}
