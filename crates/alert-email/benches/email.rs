//! Email hot path: markdown → safe HTML, and the whole MIME message of a default alert.
#![allow(missing_docs)]

use alert_core::{template::sample_event, Renderer};
use alert_email::{html, request::build_message, EmailConfig};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn benches(c: &mut Criterion) {
    let alert = Renderer::default().render(&sample_event()).unwrap();
    let mut config = EmailConfig::new("smtp.example.com", "alerts@example.com");
    config.to = vec!["ops@example.com".into()];
    let envelope = config.validate().unwrap();

    c.bench_function("email_markdown_to_html", |b| {
        b.iter(|| html::markdown_to_html(black_box(&alert.markdown)))
    });
    c.bench_function("email_build_message", |b| {
        b.iter(|| {
            build_message(black_box(&alert), &envelope)
                .unwrap()
                .formatted()
        })
    });
}

criterion_group!(email, benches);
criterion_main!(email);
