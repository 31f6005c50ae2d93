//! # alert-wechat
//!
//! The `wechat` channel plugin: sends alerts to WeCom (WeChat Work, 企业微信) in one of three
//! ways, chosen by the `send_type` parameter (protocols.md, "WeCom / WeChat Work"):
//!
//! | `send_type` | WeCom API | authorised by | default pace |
//! |---|---|---|---|
//! | `app` | app message to users, `message/send` | access token from `corp_id` + `secret` | none |
//! | `appchat` | group chat created by the app, `appchat/send` | access token | none |
//! | `robot` | group robot, its webhook | the `key` in the webhook URL | 20 / minute |
//!
//! - **Content.** Markdown messages carry the alert's markdown body; text messages carry the
//!   title, a newline and the plain-text body (a Dinky `template` receives the same as `{msg}`).
//!   Content over WeCom's limit (text 2048 bytes, markdown 4096) is cut on a char boundary and
//!   ends with [`alert_core::text::TRUNCATION_MARKER`] before it is sent.
//! - **Tokens.** Access tokens are cached process-wide per (base URL, corp id, secret) until
//!   shortly before they expire, and fetched once for all sends racing on an empty cache. When
//!   WeCom rejects a token (40014, 42001, 41001) the send refreshes it once and retries once.
//! - **Mentions.** Robot text messages mention `at_users` (and everyone with `at_all`); robot
//!   markdown mentions `at_users` as `<@userid>` at the end of the content, and cannot mention
//!   everyone: `at_all` is then ignored and each delivery carries a warning saying so.
//! - **Outcomes.** Answers are classified by `errcode` ([`alert_core::ErrorKind`]); users WeCom
//!   could not reach (`invaliduser`, ...) become warnings of a delivery. Content is cut to the
//!   limit before the first attempt, so a "too long" answer (40058 over the limit, which only a
//!   template's own text can cause) is reported as `TooLong` rather than resent.
//! - **Secrets.** The corp secret, tokens, the webhook key and the proxy's password are held as
//!   [`Secret`] and never appear in `Debug`, `Display` or error messages.
//!
//! Linking this crate registers the kind `"wechat"` ([`DESCRIPTOR`]) in
//! [`alert_core::registry()`]; [`WeComChannel::new`] builds a channel from a typed
//! [`WeComConfig`], with no server and no other channel compiled in:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use alert_core::{Alert, Channel};
//! use alert_wechat::{WeComChannel, WeComConfig};
//!
//! // From parameters, as the server stores them:
//! let robot = alert_wechat::DESCRIPTOR.build_channel(&serde_json::json!({
//!     "send_type": "robot",
//!     "webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY",
//!     "at_users": ["zhangsan"],
//! }))?;
//! robot.send(&Alert::plain("orders failed", "RUNNING → FAILED")).await?;
//!
//! // Or typed, from code:
//! let app = WeComChannel::new(WeComConfig::app("ww0123456789", "app-secret", 1_000_002))?;
//! let delivered = app.send(&Alert::plain("orders failed", "RUNNING → FAILED")).await?;
//! for warning in delivered.warnings {
//!     eprintln!("{warning}");
//! }
//! # Ok(()) }
//! ```
//!
//! ## Trying it
//!
//! `examples/send.rs` sends one message from environment variables (its header lists them).
//! Against the local WeCom mock of `alert-testkit`, which accepts the corp, app, users
//! (`alice`, `bob`), chat (`chat-ops`) and robot key it prints at start:
//!
//! ```sh
//! cargo run -p alert-testkit --bin mock-wecom -- --port 9001 &
//!
//! # a group robot
//! WECOM_WEBHOOK='http://127.0.0.1:9001/webhook/send?key=mock-robot-key-77c1' \
//!     cargo run -p alert-wechat --example send_wechat -- "job orders failed"
//!
//! # an app message; eve is not a member, so it is delivered with a warning `invaliduser: eve`
//! WECOM_BASE_URL=http://127.0.0.1:9001 WECOM_CORP_ID=ww-mock-corp \
//! WECOM_SECRET=mock-corp-secret-3f9a WECOM_AGENT_ID=1000002 WECOM_USERS='alice|eve' \
//!     cargo run -p alert-wechat --example send_wechat -- "job orders failed"
//!
//! # the app's group chat, as text
//! WECOM_BASE_URL=http://127.0.0.1:9001 WECOM_CORP_ID=ww-mock-corp \
//! WECOM_SECRET=mock-corp-secret-3f9a WECOM_CHAT_ID=chat-ops WECOM_SHOW_TYPE=text \
//!     cargo run -p alert-wechat --example send_wechat -- "job orders failed"
//! ```
//!
//! Against WeCom itself, leave out `WECOM_BASE_URL` and use the real webhook or credentials.
//! `benches/wechat.rs` measures rendering an alert and building the body of each send type
//! (`cargo bench -p alert-wechat --bench wechat`).

