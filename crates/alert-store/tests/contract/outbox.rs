//! Contract tests: Events in, deliveries claimed, recorded, released, folded into digests.

use super::*;

pub(crate) async fn insert_event_creates_deliveries_and_dedups_by_instant(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let g = store
        .create_group(&group("ops", vec![a, b]), 1)
        .await
        .unwrap();

    let ev = event("a1b2", "FAILED", "2026-11-25T08:00:00.250+08:00");
    let ins = store
        .insert_event(&ev, &[via(a, g.id), to(b)], 1000, 61_000, 0)
        .await
        .unwrap();
    assert_eq!((ins.deliveries, ins.duplicate), (2, false));

    let (stored, deliveries) = store.get_event(ins.event_id).await.unwrap().unwrap();
    assert_eq!(stored.id, ins.event_id);
    assert_eq!(stored.received_at, 1000);
    assert_eq!(stored.event, ev);
    // The offset is kept as given.
    assert_eq!(
        stored.event.occurred_at.to_rfc3339(),
        "2026-11-25T08:00:00.250+08:00"
    );
    assert_eq!(deliveries.len(), 2);
    assert_eq!(
        deliveries
            .iter()
            .map(|d| (d.instance_id, d.group_id))
            .collect::<Vec<_>>(),
        vec![(a, Some(g.id)), (b, None)]
    );
    for d in &deliveries {
        assert_eq!(d.event_id, Some(ins.event_id));
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.attempts, 0);
        assert_eq!((d.next_attempt_at, d.deadline_at), (1000, 61_000));
        assert_eq!((d.created_at, d.sent_at), (1000, None));
        assert_eq!(
            (&d.last_error, d.digest_id, &d.payload),
            (&None, None, &None)
        );
    }
    assert_eq!(store.pending_count().await.unwrap(), 2);

    // The same instant in another offset is the same event: nothing new.
    let same = event("a1b2", "FAILED", "2026-11-25T00:00:00.250Z");
    let dup = store
        .insert_event(&same, &[to(a)], 2000, 62_000, 0)
        .await
        .unwrap();
    assert_eq!(
        (dup.event_id, dup.deliveries, dup.duplicate),
        (ins.event_id, 2, true)
    );
    assert_eq!(store.pending_count().await.unwrap(), 2);

    // Another status, or another millisecond, is another event.
    let canceled = event("a1b2", "CANCELED", "2026-11-25T08:00:00.250+08:00");
    let other = store
        .insert_event(&canceled, &[to(a)], 3000, 63_000, 0)
        .await
        .unwrap();
    assert!(!other.duplicate);
    assert_ne!(other.event_id, ins.event_id);
    let later = event("a1b2", "FAILED", "2026-11-25T08:00:00.251+08:00");
    assert!(
        !store
            .insert_event(&later, &[], 3000, 63_000, 0)
            .await
            .unwrap()
            .duplicate
    );
    assert_eq!(store.pending_count().await.unwrap(), 3);

    // An unknown target instance stores nothing at all.
    let fresh = event("ffff", "FAILED", "2026-11-25T09:00:00+08:00");
    let err = store
        .insert_event(&fresh, &[to(a), to(31337)], 4000, 64_000, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { message, .. } if message.contains("31337")),
        "{err:?}"
    );
    assert_eq!(store.pending_count().await.unwrap(), 3);
    let retried = store
        .insert_event(&fresh, &[to(a)], 4000, 64_000, 0)
        .await
        .unwrap();
    assert_eq!((retried.deliveries, retried.duplicate), (1, false));

    assert_eq!(store.get_event(999_999).await.unwrap(), None);
}

