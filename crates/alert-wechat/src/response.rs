//! WeCom's answer → outcome: protocols.md, "WeCom / WeChat Work", the errcode table.
//!
//! WeCom reports failures inside HTTP 200 answers, so every answer is parsed and classified by
//! `errcode`; HTTP-level failures never reach this module (see `alert_core::http::send_json`).
//! The same code can mean different things depending on the [`Call`] that was answered:
//!
//! | errcode | meaning | kind |
//! |---|---|---|
//! | 0 | ok | Delivered (`invaliduser`, `invalidparty`, `invalidtag` become warnings) |
//! | 40014, 42001, 41001 | invalid / expired / missing access token | RefreshAuth on a token send (the channel refreshes once, retries once, then Permanent); Permanent on `gettoken` and robots |
//! | 45009 | API frequency limit | Throttle (60 s) |
//! | 45033, -1 | too many concurrent calls, system busy | Retry |
//! | 40058 | parameter out of range | TooLong when the content sent is over its limit, else Permanent |
//! | 40001, 40013, 40091, 60020, 81013, 86001, 86003, 93000, 48002, 301002, others | secret, corp id, IP, users, chat, robot, privilege, agent | Permanent, with what to check |
//!
//! ```
//! use alert_core::ErrorKind;
//! use alert_wechat::response::{classify, Answer, Call, ContentSize};
//!
//! let sent = Call::TokenSend(ContentSize::new(120, Some(4096)));
//! let expired: Answer = serde_json::from_str(r#"{"errcode":42001,"errmsg":"access_token expired"}"#)?;
//! assert_eq!(classify(&expired, sent).unwrap_err().kind, ErrorKind::RefreshAuth);
//! # Ok::<(), serde_json::Error>(())
//! ```

use alert_core::{ChannelError, Delivered, SendResult, DEFAULT_THROTTLE};
use serde::Deserialize;

/// The answer of every WeCom send: `errcode`/`errmsg`, plus the recipients app messages could
/// not reach.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Answer {
    /// 0 on success.
    pub errcode: i64,
    /// The server's message.
    #[serde(default)]
    pub errmsg: String,
    /// App messages: user ids that could not be reached, `|`-separated.
    #[serde(default)]
    pub invaliduser: Option<String>,
    /// App messages: party ids that could not be reached.
    #[serde(default)]
    pub invalidparty: Option<String>,
    /// App messages: tag ids that could not be reached.
    #[serde(default)]
    pub invalidtag: Option<String>,
}

/// The call that was answered: the same code means different things, and needs different
/// advice, depending on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// `gettoken`.
    GetToken,
    /// `message/send` or `appchat/send`: authorised by an access token.
    TokenSend(ContentSize),
    /// A robot's `webhook/send`: authorised by the key in its URL.
    RobotSend(ContentSize),
}

/// Size of the content that was sent, to tell "too long" from other out-of-range parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ContentSize {
    /// Bytes of UTF-8 of the message's `content`.
    pub bytes: usize,
    /// WeCom's limit for the message type; `None` when unknown (template with another type).
    pub limit: Option<usize>,
}

impl ContentSize {
    /// `bytes` of content sent, against WeCom's `limit` for the message type (if known).
    pub fn new(bytes: usize, limit: Option<usize>) -> Self {
        Self { bytes, limit }
    }

    fn is_over_limit(self) -> bool {
        self.limit.is_some_and(|limit| self.bytes > limit)
    }
}

/// Access token invalid (40014), expired (42001) or missing (41001).
const TOKEN_REJECTED: [i64; 3] = [40014, 42001, 41001];

/// Classifies an answer to `call` by its `errcode`: delivered (with a warning for each kind of
/// recipient WeCom could not reach), or the error of [`error`].
pub fn classify(answer: &Answer, call: Call) -> SendResult {
    if answer.errcode != 0 {
        return Err(error(answer.errcode, &answer.errmsg, call));
    }
    let warnings = [
        ("invaliduser", &answer.invaliduser),
        ("invalidparty", &answer.invalidparty),
        ("invalidtag", &answer.invalidtag),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let value = value.as_deref()?.trim();
        (!value.is_empty()).then(|| format!("{name}: {value}"))
    })
    .collect();
    Ok(Delivered::with_warnings(warnings))
}

