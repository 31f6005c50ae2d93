//! A WeCom (WeChat Work) server on 127.0.0.1 that checks credentials, access tokens, body shape,
//! recipients and sizes like WeCom does, and answers with WeCom's error codes
//! (protocols.md, "WeCom / WeChat Work").
//!
//! One server plays the three APIs the plugin speaks: `gettoken`, app messages
//! (`message/send`), app group chats (`appchat/send`) and group robots (`webhook/send`).
//! Configure the plugin with `base_url = mock.uri()` and `webhook = mock.webhook()`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// `GET /gettoken?corpid=ID&corpsecret=SECRET`.
pub const GETTOKEN_PATH: &str = "/gettoken";
/// `POST /message/send?access_token=TOKEN` (app message).
pub const MESSAGE_SEND_PATH: &str = "/message/send";
/// `POST /appchat/send?access_token=TOKEN` (app group chat).
pub const APPCHAT_SEND_PATH: &str = "/appchat/send";
/// `POST /webhook/send?key=KEY` (group robot).
pub const WEBHOOK_SEND_PATH: &str = "/webhook/send";

/// Content limits WeCom enforces, in bytes of UTF-8.
const TEXT_LIMIT: usize = 2048;
const MARKDOWN_LIMIT: usize = 4096;

/// Priority of scripted answers: above the checking responders (wiremock's default is 5).
const SCRIPTED_PRIORITY: u8 = 1;

/// One API of the mock, to script answers or read what it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /gettoken`.
    GetToken,
    /// `POST /message/send`.
    MessageSend,
    /// `POST /appchat/send`.
    AppChatSend,
    /// `POST /webhook/send`.
    WebhookSend,
}

impl Endpoint {
    /// The URL path it answers on.
    pub fn path(self) -> &'static str {
        match self {
            Self::GetToken => GETTOKEN_PATH,
            Self::MessageSend => MESSAGE_SEND_PATH,
            Self::AppChatSend => APPCHAT_SEND_PATH,
            Self::WebhookSend => WEBHOOK_SEND_PATH,
        }
    }

    /// The HTTP method it answers to.
    pub fn method(self) -> &'static str {
        match self {
            Self::GetToken => "GET",
            _ => "POST",
        }
    }
}

/// What the mock corp knows: credentials, the app, its users and chats, and the robot's key.
#[derive(Debug, Clone)]
pub struct WeComSettings {
    /// The corp id (`corpid` of gettoken).
    pub corp_id: String,
    /// The app's secret (`corpsecret` of gettoken).
    pub corp_secret: String,
    /// The app's agent id, which app messages must name.
    pub agent_id: i64,
    /// Lifetime of issued tokens, in seconds (`expires_in`).
    pub expires_in: u64,
    /// User ids of the app's visible members; other users are reported in `invaliduser`.
    pub users: Vec<String>,
    /// Chat ids created by the app (`appchat/create`).
    pub chat_ids: Vec<String>,
    /// The group robot's webhook key.
    pub robot_key: String,
}

impl Default for WeComSettings {
    fn default() -> Self {
        Self {
            corp_id: "ww-mock-corp".into(),
            corp_secret: "mock-corp-secret-3f9a".into(),
            agent_id: 1_000_002,
            expires_in: 7200,
            users: vec!["alice".into(), "bob".into()],
            chat_ids: vec!["chat-ops".into()],
            robot_key: "mock-robot-key-77c1".into(),
        }
    }
}

/// A running mock WeCom server.
#[derive(Debug)]
pub struct MockWeCom {
    /// The underlying server (mount further mocks on it for anything the helpers do not cover).
    pub server: MockServer,
    /// What it checks against.
    pub settings: WeComSettings,
    tokens: Arc<Mutex<TokenBook>>,
}

impl MockWeCom {
    /// Starts a server that checks `settings` on every call.
    pub async fn start(settings: WeComSettings) -> Self {
        Self::start_on(crate::fresh_server().await, settings).await
    }

