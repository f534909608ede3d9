//! Linear models against scikit-learn 1.9. Expected values come from `fixtures/linear/linear_cases.json`, written
//! by `fixtures/linear/make_linear_fixtures.py`; no Python runs here.
//!
//! Logistic regression is compared with two references of the same objective: scikit-learn's lbfgs answer
//! (`tol=1e-10`), which scipy's relative-decrease stop leaves up to ~1e-6 from the optimum, and the optimum
//! itself, solved by scikit-learn's newton-cholesky to a gradient of ~1e-17. The tight tolerances of the brief
//! (coefficients 1e-6 relative or 1e-8 absolute, probabilities 1e-7) are checked against the optimum; against
//! the lbfgs answer the tolerance is that answer's own measured distance from the optimum.

use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;
use steward_ml::Matrix;
use steward_ml::linear::{
    LinearRegression, LogisticParams, LogisticRegression, PostTransform, balanced_sample_weights,
};
use steward_ml::rng::Rng;

fn cases() -> &'static Value {
    static CASES: OnceLock<Value> = OnceLock::new();
    CASES.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/linear/linear_cases.json"
        );
        let text = std::fs::read_to_string(path).expect("fixture file is readable");
        serde_json::from_str(&text).expect("fixture file is JSON")
    })
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}

fn labels(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_u64().expect("a class index") as usize)
        .collect()
}

fn matrix(value: &Value) -> Matrix {
    let rows: Vec<Vec<f64>> = value.as_array().expect("rows").iter().map(floats).collect();
    Matrix::from_rows(&rows)
}

fn dataset(case: &Value) -> &'static Value {
    let name = case["dataset"].as_str().expect("dataset name");
    &cases()["datasets"][name]
}

fn optional_floats(value: &Value) -> Option<Vec<f64>> {
    (!value.is_null()).then(|| floats(value))
}

/// `|got − want| ≤ max(relative × |want|, absolute)`, element by element.
fn assert_close(what: &str, got: &[f64], want: &[f64], relative: f64, absolute: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let allowed = (relative * w.abs()).max(absolute);
        assert!(
            (g - w).abs() <= allowed,
            "{what}[{i}]: got {g}, want {w} (difference {:.3e}, allowed {allowed:.1e})",
            (g - w).abs()
        );
    }
}

fn max_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn least_squares_and_ridge_match_scikit_learn() {
    let regression = cases()["regression"].as_array().expect("regression cases");
    assert!(regression.len() >= 10);
    for case in regression {
        let name = case["name"].as_str().expect("name");
        let data = dataset(case);
        let x = matrix(&data["x"]);
        let y = floats(&data["y"]);
        let weights = optional_floats(&case["weights"]);
        let alpha = case["alpha"].as_f64().expect("alpha");
        let model = LinearRegression::fit(&x, &y, weights.as_deref(), alpha).expect(name);
        let want = floats(&case["coefficients"]);
        // Relative to the largest coefficient: the 1e-9 bound is about the solve's accuracy, not about
        // coefficients that happen to be near zero.
        let scale = want.iter().fold(1.0_f64, |m, c| m.max(c.abs()));
        assert_close(
            &format!("{name} coefficients"),
            model.coefficients(),
            &want,
            1e-9,
            1e-9 * scale,
        );
        let intercept = case["intercept"].as_f64().expect("intercept");
        assert_close(
            &format!("{name} intercept"),
            &[model.intercept()],
            &[intercept],
            1e-9,
            1e-9 * scale,
        );
        let predictions = model.predict(&x).expect(name);
        let want = floats(&case["predict"]);
        assert_close(&format!("{name} predict"), &predictions, &want, 1e-9, 1e-9);
        if let Some(rank) = case["rank"].as_u64() {
            assert_eq!(model.rank(), rank as usize, "{name} rank");
        }
    }
}

