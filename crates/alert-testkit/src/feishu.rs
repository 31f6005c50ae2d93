//! A Feishu / Lark custom bot on 127.0.0.1 that checks hook id, signature, keyword, body shape
//! and size like Feishu does (protocols.md, "Feishu / Lark custom bot").
//!
//! ```no_run
//! # async fn demo() {
//! use alert_testkit::feishu::{BotSettings, MockBot};
//! let bot = MockBot::start(BotSettings { secret: Some("s3cret".into()), ..Default::default() }).await;
//! let webhook = bot.webhook(); // http://127.0.0.1:PORT/open-apis/bot/v2/hook/<id>
//! # let _ = webhook; }
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The path prefix of bot webhooks; the hook id follows.
pub const HOOK_PATH: &str = "/open-apis/bot/v2/hook/";

/// Feishu's body limit ("20 K").
pub const MAX_BODY_BYTES: usize = 20 * 1024;

/// Security settings of the mock bot.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// The hook id at the end of the webhook.
    pub hook_id: String,
    /// Signing secret (签名校验), when signing is on.
    pub secret: Option<String>,
    /// Custom keyword the message must contain, when set.
    pub keyword: Option<String>,
    /// Answer in the older `{"StatusCode":0,"StatusMessage":"success"}` shape.
    pub legacy_answer: bool,
}

impl Default for BotSettings {
    fn default() -> Self {
        Self {
            hook_id: "mock-hook-5e1f".into(),
            secret: None,
            keyword: None,
            legacy_answer: false,
        }
    }
}

/// A running mock bot.
#[derive(Debug)]
pub struct MockBot {
    /// The underlying server (mount further mocks on it to script answers).
    pub server: MockServer,
    /// Its settings.
    pub settings: BotSettings,
}

impl MockBot {
    /// Starts a bot that checks `settings` on every send.
    pub async fn start(settings: BotSettings) -> Self {
        let server = crate::fresh_server().await;
        Mock::given(method("POST"))
            .and(path_regex(format!("^{HOOK_PATH}")))
            .respond_with(BotResponder(settings.clone()))
            .mount(&server)
            .await;
        Self { server, settings }
    }

    /// Starts a server that answers every send with `answer` (no checks): for scripted errors.
    pub async fn scripted(answer: ResponseTemplate) -> Self {
        let server = crate::fresh_server().await;
        Mock::given(method("POST"))
            .respond_with(answer)
            .mount(&server)
            .await;
        Self {
            server,
            settings: BotSettings::default(),
        }
    }

    /// The webhook URL to configure (`.../open-apis/bot/v2/hook/<id>`).
    pub fn webhook(&self) -> String {
        format!("{}{HOOK_PATH}{}", self.server.uri(), self.settings.hook_id)
    }

    /// JSON bodies received so far.
    pub async fn bodies(&self) -> Vec<Value> {
        crate::received_json(&self.server).await
    }
}

/// A Feishu answer `{"code":code,"msg":msg,"data":{}}` with HTTP 200.
pub fn code_answer(code: i64, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"code": code, "msg": msg, "data": {}}))
}

/// The signature Feishu expects, computed independently of the plugin:
/// base64(HMAC-SHA256(key = "{timestamp_s}\n{secret}", message = "")).
pub fn expected_sign(secret: &str, timestamp_s: &str) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

struct BotResponder(BotSettings);

impl BotResponder {
    fn ok(&self) -> ResponseTemplate {
        if self.0.legacy_answer {
            ResponseTemplate::new(200)
                .set_body_json(json!({"Extra": null, "StatusCode": 0, "StatusMessage": "success"}))
        } else {
            code_answer(0, "success")
        }
    }
}

/// The text a keyword check sees: the message's content (or card), serialized.
fn message_text(body: &Value) -> Option<String> {
    match body["msg_type"].as_str()? {
        "text" => body["content"]["text"].as_str().map(str::to_owned),
        "post" => body["content"]["post"]
            .is_object()
            .then(|| body["content"].to_string()),
        "interactive" => body["card"].is_object().then(|| body["card"].to_string()),
        _ => None,
    }
}

impl Respond for BotResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let s = &self.0;
        let id = req.url.path().trim_start_matches(HOOK_PATH);
        if id != s.hook_id {
            return code_answer(
                19001,
                "param invalid: incoming webhook access token invalid",
            );
        }
        if req.body.len() > MAX_BODY_BYTES {
            // Feishu documents the limit but not its code; the mock answers a params error.
            return ResponseTemplate::new(400).set_body_json(
                json!({"code": 19002, "msg": "params error: request body over 20 KB", "data": {}}),
            );
        }
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return code_answer(9499, "Bad Request");
        };
        if let Some(secret) = &s.secret {
            let (Some(ts), Some(sign)) = (body["timestamp"].as_str(), body["sign"].as_str()) else {
                return code_answer(
                    19021,
                    "sign match fail or timestamp is not within one hour from current time",
                );
            };
            let now = i64::try_from(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_secs(),
            )
            .expect("fits");
            let fresh = ts.parse::<i64>().is_ok_and(|t| (now - t).abs() <= 3600);
            if !fresh || sign != expected_sign(secret, ts) {
                return code_answer(
                    19021,
                    "sign match fail or timestamp is not within one hour from current time",
                );
            }
        }
        let Some(text) = message_text(&body) else {
            return code_answer(19002, "params error, msg_type need");
        };
        if let Some(keyword) = &s.keyword {
            if !text.contains(keyword.as_str()) {
                return code_answer(19024, "Key Words Not Found");
            }
        }
        self.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn independent_signature_matches_protocol_vectors() {
        assert_eq!(
            expected_sign("9RfDwbCf5MqJ54F8FUktw", "1584532800"),
            "YftbIE5F81bUnsLwj5Av5Ahfxsa/71+f4Th4tPR7GaA="
        );
        assert_eq!(
            expected_sign("SECtest", "1700000000"),
            "G7XpBpG8NgG02fJOAhX6FRAObIljmFoxVReo8I62pEk="
        );
    }
}
