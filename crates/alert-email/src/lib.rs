//! # alert-email
//!
//! flink-alert channel plugin for email over SMTP (lettre, rustls): STARTTLS, implicit TLS or
//! a plain connection to a local relay; optional login; one message per alert to `to` and
//! `cc`, subject from the title, a plain-text part from the text body and an HTML part from
//! the markdown body (rendered safely, see [`html`]).
//!
//! | failure | kind |
//! |---|---|
//! | SMTP 4xx reply (greylisting, mailbox busy, server busy) | Retry |
//! | SMTP 5xx reply (login refused, address unknown, message refused) | Permanent |
//! | connection refused or reset, timeout | Retry |
//! | TLS handshake failed, STARTTLS not offered | Permanent |
//!
//! The whole send (connect, TLS, login, message) is bounded by `timeout_ms`.
//!
//! Linking this crate registers the kind `"email"` in [`alert_core::registry()`]:
//!
//! ```no_run
//! use alert_core::{Alert, Channel};
//! use alert_email::{EmailChannel, EmailConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = EmailConfig::new("smtp.example.com", "Flink Alerts <alerts@example.com>");
//! config.to = vec!["oncall@example.com".into()];
//! config.user = Some("alerts@example.com".into());
//! config.password = Some("...".into());
//! let mail = EmailChannel::new(config)?;
//! mail.send(&Alert::plain("orders failed", "RUNNING → FAILED")).await?;
//! # Ok(()) }
//! ```

// The README (the crate's page on crates.io) is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod config;
pub mod html;
pub mod request;
pub mod response;

use std::fmt;
use std::sync::Arc;

use alert_core::{
    async_trait, Alert, Channel, ChannelDescriptor, ParamError, SendResult, ValidParams,
};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

pub use config::{Addresses, EmailConfig, TlsMode, PARAMS};

/// The kind this crate registers.
pub const KIND: &str = "email";

/// The plugin's descriptor (also registered through `inventory`).
///
/// ```
/// assert_eq!(alert_email::DESCRIPTOR.kind, "email");
/// ```
// Mail servers limit senders in their own ways; no default budget.
pub const DESCRIPTOR: ChannelDescriptor = ChannelDescriptor::new(
    KIND,
    "Email",
    "Email over SMTP (STARTTLS, implicit TLS or a local relay): subject from the title, plain-text and HTML bodies",
    PARAMS,
    build_channel,
);

alert_core::inventory::submit! { DESCRIPTOR }

fn build_channel(params: &ValidParams) -> Result<Arc<dyn Channel>, ParamError> {
    Ok(Arc::new(EmailChannel::new(EmailConfig::from_params(
        params,
    )?)?))
}

/// A configured mail destination.
pub struct EmailChannel {
    config: EmailConfig,
    addresses: Addresses,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl EmailChannel {
    /// Validates the configuration and prepares the SMTP transport (nothing connects yet).
    pub fn new(config: EmailConfig) -> Result<Self, ParamError> {
        let addresses = config.validate()?;
        let host = config.host.trim().to_owned();
        let tls = match config.tls {
            TlsMode::None => Tls::None,
            mode => {
                let parameters = TlsParameters::new(host.clone()).map_err(|e| {
                    ParamError::new("host", format!("TLS cannot be set up for this host ({e})"))
                })?;
                if mode == TlsMode::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.port())
            .tls(tls)
            .timeout(Some(config.timeout));
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            addresses,
            config,
        })
    }

    /// Builds a channel from JSON parameters, validated against [`PARAMS`].
    pub fn from_json(params: &serde_json::Value) -> Result<Self, ParamError> {
        Self::new(EmailConfig::from_params(&DESCRIPTOR.validate(params)?)?)
    }

    /// The configuration.
    pub fn config(&self) -> &EmailConfig {
        &self.config
    }
}

impl fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config holds the password as a `Secret`; the transport (which holds it in clear)
        // is left out.
        f.debug_struct("EmailChannel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One line for logs and lists, e.g. `Email via smtp.example.com:587 (starttls) → a@x, b@x`.
impl fmt::Display for EmailChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to: Vec<String> = self
            .addresses
            .to
            .iter()
            .map(|m| m.email.to_string())
            .collect();
        write!(
            f,
            "Email via {}:{} ({}) → {}",
            self.config.host.trim(),
            self.config.port(),
            self.config.tls,
            to.join(", ")
        )
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn send(&self, alert: &Alert) -> SendResult {
        let message = request::build_message(alert, &self.addresses)?;
        // lettre bounds the connect; the greeting, login and message are bounded here, so a
        // server that accepts and then says nothing cannot hold a delivery worker.
        match tokio::time::timeout(self.config.timeout, self.transport.send(message)).await {
            Err(_) => Err(response::timed_out(self.config.timeout)),
            Ok(Err(e)) => Err(response::classify(&e)),
            Ok(Ok(_)) => Ok(alert_core::Delivered::ok()),
        }
    }
}
