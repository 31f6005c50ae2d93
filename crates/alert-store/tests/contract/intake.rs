//! Contract tests: Clusters with watch reports, Alertmanager notifications.

use super::*;

pub(crate) async fn clusters_and_watch_reports_commit_together(store: Arc<dyn Store>) {
    use alert_store::{ClusterInput, EventTimes, RoutedEvent};
    let (a, b) = with_instances(&*store).await;
    let input = ClusterInput {
        name: "prod".to_owned(),
        url: "http://jm:8081".to_owned(),
        enabled: true,
        poll_interval_ms: 5_000,
    };
    let cluster = store.create_cluster(&input, 10).await.unwrap();
    assert_eq!(cluster.input, input);
    let err = store.create_cluster(&input, 11).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NameTaken { what: "cluster", name } if name == "prod"),
        "{err:?}"
    );
    assert_eq!(store.list_clusters().await.unwrap(), vec![cluster.clone()]);
    let mut moved = input.clone();
    moved.url = "http://jm2:8081".to_owned();
    moved.enabled = false;
    let updated = store
        .update_cluster(cluster.id, &moved, 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((updated.input.enabled, updated.updated_at), (false, 20));
    assert_eq!(store.get_cluster(cluster.id).await.unwrap(), Some(updated));
    assert_eq!(store.update_cluster(999, &moved, 21).await.unwrap(), None);
    assert_eq!(store.watcher_state(cluster.id).await.unwrap(), None);

    let times = EventTimes {
        now: 1_000,
        deadline_at: 99_000,
        repeat_since: i64::MAX,
    };
    let routed = |job: &str, status: &str, n: u32, targets: Vec<Target>| RoutedEvent {
        event: nth_event(job, status, n),
        targets,
        silence_id: None,
    };
    // Several jobs (and statuses) in one poll, one of them twice.
    let poll = vec![
        routed("j2", "FAILED", 1, vec![to(a)]),
        routed("j1", "CANCELED", 1, vec![to(a), to(b)]),
        routed("j3", "FAILED", 1, vec![]),
        routed("j2", "FAILED", 1, vec![to(b)]),
    ];
    let state = json!({"jobs": {"j1": "CANCELED"}});
    let inserted = store
        .save_watch_report(cluster.id, "http://jm2:8081", &poll, Some(&state), times)
        .await
        .unwrap();
    assert_eq!(
        inserted
            .iter()
            .map(|i| (i.deliveries, i.duplicate))
            .collect::<Vec<_>>(),
        [(1, false), (2, false), (0, false), (1, true)]
    );
    assert_eq!(inserted[3].event_id, inserted[0].event_id);
    assert_eq!(
        store.watcher_state(cluster.id).await.unwrap(),
        Some(("http://jm2:8081".to_owned(), state.clone()))
    );
    assert_eq!(store.pending_count().await.unwrap(), 3);

    // A bad target rolls the whole poll back, state included.
    let bad = vec![
        routed("j4", "FAILED", 1, vec![to(a)]),
        routed("j5", "FAILED", 1, vec![to(4_242)]),
    ];
    let err = store
        .save_watch_report(cluster.id, "http://other", &bad, Some(&json!({})), times)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { message, .. } if message.contains("4242")),
        "{err:?}"
    );
    assert_eq!(store.pending_count().await.unwrap(), 3);
    assert_eq!(
        store.watcher_state(cluster.id).await.unwrap(),
        Some(("http://jm2:8081".to_owned(), state))
    );
    // The state of an unknown cluster is a bad reference.
    let err = store
        .save_watch_report(777, "http://x", &[], Some(&json!({})), times)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadReference {
                field: "cluster_id",
                ..
            }
        ),
        "{err:?}"
    );
    // Deleting the cluster deletes its state.
    assert!(store.delete_cluster(cluster.id).await.unwrap());
    assert!(!store.delete_cluster(cluster.id).await.unwrap());
    assert_eq!(store.watcher_state(cluster.id).await.unwrap(), None);
}

pub(crate) fn am_key(fingerprint: &str) -> AmAlertKey {
    AmAlertKey {
        fingerprint: fingerprint.to_owned(),
        status: "firing".to_owned(),
        starts_at: "2026-11-25T10:00:00Z".to_owned(),
    }
}

/// A notification of `keys` with one message per `(instance, alert indexes)`.
pub(crate) fn am_notification(
    group_key: &str,
    keys: &[&str],
    messages: &[(i64, &[usize])],
) -> AmNotificationInput {
    AmNotificationInput {
        receiver: "flink".to_owned(),
        status: "firing".to_owned(),
        group_key: group_key.to_owned(),
        payload: json!({"groupKey": group_key, "alerts": keys}),
        alerts: keys.iter().map(|k| am_key(k)).collect(),
        unrouted: 0,
        silenced: 0,
        messages: messages
            .iter()
            .map(|(instance_id, alerts)| AmMessagePlan {
                target: to(*instance_id),
                alerts: alerts.to_vec(),
            })
            .collect(),
    }
}

