//! Contract tests: Leases, send budgets, channel pauses.

use super::*;

pub(crate) async fn leases_are_taken_renewed_refused_taken_over_and_released(
    store: Arc<dyn Store>,
) {
    assert!(store.leases_held("r1", 0).await.unwrap().is_empty());
    // Free: taken.
    assert!(store
        .acquire_lease("watch:1", "r1", 1_000, 10_000)
        .await
        .unwrap());
    assert!(store
        .acquire_lease("watch:2", "r1", 1_000, 10_000)
        .await
        .unwrap());
    assert_eq!(
        store.leases_held("r1", 1_000).await.unwrap(),
        ["watch:1", "watch:2"]
    );
    // Held by another replica until 11 000 (inclusive): refused.
    assert!(!store
        .acquire_lease("watch:1", "r2", 5_000, 10_000)
        .await
        .unwrap());
    assert!(!store
        .acquire_lease("watch:1", "r2", 11_000, 10_000)
        .await
        .unwrap());
    // Renewed by its holder: until 18 000.
    assert!(store
        .acquire_lease("watch:1", "r1", 8_000, 10_000)
        .await
        .unwrap());
    assert!(!store
        .acquire_lease("watch:1", "r2", 12_000, 10_000)
        .await
        .unwrap());
    assert_eq!(
        store.leases_held("r1", 12_000).await.unwrap(),
        ["watch:1"],
        "watch:2 expired at 11 000"
    );
    // Expired: taken over; the old holder no longer holds it and cannot renew it.
    assert!(store
        .acquire_lease("watch:1", "r2", 18_001, 10_000)
        .await
        .unwrap());
    assert_eq!(store.leases_held("r2", 18_001).await.unwrap(), ["watch:1"]);
    assert!(store.leases_held("r1", 18_001).await.unwrap().is_empty());
    assert!(!store
        .acquire_lease("watch:1", "r1", 18_002, 10_000)
        .await
        .unwrap());
    // Releasing somebody else's lease does nothing; releasing one's own frees it at once.
    store.release_lease("watch:1", "r1").await.unwrap();
    assert_eq!(store.leases_held("r2", 18_002).await.unwrap(), ["watch:1"]);
    store.release_lease("watch:1", "r2").await.unwrap();
    store.release_lease("nope", "r2").await.unwrap();
    assert!(store.leases_held("r2", 18_002).await.unwrap().is_empty());
    assert!(store
        .acquire_lease("watch:1", "r1", 18_003, 10_000)
        .await
        .unwrap());
}

pub(crate) async fn take_budget_is_a_sliding_minute(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let t0 = 1_000_000;
    // 20/min: the free half (10) at once, then one every 6 s (the policy itself is unit-tested
    // in `store::window_take`; this checks each backend keeps the window).
    for i in 0..10 {
        assert_eq!(
            store.take_budget(a, 20, 1, t0 + i).await.unwrap(),
            Ok(()),
            "send {i}"
        );
    }
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 100).await.unwrap(),
        Err(t0 + 6_009)
    );
    assert_eq!(
        store.take_budget(a, 20, 2, t0 + 6_009).await.unwrap(),
        Err(t0 + 6_009),
        "one send fits at 6 009, two do not"
    );
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 6_009).await.unwrap(),
        Ok(())
    );
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 6_010).await.unwrap(),
        Err(t0 + 12_009)
    );
    // After a quiet minute the free half is back (and no more at once).
    let later = t0 + 200_000;
    assert_eq!(store.take_budget(a, 20, 10, later).await.unwrap(), Ok(()));
    assert!(store.take_budget(a, 20, 2, later).await.unwrap().is_err());
    assert!(store.take_budget(b, 20, 11, later).await.unwrap().is_err());
    // Another instance has its own budget; 0 is unlimited.
    assert_eq!(store.take_budget(b, 20, 5, later).await.unwrap(), Ok(()));
    for _ in 0..100 {
        assert_eq!(store.take_budget(b, 0, 1, later).await.unwrap(), Ok(()));
    }
    let err = store.take_budget(31_337, 20, 1, t0).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadReference {
                field: "instance_id",
                ..
            }
        ),
        "{err:?}"
    );
}

