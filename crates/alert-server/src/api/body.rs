//! [`JsonBody`]: a JSON request body whose errors name the field (serde_path_to_error).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Like `axum::Json`, with errors in the API's shape: 400 `malformed_json` for bad syntax,
/// 400 `invalid_body` naming the field for a wrong shape, 415 without a JSON content type.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// A request body with a JSON content type, not parsed yet (for endpoints that take more than
/// one shape); 415 without a JSON content type.
#[derive(Debug, Clone)]
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send a JSON body with `Content-Type: application/json`",
            ));
        }
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0);
        Bytes::from_request(req, state)
            .await
            .map(JsonBytes)
            .map_err(|e| match e.status() {
                // A body without a `Content-Length` that ran past `http.max_body_bytes` (the
                // limit `serve::router` gives axum); announced ones are refused before the handler.
                StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::payload_too_large(limit.unwrap_or_default())
                }
                _ => ApiError::bad_request("unreadable_body", e.body_text()),
            })
    }
}

/// The request body limit (`http.max_body_bytes`), put in the request's extensions by the server
/// ([`crate::http_server::limit_body`]) for the 413's message.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Parses JSON, naming the field that is wrong.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole body: a body cut short or followed by garbage is malformed
    // even when its beginning already lacks a field.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
    })?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(
                "malformed_json",
                format!("body is not valid JSON: {inner}"),
            );
        }
        let path = e.path().to_string();
        let message = strip_position(&inner.to_string());
        let root = path == "." || path.is_empty();
        // serde names missing and unknown fields only inside the message, and the path stops at
        // the object that lacks (or has) them.
        let named =
            (root || message.starts_with("missing field") || message.starts_with("unknown field"))
                .then(|| between_backticks(&message))
                .flatten()
                .filter(|name| !path.ends_with(name.as_str()));
        let field = match (root, named) {
            (true, named) => named.unwrap_or_default(),
            (false, Some(name)) => format!("{path}.{name}"),
            (false, None) => path,
        };
        let mut err = ApiError::bad_request("invalid_body", message);
        if !field.is_empty() {
            err = err.with_field(field);
        }
        err
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
    })?;
    Ok(value)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn between_backticks(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse::<Body>(b"{\"name\": 1}").unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("invalid_body", Some("name")));
        let e = parse::<Body>(b"{\"name\":\"x\",\"inner\":{\"n\":-1}}").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner.n"));
        let e = parse::<Body>(b"{}").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("name"));
        let e = parse::<Body>(b"{\"name\":\"x\",\"nmae\":1}").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("nmae"));
        let e = parse::<Body>(b"{\"name\":").unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "malformed_json")
        );
        let e = parse::<Body>(b"{\"name\":\"x\"} trailing").unwrap_err();
        assert_eq!(e.code, "malformed_json");
        // Malformed wins over a missing field.
        let e = parse::<Body>(b"{} trailing").unwrap_err();
        assert_eq!(e.code, "malformed_json");
    }

    #[test]
    fn errors_in_an_array_name_the_item_and_its_field() {
        let e = parse::<Vec<Body>>(b"[{\"name\":\"a\"},{}]").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("[1].name"));
        let e = parse::<Vec<Body>>(b"[{\"name\":\"a\"},{\"name\":\"b\",\"nmae\":1}]").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("[1].nmae"));
        let e = parse::<Vec<Body>>(b"[{\"name\":\"a\",\"inner\":{\"n\":-1}}]").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("[0].inner.n"));
        let e = parse::<Body>(b"{\"name\":\"x\",\"inner\":{}}").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner.n"));
    }
}