/// Renders the fingerprints a message carries, so the stored payload tells what was sent.
pub(crate) fn am_render(
    n: &AmNotificationInput,
) -> impl Fn(&[usize]) -> Result<serde_json::Value, String> + Send + Sync + '_ {
    move |which: &[usize]| {
        let carried: Vec<&str> = which
            .iter()
            .map(|&i| n.alerts[i].fingerprint.as_str())
            .collect();
        Ok(json!({"group": n.group_key, "carried": carried}))
    }
}

pub(crate) async fn alertmanager_batches_dedup_in_order_and_isolate_a_bad_notification(
    store: Arc<dyn Store>,
) {
    let (a, b) = with_instances(store.as_ref()).await;
    let times = EventTimes {
        now: 1_000,
        deadline_at: 3_601_000,
        repeat_since: 1_000,
    };
    let n1 = am_notification("n1", &["k1", "k2"], &[(a, &[0, 1]), (b, &[0])]);
    // k2 went to `a` in n1, earlier in the same batch: only k3 is new there.
    let n2 = am_notification("n2", &["k2", "k3"], &[(a, &[0, 1])]);
    let n3 = am_notification("n3", &["k9"], &[(999_999, &[0])]);
    // k1 went to `b` in n1: nothing new.
    let n4 = am_notification("n4", &["k1"], &[(b, &[0])]);
    let (r1, r2, r3, r4) = (
        am_render(&n1),
        am_render(&n2),
        am_render(&n3),
        am_render(&n4),
    );
    let item = |input, render| AmItem {
        input,
        render,
        times,
    };
    let results = store
        .insert_alertmanager_batch(&[
            item(&n1, &r1),
            item(&n2, &r2),
            item(&n3, &r3),
            item(&n4, &r4),
        ])
        .await;
    assert_eq!(results.len(), 4);
    let counts: Vec<Option<(usize, usize)>> = results
        .iter()
        .map(|r| r.as_ref().ok().map(|i| (i.deliveries, i.duplicates)))
        .collect();
    assert_eq!(counts, vec![Some((2, 0)), Some((1, 1)), None, Some((0, 1))]);
    assert!(
        matches!(&results[2], Err(StoreError::BadReference { field: "targets", message }) if message.contains("999999")),
        "the notification to a missing instance fails alone: {:?}",
        results[2]
    );
    // What was stored matches the answers: ids, counts, and the messages' alerts.
    let listed = store.list_alertmanager(false, None, 0).await.unwrap();
    assert_eq!(listed.len(), 3, "n3 was not stored");
    for (result, group_key) in [
        (&results[0], "n1"),
        (&results[1], "n2"),
        (&results[3], "n4"),
    ] {
        let inserted = result.as_ref().unwrap();
        let row = listed
            .iter()
            .find(|r| r.id == inserted.notification_id)
            .unwrap();
        assert_eq!(row.group_key, group_key);
        assert_eq!(row.payload["groupKey"], group_key);
        assert_eq!(
            (row.deliveries as usize, row.duplicates as usize),
            (inserted.deliveries, inserted.duplicates)
        );
        assert_eq!(row.delivery_ids.len(), inserted.deliveries);
    }
    let claimed = store.claim_due(1_000, 100, "w", 60_000).await.unwrap();
    let mut sent: Vec<(i64, serde_json::Value)> = claimed
        .iter()
        .map(|c| (c.delivery.instance_id, c.delivery.payload.clone().unwrap()))
        .collect();
    sent.sort_by_key(|(instance, p)| (*instance, p.to_string()));
    let mut expected = vec![
        (a, json!({"group": "n1", "carried": ["k1", "k2"]})),
        (b, json!({"group": "n1", "carried": ["k1"]})),
        (a, json!({"group": "n2", "carried": ["k3"]})),
    ];
    expected.sort_by_key(|(instance, p)| (*instance, p.to_string()));
    assert_eq!(sent, expected);
    // Alertmanager sends n1 again (repeat_interval): nothing new, in a batch or alone.
    let again = store
        .insert_alertmanager_batch(&[item(&n1, &r1), item(&n4, &r4)])
        .await;
    let again: Vec<(usize, usize)> = again
        .into_iter()
        .map(|r| {
            let i = r.unwrap();
            (i.deliveries, i.duplicates)
        })
        .collect();
    assert_eq!(again, vec![(0, 3), (0, 1)]);
    let alone = store.insert_alertmanager(&n2, &r2, times).await.unwrap();
    assert_eq!((alone.deliveries, alone.duplicates), (0, 2));
    assert_eq!(
        store.list_alertmanager(false, None, 0).await.unwrap().len(),
        6
    );
}
