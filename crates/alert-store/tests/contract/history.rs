//! Contract tests: The history listing.

use super::*;

pub(crate) async fn history_filters_and_pages_newest_first(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let g1 = store
        .create_group(&group("g1", vec![a, b]), 1)
        .await
        .unwrap()
        .id;
    let g2 = store
        .create_group(&group("g2", vec![b]), 1)
        .await
        .unwrap()
        .id;
    let job_a = store
        .insert_event(
            &event("jobA", "FAILED", "2026-11-25T08:00:00+08:00"),
            &[via(a, g1), via(b, g1)],
            100,
            10_000,
            0,
        )
        .await
        .unwrap()
        .event_id;
    let job_b = store
        .insert_event(
            &event("jobB", "CANCELED", "2026-11-25T08:00:00+08:00"),
            &[via(b, g2), to(a)],
            200,
            10_000,
            0,
        )
        .await
        .unwrap()
        .event_id;
    let (_, a_rows) = store.get_event(job_a).await.unwrap().unwrap();
    let (_, b_rows) = store.get_event(job_b).await.unwrap().unwrap();
    let failed = b_rows[1].id;
    store
        .record_attempts(&[AttemptRecord {
            state: DeliveryState::Failed,
            error: Some(json!({"kind": "permanent", "message": "bad token"})),
            ..sent(failed, 300)
        }])
        .await
        .unwrap();
    store
        .record_attempts(&[sent(a_rows[1].id, 400)])
        .await
        .unwrap();

    let ids_of =
        |rows: &[alert_store::HistoryRow]| rows.iter().map(|r| r.delivery.id).collect::<Vec<_>>();
    let all = store.history(&HistoryFilter::default()).await.unwrap();
    assert_eq!(
        ids_of(&all),
        [b_rows[1].id, b_rows[0].id, a_rows[1].id, a_rows[0].id]
    );
    let row = &all[1];
    assert_eq!(row.job_id.as_deref(), Some("jobB"));
    assert_eq!(row.job_name.as_deref(), Some("job-jobB"));
    assert_eq!(row.status, Some(JobStatus::Canceled));
    assert_eq!(row.previous_status, Some(JobStatus::Running));
    assert_eq!(
        (row.instance_name.as_str(), row.kind.as_str()),
        ("b", "dingtalk")
    );

    let filter = |f: HistoryFilter| {
        let store = store.clone();
        async move { ids_of(&store.history(&f).await.unwrap()) }
    };
    assert_eq!(
        filter(HistoryFilter {
            job_id: Some("jobA".into()),
            ..Default::default()
        })
        .await,
        [a_rows[1].id, a_rows[0].id]
    );
    assert_eq!(
        filter(HistoryFilter {
            instance_id: Some(a),
            ..Default::default()
        })
        .await,
        [b_rows[1].id, a_rows[0].id]
    );
    assert_eq!(
        filter(HistoryFilter {
            group_id: Some(g2),
            ..Default::default()
        })
        .await,
        [b_rows[0].id]
    );
    assert_eq!(
        filter(HistoryFilter {
            state: Some(DeliveryState::Failed),
            ..Default::default()
        })
        .await,
        [failed]
    );
    // Sent deliveries are not in the partial `deliveries_state` index: read from the rows.
    assert_eq!(
        filter(HistoryFilter {
            state: Some(DeliveryState::Sent),
            ..Default::default()
        })
        .await,
        [a_rows[1].id]
    );
    assert_eq!(
        filter(HistoryFilter {
            state: Some(DeliveryState::Pending),
            ..Default::default()
        })
        .await,
        [b_rows[0].id, a_rows[0].id]
    );
    assert_eq!(
        filter(HistoryFilter {
            job_id: Some("jobB".into()),
            state: Some(DeliveryState::Pending),
            ..Default::default()
        })
        .await,
        [b_rows[0].id]
    );
    assert!(filter(HistoryFilter {
        job_id: Some("nope".into()),
        ..Default::default()
    })
    .await
    .is_empty());

    // Paging: `before` an id, `limit` rows.
    let page1 = filter(HistoryFilter {
        limit: 3,
        ..Default::default()
    })
    .await;
    assert_eq!(page1, ids_of(&all)[..3]);
    let page2 = filter(HistoryFilter {
        limit: 3,
        before: page1.last().copied(),
        ..Default::default()
    })
    .await;
    assert_eq!(page2, ids_of(&all)[3..]);

    // History keeps the instance's name after it is deleted, and shows a rename.
    store
        .update_group(g1, &group("g1", vec![b]), 2)
        .await
        .unwrap();
    let mut renamed = instance("b-renamed");
    renamed.kind = "wecom".to_owned();
    store.update_instance(b, &renamed, 3).await.unwrap();
    assert!(store.delete_instance(a).await.unwrap());
    let all = store.history(&HistoryFilter::default()).await.unwrap();
    let names: Vec<_> = all
        .iter()
        .map(|r| (r.instance_name.as_str(), r.kind.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("a", "dingtalk"),
            ("b-renamed", "wecom"),
            ("b-renamed", "wecom"),
            ("a", "dingtalk")
        ]
    );
}

pub(crate) async fn history_limit_defaults_to_100_and_is_capped_at_1000(store: Arc<dyn Store>) {
    let (a, _) = with_instances(&*store).await;
    // One event may target an instance several times (e.g. through several groups).
    let targets = vec![to(a); 1005];
    let ins = store
        .insert_event(&nth_event("big", "FAILED", 1), &targets, 1, 2, 0)
        .await
        .unwrap();
    assert_eq!(ins.deliveries, 1005);
    assert_eq!(store.pending_count().await.unwrap(), 1005);
    let len = |limit| {
        let store = store.clone();
        async move {
            store
                .history(&HistoryFilter {
                    limit,
                    ..Default::default()
                })
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(len(0).await, 100);
    assert_eq!(len(1).await, 1);
    assert_eq!(len(1000).await, 1000);
    assert_eq!(len(5000).await, 1000);
}
