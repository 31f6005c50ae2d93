//! The conformance suite of alert-testkit, for the DingTalk plugin.

use alert_testkit::conformance::{MockAddr, Suite, Timeout, Transport, CANARY};
use serde_json::json;

fn suite() -> Suite {
    Suite {
        descriptor: &alert_dingtalk::DESCRIPTOR,
        transport: Transport::Http,
        params: |addr: &MockAddr| {
            json!({
                "webhook": format!("{}/robot/send?access_token={CANARY}", addr.http_base()),
                "secret": format!("SEC{CANARY}"),
            })
        },
        timeout: Timeout::ParamMs("timeout_ms"),
        also_required: &[],
    }
}

alert_testkit::conformance_tests!(suite());
