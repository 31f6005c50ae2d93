//! Feishu hot path: signing, rendering a default alert, building the card body.
#![allow(missing_docs)]

use alert_core::{template::sample_event, Renderer};
use alert_feishu::request::{build_body, Signature, MAX_BODY_BYTES};
use alert_feishu::{sign, FeishuConfig};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn benches(c: &mut Criterion) {
    let renderer = Renderer::default();
    let event = sample_event();
    let mut config = FeishuConfig::new("https://open.feishu.cn/open-apis/bot/v2/hook/abcdef");
    config.keyword = Some("Flink".into());
    config.at_users = vec!["ou_0123456789".into()];
    let alert = renderer.render(&event).unwrap();

    c.bench_function("feishu_sign", |b| {
        b.iter(|| sign::sign(black_box("SECtest"), black_box(1_700_000_000)))
    });
    c.bench_function("feishu_build_card", |b| {
        b.iter(|| build_body(black_box(&alert), &config, MAX_BODY_BYTES, None))
    });
    c.bench_function("feishu_sign_render_body", |b| {
        b.iter(|| {
            let signature = Signature::new("SECtest", 1_700_000_000);
            let alert = renderer.render(black_box(&event)).unwrap();
            serde_json::to_vec(&build_body(
                &alert,
                &config,
                MAX_BODY_BYTES,
                Some(&signature),
            ))
            .unwrap()
        })
    });
}

criterion_group!(feishu, benches);
criterion_main!(feishu);
