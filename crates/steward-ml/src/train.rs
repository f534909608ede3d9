//! Training end to end: check the data, encode the target, split reproducibly, fit the preprocessing and the
//! estimator on the training part, evaluate on the holdout (and by k-fold cross-validation when asked), and
//! return a self-contained [`TrainedModel`] that predicts from raw data.
//!
//! Same data + same spec (including the seed) → byte-identical model JSON.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::dataset::{ColumnData, ColumnType, Dataset, Role};
use crate::error::{MlResult, invalid_data, invalid_param};
use crate::estimator::{Algorithm, Estimator};
use crate::matrix::{Matrix, Probabilities};
use crate::metrics::{ClassificationMetrics, RegressionMetrics, positive_index};
use crate::preprocess::{
    Imputation, LabelEncoder, PreprocessConfig, Preprocessor, regression_target,
};
use crate::quality::{self, QualityReport, Reference, Severity};
use crate::split::{k_fold, train_test_split};

pub const MODEL_FORMAT: &str = "steward-model/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Classification,
    Regression,
}

impl Task {
    pub fn parse(text: &str) -> MlResult<Task> {
        match text {
            "classification" => Ok(Task::Classification),
            "regression" => Ok(Task::Regression),
            other => Err(invalid_param(format!(
                "task '{other}' is not one of classification, regression"
            ))),
        }
    }
}

/// What to train and how. Parameters that are not the estimator's own (`imputation`) are taken out of `params`
/// before the estimator sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    pub algorithm: Algorithm,
    pub params: Vec<(String, String)>,
    pub seed: u64,
    pub test_size: f64,
    pub cv_folds: Option<usize>,
    /// Inferred from the target when `None`.
    pub task: Option<Task>,
}

/// A trained model with everything needed to predict from raw rows: the preprocessing, the estimator, the class
/// labels, and the training data's schema and profile (the reference for validation and drift).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    pub format: String,
    pub task: Task,
    pub algorithm: Algorithm,
    pub params: BTreeMap<String, String>,
    pub seed: u64,
    pub target: String,
    /// Class labels in the order of probability columns (empty for regression).
    pub classes: Vec<String>,
    /// The class a binary classifier's precision, recall and F1 are about (`--param positive_class=LABEL`);
    /// `None` is the second class. Absent from the serialised model when `None`, so older packages read as
    /// before and keep their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_class: Option<String>,
    pub preprocessor: Preprocessor,
    pub estimator: Estimator,
    pub reference: Reference,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    /// Predicted class labels (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Predicted class indices (classification).
    #[serde(skip)]
    pub class_indices: Option<Vec<usize>>,
    /// Predicted values (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    /// Class probabilities, one column per class (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Probabilities>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evaluation {
    Classification(Box<ClassificationMetrics>),
    Regression(RegressionMetrics),
}

impl Evaluation {
    /// Flat headline numbers, for run metrics.
    pub fn headline(&self) -> Vec<(String, f64)> {
        match self {
            Evaluation::Classification(m) => m.headline(),
            Evaluation::Regression(m) => m.headline(),
        }
    }

