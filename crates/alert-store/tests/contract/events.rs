//! Contract tests: several events in one transaction.

use super::*;
use alert_store::{ClusterInput, IntakeBatch, WatcherCheckpoint};

/// An event to store with deliveries to `targets`, received at `now`, not silenced.
fn item<'a>(event: &'a JobEvent, targets: &'a [Target], now: i64) -> EventItem<'a> {
    EventItem {
        event,
        targets,
        times: times(now),
        silence_id: None,
    }
}

fn times(now: i64) -> EventTimes {
    EventTimes {
        now,
        deadline_at: now + 60_000,
        repeat_since: now - 300_000,
    }
}

pub(crate) async fn insert_events_stores_a_batch_in_order_with_duplicates_and_repeats(
    store: Arc<dyn Store>,
) {
    let (a, b) = with_instances(&*store).await;
    let stored_before = nth_event("old", "FAILED", 1);
    let first = store
        .insert_event(&stored_before, &[to(a)], 1_000, 61_000, 0)
        .await
        .unwrap();

    let x1 = nth_event("x", "FAILED", 10);
    let x2 = nth_event("x", "FAILED", 11); // the same job and status again: a repeat
    let y = nth_event("y", "CANCELED", 10);
    let both = [to(a), to(b)];
    let only_b = [to(b)];
    let items = [
        item(&x1, &both, 5_000),
        item(&stored_before, &both, 5_000),
        item(&y, &only_b, 5_000),
        item(&x1, &only_b, 5_000),
        item(&x2, &only_b, 5_000),
        item(&y, &[], 5_000),
    ];
    let out = store.insert_events(&items).await.unwrap();
    let summary: Vec<(usize, bool)> = out.iter().map(|i| (i.deliveries, i.duplicate)).collect();
    assert_eq!(
        summary,
        vec![
            (2, false),
            (1, true),
            (1, false),
            (2, true),
            (1, false),
            (1, true)
        ]
    );
    // Duplicates name the event they repeat: stored before, or earlier in the batch.
    assert_eq!(out[1].event_id, first.event_id);
    assert_eq!(out[3].event_id, out[0].event_id);
    assert_eq!(out[5].event_id, out[2].event_id);
    // New events get ids in input order.
    assert!(out[0].event_id < out[2].event_id && out[2].event_id < out[4].event_id);

    let (ev, deliveries) = store.get_event(out[0].event_id).await.unwrap().unwrap();
    assert_eq!(ev.event, x1);
    assert_eq!(ev.received_at, 5_000);
    let states: Vec<_> = deliveries
        .iter()
        .map(|d| (d.instance_id, d.state))
        .collect();
    assert_eq!(
        states,
        vec![(a, DeliveryState::Pending), (b, DeliveryState::Pending)]
    );
    assert!(deliveries.iter().all(|d| d.deadline_at == 65_000));
    // The second FAILED of job x within the window is a repeat of the first, in one batch too.
    let (_, repeated) = store.get_event(out[4].event_id).await.unwrap().unwrap();
    assert_eq!(repeated.len(), 1);
    assert_eq!(repeated[0].state, DeliveryState::Suppressed);
    assert_eq!(
        repeated[0].last_error,
        Some(json!({"kind": "repeat", "message": format!("repeat of event {}", out[0].event_id)}))
    );
    // 1 before + 2 + 1 (x2 is suppressed).
    assert_eq!(store.pending_count().await.unwrap(), 4);
}

pub(crate) async fn insert_events_is_all_or_nothing_and_the_batch_isolates_a_bad_event(
    store: Arc<dyn Store>,
) {
    let (a, _) = with_instances(&*store).await;
    let good = nth_event("good", "FAILED", 1);
    let bad = nth_event("bad", "FAILED", 1);
    let fine = [to(a)];
    let missing = [to(a), to(9_999)];
    let items = [item(&good, &fine, 1_000), item(&bad, &missing, 1_000)];
    let err = store.insert_events(&items).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { field: "targets", message } if message.contains("9999")),
        "{err:?}"
    );
    // Nothing of the batch was stored.
    assert_eq!(store.pending_count().await.unwrap(), 0);
    let history = store
        .history(&HistoryFilter {
            limit: 10,
            ..HistoryFilter::default()
        })
        .await
        .unwrap();
    assert!(history.is_empty(), "{history:?}");

    // For independent writers the good one is stored and the bad one fails alone.
    let out = store.insert_event_batch(&items).await;
    assert_eq!(out.len(), 2);
    let stored = out[0].as_ref().expect("the good event is stored");
    assert_eq!((stored.deliveries, stored.duplicate), (1, false));
    assert!(matches!(
        out[1],
        Err(StoreError::BadReference {
            field: "targets",
            ..
        })
    ));
    assert_eq!(store.pending_count().await.unwrap(), 1);
    assert!(store.insert_events(&[]).await.unwrap().is_empty());
}

