//! Dinky 1.x on MariaDB and PostgreSQL: tenants, and every alert type we map.

use super::*;

/// The 1.x outcome, the same from MySQL and PostgreSQL (instance 9's reason aside).
async fn check_1x(engine: Engine, file: &str) -> Value {
    let db = SourceDb::load(engine, file).await;
    let ours = Ours::new();
    let out = import(&db.url, &ours, &["--apply", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    let mut skipped = ids("instance", &[7, 8, 9]);
    skipped.extend(ids("binding", &[4, 6]));
    assert_eq!(actions(&report, "skip"), skipped);
    let store = ours.store().await;
    let (instances, groups, bindings) = contents(&ours).await;
    assert_eq!(
        instances,
        vec![
            ("dt-basic".into(), "dingtalk".into(), true),
            ("dt-full".into(), "dingtalk".into(), true),
            ("dt-upgraded".into(), "dingtalk".into(), true),
            ("analytics/dt-basic".into(), "dingtalk".into(), false),
            ("wx-app".into(), "wechat".into(), true),
            ("wx-robot".into(), "wechat".into(), true),
            ("mail-dba".into(), "email".into(), true),
        ]
    );
    assert_eq!(
        groups,
        vec![
            (
                "ops-core".into(),
                true,
                s(&["dt-basic", "dt-full", "wx-app", "wx-robot"])
            ),
            ("night-shift".into(), true, s(&["dt-upgraded", "mail-dba"])),
            (
                "analytics/ops-core".into(),
                false,
                s(&["analytics/dt-basic"])
            ),
        ]
    );
    let rules = vec![JobStatus::Failed, JobStatus::Unknown];
    assert_eq!(
        bindings,
        vec![
            ("orders_etl".into(), "ops-core".into(), rules.clone()),
            ("payments_cdc".into(), "night-shift".into(), rules.clone()),
            ("bi_refresh".into(), "analytics/ops-core".into(), rules),
        ]
    );
    let list = store.list_instances().await.unwrap();
    assert_eq!(
        list[2].input.params["at_mobiles"],
        json!(["13800000003", "13800000004"])
    );
    assert_eq!(list[2].input.params["show_type"], "text");
    assert_eq!(list[4].input.params["users"], json!(["zhangsan", "lisi"]));
    assert!(list[4].input.params.get("base_url").is_some());
    // Email: a relay without auth, so no TLS and no login.
    assert_eq!(
        list[6].input.params,
        json!({"host":"smtp.example.internal","port":25,"tls":"none",
            "from":"dinky@example.internal","to":["dba@example.internal"],"timeout_ms":10000})
    );
    let mail = &report["rows"][9];
    assert_eq!(
        (&mail["action"], &mail["channel"], &mail["params"]["host"]),
        (
            &json!("create"),
            &json!("email"),
            &json!("smtp.example.internal")
        )
    );

    // Second run: nothing created; a webhook changed in Dinky: one update.
    let again = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(again["summary"]["create"], 0);
    assert_eq!(again["summary"]["unchanged"], 13);
    db.exec(
        "UPDATE dinky_alert_instance SET params = REPLACE(params, 'fake-fake-fake-000000000006', \
         'fake-fake-fake-000000000066') WHERE id = 6",
    )
    .await;
    let changed = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(actions(&changed, "update"), ids("instance", &[6]));
    assert_eq!(changed["summary"]["create"], 0);

    // One tenant only: unprefixed names.
    let other = Ours::new();
    let tenant = json_of(&import(&db.url, &other, &["--tenant", "analytics", "--json"]).await);
    assert_eq!(
        rows(&tenant)
            .iter()
            .map(|r| (r.0.as_str(), r.1, r.2.as_str(), r.3.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("instance", 4, "dt-basic", "create"),
            ("group", 3, "ops-core", "create"),
            ("binding", 5, "bi_refresh → ops-core", "create"),
            ("binding", 6, "-", "skip"),
        ]
    );
    report
}

#[tokio::test]
async fn mysql_1x_apply_rerun_and_tenant() {
    let report = check_1x(Engine::Mysql, "dinky-1.x-mysql.sql").await;
    let r = rows(&report);
    assert_eq!(r[8].4, "params is a JSON array, not an object");
    assert!(r[7].4.contains("agent_id"), "{}", r[7].4);
    assert_eq!(
        r[11].4,
        "members dropped: 7 (skipped), 8 (skipped), 9 (skipped), 42 (deleted in Dinky)"
    );
}

#[tokio::test]
async fn postgres_1x_apply_rerun_and_tenant() {
    let report = check_1x(Engine::Postgres, "dinky-1.x-postgres.sql").await;
    assert!(rows(&report)[8].4.contains("not valid JSON"));
}

#[tokio::test]
async fn json_file_gives_the_same_result() {
    let db = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    // The same rows as a file; params as an object where it parses, as text where not.
    let data = SourceSpec::parse(&db.url).unwrap().read().await.unwrap();
    let instances: Vec<Value> = data
        .instances
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let parsed = r["params"]
                .as_str()
                .and_then(|t| serde_json::from_str::<Value>(t).ok());
            if let Some(p) = parsed {
                r.insert("params".into(), p);
            }
            Value::Object(r)
        })
        .collect();
    let ours = Ours::new();
    let file = ours.dir.join("dinky.json");
    std::fs::write(
        &file,
        json!({"alert_instance": instances, "alert_group": data.groups, "task": data.tasks, "tenant": []})
            .to_string(),
    )
    .unwrap();
    let from_db = json_of(&import(&db.url, &ours, &["--json"]).await);
    let from_file = json_of(&import(file.to_str().unwrap(), &ours, &["--json"]).await);
    assert_eq!(rows(&from_db), rows(&from_file));
    assert_eq!(from_db["summary"], from_file["summary"]);
    assert_eq!(from_file["version"], "0.6");
    assert!(from_file["source"].as_str().unwrap().starts_with("file:"));
}

/// The extra 1.x rows, imported from `engine`: what maps, what is skipped and why, the
/// parameters stored in clear and shown masked, the group's members, an idempotent re-run.
async fn check_extra_types(engine: Engine, file: &str) {
    let db = SourceDb::load(engine, file).await;
    for sql in EXTRA_1X_ROWS {
        db.exec(sql).await;
    }
    let ours = Ours::new();
    // The table of a dry run (checked by `import` for secrets) names each skip's reason.
    let table = stdout(&import(&db.url, &ours, &[]).await);
    assert!(
        table.contains("type `Sms` is not imported: flink-alert has no SMS channel"),
        "{table}"
    );
    let out = import(&db.url, &ours, &["--apply", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    let row = |kind: &str, id: i64| -> Value {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind && r["dinky_id"] == id)
            .unwrap_or_else(|| panic!("no {kind} {id}"))
            .clone()
    };
    for (id, channel) in [(11, "feishu"), (12, "webhook"), (13, "email")] {
        let r = row("instance", id);
        assert_eq!(
            (&r["action"], &r["channel"]),
            (&json!("create"), &json!(channel)),
            "{r}"
        );
    }
    // Secrets masked in the report; the rest shown.
    assert_eq!(
        row("instance", 11)["params"],
        json!({"webhook":"******","secret":"******","keyword":"Dinky","proxy":"******",
            "at_all":false,"at_users":["ou_fake1"],"show_type":"card","timeout_ms":10000})
    );
    let http = row("instance", 12);
    assert_eq!(http["params"]["url"], "******");
    assert_eq!(http["params"]["secret_headers"], "******");
    assert_eq!(http["params"]["headers"], "X-Team: data");
    assert_eq!(http["params"]["method"], "POST");
    assert!(
        http["reason"]
            .as_str()
            .unwrap()
            .starts_with("secret headers: Authorization;"),
        "{http}"
    );
    let mail = row("instance", 13);
    assert_eq!(mail["params"]["password"], "******");
    assert_eq!(mail["params"]["tls"], "tls");
    assert_eq!(
        mail["params"]["from"],
        "\"Dinky\" <alerts@example.internal>"
    );
    // Skips, each with the reason naming what cannot be mapped.
    let reason = |id: i64| {
        let r = row("instance", id);
        assert_eq!(r["action"], "skip", "{r}");
        r["reason"].as_str().unwrap().to_owned()
    };
    assert!(reason(14).contains("tls: none would send the password in clear"));
    assert!(reason(15).contains("`Sms`"));
    assert!(reason(16).starts_with("method `GET`"));
    assert_eq!(reason(17), "proxy port `31x8` is not a port number");
    assert_eq!(
        row("group", 4)["reason"],
        "members dropped: 14 (skipped), 15 (skipped), 16 (skipped), 17 (skipped)"
    );

    // The store has the secrets in clear (the API, checked by `contents`, never shows them).
    let store = ours.store().await;
    let list = store.list_instances().await.unwrap();
    let stored = |name: &str| {
        list.iter()
            .find(|i| i.input.name == name)
            .unwrap_or_else(|| panic!("{name} not imported"))
            .input
            .clone()
    };
    let fs = stored("fs-1x");
    assert_eq!(fs.kind, "feishu");
    assert_eq!(fs.params["secret"], "fs1x-secret-fake");
    assert_eq!(
        fs.params["proxy"],
        "http://alertbot:fake-fs-proxy-pw@proxy.example.internal:3128"
    );
    assert_eq!(
        stored("http-ops").params["secret_headers"],
        "Authorization: Bearer fake-bearer-12"
    );
    let mail = stored("mail-auth");
    assert_eq!(
        (
            &mail.params["user"],
            &mail.params["password"],
            &mail.params["port"]
        ),
        (
            &json!("alerts@example.internal"),
            &json!("fake-smtp-pw-13"),
            &json!(465)
        )
    );
    assert_eq!(mail.params["cc"], json!(["ops@example.internal"]));
    let (_, groups, _) = contents(&ours).await;
    assert!(
        groups.contains(&(
            "extra-types".into(),
            true,
            s(&["fs-1x", "http-ops", "mail-auth"])
        )),
        "{groups:?}"
    );

    // Again: nothing created or updated.
    let again = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(again["summary"]["create"], 0);
    assert_eq!(again["summary"]["update"], 0);
    assert_eq!(again["summary"]["unchanged"], report["summary"]["create"]);
}

#[tokio::test]
async fn mysql_1x_feishu_http_email_sms() {
    check_extra_types(Engine::Mysql, "dinky-1.x-mysql.sql").await;
}

#[tokio::test]
async fn postgres_1x_feishu_http_email_sms() {
    check_extra_types(Engine::Postgres, "dinky-1.x-postgres.sql").await;
}
