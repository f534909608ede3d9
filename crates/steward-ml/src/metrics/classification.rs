//! Label metrics: accuracy, balanced accuracy, the confusion matrix and precision / recall / F1 with
//! scikit-learn's averages and `zero_division` rules. Per-class results always cover every class
//! `0..n_classes` (scikit-learn's `labels=list(range(n_classes))`), which equals scikit-learn's default whenever
//! each class occurs in `y_true` or `y_pred`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{check_labels, check_same_length, numpy_mean, numpy_sum};
use crate::error::{MlResult, invalid_param};

/// What a ratio with a zero denominator becomes (scikit-learn's `zero_division`): precision when a class is
/// never predicted, recall when a class never occurs in `y_true`, F1 when both hold.
///
/// - `Warn` (scikit-learn's default): the value is 0.0 and the result lists the ill-defined case in its
///   `warnings`, as scikit-learn emits an `UndefinedMetricWarning`.
/// - `Zero` / `One`: the value is 0.0 / 1.0, silently (choosing explicitly is taken as knowing).
/// - `NaN`: the value is NaN, silently; averages then skip NaN entries, exactly as scikit-learn does.
///
/// F1 is computed as `2·tp / (2·tp + fp + fn)`, so it is ill-defined only when the class is neither present
/// nor predicted: a class that occurs but is never predicted gets F1 = 0 whatever this setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroDivision {
    #[default]
    Warn,
    Zero,
    One,
    #[serde(rename = "nan")]
    NaN,
}

impl ZeroDivision {
    fn replacement(self) -> f64 {
        match self {
            ZeroDivision::Warn | ZeroDivision::Zero => 0.0,
            ZeroDivision::One => 1.0,
            ZeroDivision::NaN => f64::NAN,
        }
    }
}

/// How per-class precision / recall / F1 are combined into one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Average {
    /// Unweighted mean over the classes `0..n_classes` (NaN entries skipped).
    Macro,
    /// Mean weighted by each class's support in `y_true` (NaN entries skipped; if every weight is zero, the
    /// unweighted mean).
    Weighted,
    /// Global counts: with all classes included this equals accuracy for precision, recall and F1.
    Micro,
    /// The scores of `positive_label` alone. Like scikit-learn, only allowed when `y_true` and `y_pred`
    /// together hold at most two distinct labels, and the positive label must be one of them if there are two.
    Binary { positive_label: usize },
}

/// Which metric was ill-defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UndefinedMetricKind {
    /// Some class was never predicted.
    Precision,
    /// Some class never occurs in `y_true`.
    Recall,
    /// Some class is neither in `y_true` nor predicted.
    F1,
}

/// A ratio with a zero denominator, reported under [`ZeroDivision::Warn`] (scikit-learn's
/// `UndefinedMetricWarning`). `classes` lists the class indices concerned; it is empty for a micro average,
/// whose counts are global.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndefinedMetric {
    pub metric: UndefinedMetricKind,
    pub classes: Vec<usize>,
}

impl fmt::Display for UndefinedMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, cause) = match self.metric {
            UndefinedMetricKind::Precision => ("precision", "no predicted samples"),
            UndefinedMetricKind::Recall => ("recall", "no true samples"),
            UndefinedMetricKind::F1 => ("F1", "no true nor predicted samples"),
        };
        if self.classes.is_empty() {
            write!(
                f,
                "{name} is ill-defined and set to 0.0 because there are {cause}"
            )?;
        } else {
            write!(
                f,
                "{name} is ill-defined and set to 0.0 for classes {:?}, which have {cause}",
                self.classes
            )?;
        }
        write!(
            f,
            "; pass another ZeroDivision to choose the value explicitly"
        )
    }
}