// The README (the crate's page on crates.io) is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod config;
pub mod request;
pub mod response;
pub mod token;

use std::fmt;
use std::sync::Arc;

use alert_core::channel::RequestPreview;
use alert_core::template::PlaceholderTemplate;
use alert_core::text::redact_url;
use alert_core::{
    async_trait, Alert, Channel, ChannelDescriptor, ChannelError, ErrorKind, ParamError, Secret,
    SendResult, ValidParams,
};
use serde_json::Value;
use url::Url;

pub use config::{
    ApiCredentials, Destination, SendType, ShowType, WeComConfig, DEFAULT_BASE_URL, PARAMS,
};

use request::Mentions;
use response::{classify, Answer, Call, ContentSize};
use token::{AccessToken, TokenSource};

/// The plugin kind, stored with every instance.
pub const KIND: &str = "wechat";

/// Default pace of a robot instance: WeCom allows 20 messages per minute per robot.
pub const ROBOT_RATE_PER_MINUTE: u32 = 20;

const ROBOT_MARKDOWN_AT_ALL_WARNING: &str =
    "at_all is ignored: WeCom robot markdown messages cannot mention everyone; set show_type to text to mention everyone";

/// The plugin's descriptor (also registered through `inventory`).
///
/// ```
/// let d = &alert_wechat::DESCRIPTOR;
/// assert_eq!((d.kind, d.name), ("wechat", "WeCom"));
/// ```
pub const DESCRIPTOR: ChannelDescriptor = ChannelDescriptor::new(
    KIND,
    "WeCom",
    "WeCom (WeChat Work, 企业微信): app messages to users, app group chats, or group robots.",
    PARAMS,
    build_channel,
)
.with_default_rate(default_rate_per_minute);

alert_core::inventory::submit! { DESCRIPTOR }

fn build_channel(params: &ValidParams) -> Result<Arc<dyn Channel>, ParamError> {
    let config = WeComConfig::from_params(params)?;
    Ok(Arc::new(WeComChannel::new(config)?))
}

/// Robots are limited to 20 messages a minute; apps and chats have no per-instance limit.
fn default_rate_per_minute(params: &ValidParams) -> Option<u32> {
    (params.str("send_type") == Some("robot")).then_some(ROBOT_RATE_PER_MINUTE)
}

/// A configured WeCom destination.
///
/// Cheap to share (`Arc`); concurrent sends share one HTTP client and, for app and appchat,
/// one cached access token.
pub struct WeComChannel {
    client: alert_core::http::HttpClient,
    show_type: ShowType,
    route: Route,
    /// The bytes of an alert body that fit in one message: WeCom's limit less what this
    /// instance adds itself (robot markdown mentions, a template's own text).
    body_budget: usize,
}

/// A destination with everything resolved for sending.
enum Route {
    App {
        tokens: TokenSource,
        send_url: Url,
        agent_id: i64,
        to_user: String,
        template: Option<PlaceholderTemplate>,
    },
    AppChat {
        tokens: TokenSource,
        send_url: Url,
        chat_id: String,
    },
    Robot {
        webhook: Secret,
        mentions: Mentions,
    },
}

