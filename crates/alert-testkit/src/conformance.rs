//! The conformance suite every channel crate runs: what a channel must do whatever its protocol.
//!
//! | check | what it asserts |
//! |---|---|
//! | [`secrets_never_leak`] | secret values never appear in the built channel's `Debug`, in `mask_secrets`, or in parameter errors |
//! | [`unknown_params_are_rejected`] | an unknown parameter fails the build, naming it |
//! | [`required_params_are_named`] | each missing required parameter fails the build, naming it |
//! | [`kind_matches_descriptor`] | the built channel reports the descriptor's kind |
//! | [`server_error_is_retry`] | a server failing transiently (HTTP 500, SMTP 451) → `Retry` |
//! | [`connection_refused_is_retry`] | nobody listening → `Retry`, quickly |
//! | [`timeout_is_honoured`] | a server that never answers → `Retry` within the channel's timeout |
//!
//! Send errors must not contain secrets either: every send check looks for [`CANARY`] in the
//! error message.
//!
//! A channel crate describes itself in a [`Suite`] and calls
//! [`conformance_tests!`](crate::conformance_tests) from an integration test, which generates one
//! `#[test]` per check:
//!
//! ```no_run
//! // tests/conformance.rs of a channel crate
//! use alert_testkit::conformance::{MockAddr, Suite, Timeout, Transport, CANARY};
//! use serde_json::json;
//!
//! fn suite() -> Suite {
//!     Suite {
//!         descriptor: alert_core::registry().get("dingtalk").unwrap(),
//!         transport: Transport::Http,
//!         // Valid parameters sending to the suite's mock at `addr`; every secret contains CANARY.
//!         params: |addr: &MockAddr| json!({
//!             "webhook": format!("{}/robot/send?access_token={CANARY}", addr.http_base()),
//!             "secret": format!("SEC{CANARY}"),
//!         }),
//!         timeout: Timeout::ParamMs("timeout_ms"),
//!         also_required: &[],
//!     }
//! }
//!
//! alert_testkit::conformance_tests!(suite());
//! ```
//!
//! Every check is also a public function, for a crate that wants to run them its own way.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alert_core::{Channel, ChannelDescriptor, ChannelError, ErrorKind, ParamType};
use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::smtp::{MockSmtp, Reply, SmtpSettings, Stage};

/// A marker to embed in every secret parameter value: the suite fails wherever it shows up.
pub const CANARY: &str = "c4nary-S3cr3t-7f2e";

/// How long a mock takes to answer in [`timeout_is_honoured`]: far past the channel's timeout.
pub const SLOW_ANSWER: Duration = Duration::from_secs(10);

/// The timeout the suite gives a channel in [`timeout_is_honoured`].
pub const SHORT_TIMEOUT: Duration = Duration::from_millis(300);

/// The most a send may take in the timeout and connection-refused checks.
pub const SEND_BOUND: Duration = Duration::from_secs(5);

/// Where the suite's mock server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockAddr {
    /// Always `127.0.0.1`.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl MockAddr {
    /// `http://127.0.0.1:PORT`, to build webhook URLs on.
    pub fn http_base(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

/// The protocol a channel speaks, which decides the mock the suite starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP: a wiremock server that answers any request (500, or a slow 200).
    Http,
    /// SMTP: a [`MockSmtp`] (451 to `MAIL FROM`, or a slow greeting).
    Smtp,
}

/// How the suite builds a channel with a short timeout.
#[derive(Debug, Clone, Copy)]
pub enum Timeout {
    /// An integer parameter in milliseconds (`timeout_ms`).
    ParamMs(&'static str),
    /// The channel has no timeout parameter: build it from the valid parameters and a timeout
    /// in code (e.g. through its typed configuration).
    Build(fn(&Value, Duration) -> Arc<dyn Channel>),
}

/// What the suite needs to know about a channel.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    /// The channel's descriptor (the registered one: `alert_core::registry().get(KIND)`).
    pub descriptor: &'static ChannelDescriptor,
    /// Its protocol.
    pub transport: Transport,
    /// Valid parameters that send to the mock at the given address. Every secret parameter
    /// given must contain [`CANARY`], and nothing else may.
    pub params: fn(&MockAddr) -> Value,
    /// How to give the channel a short timeout.
    pub timeout: Timeout,
    /// Parameters that [`Suite::params`] makes required although the schema does not mark them
    /// (required by the value of another one, e.g. WeCom's `webhook` when `send_type` is
    /// `robot`); checked like the schema's required ones.
    pub also_required: &'static [&'static str],
}

