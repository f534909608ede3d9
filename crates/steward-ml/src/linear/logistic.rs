//! L2-regularised logistic regression with scikit-learn 1.9's lbfgs objective. With sample weights `sᵢ`
//! (all 1 by default), `S = Σ sᵢ` and one coefficient row `w_k` and intercept `b_k` per output, it minimises
//!
//! ```text
//!     (1/S) Σᵢ sᵢ ℓ(yᵢ, zᵢ)  +  1/(2 C S) Σ_k ‖w_k‖²,      zᵢ_k = w_k·xᵢ + b_k
//! ```
//!
//! (the same minimiser as scikit-learn's documented `C Σ sᵢ ℓᵢ + ½‖w‖²`). Two classes use one row and the
//! binomial loss (sigmoid of z is the probability of class 1); more classes use one row per class and the
//! multinomial loss (softmax). Intercepts are not penalised. The objective is strictly convex in the
//! coefficients, so the optimum is unique; the multinomial intercepts are unique only up to a common shift, and
//! like scikit-learn (whose lbfgs starts at zero and never leaves the zero-sum subspace) they are reported with
//! zero sum.
//!
//! The loss and gradient are summed over fixed chunks of rows in parallel and the chunk results added in chunk
//! order, so a fit is bit-identical whatever the number of threads.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::lbfgs::{self, LbfgsSettings};
use super::{check_design, check_predict_input, check_weights};
use crate::error::{MlResult, invalid_data, invalid_param};
use crate::math::{argmax, sigmoid, softmax};
use crate::matrix::{Matrix, Probabilities};

/// Rows per unit of parallel work: big enough to amortise scheduling, small enough to balance two cores.
const CHUNK_ROWS: usize = 2048;
/// Correction pairs kept by L-BFGS (scipy's default, which scikit-learn uses).
const LBFGS_MEMORY: usize = 10;

/// Training parameters, with scikit-learn's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogisticParams {
    /// Inverse regularisation strength (`C`): smaller is stronger. Must be finite and > 0.
    #[serde(rename = "C")]
    pub c: f64,
    pub fit_intercept: bool,
    /// L-BFGS iterations at most.
    pub max_iter: usize,
    /// Stop when every component of the objective's gradient is at most this in absolute value.
    pub tol: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            c: 1.0,
            fit_intercept: true,
            max_iter: 100,
            tol: 1e-4,
        }
    }
}

impl LogisticParams {
    pub fn validate(&self) -> MlResult<()> {
        if !self.c.is_finite() || self.c <= 0.0 {
            return Err(invalid_param(format!(
                "logistic regression C is {}; it must be finite and > 0 (smaller C = stronger regularisation)",
                self.c
            )));
        }
        if !self.tol.is_finite() || self.tol < 0.0 {
            return Err(invalid_param(format!(
                "logistic regression tol is {}; it must be finite and ≥ 0",
                self.tol
            )));
        }
        Ok(())
    }
}

/// How decision scores become probabilities (ONNX `LinearClassifier`'s `post_transform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostTransform {
    /// One score per row: P(class 1) = 1 / (1 + e^(−z)), P(class 0) = 1 − P(class 1).
    Logistic,
    /// One score per class: P(k) = e^(z_k) / Σ_j e^(z_j).
    Softmax,
}

