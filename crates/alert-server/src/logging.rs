//! The log of `serve`: `text` (the default, one human-readable line per event) or `json` (one
//! JSON object per line: `timestamp`, `level`, `target`, `message` and the event's fields at
//! the top level), filtered by `log` (`RUST_LOG` wins when set).
//!
//! Fields keep one name wherever they are logged: `event` (an event id), `delivery` (a delivery
//! id), `instance` (an alert instance id), `job` (a Flink job name), `cluster` (a cluster
//! name), `error`. Secrets are [`alert_core::Secret`]s, masked when formatted, so logging one
//! by mistake shows `******`.

use std::io;

use serde::{Deserialize, Serialize};
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The filter: `RUST_LOG` when set and valid, else `directives` (the `log` setting), else
/// `info`.
pub fn filter(directives: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(directives))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// A subscriber writing `format` lines through `writer` (standard output for `serve`, a buffer
/// in tests); `text` is colored when `ansi` (a terminal).
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_target(false).with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
    }
}

/// Installs the process's subscriber (standard output, colored when it is a terminal); a
/// second call changes nothing.
pub fn init(format: LogFormat, directives: &str) {
    let ansi = io::IsTerminal::is_terminal(&io::stdout());
    let subscriber = subscriber(format, filter(directives), io::stdout, ansi);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use alert_core::Secret;
    use serde_json::Value;

    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn log_with(format: LogFormat) -> String {
        let buffer = Buffer::default();
        let subscriber = subscriber(format, EnvFilter::new("debug"), buffer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            let token = Secret::new("tok-s3cret-value");
            tracing::info!(event = 17_i64, delivery = 23_i64, instance = 5_i64, job = "orders_etl",
                cluster = "prod", token = ?token, shown = %token, "delivery sent");
            tracing::trace!("below the filter");
            tracing::warn!(
                cluster = "prod",
                error = "connection refused",
                "poll failed"
            );
        });
        buffer.text()
    }

    #[test]
    fn json_lines_carry_time_level_target_message_and_fields() {
        let text = log_with(LogFormat::Json);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first = &lines[0];
        let time = first["timestamp"].as_str().expect("a timestamp");
        chrono::DateTime::parse_from_rfc3339(time).expect("RFC 3339");
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["target"], "alert_server::logging::tests");
        assert_eq!(first["message"], "delivery sent");
        assert_eq!(first["event"], 17);
        assert_eq!(first["delivery"], 23);
        assert_eq!(first["instance"], 5);
        assert_eq!(first["job"], "orders_etl");
        assert_eq!(first["cluster"], "prod");
        assert_eq!(first["token"], alert_core::secret::MASK);
        assert_eq!(first["shown"], alert_core::secret::MASK);
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["error"], "connection refused");
        assert!(!text.contains("tok-s3cret-value"), "{text}");
    }

    #[test]
    fn text_is_one_plain_line_per_event_without_secrets() {
        let text = log_with(LogFormat::Text);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.trim_start().starts_with('{'), "{text}");
        assert!(
            text.contains("delivery sent") && text.contains("job=\"orders_etl\""),
            "{text}"
        );
        assert!(!text.contains("tok-s3cret-value"), "{text}");
    }
}
