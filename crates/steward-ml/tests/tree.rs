//! Behaviour of the tree learners: exact fits, limits, weights, determinism, accuracy on iris, regression,
//! early stopping, importances, and parameter/data errors. Small data only; the large runs are the
//! `train_bench` example (scripts/bench_training.sh).

use std::sync::Mutex;

use steward_ml::matrix::Matrix;
use steward_ml::rng::Rng;
use steward_ml::tree::{
    ClassWeight, DecisionTreeClassifier, DecisionTreeParams, DecisionTreeRegressor, EarlyStopping,
    GradientBoostingClassifier, GradientBoostingParams, GradientBoostingRegressor, MaxFeatures,
    NodeView, RandomForestClassifier, RandomForestParams, RandomForestRegressor, Tree,
    TreeClassifier, TreeRegressor, no_progress,
};

fn accuracy(predicted: &[usize], truth: &[usize]) -> f64 {
    predicted.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
}

fn r_squared(predicted: &[f64], truth: &[f64]) -> f64 {
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    let residual: f64 = predicted
        .iter()
        .zip(truth)
        .map(|(p, t)| (p - t).powi(2))
        .sum();
    let total: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    1.0 - residual / total
}

/// Iris from the fixture: 4 features, class indices in order of first appearance.
fn iris() -> (Matrix, Vec<usize>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/data/iris.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    let (mut rows, mut labels, mut names) = (Vec::new(), Vec::new(), Vec::<String>::new());
    for record in reader.records() {
        let record = record.unwrap();
        rows.push(
            (0..4)
                .map(|j| record[j].parse::<f64>().unwrap())
                .collect::<Vec<_>>(),
        );
        let name = record[4].to_string();
        let index = match names.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                names.push(name);
                names.len() - 1
            }
        };
        labels.push(index);
    }
    assert_eq!(names.len(), 3);
    (Matrix::from_rows(&rows), labels)
}

/// A seeded 70/30 split of row indices.
fn split(n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let n_test = n * 3 / 10;
    let (test, train) = order.split_at(n_test);
    (train.to_vec(), test.to_vec())
}

fn pick<T: Copy>(values: &[T], rows: &[usize]) -> Vec<T> {
    rows.iter().map(|&r| values[r]).collect()
}

/// Two informative features deciding the class (with some overlap) and `n_noise` pure-noise features.
fn noisy_classes(n: usize, n_noise: usize, seed: u64) -> (Matrix, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..n {
        let a = rng.normal();
        let b = rng.normal();
        let mut row = vec![a, b];
        row.extend((0..n_noise).map(|_| rng.normal()));
        rows.push(row);
        labels.usize_push(a + 0.5 * b + 0.3 * rng.normal() > 0.0);
    }
    (Matrix::from_rows(&rows), labels)
}

trait PushBool {
    fn usize_push(&mut self, value: bool);
}

impl PushBool for Vec<usize> {
    fn usize_push(&mut self, value: bool) {
        self.push(usize::from(value));
    }
}

fn rows_per_leaf(tree: &Tree, x: &Matrix) -> Vec<usize> {
    let mut counts = vec![0usize; tree.n_nodes()];
    for row in x.rows() {
        counts[tree.leaf_of(row)] += 1;
    }
    (0..tree.n_nodes())
        .filter(|&n| matches!(tree.node(n), NodeView::Leaf { .. }))
        .map(|n| counts[n])
        .collect()
}

#[test]
fn a_full_tree_fits_separable_data_exactly() {
    // A checkerboard: no single feature separates it, a depth-2 tree does.
    let mut rng = Rng::new(1);
    let rows: Vec<Vec<f64>> = (0..400)
        .map(|_| vec![rng.next_f64(), rng.next_f64()])
        .collect();
    let labels: Vec<usize> = rows
        .iter()
        .map(|r| usize::from((r[0] > 0.5) != (r[1] > 0.5)))
        .collect();
    let x = Matrix::from_rows(&rows);
    let tree = DecisionTreeClassifier::fit(&x, &labels, 2, None, &DecisionTreeParams::default(), 0)
        .unwrap();
    assert_eq!(accuracy(&tree.predict(&x).unwrap(), &labels), 1.0);
    let forest = RandomForestClassifier::fit(
        &x,
        &labels,
        2,
        None,
        &RandomForestParams {
            n_estimators: 10,
            ..Default::default()
        },
        0,
        &no_progress,
    )
    .unwrap();
    assert!(accuracy(&forest.predict(&x).unwrap(), &labels) > 0.99);

    // Distinct targets on distinct inputs: a full regression tree reproduces every one.
    let targets: Vec<f64> = rows.iter().map(|r| r[0] * 10.0 - r[1]).collect();
    let regressor =
        DecisionTreeRegressor::fit(&x, &targets, None, &DecisionTreeParams::default(), 0).unwrap();
    let fitted = regressor.predict(&x).unwrap();
    for (f, t) in fitted.iter().zip(&targets) {
        assert!((f - t).abs() < 1e-9, "{f} vs {t}");
    }
}

