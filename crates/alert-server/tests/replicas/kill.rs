//! 2. kill -9 mid-send: the survivor redelivers after the lease.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::replica::{count_states, ReplicaSet};
use super::robot::Robot;
use super::LEASE_SECS;

// 2. kill -9 mid-send

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_send_redelivers_after_the_lease() {
    const EVENTS: usize = 500;
    // Shorter than the lease and the send timeout: a held answer is a slow channel, not a dead
    // one; long enough that the sends of the last second of posting are all in flight.
    const ANSWER_DELAY: Duration = Duration::from_millis(1000);
    let started = Instant::now();
    let mut set = ReplicaSet::start(
        "kill9",
        2,
        &[("FLINK_ALERT_DELIVERY__MAX_IN_FLIGHT_PER_INSTANCE", "256")],
    )
    .await;
    let robot = Robot::start(ANSWER_DELAY).await;
    let instance = set.dingtalk("slow-robot", &robot, 0).await;
    set.group_for_test_jobs(&[instance]).await;
    set.let_config_spread().await;

    // Post fast (32 at a time) and kill one replica as soon as all are committed: the sends
    // of the last second are at the robot, unanswered.
    let posting = Instant::now();
    set.post_events(EVENTS, 32, 1).await;
    let posted = posting.elapsed();
    let victim = 0;
    let at_kill = robot.count();
    set.replicas[victim].kill9();
    let killed = Instant::now();
    // What the dead replica held: pending rows still claimed by it (its claims carry its
    // replica id or its pid).
    let mut sql = set.sql().await;
    let held: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, lease_until FROM deliveries WHERE state = 'pending' \
         AND (claimed_by LIKE $1 || '%' OR claimed_by LIKE $2 || '-%')",
    )
    .bind(&set.replicas[victim].id)
    .bind(set.replicas[victim].pid.to_string())
    .fetch_all(&mut sql)
    .await
    .expect("claims read");
    let claimed = held.len();
    let (pending,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM deliveries WHERE state = 'pending'")
            .fetch_one(&mut sql)
            .await
            .expect("pending read");
    assert!(
        claimed > 0,
        "the killed replica held no rows: nothing was in flight ({at_kill} requests had arrived, {pending} pending)"
    );

    // After the lease, the survivor sends what the dead replica held.
    let survivor = 1 - victim;
    let rows = set
        .wait_settled(survivor, EVENTS, Duration::from_secs(30))
        .await;
    let settled = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tally = robot.tally();
    robot.assert_no_rejections();
    println!(
        "kill -9: {EVENTS} events posted in {posted:?}; at the kill {at_kill} requests had reached the robot, {pending} deliveries were pending, {claimed} of them claimed by the killed replica; all sent {settled:?} after the kill (lease {LEASE_SECS} s); {} requests for {} jobs: {} duplicates (bound: {claimed}); total {:?}",
        tally.requests,
        tally.per_job.len(),
        tally.duplicates(),
        started.elapsed()
    );
    assert_eq!(tally.per_job.len(), EVENTS, "every event reached the robot");
    assert!(
        tally.duplicates() <= claimed,
        "{} duplicates, more than the {claimed} rows the killed replica had claimed",
        tally.duplicates()
    );
    assert_eq!(rows.len(), EVENTS);
    assert_eq!(
        count_states(&rows),
        BTreeMap::from([("sent".to_owned(), EVENTS)])
    );
    // The dead replica's rows waited for their lease: the survivor's attempt of each started
    // after the lease the dead replica held it under.
    let ids: Vec<i64> = held.iter().map(|(id, _)| *id).collect();
    let retaken: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT delivery_id, min(started_at) FROM attempts WHERE delivery_id = ANY($1) \
         GROUP BY delivery_id",
    )
    .bind(&ids)
    .fetch_all(&mut sql)
    .await
    .expect("attempts read");
    let lease_of: HashMap<i64, i64> = held.into_iter().collect();
    assert_eq!(retaken.len(), claimed, "every held row was attempted again");
    for (id, started) in retaken {
        assert!(
            started >= lease_of[&id],
            "delivery {id} was taken over at {started}, before its lease ended at {}",
            lease_of[&id]
        );
    }
}