impl PostTransform {
    /// The attribute value ONNX uses for this transform.
    pub fn onnx_name(self) -> &'static str {
        match self {
            PostTransform::Logistic => "LOGISTIC",
            PostTransform::Softmax => "SOFTMAX",
        }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegression {
    n_classes: usize,
    /// One row per output (1 for two classes: the coefficients of class 1; else one per class), one column per
    /// feature.
    coefficients: Matrix,
    /// One per output; all zero when fitted without intercept.
    intercepts: Vec<f64>,
    post_transform: PostTransform,
    params: LogisticParams,
    n_iter: usize,
    converged: bool,
    /// Largest |gradient component| of the objective at the returned coefficients.
    gradient_max: f64,
    /// The objective's value at the returned coefficients.
    objective: f64,
}

impl LogisticRegression {
    /// Fits on `x` (rows = samples) and class indices `y` in `0..n_classes` (`n_classes ≥ 2`; two classes give
    /// the binary model). `weights` are per-sample weights; use [`balanced_sample_weights`] for scikit-learn's
    /// `class_weight='balanced'`. Every class must have a row with non-zero weight.
    pub fn fit(
        x: &Matrix,
        y: &[usize],
        n_classes: usize,
        weights: Option<&[f64]>,
        params: &LogisticParams,
    ) -> MlResult<LogisticRegression> {
        params.validate()?;
        if n_classes < 2 {
            return Err(invalid_param(format!(
                "logistic regression needs at least 2 classes, n_classes is {n_classes}"
            )));
        }
        check_design(x, y.len())?;
        check_labels(y, n_classes)?;
        let weights = check_weights(weights, x.n_rows())?;
        check_every_class_present(y, n_classes, &weights)?;

        let weight_sum: f64 = weights.iter().sum();
        let objective = Objective {
            x,
            y,
            weights: &weights,
            n_outputs: if n_classes == 2 { 1 } else { n_classes },
            fit_intercept: params.fit_intercept,
            inverse_weight_sum: 1.0 / weight_sum,
            l2_strength: 1.0 / (params.c * weight_sum),
        };
        let settings = LbfgsSettings {
            max_iter: params.max_iter,
            gradient_tol: params.tol,
            memory: LBFGS_MEMORY,
        };
        let start = vec![0.0; objective.n_outputs * objective.stride()];
        let result = lbfgs::minimize(
            |theta, gradient| objective.evaluate(theta, gradient),
            start,
            &settings,
        );

        let (coefficients, mut intercepts) = objective.unpack(&result.x);
        if n_classes > 2 && params.fit_intercept {
            // Only differences between multinomial intercepts matter; remove the rounding drift of their sum.
            let mean = intercepts.iter().sum::<f64>() / intercepts.len() as f64;
            intercepts.iter_mut().for_each(|b| *b -= mean);
        }
        Ok(LogisticRegression {
            n_classes,
            coefficients,
            intercepts,
            post_transform: if n_classes == 2 {
                PostTransform::Logistic
            } else {
                PostTransform::Softmax
            },
            params: *params,
            n_iter: result.iterations,
            converged: result.converged,
            gradient_max: result.gradient_max,
            objective: result.value,
        })
    }

    /// Raw scores `x·w_k + b_k`: one column for two classes (positive = class 1), else one per class.
    pub fn decision_function(&self, x: &Matrix) -> MlResult<Matrix> {
        check_predict_input(x, self.n_features())?;
        let n_outputs = self.coefficients.n_rows();
        let mut scores = Matrix::zeros(x.n_rows(), n_outputs);
        for (i, row) in x.rows().enumerate() {
            for (k, score) in scores.row_mut(i).iter_mut().enumerate() {
                *score = dot(self.coefficients.row(k), row) + self.intercepts[k];
            }
        }
        Ok(scores)
    }

    /// Class probabilities, one column per class.
    pub fn predict_proba(&self, x: &Matrix) -> MlResult<Probabilities> {
        let scores = self.decision_function(x)?;
        let mut probabilities = Matrix::zeros(x.n_rows(), self.n_classes);
        for (i, score) in scores.rows().enumerate() {
            let out = probabilities.row_mut(i);
            match self.post_transform {
                PostTransform::Logistic => {
                    let positive = sigmoid(score[0]);
                    out[0] = 1.0 - positive;
                    out[1] = positive;
                }
                PostTransform::Softmax => softmax(score, out),
            }
        }
        Ok(probabilities)
    }

