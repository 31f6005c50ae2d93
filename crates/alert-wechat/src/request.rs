//! Request bodies of the three send types, and what goes into them
//! (protocols.md, "WeCom / WeChat Work").
//!
//! One convention for every send type, templates included: a markdown message carries the
//! alert's markdown body (its first line is already a heading); a text message carries the
//! title, a newline, then the plain-text body, because WeCom text messages have no title field
//! and the first line is what the notification preview shows.

use std::borrow::Cow;

use alert_core::template::{PlaceholderTemplate, PlaceholderValue};
use alert_core::text::{truncate_bytes, TRUNCATION_MARKER};
use alert_core::{Alert, ChannelError};
use serde::Serialize;
use serde_json::Value;

use crate::config::ShowType;

/// The content of a message for `alert`, before truncation.
pub(crate) fn alert_content(alert: &Alert, show_type: ShowType) -> String {
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
pub(crate) struct Content {
    content: String,
}

/// `msgtype` and its payload, shared by app and appchat messages.
#[derive(Debug, Serialize)]
#[serde(tag = "msgtype", rename_all = "lowercase")]
pub(crate) enum Message {
    /// `{"msgtype":"text","text":{"content":...}}`
    Text { text: Content },
    /// `{"msgtype":"markdown","markdown":{"content":...}}`
    Markdown { markdown: Content },
}

impl Message {
    /// A message of `show_type` with `content`, truncated to WeCom's limit.
    pub(crate) fn new(show_type: ShowType, content: &str) -> Self {
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
pub(crate) struct AppMessage<'a> {
    pub(crate) touser: &'a str,
    pub(crate) toparty: &'static str,
    pub(crate) totag: &'static str,
    pub(crate) agentid: i64,
    #[serde(flatten)]
    pub(crate) message: Message,
    pub(crate) safe: u8,
}

/// A group chat message (`appchat/send`).
#[derive(Debug, Serialize)]
pub(crate) struct AppChatMessage<'a> {
    pub(crate) chatid: &'a str,
    #[serde(flatten)]
    pub(crate) message: Message,
    pub(crate) safe: u8,
}

/// `touser` of app messages: ids joined by `|`; `@all` alone when it is among them (WeCom
/// ignores the others then anyway).
pub(crate) fn to_user(users: &[String]) -> String {
    if users.iter().any(|u| u == "@all") {
        return "@all".to_owned();
    }
    users.join("|")
}

/// A robot message (`webhook/send`).
#[derive(Debug, Serialize)]
#[serde(tag = "msgtype", rename_all = "lowercase")]
pub(crate) enum RobotMessage {
    /// Text, with mentions as lists.
    Text { text: RobotText },
    /// Markdown, with mentions written as `<@userid>` in the content.
    Markdown { markdown: Content },
}

/// The payload of a robot text message.
#[derive(Debug, Serialize)]
pub(crate) struct RobotText {
    content: String,
    mentioned_list: Vec<String>,
    mentioned_mobile_list: Vec<String>,
}

/// Who a robot message mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Mentions {
    pub(crate) users: Vec<String>,
    pub(crate) all: bool,
}

impl Mentions {
    /// What robot markdown appends to the content: `<@userid>` for each mentioned user.
    pub(crate) fn markdown_suffix(&self) -> String {
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
    /// Robot markdown cannot mention everyone (`<@all>` is not a thing); the configuration
    /// rejects `at_all` with markdown, so `mentions.all` is only used for text.
    pub(crate) fn new(show_type: ShowType, content: &str, mentions: &Mentions) -> Self {
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
    pub(crate) fn content(&self) -> &str {
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

/// The content of a rendered body (`body[msgtype].content`) and its limit, when the message
/// type is one with a known limit.
pub(crate) fn content_of(body: &Value) -> Option<(&str, usize)> {
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

/// Renders an app message through a user's Dinky template.
///
/// The template may add its own text around `{msg}`, so the message is cut by what the
/// rendered content exceeds the limit, and rendered again: a few rounds at most, since the
/// template's own text does not change.
pub(crate) fn templated_app_message(
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