/// Counts of (true class, predicted class) pairs: row = true class, column = predicted class, as scikit-learn's
/// `confusion_matrix(y_true, y_pred, labels=range(n_classes))`. Serializes as a list of rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<Vec<u64>>", try_from = "Vec<Vec<u64>>")]
pub struct ConfusionMatrix {
    n_classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// Counts `y_true`/`y_pred` pairs; every label must be below `n_classes`.
    pub fn compute(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> MlResult<Self> {
        check_same_length(y_true.len(), y_pred.len(), "a confusion matrix")?;
        check_n_classes(n_classes)?;
        check_labels(y_true, n_classes, "y_true")?;
        check_labels(y_pred, n_classes, "y_pred")?;
        let mut counts = vec![0u64; n_classes * n_classes];
        for (&truth, &predicted) in y_true.iter().zip(y_pred) {
            counts[truth * n_classes + predicted] += 1;
        }
        Ok(ConfusionMatrix { n_classes, counts })
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of samples of class `true_class` predicted as `predicted_class`.
    pub fn get(&self, true_class: usize, predicted_class: usize) -> u64 {
        self.counts[true_class * self.n_classes + predicted_class]
    }

    /// The matrix as rows (one per true class).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.n_classes.max(1))
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Number of samples counted.
    pub fn n_samples(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Samples of class `class` predicted as `class`.
    pub fn true_positives(&self, class: usize) -> u64 {
        self.get(class, class)
    }

    /// Samples whose true class is `class` (the row sum).
    pub fn support(&self, class: usize) -> u64 {
        (0..self.n_classes).map(|p| self.get(class, p)).sum()
    }

    /// Samples predicted as `class` (the column sum).
    pub fn predicted(&self, class: usize) -> u64 {
        (0..self.n_classes).map(|t| self.get(t, class)).sum()
    }

    /// Samples on the diagonal.
    pub fn correct(&self) -> u64 {
        (0..self.n_classes).map(|c| self.true_positives(c)).sum()
    }
}

impl From<ConfusionMatrix> for Vec<Vec<u64>> {
    fn from(matrix: ConfusionMatrix) -> Self {
        matrix.rows()
    }
}

impl TryFrom<Vec<Vec<u64>>> for ConfusionMatrix {
    type Error = String;

    fn try_from(rows: Vec<Vec<u64>>) -> Result<Self, Self::Error> {
        let n_classes = rows.len();
        if rows.iter().any(|row| row.len() != n_classes) {
            return Err(format!(
                "a confusion matrix must be square: {n_classes} rows need {n_classes} columns each"
            ));
        }
        Ok(ConfusionMatrix {
            n_classes,
            counts: rows.into_iter().flatten().collect(),
        })
    }
}

/// Precision, recall, F1 and support of every class `0..n_classes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerClassScores {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub f1: Vec<f64>,
    pub support: Vec<u64>,
    /// Ill-defined ratios (only under [`ZeroDivision::Warn`]).
    pub warnings: Vec<UndefinedMetric>,
}

/// Averaged precision, recall and F1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrfScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Ill-defined ratios (only under [`ZeroDivision::Warn`]).
    pub warnings: Vec<UndefinedMetric>,
}

/// One metric value with the ill-defined cases met while computing it (only under [`ZeroDivision::Warn`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub value: f64,
    pub warnings: Vec<UndefinedMetric>,
}

/// Fraction of samples whose prediction equals the truth.
pub fn accuracy(y_true: &[usize], y_pred: &[usize]) -> MlResult<f64> {
    check_same_length(y_true.len(), y_pred.len(), "accuracy")?;
    let correct = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(correct as f64 / y_true.len() as f64)
}

/// Mean over the classes present in `y_true` of each class's recall. Classes that only appear in `y_pred` are
/// left out, as scikit-learn does (it warns "y_pred contains classes not in y_true").
pub fn balanced_accuracy(y_true: &[usize], y_pred: &[usize]) -> MlResult<f64> {
    check_same_length(y_true.len(), y_pred.len(), "balanced accuracy")?;
    // Keyed by label in ascending order, the order in which scikit-learn sums the per-class recalls.
    let mut per_class: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
    for (&truth, &predicted) in y_true.iter().zip(y_pred) {
        let (support, hits) = per_class.entry(truth).or_default();
        *support += 1;
        if truth == predicted {
            *hits += 1;
        }
    }
    let recalls: Vec<f64> = per_class
        .values()
        .map(|&(support, hits)| hits as f64 / support as f64)
        .collect();
    Ok(numpy_mean(&recalls))
}

