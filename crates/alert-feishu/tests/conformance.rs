//! The conformance suite of alert-testkit, for the Feishu plugin.

use alert_testkit::conformance::{MockAddr, Suite, Timeout, Transport, CANARY};
use serde_json::json;

fn suite() -> Suite {
    Suite {
        descriptor: &alert_feishu::DESCRIPTOR,
        transport: Transport::Http,
        params: |addr: &MockAddr| {
            json!({
                "webhook": format!("{}/open-apis/bot/v2/hook/{CANARY}", addr.http_base()),
                "secret": format!("sign-{CANARY}"),
            })
        },
        timeout: Timeout::ParamMs("timeout_ms"),
        also_required: &[],
    }
}

alert_testkit::conformance_tests!(suite());