    /// The most probable class of each row (the lowest index on a tie; class 1 needs a score > 0 when binary,
    /// as scikit-learn).
    pub fn predict(&self, x: &Matrix) -> MlResult<Vec<usize>> {
        let scores = self.decision_function(x)?;
        Ok(scores
            .rows()
            .map(|score| match self.post_transform {
                PostTransform::Logistic => usize::from(score[0] > 0.0),
                PostTransform::Softmax => argmax(score),
            })
            .collect())
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    pub fn n_features(&self) -> usize {
        self.coefficients.n_cols()
    }

    /// One row per output (see [`LogisticRegression::post_transform`]), one column per feature.
    pub fn coefficients(&self) -> &Matrix {
        &self.coefficients
    }

    pub fn intercepts(&self) -> &[f64] {
        &self.intercepts
    }

    pub fn post_transform(&self) -> PostTransform {
        self.post_transform
    }

    pub fn params(&self) -> &LogisticParams {
        &self.params
    }

    /// L-BFGS iterations used.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    /// Whether the gradient test (`max |gᵢ| ≤ tol`) held when the optimiser stopped.
    pub fn converged(&self) -> bool {
        self.converged
    }

    /// Largest absolute gradient component of the objective at the fitted coefficients.
    pub fn gradient_max(&self) -> f64 {
        self.gradient_max
    }

    /// The objective (weighted mean loss plus penalty) at the fitted coefficients.
    pub fn objective(&self) -> f64 {
        self.objective
    }
}

/// Per-sample weights equivalent to scikit-learn 1.9's `class_weight='balanced'`: each row's sample weight
/// (1 if `None`) times `Σ weights / (n_present_classes × weighted count of its class)`.
pub fn balanced_sample_weights(
    y: &[usize],
    n_classes: usize,
    weights: Option<&[f64]>,
) -> MlResult<Vec<f64>> {
    check_labels(y, n_classes)?;
    let weights = check_weights(weights, y.len())?;
    let mut class_totals = vec![0.0; n_classes];
    for (&label, &w) in y.iter().zip(&weights) {
        class_totals[label] += w;
    }
    let total: f64 = class_totals.iter().sum();
    let present = class_totals.iter().filter(|&&t| t > 0.0).count() as f64;
    Ok(y.iter()
        .zip(&weights)
        .map(|(&label, &w)| {
            let class_total = class_totals[label];
            if class_total > 0.0 {
                w * total / (present * class_total)
            } else {
                0.0
            }
        })
        .collect())
}

fn check_labels(y: &[usize], n_classes: usize) -> MlResult<()> {
    if let Some(i) = y.iter().position(|&label| label >= n_classes) {
        return Err(invalid_data(format!(
            "row {i} has class index {} but there are only {n_classes} classes (0..{n_classes}); encode the \
             labels with the same class list as n_classes",
            y[i]
        )));
    }
    Ok(())
}

/// A class without weight would drive its unpenalised intercept to −∞: the optimum would not exist.
fn check_every_class_present(y: &[usize], n_classes: usize, weights: &[f64]) -> MlResult<()> {
    let mut class_totals = vec![0.0; n_classes];
    for (&label, &w) in y.iter().zip(weights) {
        class_totals[label] += w;
    }
    let present: Vec<usize> = (0..n_classes).filter(|&k| class_totals[k] > 0.0).collect();
    if let [only] = present.as_slice() {
        return Err(invalid_data(format!(
            "every training row (with non-zero weight) has class {only}; a classifier needs at least two \
             classes: check the target column, or stratify the split"
        )));
    }
    if let Some(missing) = (0..n_classes).find(|&k| class_totals[k] <= 0.0) {
        return Err(invalid_data(format!(
            "class {missing} has no training rows with non-zero weight, so its probability cannot be \
             estimated; stratify the split, or encode the labels with only the classes present"
        )));
    }
    Ok(())
}

/// The objective, its gradient, and the packing of the parameter vector: for each output k, the feature
/// coefficients followed by the intercept (when fitted).
struct Objective<'a> {
    x: &'a Matrix,
    y: &'a [usize],
    weights: &'a [f64],
    /// 1 for binary, else the number of classes.
    n_outputs: usize,
    fit_intercept: bool,
    inverse_weight_sum: f64,
    l2_strength: f64,
}

impl Objective<'_> {
    fn stride(&self) -> usize {
        self.x.n_cols() + usize::from(self.fit_intercept)
    }

