//! Send one alert by mail using only `alert-email` (no server, no other channel).
//!
//! ```sh
//! SMTP_HOST=smtp.example.com SMTP_USER=alerts@example.com SMTP_PASSWORD='...' \
//! MAIL_FROM='Flink Alerts <alerts@example.com>' MAIL_TO=oncall@example.com \
//!     cargo run -p alert-email --example send_email -- "job orders failed"
//! ```
//! STARTTLS on port 587 unless `SMTP_TLS` (`tls`, `none`) and `SMTP_PORT` say otherwise.
//! Exits 0 when the server accepted the message, 1 otherwise.

use std::process::ExitCode;

use alert_core::{Alert, Channel};
use alert_email::EmailChannel;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(host), Some(from), Some(to)) = (var("SMTP_HOST"), var("MAIL_FROM"), var("MAIL_TO"))
    else {
        eprintln!("set SMTP_HOST, MAIL_FROM and MAIL_TO (optional: SMTP_PORT, SMTP_TLS, SMTP_USER, SMTP_PASSWORD)");
        return ExitCode::from(2);
    };
    let params = json!({
        "host": host, "from": from, "to": to, "port": var("SMTP_PORT"),
        "tls": var("SMTP_TLS"), "user": var("SMTP_USER"), "password": var("SMTP_PASSWORD"),
    });
    let mail = match EmailChannel::from_json(&params) {
        Ok(mail) => mail,
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
    match mail.send(&Alert::plain("flink-alert", text)).await {
        Ok(_) => {
            eprintln!("delivered via {mail}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("email: {e} ({})", e.kind);
            ExitCode::FAILURE
        }
    }
}
