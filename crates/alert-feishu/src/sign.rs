//! Feishu request signing: protocols.md, "Feishu / Lark custom bot", Signing.
//!
//! Unlike DingTalk, Feishu keys the HMAC with the string to sign and signs an empty message, the
//! timestamp is in seconds, and both go in the JSON body rather than the URL.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `base64(HMAC-SHA256(key = "{timestamp_s}\n{secret}", message = ""))`.
///
/// ```
/// assert_eq!(
///     alert_feishu::sign::sign("SECtest", 1_700_000_000),
///     "G7XpBpG8NgG02fJOAhX6FRAObIljmFoxVReo8I62pEk="
/// );
/// ```
pub fn sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    let mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from shared/protocols.md (recomputed by protocols/sign_vectors.py).
    #[test]
    fn vector_3() {
        assert_eq!(
            sign("9RfDwbCf5MqJ54F8FUktw", 1_584_532_800),
            "YftbIE5F81bUnsLwj5Av5Ahfxsa/71+f4Th4tPR7GaA="
        );
    }

    #[test]
    fn vector_4() {
        assert_eq!(
            sign("SECtest", 1_700_000_000),
            "G7XpBpG8NgG02fJOAhX6FRAObIljmFoxVReo8I62pEk="
        );
    }

    #[test]
    fn timestamp_is_part_of_the_key() {
        assert_ne!(
            sign("SECtest", 1_700_000_000),
            sign("SECtest", 1_700_000_001)
        );
    }
}
