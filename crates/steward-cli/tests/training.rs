//! `steward data`, `steward train` and `steward evaluate` through the real binary: the life cycle's "create,
//! train, evaluate" on the shared scikit-learn datasets, determinism, and bad input that must leave nothing
//! recorded.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn shared_data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/data")
        .join(name);
    path.to_str().unwrap().to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn train_register_and_evaluate(store: Option<&str>) {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let iris = shared_data("iris.csv");
    let trained = json(
        home,
        store,
        &[
            "train",
            "--data",
            &iris,
            "--target",
            "species",
            "--algo",
            "random_forest",
            "--param",
            "n_estimators=30",
            "--seed",
            "3",
            "--experiment",
            "flowers",
            "--register",
            "iris",
        ],
    );
    let version = &trained["version"];
    assert_eq!(version["model"], "iris");
    assert_eq!(version["version"], 1);
    assert_eq!(
        version["signature"]["classes"],
        serde_json::json!(["setosa", "versicolor", "virginica"])
    );
    assert_eq!(version["dataset"]["name"], "iris");
    let holdout_accuracy = version["metrics"]["accuracy"].as_f64().unwrap();
    assert!(holdout_accuracy > 0.85, "{holdout_accuracy}");
    assert_eq!(trained["summary"]["rows_train"], 112);
    assert_eq!(trained["summary"]["rows_test"], 38);

    // The run records params, metrics, the dataset and the model's hash.
    let run_id = trained["run"]["id"].as_str().unwrap();
    let run = json(home, store, &["runs", "show", run_id]);
    assert_eq!(run["status"], "FINISHED");
    assert_eq!(run["params"]["algorithm"], "random_forest");
    assert_eq!(run["params"]["n_estimators"], "30");
    assert_eq!(run["params"]["seed"], "3");
    // Defaults are recorded too: the run says everything the fit used.
    assert_eq!(run["params"]["max_features"], "sqrt");
    assert_eq!(run["params"]["bootstrap"], "true");
    // The run's quality checks come from the package it stored: iris has one duplicate row.
    let duplicates = run["quality"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "duplicate_rows")
        .cloned()
        .unwrap();
    assert_eq!(duplicates["passed"], false, "{duplicates}");
    // The human views name the experiment, not its id, and list the findings.
    let shown = ok(home, store, &["runs", "show", run_id]);
    assert!(shown.contains("experiment  flowers"), "{shown}");
    assert!(
        shown.contains("1 row(s) duplicate an earlier row"),
        "{shown}"
    );
    let listed = ok(home, store, &["runs", "list"]);
    assert!(listed.contains("flowers"), "{listed}");
    assert_eq!(run["metrics"]["accuracy"], holdout_accuracy);
    assert_eq!(
        run["tags"]["steward.model_hash"],
        version["artifact_hash"].clone()
    );
    assert_eq!(run["inputs"][0]["name"], "iris");
    assert_eq!(version["source_run"], run_id);

    // Evaluating on the whole file: the confusion matrix covers every row, and the report is scikit-learn's.
    ok(home, store, &["alias", "set", "iris", "production", "1"]);
    let evaluated = json(
        home,
        store,
        &["evaluate", "iris@production", "--data", &iris],
    );
    assert_eq!(evaluated["version"], 1);
    let metrics = &evaluated["evaluation"]["classification"];
    let matrix: Vec<Vec<u64>> =
        serde_json::from_value(metrics["confusion_matrix"].clone()).unwrap();
    assert_eq!(matrix.iter().flatten().sum::<u64>(), 150);
    let correct: u64 = (0..3).map(|i| matrix[i][i]).sum();
    assert_eq!(
        metrics["accuracy"].as_f64().unwrap(),
        correct as f64 / 150.0
    );
    assert!(metrics["roc_auc"].as_f64().unwrap() > 0.95);
    let text = ok(home, store, &["evaluate", "iris", "--data", &iris]);
    assert!(
        text.contains("precision    recall  f1-score   support"),
        "{text}"
    );
    assert!(text.contains("true \\ predicted"), "{text}");

    // Evaluation needs the target column, and says so.
    let dir = tempfile::tempdir().unwrap();
    let no_target = write(
        dir.path(),
        "features.csv",
        "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n5.1,3.5,1.4,0.2\n",
    );
    let stderr = fails(
        home,
        store,
        &["evaluate", "iris/1", "--data", &no_target],
        1,
    );
    assert!(stderr.contains("species"), "{stderr}");
}

