//! Integration tests of the `wechat` channel against the WeCom mock of `alert-testkit`
//! (127.0.0.1 only). One test binary, one module per concern.

mod app;
mod config;
mod errors;
mod preview;
mod robot;
mod secrets;
mod tokens;

use std::sync::Arc;

use alert_core::{Channel, ParamError};
use alert_testkit::wechat::{MockWeCom, WeComSettings};
use serde_json::{json, Value};

/// A mock WeCom with the default corp, app, users (alice, bob), chat and robot.
async fn mock() -> MockWeCom {
    MockWeCom::start(WeComSettings::default()).await
}

/// Parameters of an app instance that the mock accepts.
fn app_params(m: &MockWeCom) -> Value {
    json!({
        "send_type": "app",
        "corp_id": m.settings.corp_id,
        "secret": m.settings.corp_secret,
        "agent_id": m.settings.agent_id.to_string(),
        "base_url": m.uri(),
    })
}

/// Parameters of an appchat instance that the mock accepts.
fn appchat_params(m: &MockWeCom) -> Value {
    json!({
        "send_type": "appchat",
        "corp_id": m.settings.corp_id,
        "secret": m.settings.corp_secret,
        "chat_id": m.settings.chat_ids[0],
        "base_url": m.uri(),
    })
}

/// Parameters of a robot instance that the mock accepts.
fn robot_params(m: &MockWeCom) -> Value {
    json!({"send_type": "robot", "webhook": m.webhook()})
}

/// `base` with the keys of `extra` set (`null` removes a key).
fn with(mut base: Value, extra: Value) -> Value {
    let (Value::Object(b), Value::Object(e)) = (&mut base, extra) else {
        panic!("objects expected");
    };
    for (k, v) in e {
        if v.is_null() {
            b.remove(&k);
        } else {
            b.insert(k, v);
        }
    }
    base
}

/// A channel built through the registered descriptor, as the server builds it.
fn build(params: &Value) -> Arc<dyn Channel> {
    alert_wechat::DESCRIPTOR
        .build_channel(params)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The error building a channel from `params` gives.
fn build_err(params: &Value) -> ParamError {
    match alert_wechat::DESCRIPTOR.build_channel(params) {
        Ok(c) => panic!("built {c:?}"),
        Err(e) => e,
    }
}

/// The content a body carries (`body[msgtype].content`).
fn content(body: &Value) -> &str {
    let msgtype = body["msgtype"].as_str().expect("msgtype");
    body[msgtype]["content"].as_str().expect("content")
}
