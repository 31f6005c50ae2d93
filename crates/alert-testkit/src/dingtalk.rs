//! A DingTalk custom robot on 127.0.0.1 that checks token, signature, keyword, body shape and
//! size like DingTalk does (protocols.md, "DingTalk custom robot").

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The path the mock robot answers on.
pub const SEND_PATH: &str = "/robot/send";

/// Security settings of the mock robot.
#[derive(Debug, Clone, Default)]
pub struct RobotSettings {
    /// The access token in the webhook.
    pub access_token: String,
    /// Signing secret (加签), when signing is on.
    pub secret: Option<String>,
    /// Custom keyword the message must contain, when set.
    pub keyword: Option<String>,
}

/// A running mock robot.
#[derive(Debug)]
pub struct MockRobot {
    /// The underlying server (mount further mocks on it to script answers).
    pub server: MockServer,
    /// Its settings.
    pub settings: RobotSettings,
}

impl MockRobot {
    /// Starts a robot that checks `settings` on every send.
    pub async fn start(settings: RobotSettings) -> Self {
        Self::start_on(crate::fresh_server().await, settings).await
    }

    /// Like [`start`](Self::start), on a server the caller started (e.g. on a fixed port).
    pub async fn start_on(server: MockServer, settings: RobotSettings) -> Self {
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(RobotResponder(settings.clone()))
            .mount(&server)
            .await;
        Self { server, settings }
    }

    /// Starts a server that answers every send with `answer` (no checks): for scripted errors.
    pub async fn scripted(answer: ResponseTemplate) -> Self {
        let server = crate::fresh_server().await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(answer)
            .mount(&server)
            .await;
        Self {
            server,
            settings: RobotSettings {
                access_token: "t0ken".into(),
                ..Default::default()
            },
        }
    }

    /// The webhook URL to configure (`.../robot/send?access_token=...`).
    pub fn webhook(&self) -> String {
        format!(
            "{}{SEND_PATH}?access_token={}",
            self.server.uri(),
            self.settings.access_token
        )
    }

    /// JSON bodies received so far.
    pub async fn bodies(&self) -> Vec<Value> {
        crate::received_json(&self.server).await
    }
}

/// The signature DingTalk expects, computed independently of the plugin:
/// base64(HMAC-SHA256(secret, "{timestamp_ms}\n{secret}")).
pub fn expected_sign(secret: &str, timestamp_ms: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

struct RobotResponder(RobotSettings);

fn answer(code: i64, msg: &str) -> ResponseTemplate {
    crate::errcode_answer(code, msg)
}

impl Respond for RobotResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let s = &self.0;
        // The query as the server decodes it: each value percent-decoded exactly once.
        let query: Vec<(String, String)> = req
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| {
            query
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        match get("access_token") {
            Some(t) if t == s.access_token => {}
            Some(_) => return answer(300005, "token is not exist"),
            None => return answer(400101, "access_token is blank"),
        }
        if let Some(secret) = &s.secret {
            let (Some(ts), Some(sign)) = (get("timestamp"), get("sign")) else {
                return answer(310000, "sign not match, more: [timestamp or sign missing]");
            };
            let Ok(ts_ms) = ts.parse::<i64>() else {
                return answer(310000, "sign not match, more: [timestamp is not a number]");
            };
            let now_ms = i64::try_from(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_millis(),
            )
            .expect("fits");
            if (now_ms - ts_ms).abs() > 3_600_000 {
                return answer(
                    310000,
                    "sign not match, more: [timestamp is more than 1 hour from server time]",
                );
            }
            if sign != expected_sign(secret, ts) {
                return answer(310000, "sign not match, more: [the signature is wrong]");
            }
        }
        let is_json = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return answer(40035, "缺少参数 json");
        };
        if !is_json {
            return answer(43004, "需要POST请求, 并且Content-Type: application/json");
        }
        let content = match body["msgtype"].as_str() {
            Some("text") => body["text"]["content"].as_str(),
            Some("markdown") if body["markdown"]["title"].is_string() => {
                body["markdown"]["text"].as_str()
            }
            _ => None,
        };
        let Some(content) = content else {
            return answer(40035, "缺少参数 json: msgtype and its content are required");
        };
        if req.body.len() > 20_000 {
            return answer(460101, "message too long, exceed 20000 bytes");
        }
        if let Some(keyword) = &s.keyword {
            if !content.contains(keyword.as_str()) {
                return answer(310000, "keywords not in content, more: [keyword missing]");
            }
        }
        ResponseTemplate::new(200).set_body_json(json!({"errcode": 0, "errmsg": "ok"}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn independent_signature_matches_protocol_vector() {
        assert_eq!(
            expected_sign("SECtest", "1700000000000"),
            "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="
        );
    }
}