#[test]
fn rank_deficient_least_squares_is_the_minimum_norm_solution() {
    let case = cases()["regression"]
        .as_array()
        .expect("regression cases")
        .iter()
        .find(|c| c["name"] == "rank_deficient_ols")
        .expect("rank-deficient case");
    let data = dataset(case);
    let x = matrix(&data["x"]);
    let model = LinearRegression::fit(&x, &floats(&data["y"]), None, 0.0).expect("fit");
    assert_eq!(model.rank(), x.n_cols() - 1);
    // The last column is 2·x0 − x1: moving t·(2, −1, 0, 0, 0, −1) leaves predictions unchanged, and the
    // minimum-norm solution is orthogonal to that null direction.
    let c = model.coefficients();
    let null_component = 2.0 * c[0] - c[1] - c[5];
    assert!(null_component.abs() < 1e-9, "{null_component}");
}

struct LogisticCase {
    name: String,
    x: Matrix,
    y: Vec<usize>,
    n_classes: usize,
    weights: Option<Vec<f64>>,
    params: LogisticParams,
    case: &'static Value,
}

fn logistic_cases() -> Vec<LogisticCase> {
    cases()["logistic"]
        .as_array()
        .expect("logistic cases")
        .iter()
        .map(|case| {
            let data = dataset(case);
            LogisticCase {
                name: case["name"].as_str().expect("name").to_string(),
                x: matrix(&data["x"]),
                y: labels(&data["y"]),
                n_classes: case["n_classes"].as_u64().expect("n_classes") as usize,
                weights: optional_floats(&case["weights"]),
                params: LogisticParams {
                    c: case["C"].as_f64().expect("C"),
                    fit_intercept: case["fit_intercept"].as_bool().expect("fit_intercept"),
                    max_iter: 10_000,
                    tol: case["tol"].as_f64().expect("tol"),
                },
                case,
            }
        })
        .collect()
}

