//! The parameters of a WeCom instance: the schema the registry validates ([`PARAMS`]), and the
//! typed [`WeComConfig`] the channel is built from, with the checks that depend on `send_type`.
//!
//! Parameters that belong to another send type are ignored rather than rejected, so switching
//! `send_type` in a form does not force the user to clear fields first. `template` is the
//! exception: it changes the body, so silently dropping it would surprise.

use std::fmt;
use std::time::Duration;

use alert_core::template::{PlaceholderTemplate, PlaceholderValue};
use alert_core::{ParamError, ParamSpec, ParamType, Secret, ValidParams};
use url::Url;

/// WeCom's public API root; private deployments and tests point `base_url` elsewhere.
pub const DEFAULT_BASE_URL: &str = "https://qyapi.weixin.qq.com/cgi-bin";

/// The parameter schema of the `wechat` kind.
pub static PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "send_type",
        ParamType::Enum(&["app", "appchat", "robot"]),
        "How to send: as an app message to users (app), to a group chat created by the app (appchat), or through a group robot webhook (robot).",
    )
    .default_str("app"),
    ParamSpec::new(
        "corp_id",
        ParamType::String,
        "The corp id (企业ID) used to obtain access tokens; required for app and appchat.",
    ),
    ParamSpec::new(
        "secret",
        ParamType::String,
        "The app's secret (应用Secret) used to obtain access tokens; required for app and appchat.",
    )
    .secret(),
    ParamSpec::new(
        "agent_id",
        ParamType::Integer,
        "The app's AgentId that app messages are sent as; required for app.",
    ),
    ParamSpec::new(
        "users",
        ParamType::List,
        "User ids that receive app messages, or @all for everyone who can see the app.",
    )
    .default_list(&["@all"]),
    ParamSpec::new(
        "chat_id",
        ParamType::String,
        "The id of a group chat created by the same app; required for appchat.",
    ),
    ParamSpec::new(
        "webhook",
        ParamType::Url,
        "The group robot webhook URL (.../webhook/send?key=KEY); required for robot.",
    )
    .secret(),
    ParamSpec::new(
        "template",
        ParamType::Text,
        "Optional Dinky-style JSON body for app messages with the placeholders {toUser}, {agentId}, {showType} and {msg}.",
    ),
    ParamSpec::new(
        "show_type",
        ParamType::Enum(&["markdown", "text"]),
        "Whether messages are sent as markdown or as plain text.",
    )
    .default_str("markdown"),
    ParamSpec::new(
        "at_all",
        ParamType::Bool,
        "Whether robot text messages mention everyone in the chat (not possible in robot markdown).",
    )
    .default_bool(false),
    ParamSpec::new(
        "at_users",
        ParamType::List,
        "User ids that robot messages mention.",
    ),
    ParamSpec::new(
        "proxy",
        ParamType::Url,
        "HTTP(S) proxy URL for this instance's requests, optionally with user:password@.",
    )
    .secret(),
    ParamSpec::new(
        "base_url",
        ParamType::Url,
        "The WeCom API root for app and appchat, for private deployments.",
    )
    .default_str(DEFAULT_BASE_URL),
];

/// Which WeCom API an instance sends through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendType {
    /// App message (应用消息) to users: `message/send`.
    App,
    /// Group chat created by the app (群聊): `appchat/send`.
    AppChat,
    /// Group robot (群机器人): its webhook.
    Robot,
}

impl SendType {
    /// The `send_type` parameter value (`app`, `appchat`, `robot`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::AppChat => "appchat",
            Self::Robot => "robot",
        }
    }
}

impl fmt::Display for SendType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The message type: WeCom's `msgtype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ShowType {
    /// `markdown`: the alert's markdown body (limit 4096 bytes).
    #[default]
    Markdown,
    /// `text`: the alert's title and plain-text body (limit 2048 bytes).
    Text,
}