#[test]
fn thresholds_are_f32_and_routing_survives_f32_inputs() {
    let (x, y) = noisy_classes(500, 3, 2);
    let tree =
        DecisionTreeClassifier::fit(&x, &y, 2, None, &DecisionTreeParams::default(), 0).unwrap();
    let tree = tree.tree();
    for node in 0..tree.n_nodes() {
        if let NodeView::Split { threshold, .. } = tree.node(node) {
            assert_eq!(f64::from(threshold as f32), threshold);
        }
    }
    // An ONNX runtime sees float32 inputs; every training row must land in the same leaf.
    for row in x.rows() {
        let as_f32: Vec<f64> = row.iter().map(|&v| f64::from(v as f32)).collect();
        assert_eq!(tree.leaf_of(row), tree.leaf_of(&as_f32));
    }
}

#[test]
fn depth_and_leaf_limits_are_respected() {
    let (x, y) = noisy_classes(600, 4, 3);
    let shallow = DecisionTreeClassifier::fit(
        &x,
        &y,
        2,
        None,
        &DecisionTreeParams {
            max_depth: Some(3),
            ..Default::default()
        },
        0,
    )
    .unwrap();
    assert!(shallow.tree().depth() <= 3);
    assert!(shallow.tree().n_leaves() <= 8);
    let unlimited =
        DecisionTreeClassifier::fit(&x, &y, 2, None, &DecisionTreeParams::default(), 0).unwrap();
    assert!(
        unlimited.tree().depth() > 3,
        "the data needs more than depth 3"
    );

    let leafy = DecisionTreeClassifier::fit(
        &x,
        &y,
        2,
        None,
        &DecisionTreeParams {
            min_samples_leaf: 25,
            ..Default::default()
        },
        0,
    )
    .unwrap();
    let counts = rows_per_leaf(leafy.tree(), &x);
    assert!(counts.len() > 2);
    assert!(counts.iter().all(|&c| c >= 25), "{counts:?}");

    let params = GradientBoostingParams {
        n_estimators: 5,
        max_leaves: Some(5),
        min_samples_leaf: 10,
        early_stopping: EarlyStopping::Off,
        ..Default::default()
    };
    let boosted =
        GradientBoostingClassifier::fit(&x, &y, 2, None, &params, 0, &no_progress).unwrap();
    for tree in boosted.trees() {
        assert!(tree.n_leaves() <= 5 && tree.n_leaves() >= 2);
        assert!(rows_per_leaf(tree, &x).iter().all(|&c| c >= 10));
    }
    let params = GradientBoostingParams {
        max_leaves: None,
        max_depth: Some(2),
        ..params
    };
    let boosted =
        GradientBoostingClassifier::fit(&x, &y, 2, None, &params, 0, &no_progress).unwrap();
    assert!(boosted.trees().iter().all(|t| t.depth() <= 2));
}

#[test]
fn sample_weights_shift_the_fit() {
    // One input value, two labels: the leaf's probabilities are the weighted class shares.
    let x = Matrix::new(4, 1, vec![1.0; 4]);
    let y = [0, 1, 1, 0];
    let weights = [1.0, 3.0, 3.0, 1.0];
    let params = DecisionTreeParams::default();
    let unweighted = DecisionTreeClassifier::fit(&x, &y, 2, None, &params, 0).unwrap();
    let weighted = DecisionTreeClassifier::fit(&x, &y, 2, Some(&weights), &params, 0).unwrap();
    assert_eq!(unweighted.predict_proba(&x).unwrap().row(0), &[0.5, 0.5]);
    assert_eq!(weighted.predict_proba(&x).unwrap().row(0), &[0.25, 0.75]);

    // Regression leaves are weighted means; zero-weight rows take no part.
    let targets = [0.0, 10.0, 10.0, 0.0];
    let regressor = DecisionTreeRegressor::fit(&x, &targets, Some(&weights), &params, 0).unwrap();
    assert!((regressor.predict(&x).unwrap()[0] - 7.5).abs() < 1e-12);
    let ignore_zeros = [0.0, 1.0, 1.0, 0.0];
    let regressor =
        DecisionTreeRegressor::fit(&x, &targets, Some(&ignore_zeros), &params, 0).unwrap();
    assert_eq!(regressor.predict(&x).unwrap()[0], 10.0);
}

