//! What a send returns: [`Delivered`] or a classified [`ChannelError`].
//!
//! The kinds are the error-action table of `shared/protocols.md` ("Common rules for every
//! channel"): the dispatcher acts on the [`ErrorKind`], never on a channel's own codes.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// The result of one [`Channel::send`](crate::Channel::send).
pub type SendResult = Result<Delivered, ChannelError>;

/// The channel accepted the message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Delivered {
    /// Things the user should know although the message went out (e.g. WeCom `invaliduser`).
    pub warnings: Vec<String>,
}

impl Delivered {
    /// Delivered without warnings.
    pub fn ok() -> Self {
        Self::default()
    }

    /// Delivered, with one warning per entry.
    pub fn with_warnings(warnings: Vec<String>) -> Self {
        Self { warnings }
    }
}

/// How the dispatcher should treat a failed send.
///
/// Deliberately exhaustive (not `#[non_exhaustive]`): whoever acts on an outcome (the server's
/// delivery engine, a library user's retry loop) must decide what to do for every kind, and a
/// new kind must fail their build rather than fall into a wildcard arm that retries forever or
/// drops alerts. Adding a kind is a breaking change of alert-core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorKind {
    /// Transient (HTTP 5xx, connect error, timeout, "system busy"): back off and retry.
    Retry,
    /// Rate limited by the channel: wait `retry_after`, pace the instance.
    Throttle {
        /// How long to wait before the next send to this instance.
        #[serde(rename = "retry_after_ms", serialize_with = "ser_ms")]
        retry_after: Duration,
    },
    /// Access token expired or invalid (the plugin has already refreshed once and retried once).
    RefreshAuth,
    /// Message over the channel's size limit (after the plugin's own truncation).
    TooLong,
    /// Bad configuration or rejected content: retrying will not help.
    Permanent,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ErrorKind {
    /// Short lower-case name (`retry`, `throttle`, `refresh_auth`, `too_long`, `permanent`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Throttle { .. } => "throttle",
            Self::RefreshAuth => "refresh_auth",
            Self::TooLong => "too_long",
            Self::Permanent => "permanent",
        }
    }

    /// True when sending again later may succeed without a change of configuration.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Retry | Self::Throttle { .. })
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Throttle { retry_after } => {
                write!(f, "throttle (retry after {}s)", retry_after.as_secs())
            }
            other => f.write_str(other.as_str()),
        }
    }
}

/// A failed send, classified, with a message a user can act on.
///
/// The message never contains a secret: plugins build it from the channel's answer and from
/// redacted URLs only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct ChannelError {
    /// What the dispatcher should do.
    #[serde(flatten)]
    pub kind: ErrorKind,
    /// The channel's own error code (`errcode`), when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Human-readable cause, e.g. `errcode 310000 keywords not in content`.
    pub message: String,
}

impl ChannelError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: None,
            message: message.into(),
        }
    }

    /// Attaches the channel's error code.
    #[must_use]
    pub fn with_code(mut self, code: i64) -> Self {
        self.code = Some(code);
        self
    }

    /// A transient error.
    pub fn retry(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retry, message)
    }

    /// A rate limit that lifts after `retry_after`.
    pub fn throttle(retry_after: Duration, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Throttle { retry_after }, message)
    }

    /// An error that retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    /// An expired or invalid access token.
    pub fn refresh_auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::RefreshAuth, message)
    }

    /// A message over the channel's size limit.
    pub fn too_long(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLong, message)
    }
}

/// Default pause after a channel says "too fast" without saying how long.
pub const DEFAULT_THROTTLE: Duration = Duration::from_secs(60);

/// Classifies an HTTP status that is not a success, per the common rules of protocols.md:
/// 429 → Throttle (honouring `Retry-After` seconds), other 4xx → Permanent, 5xx → Retry.
///
/// ```
/// use alert_core::{classify_http_status, ErrorKind};
/// use std::time::Duration;
/// assert_eq!(classify_http_status(503, None, "").kind, ErrorKind::Retry);
/// assert_eq!(
///     classify_http_status(429, Some("7"), "").kind,
///     ErrorKind::Throttle { retry_after: Duration::from_secs(7) }
/// );
/// assert_eq!(classify_http_status(404, None, "").kind, ErrorKind::Permanent);
/// ```
pub fn classify_http_status(
    status: u16,
    retry_after: Option<&str>,
    body_excerpt: &str,
) -> ChannelError {
    let excerpt = crate::text::truncate_bytes(body_excerpt.trim(), 200, "…");
    let message = if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    };
    let error = match status {
        429 => {
            let after = retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(DEFAULT_THROTTLE, Duration::from_secs);
            ChannelError::throttle(after, message)
        }
        400..=499 => ChannelError::permanent(message),
        _ => ChannelError::retry(message),
    };
    error.with_code(i64::from(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_follow_the_common_rules() {
        assert_eq!(
            classify_http_status(500, None, "oops").kind,
            ErrorKind::Retry
        );
        assert_eq!(classify_http_status(502, None, "").message, "HTTP 502");
        assert_eq!(
            classify_http_status(429, None, "").kind,
            ErrorKind::Throttle {
                retry_after: DEFAULT_THROTTLE
            }
        );
        assert_eq!(
            classify_http_status(403, None, "forbidden").kind,
            ErrorKind::Permanent
        );
        assert_eq!(classify_http_status(403, None, "forbidden").code, Some(403));
    }

    #[test]
    fn error_serializes_kind_code_and_message() {
        let e = ChannelError::throttle(Duration::from_secs(60), "errcode 130101 send too fast")
            .with_code(130101);
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"kind":"throttle","retry_after_ms":60000,"code":130101,"message":"errcode 130101 send too fast"})
        );
        assert_eq!(e.to_string(), "errcode 130101 send too fast");
    }
}
