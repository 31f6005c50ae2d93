//! A fresh PostgreSQL database per test: `alert_testkit::pg`, shared with alert-store's tests.

#![allow(unused_imports)]

pub use alert_testkit::pg::*;
