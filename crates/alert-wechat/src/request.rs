//! Alert → request body of the three send types, within WeCom's content limits
//! (protocols.md, "WeCom / WeChat Work").
//!
//! One convention for every send type, templates included: a markdown message carries the
//! alert's markdown body (its first line is already a heading); a text message carries the
//! title, a newline, then the plain-text body, because WeCom text messages have no title field
//! and the first line is what the notification preview shows.
//!
//! Bodies carry no credential: the access token and the robot's key go in the URL.
//!
//! ```
//! use alert_core::Alert;
//! use alert_wechat::request::{alert_content, app_message};
//! use alert_wechat::ShowType;
//!
//! let alert = Alert::plain("orders failed", "RUNNING → FAILED");
//! let body = app_message("alice|bob", 1_000_002, ShowType::Text, &alert_content(&alert, ShowType::Text));
//! assert_eq!(body["agentid"], 1_000_002);
//! assert_eq!(body["text"]["content"], "orders failed\nRUNNING → FAILED");
//! ```

use std::borrow::Cow;

use alert_core::template::{PlaceholderTemplate, PlaceholderValue};
use alert_core::text::{truncate_bytes, TRUNCATION_MARKER};
use alert_core::{Alert, ChannelError};
use serde::Serialize;
use serde_json::Value;

use crate::config::ShowType;

/// The content of a message for `alert`, before truncation: the markdown body, or the title, a
/// newline and the plain-text body.
pub fn alert_content(alert: &Alert, show_type: ShowType) -> String {
    match show_type {
        ShowType::Markdown => alert.markdown.clone(),
        ShowType::Text if alert.title.is_empty() => alert.text.clone(),
        ShowType::Text => format!("{}\n{}", alert.title, alert.text),
    }
}

/// Cuts `content` to `limit` bytes on a char boundary, ending with the truncation marker.
pub(crate) fn fit(content: &str, limit: usize) -> Cow<'_, str> {
    truncate_bytes(content, limit, TRUNCATION_MARKER)
}

/// `{"content": ...}`, the payload of text and markdown messages.
#[derive(Debug, Serialize)]
struct Content {
    content: String,
}

/// `msgtype` and its payload, shared by app and appchat messages.
#[derive(Debug, Serialize)]
#[serde(tag = "msgtype", rename_all = "lowercase")]
enum Message {
    /// `{"msgtype":"text","text":{"content":...}}`
    Text { text: Content },
    /// `{"msgtype":"markdown","markdown":{"content":...}}`
    Markdown { markdown: Content },
}

impl Message {
    /// A message of `show_type` with `content`, truncated to WeCom's limit.
    fn new(show_type: ShowType, content: &str) -> Self {
        let content = fit(content, show_type.content_limit()).into_owned();
        match show_type {
            ShowType::Text => Self::Text {
                text: Content { content },
            },
            ShowType::Markdown => Self::Markdown {
                markdown: Content { content },
            },
        }
    }
}

/// An app message (`message/send`). Parties and tags are not configurable, so they are empty.
#[derive(Debug, Serialize)]
struct AppMessage<'a> {
    touser: &'a str,
    toparty: &'static str,
    totag: &'static str,
    agentid: i64,
    #[serde(flatten)]
    message: Message,
    safe: u8,
}

/// A group chat message (`appchat/send`).
#[derive(Debug, Serialize)]
struct AppChatMessage<'a> {
    chatid: &'a str,
    #[serde(flatten)]
    message: Message,
    safe: u8,
}

/// The body of an app message (`message/send`) to `to_user` (see [`to_user`]) from the app
/// `agent_id`, with `content` cut to the limit of `show_type`.
pub fn app_message(to_user: &str, agent_id: i64, show_type: ShowType, content: &str) -> Value {
    to_json(&AppMessage {
        touser: to_user,
        toparty: "",
        totag: "",
        agentid: agent_id,
        message: Message::new(show_type, content),
        safe: 0,
    })
}

/// The body of a message to the app's group chat `chat_id` (`appchat/send`), with `content`
/// cut to the limit of `show_type`.
pub fn app_chat_message(chat_id: &str, show_type: ShowType, content: &str) -> Value {
    to_json(&AppChatMessage {
        chatid: chat_id,
        message: Message::new(show_type, content),
        safe: 0,
    })
}

