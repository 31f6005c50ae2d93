//! One Dinky alert instance → our kind and parameters, validated and built through the plugin
//! registry (the same checks as `POST /api/v1/instances`).
//!
//! The parameter shape is detected per row, not per table: a 1.x database upgraded from 0.6/0.7
//! keeps the old keys in old rows (`msgtype`, comma strings, `群聊`).

use alert_core::secret::MASK;
use serde_json::{Map, Value};

/// WeCom's public API root (Dinky's default `sendUrl`).
const WECOM_API: &str = "https://qyapi.weixin.qq.com/cgi-bin";

/// A Dinky instance mapped onto a registered plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// Our plugin kind (`dingtalk`, `wechat`, `feishu`, `email`, `webhook`).
    pub kind: &'static str,
    /// Validated, normalized parameters (secrets in clear: for the store only).
    pub params: Value,
    /// The plugin's default send budget for these parameters.
    pub rate_per_minute: Option<u32>,
    /// What the mapping dropped or changed, for the report.
    pub notes: Vec<String>,
}

/// Parses a `params` cell: JSON text or (from a file) an object already.
///
/// Errors say why, never the content (it holds secrets).
pub fn parse_params(raw: Option<&Value>) -> Result<Map<String, Value>, String> {
    let value = match raw {
        None | Some(Value::Null) => return Err("params is empty".to_owned()),
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).map_err(|e| {
            format!(
                "params is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        })?,
        Some(other) => other.clone(),
    };
    match value {
        Value::Object(map) => Ok(map),
        Value::Array(_) => Err("params is a JSON array, not an object".to_owned()),
        other => Err(format!(
            "params is not a JSON object (a {})",
            match other {
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                _ => "null",
            }
        )),
    }
}

/// Maps and validates one instance of Dinky type `dinky_type` (`DingTalk`, `WeChat`, `FeiShu`,
/// `Email`, `Http`; anything else, `Sms` included, is an error naming the type).
pub fn map_instance(dinky_type: &str, params: &Map<String, Value>) -> Result<Mapped, String> {
    let (kind, (ours, notes)) = match dinky_type.trim().to_ascii_lowercase().as_str() {
        "dingtalk" => ("dingtalk", dingtalk(params)?),
        "wechat" => ("wechat", wechat(params)?),
        "feishu" => ("feishu", feishu(params)?),
        "email" => ("email", email(params)?),
        "http" => ("webhook", http(params)?),
        "" => return Err("instance has no type".to_owned()),
        "sms" => {
            return Err(format!(
                "type `{}` is not imported: flink-alert has no SMS channel",
                dinky_type.trim()
            ))
        }
        _ => {
            return Err(format!(
            "type `{}` is not imported (DingTalk, WeChat, FeiShu, Email and Http have a mapping)",
            dinky_type.trim()
        ))
        }
    };
    let descriptor = crate::registry()
        .get(kind)
        .map_err(|_| format!("channel kind `{kind}` is not linked into this build"))?;
    let secrets = secret_values(params, &ours);
    let ours = Value::Object(ours);
    let valid = descriptor
        .validate(&ours)
        .map_err(|e| scrub(&format!("invalid {kind} parameters: {e}"), &secrets))?;
    (descriptor.build)(&valid)
        .map_err(|e| scrub(&format!("invalid {kind} parameters: {e}"), &secrets))?;
    let rate_per_minute = (descriptor.default_rate_per_minute)(&valid);
    Ok(Mapped {
        kind,
        params: Value::Object(valid.into_inner()),
        rate_per_minute,
        notes,
    })
}

/// Every string value of the Dinky params and of ours that could be a secret, longest first.
fn secret_values(dinky: &Map<String, Value>, ours: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = dinky
        .iter()
        .chain(ours.iter())
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            [
                "webhook", "url", "secret", "password", "proxy", "token", "key",
            ]
            .iter()
            .any(|s| k.contains(s))
        })
        .filter_map(|(_, v)| v.as_str())
        .chain(
            // Http: the values of credential headers.
            header_items(dinky)
                .filter(|(name, _)| is_credential_header(name))
                .map(|(_, value)| value),
        )
        .filter(|s| s.len() >= 4)
        .map(str::to_owned)
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// Replaces every secret value in a message by `******`.
pub fn scrub(message: &str, secrets: &[String]) -> String {
    let mut msg = message.to_owned();
    for s in secrets {
        msg = msg.replace(s.as_str(), MASK);
    }
    msg
}

fn text(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn flag(p: &Map<String, Value>, key: &str) -> bool {
    match p.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1"),
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}

/// A comma string or a JSON list, as a list of non-empty strings.
fn list(p: &Map<String, Value>, key: &str) -> Vec<String> {
    match p.get(key) {
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// `markdown` or `text` from `msgtype` / `showType` (absent: markdown, as Dinky 1.x always sends).
fn show_type(p: &Map<String, Value>) -> Result<Value, String> {
    match text(p, "msgtype").or_else(|| text(p, "showType")) {
        None => Ok(Value::from("markdown")),
        Some(t) if t.eq_ignore_ascii_case("markdown") || t.eq_ignore_ascii_case("text") => {
            Ok(Value::from(t.to_ascii_lowercase()))
        }
        Some(t) => Err(format!("unknown message type `{t}` (markdown or text)")),
    }
}

/// `http://user:password@host:port` from Dinky's proxy fields (host in `proxy`, or `hostname`
/// as the 1.x backend reads it).
fn proxy_url(p: &Map<String, Value>) -> Result<String, String> {
    let host = text(p, "proxy")
        .or_else(|| text(p, "hostname"))
        .ok_or("isEnableProxy is on but no proxy host (proxy/hostname) is set")?;
    let base = if host.contains("://") {
        host
    } else {
        format!("http://{host}")
    };
    let mut url = url::Url::parse(&base).map_err(|_| "the proxy host is not a valid host name")?;
    if let Some(port) = text(p, "port") {
        let port: u16 = port
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("proxy port `{port}` is not a port number"))?;
        url.set_port(Some(port))
            .map_err(|()| "the proxy URL cannot take a port")?;
    }
    if let Some(user) = text(p, "user") {
        url.set_username(&user)
            .map_err(|()| "the proxy URL cannot take a user")?;
        if let Some(pw) = text(p, "password") {
            url.set_password(Some(&pw))
                .map_err(|()| "the proxy URL cannot take a password")?;
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `webhook`, `keyword`, `secret` (empty = absent) and, when `isEnableProxy` is on, `proxy`: the
/// keys DingTalk and FeiShu share.
fn robot_basics(p: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), String> {
    for key in ["webhook", "keyword", "secret"] {
        if let Some(v) = text(p, key) {
            out.insert(key.into(), v.into());
        }
    }
    if flag(p, "isEnableProxy") {
        out.insert("proxy".into(), proxy_url(p)?.into());
    }
    Ok(())
}

fn dingtalk(p: &Map<String, Value>) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut out = Map::new();
    let notes = Vec::new();
    robot_basics(p, &mut out)?;
    out.insert("at_all".into(), flag(p, "isAtAll").into());
    let mobiles = list(p, "atMobiles");
    if !mobiles.is_empty() {
        out.insert("at_mobiles".into(), strings(mobiles));
    }
    let users = list(p, "atUserIds");
    if !users.is_empty() {
        out.insert("at_user_ids".into(), strings(users));
    }
    out.insert("show_type".into(), show_type(p)?);
    Ok((out, notes))
}

fn wechat(p: &Map<String, Value>) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut out = Map::new();
    let mut notes = Vec::new();
    let send_type = text(p, "sendType").unwrap_or_else(|| "应用".to_owned());
    let webhook = text(p, "webhook");
    let robot = match send_type.as_str() {
        "应用" | "app" => false,
        "wechat" => true,
        "群聊" if webhook.is_some() => true,
        "群聊" => {
            return Err(
                "sendType 群聊 without a webhook is a Dinky 0.6.0 app chat: Dinky kept no \
                 chat id, which flink-alert's appchat needs (chat_id); create it by hand"
                    .to_owned(),
            )
        }
        other => return Err(format!("unknown WeChat sendType `{other}`")),
    };
    if robot {
        out.insert("send_type".into(), "robot".into());
        if let Some(w) = webhook {
            out.insert("webhook".into(), w.into());
        }
        out.insert("at_all".into(), flag(p, "isAtAll").into());
        let mut users = list(p, "atUsers");
        if users.is_empty() {
            users = list(p, "users");
        }
        if !users.is_empty() {
            out.insert("at_users".into(), strings(users));
        }
    } else {
        out.insert("send_type".into(), "app".into());
        if let Some(c) = text(p, "corpId") {
            out.insert("corp_id".into(), c.into());
        }
        if let Some(s) = text(p, "secret") {
            out.insert("secret".into(), s.into());
        }
        if let Some(a) = text(p, "agentId") {
            out.insert("agent_id".into(), a.into());
        }
        let mut users = list(p, "users");
        if users.is_empty() {
            users = list(p, "atUsers");
        }
        if flag(p, "isAtAll") || users.is_empty() {
            users = vec!["@all".to_owned()];
        }
        out.insert("users".into(), strings(users));
        if let Some(t) = text(p, "userSendMsg") {
            out.insert("template".into(), t.into());
        }
        if let Some(base) = text(p, "sendUrl") {
            if base.trim_end_matches('/') != WECOM_API {
                out.insert("base_url".into(), base.trim_end_matches('/').into());
            }
        }
    }
    out.insert("show_type".into(), show_type(p)?);
    if text(p, "keyword").is_some() {
        notes.push("keyword dropped: WeCom has no robot keyword".to_owned());
    }
    Ok((out, notes))
}

fn feishu(p: &Map<String, Value>) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut out = Map::new();
    let notes = Vec::new();
    robot_basics(p, &mut out)?;
    let at_all = flag(p, "isAtAll");
    out.insert("at_all".into(), at_all.into());
    // 1.x: `atUsers` (list); 0.6: `users` (comma string). Dinky mentions them only without @all.
    let mut users = list(p, "atUsers");
    if users.is_empty() {
        users = list(p, "users");
    }
    if !at_all && !users.is_empty() {
        out.insert("at_users".into(), strings(users));
    }
    // 0.6 and early 1.x: `msgtype` post or text; later 1.x has none and sends an interactive card.
    let show_type = match text(p, "msgtype") {
        None => "card",
        Some(t) if t.eq_ignore_ascii_case("text") => "text",
        Some(t) if t.eq_ignore_ascii_case("post") => "post",
        Some(t) => return Err(format!("unknown FeiShu msgtype `{t}` (post or text)")),
    };
    out.insert("show_type".into(), show_type.into());
    Ok((out, notes))
}

fn email(p: &Map<String, Value>) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut out = Map::new();
    let mut notes = Vec::new();
    if let Some(protocol) = text(p, "mailProtocol") {
        if !protocol.eq_ignore_ascii_case("smtp") {
            return Err(format!("mailProtocol `{protocol}` is not SMTP"));
        }
    }
    if let Some(host) = text(p, "serverHost") {
        out.insert("host".into(), host.into());
    }
    if let Some(port) = text(p, "serverPort") {
        let port: u16 = port
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("serverPort `{port}` is not a port number"))?;
        out.insert("port".into(), port.into());
    }
    // 1.x: `user`/`password`; the 0.6 form stored `User`/`Password`.
    let user = text(p, "user").or_else(|| text(p, "User"));
    let password = text(p, "password").or_else(|| text(p, "Password"));
    out.insert(
        "from".into(),
        email_from(text(p, "sender"), user.as_deref())?.into(),
    );
    let to = list(p, "receivers");
    if to.is_empty() {
        return Err("receivers is empty".to_owned());
    }
    out.insert("to".into(), strings(to));
    let cc = list(p, "receiverCcs");
    if !cc.is_empty() {
        out.insert("cc".into(), strings(cc));
    }
    let tls = if flag(p, "sslEnable") {
        "tls"
    } else if flag(p, "starttlsEnable") {
        "starttls"
    } else {
        "none"
    };
    out.insert("tls".into(), tls.into());
    if flag(p, "enableSmtpAuth") {
        if let Some(u) = user {
            out.insert("user".into(), u.into());
        }
        if let Some(pw) = password {
            out.insert("password".into(), pw.into());
        }
    } else if password.is_some() {
        notes.push("password dropped: enableSmtpAuth is off".to_owned());
    }
    if let Some(t) = text(p, "msgtype").filter(|t| t.contains("attachment")) {
        notes.push(format!(
            "msgtype `{t}` dropped: flink-alert mails carry no attachment"
        ));
    }
    if text(p, "smtpSslTrust").is_some_and(|t| t != "*") {
        notes.push(
            "smtpSslTrust dropped: the server certificate is checked against the system's roots"
                .to_owned(),
        );
    }
    Ok((out, notes))
}

/// Our `from` for Dinky's `sender` and `user`. Dinky sends from `user` with `sender` as the
/// display name; where `user` is no address (a relay without login), `sender` is the address.
fn email_from(sender: Option<String>, user: Option<&str>) -> Result<String, String> {
    match (sender, user) {
        (Some(s), Some(u)) if u.contains('@') && s != u => Ok(format!(
            "\"{}\" <{u}>",
            s.replace('\\', "\\\\").replace('"', "\\\"")
        )),
        (_, Some(u)) if u.contains('@') => Ok(u.to_owned()),
        (Some(s), _) if s.contains('@') => Ok(s),
        (Some(s), _) => Err(format!(
            "sender `{s}` is not an email address, and no user is one to send from"
        )),
        (None, _) => Err("sender is not set".to_owned()),
    }
}

/// Whether a header carries a credential, so that it is imported as a secret header.
fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "secret",
        "key",
        "password",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// The `(key, value)` items of Dinky's Http `headers` list that are objects with a string key.
fn header_items(p: &Map<String, Value>) -> impl Iterator<Item = (&str, &str)> {
    p.get("headers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let key = item.get("key")?.as_str()?;
            Some((key, item.get("value").and_then(Value::as_str).unwrap_or("")))
        })
}

