//! Every kind of model Steward trains exports to ONNX that predicts what the native model predicts: checked with
//! Steward's runtime here, and with the `onnxruntime` Python package (`scripts/check_onnx_export.py`) when it is
//! installed; CI sets `STEWARD_REQUIRE_ONNXRUNTIME=1`, which turns its absence into a failure.

use std::path::Path;

use steward_ml::dataset::{Dataset, RoleOverrides};
use steward_ml::estimator::Algorithm;
use steward_ml::train::{TrainSpec, TrainedModel, train};
use steward_runtime::Model;
use steward_runtime::tensor::{Data, Tensor};
use steward_service::export::export_onnx;

fn dataset(name: &str, target: &str) -> Dataset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/data")
        .join(name);
    Dataset::read_csv(
        &path,
        &RoleOverrides {
            target: Some(target.into()),
            ..Default::default()
        },
    )
    .unwrap()
}

/// The feature columns as the exported graph takes them: the model's input columns, in order, as f32.
fn features(model: &TrainedModel, data: &Dataset) -> Vec<f32> {
    let columns: Vec<&[f64]> = model
        .preprocessor
        .input_columns()
        .iter()
        .map(|name| match &data.column(name).unwrap().data {
            steward_ml::dataset::ColumnData::Numeric(v) => v.as_slice(),
            _ => panic!("numeric features only"),
        })
        .collect();
    (0..data.n_rows)
        .flat_map(|r| columns.iter().map(move |c| c[r] as f32))
        .collect()
}

struct Case {
    name: String,
    onnx: Vec<u8>,
    /// The matrix input of an all-numeric model (empty otherwise).
    x: Vec<f32>,
    /// One input per column, for models with categorical columns.
    columns: Vec<(String, Data)>,
    rows: usize,
    labels: Option<Vec<String>>,
    probabilities: Option<Vec<f64>>,
    values: Option<Vec<f64>>,
}

fn cases() -> Vec<Case> {
    let sets = [
        ("iris.csv", "species", "iris"),
        ("breast_cancer.csv", "diagnosis", "cancer"),
        ("wine.csv", "cultivar", "wine"),
        ("diabetes.csv", "progression", "diabetes"),
    ];
    let mut cases = Vec::new();
    for (file, target, short) in sets {
        let data = dataset(file, target);
        for algorithm in Algorithm::ALL {
            let regression = short == "diabetes";
            if (regression && algorithm == Algorithm::LogisticRegression)
                || (!regression && algorithm == Algorithm::LinearRegression)
            {
                continue;
            }
            let params = match algorithm {
                Algorithm::RandomForest => vec![("n_estimators".to_string(), "20".to_string())],
                Algorithm::GradientBoosting => vec![("n_estimators".to_string(), "20".to_string())],
                _ => vec![],
            };
            let spec = TrainSpec {
                algorithm,
                params,
                seed: 3,
                test_size: 0.25,
                cv_folds: None,
                task: None,
            };
            let model = train(&data, &spec, &|_, _| {}).unwrap().model;
            let onnx = export_onnx(&model).unwrap_or_else(|e| panic!("{short} {algorithm}: {e:?}"));
            let native = model.predict(&data).unwrap();
            cases.push(Case {
                name: format!("{short}_{algorithm}"),
                onnx,
                x: features(&model, &data),
                columns: Vec::new(),
                rows: data.n_rows,
                labels: native.labels,
                probabilities: native.probabilities.map(|p| p.as_slice().to_vec()),
                values: native.values,
            });
        }
    }
    cases
}

