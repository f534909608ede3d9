//! Linear models: least squares, ridge, and L2-regularised logistic regression, each defined exactly as
//! scikit-learn 1.9 defines it (`LinearRegression`, `Ridge`, `LogisticRegression` with the lbfgs objective) so
//! that coefficients agree with scikit-learn's to optimisation precision. Fitted models are plain serde data
//! holding what prediction and an ONNX `LinearRegressor` / `LinearClassifier` export need: one coefficient
//! row per output, the intercepts and the post-transform.

mod lbfgs;
mod logistic;
mod lstsq;
mod regression;

pub use logistic::{LogisticParams, LogisticRegression, PostTransform, balanced_sample_weights};
pub use regression::LinearRegression;

use crate::error::{MlResult, invalid_data};
use crate::matrix::Matrix;

/// Rejects an empty design, a target of the wrong length and non-finite values, naming the first offender.
fn check_design(x: &Matrix, target_len: usize) -> MlResult<()> {
    if x.n_rows() == 0 {
        return Err(invalid_data(
            "the training data has no rows; a linear model needs at least one row per class or target",
        ));
    }
    if target_len != x.n_rows() {
        return Err(invalid_data(format!(
            "the target has {target_len} values but the feature matrix has {} rows; pass one target per row",
            x.n_rows()
        )));
    }
    check_finite(x)
}

fn check_finite(x: &Matrix) -> MlResult<()> {
    for (i, row) in x.rows().enumerate() {
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(invalid_data(format!(
                "feature matrix row {i}, column {j} is {}; impute or drop non-finite values before fitting",
                row[j]
            )));
        }
    }
    Ok(())
}

/// Checks the columns of a matrix to predict on against the fitted number of features.
fn check_predict_input(x: &Matrix, n_features: usize) -> MlResult<()> {
    if x.n_cols() != n_features {
        return Err(invalid_data(format!(
            "the model was fitted on {n_features} features but the input has {}; apply the same \
             preprocessing as in training",
            x.n_cols()
        )));
    }
    check_finite(x)
}

/// Sample weights must match the rows, be finite and non-negative, and not all be zero. `None` means 1 each.
fn check_weights(weights: Option<&[f64]>, n_rows: usize) -> MlResult<Vec<f64>> {
    let Some(weights) = weights else {
        return Ok(vec![1.0; n_rows]);
    };
    if weights.len() != n_rows {
        return Err(invalid_data(format!(
            "{} sample weights given for {n_rows} rows; pass one weight per row",
            weights.len()
        )));
    }
    if let Some(i) = weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
        return Err(invalid_data(format!(
            "sample weight of row {i} is {}; weights must be finite and non-negative",
            weights[i]
        )));
    }
    if weights.iter().sum::<f64>() <= 0.0 {
        return Err(invalid_data(
            "all sample weights are zero; at least one row must carry weight",
        ));
    }
    Ok(weights.to_vec())
}