impl Suite {
    fn build(&self, params: &Value) -> Arc<dyn Channel> {
        self.descriptor.build_channel(params).unwrap_or_else(|e| {
            panic!(
                "{}: the suite's params do not build a channel: {e}",
                self.descriptor.kind
            )
        })
    }

    fn valid_params(&self) -> Value {
        let params = (self.params)(&MockAddr {
            host: "127.0.0.1".into(),
            port: 9,
        });
        assert!(
            params.is_object(),
            "{}: Suite::params must return a JSON object",
            self.descriptor.kind
        );
        params
    }
}

/// Runs a future to completion on a fresh multi-threaded runtime (what
/// [`conformance_tests!`](crate::conformance_tests) uses, so the calling crate needs no test
/// macro of its own).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

fn assert_no_canary(kind: &str, what: &str, shown: &str) {
    assert!(
        !shown.contains(CANARY),
        "{kind}: a secret leaked in {what}: {shown}"
    );
}

/// Secret values never appear in the built channel's `Debug` (`{:?}` and `{:#?}`), in
/// `mask_secrets`, nor in the error or `Debug` of a build with a malformed secret.
///
/// Also checks the suite itself: every secret parameter given contains [`CANARY`] (so the check
/// is not vacuous) and no other parameter does.
pub fn secrets_never_leak(suite: &Suite) {
    let kind = suite.descriptor.kind;
    let params = suite.valid_params();
    let object = params.as_object().expect("checked");
    for (name, value) in object.iter().filter(|(_, v)| !v.is_null() && *v != "") {
        let spec = suite.descriptor.params.iter().find(|s| s.name == name);
        let holds_canary = value.to_string().contains(CANARY);
        match spec {
            Some(s) if s.secret => assert!(
                holds_canary,
                "{kind}: put CANARY into the value of the secret parameter `{name}` in Suite::params"
            ),
            _ => assert!(
                !holds_canary,
                "{kind}: `{name}` is not a secret parameter; keep CANARY out of it (or mark it secret)"
            ),
        }
    }

    let channel = suite.build(&params);
    assert_no_canary(kind, "Debug", &format!("{channel:?}"));
    assert_no_canary(kind, "pretty Debug", &format!("{channel:#?}"));
    let masked = suite.descriptor.mask_secrets(&params);
    assert_no_canary(kind, "mask_secrets", &masked.to_string());

    let malformed = [
        CANARY.to_owned(),
        format!("not a url {CANARY}"),
        format!("ftp://user:{CANARY}@example.invalid/?key={CANARY}"),
        format!("http://user:{CANARY}@127.0.0.1:9/?access_token={CANARY}&key={CANARY}"),
    ];
    for spec in suite.descriptor.params.iter().filter(|s| s.secret) {
        for bad in &malformed {
            let mut p = params.clone();
            p[spec.name] = match spec.ty {
                ParamType::List => json!([bad]),
                _ => Value::from(bad.as_str()),
            };
            match suite.descriptor.build_channel(&p) {
                Err(e) => assert_no_canary(
                    kind,
                    &format!("the error for a malformed `{}`", spec.name),
                    &e.to_string(),
                ),
                Ok(ch) => assert_no_canary(
                    kind,
                    &format!("Debug with a malformed `{}`", spec.name),
                    &format!("{ch:?} {ch:#?}"),
                ),
            }
        }
    }
}

/// A parameter the schema does not know fails the build, and the error names it.
pub fn unknown_params_are_rejected(suite: &Suite) {
    let mut params = suite.valid_params();
    params["no_such_parameter"] = Value::from("x");
    let err = suite
        .descriptor
        .build_channel(&params)
        .expect_err("an unknown parameter must be rejected");
    assert_eq!(err.field, "no_such_parameter", "{err}");
}

/// Each required parameter (the schema's, and [`Suite::also_required`]), absent, empty or
/// `null`, fails the build, and the error names it.
pub fn required_params_are_named(suite: &Suite) {
    let kind = suite.descriptor.kind;
    let params = suite.valid_params();
    let required = suite
        .descriptor
        .params
        .iter()
        .filter(|s| s.required)
        .map(|s| s.name)
        .chain(suite.also_required.iter().copied());
    for name in required {
        for blank in [None, Some(Value::from("")), Some(Value::Null)] {
            let mut p = params.clone();
            let object = p.as_object_mut().expect("checked");
            match &blank {
                None => object.remove(name),
                Some(v) => object.insert(name.to_owned(), v.clone()),
            };
            let err = suite.descriptor.build_channel(&p).err().unwrap_or_else(|| {
                panic!("{kind}: building without `{name}` ({blank:?}) succeeded")
            });
            assert_eq!(err.field, name, "{kind}: {err}");
        }
    }
}

