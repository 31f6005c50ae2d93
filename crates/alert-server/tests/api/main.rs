//! The REST service end to end: a real server per test (random port, temporary SQLite file)
//! talking to mock DingTalk and WeCom channels over HTTP.

mod alertmanager;
mod auth;
mod common;
mod delivery;
mod events;
mod flink;
mod groups_bindings;
mod instances;
mod validation;