fn fit(case: &LogisticCase) -> LogisticRegression {
    LogisticRegression::fit(
        &case.x,
        &case.y,
        case.n_classes,
        case.weights.as_deref(),
        &case.params,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

#[test]
fn logistic_regression_reaches_the_optimum_of_scikit_learns_objective() {
    let all = logistic_cases();
    assert!(all.iter().any(|c| c.n_classes == 2) && all.iter().any(|c| c.n_classes > 2));
    for case in &all {
        let name = &case.name;
        let model = fit(case);
        assert!(
            model.converged(),
            "{name}: not converged after {} iterations",
            model.n_iter()
        );
        assert!(model.gradient_max() <= case.params.tol, "{name}");
        let expected_rows = if case.n_classes == 2 {
            1
        } else {
            case.n_classes
        };
        assert_eq!(model.coefficients().n_rows(), expected_rows, "{name}");
        let want = matrix(&case.case["optimum_coefficients"]);
        assert_close(
            &format!("{name} coefficients"),
            model.coefficients().as_slice(),
            want.as_slice(),
            1e-6,
            1e-8,
        );
        let want = floats(&case.case["optimum_intercepts"]);
        assert_close(
            &format!("{name} intercepts"),
            model.intercepts(),
            &want,
            1e-6,
            1e-8,
        );
        let proba = model.predict_proba(&case.x).expect("predict_proba");
        let want = matrix(&case.case["optimum_predict_proba"]);
        assert_close(
            &format!("{name} predict_proba"),
            proba.as_slice(),
            want.as_slice(),
            0.0,
            1e-7,
        );
    }
}

#[test]
fn logistic_regression_agrees_with_scikit_learns_lbfgs_outputs() {
    for case in logistic_cases() {
        let name = &case.name;
        let model = fit(&case);
        // scikit-learn's lbfgs answer is `solver_spread` away from the optimum; ours is much closer to it.
        let spread = case.case["solver_spread"].as_f64().expect("solver_spread");
        let allowed = 2.0 * spread + 1e-8;
        let want = matrix(&case.case["coefficients"]);
        let difference = max_difference(model.coefficients().as_slice(), want.as_slice());
        assert!(
            difference <= allowed,
            "{name}: coefficients differ by {difference:.2e} (allowed {allowed:.1e})"
        );
        let want = floats(&case.case["intercepts"]);
        let difference = max_difference(model.intercepts(), &want);
        assert!(
            difference <= allowed,
            "{name}: intercepts differ by {difference:.2e} (allowed {allowed:.1e})"
        );

        let proba = model.predict_proba(&case.x).expect("predict_proba");
        let want = matrix(&case.case["predict_proba"]);
        let difference = max_difference(proba.as_slice(), want.as_slice());
        assert!(
            difference <= allowed.max(1e-7),
            "{name}: probabilities differ by {difference:.2e}"
        );

        let scores = model.decision_function(&case.x).expect("decision_function");
        let want: Vec<f64> = if case.n_classes == 2 {
            floats(&case.case["decision_function"])
        } else {
            matrix(&case.case["decision_function"]).as_slice().to_vec()
        };
        let scale = want.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
        let difference = max_difference(scores.as_slice(), &want);
        assert!(
            difference <= 10.0 * allowed * scale,
            "{name}: decision_function differs by {difference:.2e}"
        );

        // A label may only differ where scikit-learn's own scores are a near tie.
        let predicted = model.predict(&case.x).expect("predict");
        let want = labels(&case.case["predict"]);
        for (i, (&got, &expected)) in predicted.iter().zip(&want).enumerate() {
            if got != expected {
                let row = proba.row(i);
                assert!(
                    (row[got] - row[expected]).abs() < 1e-6,
                    "{name}: row {i} predicted {got}, sklearn {expected}"
                );
            }
        }
        assert_eq!(
            model.post_transform(),
            if case.n_classes == 2 {
                PostTransform::Logistic
            } else {
                PostTransform::Softmax
            }
        );
    }
}

#[test]
fn balanced_weights_match_scikit_learns_class_weight() {
    let mut checked = 0;
    for case in logistic_cases() {
        let Some(class_weights) = optional_floats(&case.case["balanced_class_weights"]) else {
            continue;
        };
        let sample_weights = optional_floats(&case.case["sample_weights"]);
        let got = balanced_sample_weights(&case.y, case.n_classes, sample_weights.as_deref())
            .expect("weights");
        let want = case
            .weights
            .as_ref()
            .expect("the equivalent per-sample weights");
        assert_close(&format!("{} weights", case.name), &got, want, 1e-14, 0.0);
        // And per class: every row of class k carries (its sample weight ×) class_weights[k].
        for (i, &label) in case.y.iter().enumerate() {
            let base = sample_weights.as_ref().map_or(1.0, |w| w[i]);
            assert!((got[i] - base * class_weights[label]).abs() <= 1e-14 * got[i].abs());
        }
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected several balanced cases, found {checked}"
    );
}

#[test]
fn weights_act_as_row_repetition() {
    // Integer weights must give the same model as repeating rows (the objective divides by the weight sum).
    let case = logistic_cases()
        .into_iter()
        .find(|c| c.name == "iris_C1")
        .expect("iris case");
    let repeats: Vec<usize> = (0..case.x.n_rows()).map(|i| 1 + i % 3).collect();
    let weights: Vec<f64> = repeats.iter().map(|&r| r as f64).collect();
    let indices: Vec<usize> = repeats
        .iter()
        .enumerate()
        .flat_map(|(i, &r)| std::iter::repeat_n(i, r))
        .collect();
    let repeated_y: Vec<usize> = indices.iter().map(|&i| case.y[i]).collect();
    let weighted = LogisticRegression::fit(&case.x, &case.y, 3, Some(&weights), &case.params)
        .expect("weighted");
    let repeated = LogisticRegression::fit(
        &case.x.select_rows(&indices),
        &repeated_y,
        3,
        None,
        &case.params,
    )
    .expect("repeated");
    let difference = max_difference(
        weighted.coefficients().as_slice(),
        repeated.coefficients().as_slice(),
    );
    assert!(difference < 1e-7, "{difference}");
}

#[test]
fn default_params_are_scikit_learns() {
    let params = LogisticParams::default();
    assert_eq!(
        (params.c, params.fit_intercept, params.max_iter, params.tol),
        (1.0, true, 100, 1e-4)
    );
}

#[test]
fn max_iter_is_respected_and_reported() {
    let case = logistic_cases()
        .into_iter()
        .find(|c| c.name == "wine_C1")
        .expect("wine case");
    let params = LogisticParams {
        max_iter: 3,
        ..case.params
    };
    let model = LogisticRegression::fit(&case.x, &case.y, 3, None, &params).expect("fit");
    assert_eq!(model.n_iter(), 3);
    assert!(!model.converged());
}

#[test]
fn models_survive_a_serde_round_trip() {
    let case = logistic_cases()
        .into_iter()
        .find(|c| c.name == "wine_C0.1")
        .expect("wine case");
    let model = fit(&case);
    let text = serde_json::to_string(&model).expect("serialise");
    let back: LogisticRegression = serde_json::from_str(&text).expect("deserialise");
    assert_eq!(back, model);
    assert!(text.contains("\"post_transform\":\"softmax\""), "{text}");

    let x = Matrix::from_rows(&[vec![1.0, 2.0], vec![2.0, 0.5], vec![3.0, 1.0]]);
    let model = LinearRegression::fit(&x, &[1.0, 2.0, 4.0], None, 0.5).expect("fit");
    let back: LinearRegression =
        serde_json::from_str(&serde_json::to_string(&model).expect("ser")).expect("de");
    assert_eq!(back, model);
}

/// A synthetic binary problem of `n × p`, labels drawn from a logistic model.
fn synthetic_binary(n: usize, p: usize, seed: u64) -> (Matrix, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let truth: Vec<f64> = (0..p)
        .map(|j| if j % 2 == 0 { 0.5 } else { -0.3 })
        .collect();
    let mut data = Vec::with_capacity(n * p);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..p).map(|_| rng.normal()).collect();
        let z: f64 = row.iter().zip(&truth).map(|(a, b)| a * b).sum::<f64>() + 0.2;
        y.push(usize::from(rng.next_f64() < 1.0 / (1.0 + (-z).exp())));
        data.extend(row);
    }
    (Matrix::new(n, p, data), y)
}