/// Per-class precision, recall, F1 and support for the classes `0..n_classes` (scikit-learn's
/// `precision_recall_fscore_support(..., labels=range(n_classes), average=None)`).
pub fn precision_recall_f1_per_class(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
    zero_division: ZeroDivision,
) -> MlResult<PerClassScores> {
    let matrix = ConfusionMatrix::compute(y_true, y_pred, n_classes)?;
    Ok(per_class_from_matrix(&matrix, zero_division))
}

pub(crate) fn per_class_from_matrix(
    matrix: &ConfusionMatrix,
    zero_division: ZeroDivision,
) -> PerClassScores {
    let classes: Vec<usize> = (0..matrix.n_classes()).collect();
    per_class_from_counts(
        &ClassCounts::of_classes(matrix, &classes),
        &classes,
        zero_division,
    )
}

/// Averaged precision, recall and F1 (scikit-learn's `precision_recall_fscore_support(..., average=...)` with
/// `labels=range(n_classes)` for the macro, weighted and micro averages).
pub fn precision_recall_f1(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
    average: Average,
    zero_division: ZeroDivision,
) -> MlResult<PrfScores> {
    let matrix = ConfusionMatrix::compute(y_true, y_pred, n_classes)?;
    prf_from_matrix(&matrix, average, zero_division)
}

/// Precision alone; `warnings` holds only precision's ill-defined cases, as scikit-learn's `precision_score`.
pub fn precision_score(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
    average: Average,
    zero_division: ZeroDivision,
) -> MlResult<Scored> {
    let scores = precision_recall_f1(y_true, y_pred, n_classes, average, zero_division)?;
    Ok(keep_warnings(
        scores.precision,
        scores.warnings,
        UndefinedMetricKind::Precision,
    ))
}

/// Recall alone; `warnings` holds only recall's ill-defined cases, as scikit-learn's `recall_score`.
pub fn recall_score(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
    average: Average,
    zero_division: ZeroDivision,
) -> MlResult<Scored> {
    let scores = precision_recall_f1(y_true, y_pred, n_classes, average, zero_division)?;
    Ok(keep_warnings(
        scores.recall,
        scores.warnings,
        UndefinedMetricKind::Recall,
    ))
}

/// F1 alone; `warnings` holds only F1's ill-defined cases, as scikit-learn's `f1_score`.
pub fn f1_score(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
    average: Average,
    zero_division: ZeroDivision,
) -> MlResult<Scored> {
    let scores = precision_recall_f1(y_true, y_pred, n_classes, average, zero_division)?;
    Ok(keep_warnings(
        scores.f1,
        scores.warnings,
        UndefinedMetricKind::F1,
    ))
}

fn keep_warnings(value: f64, warnings: Vec<UndefinedMetric>, kind: UndefinedMetricKind) -> Scored {
    Scored {
        value,
        warnings: warnings.into_iter().filter(|w| w.metric == kind).collect(),
    }
}

pub(crate) fn check_n_classes(n_classes: usize) -> MlResult<()> {
    if n_classes == 0 {
        return Err(invalid_param(
            "n_classes is 0: pass the number of classes (at least 1)",
        ));
    }
    Ok(())
}

/// True-positive, predicted and true counts for a list of classes (or one pooled entry for micro).
struct ClassCounts {
    true_positives: Vec<u64>,
    predicted: Vec<u64>,
    support: Vec<u64>,
}

impl ClassCounts {
    fn of_classes(matrix: &ConfusionMatrix, classes: &[usize]) -> Self {
        ClassCounts {
            true_positives: classes.iter().map(|&c| matrix.true_positives(c)).collect(),
            predicted: classes.iter().map(|&c| matrix.predicted(c)).collect(),
            support: classes.iter().map(|&c| matrix.support(c)).collect(),
        }
    }

