//! Several alert-server replicas on one PostgreSQL database (issue #7), as real processes.
//!
//! Every test creates a database of its own (`support/pg.rs`; PostgreSQL must be reachable: an
//! unreachable server fails the test, it is never skipped), starts N `alert-server serve`
//! processes on it (the binary cargo built for this test, each on its own loopback port, short
//! leases through `FLINK_ALERT_*`), configures instances, groups, bindings and clusters through
//! one replica's REST API (the others see it within the routing cache's 1 s), and sends to mock
//! DingTalk robots on 127.0.0.1 that check the token and the signature of every request and
//! record when it arrived and what it said. Every process is killed when its test ends, panics
//! included; every wait is bounded.
//!
//! What is proven:
//! - `two_replicas_deliver_every_event_once`, `three_replicas_deliver_every_event_once`:
//!   1,000 events posted round-robin to all replicas (8 in flight), bound to 2 unlimited
//!   instances: every (event, instance) reaches its robot, none twice, and the history API
//!   shows every delivery `sent`.
//! - `kill_9_mid_send_redelivers_after_the_lease`: 500 events posted quickly (32 at a time)
//!   to two replicas sending to a slow robot (1 s per answer, up to 256 sends in flight per
//!   replica); one replica is SIGKILLed as soon as the last event is committed, while its
//!   sends are in flight. The survivor delivers everything, taking each of the dead replica's
//!   rows only after its lease (3 s) ended; the duplicates (sends that reached the robot but
//!   whose answer the dead replica never recorded) are printed and bounded by the rows it had
//!   claimed.
//! - `watcher_fails_over_and_alerts_a_cancel_once`: a mock Flink JobManager watched by one of
//!   two replicas (watch lease 1.5 s). Nothing is alerted for the running job; the watching
//!   replica is SIGKILLed, the job is canceled while no one watches, the other replica takes
//!   the cluster over within two lease periods (plus slack) and the cancel is alerted exactly
//!   once.
//! - `rate_budget_holds_across_replicas`: 3 replicas, 100 events for one DingTalk robot with
//!   `rate_per_minute: 20`: every event ends sent, or suppressed into a digest that was sent
//!   (so nothing more will ever be sent for them, and what the robot received is complete);
//!   the bodies together name all 100 jobs, and no 60 s window holds more than 20 requests.
//!
//! The replicas run a private hard link (or copy) of the binary cargo built for this run, so
//! that another build in the same target directory cannot swap it mid-test.

mod every_event;
mod kill;
mod rate_budget;
mod replica;
mod robot;
mod watcher;

#[path = "../support/pg.rs"]
mod pg;

/// Signing secret of the mock robots.
const SECRET: &str = "SECreplicas-0123456789abcdef";
/// The delivery lease of every replica (`delivery.lease_secs`).
const LEASE_SECS: u64 = 3;
/// The watcher lease of every replica (`watch.lease_ms`).
const WATCH_LEASE_MS: u64 = 1500;
/// The prefix of every job name the tests post (the robots' bodies are searched for it).
const JOB_PREFIX: &str = "rjob_";