    fn unpack(&self, theta: &[f64]) -> (Matrix, Vec<f64>) {
        let n_features = self.x.n_cols();
        let mut coefficients = Matrix::zeros(self.n_outputs, n_features);
        let mut intercepts = vec![0.0; self.n_outputs];
        for (k, packed) in theta.chunks_exact(self.stride()).enumerate() {
            coefficients
                .row_mut(k)
                .copy_from_slice(&packed[..n_features]);
            if self.fit_intercept {
                intercepts[k] = packed[n_features];
            }
        }
        (coefficients, intercepts)
    }

    /// Writes the gradient into `gradient` and returns the objective.
    fn evaluate(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let n_rows = self.x.n_rows();
        let n_chunks = n_rows.div_ceil(CHUNK_ROWS);
        // Partial sums per chunk, collected in chunk order and added sequentially: deterministic.
        let partials: Vec<(f64, Vec<f64>)> = (0..n_chunks)
            .into_par_iter()
            .map(|chunk| {
                let rows = chunk * CHUNK_ROWS..((chunk + 1) * CHUNK_ROWS).min(n_rows);
                self.chunk_loss_gradient(theta, rows)
            })
            .collect();
        gradient.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        for (chunk_loss, chunk_gradient) in &partials {
            loss += chunk_loss;
            gradient
                .iter_mut()
                .zip(chunk_gradient)
                .for_each(|(g, c)| *g += c);
        }
        let n_features = self.x.n_cols();
        let mut penalty = 0.0;
        for (packed_gradient, packed) in gradient
            .chunks_exact_mut(self.stride())
            .zip(theta.chunks_exact(self.stride()))
        {
            packed_gradient
                .iter_mut()
                .for_each(|g| *g *= self.inverse_weight_sum);
            for (g, w) in packed_gradient[..n_features]
                .iter_mut()
                .zip(&packed[..n_features])
            {
                *g += self.l2_strength * w;
                penalty += w * w;
            }
        }
        loss * self.inverse_weight_sum + 0.5 * self.l2_strength * penalty
    }

    /// Σ sᵢ ℓᵢ and Σ sᵢ ∂ℓᵢ/∂θ over `rows`.
    fn chunk_loss_gradient(&self, theta: &[f64], rows: std::ops::Range<usize>) -> (f64, Vec<f64>) {
        let n_features = self.x.n_cols();
        let stride = self.stride();
        let mut gradient = vec![0.0; theta.len()];
        let mut loss = 0.0;
        let mut scores = vec![0.0; self.n_outputs];
        for i in rows {
            let weight = self.weights[i];
            if weight == 0.0 {
                continue;
            }
            let row = self.x.row(i);
            for (k, score) in scores.iter_mut().enumerate() {
                let packed = &theta[k * stride..(k + 1) * stride];
                *score = dot(&packed[..n_features], row)
                    + if self.fit_intercept {
                        packed[n_features]
                    } else {
                        0.0
                    };
            }
            let label = self.y[i];
            if self.n_outputs == 1 {
                // Half binomial loss: log(1 + e^z) − y z, written to stay finite for large |z|.
                let z = scores[0];
                let positive = label == 1;
                loss += weight * if positive { softplus(-z) } else { softplus(z) };
                scores[0] = weight * (sigmoid(z) - f64::from(u8::from(positive)));
            } else {
                // Multinomial loss: log Σ_j e^(z_j) − z_y; its gradient in z is softmax(z) − onehot(y).
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let label_score = scores[label];
                let mut sum = 0.0;
                for score in scores.iter_mut() {
                    *score = (*score - max).exp();
                    sum += *score;
                }
                loss += weight * (max + sum.ln() - label_score);
                for (k, score) in scores.iter_mut().enumerate() {
                    *score = weight * (*score / sum - f64::from(u8::from(k == label)));
                }
            }
            for (k, &residual) in scores.iter().enumerate() {
                let packed = &mut gradient[k * stride..(k + 1) * stride];
                packed[..n_features]
                    .iter_mut()
                    .zip(row)
                    .for_each(|(g, v)| *g += residual * v);
                if self.fit_intercept {
                    packed[n_features] += residual;
                }
            }
        }
        (loss, gradient)
    }
}

