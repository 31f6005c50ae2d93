//! The REST service end to end: a real server per test (random port, a database of its own:
//! a temporary SQLite file, or a fresh PostgreSQL database with
//! `FLINK_ALERT_TEST_BACKEND=postgres`) talking to mock DingTalk and WeCom channels over HTTP.

mod alertmanager;
mod auth;
mod common;
mod delivery;
mod events;
mod events_batch;
mod flink;
mod groups_bindings;
mod health;
mod http_limits;
mod instances;
mod logs;
mod metrics;
mod outages;
mod silences;
mod stats;
mod storms;
mod templates;
mod validation;
