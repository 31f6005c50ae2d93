//! Feishu's answer → outcome: protocols.md, "Feishu / Lark custom bot", Answers.
//!
//! Feishu answers `{"code":0,"msg":"success","data":{}}`; older deployments (and some current
//! answers, alongside `code`) use `{"StatusCode":0,"StatusMessage":"success"}`. Failures come as
//! a non-zero code, with HTTP 200 or an HTTP error status: the code wins when there is one.

use alert_core::{classify_http_status, ChannelError, Delivered, SendResult, DEFAULT_THROTTLE};
use serde::Deserialize;

/// The bot's JSON answer, in either spelling.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct BotAnswer {
    /// Current spelling of the code; 0 on success.
    #[serde(default)]
    pub code: Option<i64>,
    /// Current spelling of the message.
    #[serde(default)]
    pub msg: Option<String>,
    /// Older spelling of the code.
    #[serde(default, rename = "StatusCode")]
    pub status_code: Option<i64>,
    /// Older spelling of the message.
    #[serde(default, rename = "StatusMessage")]
    pub status_message: Option<String>,
}

impl BotAnswer {
    /// The code, whichever field carries it (`code` first).
    pub fn code(&self) -> Option<i64> {
        self.code.or(self.status_code)
    }

    /// The message, whichever field carries it.
    pub fn message(&self) -> &str {
        self.msg
            .as_deref()
            .or(self.status_message.as_deref())
            .unwrap_or_default()
            .trim()
    }
}

/// Classifies an HTTP answer: its Feishu code when the body has one, else its status.
pub fn classify_answer(status: u16, retry_after: Option<&str>, body: &[u8]) -> SendResult {
    let answer = serde_json::from_slice::<BotAnswer>(body)
        .ok()
        .filter(|a| a.code().is_some());
    let success = (200..300).contains(&status);
    match answer {
        Some(a) if a.code() != Some(0) || success => {
            if status == 429 {
                // The HTTP layer's rate limit carries the wait in Retry-After.
                return Err(classify_http_status(status, retry_after, a.message()));
            }
            classify(&a)
        }
        _ if !success => Err(classify_http_status(
            status,
            retry_after,
            &String::from_utf8_lossy(body),
        )),
        _ => {
            let excerpt = String::from_utf8_lossy(body);
            let excerpt = alert_core::text::truncate_bytes(excerpt.trim(), 120, "…");
            Err(ChannelError::permanent(format!(
                "answer is not Feishu's JSON; is the webhook right? got: {excerpt}"
            )))
        }
    }
}

/// Classifies an answer by its code.
pub fn classify(answer: &BotAnswer) -> SendResult {
    let code = answer.code().unwrap_or(0);
    let base = format!("code {code} {}", answer.message());
    let error = match code {
        0 => return Ok(Delivered::ok()),
        19_021 => ChannelError::permanent(format!(
            "{base} (the signature was rejected: check the `secret` parameter and this machine's clock)"
        )),
        19_024 => ChannelError::permanent(format!(
            "{base} (the message lacks the bot's custom keyword: set the `keyword` parameter)"
        )),
        19_022 => ChannelError::permanent(format!(
            "{base} (this machine's IP is not in the bot's allow-list)"
        )),
        19_001 => ChannelError::permanent(format!(
            "{base} (the hook id is not valid: was the bot removed, or the webhook copied wrong?)"
        )),
        9_499 | 11_232 => ChannelError::throttle(
            DEFAULT_THROTTLE,
            format!("{base} (over the bot's limit of 100 messages per minute or 5 per second)"),
        ),
        _ => ChannelError::permanent(base),
    };
    Err(error.with_code(code))
}

#[cfg(test)]
mod tests {
    use alert_core::ErrorKind;

    use super::*;

    fn kind(status: u16, body: &str) -> Option<ErrorKind> {
        classify_answer(status, None, body.as_bytes())
            .err()
            .map(|e| e.kind)
    }

    #[test]
    fn every_documented_code_maps_to_its_kind() {
        assert_eq!(kind(200, r#"{"code":0,"msg":"success","data":{}}"#), None);
        assert_eq!(
            kind(200, r#"{"StatusCode":0,"StatusMessage":"success"}"#),
            None
        );
        assert_eq!(
            kind(
                200,
                r#"{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}"#
            ),
            None
        );
        for code in [19_021, 19_024, 19_022, 19_001, 12_345] {
            let body = format!(r#"{{"code":{code},"msg":"x"}}"#);
            assert_eq!(kind(200, &body), Some(ErrorKind::Permanent), "{code}");
            assert_eq!(
                kind(400, &body),
                Some(ErrorKind::Permanent),
                "{code} on 400"
            );
        }
        for code in [9_499, 11_232] {
            let body = format!(r#"{{"code":{code},"msg":"too many request"}}"#);
            let throttle = Some(ErrorKind::Throttle {
                retry_after: DEFAULT_THROTTLE,
            });
            assert_eq!(kind(200, &body), throttle);
            assert_eq!(kind(400, &body), throttle);
        }
    }

    #[test]
    fn http_statuses_without_a_code_follow_the_common_rules() {
        assert_eq!(kind(502, "bad gateway"), Some(ErrorKind::Retry));
        assert_eq!(kind(500, r#"{"code":0}"#), Some(ErrorKind::Retry));
        assert_eq!(kind(404, "not found"), Some(ErrorKind::Permanent));
        assert_eq!(
            kind(429, r#"{"code":11232,"msg":"frequency limited"}"#),
            Some(ErrorKind::Throttle {
                retry_after: DEFAULT_THROTTLE
            })
        );
        assert_eq!(kind(200, "<html>proxy</html>"), Some(ErrorKind::Permanent));
    }

    #[test]
    fn messages_name_the_parameter_to_fix() {
        let e = classify_answer(
            200,
            None,
            br#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
        )
        .unwrap_err();
        assert!(e.message.starts_with("code 19021 sign match fail"), "{e}");
        assert!(e.message.contains("`secret`"));
        assert_eq!(e.code, Some(19_021));
    }
}
