//! A local DingTalk robot for trying flink-alert without a real one: it checks the access
//! token (and the signature, with `--secret`) like DingTalk, answers like DingTalk, and prints
//! every message it accepts.
//!
//! ```sh
//! cargo run -p alert-testkit --bin mock-robot -- --port 9000 [--secret SEC...] [--keyword Flink]
//! # webhook: http://127.0.0.1:9000/robot/send?access_token=quickstart
//! ```
//! Runs until Ctrl-C.

use std::time::Duration;

use alert_testkit::dingtalk::{MockRobot, RobotSettings};
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
        eprintln!("usage: mock-robot [--port 9000] [--token quickstart] [--secret SEC...] [--keyword WORD]");
        return std::process::ExitCode::SUCCESS;
    }
    let port: u16 = arg(&args, "--port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(9000);
    let settings = RobotSettings {
        access_token: arg(&args, "--token").unwrap_or_else(|| "quickstart".to_owned()),
        secret: arg(&args, "--secret"),
        keyword: arg(&args, "--keyword"),
    };
    let listener = match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let robot = MockRobot::start_on(
        MockServer::builder().listener(listener).start().await,
        settings,
    )
    .await;
    println!(
        "mock DingTalk robot listening; webhook: {}",
        robot.webhook()
    );
    let mut shown = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return std::process::ExitCode::SUCCESS,
            () = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
        let bodies = robot.bodies().await;
        for body in bodies.iter().skip(shown) {
            let text = body["markdown"]["text"]
                .as_str()
                .or(body["text"]["content"].as_str())
                .unwrap_or("<no content>");
            println!(
                "--- received {} message ---\n{text}\n",
                body["msgtype"].as_str().unwrap_or("?")
            );
        }
        shown = bodies.len();
    }
}