#[test]
fn sqlite_train_register_and_evaluate() {
    train_register_and_evaluate(None);
}

#[test]
fn postgres_train_register_and_evaluate() {
    let Some(store) = postgres_store("postgres_train_register_and_evaluate") else {
        return;
    };
    train_register_and_evaluate(Some(&store));
}

/// A binary classifier reports the positive class's precision, recall and F1 (class index 1, "malignant"), in
/// the run and in `evaluate`, and says which class they are about.
#[test]
fn binary_classification_scores_the_positive_class() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let cancer = shared_data("breast_cancer.csv");
    let args = [
        "train",
        "--data",
        &cancer,
        "--target",
        "diagnosis",
        "--algo",
        "logistic_regression",
        "--register",
        "cancer",
    ];
    let trained = json(home, None, &args);
    let run = json(
        home,
        None,
        &["runs", "show", trained["run"]["id"].as_str().unwrap()],
    );
    for metric in ["precision", "recall", "f1"] {
        let value = run["metrics"][metric].as_f64().unwrap();
        assert!(value > 0.8 && value <= 1.0, "{metric} = {value}");
    }
    let evaluated = json(home, None, &["evaluate", "cancer", "--data", &cancer]);
    let metrics = &evaluated["evaluation"]["classification"];
    assert_eq!(metrics["positive_class"], "malignant");
    // F1 is the harmonic mean of the precision and recall printed beside it.
    let (p, r, f1) = (
        metrics["precision"].as_f64().unwrap(),
        metrics["recall"].as_f64().unwrap(),
        metrics["f1"].as_f64().unwrap(),
    );
    assert!((f1 - 2.0 * p * r / (p + r)).abs() < 1e-12, "{metrics}");
    let text = ok(home, None, &["evaluate", "cancer", "--data", &cancer]);
    assert!(text.contains("recall (malignant)"), "{text}");

    // Trained with --positive-label benign, the model scores benign from then on, unless told otherwise; the
    // per-class rows of the report are the same either way.
    let mut benign_args = args.to_vec();
    benign_args.extend(["--positive-label", "benign"]);
    let trained = json(home, None, &benign_args);
    let run = json(
        home,
        None,
        &["runs", "show", trained["run"]["id"].as_str().unwrap()],
    );
    assert_eq!(run["params"]["positive_class"], "benign");
    let by_default = json(home, None, &["evaluate", "cancer/2", "--data", &cancer]);
    let metrics = &by_default["evaluation"]["classification"];
    assert_eq!(metrics["positive_class"], "benign");
    assert_eq!(metrics["recall"], metrics["report"]["benign"]["recall"]);
    let told = json(
        home,
        None,
        &[
            "evaluate",
            "cancer/2",
            "--data",
            &cancer,
            "--positive-label",
            "malignant",
        ],
    );
    let metrics = &told["evaluation"]["classification"];
    assert_eq!(metrics["positive_class"], "malignant");
    assert_eq!(metrics["recall"], metrics["report"]["malignant"]["recall"]);
    let wrong = fails(
        home,
        None,
        &[
            "evaluate",
            "cancer/2",
            "--data",
            &cancer,
            "--positive-label",
            "healthy",
        ],
        1,
    );
    assert!(
        wrong.contains("the classes are benign, malignant"),
        "{wrong}"
    );
}

/// Same data + same seed → same split → byte-identical model, so the content-addressed package is the same.
#[test]
fn the_same_data_and_seed_give_the_same_package() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let wine = shared_data("wine.csv");
    let train = |algo: &str, seed: &str| {
        let outcome = json(
            home,
            None,
            &[
                "train",
                "--data",
                &wine,
                "--target",
                "cultivar",
                "--algo",
                algo,
                "--seed",
                seed,
                "--register",
                "wine",
            ],
        );
        outcome["version"]["artifact_hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for algo in ["random_forest", "gradient_boosting", "logistic_regression"] {
        let first = train(algo, "11");
        assert_eq!(first, train(algo, "11"), "{algo} is not reproducible");
        assert_ne!(first, train(algo, "12"), "{algo} ignores the seed");
    }
    // Every registration is its own version, even with identical content.
    let versions = json(home, None, &["versions", "list", "wine"]);
    assert_eq!(versions["items"].as_array().unwrap().len(), 9);
}

