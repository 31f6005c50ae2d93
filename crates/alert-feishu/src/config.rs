//! The bot's parameters: schema, typed configuration and validation.

use std::fmt;
use std::time::Duration;

use alert_core::{ParamError, ParamSpec, ParamType, Secret, ValidParams};
use url::Url;

/// How messages are shown in the chat (Feishu's `msg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ShowType {
    /// `msg_type: text`: title and plain-text body.
    Text,
    /// `msg_type: post`: rich text, a title and one paragraph per line.
    Post,
    /// `msg_type: interactive`: a card with a coloured header and the markdown body.
    #[default]
    Card,
}

impl ShowType {
    /// The `show_type` parameter value (`text`, `post`, `card`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Post => "post",
            Self::Card => "card",
        }
    }
}

impl fmt::Display for ShowType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parameter schema of the `feishu` kind.
pub static PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "webhook",
        ParamType::Url,
        "Bot webhook URL (https://open.feishu.cn/open-apis/bot/v2/hook/...; Lark: open.larksuite.com); the hook id is the bot's credential",
    )
    .required()
    .secret(),
    ParamSpec::new(
        "secret",
        ParamType::String,
        "Signing secret (签名校验) of the bot's security settings",
    )
    .secret(),
    ParamSpec::new(
        "keyword",
        ParamType::String,
        "Custom keyword of the bot's security settings; added to the message when it is missing",
    ),
    ParamSpec::new(
        "show_type",
        ParamType::Enum(&["text", "post", "card"]),
        "Message type: text, post (rich text) or card (interactive card with a coloured header)",
    )
    .default_str("card"),
    ParamSpec::new("at_all", ParamType::Bool, "Mention everybody in the group (@所有人)")
        .default_bool(false),
    ParamSpec::new(
        "at_users",
        ParamType::List,
        "Open ids (ou_...) or user ids of the members to mention",
    ),
    ParamSpec::new(
        "proxy",
        ParamType::Url,
        "HTTP(S) proxy for this bot only, e.g. http://user:password@host:3128",
    )
    .secret(),
    ParamSpec::new("timeout_ms", ParamType::Integer, "Request timeout in milliseconds")
        .default_int(10_000),
];

/// A Feishu bot's configuration, typed.
///
/// Build it directly for library use, or from JSON parameters through the registry:
///
/// ```
/// use alert_feishu::{FeishuConfig, ShowType};
/// let mut config = FeishuConfig::new("https://open.feishu.cn/open-apis/bot/v2/hook/0a1b");
/// config.show_type = ShowType::Text;
/// assert_eq!(config.show_type.as_str(), "text");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeishuConfig {
    /// Webhook URL; its last path segment is the bot's credential.
    pub webhook: Secret,
    /// Signing secret, if the bot signs.
    pub secret: Option<Secret>,
    /// Custom keyword, if the bot checks one.
    pub keyword: Option<String>,
    /// Text, post or card.
    pub show_type: ShowType,
    /// Mention everybody.
    pub at_all: bool,
    /// Open ids or user ids to mention.
    pub at_users: Vec<String>,
    /// Proxy URL, if any.
    pub proxy: Option<Secret>,
    /// Request timeout.
    pub timeout: Duration,
}

impl FeishuConfig {
    /// A configuration with only the webhook set; everything else at its default.
    pub fn new(webhook: impl Into<String>) -> Self {
        Self {
            webhook: Secret::new(webhook),
            secret: None,
            keyword: None,
            show_type: ShowType::Card,
            at_all: false,
            at_users: Vec::new(),
            proxy: None,
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
            secret: p.secret("secret"),
            keyword: p.str("keyword").map(str::to_owned),
            show_type: match p.str("show_type") {
                Some("text") => ShowType::Text,
                Some("post") => ShowType::Post,
                _ => ShowType::Card,
            },
            at_all: p.bool("at_all"),
            at_users: p.list("at_users"),
            proxy: p.secret("proxy"),
            timeout: Duration::from_millis(timeout_ms.unsigned_abs()),
        })
    }

    /// Checks what the schema cannot: the webhook is a bot hook with an id. Returns the parsed
    /// webhook. Errors never echo the webhook, which is the bot's credential.
    pub(crate) fn validate(&self) -> Result<Url, ParamError> {
        let url = Url::parse(self.webhook.expose().trim())
            .map_err(|e| ParamError::new("webhook", format!("is not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(ParamError::new(
                "webhook",
                "must be an http:// or https:// URL with a host",
            ));
        }
        if hook_id(&url).is_none() {
            return Err(ParamError::new(
                "webhook",
                "must end with /hook/<id> (copy the whole webhook URL from the bot's settings)",
            ));
        }
        if let Some(secret) = &self.secret {
            if secret.expose().trim().is_empty() {
                return Err(ParamError::new("secret", "must not be blank"));
            }
        }
        if let Some(keyword) = &self.keyword {
            if keyword.trim().is_empty() {
                return Err(ParamError::new("keyword", "must not be blank"));
            }
        }
        if self.at_users.iter().any(|u| u.trim().is_empty()) {
            return Err(ParamError::new("at_users", "must not contain blank ids"));
        }
        if self.timeout.is_zero() {
            return Err(ParamError::new("timeout_ms", "must be longer than zero"));
        }
        Ok(url)
    }
}

/// The bot's id: the path segment after `hook/`, when there is one.
pub(crate) fn hook_id(url: &Url) -> Option<&str> {
    let mut segments = url.path_segments()?;
    segments.by_ref().find(|s| *s == "hook")?;
    segments.next().filter(|id| !id.trim().is_empty())
}

/// The webhook with its hook id replaced by `***`, for logs and `Debug`.
pub(crate) fn redacted_webhook(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    let path: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let mut redacted = Vec::with_capacity(path.len());
    let mut after_hook = false;
    for segment in path {
        redacted.push(if after_hook { "***" } else { segment });
        after_hook = segment == "hook";
    }
    shown.set_path(&redacted.join("/"));
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(raw: &serde_json::Value) -> Result<FeishuConfig, ParamError> {
        FeishuConfig::from_params(&alert_core::params::validate(PARAMS, raw)?)
    }

    #[test]
    fn defaults_are_a_card_without_mentions() {
        let c = params(&json!({"webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/abc"}))
            .unwrap();
        assert_eq!(c.show_type, ShowType::Card);
        assert!(!c.at_all && c.at_users.is_empty() && c.secret.is_none());
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn webhook_must_name_a_hook_and_errors_do_not_echo_it() {
        for bad in [
            "https://open.feishu.cn/open-apis/bot/v2/hook/",
            "https://open.feishu.cn/open-apis/bot/v2/c0ffee",
        ] {
            let e = FeishuConfig::new(bad).validate().unwrap_err();
            assert_eq!(e.field, "webhook");
            assert!(!e.to_string().contains("c0ffee"), "{e}");
        }
    }

    #[test]
    fn redaction_hides_the_hook_id_and_credentials() {
        let url =
            Url::parse("https://u:pw@open.feishu.cn/open-apis/bot/v2/hook/s3cr3t-id?x=1").unwrap();
        assert_eq!(
            redacted_webhook(&url),
            "https://open.feishu.cn/open-apis/bot/v2/hook/***"
        );
    }
}
