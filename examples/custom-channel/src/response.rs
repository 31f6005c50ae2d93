//! Slack's answer → outcome. Slack answers `200 ok`, or an HTTP error with a short reason
//! (`invalid_payload`, `no_service`, `channel_is_archived`, ...): the common HTTP rules fit.

use alert_core::{classify_http_status, ChannelError, Delivered, SendResult};

/// Classifies an answer by status; a 2xx that is not `ok` is not Slack.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str) -> SendResult {
    match status {
        200..=299 if body.trim() == "ok" => Ok(Delivered::ok()),
        200..=299 => Err(ChannelError::permanent(format!(
            "answer is not Slack's `ok`; is the webhook right? got: {}",
            alert_core::text::truncate_bytes(body.trim(), 120, "…")
        ))),
        _ => Err(classify_http_status(status, retry_after, body)),
    }
}
