//! Contract tests: Instances, groups, bindings.

use super::*;

pub(crate) async fn instances_crud_name_taken_and_params_round_trip(store: Arc<dyn Store>) {
    let mut input = instance("ops-robot");
    input.params = json!({
        "webhook": "https://oapi.dingtalk.com/robot/send?access_token=abc",
        "secret": "SEC-明文",
        "at_mobiles": ["13800000000"],
        "nested": {"n": 1.5, "flag": false, "none": null}
    });
    input.rate_per_minute = None;
    let created = store.create_instance(&input, 100).await.unwrap();
    assert_eq!(created.input, input);
    assert_eq!((created.created_at, created.updated_at), (100, 100));

    let got = store.get_instance(created.id).await.unwrap().unwrap();
    assert_eq!(got, created);
    assert_eq!(got.input.params["secret"], "SEC-明文");
    assert_eq!(got.input.rate_per_minute, None);

    let other = store.create_instance(&instance("dba"), 101).await.unwrap();
    assert_eq!(other.input.rate_per_minute, Some(20));
    let err = store
        .create_instance(&instance("ops-robot"), 102)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NameTaken { what: "instance", name } if name == "ops-robot"),
        "{err:?}"
    );
    assert_eq!(
        store
            .list_instances()
            .await
            .unwrap()
            .iter()
            .map(|i| i.input.name.as_str())
            .collect::<Vec<_>>(),
        ["ops-robot", "dba"]
    );
    // Several at once: those that exist, by id, whatever the order asked.
    assert_eq!(
        store
            .get_instances(&[other.id, 9_999, created.id])
            .await
            .unwrap(),
        [created.clone(), other.clone()]
    );
    assert!(store.get_instances(&[]).await.unwrap().is_empty());

    // Renaming onto a taken name, and updating a missing instance.
    let err = store
        .update_instance(other.id, &instance("ops-robot"), 103)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::NameTaken {
            what: "instance",
            ..
        }
    ));
    assert_eq!(
        store
            .update_instance(9999, &instance("x"), 103)
            .await
            .unwrap(),
        None
    );

    let mut changed = instance("dba-robot");
    changed.enabled = false;
    changed.kind = "wecom".to_owned();
    let updated = store
        .update_instance(other.id, &changed, 200)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((updated.created_at, updated.updated_at), (101, 200));
    assert_eq!(store.get_instance(other.id).await.unwrap(), Some(updated));

    assert!(store.delete_instance(other.id).await.unwrap());
    assert!(!store.delete_instance(other.id).await.unwrap());
    assert_eq!(store.get_instance(other.id).await.unwrap(), None);
    // Ids are never reused (history keeps instance ids).
    let next = store
        .create_instance(&instance("again"), 300)
        .await
        .unwrap();
    assert!(next.id > other.id, "{} > {}", next.id, other.id);
}