/// Dinky's Http `headers` (a list of `{"key", "value"}` items; items without a key, as the form
/// leaves them, are ignored) as `(name, value)` pairs. Errors never show a value.
fn http_headers(p: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    let items = match p.get("headers") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("headers is not a list of key/value items".to_owned()),
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(h) = item else {
            return Err(format!("headers[{i}] is not a key/value item"));
        };
        let Some(name) = text(h, "key") else {
            continue;
        };
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if !name.chars().all(token) {
            return Err(format!("headers[{i}]: `{name}` is not a header name"));
        }
        let value = text(h, "value").unwrap_or_default();
        if value.contains(['\r', '\n']) {
            return Err(format!("headers[{i}]: the value of `{name}` spans lines"));
        }
        out.push((name, value));
    }
    Ok(out)
}

fn http(p: &Map<String, Value>) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut out = Map::new();
    let mut notes = Vec::new();
    if let Some(url) = text(p, "url") {
        out.insert("url".into(), url.into());
    }
    let method = text(p, "method").ok_or("method is not set (Dinky sends nothing without one)")?;
    match method.to_ascii_uppercase().as_str() {
        m @ ("POST" | "PUT" | "PATCH") => {
            out.insert("method".into(), m.into());
        }
        "GET" => {
            return Err(
                "method `GET` cannot be imported: flink-alert's webhook sends its \
                        document as a body (POST, PUT or PATCH), Dinky's GET put the message \
                        into the URL"
                    .to_owned(),
            )
        }
        _ => return Err(format!("unknown method `{method}` (POST, PUT or PATCH)")),
    }
    let (secret, plain): (Vec<_>, Vec<_>) = http_headers(p)?
        .into_iter()
        .partition(|(name, _)| is_credential_header(name));
    let lines = |headers: &[(String, String)]| {
        headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if !plain.is_empty() {
        out.insert("headers".into(), lines(&plain).into());
    }
    if !secret.is_empty() {
        out.insert("secret_headers".into(), lines(&secret).into());
        let names: Vec<&str> = secret.iter().map(|(n, _)| n.as_str()).collect();
        notes.push(format!("secret headers: {}", names.join(", ")));
    }
    let dropped: Vec<&str> = ["body", "titleFiled", "contentFiled"]
        .into_iter()
        .filter(|k| text(p, k).is_some())
        .collect();
    let mut note = "the body is flink-alert's webhook document (flink-alert/webhook/v1), not \
                    Dinky's; set body_template to reshape it"
        .to_owned();
    if !dropped.is_empty() {
        note.push_str(&format!(" ({} dropped)", dropped.join(", ")));
    }
    notes.push(note);
    Ok((out, notes))
}

#[cfg(test)]
mod tests;
