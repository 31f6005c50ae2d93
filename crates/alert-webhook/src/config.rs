//! The webhook's parameters: schema, typed configuration and validation.

use std::fmt;
use std::time::Duration;

use alert_core::{ParamError, ParamSpec, ParamType, Secret, ValidParams};
use serde_json::Value;
use url::Url;

use crate::sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The parameter schema of the `webhook` kind.
pub static PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "url",
        ParamType::Url,
        "Receiver URL; held as a secret because such URLs often carry a token",
    )
    .required()
    .secret(),
    ParamSpec::new(
        "method",
        ParamType::Enum(&["POST", "PUT", "PATCH"]),
        "HTTP method",
    )
    .default_str("POST"),
    ParamSpec::new(
        "headers",
        ParamType::Text,
        "Extra request headers, one `Name: value` per line",
    ),
    ParamSpec::new(
        "secret_headers",
        ParamType::Text,
        "Headers whose values are secrets (e.g. `Authorization: Bearer ...`), one `Name: value` per line; masked everywhere",
    )
    .secret(),
    ParamSpec::new(
        "body_template",
        ParamType::Text,
        "minijinja template of the JSON body; every {{ expression }} is inserted as a JSON value (variables: schema, alert, event); default: the flink-alert/webhook/v1 document",
    ),
    ParamSpec::new(
        "signing_secret",
        ParamType::String,
        "Shared secret; when set, requests carry a timestamp header and a signature header sha256=hex(HMAC-SHA256(secret, timestamp + \".\" + body))",
    )
    .secret(),
    ParamSpec::new(
        "signature_header",
        ParamType::String,
        "Name of the signature header",
    )
    .default_str(SIGNATURE_HEADER),
    ParamSpec::new(
        "timestamp_header",
        ParamType::String,
        "Name of the timestamp header (Unix seconds)",
    )
    .default_str(TIMESTAMP_HEADER),
    ParamSpec::new(
        "success_status",
        ParamType::String,
        "HTTP statuses that mean delivered: codes and ranges, comma-separated (e.g. 200-299 or 200,202)",
    )
    .default_str("200-299"),
    ParamSpec::new(
        "success_field",
        ParamType::String,
        "Dotted path of a field of the JSON answer that must equal success_equals (e.g. code or data.status)",
    ),
    ParamSpec::new(
        "success_equals",
        ParamType::String,
        "The value success_field must have, as JSON (0, true, \"ok\"); a bare word is a string",
    ),
    ParamSpec::new(
        "proxy",
        ParamType::Url,
        "HTTP(S) proxy for this webhook only, e.g. http://user:password@host:3128",
    )
    .secret(),
    ParamSpec::new("timeout_ms", ParamType::Integer, "Request timeout in milliseconds")
        .default_int(10_000),
];

/// The HTTP method of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Method {
    /// `POST`.
    #[default]
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Request signing: the shared secret and the two header names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signing {
    /// The shared secret.
    pub secret: Secret,
    /// Header carrying `sha256=<hex>`.
    pub signature_header: String,
    /// Header carrying the Unix time in seconds.
    pub timestamp_header: String,
}

impl Signing {
    /// Signing with `secret` under the default header names ([`crate::sign::SIGNATURE_HEADER`],
    /// [`crate::sign::TIMESTAMP_HEADER`]).
    pub fn new(secret: impl Into<Secret>) -> Self {
        Self {
            secret: secret.into(),
            signature_header: crate::sign::SIGNATURE_HEADER.to_owned(),
            timestamp_header: crate::sign::TIMESTAMP_HEADER.to_owned(),
        }
    }
}

/// A field of the JSON answer that must have a value for the send to count as delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldCheck {
    /// Dotted path (`code`, `data.status`, `results.0.ok`).
    pub path: String,
    /// The expected value.
    pub equals: Value,
}

impl FieldCheck {
    /// The field at `path` must equal `equals`.
    pub fn new(path: impl Into<String>, equals: Value) -> Self {
        Self {
            path: path.into(),
            equals,
        }
    }
}

/// When an answer means "delivered".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SuccessRule {
    /// Inclusive ranges of HTTP statuses.
    pub statuses: Vec<(u16, u16)>,
    /// An optional check of the JSON answer.
    pub field: Option<FieldCheck>,
}

impl Default for SuccessRule {
    /// Any 2xx status, no field check.
    fn default() -> Self {
        Self {
            statuses: vec![(200, 299)],
            field: None,
        }
    }
}

