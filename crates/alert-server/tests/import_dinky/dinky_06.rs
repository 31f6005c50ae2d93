//! Dinky 0.6 on MariaDB: apply, re-run, update.

use super::*;

#[tokio::test]
async fn mysql_06_apply_rerun_and_update() {
    let db = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    let ours = Ours::new();
    let out = import(&db.url, &ours, &["--apply", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["applied"], true);
    let mut skipped = ids("instance", &[4, 6]);
    skipped.extend(ids("binding", &[4, 6]));
    assert_eq!(actions(&report, "skip"), skipped);
    let reasons: Vec<String> = rows(&report).into_iter().map(|r| r.4).collect();
    assert!(reasons[3].contains("not valid JSON"), "{}", reasons[3]);
    assert!(reasons[5].contains("chat_id"), "{}", reasons[5]);
    // The FeiShu instance imports: its webhook (the bot's credential) masked in the report.
    let feishu = &report["rows"][7];
    assert_eq!(
        (&feishu["dinky_name"], &feishu["action"], &feishu["channel"]),
        (&json!("fs-data-team"), &json!("create"), &json!("feishu"))
    );
    assert_eq!(
        feishu["params"],
        json!({"webhook":"******","show_type":"text","at_all":false,"timeout_ms":10000})
    );
    assert_eq!(
        reasons[9],
        "members dropped: 4 (skipped), 6 (skipped), 99 (deleted in Dinky)"
    );

    let store = ours.store().await;
    let (instances, groups, bindings) = contents(&ours).await;
    assert_eq!(
        instances,
        vec![
            ("dt-ops-basic".into(), "dingtalk".into(), true),
            ("dt-ops-full".into(), "dingtalk".into(), true),
            ("dt-legacy-off".into(), "dingtalk".into(), false),
            ("wx-app-ops".into(), "wechat".into(), true),
            ("wx-robot-night".into(), "wechat".into(), true),
            ("fs-data-team".into(), "feishu".into(), true),
        ]
    );
    assert_eq!(
        groups,
        vec![
            (
                "ops-core".into(),
                true,
                s(&["dt-ops-basic", "dt-ops-full", "wx-app-ops"])
            ),
            (
                "night-shift".into(),
                true,
                s(&["dt-legacy-off", "wx-robot-night", "fs-data-team"])
            ),
            ("retired".into(), false, s(&["dt-ops-basic"])),
        ]
    );
    assert_eq!(
        bindings,
        vec![
            ("Orders ETL".into(), "ops-core".into(), DINKY_06.to_vec()),
            (
                "payments_cdc".into(),
                "night-shift".into(),
                DINKY_06.to_vec()
            ),
            ("old_dashboard".into(), "retired".into(), DINKY_06.to_vec()),
        ]
    );
    let full = &store.list_instances().await.unwrap()[1].input;
    assert_eq!(
        full.params["proxy"],
        "http://alertbot:fake-proxy-password@proxy.example.internal:3128"
    );
    assert_eq!(full.rate_per_minute, Some(20));
    let app = &store.list_instances().await.unwrap()[3].input;
    assert_eq!(app.params["agent_id"], 1_000_002);
    assert_eq!(app.params["users"], json!(["zhangsan", "lisi"]));
    let robot = &store.list_instances().await.unwrap()[4].input;
    assert_eq!(robot.params["send_type"], "robot");
    assert_eq!(robot.params["at_all"], true);
    assert_eq!(robot.params["show_type"], "text");
    // FeiShu: the webhook in clear in the store; the empty keyword and secret are absent.
    let feishu = &store.list_instances().await.unwrap()[5].input;
    assert_eq!(
        feishu.params,
        json!({"webhook":"https://open.feishu.cn/open-apis/bot/v2/hook/00000000-fake-0000-0000-000000000008",
            "show_type":"text","at_all":false,"timeout_ms":10000})
    );
    assert_eq!(feishu.rate_per_minute, Some(100));

    // Again: nothing new.
    let again = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(again["summary"]["create"], 0);
    assert_eq!(again["summary"]["update"], 0);
    assert_eq!(again["summary"]["unchanged"], 12);

    // One webhook changes in Dinky: one update, the rest unchanged.
    db.exec(
        "UPDATE dlink_alert_instance SET params = REPLACE(params, \
         'FAKE0000000000000000000000000000000000000000000000000000000000000001', \
         'FAKE0000000000000000000000000000000000000000000000000000000000000099') WHERE id = 1",
    )
    .await;
    let changed = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(actions(&changed, "update"), ids("instance", &[1]));
    assert_eq!(changed["summary"]["create"], 0);
    assert_eq!(changed["summary"]["unchanged"], 11);
    let first = &store.list_instances().await.unwrap()[0].input;
    assert!(first.params["webhook"].as_str().unwrap().ends_with("099"));
    assert_eq!(store.list_instances().await.unwrap().len(), 6);
}
