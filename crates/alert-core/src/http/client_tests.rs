use std::sync::atomic::Ordering;

use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::http::tests::counting_server;
use crate::ErrorKind;

#[tokio::test]
async fn instances_with_the_same_settings_share_one_connection_pool() {
    let (url, accepted) = counting_server().await;
    // A timeout no other test uses: the client cache is process-wide.
    let timeout = Duration::from_millis(4_331);
    let first = HttpClient::new(timeout, None).unwrap();
    let second = HttpClient::new(timeout, None).unwrap();
    assert!(matches!(first.route, Route::Direct(_)));
    for client in [&first, &second, &first] {
        let answer: Value = client.post_json(&url, b"{}".to_vec()).await.unwrap();
        assert_eq!(answer, json!({}));
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "both clients reuse one kept-alive connection"
    );
    let other = HttpClient::new(Duration::from_millis(4_332), None).unwrap();
    let _: Value = other.get_json(&url).await.unwrap();
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "another timeout, another pool"
    );
}

#[tokio::test]
async fn a_request_carries_its_method_headers_and_body_and_the_answer_comes_back_whole() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/hook"))
        .and(header("x-token", "t0k"))
        .and(header("user-agent", AGENT))
        .and(header("accept", "*/*"))
        .and(body_json(json!({"a": 1})))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_string("slow down"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = HttpClient::new(Duration::from_millis(4_333), None).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-token", HeaderValue::from_static("t0k"));
    let url = Url::parse(&format!("{}/hook", server.uri())).unwrap();
    let answer = client
        .send(Method::PUT, &url, headers, br#"{"a":1}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(answer.status, 429);
    assert_eq!(answer.retry_after.as_deref(), Some("7"));
    assert_eq!(&answer.body[..], b"slow down");
}

#[tokio::test]
async fn json_answers_are_classified_like_send_json() {
    let server = MockServer::start().await;
    Mock::given(path("/busy"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .mount(&server)
        .await;
    Mock::given(path("/html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>portal</html>"))
        .mount(&server)
        .await;
    Mock::given(path("/moved"))
        .respond_with(
            ResponseTemplate::new(301).insert_header("location", "https://elsewhere/?token=s3cr3t"),
        )
        .mount(&server)
        .await;
    let client = HttpClient::new(Duration::from_millis(4_334), None).unwrap();
    let at = |p: &str| Url::parse(&format!("{}{p}", server.uri())).unwrap();
    let busy = client.post_json::<Value>(&at("/busy"), Vec::new()).await;
    let busy = busy.unwrap_err();
    assert_eq!((busy.kind, busy.code), (ErrorKind::Retry, Some(503)));
    let html = client.get_json::<Value>(&at("/html")).await.unwrap_err();
    assert_eq!(html.kind, ErrorKind::Permanent);
    assert!(
        html.message.contains("is the URL right"),
        "{}",
        html.message
    );
    let moved = client.post_json::<Value>(&at("/moved"), Vec::new()).await;
    let moved = moved.unwrap_err();
    assert_eq!(
        moved.kind,
        ErrorKind::Permanent,
        "a redirect is not followed"
    );
    assert!(
        moved.message.contains("301") && !moved.message.contains("s3cr3t"),
        "{}",
        moved.message
    );
}

#[tokio::test]
async fn a_silent_server_times_out_and_a_closed_port_is_a_retry_without_the_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = Url::parse(&format!(
        "http://{}/send?access_token=s3cr3t",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    let client = HttpClient::new(Duration::from_millis(300), None).unwrap();
    let started = std::time::Instant::now();
    let err = client
        .post_json::<Value>(&silent, Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Retry);
    assert!(err.message.contains("timed out"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(listener);

    let err = client
        .post_json::<Value>(&silent, Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Retry);
    assert!(err.message.contains("could not connect"), "{}", err.message);
    assert!(!err.message.contains("s3cr3t"), "{}", err.message);
}

#[tokio::test]
async fn an_endless_answer_is_cut_and_refused() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; MAX_ANSWER_BYTES + 1]))
        .mount(&server)
        .await;
    let client = HttpClient::new(Duration::from_millis(4_335), None).unwrap();
    let url = Url::parse(&format!("{}/big", server.uri())).unwrap();
    let err = client.get_json::<Value>(&url).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("longer than"), "{}", err.message);
}

#[tokio::test]
async fn an_endless_answer_through_a_proxy_is_cut_and_refused_too() {
    let proxy = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; MAX_ANSWER_BYTES + 1]))
        .mount(&proxy)
        .await;
    let secret = Secret::new(format!("http://{}", proxy.address()));
    let client = HttpClient::new(Duration::from_millis(4_337), Some(&secret)).unwrap();
    let url = Url::parse("http://robot.invalid/big").unwrap();
    let err = client.get_json::<Value>(&url).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("longer than"), "{}", err.message);
}

#[tokio::test]
async fn an_instance_behind_a_proxy_sends_through_it_with_its_credentials() {
    // The mock is the proxy: it receives the absolute-form request for a host that does not
    // resolve, with the proxy's basic credentials (user:pr0xypass).
    let proxy = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/robot/send"))
        .and(header("proxy-authorization", "Basic dXNlcjpwcjB4eXBhc3M="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": 0})))
        .expect(1)
        .mount(&proxy)
        .await;
    let address = proxy.address();
    let secret = Secret::new(format!("http://user:pr0xypass@{address}"));
    let client = HttpClient::new(Duration::from_millis(4_336), Some(&secret)).unwrap();
    assert!(matches!(client.route, Route::Proxied(_)));
    let debug = format!("{client:?}");
    assert!(!debug.contains("pr0xypass"), "{debug}");
    let url = Url::parse("http://robot.invalid/robot/send?access_token=t").unwrap();
    let answer: Value = client.post_json(&url, b"{}".to_vec()).await.unwrap();
    assert_eq!(answer, json!({"errcode": 0}));
}

#[test]
fn a_bad_proxy_is_refused_on_its_parameter() {
    let bad = Secret::new("ftp://user:hunter2@proxy.example:21".to_owned());
    let err = HttpClient::new(DEFAULT_TIMEOUT_FOR_TESTS, Some(&bad)).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("proxy") && !text.contains("hunter2"),
        "{text}"
    );
}

const DEFAULT_TIMEOUT_FOR_TESTS: Duration = super::super::DEFAULT_TIMEOUT;