impl SuccessRule {
    /// Parses `success_status` (`200-299`, `200,202`, `200-204, 302`).
    pub fn parse_statuses(raw: &str) -> Result<Vec<(u16, u16)>, ParamError> {
        let err = |what: &str| {
            ParamError::new(
                "success_status",
                format!("{what}; write codes and ranges like 200-299 or 200,202"),
            )
        };
        let code = |s: &str| -> Result<u16, ParamError> {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| err(&format!("`{}` is not an HTTP status", s.trim())))
        };
        let mut out = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if lo > hi {
                return Err(err(&format!("`{part}` is an empty range")));
            }
            out.push((lo, hi));
        }
        if out.is_empty() {
            return Err(err("is empty"));
        }
        Ok(out)
    }

    /// Whether `status` is one of the success statuses.
    pub fn accepts_status(&self, status: u16) -> bool {
        self.statuses
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

impl fmt::Display for SuccessRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges: Vec<String> = self
            .statuses
            .iter()
            .map(|(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        f.write_str(&ranges.join(","))?;
        if let Some(check) = &self.field {
            write!(f, " and {} == {}", check.path, check.equals)?;
        }
        Ok(())
    }
}

/// A webhook's configuration, typed.
///
/// ```
/// use alert_webhook::WebhookConfig;
/// let mut config = WebhookConfig::new("https://alerts.example.com/hooks/flink");
/// config.headers.push(("X-Team".into(), "data".into()));
/// assert_eq!(config.method.as_str(), "POST");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// Receiver URL.
    pub url: Secret,
    /// HTTP method.
    pub method: Method,
    /// Extra headers with values that may be shown.
    pub headers: Vec<(String, String)>,
    /// Extra headers with secret values.
    pub secret_headers: Vec<(String, Secret)>,
    /// Body template (minijinja, JSON-escaping); `None` sends the v1 document.
    pub body_template: Option<String>,
    /// Request signing, when a shared secret is set.
    pub signing: Option<Signing>,
    /// When an answer means delivered.
    pub success: SuccessRule,
    /// Proxy URL, if any.
    pub proxy: Option<Secret>,
    /// Request timeout.
    pub timeout: Duration,
}

impl WebhookConfig {
    /// A configuration with only the URL set: POST the v1 document, 2xx is success.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: Secret::new(url),
            method: Method::Post,
            headers: Vec::new(),
            secret_headers: Vec::new(),
            body_template: None,
            signing: None,
            success: SuccessRule::default(),
            proxy: None,
            timeout: alert_core::http::DEFAULT_TIMEOUT,
        }
    }

    /// Reads parameters that passed [`PARAMS`].
    pub fn from_params(p: &ValidParams) -> Result<Self, ParamError> {
        let timeout_ms = p.int("timeout_ms").unwrap_or(10_000);
        if !(1..=600_000).contains(&timeout_ms) {
            return Err(ParamError::new(
                "timeout_ms",
                "must be between 1 and 600000",
            ));
        }
        let field = match (p.str("success_field"), p.str("success_equals")) {
            (Some(path), Some(equals)) => Some(FieldCheck {
                path: path.trim().to_owned(),
                equals: serde_json::from_str(equals.trim())
                    .unwrap_or_else(|_| Value::from(equals.trim())),
            }),
            (Some(_), None) => {
                return Err(ParamError::new(
                    "success_equals",
                    "is required with success_field",
                ))
            }
            (None, Some(_)) => {
                return Err(ParamError::new(
                    "success_field",
                    "is required with success_equals",
                ))
            }
            (None, None) => None,
        };
        Ok(Self {
            url: Secret::new(p.required_str("url")?),
            method: match p.str("method") {
                Some("PUT") => Method::Put,
                Some("PATCH") => Method::Patch,
                _ => Method::Post,
            },
            headers: parse_header_lines("headers", p.str("headers").unwrap_or_default())?,
            secret_headers: parse_header_lines(
                "secret_headers",
                p.str("secret_headers").unwrap_or_default(),
            )?
            .into_iter()
            .map(|(n, v)| (n, Secret::new(v)))
            .collect(),
            body_template: p.str("body_template").map(str::to_owned),
            signing: p.secret("signing_secret").map(|secret| Signing {
                secret,
                signature_header: p
                    .str("signature_header")
                    .unwrap_or(SIGNATURE_HEADER)
                    .to_owned(),
                timestamp_header: p
                    .str("timestamp_header")
                    .unwrap_or(TIMESTAMP_HEADER)
                    .to_owned(),
            }),
            success: SuccessRule {
                statuses: SuccessRule::parse_statuses(
                    p.str("success_status").unwrap_or("200-299"),
                )?,
                field,
            },
            proxy: p.secret("proxy"),
            timeout: Duration::from_millis(timeout_ms.unsigned_abs()),
        })
    }

    /// Checks the URL; errors never echo it (it may carry a token).
    pub(crate) fn validate_url(&self) -> Result<Url, ParamError> {
        let url = Url::parse(self.url.expose().trim())
            .map_err(|e| ParamError::new("url", format!("is not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(ParamError::new(
                "url",
                "must be an http:// or https:// URL with a host",
            ));
        }
        Ok(url)
    }
}

