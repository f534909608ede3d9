//! Regression metrics, as scikit-learn 1.9 computes them for one output: MAE, MSE, RMSE, R², MAPE, max error and
//! explained variance, plus [`RegressionMetrics`] computing all of them at once.
//!
//! R² and explained variance use scikit-learn's `force_finite=True`: when `y_true` is constant (zero variance)
//! the score is 1.0 for perfect predictions and 0.0 otherwise, rather than NaN or −∞. MAPE divides each error by
//! `max(|y_true|, f64::EPSILON)`, so a zero target with a non-zero error yields a huge (but finite) value, as in
//! scikit-learn; it is a fraction, not a percentage.

use serde::{Deserialize, Serialize};

use super::{check_finite, check_same_length, numpy_mean};
use crate::error::{MlResult, invalid_data};

fn check_targets(y_true: &[f64], y_pred: &[f64], what: &str) -> MlResult<()> {
    check_same_length(y_true.len(), y_pred.len(), what)?;
    check_finite(y_true, "y_true")?;
    check_finite(y_pred, "y_pred")
}

fn mean_of(y_true: &[f64], y_pred: &[f64], per_sample: impl Fn(f64, f64) -> f64) -> f64 {
    let values: Vec<f64> = y_true
        .iter()
        .zip(y_pred)
        .map(|(&t, &p)| per_sample(t, p))
        .collect();
    numpy_mean(&values)
}

/// Mean of `|y_true − y_pred|`.
pub fn mean_absolute_error(y_true: &[f64], y_pred: &[f64]) -> MlResult<f64> {
    check_targets(y_true, y_pred, "the mean absolute error")?;
    Ok(mean_of(y_true, y_pred, |t, p| (t - p).abs()))
}

/// Mean of `(y_true − y_pred)²`.
pub fn mean_squared_error(y_true: &[f64], y_pred: &[f64]) -> MlResult<f64> {
    check_targets(y_true, y_pred, "the mean squared error")?;
    Ok(mean_of(y_true, y_pred, |t, p| (t - p).powi(2)))
}

/// Square root of the mean squared error.
pub fn root_mean_squared_error(y_true: &[f64], y_pred: &[f64]) -> MlResult<f64> {
    Ok(mean_squared_error(y_true, y_pred)?.sqrt())
}

/// Mean of `|y_pred − y_true| / max(|y_true|, ε)` (a fraction: 0.1 means 10 %).
pub fn mean_absolute_percentage_error(y_true: &[f64], y_pred: &[f64]) -> MlResult<f64> {
    check_targets(y_true, y_pred, "the mean absolute percentage error")?;
    Ok(mean_of(y_true, y_pred, |t, p| {
        (p - t).abs() / t.abs().max(f64::EPSILON)
    }))
}

/// Largest `|y_true − y_pred|`.
pub fn max_error(y_true: &[f64], y_pred: &[f64]) -> MlResult<f64> {
    check_targets(y_true, y_pred, "the max error")?;
    Ok(y_true
        .iter()
        .zip(y_pred)
        .map(|(&t, &p)| (t - p).abs())
        .fold(0.0, f64::max))
}

/// scikit-learn's `force_finite` rule for `1 − numerator / denominator`.
fn fraction_explained(numerator: f64, denominator: f64) -> f64 {
    if numerator == 0.0 {
        1.0
    } else if denominator == 0.0 {
        0.0
    } else {
        1.0 - numerator / denominator
    }
}

/// Coefficient of determination `1 − SS_res / SS_tot` (with `force_finite`). Errors with fewer than two
/// samples, where it is undefined (scikit-learn returns NaN).
pub fn r2_score(y_true: &[f64], y_pred: &[f64]) -> MlResult<f64> {
    check_targets(y_true, y_pred, "R²")?;
    if y_true.len() < 2 {
        return Err(invalid_data(
            "R² is undefined for a single sample; evaluate on at least two samples",
        ));
    }
    let residual: Vec<f64> = y_true
        .iter()
        .zip(y_pred)
        .map(|(&t, &p)| (t - p).powi(2))
        .collect();
    let mean = numpy_mean(y_true);
    let total: Vec<f64> = y_true.iter().map(|&t| (t - mean).powi(2)).collect();
    Ok(fraction_explained(
        super::numpy_sum(&residual),
        super::numpy_sum(&total),
    ))
}

