//! DingTalk request signing (加签): protocols.md, "DingTalk custom robot", Signing.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

/// `base64(HMAC-SHA256(key = secret, message = "{timestamp_ms}\n{secret}"))`, not URL-encoded.
///
/// ```
/// assert_eq!(
///     alert_dingtalk::sign::sign("SECtest", 1_700_000_000_000),
///     "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="
/// );
/// ```
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The webhook with `timestamp` and `sign` appended, the signature URL-encoded exactly once.
///
/// Any `timestamp`/`sign` already in the webhook (a URL copied from an earlier signed request)
/// is replaced, never duplicated.
pub fn signed_url(webhook: &Url, secret: &str, timestamp_ms: i64) -> Url {
    let mut url = webhook.clone();
    let kept: Vec<(String, String)> = webhook
        .query_pairs()
        .filter(|(k, _)| k != "timestamp" && k != "sign")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        // append_pair percent-encodes once (`+` → `%2B`, `/` → `%2F`, `=` → `%3D`).
        q.append_pair("timestamp", &timestamp_ms.to_string());
        q.append_pair("sign", &sign(secret, timestamp_ms));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from shared/protocols.md (recomputed by protocols/sign_vectors.py).
    const TS: i64 = 1_700_000_000_000;

    #[test]
    fn vector_1() {
        assert_eq!(
            sign("SECtest", TS),
            "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="
        );
    }

    #[test]
    fn vector_2() {
        let secret = format!("SEC{}", "0123456789abcdef".repeat(4));
        assert_eq!(
            sign(&secret, TS),
            "bTgY2yDbep+wesS7jKiNj+srsHoADES4+C4f8LCHFtU="
        );
    }

    #[test]
    fn url_carries_timestamp_in_ms_and_sign_encoded_once() {
        let hook = Url::parse("https://oapi.dingtalk.com/robot/send?access_token=abc").unwrap();
        let secret = format!("SEC{}", "0123456789abcdef".repeat(4));
        let url = signed_url(&hook, &secret, TS);
        assert_eq!(
            url.query(),
            Some("access_token=abc&timestamp=1700000000000&sign=bTgY2yDbep%2BwesS7jKiNj%2BsrsHoADES4%2BC4f8LCHFtU%3D")
        );
        assert!(!url.as_str().contains("%25"), "double encoded: {url}");
    }

    #[test]
    fn replaces_stale_signature_parameters() {
        let hook =
            Url::parse("https://h/robot/send?access_token=abc&timestamp=1&sign=old").unwrap();
        let url = signed_url(&hook, "SECtest", TS);
        assert_eq!(url.query_pairs().filter(|(k, _)| k == "sign").count(), 1);
        assert_eq!(url.query(), Some("access_token=abc&timestamp=1700000000000&sign=aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D"));
    }
}
