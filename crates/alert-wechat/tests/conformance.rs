//! The conformance suite of alert-testkit, for the WeCom plugin (as a group robot: the send
//! type whose only credential is in its webhook; app sends are covered by tests/wecom).

use std::sync::Arc;

use alert_testkit::conformance::{MockAddr, Suite, Timeout, Transport, CANARY};
use alert_wechat::{WeComChannel, WeComConfig};
use serde_json::json;

fn suite() -> Suite {
    Suite {
        descriptor: &alert_wechat::DESCRIPTOR,
        transport: Transport::Http,
        params: |addr: &MockAddr| {
            json!({
                "send_type": "robot",
                "webhook": format!("{}/webhook/send?key={CANARY}", addr.http_base()),
            })
        },
        // WeCom has no timeout parameter (the default is 10 s); the typed config sets one.
        timeout: Timeout::Build(|params, timeout| {
            let webhook = params["webhook"].as_str().expect("the suite's webhook");
            let mut config = WeComConfig::robot(webhook);
            config.timeout = timeout;
            Arc::new(WeComChannel::new(config).expect("valid robot config"))
        }),
        // Required because send_type is robot.
        also_required: &["webhook"],
    }
}

alert_testkit::conformance_tests!(suite());