pub(crate) async fn repeats_within_the_window_are_suppressed(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let window = 600_000;
    let restarting = |n| nth_event("flappy", "RESTARTING", n);

    let first = store
        .insert_event(
            &restarting(1),
            &[to(a), to(b)],
            1_000,
            99_000_000,
            1_000 - window,
        )
        .await
        .unwrap();
    let (_, ds) = store.get_event(first.event_id).await.unwrap().unwrap();
    assert!(ds.iter().all(|d| d.state == DeliveryState::Pending));

    // RUNNING in between: another status, not a repeat.
    let running = store
        .insert_event(
            &nth_event("flappy", "RUNNING", 2),
            &[to(a)],
            2_000,
            99_000_000,
            2_000 - window,
        )
        .await
        .unwrap();
    let (_, ds) = store.get_event(running.event_id).await.unwrap().unwrap();
    assert_eq!(ds[0].state, DeliveryState::Pending);

    // RESTARTING again within the window: created, but suppressed.
    let second = store
        .insert_event(
            &restarting(3),
            &[to(a), to(b)],
            3_000,
            99_000_000,
            3_000 - window,
        )
        .await
        .unwrap();
    assert_eq!((second.deliveries, second.duplicate), (2, false));
    let (_, ds) = store.get_event(second.event_id).await.unwrap().unwrap();
    assert_eq!(ds.len(), 2);
    for d in &ds {
        assert_eq!(d.state, DeliveryState::Suppressed);
        assert_eq!(d.digest_id, None);
        assert_eq!(
            d.last_error,
            Some(
                json!({"kind": "repeat", "message": format!("repeat of event {}", first.event_id)})
            )
        );
    }
    assert_eq!(store.pending_count().await.unwrap(), 3);

    // Another job is not a repeat.
    let other_job = store
        .insert_event(
            &nth_event("steady", "RESTARTING", 4),
            &[to(a)],
            4_000,
            99_000_000,
            4_000 - window,
        )
        .await
        .unwrap();
    let (_, ds) = store.get_event(other_job.event_id).await.unwrap().unwrap();
    assert_eq!(ds[0].state, DeliveryState::Pending);

    // Once the window has passed since the last one, it alerts again.
    let now = 3_000 + window + 1;
    let third = store
        .insert_event(&restarting(5), &[to(a)], now, 99_000_000, now - window)
        .await
        .unwrap();
    let (_, ds) = store.get_event(third.event_id).await.unwrap().unwrap();
    assert_eq!(ds[0].state, DeliveryState::Pending);
    assert_eq!(ds[0].last_error, None);
}

pub(crate) async fn claim_due_orders_limits_and_leases(store: Arc<dyn Store>) {
    let (a, _) = with_instances(&*store).await;
    let (e300, d300) = deliveries_at(&*store, 1, &[to(a)], 300).await;
    let (_, d100) = deliveries_at(&*store, 2, &[to(a)], 100).await;
    let (_, d200) = deliveries_at(&*store, 3, &[to(a)], 200).await;
    let (_, d2000) = deliveries_at(&*store, 4, &[to(a)], 2000).await;
    let (d300, d100, d200, d2000) = (d300[0], d100[0], d200[0], d2000[0]);

    assert!(store
        .claim_due(1000, 0, "w0", 5000)
        .await
        .unwrap()
        .is_empty());
    // Only what is due, oldest first, up to the limit.
    assert_eq!(
        ids(&store.claim_due(150, 10, "w0", 50).await.unwrap()),
        [d100]
    );
    // d100's lease (until 200) holds at 200: not claimable at the same instant.
    let w1 = store.claim_due(200, 1, "w1", 5000).await.unwrap();
    assert_eq!(ids(&w1), [d200]);
    assert_eq!(w1[0].delivery.next_attempt_at, 200);
    let w2 = store.claim_due(1000, 10, "w2", 5000).await.unwrap();
    assert_eq!(
        ids(&w2),
        [d100, d300],
        "expired lease of d100 is claimable again"
    );
    // The claimed rows carry their event.
    let (stored, _) = store.get_event(e300).await.unwrap().unwrap();
    assert_eq!(w2[1].event.as_deref(), Some(&stored.event));
    assert_eq!(w2[1].delivery.state, DeliveryState::Pending);
    // Two claims at the same instant never share a row.
    assert!(store
        .claim_due(1000, 10, "w3", 5000)
        .await
        .unwrap()
        .is_empty());
    assert!(store.claim_due(5200, 10, "w3", 5000).await.unwrap().len() == 1); // d2000
                                                                              // Leases expire strictly after lease_until: d200 (5200), d100/d300 (6000).
    assert!(store
        .claim_due(5200, 10, "w4", 5000)
        .await
        .unwrap()
        .is_empty());
    let again = store.claim_due(6001, 10, "w4", 5000).await.unwrap();
    assert_eq!(
        ids(&again).into_iter().collect::<HashSet<_>>(),
        HashSet::from([d100, d200, d300])
    );
    // Claiming counts no attempt and keeps rows pending.
    assert_eq!(store.pending_count().await.unwrap(), 4);
    assert!(store.attempts(d100).await.unwrap().is_empty());
    let _ = d2000;

    // The deliveries of one event claimed together share one copy of it.
    let c = store.create_instance(&instance("c"), 1).await.unwrap().id;
    let (e, fan) = deliveries_at(&*store, 5, &[to(a), to(c)], 7000).await;
    let both = store.claim_due(7000, 10, "w5", 5000).await.unwrap();
    assert_eq!(ids(&both), fan);
    let (first, second) = (both[0].event.as_ref(), both[1].event.as_ref());
    assert!(matches!((first, second), (Some(x), Some(y)) if Arc::ptr_eq(x, y)));
    let (stored, _) = store.get_event(e).await.unwrap().unwrap();
    assert_eq!(both[0].event.as_deref(), Some(&stored.event));
}

