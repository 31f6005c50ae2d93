//! The mapping of each Dinky type, and its skips.

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
        &obj(
            json!({"sendType":"应用","corpId":"c","secret":"s","agentId":"1000002","users":"a,b"}),
        ),
    )
    .unwrap();
    assert_eq!(app.params["send_type"], "app");
    assert_eq!(app.params["agent_id"], 1_000_002);
    let err = map_instance("WeChat", &obj(json!({"sendType":"群聊","corpId":"c"}))).unwrap_err();
    assert!(err.contains("chat_id"), "{err}");
}

#[test]
fn sms_and_unknown_types_are_skipped_with_their_name() {
    let err = map_instance("Sms", &obj(json!({"suppliers":"alibaba"}))).unwrap_err();
    assert!(
        err.contains("`Sms`") && err.contains("no SMS channel"),
        "{err}"
    );
    let err = map_instance("Pager", &obj(json!({}))).unwrap_err();
    assert!(err.contains("`Pager`"), "{err}");
    assert_eq!(
        map_instance(" ", &obj(json!({}))).unwrap_err(),
        "instance has no type"
    );
}

#[cfg(feature = "feishu")]
const HOOK: &str = "https://open.feishu.cn/open-apis/bot/v2/hook/0a1b-fake";

#[test]
#[cfg(feature = "feishu")]
fn feishu_06_row() {
    let m = map_instance(
        "FeiShu",
        &obj(
            json!({"webhook":HOOK,"keyword":"","secret":"","isEnableProxy":false,
                "isAtAll":false,"users":"ou_1, ou_2","msgtype":"text"}),
        ),
    )
    .unwrap();
    assert_eq!(m.kind, "feishu");
    assert_eq!(
        m.params,
        json!({"webhook":HOOK,"at_all":false,"at_users":["ou_1","ou_2"],"show_type":"text",
                "timeout_ms":10000})
    );
    assert_eq!(m.rate_per_minute, Some(100));
    let post = map_instance(
        "feishu",
        &obj(json!({"webhook":HOOK,"msgtype":"post","isAtAll":"true","users":"ou_1"})),
    )
    .unwrap();
    assert_eq!(post.params["show_type"], "post");
    assert_eq!(post.params["at_all"], true);
    assert!(post.params.get("at_users").is_none(), "{}", post.params);
}

#[test]
#[cfg(feature = "feishu")]
fn feishu_1x_row_with_proxy_and_secret() {
    let m = map_instance(
        "FeiShu",
        &obj(
            json!({"webhook":HOOK,"keyword":"flink","secret":"fs-s3cret","isEnableProxy":true,
                "hostname":"proxy.example","port":3128,"user":"u","password":"p@ss",
                "isAtAll":false,"atUsers":["ou_9"]}),
        ),
    )
    .unwrap();
    assert_eq!(m.params["proxy"], "http://u:p%40ss@proxy.example:3128");
    assert_eq!(m.params["secret"], "fs-s3cret");
    assert_eq!(m.params["keyword"], "flink");
    assert_eq!(m.params["at_users"], json!(["ou_9"]));
    assert_eq!(m.params["show_type"], "card");
    let masked = crate::registry()
        .get("feishu")
        .unwrap()
        .mask_secrets(&m.params);
    for key in ["webhook", "secret", "proxy"] {
        assert_eq!(masked[key], MASK, "{key}");
    }
    assert_eq!(masked["keyword"], "flink");
}

