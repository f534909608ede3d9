//! Training benchmark on seeded synthetic data sets made by Steward itself: a make_classification-like set
//! (informative features from Gaussian clusters around hypercube vertices, redundant linear combinations, noise
//! features, label noise) and a make_regression-like one (a linear target over informative features plus
//! noise), each 75/25 split. Times random forest, gradient boosting and the linear models, and prints one JSON
//! line per model (fit seconds, holdout score; for forests also the holdout's prediction time) plus iris random
//! forest and peak memory.
//!
//! ```text
//! cargo run --release -p steward-ml --example train_bench -- [--rows N] [--write-csv DIR] [--only NAME,...]
//!     [--repeat N]   (boosting: the best of N fits)
//! scripts/bench_training.sh      # this, then scikit-learn on exactly the same rows and split, one table
//! ```

use std::time::Instant;

use steward_ml::linear::{LinearRegression, LogisticParams, LogisticRegression};
use steward_ml::matrix::Matrix;
use steward_ml::metrics::{accuracy, r2_score};
use steward_ml::rng::Rng;
use steward_ml::tree::{
    EarlyStopping, GradientBoostingClassifier, GradientBoostingParams, GradientBoostingRegressor,
    RandomForestClassifier, RandomForestParams, RandomForestRegressor, TreeClassifier,
    TreeRegressor, no_progress,
};

const N_FEATURES: usize = 20;
const N_INFORMATIVE: usize = 8;
const N_REDUNDANT: usize = 4;
const CLUSTERS_PER_CLASS: usize = 2;
const LABEL_NOISE: f64 = 0.01;
const CLASS_SEPARATION: f64 = 1.0;

/// scikit-learn's make_classification, re-implemented on Steward's RNG: each class owns
/// `CLUSTERS_PER_CLASS` clusters centred on distinct vertices of a hypercube of side `2 * CLASS_SEPARATION`,
/// each cluster a Gaussian under a random linear map; redundant features are random linear combinations of the
/// informative ones, the rest is noise, and `LABEL_NOISE` of the labels are redrawn at random.
fn make_classification(n_rows: usize, seed: u64) -> (Matrix, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let n_clusters = 2 * CLUSTERS_PER_CLASS;
    let mut vertices: Vec<u64> = Vec::new();
    while vertices.len() < n_clusters {
        let vertex = rng.next_u64() & ((1 << N_INFORMATIVE) - 1);
        if !vertices.contains(&vertex) {
            vertices.push(vertex);
        }
    }
    let mut uniform_matrix = |rows: usize, cols: usize| -> Vec<f64> {
        (0..rows * cols)
            .map(|_| rng.next_f64() * 2.0 - 1.0)
            .collect()
    };
    let cluster_maps: Vec<Vec<f64>> = (0..n_clusters)
        .map(|_| uniform_matrix(N_INFORMATIVE, N_INFORMATIVE))
        .collect();
    let redundant_map = uniform_matrix(N_INFORMATIVE, N_REDUNDANT);
    let mut data = Vec::with_capacity(n_rows * N_FEATURES);
    let mut labels = Vec::with_capacity(n_rows);
    let mut z = [0.0; N_INFORMATIVE];
    for i in 0..n_rows {
        let cluster = i % n_clusters;
        let mut label = cluster % 2;
        for value in z.iter_mut() {
            *value = rng.normal();
        }
        let map = &cluster_maps[cluster];
        let mut informative = [0.0; N_INFORMATIVE];
        for (j, value) in informative.iter_mut().enumerate() {
            let centre = if vertices[cluster] >> j & 1 == 1 {
                CLASS_SEPARATION
            } else {
                -CLASS_SEPARATION
            };
            *value = centre
                + (0..N_INFORMATIVE)
                    .map(|k| z[k] * map[k * N_INFORMATIVE + j])
                    .sum::<f64>();
        }
        data.extend_from_slice(&informative);
        for r in 0..N_REDUNDANT {
            data.push(
                (0..N_INFORMATIVE)
                    .map(|k| informative[k] * redundant_map[k * N_REDUNDANT + r])
                    .sum(),
            );
        }
        for _ in N_INFORMATIVE + N_REDUNDANT..N_FEATURES {
            data.push(rng.normal());
        }
        if rng.next_f64() < LABEL_NOISE {
            label = rng.below(2);
        }
        labels.push(label);
    }
    (Matrix::new(n_rows, N_FEATURES, data), labels)
}

const REGRESSION_INFORMATIVE: usize = 10;
const REGRESSION_NOISE: f64 = 10.0;

