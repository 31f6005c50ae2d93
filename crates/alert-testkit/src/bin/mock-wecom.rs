//! A local WeCom (WeChat Work) server for trying the `wechat` channel without a real corp: it
//! issues and checks access tokens, checks bodies, recipients and sizes like WeCom, answers with
//! WeCom's error codes, and prints every message it receives.
//!
//! ```sh
//! cargo run -p alert-testkit --bin mock-wecom -- --port 9001
//! # base_url: http://127.0.0.1:9001   robot webhook: http://127.0.0.1:9001/webhook/send?key=...
//! ```
//! It prints the corp id, secret, agent id, users, chat id and robot key it accepts (those of
//! `WeComSettings::default()`). Runs until Ctrl-C.

use std::time::Duration;

use alert_testkit::wechat::{Endpoint, MockWeCom, WeComSettings};
use wiremock::MockServer;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        eprintln!("usage: mock-wecom [--port 9001]");
        return std::process::ExitCode::SUCCESS;
    }
    let port: u16 = arg(&args, "--port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    let listener = match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let wecom = MockWeCom::start_on(
        MockServer::builder().listener(listener).start().await,
        WeComSettings::default(),
    )
    .await;
    let s = &wecom.settings;
    println!("mock WeCom listening");
    println!(
        "  app, appchat: base_url {}  corp_id {}  secret {}  agent_id {}  users {}  chat_id {}",
        wecom.uri(),
        s.corp_id,
        s.corp_secret,
        s.agent_id,
        s.users.join("|"),
        s.chat_ids.join(", "),
    );
    println!("  robot:        webhook {}", wecom.webhook());
    let endpoints = [
        Endpoint::MessageSend,
        Endpoint::AppChatSend,
        Endpoint::WebhookSend,
    ];
    let mut shown = [0; 3];
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return std::process::ExitCode::SUCCESS,
            () = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
        for (endpoint, shown) in endpoints.iter().zip(&mut shown) {
            let bodies = wecom.bodies(*endpoint).await;
            for body in bodies.iter().skip(*shown) {
                let msgtype = body["msgtype"].as_str().unwrap_or("?");
                let content = body[msgtype]["content"].as_str().unwrap_or("<no content>");
                println!(
                    "--- {} received {msgtype} message ---\n{content}\n",
                    endpoint.path()
                );
            }
            *shown = bodies.len();
        }
    }
}