    /// Like [`start`](Self::start), on a server the caller started (e.g. on a fixed port).
    pub async fn start_on(server: MockServer, settings: WeComSettings) -> Self {
        let tokens = Arc::new(Mutex::new(TokenBook::default()));
        let responder = WeComResponder {
            settings: settings.clone(),
            tokens: Arc::clone(&tokens),
        };
        for endpoint in [
            Endpoint::GetToken,
            Endpoint::MessageSend,
            Endpoint::AppChatSend,
            Endpoint::WebhookSend,
        ] {
            Mock::given(method(endpoint.method()))
                .and(path(endpoint.path()))
                .respond_with(EndpointResponder(endpoint, responder.clone()))
                .mount(&server)
                .await;
        }
        Self {
            server,
            settings,
            tokens,
        }
    }

    /// The `base_url` to configure (the server's root; WeCom's is `.../cgi-bin`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The robot webhook URL to configure (`.../webhook/send?key=KEY`).
    pub fn webhook(&self) -> String {
        format!(
            "{}{WEBHOOK_SEND_PATH}?key={}",
            self.server.uri(),
            self.settings.robot_key
        )
    }

    /// Answers the next call to `endpoint` with `answer`, skipping every check. Calls queue in
    /// order: scripting two answers answers the next two calls.
    pub async fn script(&self, endpoint: Endpoint, answer: ResponseTemplate) {
        self.script_times(endpoint, answer, 1).await;
    }

    /// Answers the next `times` calls to `endpoint` with `answer`, skipping every check.
    pub async fn script_times(&self, endpoint: Endpoint, answer: ResponseTemplate, times: u64) {
        Mock::given(method(endpoint.method()))
            .and(path(endpoint.path()))
            .respond_with(answer)
            .up_to_n_times(times)
            .with_priority(SCRIPTED_PRIORITY)
            .mount(&self.server)
            .await;
    }

    /// Makes every token issued so far expired (sends with it get 42001); the next gettoken
    /// issues a new one.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for t in &mut self.book().issued {
            t.expires_at = now;
        }
    }

    /// Forgets every token issued so far, as when the secret is reset (sends with it get
    /// 40014); the next gettoken issues a new one.
    pub fn revoke_tokens(&self) {
        for t in &mut self.book().issued {
            t.revoked = true;
        }
    }

    /// Every token issued so far, oldest first (to check none leaks into messages).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.book().issued.iter().map(|t| t.token.clone()).collect()
    }

    /// How many gettoken calls the server received (scripted ones included).
    pub async fn gettoken_calls(&self) -> usize {
        self.requests(Endpoint::GetToken).await.len()
    }

    /// The requests `endpoint` received, in order.
    pub async fn requests(&self, endpoint: Endpoint) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == endpoint.path())
            .collect()
    }

    /// The JSON bodies `endpoint` received, in order (`null` for a body that is not JSON).
    pub async fn bodies(&self, endpoint: Endpoint) -> Vec<Value> {
        self.requests(endpoint)
            .await
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    fn book(&self) -> MutexGuard<'_, TokenBook> {
        lock(&self.tokens)
    }
}

/// Tokens the mock has issued.
#[derive(Debug, Default)]
struct TokenBook {
    issued: Vec<IssuedToken>,
    serial: u64,
}

#[derive(Debug)]
struct IssuedToken {
    token: String,
    expires_at: Instant,
    revoked: bool,
}

/// Why a token was refused, as WeCom reports it.
enum TokenCheck {
    Valid,
    Missing,
    Unknown,
    Expired,
}

impl TokenBook {
    /// Like WeCom, gettoken hands out the current token while it is valid, a new one after.
    fn current_or_issue(&mut self, lifetime: Duration) -> (String, u64) {
        let now = Instant::now();
        if let Some(t) = self
            .issued
            .iter()
            .rev()
            .find(|t| !t.revoked && t.expires_at > now)
        {
            return (t.token.clone(), (t.expires_at - now).as_secs());
        }
        self.serial += 1;
        let token = format!("mock-access-token-{}-c0ffee", self.serial);
        self.issued.push(IssuedToken {
            token: token.clone(),
            expires_at: now + lifetime,
            revoked: false,
        });
        (token, lifetime.as_secs())
    }