#[test]
fn fits_are_bit_identical_run_to_run() {
    // More rows than one parallel chunk, so the chunked reduction is exercised.
    let (x, y) = synthetic_binary(10_000, 8, 11);
    let params = LogisticParams {
        tol: 1e-8,
        ..LogisticParams::default()
    };
    let first = LogisticRegression::fit(&x, &y, 2, None, &params).expect("fit");
    for _ in 0..3 {
        assert_eq!(
            LogisticRegression::fit(&x, &y, 2, None, &params).expect("fit"),
            first
        );
    }
}

/// Timing of the brief's size (100,000 × 20, two classes). Run in release:
/// `cargo test -p steward-ml --release --test linear -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release"]
fn timing_100k_by_20_binary() {
    let (x, y) = synthetic_binary(100_000, 20, 5);
    for params in [
        LogisticParams::default(),
        LogisticParams {
            tol: 1e-10,
            max_iter: 1000,
            ..LogisticParams::default()
        },
    ] {
        let start = Instant::now();
        let model = LogisticRegression::fit(&x, &y, 2, None, &params).expect("fit");
        println!(
            "100000 x 20 binary, tol {:e}: {:.3} s, {} iterations, converged {}, max |gradient| {:.1e}",
            params.tol,
            start.elapsed().as_secs_f64(),
            model.n_iter(),
            model.converged(),
            model.gradient_max()
        );
    }
    let y_reg: Vec<f64> = x.rows().map(|r| r.iter().sum::<f64>()).collect();
    let start = Instant::now();
    LinearRegression::fit(&x, &y_reg, None, 1.0).expect("ridge");
    println!("100000 x 20 ridge: {:.3} s", start.elapsed().as_secs_f64());
}