impl WeComChannel {
    /// Builds a channel from a typed configuration, checking what the parameter schema cannot:
    /// non-blank fields, URLs, the template, the proxy.
    pub fn new(config: WeComConfig) -> Result<Self, ParamError> {
        if config.timeout.is_zero() {
            return Err(ParamError::new("timeout", "must be longer than zero"));
        }
        let client = alert_core::http::HttpClient::new(config.timeout, config.proxy.as_ref())?;
        let route = match config.destination {
            Destination::App {
                credentials,
                agent_id,
                users,
                template,
            } => {
                let (tokens, base) = token_source(&credentials)?;
                if agent_id <= 0 {
                    return Err(ParamError::new("agent_id", "must be a positive number"));
                }
                if users.is_empty() || users.iter().any(|u| u.trim().is_empty()) {
                    return Err(ParamError::new(
                        "users",
                        "must list user ids, or @all for everyone who can see the app",
                    ));
                }
                let template = template
                    .map(|t| config::app_template(&t, agent_id, config.show_type))
                    .transpose()?;
                Route::App {
                    tokens,
                    send_url: config::api_endpoint(&base, "message/send"),
                    agent_id,
                    to_user: request::to_user(&users),
                    template,
                }
            }
            Destination::AppChat {
                credentials,
                chat_id,
            } => {
                let (tokens, base) = token_source(&credentials)?;
                config::non_blank("chat_id", &chat_id)?;
                Route::AppChat {
                    tokens,
                    send_url: config::api_endpoint(&base, "appchat/send"),
                    chat_id,
                }
            }
            Destination::Robot {
                webhook,
                at_all,
                at_users,
            } => {
                let webhook = Secret::new(config::webhook_url(&webhook)?.as_str());
                Route::Robot {
                    webhook,
                    mentions: Mentions {
                        users: at_users,
                        all: at_all,
                    },
                }
            }
        };
        let limit = config.show_type.content_limit();
        let added = match &route {
            Route::App {
                template: Some(t),
                to_user,
                agent_id,
                ..
            } => request::template_overhead(t, to_user, *agent_id, config.show_type),
            Route::Robot { mentions, .. } if config.show_type == ShowType::Markdown => {
                mentions.markdown_suffix().len()
            }
            _ => 0,
        };
        Ok(Self {
            client,
            show_type: config.show_type,
            route,
            body_budget: limit.saturating_sub(added),
        })
    }

    /// Builds a channel from JSON parameters, validated against [`PARAMS`].
    pub fn from_json(params: &Value) -> Result<Self, ParamError> {
        Self::new(WeComConfig::from_params(&DESCRIPTOR.validate(params)?)?)
    }

    /// The body that would be sent for `alert` (for previews, tests and benches); it carries no
    /// credential (the access token and the robot's key go in the URL). Fails only when a
    /// Dinky template cannot render the alert.
    pub fn body(&self, alert: &Alert) -> Result<Value, ChannelError> {
        let content = request::alert_content(alert, self.show_type);
        Ok(match &self.route {
            Route::App {
                agent_id,
                to_user,
                template: Some(t),
                ..
            } => request::templated_app_message(t, to_user, *agent_id, self.show_type, &content)?,
            Route::App {
                agent_id, to_user, ..
            } => request::app_message(to_user, *agent_id, self.show_type, &content),
            Route::AppChat { chat_id, .. } => {
                request::app_chat_message(chat_id, self.show_type, &content)
            }
            Route::Robot { mentions, .. } => {
                request::robot_message(self.show_type, &content, mentions)
            }
        })
    }

    /// The send type of this channel.
    pub fn send_type(&self) -> SendType {
        match self.route {
            Route::App { .. } => SendType::App,
            Route::AppChat { .. } => SendType::AppChat,
            Route::Robot { .. } => SendType::Robot,
        }
    }

    /// Markdown or text.
    pub fn show_type(&self) -> ShowType {
        self.show_type
    }

