//! `alert-server healthcheck` (the container image's HEALTHCHECK) run as the binary against a
//! running server: 0 and one line on stdout for a 200, 1 and one line on stderr otherwise.

#[path = "support/cli.rs"]
mod cli;

#[path = "support/server.rs"]
mod server;

use cli::{assert_code, stderr, stdout};
use server::Server;

async fn healthcheck(url: &str) -> std::process::Output {
    cli::run(vec![
        "healthcheck".to_owned(),
        "--url".to_owned(),
        url.to_owned(),
        "--timeout-ms".to_owned(),
        "5000".to_owned(),
    ])
    .await
}

#[tokio::test]
async fn healthy_unhealthy_and_unreachable() {
    let mut server = Server::start("healthcheck", None).await;
    let url = format!("{}/healthz", server.base);

    // 200: exit 0, one line on stdout naming the URL and the status.
    let out = healthcheck(&url).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("healthy: {url} answered 200 OK\n"));
    assert_eq!(stderr(&out), "");

    // Anything but 200 (here a 404 of the API): exit 1, one line on stderr.
    let out = healthcheck(&format!("{}/api/v1/nope", server.base)).await;
    assert_code(&out, 1);
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.starts_with("unhealthy: ") && err.contains("404"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // A stopped server: exit 1, unreachable.
    server.shutdown().await;
    let out = healthcheck(&url).await;
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.starts_with("unhealthy: ") && err.contains("unreachable"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[tokio::test]
async fn the_default_url_is_the_default_listen_address() {
    // Without --url it asks the server's default address; `--help` says so.
    let out = cli::run(vec!["healthcheck".to_owned(), "--help".to_owned()]).await;
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("http://127.0.0.1:8080/healthz"),
        "{}",
        stdout(&out)
    );
}
