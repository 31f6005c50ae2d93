//! `alert-server send`: build one instance through the registry and send one message.

use std::time::Duration;

use alert_core::{Alert, ErrorKind, JobEvent, Renderer, TemplateSources};

use crate::cli::SendArgs;
use crate::exit;
use crate::input::read_json;
use crate::report::Report;

/// Builds the alert the arguments describe.
fn build_alert(args: &SendArgs) -> Result<Alert, String> {
    if let Some(raw) = &args.event {
        let event: JobEvent = read_json("event", raw).map_err(|e| e.to_string())?;
        let sources: TemplateSources = match &args.templates {
            Some(raw) => read_json("templates", raw).map_err(|e| e.to_string())?,
            None => TemplateSources::default(),
        };
        let renderer = Renderer::new(&sources).map_err(|e| format!("--templates: {e}"))?;
        let mut alert = renderer.render(&event).map_err(|e| e.to_string())?;
        if let Some(title) = &args.title {
            alert.title.clone_from(title);
        }
        return Ok(alert);
    }
    let text = args.text.clone().unwrap_or_default();
    if text.trim().is_empty() {
        return Err("--text: must not be empty".to_owned());
    }
    Ok(Alert::plain(
        args.title
            .clone()
            .unwrap_or_else(|| "flink-alert".to_owned()),
        text,
    ))
}

/// Runs `send`: one attempt (plus the plugin's own token refresh), classified into an exit code;
/// the report is one line (see [`exit`] for the codes).
pub async fn run(args: &SendArgs) -> Report {
    let params: serde_json::Value = match read_json("params", &args.params) {
        Ok(p) => p,
        Err(e) => return Report::error(exit::INVALID_INPUT, e.to_string()),
    };
    let channel = match crate::registry().build(&args.kind, &params) {
        Ok(c) => c,
        Err(e) => return Report::error(exit::INVALID_INPUT, e.to_string()),
    };
    let alert = match build_alert(args) {
        Ok(a) => a,
        Err(e) => return Report::error(exit::INVALID_INPUT, e),
    };
    let timeout = Duration::from_millis(args.timeout_ms);
    let result = match tokio::time::timeout(timeout, channel.send(&alert)).await {
        Ok(r) => r,
        Err(_) => Err(alert_core::ChannelError::retry(format!(
            "no answer within {} ms",
            args.timeout_ms
        ))),
    };
    match result {
        Ok(delivered) => Report {
            code: exit::OK,
            stdout: vec![format!("delivered via {}", args.kind)],
            stderr: delivered
                .warnings
                .iter()
                .map(|w| format!("warning: {w}"))
                .collect(),
        },
        Err(e) => Report {
            code: match e.kind {
                ErrorKind::Retry | ErrorKind::Throttle { .. } => exit::TRANSIENT,
                ErrorKind::RefreshAuth | ErrorKind::TooLong | ErrorKind::Permanent => {
                    exit::PERMANENT
                }
            },
            stdout: vec![],
            stderr: vec![format!("{}: {} [{}]", args.kind, e.message, e.kind)],
        },
    }
}
