//! `my-alert-server`: how a downstream user bundles their own channel set.
//!
//! The binary links exactly the channel crates it names below (DingTalk from the project, the
//! example Slack channel from a third party) and nothing else: linking a plugin crate is what
//! registers it, so `plugins` lists `dingtalk` and `slack` only.
//!
//! ```sh
//! cargo run -p my-alert-server -- plugins
//! cargo run -p my-alert-server -- send --kind slack \
//!     --params '{"webhook":"https://hooks.slack.com/services/..."}' --text "job orders failed"
//! ```
//! Exit codes follow `alert-server send`: 0 delivered, 2 invalid input, 3 permanent failure,
//! 75 transient failure.

use std::process::ExitCode;

use alert_core::Alert;
// The bundle: one line per channel crate.
use alert_dingtalk as _;
use flink_alert_slack as _;

fn usage() -> ExitCode {
    eprintln!("usage: my-alert-server plugins | send --kind KIND --params JSON --text TEXT");
    ExitCode::from(2)
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let registry = match alert_core::try_registry() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match args.first().map(String::as_str) {
        Some("plugins") => {
            for d in registry.descriptors() {
                println!("{}\t{}\t{}", d.kind, d.name, d.description);
            }
            ExitCode::SUCCESS
        }
        Some("send") => {
            let (Some(kind), Some(params), Some(text)) = (
                flag(&args, "--kind"),
                flag(&args, "--params"),
                flag(&args, "--text"),
            ) else {
                return usage();
            };
            let params: serde_json::Value = match serde_json::from_str(params) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("--params: invalid JSON ({e})");
                    return ExitCode::from(2);
                }
            };
            let channel = match registry.build(kind, &params) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            match channel.send(&Alert::plain("flink-alert", text)).await {
                Ok(_) => {
                    eprintln!("delivered via {kind}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{kind}: {e}");
                    ExitCode::from(if e.kind.is_transient() { 75 } else { 3 })
                }
            }
        }
        _ => usage(),
    }
}