/// The classified error for a non-zero `errcode` answering `call`: the message is
/// `errcode N errmsg` (URLs in `errmsg` redacted, cut to 300 bytes) and, for a permanent error,
/// what to check; the error carries the code.
pub fn error(code: i64, errmsg: &str, call: Call) -> ChannelError {
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

    const SEND: Call = Call::TokenSend(ContentSize {
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
        let over = Call::RobotSend(ContentSize {
            bytes: 4097,
            limit: Some(4096),
        });
        assert_eq!(kind(40058, over), ErrorKind::TooLong);
        assert_eq!(kind(40058, SEND), ErrorKind::Permanent);
        let unknown = Call::TokenSend(ContentSize {
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
        let delivered = classify(&answer, SEND).unwrap();
        assert_eq!(delivered.warnings, ["invaliduser: bob|eve"]);
    }

    /// An answer as WeCom sends it.
    fn answer(json: &str) -> Answer {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn classify_delivers_errcode_0_with_a_warning_per_unreached_kind() {
        let plain = classify(&answer(r#"{"errcode":0,"errmsg":"ok"}"#), SEND).unwrap();
        assert!(plain.warnings.is_empty(), "{:?}", plain.warnings);
        let blank = classify(
            &answer(r#"{"errcode":0,"errmsg":"ok","invaliduser":"  ","invalidtag":""}"#),
            SEND,
        )
        .unwrap();
        assert!(blank.warnings.is_empty(), "{:?}", blank.warnings);
        let all = classify(
            &answer(
                r#"{"errcode":0,"errmsg":"ok","invaliduser":"eve","invalidparty":" 3|4 ","invalidtag":"7"}"#,
            ),
            SEND,
        )
        .unwrap();
        assert_eq!(
            all.warnings,
            ["invaliduser: eve", "invalidparty: 3|4", "invalidtag: 7"]
        );
    }

    #[test]
    fn classify_maps_each_answer_by_code_and_call() {
        let robot = Call::RobotSend(ContentSize {
            bytes: 10,
            limit: Some(4096),
        });
        let over = Call::RobotSend(ContentSize {
            bytes: 4097,
            limit: Some(4096),
        });
        let cases = [
            (42001, SEND, ErrorKind::RefreshAuth),
            (40014, robot, ErrorKind::Permanent),
            (41001, Call::GetToken, ErrorKind::Permanent),
            (
                45009,
                robot,
                ErrorKind::Throttle {
                    retry_after: DEFAULT_THROTTLE,
                },
            ),
            (45033, SEND, ErrorKind::Retry),
            (-1, robot, ErrorKind::Retry),
            (40058, over, ErrorKind::TooLong),
            (40058, robot, ErrorKind::Permanent),
            (86003, SEND, ErrorKind::Permanent),
        ];
        for (code, call, expected) in cases {
            let json = format!(r#"{{"errcode":{code},"errmsg":"some reason"}}"#);
            let e = classify(&answer(&json), call).unwrap_err();
            assert_eq!((e.kind, e.code), (expected, Some(code)), "{code} {call:?}");
            assert!(
                e.message
                    .starts_with(&format!("errcode {code} some reason")),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn classify_advises_by_call() {
        let robot = Call::RobotSend(ContentSize::default());
        let e = classify(
            &answer(r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#),
            robot,
        )
        .unwrap_err();
        assert!(e.message.ends_with("check webhook"), "{}", e.message);
        let e = classify(&answer(r#"{"errcode":93000,"errmsg":"x"}"#), SEND).unwrap_err();
        assert!(e.message.contains("check chat_id"), "{}", e.message);
        let e = classify(&answer(r#"{"errcode":42001,"errmsg":"x"}"#), robot).unwrap_err();
        assert!(
            e.message.ends_with("check the webhook's key"),
            "{}",
            e.message
        );
        let over = Call::TokenSend(ContentSize {
            bytes: 2100,
            limit: Some(2048),
        });
        let e = classify(&answer(r#"{"errcode":40058,"errmsg":"x"}"#), over).unwrap_err();
        assert!(
            e.message
                .ends_with("the content is 2100 bytes, over the limit of 2048"),
            "{}",
            e.message
        );
    }

    #[test]
    fn classify_keeps_keys_in_errmsg_urls_out_of_the_message() {
        let e = classify(
            &answer(
                r#"{"errcode":93000,"errmsg":"invalid webhook url https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k3y-s3cr3t"}"#,
            ),
            Call::RobotSend(ContentSize::default()),
        )
        .unwrap_err();
        assert!(!e.message.contains("k3y-s3cr3t"), "{}", e.message);
        assert!(e.message.contains("webhook/send?key=***"), "{}", e.message);
    }
}