    fn pooled(&self) -> Self {
        ClassCounts {
            true_positives: vec![self.true_positives.iter().sum()],
            predicted: vec![self.predicted.iter().sum()],
            support: vec![self.support.iter().sum()],
        }
    }
}

/// scikit-learn's `_prf_divide`: element-wise ratio, with `zero_division` where the denominator is 0. Returns the
/// ratios and the positions that were ill-defined.
fn divide(
    numerators: &[f64],
    denominators: &[u64],
    zero_division: ZeroDivision,
) -> (Vec<f64>, Vec<usize>) {
    let mut undefined = Vec::new();
    let ratios = numerators
        .iter()
        .zip(denominators)
        .enumerate()
        .map(|(i, (&numerator, &denominator))| {
            if denominator == 0 {
                undefined.push(i);
                zero_division.replacement()
            } else {
                numerator / denominator as f64
            }
        })
        .collect();
    (ratios, undefined)
}

/// Per-class scores from counts. `labels` names the entries for warnings (empty for the pooled micro entry).
fn per_class_from_counts(
    counts: &ClassCounts,
    labels: &[usize],
    zero_division: ZeroDivision,
) -> PerClassScores {
    let true_positives: Vec<f64> = counts.true_positives.iter().map(|&tp| tp as f64).collect();
    let (precision, no_predicted) = divide(&true_positives, &counts.predicted, zero_division);
    let (recall, no_true) = divide(&true_positives, &counts.support, zero_division);
    // F-beta with beta = 1 written on counts, as scikit-learn does: 2·tp / (true + predicted).
    let doubled: Vec<f64> = true_positives.iter().map(|&tp| 2.0 * tp).collect();
    let f_denominators: Vec<u64> = counts
        .support
        .iter()
        .zip(&counts.predicted)
        .map(|(&t, &p)| t + p)
        .collect();
    let (f1, neither) = divide(&doubled, &f_denominators, zero_division);

    let mut warnings = Vec::new();
    if zero_division == ZeroDivision::Warn {
        for (metric, positions) in [
            (UndefinedMetricKind::Precision, no_predicted),
            (UndefinedMetricKind::Recall, no_true),
            (UndefinedMetricKind::F1, neither),
        ] {
            if !positions.is_empty() {
                warnings.push(UndefinedMetric {
                    metric,
                    classes: positions
                        .iter()
                        .filter_map(|&i| labels.get(i).copied())
                        .collect(),
                });
            }
        }
    }
    PerClassScores {
        precision,
        recall,
        f1,
        support: counts.support.clone(),
        warnings,
    }
}

pub(crate) fn prf_from_matrix(
    matrix: &ConfusionMatrix,
    average: Average,
    zero_division: ZeroDivision,
) -> MlResult<PrfScores> {
    let all_classes: Vec<usize> = (0..matrix.n_classes()).collect();
    let (scores, weights) = match average {
        Average::Macro => (
            per_class_from_counts(
                &ClassCounts::of_classes(matrix, &all_classes),
                &all_classes,
                zero_division,
            ),
            None,
        ),
        Average::Weighted => {
            let counts = ClassCounts::of_classes(matrix, &all_classes);
            let weights = counts.support.clone();
            (
                per_class_from_counts(&counts, &all_classes, zero_division),
                Some(weights),
            )
        }
        Average::Micro => (
            per_class_from_counts(
                &ClassCounts::of_classes(matrix, &all_classes).pooled(),
                &[],
                zero_division,
            ),
            None,
        ),
        Average::Binary { positive_label } => {
            check_binary_target(matrix, positive_label)?;
            let classes = [positive_label];
            (
                per_class_from_counts(
                    &ClassCounts::of_classes(matrix, &classes),
                    &classes,
                    zero_division,
                ),
                None,
            )
        }
    };
    Ok(PrfScores {
        precision: nan_average(&scores.precision, weights.as_deref()),
        recall: nan_average(&scores.recall, weights.as_deref()),
        f1: nan_average(&scores.f1, weights.as_deref()),
        warnings: scores.warnings,
    })
}