/// `1 − Var(y_true − y_pred) / Var(y_true)` (with `force_finite`); unlike R² it ignores a constant bias.
pub fn explained_variance(y_true: &[f64], y_pred: &[f64]) -> MlResult<f64> {
    check_targets(y_true, y_pred, "the explained variance")?;
    let differences: Vec<f64> = y_true.iter().zip(y_pred).map(|(&t, &p)| t - p).collect();
    let difference_mean = numpy_mean(&differences);
    let centered: Vec<f64> = differences
        .iter()
        .map(|&d| (d - difference_mean).powi(2))
        .collect();
    let true_mean = numpy_mean(y_true);
    let spread: Vec<f64> = y_true.iter().map(|&t| (t - true_mean).powi(2)).collect();
    Ok(fraction_explained(
        numpy_mean(&centered),
        numpy_mean(&spread),
    ))
}

/// All regression metrics of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    pub n_samples: usize,
    pub mae: f64,
    pub mse: f64,
    pub rmse: f64,
    /// `None` for a single sample, where R² is undefined.
    pub r2: Option<f64>,
    pub mape: f64,
    pub max_error: f64,
    pub explained_variance: f64,
}

impl RegressionMetrics {
    pub fn compute(y_true: &[f64], y_pred: &[f64]) -> MlResult<Self> {
        check_targets(y_true, y_pred, "regression metrics")?;
        let mse = mean_squared_error(y_true, y_pred)?;
        Ok(RegressionMetrics {
            n_samples: y_true.len(),
            mae: mean_absolute_error(y_true, y_pred)?,
            mse,
            rmse: mse.sqrt(),
            r2: if y_true.len() >= 2 {
                Some(r2_score(y_true, y_pred)?)
            } else {
                None
            },
            mape: mean_absolute_percentage_error(y_true, y_pred)?,
            max_error: max_error(y_true, y_pred)?,
            explained_variance: explained_variance(y_true, y_pred)?,
        })
    }

    /// The values to record as run metrics, named `rmse`, `mae`, `mse`, `r2`, `mape`, `max_error` and
    /// `explained_variance` (`r2` left out when undefined).
    pub fn headline(&self) -> Vec<(String, f64)> {
        let mut values = vec![("rmse", self.rmse), ("mae", self.mae), ("mse", self.mse)];
        if let Some(r2) = self.r2 {
            values.push(("r2", r2));
        }
        values.extend([
            ("mape", self.mape),
            ("max_error", self.max_error),
            ("explained_variance", self.explained_variance),
        ]);
        values
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_targets_follow_force_finite() {
        let constant = [3.0, 3.0, 3.0];
        assert_eq!(r2_score(&constant, &constant).unwrap(), 1.0);
        assert_eq!(r2_score(&constant, &[3.0, 2.0, 3.0]).unwrap(), 0.0);
        assert_eq!(explained_variance(&constant, &constant).unwrap(), 1.0);
        assert_eq!(
            explained_variance(&constant, &[3.0, 2.0, 3.0]).unwrap(),
            0.0
        );
    }

    #[test]
    fn explained_variance_ignores_bias_but_r2_does_not() {
        let y_true = [1.0, 2.0, 3.0, 4.0];
        let shifted = [2.0, 3.0, 4.0, 5.0];
        assert_eq!(explained_variance(&y_true, &shifted).unwrap(), 1.0);
        // SS_res = 4, SS_tot = 5.
        assert!((r2_score(&y_true, &shifted).unwrap() - 0.2).abs() < 1e-15);
    }

    #[test]
    fn mape_uses_epsilon_for_zero_targets() {
        let mape = mean_absolute_percentage_error(&[0.0, 2.0], &[1.0, 1.0]).unwrap();
        assert_eq!(mape, (1.0 / f64::EPSILON + 0.5) / 2.0);
    }

    #[test]
    fn single_sample_and_empty_input() {
        assert!(r2_score(&[1.0], &[2.0]).is_err());
        let metrics = RegressionMetrics::compute(&[1.0], &[2.0]).unwrap();
        assert_eq!(metrics.r2, None);
        assert!(metrics.headline().iter().all(|(name, _)| name != "r2"));
        assert!(RegressionMetrics::compute(&[], &[]).is_err());
        assert!(mean_absolute_error(&[1.0, f64::NAN], &[1.0, 1.0]).is_err());
        assert!(max_error(&[1.0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn headline_names() {
        let metrics = RegressionMetrics::compute(&[1.0, 2.0, 4.0], &[1.5, 2.0, 3.0]).unwrap();
        let names: Vec<String> = metrics
            .headline()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "rmse",
                "mae",
                "mse",
                "r2",
                "mape",
                "max_error",
                "explained_variance"
            ]
        );
        assert_eq!(metrics.max_error, 1.0);
        assert!((metrics.rmse - (1.25f64 / 3.0).sqrt()).abs() < 1e-15);
    }
}
