//! # alert-dingtalk
//!
//! flink-alert channel plugin for the DingTalk custom robot (钉钉自定义机器人): keyword,
//! signing (加签), per-robot proxy, @-mentions, text or markdown, the 20000-byte limit, and the
//! errcode table of `shared/protocols.md` mapped to [`alert_core::ErrorKind`]s.
//!
//! Linking this crate registers the kind `"dingtalk"` in [`alert_core::registry()`]. It can also
//! be used on its own, with no server and no other channel compiled in:
//!
//! ```no_run
//! use alert_core::{Alert, Channel};
//! use alert_dingtalk::{DingTalkChannel, DingTalkConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = DingTalkConfig::new("https://oapi.dingtalk.com/robot/send?access_token=...");
//! config.secret = Some("SEC...".into());
//! let robot = DingTalkChannel::new(config)?;
//! robot.send(&Alert::plain("Flink", "orders: RUNNING → FAILED")).await?;
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

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use alert_core::channel::RequestPreview;
use alert_core::http::HttpClient;
use alert_core::{
    async_trait, Alert, Channel, ChannelDescriptor, ErrorKind, ParamError, SendResult, ValidParams,
};
use url::Url;

pub use config::{DingTalkConfig, ShowType, PARAMS};
use request::{body_bytes, build_body, MAX_BODY_BYTES};
use response::{classify, RobotAnswer};

/// The kind this crate registers.
pub const KIND: &str = "dingtalk";

/// The plugin's descriptor (also registered through `inventory`).
pub const DESCRIPTOR: ChannelDescriptor = ChannelDescriptor::new(
    KIND,
    "DingTalk",
    "DingTalk custom robot (钉钉自定义机器人): keyword, signing, @-mentions, text or markdown",
    PARAMS,
    build_channel,
)
// 20 messages per minute per robot; exceeding it blocks the robot for 10 minutes.
.with_default_rate(|_| Some(20));

alert_core::inventory::submit! { DESCRIPTOR }

fn build_channel(params: &ValidParams) -> Result<Arc<dyn Channel>, ParamError> {
    Ok(Arc::new(DingTalkChannel::new(
        DingTalkConfig::from_params(params)?,
    )?))
}

/// A configured DingTalk robot.
pub struct DingTalkChannel {
    config: DingTalkConfig,
    webhook: Url,
    client: HttpClient,
}

impl DingTalkChannel {
    /// Validates the configuration and builds the robot's HTTP client.
    pub fn new(config: DingTalkConfig) -> Result<Self, ParamError> {
        let webhook = config.validate()?;
        let client = HttpClient::new(config.timeout, config.proxy.as_ref())?;
        Ok(Self {
            config,
            webhook,
            client,
        })
    }

    /// Builds a robot from JSON parameters, validated against [`PARAMS`].
    pub fn from_json(params: &serde_json::Value) -> Result<Self, ParamError> {
        Self::new(DingTalkConfig::from_params(&DESCRIPTOR.validate(params)?)?)
    }

    /// The configuration.
    pub fn config(&self) -> &DingTalkConfig {
        &self.config
    }

    /// The body that would be sent for `alert` (for previews and tests).
    pub fn body(&self, alert: &Alert) -> serde_json::Value {
        build_body(alert, &self.config, MAX_BODY_BYTES)
    }

    fn url(&self) -> Url {
        match &self.config.secret {
            Some(secret) => {
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                sign::signed_url(
                    &self.webhook,
                    secret.expose(),
                    i64::try_from(now_ms).unwrap_or(i64::MAX),
                )
            }
            None => self.webhook.clone(),
        }
    }

    async fn post(&self, body: Vec<u8>) -> SendResult {
        let answer: RobotAnswer = self.client.post_json(&self.url(), body).await?;
        classify(&answer)
    }
}

impl std::fmt::Debug for DingTalkChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The webhook URL carries the access token: show it redacted, and the config (whose
        // secrets are `Secret`s); the HTTP client adds nothing useful.
        f.debug_struct("DingTalkChannel")
            .field(
                "webhook",
                &alert_core::text::redact_url(self.webhook.as_str()),
            )
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for DingTalkChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn max_message_bytes(&self) -> Option<usize> {
        // The limit is on the whole body; leave room for the JSON envelope, title and mentions.
        Some(MAX_BODY_BYTES - 2_000)
    }

    /// The robot's URL (access token, and with signing the timestamp's `sign`, redacted) and
    /// the body of the first attempt.
    fn preview(&self, alert: &Alert) -> Option<RequestPreview> {
        Some(RequestPreview::new(
            "POST",
            self.url().as_str(),
            self.body(alert),
        ))
    }

    async fn send(&self, alert: &Alert) -> SendResult {
        match self
            .post(body_bytes(alert, &self.config, MAX_BODY_BYTES))
            .await
        {
            // The documented limit is 20000 bytes; should the server count differently, cut the
            // message to half and send once more rather than lose it.
            Err(e) if e.kind == ErrorKind::TooLong => {
                self.post(body_bytes(alert, &self.config, MAX_BODY_BYTES / 2))
                    .await
            }
            other => other,
        }
    }
}
