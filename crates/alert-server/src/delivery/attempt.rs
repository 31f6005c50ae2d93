//! One attempt of one delivery: render (or read the stored digest), send within the timeout,
//! and turn the outcome into the [`AttemptRecord`] that moves the row (sent, retry with
//! backoff until the deadline, wait out a throttle, or fail with the reason).

use std::sync::Arc;
use std::time::Duration;

use alert_core::ErrorKind;
use serde_json::json;

use super::backoff;
use super::channels::ReadyInstance;
use super::digest::DigestPayload;
use super::Shared;
use crate::clock::now_ms;
use alert_store::{AttemptRecord, ClaimedDelivery, DeliveryState};

/// One attempt, turned into the record that moves the row.
pub(super) async fn send_one(
    s: &Shared,
    ready: &ReadyInstance,
    row: &ClaimedDelivery,
) -> AttemptRecord {
    let d = &row.delivery;
    let started_at = now_ms();
    let alert = match (&row.event, &d.payload) {
        (Some(event), _) => {
            let renderer = s.templates.get(s.store.as_ref(), d.group_id).await;
            match d.event_id {
                Some(id) => s.rendered.render(id, d.group_id, &renderer, event),
                None => renderer.render(event).map(Arc::new),
            }
            .map_err(|e| e.to_string())
        }
        (None, Some(payload)) => serde_json::from_value::<DigestPayload>(payload.clone())
            .map(|p| Arc::new(p.to_alert()))
            .map_err(|e| format!("stored digest is unreadable: {e}")),
        (None, None) => Err("delivery has neither event nor message".to_owned()),
    };
    let channel = ready.channel.as_ref().map_err(Clone::clone);
    let result = match (alert, channel) {
        (Ok(alert), Ok(channel)) => {
            let limit = Duration::from_secs(s.config.send_timeout_secs);
            match tokio::time::timeout(limit, channel.send(&alert)).await {
                Ok(r) => r,
                Err(_) => Err(alert_core::ChannelError::retry(format!(
                    "no answer within {} s",
                    limit.as_secs()
                ))),
            }
        }
        (Err(e), _) | (_, Err(e)) => Err(alert_core::ChannelError::permanent(e)),
    };
    let finished_at = now_ms();
    let mut record = AttemptRecord {
        delivery_id: d.id,
        started_at,
        finished_at,
        state: DeliveryState::Sent,
        next_attempt_at: None,
        error: None,
        warnings: vec![],
    };
    match result {
        Ok(delivered) => {
            s.metrics.delivery(&ready.kind, "sent");
            #[allow(clippy::cast_precision_loss)]
            s.metrics
                .event_to_send
                .observe((finished_at - d.created_at).max(0) as f64 / 1000.0);
            record.warnings = delivered.warnings;
        }
        Err(e) => {
            s.metrics.delivery(&ready.kind, e.kind.as_str());
            record.error =
                Some(serde_json::to_value(&e).unwrap_or_else(|_| json!({"message": e.message})));
            let attempts = d.attempts + 1;
            let retry_at = match e.kind {
                ErrorKind::Retry => {
                    s.metrics
                        .retries
                        .get_or_create(&crate::metrics::KindLabel {
                            kind: ready.kind.clone(),
                        })
                        .inc();
                    Some(finished_at + millis(backoff::retry_delay(&s.config, attempts)))
                }
                ErrorKind::Throttle { retry_after } => {
                    s.metrics
                        .throttles
                        .get_or_create(&crate::metrics::KindLabel {
                            kind: ready.kind.clone(),
                        })
                        .inc();
                    let until = finished_at + millis(retry_after);
                    s.pacer.lock().expect("not poisoned").block(ready.id, until);
                    // Stored on one process too: the pause is shared with other replicas,
                    // and `/api/v1/stats` shows the instance as paused.
                    if let Err(e) = s.store.block_instance(ready.id, until).await {
                        tracing::warn!(error = %e, instance = ready.id, "could not store the channel's pause");
                    }
                    Some(until)
                }
                ErrorKind::RefreshAuth | ErrorKind::TooLong | ErrorKind::Permanent => None,
            };
            match retry_at {
                Some(at) if at <= d.deadline_at => {
                    record.state = DeliveryState::Pending;
                    record.next_attempt_at = Some(at);
                }
                Some(_) => {
                    record.state = DeliveryState::Failed;
                    let mut err = record.error.take().unwrap_or_default();
                    err["message"] = json!(format!(
                        "gave up after {attempts} attempts: the retry deadline passed; last error: {}",
                        e.message
                    ));
                    record.error = Some(err);
                    s.metrics.delivery(&ready.kind, "expired");
                }
                None => record.state = DeliveryState::Failed,
            }
        }
    }
    log_attempt(ready, row, &record);
    record
}

/// One log line per attempt, with the ids it concerns (`delivery`, `event`, `instance`).
fn log_attempt(ready: &ReadyInstance, row: &ClaimedDelivery, record: &AttemptRecord) {
    let d = &row.delivery;
    let error = record
        .error
        .as_ref()
        .map(|e| e["message"].as_str().unwrap_or_default());
    let job = row.event.as_ref().map(|e| e.job_name.as_str());
    match record.state {
        DeliveryState::Sent => tracing::debug!(
            delivery = d.id, event = d.event_id, instance = ready.id, kind = %ready.kind, job,
            "delivery sent"
        ),
        DeliveryState::Pending => tracing::info!(
            delivery = d.id, event = d.event_id, instance = ready.id, kind = %ready.kind, job,
            error, retry_at = record.next_attempt_at, "delivery attempt failed; retrying"
        ),
        _ => tracing::warn!(
            delivery = d.id, event = d.event_id, instance = ready.id, kind = %ready.kind, job,
            error, "delivery failed"
        ),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