/// The body of a group robot message (`webhook/send`) with `content` cut to the limit of
/// `show_type`; the mentions survive the cut (see [`Mentions`]).
pub fn robot_message(show_type: ShowType, content: &str, mentions: &Mentions) -> Value {
    to_json(&RobotMessage::new(show_type, content, mentions))
}

/// Serializes a typed body; it cannot fail (plain strings and numbers).
fn to_json(body: &impl Serialize) -> Value {
    serde_json::to_value(body).expect("request bodies serialize")
}

/// `touser` of app messages: ids joined by `|`; `@all` alone when it is among them (WeCom
/// ignores the others then anyway).
pub fn to_user(users: &[String]) -> String {
    if users.iter().any(|u| u == "@all") {
        return "@all".to_owned();
    }
    users.join("|")
}

/// A robot message (`webhook/send`).
#[derive(Debug, Serialize)]
#[serde(tag = "msgtype", rename_all = "lowercase")]
enum RobotMessage {
    /// Text, with mentions as lists.
    Text { text: RobotText },
    /// Markdown, with mentions written as `<@userid>` in the content.
    Markdown { markdown: Content },
}

/// The payload of a robot text message.
#[derive(Debug, Serialize)]
struct RobotText {
    content: String,
    mentioned_list: Vec<String>,
    mentioned_mobile_list: Vec<String>,
}

/// Who a robot message mentions.
///
/// Text messages list them (`mentioned_list`, with `@all` for everyone); markdown messages
/// write `<@userid>` at the end of the content and cannot mention everyone, so `all` is
/// ignored there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mentions {
    /// User ids to mention.
    pub users: Vec<String>,
    /// Mention everyone in the chat (text messages only).
    pub all: bool,
}

impl Mentions {
    /// Mentions of `users` (and of everyone with `all`).
    pub fn new(users: Vec<String>, all: bool) -> Self {
        Self { users, all }
    }

    /// What robot markdown appends to the content: `<@userid>` for each mentioned user.
    pub fn markdown_suffix(&self) -> String {
        if self.users.is_empty() {
            return String::new();
        }
        let tags: Vec<String> = self.users.iter().map(|u| format!("<@{u}>")).collect();
        format!("\n\n{}", tags.join(" "))
    }
}

impl RobotMessage {
    /// A robot message of `show_type`, truncated to WeCom's limit; mentions survive truncation.
    ///
    /// Robot markdown cannot mention everyone (`<@all>` is not a thing), so `mentions.all` is
    /// only used for text (the channel warns about it on every markdown delivery).
    fn new(show_type: ShowType, content: &str, mentions: &Mentions) -> Self {
        let limit = show_type.content_limit();
        match show_type {
            ShowType::Text => {
                let mut mentioned_list = mentions.users.clone();
                if mentions.all && !mentioned_list.iter().any(|u| u == "@all") {
                    mentioned_list.push("@all".to_owned());
                }
                Self::Text {
                    text: RobotText {
                        content: fit(content, limit).into_owned(),
                        mentioned_list,
                        mentioned_mobile_list: Vec::new(),
                    },
                }
            }
            ShowType::Markdown => {
                let suffix = mentions.markdown_suffix();
                let body = fit(content, limit.saturating_sub(suffix.len()));
                Self::Markdown {
                    markdown: Content {
                        content: fit(&format!("{body}{suffix}"), limit).into_owned(),
                    },
                }
            }
        }
    }

    /// The content as sent.
    #[cfg(test)]
    fn content(&self) -> &str {
        match self {
            Self::Text { text } => &text.content,
            Self::Markdown { markdown } => &markdown.content,
        }
    }
}

/// The values of a Dinky template's placeholders for one message.
fn placeholder_values<'a>(
    to_user: &'a str,
    agent_id: i64,
    show_type: ShowType,
    msg: &'a str,
) -> [(&'static str, PlaceholderValue<'a>); 4] {
    [
        ("toUser", PlaceholderValue::Str(to_user)),
        ("agentId", PlaceholderValue::Int(agent_id)),
        ("showType", PlaceholderValue::Str(show_type.as_str())),
        ("msg", PlaceholderValue::Str(msg)),
    ]
}