#[test]
fn regression_with_cross_validation() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let diabetes = shared_data("diabetes.csv");
    for algo in ["linear_regression", "gradient_boosting"] {
        let outcome = json(
            home,
            None,
            &[
                "train",
                "--data",
                &diabetes,
                "--target",
                "progression",
                "--algo",
                algo,
                "--cv",
                "4",
            ],
        );
        let summary = &outcome["summary"];
        assert_eq!(summary["task"], "regression", "{algo}");
        let holdout = &summary["holdout"]["regression"];
        let r2 = holdout["r2"].as_f64().unwrap();
        // scikit-learn reaches about 0.4-0.5 on this data set with either model.
        assert!((0.2..0.7).contains(&r2), "{algo}: r2 {r2}");
        assert!(holdout["rmse"].as_f64().unwrap() > 0.0);
        let cv = &summary["cross_validation"];
        assert_eq!(cv["folds"], 4);
        assert_eq!(cv["metric"], "r2");
        assert_eq!(cv["scores"].as_array().unwrap().len(), 4);
    }
    // The task follows the algorithm: logistic regression cannot regress.
    let stderr = fails(
        home,
        None,
        &[
            "train",
            "--data",
            &diabetes,
            "--target",
            "progression",
            "--algo",
            "logistic_regression",
            "--task",
            "regression",
        ],
        1,
    );
    assert!(stderr.contains("logistic_regression"), "{stderr}");
}