    /// Sends a token-authorised body; on a rejected token, refreshes once and retries once.
    async fn send_with_token(&self, tokens: &TokenSource, url: &Url, body: &Value) -> SendResult {
        let call = Call::TokenSend(content_size(body));
        let token = tokens.get(&self.client).await?;
        match self.post_with_token(url, &token, body, call).await {
            Err(e) if e.kind == ErrorKind::RefreshAuth => {
                tokens.invalidate(&token).await;
                let fresh = tokens.get(&self.client).await?;
                self.post_with_token(url, &fresh, body, call)
                    .await
                    .map_err(|e| match e.kind {
                        ErrorKind::RefreshAuth => {
                            let mut e = e;
                            e.kind = ErrorKind::Permanent;
                            e.message =
                                format!("access token rejected after refresh: {}", e.message);
                            e
                        }
                        _ => e,
                    })
            }
            other => other,
        }
    }

    async fn post_with_token(
        &self,
        url: &Url,
        token: &AccessToken,
        body: &Value,
        call: Call,
    ) -> SendResult {
        let mut url = url.clone();
        url.query_pairs_mut()
            .append_pair("access_token", token.expose());
        self.post(&url, body, call).await
    }

    async fn post(&self, url: &Url, body: &Value, call: Call) -> SendResult {
        let body = serde_json::to_vec(body)
            .map_err(|e| ChannelError::permanent(format!("body could not be encoded ({e})")))?;
        let answer: Answer = self.client.post_json(url, body).await?;
        classify(&answer, call)
    }

    async fn send_robot(&self, webhook: &Secret, mentions: &Mentions, body: &Value) -> SendResult {
        let call = Call::RobotSend(content_size(body));
        // Checked when the instance was built; the error never echoes the key.
        let webhook = Url::parse(webhook.expose())
            .map_err(|_| ChannelError::permanent("`webhook` is not a valid URL"))?;
        let mut delivered = self.post(&webhook, body, call).await?;
        if mentions.all && self.show_type == ShowType::Markdown {
            delivered
                .warnings
                .push(ROBOT_MARKDOWN_AT_ALL_WARNING.to_owned());
        }
        Ok(delivered)
    }
}

/// The token source and API root of app and appchat credentials.
fn token_source(credentials: &ApiCredentials) -> Result<(TokenSource, Url), ParamError> {
    config::non_blank("corp_id", &credentials.corp_id)?;
    config::non_blank("secret", credentials.secret.expose())?;
    let base = config::http_url("base_url", &credentials.base_url)?;
    let tokens = TokenSource::new(&base, credentials.corp_id.trim(), &credentials.secret);
    Ok((tokens, base))
}

/// The size of the content a body carries, for telling "too long" apart (errcode 40058).
fn content_size(body: &Value) -> ContentSize {
    request::content_of(body).map_or_else(ContentSize::default, |(content, limit)| ContentSize {
        bytes: content.len(),
        limit: Some(limit),
    })
}

#[async_trait]
impl Channel for WeComChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// WeCom's content limit (text 2048 bytes, markdown 4096) less what this instance adds.
    /// A text message also carries the alert's title and a newline within the same budget.
    fn max_message_bytes(&self) -> Option<usize> {
        Some(self.body_budget)
    }

    /// The send URL (the access token or the robot's key redacted) and the body; `None` when a
    /// Dinky template cannot render the alert (the send would fail the same way).
    fn preview(&self, alert: &Alert) -> Option<RequestPreview> {
        let body = self.body(alert).ok()?;
        let url = match &self.route {
            Route::App { send_url, .. } | Route::AppChat { send_url, .. } => {
                let mut url = send_url.clone();
                url.query_pairs_mut()
                    .append_pair("access_token", alert_core::secret::MASK);
                url.to_string()
            }
            Route::Robot { webhook, .. } => webhook.expose().to_owned(),
        };
        Some(RequestPreview::new("POST", &url, body))
    }

    async fn send(&self, alert: &Alert) -> SendResult {
        let body = self.body(alert)?;
        match &self.route {
            Route::App {
                tokens, send_url, ..
            }
            | Route::AppChat {
                tokens, send_url, ..
            } => self.send_with_token(tokens, send_url, &body).await,
            Route::Robot { webhook, mentions } => self.send_robot(webhook, mentions, &body).await,
        }
    }
}

