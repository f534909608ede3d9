//! `steward train` and `steward evaluate`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use steward_ml::estimator::Algorithm;
use steward_ml::metrics::{ClassificationMetrics, POSITIVE_CLASS_METRICS};
use steward_ml::train::{Evaluation, Task, TrainSpec};
use steward_service::model::{DEFAULT_EXPERIMENT, TrainRequest};
use steward_service::{Steward, VersionRef};

use crate::data_cmd::{RoleArgs, print_quality};
use crate::output::*;
use crate::parse_pair;

#[derive(Args)]
pub struct TrainArgs {
    /// The training data (CSV with a header row).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    roles: RoleArgs,
    /// decision_tree, random_forest, gradient_boosting, logistic_regression or linear_regression.
    #[arg(long = "algo", value_parser = parse_algorithm)]
    algorithm: Algorithm,
    /// Algorithm parameter key=value, repeatable (e.g. n_estimators=200, max_depth=8, C=0.5,
    /// imputation=median).
    #[arg(long = "param", value_parser = parse_pair)]
    params: Vec<(String, String)>,
    /// Binary classification: the class precision, recall and F1 are about (default: the second label in
    /// sorted order). Recorded with the model, so later evaluations use it too.
    #[arg(long = "positive-label")]
    positive_label: Option<String>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of rows held out for evaluation (stratified for classification).
    #[arg(long, default_value_t = 0.25)]
    test_size: f64,
    /// Also run K-fold cross-validation on the training part.
    #[arg(long = "cv")]
    cv_folds: Option<usize>,
    /// classification or regression (inferred from the target when absent).
    #[arg(long, value_parser = parse_task)]
    task: Option<Task>,
    #[arg(long, default_value = DEFAULT_EXPERIMENT)]
    experiment: String,
    #[arg(long)]
    run_name: Option<String>,
    /// Register the trained model as a new version of MODEL.
    #[arg(long)]
    register: Option<String>,
    /// Register the training data under this name (default: the file name without extension).
    #[arg(long)]
    dataset_name: Option<String>,
}

fn parse_algorithm(text: &str) -> Result<Algorithm, String> {
    Algorithm::parse(text).map_err(|e| e.to_string())
}

fn parse_task(text: &str) -> Result<Task, String> {
    Task::parse(text).map_err(|e| e.to_string())
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// MODEL/VERSION, MODEL@ALIAS or MODEL (latest version).
    model: String,
    /// CSV with the model's input columns and its target column.
    #[arg(long)]
    data: PathBuf,
    /// The target column (needed for imported ONNX models, which do not name theirs).
    #[arg(long)]
    target: Option<String>,
    /// Binary classification: the class precision, recall and F1 are about (default: the one the model was
    /// trained with, else the second label in sorted order).
    #[arg(long = "positive-label")]
    positive_label: Option<String>,
}

#[derive(Args)]
pub struct PredictArgs {
    /// MODEL/VERSION, MODEL@ALIAS or MODEL (latest version).
    model: String,
    /// CSV with the model's input columns (for a one-matrix ONNX model: exactly its features, in order).
    #[arg(long)]
    data: PathBuf,
    /// Write the predictions to this CSV file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Add one probability column per class (classifiers).
    #[arg(long)]
    proba: bool,
    /// Columns of the file the model does not take; repeatable.
    #[arg(long)]
    ignore: Vec<String>,
}

