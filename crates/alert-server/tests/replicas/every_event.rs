//! 1. Every (event, instance) exactly once, with two and with three replicas.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use super::replica::{count_states, ReplicaSet};
use super::robot::Robot;

// 1. Every (event, instance) exactly once

async fn every_event_once(replicas: usize) {
    const EVENTS: usize = 1000;
    let started = Instant::now();
    let set = ReplicaSet::start(&format!("once{replicas}"), replicas, &[]).await;
    let robots = [
        Robot::start(Duration::ZERO).await,
        Robot::start(Duration::ZERO).await,
    ];
    let a = set.dingtalk("robot-a", &robots[0], 0).await;
    let b = set.dingtalk("robot-b", &robots[1], 0).await;
    set.group_for_test_jobs(&[a, b]).await;
    set.let_config_spread().await;

    let posting = Instant::now();
    set.post_events(EVENTS, 8, 2).await;
    let posted = posting.elapsed();
    let tallies = [
        robots[0].wait_jobs(EVENTS, Duration::from_secs(60)).await,
        robots[1].wait_jobs(EVENTS, Duration::from_secs(60)).await,
    ];
    let delivered = posting.elapsed();
    // A late duplicate would arrive within a lease: look again after a while.
    let rows = set
        .wait_settled(replicas - 1, 2 * EVENTS, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tallies_after = [robots[0].tally(), robots[1].tally()];
    println!(
        "{replicas} replicas: {EVENTS} events posted in {posted:?}, {} deliveries at the robots after {delivered:?} (requests {} + {}), duplicates {} + {}; total {:?}",
        tallies_after[0].per_job.len() + tallies_after[1].per_job.len(),
        tallies_after[0].requests,
        tallies_after[1].requests,
        tallies_after[0].duplicates(),
        tallies_after[1].duplicates(),
        started.elapsed()
    );
    for (robot, (tally, after)) in robots.iter().zip(tallies.iter().zip(&tallies_after)) {
        robot.assert_no_rejections();
        assert_eq!(after.per_job.len(), EVENTS, "every job reached the robot");
        assert_eq!(after.duplicates(), 0, "a job reached the robot twice");
        assert_eq!(after.requests, EVENTS, "one request per event");
        assert_eq!(tally.requests, after.requests);
    }
    // The history agrees: one row per (event, instance), all sent.
    assert_eq!(rows.len(), 2 * EVENTS);
    assert_eq!(
        count_states(&rows),
        BTreeMap::from([("sent".to_owned(), 2 * EVENTS)])
    );
    let pairs: HashSet<(String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["job_id"].as_str().unwrap().to_owned(),
                r["instance_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs.len(),
        2 * EVENTS,
        "one delivery per (event, instance)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_deliver_every_event_once() {
    every_event_once(2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_deliver_every_event_once() {
    every_event_once(3).await;
}