pub(crate) async fn record_attempts_moves_rows_and_lists_attempts(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let (_, ds) = deliveries_at(&*store, 1, &[to(a), to(b), to(a)], 100).await;
    let (ok, again, dead) = (ds[0], ds[1], ds[2]);
    assert_eq!(store.claim_due(100, 10, "w", 1000).await.unwrap().len(), 3);

    let mut ok_record = sent(ok, 110);
    ok_record.warnings = vec!["keyword added".to_owned()];
    let dead_error =
        json!({"kind": "permanent", "code": "310000", "message": "keywords not in content"});
    let dead_record = AttemptRecord {
        state: DeliveryState::Failed,
        error: Some(dead_error.clone()),
        ..sent(dead, 120)
    };
    store
        .record_attempts(&[ok_record, retry(again, 115, 5000), dead_record])
        .await
        .unwrap();

    let history = store.history(&HistoryFilter::default()).await.unwrap();
    let by_id = |id: i64| {
        history
            .iter()
            .find(|h| h.delivery.id == id)
            .unwrap()
            .delivery
            .clone()
    };
    let d = by_id(ok);
    assert_eq!(
        (d.state, d.attempts, d.sent_at),
        (DeliveryState::Sent, 1, Some(120))
    );
    assert_eq!(d.last_error, None);
    let d = by_id(again);
    assert_eq!(
        (d.state, d.attempts, d.next_attempt_at, d.sent_at),
        (DeliveryState::Pending, 1, 5000, None)
    );
    assert_eq!(d.last_error.as_ref().unwrap()["kind"], "retry");
    let d = by_id(dead);
    assert_eq!(
        (d.state, d.attempts, d.sent_at),
        (DeliveryState::Failed, 1, None)
    );
    assert_eq!(d.last_error, Some(dead_error.clone()));
    assert_eq!(store.pending_count().await.unwrap(), 1);

    let attempts = store.attempts(ok).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (
            attempts[0].number,
            attempts[0].started_at,
            attempts[0].finished_at
        ),
        (1, 110, 120)
    );
    assert_eq!(attempts[0].outcome, "sent");
    assert_eq!(attempts[0].error, None);
    assert_eq!(attempts[0].warnings, vec!["keyword added".to_owned()]);
    let attempts = store.attempts(dead).await.unwrap();
    assert_eq!(attempts[0].outcome, "permanent");
    assert_eq!(attempts[0].error, Some(dead_error));

    // The retried row's lease is gone: it is due at 5000 for anybody, and not before.
    assert!(store
        .claim_due(4999, 10, "x", 1000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&store.claim_due(5000, 10, "y", 1000).await.unwrap()),
        [again]
    );
    // Two attempts of one delivery in one batch are numbered in order.
    store
        .record_attempts(&[
            AttemptRecord {
                error: Some(json!({"kind": "throttle", "message": "slow down"})),
                ..retry(again, 5000, 6000)
            },
            sent(again, 5100),
        ])
        .await
        .unwrap();
    let attempts = store.attempts(again).await.unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.number, a.outcome.as_str()))
            .collect::<Vec<_>>(),
        [(1, "retry"), (2, "throttle"), (3, "sent")]
    );
    let history = store.history(&HistoryFilter::default()).await.unwrap();
    let d = history.iter().find(|h| h.delivery.id == again).unwrap();
    assert_eq!(
        (d.delivery.state, d.delivery.attempts, d.delivery.sent_at),
        (DeliveryState::Sent, 3, Some(5110))
    );
    assert_eq!(store.pending_count().await.unwrap(), 0);
    assert!(store.attempts(424_242).await.unwrap().is_empty());
}

