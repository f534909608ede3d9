//! Benchmark of the tree learners on a seeded synthetic make_classification-like dataset (informative features
//! from Gaussian clusters around hypercube vertices, redundant linear combinations, noise features, label
//! noise), 75/25 split: times a random forest and gradient boosting (100 trees / rounds each) and prints the
//! holdout accuracy, plus a 100-tree forest on iris.
//!
//! ```text
//! cargo run --release -p steward-ml --example tree_bench -- [--rows N] [--write-csv PATH] [--only rf|gbt]
//! python3 fixtures/tree/bench_sklearn.py PATH   # scikit-learn on exactly the same rows and split
//! ```

use std::time::Instant;

use steward_ml::matrix::Matrix;
use steward_ml::rng::Rng;
use steward_ml::tree::{
    GradientBoostingClassifier, GradientBoostingParams, RandomForestClassifier, RandomForestParams,
    TreeClassifier, no_progress,
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

fn accuracy(predicted: &[usize], truth: &[usize]) -> f64 {
    predicted.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
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
    y: &[usize],
    is_test: &[bool],
) -> Result<(), Box<dyn std::error::Error>> {
    let mut writer = csv::Writer::from_path(path)?;
    let mut header: Vec<String> = (0..x.n_cols()).map(|j| format!("f{j}")).collect();
    header.push("label".into());
    header.push("split".into());
    writer.write_record(&header)?;
    for (i, row) in x.rows().enumerate() {
        let mut record: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        record.push(y[i].to_string());
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
        "iris RandomForest(100): best of 5 fits {:.1} ms",
        best * 1e3
    );
    Ok(())
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

    let start = Instant::now();
    let (x, y) = make_classification(n_rows, 42);
    let mut order: Vec<usize> = (0..n_rows).collect();
    Rng::new(7).shuffle(&mut order);
    let n_test = n_rows / 4;
    let mut is_test = vec![false; n_rows];
    for &i in &order[..n_test] {
        is_test[i] = true;
    }
    let train: Vec<usize> = (0..n_rows).filter(|&i| !is_test[i]).collect();
    let test: Vec<usize> = (0..n_rows).filter(|&i| is_test[i]).collect();
    let (x_train, x_test) = (x.select_rows(&train), x.select_rows(&test));
    let y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
    let y_test: Vec<usize> = test.iter().map(|&i| y[i]).collect();
    println!(
        "data: {n_rows} x {N_FEATURES}, {} train / {} test, generated in {:.2} s",
        train.len(),
        test.len(),
        start.elapsed().as_secs_f64()
    );
    if let Some(path) = option("--write-csv") {
        write_csv(&path, &x, &y, &is_test)?;
        println!("wrote {path}");
    }
    drop(x);

    if only.as_deref().is_none_or(|o| o == "rf") {
        let start = Instant::now();
        let forest = RandomForestClassifier::fit(
            &x_train,
            &y_train,
            2,
            None,
            &RandomForestParams::default(),
            0,
            &no_progress,
        )?;
        let fit = start.elapsed().as_secs_f64();
        let predicted = forest.predict(&x_test)?;
        let nodes: usize = forest.trees().iter().map(|t| t.n_nodes()).sum();
        println!(
            "RandomForest(100 trees): fit {fit:.2} s, predict {:.2} s, accuracy {:.4}, {} nodes/tree",
            start.elapsed().as_secs_f64() - fit,
            accuracy(&predicted, &y_test),
            nodes / forest.trees().len()
        );
    }
    if only.as_deref().is_none_or(|o| o == "gbt") {
        let start = Instant::now();
        let params = GradientBoostingParams {
            early_stopping: steward_ml::tree::EarlyStopping::Off,
            ..GradientBoostingParams::default()
        };
        let boosting =
            GradientBoostingClassifier::fit(&x_train, &y_train, 2, None, &params, 0, &no_progress)?;
        let fit = start.elapsed().as_secs_f64();
        let predicted = boosting.predict(&x_test)?;
        println!(
            "GradientBoosting(100 rounds, 31 leaves): fit {fit:.2} s, predict {:.2} s, accuracy {:.4}",
            start.elapsed().as_secs_f64() - fit,
            accuracy(&predicted, &y_test),
        );
    }
    if only.is_none() {
        iris_benchmark()?;
    }
    if let Some(mb) = peak_memory_mb() {
        println!("peak memory: {mb:.0} MB");
    }
    Ok(())
}