impl ShowType {
    /// The `msgtype` value (`markdown`, `text`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Markdown => "markdown",
            Self::Text => "text",
        }
    }

    /// WeCom's content limit in bytes of UTF-8 (protocols.md, "WeCom / WeChat Work": limits).
    pub fn content_limit(self) -> usize {
        match self {
            Self::Markdown => 4096,
            Self::Text => 2048,
        }
    }
}

impl fmt::Display for ShowType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What obtains an access token: one token is cached per (base URL, corp id, secret).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiCredentials {
    /// The API root, e.g. [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// The corp id (企业ID).
    pub corp_id: String,
    /// The app's secret.
    pub secret: Secret,
}

impl ApiCredentials {
    /// Credentials against WeCom's public API root.
    pub fn new(corp_id: impl Into<String>, secret: impl Into<Secret>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            corp_id: corp_id.into(),
            secret: secret.into(),
        }
    }
}

/// Where messages go, with what each send type needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Destination {
    /// App message to users.
    App {
        /// Token credentials.
        credentials: ApiCredentials,
        /// The app's AgentId.
        agent_id: i64,
        /// Recipient user ids, or `@all`.
        users: Vec<String>,
        /// Optional Dinky-style body template (protocols.md, "The send-message template of Dinky").
        template: Option<String>,
    },
    /// Group chat created by the app.
    AppChat {
        /// Token credentials.
        credentials: ApiCredentials,
        /// The chat's id.
        chat_id: String,
    },
    /// Group robot.
    Robot {
        /// The webhook URL; its `key` is the robot's only credential.
        webhook: Secret,
        /// Mention everyone (text messages only).
        at_all: bool,
        /// User ids to mention.
        at_users: Vec<String>,
    },
}

impl Destination {
    /// The send type this destination uses.
    pub fn send_type(&self) -> SendType {
        match self {
            Self::App { .. } => SendType::App,
            Self::AppChat { .. } => SendType::AppChat,
            Self::Robot { .. } => SendType::Robot,
        }
    }
}

/// A typed WeCom configuration, from parameters ([`WeComConfig::from_params`]) or built in code.
///
/// ```
/// use alert_wechat::{ShowType, WeComConfig};
/// let mut config = WeComConfig::app("ww0123", "app-secret", 1_000_002);
/// config.show_type = ShowType::Text;
/// assert_eq!(config.destination.send_type().as_str(), "app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WeComConfig {
    /// Where messages go.
    pub destination: Destination,
    /// Markdown or text.
    pub show_type: ShowType,
    /// HTTP(S) proxy for this instance only.
    pub proxy: Option<Secret>,
    /// Timeout of every request (not a parameter; [`alert_core::http::DEFAULT_TIMEOUT`] by
    /// default).
    pub timeout: Duration,
}

impl WeComConfig {
    fn with_destination(destination: Destination) -> Self {
        Self {
            destination,
            show_type: ShowType::default(),
            proxy: None,
            timeout: alert_core::http::DEFAULT_TIMEOUT,
        }
    }

    /// App messages to everyone who can see the app (`users = ["@all"]`), as markdown.
    pub fn app(corp_id: impl Into<String>, secret: impl Into<Secret>, agent_id: i64) -> Self {
        Self::with_destination(Destination::App {
            credentials: ApiCredentials::new(corp_id, secret),
            agent_id,
            users: vec!["@all".to_owned()],
            template: None,
        })
    }

    /// Messages to a group chat created by the app, as markdown.
    pub fn app_chat(
        corp_id: impl Into<String>,
        secret: impl Into<Secret>,
        chat_id: impl Into<String>,
    ) -> Self {
        Self::with_destination(Destination::AppChat {
            credentials: ApiCredentials::new(corp_id, secret),
            chat_id: chat_id.into(),
        })
    }

    /// Messages through a group robot webhook, without mentions, as markdown.
    pub fn robot(webhook: impl Into<Secret>) -> Self {
        Self::with_destination(Destination::Robot {
            webhook: webhook.into(),
            at_all: false,
            at_users: Vec::new(),
        })
    }

