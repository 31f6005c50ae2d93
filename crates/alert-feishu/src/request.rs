//! Alert → request body: protocols.md, "Feishu / Lark custom bot", Send and Limits.

use alert_core::text::{truncate_bytes, TRUNCATION_MARKER};
use alert_core::{Alert, Severity};
use serde_json::{json, Map, Value};

use crate::config::{FeishuConfig, ShowType};

/// Feishu rejects request bodies over 20 KB; stay under 20 000 bytes whatever "KB" means there.
pub const MAX_BODY_BYTES: usize = 20_000;

/// The signature fields of a signed bot: `timestamp` (seconds, as a string) and `sign`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signature {
    /// Seconds since the epoch.
    pub timestamp: i64,
    /// [`crate::sign::sign`] of the secret and the timestamp.
    pub sign: String,
}

impl Signature {
    /// The signature of `secret` at `timestamp` (seconds since the epoch).
    pub fn new(secret: &str, timestamp: i64) -> Self {
        Self {
            timestamp,
            sign: crate::sign::sign(secret, timestamp),
        }
    }
}

/// Builds the JSON body for `alert`, at most `max_bytes` once serialized (signature included).
///
/// The mentions and the keyword are added after the message, so they survive truncation: the
/// bot drops messages without its keyword.
pub fn build_body(
    alert: &Alert,
    config: &FeishuConfig,
    max_bytes: usize,
    signature: Option<&Signature>,
) -> Value {
    let message = match config.show_type {
        ShowType::Card => alert.markdown.as_str(),
        ShowType::Text | ShowType::Post => alert.text.as_str(),
    };
    let mut budget = max_bytes;
    loop {
        let content = truncate_bytes(message, budget, TRUNCATION_MARKER);
        let mut body = body_with(alert, config, &content);
        if let (Some(sig), Value::Object(map)) = (signature, &mut body) {
            map.insert("timestamp".into(), Value::from(sig.timestamp.to_string()));
            map.insert("sign".into(), Value::from(sig.sign.clone()));
        }
        let size = serde_json::to_vec(&body).map_or(0, |v| v.len());
        // Escaping, the title, mentions, the envelope and (for post) one JSON array per line
        // make the body longer than the message: shrink the message in proportion until the
        // whole body fits. Bounded: each round removes at least one byte.
        if size <= max_bytes || budget == 0 {
            return body;
        }
        let scaled = budget.saturating_mul(max_bytes) / size.max(1);
        budget = scaled.min(budget - 1);
    }
}

fn body_with(alert: &Alert, config: &FeishuConfig, content: &str) -> Value {
    let title = truncate_bytes(alert.title.trim(), 256, TRUNCATION_MARKER);
    let keyword = missing_keyword(&title, content, config);
    match config.show_type {
        ShowType::Text => {
            let mut text = format!("{title}\n{content}");
            let mentions = text_mentions(config);
            if !mentions.is_empty() {
                text.push_str("\n\n");
                text.push_str(&mentions);
            }
            if let Some(k) = keyword {
                text.push_str("\n\n");
                text.push_str(k);
            }
            json!({"msg_type": "text", "content": {"text": text}})
        }
        ShowType::Post => {
            let mut paragraphs: Vec<Value> = content
                .lines()
                .map(|line| json!([{"tag": "text", "text": line}]))
                .collect();
            let mentions = post_mentions(config);
            if !mentions.is_empty() {
                paragraphs.push(Value::Array(mentions));
            }
            if let Some(k) = keyword {
                paragraphs.push(json!([{"tag": "text", "text": k}]));
            }
            json!({
                "msg_type": "post",
                "content": {"post": {"zh_cn": {"title": title, "content": paragraphs}}},
            })
        }
        ShowType::Card => {
            let mut markdown = content.to_owned();
            let mentions = card_mentions(config);
            if !mentions.is_empty() {
                markdown.push_str("\n\n");
                markdown.push_str(&mentions);
            }
            if let Some(k) = keyword {
                markdown.push_str("\n\n");
                markdown.push_str(k);
            }
            let mut card = Map::new();
            card.insert("config".into(), json!({"wide_screen_mode": true}));
            card.insert(
                "header".into(),
                json!({
                    "title": {"tag": "plain_text", "content": title},
                    "template": header_colour(alert.severity),
                }),
            );
            card.insert(
                "elements".into(),
                json!([{"tag": "markdown", "content": markdown}]),
            );
            json!({"msg_type": "interactive", "card": card})
        }
    }
}

