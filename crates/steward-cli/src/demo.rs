//! `steward demo`: a guided tour on the embedded store. It does what a user would do by hand (register data,
//! train two models, register them as versions, move `production`, evaluate, import an ONNX model, audit) and
//! says what each step shows.

use std::sync::Arc;

use anyhow::Context;
use steward_ml::dataset::RoleOverrides;
use steward_ml::estimator::Algorithm;
use steward_ml::train::{Evaluation, TrainSpec};
use steward_service::model::TrainRequest;
use steward_service::{Config, RegisterRequest, Steward};
use steward_store::{Audit, DatasetRef, Filter, PageRequest};

use crate::output::*;

const IRIS_CSV: &[u8] = include_bytes!("../../../fixtures/data/iris.csv");
const IRIS_MODEL: &[u8] = include_bytes!("../../../fixtures/models/iris_logreg.onnx");
const MODEL: &str = "iris-demo";
const IMPORTED: &str = "iris-onnx";

/// Prints the tour's narration, which `--json` replaces by one JSON document at the end.
macro_rules! say {
    ($json:expr, $($arg:tt)*) => {
        if !$json {
            println!($($arg)*);
        }
    };
}

fn step(json: bool, number: u32, title: &str) {
    say!(json, "\n── {number}. {title}");
}

