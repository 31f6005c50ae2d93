//! DingTalk hot path: signing, rendering a default markdown alert, building the request body.
#![allow(missing_docs)]

use alert_core::{template::sample_event, Renderer};
use alert_dingtalk::{request::build_body, request::MAX_BODY_BYTES, sign, DingTalkConfig};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn benches(c: &mut Criterion) {
    let secret = format!("SEC{}", "0123456789abcdef".repeat(4));
    let webhook =
        url::Url::parse("https://oapi.dingtalk.com/robot/send?access_token=abcdef").unwrap();
    let renderer = Renderer::default();
    let event = sample_event();
    let mut config = DingTalkConfig::new(webhook.as_str());
    config.keyword = Some("Flink".into());
    config.at_mobiles = vec!["13800000000".into()];
    let alert = renderer.render(&event).unwrap();

    c.bench_function("dingtalk_sign", |b| {
        b.iter(|| sign::sign(black_box(&secret), black_box(1_700_000_000_000)))
    });
    c.bench_function("dingtalk_signed_url", |b| {
        b.iter(|| sign::signed_url(black_box(&webhook), &secret, 1_700_000_000_000))
    });
    c.bench_function("dingtalk_build_body", |b| {
        b.iter(|| build_body(black_box(&alert), &config, MAX_BODY_BYTES))
    });
    c.bench_function("dingtalk_sign_render_body", |b| {
        b.iter(|| {
            let url = sign::signed_url(&webhook, &secret, 1_700_000_000_000);
            let alert = renderer.render(black_box(&event)).unwrap();
            let body = serde_json::to_vec(&build_body(&alert, &config, MAX_BODY_BYTES)).unwrap();
            (url, body)
        })
    });
}

criterion_group!(dingtalk, benches);
criterion_main!(dingtalk);
