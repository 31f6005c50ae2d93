//! The conformance suite every flink-alert channel passes, run for this third-party crate.

use alert_testkit::conformance::{MockAddr, Suite, Timeout, Transport, CANARY};
use serde_json::json;

fn suite() -> Suite {
    Suite {
        descriptor: &flink_alert_slack::DESCRIPTOR,
        transport: Transport::Http,
        // Valid parameters pointing at the suite's mock; every secret carries CANARY.
        params: |addr: &MockAddr| json!({"webhook": format!("{}/services/T000/B000/{CANARY}", addr.http_base())}),
        timeout: Timeout::ParamMs("timeout_ms"),
        also_required: &[],
    }
}

alert_testkit::conformance_tests!(suite());