pub(crate) async fn release_puts_claimed_rows_back_unattempted(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let (_, ds) = deliveries_at(&*store, 1, &[to(a), to(b)], 100).await;
    assert_eq!(
        store.claim_due(100, 10, "w", 60_000).await.unwrap().len(),
        2
    );
    store.release(&[ds[1]], 9000).await.unwrap();
    store.release(&[], 9000).await.unwrap();

    assert!(store.claim_due(8999, 10, "w2", 1).await.unwrap().is_empty());
    let claimed = store.claim_due(9000, 10, "w2", 1).await.unwrap();
    assert_eq!(ids(&claimed), [ds[1]]);
    assert_eq!(claimed[0].delivery.attempts, 0);
    assert_eq!(claimed[0].delivery.next_attempt_at, 9000);
    assert!(store.attempts(ds[1]).await.unwrap().is_empty());
}

pub(crate) async fn create_digest_folds_pending_rows(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let (_, ds1) = deliveries_at(&*store, 1, &[to(a), to(b)], 100).await;
    let (_, ds2) = deliveries_at(&*store, 2, &[to(a)], 100).await;
    let (_, ds3) = deliveries_at(&*store, 3, &[to(a)], 100).await;
    assert_eq!(
        store.claim_due(100, 10, "w", 60_000).await.unwrap().len(),
        4
    );
    let payload = json!({"title": "3 jobs failed", "text": "…", "markdown": "**3** jobs failed"});

    // Folding another instance's row, or into an unknown instance, changes nothing.
    let bad = DigestInput {
        instance_id: a,
        folded: vec![ds1[0], ds1[1]],
        payload: payload.clone(),
        next_attempt_at: 200,
        deadline_at: 99_000,
        claimed_by: None,
        lease_until: None,
    };
    let err = store.create_digest(&bad, 150).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { field: "folded", message } if message.starts_with(&format!("delivery {} ", ds1[1]))),
        "{err:?}"
    );
    let err = store
        .create_digest(
            &DigestInput {
                instance_id: 5555,
                ..bad.clone()
            },
            150,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::BadReference {
            field: "instance_id",
            ..
        }
    ));
    assert_eq!(store.pending_count().await.unwrap(), 4);

    let digest = DigestInput {
        instance_id: a,
        folded: vec![ds1[0], ds2[0], ds3[0]],
        payload: payload.clone(),
        next_attempt_at: 200,
        deadline_at: 99_000,
        claimed_by: None,
        lease_until: None,
    };
    let id = store.create_digest(&digest, 150).await.unwrap();
    // b's row and the digest remain.
    assert_eq!(store.pending_count().await.unwrap(), 2);

    let history = store.history(&HistoryFilter::default()).await.unwrap();
    assert_eq!(history[0].delivery.id, id, "newest first");
    let row = &history[0];
    assert_eq!(row.delivery.event_id, None);
    assert_eq!(row.delivery.payload, Some(payload.clone()));
    assert_eq!(row.delivery.state, DeliveryState::Pending);
    assert_eq!(
        (row.delivery.next_attempt_at, row.delivery.deadline_at),
        (200, 99_000)
    );
    assert_eq!(row.delivery.created_at, 150);
    assert_eq!((row.job_id.as_deref(), row.status), (None, None));
    assert_eq!(
        (row.instance_name.as_str(), row.kind.as_str()),
        ("a", "dingtalk")
    );
    for folded in &digest.folded {
        let d = &history
            .iter()
            .find(|h| h.delivery.id == *folded)
            .unwrap()
            .delivery;
        assert_eq!(
            (d.state, d.digest_id),
            (DeliveryState::Suppressed, Some(id))
        );
    }

    // The digest is claimable on its own, with no event.
    let claimed = store.claim_due(200, 10, "w2", 1000).await.unwrap();
    assert_eq!(ids(&claimed), [id]);
    assert_eq!(claimed[0].event, None);
    assert_eq!(claimed[0].delivery.payload, Some(payload.clone()));

    store.record_attempts(&[sent(id, 200)]).await.unwrap();

    // A digest created already claimed is nobody else's until its lease ends.
    store.release(&[ds1[1]], 300).await.unwrap();
    let held = store
        .create_digest(
            &DigestInput {
                instance_id: b,
                folded: vec![ds1[1]],
                payload,
                next_attempt_at: 300,
                deadline_at: 99_000,
                claimed_by: Some("sender".to_owned()),
                lease_until: Some(2000),
            },
            300,
        )
        .await
        .unwrap();
    assert!(store
        .claim_due(2000, 10, "w3", 1000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&store.claim_due(2001, 10, "w3", 1000).await.unwrap()),
        [held]
    );
    assert!(store.attempts(held).await.unwrap().is_empty());
}
