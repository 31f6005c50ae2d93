//! The mail server and addresses: schema, typed configuration and validation.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use alert_core::{ParamError, ParamSpec, ParamType, Secret, ValidParams};
use lettre::message::Mailbox;

/// The parameter schema of the `email` kind.
pub static PARAMS: &[ParamSpec] = &[
    ParamSpec::new("host", ParamType::String, "SMTP server host name, e.g. smtp.example.com")
        .required(),
    ParamSpec::new(
        "port",
        ParamType::Integer,
        "SMTP server port; default 587 with starttls, 465 with tls, 25 with none",
    ),
    ParamSpec::new(
        "tls",
        ParamType::Enum(&["starttls", "tls", "none"]),
        "starttls (plain connection upgraded, required), tls (implicit TLS from the start) or none (plain, for a relay on this machine)",
    )
    .default_str("starttls"),
    ParamSpec::new("user", ParamType::String, "SMTP user name, when the server requires a login"),
    ParamSpec::new("password", ParamType::String, "SMTP password of the user").secret(),
    ParamSpec::new(
        "from",
        ParamType::String,
        "Sender address, e.g. Flink Alerts <alerts@example.com>",
    )
    .required(),
    ParamSpec::new("to", ParamType::List, "Recipient addresses").required(),
    ParamSpec::new("cc", ParamType::List, "Copy (Cc) addresses"),
    ParamSpec::new("timeout_ms", ParamType::Integer, "Timeout of one whole send in milliseconds")
        .default_int(10_000),
];

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// Plain connection upgraded with `STARTTLS`, which the server must offer.
    #[default]
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No TLS: only for a relay on this machine (the password is refused on other hosts).
    None,
}

impl TlsMode {
    /// The `tls` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }

    /// The usual port of the mode.
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An email channel's configuration, typed.
///
/// ```
/// use alert_email::{EmailConfig, TlsMode};
/// let mut config = EmailConfig::new("smtp.example.com", "Flink Alerts <alerts@example.com>");
/// config.to = vec!["oncall@example.com".into()];
/// assert_eq!(config.tls, TlsMode::StartTls);
/// assert_eq!(config.port(), 587);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmailConfig {
    /// SMTP server host.
    pub host: String,
    /// SMTP server port; `None` for the mode's usual one.
    pub port: Option<u16>,
    /// Connection protection.
    pub tls: TlsMode,
    /// Login user.
    pub user: Option<String>,
    /// Login password.
    pub password: Option<Secret>,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Copy recipients.
    pub cc: Vec<String>,
    /// Timeout of one whole send (connect, TLS, login, message).
    pub timeout: Duration,
}

/// The addresses, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Addresses {
    /// Sender.
    pub from: Mailbox,
    /// Recipients.
    pub to: Vec<Mailbox>,
    /// Copy recipients.
    pub cc: Vec<Mailbox>,
}

