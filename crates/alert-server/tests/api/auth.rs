//! Bearer-token authentication of `/api/v1` when a token is configured.

use alert_core::Secret;
use serde_json::json;

use crate::common::TestServer;

const TOKEN: &str = "api-test-token-5d1e";

#[tokio::test]
async fn with_a_token_api_calls_need_it() {
    let srv = TestServer::start_with(|c| c.token = Some(Secret::new(TOKEN))).await;
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let event =
        serde_json::to_vec(&json!({"job_id": "j", "job_name": "n", "status": "FAILED"})).unwrap();
    for (method, path, body) in [
        (get.clone(), "/api/v1/instances", None),
        (get.clone(), "/api/v1/history", None),
        (get.clone(), "/api/v1/plugins", None),
        (get.clone(), "/api/v1/instances/1", None),
        (
            post.clone(),
            "/api/v1/events",
            Some(("application/json", event.clone())),
        ),
        // Even a malformed body is refused for want of a token first.
        (
            post.clone(),
            "/api/v1/groups",
            Some(("application/json", b"{".to_vec())),
        ),
    ] {
        for auth in [
            None,
            Some("wrong-token"),
            Some(""),
            Some("api-test-token-5d1"),
        ] {
            let res = srv
                .raw(method.clone(), path, body.clone(), Some(auth))
                .await;
            res.expect_error(401, "unauthorized", None);
            assert!(!res.text.contains(TOKEN), "token echoed: {}", res.text);
        }
    }
    // Not a bearer token.
    let res = srv
        .http
        .get(srv.url("/api/v1/instances"))
        .header("authorization", format!("Basic {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Nothing was stored by the refused event.
    assert_eq!(srv.history("").await.len(), 0);

    assert_eq!(srv.get("/api/v1/instances").await.expect(200), json!([]));
    srv.event(&crate::common::job_event("j", "n", "FAILED", ""))
        .await
        .expect(202);
    // Open: health and metrics.
    for path in ["/healthz", "/metrics"] {
        let res = srv.raw(get.clone(), path, None, Some(None)).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text);
    }
    assert_eq!(
        srv.raw(get.clone(), "/healthz", None, Some(None))
            .await
            .body["status"],
        json!("ok")
    );
}

#[tokio::test]
async fn without_a_token_everything_is_open() {
    let srv = TestServer::start().await;
    assert!(srv.token.is_none());
    for path in [
        "/api/v1/instances",
        "/api/v1/groups",
        "/api/v1/bindings",
        "/api/v1/history",
        "/healthz",
        "/metrics",
    ] {
        let res = srv.raw(reqwest::Method::GET, path, None, Some(None)).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text);
    }
    // A stray header does no harm.
    let res = srv
        .raw(
            reqwest::Method::GET,
            "/api/v1/instances",
            None,
            Some(Some("whatever")),
        )
        .await;
    assert_eq!(res.status, 200);
}
