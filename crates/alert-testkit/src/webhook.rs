//! A generic webhook receiver on 127.0.0.1, as an in-house system would implement one: it
//! checks required headers (e.g. a bearer token) and, with a shared secret, the signature and
//! freshness of every request, then answers with a configurable response.
//!
//! The signature it checks, computed independently of the plugin:
//! `X-Flink-Alert-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>` with
//! `X-Flink-Alert-Timestamp: <unix seconds>`, at most 5 minutes off.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The path the receiver listens on.
pub const HOOK_PATH: &str = "/hooks/flink";

/// The signature header it reads.
pub const SIGNATURE_HEADER: &str = "X-Flink-Alert-Signature";

/// The timestamp header it reads.
pub const TIMESTAMP_HEADER: &str = "X-Flink-Alert-Timestamp";

/// How far a timestamp may be from the receiver's clock (replay window).
pub const MAX_SKEW_SECS: i64 = 300;

/// What the receiver checks, and what it answers when the checks pass.
#[derive(Debug, Clone)]
pub struct ReceiverSettings {
    /// Shared secret: when set, requests must carry a valid, fresh signature.
    pub signing_secret: Option<String>,
    /// Headers every request must carry with exactly this value (else 401).
    pub required_headers: Vec<(String, String)>,
    /// The answer to a request that passes the checks.
    pub answer: ResponseTemplate,
}

impl Default for ReceiverSettings {
    fn default() -> Self {
        Self {
            signing_secret: None,
            required_headers: Vec::new(),
            answer: ResponseTemplate::new(200).set_body_json(json!({"code": 0, "message": "ok"})),
        }
    }
}

/// A running receiver.
#[derive(Debug)]
pub struct MockReceiver {
    /// The underlying server.
    pub server: MockServer,
}

impl MockReceiver {
    /// Starts a receiver that checks `settings` on every request.
    pub async fn start(settings: ReceiverSettings) -> Self {
        let server = crate::fresh_server().await;
        Mock::given(path(HOOK_PATH))
            .respond_with(Receiver(settings))
            .mount(&server)
            .await;
        Self { server }
    }

    /// The URL to configure.
    pub fn url(&self) -> String {
        format!("{}{HOOK_PATH}", self.server.uri())
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// JSON bodies received so far (`null` for a body that is not JSON).
    pub async fn bodies(&self) -> Vec<Value> {
        crate::received_json(&self.server).await
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`, as a receiver computes it.
pub fn expected_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

struct Receiver(ReceiverSettings);

fn reject(status: u16, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": error}))
}

impl Respond for Receiver {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let s = &self.0;
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        for (name, value) in &s.required_headers {
            if header(name).as_deref() != Some(value.as_str()) {
                return reject(401, &format!("missing or wrong {name}"));
            }
        }
        if let Some(secret) = &s.signing_secret {
            let (Some(ts), Some(sig)) = (header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER)) else {
                return reject(401, "signature headers missing");
            };
            let now = i64::try_from(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_secs(),
            )
            .expect("fits");
            if !ts
                .parse::<i64>()
                .is_ok_and(|t| (now - t).abs() <= MAX_SKEW_SECS)
            {
                return reject(401, "stale timestamp");
            }
            if sig != expected_signature(secret, &ts, &req.body) {
                return reject(401, "bad signature");
            }
        }
        let is_json = header("content-type").is_some_and(|v| v.contains("json"));
        if !is_json || serde_json::from_slice::<Value>(&req.body).is_err() {
            return reject(400, "body must be JSON");
        }
        s.answer.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_vector() {
        // python: hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            expected_signature("s3cret", "1700000000", br#"{"a":1}"#),
            "sha256=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
    }
}
