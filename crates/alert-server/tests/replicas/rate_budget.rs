//! 4. One rate budget across replicas.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::replica::{count_states, ReplicaSet};
use super::robot::{job_names, Arrival, Robot};

// 4. One rate budget across replicas

#[tokio::test(flavor = "multi_thread")]
async fn rate_budget_holds_across_replicas() {
    const EVENTS: usize = 100;
    const RATE: usize = 20;
    const WINDOW: Duration = Duration::from_secs(60);
    let started = Instant::now();
    let set = ReplicaSet::start("rate", 3, &[]).await;
    let robot = Robot::start(Duration::ZERO).await;
    let instance = set.dingtalk("paced-robot", &robot, RATE as u32).await;
    set.group_for_test_jobs(&[instance]).await;
    set.let_config_spread().await;

    let first_post = Instant::now();
    set.post_events(EVENTS, 8, 1).await;
    // Every event ends sent or folded into a digest that was sent.
    let deadline = Instant::now() + Duration::from_secs(75);
    let rows = loop {
        let rows = set.all_history(0).await;
        let pending = rows.iter().filter(|r| r["state"] == "pending").count();
        if pending == 0 && rows.len() >= EVENTS && robot.tally().per_job.len() >= EVENTS {
            break rows;
        }
        let arrivals = robot.arrivals();
        assert!(
            Instant::now() < deadline,
            "after {:?}: {:?}, the robot got {} requests naming {} jobs (max {} in a 60 s window)",
            first_post.elapsed(),
            count_states(&rows),
            arrivals.len(),
            robot.tally().per_job.len(),
            max_in_window(&arrivals, WINDOW)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Nothing more comes for a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    robot.assert_no_rejections();
    let arrivals = robot.arrivals();
    let max = max_in_window(&arrivals, WINDOW);
    let tally = robot.tally();
    let digests: Vec<&Value> = rows.iter().filter(|r| r["event_id"].is_null()).collect();
    let suppressed = rows.iter().filter(|r| r["state"] == "suppressed").count();
    println!(
        "rate budget: {EVENTS} events over 3 replicas, rate {RATE}/min: {} requests ({} digests, {suppressed} deliveries folded), at most {max} in any 60 s window, all delivered {:?} after the first post; {} jobs named, {} named twice; total {:?}",
        arrivals.len(),
        digests.len(),
        first_post.elapsed(),
        tally.per_job.len(),
        tally.duplicates(),
        started.elapsed()
    );
    assert!(
        max <= RATE,
        "{max} requests reached the robot within 60 s (budget {RATE})"
    );
    assert_eq!(
        tally.per_job.len(),
        EVENTS,
        "every job named by the robot's bodies"
    );
    let by_id: HashMap<i64, &Value> = rows
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r))
        .collect();
    let events: Vec<&Value> = rows.iter().filter(|r| !r["event_id"].is_null()).collect();
    assert_eq!(events.len(), EVENTS, "one delivery per event");
    for row in &events {
        match row["state"].as_str() {
            Some("sent") => {}
            Some("suppressed") => {
                // Folded into a digest that was sent (perhaps through a later digest).
                let mut digest = row["digest_id"].as_i64();
                let mut hops = 0;
                loop {
                    let Some(id) = digest else {
                        panic!("suppressed without a digest: {row}");
                    };
                    let d = by_id
                        .get(&id)
                        .unwrap_or_else(|| panic!("digest {id} not in history: {row}"));
                    if d["state"] == "sent" {
                        break;
                    }
                    assert_eq!(d["state"], "suppressed", "digest {d} of {row}");
                    digest = d["digest_id"].as_i64();
                    hops += 1;
                    assert!(hops < 10, "digest chain too long: {row}");
                }
            }
            _ => panic!("neither sent nor digested: {row}"),
        }
    }
}

/// The most arrivals within any `window` (sliding, starting at an arrival).
fn max_in_window(arrivals: &[Arrival], window: Duration) -> usize {
    let mut times: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    times.sort();
    let mut max = 0;
    let mut end = 0;
    for (start, t) in times.iter().enumerate() {
        while end < times.len() && times[end] < *t + window {
            end += 1;
        }
        max = max.max(end - start);
    }
    max
}

#[test]
fn job_names_are_found_in_bodies() {
    let names = job_names(r#"{"t":"rjob_00012 rjob_00012 rjob_7 x rjob_99999"}"#);
    assert_eq!(
        names,
        HashSet::from(["rjob_00012".to_owned(), "rjob_99999".to_owned()])
    );
    let now = Instant::now();
    let at = |ms: u64| Arrival {
        at: now + Duration::from_millis(ms),
        body: Value::Null,
    };
    let arrivals = [at(0), at(100), at(59_999), at(60_000), at(61_000)];
    assert_eq!(max_in_window(&arrivals, Duration::from_secs(60)), 3);
}
