//! Alert → request body: protocols.md, "DingTalk custom robot", Bodies and Limits.

use std::fmt::Write as _;

use alert_core::text::{truncate_bytes, TRUNCATION_MARKER};
use alert_core::Alert;
use serde_json::{json, Value};

use crate::config::{DingTalkConfig, ShowType};

/// DingTalk rejects bodies over this many bytes (errcode 460101).
pub const MAX_BODY_BYTES: usize = 20_000;

/// Builds the JSON body for `alert`, at most `max_bytes` once serialized.
///
/// The keyword and the `@mobile` / `@userid` mentions are appended after the message, so they
/// survive truncation: the robot drops messages without its keyword, and a mention only
/// notifies when it also appears in the text.
pub fn build_body(alert: &Alert, config: &DingTalkConfig, max_bytes: usize) -> Value {
    let message = match config.show_type {
        ShowType::Markdown => alert.markdown.as_str(),
        ShowType::Text => alert.text.as_str(),
    };
    let suffix = suffix(message, config);
    let mut budget = max_bytes;
    loop {
        let body = body_with(alert, config, message, &suffix, budget);
        let size = serde_json::to_vec(&body).map_or(0, |v| v.len());
        // JSON escaping makes the body longer than its content: shrink the content by the excess
        // until the whole body fits. Bounded: each round removes at least one byte.
        if size <= max_bytes || budget == 0 {
            return body;
        }
        budget = budget.saturating_sub(size - max_bytes).min(budget - 1);
    }
}

fn body_with(
    alert: &Alert,
    config: &DingTalkConfig,
    message: &str,
    suffix: &str,
    budget: usize,
) -> Value {
    let content_budget = budget.saturating_sub(suffix.len());
    let mut content = truncate_bytes(message, content_budget, TRUNCATION_MARKER).into_owned();
    content.push_str(suffix);
    let at = json!({
        "atMobiles": config.at_mobiles,
        "atUserIds": config.at_user_ids,
        "isAtAll": config.at_all,
    });
    match config.show_type {
        ShowType::Markdown => json!({
            "msgtype": "markdown",
            "markdown": {"title": truncate_bytes(&alert.title, 256, TRUNCATION_MARKER), "text": content},
            "at": at,
        }),
        ShowType::Text => json!({
            "msgtype": "text",
            "text": {"content": content},
            "at": at,
        }),
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
    fn keyword_is_not_repeated_when_present() {
        let body = build_body(&Alert::plain("t", "Flink 告警"), &config(), MAX_BODY_BYTES);
        assert_eq!(body["markdown"]["text"], "Flink 告警\n\n@13800000000");
    }
}
