//! One conformance suite for every store implementation. Each test below runs on SQLite and on PostgreSQL (the
//! latter when `STEWARD_TEST_POSTGRES_URL` is set; otherwise it prints that it was skipped).

use std::collections::BTreeSet;
use std::sync::Arc;

use steward_store::test_support::{fresh_postgres_uri, postgres_url};
use steward_store::*;

/// A fresh store plus the URI it was opened from.
struct Fixture {
    store: Arc<dyn Store>,
    uri: String,
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let uri = format!("sqlite://{}", dir.path().join("steward.db").display());
                    let store = steward_store::open(&uri).await.expect("open SQLite store");
                    super::$name(super::Fixture { store, uri }).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(base) = steward_store::test_support::postgres_url(stringify!($name)) else {
                        return;
                    };
                    let uri = super::fresh_postgres_uri(&base).await.expect("fresh schema");
                    let store = steward_store::open(&uri).await.expect("open PostgreSQL store");
                    super::$name(super::Fixture { store, uri }).await;
                }
            )*
        }
    };
}

conformance!(
    experiments_are_unique_named_and_paged,
    runs_keep_params_tags_metrics_and_inputs,
    search_runs_filters_and_pages_stably,
    datasets_are_versioned_by_content,
    models_and_versions_are_immutable_and_numbered,
    invalid_parent_does_not_consume_a_version_number,
    aliases_move_atomically_with_history,
    deleting_a_model_with_aliases_needs_force,
    every_write_emits_an_event_in_order,
    concurrent_registrations_get_distinct_consecutive_versions,
    reopening_is_idempotent_and_reports_schema,
    deployments_name_what_exists_and_keep_revisions,
    deployments_guard_the_aliases_and_models_they_follow,
    predictions_are_recorded_in_batches_and_listed_newest_first,
);

