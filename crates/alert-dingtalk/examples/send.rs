//! Send one message to a DingTalk robot using only `alert-dingtalk` (no server, no other channel).
//!
//! ```sh
//! DINGTALK_WEBHOOK='https://oapi.dingtalk.com/robot/send?access_token=...' \
//! DINGTALK_SECRET='SEC...' DINGTALK_KEYWORD='Flink' \
//!     cargo run -p alert-dingtalk --example send_dingtalk -- "job orders failed"
//! ```
//! Exits 0 when the robot accepted the message, 1 with the channel's error otherwise.

use std::process::ExitCode;

use alert_core::{Alert, Channel};
use alert_dingtalk::{DingTalkChannel, DingTalkConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Ok(webhook) = std::env::var("DINGTALK_WEBHOOK") else {
        eprintln!("set DINGTALK_WEBHOOK to the robot's webhook URL (optional: DINGTALK_SECRET, DINGTALK_KEYWORD)");
        return ExitCode::from(2);
    };
    let mut config = DingTalkConfig::new(webhook);
    config.secret = std::env::var("DINGTALK_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .map(Into::into);
    config.keyword = std::env::var("DINGTALK_KEYWORD")
        .ok()
        .filter(|s| !s.is_empty());
    let text = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let text = if text.is_empty() {
        "flink-alert test message".to_owned()
    } else {
        text
    };

    let robot = match DingTalkChannel::new(config) {
        Ok(robot) => robot,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match robot.send(&Alert::plain("flink-alert", text)).await {
        Ok(delivered) => {
            for warning in delivered.warnings {
                eprintln!("warning: {warning}");
            }
            eprintln!("delivered");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dingtalk: {e} ({})", e.kind);
            ExitCode::FAILURE
        }
    }
}