/// Probabilities within 1e-5; values within 1e-5 relative; labels may differ only where the native model's
/// probability margin is within float32 rounding.
fn check(
    case: &Case,
    labels: Option<&[String]>,
    probabilities: Option<&[f32]>,
    values: Option<&[f32]>,
    runner: &str,
) {
    if let (Some(expected), Some(ours)) = (&case.probabilities, probabilities) {
        assert_eq!(
            expected.len(),
            ours.len(),
            "{}: {runner} probabilities",
            case.name
        );
        for (i, (&e, &o)) in expected.iter().zip(ours).enumerate() {
            assert!(
                (e - f64::from(o)).abs() <= 1e-5,
                "{}: {runner} probability {i}: {o} vs {e}",
                case.name
            );
        }
    }
    if let (Some(expected), Some(ours)) = (&case.labels, labels) {
        let k = case
            .probabilities
            .as_ref()
            .map_or(0, |p| p.len() / case.rows);
        for (row, (e, o)) in expected.iter().zip(ours).enumerate() {
            if e == o {
                continue;
            }
            // A tie in float64 (e.g. 10 of 20 trees each way) can tip either way in float32; anything else is
            // a real difference.
            let p = &case
                .probabilities
                .as_ref()
                .expect("classifier probabilities")[row * k..(row + 1) * k];
            let mut sorted = p.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            assert!(
                sorted[0] - sorted[1] <= 1e-6,
                "{}: {runner} row {row} predicts {o}, native {e} (probabilities {p:?})",
                case.name
            );
        }
    }
    if let (Some(expected), Some(ours)) = (&case.values, values) {
        for (i, (&e, &o)) in expected.iter().zip(ours).enumerate() {
            assert!(
                (e - f64::from(o)).abs() <= 1e-5 * e.abs().max(1.0),
                "{}: {runner} value {i}: {o} vs {e}",
                case.name
            );
        }
    }
}

#[test]
fn exported_models_predict_what_the_native_ones_do() {
    let mut cases = cases();
    assert_eq!(cases.len(), 4 * 4);
    cases.extend(mixed_cases());
    for case in &cases {
        let model = Model::load(&case.onnx).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let prediction = if case.columns.is_empty() {
            model.predict(&case.x, case.rows).unwrap()
        } else {
            let tensors = case
                .columns
                .iter()
                .map(|(_, data)| Tensor {
                    shape: vec![case.rows, 1],
                    data: data.clone(),
                })
                .collect();
            model
                .predict_tensors(tensors, case.rows)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name))
        };
        let labels = prediction.labels.clone().map(|l| l.into_strings());
        check(
            case,
            labels.as_deref(),
            prediction.probabilities.as_deref(),
            prediction.values.as_deref(),
            "steward-runtime",
        );
    }

    // The same files through onnxruntime.
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Vec::new();
    for case in &cases {
        std::fs::write(dir.path().join(format!("{}.onnx", case.name)), &case.onnx).unwrap();
        let bytes: Vec<u8> = case.x.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.path().join(format!("{}.x.f32", case.name)), bytes).unwrap();
        let columns: serde_json::Map<String, serde_json::Value> = case
            .columns
            .iter()
            .map(|(name, data)| {
                let values = match data {
                    Data::F32(v) => serde_json::json!(
                        v.iter()
                            .map(|x| if x.is_nan() { None } else { Some(*x) })
                            .collect::<Vec<_>>()
                    ),
                    Data::Str(v) => serde_json::json!(v),
                    _ => unreachable!("columns are numbers or strings"),
                };
                (name.clone(), values)
            })
            .collect();
        manifest.push(serde_json::json!({
            "name": case.name,
            "rows": case.rows,
            "width": if case.x.is_empty() { 0 } else { case.x.len() / case.rows },
            "columns": if columns.is_empty() { None } else { Some(columns) },
            "labels": case.labels,
            "probabilities": case.probabilities,
            "values": case.values,
        }));
    }
    std::fs::write(
        dir.path().join("cases.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check_onnx_export.py");
    let has_onnxruntime = std::process::Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_onnxruntime {
        assert!(
            std::env::var("STEWARD_REQUIRE_ONNXRUNTIME").is_err(),
            "STEWARD_REQUIRE_ONNXRUNTIME is set but python3 cannot import onnxruntime"
        );
        eprintln!("SKIPPED the onnxruntime half: pip install onnxruntime numpy");
        return;
    }
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "onnxruntime check failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
}