#[test]
#[cfg(feature = "feishu")]
fn feishu_rows_that_cannot_map() {
    let proxy = |port: Value| {
        obj(json!({"webhook":HOOK,"isEnableProxy":true,"hostname":"proxy.example","port":port}))
    };
    let err = map_instance("FeiShu", &proxy(json!("31x8"))).unwrap_err();
    assert_eq!(err, "proxy port `31x8` is not a port number");
    let err = map_instance("FeiShu", &proxy(json!(0))).unwrap_err();
    assert!(err.contains("port `0`"), "{err}");
    assert!(map_instance("FeiShu", &proxy(json!(8080))).is_ok());
    let err =
        map_instance("FeiShu", &obj(json!({"webhook":HOOK,"isEnableProxy":true}))).unwrap_err();
    assert!(err.contains("proxy host"), "{err}");
    let err =
        map_instance("FeiShu", &obj(json!({"webhook":HOOK,"msgtype":"markdown"}))).unwrap_err();
    assert!(err.contains("msgtype `markdown`"), "{err}");
    let err = map_instance(
        "FeiShu",
        &obj(json!({"webhook":"https://open.feishu.cn/open-apis/bot/v2/c0ffee-secret"})),
    )
    .unwrap_err();
    assert!(err.contains("webhook"), "{err}");
    assert!(!err.contains("c0ffee-secret"), "{err}");
    let err = map_instance("FeiShu", &obj(json!({"isAtAll":true}))).unwrap_err();
    assert!(err.contains("webhook: is required"), "{err}");
}

#[test]
#[cfg(feature = "email")]
fn email_1x_row() {
    let m = map_instance(
            "Email",
            &obj(json!({"receivers":["a@example.io","b@example.io"],"receiverCcs":["c@example.io"],
                "mailProtocol":"SMTP","serverHost":"smtp.example.io","serverPort":465,
                "sender":"Dinky Alerts","enableSmtpAuth":true,"user":"alerts@example.io",
                "password":"mail-s3cret","starttlsEnable":false,"sslEnable":true,"smtpSslTrust":""})),
        )
        .unwrap();
    assert_eq!(m.kind, "email");
    assert_eq!(
        m.params,
        json!({"host":"smtp.example.io","port":465,"tls":"tls","user":"alerts@example.io",
                "password":"mail-s3cret","from":"\"Dinky Alerts\" <alerts@example.io>",
                "to":["a@example.io","b@example.io"],"cc":["c@example.io"],"timeout_ms":10000})
    );
    assert!(m.notes.is_empty(), "{:?}", m.notes);
    let masked = crate::registry()
        .get("email")
        .unwrap()
        .mask_secrets(&m.params);
    assert_eq!(masked["password"], MASK);
    assert_eq!(masked["user"], "alerts@example.io");
}

#[test]
#[cfg(feature = "email")]
fn email_06_row_and_auth_off() {
    let m = map_instance(
            "Email",
            &obj(json!({"receivers":"a@example.io, b@example.io","receiverCcs":"","serverHost":"smtp.example.io",
                "serverPort":"587","sender":"dinky@example.io","enableSmtpAuth":"true","User":"u1",
                "Password":"pw1","starttlsEnable":"true","sslEnable":"false",
                "msgtype":"table attachment"})),
        )
        .unwrap();
    assert_eq!(m.params["tls"], "starttls");
    assert_eq!(m.params["port"], 587);
    assert_eq!(
        (&m.params["user"], &m.params["password"]),
        (&json!("u1"), &json!("pw1"))
    );
    assert_eq!(m.params["from"], "dinky@example.io");
    assert_eq!(m.params["to"], json!(["a@example.io", "b@example.io"]));
    assert!(m.params.get("cc").is_none());
    assert!(m.notes[0].contains("attachment"), "{:?}", m.notes);

    // Auth off: a leftover password is not imported (and the relay needs no TLS).
    let relay = map_instance(
        "Email",
        &obj(
            json!({"receivers":["a@example.io"],"serverHost":"smtp.example.io","serverPort":25,
                "sender":"dinky@example.io","enableSmtpAuth":false,"user":"u1","password":"pw1"}),
        ),
    )
    .unwrap();
    assert_eq!(relay.params["tls"], "none");
    assert!(relay.params.get("password").is_none() && relay.params.get("user").is_none());
    assert_eq!(relay.notes, ["password dropped: enableSmtpAuth is off"]);
}

