//! steward-ml's metrics against scikit-learn: every value in `fixtures/metrics/metrics_cases.json` (written by
//! `fixtures/metrics/make_metrics_fixtures.py` with scikit-learn 1.9) is recomputed here and compared with a
//! relative difference of at most 1e-9; report text must match exactly. In the fixture, `null` means NaN
//! (precision/recall/F1 with `zero_division="nan"`) or "undefined" (ROC AUC, R²: the Rust function must
//! return an error), and `{"error": ...}` means scikit-learn raised (the Rust function must return an error).

use serde_json::Value;
use steward_ml::Matrix;
use steward_ml::metrics::{
    Average, ClassificationMetrics, ClassificationReport, ConfusionMatrix, OvrAverage,
    RegressionMetrics, ZeroDivision, accuracy, average_precision, balanced_accuracy,
    explained_variance, f1_score, log_loss, max_error, mean_absolute_error,
    mean_absolute_percentage_error, mean_squared_error, precision_recall_f1,
    precision_recall_f1_per_class, precision_score, r2_score, recall_score, roc_auc_binary,
    roc_auc_ovr, root_mean_squared_error,
};
use steward_ml::{MlError, MlResult};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/metrics/metrics_cases.json"
);
const TOLERANCE: f64 = 1e-9;

fn fixture() -> Value {
    let text = std::fs::read_to_string(FIXTURE).expect("read the metrics fixture");
    serde_json::from_str(&text).expect("parse the metrics fixture")
}

fn close(actual: f64, expected: f64) -> bool {
    if actual == expected || (actual.is_nan() && expected.is_nan()) {
        return true;
    }
    (actual - expected).abs() <= TOLERANCE * actual.abs().max(expected.abs())
}

/// A fixture number; `null` stands for NaN.
fn number(value: &Value) -> f64 {
    if value.is_null() {
        f64::NAN
    } else {
        value
            .as_f64()
            .unwrap_or_else(|| panic!("expected a number, found {value}"))
    }
}

fn is_error(value: &Value) -> bool {
    value.get("error").is_some()
}

fn assert_close(actual: f64, expected: &Value, what: &str) {
    let expected = number(expected);
    assert!(
        close(actual, expected),
        "{what}: got {actual}, scikit-learn gives {expected}"
    );
}

/// A value scikit-learn returns for defined inputs, NaN (`null`) for undefined ones, or raises for invalid ones:
/// the first must match, the other two must be errors here.
fn assert_value_or_error(actual: MlResult<f64>, expected: &Value, what: &str) {
    if expected.is_null() || is_error(expected) {
        assert!(
            actual.is_err(),
            "{what}: scikit-learn gives {expected}, expected an error, got {actual:?}"
        );
    } else {
        let value = actual.unwrap_or_else(|error| panic!("{what}: unexpected error {error}"));
        assert_close(value, expected, what);
    }
}

