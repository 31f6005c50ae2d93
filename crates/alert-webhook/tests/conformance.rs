//! The conformance suite of alert-testkit, for the webhook plugin.

use alert_testkit::conformance::{MockAddr, Suite, Timeout, Transport, CANARY};
use serde_json::json;

fn suite() -> Suite {
    Suite {
        descriptor: &alert_webhook::DESCRIPTOR,
        transport: Transport::Http,
        params: |addr: &MockAddr| {
            json!({
                "url": format!("{}/hooks/{CANARY}?token={CANARY}", addr.http_base()),
                "secret_headers": format!("Authorization: Bearer {CANARY}"),
                "signing_secret": format!("sig-{CANARY}"),
            })
        },
        timeout: Timeout::ParamMs("timeout_ms"),
        also_required: &[],
    }
}

alert_testkit::conformance_tests!(suite());
