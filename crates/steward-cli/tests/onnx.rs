//! ONNX models from elsewhere through the real binary: registration checks the graph and takes the signature
//! from it, `steward predict` runs it (and models trained by Steward), and files that cannot run are refused
//! with nothing registered.

mod common;

use common::server::fixture;
use common::*;

#[test]
fn register_an_onnx_file_and_predict_as_scikit_learn_does() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let model = fixture("onnx/iris_random_forest_op13_zipmap.onnx");
    let registered = json(
        home,
        None,
        &["versions", "register", "iris", "--onnx", &model],
    );
    let signature = &registered["version"]["signature"];
    assert_eq!(
        signature["classes"],
        serde_json::json!(["setosa", "versicolor", "virginica"])
    );
    assert_eq!(signature["inputs"][0]["name"], "X");
    assert_eq!(signature["n_features"], 4);
    assert_eq!(signature["task"], "classification");

    // The fixture's rows and scikit-learn's answers for this very model.
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("onnx/cases.json")).unwrap())
            .unwrap();
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "iris_random_forest_op13_zipmap")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,c,d\n");
    for row in case["x"].as_array().unwrap() {
        let cells: Vec<String> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    let data = dir.path().join("rows.csv");
    std::fs::write(&data, csv).unwrap();
    let data = data.to_str().unwrap();
    let predicted = json(home, None, &["predict", "iris", "--data", data, "--proba"]);
    assert_eq!(predicted["labels"], case["labels"]);
    let ours: Vec<f64> = predicted["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    let expected: Vec<f64> = case["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    assert_eq!(ours.len(), expected.len());
    for (a, b) in ours.iter().zip(&expected) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
    // CSV to a file, with a probability column per class.
    let out = dir.path().join("out.csv");
    ok(
        home,
        None,
        &[
            "predict",
            "iris/1",
            "--data",
            data,
            "--proba",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    let written = std::fs::read_to_string(&out).unwrap();
    let mut lines = written.lines();
    assert_eq!(
        lines.next(),
        Some("prediction,proba_setosa,proba_versicolor,proba_virginica")
    );
    assert_eq!(lines.count(), case["x"].as_array().unwrap().len());

    // A file with another number of columns is refused with what the model expects.
    let stderr = fails(
        home,
        None,
        &["predict", "iris", "--data", &fixture("data/wine.csv")],
        1,
    );
    assert!(stderr.contains("takes 4 numeric features"), "{stderr}");
}

#[test]
fn mlflow_model_folders_and_regressors() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let folder = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("onnx/diabetes_gradient_boosting_op18.onnx"),
        folder.path().join("model.onnx"),
    )
    .unwrap();
    std::fs::write(
        folder.path().join("MLmodel"),
        "artifact_path: model\nflavors:\n  onnx:\n    data: model.onnx\n    onnx_version: 1.17.0\n  python_function:\n    data: model.onnx\n    loader_module: mlflow.onnx\n",
    )
    .unwrap();
    let registered = json(
        home,
        None,
        &[
            "versions",
            "register",
            "diabetes",
            folder.path().to_str().unwrap(),
        ],
    );
    assert_eq!(registered["version"]["signature"]["task"], "regression");
    assert_eq!(
        registered["version"]["signature"]["onnx_file"],
        "model.onnx"
    );
    let predicted = json(
        home,
        None,
        &[
            "predict",
            "diabetes",
            "--data",
            &fixture("data/diabetes.csv"),
            "--ignore",
            "progression",
        ],
    );
    let values = predicted["values"].as_array().unwrap();
    assert_eq!(values.len(), 442);
    // Gradient boosting on diabetes predicts within the target's range.
    assert!(
        values
            .iter()
            .all(|v| (25.0..346.0).contains(&v.as_f64().unwrap()))
    );
}

#[test]
fn files_that_cannot_run_are_refused_and_nothing_is_registered() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"definitely not protobuf").unwrap();
    let stderr = fails(
        home,
        None,
        &["versions", "register", "m", garbage.to_str().unwrap()],
        1,
    );
    assert!(stderr.contains("invalid ONNX model"), "{stderr}");
    let bytes = std::fs::read(fixture("onnx/iris_random_forest_op18.onnx")).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let stderr = fails(
        home,
        None,
        &[
            "versions",
            "register",
            "m",
            truncated.to_str().unwrap(),
            "--json",
        ],
        1,
    );
    let error: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(error["error"]["code"], "invalid_model");
    // Two graphs in one folder without an MLmodel: ambiguous.
    let folder = dir.path().join("two");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("a.onnx"), &bytes).unwrap();
    std::fs::write(folder.join("b.onnx"), &bytes).unwrap();
    let stderr = fails(
        home,
        None,
        &["versions", "register", "m", folder.to_str().unwrap()],
        1,
    );
    assert!(stderr.contains("2 .onnx files"), "{stderr}");
    assert!(ok(home, None, &["models", "list"]).contains("no models"));
}

