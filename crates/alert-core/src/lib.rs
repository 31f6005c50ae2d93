//! # alert-core
//!
//! The model and the contracts of flink-alert, shared by every channel plugin and the server:
//!
//! - [`JobStatus`], [`JobEvent`] and [`Alert`]: what happened, and what a channel receives;
//! - [`Channel`]: one configured destination; a send returns [`Delivered`] or a classified
//!   [`ChannelError`] ([`ErrorKind`]: Retry, Throttle, RefreshAuth, TooLong, Permanent);
//! - [`ChannelDescriptor`] and [`registry()`]: plugins register themselves with
//!   `inventory::submit!`, declaring a [`ParamSpec`] schema and a factory;
//! - `Renderer` (feature `templates`) and [`template::PlaceholderTemplate`]: default and user
//!   templates;
//! - `AlertGroup::dispatch` (feature `dispatch`): one alert to every enabled instance,
//!   concurrently;
//! - [`Secret`]: a string that never prints.
//!
//! Core knows no channel and no web server.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `templates` | on | `Renderer` and `TemplateSources`: user templates in minijinja |
//! | `dispatch` | on | `AlertGroup::dispatch` (tokio's runtime, to run one task per instance) |
//! | `http` | off | `alert_core::http`: the HTTP plumbing channel crates share (reqwest, rustls) |
//!
//! A channel crate needs neither `templates` nor `dispatch`: it depends on
//! `alert-core = { version = "0.1", default-features = false, features = ["http"] }`, and its
//! users compile no template engine unless they ask for one.

// The README (the crate's page on crates.io) is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod channel;
#[cfg(feature = "dispatch")]
pub mod dispatch;
pub mod event;
#[cfg(feature = "http")]
pub mod http;
pub mod outcome;
pub mod params;
pub mod registry;
pub mod secret;
pub mod status;
pub mod template;
pub mod text;

pub use channel::Channel;
#[cfg(feature = "dispatch")]
pub use dispatch::{AlertGroup, AlertInstance, InstanceOutcome};
pub use event::{Alert, JobEvent, Severity};
pub use outcome::{
    classify_http_status, ChannelError, Delivered, ErrorKind, SendResult, DEFAULT_THROTTLE,
};
pub use params::{ParamDefault, ParamError, ParamSpec, ParamType, ValidParams};
pub use registry::{
    registry, try_registry, ChannelDescriptor, ChannelFactory, Registry, RegistryError,
};
pub use secret::Secret;
pub use status::JobStatus;
pub use template::TemplateError;
#[cfg(feature = "templates")]
pub use template::{Renderer, TemplateSources};

// Re-exported so plugin crates submit descriptors without naming `inventory` themselves.
pub use async_trait::async_trait;
pub use inventory;
