//! Send one message to a Feishu bot using only `alert-feishu` (no server, no other channel).
//!
//! ```sh
//! FEISHU_WEBHOOK='https://open.feishu.cn/open-apis/bot/v2/hook/...' \
//! FEISHU_SECRET='...' FEISHU_KEYWORD='Flink' \
//!     cargo run -p alert-feishu --example send_feishu -- "job orders failed"
//! ```
//! Exits 0 when the bot accepted the message, 1 with the channel's error otherwise.

use std::process::ExitCode;

use alert_core::{Alert, Channel};
use alert_feishu::{FeishuChannel, FeishuConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Ok(webhook) = std::env::var("FEISHU_WEBHOOK") else {
        eprintln!(
            "set FEISHU_WEBHOOK to the bot's webhook URL (optional: FEISHU_SECRET, FEISHU_KEYWORD)"
        );
        return ExitCode::from(2);
    };
    let mut config = FeishuConfig::new(webhook);
    config.secret = std::env::var("FEISHU_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .map(Into::into);
    config.keyword = std::env::var("FEISHU_KEYWORD")
        .ok()
        .filter(|s| !s.is_empty());
    let text = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let text = if text.is_empty() {
        "flink-alert test message".to_owned()
    } else {
        text
    };
    let bot = match FeishuChannel::new(config) {
        Ok(bot) => bot,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match bot.send(&Alert::plain("flink-alert", text)).await {
        Ok(_) => {
            eprintln!("delivered");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("feishu: {e} ({})", e.kind);
            ExitCode::FAILURE
        }
    }
}