#[test]
fn balanced_class_weight_raises_minority_recall() {
    // 10% minority class, overlapping with the majority: unweighted trees favour the majority.
    let mut rng = Rng::new(11);
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for i in 0..2000 {
        let minority = i % 10 == 0;
        let centre = if minority { 1.0 } else { 0.0 };
        rows.push(vec![
            centre + rng.normal(),
            centre + rng.normal(),
            rng.normal(),
        ]);
        labels.push(usize::from(minority));
    }
    let x = Matrix::from_rows(&rows);
    let (train, test) = split(x.n_rows(), 4);
    let (x_train, x_test) = (x.select_rows(&train), x.select_rows(&test));
    let (y_train, y_test) = (pick(&labels, &train), pick(&labels, &test));
    let recall = |class_weight: ClassWeight| {
        let params = RandomForestParams {
            n_estimators: 30,
            min_samples_leaf: 20,
            class_weight,
            ..Default::default()
        };
        let forest =
            RandomForestClassifier::fit(&x_train, &y_train, 2, None, &params, 0, &no_progress)
                .unwrap();
        let predicted = forest.predict(&x_test).unwrap();
        let minority: Vec<(usize, usize)> = predicted
            .iter()
            .zip(&y_test)
            .filter(|(_, t)| **t == 1)
            .map(|(p, t)| (*p, *t))
            .collect();
        minority.iter().filter(|(p, t)| p == t).count() as f64 / minority.len() as f64
    };
    let plain = recall(ClassWeight::Uniform);
    let balanced = recall(ClassWeight::Balanced);
    let subsample = recall(ClassWeight::BalancedSubsample);
    let explicit = recall(ClassWeight::Explicit(vec![1.0, 9.0]));
    assert!(balanced > plain + 0.2, "plain {plain}, balanced {balanced}");
    assert!(
        subsample > plain + 0.2,
        "plain {plain}, balanced_subsample {subsample}"
    );
    assert!(explicit > plain + 0.2, "plain {plain}, explicit {explicit}");
}

#[test]
fn same_seed_same_model_and_other_seeds_differ() {
    let (x, y) = noisy_classes(300, 3, 5);
    let forest = |seed| {
        let params = RandomForestParams {
            n_estimators: 12,
            ..Default::default()
        };
        let model =
            RandomForestClassifier::fit(&x, &y, 2, None, &params, seed, &no_progress).unwrap();
        serde_json::to_string(&model).unwrap()
    };
    assert_eq!(forest(7), forest(7));
    assert_ne!(forest(7), forest(8));

    let targets: Vec<f64> = x.rows().map(|r| r[0] * 2.0 + r[1]).collect();
    let regression_forest = |seed| {
        let params = RandomForestParams {
            n_estimators: 6,
            ..Default::default()
        };
        let model =
            RandomForestRegressor::fit(&x, &targets, None, &params, seed, &no_progress).unwrap();
        serde_json::to_string(&model).unwrap()
    };
    assert_eq!(regression_forest(3), regression_forest(3));
    assert_ne!(regression_forest(3), regression_forest(4));

    // Boosting draws randomness for the validation split and for rounding its quantized gradients.
    let boosting = |seed| {
        let params = GradientBoostingParams {
            n_estimators: 20,
            early_stopping: EarlyStopping::On,
            ..Default::default()
        };
        let model =
            GradientBoostingClassifier::fit(&x, &y, 2, None, &params, seed, &no_progress).unwrap();
        serde_json::to_string(&model).unwrap()
    };
    assert_eq!(boosting(1), boosting(1));
    assert_ne!(boosting(1), boosting(2));

    // A model survives a JSON round trip with the same predictions.
    let text = forest(7);
    let restored: RandomForestClassifier = serde_json::from_str(&text).unwrap();
    let original: RandomForestClassifier = serde_json::from_str(&forest(7)).unwrap();
    assert_eq!(
        restored.predict_proba(&x).unwrap(),
        original.predict_proba(&x).unwrap()
    );
}