#[test]
fn predict_runs_models_trained_by_steward() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let wine = fixture("data/wine.csv");
    json(
        home,
        None,
        &[
            "train",
            "--data",
            &wine,
            "--target",
            "cultivar",
            "--algo",
            "logistic_regression",
            "--register",
            "wine",
        ],
    );
    let predicted = json(home, None, &["predict", "wine", "--data", &wine, "--proba"]);
    let labels = predicted["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 178);
    let truth: Vec<String> = std::fs::read_to_string(&wine)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().to_string())
        .collect();
    let correct = labels
        .iter()
        .zip(&truth)
        .filter(|(p, t)| p.as_str() == Some(t.as_str()))
        .count();
    assert!(correct as f64 / 178.0 > 0.95, "{correct}");
    for row in predicted["probabilities"].as_array().unwrap() {
        let total: f64 = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-9);
    }
}

/// A ColumnTransformer export takes one input per column, by name: predict feeds each from the CSV column of
/// that name, numbers and strings alike, whatever the file's column order.
#[test]
fn column_transformer_models_take_their_columns_by_name() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let model = fixture("onnx/iris_column_transformer_logistic_regression_op18.onnx");
    let registered = json(home, None, &["versions", "register", "mixed", &model]);
    assert_eq!(
        registered["version"]["signature"]["inputs"][4]["type"],
        "string"
    );
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("onnx/cases.json")).unwrap())
            .unwrap();
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "iris_column_transformer_logistic_regression_op18")
        .unwrap();
    let columns = &case["columns"];
    // Columns in another order than the graph's inputs, plus one the model does not use.
    let order = [
        "colour",
        "petal_width_cm",
        "sepal_length_cm",
        "petal_length_cm",
        "sepal_width_cm",
    ];
    let rows = columns["colour"].as_array().unwrap().len();
    let mut csv = format!("{},note\n", order.join(","));
    for r in 0..rows {
        let cells: Vec<String> = order
            .iter()
            .map(|c| match &columns[*c][r] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        csv.push_str(&format!("{},x\n", cells.join(",")));
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rows.csv");
    std::fs::write(&data, csv).unwrap();
    let predicted = json(
        home,
        None,
        &["predict", "mixed", "--data", data.to_str().unwrap()],
    );
    assert_eq!(predicted["labels"], case["labels"]);
}

/// Imported models are evaluated like trained ones, given the target column they do not name themselves.
#[test]
fn evaluate_an_imported_model() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let model = fixture("onnx/iris_random_forest_op18.onnx");
    ok(home, None, &["versions", "register", "iris", &model]);
    let iris = fixture("data/iris.csv");
    let stderr = fails(home, None, &["evaluate", "iris", "--data", &iris], 1);
    assert!(stderr.contains("--target"), "{stderr}");
    let evaluated = json(
        home,
        None,
        &["evaluate", "iris", "--data", &iris, "--target", "species"],
    );
    let metrics = &evaluated["evaluation"]["classification"];
    let matrix: Vec<Vec<u64>> =
        serde_json::from_value(metrics["confusion_matrix"].clone()).unwrap();
    assert_eq!(matrix.iter().flatten().sum::<u64>(), 150);
    let correct: u64 = (0..3).map(|i| matrix[i][i]).sum();
    assert_eq!(
        metrics["accuracy"].as_f64().unwrap(),
        correct as f64 / 150.0
    );
    // A depth-6 forest on its own training data.
    assert!(correct >= 145, "{correct}");
    let regression = fixture("onnx/diabetes_linear_regression_op18.onnx");
    ok(
        home,
        None,
        &["versions", "register", "diabetes", &regression],
    );
    let evaluated = json(
        home,
        None,
        &[
            "evaluate",
            "diabetes",
            "--data",
            &fixture("data/diabetes.csv"),
            "--target",
            "progression",
        ],
    );
    let r2 = evaluated["evaluation"]["regression"]["r2"]
        .as_f64()
        .unwrap();
    // scikit-learn's LinearRegression on all of diabetes: R² 0.5177.
    assert!((r2 - 0.5177).abs() < 1e-3, "{r2}");
}

#[test]
fn pytorch_exports_register_and_predict_through_either_engine() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    // Batch normalisation, GELU and LogSoftmax: tract runs it. Its 13 inputs are the wine measurements.
    ok(
        home,
        None,
        &[
            "versions",
            "register",
            "wine-net",
            "--onnx",
            &fixture("onnx/torch_mlp_batchnorm_gelu_logsoftmax_op18.onnx"),
        ],
    );
    let out = home.join("wine.csv");
    ok(
        home,
        None,
        &[
            "predict",
            "wine-net",
            "--data",
            &fixture("data/wine.csv"),
            "--ignore",
            "cultivar",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("prediction_0,prediction_1,prediction_2"));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 178);
    for row in &rows {
        // Log-probabilities: each row's exponentials sum to one.
        let total: f64 = row.iter().map(|v| v.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5, "{row:?}");
    }
    // A plain Gemm/ReLU/Softmax network runs on the native plan, its rows summing to one too.
    ok(
        home,
        None,
        &[
            "versions",
            "register",
            "iris-net",
            "--onnx",
            &fixture("onnx/torch_mlp_relu_softmax_op13.onnx"),
        ],
    );
    let answer = json(
        home,
        None,
        &[
            "predict",
            "iris-net",
            "--data",
            &fixture("data/iris.csv"),
            "--ignore",
            "species",
        ],
    );
    assert_eq!(answer["values_per_row"], 3);
    let values = answer["values"].as_array().unwrap();
    assert_eq!(values.len(), 150 * 3);
    for row in values.chunks(3) {
        let total: f64 = row.iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-5);
    }
}