/// The content of a body (`body[msgtype].content`) and WeCom's limit for it, when the message
/// type is one with a known limit (text, markdown).
pub fn content_of(body: &Value) -> Option<(&str, usize)> {
    let msgtype = body["msgtype"].as_str()?;
    let limit = match msgtype {
        "text" => ShowType::Text.content_limit(),
        "markdown" => ShowType::Markdown.content_limit(),
        _ => return None,
    };
    Some((body[msgtype]["content"].as_str()?, limit))
}

/// How many bytes of the content a template adds around `{msg}`.
pub(crate) fn template_overhead(
    template: &PlaceholderTemplate,
    to_user: &str,
    agent_id: i64,
    show_type: ShowType,
) -> usize {
    template
        .render(&placeholder_values(to_user, agent_id, show_type, ""))
        .ok()
        .and_then(|body| content_of(&body).map(|(content, _)| content.len()))
        .unwrap_or(0)
}

/// Renders an app message through a user's Dinky template (protocols.md, "The send-message
/// template of Dinky"), with the placeholders `{toUser}`, `{agentId}`, `{showType}` and `{msg}`.
///
/// The template may add its own text around `{msg}`, so the message is cut by what the
/// rendered content exceeds the limit, and rendered again: a few rounds at most, since the
/// template's own text does not change.
pub fn templated_app_message(
    template: &PlaceholderTemplate,
    to_user: &str,
    agent_id: i64,
    show_type: ShowType,
    content: &str,
) -> Result<Value, ChannelError> {
    let render = |msg: &str| {
        template
            .render(&placeholder_values(to_user, agent_id, show_type, msg))
            .map_err(|e| ChannelError::permanent(format!("template: {}", e.message)))
    };
    let mut budget = show_type.content_limit();
    let mut body = render(&fit(content, budget))?;
    for _ in 0..3 {
        let over = match content_of(&body) {
            Some((sent, limit)) if sent.len() > limit && budget > 0 => sent.len() - limit,
            _ => break,
        };
        budget = budget.saturating_sub(over);
        body = render(&fit(content, budget))?;
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_content_starts_with_the_title() {
        let alert = Alert::plain("Job failed", "details");
        assert_eq!(alert_content(&alert, ShowType::Text), "Job failed\ndetails");
        assert_eq!(alert_content(&alert, ShowType::Markdown), "details");
        assert_eq!(alert_content(&Alert::plain("", "x"), ShowType::Text), "x");
    }

    #[test]
    fn at_all_wins_over_named_users() {
        assert_eq!(to_user(&["a".into(), "b".into()]), "a|b");
        assert_eq!(to_user(&["a".into(), "@all".into()]), "@all");
    }

    #[test]
    fn markdown_mentions_survive_truncation() {
        let mentions = Mentions {
            users: vec!["alice".into()],
            all: false,
        };
        let m = RobotMessage::new(ShowType::Markdown, &"告".repeat(3000), &mentions);
        let c = m.content();
        assert!(
            c.len() <= 4096 && c.ends_with("\n\n<@alice>"),
            "{}",
            &c[c.len() - 40..]
        );
        assert!(c.contains(TRUNCATION_MARKER));
    }

    #[test]
    fn template_text_around_msg_counts_toward_the_limit() {
        let t = PlaceholderTemplate::parse(
            r#"{"agentid":{agentId},"msgtype":"{showType}","{showType}":{"content":"PREFIX {msg}"}}"#,
            &placeholder_values("a", 1, ShowType::Text, "x"),
        )
        .unwrap();
        let body = templated_app_message(&t, "a", 1, ShowType::Text, &"é".repeat(2000)).unwrap();
        let (content, limit) = content_of(&body).unwrap();
        assert!(
            content.len() <= limit && content.starts_with("PREFIX "),
            "{}",
            content.len()
        );
        assert!(content.ends_with(TRUNCATION_MARKER));
    }
}
