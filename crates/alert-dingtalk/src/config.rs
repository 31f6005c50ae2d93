//! The robot's parameters: schema, typed configuration and validation.

use std::time::Duration;

use alert_core::{ParamError, ParamSpec, ParamType, Secret, ValidParams};
use url::Url;

/// How messages are shown in the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ShowType {
    /// `msgtype: markdown` (title + markdown text).
    #[default]
    Markdown,
    /// `msgtype: text`.
    Text,
}

/// The parameter schema of the `dingtalk` kind.
pub static PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "webhook",
        ParamType::Url,
        "Robot webhook URL (https://oapi.dingtalk.com/robot/send?access_token=...); it carries the robot's token",
    )
    .required()
    .secret(),
    ParamSpec::new(
        "keyword",
        ParamType::String,
        "Custom keyword of the robot's security settings; added to the message when it is missing",
    ),
    ParamSpec::new("secret", ParamType::String, "Signing secret (加签) of the robot, starting with SEC").secret(),
    ParamSpec::new("proxy", ParamType::Url, "HTTP(S) proxy for this robot only, e.g. http://user:password@host:3128")
        .secret(),
    ParamSpec::new("at_all", ParamType::Bool, "Mention everybody in the group (@all)").default_bool(false),
    ParamSpec::new("at_mobiles", ParamType::List, "Mobile numbers to mention; they also appear as @mobile in the text"),
    ParamSpec::new("at_user_ids", ParamType::List, "DingTalk user ids to mention"),
    ParamSpec::new("show_type", ParamType::Enum(&["markdown", "text"]), "Message type: markdown or text")
        .default_str("markdown"),
    ParamSpec::new("timeout_ms", ParamType::Integer, "Request timeout in milliseconds").default_int(10_000),
];

/// A DingTalk robot's configuration, typed.
///
/// Build it directly for library use, or from JSON parameters through the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DingTalkConfig {
    /// Webhook URL with `access_token`.
    pub webhook: Secret,
    /// Custom keyword, if the robot checks one.
    pub keyword: Option<String>,
    /// Signing secret, if the robot signs.
    pub secret: Option<Secret>,
    /// Proxy URL, if any.
    pub proxy: Option<Secret>,
    /// Mention everybody.
    pub at_all: bool,
    /// Mobiles to mention.
    pub at_mobiles: Vec<String>,
    /// User ids to mention.
    pub at_user_ids: Vec<String>,
    /// Markdown or text.
    pub show_type: ShowType,
    /// Request timeout.
    pub timeout: Duration,
}

impl DingTalkConfig {
    /// A configuration with only the webhook set; everything else at its default.
    pub fn new(webhook: impl Into<String>) -> Self {
        Self {
            webhook: Secret::new(webhook),
            keyword: None,
            secret: None,
            proxy: None,
            at_all: false,
            at_mobiles: Vec::new(),
            at_user_ids: Vec::new(),
            show_type: ShowType::Markdown,
            timeout: alert_core::http::DEFAULT_TIMEOUT,
        }
    }

    /// Reads parameters that passed [`PARAMS`].
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
            keyword: p.str("keyword").map(str::to_owned),
            secret: p.secret("secret"),
            proxy: p.secret("proxy"),
            at_all: p.bool("at_all"),
            at_mobiles: p.list("at_mobiles"),
            at_user_ids: p.list("at_user_ids"),
            show_type: if p.str("show_type") == Some("text") {
                ShowType::Text
            } else {
                ShowType::Markdown
            },
            timeout: Duration::from_millis(timeout_ms.unsigned_abs()),
        })
    }

    /// Checks what the schema cannot: the webhook carries a token, the secret looks like one.
    /// Returns the parsed webhook.
    pub(crate) fn validate(&self) -> Result<Url, ParamError> {
        let url = Url::parse(self.webhook.expose().trim())
            .map_err(|e| ParamError::new("webhook", format!("is not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ParamError::new(
                "webhook",
                "must be an http:// or https:// URL",
            ));
        }
        let has_token = url
            .query_pairs()
            .any(|(k, v)| k == "access_token" && !v.trim().is_empty());
        if !has_token {
            return Err(ParamError::new(
                "webhook",
                "must carry the robot's access_token query parameter (copy the whole webhook URL from the robot's settings)",
            ));
        }
        if let Some(secret) = &self.secret {
            if !secret.expose().starts_with("SEC") {
                return Err(ParamError::new(
                    "secret",
                    "must be the robot's signing secret, which starts with SEC",
                ));
            }
        }
        if let Some(keyword) = &self.keyword {
            if keyword.trim().is_empty() {
                return Err(ParamError::new("keyword", "must not be blank"));
            }
        }
        Ok(url)
    }
}
