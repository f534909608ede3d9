//! `steward demo`: a guided tour of the registry on the embedded store. It does what a user would do by hand
//! (record a run, register versions, move `production`, audit) and says what each step shows.

use anyhow::Context;
use steward_service::{Config, RegisterRequest, Steward};
use steward_store::{
    Audit, DatasetRef, Filter, Metric, NewDataset, NewRun, PageRequest, RunStatus, StoreError,
};

use crate::output::*;

const IRIS_CSV: &[u8] = include_bytes!("../../../fixtures/data/iris.csv");
const IRIS_MODEL: &[u8] = include_bytes!("../../../fixtures/models/iris_logreg.onnx");
const MODEL: &str = "iris-demo";

fn step(number: u32, title: &str) {
    println!("\n── {number}. {title}");
}

pub async fn run(config: &Config, json: bool) -> anyhow::Result<()> {
    let steward = Steward::open(config).await?;
    let audit = steward.audit();
    println!("Steward demo: the registry on the embedded store");
    println!("  metadata:  {}", steward.store.location());
    println!("  artifacts: {}", steward.artifacts.location());

    step(1, "An experiment groups the runs of one question");
    let experiment = match steward
        .store
        .create_experiment(MODEL, Some("logistic regression on iris"), &audit)
        .await
    {
        Ok(experiment) => experiment,
        Err(StoreError::AlreadyExists { .. }) => steward.store.get_experiment(MODEL).await?,
        Err(other) => return Err(other.into()),
    };
    println!("experiment '{}' (id {})", experiment.name, experiment.id);

    step(2, "A dataset is versioned by the hash of its content");
    let header = std::str::from_utf8(IRIS_CSV)
        .context("the bundled iris.csv is UTF-8")?
        .lines()
        .next()
        .unwrap_or_default();
    let dataset = steward
        .store
        .register_dataset(
            &NewDataset {
                name: "iris".into(),
                content_hash: steward_artifacts::sha256_hex(IRIS_CSV),
                schema: serde_json::json!({ "columns": header.split(',').collect::<Vec<_>>() }),
                row_count: Some(IRIS_CSV.iter().filter(|b| **b == b'\n').count() as i64 - 1),
            },
            &audit,
        )
        .await?;
    println!(
        "dataset iris/{} sha256 {}… ({} rows)",
        dataset.version,
        &dataset.content_hash[..16],
        dataset.row_count.unwrap_or_default()
    );

    step(
        3,
        "A run records params, metrics per step, and its input data",
    );
    let run = steward
        .store
        .create_run(
            &NewRun {
                experiment_id: experiment.id,
                name: None,
                params: [("C", "1.0"), ("solver", "lbfgs"), ("max_iter", "500")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                tags: [("demo".to_string(), "true".to_string())].into(),
            },
            &audit,
        )
        .await?;
    let now = steward_store::now_millis();
    let curve: Vec<Metric> = [0.62, 0.88, 0.95, 0.9667, 0.9733]
        .iter()
        .enumerate()
        .map(|(step, value)| Metric {
            key: "accuracy".into(),
            value: *value,
            step: step as i64,
            timestamp: now,
        })
        .collect();
    steward.store.log_metrics(&run.id, &curve).await?;
    let dataset_ref = DatasetRef {
        name: dataset.name.clone(),
        version: dataset.version,
    };
    steward
        .store
        .log_inputs(&run.id, std::slice::from_ref(&dataset_ref))
        .await?;
    let run = steward
        .store
        .set_run_status(&run.id, RunStatus::Finished, &audit)
        .await?;
    println!("{}", runs_table(std::slice::from_ref(&run)));

    step(
        4,
        "Register the trained model (ONNX) as immutable, numbered versions",
    );
    let work = std::env::temp_dir().join(format!("steward-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let model_file = work.join("iris_logreg.onnx");
    std::fs::write(&model_file, IRIS_MODEL)
        .with_context(|| format!("writing {}", model_file.display()))?;
    let mut registered = Vec::new();
    for (description, accuracy) in [("baseline", 0.9533), ("more iterations", 0.9733)] {
        let parent = registered
            .last()
            .map(|v: &steward_store::ModelVersion| v.version);
        let result = steward
            .register_version(&RegisterRequest {
                model: MODEL.into(),
                source: model_file.clone(),
                description: Some(description.into()),
                tags: [("framework".to_string(), "scikit-learn".to_string())].into(),
                metrics: [("accuracy".to_string(), accuracy)].into(),
                parent_version: parent,
                source_run: Some(run.id.clone()),
                dataset: Some(dataset_ref.clone()),
            })
            .await?;
        registered.push(result.version);
    }
    let _ = std::fs::remove_dir_all(&work);
    println!("{}", versions_table(&registered));
    println!("same bytes → same content hash: the artifact is stored once");

    step(
        5,
        "Aliases: `production` moves in one atomic write, and every move is kept",
    );
    let (first, second) = (registered[0].version, registered[1].version);
    steward
        .store
        .set_alias(MODEL, "production", first, &audit)
        .await?;
    steward
        .store
        .set_alias(
            MODEL,
            "production",
            second,
            &Audit::new(steward.actor.clone()).with_reason("higher accuracy on holdout"),
        )
        .await?;
    let history = steward
        .store
        .alias_history(MODEL, Some("production"))
        .await?;
    let recent = &history[history.len().saturating_sub(4)..];
    println!("{}", alias_history_table(recent));

    step(6, "Search versions by metric");
    let good = steward
        .store
        .list_model_versions(
            MODEL,
            &Filter::parse("metrics.accuracy > 0.96")?,
            &PageRequest::first(5),
        )
        .await?;
    println!(
        "versions of {MODEL} with accuracy > 0.96: {}",
        good.items
            .iter()
            .map(|v| v.version.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    step(
        7,
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
        println!("{}", event_line(event));
    }

    step(8, "Doctor: every artifact exists and matches its hash");
    let report = steward.doctor().await?;
    println!(
        "{} version(s) of {} model(s) checked, {} bytes verified, {} problem(s)",
        report.versions_checked,
        report.models,
        report.bytes_verified,
        report.problems.len()
    );

    if json {
        print_json(&serde_json::json!({
            "experiment": experiment,
            "run": run,
            "versions": registered,
            "doctor": report,
        }))?;
    }
    println!("\nNext, try:");
    println!("  steward models list");
    println!("  steward versions show {MODEL}@production");
    println!("  steward alias history {MODEL}");
    println!("  steward runs list --filter \"metrics.accuracy > 0.9\"");
    println!("  steward events --follow        (and register a version from another terminal)");
    Ok(())
}