/// The built channel reports the kind of its descriptor.
pub fn kind_matches_descriptor(suite: &Suite) {
    let channel = suite.build(&suite.valid_params());
    assert_eq!(channel.kind(), suite.descriptor.kind);
}

/// A mock server of the suite's transport, kept alive while the check runs.
enum RunningMock {
    Http(MockServer),
    Smtp(MockSmtp),
}

impl RunningMock {
    async fn start(transport: Transport, slow: bool) -> Self {
        match transport {
            Transport::Http => {
                let server = crate::fresh_server().await;
                let answer = if slow {
                    // A success in every channel's spelling, too late to matter.
                    ResponseTemplate::new(200)
                        .set_body_json(
                            json!({"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}),
                        )
                        .set_delay(SLOW_ANSWER)
                } else {
                    ResponseTemplate::new(500).set_body_string("internal server error")
                };
                Mock::given(any()).respond_with(answer).mount(&server).await;
                Self::Http(server)
            }
            Transport::Smtp => {
                let settings = if slow {
                    SmtpSettings {
                        greeting_delay: SLOW_ANSWER,
                        accept_any_login: true,
                        ..SmtpSettings::default()
                    }
                } else {
                    SmtpSettings {
                        replies: vec![(
                            Stage::MailFrom,
                            Reply::new(451, "4.3.0 Temporary server error, try again later"),
                        )],
                        accept_any_login: true,
                        ..SmtpSettings::default()
                    }
                };
                Self::Smtp(MockSmtp::start(settings).await)
            }
        }
    }

    fn addr(&self) -> MockAddr {
        let port = match self {
            Self::Http(server) => server.address().port(),
            Self::Smtp(smtp) => smtp.port(),
        };
        MockAddr {
            host: "127.0.0.1".into(),
            port,
        }
    }
}

/// An address on 127.0.0.1 that nobody listens on (bound, then released).
fn refused_addr() -> MockAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    MockAddr {
        host: "127.0.0.1".into(),
        port,
    }
}

async fn send_error(suite: &Suite, channel: &dyn Channel, bound: Duration) -> ChannelError {
    let kind = suite.descriptor.kind;
    let started = Instant::now();
    let result = tokio::time::timeout(bound, channel.send(&crate::sample_alert()))
        .await
        .unwrap_or_else(|_| panic!("{kind}: send took longer than {bound:?}"));
    let err = result.expect_err("the send must fail");
    assert_no_canary(kind, "a send error", &err.message);
    assert!(
        started.elapsed() <= bound,
        "{kind}: send took {:?}",
        started.elapsed()
    );
    err
}

/// A server failing transiently (HTTP 500; SMTP 451 to `MAIL FROM`) makes the send `Retry`.
pub async fn server_error_is_retry(suite: &Suite) {
    let mock = RunningMock::start(suite.transport, false).await;
    let channel = suite.build(&(suite.params)(&mock.addr()));
    let err = send_error(suite, channel.as_ref(), Duration::from_secs(30)).await;
    assert_eq!(
        err.kind,
        ErrorKind::Retry,
        "{}: {err}",
        suite.descriptor.kind
    );
}

/// Nobody listening makes the send `Retry`, within [`SEND_BOUND`].
pub async fn connection_refused_is_retry(suite: &Suite) {
    let channel = suite.build(&(suite.params)(&refused_addr()));
    let err = send_error(suite, channel.as_ref(), SEND_BOUND).await;
    assert_eq!(
        err.kind,
        ErrorKind::Retry,
        "{}: {err}",
        suite.descriptor.kind
    );
}

/// A server that does not answer within the channel's timeout ([`SHORT_TIMEOUT`]) makes the
/// send `Retry`, within [`SEND_BOUND`] (the mock would answer after [`SLOW_ANSWER`]).
pub async fn timeout_is_honoured(suite: &Suite) {
    let mock = RunningMock::start(suite.transport, true).await;
    let params = (suite.params)(&mock.addr());
    let channel = match suite.timeout {
        Timeout::ParamMs(name) => {
            let mut p = params;
            p[name] = Value::from(u64::try_from(SHORT_TIMEOUT.as_millis()).expect("small"));
            suite.build(&p)
        }
        Timeout::Build(build) => build(&params, SHORT_TIMEOUT),
    };
    let err = send_error(suite, channel.as_ref(), SEND_BOUND).await;
    assert_eq!(
        err.kind,
        ErrorKind::Retry,
        "{}: {err}",
        suite.descriptor.kind
    );
}

/// Generates one `#[test]` per conformance check, in a module `conformance`, for the
/// [`Suite`](crate::conformance::Suite) the expression builds (evaluated once per test; items of
/// the calling module are in scope).
///
/// ```ignore
/// alert_testkit::conformance_tests!(suite());
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($suite:expr) => {
        #[allow(unused_imports)]
        mod conformance {
            use super::*;

            #[test]
            fn secrets_never_leak() {
                $crate::conformance::secrets_never_leak(&$suite);
            }

            #[test]
            fn unknown_params_are_rejected() {
                $crate::conformance::unknown_params_are_rejected(&$suite);
            }

            #[test]
            fn required_params_are_named() {
                $crate::conformance::required_params_are_named(&$suite);
            }

            #[test]
            fn kind_matches_descriptor() {
                $crate::conformance::kind_matches_descriptor(&$suite);
            }

            #[test]
            fn server_error_is_retry() {
                $crate::conformance::block_on($crate::conformance::server_error_is_retry(&$suite));
            }

            #[test]
            fn connection_refused_is_retry() {
                $crate::conformance::block_on($crate::conformance::connection_refused_is_retry(
                    &$suite,
                ));
            }

            #[test]
            fn timeout_is_honoured() {
                $crate::conformance::block_on($crate::conformance::timeout_is_honoured(&$suite));
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use alert_core::{async_trait, Alert, ParamError, ParamSpec, SendResult, ValidParams};

    use super::*;

    /// A channel that gets it wrong: prints its URL (in `Debug` and errors), calls every
    /// failure permanent.
    #[derive(Debug)]
    struct Careless {
        url: String,
    }

    #[async_trait]
    impl Channel for Careless {
        fn kind(&self) -> &'static str {
            "careless"
        }

        async fn send(&self, _: &Alert) -> SendResult {
            Err(ChannelError::permanent(format!(
                "failed to reach {}",
                self.url
            )))
        }
    }

    static PARAMS: &[ParamSpec] = &[
        ParamSpec::new("url", ParamType::Url, "where")
            .required()
            .secret(),
        ParamSpec::new("timeout_ms", ParamType::Integer, "timeout"),
    ];

    fn build(p: &ValidParams) -> Result<Arc<dyn Channel>, ParamError> {
        Ok(Arc::new(Careless {
            url: p.required_str("url")?.to_owned(),
        }))
    }

    static CARELESS: ChannelDescriptor =
        ChannelDescriptor::new("careless", "Careless", "gets it wrong", PARAMS, build);

    fn suite() -> Suite {
        Suite {
            descriptor: &CARELESS,
            transport: Transport::Http,
            params: |addr| json!({"url": format!("{}/?token={CANARY}", addr.http_base())}),
            timeout: Timeout::ParamMs("timeout_ms"),
            also_required: &[],
        }
    }

    fn fails(check: impl FnOnce()) -> bool {
        catch_unwind(AssertUnwindSafe(check)).is_err()
    }

    #[test]
    fn the_suite_catches_a_leaking_debug() {
        assert!(fails(|| secrets_never_leak(&suite())));
    }

    #[test]
    fn the_suite_catches_misclassified_failures() {
        assert!(fails(|| block_on(server_error_is_retry(&suite()))));
        assert!(fails(|| block_on(connection_refused_is_retry(&suite()))));
    }

    #[test]
    fn the_suite_catches_a_vacuous_suite() {
        let mut s = suite();
        s.params = |addr| json!({"url": addr.http_base()});
        assert!(fails(|| secrets_never_leak(&s)), "a secret without CANARY");
        s.also_required = &["timeout_ms"];
        assert!(fails(|| required_params_are_named(&s)));
    }

    #[test]
    fn schema_checks_pass_for_what_the_registry_enforces() {
        unknown_params_are_rejected(&suite());
        required_params_are_named(&suite());
        kind_matches_descriptor(&suite());
    }
}
