//! One type over every learner: [`Algorithm`] names what to train and parses its parameters, [`Estimator`] is
//! the fitted model (serde data, so it is stored inside the native model file) that predicts on a preprocessed
//! feature matrix.

use serde::{Deserialize, Serialize};

use crate::error::{MlResult, invalid_data, invalid_param};
use crate::linear::{
    LinearRegression, LogisticParams, LogisticRegression, balanced_sample_weights,
};
use crate::matrix::{Matrix, Probabilities};
use crate::train::Task;
use crate::tree::params::{bad_value, float_text, pair, parse_bool, parse_number, unknown_key};
use crate::tree::{
    DecisionTreeClassifier, DecisionTreeParams, DecisionTreeRegressor, GradientBoostingClassifier,
    GradientBoostingParams, GradientBoostingRegressor, RandomForestClassifier, RandomForestParams,
    RandomForestRegressor, TreeClassifier, TreeRegressor,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    DecisionTree,
    RandomForest,
    GradientBoosting,
    LogisticRegression,
    LinearRegression,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::DecisionTree,
        Algorithm::RandomForest,
        Algorithm::GradientBoosting,
        Algorithm::LogisticRegression,
        Algorithm::LinearRegression,
    ];

    pub fn parse(text: &str) -> MlResult<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                invalid_param(format!(
                    "unknown algorithm '{text}'; choose one of {}",
                    names.join(", ")
                ))
            })
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::DecisionTree => "decision_tree",
            Algorithm::RandomForest => "random_forest",
            Algorithm::GradientBoosting => "gradient_boosting",
            Algorithm::LogisticRegression => "logistic_regression",
            Algorithm::LinearRegression => "linear_regression",
        }
    }

    /// Linear regression only regresses and logistic regression only classifies; trees do both.
    pub fn fixed_task(self) -> Option<Task> {
        match self {
            Algorithm::LogisticRegression => Some(Task::Classification),
            Algorithm::LinearRegression => Some(Task::Regression),
            _ => None,
        }
    }

    /// Linear models are fitted on standardised inputs (the penalty and L-BFGS both depend on the scale);
    /// trees are scale-invariant, so they see the raw values.
    pub fn wants_standardized_inputs(self) -> bool {
        matches!(
            self,
            Algorithm::LogisticRegression | Algorithm::LinearRegression
        )
    }

    /// Every parameter the fit will use, defaults included, in the text `--param` takes: `pairs` (the user's)
    /// parsed and written back, so a run records what was trained and not only what was typed, and passing
    /// these pairs again trains the same model.
    pub fn effective_params(
        self,
        pairs: &[(String, String)],
        task: Task,
    ) -> MlResult<Vec<(String, String)>> {
        Ok(match self {
            Algorithm::DecisionTree => DecisionTreeParams::from_pairs(pairs)?.to_pairs(),
            Algorithm::RandomForest => RandomForestParams::from_pairs(pairs)?.to_pairs(task),
            Algorithm::GradientBoosting => GradientBoostingParams::from_pairs(pairs)?.to_pairs(),
            Algorithm::LogisticRegression => {
                let (params, balanced) = logistic_params(pairs)?;
                vec![
                    pair("C", float_text(params.c)),
                    pair("fit_intercept", params.fit_intercept.to_string()),
                    pair("max_iter", params.max_iter.to_string()),
                    pair("tol", float_text(params.tol)),
                    pair("class_weight", if balanced { "balanced" } else { "none" }),
                ]
            }
            Algorithm::LinearRegression => vec![pair("alpha", float_text(linear_alpha(pairs)?))],
        })
    }

    /// Parses every parameter without fitting, so a typo fails before any work.
    pub fn check_params(self, params: &[(String, String)]) -> MlResult<()> {
        match self {
            Algorithm::DecisionTree => DecisionTreeParams::from_pairs(params).map(drop),
            Algorithm::RandomForest => RandomForestParams::from_pairs(params).map(drop),
            Algorithm::GradientBoosting => GradientBoostingParams::from_pairs(params).map(drop),
            Algorithm::LogisticRegression => logistic_params(params).map(drop),
            Algorithm::LinearRegression => linear_alpha(params).map(drop),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const LOGISTIC_KEYS: &[&str] = &["C", "fit_intercept", "max_iter", "tol", "class_weight"];
const LINEAR_KEYS: &[&str] = &["alpha"];

/// Logistic regression's parameters and whether to weight classes as scikit-learn's `class_weight='balanced'`.
fn logistic_params(pairs: &[(String, String)]) -> MlResult<(LogisticParams, bool)> {
    let mut params = LogisticParams::default();
    let mut balanced = false;
    for (key, value) in pairs {
        match key.as_str() {
            "C" | "c" => params.c = parse_number(key, value)?,
            "fit_intercept" => params.fit_intercept = parse_bool(key, value)?,
            "max_iter" => params.max_iter = parse_number(key, value)?,
            "tol" => params.tol = parse_number(key, value)?,
            "class_weight" => {
                balanced = match value.trim() {
                    "balanced" => true,
                    "none" | "None" | "uniform" => false,
                    _ => return Err(bad_value(key, value, "use balanced or none")),
                }
            }
            _ => return Err(unknown_key("logistic regression", key, LOGISTIC_KEYS)),
        }
    }
    params.validate()?;
    Ok((params, balanced))
}

/// The ridge penalty; 0 (the default) is ordinary least squares.
fn linear_alpha(pairs: &[(String, String)]) -> MlResult<f64> {
    let mut alpha: f64 = 0.0;
    for (key, value) in pairs {
        match key.as_str() {
            "alpha" => alpha = parse_number(key, value)?,
            _ => return Err(unknown_key("linear regression", key, LINEAR_KEYS)),
        }
    }
    if !alpha.is_finite() || alpha < 0.0 {
        return Err(bad_value(
            "alpha",
            &alpha.to_string(),
            "must be finite and >= 0 (0 is ordinary least squares, > 0 is ridge)",
        ));
    }
    Ok(alpha)
}

/// A fitted model over preprocessed features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    DecisionTreeClassifier(DecisionTreeClassifier),
    DecisionTreeRegressor(DecisionTreeRegressor),
    RandomForestClassifier(RandomForestClassifier),
    RandomForestRegressor(RandomForestRegressor),
    GradientBoostingClassifier(GradientBoostingClassifier),
    GradientBoostingRegressor(GradientBoostingRegressor),
    LogisticRegression(LogisticRegression),
    LinearRegression(LinearRegression),
}

impl Estimator {
    /// Fits a classifier on class indices `y` in `0..n_classes`.
    pub fn fit_classifier(
        algorithm: Algorithm,
        x: &Matrix,
        y: &[usize],
        n_classes: usize,
        params: &[(String, String)],
        seed: u64,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> MlResult<Estimator> {
        Ok(match algorithm {
            Algorithm::DecisionTree => {
                let params = DecisionTreeParams::from_pairs(params)?;
                let model = DecisionTreeClassifier::fit(x, y, n_classes, None, &params, seed)?;
                progress(1, 1);
                Estimator::DecisionTreeClassifier(model)
            }
            Algorithm::RandomForest => {
                let params = RandomForestParams::from_pairs(params)?;
                Estimator::RandomForestClassifier(RandomForestClassifier::fit(
                    x, y, n_classes, None, &params, seed, progress,
                )?)
            }
            Algorithm::GradientBoosting => {
                let params = GradientBoostingParams::from_pairs(params)?;
                Estimator::GradientBoostingClassifier(GradientBoostingClassifier::fit(
                    x, y, n_classes, None, &params, seed, progress,
                )?)
            }
            Algorithm::LogisticRegression => {
                let (params, balanced) = logistic_params(params)?;
                let weights = if balanced {
                    Some(balanced_sample_weights(y, n_classes, None)?)
                } else {
                    None
                };
                let model = LogisticRegression::fit(x, y, n_classes, weights.as_deref(), &params)?;
                progress(1, 1);
                Estimator::LogisticRegression(model)
            }
            Algorithm::LinearRegression => {
                return Err(invalid_param(
                    "linear_regression predicts numbers; for classes use logistic_regression or a tree model",
                ));
            }
        })
    }

    /// Fits a regressor on numeric targets.
    pub fn fit_regressor(
        algorithm: Algorithm,
        x: &Matrix,
        y: &[f64],
        params: &[(String, String)],
        seed: u64,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> MlResult<Estimator> {
        Ok(match algorithm {
            Algorithm::DecisionTree => {
                let params = DecisionTreeParams::from_pairs(params)?;
                let model = DecisionTreeRegressor::fit(x, y, None, &params, seed)?;
                progress(1, 1);
                Estimator::DecisionTreeRegressor(model)
            }
            Algorithm::RandomForest => {
                let params = RandomForestParams::from_pairs(params)?;
                Estimator::RandomForestRegressor(RandomForestRegressor::fit(
                    x, y, None, &params, seed, progress,
                )?)
            }
            Algorithm::GradientBoosting => {
                let params = GradientBoostingParams::from_pairs(params)?;
                Estimator::GradientBoostingRegressor(GradientBoostingRegressor::fit(
                    x, y, None, &params, seed, progress,
                )?)
            }
            Algorithm::LinearRegression => {
                let alpha = linear_alpha(params)?;
                let model = LinearRegression::fit(x, y, None, alpha)?;
                progress(1, 1);
                Estimator::LinearRegression(model)
            }
            Algorithm::LogisticRegression => {
                return Err(invalid_param(
                    "logistic_regression predicts classes; for numbers use linear_regression or a tree model",
                ));
            }
        })
    }

    pub fn is_classifier(&self) -> bool {
        matches!(
            self,
            Estimator::DecisionTreeClassifier(_)
                | Estimator::RandomForestClassifier(_)
                | Estimator::GradientBoostingClassifier(_)
                | Estimator::LogisticRegression(_)
        )
    }

    /// Class probabilities, one column per class.
    pub fn predict_proba(&self, x: &Matrix) -> MlResult<Probabilities> {
        match self {
            Estimator::DecisionTreeClassifier(m) => m.predict_proba(x),
            Estimator::RandomForestClassifier(m) => m.predict_proba(x),
            Estimator::GradientBoostingClassifier(m) => m.predict_proba(x),
            Estimator::LogisticRegression(m) => m.predict_proba(x),
            _ => Err(invalid_data(
                "this model is a regressor; it predicts values, not class probabilities",
            )),
        }
    }

    /// Predicted values (regressors).
    pub fn predict_values(&self, x: &Matrix) -> MlResult<Vec<f64>> {
        match self {
            Estimator::DecisionTreeRegressor(m) => m.predict(x),
            Estimator::RandomForestRegressor(m) => m.predict(x),
            Estimator::GradientBoostingRegressor(m) => m.predict(x),
            Estimator::LinearRegression(m) => m.predict(x),
            _ => Err(invalid_data(
                "this model is a classifier; it predicts classes, not values",
            )),
        }
    }

    /// Per preprocessed feature, summing to 1: impurity-based for trees; for linear models (fitted on
    /// standardised inputs, so coefficients are comparable) each feature's share of Σ|coefficient|.
    pub fn feature_importances(&self) -> Vec<f64> {
        match self {
            Estimator::DecisionTreeClassifier(m) => m.feature_importances(),
            Estimator::DecisionTreeRegressor(m) => m.feature_importances(),
            Estimator::RandomForestClassifier(m) => m.feature_importances(),
            Estimator::RandomForestRegressor(m) => m.feature_importances(),
            Estimator::GradientBoostingClassifier(m) => m.feature_importances(),
            Estimator::GradientBoostingRegressor(m) => m.feature_importances(),
            Estimator::LogisticRegression(m) => {
                let coefficients = m.coefficients();
                let mut totals = vec![0.0; m.n_features()];
                for row in coefficients.rows() {
                    totals.iter_mut().zip(row).for_each(|(t, c)| *t += c.abs());
                }
                crate::tree::normalised(&totals)
            }
            Estimator::LinearRegression(m) => {
                let totals: Vec<f64> = m.coefficients().iter().map(|c| c.abs()).collect();
                crate::tree::normalised(&totals)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn algorithms_parse_by_name_and_reject_unknown_ones() {
        for algorithm in Algorithm::ALL {
            assert_eq!(Algorithm::parse(algorithm.name()).unwrap(), algorithm);
        }
        let message = Algorithm::parse("svm").unwrap_err().to_string();
        assert!(message.contains("random_forest"), "{message}");
    }

    #[test]
    fn parameters_are_checked_before_fitting() {
        assert!(
            Algorithm::LogisticRegression
                .check_params(&pairs(&[("C", "0.5"), ("class_weight", "balanced")]))
                .is_ok()
        );
        let message = Algorithm::LogisticRegression
            .check_params(&pairs(&[("alpha", "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("'alpha'") && message.contains("C"),
            "{message}"
        );
        assert!(
            Algorithm::LinearRegression
                .check_params(&pairs(&[("alpha", "-1")]))
                .is_err()
        );
        assert!(
            Algorithm::RandomForest
                .check_params(&pairs(&[("n_trees", "5")]))
                .is_err()
        );
    }

    #[test]
    fn linear_importances_are_coefficient_shares() {
        let x = Matrix::from_rows(&[
            vec![0.0, 1.0],
            vec![1.0, 0.0],
            vec![2.0, 1.0],
            vec![3.0, 0.0],
        ]);
        // y = 3 x0 - 1 x1
        let y: Vec<f64> = x.rows().map(|r| 3.0 * r[0] - r[1]).collect();
        let model = Estimator::fit_regressor(
            Algorithm::LinearRegression,
            &x,
            &y,
            &[],
            0,
            &crate::tree::no_progress,
        )
        .unwrap();
        let importances = model.feature_importances();
        assert!((importances[0] - 0.75).abs() < 1e-9, "{importances:?}");
        assert!((importances[1] - 0.25).abs() < 1e-9, "{importances:?}");
        assert!(model.predict_proba(&x).is_err());
    }
}
