//! The intake's group commit against a real (in-memory) store.

use super::*;
use alert_core::JobStatus;
use alert_store::StoreError;
use chrono::DateTime;
use serde_json::json;

fn job(id: &str, targets: Vec<Target>) -> EventJob {
    let at = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z").expect("a time");
    EventJob {
        event: JobEvent::new(id, format!("job {id}"), JobStatus::Failed, at),
        targets,
        times: EventTimes {
            now: 1_000,
            deadline_at: 2_000,
            repeat_since: 0,
        },
        silence_id: None,
    }
}

fn sink(store: Arc<dyn Store>) -> IntakeSink {
    IntakeSink {
        store,
        handoff: None,
        wake: Arc::new(Notify::new()),
    }
}

fn writes(requests: Vec<Vec<EventJob>>) -> Vec<IntakeWrite> {
    requests.into_iter().map(IntakeWrite::from).collect()
}

fn duplicates(result: &StoreResult<Vec<InsertedEvent>>) -> Vec<bool> {
    result
        .as_ref()
        .expect("stored")
        .iter()
        .map(|e| e.duplicate)
        .collect()
}

#[tokio::test]
async fn a_failing_request_fails_alone_and_stores_none_of_its_events() {
    let store = alert_store::connect("sqlite::memory:")
        .await
        .expect("store");
    let missing = Target {
        instance_id: 999,
        group_id: None,
    };
    let requests = vec![
        vec![job("a", vec![]), job("b", vec![])],
        vec![job("c", vec![]), job("d", vec![missing])],
        vec![job("e", vec![])],
    ];
    let sink = sink(store);
    let results = commit_writes(&sink, &writes(requests)).await;
    assert_eq!(results.len(), 3);
    assert_eq!(duplicates(&results[0]), [false, false]);
    assert!(
        matches!(results[1], Err(StoreError::BadReference { .. })),
        "{:?}",
        results[1]
    );
    assert_eq!(duplicates(&results[2]), [false]);
    // `c` went with its request: storing it again is no duplicate; `a` and `e` were kept.
    let again = commit_writes(
        &sink,
        &writes(vec![
            vec![job("c", vec![])],
            vec![job("a", vec![]), job("e", vec![])],
        ]),
    )
    .await;
    assert_eq!(duplicates(&again[0]), [false]);
    assert_eq!(duplicates(&again[1]), [true, true]);
}

#[tokio::test]
async fn requests_over_the_transaction_size_are_answered_each_in_order() {
    let store = alert_store::connect("sqlite::memory:")
        .await
        .expect("store");
    let requests: Vec<Vec<EventJob>> = (0..3)
        .map(|r| (0..600).map(|i| job(&format!("{r}-{i}"), vec![])).collect())
        .collect();
    let results = commit_writes(&sink(store), &writes(requests)).await;
    let sizes: Vec<usize> = results
        .iter()
        .map(|r| r.as_ref().expect("stored").len())
        .collect();
    assert_eq!(sizes, [600, 600, 600]);
    // In order: each answer's ids rise, and each request's come after the previous one's.
    let flat: Vec<i64> = results
        .iter()
        .flat_map(|r| r.as_ref().expect("stored").iter().map(|e| e.event_id))
        .collect();
    assert!(flat.windows(2).all(|w| w[0] < w[1]), "ids out of order");
}

#[test]
fn a_transaction_takes_writes_up_to_its_events_and_deliveries_never_splitting_one() {
    let to = |n: i64| -> Vec<Target> {
        (0..n)
            .map(|i| Target {
                instance_id: i,
                group_id: None,
            })
            .collect()
    };
    // Events to 4,000 robots each: one per transaction, however many arrived together.
    let fan = writes(
        (0..3)
            .map(|i| vec![job(&i.to_string(), to(4000))])
            .collect(),
    );
    assert_eq!(chunk_len(&fan, 1024, 2048), 1);
    // Small writes go together up to the deliveries' bound...
    let small = writes(
        (0..10)
            .map(|i| vec![job(&i.to_string(), to(300))])
            .collect(),
    );
    assert_eq!(chunk_len(&small, 1024, 2048), 6);
    // ... or the events' bound, whichever comes first.
    assert_eq!(chunk_len(&small, 4, 2048), 4);
    assert_eq!(chunk_len(&small, 1024, 100_000), 10);
}

/// A cluster to checkpoint, created in `store`.
async fn cluster(store: &dyn Store, name: &str) -> i64 {
    let input = alert_store::ClusterInput {
        name: name.to_owned(),
        url: format!("http://{name}:8081"),
        enabled: true,
        poll_interval_ms: 5_000,
    };
    store.create_cluster(&input, 1).await.expect("cluster").id
}

fn poll(cluster_id: i64, events: Vec<EventJob>, n: u32) -> IntakeWrite {
    IntakeWrite {
        events,
        checkpoint: Some(Checkpoint {
            cluster_id,
            url: "http://jm:8081".to_owned(),
            state: json!({ "poll": n }),
            saved_at: 1_000,
        }),
    }
}

#[tokio::test]
async fn watcher_polls_share_a_transaction_with_requests_and_a_gone_cluster_fails_alone() {
    let store = alert_store::connect("sqlite::memory:")
        .await
        .expect("store");
    let (east, west) = (
        cluster(&*store, "east").await,
        cluster(&*store, "west").await,
    );
    let sink = sink(Arc::clone(&store));
    let batch = vec![
        poll(east, vec![job("e1", vec![])], 1),
        IntakeWrite::from(vec![job("r1", vec![])]),
        poll(west, vec![], 1),
        poll(4_242, vec![job("gone", vec![])], 1),
    ];
    let results = commit_writes(&sink, &batch).await;
    assert_eq!(duplicates(&results[0]), [false]);
    assert_eq!(duplicates(&results[1]), [false]);
    assert_eq!(duplicates(&results[2]), Vec::<bool>::new());
    assert!(
        matches!(
            &results[3],
            Err(StoreError::BadReference {
                field: "cluster_id",
                ..
            })
        ),
        "{:?}",
        results[3]
    );
    for id in [east, west] {
        let (url, state) = store.watcher_state(id).await.unwrap().expect("saved");
        assert_eq!(
            (url.as_str(), state),
            ("http://jm:8081", json!({ "poll": 1 }))
        );
    }
    // The gone cluster's event was rolled back with its state: storing it again is new.
    let again = commit_writes(&sink, &writes(vec![vec![job("gone", vec![])]])).await;
    assert_eq!(duplicates(&again[0]), [false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_polls_through_the_ingest_each_save_their_state() {
    let store = alert_store::connect("sqlite::memory:")
        .await
        .expect("store");
    let mut clusters = Vec::new();
    for i in 0..50 {
        clusters.push(cluster(&*store, &format!("c{i}")).await);
    }
    let ingest = Arc::new(event_ingest(sink(Arc::clone(&store))));
    let mut polls = tokio::task::JoinSet::new();
    for (i, id) in clusters.iter().copied().enumerate() {
        let ingest = Arc::clone(&ingest);
        polls.spawn(async move {
            let write = poll(id, vec![job(&format!("j{i}"), vec![])], 2);
            ingest.submit(write).await
        });
    }
    while let Some(done) = polls.join_next().await {
        let stored = done.expect("joined").expect("answered").expect("stored");
        assert_eq!(stored.len(), 1);
    }
    for id in clusters {
        let (_, state) = store.watcher_state(id).await.unwrap().expect("saved");
        assert_eq!(state, json!({ "poll": 2 }));
    }
}
