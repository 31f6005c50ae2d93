//! Exit codes, secrets never printed, nothing written on a failure.

use super::*;

#[tokio::test]
async fn exit_codes() {
    let ours = Ours::new();
    // 0: everything imports.
    let clean = ours.dir.join("clean.json");
    std::fs::write(
        &clean,
        json!({"alert_instance": [{"id": 1, "name": "dt", "type": "DingTalk", "enabled": 1,
            "params": {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=FAKE0000x"}}],
            "alert_group": [{"id": 1, "name": "g", "alert_instance_ids": "1", "enabled": 1}],
            "task": [{"id": 1, "name": "job", "alert_group_id": 1, "enabled": true}]})
        .to_string(),
    )
    .unwrap();
    let out = import(clean.to_str().unwrap(), &ours, &["--apply"]).await;
    cli::assert_code(&out, 0);
    assert!(
        stdout(&out).contains("applied: 3 create"),
        "{}",
        stdout(&out)
    );
    let out = import(clean.to_str().unwrap(), &ours, &[]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("3 unchanged"), "{}", stdout(&out));

    // 2: bad input.
    for from in ["/nonexistent/dinky.json", "ftp://host/dinky"] {
        let out = import(from, &ours, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{from}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("error: --from"),
            "{}",
            stderr(&out)
        );
    }
    let not_json = ours.dir.join("bad.json");
    std::fs::write(&not_json, "{").unwrap();
    assert_eq!(
        import(not_json.to_str().unwrap(), &ours, &[])
            .await
            .status
            .code(),
        Some(2)
    );
    // A source with no tenants, asked for one.
    let out = import(clean.to_str().unwrap(), &ours, &["--tenant", "x"]).await;
    // (a JSON file without `alias` reads as 1.x, whose tenants are listed: none match)
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let db = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    let out = import(&db.url, &ours, &["--tenant", "analytics"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("has no tenants"), "{}", stderr(&out));
    // A database without Dinky's tables.
    let empty = db.url.replace(&db.name, "mysql");
    let out = import(&empty, &ours, &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no Dinky alert tables"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn dsn_password_and_secrets_are_never_printed() {
    const PW: &str = "Dsn-Pa55word-xyz";
    // MariaDB refuses the password: the error must not show it.
    let ours = Ours::new();
    let out = import(
        &format!("mysql://nosuchuser:{PW}@127.0.0.1:3306/test"),
        &ours,
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains(PW), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("mysql://127.0.0.1:3306/test"),
        "{}",
        stderr(&out)
    );

    // PostgreSQL trusts any password: the import works and prints neither it nor a secret.
    let db = SourceDb::load(Engine::Postgres, "dinky-1.x-postgres.sql").await;
    let from = db.url.replace("postgres@", &format!("postgres:{PW}@"));
    for extra in [
        &[][..],
        &["--json"][..],
        &["--apply"][..],
        &["--apply", "--json"][..],
    ] {
        let out = import(&from, &ours, extra).await; // asserts no fake secret
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(!stdout(&out).contains(PW) && !stderr(&out).contains(PW));
    }
    let mysql = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    for extra in [&[][..], &["--json"][..]] {
        import(&mysql.url, &ours, extra).await;
    }
}

#[tokio::test]
async fn a_failure_mid_apply_writes_nothing() {
    let db = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    let data = SourceSpec::parse(&db.url).unwrap().read().await.unwrap();
    let ours = Ours::new();
    let store = ours.store().await;
    let source = "mysql://127.0.0.1:3306/x";
    let planned = plan(&data, source, None, &store).await.unwrap();
    assert_eq!(planned.count(Action::Create), 12);
    // Between plan and apply, somebody creates an instance named like the last one the plan
    // creates: the import fails on it, after five instances were already inserted.
    let late = InstanceInput {
        name: "fs-data-team".into(),
        kind: "dingtalk".into(),
        enabled: true,
        params: json!({"webhook": "https://oapi.dingtalk.com/robot/send?access_token=x"}),
        rate_per_minute: None,
    };
    store.create_instance(&late, 1).await.unwrap();
    let err = store.apply_import(&planned.batch, 2).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NameTaken { what: "instance", name } if name == "fs-data-team"),
        "{err}"
    );
    assert_eq!(store.list_instances().await.unwrap().len(), 1);
    assert!(store.list_groups().await.unwrap().is_empty());
    assert!(store.list_bindings().await.unwrap().is_empty());
    assert!(store.import_records(source).await.unwrap().is_empty());

    // Planned again, the conflict is seen up front: that row is skipped, the rest imports.
    let args = DinkyImportArgs {
        from: db.url.clone(),
        apply: true,
        ..DinkyImportArgs::default()
    };
    let report = run_with_store(&data, source, &args, &store).await;
    assert_eq!(report.code, 1);
    assert!(report
        .stdout
        .iter()
        .any(|l| l.contains("name `fs-data-team` is taken by instance 1")));
    assert_eq!(store.list_instances().await.unwrap().len(), 6);
}