impl EmailConfig {
    /// A configuration with a host and a sender; no recipient yet, STARTTLS, no login.
    pub fn new(host: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: None,
            tls: TlsMode::StartTls,
            user: None,
            password: None,
            from: from.into(),
            to: Vec::new(),
            cc: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls.default_port())
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
        let port = p
            .int("port")
            .map(|port| {
                u16::try_from(port)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| ParamError::new("port", "must be between 1 and 65535"))
            })
            .transpose()?;
        Ok(Self {
            host: p.required_str("host")?.trim().to_owned(),
            port,
            tls: match p.str("tls") {
                Some("tls") => TlsMode::Tls,
                Some("none") => TlsMode::None,
                _ => TlsMode::StartTls,
            },
            user: p.str("user").map(|u| u.trim().to_owned()),
            password: p.secret("password"),
            from: p.required_str("from")?.to_owned(),
            to: p.list("to"),
            cc: p.list("cc"),
            timeout: Duration::from_millis(timeout_ms.unsigned_abs()),
        })
    }

    /// Checks what the schema cannot and parses the addresses. Errors name the field and never
    /// echo the password.
    pub fn validate(&self) -> Result<Addresses, ParamError> {
        let host = self.host.trim();
        if host.is_empty() || host.contains("://") || host.contains(char::is_whitespace) {
            return Err(ParamError::new(
                "host",
                "must be a bare host name such as smtp.example.com (no scheme, no spaces)",
            ));
        }
        if self.port == Some(0) {
            return Err(ParamError::new("port", "must be between 1 and 65535"));
        }
        match (&self.user, &self.password) {
            (Some(_), None) => {
                return Err(ParamError::new("password", "is required with user"));
            }
            (None, Some(_)) => {
                return Err(ParamError::new("user", "is required with password"));
            }
            _ => {}
        }
        if self.tls == TlsMode::None && self.password.is_some() && !is_loopback(host) {
            return Err(ParamError::new(
                "tls",
                "none would send the password in clear to another machine; use starttls or tls",
            ));
        }
        if self.timeout.is_zero() {
            return Err(ParamError::new("timeout_ms", "must be longer than zero"));
        }
        let mailbox = |field: &str, raw: &str| -> Result<Mailbox, ParamError> {
            raw.trim().parse::<Mailbox>().map_err(|e| {
                ParamError::new(
                    field,
                    format!("`{}` is not an email address ({e})", raw.trim()),
                )
            })
        };
        if self.to.is_empty() {
            return Err(ParamError::new("to", "is required"));
        }
        Ok(Addresses {
            from: mailbox("from", &self.from)?,
            to: self
                .to
                .iter()
                .map(|a| mailbox("to", a))
                .collect::<Result<_, _>>()?,
            cc: self
                .cc
                .iter()
                .map(|a| mailbox("cc", a))
                .collect::<Result<_, _>>()?,
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(raw: &serde_json::Value) -> Result<EmailConfig, ParamError> {
        EmailConfig::from_params(&alert_core::params::validate(PARAMS, raw)?)
    }

    fn err(raw: serde_json::Value) -> ParamError {
        params(&raw)
            .and_then(|c| c.validate().map(|_| ()))
            .unwrap_err()
    }

    #[test]
    fn defaults_are_starttls_on_587_without_login() {
        let c = params(&json!({"host": "smtp.example.com", "from": "a@example.com", "to": "b@example.com, c@example.com"}))
            .unwrap();
        assert_eq!((c.tls, c.port()), (TlsMode::StartTls, 587));
        assert_eq!(c.to, ["b@example.com", "c@example.com"]);
        assert!(c.user.is_none() && c.password.is_none());
        let a = c.validate().unwrap();
        assert_eq!(a.to.len(), 2);
        let tls = params(
            &json!({"host": "h", "from": "a@example.com", "to": "b@example.com", "tls": "tls"}),
        )
        .unwrap();
        assert_eq!(tls.port(), 465);
    }

    #[test]
    fn every_error_names_its_field() {
        let base = json!({"host": "smtp.example.com", "from": "Alerts <a@example.com>", "to": ["b@example.com"]});
        let with = |k: &str, v: serde_json::Value| {
            let mut p = base.clone();
            p[k] = v;
            p
        };
        assert_eq!(
            err(with("host", json!("smtp://smtp.example.com"))).field,
            "host"
        );
        assert_eq!(err(with("port", json!(70000))).field, "port");
        assert_eq!(err(with("from", json!("not an address"))).field, "from");
        assert_eq!(
            err(with("to", json!(["ok@example.com", "broken@"]))).field,
            "to"
        );
        assert_eq!(err(with("cc", json!("x"))).field, "cc");
        assert_eq!(err(with("user", json!("alerts"))).field, "password");
        assert_eq!(err(with("password", json!("pw"))).field, "user");
        let mut plain = with("tls", json!("none"));
        plain["user"] = json!("alerts");
        plain["password"] = json!("s3cret-pw");
        let e = err(plain.clone());
        assert_eq!(e.field, "tls");
        assert!(!e.to_string().contains("s3cret-pw"));
        plain["host"] = json!("127.0.0.1");
        assert!(
            params(&plain).unwrap().validate().is_ok(),
            "loopback relay may log in"
        );
    }
}
