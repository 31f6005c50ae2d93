//! The conformance suite of alert-testkit, for the email plugin (against its SMTP mock).

use alert_testkit::conformance::{MockAddr, Suite, Timeout, Transport, CANARY};
use serde_json::json;

fn suite() -> Suite {
    Suite {
        descriptor: &alert_email::DESCRIPTOR,
        transport: Transport::Smtp,
        params: |addr: &MockAddr| {
            json!({
                "host": addr.host, "port": addr.port, "tls": "none",
                "user": "alerts", "password": format!("pw-{CANARY}"),
                "from": "alerts@example.com", "to": ["oncall@example.com"],
            })
        },
        timeout: Timeout::ParamMs("timeout_ms"),
        also_required: &[],
    }
}

alert_testkit::conformance_tests!(suite());
