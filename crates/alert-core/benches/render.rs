//! Rendering a default alert from a job event.
#![allow(missing_docs)]

use alert_core::{template::sample_event, Renderer};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn render(c: &mut Criterion) {
    let renderer = Renderer::default();
    let event = sample_event();
    c.bench_function("render_default_alert", |b| {
        b.iter(|| renderer.render(black_box(&event)).unwrap())
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
