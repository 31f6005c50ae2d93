//! SMTP failure → outcome: protocols.md, "Email (SMTP)": 4xx replies and connection errors are
//! transient (`Retry`), 5xx replies are `Permanent`; so are TLS failures and what the client
//! refuses itself (no STARTTLS offered, no usable login mechanism): configuration, not luck.

use std::error::Error as _;

use alert_core::{ChannelError, ErrorKind};
use lettre::transport::smtp::Error as SmtpError;

/// Classifies a failed SMTP send. The message never contains the password (lettre's errors
/// carry the server's reply text, never the credentials).
pub fn classify(e: &SmtpError) -> ChannelError {
    let detail = describe(e);
    if let Some(code) = e.status() {
        let code: i64 = code.to_string().parse().unwrap_or(0);
        let hint = match code {
            530 | 534 | 535 | 538 => " (the login was refused: check `user` and `password`)",
            552 => " (the message is too large for the server)",
            550 | 551 | 553 => " (an address was refused: check `from`, `to` and `cc`)",
            _ => "",
        };
        let message = format!("SMTP {code}: {detail}{hint}");
        let kind = if e.is_transient() {
            ErrorKind::Retry
        } else {
            ErrorKind::Permanent
        };
        return ChannelError::new(kind, message).with_code(code);
    }
    if e.is_timeout() {
        return ChannelError::retry(format!("SMTP timed out: {detail}"));
    }
    if e.is_tls() {
        return ChannelError::permanent(format!(
            "SMTP TLS failed: {detail} (check `tls` and `port`: implicit tls is usually port 465, starttls 587)"
        ));
    }
    if e.is_client() {
        return ChannelError::permanent(format!("SMTP: {detail}"));
    }
    // Connection refused or reset, DNS, an unparsable reply, a shut-down transport: transient.
    ChannelError::retry(format!("SMTP connection failed: {detail}"))
}

/// The error and its causes, deduplicated.
fn describe(e: &SmtpError) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The outcome of a send that took longer than the channel's timeout.
pub fn timed_out(timeout: std::time::Duration) -> ChannelError {
    ChannelError::retry(format!(
        "SMTP send timed out after {} ms",
        timeout.as_millis()
    ))
}