pub(crate) async fn store_intake_claims_the_first_pending_rows_for_the_worker(
    store: Arc<dyn Store>,
) {
    let (a, b) = with_instances(&*store).await;
    let x1 = nth_event("x", "FAILED", 10);
    let x2 = nth_event("x", "FAILED", 11); // a repeat of x1: suppressed, never claimed
    let y = nth_event("y", "CANCELED", 10);
    let both = [to(a), to(b)];
    let only_a = [to(a)];
    let only_b = [to(b)];
    let items = [
        item(&x1, &both, 5_000),
        item(&x2, &only_a, 5_000),
        item(&y, &only_b, 5_000),
    ];
    // Targets in order: x1→a, x1→b, x2→a (suppressed), y→b (beyond max_rows: unclaimed).
    let lease = alert_store::IntakeLease {
        worker: "intake",
        until: 125_000,
        max_rows: 3,
    };
    let batch = IntakeBatch {
        events: &items,
        lease: Some(lease),
        ..IntakeBatch::default()
    };
    let (out, claimed) = store.store_intake(batch).await.unwrap();
    assert_eq!(
        out.iter()
            .map(|i| (i.deliveries, i.duplicate))
            .collect::<Vec<_>>(),
        vec![(2, false), (1, false), (1, false)]
    );
    let (_, x1_rows) = store.get_event(out[0].event_id).await.unwrap().unwrap();
    assert_eq!(
        ids(&claimed),
        x1_rows.iter().map(|d| d.id).collect::<Vec<_>>()
    );
    for row in &claimed {
        assert_eq!(row.event.as_deref(), Some(&x1));
        assert_eq!(row.delivery.state, DeliveryState::Pending);
        // As claim_due returns rows: the time they were due, not the lease's end.
        assert_eq!(row.delivery.next_attempt_at, 5_000);
    }
    // x1's two rows share one copy of it.
    assert!(matches!(
        (claimed[0].event.as_ref(), claimed[1].event.as_ref()),
        (Some(a), Some(b)) if Arc::ptr_eq(a, b)
    ));
    // Another worker claims only y's row now, and x1's once the lease has ended.
    let (_, y_rows) = store.get_event(out[2].event_id).await.unwrap().unwrap();
    let now = store
        .claim_due(5_000, 10, "other", 1_000_000)
        .await
        .unwrap();
    assert_eq!(ids(&now), vec![y_rows[0].id]);
    assert!(store
        .claim_due(124_999, 10, "other", 60_000)
        .await
        .unwrap()
        .is_empty());
    let later = store.claim_due(125_001, 10, "other", 60_000).await.unwrap();
    assert_eq!(ids(&later), ids(&claimed));
    // Without room nothing is claimed, and a duplicate claims nothing either.
    let z = nth_event("z", "FAILED", 10);
    let z_items = [item(&z, &only_a, 6_000), items[0]];
    let none = alert_store::IntakeLease {
        max_rows: 0,
        ..lease
    };
    let batch = IntakeBatch {
        events: &z_items,
        lease: Some(none),
        ..IntakeBatch::default()
    };
    let (out, claimed) = store.store_intake(batch).await.unwrap();
    assert!(claimed.is_empty(), "{claimed:?}");
    assert_eq!((out[1].duplicate, out[1].deliveries), (true, 2));
    let z_claim = store.claim_due(6_000, 10, "other", 60_000).await.unwrap();
    assert_eq!(z_claim.len(), 1);
}

pub(crate) async fn store_intake_saves_watcher_states_with_the_events_or_nothing(
    store: Arc<dyn Store>,
) {
    let (a, _) = with_instances(&*store).await;
    let mut clusters = Vec::new();
    for name in ["east", "west"] {
        let input = ClusterInput {
            name: name.to_owned(),
            url: format!("http://{name}:8081"),
            enabled: true,
            poll_interval_ms: 5_000,
        };
        clusters.push(store.create_cluster(&input, 1).await.unwrap().id);
    }
    let (east, west) = (clusters[0], clusters[1]);
    let e1 = nth_event("e1", "FAILED", 1);
    let w1 = nth_event("w1", "FAILED", 1);
    let only_a = [to(a)];
    let events = [item(&e1, &only_a, 2_000), item(&w1, &only_a, 2_000)];
    let (s1, s2, s3) = (json!({"n": 1}), json!({"n": 2}), json!({"n": 3}));
    let checkpoint = |cluster_id, url, state| WatcherCheckpoint {
        cluster_id,
        url,
        state,
        saved_at: 2_000,
    };
    // Two watchers' polls in one transaction; the last state of a cluster wins.
    let checkpoints = [
        checkpoint(east, "http://east:8081", &s1),
        checkpoint(west, "http://west:8081", &s2),
        checkpoint(east, "http://east2:8081", &s3),
    ];
    let batch = IntakeBatch {
        events: &events,
        checkpoints: &checkpoints,
        lease: None,
    };
    let (out, claimed) = store.store_intake(batch).await.unwrap();
    assert!(claimed.is_empty(), "no lease, no claim: {claimed:?}");
    assert_eq!(out.iter().map(|i| i.deliveries).sum::<usize>(), 2);
    assert_eq!(
        store.watcher_state(east).await.unwrap(),
        Some(("http://east2:8081".to_owned(), s3.clone()))
    );
    assert_eq!(
        store.watcher_state(west).await.unwrap(),
        Some(("http://west:8081".to_owned(), s2.clone()))
    );
    // An unknown cluster rolls the events and the other states back.
    let e2 = nth_event("e2", "FAILED", 1);
    let events = [item(&e2, &only_a, 3_000)];
    let checkpoints = [
        checkpoint(west, "http://west:9999", &s1),
        checkpoint(4_242, "http://gone", &s1),
    ];
    let batch = IntakeBatch {
        events: &events,
        checkpoints: &checkpoints,
        lease: None,
    };
    let err = store.store_intake(batch).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { field: "cluster_id", message } if message.contains("4242")),
        "{err:?}"
    );
    assert_eq!(store.pending_count().await.unwrap(), 2);
    assert_eq!(
        store.watcher_state(west).await.unwrap(),
        Some(("http://west:8081".to_owned(), s2))
    );
}
