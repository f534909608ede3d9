//! Log loss (cross-entropy) of class probabilities, as scikit-learn 1.9's `log_loss(y_true, probabilities,
//! labels=range(n_classes))`.
//!
//! What scikit-learn does, and so what this does: probabilities below 0 or above 1 (or not finite) are rejected;
//! rows that do not sum to 1 are *not* renormalized (scikit-learn only warns); every probability is clipped to
//! `[ε, 1 − ε]` with `ε = f64::EPSILON` before the logarithm, so a probability of exactly 0 for the true class
//! costs `−ln ε ≈ 36.04` instead of infinity and a probability of 1 costs `−ln(1 − ε)` rather than 0. The loss
//! is the mean over samples of `−ln p(true class)`. A `y_true` holding a single class is fine here because the
//! classes come from the probability columns.

use super::{check_labels, check_same_length, numpy_mean};
use crate::error::{MlResult, invalid_data, invalid_param};
use crate::matrix::Matrix;

/// Mean negative log-likelihood of `y_true` under `probabilities` (one row per sample, one column per class).
pub fn log_loss(y_true: &[usize], probabilities: &Matrix) -> MlResult<f64> {
    check_same_length(y_true.len(), probabilities.n_rows(), "log loss")?;
    let n_classes = probabilities.n_cols();
    if n_classes < 2 {
        return Err(invalid_param(format!(
            "log loss needs probabilities for at least two classes, got {n_classes} column(s); for a binary \
             problem pass both columns (1 − p, p)"
        )));
    }
    check_labels(y_true, n_classes, "y_true")?;
    if let Some(position) = probabilities
        .as_slice()
        .iter()
        .position(|p| !(0.0..=1.0).contains(p))
    {
        let (row, column) = (position / n_classes, position % n_classes);
        return Err(invalid_data(format!(
            "probability at row {row}, column {column} is {}; probabilities must lie in [0, 1]",
            probabilities.get(row, column)
        )));
    }
    let epsilon = f64::EPSILON;
    let losses: Vec<f64> = y_true
        .iter()
        .enumerate()
        .map(|(row, &label)| {
            -probabilities
                .get(row, label)
                .clamp(epsilon, 1.0 - epsilon)
                .ln()
        })
        .collect();
    Ok(numpy_mean(&losses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certain_probabilities_are_clipped() {
        let confident = Matrix::from_rows(&[vec![1.0, 0.0], vec![0.0, 1.0]]);
        let right = log_loss(&[0, 1], &confident).unwrap();
        assert_eq!(right, -(1.0 - f64::EPSILON).ln());
        let wrong = log_loss(&[1, 0], &confident).unwrap();
        assert_eq!(wrong, -f64::EPSILON.ln());
        assert!(wrong.is_finite());
    }

    #[test]
    fn rows_not_summing_to_one_are_used_as_given() {
        let halves = Matrix::from_rows(&[vec![0.25, 0.25], vec![0.25, 0.25]]);
        assert_eq!(log_loss(&[0, 1], &halves).unwrap(), -(0.25f64).ln());
    }

    #[test]
    fn invalid_inputs_are_errors() {
        let probabilities = Matrix::from_rows(&[vec![0.5, 0.5], vec![1.2, -0.2]]);
        assert!(log_loss(&[0, 1], &probabilities).is_err());
        let one_column = Matrix::from_rows(&[vec![1.0], vec![1.0]]);
        assert!(log_loss(&[0, 0], &one_column).is_err());
        let fine = Matrix::from_rows(&[vec![0.5, 0.5]]);
        assert!(log_loss(&[2], &fine).is_err());
        assert!(log_loss(&[0, 1], &fine).is_err());
        let with_nan = Matrix::from_rows(&[vec![f64::NAN, 0.5]]);
        assert!(log_loss(&[0], &with_nan).is_err());
    }
}
