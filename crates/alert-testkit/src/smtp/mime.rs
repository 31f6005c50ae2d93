//! Just enough MIME reading to check what a mail channel sent: headers (unfolded, RFC 2047
//! encoded words decoded) and the decoded body of a part of a multipart message.

use super::b64;

/// The header block of a message or part (up to the first empty line).
pub(super) fn head(data: &str) -> &str {
    data.split("\r\n\r\n").next().unwrap_or_default()
}

/// The unfolded value of `name` in a header block.
pub(super) fn header_in(head: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push_str(line.trim_start());
                continue;
            }
        } else if value.is_some() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_owned());
            }
        }
    }
    value
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`).
pub(super) fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        let Some(end) = rest[start + 2..].find("?=").map(|e| start + 2 + e) else {
            break;
        };
        let word = &rest[start + 2..end];
        let mut fields = word.splitn(3, '?');
        let (_charset, enc, text) = (fields.next(), fields.next(), fields.next());
        let decoded = match (enc.map(str::to_ascii_lowercase).as_deref(), text) {
            (Some("b"), Some(t)) => b64(t),
            (Some("q"), Some(t)) => quoted_printable(&t.replace('_', " ")),
            _ => rest[start..end + 2].to_owned(),
        };
        // Whitespace between two encoded words is not part of the text.
        let between = &rest[..start];
        if !between.trim().is_empty() || out.is_empty() {
            out.push_str(between);
        }
        out.push_str(&decoded);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn quoted_printable(s: &str) -> String {
    let mut bytes = Vec::with_capacity(s.len());
    let raw = s.replace("=\r\n", "");
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                bytes.push(v);
                i += 3;
                continue;
            }
        }
        bytes.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Finds the first part of `content_type` in a (possibly multipart) message and decodes it.
pub(super) fn find_part(data: &str, content_type: &str) -> Option<String> {
    let head = head(data);
    let body = data.get(head.len() + 4..).unwrap_or_default();
    let ctype = header_in(head, "Content-Type").unwrap_or_else(|| "text/plain".into());
    if let Some(boundary) = boundary(&ctype) {
        let delimiter = format!("--{boundary}");
        return body
            .split(delimiter.as_str())
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .find_map(|p| find_part(p.trim_start_matches("\r\n"), content_type));
    }
    if !ctype.to_ascii_lowercase().starts_with(content_type) {
        return None;
    }
    let encoding = header_in(head, "Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = body.trim_end_matches("\r\n");
    Some(match encoding.as_str() {
        "base64" => b64(&body.replace("\r\n", "")),
        "quoted-printable" => quoted_printable(body),
        _ => body.to_owned(),
    })
}

fn boundary(content_type: &str) -> Option<String> {
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::super::ReceivedMail;
    use super::*;

    #[test]
    fn decodes_encoded_words_and_parts() {
        assert_eq!(decode_words("=?utf-8?b?5L2c5Lia?= x"), "作业 x");
        assert_eq!(decode_words("=?utf-8?b?5L2c?= =?utf-8?b?5Lia?="), "作业");
        assert_eq!(quoted_printable("a=3Db=\r\nc"), "a=bc");
        let mail = "Subject: hi\r\nContent-Type: multipart/alternative; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n5L2c5Lia\r\n--B\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--B--\r\n";
        let m = ReceivedMail {
            auth_user: None,
            from: String::new(),
            to: vec![],
            data: mail.into(),
        };
        assert_eq!(m.header("subject").as_deref(), Some("hi"));
        assert_eq!(m.part("text/plain").as_deref(), Some("作业"));
        assert_eq!(m.part("text/html").as_deref(), Some("<p>x</p>"));
    }
}