pub async fn run(config: &Config, json: bool) -> anyhow::Result<()> {
    let steward = Steward::open(config).await?;
    let audit = steward.audit();
    say!(
        json,
        "Steward demo: a model's life cycle on the embedded store"
    );
    say!(json, "  metadata:  {}", steward.store.location());
    say!(json, "  artifacts: {}", steward.artifacts.location());
    let work = std::env::temp_dir().join(format!("steward-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let result = tour(&steward, &audit, &work, json).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn tour(
    steward: &Steward,
    audit: &Audit,
    work: &std::path::Path,
    json: bool,
) -> anyhow::Result<()> {
    let iris = work.join("iris.csv");
    std::fs::write(&iris, IRIS_CSV).with_context(|| format!("writing {}", iris.display()))?;
    let roles = RoleOverrides {
        target: Some("species".into()),
        ..Default::default()
    };

    step(
        json,
        1,
        "A dataset is versioned by the hash of its content, with schema and profile",
    );
    let registered = steward.register_dataset(&iris, "iris", &roles).await?;
    let dataset = &registered.dataset;
    say!(
        json,
        "dataset iris/{} sha256 {}… ({} rows); the same bytes again give the same version",
        dataset.version,
        &dataset.content_hash[..16],
        dataset.row_count.unwrap_or_default()
    );

    step(
        json,
        2,
        "Train two models: each run records params, seed, data, quality checks and holdout metrics",
    );
    let mut trained = Vec::new();
    for (algorithm, params) in [
        (
            Algorithm::LogisticRegression,
            vec![("C".to_string(), "0.05".to_string())],
        ),
        (
            Algorithm::RandomForest,
            vec![("n_estimators".to_string(), "100".to_string())],
        ),
    ] {
        let outcome = steward
            .train(
                &TrainRequest {
                    data: iris.clone(),
                    roles: roles.clone(),
                    spec: TrainSpec {
                        algorithm,
                        params,
                        seed: 42,
                        test_size: 0.3,
                        cv_folds: Some(5),
                        task: None,
                    },
                    experiment: MODEL.into(),
                    run_name: Some(format!("{algorithm}-iris")),
                    register: Some(MODEL.into()),
                    dataset_name: Some("iris".into()),
                },
                Arc::new(|_, _| {}),
            )
            .await?;
        let accuracy = outcome
            .summary
            .holdout
            .as_ref()
            .map(Evaluation::primary)
            .map_or(f64::NAN, |(_, v)| v);
        let cv = outcome
            .summary
            .cross_validation
            .as_ref()
            .map_or(String::new(), |cv| {
                format!(
                    ", 5-fold CV {} ± {}",
                    format_number(cv.mean),
                    format_number(cv.std)
                )
            });
        say!(
            json,
            "{algorithm}: holdout accuracy {}{cv} (run {})",
            format_number(accuracy),
            &outcome.run.id[..8]
        );
        trained.push(outcome);
    }
    let runs: Vec<_> = trained.iter().map(|t| t.run.clone()).collect();
    say!(
        json,
        "{}",
        runs_table(&runs, &experiment_names(steward).await?)
    );

    step(
        json,
        3,
        "Each trained model is an immutable, numbered, content-addressed version with lineage",
    );
    let versions: Vec<_> = trained.iter().filter_map(|t| t.version.clone()).collect();
    say!(json, "{}", versions_table(&versions));
    say!(
        json,
        "same data + same seed → the same package hash: retraining reproduces the model byte for byte"
    );

    step(json, 4, "Models trained elsewhere come in as ONNX");
    let model_file = work.join("iris_logreg.onnx");
    std::fs::write(&model_file, IRIS_MODEL)
        .with_context(|| format!("writing {}", model_file.display()))?;
    let imported = steward
        .register_version(&RegisterRequest {
            model: IMPORTED.into(),
            source: model_file.clone(),
            description: Some("scikit-learn LogisticRegression exported with skl2onnx".into()),
            tags: [("framework".to_string(), "scikit-learn".to_string())].into(),
            metrics: Default::default(),
            parent_version: None,
            source_run: None,
            dataset: Some(DatasetRef {
                name: dataset.name.clone(),
                version: dataset.version,
            }),
        })
        .await?;
    say!(
        json,
        "{}/{} sha256 {}…",
        imported.version.model,
        imported.version.version,
        &imported.version.artifact_hash[..16]
    );
    let registered = versions.clone();

    step(
        json,
        5,
        "Aliases: `production` moves in one atomic write, and every move is kept",
    );
    let (first, second) = (
        registered[registered.len() - 2].version,
        registered[registered.len() - 1].version,
    );
    steward
        .store
        .set_alias(MODEL, "production", first, audit)
        .await?;
    steward
        .store
        .set_alias(
            MODEL,
            "production",
            second,
            &Audit::new(steward.actor.clone())
                .with_reason("random forest beats the linear baseline"),
        )
        .await?;
    let history = steward
        .store
        .alias_history(MODEL, Some("production"))
        .await?;
    let recent = &history[history.len().saturating_sub(4)..];
    say!(json, "{}", alias_history_table(recent));

    step(
        json,
        6,
        "Evaluate production on data with labels: scikit-learn's metrics and report",
    );
    let production = steward
        .resolve(&steward_service::VersionRef::parse(&format!(
            "{MODEL}@production"
        ))?)
        .await?;
    if let Evaluation::Classification(metrics) =
        steward.evaluate(&production, &iris, None, None).await?
    {
        say!(
            json,
            "{MODEL}/{} on iris.csv:\n{}",
            production.version,
            metrics.report_text
        );
    }

    step(json, 7, "Search versions by metric");
    let good = steward
        .store
        .list_model_versions(
            MODEL,
            &Filter::parse("metrics.accuracy > 0.96")?,
            &PageRequest::first(5),
        )
        .await?;
    say!(
        json,
        "versions of {MODEL} with accuracy > 0.96: {}",
        good.items
            .iter()
            .map(|v| v.version.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    step(
        json,
        8,
        "The event log: the audit trail, and the feed servers follow",
    );
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let batch = steward.store.events_after(after, 1000).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        events.extend(batch);
    }
    for event in &events[events.len().saturating_sub(6)..] {
        say!(json, "{}", event_line(event));
    }

    step(
        json,
        9,
        "Doctor: every artifact exists and matches its hash",
    );
    let report = steward.doctor().await?;
    say!(
        json,
        "{} version(s) of {} model(s) checked, {} bytes verified, {} problem(s)",
        report.versions_checked,
        report.models,
        report.bytes_verified,
        report.problems.len()
    );

    if json {
        print_json(&serde_json::json!({
            "dataset": dataset,
            "runs": runs,
            "versions": registered,
            "imported": imported.version,
            "doctor": report,
        }))?;
    }
    say!(json, "\nNext, try:");
    say!(json, "  steward models list");
    say!(json, "  steward versions show {MODEL}@production");
    say!(json, "  steward alias history {MODEL}");
    say!(
        json,
        "  steward runs list --filter \"metrics.accuracy > 0.9\""
    );
    say!(
        json,
        "  steward evaluate {MODEL}@production --data fixtures/data/iris.csv"
    );
    say!(
        json,
        "  steward train --data fixtures/data/wine.csv --target cultivar --algo gradient_boosting --register wine"
    );
    say!(
        json,
        "  steward events --follow        (and register a version from another terminal)"
    );
    Ok(())
}
