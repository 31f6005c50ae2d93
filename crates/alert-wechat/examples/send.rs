//! Send one message to WeCom using only `alert-wechat` (no server, no other channel).
//!
//! Through a group robot:
//!
//! ```sh
//! WECOM_WEBHOOK='https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...' \
//!     cargo run -p alert-wechat --example send_wechat -- "job orders failed"
//! ```
//!
//! As an app message (to `WECOM_USERS`, `@all` by default), or to the app's group chat when
//! `WECOM_CHAT_ID` is set:
//!
//! ```sh
//! WECOM_CORP_ID=ww0123456789 WECOM_SECRET='...' WECOM_AGENT_ID=1000002 WECOM_USERS='alice|bob' \
//!     cargo run -p alert-wechat --example send_wechat -- "job orders failed"
//! ```
//!
//! Optional: `WECOM_SHOW_TYPE` (`markdown`, the default, or `text`), `WECOM_AT_USERS` (robot
//! mentions), `WECOM_BASE_URL` (the API root of a private deployment or of a mock), `WECOM_PROXY`.
//! Against the local mock of `alert-testkit` (`cargo run -p alert-testkit --bin mock-wecom`), see
//! the crate documentation. Exits 0 when WeCom accepted the message (warnings such as
//! `invaliduser` on stderr), 1 with the channel's error otherwise, 2 when the configuration is
//! incomplete or invalid.

use std::process::ExitCode;

use alert_core::{Alert, Channel};
use alert_wechat::WeComChannel;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let send_type = match (
        var("WECOM_WEBHOOK"),
        var("WECOM_CHAT_ID"),
        var("WECOM_CORP_ID"),
    ) {
        (Some(_), _, _) => "robot",
        (None, Some(_), _) => "appchat",
        (None, None, Some(_)) => "app",
        (None, None, None) => {
            eprintln!(
                "set WECOM_WEBHOOK (a group robot), or WECOM_CORP_ID, WECOM_SECRET and \
                 WECOM_AGENT_ID (an app; WECOM_CHAT_ID for its group chat); optional: \
                 WECOM_USERS, WECOM_SHOW_TYPE, WECOM_AT_USERS, WECOM_BASE_URL, WECOM_PROXY"
            );
            return ExitCode::from(2);
        }
    };
    // Unset variables are `null`, which the schema treats as absent: a missing required one is
    // reported by its parameter name, and no error repeats a secret. Parameters of the other
    // send types are ignored.
    let params = json!({
        "send_type": send_type,
        "webhook": var("WECOM_WEBHOOK"),
        "at_users": var("WECOM_AT_USERS"),
        "corp_id": var("WECOM_CORP_ID"),
        "secret": var("WECOM_SECRET"),
        "agent_id": var("WECOM_AGENT_ID"),
        "users": var("WECOM_USERS"),
        "chat_id": var("WECOM_CHAT_ID"),
        "base_url": var("WECOM_BASE_URL"),
        "show_type": var("WECOM_SHOW_TYPE"),
        "proxy": var("WECOM_PROXY"),
    });
    let channel = match WeComChannel::from_json(&params) {
        Ok(channel) => channel,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let text = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let text = if text.is_empty() {
        "flink-alert test message".to_owned()
    } else {
        text
    };
    match channel.send(&Alert::plain("flink-alert", text)).await {
        Ok(delivered) => {
            for warning in delivered.warnings {
                eprintln!("warning: {warning}");
            }
            eprintln!("delivered via {channel}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wechat: {e} ({})", e.kind);
            ExitCode::FAILURE
        }
    }
}
