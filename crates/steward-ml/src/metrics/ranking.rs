//! Ranking metrics over scores: ROC AUC (binary, and one-vs-rest over class probabilities) and average
//! precision. Both sort once (O(n log n)) and walk the distinct score values from the highest down, as
//! scikit-learn's `_binary_clf_curve` does: tied scores form one threshold, so a tie between a positive and a
//! negative contributes a trapezoid (half credit) to the AUC and one step to the average precision.

use rayon::prelude::*;

use super::{check_finite, check_labels, check_same_length, numpy_sum};
use crate::error::{MlError, MlResult, invalid_data, invalid_param};
use crate::matrix::Matrix;

/// How per-class one-vs-rest ROC AUCs are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OvrAverage {
    /// Unweighted mean over all classes; undefined if some class never occurs in `y_true`.
    Macro,
    /// Mean weighted by each class's support; classes absent from `y_true` weigh nothing.
    Weighted,
}

/// Area under the ROC curve of binary labels (`1` = positive, `0` = negative) ranked by `scores` (higher =
/// more positive), as scikit-learn's `roc_auc_score(y_true, scores)`.
///
/// Errors when `y_true` holds a single class: the curve has no false (or no true) positives and the area is
/// undefined (scikit-learn 1.9 warns and returns NaN there).
pub fn roc_auc_binary(y_true: &[usize], scores: &[f64]) -> MlResult<f64> {
    defined_binary_auc(y_true, scores)?.ok_or_else(|| one_class_error(y_true))
}

/// [`roc_auc_binary`] with "undefined for this data" as `None`, so callers can tell it from bad input.
pub(crate) fn defined_binary_auc(y_true: &[usize], scores: &[f64]) -> MlResult<Option<f64>> {
    check_same_length(y_true.len(), scores.len(), "ROC AUC")?;
    check_labels(y_true, 2, "y_true")?;
    check_finite(scores, "scores")?;
    let positives: Vec<bool> = y_true.iter().map(|&label| label == 1).collect();
    Ok(binary_auc(&positives, scores))
}

fn one_class_error(y_true: &[usize]) -> MlError {
    invalid_data(format!(
        "ROC AUC is undefined: only one class ({}) is present in y_true; evaluate on data with several classes",
        y_true.first().copied().unwrap_or_default()
    ))
}

/// Average precision of binary labels (`1` = positive) ranked by `scores`: `Σ (Rₙ − Rₙ₋₁)·Pₙ` over the
/// distinct thresholds, scikit-learn's step-wise (not interpolated) definition.
///
/// As in scikit-learn, `y_true` without positives gives 0.0 (recall is taken as 1 everywhere) and `y_true`
/// with only positives gives 1.0.
pub fn average_precision(y_true: &[usize], scores: &[f64]) -> MlResult<f64> {
    check_same_length(y_true.len(), scores.len(), "average precision")?;
    check_labels(y_true, 2, "y_true")?;
    check_finite(scores, "scores")?;
    let positives: Vec<bool> = y_true.iter().map(|&label| label == 1).collect();
    let curve = threshold_counts(&positives, scores);
    let Some(&(total_positives, _)) = curve.last() else {
        return Ok(0.0);
    };
    if total_positives == 0 {
        // Recall is 1 at every threshold, so the only step is at the highest threshold, whose precision is 0.
        return Ok(0.0);
    }
    let mut terms = Vec::with_capacity(curve.len());
    let mut previous_true_positives = 0u64;
    for &(true_positives, false_positives) in &curve {
        let recall_step =
            (true_positives - previous_true_positives) as f64 / total_positives as f64;
        let precision = true_positives as f64 / (true_positives + false_positives) as f64;
        terms.push(recall_step * precision);
        previous_true_positives = true_positives;
    }
    Ok(numpy_sum(&terms).max(0.0))
}

/// One-vs-rest ROC AUC from class probabilities (one column per class, rows summing to 1), as scikit-learn's
/// `roc_auc_score(y_true, probabilities, multi_class="ovr", average=..., labels=range(n_classes))`.
///
/// With two columns this is the binary AUC of column 1 (both one-vs-rest curves are the same). Errors when the
/// rows do not sum to 1 (within NumPy's `allclose` tolerance, as scikit-learn checks), when `y_true` holds one
/// class only, and for [`OvrAverage::Macro`] when some class never occurs in `y_true` (its curve is undefined;
/// scikit-learn returns NaN).
pub fn roc_auc_ovr(y_true: &[usize], probabilities: &Matrix, average: OvrAverage) -> MlResult<f64> {
    match defined_ovr_auc(y_true, probabilities, average)? {
        Some(value) => Ok(value),
        None if distinct_labels(y_true) < 2 => Err(one_class_error(y_true)),
        None => {
            let absent = (0..probabilities.n_cols())
                .find(|class| !y_true.contains(class))
                .unwrap_or_default();
            Err(invalid_data(format!(
                "macro one-vs-rest ROC AUC is undefined: class {absent} never occurs in y_true; use the weighted \
                 average or evaluate on data containing every class"
            )))
        }
    }
}

