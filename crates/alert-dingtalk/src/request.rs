//! Alert → request body: protocols.md, "DingTalk custom robot", Bodies and Limits.

use std::fmt::Write as _;

use alert_core::text::{truncate_bytes, TRUNCATION_MARKER};
use alert_core::Alert;
use serde::Serialize;
use serde_json::Value;

use crate::config::{DingTalkConfig, ShowType};

/// DingTalk rejects bodies over this many bytes (errcode 460101).
pub const MAX_BODY_BYTES: usize = 20_000;

/// Builds the JSON body for `alert`, at most `max_bytes` once serialized (see [`body_bytes`]).
pub fn build_body(alert: &Alert, config: &DingTalkConfig, max_bytes: usize) -> Value {
    serde_json::from_slice(&body_bytes(alert, config, max_bytes)).unwrap_or(Value::Null)
}

/// The serialized JSON body for `alert`, at most `max_bytes` long.
///
/// The keyword and the `@mobile` / `@userid` mentions are appended after the message, so they
/// survive truncation: the robot drops messages without its keyword, and a mention only
/// notifies when it also appears in the text.
pub fn body_bytes(alert: &Alert, config: &DingTalkConfig, max_bytes: usize) -> Vec<u8> {
    let message = match config.show_type {
        ShowType::Markdown => alert.markdown.as_str(),
        ShowType::Text => alert.text.as_str(),
    };
    let suffix = suffix(message, config);
    let mut budget = max_bytes;
    loop {
        let content_budget = budget.saturating_sub(suffix.len());
        let mut content = truncate_bytes(message, content_budget, TRUNCATION_MARKER).into_owned();
        content.push_str(&suffix);
        let title = truncate_bytes(&alert.title, 256, TRUNCATION_MARKER);
        let body = Body::new(config, &title, &content);
        // Plain strings and booleans: serializing cannot fail.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        // JSON escaping makes the body longer than its content: shrink the content by the excess
        // until the whole body fits. Bounded: each round removes at least one byte.
        if bytes.len() <= max_bytes || budget == 0 {
            return bytes;
        }
        budget = budget
            .saturating_sub(bytes.len() - max_bytes)
            .min(budget - 1);
    }
}

/// A robot message, serialized as it is (no JSON tree built first); fields in the order
/// `serde_json` sorts an object's keys, so the bytes are those of the tree.
#[derive(Serialize)]
struct Body<'a> {
    at: At<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    markdown: Option<Markdown<'a>>,
    msgtype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Text<'a>>,
}

/// Who the message mentions.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct At<'a> {
    at_mobiles: &'a [String],
    at_user_ids: &'a [String],
    is_at_all: bool,
}

/// A markdown message.
#[derive(Serialize)]
struct Markdown<'a> {
    text: &'a str,
    title: &'a str,
}

/// A text message.
#[derive(Serialize)]
struct Text<'a> {
    content: &'a str,
}

impl<'a> Body<'a> {
    fn new(config: &'a DingTalkConfig, title: &'a str, content: &'a str) -> Self {
        let at = At {
            at_mobiles: &config.at_mobiles,
            at_user_ids: &config.at_user_ids,
            is_at_all: config.at_all,
        };
        match config.show_type {
            ShowType::Markdown => Self {
                at,
                markdown: Some(Markdown {
                    text: content,
                    title,
                }),
                msgtype: "markdown",
                text: None,
            },
            ShowType::Text => Self {
                at,
                markdown: None,
                msgtype: "text",
                text: Some(Text { content }),
            },
        }
    }
}

/// Keyword (when the message lacks it) and mentions, appended to the message.
fn suffix(message: &str, config: &DingTalkConfig) -> String {
    let mut out = String::new();
    let mentions: Vec<&str> = config
        .at_mobiles
        .iter()
        .chain(&config.at_user_ids)
        .map(String::as_str)
        .filter(|m| !message.contains(&format!("@{m}")))
        .collect();
    if !mentions.is_empty() {
        out.push_str("\n\n");
        let line: Vec<String> = mentions.iter().map(|m| format!("@{m}")).collect();
        out.push_str(&line.join(" "));
    }
    if let Some(keyword) = &config.keyword {
        if !message.contains(keyword.as_str()) {
            let _ = write!(out, "\n\n{keyword}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use alert_core::Alert;

    use super::*;

    fn config() -> DingTalkConfig {
        let mut c = DingTalkConfig::new("http://h/robot/send?access_token=t");
        c.keyword = Some("告警".into());
        c.at_mobiles = vec!["13800000000".into()];
        c
    }

    #[test]
    fn keyword_and_mentions_survive_truncation() {
        let alert = Alert::plain("t", "\"引号\\".repeat(8000));
        for show in [ShowType::Markdown, ShowType::Text] {
            let mut c = config();
            c.show_type = show;
            let body = build_body(&alert, &c, MAX_BODY_BYTES);
            let size = serde_json::to_vec(&body).unwrap().len();
            assert!(size <= MAX_BODY_BYTES, "{size}");
            let content = body["markdown"]["text"]
                .as_str()
                .or(body["text"]["content"].as_str())
                .unwrap();
            assert!(content.contains(TRUNCATION_MARKER));
            assert!(
                content.ends_with("@13800000000\n\n告警"),
                "{}",
                &content[content.len() - 40..]
            );
        }
    }

    #[test]
    fn the_bytes_are_those_of_the_json_tree() {
        let alert = Alert::plain("title \"q\"", "line\n<b>&</b> 告警");
        for show in [ShowType::Markdown, ShowType::Text] {
            let mut c = config();
            c.show_type = show;
            c.at_user_ids = vec!["u1".into()];
            c.at_all = true;
            let bytes = body_bytes(&alert, &c, MAX_BODY_BYTES);
            let tree: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(serde_json::to_vec(&tree).unwrap(), bytes, "{show:?}");
            assert_eq!(tree["at"]["isAtAll"], true);
            assert_eq!(tree["at"]["atUserIds"][0], "u1");
        }
    }

    #[test]
    fn keyword_is_not_repeated_when_present() {
        let body = build_body(&Alert::plain("t", "Flink 告警"), &config(), MAX_BODY_BYTES);
        assert_eq!(body["markdown"]["text"], "Flink 告警\n\n@13800000000");
    }
}