/// scikit-learn's `average='binary'` preconditions: at most two distinct labels in `y_true ∪ y_pred`, and the
/// positive label among them when there are two.
fn check_binary_target(matrix: &ConfusionMatrix, positive_label: usize) -> MlResult<()> {
    if positive_label >= matrix.n_classes() {
        return Err(invalid_param(format!(
            "positive label {positive_label} is not a class: there are {} classes",
            matrix.n_classes()
        )));
    }
    let present: Vec<usize> = (0..matrix.n_classes())
        .filter(|&c| matrix.support(c) + matrix.predicted(c) > 0)
        .collect();
    if present.len() > 2 {
        return Err(invalid_param(format!(
            "the binary average needs at most two distinct labels, but y_true and y_pred hold {} ({present:?}); \
             use the macro, weighted or micro average",
            present.len()
        )));
    }
    if present.len() == 2 && !present.contains(&positive_label) {
        return Err(invalid_param(format!(
            "positive label {positive_label} does not occur in y_true or y_pred, whose labels are {present:?}; \
             pick one of them"
        )));
    }
    Ok(())
}

/// scikit-learn's `_nanaverage`: NaN entries are dropped; all NaN gives NaN; weights summing to zero fall back
/// to the unweighted mean.
fn nan_average(values: &[f64], weights: Option<&[u64]>) -> f64 {
    let kept: Vec<(f64, u64)> = values
        .iter()
        .enumerate()
        .filter(|(_, value)| !value.is_nan())
        .map(|(i, &value)| (value, weights.map_or(1, |w| w[i])))
        .collect();
    if kept.is_empty() {
        return f64::NAN;
    }
    let plain: Vec<f64> = kept.iter().map(|&(value, _)| value).collect();
    match weights {
        None => numpy_mean(&plain),
        Some(_) => {
            let weight_total: u64 = kept.iter().map(|&(_, weight)| weight).sum();
            if weight_total == 0 {
                return numpy_mean(&plain);
            }
            let products: Vec<f64> = kept
                .iter()
                .map(|&(value, weight)| value * weight as f64)
                .collect();
            numpy_sum(&products) / weight_total as f64
        }
    }
}

