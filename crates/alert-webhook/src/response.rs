//! The receiver's answer → outcome: the configured success rule first, then the common HTTP
//! rules of protocols.md ("Common rules for every channel").

use alert_core::text::truncate_bytes;
use alert_core::{classify_http_status, ChannelError, Delivered, SendResult};
use serde_json::Value;

use crate::config::{FieldCheck, SuccessRule};

/// Classifies an answer: delivered when the status is a success status and the field check (if
/// any) holds; 429, other 4xx and 5xx by the common rules; anything else (a 2xx or 3xx the rule
/// excludes, a failed field check) `Permanent`.
pub fn classify(
    rule: &SuccessRule,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> SendResult {
    let text = String::from_utf8_lossy(body);
    let excerpt = truncate_bytes(text.trim(), 200, "…");
    if rule.accepts_status(status) {
        return match &rule.field {
            None => Ok(Delivered::ok()),
            Some(check) => check_field(check, status, body, &excerpt),
        };
    }
    if status == 429 || status >= 400 {
        return Err(classify_http_status(status, retry_after, &text));
    }
    Err(ChannelError::permanent(format!(
        "HTTP {status} is not a success status ({rule}): {excerpt}"
    ))
    .with_code(i64::from(status)))
}

fn check_field(check: &FieldCheck, status: u16, body: &[u8], excerpt: &str) -> SendResult {
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return Err(ChannelError::permanent(format!(
            "HTTP {status}, but the answer is not JSON, so success_field `{}` cannot be checked: {excerpt}",
            check.path
        )));
    };
    let found = lookup(&answer, &check.path);
    if found == Some(&check.equals) {
        return Ok(Delivered::ok());
    }
    let shown = found.map_or_else(|| "absent".to_owned(), Value::to_string);
    Err(ChannelError::permanent(format!(
        "HTTP {status}, but `{}` is {shown}, not {}: {excerpt}",
        check.path, check.equals
    )))
}

/// Follows a dotted path through objects (by key) and arrays (by index).
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(value, |v, segment| match v {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alert_core::ErrorKind;
    use serde_json::json;

    use super::*;

    fn kind(rule: &SuccessRule, status: u16, body: &str) -> Option<ErrorKind> {
        classify(rule, status, Some("9"), body.as_bytes())
            .err()
            .map(|e| e.kind)
    }

    fn with_field(path: &str, equals: Value) -> SuccessRule {
        SuccessRule {
            field: Some(FieldCheck {
                path: path.into(),
                equals,
            }),
            ..SuccessRule::default()
        }
    }

    #[test]
    fn statuses_follow_the_rule_then_the_common_http_rules() {
        let rule = SuccessRule::default();
        assert_eq!(kind(&rule, 200, ""), None);
        assert_eq!(kind(&rule, 204, ""), None);
        assert_eq!(kind(&rule, 500, "oops"), Some(ErrorKind::Retry));
        assert_eq!(kind(&rule, 503, ""), Some(ErrorKind::Retry));
        assert_eq!(kind(&rule, 404, ""), Some(ErrorKind::Permanent));
        assert_eq!(
            kind(&rule, 429, ""),
            Some(ErrorKind::Throttle {
                retry_after: Duration::from_secs(9)
            })
        );
        assert_eq!(kind(&rule, 302, ""), Some(ErrorKind::Permanent));
        let only_200 = SuccessRule {
            statuses: vec![(200, 200)],
            field: None,
        };
        let e = classify(&only_200, 202, None, b"queued").unwrap_err();
        assert_eq!((e.kind, e.code), (ErrorKind::Permanent, Some(202)));
        assert!(e.message.contains("not a success status (200)"), "{e}");
    }

    #[test]
    fn field_check_reads_nested_paths() {
        let rule = with_field("data.code", json!(0));
        assert_eq!(kind(&rule, 200, r#"{"data":{"code":0}}"#), None);
        let e = classify(&rule, 200, None, br#"{"data":{"code":7,"msg":"no"}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert!(e.message.contains("`data.code` is 7, not 0"), "{e}");
        assert_eq!(kind(&rule, 200, "not json"), Some(ErrorKind::Permanent));
        assert_eq!(
            kind(&with_field("r.1", json!("ok")), 200, r#"{"r":["x","ok"]}"#),
            None
        );
        let missing = classify(&rule, 200, None, b"{}").unwrap_err();
        assert!(missing.message.contains("is absent"), "{missing}");
        // A server error is still Retry, whatever the field rule says.
        assert_eq!(
            kind(&rule, 502, r#"{"data":{"code":0}}"#),
            Some(ErrorKind::Retry)
        );
    }
}
