//! # flink-alert-slack
//!
//! An example third-party channel for flink-alert: Slack incoming webhooks. It depends on
//! `alert-core` only (plus its HTTP client), lives outside the project's `crates/`, and is what
//! `docs/PLUGINS.md` walks through: the schema ([`config`]), the body ([`request`]), the
//! answer's classification ([`response`]), the [`Channel`] impl and the registration below.
//!
//! Linking the crate registers the kind `"slack"`:
//!
//! ```
//! use flink_alert_slack as _; // linking is registering
//! let slack = alert_core::registry().get("slack").unwrap();
//! assert_eq!(slack.name, "Slack");
//! ```

pub mod config;
pub mod request;
pub mod response;

use std::fmt;
use std::sync::Arc;

use alert_core::http::{build_client, transport_error};
use alert_core::{
    async_trait, Alert, Channel, ChannelDescriptor, ParamError, SendResult, ValidParams,
};
use url::Url;

pub use config::{SlackConfig, PARAMS};

/// The kind this crate registers: stored with every instance, never renamed.
pub const KIND: &str = "slack";

/// The plugin's descriptor, registered below through `inventory`.
pub const DESCRIPTOR: ChannelDescriptor = ChannelDescriptor::new(
    KIND,
    "Slack",
    "Slack incoming webhook (example third-party plugin)",
    PARAMS,
    build_channel,
)
// Slack allows about one message per second per webhook.
.with_default_rate(|_| Some(60));

alert_core::inventory::submit! { DESCRIPTOR }

fn build_channel(params: &ValidParams) -> Result<Arc<dyn Channel>, ParamError> {
    Ok(Arc::new(SlackChannel::new(SlackConfig::from_params(
        params,
    )?)?))
}

/// A configured Slack webhook.
pub struct SlackChannel {
    config: SlackConfig,
    webhook: Url,
    client: reqwest::Client,
}

impl SlackChannel {
    /// Validates the configuration and builds the HTTP client (timeout and proxy included).
    pub fn new(config: SlackConfig) -> Result<Self, ParamError> {
        let webhook = config.webhook_url()?;
        let client = build_client(config.timeout, config.proxy.as_ref())?;
        Ok(Self {
            config,
            webhook,
            client,
        })
    }
}

/// The webhook URL is the credential: `Debug` shows its host only.
impl fmt::Debug for SlackChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackChannel")
            .field("host", &self.webhook.host_str().unwrap_or_default())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for SlackChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn max_message_bytes(&self) -> Option<usize> {
        Some(request::MAX_TEXT_BYTES - 1_000)
    }

    async fn send(&self, alert: &Alert) -> SendResult {
        let response = self
            .client
            .post(self.webhook.clone())
            .json(&request::build_body(alert, &self.config))
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.map_err(|e| transport_error(&e))?;
        response::classify(status, retry_after.as_deref(), &body)
    }
}