    /// The number cross-validation reports: accuracy or R².
    pub fn primary(&self) -> (&'static str, f64) {
        let name = match self {
            Evaluation::Classification(_) => "accuracy",
            Evaluation::Regression(_) => "r2",
        };
        let value = self
            .headline()
            .into_iter()
            .find(|(key, _)| key == name)
            .map_or(f64::NAN, |(_, v)| v);
        (name, value)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    pub folds: usize,
    pub metric: String,
    pub scores: Vec<f64>,
    pub mean: f64,
    pub std: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermutationImportance {
    pub feature: String,
    /// Mean drop of the score over the repeats (higher = more important; about 0 or below = unused).
    pub mean: f64,
    pub std: f64,
}

/// Shuffles per column for permutation importance (scikit-learn's default `n_repeats`).
pub const PERMUTATION_REPEATS: usize = 5;
/// Permutation importance scores at most this many holdout rows, so it stays cheap on large data.
pub const PERMUTATION_MAX_ROWS: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    pub model: TrainedModel,
    pub quality: QualityReport,
    pub rows_train: usize,
    pub rows_test: usize,
    /// Metrics on the holdout (absent with `test_size = 0`).
    pub holdout: Option<Evaluation>,
    pub cross_validation: Option<CrossValidation>,
    /// Impurity-based for trees, |coefficient| share for linear models; by preprocessed feature.
    pub feature_importance: Vec<(String, f64)>,
    /// Drop of the holdout score (accuracy or R²) when one input column is shuffled; by input column. Empty
    /// without a holdout.
    pub permutation_importance: Vec<PermutationImportance>,
    pub fit_seconds: f64,
}

/// The task the target implies: categorical, boolean or small-integer targets are classes; other numbers are
/// regression targets. Linear regression always regresses and logistic regression always classifies.
pub fn infer_task(data: &Dataset, target: &str, algorithm: Algorithm) -> MlResult<Task> {
    if let Some(task) = algorithm.fixed_task() {
        return Ok(task);
    }
    let schema = data
        .schema
        .column(target)
        .ok_or_else(|| invalid_data(format!("no column named '{target}'")))?;
    Ok(
        match (schema.column_type, &data.column(target).map(|c| &c.data)) {
            (ColumnType::Numeric, Some(ColumnData::Numeric(values))) => {
                let mut distinct = std::collections::BTreeSet::new();
                let integral = values.iter().filter(|v| !v.is_nan()).all(|v| {
                    distinct.insert(v.to_bits());
                    v.fract() == 0.0
                });
                if integral && distinct.len() <= 20 {
                    Task::Classification
                } else {
                    Task::Regression
                }
            }
            _ => Task::Classification,
        },
    )
}

/// The parameters of a training that are not the estimator's.
struct OwnParams {
    preprocess: PreprocessConfig,
    /// `positive_class`: the binary scores' positive class, checked against the classes once they are known.
    positive_class: Option<String>,
}

/// Splits `params` into the training's own (`imputation`, `positive_class`) and the estimator's.
fn split_params(
    params: &[(String, String)],
    algorithm: Algorithm,
) -> MlResult<(OwnParams, Vec<(String, String)>)> {
    let mut own = OwnParams {
        preprocess: PreprocessConfig {
            imputation: Imputation::Mean,
            standardize: algorithm.wants_standardized_inputs(),
        },
        positive_class: None,
    };
    let mut rest = Vec::new();
    for (key, value) in params {
        match key.as_str() {
            "imputation" => own.preprocess.imputation = Imputation::parse(value)?,
            "positive_class" => own.positive_class = Some(value.clone()),
            _ => rest.push((key.clone(), value.clone())),
        }
    }
    Ok((own, rest))
}

pub fn train(
    data: &Dataset,
    spec: &TrainSpec,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> MlResult<TrainReport> {
    let target = data
        .schema
        .target()
        .map(|c| c.name.clone())
        .ok_or_else(|| invalid_data("no target column; name it with --target COLUMN"))?;
    let (own, estimator_params) = split_params(&spec.params, spec.algorithm)?;
    let preprocess_config = own.preprocess;
    // Parse and check every parameter before any work, so a typo fails fast.
    spec.algorithm.check_params(&estimator_params)?;
    let task = match spec.task {
        Some(task) => task,
        None => infer_task(data, &target, spec.algorithm)?,
    };
    if let Some(fixed) = spec.algorithm.fixed_task()
        && fixed != task
    {
        return Err(invalid_param(format!(
            "{} does {:?}, not {task:?}",
            spec.algorithm.name(),
            fixed
        )));
    }

    let quality = quality::check(data, None);
    let errors = quality.failures(Severity::Error);
    if !errors.is_empty() {
        let messages: Vec<&str> = errors.iter().map(|c| c.message.as_str()).collect();
        return Err(invalid_data(format!(
            "the data fails {} quality check(s): {}",
            errors.len(),
            messages.join("; ")
        )));
    }

    let (classes, labels, values) = match task {
        Task::Classification => {
            let encoder = LabelEncoder::fit(data, &target)?;
            if encoder.classes.len() < 2 {
                return Err(invalid_data(format!(
                    "target '{target}' has a single class ({}); a classifier needs at least two",
                    encoder
                        .classes
                        .first()
                        .map(String::as_str)
                        .unwrap_or_default()
                )));
            }
            let labels = encoder.encode(data, &target)?;
            (encoder.classes, Some(labels), None)
        }
        Task::Regression => (Vec::new(), None, Some(regression_target(data, &target)?)),
    };
    if let Some(label) = &own.positive_class {
        if task != Task::Classification {
            return Err(invalid_param(format!(
                "positive_class={label} applies to classification; '{target}' is a regression target"
            )));
        }
        positive_index(&classes, label)?;
    }

    let split = train_test_split(
        data.n_rows,
        spec.test_size,
        0.0,
        labels.as_deref(),
        spec.seed,
    )?;
    let train_rows = data.select_rows(&split.train);
    let fit = |rows: &[usize], part: &Dataset, progress: &(dyn Fn(usize, usize) + Sync)| {
        let preprocessor = Preprocessor::fit(part, preprocess_config)?;
        let x = preprocessor.transform(part)?;
        let estimator = match task {
            Task::Classification => {
                let y: Vec<usize> = rows
                    .iter()
                    .map(|&i| labels.as_ref().map_or(0, |l| l[i]))
                    .collect();
                Estimator::fit_classifier(
                    spec.algorithm,
                    &x,
                    &y,
                    classes.len(),
                    &estimator_params,
                    spec.seed,
                    progress,
                )?
            }
            Task::Regression => {
                let y: Vec<f64> = rows
                    .iter()
                    .map(|&i| values.as_ref().map_or(0.0, |v| v[i]))
                    .collect();
                Estimator::fit_regressor(
                    spec.algorithm,
                    &x,
                    &y,
                    &estimator_params,
                    spec.seed,
                    progress,
                )?
            }
        };
        Ok::<_, crate::MlError>((preprocessor, estimator))
    };

    let started = Instant::now();
    let (preprocessor, estimator) = fit(&split.train, &train_rows, progress)?;
    let fit_seconds = started.elapsed().as_secs_f64();

    let mut params: BTreeMap<String, String> = spec
        .algorithm
        .effective_params(&estimator_params, task)?
        .into_iter()
        .collect();
    params.insert(
        "imputation".into(),
        format!("{:?}", preprocess_config.imputation).to_lowercase(),
    );
    if let Some(label) = &own.positive_class {
        params.insert("positive_class".into(), label.clone());
    }
    let model = TrainedModel {
        format: MODEL_FORMAT.to_string(),
        task,
        algorithm: spec.algorithm,
        params,
        seed: spec.seed,
        target: target.clone(),
        classes: classes.clone(),
        positive_class: own.positive_class.clone(),
        preprocessor,
        estimator,
        reference: Reference {
            schema: data.schema.clone(),
            profile: train_rows.profile(),
        },
    };

    let (holdout, permutation_importance) = if split.test.is_empty() {
        (None, Vec::new())
    } else {
        let test_rows = data.select_rows(&split.test);
        let evaluation = model.evaluate(&test_rows)?;
        let sample: Vec<usize> = (0..test_rows.n_rows.min(PERMUTATION_MAX_ROWS)).collect();
        let importance = model.permutation_importance(
            &test_rows.select_rows(&sample),
            PERMUTATION_REPEATS,
            spec.seed,
        )?;
        (Some(evaluation), importance)
    };

    let cross_validation = match spec.cv_folds {
        None => None,
        Some(folds) => {
            let train_labels: Option<Vec<usize>> = labels
                .as_ref()
                .map(|l| split.train.iter().map(|&i| l[i]).collect());
            let mut scores = Vec::with_capacity(folds);
            let mut metric = "";
            for (fold_train, fold_test) in
                k_fold(split.train.len(), folds, train_labels.as_deref(), spec.seed)?
            {
                let rows: Vec<usize> = fold_train.iter().map(|&i| split.train[i]).collect();
                let test_rows: Vec<usize> = fold_test.iter().map(|&i| split.train[i]).collect();
                let (preprocessor, estimator) = fit(&rows, &data.select_rows(&rows), &|_, _| {})?;
                let fold_model = TrainedModel {
                    preprocessor,
                    estimator,
                    ..model.clone()
                };
                let (name, score) = fold_model
                    .evaluate(&data.select_rows(&test_rows))?
                    .primary();
                metric = name;
                scores.push(score);
            }
            let mean = scores.iter().sum::<f64>() / scores.len() as f64;
            let std = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>()
                / scores.len() as f64)
                .sqrt();
            Some(CrossValidation {
                folds,
                metric: metric.to_string(),
                scores,
                mean,
                std,
            })
        }
    };

    let names = model.preprocessor.output_names();
    let feature_importance = names
        .into_iter()
        .zip(model.estimator.feature_importances())
        .collect();
    Ok(TrainReport {
        rows_train: split.train.len(),
        rows_test: split.test.len(),
        model,
        quality,
        holdout,
        cross_validation,
        feature_importance,
        permutation_importance,
        fit_seconds,
    })
}

impl TrainedModel {
    pub fn predict(&self, data: &Dataset) -> MlResult<Predictions> {
        let x: Matrix = self.preprocessor.transform(data)?;
        Ok(match self.task {
            Task::Classification => {
                let probabilities = self.estimator.predict_proba(&x)?;
                let indices: Vec<usize> = probabilities
                    .rows()
                    .map(|row| {
                        // The first of equal maxima, as numpy's argmax.
                        row.iter()
                            .enumerate()
                            .fold((0, f64::NEG_INFINITY), |best, (i, &p)| {
                                if p > best.1 { (i, p) } else { best }
                            })
                            .0
                    })
                    .collect();
                Predictions {
                    labels: Some(indices.iter().map(|&i| self.classes[i].clone()).collect()),
                    class_indices: Some(indices),
                    values: None,
                    probabilities: Some(probabilities),
                }
            }
            Task::Regression => Predictions {
                labels: None,
                class_indices: None,
                values: Some(self.estimator.predict_values(&x)?),
                probabilities: None,
            },
        })
    }