fn audit() -> Audit {
    Audit::new("tester")
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn new_version(model: &str) -> NewModelVersion {
    NewModelVersion {
        model: model.to_string(),
        artifact_uri: "steward-artifacts:sha256/ab/abcdef".into(),
        artifact_hash: "abcdef".into(),
        signature: None,
        metrics: MetricValues::new(),
        source_run: None,
        dataset: None,
        parent_version: None,
        description: None,
        tags: Tags::new(),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

async fn experiments_are_unique_named_and_paged(f: Fixture) {
    let store = f.store;
    let first = store
        .create_experiment("exp-a", Some("first"), &audit())
        .await
        .unwrap();
    assert_eq!(first.name, "exp-a");
    assert_eq!(first.description.as_deref(), Some("first"));
    for name in ["exp-b", "exp-c", "other"] {
        store.create_experiment(name, None, &audit()).await.unwrap();
    }
    assert!(matches!(
        store.create_experiment("exp-a", None, &audit()).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.create_experiment("bad name", None, &audit()).await,
        Err(StoreError::InvalidName { .. })
    ));
    assert_eq!(store.get_experiment("exp-a").await.unwrap(), first);
    assert_not_found(store.get_experiment("nope").await, "unknown experiment");

    let mut names = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let result = store.list_experiments(&Filter::all(), &page).await.unwrap();
        assert!(result.items.len() <= 2);
        names.extend(result.items.into_iter().map(|e| e.name));
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => break,
        }
    }
    assert_eq!(names, ["exp-a", "exp-b", "exp-c", "other"]);

    let prefixed = store
        .list_experiments(
            &Filter::parse("name LIKE 'exp-%'").unwrap(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(prefixed.items.len(), 3);
    assert!(matches!(
        store
            .list_experiments(
                &Filter::parse("metrics.x > 1").unwrap(),
                &PageRequest::default()
            )
            .await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        store
            .list_experiments(
                &Filter::all(),
                &PageRequest {
                    limit: Some(1),
                    page_token: Some("garbage".into())
                }
            )
            .await,
        Err(StoreError::InvalidPageToken(_))
    ));
}

async fn runs_keep_params_tags_metrics_and_inputs(f: Fixture) {
    let store = f.store;
    let experiment = store.create_experiment("e", None, &audit()).await.unwrap();
    let run = store
        .create_run(
            &NewRun {
                experiment_id: experiment.id,
                name: Some("first-run".into()),
                params: tags(&[("lr", "0.1")]),
                tags: tags(&[("team", "vision")]),
            },
            &audit(),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.name, "first-run");
    assert_eq!(run.params, tags(&[("lr", "0.1")]));
    assert!(run.end_time.is_none());
    assert_not_found(
        store
            .create_run(
                &NewRun {
                    experiment_id: experiment.id + 1000,
                    name: None,
                    params: Tags::new(),
                    tags: Tags::new(),
                },
                &audit(),
            )
            .await,
        "run in unknown experiment",
    );

    // Params are write-once.
    store
        .log_params(&run.id, &tags(&[("lr", "0.1"), ("depth", "3")]))
        .await
        .unwrap();
    assert!(matches!(
        store
            .log_params(&run.id, &tags(&[("lr", "0.2"), ("new", "x")]))
            .await,
        Err(StoreError::Conflict(_))
    ));
    // The conflicting batch wrote nothing, not even its valid part.
    assert!(
        !store
            .get_run(&run.id)
            .await
            .unwrap()
            .params
            .contains_key("new")
    );

    store
        .set_run_tags(&run.id, &tags(&[("team", "search"), ("owner", "ann")]))
        .await
        .unwrap();

    let metric = |key: &str, value: f64, step: i64, timestamp: i64| Metric {
        key: key.into(),
        value,
        step,
        timestamp,
    };
    store
        .log_metrics(
            &run.id,
            &[
                metric("loss", 0.9, 0, 100),
                metric("loss", 0.5, 2, 300),
                metric("loss", 0.7, 1, 200),
                metric("acc", 0.8, 0, 100),
            ],
        )
        .await
        .unwrap();
    // An older step logged later does not replace the latest value.
    store
        .log_metrics(&run.id, &[metric("loss", 0.95, 1, 400)])
        .await
        .unwrap();
    // A NaN anywhere rejects the whole batch.
    assert!(matches!(
        store
            .log_metrics(
                &run.id,
                &[metric("acc", 0.99, 5, 500), metric("acc", f64::NAN, 6, 600)]
            )
            .await,
        Err(StoreError::InvalidArgument(_))
    ));
    let history = store.metric_history(&run.id, "loss").await.unwrap();
    let steps: Vec<(i64, f64)> = history.iter().map(|m| (m.step, m.value)).collect();
    assert_eq!(steps, [(0, 0.9), (1, 0.7), (1, 0.95), (2, 0.5)]);
    assert_eq!(store.metric_history(&run.id, "acc").await.unwrap().len(), 1);
    assert!(
        store
            .metric_history(&run.id, "absent")
            .await
            .unwrap()
            .is_empty()
    );

    let dataset = store
        .register_dataset(
            &NewDataset {
                name: "iris".into(),
                content_hash: "h1".into(),
                schema: serde_json::json!({"columns": ["a"]}),
                row_count: Some(150),
            },
            &audit(),
        )
        .await
        .unwrap();
    let reference = DatasetRef {
        name: dataset.name.clone(),
        version: dataset.version,
    };
    store
        .log_inputs(&run.id, std::slice::from_ref(&reference))
        .await
        .unwrap();
    store
        .log_inputs(&run.id, std::slice::from_ref(&reference))
        .await
        .unwrap();
    assert_not_found(
        store
            .log_inputs(
                &run.id,
                &[DatasetRef {
                    name: "iris".into(),
                    version: 9,
                }],
            )
            .await,
        "unknown dataset input",
    );

    let finished = store
        .set_run_status(&run.id, RunStatus::Finished, &audit())
        .await
        .unwrap();
    assert_eq!(finished.status, RunStatus::Finished);
    assert!(finished.end_time.is_some());
    let fetched = store.get_run(&run.id).await.unwrap();
    assert_eq!(fetched, finished);
    assert_eq!(fetched.params, tags(&[("depth", "3"), ("lr", "0.1")]));
    assert_eq!(fetched.tags, tags(&[("owner", "ann"), ("team", "search")]));
    assert_eq!(fetched.metrics.get("loss"), Some(&0.5));
    assert_eq!(fetched.metrics.get("acc"), Some(&0.8));
    assert_eq!(fetched.inputs, vec![reference]);

    for result in [
        store.get_run("no-such-run").await.map(|_| ()),
        store.log_params("no-such-run", &Tags::new()).await,
        store.set_run_tags("no-such-run", &Tags::new()).await,
        store.log_metrics("no-such-run", &[]).await,
        store.log_inputs("no-such-run", &[]).await,
        store
            .metric_history("no-such-run", "loss")
            .await
            .map(|_| ()),
        store
            .set_run_status("no-such-run", RunStatus::Failed, &audit())
            .await
            .map(|_| ()),
    ] {
        assert_not_found(result, "unknown run");
    }
}

async fn search_runs_filters_and_pages_stably(f: Fixture) {
    let store = f.store;
    let a = store.create_experiment("a", None, &audit()).await.unwrap();
    let b = store.create_experiment("b", None, &audit()).await.unwrap();
    let mut created = Vec::new();
    for i in 0..25 {
        let experiment = if i % 5 == 0 { b.id } else { a.id };
        let run = store
            .create_run(
                &NewRun {
                    experiment_id: experiment,
                    name: Some(format!("{}-{i}", if i % 2 == 0 { "even" } else { "odd" })),
                    params: tags(&[("seed", &(i % 3).to_string())]),
                    tags: tags(&[("parity", if i % 2 == 0 { "even" } else { "odd" })]),
                },
                &audit(),
            )
            .await
            .unwrap();
        store
            .log_metrics(
                &run.id,
                &[Metric {
                    key: "accuracy".into(),
                    value: i as f64 / 25.0,
                    step: 0,
                    timestamp: 1,
                }],
            )
            .await
            .unwrap();
        if i % 4 == 0 {
            store
                .set_run_status(&run.id, RunStatus::Finished, &audit())
                .await
                .unwrap();
        }
        created.push(run.id);
    }
    assert_eq!(count_runs(&store, "", &[]).await, 25);
    assert_eq!(count_runs(&store, "", &[b.id]).await, 5);
    assert_eq!(count_runs(&store, "", &[a.id, b.id]).await, 25);
    assert_eq!(count_runs(&store, "metrics.accuracy > 0.5", &[]).await, 12);
    assert_eq!(
        count_runs(&store, "metrics.accuracy >= 0.52", &[]).await,
        12
    );
    assert_eq!(count_runs(&store, "metrics.accuracy < 0.2", &[]).await, 5);
    assert_eq!(count_runs(&store, "metrics.accuracy = 0.2", &[]).await, 1);
    assert_eq!(count_runs(&store, "metrics.accuracy != 0.2", &[]).await, 24);
    assert_eq!(count_runs(&store, "metrics.missing > 0", &[]).await, 0);
    assert_eq!(count_runs(&store, "tags.parity = 'even'", &[]).await, 13);
    assert_eq!(count_runs(&store, "params.seed = '0'", &[]).await, 9);
    assert_eq!(count_runs(&store, "status = 'FINISHED'", &[]).await, 7);
    assert_eq!(count_runs(&store, "name LIKE 'odd-%'", &[]).await, 12);
    assert_eq!(count_runs(&store, "name = 'odd-1'", &[]).await, 1);
    assert_eq!(
        count_runs(
            &store,
            "tags.parity = 'even' and metrics.accuracy > 0.5",
            &[a.id]
        )
        .await,
        5
    );

    // Newest first, every run exactly once across pages, and the details loaded on each page.
    let mut seen = Vec::new();
    let mut page = PageRequest::first(7);
    loop {
        let result = store.search_runs(&[], &Filter::all(), &page).await.unwrap();
        for run in &result.items {
            assert!(run.metrics.contains_key("accuracy"));
            assert!(run.params.contains_key("seed"));
        }
        seen.extend(result.items.into_iter().map(|r| r.id));
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created);
}

async fn count_runs(store: &Arc<dyn Store>, filter: &str, experiments: &[i64]) -> usize {
    store
        .search_runs(
            experiments,
            &Filter::parse(filter).unwrap(),
            &PageRequest::first(1000),
        )
        .await
        .unwrap()
        .items
        .len()
}

async fn datasets_are_versioned_by_content(f: Fixture) {
    let store = f.store;
    let new = |hash: &str| NewDataset {
        name: "wine".into(),
        content_hash: hash.into(),
        schema: serde_json::json!({"columns": [{"name": "alcohol", "type": "numeric"}]}),
        row_count: Some(178),
    };
    let v1 = store.register_dataset(&new("aaa"), &audit()).await.unwrap();
    assert_eq!(v1.version, 1);
    let again = store.register_dataset(&new("aaa"), &audit()).await.unwrap();
    assert_eq!(again, v1);
    let v2 = store.register_dataset(&new("bbb"), &audit()).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(store.get_dataset("wine", None).await.unwrap(), v2);
    assert_eq!(store.get_dataset("wine", Some(1)).await.unwrap(), v1);
    assert_eq!(v1.schema, new("aaa").schema);
    assert_not_found(store.get_dataset("wine", Some(3)).await, "dataset version");
    assert_not_found(store.get_dataset("beer", None).await, "dataset");
    store
        .register_dataset(
            &NewDataset {
                name: "iris".into(),
                ..new("ccc")
            },
            &audit(),
        )
        .await
        .unwrap();
    let listed = store
        .list_datasets(&Filter::all(), &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(listed.items, vec![v1.clone(), v2.clone()]);
    let rest = store
        .list_datasets(
            &Filter::all(),
            &PageRequest {
                limit: Some(2),
                page_token: listed.next_page_token,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_page_token, None);
    let wines = store
        .list_datasets(
            &Filter::parse("name = 'wine'").unwrap(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(wines.items.len(), 2);
    assert!(matches!(
        store
            .register_dataset(
                &NewDataset {
                    name: "../x".into(),
                    ..new("ddd")
                },
                &audit()
            )
            .await,
        Err(StoreError::InvalidName { .. })
    ));
}

async fn models_and_versions_are_immutable_and_numbered(f: Fixture) {
    let store = f.store;
    let model = store
        .create_model("iris", Some("flowers"), &tags(&[("team", "bio")]), &audit())
        .await
        .unwrap();
    assert_eq!(model.latest_version, None);
    assert!(model.aliases.is_empty());
    assert_eq!(model.tags, tags(&[("team", "bio")]));
    assert!(matches!(
        store
            .create_model("iris", None, &Tags::new(), &audit())
            .await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        store
            .create_model("iris/1", None, &Tags::new(), &audit())
            .await,
        Err(StoreError::InvalidName { .. })
    ));
    for name in ["iris-b", "wine", "zeta"] {
        store
            .create_model(
                name,
                None,
                &tags(&[("team", if name == "wine" { "bio" } else { "ops" })]),
                &audit(),
            )
            .await
            .unwrap();
    }

    let experiment = store.create_experiment("e", None, &audit()).await.unwrap();
    let run = store
        .create_run(
            &NewRun {
                experiment_id: experiment.id,
                name: None,
                params: Tags::new(),
                tags: Tags::new(),
            },
            &audit(),
        )
        .await
        .unwrap();
    let dataset = store
        .register_dataset(
            &NewDataset {
                name: "iris-data".into(),
                content_hash: "h".into(),
                schema: serde_json::json!({}),
                row_count: None,
            },
            &audit(),
        )
        .await
        .unwrap();

    let v1 = store
        .create_model_version(
            &NewModelVersion {
                metrics: [("accuracy".to_string(), 0.91)].into(),
                tags: tags(&[("stage", "dev")]),
                signature: Some(serde_json::json!({"inputs": [{"name": "x", "type": "float"}]})),
                source_run: Some(run.id.clone()),
                dataset: Some(DatasetRef {
                    name: dataset.name.clone(),
                    version: dataset.version,
                }),
                description: Some("first".into()),
                ..new_version("iris")
            },
            &audit(),
        )
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.source_run.as_deref(), Some(run.id.as_str()));
    assert_eq!(
        v1.dataset.as_ref().map(|d| d.name.as_str()),
        Some("iris-data")
    );
    let v2 = store
        .create_model_version(
            &NewModelVersion {
                metrics: [("accuracy".to_string(), 0.97)].into(),
                parent_version: Some(1),
                tags: tags(&[("stage", "prod")]),
                ..new_version("iris")
            },
            &audit(),
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.parent_version, Some(1));
    assert_eq!(store.get_model_version("iris", 1).await.unwrap(), v1);
    assert_eq!(
        store.get_model("iris").await.unwrap().latest_version,
        Some(2)
    );

    assert_not_found(store.get_model_version("iris", 3).await, "version 3");
    assert_not_found(store.get_model_version("nope", 1).await, "unknown model");
    assert_not_found(
        store
            .create_model_version(&new_version("nope"), &audit())
            .await,
        "version of unknown model",
    );
    assert_not_found(
        store
            .create_model_version(
                &NewModelVersion {
                    source_run: Some("no-run".into()),
                    ..new_version("iris")
                },
                &audit(),
            )
            .await,
        "unknown source run",
    );
    assert!(matches!(
        store
            .create_model_version(
                &NewModelVersion {
                    metrics: [("accuracy".to_string(), f64::INFINITY)].into(),
                    ..new_version("iris")
                },
                &audit(),
            )
            .await,
        Err(StoreError::InvalidArgument(_))
    ));

    let all = store
        .list_model_versions("iris", &Filter::all(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items, vec![v1.clone(), v2.clone()]);
    let good = store
        .list_model_versions(
            "iris",
            &Filter::parse("metrics.accuracy > 0.95").unwrap(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(good.items, vec![v2.clone()]);
    let dev = store
        .list_model_versions(
            "iris",
            &Filter::parse("tags.stage = 'dev'").unwrap(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(dev.items, vec![v1.clone()]);
    let first_page = store
        .list_model_versions("iris", &Filter::all(), &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first_page.items, vec![v1]);
    assert!(first_page.next_page_token.is_some());
    assert_not_found(
        store
            .list_model_versions("nope", &Filter::all(), &PageRequest::default())
            .await,
        "versions of unknown model",
    );

    let bio = store
        .list_models(
            &Filter::parse("tags.team = 'bio'").unwrap(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    let names: Vec<_> = bio.items.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["iris", "wine"]);
    let prefixed = store
        .list_models(
            &Filter::parse("name LIKE 'iris%'").unwrap(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(prefixed.items.len(), 2);
    let mut paged = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let result = store.list_models(&Filter::all(), &page).await.unwrap();
        paged.extend(result.items.into_iter().map(|m| m.name));
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => break,
        }
    }
    assert_eq!(paged, ["iris", "iris-b", "wine", "zeta"]);
}

async fn invalid_parent_does_not_consume_a_version_number(f: Fixture) {
    let store = f.store;
    store
        .create_model("m", None, &Tags::new(), &audit())
        .await
        .unwrap();
    store
        .create_model_version(&new_version("m"), &audit())
        .await
        .unwrap();
    assert_not_found(
        store
            .create_model_version(
                &NewModelVersion {
                    parent_version: Some(7),
                    ..new_version("m")
                },
                &audit(),
            )
            .await,
        "parent version",
    );
    let next = store
        .create_model_version(&new_version("m"), &audit())
        .await
        .unwrap();
    assert_eq!(next.version, 2, "a failed registration left a gap");
}

async fn aliases_move_atomically_with_history(f: Fixture) {
    let store = f.store;
    store
        .create_model("iris", None, &Tags::new(), &audit())
        .await
        .unwrap();
    for _ in 0..3 {
        store
            .create_model_version(&new_version("iris"), &audit())
            .await
            .unwrap();
    }
    let first = store
        .set_alias("iris", "production", 1, &audit())
        .await
        .unwrap();
    assert_eq!(first.previous_version, None);
    let moved = store
        .set_alias(
            "iris",
            "production",
            3,
            &Audit::new("ann").with_reason("better recall"),
        )
        .await
        .unwrap();
    assert_eq!(moved.previous_version, Some(1));
    store
        .set_alias("iris", "staging", 2, &audit())
        .await
        .unwrap();
    assert_eq!(
        store
            .resolve_alias("iris", "production")
            .await
            .unwrap()
            .version,
        3
    );
    let model = store.get_model("iris").await.unwrap();
    assert_eq!(
        model.aliases,
        [("production".to_string(), 3), ("staging".to_string(), 2)].into()
    );

    assert_not_found(
        store.set_alias("iris", "production", 9, &audit()).await,
        "alias to unknown version",
    );
    assert_not_found(
        store.set_alias("nope", "production", 1, &audit()).await,
        "alias of unknown model",
    );
    assert!(matches!(
        store.set_alias("iris", "Prod", 1, &audit()).await,
        Err(StoreError::InvalidName { .. })
    ));
    assert_eq!(
        store
            .resolve_alias("iris", "production")
            .await
            .unwrap()
            .version,
        3,
        "a failed move changed the alias"
    );

    let deleted = store
        .delete_alias("iris", "staging", &audit())
        .await
        .unwrap();
    assert_eq!(deleted.version, None);
    assert_eq!(deleted.previous_version, Some(2));
    assert_not_found(
        store.resolve_alias("iris", "staging").await,
        "deleted alias",
    );
    assert_not_found(
        store.delete_alias("iris", "staging", &audit()).await,
        "deleting a deleted alias",
    );
    assert_not_found(store.resolve_alias("nope", "x").await, "unknown model");

    let production = store
        .alias_history("iris", Some("production"))
        .await
        .unwrap();
    let moves: Vec<_> = production
        .iter()
        .map(|c| (c.previous_version, c.version))
        .collect();
    assert_eq!(moves, [(None, Some(1)), (Some(1), Some(3))]);
    assert_eq!(production[1].actor, "ann");
    assert_eq!(production[1].reason.as_deref(), Some("better recall"));
    let everything = store.alias_history("iris", None).await.unwrap();
    assert_eq!(everything.len(), 4);
    assert_eq!(everything[3].alias, "staging");
    assert_eq!(everything[3].version, None);
    assert_not_found(
        store.alias_history("nope", None).await,
        "history of unknown model",
    );
}

async fn deleting_a_model_with_aliases_needs_force(f: Fixture) {
    let store = f.store;
    for name in ["keep", "drop"] {
        store
            .create_model(name, None, &Tags::new(), &audit())
            .await
            .unwrap();
        store
            .create_model_version(&new_version(name), &audit())
            .await
            .unwrap();
        store
            .set_alias(name, "production", 1, &audit())
            .await
            .unwrap();
    }
    match store.delete_model("drop", false, &audit()).await {
        Err(StoreError::Conflict(message)) => {
            assert!(message.contains("production"), "{message}");
            assert!(message.contains("--force"), "{message}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(store.get_model("drop").await.is_ok());
    store.delete_model("drop", true, &audit()).await.unwrap();
    assert_not_found(store.get_model("drop").await, "deleted model");
    assert_not_found(store.get_model_version("drop", 1).await, "deleted version");
    assert_not_found(
        store.delete_model("drop", true, &audit()).await,
        "deleted twice",
    );
    // The name can be reused; numbering starts again.
    store
        .create_model("drop", None, &Tags::new(), &audit())
        .await
        .unwrap();
    let v = store
        .create_model_version(&new_version("drop"), &audit())
        .await
        .unwrap();
    assert_eq!(v.version, 1);
    // A model without aliases is deleted without force; others are untouched.
    store.delete_model("drop", false, &audit()).await.unwrap();
    assert_eq!(
        store
            .resolve_alias("keep", "production")
            .await
            .unwrap()
            .version,
        1
    );
}

async fn every_write_emits_an_event_in_order(f: Fixture) {
    let store = f.store;
    let start = store
        .events_after(0, 10_000)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.id);
    let experiment = store.create_experiment("e", None, &audit()).await.unwrap();
    let run = store
        .create_run(
            &NewRun {
                experiment_id: experiment.id,
                name: None,
                params: Tags::new(),
                tags: Tags::new(),
            },
            &audit(),
        )
        .await
        .unwrap();
    store
        .set_run_status(&run.id, RunStatus::Killed, &audit())
        .await
        .unwrap();
    store
        .register_dataset(
            &NewDataset {
                name: "d".into(),
                content_hash: "x".into(),
                schema: serde_json::json!(null),
                row_count: None,
            },
            &audit(),
        )
        .await
        .unwrap();
    store
        .create_model("m", None, &Tags::new(), &audit())
        .await
        .unwrap();
    store
        .create_model_version(&new_version("m"), &audit())
        .await
        .unwrap();
    store
        .set_alias(
            "m",
            "production",
            1,
            &Audit::new("ann").with_reason("go live"),
        )
        .await
        .unwrap();
    store
        .delete_alias("m", "production", &audit())
        .await
        .unwrap();
    store.delete_model("m", false, &audit()).await.unwrap();
    let custom = store
        .append_event(
            "deployment.changed",
            "m",
            &serde_json::json!({"percent": 10}),
            &audit(),
        )
        .await
        .unwrap();
    // A failed write emits nothing.
    assert!(
        store
            .create_model("m!", None, &Tags::new(), &audit())
            .await
            .is_err()
    );

    let events = store.events_after(start, 100).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            event_kind::EXPERIMENT_CREATED,
            event_kind::RUN_CREATED,
            event_kind::RUN_STATUS_CHANGED,
            event_kind::DATASET_REGISTERED,
            event_kind::MODEL_CREATED,
            event_kind::VERSION_REGISTERED,
            event_kind::ALIAS_SET,
            event_kind::ALIAS_DELETED,
            event_kind::MODEL_DELETED,
            "deployment.changed",
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    let alias_set = &events[6];
    assert_eq!(alias_set.subject, "m@production");
    assert_eq!(alias_set.actor, "ann");
    assert_eq!(alias_set.reason.as_deref(), Some("go live"));
    assert_eq!(alias_set.payload["version"], 1);
    assert_eq!(events.last().unwrap(), &custom);
    assert_eq!(custom.payload["percent"], 10);

    let limited = store.events_after(start, 3).await.unwrap();
    assert_eq!(limited, events[..3]);
    let tail = store.events_after(events[8].id, 100).await.unwrap();
    assert_eq!(tail, events[9..]);
    assert!(matches!(
        store
            .append_event("bad kind!", "x", &serde_json::json!({}), &audit())
            .await,
        Err(StoreError::InvalidName { .. })
    ));
}

async fn concurrent_registrations_get_distinct_consecutive_versions(f: Fixture) {
    let store = f.store;
    store
        .create_model("busy", None, &Tags::new(), &audit())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_model_version(&new_version("busy"), &audit())
                    .await
                    .map(|v| v.version)
            })
        })
        .collect();
    let mut versions = BTreeSet::new();
    for task in tasks {
        let version = task.await.unwrap().unwrap();
        assert!(versions.insert(version), "duplicate version {version}");
    }
    assert_eq!(versions, (1..=32).collect());
}

async fn reopening_is_idempotent_and_reports_schema(f: Fixture) {
    let store = f.store;
    store
        .create_model("persisted", None, &Tags::new(), &audit())
        .await
        .unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert!(!store.location().contains(":steward@"), "password leaked");
    let again = steward_store::open(&f.uri).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert!(again.get_model("persisted").await.is_ok());
}

// ---------------------------------------------------------------------------------------------------------------
// Opening something that is not (this version of) a Steward store, per backend.

fn deployment(name: &str, primary: DeploymentTarget) -> NewDeployment {
    NewDeployment {
        name: name.to_string(),
        model: "iris".to_string(),
        primary,
        canary: None,
        shadow: None,
    }
}

async fn iris_with_versions(store: &Arc<dyn Store>, versions: usize) {
    store
        .create_model("iris", None, &Tags::new(), &audit())
        .await
        .unwrap();
    for _ in 0..versions {
        store
            .create_model_version(&new_version("iris"), &audit())
            .await
            .unwrap();
    }
    store
        .set_alias("iris", "production", 1, &audit())
        .await
        .unwrap();
}

async fn deployments_name_what_exists_and_keep_revisions(f: Fixture) {
    let store = f.store;
    iris_with_versions(&store, 3).await;
    let alias = DeploymentTarget::Alias("production".into());

    let created = store
        .put_deployment(&deployment("iris-live", alias.clone()), &audit())
        .await
        .unwrap();
    assert_eq!(created.revision, 1);
    assert_eq!(created.primary, alias);
    assert_eq!(created.updated_by, "tester");

    let mut with_arms = deployment("iris-live", alias.clone());
    with_arms.canary = Some(Canary {
        version: 2,
        percent: 12.5,
    });
    with_arms.shadow = Some(3);
    let changed = store
        .put_deployment(&with_arms, &Audit::new("ann"))
        .await
        .unwrap();
    assert_eq!(changed.revision, 2);
    assert_eq!(changed.created_at, created.created_at);
    assert_eq!(changed.canary, with_arms.canary);
    assert_eq!(changed.shadow, Some(3));
    assert_eq!(changed.updated_by, "ann");
    assert_eq!(store.get_deployment("iris-live").await.unwrap(), changed);

    // What does not exist is refused, and a refused write changes nothing.
    let mut bad = with_arms.clone();
    bad.canary = Some(Canary {
        version: 9,
        percent: 10.0,
    });
    assert_not_found(store.put_deployment(&bad, &audit()).await, "unknown canary");
    bad.canary = None;
    bad.shadow = Some(7);
    assert_not_found(store.put_deployment(&bad, &audit()).await, "unknown shadow");
    assert_not_found(
        store
            .put_deployment(
                &deployment("x", DeploymentTarget::Alias("staging".into())),
                &audit(),
            )
            .await,
        "unknown alias",
    );
    assert_not_found(
        store
            .put_deployment(&deployment("x", DeploymentTarget::Version(4)), &audit())
            .await,
        "unknown version",
    );
    let mut other_model = deployment("x", DeploymentTarget::Version(1));
    other_model.model = "nope".into();
    assert_not_found(
        store.put_deployment(&other_model, &audit()).await,
        "unknown model",
    );
    for percent in [-1.0, 100.5, f64::NAN] {
        let mut out_of_range = with_arms.clone();
        out_of_range.canary = Some(Canary {
            version: 2,
            percent,
        });
        assert!(
            matches!(
                store.put_deployment(&out_of_range, &audit()).await,
                Err(StoreError::InvalidArgument(_))
            ),
            "percent {percent} was accepted"
        );
    }
    assert!(matches!(
        store
            .put_deployment(&deployment("Bad Name", alias.clone()), &audit())
            .await,
        Err(StoreError::InvalidName { .. })
    ));
    assert_eq!(store.get_deployment("iris-live").await.unwrap(), changed);
    assert_not_found(store.get_deployment("x").await, "refused deployment");

    let pinned = store
        .put_deployment(
            &deployment("iris-pinned", DeploymentTarget::Version(3)),
            &audit(),
        )
        .await
        .unwrap();
    assert_eq!(pinned.primary, DeploymentTarget::Version(3));
    let first = store
        .list_deployments(&PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.items[0].name, "iris-live");
    let second = store
        .list_deployments(&PageRequest {
            limit: Some(1),
            page_token: first.next_page_token.clone(),
        })
        .await
        .unwrap();
    assert_eq!(second.items, vec![pinned.clone()]);
    assert_eq!(second.next_page_token, None);

    let deleted = store
        .delete_deployment("iris-pinned", &audit())
        .await
        .unwrap();
    assert_eq!(deleted, pinned);
    assert_not_found(store.get_deployment("iris-pinned").await, "deleted");
    assert_not_found(
        store.delete_deployment("iris-pinned", &audit()).await,
        "deleted twice",
    );

    // Each change is in the event log with what was routed before.
    let events = store.events_after(0, 1000).await.unwrap();
    let deployment_events: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.kind.starts_with("deployment."))
        .map(|e| (e.kind.as_str(), e.subject.as_str()))
        .collect();
    assert_eq!(
        deployment_events,
        [
            (event_kind::DEPLOYMENT_SET, "iris-live"),
            (event_kind::DEPLOYMENT_SET, "iris-live"),
            (event_kind::DEPLOYMENT_SET, "iris-pinned"),
            (event_kind::DEPLOYMENT_DELETED, "iris-pinned"),
        ]
    );
    let second_set = events
        .iter()
        .filter(|e| e.kind == event_kind::DEPLOYMENT_SET)
        .nth(1)
        .unwrap();
    assert_eq!(second_set.payload["previous"]["revision"], 1);
    assert_eq!(second_set.payload["deployment"]["canary"]["percent"], 12.5);
    assert_eq!(second_set.actor, "ann");
}

async fn deployments_guard_the_aliases_and_models_they_follow(f: Fixture) {
    let store = f.store;
    iris_with_versions(&store, 2).await;
    store
        .set_alias("iris", "staging", 2, &audit())
        .await
        .unwrap();
    store
        .put_deployment(
            &deployment("iris", DeploymentTarget::Alias("production".into())),
            &audit(),
        )
        .await
        .unwrap();
    match store.delete_alias("iris", "production", &audit()).await {
        Err(StoreError::Conflict(message)) => {
            assert!(message.contains("deployment iris"), "{message}")
        }
        other => panic!("deleting a followed alias: {other:?}"),
    }
    assert_eq!(
        store
            .resolve_alias("iris", "production")
            .await
            .unwrap()
            .version,
        1
    );
    // Moving the alias is what deployments follow; it stays allowed.
    store
        .set_alias("iris", "production", 2, &audit())
        .await
        .unwrap();
    // An alias nobody follows can go.
    store
        .delete_alias("iris", "staging", &audit())
        .await
        .unwrap();

    store
        .delete_alias("iris", "production", &audit())
        .await
        .unwrap_err();
    match store.delete_model("iris", false, &audit()).await {
        Err(StoreError::Conflict(message)) => assert!(
            message.contains("aliases") || message.contains("deployed"),
            "{message}"
        ),
        other => panic!("deleting a deployed model: {other:?}"),
    }
    store.delete_model("iris", true, &audit()).await.unwrap();
    assert_not_found(
        store.get_deployment("iris").await,
        "deployment of a deleted model",
    );
    let events = store.events_after(0, 1000).await.unwrap();
    let deleted = events.last().unwrap();
    assert_eq!(deleted.kind, event_kind::MODEL_DELETED);
    assert_eq!(deleted.payload["deployments"], serde_json::json!(["iris"]));
}

async fn predictions_are_recorded_in_batches_and_listed_newest_first(f: Fixture) {
    let store = f.store;
    let prediction = |i: i64| {
        NewPrediction {
            request_id: format!("req-{i}"),
            at: 1_700_000_000_000 + i,
            deployment: (i % 2 == 0).then(|| "iris".to_string()),
            model: "iris".to_string(),
            version: 1 + i % 3,
            role: match i % 3 {
                0 => PredictionRole::Primary,
                1 => PredictionRole::Canary,
                _ => PredictionRole::Shadow,
            },
            rows: 2,
            // Column order is meaningful (one-matrix models take columns in order), so it must survive.
            inputs: format!(
                r#"{{"sepal_width": [3.5, {i}], "petal_length": [1.4, null], "colour": ["red", "blue"]}}"#
            ),
            outputs: r#"{"predictions": ["setosa", "virginica"]}"#.to_string(),
            latency_micros: 100 + i,
        }
    };
    let batch: Vec<NewPrediction> = (0..250).map(prediction).collect();
    store.record_predictions(&batch[..200]).await.unwrap();
    store.record_predictions(&batch[200..]).await.unwrap();
    store.record_predictions(&[]).await.unwrap();

    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .list_predictions(
                &PredictionQuery::default(),
                &PageRequest {
                    limit: Some(64),
                    page_token: token,
                },
            )
            .await
            .unwrap();
        seen.extend(page.items);
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 250);
    let same = |record: &PredictionRecord, written: &NewPrediction| {
        assert_eq!(
            (
                &record.request_id,
                record.at,
                &record.deployment,
                &record.model,
                record.version,
                record.role,
                record.rows,
                record.latency_micros
            ),
            (
                &written.request_id,
                written.at,
                &written.deployment,
                &written.model,
                written.version,
                written.role,
                written.rows,
                written.latency_micros
            )
        );
        let inputs: serde_json::Value = serde_json::from_str(&written.inputs).unwrap();
        let outputs: serde_json::Value = serde_json::from_str(&written.outputs).unwrap();
        assert_eq!(record.inputs, inputs);
        assert_eq!(record.outputs, outputs);
    };
    for (record, written) in seen.iter().zip(batch.iter().rev()) {
        same(record, written);
    }
    assert!(seen.windows(2).all(|w| w[0].id > w[1].id));
    let columns: Vec<&String> = seen[0].inputs.as_object().unwrap().keys().collect();
    assert_eq!(columns, ["sepal_width", "petal_length", "colour"]);

    let shadows = store
        .list_predictions(
            &PredictionQuery {
                role: Some(PredictionRole::Shadow),
                version: Some(3),
                ..Default::default()
            },
            &PageRequest::first(1000),
        )
        .await
        .unwrap();
    let expected_shadows = batch
        .iter()
        .filter(|p| p.role == PredictionRole::Shadow && p.version == 3)
        .count();
    assert_eq!(shadows.items.len(), expected_shadows);
    assert!(
        shadows
            .items
            .iter()
            .all(|r| r.role == PredictionRole::Shadow)
    );
    let one = store
        .list_predictions(
            &PredictionQuery {
                request_id: Some("req-42".into()),
                deployment: Some("iris".into()),
                model: Some("iris".into()),
                ..Default::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    same(&one.items[0], &batch[42]);
    // Traffic is not a registry change: no events.
    assert!(store.events_after(0, 10).await.unwrap().is_empty());

    // Pruning keeps the newest, and drops what is older than a time.
    assert_eq!(store.prune_predictions(Some(1000), None).await.unwrap(), 0);
    assert_eq!(store.prune_predictions(Some(100), None).await.unwrap(), 150);
    let left = store
        .list_predictions(&PredictionQuery::default(), &PageRequest::first(1000))
        .await
        .unwrap()
        .items;
    assert_eq!(left.len(), 100);
    assert_eq!(left.last().unwrap().request_id, "req-150");
    let cutoff = batch[200].at;
    assert_eq!(
        store.prune_predictions(None, Some(cutoff)).await.unwrap(),
        50
    );
    let left = store
        .list_predictions(&PredictionQuery::default(), &PageRequest::first(1000))
        .await
        .unwrap()
        .items;
    assert_eq!(left.len(), 50);
    assert!(left.iter().all(|p| p.at >= cutoff));
    assert_eq!(store.prune_predictions(Some(0), None).await.unwrap(), 50);
}

#[tokio::test]
async fn sqlite_refuses_foreign_and_newer_databases() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE users (id INTEGER)")
        .unwrap();
    match steward_store::open(foreign.to_str().unwrap()).await {
        Err(StoreError::NotSteward { location }) => assert!(location.contains("foreign.db")),
        other => panic!("expected NotSteward, got {:?}", other.map(|_| ())),
    }
    // Refusing wrote nothing into the foreign database.
    let tables: i64 = rusqlite::Connection::open(&foreign)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);

    let newer = dir.path().join("newer.db");
    drop(SqliteStore::open(&newer).await.unwrap());
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("UPDATE steward_meta SET value = '99' WHERE key = 'schema_version'")
        .unwrap();
    match steward_store::open(newer.to_str().unwrap()).await {
        Err(StoreError::NewerSchema { found: 99, .. }) => {}
        other => panic!("expected NewerSchema, got {:?}", other.map(|_| ())),
    }
    assert!(matches!(
        steward_store::open("mysql://x").await,
        Err(StoreError::UnsupportedUri(_))
    ));
}

#[tokio::test]
async fn a_version_1_sqlite_store_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0001_initial.sql"))
            .unwrap();
        conn.execute_batch(
            "INSERT INTO steward_meta (key, value) VALUES ('schema_version', '1');
             INSERT INTO models (name, created_at, updated_at) VALUES ('old', 0, 0);",
        )
        .unwrap();
    }
    let store = steward_store::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert!(
        store.get_model("old").await.is_ok(),
        "the upgrade lost data"
    );
    assert!(
        store
            .list_deployments(&PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn postgres_refuses_foreign_and_newer_schemas() {
    let Some(base) = postgres_url("postgres_refuses_foreign_and_newer_schemas") else {
        return;
    };
    let foreign = fresh_postgres_uri(&base).await.unwrap();
    execute_postgres(&foreign, "CREATE TABLE users (id INTEGER)").await;
    assert!(matches!(
        steward_store::open(&foreign).await,
        Err(StoreError::NotSteward { .. })
    ));

    let newer = fresh_postgres_uri(&base).await.unwrap();
    drop(steward_store::open(&newer).await.unwrap());
    execute_postgres(
        &newer,
        "UPDATE steward_meta SET value = '99' WHERE key = 'schema_version'",
    )
    .await;
    assert!(matches!(
        steward_store::open(&newer).await,
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
}

async fn execute_postgres(uri: &str, sql: &str) {
    let config: tokio_postgres::Config = uri.parse().unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = driver.await;
}