    /// Reads parameters that passed [`PARAMS`], checking what each send type requires.
    pub fn from_params(p: &ValidParams) -> Result<Self, ParamError> {
        let send_type = match p.str("send_type").unwrap_or("app") {
            "appchat" => SendType::AppChat,
            "robot" => SendType::Robot,
            _ => SendType::App,
        };
        let needed = |name: &str| {
            p.str(name).map(str::to_owned).ok_or_else(|| {
                ParamError::new(name, format!("is required when send_type is {send_type}"))
            })
        };
        let credentials = || -> Result<ApiCredentials, ParamError> {
            Ok(ApiCredentials {
                base_url: p.str("base_url").unwrap_or(DEFAULT_BASE_URL).to_owned(),
                corp_id: needed("corp_id")?,
                secret: Secret::new(needed("secret")?),
            })
        };
        if send_type != SendType::App && p.str("template").is_some() {
            return Err(ParamError::new(
                "template",
                format!("is only used when send_type is app, not {send_type}; remove it"),
            ));
        }
        let destination = match send_type {
            SendType::App => Destination::App {
                credentials: credentials()?,
                agent_id: p.int("agent_id").ok_or_else(|| {
                    ParamError::new("agent_id", "is required when send_type is app")
                })?,
                users: p.list("users"),
                template: p.str("template").map(str::to_owned),
            },
            SendType::AppChat => Destination::AppChat {
                credentials: credentials()?,
                chat_id: needed("chat_id")?,
            },
            SendType::Robot => Destination::Robot {
                webhook: Secret::new(needed("webhook")?),
                at_all: p.bool("at_all"),
                at_users: p.list("at_users"),
            },
        };
        Ok(Self {
            destination,
            show_type: match p.str("show_type") {
                Some("text") => ShowType::Text,
                _ => ShowType::Markdown,
            },
            proxy: p.secret("proxy"),
            timeout: alert_core::http::DEFAULT_TIMEOUT,
        })
    }
}

/// Checks that `field` is not blank (typed configs skip the schema).
pub(crate) fn non_blank(field: &str, value: &str) -> Result<(), ParamError> {
    if value.trim().is_empty() {
        return Err(ParamError::new(field, "must not be empty"));
    }
    Ok(())
}

