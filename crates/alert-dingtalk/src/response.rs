//! DingTalk's answer → outcome: protocols.md, "DingTalk custom robot", the errcode table.

use alert_core::{ChannelError, Delivered, SendResult, DEFAULT_THROTTLE};
use serde::Deserialize;

/// The robot's JSON answer.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct RobotAnswer {
    /// 0 on success.
    pub errcode: i64,
    /// The server's message.
    #[serde(default)]
    pub errmsg: String,
}

/// Classifies an answer by its `errcode`.
pub fn classify(answer: &RobotAnswer) -> SendResult {
    let code = answer.errcode;
    let base = format!("errcode {code} {}", answer.errmsg.trim());
    let error = match code {
        0 => return Ok(Delivered::ok()),
        310_000 => ChannelError::permanent(format!("{base} ({})", hint_310000(&answer.errmsg))),
        300_001 | 300_005 => ChannelError::permanent(format!(
            "{base} (the robot's token is not valid: was the robot removed, or the webhook copied wrong?)"
        )),
        400_101 => ChannelError::permanent(format!("{base} (the robot is stopped or the webhook has no access_token)")),
        130_101 => ChannelError::throttle(
            DEFAULT_THROTTLE,
            format!("{base} (over 20 messages per minute: the robot may be blocked for 10 minutes)"),
        ),
        410_100 => ChannelError::throttle(DEFAULT_THROTTLE, base),
        460_101 | 101_002 => ChannelError::too_long(base),
        -1 => ChannelError::retry(base),
        _ => ChannelError::permanent(base),
    };
    Err(error.with_code(code))
}

/// 310000 covers three security checks; say which one failed and what to do.
fn hint_310000(errmsg: &str) -> &'static str {
    let m = errmsg.to_ascii_lowercase();
    if m.contains("keyword") {
        "the message lacks the robot's custom keyword: set the `keyword` parameter"
    } else if m.contains("sign") || m.contains("timestamp") {
        "the signature was rejected: check the `secret` parameter and this machine's clock"
    } else if m.contains("ip") || m.contains("whitelist") {
        "this machine's IP is not in the robot's allow-list"
    } else {
        "a security setting of the robot rejected the message"
    }
}

#[cfg(test)]
mod tests {
    use alert_core::ErrorKind;

    use super::*;

    fn kind(code: i64, msg: &str) -> Option<ErrorKind> {
        classify(&RobotAnswer {
            errcode: code,
            errmsg: msg.into(),
        })
        .err()
        .map(|e| e.kind)
    }

    #[test]
    fn every_documented_code_maps_to_its_kind() {
        assert_eq!(kind(0, "ok"), None);
        for code in [310_000, 300_001, 300_005, 400_101, 12345] {
            assert_eq!(kind(code, "x"), Some(ErrorKind::Permanent), "{code}");
        }
        for code in [130_101, 410_100] {
            assert_eq!(
                kind(code, "x"),
                Some(ErrorKind::Throttle {
                    retry_after: DEFAULT_THROTTLE
                })
            );
        }
        assert_eq!(kind(460_101, "x"), Some(ErrorKind::TooLong));
        assert_eq!(kind(101_002, "x"), Some(ErrorKind::TooLong));
        assert_eq!(kind(-1, "系统繁忙"), Some(ErrorKind::Retry));
    }

    #[test]
    fn security_failures_say_which_check_failed() {
        let e = classify(&RobotAnswer {
            errcode: 310_000,
            errmsg: "keywords not in content".into(),
        })
        .unwrap_err();
        assert!(
            e.message
                .starts_with("errcode 310000 keywords not in content"),
            "{}",
            e.message
        );
        assert!(e.message.contains("`keyword`"));
        let e = classify(&RobotAnswer {
            errcode: 310_000,
            errmsg: "sign not match".into(),
        })
        .unwrap_err();
        assert!(e.message.contains("`secret`"));
        assert_eq!(e.code, Some(310_000));
    }
}