    fn check(&self, token: Option<&str>) -> TokenCheck {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return TokenCheck::Missing;
        };
        match self.issued.iter().find(|t| t.token == token) {
            None => TokenCheck::Unknown,
            Some(t) if t.revoked => TokenCheck::Unknown,
            Some(t) if t.expires_at <= Instant::now() => TokenCheck::Expired,
            Some(_) => TokenCheck::Valid,
        }
    }
}

fn lock(m: &Mutex<TokenBook>) -> MutexGuard<'_, TokenBook> {
    // A panicking test thread must not hide the book from the others.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn answer(code: i64, msg: &str) -> ResponseTemplate {
    crate::errcode_answer(code, msg)
}

#[derive(Clone)]
struct WeComResponder {
    settings: WeComSettings,
    tokens: Arc<Mutex<TokenBook>>,
}

struct EndpointResponder(Endpoint, WeComResponder);

impl Respond for EndpointResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        // The query as the server decodes it: each value percent-decoded once.
        let pairs: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        let query = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let r = &self.1;
        match self.0 {
            Endpoint::GetToken => r.gettoken(query("corpid"), query("corpsecret")),
            Endpoint::MessageSend => r
                .authorize(query("access_token"))
                .unwrap_or_else(|| r.message_send(&req.body)),
            Endpoint::AppChatSend => r
                .authorize(query("access_token"))
                .unwrap_or_else(|| r.appchat_send(&req.body)),
            Endpoint::WebhookSend => r.webhook_send(query("key"), &req.body),
        }
    }
}

impl WeComResponder {
    fn gettoken(&self, corp_id: Option<&str>, secret: Option<&str>) -> ResponseTemplate {
        let s = &self.settings;
        match (corp_id, secret) {
            (None | Some(""), _) => return answer(41002, "corpid missing"),
            (_, None | Some("")) => return answer(41004, "corpsecret missing"),
            (Some(id), _) if id != s.corp_id => return answer(40013, "invalid corpid"),
            (_, Some(secret)) if secret != s.corp_secret => {
                return answer(
                    40001,
                    "invalid credential, access_token is invalid or not latest",
                )
            }
            _ => {}
        }
        let (token, expires_in) =
            lock(&self.tokens).current_or_issue(Duration::from_secs(s.expires_in));
        ResponseTemplate::new(200).set_body_json(json!({
            "errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": expires_in
        }))
    }

    /// `Some(error answer)` when the access token is not one the server accepts.
    fn authorize(&self, token: Option<&str>) -> Option<ResponseTemplate> {
        match lock(&self.tokens).check(token) {
            TokenCheck::Valid => None,
            TokenCheck::Missing => Some(answer(41001, "access_token missing")),
            TokenCheck::Unknown => Some(answer(40014, "invalid access_token")),
            TokenCheck::Expired => Some(answer(42001, "access_token expired")),
        }
    }

