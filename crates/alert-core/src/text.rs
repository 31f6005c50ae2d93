//! Byte-size limits and redaction of URLs: small text rules every channel shares.

use std::borrow::Cow;

/// The marker appended to truncated messages.
pub const TRUNCATION_MARKER: &str = "…(truncated)";

/// Cuts `s` to at most `max_bytes` bytes of UTF-8, on a char boundary, appending `marker` when
/// something was cut (the marker counts toward the limit).
///
/// ```
/// use alert_core::text::truncate_bytes;
/// assert_eq!(truncate_bytes("short", 10, "…"), "short");
/// let cut = truncate_bytes("作业失败了", 10, "…");
/// assert!(cut.len() <= 10 && cut.ends_with('…'));
/// ```
pub fn truncate_bytes<'a>(s: &'a str, max_bytes: usize, marker: &str) -> Cow<'a, str> {
    if s.len() <= max_bytes {
        return Cow::Borrowed(s);
    }
    let budget = max_bytes.saturating_sub(marker.len());
    let mut end = budget.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + marker.len());
    out.push_str(&s[..end]);
    if marker.len() <= max_bytes {
        out.push_str(marker);
    }
    Cow::Owned(out)
}

/// Query parameters whose values are secrets in channel URLs.
const SECRET_QUERY_KEYS: [&str; 6] = [
    "access_token",
    "key",
    "sign",
    "corpsecret",
    "secret",
    "token",
];

/// Replaces the values of secret query parameters (`access_token`, `key`, `sign`, ...) and any
/// `user:password@` with `***`, so a URL can go into a log or an error.
///
/// ```
/// use alert_core::text::redact_url;
/// assert_eq!(
///     redact_url("https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1"),
///     "https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=1"
/// );
/// ```
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<invalid url>".to_owned();
    };
    if !url.username().is_empty() {
        let _ = url.set_username("***");
    }
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_QUERY_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s));
                (
                    k.into_owned(),
                    if secret {
                        "***".to_owned()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        let query = pairs
            .iter()
            .map(|(k, v)| {
                if v == "***" {
                    format!("{k}=***")
                } else {
                    format!("{k}={}", encode_component(v))
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        url.set_query(Some(&query));
    }
    url.to_string()
}

/// Redacts every `http(s)://` URL found inside free text (an error message from a library).
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest
        .find("http://")
        .or_else(|| rest.find("https://"))
        .map(|_| {
            let a = rest.find("http://").unwrap_or(usize::MAX);
            let b = rest.find("https://").unwrap_or(usize::MAX);
            a.min(b)
        })
    {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '(' | '"' | '\'' | '<' | '>'))
            .unwrap_or(tail.len());
        out.push_str(&redact_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn encode_component(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries_and_limit() {
        let s = "告警".repeat(5000); // 30000 bytes
        for limit in [1, 2, 13, 100, 20000, 20001] {
            let cut = truncate_bytes(&s, limit, TRUNCATION_MARKER);
            assert!(cut.len() <= limit, "limit {limit} got {}", cut.len());
            if limit >= TRUNCATION_MARKER.len() {
                assert!(cut.ends_with(TRUNCATION_MARKER));
            }
        }
        assert_eq!(truncate_bytes("abc", 3, TRUNCATION_MARKER), "abc");
    }

    #[test]
    fn redacts_tokens_keys_signs_and_userinfo() {
        let r = redact_url("http://u:pw@h:1/webhook/send?key=K1&sign=S%2B&timestamp=5&x=a b");
        assert!(
            !r.contains("K1") && !r.contains("S%2B") && !r.contains("pw"),
            "{r}"
        );
        assert!(r.contains("timestamp=5"));
        assert_eq!(redact_url("not a url"), "<invalid url>");
        let msg = redact_urls_in(
            "error for url (https://h/send?access_token=T0K) and http://x/?key=K9 end",
        );
        assert!(
            !msg.contains("T0K") && !msg.contains("K9") && msg.ends_with(" end"),
            "{msg}"
        );
    }
}