/// Parses an `http(s)` URL given in `field`; the error never echoes the value, which may carry
/// a key.
pub(crate) fn http_url(field: &str, raw: &str) -> Result<Url, ParamError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ParamError::new(field, format!("is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().filter(|h| !h.is_empty()).is_none()
    {
        return Err(ParamError::new(
            field,
            "must be an http:// or https:// URL with a host",
        ));
    }
    Ok(url)
}

/// `{base}/{name}`: one API of the root `base` (whatever query `base` has is dropped).
pub(crate) fn api_endpoint(base: &Url, name: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}/{name}", base.path().trim_end_matches('/')));
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// The robot webhook: an `http(s)` URL carrying the robot's `key`.
pub(crate) fn webhook_url(raw: &Secret) -> Result<Url, ParamError> {
    let url = http_url("webhook", raw.expose())?;
    if !url.query_pairs().any(|(k, v)| k == "key" && !v.is_empty()) {
        return Err(ParamError::new(
            "webhook",
            "must carry the robot's key (…/webhook/send?key=KEY, as shown in the robot's settings)",
        ));
    }
    Ok(url)
}

/// A sample message for checking templates: quotes, a backslash, a newline and a tab, which
/// break a template that does not quote `{msg}` as a JSON string.
const SAMPLE_MSG: &str = "sample \"alert\" C:\\flink\n\tline 2";

/// Parses a Dinky-style template and checks what it renders to (protocols.md, "The
/// send-message template of Dinky"): JSON with a numeric `agentid` and a `msgtype`.
pub(crate) fn app_template(
    source: &str,
    agent_id: i64,
    show_type: ShowType,
) -> Result<PlaceholderTemplate, ParamError> {
    if !source.contains("{msg}") {
        return Err(ParamError::new(
            "template",
            "does not use {msg}, so the alert would not appear in the message",
        ));
    }
    let values = [
        ("toUser", PlaceholderValue::Str("alice|bob")),
        ("agentId", PlaceholderValue::Int(agent_id)),
        ("showType", PlaceholderValue::Str(show_type.as_str())),
        ("msg", PlaceholderValue::Str(SAMPLE_MSG)),
    ];
    let template = PlaceholderTemplate::parse(source, &values)
        .map_err(|e| ParamError::new("template", e.message))?;
    let sample = template
        .render(&values)
        .map_err(|e| ParamError::new("template", e.message))?;
    if !sample.is_object() {
        return Err(ParamError::new("template", "must render to a JSON object"));
    }
    if !sample["agentid"].is_null() && !sample["agentid"].is_i64() {
        return Err(ParamError::new(
            "template",
            "renders agentid as a string; WeCom wants a number: write {agentId} without quotes",
        ));
    }
    if !sample["msgtype"].is_string() {
        return Err(ParamError::new(
            "template",
            "renders no \"msgtype\"; add \"msgtype\":\"{showType}\"",
        ));
    }
    Ok(template)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(raw: &serde_json::Value) -> Result<WeComConfig, ParamError> {
        WeComConfig::from_params(&alert_core::params::validate(PARAMS, raw)?)
    }

    #[test]
    fn every_param_has_a_one_sentence_description() {
        for spec in PARAMS {
            let d = spec.description;
            assert!(
                d.ends_with('.') && d.matches(". ").count() == 0,
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn defaults_make_an_app_with_markdown_to_everyone() {
        let c = params(&json!({"corp_id":"ww1","secret":"s","agent_id":"1000002"})).unwrap();
        let Destination::App {
            credentials,
            agent_id,
            users,
            template,
        } = c.destination
        else {
            panic!("not an app: {c:?}");
        };
        assert_eq!(credentials.base_url, DEFAULT_BASE_URL);
        assert_eq!(
            (agent_id, users, template),
            (1_000_002, vec!["@all".into()], None)
        );
        assert_eq!(c.show_type, ShowType::Markdown);
    }

    #[test]
    fn fields_of_other_send_types_are_ignored_but_template_is_not() {
        let c = params(
            &json!({"send_type":"robot","webhook":"https://h/webhook/send?key=k","corp_id":"ww1"}),
        )
        .unwrap();
        assert_eq!(c.destination.send_type(), SendType::Robot);
        let e = params(&json!({"send_type":"robot","webhook":"https://h/?key=k","template":"{}"}))
            .unwrap_err();
        assert_eq!(e.field, "template");
    }

    #[test]
    fn templates_are_checked_for_json_and_shape() {
        let ok = r#"{"touser":"{toUser}","agentid":{agentId},"msgtype":"{showType}","{showType}":{"content":"{msg}"}}"#;
        assert!(app_template(ok, 1, ShowType::Text).is_ok());
        let quoted_agent = ok.replace("{agentId}", "\"{agentId}\"");
        let e = app_template(&quoted_agent, 1, ShowType::Text).unwrap_err();
        assert!(e.message.contains("agentid"), "{e}");
        let no_msg = ok.replace("{msg}", "fixed");
        assert!(app_template(&no_msg, 1, ShowType::Text)
            .unwrap_err()
            .message
            .contains("{msg}"));
        let unquoted_msg = ok.replace("\"{msg}\"", "{msg}");
        let e = app_template(&unquoted_msg, 1, ShowType::Text).unwrap_err();
        assert!(e.message.contains("column"), "{e}");
    }

    #[test]
    fn webhook_must_carry_a_key_and_errors_do_not_echo_it() {
        let e = webhook_url(&Secret::new("https://h/webhook/send?token=abc")).unwrap_err();
        assert_eq!(e.field, "webhook");
        assert!(!e.to_string().contains("abc"), "{e}");
        assert!(webhook_url(&Secret::new("https://h/webhook/send?key=abc")).is_ok());
        assert_eq!(
            http_url("base_url", "ftp://h").unwrap_err().field,
            "base_url"
        );
    }
}