/// `steward predict`: CSV (a `prediction` column, plus `proba_<class>` with --proba) or, with --json, one document.
pub async fn predict(steward: &Steward, args: PredictArgs, json: bool) -> anyhow::Result<()> {
    let version = steward.resolve(&VersionRef::parse(&args.model)?).await?;
    let outcome = steward.predict(&version, &args.data, &args.ignore).await?;
    if json && args.output.is_none() {
        let mut document = serde_json::to_value(&outcome)?;
        if !args.proba
            && let Some(map) = document.as_object_mut()
        {
            map.remove("probabilities");
        }
        return print_json(&document);
    }
    let mut text = String::new();
    // One column per value when the model gives several per row (a network's outputs, multi-target).
    let per_row = if outcome.labels.is_none() && outcome.values_per_row > 1 {
        outcome.values_per_row
    } else {
        1
    };
    let mut header: Vec<String> = if per_row > 1 {
        (0..per_row).map(|j| format!("prediction_{j}")).collect()
    } else {
        vec!["prediction".to_string()]
    };
    if args.proba {
        header.extend(outcome.classes.iter().map(|c| format!("proba_{c}")));
    }
    text.push_str(&csv_line(&header));
    for row in 0..outcome.rows {
        let mut cells: Vec<String> = match (&outcome.labels, outcome.row_values(row)) {
            (Some(labels), _) => vec![labels[row].clone()],
            (None, Some(values)) => values.iter().map(|&v| number_cell(v)).collect(),
            (None, None) => vec![String::new()],
        };
        if args.proba
            && let Some(p) = &outcome.probabilities
        {
            cells.extend(p[row].iter().map(|&v| number_cell(v)));
        }
        text.push_str(&csv_line(&cells));
    }
    match &args.output {
        Some(path) => {
            // Written next to the target and renamed, so a reader never sees half a file.
            let temporary = path.with_extension("csv.partial");
            std::fs::write(&temporary, &text)
                .with_context(|| format!("writing {}", temporary.display()))?;
            std::fs::rename(&temporary, path)
                .with_context(|| format!("writing {}", path.display()))?;
            if json {
                return print_json(
                    &serde_json::json!({"model": outcome.model, "version": outcome.version, "rows": outcome.rows, "output": path}),
                );
            }
            eprintln!(
                "{}/{}: {} prediction(s) written to {}",
                outcome.model,
                outcome.version,
                outcome.rows,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// A value as CSV text. ONNX models compute in float32; such a value, widened to f64, is printed as the shortest
/// float32 text that reads back to it ("0.1", not "0.10000000149011612"), which loses nothing.
fn number_cell(value: f64) -> String {
    let narrow = value as f32;
    if f64::from(narrow) == value {
        narrow.to_string()
    } else {
        value.to_string()
    }
}

/// One CSV line, quoting cells that need it.
fn csv_line(cells: &[String]) -> String {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}

fn progress_bar(
    json: bool,
    algorithm: Algorithm,
) -> (ProgressBar, steward_service::model::Progress) {
    if json {
        return (ProgressBar::hidden(), Arc::new(|_, _| {}));
    }
    let bar = ProgressBar::new(0);
    // A spinner while the data is read and checked; the bar once the learner reports its first step.
    bar.set_style(
        ProgressStyle::with_template("{spinner} reading and checking the data [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    // What the count counts: the learners report trees built or boosting rounds done.
    let unit = match algorithm {
        Algorithm::RandomForest => "trees",
        Algorithm::GradientBoosting => "rounds",
        _ => "steps",
    };
    let style = ProgressStyle::with_template(&format!(
        "{{spinner}} training {algorithm} {{bar:40}} {{pos}}/{{len}} {unit} [{{elapsed}}]"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let shared = bar.clone();
    let progress: steward_service::model::Progress = Arc::new(move |done, total| {
        if shared.length() != Some(total as u64) {
            shared.set_style(style.clone());
            shared.set_length(total as u64);
        }
        shared.set_position(done as u64);
    });
    (bar, progress)
}

pub async fn train(steward: &Steward, args: TrainArgs, json: bool) -> anyhow::Result<()> {
    let mut params = args.params;
    if let Some(label) = args.positive_label {
        params.push(("positive_class".to_string(), label));
    }
    let request = TrainRequest {
        data: args.data,
        roles: args.roles.overrides(),
        spec: TrainSpec {
            algorithm: args.algorithm,
            params,
            seed: args.seed,
            test_size: args.test_size,
            cv_folds: args.cv_folds,
            task: args.task,
        },
        experiment: args.experiment,
        run_name: args.run_name,
        register: args.register,
        dataset_name: args.dataset_name,
    };
    let (bar, progress) = progress_bar(json, request.spec.algorithm);
    let outcome = steward.train(&request, progress).await;
    bar.finish_and_clear();
    let outcome = outcome?;
    if json {
        return print_json(&outcome);
    }
    let s = &outcome.summary;
    println!(
        "trained {} ({}) on {}/{}: {} training rows, {} holdout rows, fit in {:.2}s",
        s.algorithm,
        s.task,
        outcome.dataset.name,
        outcome.dataset.version,
        s.rows_train,
        s.rows_test,
        outcome.fit_seconds
    );
    print_quality(&s.quality);
    if let Some(holdout) = &s.holdout {
        println!("holdout metrics:");
        print_evaluation(holdout);
    }
    if let Some(cv) = &s.cross_validation {
        println!(
            "{}-fold cross-validation {}: {} ± {}",
            cv.folds,
            cv.metric,
            format_number(cv.mean),
            format_number(cv.std)
        );
    }
    let mut importance = s.feature_importance.clone();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    if !importance.is_empty() {
        let shown: Vec<String> = importance
            .iter()
            .take(5)
            .map(|(name, value)| format!("{name} {}", format_number(*value)))
            .collect();
        println!(
            "top features (impurity / coefficients): {}",
            shown.join(", ")
        );
    }
    let mut permutation = s.permutation_importance.clone();
    permutation.sort_by(|a, b| b.mean.total_cmp(&a.mean));
    if !permutation.is_empty() {
        let shown: Vec<String> = permutation
            .iter()
            .take(5)
            .map(|p| {
                format!(
                    "{} {} ± {}",
                    p.feature,
                    format_number(p.mean),
                    format_number(p.std)
                )
            })
            .collect();
        println!(
            "top features (permutation, holdout score drop): {}",
            shown.join(", ")
        );
    }
    println!(
        "run {} (experiment '{}')",
        outcome.run.id, request.experiment
    );
    println!(
        "model package sha256 {} (ONNX: {})",
        outcome.package.manifest_hash, s.onnx
    );
    if let Some(version) = &outcome.version {
        println!("registered {}/{}", version.model, version.version);
    }
    Ok(())
}

pub async fn evaluate(steward: &Steward, args: EvaluateArgs, json: bool) -> anyhow::Result<()> {
    let version = steward.resolve(&VersionRef::parse(&args.model)?).await?;
    let evaluation = steward
        .evaluate(
            &version,
            &args.data,
            args.target.as_deref(),
            args.positive_label.as_deref(),
        )
        .await?;
    if json {
        return print_json(&serde_json::json!({
            "model": version.model,
            "version": version.version,
            "data": args.data,
            "evaluation": evaluation,
        }));
    }
    println!(
        "{}/{} on {}:",
        version.model,
        version.version,
        args.data.display()
    );
    print_evaluation(&evaluation);
    if let Evaluation::Classification(metrics) = &evaluation {
        print_classification_details(metrics);
    }
    Ok(())
}

fn print_evaluation(evaluation: &Evaluation) {
    let positive = match evaluation {
        Evaluation::Classification(metrics) => metrics.positive_class.as_deref(),
        Evaluation::Regression(_) => None,
    };
    let mut t = table(&["metric", "value"]);
    for (name, value) in evaluation.headline() {
        // Binary scores name the class they are about; the recorded metric keeps the plain name.
        let shown = match positive {
            Some(class) if POSITIVE_CLASS_METRICS.contains(&name.as_str()) => {
                format!("{name} ({class})")
            }
            _ => name,
        };
        t.add_row(vec![shown, format_number(value)]);
    }
    println!("{t}");
}

fn print_classification_details(metrics: &ClassificationMetrics) {
    println!("\n{}", metrics.report_text);
    let labels = &metrics.class_names;
    let mut header = vec!["true \\ predicted".to_string()];
    header.extend(labels.iter().cloned());
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(header);
    for (label, row) in labels.iter().zip(metrics.confusion_matrix.rows()) {
        let mut cells = vec![label.clone()];
        cells.extend(row.iter().map(ToString::to_string));
        t.add_row(cells);
    }
    println!("{t}");
}

#[cfg(test)]
mod tests {
    use super::number_cell;

    #[test]
    fn float32_values_print_short_and_read_back_exactly() {
        let widened = f64::from(0.1f32);
        assert_eq!(number_cell(widened), "0.1");
        assert_eq!(
            f64::from(number_cell(widened).parse::<f32>().unwrap()),
            widened
        );
        assert_eq!(number_cell(-1.490_116_1e-8f32 as f64), "-0.000000014901161");
        // A value float32 cannot hold keeps every digit f64 needs.
        assert_eq!(number_cell(0.1), "0.1");
        assert_eq!(number_cell(1.0 / 3.0), (1.0f64 / 3.0).to_string());
        assert_eq!(number_cell(2.0), "2");
    }
}
