//! WeCom answers and their outcome kinds: the error-code table of protocols.md
//! ("WeCom / WeChat Work", codes).
//!
//! WeCom reports failures inside HTTP 200 answers, so every answer is parsed and classified by
//! `errcode`; HTTP-level failures never reach this module (see `alert_core::http::send_json`).

use alert_core::{ChannelError, Delivered, SendResult, DEFAULT_THROTTLE};
use serde::Deserialize;

/// The answer of every WeCom call: `errcode`/`errmsg`, plus the recipients app messages could
/// not reach.
#[derive(Debug, Deserialize)]
pub(crate) struct Answer {
    pub(crate) errcode: i64,
    #[serde(default)]
    pub(crate) errmsg: String,
    #[serde(default)]
    invaliduser: Option<String>,
    #[serde(default)]
    invalidparty: Option<String>,
    #[serde(default)]
    invalidtag: Option<String>,
}

/// The call that was answered: the same code means different things, and needs different
/// advice, depending on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// `gettoken`.
    GetToken,
    /// `message/send` or `appchat/send`: authorised by an access token.
    TokenSend(Content),
    /// A robot's `webhook/send`: authorised by the key in its URL.
    RobotSend(Content),
}

/// Size of the content that was sent, to tell "too long" from other out-of-range parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Content {
    pub(crate) bytes: usize,
    /// WeCom's limit for the message type; `None` when unknown (template with another type).
    pub(crate) limit: Option<usize>,
}

impl Content {
    fn is_over_limit(self) -> bool {
        self.limit.is_some_and(|limit| self.bytes > limit)
    }
}

/// Access token invalid (40014), expired (42001) or missing (41001).
const TOKEN_REJECTED: [i64; 3] = [40014, 42001, 41001];

/// Classifies an answer to a send.
pub(crate) fn outcome(answer: Answer, call: Call) -> SendResult {
    if answer.errcode != 0 {
        return Err(error(answer.errcode, &answer.errmsg, call));
    }
    let warnings = [
        ("invaliduser", answer.invaliduser),
        ("invalidparty", answer.invalidparty),
        ("invalidtag", answer.invalidtag),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let value = value?;
        let value = value.trim();
        (!value.is_empty()).then(|| format!("{name}: {value}"))
    })
    .collect();
    Ok(Delivered::with_warnings(warnings))
}

/// The classified error for a non-zero `errcode`, with `errcode N errmsg` and advice.
pub(crate) fn error(code: i64, errmsg: &str, call: Call) -> ChannelError {
    let errmsg = alert_core::text::redact_urls_in(errmsg.trim());
    let errmsg = alert_core::text::truncate_bytes(&errmsg, 300, "…");
    let mut message = format!("errcode {code} {errmsg}").trim_end().to_owned();
    let with_advice = |message: &str, advice: &str| format!("{message}; {advice}");
    let error = match code {
        c if TOKEN_REJECTED.contains(&c) => match call {
            Call::TokenSend(_) => ChannelError::refresh_auth(message),
            Call::GetToken => ChannelError::permanent(message),
            Call::RobotSend(_) => {
                ChannelError::permanent(with_advice(&message, "check the webhook's key"))
            }
        },
        45009 => ChannelError::throttle(DEFAULT_THROTTLE, message),
        45033 | -1 => ChannelError::retry(message),
        40058 => match call {
            Call::TokenSend(c) | Call::RobotSend(c) if c.is_over_limit() => {
                ChannelError::too_long(with_advice(
                    &message,
                    &format!(
                        "the content is {} bytes, over the limit of {}",
                        c.bytes,
                        c.limit.unwrap_or_default()
                    ),
                ))
            }
            _ => ChannelError::permanent(message),
        },
        _ => {
            if let Some(advice) = advice(code, call) {
                message = with_advice(&message, advice);
            }
            ChannelError::permanent(message)
        }
    };
    error.with_code(code)
}

/// What the user should check for a permanent error.
fn advice(code: i64, call: Call) -> Option<&'static str> {
    Some(match code {
        40001 | 40013 | 40091 => "check corp_id and secret",
        60020 => "add this server's IP to the app's trusted IPs (企业可信IP)",
        81013 => "none of the users can receive this app's messages; check users and the app's visibility",
        86001 | 86003 => "check chat_id; the chat must have been created by the same app",
        93000 if matches!(call, Call::RobotSend(_)) => {
            "the webhook is wrong or the robot was removed from its chat; check webhook"
        }
        93000 => "check chat_id and that the app may send to it",
        48002 => "the app may not call this API; check the app's permissions",
        301002 => "the secret belongs to another app; check agent_id and secret",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alert_core::ErrorKind;

    use super::*;

    const SEND: Call = Call::TokenSend(Content {
        bytes: 10,
        limit: Some(4096),
    });

    fn kind(code: i64, call: Call) -> ErrorKind {
        error(code, "msg", call).kind
    }

    #[test]
    fn codes_map_to_the_protocol_table() {
        for code in [40014, 42001, 41001] {
            assert_eq!(kind(code, SEND), ErrorKind::RefreshAuth, "{code}");
            assert_eq!(kind(code, Call::GetToken), ErrorKind::Permanent, "{code}");
        }
        assert_eq!(
            kind(45009, SEND),
            ErrorKind::Throttle {
                retry_after: Duration::from_secs(60)
            }
        );
        assert_eq!(kind(45033, SEND), ErrorKind::Retry);
        assert_eq!(kind(-1, Call::GetToken), ErrorKind::Retry);
        for code in [
            40001, 40013, 40091, 60020, 81013, 86001, 93000, 48002, 301002, 12345,
        ] {
            assert_eq!(kind(code, SEND), ErrorKind::Permanent, "{code}");
        }
    }

    #[test]
    fn too_long_only_when_the_content_is_over_the_limit() {
        let over = Call::RobotSend(Content {
            bytes: 4097,
            limit: Some(4096),
        });
        assert_eq!(kind(40058, over), ErrorKind::TooLong);
        assert_eq!(kind(40058, SEND), ErrorKind::Permanent);
        let unknown = Call::TokenSend(Content {
            bytes: 9000,
            limit: None,
        });
        assert_eq!(kind(40058, unknown), ErrorKind::Permanent);
    }

    #[test]
    fn messages_carry_code_errmsg_and_advice() {
        let e = error(45009, "api freq out of limit", SEND);
        assert_eq!(e.message, "errcode 45009 api freq out of limit");
        assert_eq!(e.code, Some(45009));
        let e = error(40001, "invalid credential", Call::GetToken);
        assert_eq!(
            e.message,
            "errcode 40001 invalid credential; check corp_id and secret"
        );
        assert_eq!(error(7, "", SEND).message, "errcode 7");
    }

    #[test]
    fn invalid_recipients_become_warnings() {
        let answer: Answer = serde_json::from_str(
            r#"{"errcode":0,"errmsg":"ok","invaliduser":"bob|eve","invalidparty":"","invalidtag":null}"#,
        )
        .unwrap();
        let delivered = outcome(answer, SEND).unwrap();
        assert_eq!(delivered.warnings, ["invaliduser: bob|eve"]);
    }
}