/// log(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MlError;

    fn toy() -> (Matrix, Vec<usize>) {
        let x = Matrix::from_rows(&[
            vec![-2.0, 0.5],
            vec![-1.0, -0.3],
            vec![-0.5, 1.0],
            vec![0.3, -1.0],
            vec![0.8, 0.2],
            vec![1.5, -0.4],
            vec![0.1, 0.1],
            vec![-0.2, -0.6],
        ]);
        (x, vec![0, 0, 1, 0, 1, 1, 1, 0])
    }

    /// The analytic gradient must agree with central finite differences of the objective.
    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y) = toy();
        let y3: Vec<usize> = y
            .iter()
            .enumerate()
            .map(|(i, &c)| if i % 3 == 0 { 2 } else { c })
            .collect();
        let weights = [1.0, 0.5, 2.0, 1.0, 0.0, 3.0, 1.0, 1.0];
        for (labels, n_outputs) in [(&y, 1), (&y3, 3)] {
            for fit_intercept in [true, false] {
                let objective = Objective {
                    x: &x,
                    y: labels,
                    weights: &weights,
                    n_outputs,
                    fit_intercept,
                    inverse_weight_sum: 1.0 / weights.iter().sum::<f64>(),
                    l2_strength: 0.3,
                };
                let theta: Vec<f64> = (0..n_outputs * objective.stride())
                    .map(|i| 0.3 * i as f64 - 0.7)
                    .collect();
                let mut gradient = vec![0.0; theta.len()];
                objective.evaluate(&theta, &mut gradient);
                let mut scratch = gradient.clone();
                for j in 0..theta.len() {
                    let h = 1e-6;
                    let mut plus = theta.clone();
                    plus[j] += h;
                    let mut minus = theta.clone();
                    minus[j] -= h;
                    let numeric = (objective.evaluate(&plus, &mut scratch)
                        - objective.evaluate(&minus, &mut scratch))
                        / (2.0 * h);
                    assert!(
                        (numeric - gradient[j]).abs() < 1e-8,
                        "component {j}: {numeric} vs {}",
                        gradient[j]
                    );
                }
            }
        }
    }

    #[test]
    fn probabilities_are_consistent_with_predictions() {
        let (x, y) = toy();
        let model = LogisticRegression::fit(&x, &y, 2, None, &LogisticParams::default()).unwrap();
        assert!(model.converged());
        let proba = model.predict_proba(&x).unwrap();
        let predicted = model.predict(&x).unwrap();
        for (row, &class) in proba.rows().zip(&predicted) {
            assert!((row[0] + row[1] - 1.0).abs() < 1e-15);
            assert_eq!(class, usize::from(row[1] > 0.5));
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let (x, y) = toy();
        let single = vec![1; y.len()];
        let message = LogisticRegression::fit(&x, &single, 2, None, &LogisticParams::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("class 1"), "{message}");
        let message = LogisticRegression::fit(&x, &y, 3, None, &LogisticParams::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("class 2"), "{message}");
        for c in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let params = LogisticParams {
                c,
                ..LogisticParams::default()
            };
            assert!(matches!(
                LogisticRegression::fit(&x, &y, 2, None, &params),
                Err(MlError::InvalidParam(_))
            ));
        }
        let mut bad = x.clone();
        bad.set(3, 1, f64::NAN);
        let message = LogisticRegression::fit(&bad, &y, 2, None, &LogisticParams::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("row 3, column 1"), "{message}");
        let labels_out_of_range: Vec<usize> = y.iter().map(|&c| c * 5).collect();
        assert!(
            LogisticRegression::fit(
                &x,
                &labels_out_of_range,
                2,
                None,
                &LogisticParams::default()
            )
            .is_err()
        );
        assert!(LogisticRegression::fit(&x, &y, 1, None, &LogisticParams::default()).is_err());
        assert!(
            LogisticRegression::fit(
                &Matrix::zeros(0, 2),
                &[],
                2,
                None,
                &LogisticParams::default()
            )
            .is_err()
        );
    }
}