/// Shows the destination without secrets: the webhook's key and the proxy are masked.
impl fmt::Debug for WeComChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("WeComChannel");
        d.field("send_type", &self.send_type())
            .field("show_type", &self.show_type);
        match &self.route {
            Route::App {
                tokens,
                agent_id,
                to_user,
                template,
                ..
            } => d
                .field("tokens", tokens)
                .field("agent_id", agent_id)
                .field("to_user", to_user)
                .field(
                    "template",
                    &template.as_ref().map(PlaceholderTemplate::source),
                ),
            Route::AppChat {
                tokens, chat_id, ..
            } => d.field("tokens", tokens).field("chat_id", chat_id),
            Route::Robot { webhook, mentions } => d
                .field("webhook", &redact_url(webhook.expose()))
                .field("at_users", &mentions.users)
                .field("at_all", &mentions.all),
        };
        d.finish_non_exhaustive()
    }
}

/// One line for logs and lists, e.g. `WeCom app 1000002 → @all (markdown)`.
impl fmt::Display for WeComChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.route {
            Route::App {
                agent_id, to_user, ..
            } => write!(f, "WeCom app {agent_id} → {to_user}")?,
            Route::AppChat { chat_id, .. } => write!(f, "WeCom appchat → {chat_id}")?,
            Route::Robot { webhook, .. } => {
                write!(f, "WeCom robot {}", redact_url(webhook.expose()))?;
            }
        }
        write!(f, " ({})", self.show_type)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn registered_once_with_a_robot_pace() {
        let d = &DESCRIPTOR;
        assert_eq!(d.params.len(), 13);
        let robot = d
            .validate(&json!({"send_type":"robot","webhook":"https://h/webhook/send?key=k"}))
            .unwrap();
        assert_eq!((d.default_rate_per_minute)(&robot), Some(20));
        let app = d
            .validate(&json!({"corp_id":"ww","secret":"s","agent_id":1}))
            .unwrap();
        assert_eq!((d.default_rate_per_minute)(&app), None);
        let chat = d
            .validate(&json!({"send_type":"appchat","corp_id":"ww","secret":"s","chat_id":"c"}))
            .unwrap();
        assert_eq!((d.default_rate_per_minute)(&chat), None);
        assert_eq!(
            alert_core::registry().get(KIND).map(|d| d.name).ok(),
            Some("WeCom")
        );
    }

    #[test]
    fn message_budget_leaves_room_for_what_the_instance_adds() {
        let plain = WeComChannel::new(WeComConfig::robot("https://h/webhook/send?key=k")).unwrap();
        assert_eq!(plain.max_message_bytes(), Some(4096));
        let mut mentions = WeComConfig::robot("https://h/webhook/send?key=k");
        if let Destination::Robot { at_users, .. } = &mut mentions.destination {
            at_users.push("alice".into());
        }
        let mentions = WeComChannel::new(mentions).unwrap();
        assert_eq!(
            mentions.max_message_bytes(),
            Some(4096 - "\n\n<@alice>".len())
        );
        let mut templated = WeComConfig::app("ww", "s", 1);
        templated.show_type = ShowType::Text;
        if let Destination::App { template, .. } = &mut templated.destination {
            *template = Some(
                r#"{"agentid":{agentId},"msgtype":"text","text":{"content":"告警: {msg}"}}"#.into(),
            );
        }
        let templated = WeComChannel::new(templated).unwrap();
        assert_eq!(templated.max_message_bytes(), Some(2048 - "告警: ".len()));
    }

    #[test]
    fn display_names_the_destination_without_secrets() {
        let robot =
            WeComChannel::new(WeComConfig::robot("https://h/webhook/send?key=k3y-v4lue")).unwrap();
        assert_eq!(
            robot.to_string(),
            "WeCom robot https://h/webhook/send?key=*** (markdown)"
        );
        let app = WeComChannel::new(WeComConfig::app("ww", "s", 1_000_002)).unwrap();
        assert_eq!(app.to_string(), "WeCom app 1000002 → @all (markdown)");
    }
}