pub(crate) async fn groups_keep_member_order_and_check_references(store: Arc<dyn Store>) {
    let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
    let b = store.create_instance(&instance("b"), 1).await.unwrap().id;
    let c = store.create_instance(&instance("c"), 1).await.unwrap().id;

    let ops = store
        .create_group(&group("ops", vec![c, a, b]), 10)
        .await
        .unwrap();
    assert_eq!(ops.input.instance_ids, vec![c, a, b]);
    assert_eq!(store.get_group(ops.id).await.unwrap(), Some(ops.clone()));

    let err = store
        .create_group(&group("dba", vec![a, 999]), 11)
        .await
        .unwrap_err();
    match err {
        StoreError::BadReference { field, message } => {
            assert_eq!(field, "instance_ids");
            assert_eq!(message, "instance 999 does not exist");
        }
        other => panic!("{other:?}"),
    }
    let err = store
        .create_group(&group("dba", vec![a, a]), 11)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadReference {
                field: "instance_ids",
                ..
            }
        ),
        "{err:?}"
    );
    // Nothing of the failed creations was kept: the name is free.
    let dba = store
        .create_group(&group("dba", vec![b, c]), 12)
        .await
        .unwrap();
    let err = store
        .create_group(&group("ops", vec![]), 13)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NameTaken { what: "group", name } if name == "ops"),
        "{err:?}"
    );

    let listed = store.list_groups().await.unwrap();
    assert_eq!(listed, vec![ops.clone(), dba.clone()]);

    // Update: new order and members; a bad reference leaves the group as it was.
    let err = store
        .update_group(dba.id, &group("dba", vec![b, 4242]), 20)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { field: "instance_ids", message } if message == "instance 4242 does not exist"),
        "{err:?}"
    );
    assert_eq!(store.get_group(dba.id).await.unwrap(), Some(dba.clone()));
    let err = store
        .update_group(dba.id, &group("ops", vec![]), 20)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NameTaken { what: "group", .. }));
    let mut new_dba = group("dba-2", vec![c, b, a]);
    new_dba.enabled = false;
    let updated = store
        .update_group(dba.id, &new_dba, 21)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.input, new_dba);
    assert_eq!((updated.created_at, updated.updated_at), (12, 21));
    assert_eq!(store.get_group(dba.id).await.unwrap(), Some(updated));
    assert_eq!(
        store
            .update_group(777, &group("x", vec![]), 22)
            .await
            .unwrap(),
        None
    );

    // An instance in groups cannot be deleted; the message lists the groups.
    let err = store.delete_instance(c).await.unwrap_err();
    match err {
        StoreError::InUse(message) => assert_eq!(
            message,
            format!("instance {c} is a member of groups: ops, dba-2; remove it from them first")
        ),
        other => panic!("{other:?}"),
    }
    assert!(store.get_instance(c).await.unwrap().is_some());

    assert!(store.delete_group(ops.id).await.unwrap());
    assert!(!store.delete_group(ops.id).await.unwrap());
    assert_eq!(store.get_group(ops.id).await.unwrap(), None);
    store
        .update_group(dba.id, &group("dba-2", vec![a]), 30)
        .await
        .unwrap();
    assert!(store.delete_instance(c).await.unwrap());
}