/// Structural equality of JSON values with numbers compared by [`close`].
fn assert_json_close(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let a_keys: Vec<&String> = a.keys().collect();
            let e_keys: Vec<&String> = e.keys().collect();
            assert_eq!(a_keys, e_keys, "{path}: keys (and their order) differ");
            for (key, value) in e {
                assert_json_close(&a[key], value, &format!("{path}.{key}"));
            }
        }
        (Value::Number(_) | Value::Null, Value::Number(_) | Value::Null) => {
            assert_close(number(actual), expected, path);
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

fn usizes(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .expect("an array of labels")
        .iter()
        .map(|v| v.as_u64().expect("a label") as usize)
        .collect()
}

/// Float inputs are stored as decimal strings and parsed with `str::parse`, which rounds exactly; serde_json's
/// default number parsing may be one unit in the last place off, enough to split or merge tied scores.
fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("an array of numbers")
        .iter()
        .map(|v| match v.as_str() {
            Some(text) => text
                .parse()
                .unwrap_or_else(|_| panic!("not a float: {text}")),
            None => number(v),
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array of names")
        .iter()
        .map(|v| v.as_str().expect("a name").to_string())
        .collect()
}

fn matrix(value: &Value) -> Option<Matrix> {
    let rows: Vec<Vec<f64>> = value.as_array()?.iter().map(floats).collect();
    Some(Matrix::from_rows(&rows))
}

fn zero_division(key: &str) -> ZeroDivision {
    match key {
        "warn" => ZeroDivision::Warn,
        "zero" => ZeroDivision::Zero,
        "one" => ZeroDivision::One,
        "nan" => ZeroDivision::NaN,
        other => panic!("unknown zero_division key {other}"),
    }
}

fn check_averaged(actual: MlResult<steward_ml::metrics::PrfScores>, expected: &Value, what: &str) {
    if is_error(expected) {
        assert!(
            actual.is_err(),
            "{what}: scikit-learn raised {expected}, got {actual:?}"
        );
        return;
    }
    let scores = actual.unwrap_or_else(|error| panic!("{what}: unexpected error {error}"));
    assert_close(
        scores.precision,
        &expected["precision"],
        &format!("{what} precision"),
    );
    assert_close(
        scores.recall,
        &expected["recall"],
        &format!("{what} recall"),
    );
    assert_close(scores.f1, &expected["f1"], &format!("{what} f1"));
}

#[test]
fn classification_cases_match_scikit_learn() {
    let fixture = fixture();
    let cases = fixture["classification"]
        .as_array()
        .expect("classification cases");
    assert!(
        cases.len() >= 15,
        "the fixture holds all the classification cases"
    );
    for case in cases {
        let name = case["name"].as_str().expect("a case name");
        let y_true = usizes(&case["y_true"]);
        let y_pred = usizes(&case["y_pred"]);
        let class_names = strings(&case["class_names"]);
        let n_classes = class_names.len();
        let expected = &case["expected"];

        assert_close(
            accuracy(&y_true, &y_pred).unwrap(),
            &expected["accuracy"],
            &format!("{name} accuracy"),
        );
        assert_value_or_error(
            balanced_accuracy(&y_true, &y_pred),
            &expected["balanced_accuracy"],
            &format!("{name} balanced accuracy"),
        );
        let confusion = ConfusionMatrix::compute(&y_true, &y_pred, n_classes).unwrap();
        assert_eq!(
            serde_json::to_value(&confusion).unwrap(),
            expected["confusion_matrix"],
            "{name} confusion matrix"
        );

        for (key, modes) in expected["zero_division"]
            .as_object()
            .expect("zero_division modes")
        {
            let mode = zero_division(key);
            let what = format!("{name} zero_division={key}");
            let per_class =
                precision_recall_f1_per_class(&y_true, &y_pred, n_classes, mode).unwrap();
            let expected_per_class = &modes["per_class"];
            for (metric, values) in [
                ("precision", &per_class.precision),
                ("recall", &per_class.recall),
                ("f1", &per_class.f1),
            ] {
                let expected_values = floats(&expected_per_class[metric]);
                assert_eq!(
                    values.len(),
                    expected_values.len(),
                    "{what} {metric} length"
                );
                for (class, (&actual, &wanted)) in values.iter().zip(&expected_values).enumerate() {
                    assert!(
                        close(actual, wanted),
                        "{what} {metric}[{class}]: got {actual}, want {wanted}"
                    );
                }
            }
            let support: Vec<usize> = per_class.support.iter().map(|&s| s as usize).collect();
            assert_eq!(
                support,
                usizes(&expected_per_class["support"]),
                "{what} support"
            );
            assert_eq!(
                !per_class.warnings.is_empty(),
                modes["warned"].as_bool().unwrap(),
                "{what}: warnings {:?} disagree with scikit-learn's UndefinedMetricWarning",
                per_class.warnings
            );

            for (average_name, average) in [
                ("macro", Average::Macro),
                ("weighted", Average::Weighted),
                ("micro", Average::Micro),
            ] {
                check_averaged(
                    precision_recall_f1(&y_true, &y_pred, n_classes, average, mode),
                    &modes[average_name],
                    &format!("{what} {average_name}"),
                );
            }
            for positive_label in [0usize, 1] {
                check_averaged(
                    precision_recall_f1(
                        &y_true,
                        &y_pred,
                        n_classes,
                        Average::Binary { positive_label },
                        mode,
                    ),
                    &modes["binary"][positive_label.to_string()],
                    &format!("{what} binary positive={positive_label}"),
                );
            }
            assert_close(
                precision_score(&y_true, &y_pred, n_classes, Average::Macro, mode)
                    .unwrap()
                    .value,
                &modes["precision_macro"],
                &format!("{what} precision_score macro"),
            );
            assert_close(
                recall_score(&y_true, &y_pred, n_classes, Average::Weighted, mode)
                    .unwrap()
                    .value,
                &modes["recall_weighted"],
                &format!("{what} recall_score weighted"),
            );
            assert_close(
                f1_score(&y_true, &y_pred, n_classes, Average::Macro, mode)
                    .unwrap()
                    .value,
                &modes["f1_macro"],
                &format!("{what} f1_score macro"),
            );

            let report =
                ClassificationReport::compute(&y_true, &y_pred, &class_names, mode).unwrap();
            let expected_text = modes["report_text"].as_str().unwrap();
            assert_eq!(report.text(2), expected_text, "{what} report text");
            assert_json_close(
                &serde_json::to_value(&report).unwrap(),
                &modes["report_dict"],
                &format!("{what} report"),
            );
        }

        check_probability_metrics(name, &y_true, case, n_classes);
        check_summary(name, &y_true, &y_pred, case, &class_names);
    }
}

fn check_probability_metrics(name: &str, y_true: &[usize], case: &Value, n_classes: usize) {
    let Some(probabilities) = matrix(&case["probabilities"]) else {
        return;
    };
    let expected = &case["expected"];
    assert_value_or_error(
        log_loss(y_true, &probabilities),
        &expected["log_loss"],
        &format!("{name} log loss"),
    );
    if n_classes == 2 {
        let positive = probabilities.column(1);
        assert_value_or_error(
            roc_auc_binary(y_true, &positive),
            &expected["roc_auc"],
            &format!("{name} ROC AUC"),
        );
        assert_value_or_error(
            average_precision(y_true, &positive),
            &expected["average_precision"],
            &format!("{name} average precision"),
        );
    }
    // With two columns the one-vs-rest functions rank by column 1, so they must agree with the binary values.
    assert_value_or_error(
        roc_auc_ovr(y_true, &probabilities, OvrAverage::Macro),
        &expected["roc_auc"],
        &format!("{name} ROC AUC ovr macro"),
    );
    assert_value_or_error(
        roc_auc_ovr(y_true, &probabilities, OvrAverage::Weighted),
        &expected["roc_auc_weighted"],
        &format!("{name} ROC AUC ovr weighted"),
    );
}

fn check_summary(
    name: &str,
    y_true: &[usize],
    y_pred: &[usize],
    case: &Value,
    class_names: &[String],
) {
    let probabilities = matrix(&case["probabilities"]);
    let expected = &case["expected"];
    let result =
        ClassificationMetrics::compute(y_true, y_pred, probabilities.as_ref(), class_names);
    if is_error(&expected["roc_auc"]) || is_error(&expected["log_loss"]) {
        assert!(
            result.is_err(),
            "{name}: invalid probabilities must fail the summary"
        );
        return;
    }
    let metrics = result.unwrap_or_else(|error| panic!("{name} summary: {error}"));
    let warn = &expected["zero_division"]["warn"];
    assert_eq!(
        metrics.report_text,
        warn["report_text"].as_str().unwrap(),
        "{name} summary report"
    );
    let headline: std::collections::HashMap<String, f64> = metrics.headline().into_iter().collect();
    let wanted = [
        ("accuracy", &expected["accuracy"]),
        ("balanced_accuracy", &expected["balanced_accuracy"]),
        ("precision_macro", &warn["macro"]["precision"]),
        ("recall_macro", &warn["macro"]["recall"]),
        ("f1_macro", &warn["macro"]["f1"]),
        ("precision_weighted", &warn["weighted"]["precision"]),
        ("recall_weighted", &warn["weighted"]["recall"]),
        ("f1_weighted", &warn["weighted"]["f1"]),
        ("roc_auc", &expected["roc_auc"]),
        ("roc_auc_weighted", &expected["roc_auc_weighted"]),
        ("average_precision", &expected["average_precision"]),
        ("log_loss", &expected["log_loss"]),
    ];
    for (metric, value) in wanted {
        match headline.get(metric) {
            Some(&actual) => assert_close(actual, value, &format!("{name} headline {metric}")),
            None => assert!(
                value.is_null(),
                "{name}: headline lacks {metric}, scikit-learn gives {value}"
            ),
        }
    }
    // Two classes: the binary scores of class 1, as scikit-learn's average='binary' with pos_label=1.
    let binary = &warn["binary"]["1"];
    for metric in ["precision", "recall", "f1"] {
        match headline.get(metric) {
            Some(&actual) => assert_close(
                actual,
                &binary[metric],
                &format!("{name} headline {metric}"),
            ),
            None => assert!(
                class_names.len() != 2,
                "{name}: a binary problem's headline lacks {metric}"
            ),
        }
    }
    // And of class 0 when it is named the positive class (pos_label=0).
    if class_names.len() == 2 {
        let first = ClassificationMetrics::compute_for_positive(
            y_true,
            y_pred,
            probabilities.as_ref(),
            class_names,
            Some(&class_names[0]),
        )
        .unwrap_or_else(|error| panic!("{name} positive class 0: {error}"));
        let binary = &warn["binary"]["0"];
        let values = [
            ("precision", first.precision),
            ("recall", first.recall),
            ("f1", first.f1),
        ];
        for (metric, value) in values {
            let value = value.unwrap_or_else(|| panic!("{name}: no binary {metric}"));
            assert_close(
                value,
                &binary[metric],
                &format!("{name} pos_label=0 {metric}"),
            );
        }
    }
    assert_eq!(metrics.roc_auc.is_some(), headline.contains_key("roc_auc"));
    assert_eq!(
        serde_json::to_value(&metrics.confusion_matrix).unwrap(),
        expected["confusion_matrix"],
        "{name} summary confusion matrix"
    );
}

#[test]
fn ranking_cases_match_scikit_learn() {
    let fixture = fixture();
    for case in fixture["ranking"].as_array().expect("ranking cases") {
        let name = case["name"].as_str().unwrap();
        let y_true = usizes(&case["y_true"]);
        let scores = floats(&case["scores"]);
        assert_value_or_error(
            roc_auc_binary(&y_true, &scores),
            &case["roc_auc"],
            &format!("{name} ROC AUC"),
        );
        assert_value_or_error(
            average_precision(&y_true, &scores),
            &case["average_precision"],
            &format!("{name} average precision"),
        );
    }
}

type RegressionMetric = fn(&[f64], &[f64]) -> MlResult<f64>;

#[test]
fn regression_cases_match_scikit_learn() {
    let fixture = fixture();
    let metrics: [(&str, RegressionMetric); 7] = [
        ("mae", mean_absolute_error),
        ("mse", mean_squared_error),
        ("rmse", root_mean_squared_error),
        ("r2", r2_score),
        ("mape", mean_absolute_percentage_error),
        ("max_error", max_error),
        ("explained_variance", explained_variance),
    ];
    for case in fixture["regression"].as_array().expect("regression cases") {
        let name = case["name"].as_str().unwrap();
        let y_true = floats(&case["y_true"]);
        let y_pred = floats(&case["y_pred"]);
        let expected = &case["expected"];
        for (metric, function) in metrics {
            assert_value_or_error(
                function(&y_true, &y_pred),
                &expected[metric],
                &format!("{name} {metric}"),
            );
        }
        let summary = RegressionMetrics::compute(&y_true, &y_pred).unwrap();
        let headline: std::collections::HashMap<String, f64> =
            summary.headline().into_iter().collect();
        for (metric, _) in metrics {
            match headline.get(metric) {
                Some(&actual) => assert_close(
                    actual,
                    &expected[metric],
                    &format!("{name} headline {metric}"),
                ),
                None => assert!(
                    expected[metric].is_null(),
                    "{name}: headline lacks {metric}"
                ),
            }
        }
    }
}

#[test]
fn undefined_roc_auc_says_why() {
    let error = roc_auc_binary(&[0, 0, 0], &[0.1, 0.5, 0.3]).unwrap_err();
    assert!(matches!(error, MlError::InvalidData(_)));
    assert!(error.to_string().contains("only one class"), "{error}");
}

#[test]
fn empty_inputs_are_errors() {
    let empty = Matrix::zeros(0, 2);
    assert!(accuracy(&[], &[]).is_err());
    assert!(precision_recall_f1(&[], &[], 2, Average::Macro, ZeroDivision::Warn).is_err());
    assert!(roc_auc_binary(&[], &[]).is_err());
    assert!(average_precision(&[], &[]).is_err());
    assert!(log_loss(&[], &empty).is_err());
    assert!(roc_auc_ovr(&[], &empty, OvrAverage::Macro).is_err());
    assert!(r2_score(&[], &[]).is_err());
    assert!(RegressionMetrics::compute(&[], &[]).is_err());
    assert!(
        ClassificationMetrics::compute(&[], &[], None, &["a".to_string(), "b".to_string()])
            .is_err()
    );
}

#[test]
fn summaries_serialize_for_recording() {
    let names = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    let metrics =
        ClassificationMetrics::compute(&[0, 1, 2, 2], &[0, 1, 1, 2], None, &names).unwrap();
    let json = serde_json::to_value(&metrics).unwrap();
    assert_eq!(
        json["report"]["macro avg"]["support"],
        serde_json::json!(4.0)
    );
    assert!(json["roc_auc"].is_null());
    let regression = RegressionMetrics::compute(&[1.0, 2.0], &[1.0, 3.0]).unwrap();
    let json = serde_json::to_value(&regression).unwrap();
    assert_eq!(json["max_error"], serde_json::json!(1.0));
}
