//! # alert-feishu
//!
//! flink-alert channel plugin for the Feishu / Lark custom bot (飞书自定义机器人): signing
//! (签名校验, timestamp in seconds, signature in the body), custom keyword, @-mentions, text,
//! rich-text post or interactive card messages, the 20 KB body limit, and the code table of
//! `shared/protocols.md` mapped to [`alert_core::ErrorKind`]s.
//!
//! | code | meaning | kind |
//! |---|---|---|
//! | 0 | success | Delivered |
//! | 19021 | signature mismatch or timestamp over 1 h off | Permanent |
//! | 19024 | keyword missing | Permanent |
//! | 19022, 19001, others | IP not allowed, bad hook id, ... | Permanent |
//! | 9499, 11232 | frequency limit (100/min, 5/s per bot) | Throttle (60 s) |
//! | none, HTTP 5xx / timeout / connect error | | Retry |
//!
//! Linking this crate registers the kind `"feishu"` in [`alert_core::registry()`]. It can also
//! be used on its own, with no server and no other channel compiled in:
//!
//! ```no_run
//! use alert_core::{Alert, Channel};
//! use alert_feishu::{FeishuChannel, FeishuConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = FeishuConfig::new("https://open.feishu.cn/open-apis/bot/v2/hook/...");
//! config.secret = Some("...".into());
//! let bot = FeishuChannel::new(config)?;
//! bot.send(&Alert::plain("Flink", "orders: RUNNING → FAILED")).await?;
//! # Ok(()) }
//! ```

// The README (the crate's page on crates.io) is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod config;
pub mod request;
pub mod response;
pub mod sign;

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use alert_core::http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use alert_core::http::{HttpClient, Method};
use alert_core::{
    async_trait, Alert, Channel, ChannelDescriptor, ChannelError, ParamError, SendResult,
    ValidParams,
};
use url::Url;

pub use config::{FeishuConfig, ShowType, PARAMS};
use request::{build_body, Signature, MAX_BODY_BYTES};

/// The kind this crate registers.
pub const KIND: &str = "feishu";

/// Default pace: Feishu allows 100 messages per minute (and 5 per second) per bot.
pub const RATE_PER_MINUTE: u32 = 100;

/// The plugin's descriptor (also registered through `inventory`).
///
/// ```
/// assert_eq!(alert_feishu::DESCRIPTOR.kind, "feishu");
/// ```
pub const DESCRIPTOR: ChannelDescriptor = ChannelDescriptor::new(
    KIND,
    "Feishu",
    "Feishu / Lark custom bot (飞书自定义机器人): signing, keyword, @-mentions, text, post or card",
    PARAMS,
    build_channel,
)
.with_default_rate(|_| Some(RATE_PER_MINUTE));

alert_core::inventory::submit! { DESCRIPTOR }

fn build_channel(params: &ValidParams) -> Result<Arc<dyn Channel>, ParamError> {
    Ok(Arc::new(FeishuChannel::new(FeishuConfig::from_params(
        params,
    )?)?))
}

/// A configured Feishu bot.
pub struct FeishuChannel {
    config: FeishuConfig,
    webhook: Url,
    client: HttpClient,
}

impl FeishuChannel {
    /// Validates the configuration and builds the bot's HTTP client.
    pub fn new(config: FeishuConfig) -> Result<Self, ParamError> {
        let webhook = config.validate()?;
        let client = HttpClient::new(config.timeout, config.proxy.as_ref())?;
        Ok(Self {
            config,
            webhook,
            client,
        })
    }

    /// Builds a bot from JSON parameters, validated against [`PARAMS`].
    pub fn from_json(params: &serde_json::Value) -> Result<Self, ParamError> {
        Self::new(FeishuConfig::from_params(&DESCRIPTOR.validate(params)?)?)
    }

    /// The configuration.
    pub fn config(&self) -> &FeishuConfig {
        &self.config
    }

    /// The body that would be sent for `alert`, without the signature (for previews and tests).
    pub fn body(&self, alert: &Alert) -> serde_json::Value {
        build_body(alert, &self.config, MAX_BODY_BYTES, None)
    }

    /// The signature for now, when the bot signs.
    fn signature(&self) -> Option<Signature> {
        let secret = self.config.secret.as_ref()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let timestamp = i64::try_from(now).unwrap_or(i64::MAX);
        Some(Signature {
            timestamp,
            sign: sign::sign(secret.expose(), timestamp),
        })
    }
}

impl fmt::Debug for FeishuChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hook id is the bot's credential: show the webhook redacted, and the config (whose
        // secrets are `Secret`s); the HTTP client adds nothing useful.
        f.debug_struct("FeishuChannel")
            .field("webhook", &config::redacted_webhook(&self.webhook))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One line for logs and lists, e.g. `Feishu bot https://open.feishu.cn/open-apis/bot/v2/hook/*** (card)`.
impl fmt::Display for FeishuChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Feishu bot {} ({})",
            config::redacted_webhook(&self.webhook),
            self.config.show_type
        )
    }
}

#[async_trait]
impl Channel for FeishuChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn max_message_bytes(&self) -> Option<usize> {
        // The limit is on the whole body; leave room for the envelope, title and mentions.
        Some(MAX_BODY_BYTES - 2_000)
    }

    async fn send(&self, alert: &Alert) -> SendResult {
        let body = build_body(
            alert,
            &self.config,
            MAX_BODY_BYTES,
            self.signature().as_ref(),
        );
        let body = serde_json::to_vec(&body)
            .map_err(|e| ChannelError::permanent(format!("body could not be encoded ({e})")))?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let answer = self
            .client
            .send(Method::POST, &self.webhook, headers, body)
            .await?;
        response::classify_answer(answer.status, answer.retry_after.as_deref(), &answer.body)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn registered_with_the_documented_pace() {
        let p = DESCRIPTOR
            .validate(&json!({"webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/x"}))
            .unwrap();
        assert_eq!((DESCRIPTOR.default_rate_per_minute)(&p), Some(100));
        assert_eq!(
            alert_core::registry().get(KIND).map(|d| d.name).ok(),
            Some("Feishu")
        );
    }

    #[test]
    fn display_names_the_bot_without_its_hook_id() {
        let bot = FeishuChannel::new(FeishuConfig::new(
            "https://open.feishu.cn/open-apis/bot/v2/hook/h00k-1d",
        ))
        .unwrap();
        assert_eq!(
            bot.to_string(),
            "Feishu bot https://open.feishu.cn/open-apis/bot/v2/hook/*** (card)"
        );
        assert!(!format!("{bot:?}").contains("h00k-1d"));
    }
}