#[test]
#[cfg(feature = "email")]
fn email_rows_that_cannot_map() {
    let base = json!({"receivers":["a@example.io"],"serverHost":"smtp.example.io","serverPort":25,
            "sender":"dinky@example.io","enableSmtpAuth":true,"user":"u1","password":"plain-pw-123",
            "starttlsEnable":false,"sslEnable":false});
    let with = |k: &str, v: Value| {
        let mut p = base.clone();
        p[k] = v;
        obj(p)
    };
    // A password in clear to another machine: skipped, not imported without TLS.
    let err = map_instance("Email", &obj(base.clone())).unwrap_err();
    assert!(err.contains("tls") && err.contains("in clear"), "{err}");
    assert!(!err.contains("plain-pw-123"), "{err}");
    // ... to a relay on this machine it is allowed.
    let local = map_instance("Email", &with("serverHost", json!("127.0.0.1"))).unwrap();
    assert_eq!(local.params["tls"], "none");
    assert!(map_instance("Email", &with("starttlsEnable", json!(true))).is_ok());

    let err = map_instance("Email", &with("serverPort", json!("25x"))).unwrap_err();
    assert_eq!(err, "serverPort `25x` is not a port number");
    let err = map_instance("Email", &with("receivers", json!([]))).unwrap_err();
    assert_eq!(err, "receivers is empty");
    let err = map_instance("Email", &with("mailProtocol", json!("IMAP"))).unwrap_err();
    assert!(err.contains("mailProtocol `IMAP`"), "{err}");
    let err = map_instance("Email", &with("sender", json!("Dinky"))).unwrap_err();
    assert!(err.contains("sender `Dinky`"), "{err}");
    let mut bad_to = with("receivers", json!(["not-an-address"]));
    bad_to.insert("sslEnable".into(), json!(true));
    let err = map_instance("Email", &bad_to).unwrap_err();
    assert!(err.contains("to: `not-an-address`"), "{err}");
}

#[test]
#[cfg(feature = "email")]
fn email_sender_is_the_display_name_of_user() {
    let row = |sender: &str, user: &str| {
        obj(
            json!({"receivers":["a@example.io"],"serverHost":"smtp.example.io",
                "sender":sender,"user":user,"sslEnable":true}),
        )
    };
    for (sender, user, from) in [
        (
            "Dinky告警",
            "alerts@example.io",
            "\"Dinky告警\" <alerts@example.io>",
        ),
        (
            "ops \"night\"",
            "alerts@example.io",
            "\"ops \\\"night\\\"\" <alerts@example.io>",
        ),
        (
            "dinky@example.io",
            "alerts@example.io",
            "\"dinky@example.io\" <alerts@example.io>",
        ),
        (
            "alerts@example.io",
            "alerts@example.io",
            "alerts@example.io",
        ),
        ("dinky@example.io", "svc-mailer", "dinky@example.io"),
        ("", "alerts@example.io", "alerts@example.io"),
    ] {
        let m =
            map_instance("Email", &row(sender, user)).unwrap_or_else(|e| panic!("{sender}: {e}"));
        assert_eq!(m.params["from"], from, "{sender} / {user}");
    }
    let err = map_instance("Email", &row("", "svc-mailer")).unwrap_err();
    assert_eq!(err, "sender is not set");
}

#[test]
fn credential_headers() {
    for name in [
        "Authorization",
        "X-Auth-Token",
        "x-api-key",
        "Client-Secret",
        "Cookie",
    ] {
        assert!(is_credential_header(name), "{name}");
    }
    for name in ["Content-Type", "X-Team", "Accept"] {
        assert!(!is_credential_header(name), "{name}");
    }
}

fn http_row(method: &str, headers: Value) -> Map<String, Value> {
    obj(
        json!({"url":"https://hooks.example.io/in?token=url-t0ken","method":method,
            "headers":headers}),
    )
}

