//! The [`Channel`] trait: one configured destination that sends one [`Alert`].

use std::fmt;

use async_trait::async_trait;

use crate::{Alert, SendResult};

/// A ready-to-use, configured channel instance (a DingTalk robot, a WeCom app, ...).
///
/// A channel speaks its protocol and classifies the answer; it does not retry with backoff,
/// pace, or persist anything: that wraps it from outside. The one exception is what the
/// protocol itself demands in-line: refreshing an expired access token once, or truncating a
/// message the channel says is too long and sending it again once.
///
/// `Debug` must not show secrets (hold them as [`Secret`](crate::Secret)).
#[async_trait]
pub trait Channel: Send + Sync + fmt::Debug {
    /// The plugin kind that built it (`"dingtalk"`, `"wechat"`).
    fn kind(&self) -> &'static str;

    /// Sends one alert: one attempt, classified.
    async fn send(&self, alert: &Alert) -> SendResult;

    /// The largest message body (in UTF-8 bytes) this channel delivers whole, if it has a limit.
    /// Digests use it to cut their list of jobs at a line, with a count of the rest, instead of
    /// letting the plugin truncate mid-line.
    fn max_message_bytes(&self) -> Option<usize> {
        None
    }

    /// The request [`send`](Self::send) would make for `alert`, without making it: for
    /// previews ("what will my robot receive?"). `None` (the default) when the channel does not
    /// say; a channel that answers masks every secret in it ([`RequestPreview::new`] redacts
    /// the URL; the body must carry none in clear).
    fn preview(&self, alert: &Alert) -> Option<RequestPreview> {
        let _ = alert;
        None
    }
}

/// What a channel would send for one alert ([`Channel::preview`]), secrets masked.
///
/// ```
/// use alert_core::channel::RequestPreview;
/// let p = RequestPreview::new(
///     "POST",
///     "https://oapi.dingtalk.com/robot/send?access_token=abc",
///     serde_json::json!({"msgtype": "text"}),
/// );
/// assert_eq!(p.url, "https://oapi.dingtalk.com/robot/send?access_token=***");
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct RequestPreview {
    /// The HTTP method (`POST`).
    pub method: String,
    /// The URL, secret query parameters and credentials redacted
    /// ([`redact_url`](crate::text::redact_url)).
    pub url: String,
    /// The body: the JSON document sent, or a JSON string for a body that is not JSON.
    pub body: serde_json::Value,
}

impl RequestPreview {
    /// A request to `url` (redacted here) with `body`, which must hold no secret in clear.
    pub fn new(method: impl Into<String>, url: &str, body: serde_json::Value) -> Self {
        Self {
            method: method.into(),
            url: crate::text::redact_url(url),
            body,
        }
    }
}