/// scikit-learn's make_regression on Steward's RNG: standard normal features, a target that is a linear
/// combination of the first `REGRESSION_INFORMATIVE` (coefficients uniform in [0, 100)) plus Gaussian noise,
/// and a mild non-linearity (a product of two informative features) so that trees and linear models differ.
fn make_regression(n_rows: usize, seed: u64) -> (Matrix, Vec<f64>) {
    let mut rng = Rng::new(seed);
    let coefficients: Vec<f64> = (0..REGRESSION_INFORMATIVE)
        .map(|_| rng.next_f64() * 100.0)
        .collect();
    let mut data = Vec::with_capacity(n_rows * N_FEATURES);
    let mut targets = Vec::with_capacity(n_rows);
    for _ in 0..n_rows {
        let row: Vec<f64> = (0..N_FEATURES).map(|_| rng.normal()).collect();
        let linear: f64 = row.iter().zip(&coefficients).map(|(x, c)| x * c).sum();
        targets.push(linear + 20.0 * row[0] * row[1] + REGRESSION_NOISE * rng.normal());
        data.extend(row);
    }
    (Matrix::new(n_rows, N_FEATURES, data), targets)
}

/// Peak resident memory of this process, from /proc (Linux); `None` elsewhere.
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn write_csv(
    path: &str,
    x: &Matrix,
    y: &[String],
    is_test: &[bool],
) -> Result<(), Box<dyn std::error::Error>> {
    let mut writer = csv::Writer::from_path(path)?;
    let mut header: Vec<String> = (0..x.n_cols()).map(|j| format!("f{j}")).collect();
    header.push("label".into());
    header.push("split".into());
    writer.write_record(&header)?;
    for (i, row) in x.rows().enumerate() {
        let mut record: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        record.push(y[i].clone());
        record.push(if is_test[i] { "test" } else { "train" }.into());
        writer.write_record(&record)?;
    }
    writer.flush()?;
    Ok(())
}

fn iris_benchmark() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/data/iris.csv");
    let mut reader = csv::Reader::from_path(path)?;
    let mut rows = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut labels = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(
            (0..4)
                .map(|j| record[j].parse::<f64>())
                .collect::<Result<Vec<_>, _>>()?,
        );
        let name = record[4].to_string();
        let index = names.iter().position(|n| *n == name).unwrap_or_else(|| {
            names.push(name);
            names.len() - 1
        });
        labels.push(index);
    }
    let x = Matrix::from_rows(&rows);
    let params = RandomForestParams::default();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        let forest =
            RandomForestClassifier::fit(&x, &labels, names.len(), None, &params, 0, &no_progress)?;
        best = best.min(start.elapsed().as_secs_f64());
        std::hint::black_box(forest);
    }
    println!(
        "{}",
        serde_json::json!({"runner": "steward", "model": "random_forest", "task": "iris", "fit_seconds": best})
    );
    Ok(())
}

/// The first 3/4 of a seeded shuffle train, the rest test.
fn split(n_rows: usize) -> (Vec<usize>, Vec<usize>, Vec<bool>) {
    let mut order: Vec<usize> = (0..n_rows).collect();
    Rng::new(7).shuffle(&mut order);
    let mut is_test = vec![false; n_rows];
    for &i in &order[..n_rows / 4] {
        is_test[i] = true;
    }
    let train = (0..n_rows).filter(|&i| !is_test[i]).collect();
    let test = (0..n_rows).filter(|&i| is_test[i]).collect();
    (train, test, is_test)
}

fn pick<T: Clone>(values: &[T], rows: &[usize]) -> Vec<T> {
    rows.iter().map(|&r| values[r].clone()).collect()
}

/// Fits `repeat` times (at least once); the last model and the shortest fit time. Boosting fits take well under
/// a second, so on a noisy machine the best of several says more than one.
fn best_of<T, E>(repeat: usize, mut fit: impl FnMut() -> Result<T, E>) -> Result<(T, f64), E> {
    let mut best = f64::INFINITY;
    let mut model = None;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        model = Some(fit()?);
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok((model.expect("fitted at least once"), best))
}

fn report(model: &str, task: &str, fit: f64, metric: &str, score: f64) {
    println!(
        "{}",
        serde_json::json!({"runner": "steward", "model": model, "task": task, "fit_seconds": fit, metric: score})
    );
}