    fn message_send(&self, raw: &[u8]) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(raw) else {
            return answer(47001, "data format error");
        };
        let Some(agent_id) = body["agentid"].as_i64() else {
            return answer(40056, "invalid agentid");
        };
        if agent_id != self.settings.agent_id {
            return answer(
                301002,
                "not allow operate another agent with this accesstoken.",
            );
        }
        if let Err((code, msg)) = check_content(&body) {
            return answer(code, &msg);
        }
        let to_user = body["touser"].as_str().unwrap_or_default();
        let no_party_or_tag = ["toparty", "totag"]
            .iter()
            .all(|k| body[k].as_str().unwrap_or_default().is_empty());
        let (valid, invalid): (Vec<&str>, Vec<&str>) = to_user
            .split('|')
            .filter(|u| !u.is_empty())
            .partition(|u| *u == "@all" || self.settings.users.iter().any(|k| k == u));
        if valid.is_empty() && no_party_or_tag {
            return answer(81013, "user & party & tag all invalid");
        }
        let mut ok = json!({"errcode": 0, "errmsg": "ok", "msgid": "mock-msgid"});
        if !invalid.is_empty() {
            ok["invaliduser"] = Value::from(invalid.join("|"));
        }
        ResponseTemplate::new(200).set_body_json(ok)
    }

    fn appchat_send(&self, raw: &[u8]) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(raw) else {
            return answer(47001, "data format error");
        };
        let chat_id = body["chatid"].as_str().unwrap_or_default();
        if chat_id.is_empty() {
            return answer(86001, "invalid chatid");
        }
        if !self.settings.chat_ids.iter().any(|c| c == chat_id) {
            return answer(86003, "chat not exist");
        }
        match check_content(&body) {
            Ok(()) => answer(0, "ok"),
            Err((code, msg)) => answer(code, &msg),
        }
    }

    fn webhook_send(&self, key: Option<&str>, raw: &[u8]) -> ResponseTemplate {
        if key != Some(self.settings.robot_key.as_str()) {
            return answer(93000, "invalid webhook url");
        }
        let Ok(body) = serde_json::from_slice::<Value>(raw) else {
            return answer(40035, "invalid json");
        };
        for list in ["mentioned_list", "mentioned_mobile_list"] {
            let mentions = &body["text"][list];
            let well_formed = mentions.is_null()
                || mentions
                    .as_array()
                    .is_some_and(|items| items.iter().all(Value::is_string));
            if !well_formed {
                return answer(40035, &format!("invalid {list}, must be a list of strings"));
            }
        }
        match check_content(&body) {
            Ok(()) => answer(0, "ok"),
            Err((code, msg)) => answer(code, &msg),
        }
    }
}

/// Checks `msgtype` and its `content`, with WeCom's byte limits; the error is WeCom's
/// `(errcode, errmsg)`.
fn check_content(body: &Value) -> Result<(), (i64, String)> {
    let (kind, limit) = match body["msgtype"].as_str() {
        Some("text") => ("text", TEXT_LIMIT),
        Some("markdown") => ("markdown", MARKDOWN_LIMIT),
        _ => return Err((40008, "invalid message type".to_owned())),
    };
    let Some(content) = body[kind]["content"].as_str() else {
        return Err((
            41016,
            format!("missing {kind}.content, invalid Request Parameter"),
        ));
    };
    if content.is_empty() {
        return Err((44004, "empty content".to_owned()));
    }
    if content.len() > limit {
        return Err((
            40058,
            format!("{kind}.content exceed max length {limit}. invalid Request Parameter"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gettoken_reissues_the_current_token_until_it_expires() {
        let mut book = TokenBook::default();
        let (first, _) = book.current_or_issue(Duration::from_secs(60));
        assert_eq!(book.current_or_issue(Duration::from_secs(60)).0, first);
        assert!(matches!(book.check(Some(&first)), TokenCheck::Valid));
        book.issued[0].expires_at = Instant::now();
        assert!(matches!(book.check(Some(&first)), TokenCheck::Expired));
        let (second, _) = book.current_or_issue(Duration::from_secs(60));
        assert_ne!(second, first);
        book.issued[1].revoked = true;
        assert!(matches!(book.check(Some(&second)), TokenCheck::Unknown));
        assert!(matches!(book.check(None), TokenCheck::Missing));
        assert!(matches!(book.check(Some("forged")), TokenCheck::Unknown));
    }

    #[test]
    fn content_limits_are_bytes() {
        let text = json!({"msgtype":"text","text":{"content":"告".repeat(682)}});
        assert!(check_content(&text).is_ok()); // 2046 bytes
        let text = json!({"msgtype":"text","text":{"content":"告".repeat(683)}});
        assert!(check_content(&text).is_err()); // 2049 bytes
        let md = json!({"msgtype":"markdown","markdown":{"content":"x".repeat(4096)}});
        assert!(check_content(&md).is_ok());
        assert!(check_content(&json!({"msgtype":"news"})).is_err());
    }
}
