//! Cost of one poll of a 200-job cluster without the network: parse the overview, ask for
//! facts, detect, snapshot and compare the state. Run with
//! `cargo test -p alert-flink --release --test throughput -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use alert_core::JobStatus;
use alert_flink::model::{JobOverview, JobsOverview};
use alert_flink::{Detector, DetectorConfig, PollResult};

#[test]
#[ignore = "timing; run by hand in release"]
fn one_poll_of_200_jobs() {
    let template: JobsOverview = common::parse("2.3", "jobs_overview_running.json");
    let live = template
        .jobs
        .iter()
        .find(|j| j.state == JobStatus::Running)
        .unwrap();
    let jobs: Vec<JobOverview> = (0..200)
        .map(|i| {
            let mut j = live.clone();
            j.jid = format!("{i:032x}");
            j.name = format!("job-{i}");
            j
        })
        .collect();
    let body = serde_json::to_string(&JobsOverview { jobs }).unwrap();
    println!("overview body: {} bytes", body.len());

    let mut d = Detector::new(DetectorConfig::default());
    let mut last = d.snapshot();
    let n = 2000;
    let start = Instant::now();
    for i in 0..n {
        let jobs = serde_json::from_str::<JobsOverview>(&body).unwrap().jobs;
        assert!(d.wanted_facts(&jobs).is_empty() || i == 0);
        let mut next = d.clone();
        assert!(next
            .observe(common::at(i * 5000), PollResult::jobs(jobs))
            .is_empty());
        let state = next.snapshot();
        if state != last {
            last = state;
        }
        d = next;
    }
    let per_poll = start.elapsed() / u32::try_from(n).unwrap();
    println!("{per_poll:?} per poll of 200 jobs");
    // 100 clusters every 5 s = 20 polls/s.
    println!(
        "100 clusters x 200 jobs at 5 s: {:.3}% of one core (without HTTP)",
        per_poll.as_secs_f64() * 20.0 * 100.0
    );
}
