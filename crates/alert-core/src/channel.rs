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
}
