//! Alert → mail: subject from the title, a plain-text part from the text body and an HTML part
//! from the markdown body (multipart/alternative, so each client shows the best it can).

use alert_core::text::{truncate_bytes, TRUNCATION_MARKER};
use alert_core::{Alert, ChannelError};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{MultiPart, SinglePart};
use lettre::Message;

use crate::config::Addresses;
use crate::html::{document, markdown_to_html};

/// Subjects are cut to this many bytes: long subjects get folded, mangled or cut by clients.
pub const MAX_SUBJECT_BYTES: usize = 200;

/// The subject: the title on one line, cut on a char boundary.
pub fn subject(alert: &Alert) -> String {
    let line: String = alert
        .title
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    truncate_bytes(&line, MAX_SUBJECT_BYTES, TRUNCATION_MARKER).into_owned()
}

/// The HTML part's document for `alert`.
pub fn html_body(alert: &Alert) -> String {
    document(&subject(alert), &markdown_to_html(&alert.markdown))
}

/// Builds the message for `alert` from `addresses`.
///
/// Both parts are base64-encoded: safe for any content and any server (no 8BITMIME needed,
/// no line-length limit to worry about).
pub fn build_message(alert: &Alert, addresses: &Addresses) -> Result<Message, ChannelError> {
    let mut builder = Message::builder()
        .from(addresses.from.clone())
        .subject(subject(alert))
        .message_id(None);
    for to in &addresses.to {
        builder = builder.to(to.clone());
    }
    for cc in &addresses.cc {
        builder = builder.cc(cc.clone());
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .header(ContentTransferEncoding::Base64)
        .body(alert.text.clone());
    let html = SinglePart::builder()
        .header(ContentType::TEXT_HTML)
        .header(ContentTransferEncoding::Base64)
        .body(html_body(alert));
    builder
        .multipart(MultiPart::alternative().singlepart(text).singlepart(html))
        .map_err(|e| ChannelError::permanent(format!("the message could not be built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_one_line_and_bounded() {
        let alert = Alert::plain("a\r\nb\n\n c", "x");
        assert_eq!(subject(&alert), "a b c");
        let long = Alert::plain("告".repeat(200), "x");
        let s = subject(&long);
        assert!(s.len() <= MAX_SUBJECT_BYTES && s.ends_with(TRUNCATION_MARKER));
    }
}