/// The keyword, when neither the title nor the (possibly truncated) message carries it.
fn missing_keyword<'a>(title: &str, content: &str, config: &'a FeishuConfig) -> Option<&'a str> {
    let keyword = config.keyword.as_deref()?;
    (!title.contains(keyword) && !content.contains(keyword)).then_some(keyword)
}

/// Card header colours by severity.
fn header_colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "red",
        Severity::Warning => "orange",
        Severity::Info => "green",
    }
}

/// `<at user_id="...">`: the mention syntax of text messages.
fn text_mentions(config: &FeishuConfig) -> String {
    let mut out: Vec<String> = Vec::new();
    if config.at_all {
        out.push("<at user_id=\"all\">所有人</at>".to_owned());
    }
    out.extend(
        config
            .at_users
            .iter()
            .map(|u| format!("<at user_id=\"{}\"></at>", u.trim())),
    );
    out.join(" ")
}

/// `{"tag":"at","user_id":"..."}`: the mention elements of post messages.
fn post_mentions(config: &FeishuConfig) -> Vec<Value> {
    let all = config
        .at_all
        .then(|| json!({"tag": "at", "user_id": "all"}));
    all.into_iter()
        .chain(
            config
                .at_users
                .iter()
                .map(|u| json!({"tag": "at", "user_id": u.trim()})),
        )
        .collect()
}

/// `<at id=...></at>`: the mention syntax of card markdown.
fn card_mentions(config: &FeishuConfig) -> String {
    let mut out: Vec<String> = Vec::new();
    if config.at_all {
        out.push("<at id=all></at>".to_owned());
    }
    out.extend(
        config
            .at_users
            .iter()
            .map(|u| format!("<at id={}></at>", u.trim())),
    );
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(show_type: ShowType) -> FeishuConfig {
        let mut c = FeishuConfig::new("https://open.feishu.cn/open-apis/bot/v2/hook/x");
        c.keyword = Some("告警".into());
        c.at_users = vec!["ou_1".into()];
        c.show_type = show_type;
        c
    }

    #[test]
    fn keyword_mentions_and_signature_survive_truncation() {
        let alert = Alert::plain("t", "\"引号\\\n".repeat(6000));
        let sig = Signature {
            timestamp: 1_700_000_000,
            sign: "G7XpBpG8NgG02fJOAhX6FRAObIljmFoxVReo8I62pEk=".into(),
        };
        for show in [ShowType::Text, ShowType::Post, ShowType::Card] {
            let body = build_body(&alert, &config(show), MAX_BODY_BYTES, Some(&sig));
            let size = serde_json::to_vec(&body).unwrap().len();
            assert!(size <= MAX_BODY_BYTES, "{show}: {size}");
            assert_eq!(body["timestamp"], "1700000000");
            let all = body.to_string();
            assert!(all.contains(TRUNCATION_MARKER), "{show}");
            assert!(all.contains("告警") && all.contains("ou_1"), "{show}");
        }
    }

    #[test]
    fn keyword_is_not_repeated_when_the_title_has_it() {
        let alert = Alert::plain("Flink 告警", "body");
        let body = build_body(&alert, &config(ShowType::Text), MAX_BODY_BYTES, None);
        assert_eq!(
            body["content"]["text"],
            "Flink 告警\nbody\n\n<at user_id=\"ou_1\"></at>"
        );
    }

    #[test]
    fn card_header_is_coloured_by_severity() {
        let mut alert = Alert::plain("t", "m");
        alert.severity = Severity::Critical;
        let body = build_body(&alert, &config(ShowType::Card), MAX_BODY_BYTES, None);
        assert_eq!(body["card"]["header"]["template"], "red");
        assert_eq!(body["msg_type"], "interactive");
    }
}
