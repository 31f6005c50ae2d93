//! Silences: created, listed by state at a time, expired (a pending one never starts), and the
//! deliveries of a silenced event recorded `silenced` with the silence's id, never claimed.

use alert_store::{SilenceInput, SilenceMatchers, SilenceState};

use super::*;

fn silence_input(job: &str, starts_at: i64, ends_at: i64) -> SilenceInput {
    SilenceInput {
        matchers: SilenceMatchers {
            job: job.to_owned(),
            cluster: Some("prod".to_owned()),
            statuses: vec![JobStatus::Canceled],
            labels: [("team".to_owned(), "data".to_owned())].into(),
        },
        starts_at,
        ends_at,
        comment: "upgrade".to_owned(),
        created_by: Some("ops".to_owned()),
    }
}

pub(crate) async fn silences_are_listed_by_state_and_expired(store: Arc<dyn Store>) {
    let active = store
        .create_silence(&silence_input("orders_*", 1_000, 10_000), 1_000)
        .await
        .unwrap();
    let pending = store
        .create_silence(&silence_input("*", 5_000, 20_000), 1_000)
        .await
        .unwrap();
    assert_eq!(
        store.get_silence(active.id).await.unwrap().as_ref(),
        Some(&active),
        "the matchers round-trip"
    );
    let ids = |v: Vec<alert_store::Silence>| v.iter().map(|s| s.id).collect::<Vec<_>>();
    let at = |state, now| {
        let store = Arc::clone(&store);
        async move { ids(store.list_silences(state, now).await.unwrap()) }
    };
    assert_eq!(at(None, 2_000).await, vec![pending.id, active.id]);
    assert_eq!(at(Some(SilenceState::Active), 2_000).await, vec![active.id]);
    assert_eq!(
        at(Some(SilenceState::Pending), 2_000).await,
        vec![pending.id]
    );
    assert!(at(Some(SilenceState::Expired), 2_000).await.is_empty());
    // Both in force at 6 s; the first one has ended at 10 s.
    assert_eq!(at(Some(SilenceState::Active), 6_000).await.len(), 2);
    assert_eq!(
        at(Some(SilenceState::Expired), 10_000).await,
        vec![active.id]
    );
    assert_eq!(
        ids(store.silences_in_force(10_000).await.unwrap()),
        vec![pending.id]
    );

    // Expiring a pending silence: it ends (and starts) now, and never was in force.
    let expired = store
        .expire_silence(pending.id, 3_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (expired.input.starts_at, expired.input.ends_at),
        (3_000, 3_000)
    );
    assert_eq!(expired.state(3_000), SilenceState::Expired);
    assert_eq!(expired.updated_at, 3_000);
    // Expiring it again changes nothing.
    let again = store
        .expire_silence(pending.id, 4_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, expired);
    assert!(store
        .expire_silence(999_999, 4_000)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        ids(store.silences_in_force(3_000).await.unwrap()),
        vec![active.id]
    );
}

pub(crate) async fn silenced_events_record_silenced_deliveries_never_claimed(
    store: Arc<dyn Store>,
) {
    let (a, b) = with_instances(store.as_ref()).await;
    let s = store
        .create_silence(&silence_input("job-*", 0, 100_000), 0)
        .await
        .unwrap();
    let quiet = nth_event("quiet", "CANCELED", 1);
    let loud = nth_event("loud", "CANCELED", 1);
    let times = EventTimes {
        now: 1_000,
        deadline_at: 60_000,
        repeat_since: 0,
    };
    let targets = [to(a), to(b)];
    let out = store
        .insert_events(&[
            EventItem {
                event: &quiet,
                targets: &targets,
                times,
                silence_id: Some(s.id),
            },
            EventItem {
                event: &loud,
                targets: &targets,
                times,
                silence_id: None,
            },
        ])
        .await
        .unwrap();
    assert_eq!(out[0].deliveries, 2);
    let (_, quiet_rows) = store.get_event(out[0].event_id).await.unwrap().unwrap();
    assert!(quiet_rows
        .iter()
        .all(|d| d.state == DeliveryState::Silenced && d.silence_id == Some(s.id)));
    let claimed = store.claim_due(1_000, 100, "w", 10_000).await.unwrap();
    assert_eq!(claimed.len(), 2, "only the loud event's deliveries are due");
    assert!(claimed
        .iter()
        .all(|c| c.event.as_ref().unwrap().job_id == "loud"));
    let filter = |state, silence_id| HistoryFilter {
        state,
        silence_id,
        limit: 100,
        ..HistoryFilter::default()
    };
    let silenced = store
        .history(&filter(Some(DeliveryState::Silenced), None))
        .await
        .unwrap();
    assert_eq!(silenced.len(), 2);
    assert_eq!(silenced[0].cluster.as_deref(), Some("prod"));
    assert_eq!(
        store
            .history(&filter(None, Some(s.id)))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.pending_count().await.unwrap(), 2);

    // The same change again once the silence is over: never sent before, so no repeat.
    let after = store
        .insert_events(&[EventItem {
            event: &nth_event("quiet", "CANCELED", 2),
            targets: &[to(a)],
            times: EventTimes {
                now: 2_000,
                deadline_at: 60_000,
                repeat_since: 0,
            },
            silence_id: None,
        }])
        .await
        .unwrap();
    let (_, rows) = store.get_event(after[0].event_id).await.unwrap().unwrap();
    assert_eq!(rows[0].state, DeliveryState::Pending, "{rows:?}");
}