#[test]
#[cfg(feature = "webhook")]
fn http_row_with_credential_headers() {
    let mut p = http_row(
        "post",
        json!([{"key":"X-Team","value":"data"},{"key":"Authorization","value":"Bearer hdr-s3cret"},
                {"key":"X-Api-Token","value":"tok-123"},{"key":"","value":""}]),
    );
    p.insert("body".into(), json!(r#"{"text":"${content}"}"#));
    let m = map_instance("Http", &p).unwrap();
    assert_eq!(m.kind, "webhook");
    assert_eq!(m.params["method"], "POST");
    assert_eq!(m.params["headers"], "X-Team: data");
    assert_eq!(
        m.params["secret_headers"],
        "Authorization: Bearer hdr-s3cret
X-Api-Token: tok-123"
    );
    assert_eq!(
        m.params["url"],
        "https://hooks.example.io/in?token=url-t0ken"
    );
    assert_eq!(m.notes[0], "secret headers: Authorization, X-Api-Token");
    assert!(m.notes[1].contains("(body dropped)"), "{:?}", m.notes);
    let masked = crate::registry()
        .get("webhook")
        .unwrap()
        .mask_secrets(&m.params);
    assert_eq!(
        (&masked["url"], &masked["secret_headers"]),
        (&json!(MASK), &json!(MASK))
    );
    assert_eq!(masked["headers"], "X-Team: data");
    let text = masked.to_string() + &m.notes.join(" ");
    for s in ["hdr-s3cret", "tok-123", "url-t0ken"] {
        assert!(!text.contains(s), "{s}: {text}");
    }

    let plain = map_instance("Http", &http_row("PUT", json!([]))).unwrap();
    assert_eq!(plain.params["method"], "PUT");
    assert!(plain.params.get("headers").is_none() && plain.params.get("secret_headers").is_none());
    assert_eq!(plain.notes.len(), 1);
}

#[test]
#[cfg(feature = "webhook")]
fn http_rows_that_cannot_map() {
    let err = map_instance("Http", &http_row("GET", json!([]))).unwrap_err();
    assert!(err.starts_with("method `GET`"), "{err}");
    let err = map_instance("Http", &http_row("DELETE", json!([]))).unwrap_err();
    assert_eq!(err, "unknown method `DELETE` (POST, PUT or PATCH)");
    let err = map_instance("Http", &http_row("", json!([]))).unwrap_err();
    assert!(err.starts_with("method is not set"), "{err}");
    let err = map_instance("Http", &http_row("POST", json!({"X-Team":"data"}))).unwrap_err();
    assert!(err.starts_with("headers is not a list"), "{err}");
    let err = map_instance(
        "Http",
        &http_row("POST", json!([{"key":"Bad Name","value":"v"}])),
    )
    .unwrap_err();
    assert_eq!(err, "headers[0]: `Bad Name` is not a header name");
    let err = map_instance(
        "Http",
        &http_row(
            "POST",
            json!([{"key":"X-A","value":"1"},{"key":"Authorization","value":"a
secret-line"}]),
        ),
    )
    .unwrap_err();
    assert_eq!(err, "headers[1]: the value of `Authorization` spans lines");
    let mut no_url = http_row("POST", json!([]));
    no_url.remove("url");
    let err = map_instance("Http", &no_url).unwrap_err();
    assert!(err.contains("url: is required"), "{err}");
}

#[test]
fn secret_values_cover_urls_and_credential_headers() {
    let dinky = http_row(
        "POST",
        json!([{"key":"Authorization","value":"Bearer hdr-s3cret"},{"key":"X-Team","value":"data-team"}]),
    );
    let found = secret_values(&dinky, &Map::new());
    assert!(found.contains(&"Bearer hdr-s3cret".to_owned()), "{found:?}");
    assert!(found.contains(&"https://hooks.example.io/in?token=url-t0ken".to_owned()));
    assert!(!found.contains(&"data-team".to_owned()), "{found:?}");
    assert_eq!(
        scrub("header Bearer hdr-s3cret refused", &found),
        format!("header {MASK} refused")
    );
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