    /// Metrics on data that has the target column.
    pub fn evaluate(&self, data: &Dataset) -> MlResult<Evaluation> {
        self.evaluate_for_positive(data, None)
    }

    /// As [`TrainedModel::evaluate`], with a binary classifier's scores about `positive_class` (default: the
    /// one the model was trained with, else the second class).
    pub fn evaluate_for_positive(
        &self,
        data: &Dataset,
        positive_class: Option<&str>,
    ) -> MlResult<Evaluation> {
        if data.column(&self.target).is_none() {
            return Err(invalid_data(format!(
                "the data has no column '{}' (the model's target); evaluation needs the true values",
                self.target
            )));
        }
        let predictions = self.predict(data)?;
        Ok(match self.task {
            Task::Classification => {
                let encoder = LabelEncoder {
                    classes: self.classes.clone(),
                };
                let truth = encoder.encode(data, &self.target)?;
                let predicted = predictions.class_indices.unwrap_or_default();
                Evaluation::Classification(Box::new(ClassificationMetrics::compute_for_positive(
                    &truth,
                    &predicted,
                    predictions.probabilities.as_ref(),
                    &self.classes,
                    positive_class.or(self.positive_class.as_deref()),
                )?))
            }
            Task::Regression => {
                let truth = regression_target(data, &self.target)?;
                let predicted = predictions.values.unwrap_or_default();
                Evaluation::Regression(RegressionMetrics::compute(&truth, &predicted)?)
            }
        })
    }

