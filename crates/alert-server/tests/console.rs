//! The web console as the server serves it: the page and its assets are embedded and public,
//! the API behind them keeps asking for the token. (The console itself is tested in a real
//! browser by `npm --prefix crates/alert-server/console test`; see docs/CONSOLE.md.)

#[path = "support/server.rs"]
mod server;

use server::Server;

const TOKEN: &str = "console-test-token";

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn root_serves_the_console_page() {
    let server = Server::start("console", None).await;
    let res = server.get("/", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    assert!(header(&res, "content-security-policy").contains("script-src 'self'"));
    assert_eq!(header(&res, "cache-control"), "no-cache");
    let etag = header(&res, "etag");
    assert!(!etag.is_empty());
    let html = res.text().await.expect("body");
    assert!(html.contains("<div id=\"app\">"), "{html}");
    assert!(html.contains("/assets/app.js"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing is fetched from elsewhere: {html}"
    );

    // Revalidation: the same ETag gives a 304 without a body.
    let again = server
        .http
        .get(format!("{}/", server.base))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("answer");
    assert_eq!(again.status(), 304);
    server.stop().await;
}

#[tokio::test]
async fn assets_are_served_with_their_types() {
    let server = Server::start("console", None).await;
    for (path, content_type) in [
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let res = server.get(path, None).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(header(&res, "content-type"), content_type, "{path}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{path}");
        let bytes = res.bytes().await.expect("body");
        let embedded = alert_server::console::asset(path.trim_start_matches('/'))
            .expect("embedded")
            .bytes;
        assert_eq!(&bytes[..], embedded, "{path}");
    }
    assert_eq!(server.get("/assets/nope.js", None).await.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn page_paths_fall_back_to_the_console_and_api_paths_do_not() {
    let server = Server::start("console", None).await;
    let res = server.get("/history", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    // Unknown API paths stay JSON 404s; files that do not exist are 404s.
    let res = server.get("/api/v1/nope", None).await;
    assert_eq!(res.status(), 404);
    assert!(header(&res, "content-type").starts_with("application/json"));
    assert_eq!(server.get("/api/v2/instances", None).await.status(), 404);
    assert_eq!(server.get("/robots.txt", None).await.status(), 404);
    // The API, health and metrics are unchanged.
    assert_eq!(server.get("/api/v1/instances", None).await.status(), 200);
    assert_eq!(server.get("/healthz", None).await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn with_a_token_the_console_is_public_and_the_api_is_not() {
    let server = Server::start("console", Some(TOKEN)).await;
    assert_eq!(server.get("/", None).await.status(), 200);
    assert_eq!(server.get("/assets/app.js", None).await.status(), 200);
    assert_eq!(server.get("/groups", None).await.status(), 200);

    assert_eq!(server.get("/api/v1/instances", None).await.status(), 401);
    assert_eq!(
        server
            .get("/api/v1/instances", Some("wrong"))
            .await
            .status(),
        401
    );
    assert_eq!(
        server.get("/api/v1/instances", Some(TOKEN)).await.status(),
        200
    );
    // The console's message preview is behind the token too.
    assert_eq!(
        server
            .get("/console/api/events/1/message", None)
            .await
            .status(),
        401
    );
    assert_eq!(
        server
            .get("/console/api/events/1/message", Some(TOKEN))
            .await
            .status(),
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn the_message_preview_is_the_rendered_event() {
    let server = Server::start("console", None).await;
    let res = server
        .http
        .post(format!("{}/api/v1/events", server.base))
        .json(&serde_json::json!({
            "job_id": "5f3c0a3a1f1e4c2b9d8e7f6a5b4c3d2e", "job_name": "orders_etl",
            "status": "FAILED", "previous_status": "RUNNING", "error": "boom"
        }))
        .send()
        .await
        .expect("answer");
    assert!(res.status().is_success(), "{}", res.status());
    let accepted: serde_json::Value = res.json().await.expect("json");
    let id = accepted["event_id"].as_i64().expect("event_id");
    let res = server
        .get(&format!("/console/api/events/{id}/message"), None)
        .await;
    assert_eq!(res.status(), 200);
    let message: serde_json::Value = res.json().await.expect("json");
    let markdown = message["markdown"].as_str().expect("markdown");
    assert!(
        markdown.contains("orders_etl") && markdown.contains("boom"),
        "{markdown}"
    );
    assert!(message["title"]
        .as_str()
        .is_some_and(|t| t.contains("FAILED")));
    server.stop().await;
}
