//! Group dispatch: one alert to every enabled instance of an [`AlertGroup`], concurrently.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{Alert, Channel, ChannelError, SendResult};

/// One configured channel in a group.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AlertInstance {
    /// The instance's unique name.
    pub name: String,
    /// Disabled instances receive nothing.
    pub enabled: bool,
    /// The built channel.
    pub channel: Arc<dyn Channel>,
}

impl AlertInstance {
    /// An enabled instance.
    pub fn new(name: impl Into<String>, channel: Arc<dyn Channel>) -> Self {
        Self {
            name: name.into(),
            enabled: true,
            channel,
        }
    }

    /// Sets whether it receives anything.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

/// A named set of alert instances; a job is bound to a group.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AlertGroup {
    /// The group's name.
    pub name: String,
    /// Its instances.
    pub instances: Vec<AlertInstance>,
}

/// What happened at one instance.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct InstanceOutcome {
    /// The instance's name.
    pub instance: String,
    /// Its channel kind.
    pub kind: &'static str,
    /// Delivered, or the classified error.
    #[serde(serialize_with = "ser_result")]
    pub result: SendResult,
    /// Time the send took.
    #[serde(serialize_with = "ser_ms")]
    pub elapsed: Duration,
}

fn ser_result<S: serde::Serializer>(r: &SendResult, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Shown<'a> {
        Delivered(&'a crate::Delivered),
        Error(&'a ChannelError),
    }
    match r {
        Ok(d) => Shown::Delivered(d).serialize(s),
        Err(e) => Shown::Error(e).serialize(s),
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl AlertGroup {
    /// A group of `instances`.
    pub fn new(name: impl Into<String>, instances: Vec<AlertInstance>) -> Self {
        Self {
            name: name.into(),
            instances,
        }
    }

    /// Sends `alert` to every enabled instance at once, each bounded by `timeout`, and returns
    /// one outcome per enabled instance, in the group's order.
    ///
    /// A slow, failing or panicking instance never delays or breaks the others: a timeout is a
    /// `Retry` error, a panic a `Permanent` one.
    pub async fn dispatch(&self, alert: &Alert, timeout: Duration) -> Vec<InstanceOutcome> {
        let alert = Arc::new(alert.clone());
        let tasks: Vec<_> = self
            .instances
            .iter()
            .filter(|i| i.enabled)
            .map(|i| {
                let channel = Arc::clone(&i.channel);
                let alert = Arc::clone(&alert);
                let handle = tokio::spawn(async move {
                    let started = Instant::now();
                    let result = match tokio::time::timeout(timeout, channel.send(&alert)).await {
                        Ok(r) => r,
                        Err(_) => Err(ChannelError::retry(format!(
                            "no answer within {} ms",
                            timeout.as_millis()
                        ))),
                    };
                    (result, started.elapsed())
                });
                (i.name.clone(), i.channel.kind(), handle)
            })
            .collect();
        let mut outcomes = Vec::with_capacity(tasks.len());
        for (instance, kind, handle) in tasks {
            let (result, elapsed) = handle.await.unwrap_or_else(|join_error| {
                (
                    Err(ChannelError::permanent(format!(
                        "{kind} plugin panicked: {join_error}"
                    ))),
                    Duration::ZERO,
                )
            });
            outcomes.push(InstanceOutcome {
                instance,
                kind,
                result,
                elapsed,
            });
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::{Delivered, ErrorKind};

    #[derive(Debug)]
    enum Fake {
        Ok(AtomicUsize),
        Slow,
        Fail,
        Panic,
    }

    #[async_trait]
    impl Channel for Fake {
        fn kind(&self) -> &'static str {
            "fake"
        }
        async fn send(&self, _: &Alert) -> SendResult {
            match self {
                Fake::Ok(n) => {
                    n.fetch_add(1, Ordering::SeqCst);
                    Ok(Delivered::ok())
                }
                Fake::Slow => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(Delivered::ok())
                }
                Fake::Fail => Err(ChannelError::permanent("bad robot")),
                Fake::Panic => panic!("boom"),
            }
        }
    }

    fn instance(name: &str, enabled: bool, fake: Fake) -> AlertInstance {
        AlertInstance {
            name: name.into(),
            enabled,
            channel: Arc::new(fake),
        }
    }

    #[tokio::test]
    async fn one_result_per_enabled_instance_and_none_blocks_the_others() {
        let ok = Arc::new(Fake::Ok(AtomicUsize::new(0)));
        let group = AlertGroup {
            name: "ops".into(),
            instances: vec![
                instance("slow", true, Fake::Slow),
                AlertInstance {
                    name: "ok".into(),
                    enabled: true,
                    channel: ok.clone(),
                },
                instance("off", false, Fake::Fail),
                instance("fail", true, Fake::Fail),
                instance("panic", true, Fake::Panic),
            ],
        };
        let started = Instant::now();
        let out = group
            .dispatch(&Alert::plain("t", "b"), Duration::from_millis(200))
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "slow instance blocked dispatch"
        );
        let names: Vec<_> = out.iter().map(|o| o.instance.as_str()).collect();
        assert_eq!(names, ["slow", "ok", "fail", "panic"]);
        assert_eq!(out[0].result.as_ref().unwrap_err().kind, ErrorKind::Retry);
        assert!(out[1].result.is_ok());
        assert_eq!(out[2].result.as_ref().unwrap_err().message, "bad robot");
        assert_eq!(
            out[3].result.as_ref().unwrap_err().kind,
            ErrorKind::Permanent
        );
        let Fake::Ok(count) = ok.as_ref() else {
            unreachable!()
        };
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}
