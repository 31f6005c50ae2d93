//! The parameters: the schema the registry validates, and the typed configuration.

use std::time::Duration;

use alert_core::{ParamError, ParamSpec, ParamType, Secret, ValidParams};
use url::Url;

/// The parameter schema of the `slack` kind. `webhook` is secret: the URL is the credential.
pub static PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "webhook",
        ParamType::Url,
        "Incoming webhook URL (https://hooks.slack.com/services/...); the URL is the credential",
    )
    .required()
    .secret(),
    ParamSpec::new(
        "username",
        ParamType::String,
        "Name shown as the sender, if the app allows it",
    ),
    ParamSpec::new(
        "icon_emoji",
        ParamType::String,
        "Emoji shown as the sender's icon, e.g. :rotating_light:",
    ),
    ParamSpec::new(
        "proxy",
        ParamType::Url,
        "HTTP(S) proxy for this webhook only",
    )
    .secret(),
    ParamSpec::new(
        "timeout_ms",
        ParamType::Integer,
        "Request timeout in milliseconds",
    )
    .default_int(10_000),
];

/// A Slack webhook's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackConfig {
    /// The incoming webhook URL (a `Secret`: `Debug` shows `******`).
    pub webhook: Secret,
    /// Sender name override.
    pub username: Option<String>,
    /// Sender icon override.
    pub icon_emoji: Option<String>,
    /// Proxy URL.
    pub proxy: Option<Secret>,
    /// Request timeout.
    pub timeout: Duration,
}

impl SlackConfig {
    /// Reads parameters that passed [`PARAMS`]; required ones are present, types are checked.
    pub fn from_params(p: &ValidParams) -> Result<Self, ParamError> {
        let timeout_ms = p.int("timeout_ms").unwrap_or(10_000);
        if !(1..=600_000).contains(&timeout_ms) {
            return Err(ParamError::new(
                "timeout_ms",
                "must be between 1 and 600000",
            ));
        }
        Ok(Self {
            webhook: Secret::new(p.required_str("webhook")?),
            username: p.str("username").map(str::to_owned),
            icon_emoji: p.str("icon_emoji").map(str::to_owned),
            proxy: p.secret("proxy"),
            timeout: Duration::from_millis(timeout_ms.unsigned_abs()),
        })
    }

    /// What the schema cannot check. Errors name the field and never echo the secret.
    pub(crate) fn webhook_url(&self) -> Result<Url, ParamError> {
        let url = Url::parse(self.webhook.expose().trim())
            .map_err(|e| ParamError::new("webhook", format!("is not a valid URL ({e})")))?;
        if url.path_segments().is_none_or(|mut s| s.all(str::is_empty)) {
            return Err(ParamError::new(
                "webhook",
                "must be the whole webhook URL, path included (copy it from the app's settings)",
            ));
        }
        Ok(url)
    }
}