/// Rejects a class-name list that does not name every class.
pub(crate) fn check_class_names(class_names: &[String], n_classes: usize) -> MlResult<()> {
    if class_names.len() != n_classes {
        return Err(invalid_param(format!(
            "{} class names were given for {n_classes} classes; pass one name per class, in label order",
            class_names.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_matrix_counts_pairs() {
        let matrix = ConfusionMatrix::compute(&[0, 0, 1, 2, 2, 2], &[0, 1, 1, 2, 0, 2], 3).unwrap();
        assert_eq!(
            matrix.rows(),
            vec![vec![1, 1, 0], vec![0, 1, 0], vec![1, 0, 2]]
        );
        assert_eq!(matrix.support(2), 3);
        assert_eq!(matrix.predicted(0), 2);
        assert_eq!(matrix.correct(), 4);
        let json = serde_json::to_string(&matrix).unwrap();
        assert_eq!(json, "[[1,1,0],[0,1,0],[1,0,2]]");
        let back: ConfusionMatrix = serde_json::from_str(&json).unwrap();
        assert_eq!(back, matrix);
        assert!(serde_json::from_str::<ConfusionMatrix>("[[1,2],[3]]").is_err());
    }

    #[test]
    fn labels_out_of_range_and_empty_input_are_errors() {
        assert!(ConfusionMatrix::compute(&[0, 3], &[0, 1], 3).is_err());
        assert!(ConfusionMatrix::compute(&[0, 1], &[0, 5], 3).is_err());
        assert!(ConfusionMatrix::compute(&[], &[], 3).is_err());
        assert!(ConfusionMatrix::compute(&[0], &[0], 0).is_err());
        assert!(accuracy(&[], &[]).is_err());
        assert!(balanced_accuracy(&[0, 1], &[0]).is_err());
    }

    #[test]
    fn never_predicted_class_follows_zero_division() {
        // Class 2 occurs twice and is never predicted: its precision is 0/0, its recall and F1 are 0.
        let y_true = [0, 1, 2, 2];
        let y_pred = [0, 1, 1, 0];
        let warn = precision_recall_f1_per_class(&y_true, &y_pred, 3, ZeroDivision::Warn).unwrap();
        assert_eq!(warn.precision[2], 0.0);
        assert_eq!(warn.f1[2], 0.0);
        assert_eq!(
            warn.warnings,
            vec![UndefinedMetric {
                metric: UndefinedMetricKind::Precision,
                classes: vec![2]
            }]
        );
        let one = precision_recall_f1_per_class(&y_true, &y_pred, 3, ZeroDivision::One).unwrap();
        assert_eq!(one.precision[2], 1.0);
        assert_eq!(one.f1[2], 0.0, "F1 is defined when the class occurs");
        assert!(one.warnings.is_empty(), "explicit choices are silent");
        let nan =
            precision_recall_f1(&y_true, &y_pred, 3, Average::Macro, ZeroDivision::NaN).unwrap();
        // Macro precision skips the NaN entry: mean of class 0 (1/2) and class 1 (1/2).
        assert_eq!(nan.precision, 0.5);
    }

    #[test]
    fn class_absent_everywhere_makes_f1_undefined() {
        let scores =
            precision_recall_f1_per_class(&[0, 1], &[0, 1], 3, ZeroDivision::Warn).unwrap();
        let kinds: Vec<UndefinedMetricKind> = scores.warnings.iter().map(|w| w.metric).collect();
        assert_eq!(
            kinds,
            vec![
                UndefinedMetricKind::Precision,
                UndefinedMetricKind::Recall,
                UndefinedMetricKind::F1
            ]
        );
        let f1_only = f1_score(&[0, 1], &[0, 1], 3, Average::Macro, ZeroDivision::Warn).unwrap();
        assert_eq!(f1_only.warnings.len(), 1);
        assert!((f1_only.value - 2.0 / 3.0).abs() < 1e-15);
        assert!(f1_only.warnings[0].to_string().contains("classes [2]"));
    }

    #[test]
    fn binary_average_checks_labels() {
        let y_true = [0, 1, 1, 0];
        let y_pred = [0, 1, 0, 0];
        let positive = precision_recall_f1(
            &y_true,
            &y_pred,
            2,
            Average::Binary { positive_label: 1 },
            ZeroDivision::Warn,
        )
        .unwrap();
        assert_eq!((positive.precision, positive.recall), (1.0, 0.5));
        let three = [0, 1, 2, 0];
        assert!(
            precision_recall_f1(
                &three,
                &y_pred,
                3,
                Average::Binary { positive_label: 1 },
                ZeroDivision::Warn
            )
            .is_err()
        );
        assert!(
            precision_recall_f1(
                &[0, 2],
                &[2, 0],
                3,
                Average::Binary { positive_label: 1 },
                ZeroDivision::Warn
            )
            .is_err()
        );
        assert!(
            precision_recall_f1(
                &y_true,
                &y_pred,
                2,
                Average::Binary { positive_label: 5 },
                ZeroDivision::Warn
            )
            .is_err()
        );
    }

    #[test]
    fn micro_average_equals_accuracy() {
        let y_true = [0, 1, 2, 2, 1, 0, 0];
        let y_pred = [0, 2, 2, 1, 1, 0, 1];
        let micro =
            precision_recall_f1(&y_true, &y_pred, 3, Average::Micro, ZeroDivision::Warn).unwrap();
        let acc = accuracy(&y_true, &y_pred).unwrap();
        assert_eq!(micro.precision, acc);
        assert_eq!(micro.recall, acc);
        assert!((micro.f1 - acc).abs() < 1e-15);
    }

    #[test]
    fn balanced_accuracy_ignores_classes_only_predicted() {
        // Class 2 is predicted once but never occurs: recalls are class 0 = 1/2, class 1 = 1.
        let value = balanced_accuracy(&[0, 0, 1], &[0, 2, 1]).unwrap();
        assert_eq!(value, 0.75);
    }
}
