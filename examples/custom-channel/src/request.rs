//! Alert → request body. Slack formats `text` as mrkdwn; the plain-text body reads well there.

use alert_core::text::{truncate_bytes, TRUNCATION_MARKER};
use alert_core::Alert;
use serde_json::{json, Value};

use crate::config::SlackConfig;

/// Slack cuts messages at 40 000 characters; stay under it in bytes.
pub const MAX_TEXT_BYTES: usize = 39_000;

/// `{"text": "*title*\nbody", "username": ..., "icon_emoji": ...}`.
pub fn build_body(alert: &Alert, config: &SlackConfig) -> Value {
    let text = format!("*{}*\n{}", alert.title.trim(), alert.text);
    let mut body = json!({"text": truncate_bytes(&text, MAX_TEXT_BYTES, TRUNCATION_MARKER)});
    if let Some(name) = &config.username {
        body["username"] = Value::from(name.as_str());
    }
    if let Some(icon) = &config.icon_emoji {
        body["icon_emoji"] = Value::from(icon.as_str());
    }
    body
}