    /// Permutation importance of each input column on `data` (which has the target): the drop of the primary
    /// score (accuracy or R²) when that column's values are shuffled, over `n_repeats` shuffles. Shuffle `r` of
    /// column `j` draws from `Rng::new(seed).fork(j * n_repeats + r)`, so the result is deterministic.
    pub fn permutation_importance(
        &self,
        data: &Dataset,
        n_repeats: usize,
        seed: u64,
    ) -> MlResult<Vec<PermutationImportance>> {
        use rayon::prelude::*;
        if n_repeats == 0 {
            return Err(invalid_param("permutation importance needs n_repeats >= 1"));
        }
        let (_, baseline) = self.evaluate(data)?.primary();
        let features: Vec<(usize, String)> = data
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                self.reference
                    .schema
                    .column(&c.name)
                    .is_some_and(|s| s.role == Role::Feature)
            })
            .map(|(i, c)| (i, c.name.clone()))
            .collect();
        let root = crate::rng::Rng::new(seed);
        features
            .par_iter()
            .enumerate()
            .map(|(j, (column, name))| {
                let mut drops = Vec::with_capacity(n_repeats);
                for repeat in 0..n_repeats {
                    let mut order: Vec<usize> = (0..data.n_rows).collect();
                    root.fork((j * n_repeats + repeat) as u64)
                        .shuffle(&mut order);
                    let mut shuffled = data.clone();
                    shuffled.columns[*column].data = match &data.columns[*column].data {
                        ColumnData::Numeric(v) => {
                            ColumnData::Numeric(order.iter().map(|&i| v[i]).collect())
                        }
                        ColumnData::Text(v) => {
                            ColumnData::Text(order.iter().map(|&i| v[i].clone()).collect())
                        }
                    };
                    let (_, score) = self.evaluate(&shuffled)?.primary();
                    drops.push(baseline - score);
                }
                let mean = drops.iter().sum::<f64>() / n_repeats as f64;
                let std = (drops.iter().map(|d| (d - mean).powi(2)).sum::<f64>()
                    / n_repeats as f64)
                    .sqrt();
                Ok(PermutationImportance {
                    feature: name.clone(),
                    mean,
                    std,
                })
            })
            .collect()
    }

    /// The model's inputs and outputs, for the registry.
    pub fn signature(&self) -> serde_json::Value {
        let inputs: Vec<serde_json::Value> = self
            .reference
            .schema
            .columns
            .iter()
            .filter(|c| c.role == Role::Feature)
            .map(|c| serde_json::json!({ "name": c.name, "type": c.column_type }))
            .collect();
        serde_json::json!({
            "inputs": inputs,
            "target": self.target,
            "task": self.task,
            "classes": self.classes,
            "outputs": match self.task {
                Task::Classification => serde_json::json!([
                    { "name": "label", "type": "string" },
                    { "name": "probabilities", "type": "float64", "shape": [-1, self.classes.len()] }
                ]),
                Task::Regression => serde_json::json!([{ "name": "prediction", "type": "float64" }]),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::RoleOverrides;
    use crate::rng::Rng;
    use crate::tree::no_progress;

    fn iris() -> Dataset {
        let bytes = include_bytes!("../../../fixtures/data/iris.csv");
        Dataset::from_csv_bytes(
            bytes,
            &RoleOverrides {
                target: Some("species".into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn spec(algorithm: Algorithm, seed: u64) -> TrainSpec {
        TrainSpec {
            algorithm,
            params: vec![],
            seed,
            test_size: 0.25,
            cv_folds: None,
            task: None,
        }
    }

    #[test]
    fn same_data_and_seed_give_a_byte_identical_model() {
        let data = iris();
        for algorithm in Algorithm::ALL {
            if algorithm == Algorithm::LinearRegression {
                continue;
            }
            let a = train(&data, &spec(algorithm, 5), &no_progress).unwrap();
            let b = train(&data, &spec(algorithm, 5), &no_progress).unwrap();
            let bytes = |r: &TrainReport| serde_json::to_vec(&r.model).unwrap();
            assert_eq!(bytes(&a), bytes(&b), "{algorithm}");
            // The model read back predicts the same.
            let restored: TrainedModel = serde_json::from_slice(&bytes(&a)).unwrap();
            assert_eq!(
                restored.predict(&data).unwrap(),
                a.model.predict(&data).unwrap()
            );
        }
    }

    /// A run records every parameter of the fit, defaults included; training again with exactly those gives
    /// the same model, so the record is enough to reproduce it.
    #[test]
    fn the_recorded_params_are_complete_and_reproduce_the_model() {
        let classification = iris();
        let regression = Dataset::from_csv_bytes(
            include_bytes!("../../../fixtures/data/iris.csv"),
            &RoleOverrides {
                target: Some("petal_width_cm".into()),
                ..Default::default()
            },
        )
        .unwrap();
        for algorithm in Algorithm::ALL {
            let data = if algorithm == Algorithm::LinearRegression {
                &regression
            } else {
                &classification
            };
            let first = train(data, &spec(algorithm, 5), &no_progress).unwrap();
            let recorded = &first.model.params;
            let expected: &[(&str, &str)] = match algorithm {
                Algorithm::DecisionTree => &[("max_depth", "none"), ("min_samples_leaf", "1")],
                Algorithm::RandomForest => &[("n_estimators", "100"), ("max_features", "sqrt")],
                Algorithm::GradientBoosting => &[("learning_rate", "0.1"), ("max_leaves", "31")],
                Algorithm::LogisticRegression => &[("C", "1.0"), ("max_iter", "100")],
                Algorithm::LinearRegression => &[("alpha", "0.0")],
            };
            for (key, value) in expected {
                assert_eq!(
                    recorded.get(*key).map(String::as_str),
                    Some(*value),
                    "{algorithm}: {recorded:?}"
                );
            }
            assert_eq!(recorded.get("imputation").map(String::as_str), Some("mean"));
            let replay = TrainSpec {
                params: recorded.clone().into_iter().collect(),
                ..spec(algorithm, 5)
            };
            let second = train(data, &replay, &no_progress).unwrap();
            assert_eq!(
                serde_json::to_vec(&second.model).unwrap(),
                serde_json::to_vec(&first.model).unwrap(),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn a_binary_classifier_scores_the_positive_class_it_was_given() {
        let cancer = Dataset::from_csv_bytes(
            include_bytes!("../../../fixtures/data/breast_cancer.csv"),
            &RoleOverrides {
                target: Some("diagnosis".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let with = |label: Option<&str>| TrainSpec {
            params: label
                .map(|l| vec![("positive_class".to_string(), l.to_string())])
                .unwrap_or_default(),
            ..spec(Algorithm::LogisticRegression, 2)
        };
        let default = train(&cancer, &with(None), &no_progress).unwrap();
        let benign = train(&cancer, &with(Some("benign")), &no_progress).unwrap();
        let holdout = |report: &TrainReport| match report.holdout.clone() {
            Some(Evaluation::Classification(metrics)) => metrics,
            other => panic!("{other:?}"),
        };
        let (default_metrics, benign_metrics) = (holdout(&default), holdout(&benign));
        assert_eq!(default_metrics.positive_class.as_deref(), Some("malignant"));
        assert_eq!(benign_metrics.positive_class.as_deref(), Some("benign"));
        // The same predictions, scored from the other side: the per-class report holds both.
        let per_class = |metrics: &ClassificationMetrics, class: &str| {
            metrics
                .report
                .classes
                .iter()
                .find(|row| row.name == class)
                .unwrap()
                .recall
        };
        assert_eq!(
            benign_metrics.recall,
            Some(per_class(&default_metrics, "benign"))
        );
        assert_eq!(
            default_metrics.recall,
            Some(per_class(&default_metrics, "malignant"))
        );
        assert_eq!(
            benign
                .model
                .params
                .get("positive_class")
                .map(String::as_str),
            Some("benign")
        );
        // The model keeps it: a later evaluation scores the same class unless told otherwise.
        let evaluation = benign.model.evaluate(&cancer).unwrap();
        let Evaluation::Classification(metrics) = evaluation else {
            panic!("a classifier")
        };
        assert_eq!(metrics.positive_class.as_deref(), Some("benign"));

        let unknown = train(&cancer, &with(Some("healthy")), &no_progress).unwrap_err();
        assert!(
            unknown.to_string().contains("benign, malignant"),
            "{unknown}"
        );
        let three_classes = train(&iris(), &with(Some("setosa")), &no_progress).unwrap_err();
        assert!(
            three_classes.to_string().contains("two classes"),
            "{three_classes}"
        );
    }

    #[test]
    fn string_targets_come_back_as_their_labels() {
        let data = iris();
        let report = train(&data, &spec(Algorithm::RandomForest, 1), &no_progress).unwrap();
        assert_eq!(report.model.classes, ["setosa", "versicolor", "virginica"]);
        let predictions = report.model.predict(&data).unwrap();
        let labels = predictions.labels.unwrap();
        assert_eq!(labels[0], "setosa");
        assert_eq!(labels[149], "virginica");
        let signature = report.model.signature();
        assert_eq!(signature["classes"][1], "versicolor");
        assert_eq!(signature["inputs"].as_array().unwrap().len(), 4);
    }

    /// y depends on `signal` and a category; `noise` is unrelated. Unknown categories at prediction time encode
    /// as all-zero one-hot columns rather than failing.
    #[test]
    fn permutation_importance_ranks_the_columns_the_model_uses() {
        let mut rng = Rng::new(3);
        let mut csv = String::from("signal,noise,colour,y\n");
        for _ in 0..600 {
            let signal = rng.normal();
            let colour = ["red", "green", "blue"][rng.below(3)];
            let shift = if colour == "red" { 1.5 } else { 0.0 };
            let y = if signal + shift > 0.5 { "yes" } else { "no" };
            csv.push_str(&format!("{signal},{},{colour},{y}\n", rng.normal()));
        }
        let roles = RoleOverrides {
            target: Some("y".into()),
            ..Default::default()
        };
        let data = Dataset::from_csv_bytes(csv.as_bytes(), &roles).unwrap();
        let report = train(&data, &spec(Algorithm::GradientBoosting, 2), &no_progress).unwrap();
        let importance = |name: &str| {
            report
                .permutation_importance
                .iter()
                .find(|p| p.feature == name)
                .map(|p| p.mean)
                .unwrap()
        };
        assert!(
            importance("signal") > 0.2,
            "{:?}",
            report.permutation_importance
        );
        assert!(
            importance("colour") > 0.03,
            "{:?}",
            report.permutation_importance
        );
        assert!(
            importance("noise").abs() < 0.03,
            "{:?}",
            report.permutation_importance
        );

        let unseen = Dataset::from_csv_bytes(
            b"signal,noise,colour\n2.0,0.1,purple\n",
            &RoleOverrides::default(),
        )
        .unwrap();
        let predicted = report.model.predict(&unseen).unwrap();
        assert_eq!(predicted.labels.unwrap(), ["yes"]);
    }

    #[test]
    fn the_task_must_suit_the_algorithm() {
        let data = iris();
        let mut regression = spec(Algorithm::LogisticRegression, 1);
        regression.task = Some(Task::Regression);
        let message = train(&data, &regression, &no_progress)
            .unwrap_err()
            .to_string();
        assert!(message.contains("logistic_regression"), "{message}");
        let mut typo = spec(Algorithm::RandomForest, 1);
        typo.params = vec![("n_estimator".into(), "3".into())];
        let message = train(&data, &typo, &no_progress).unwrap_err().to_string();
        assert!(message.contains("n_estimator"), "{message}");
    }
}
