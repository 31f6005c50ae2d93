//! Webhook hot path: the default document, a body template, the signature.
#![allow(missing_docs)]

use alert_core::{template::sample_event, Renderer};
use alert_webhook::request::{BodyTemplate, Document};
use alert_webhook::sign;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn benches(c: &mut Criterion) {
    let alert = Renderer::default().render(&sample_event()).unwrap();
    let template = BodyTemplate::parse(
        r#"{"msg_type": "text", "content": {"text": {{ alert.title ~ "\n" ~ alert.text }}}, "job": {{ event.job_name }}}"#,
    )
    .unwrap();
    let body = Document::new(&alert).to_body();

    c.bench_function("webhook_document", |b| {
        b.iter(|| Document::new(black_box(&alert)).to_body())
    });
    c.bench_function("webhook_template", |b| {
        b.iter(|| template.render(black_box(&alert)).unwrap())
    });
    c.bench_function("webhook_signature", |b| {
        b.iter(|| sign::signature(black_box("s3cret"), 1_700_000_000, black_box(&body)))
    });
}

criterion_group!(webhook, benches);
criterion_main!(webhook);
