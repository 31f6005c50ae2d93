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
    /// Our plugin kind (`dingtalk`, `wechat`).
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

/// Maps and validates one instance of Dinky type `dinky_type` (`DingTalk`, `WeChat`, ...).
pub fn map_instance(dinky_type: &str, params: &Map<String, Value>) -> Result<Mapped, String> {
    let (kind, ours, notes) = match dinky_type.trim().to_ascii_lowercase().as_str() {
        "dingtalk" => {
            let (p, n) = dingtalk(params)?;
            ("dingtalk", p, n)
        }
        "wechat" => {
            let (p, n) = wechat(params)?;
            ("wechat", p, n)
        }
        "" => return Err("instance has no type".to_owned()),
        _ => {
            return Err(format!(
                "type `{}` is not imported (only DingTalk and WeChat have a mapping)",
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
            ["webhook", "secret", "password", "proxy", "token", "key"]
                .iter()
                .any(|s| k.contains(s))
        })
        .filter_map(|(_, v)| v.as_str())
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
            .map_err(|_| format!("proxy port `{port}` is not a port number"))?;
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

fn dingtalk(p: &Map<String, Value>) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut out = Map::new();
    let notes = Vec::new();
    if let Some(w) = text(p, "webhook") {
        out.insert("webhook".into(), w.into());
    }
    if let Some(k) = text(p, "keyword") {
        out.insert("keyword".into(), k.into());
    }
    if let Some(s) = text(p, "secret") {
        out.insert("secret".into(), s.into());
    }
    if flag(p, "isEnableProxy") {
        out.insert("proxy".into(), proxy_url(p)?.into());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn dingtalk_proxy_and_lists() {
        let m = map_instance(
            "DingTalk",
            &obj(json!({"webhook":"https://oapi.dingtalk.com/robot/send?access_token=x","isEnableProxy":true,
                "hostname":"p.example","port":3128,"user":"u","password":"p w","atMobiles":"1,2","isAtAll":"false"})),
        )
        .unwrap();
        assert_eq!(m.kind, "dingtalk");
        assert_eq!(m.params["proxy"], "http://u:p%20w@p.example:3128");
        assert_eq!(m.params["at_mobiles"], json!(["1", "2"]));
        assert_eq!(m.params["show_type"], "markdown");
    }

    #[test]
    #[cfg(feature = "wechat")]
    fn wechat_shapes() {
        let app = map_instance(
            "WeChat",
            &obj(json!({"sendType":"应用","corpId":"c","secret":"s","agentId":"1000002","users":"a,b"})),
        )
        .unwrap();
        assert_eq!(app.params["send_type"], "app");
        assert_eq!(app.params["agent_id"], 1_000_002);
        let err =
            map_instance("WeChat", &obj(json!({"sendType":"群聊","corpId":"c"}))).unwrap_err();
        assert!(err.contains("chat_id"), "{err}");
        let err = map_instance("Email", &obj(json!({}))).unwrap_err();
        assert!(err.contains("`Email`"), "{err}");
    }

    #[test]
    fn params_cells() {
        assert!(parse_params(Some(&json!("{\"a\":tr")))
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(parse_params(Some(&json!("[1]")))
            .unwrap_err()
            .contains("array"));
        assert!(parse_params(Some(&json!({"a":1}))).is_ok());
    }
}
