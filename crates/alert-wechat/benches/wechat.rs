//! WeCom hot path: rendering a default alert and building the request body of each send type.
#![allow(missing_docs)]

use alert_core::{template::sample_event, Renderer};
use alert_wechat::request::{alert_content, robot_message, Mentions};
use alert_wechat::{Destination, ShowType, WeComChannel, WeComConfig};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// A Dinky-style app template (protocols.md, "The send-message template of Dinky").
const TEMPLATE: &str = r#"{"touser":"{toUser}","agentid":{agentId},"msgtype":"{showType}","{showType}":{"content":"告警 {msg}"}}"#;

fn benches(c: &mut Criterion) {
    let renderer = Renderer::default();
    let event = sample_event();
    let alert = renderer.render(&event).unwrap();

    let app = WeComChannel::new(WeComConfig::app("ww0123456789", "app-secret", 1_000_002)).unwrap();
    let mut text = WeComConfig::app_chat("ww0123456789", "app-secret", "chat-ops");
    text.show_type = ShowType::Text;
    let app_chat_text = WeComChannel::new(text).unwrap();
    let mut templated = WeComConfig::app("ww0123456789", "app-secret", 1_000_002);
    if let Destination::App {
        template, users, ..
    } = &mut templated.destination
    {
        *template = Some(TEMPLATE.into());
        *users = vec!["alice".into(), "bob".into()];
    }
    let app_template = WeComChannel::new(templated).unwrap();
    let mut robot = WeComConfig::robot("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k");
    if let Destination::Robot { at_users, .. } = &mut robot.destination {
        *at_users = vec!["alice".into(), "bob".into()];
    }
    let robot = WeComChannel::new(robot).unwrap();
    let mentions = Mentions::new(vec!["alice".into(), "bob".into()], false);

    c.bench_function("wechat_robot_message", |b| {
        b.iter(|| {
            let content = alert_content(black_box(&alert), ShowType::Markdown);
            robot_message(ShowType::Markdown, &content, &mentions)
        })
    });
    c.bench_function("wechat_app_markdown_body", |b| {
        b.iter(|| app.body(black_box(&alert)).unwrap())
    });
    c.bench_function("wechat_appchat_text_body", |b| {
        b.iter(|| app_chat_text.body(black_box(&alert)).unwrap())
    });
    c.bench_function("wechat_app_template_body", |b| {
        b.iter(|| app_template.body(black_box(&alert)).unwrap())
    });
    c.bench_function("wechat_robot_body", |b| {
        b.iter(|| robot.body(black_box(&alert)).unwrap())
    });
    c.bench_function("wechat_render_body", |b| {
        b.iter(|| {
            let alert = renderer.render(black_box(&event)).unwrap();
            serde_json::to_vec(&robot.body(&alert).unwrap()).unwrap()
        })
    });
}

criterion_group!(wechat, benches);
criterion_main!(wechat);