pub(crate) async fn block_instance_refuses_budget_until_then(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let t0 = 5_000_000;
    store.block_instance(a, t0 + 60_000).await.unwrap();
    assert_eq!(
        store.take_budget(a, 20, 1, t0).await.unwrap(),
        Err(t0 + 60_000)
    );
    // Unlimited instances are blocked too.
    assert_eq!(
        store.take_budget(a, 0, 1, t0).await.unwrap(),
        Err(t0 + 60_000)
    );
    // An earlier end does not shorten the block.
    store.block_instance(a, t0 + 1_000).await.unwrap();
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 59_999).await.unwrap(),
        Err(t0 + 60_000)
    );
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 60_000).await.unwrap(),
        Ok(())
    );
    // Others are not blocked.
    assert_eq!(store.take_budget(b, 20, 1, t0).await.unwrap(), Ok(()));
    // A block within a used budget: the later of both.
    for _ in 0..9 {
        store.take_budget(b, 20, 1, t0).await.unwrap().unwrap();
    }
    store.block_instance(b, t0 + 1_000).await.unwrap();
    assert_eq!(
        store.take_budget(b, 20, 1, t0 + 1_000).await.unwrap(),
        Err(t0 + 6_000)
    );
    assert!(matches!(
        store.block_instance(424_242, t0).await.unwrap_err(),
        StoreError::BadReference {
            field: "instance_id",
            ..
        }
    ));
    store.ping().await.unwrap();
}

pub(crate) async fn take_budgets_decides_a_claim_round_at_once(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let c = store.create_instance(&instance("c"), 1).await.unwrap().id;
    let t0 = 9_000_000;
    let ask = |instance_id, rate_per_minute, n| BudgetAsk {
        instance_id,
        rate_per_minute,
        n,
    };
    store.block_instance(c, t0 + 30_000).await.unwrap();
    // a: 4 per minute, 2 free at once; b: unlimited; c: unlimited but paused by its channel.
    let round = [ask(a, 4, 2), ask(b, 0, 500), ask(c, 0, 1)];
    assert_eq!(
        store.take_budgets(&round, t0).await.unwrap(),
        vec![Ok(2), Ok(500), Err(t0 + 30_000)]
    );
    // The budget is spent: several waiting → one send (a digest) once the paced half allows.
    assert_eq!(
        store.take_budgets(&[ask(a, 4, 3)], t0 + 1).await.unwrap(),
        vec![Err(t0 + 30_000)]
    );
    assert_eq!(
        store
            .take_budgets(&[ask(a, 4, 3), ask(b, 0, 1)], t0 + 30_000)
            .await
            .unwrap(),
        vec![Ok(1), Ok(1)]
    );
    // The same window as take_budget sees: one send at a time, 30 s apart.
    assert_eq!(
        store.take_budget(a, 4, 1, t0 + 30_001).await.unwrap(),
        Err(t0 + 60_000)
    );
    // A block applies to limited instances too.
    store.block_instance(a, t0 + 90_000).await.unwrap();
    assert_eq!(
        store
            .take_budgets(&[ask(a, 4, 1)], t0 + 60_000)
            .await
            .unwrap(),
        vec![Err(t0 + 90_000)]
    );
    assert!(store.take_budgets(&[], t0).await.unwrap().is_empty());
    // An unknown instance with a budget fails the round.
    assert!(matches!(
        store
            .take_budgets(&[ask(b, 4, 1), ask(424_242, 4, 1)], t0)
            .await
            .unwrap_err(),
        StoreError::BadReference {
            field: "instance_id",
            ..
        }
    ));
    // ...and takes nothing from the others.
    assert_eq!(
        store.take_budgets(&[ask(b, 4, 2)], t0).await.unwrap(),
        vec![Ok(2)]
    );
}