/// Iris plus a string column (with missing values and, at prediction, unknown categories) and missing numbers;
/// and diabetes with `sex` as text: one input per column.
fn mixed_cases() -> Vec<Case> {
    let iris = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/data/iris.csv"),
    )
    .unwrap();
    let mut csv = String::from(
        "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm,colour,species\n",
    );
    for (i, line) in iris.lines().skip(1).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let colour = match (cells[4], i % 7) {
            (_, 3) => "",
            ("setosa", _) => "blue",
            (_, k) if k % 2 == 0 => "red",
            _ => "green",
        };
        let width = if i % 11 == 5 { "" } else { cells[3] };
        csv.push_str(&format!(
            "{},{},{},{width},{colour},{}\n",
            cells[0], cells[1], cells[2], cells[4]
        ));
    }
    let roles = RoleOverrides {
        target: Some("species".into()),
        ..Default::default()
    };
    let train_data = Dataset::from_csv_bytes(csv.as_bytes(), &roles).unwrap();
    // Predict on the same rows with a few colours the model never saw.
    let unseen = csv.replacen(",green,", ",purple,", 5);
    let predict_data = Dataset::from_csv_bytes(unseen.as_bytes(), &roles).unwrap();

    let diabetes = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/data/diabetes.csv"),
    )
    .unwrap();
    let mut text = String::new();
    for (i, line) in diabetes.lines().enumerate() {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        if i > 0 {
            cells[1] = if cells[1] == "1.0" {
                "f".into()
            } else {
                "m".into()
            };
        }
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    let regression = Dataset::from_csv_bytes(
        text.as_bytes(),
        &RoleOverrides {
            target: Some("progression".into()),
            ..Default::default()
        },
    )
    .unwrap();

    let mut cases = Vec::new();
    let runs: Vec<(&str, &Dataset, &Dataset, Vec<Algorithm>)> = vec![
        (
            "mixed_iris",
            &train_data,
            &predict_data,
            vec![
                Algorithm::DecisionTree,
                Algorithm::RandomForest,
                Algorithm::GradientBoosting,
                Algorithm::LogisticRegression,
            ],
        ),
        (
            "mixed_diabetes",
            &regression,
            &regression,
            vec![
                Algorithm::RandomForest,
                Algorithm::GradientBoosting,
                Algorithm::LinearRegression,
            ],
        ),
    ];
    for (short, train_on, predict_on, algorithms) in runs {
        for algorithm in algorithms {
            let spec = TrainSpec {
                algorithm,
                params: if matches!(
                    algorithm,
                    Algorithm::RandomForest | Algorithm::GradientBoosting
                ) {
                    vec![("n_estimators".to_string(), "15".to_string())]
                } else {
                    vec![]
                },
                seed: 2,
                test_size: 0.25,
                cv_folds: None,
                task: None,
            };
            let model = train(train_on, &spec, &|_, _| {}).unwrap().model;
            let onnx = export_onnx(&model).unwrap_or_else(|e| panic!("{short} {algorithm}: {e:?}"));
            let native = model.predict(predict_on).unwrap();
            let columns = model
                .preprocessor
                .input_columns()
                .iter()
                .map(|name| {
                    let data = match &predict_on.column(name).unwrap().data {
                        steward_ml::dataset::ColumnData::Numeric(v) => {
                            Data::F32(v.iter().map(|&x| x as f32).collect())
                        }
                        steward_ml::dataset::ColumnData::Text(v) => {
                            Data::Str(v.iter().map(|x| x.clone().unwrap_or_default()).collect())
                        }
                    };
                    (name.to_string(), data)
                })
                .collect();
            cases.push(Case {
                name: format!("{short}_{algorithm}"),
                onnx,
                x: Vec::new(),
                columns,
                rows: predict_on.n_rows,
                labels: native.labels,
                probabilities: native.probabilities.map(|p| p.as_slice().to_vec()),
                values: native.values,
            });
        }
    }
    cases
}
