//! POST one alert to any HTTP endpoint using only `alert-webhook` (no server, no other channel).
//!
//! ```sh
//! WEBHOOK_URL='https://alerts.example.com/hooks/flink' \
//! WEBHOOK_SIGNING_SECRET='...' WEBHOOK_AUTHORIZATION='Bearer ...' \
//!     cargo run -p alert-webhook --example send_webhook -- "job orders failed"
//! ```
//! Prints the body it sent; exits 0 when the receiver accepted it, 1 otherwise.

use std::process::ExitCode;

use alert_core::{Alert, Channel};
use alert_webhook::{Signing, WebhookChannel, WebhookConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Ok(url) = std::env::var("WEBHOOK_URL") else {
        eprintln!("set WEBHOOK_URL (optional: WEBHOOK_SIGNING_SECRET, WEBHOOK_AUTHORIZATION)");
        return ExitCode::from(2);
    };
    let mut config = WebhookConfig::new(url);
    if let Ok(secret) = std::env::var("WEBHOOK_SIGNING_SECRET") {
        config.signing = Some(Signing::new(secret));
    }
    if let Ok(auth) = std::env::var("WEBHOOK_AUTHORIZATION") {
        config
            .secret_headers
            .push(("Authorization".into(), auth.into()));
    }
    let text = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let alert = Alert::plain(
        "flink-alert",
        if text.is_empty() {
            "flink-alert test message".into()
        } else {
            text
        },
    );
    let hook = match WebhookChannel::new(config) {
        Ok(hook) => hook,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if let Ok(body) = hook.body(&alert) {
        eprintln!("{}", String::from_utf8_lossy(&body));
    }
    match hook.send(&alert).await {
        Ok(_) => {
            eprintln!("delivered");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("webhook: {e} ({})", e.kind);
            ExitCode::FAILURE
        }
    }
}