pub(crate) async fn bindings_check_their_group_and_go_with_it(store: Arc<dyn Store>) {
    let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
    let g = store.create_group(&group("ops", vec![a]), 1).await.unwrap();
    let keep = store.create_group(&group("keep", vec![]), 1).await.unwrap();

    let input = BindingInput {
        job: "orders_*".to_owned(),
        cluster: Some("prod".to_owned()),
        group_id: g.id,
        statuses: vec![JobStatus::Failed, JobStatus::Canceled, JobStatus::Stopped],
        // Job-health conditions and their thresholds round-trip as given.
        conditions: vec!["CHECKPOINT_FAILED".to_owned(), "EXCEPTION".to_owned()],
        thresholds: Some(
            json!({"checkpoint_failures": 5, "checkpoint_duration_ms": 1000,
            "checkpoint_age_ms": 2000, "exception_fold_ms": 3000}),
        ),
        alertmanager: None,
    };
    let binding = store.create_binding(&input, 5).await.unwrap();
    assert_eq!(binding.input, input);
    assert_eq!(binding.created_at, 5);
    let any_cluster = BindingInput {
        job: "billing".to_owned(),
        cluster: None,
        group_id: keep.id,
        statuses: vec![JobStatus::Unknown],
        conditions: Vec::new(),
        thresholds: None,
        alertmanager: None,
    };
    let other = store.create_binding(&any_cluster, 6).await.unwrap();
    assert_eq!(
        store.list_bindings().await.unwrap(),
        vec![binding.clone(), other.clone()]
    );

    let err = store
        .create_binding(
            &BindingInput {
                group_id: 4040,
                ..input.clone()
            },
            7,
        )
        .await
        .unwrap_err();
    match err {
        StoreError::BadReference { field, message } => {
            assert_eq!(field, "group_id");
            assert!(message.contains("4040"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // Deleting the group deletes its bindings and memberships, not the others.
    assert!(store.delete_group(g.id).await.unwrap());
    assert_eq!(store.list_bindings().await.unwrap(), vec![other.clone()]);
    assert!(store.delete_instance(a).await.unwrap());

    assert!(store.delete_binding(other.id).await.unwrap());
    assert!(!store.delete_binding(other.id).await.unwrap());
    assert!(store.list_bindings().await.unwrap().is_empty());
}

pub(crate) async fn provisioning_touches_provisioned_rows_only_and_rolls_back_on_error(
    store: Arc<dyn Store>,
) {
    use alert_store::{Change, ClusterInput, ProvisionBinding, ProvisionGroup, ProvisionPlan};
    let by_hand = store
        .create_instance(&instance("by-hand"), 1)
        .await
        .unwrap();
    let plan = ProvisionPlan {
        instances: vec![Change::Create(instance("ops-robot"))],
        groups: vec![Change::Create(ProvisionGroup {
            name: "ops".into(),
            enabled: true,
            members: vec!["ops-robot".into(), "by-hand".into()],
            template: None,
        })],
        bindings: vec![Change::Create(ProvisionBinding {
            job: "orders_*".into(),
            cluster: Some("prod".into()),
            group: "ops".into(),
            statuses: vec![JobStatus::Failed],
            conditions: vec!["EXCEPTION".into()],
            thresholds: Some(json!({"exception_fold_ms": 60000})),
        })],
        clusters: vec![Change::Create(ClusterInput {
            name: "prod".into(),
            url: "http://127.0.0.1:8081".into(),
            enabled: true,
            poll_interval_ms: 5000,
        })],
    };
    store.apply_provision(&plan, 10).await.unwrap();
    let instances = store.list_instances().await.unwrap();
    let robot = instances
        .iter()
        .find(|i| i.input.name == "ops-robot")
        .unwrap();
    assert!(robot.provisioned);
    assert!(
        !instances
            .iter()
            .find(|i| i.id == by_hand.id)
            .unwrap()
            .provisioned
    );
    let groups = store.list_groups().await.unwrap();
    assert!(groups[0].provisioned);
    assert_eq!(groups[0].input.instance_ids, [robot.id, by_hand.id]);
    let bindings = store.list_bindings().await.unwrap();
    assert!(bindings[0].provisioned);
    assert_eq!(bindings[0].input.group_id, groups[0].id);
    assert_eq!(bindings[0].input.cluster.as_deref(), Some("prod"));
    assert_eq!(bindings[0].input.conditions, ["EXCEPTION"]);
    assert_eq!(
        bindings[0].input.thresholds,
        Some(json!({"exception_fold_ms": 60000}))
    );
    let clusters = store.list_clusters().await.unwrap();
    assert!(clusters[0].provisioned);

    // A row made through the API is never updated or deleted by a plan.
    for bad in [
        ProvisionPlan {
            instances: vec![Change::Delete(by_hand.id)],
            ..ProvisionPlan::default()
        },
        ProvisionPlan {
            instances: vec![Change::Update {
                id: by_hand.id,
                to: instance("renamed"),
            }],
            ..ProvisionPlan::default()
        },
    ] {
        let err = store.apply_provision(&bad, 11).await.unwrap_err();
        assert!(matches!(err, StoreError::BadReference { .. }), "{err:?}");
    }
    assert_eq!(
        store
            .get_instance(by_hand.id)
            .await
            .unwrap()
            .unwrap()
            .input
            .name,
        "by-hand"
    );
    // All or nothing: an update that lands, then a delete that fails (the group still holds
    // the instance) rolls the update back.
    let mut changed = instance("ops-robot");
    changed.enabled = false;
    let err = store
        .apply_provision(
            &ProvisionPlan {
                instances: vec![
                    Change::Update {
                        id: robot.id,
                        to: changed.clone(),
                    },
                    Change::Delete(robot.id),
                ],
                ..ProvisionPlan::default()
            },
            12,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InUse(_)), "{err:?}");
    assert!(
        store
            .get_instance(robot.id)
            .await
            .unwrap()
            .unwrap()
            .input
            .enabled
    );
    // A group that lets go of an instance and the instance's removal, in one plan.
    store
        .apply_provision(
            &ProvisionPlan {
                instances: vec![Change::Delete(robot.id)],
                groups: vec![Change::Update {
                    id: groups[0].id,
                    to: ProvisionGroup {
                        name: "ops".into(),
                        enabled: true,
                        members: vec!["by-hand".into()],
                        template: None,
                    },
                }],
                ..ProvisionPlan::default()
            },
            13,
        )
        .await
        .unwrap();
    assert!(store.get_instance(robot.id).await.unwrap().is_none());
    assert_eq!(
        store
            .get_group(groups[0].id)
            .await
            .unwrap()
            .unwrap()
            .input
            .instance_ids,
        [by_hand.id]
    );
    // Removing the rest of the provisioned objects, in one plan.
    store
        .apply_provision(
            &ProvisionPlan {
                groups: vec![Change::Delete(groups[0].id)],
                bindings: vec![Change::Delete(bindings[0].id)],
                clusters: vec![Change::Delete(clusters[0].id)],
                ..ProvisionPlan::default()
            },
            14,
        )
        .await
        .unwrap();
    assert_eq!(store.list_instances().await.unwrap().len(), 1);
    assert!(store.list_groups().await.unwrap().is_empty());
    assert!(store.list_bindings().await.unwrap().is_empty());
    assert!(store.list_clusters().await.unwrap().is_empty());
}

pub(crate) async fn group_templates_round_trip_and_are_replaced(store: Arc<dyn Store>) {
    use alert_store::{Change, ProvisionGroup, ProvisionPlan};
    let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
    let template = GroupTemplate {
        title: Some("{{ job_name }} \"{{ status }}\"".into()),
        text: None,
        markdown: Some("### {{ job_name }}\n\n{{ error }}".into()),
    };
    let mut input = group("ops", vec![a]);
    input.template = Some(template.clone());
    let ops = store.create_group(&input, 10).await.unwrap();
    assert_eq!(ops.input.template.as_ref(), Some(&template));
    assert_eq!(store.get_group(ops.id).await.unwrap(), Some(ops.clone()));
    assert_eq!(store.list_groups().await.unwrap(), vec![ops.clone()]);

    // Replaced, then removed by an update; a template that replaces nothing is none.
    input.template = Some(GroupTemplate {
        text: Some("{{ transition }}".into()),
        ..GroupTemplate::default()
    });
    let updated = store
        .update_group(ops.id, &input, 11)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .get_group(ops.id)
            .await
            .unwrap()
            .unwrap()
            .input
            .template,
        updated.input.template
    );
    input.template = Some(GroupTemplate::default());
    store.update_group(ops.id, &input, 12).await.unwrap();
    assert_eq!(
        store
            .get_group(ops.id)
            .await
            .unwrap()
            .unwrap()
            .input
            .template,
        None
    );

    // Provisioning sets and replaces it too.
    let plan = ProvisionPlan {
        groups: vec![Change::Create(ProvisionGroup {
            name: "dba".into(),
            enabled: true,
            members: vec!["a".into()],
            template: Some(template.clone()),
        })],
        ..ProvisionPlan::default()
    };
    store.apply_provision(&plan, 13).await.unwrap();
    let dba = store.list_groups().await.unwrap().pop().unwrap();
    assert_eq!(dba.input.template.as_ref(), Some(&template));
    let plan = ProvisionPlan {
        groups: vec![Change::Update {
            id: dba.id,
            to: ProvisionGroup {
                name: "dba".into(),
                enabled: true,
                members: vec!["a".into()],
                template: None,
            },
        }],
        ..ProvisionPlan::default()
    };
    store.apply_provision(&plan, 14).await.unwrap();
    assert_eq!(
        store
            .get_group(dba.id)
            .await
            .unwrap()
            .unwrap()
            .input
            .template,
        None
    );
}