fn distinct_labels(labels: &[usize]) -> usize {
    let mut sorted = labels.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.len()
}

/// [`roc_auc_ovr`] with "undefined for this data" as `None`, so callers can tell it from bad input.
pub(crate) fn defined_ovr_auc(
    y_true: &[usize],
    probabilities: &Matrix,
    average: OvrAverage,
) -> MlResult<Option<f64>> {
    check_same_length(y_true.len(), probabilities.n_rows(), "ROC AUC")?;
    let n_classes = probabilities.n_cols();
    if n_classes < 2 {
        return Err(invalid_param(format!(
            "ROC AUC needs probabilities for at least two classes, got {n_classes} column(s)"
        )));
    }
    check_labels(y_true, n_classes, "y_true")?;
    check_finite(probabilities.as_slice(), "probabilities")?;
    if n_classes == 2 {
        return defined_binary_auc(y_true, &probabilities.column(1));
    }
    for (row, values) in probabilities.rows().enumerate() {
        let total = numpy_sum(values);
        // NumPy's allclose(1, total): |1 - total| <= atol + rtol·|total|.
        if (1.0 - total).abs() > 1e-8 + 1e-5 * total.abs() {
            return Err(invalid_data(format!(
                "probabilities row {row} sums to {total}, not 1; multiclass ROC AUC needs probabilities \
                 (normalize the rows, e.g. with a softmax)"
            )));
        }
    }
    let mut support = vec![0u64; n_classes];
    for &label in y_true {
        support[label] += 1;
    }
    let present = support.iter().filter(|&&count| count > 0).count();
    if present < 2 || (average == OvrAverage::Macro && present < n_classes) {
        return Ok(None);
    }

    let per_class: Vec<Option<f64>> = (0..n_classes)
        .into_par_iter()
        .map(|class| {
            let positives: Vec<bool> = y_true.iter().map(|&label| label == class).collect();
            binary_auc(&positives, &probabilities.column(class))
        })
        .collect();

    match average {
        OvrAverage::Macro => {
            let values: Vec<f64> = per_class
                .iter()
                .map(|auc| auc.unwrap_or(f64::NAN))
                .collect();
            Ok(Some(numpy_sum(&values) / n_classes as f64))
        }
        OvrAverage::Weighted => {
            // scikit-learn forces zero-weight (absent) classes to 0 before averaging.
            let weighted: Vec<f64> = per_class
                .iter()
                .zip(&support)
                .map(|(auc, &weight)| {
                    if weight == 0 {
                        0.0
                    } else {
                        auc.unwrap_or(f64::NAN) * weight as f64
                    }
                })
                .collect();
            Ok(Some(numpy_sum(&weighted) / y_true.len() as f64))
        }
    }
}

/// Cumulative (true positives, false positives) at each distinct score, from the highest score down.
fn threshold_counts(positives: &[bool], scores: &[f64]) -> Vec<(u64, u64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut curve = Vec::new();
    let (mut true_positives, mut false_positives) = (0u64, 0u64);
    for (rank, &index) in order.iter().enumerate() {
        if positives[index] {
            true_positives += 1;
        } else {
            false_positives += 1;
        }
        // Close a threshold only where the next score differs: tied samples move the curve together.
        let last_of_tie = order
            .get(rank + 1)
            .is_none_or(|&next| scores[next] != scores[index]);
        if last_of_tie {
            curve.push((true_positives, false_positives));
        }
    }
    curve
}