/// A forest's line also gives the time to predict the holdout (best of 3): the evaluation a training runs.
fn report_forest(task: &str, fit: f64, predict: f64, metric: &str, score: f64) {
    println!(
        "{}",
        serde_json::json!({"runner": "steward", "model": "random_forest", "task": task, "fit_seconds": fit,
                           "holdout_predict_seconds": predict, metric: score})
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n_rows: usize = option("--rows").map_or(Ok(100_000), |v| v.parse())?;
    let only = option("--only");
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|w| w == name))
    };
    let csv_dir = option("--write-csv");
    let repeat: usize = option("--repeat").map_or(Ok(1), |v| v.parse())?;

    let (x, y) = make_classification(n_rows, 42);
    let (train, test, is_test) = split(n_rows);
    if let Some(dir) = &csv_dir {
        let labels: Vec<String> = y.iter().map(ToString::to_string).collect();
        write_csv(&format!("{dir}/classification.csv"), &x, &labels, &is_test)?;
    }
    let (x_train, x_test) = (x.select_rows(&train), x.select_rows(&test));
    let (y_train, y_test) = (pick(&y, &train), pick(&y, &test));
    drop(x);
    let task = "classification";
    if wanted("random_forest") {
        let start = Instant::now();
        let model = RandomForestClassifier::fit(
            &x_train,
            &y_train,
            2,
            None,
            &RandomForestParams::default(),
            0,
            &no_progress,
        )?;
        let fit = start.elapsed().as_secs_f64();
        let (predicted, predict) = best_of(3, || model.predict(&x_test))?;
        report_forest(
            task,
            fit,
            predict,
            "accuracy",
            accuracy(&y_test, &predicted)?,
        );
    }
    if wanted("gradient_boosting") {
        let params = GradientBoostingParams {
            early_stopping: EarlyStopping::Off,
            ..GradientBoostingParams::default()
        };
        let (model, fit) = best_of(repeat, || {
            GradientBoostingClassifier::fit(&x_train, &y_train, 2, None, &params, 0, &no_progress)
        })?;
        report(
            "gradient_boosting",
            task,
            fit,
            "accuracy",
            accuracy(&y_test, &model.predict(&x_test)?)?,
        );
    }
    if wanted("logistic_regression") {
        let start = Instant::now();
        let model =
            LogisticRegression::fit(&x_train, &y_train, 2, None, &LogisticParams::default())?;
        let fit = start.elapsed().as_secs_f64();
        report(
            "logistic_regression",
            task,
            fit,
            "accuracy",
            accuracy(&y_test, &model.predict(&x_test)?)?,
        );
    }
    drop((x_train, x_test));

    let (x, y) = make_regression(n_rows, 43);
    if let Some(dir) = &csv_dir {
        let targets: Vec<String> = y.iter().map(|v| format!("{v:?}")).collect();
        write_csv(&format!("{dir}/regression.csv"), &x, &targets, &is_test)?;
    }
    let (x_train, x_test) = (x.select_rows(&train), x.select_rows(&test));
    let (y_train, y_test) = (pick(&y, &train), pick(&y, &test));
    drop(x);
    let task = "regression";
    if wanted("random_forest") {
        let start = Instant::now();
        let model = RandomForestRegressor::fit(
            &x_train,
            &y_train,
            None,
            &RandomForestParams::default(),
            0,
            &no_progress,
        )?;
        let fit = start.elapsed().as_secs_f64();
        let (predicted, predict) = best_of(3, || model.predict(&x_test))?;
        report_forest(task, fit, predict, "r2", r2_score(&y_test, &predicted)?);
    }
    if wanted("gradient_boosting") {
        let params = GradientBoostingParams {
            early_stopping: EarlyStopping::Off,
            ..GradientBoostingParams::default()
        };
        let (model, fit) = best_of(repeat, || {
            GradientBoostingRegressor::fit(&x_train, &y_train, None, &params, 0, &no_progress)
        })?;
        report(
            "gradient_boosting",
            task,
            fit,
            "r2",
            r2_score(&y_test, &model.predict(&x_test)?)?,
        );
    }
    if wanted("linear_regression") {
        let start = Instant::now();
        let model = LinearRegression::fit(&x_train, &y_train, None, 0.0)?;
        let fit = start.elapsed().as_secs_f64();
        report(
            "linear_regression",
            task,
            fit,
            "r2",
            r2_score(&y_test, &model.predict(&x_test)?)?,
        );
    }
    if wanted("iris") {
        iris_benchmark()?;
    }
    if let Some(mb) = peak_memory_mb() {
        println!(
            "{}",
            serde_json::json!({"runner": "steward", "peak_memory_mb": mb})
        );
    }
    Ok(())
}
