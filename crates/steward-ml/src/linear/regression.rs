//! Ordinary least squares and ridge regression with an unpenalised intercept, as scikit-learn's
//! `LinearRegression` and `Ridge`: centre X and y on their (weighted) means, scale rows by √weight, solve for the
//! coefficients, then recover the intercept as `ȳ − x̄·w`. A rank-deficient least-squares problem has many
//! solutions; like scikit-learn (scipy's `lstsq` with `cond = 1e-6`) this returns the one of minimum norm and
//! records the numerical rank, rather than failing: duplicated or constant columns are common in real tables and
//! the predictions of every solution are the same.

use serde::{Deserialize, Serialize};

use super::{check_design, check_predict_input, check_weights, lstsq};
use crate::error::{MlResult, invalid_param};
use crate::matrix::Matrix;

/// A fitted linear regression `ŷ = x·coefficients + intercept` (one output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearRegression {
    coefficients: Vec<f64>,
    intercept: f64,
    /// The ridge penalty it was fitted with (0 = ordinary least squares).
    alpha: f64,
    /// Numerical rank of the centred, weighted design (singular values above `RANK_RCOND` × the largest).
    rank: usize,
}

impl LinearRegression {
    /// Singular values at or below this fraction of the largest count as zero in least squares; scikit-learn's
    /// `LinearRegression(tol=1e-6)` passes the same cut-off to scipy's `lstsq`.
    pub const RANK_RCOND: f64 = 1e-6;

    /// Fits `min Σ wᵢ (yᵢ − xᵢ·β − b)² + alpha ‖β‖²`; `alpha = 0` is ordinary least squares (minimum-norm β when
    /// the design is rank deficient), `alpha > 0` is ridge. `weights` are per-sample weights (`None` = 1 each).
    pub fn fit(
        x: &Matrix,
        y: &[f64],
        weights: Option<&[f64]>,
        alpha: f64,
    ) -> MlResult<LinearRegression> {
        if !alpha.is_finite() || alpha < 0.0 {
            return Err(invalid_param(format!(
                "ridge alpha is {alpha}; it must be finite and ≥ 0 (0 gives ordinary least squares)"
            )));
        }
        check_design(x, y.len())?;
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(crate::error::invalid_data(format!(
                "target of row {i} is {}; drop or impute rows with a non-finite target",
                y[i]
            )));
        }
        let weights = check_weights(weights, x.n_rows())?;
        let (n_rows, n_cols) = (x.n_rows(), x.n_cols());
        let weight_sum: f64 = weights.iter().sum();

        let mut x_mean = vec![0.0; n_cols];
        let mut y_mean = 0.0;
        for ((row, &target), &w) in x.rows().zip(y).zip(&weights) {
            x_mean.iter_mut().zip(row).for_each(|(m, v)| *m += w * v);
            y_mean += w * target;
        }
        x_mean.iter_mut().for_each(|m| *m /= weight_sum);
        y_mean /= weight_sum;

        let mut design = Vec::with_capacity(n_rows * n_cols);
        let mut target = Vec::with_capacity(n_rows);
        for ((row, &value), &w) in x.rows().zip(y).zip(&weights) {
            let scale = w.sqrt();
            design.extend(row.iter().zip(&x_mean).map(|(v, m)| scale * (v - m)));
            target.push(scale * (value - y_mean));
        }
        let solution = lstsq::solve(&design, n_rows, n_cols, &target, alpha, Self::RANK_RCOND);
        let intercept = y_mean - dot(&x_mean, &solution.coefficients);
        Ok(LinearRegression {
            coefficients: solution.coefficients,
            intercept,
            alpha,
            rank: solution.rank,
        })
    }

    pub fn predict(&self, x: &Matrix) -> MlResult<Vec<f64>> {
        check_predict_input(x, self.coefficients.len())?;
        Ok(x.rows()
            .map(|row| dot(row, &self.coefficients) + self.intercept)
            .collect())
    }

    /// One coefficient per feature, in column order.
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn n_features(&self) -> usize {
        self.coefficients.len()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MlError;

    #[test]
    fn recovers_an_exact_plane() {
        let x = Matrix::from_rows(&[
            vec![0.0, 1.0],
            vec![1.0, 0.0],
            vec![2.0, 3.0],
            vec![-1.0, 5.0],
        ]);
        let y: Vec<f64> = x.rows().map(|r| 3.0 * r[0] - 2.0 * r[1] + 0.5).collect();
        let model = LinearRegression::fit(&x, &y, None, 0.0).unwrap();
        assert!((model.coefficients()[0] - 3.0).abs() < 1e-12);
        assert!((model.coefficients()[1] + 2.0).abs() < 1e-12);
        assert!((model.intercept() - 0.5).abs() < 1e-12);
        assert_eq!(model.rank(), 2);
    }

    #[test]
    fn zero_weight_rows_are_ignored() {
        let x = Matrix::from_rows(&[vec![0.0], vec![1.0], vec![2.0], vec![3.0]]);
        let y = [1.0, 3.0, 5.0, 100.0];
        let model = LinearRegression::fit(&x, &y, Some(&[1.0, 1.0, 1.0, 0.0]), 0.0).unwrap();
        assert!((model.coefficients()[0] - 2.0).abs() < 1e-12);
        assert!((model.intercept() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_rejected_with_typed_errors() {
        let x = Matrix::from_rows(&[vec![1.0], vec![2.0]]);
        assert!(matches!(
            LinearRegression::fit(&x, &[1.0, 2.0], None, -1.0),
            Err(MlError::InvalidParam(_))
        ));
        assert!(matches!(
            LinearRegression::fit(&x, &[1.0], None, 0.0),
            Err(MlError::InvalidData(_))
        ));
        assert!(matches!(
            LinearRegression::fit(&x, &[1.0, f64::NAN], None, 0.0),
            Err(MlError::InvalidData(_))
        ));
        assert!(matches!(
            LinearRegression::fit(&x, &[1.0, 2.0], Some(&[0.0, 0.0]), 0.0),
            Err(MlError::InvalidData(_))
        ));
        let model = LinearRegression::fit(&x, &[1.0, 2.0], None, 0.0).unwrap();
        assert!(model.predict(&Matrix::zeros(1, 2)).is_err());
    }
}