/// ROC AUC by trapezoids over distinct thresholds, summed in exact integer arithmetic (twice the area in units
/// of one positive × one negative) and divided once; `None` when either class is missing.
fn binary_auc(positives: &[bool], scores: &[f64]) -> Option<f64> {
    let curve = threshold_counts(positives, scores);
    let &(total_positives, total_negatives) = curve.last()?;
    if total_positives == 0 || total_negatives == 0 {
        return None;
    }
    let mut doubled_area: u128 = 0;
    let (mut previous_tp, mut previous_fp) = (0u64, 0u64);
    for &(true_positives, false_positives) in &curve {
        doubled_area +=
            u128::from(false_positives - previous_fp) * u128::from(true_positives + previous_tp);
        previous_tp = true_positives;
        previous_fp = false_positives;
    }
    Some(doubled_area as f64 / (2.0 * total_positives as f64 * total_negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_reversed_and_tied_rankings() {
        assert_eq!(
            roc_auc_binary(&[0, 0, 1, 1], &[0.1, 0.2, 0.8, 0.9]).unwrap(),
            1.0
        );
        assert_eq!(
            roc_auc_binary(&[1, 1, 0, 0], &[0.1, 0.2, 0.8, 0.9]).unwrap(),
            0.0
        );
        // Every score tied: one threshold, the diagonal, area 1/2.
        assert_eq!(roc_auc_binary(&[0, 1, 0, 1], &[0.5; 4]).unwrap(), 0.5);
        // One positive tied with one negative at the top: that pair counts half.
        assert_eq!(roc_auc_binary(&[1, 0, 0], &[0.9, 0.9, 0.1]).unwrap(), 0.75);
    }

    #[test]
    fn auc_equals_pairwise_probability() {
        // AUC = P(score of a random positive > score of a random negative) + ½ P(tie), counted by brute force.
        let y_true = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1];
        let scores = [0.3, 0.3, 0.9, 0.1, 0.5, 0.2, 0.5, 0.7, 0.3, 0.1, 0.6, 0.8];
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for i in 0..y_true.len() {
            for j in 0..y_true.len() {
                if y_true[i] == 1 && y_true[j] == 0 {
                    pairs += 1.0;
                    wins += if scores[i] > scores[j] {
                        1.0
                    } else if scores[i] == scores[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        let auc = roc_auc_binary(&y_true, &scores).unwrap();
        assert!((auc - wins / pairs).abs() < 1e-15);
    }

    #[test]
    fn one_class_is_an_error_that_says_so() {
        let error = roc_auc_binary(&[1, 1, 1], &[0.2, 0.5, 0.9]).unwrap_err();
        assert!(error.to_string().contains("only one class"), "{error}");
        let probabilities = Matrix::from_rows(&[vec![0.5, 0.3, 0.2], vec![0.6, 0.2, 0.2]]);
        assert!(roc_auc_ovr(&[0, 0], &probabilities, OvrAverage::Weighted).is_err());
    }

    #[test]
    fn average_precision_steps() {
        // Ranked: 1 (P=1, R=1/2), 0, 1 (P=2/3, R=1): AP = 1/2·1 + 1/2·2/3.
        let ap = average_precision(&[1, 0, 1], &[0.9, 0.8, 0.7]).unwrap();
        assert!((ap - (0.5 + 1.0 / 3.0)).abs() < 1e-15);
        assert_eq!(average_precision(&[0, 0], &[0.1, 0.2]).unwrap(), 0.0);
        assert_eq!(average_precision(&[1, 1], &[0.1, 0.2]).unwrap(), 1.0);
    }

    #[test]
    fn ovr_checks_its_input() {
        let unnormalized = Matrix::from_rows(&[
            vec![0.5, 0.3, 0.3],
            vec![0.2, 0.2, 0.6],
            vec![0.1, 0.8, 0.1],
        ]);
        let error = roc_auc_ovr(&[0, 2, 1], &unnormalized, OvrAverage::Macro).unwrap_err();
        assert!(error.to_string().contains("sums to"), "{error}");
        let normalized = Matrix::from_rows(&[
            vec![0.5, 0.3, 0.2],
            vec![0.2, 0.2, 0.6],
            vec![0.1, 0.8, 0.1],
        ]);
        // Class 1 is absent from y_true: macro is undefined, weighted is defined.
        assert!(roc_auc_ovr(&[0, 2, 2], &normalized, OvrAverage::Macro).is_err());
        // Class 0 (support 1) ranks perfectly: 1. Class 2 (support 2): its positives score 0.6 and 0.1 against a
        // negative at 0.2, so one pair of two is won: 1/2. Weighted: (1·1 + 2·½) / 3.
        let weighted = roc_auc_ovr(&[0, 2, 2], &normalized, OvrAverage::Weighted).unwrap();
        assert!((weighted - 2.0 / 3.0).abs() < 1e-15, "{weighted}");
        assert!(
            roc_auc_ovr(&[0, 2], &normalized, OvrAverage::Macro).is_err(),
            "row count mismatch"
        );
        assert!(
            roc_auc_ovr(&[0, 3, 2], &normalized, OvrAverage::Macro).is_err(),
            "label out of range"
        );
    }

    #[test]
    fn large_input_is_fast_enough() {
        // 200k samples: sort-based, so this takes milliseconds even unoptimized (an O(n²) pass would not finish).
        let n = 200_000;
        let mut rng = crate::rng::Rng::new(7);
        let y_true: Vec<usize> = (0..n).map(|_| rng.below(2)).collect();
        let scores: Vec<f64> = y_true
            .iter()
            .map(|&y| y as f64 * 0.5 + rng.next_f64())
            .collect();
        let auc = roc_auc_binary(&y_true, &scores).unwrap();
        // Positive scores ~ U(0.5, 1.5), negative ~ U(0, 1): P(pos > neg) = 7/8.
        assert!((auc - 0.875).abs() < 0.01, "{auc}");
    }
}