/// Parses `Name: value` lines (blank lines skipped). The errors of `secret_headers` name the
/// line, never its text.
fn parse_header_lines(field: &str, raw: &str) -> Result<Vec<(String, String)>, ParamError> {
    let secret = field == "secret_headers";
    raw.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let Some((name, value)) = line.split_once(':') else {
                let shown = if secret {
                    String::new()
                } else {
                    format!(" (`{}`)", line.trim())
                };
                return Err(ParamError::new(
                    field,
                    format!("line {} is not `Name: value`{shown}", i + 1),
                ));
            };
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// Redacts a URL to its origin (`https://host:port/***`): paths and queries of webhook URLs
/// often are the credential.
pub(crate) fn redacted_url(url: &Url) -> String {
    let origin = url.origin().ascii_serialization();
    if url.path() == "/" && url.query().is_none() {
        format!("{origin}/")
    } else {
        format!("{origin}/***")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(raw: &Value) -> Result<WebhookConfig, ParamError> {
        WebhookConfig::from_params(&alert_core::params::validate(PARAMS, raw)?)
    }

    #[test]
    fn defaults_post_the_document_and_accept_2xx() {
        let c = params(&json!({"url": "https://h/x"})).unwrap();
        assert_eq!(c.method, Method::Post);
        assert_eq!(c.success, SuccessRule::default());
        assert!(c.signing.is_none() && c.body_template.is_none());
    }

    #[test]
    fn success_rule_parses_codes_ranges_and_json_values() {
        let c = params(
            &json!({"url": "https://h/x", "success_status": "200-204, 302",
            "success_field": "data.code", "success_equals": 0}),
        )
        .unwrap();
        assert_eq!(c.success.statuses, [(200, 204), (302, 302)]);
        assert_eq!(c.success.field.as_ref().unwrap().equals, json!(0));
        assert_eq!(c.success.to_string(), "200-204,302 and data.code == 0");
        let word = params(
            &json!({"url": "https://h/x", "success_field": "status", "success_equals": "ok"}),
        )
        .unwrap();
        assert_eq!(word.success.field.unwrap().equals, json!("ok"));
        for bad in ["2xx", "299-200", "700", ","] {
            let e = params(&json!({"url": "https://h/x", "success_status": bad})).unwrap_err();
            assert_eq!(e.field, "success_status", "{bad}");
        }
        let e = params(&json!({"url": "https://h/x", "success_field": "code"})).unwrap_err();
        assert_eq!(e.field, "success_equals");
    }

    #[test]
    fn header_lines_are_parsed_and_secret_ones_never_echoed() {
        let c = params(
            &json!({"url": "https://h/x", "headers": "X-A: 1\n\nX-B:two words",
            "secret_headers": "Authorization: Bearer t0k"}),
        )
        .unwrap();
        assert_eq!(
            c.headers,
            [
                ("X-A".into(), "1".into()),
                ("X-B".into(), "two words".into())
            ]
        );
        assert_eq!(c.secret_headers[0].1.expose(), "Bearer t0k");
        let e = params(&json!({"url": "https://h/x", "secret_headers": "Bearer t0k"})).unwrap_err();
        assert_eq!(e.field, "secret_headers");
        assert!(!e.to_string().contains("t0k"), "{e}");
    }

    #[test]
    fn url_is_redacted_to_its_origin() {
        let u =
            Url::parse("https://u:p@hooks.example.com:8443/services/T0/B0/XYZ?token=1").unwrap();
        assert_eq!(redacted_url(&u), "https://hooks.example.com:8443/***");
    }
}
