//! `alert-server healthcheck`: asks a running server's `/healthz` and exits 0 when it answers
//! 200, 1 otherwise, with one line saying what it saw. For container health checks
//! (`HEALTHCHECK CMD ["/alert-server", "healthcheck"]`) in images without curl or a shell.

use std::time::Duration;

use clap::Args;

use crate::report::Report;

/// The URL asked by default: the server's default port on loopback.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/healthz";

/// `alert-server healthcheck`
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The health URL to ask (no proxy is used).
    #[arg(long, value_name = "URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// Give up after this many milliseconds (connecting and answering).
    #[arg(long, default_value_t = 5_000)]
    pub timeout_ms: u64,
}

/// Exit code when the server is healthy.
pub const HEALTHY: u8 = 0;
/// Exit code for anything else (not 200, no answer, a bad URL): what container runtimes
/// read as unhealthy.
pub const UNHEALTHY: u8 = 1;

/// Asks `args.url` once; the report has one line, on stdout when healthy, on stderr otherwise.
pub async fn run(args: &HealthcheckArgs) -> Report {
    let url = match url::Url::parse(&args.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        Ok(u) => {
            return unhealthy(format!(
                "{}: not an http(s) URL (scheme `{}`)",
                args.url,
                u.scheme()
            ))
        }
        Err(e) => return unhealthy(format!("{}: invalid URL: {e}", args.url)),
    };
    // Printed with any credentials and secret query values masked.
    let shown = alert_core::text::redact_url(url.as_str());
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(args.timeout_ms.max(1)))
        .build()
    {
        Ok(c) => c,
        Err(e) => return unhealthy(format!("cannot build an HTTP client: {e}")),
    };
    match client.get(url).send().await {
        Ok(res) if res.status() == reqwest::StatusCode::OK => Report {
            stdout: vec![format!("healthy: {shown} answered {}", res.status())],
            stderr: Vec::new(),
            code: HEALTHY,
        },
        Ok(res) => unhealthy(format!("{shown} answered {}", res.status())),
        Err(e) if e.is_timeout() => unhealthy(format!(
            "{shown} did not answer within {} ms",
            args.timeout_ms
        )),
        Err(e) => unhealthy(format!(
            "{shown} is unreachable: {}",
            alert_core::text::redact_urls_in(&error_chain(&e))
        )),
    }
}

fn unhealthy(message: String) -> Report {
    Report {
        stdout: Vec::new(),
        stderr: vec![format!("unhealthy: {message}")],
        code: UNHEALTHY,
    }
}

/// An error with its causes, on one line (reqwest's own text is only "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> HealthcheckArgs {
        HealthcheckArgs {
            url: url.to_owned(),
            timeout_ms: 2_000,
        }
    }

    #[tokio::test]
    async fn a_bad_url_is_unhealthy_with_one_line() {
        for url in ["not a url", "ftp://127.0.0.1/healthz"] {
            let report = run(&args(url)).await;
            assert_eq!(report.code, UNHEALTHY);
            assert!(report.stdout.is_empty());
            assert_eq!(report.stderr.len(), 1, "{report:?}");
            assert!(report.stderr[0].starts_with("unhealthy: "), "{report:?}");
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let report = run(&args(&format!("http://127.0.0.1:{port}/healthz"))).await;
        assert_eq!(report.code, UNHEALTHY);
        assert!(
            report.stderr[0].contains("is unreachable"),
            "{:?}",
            report.stderr
        );
    }
}
