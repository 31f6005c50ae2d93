//! Running the `alert-server` binary from integration tests.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::process::Output;

/// Runs `alert-server ARGS` (ignoring any `FLINK_ALERT_DATABASE_URL` of the environment), off
/// the async runtime's threads.
pub async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_alert-server"))
            .args(args)
            .env_remove("FLINK_ALERT_DATABASE_URL")
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap()
}

/// Its standard output.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Its standard error.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing both outputs when it differs.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}{}", stdout(o), stderr(o));
}