/// Bad input gets a clear error (naming the row, column or parameter) and records nothing: no run, no dataset,
/// no model.
#[test]
fn bad_training_input_is_refused_and_records_nothing() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let iris = shared_data("iris.csv");

    let mut typo = String::from("a,b,y\n");
    for i in 0..40 {
        let b = if i == 17 {
            "4,2".to_string()
        } else {
            format!("{}", i % 7)
        };
        typo.push_str(&format!(
            "{i},\"{b}\",{}\n",
            if i % 2 == 0 { "x" } else { "z" }
        ));
    }
    let typo = write(dir, "typo.csv", &typo);
    let empty = write(dir, "empty.csv", "");
    let header_only = write(dir, "header.csv", "a,b,y\n");
    let single_class = write(dir, "single.csv", "a,b,y\n1,2,x\n3,4,x\n5,6,x\n7,8,x\n");
    let nan_target = write(
        dir,
        "nan.csv",
        "a,b,y\n1,2,1.5\n3,4,nan\n5,6,2.5\n7,1,3.5\n9,2,4.25\n",
    );
    let inf_feature = write(
        dir,
        "inf.csv",
        "a,b,y\n1,2,1.5\n3,inf,2.5\n5,6,2.75\n7,1,3.5\n",
    );
    let ragged = write(dir, "ragged.csv", "a,b,y\n1,2,x\n3,4\n");

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--data", &iris, "--target", "colour"],
            "no column named 'colour'",
        ),
        (
            vec![
                "--data",
                &iris,
                "--target",
                "species",
                "--param",
                "n_trees=5",
            ],
            "n_trees",
        ),
        (
            vec![
                "--data",
                &iris,
                "--target",
                "species",
                "--param",
                "max_depth=deep",
            ],
            "max_depth",
        ),
        (vec!["--data", &typo, "--target", "y"], "row 19 holds '4,2'"),
        (vec!["--data", &empty, "--target", "y"], "empty"),
        (vec!["--data", &header_only, "--target", "y"], "no rows"),
        (
            vec!["--data", &single_class, "--target", "y"],
            "single class",
        ),
        (
            vec!["--data", &ragged, "--target", "y"],
            "row 3 has 2 fields",
        ),
        (
            vec![
                "--data",
                &nan_target,
                "--target",
                "y",
                "--task",
                "regression",
            ],
            "missing",
        ),
        (
            vec![
                "--data",
                &inf_feature,
                "--target",
                "y",
                "--task",
                "regression",
            ],
            "infinite",
        ),
        (
            vec!["--data", "/no/such/file.csv", "--target", "y"],
            "cannot read /no/such/file.csv",
        ),
        (
            vec!["--data", &iris, "--target", "species", "--test-size", "1.5"],
            "test",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["train", "--algo", "random_forest", "--register", "m"];
        args.extend(extra);
        let stderr = fails(home, None, &args, 1);
        assert!(stderr.contains(needle), "steward {args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
    // A usage error (unknown algorithm) exits 2.
    fails(
        home,
        None,
        &[
            "train", "--data", &iris, "--target", "species", "--algo", "svm",
        ],
        2,
    );
    let runs = json(home, None, &["runs", "list"]);
    assert_eq!(runs["items"].as_array().unwrap().len(), 0, "{runs}");
    let datasets = json(home, None, &["data", "list"]);
    assert_eq!(datasets["items"].as_array().unwrap().len(), 0, "{datasets}");
    assert!(ok(home, None, &["models", "list"]).contains("no models"));
}

#[test]
fn data_register_show_profile_and_validate() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let dir = tempfile::tempdir().unwrap();
    let iris = shared_data("iris.csv");
    let registered = json(
        home,
        None,
        &[
            "data", "register", &iris, "--name", "flowers", "--target", "species",
        ],
    );
    let dataset = &registered["dataset"];
    assert_eq!(dataset["version"], 1);
    let hash = dataset["content_hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);
    // The same bytes again are the same version; other bytes are the next one.
    let again = json(
        home,
        None,
        &["data", "register", &iris, "--name", "flowers"],
    );
    assert_eq!(again["dataset"]["version"], 1);
    let wine = shared_data("wine.csv");
    let other = json(
        home,
        None,
        &["data", "register", &wine, "--name", "flowers"],
    );
    assert_eq!(other["dataset"]["version"], 2);

    let shown = ok(home, None, &["data", "show", "flowers/1"]);
    assert!(
        shown.contains("petal_length_cm") && shown.contains("target"),
        "{shown}"
    );
    // The human profile adds every numeric column's quantiles and histogram to the schema table.
    let profile_text = ok(home, None, &["data", "profile", "flowers/1"]);
    assert!(
        profile_text.contains("p25")
            && profile_text.contains("histogram")
            && profile_text.contains('█'),
        "{profile_text}"
    );
    let profile = json(home, None, &["data", "profile", &iris]);
    let text = profile.to_string();
    assert!(
        text.contains("\"missing\":0") && text.contains("setosa"),
        "{text}"
    );

    // Values outside the training range, and an unseen category, are findings of a validation against it.
    let mut drifted =
        String::from("sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm,species\n");
    for i in 0..30 {
        drifted.push_str(&format!(
            "{}.5,3.0,1.4,0.2,{}\n",
            20 + i,
            if i < 3 { "rose" } else { "setosa" }
        ));
    }
    let drifted = write(dir.path(), "drifted.csv", &drifted);
    let report = json(
        home,
        None,
        &[
            "data",
            "validate",
            &drifted,
            "--against",
            "flowers/1",
            "--fail-on",
            "error",
        ],
    );
    let failed: Vec<String> = report["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["check"].as_str().unwrap().to_string())
        .collect();
    assert!(failed.contains(&"out_of_range".to_string()), "{report}");
    assert!(failed.contains(&"unknown_category".to_string()), "{report}");
    // The same findings fail the command at severity warning.
    let stderr = fails(
        home,
        None,
        &[
            "data",
            "validate",
            &drifted,
            "--against",
            "flowers/1",
            "--fail-on",
            "warning",
        ],
        1,
    );
    assert!(stderr.contains("failed"), "{stderr}");
    // A missing column is an error against the reference.
    let missing = write(
        dir.path(),
        "missing.csv",
        "sepal_length_cm,species\n5.0,setosa\n",
    );
    fails(
        home,
        None,
        &["data", "validate", &missing, "--against", "flowers/1"],
        1,
    );
}