#[test]
fn iris_holdout_accuracy_of_forest_and_boosting() {
    let (x, y) = iris();
    let (train, test) = split(x.n_rows(), 2024);
    let (x_train, x_test) = (x.select_rows(&train), x.select_rows(&test));
    let (y_train, y_test) = (pick(&y, &train), pick(&y, &test));
    let forest = RandomForestClassifier::fit(
        &x_train,
        &y_train,
        3,
        None,
        &RandomForestParams::default(),
        0,
        &no_progress,
    )
    .unwrap();
    let forest_accuracy = accuracy(&forest.predict(&x_test).unwrap(), &y_test);
    // scikit-learn 1.9 on this very split: RandomForestClassifier 0.911..0.933 over random_state 0..19,
    // HistGradientBoostingClassifier 0.889 (45 test rows, so one row is 0.022).
    assert!(forest_accuracy >= 0.91, "forest {forest_accuracy}");
    let probabilities = forest.predict_proba(&x_test).unwrap();
    for row in probabilities.rows() {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    let boosting = GradientBoostingClassifier::fit(
        &x_train,
        &y_train,
        3,
        None,
        &GradientBoostingParams::default(),
        0,
        &no_progress,
    )
    .unwrap();
    let boosting_accuracy = accuracy(&boosting.predict(&x_test).unwrap(), &y_test);
    assert!(boosting_accuracy >= 0.88, "boosting {boosting_accuracy}");
    // Multiclass: one tree per class per round.
    assert_eq!(boosting.trees().len(), 3 * boosting.n_rounds());
}

#[test]
fn regression_r_squared_on_a_smooth_function() {
    let mut rng = Rng::new(9);
    let rows: Vec<Vec<f64>> = (0..1500)
        .map(|_| {
            vec![
                rng.next_f64() * 6.0 - 3.0,
                rng.next_f64() * 4.0 - 2.0,
                rng.normal(),
            ]
        })
        .collect();
    let targets: Vec<f64> = rows
        .iter()
        .map(|r| 3.0 * r[0].sin() + r[1] * r[1] + 0.1 * rng.normal())
        .collect();
    let x = Matrix::from_rows(&rows);
    let (train, test) = split(x.n_rows(), 1);
    let (x_train, x_test) = (x.select_rows(&train), x.select_rows(&test));
    let (y_train, y_test) = (pick(&targets, &train), pick(&targets, &test));
    let forest = RandomForestRegressor::fit(
        &x_train,
        &y_train,
        None,
        &RandomForestParams {
            n_estimators: 30,
            ..Default::default()
        },
        0,
        &no_progress,
    )
    .unwrap();
    let forest_r2 = r_squared(&forest.predict(&x_test).unwrap(), &y_test);
    assert!(forest_r2 > 0.9, "forest R² {forest_r2}");
    let boosting = GradientBoostingRegressor::fit(
        &x_train,
        &y_train,
        None,
        &GradientBoostingParams::default(),
        0,
        &no_progress,
    )
    .unwrap();
    let boosting_r2 = r_squared(&boosting.predict(&x_test).unwrap(), &y_test);
    assert!(boosting_r2 > 0.9, "boosting R² {boosting_r2}");
    assert!(forest.feature_importances()[2] < 0.1);
}

#[test]
fn early_stopping_stops_early_on_noise() {
    let mut rng = Rng::new(21);
    let rows: Vec<Vec<f64>> = (0..1500)
        .map(|_| vec![rng.normal(), rng.normal()])
        .collect();
    let labels: Vec<usize> = (0..rows.len()).map(|_| rng.below(2)).collect();
    let x = Matrix::from_rows(&rows);
    let params = GradientBoostingParams {
        n_estimators: 200,
        early_stopping: EarlyStopping::On,
        n_iter_no_change: 5,
        ..Default::default()
    };
    let calls = Mutex::new(Vec::new());
    let progress = |done: usize, total: usize| calls.lock().unwrap().push((done, total));
    let model =
        GradientBoostingClassifier::fit(&x, &labels, 2, None, &params, 0, &progress).unwrap();
    assert!(
        model.n_rounds() < 50,
        "ran {} rounds on pure noise",
        model.n_rounds()
    );
    assert_eq!(model.trees().len(), model.n_rounds());
    assert_eq!(model.validation_losses().len(), model.n_rounds() + 1);
    let calls = calls.into_inner().unwrap();
    assert_eq!(calls.len(), model.n_rounds());
    assert_eq!(calls.last(), Some(&(model.n_rounds(), 200)));

    // On learnable data the same settings keep going much longer.
    let (x, y) = noisy_classes(1500, 0, 8);
    let params = GradientBoostingParams {
        learning_rate: 0.02,
        ..params
    };
    let model = GradientBoostingClassifier::fit(&x, &y, 2, None, &params, 0, &no_progress).unwrap();
    assert!(model.n_rounds() > 50, "stopped after {}", model.n_rounds());
}

#[test]
fn forest_progress_reports_every_tree() {
    let (x, y) = noisy_classes(200, 1, 4);
    let calls = Mutex::new(Vec::new());
    let progress = |done: usize, total: usize| calls.lock().unwrap().push((done, total));
    let params = RandomForestParams {
        n_estimators: 9,
        ..Default::default()
    };
    RandomForestClassifier::fit(&x, &y, 2, None, &params, 0, &progress).unwrap();
    let mut calls = calls.into_inner().unwrap();
    calls.sort_unstable();
    assert_eq!(calls, (1..=9).map(|d| (d, 9)).collect::<Vec<_>>());
}

#[test]
fn importances_sum_to_one_and_rank_signal_above_noise() {
    let (x, y) = noisy_classes(800, 3, 6);
    let check = |importances: Vec<f64>, name: &str| {
        assert_eq!(importances.len(), 5);
        assert!(
            (importances.iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "{name}: {importances:?}"
        );
        let strongest_noise = importances[2..].iter().copied().fold(0.0, f64::max);
        assert!(importances[0] > strongest_noise, "{name}: {importances:?}");
    };
    let tree = DecisionTreeClassifier::fit(
        &x,
        &y,
        2,
        None,
        &DecisionTreeParams {
            max_depth: Some(4),
            ..Default::default()
        },
        0,
    )
    .unwrap();
    check(tree.feature_importances(), "tree");
    let params = RandomForestParams {
        n_estimators: 20,
        ..Default::default()
    };
    let forest = RandomForestClassifier::fit(&x, &y, 2, None, &params, 0, &no_progress).unwrap();
    check(forest.feature_importances(), "forest");
    let params = GradientBoostingParams {
        n_estimators: 20,
        ..Default::default()
    };
    let boosting =
        GradientBoostingClassifier::fit(&x, &y, 2, None, &params, 0, &no_progress).unwrap();
    check(boosting.feature_importances(), "boosting");
}

#[test]
fn bad_parameters_and_data_are_rejected_with_messages() {
    let (x, y) = noisy_classes(50, 2, 1);
    let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let message = |result: Result<(), steward_ml::MlError>| result.unwrap_err().to_string();

    let err = message(RandomForestParams::from_pairs(&pairs(&[("n_estimators", "0")])).map(|_| ()));
    assert!(err.contains("n_estimators"), "{err}");
    let err =
        message(GradientBoostingParams::from_pairs(&pairs(&[("learning_rate", "0")])).map(|_| ()));
    assert!(err.contains("learning_rate=0"), "{err}");
    let err =
        message(RandomForestParams::from_pairs(&pairs(&[("max_features", "1.5")])).map(|_| ()));
    assert!(err.contains("max_features"), "{err}");
    let err = message(GradientBoostingParams::from_pairs(&pairs(&[("depth", "3")])).map(|_| ()));
    assert!(
        err.contains("'depth'") && err.contains("max_depth"),
        "{err}"
    );
    let err =
        message(RandomForestParams::from_pairs(&pairs(&[("bootstrap", "maybe")])).map(|_| ()));
    assert!(err.contains("bootstrap=maybe"), "{err}");

    // Structs built in code are checked at fit time too.
    let zero_trees = RandomForestParams {
        n_estimators: 0,
        ..Default::default()
    };
    assert!(RandomForestClassifier::fit(&x, &y, 2, None, &zero_trees, 0, &no_progress).is_err());
    let negative_rate = GradientBoostingParams {
        learning_rate: -0.1,
        ..Default::default()
    };
    assert!(
        GradientBoostingClassifier::fit(&x, &y, 2, None, &negative_rate, 0, &no_progress).is_err()
    );
    let too_many = RandomForestParams {
        max_features: Some(MaxFeatures::Count(10)),
        ..Default::default()
    };
    let err = message(
        RandomForestClassifier::fit(&x, &y, 2, None, &too_many, 0, &no_progress).map(|_| ()),
    );
    assert!(err.contains("only 4 features"), "{err}");

    // Data errors.
    let empty = Matrix::new(0, 4, Vec::new());
    let params = RandomForestParams::default();
    let err = message(
        RandomForestClassifier::fit(&empty, &[], 2, None, &params, 0, &no_progress).map(|_| ()),
    );
    assert!(err.contains("at least one row"), "{err}");
    assert!(
        GradientBoostingRegressor::fit(
            &empty,
            &[],
            None,
            &GradientBoostingParams::default(),
            0,
            &no_progress
        )
        .is_err()
    );
    assert!(RandomForestClassifier::fit(&x, &y[1..], 2, None, &params, 0, &no_progress).is_err());
    assert!(
        RandomForestClassifier::fit(&x, &vec![5; 50], 2, None, &params, 0, &no_progress).is_err()
    );
    assert!(
        RandomForestClassifier::fit(&x, &y, 2, Some(&[0.0; 50]), &params, 0, &no_progress).is_err()
    );
    assert!(
        GradientBoostingClassifier::fit(
            &x,
            &vec![0; 50],
            1,
            None,
            &GradientBoostingParams::default(),
            0,
            &no_progress
        )
        .is_err()
    );
    let mut with_nan = x.clone();
    with_nan.set(3, 1, f64::NAN);
    let err = message(
        RandomForestClassifier::fit(&with_nan, &y, 2, None, &params, 0, &no_progress).map(|_| ()),
    );
    assert!(err.contains("row 3, column 1"), "{err}");

    // Predicting with the wrong number of columns.
    let forest = RandomForestClassifier::fit(
        &x,
        &y,
        2,
        None,
        &RandomForestParams {
            n_estimators: 2,
            ..Default::default()
        },
        0,
        &no_progress,
    )
    .unwrap();
    let err = message(forest.predict_proba(&Matrix::zeros(2, 3)).map(|_| ()));
    assert!(err.contains("4 features"), "{err}");
}

/// Ensembles predict tree by tree over blocks of rows, several rows walked side by side: the result must be
/// the row-by-row walk's, bit for bit, whatever the row count (blocks and lanes with a remainder).
#[test]
fn ensemble_predictions_equal_the_row_by_row_walk() {
    let (x, y) = noisy_classes(1_301, 3, 17);
    let params = RandomForestParams {
        n_estimators: 12,
        ..RandomForestParams::default()
    };
    let forest = RandomForestClassifier::fit(&x, &y, 2, None, &params, 3, &no_progress).unwrap();
    let proba = forest.predict_proba(&x).unwrap();
    let scale = 1.0 / forest.trees().len() as f64;
    for (r, row) in x.rows().enumerate() {
        let mut expected = [0.0; 2];
        for tree in forest.trees() {
            for (e, v) in expected.iter_mut().zip(tree.predict_row(row)) {
                *e += v;
            }
        }
        for (c, e) in expected.iter().enumerate() {
            assert_eq!(proba.get(r, c).to_bits(), (e * scale).to_bits(), "row {r}");
        }
    }

    let targets: Vec<f64> = x.rows().map(|row| row[0] * 2.0 + row[1]).collect();
    let regressor =
        RandomForestRegressor::fit(&x, &targets, None, &params, 3, &no_progress).unwrap();
    let predicted = regressor.predict(&x).unwrap();
    for (r, row) in x.rows().enumerate() {
        let sum: f64 = regressor
            .trees()
            .iter()
            .map(|t| t.predict_row(row)[0])
            .sum();
        assert_eq!(predicted[r].to_bits(), (sum * scale).to_bits(), "row {r}");
    }

    // Side-by-side walks reach each row's own leaf, rows of different depths included.
    for tree in regressor.trees() {
        for start in (0..x.n_rows() - 8).step_by(97) {
            let rows: [&[f64]; 8] = std::array::from_fn(|lane| x.row(start + lane));
            let leaves = tree.leaves_of(rows);
            for (lane, leaf) in leaves.iter().enumerate() {
                assert_eq!(*leaf, tree.leaf_of(rows[lane]));
            }
        }
    }
}
