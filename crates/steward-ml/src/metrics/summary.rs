//! [`ClassificationMetrics`]: every headline classification metric of one evaluation, computed in one call from
//! labels (and, optionally, class probabilities), serializable, and flattenable into named numbers for
//! recording as run metrics.

use serde::Serialize;

use super::classification::{
    Average, ConfusionMatrix, UndefinedMetric, ZeroDivision, balanced_accuracy, check_class_names,
    prf_from_matrix,
};
use super::log_loss::log_loss;
use super::ranking::{OvrAverage, average_precision, defined_binary_auc, defined_ovr_auc};
use super::report::ClassificationReport;
use crate::error::{MlResult, invalid_param};
use crate::matrix::Matrix;

/// Headline classification metrics. Precision / recall / F1 use [`ZeroDivision::Warn`] unless computed with
/// [`ClassificationMetrics::compute_with`]; ill-defined cases are listed in `warnings`.
///
/// With two classes the class of index 1 (the second label in sorted order, as scikit-learn's `pos_label=1`
/// after label encoding) is the positive one: `precision`, `recall` and `f1` are its binary scores
/// (`average='binary'`), and `None` for more classes.
///
/// Probability-based values are `None` without probabilities or where they are undefined: ROC AUC when `y_true`
/// holds a single class (and, for the macro average, when some class never occurs in `y_true`). For two classes
/// `roc_auc` and `average_precision` rank by the probability of class index 1; for more, `roc_auc` is the
/// one-vs-rest macro average and `roc_auc_weighted` the support-weighted one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationMetrics {
    pub n_samples: usize,
    pub class_names: Vec<String>,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    /// The positive class of a binary problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    pub precision_macro: f64,
    pub recall_macro: f64,
    pub f1_macro: f64,
    pub precision_weighted: f64,
    pub recall_weighted: f64,
    pub f1_weighted: f64,
    pub roc_auc: Option<f64>,
    pub roc_auc_weighted: Option<f64>,
    pub average_precision: Option<f64>,
    pub log_loss: Option<f64>,
    pub confusion_matrix: ConfusionMatrix,
    /// scikit-learn's `output_dict=True` form.
    pub report: ClassificationReport,
    /// scikit-learn's printed form (`digits=2`).
    pub report_text: String,
    pub warnings: Vec<UndefinedMetric>,
}

impl ClassificationMetrics {
    /// Computes every metric with scikit-learn's default `zero_division` ([`ZeroDivision::Warn`]).
    /// `probabilities`, if given, has one row per sample and one column per class name.
    pub fn compute(
        y_true: &[usize],
        y_pred: &[usize],
        probabilities: Option<&Matrix>,
        class_names: &[String],
    ) -> MlResult<Self> {
        Self::compute_with(
            y_true,
            y_pred,
            probabilities,
            class_names,
            ZeroDivision::Warn,
        )
    }

    /// As [`compute`](Self::compute), with the binary scores about `positive_class` (one of the two class
    /// names) instead of the second class: scikit-learn's `pos_label`. `None` is the default positive class.
    pub fn compute_for_positive(
        y_true: &[usize],
        y_pred: &[usize],
        probabilities: Option<&Matrix>,
        class_names: &[String],
        positive_class: Option<&str>,
    ) -> MlResult<Self> {
        let positive = match positive_class {
            None => 1,
            Some(label) => positive_index(class_names, label)?,
        };
        Self::compute_full(
            y_true,
            y_pred,
            probabilities,
            class_names,
            ZeroDivision::Warn,
            positive,
        )
    }

    /// As [`compute`](Self::compute), choosing what ill-defined precision / recall / F1 become.
    pub fn compute_with(
        y_true: &[usize],
        y_pred: &[usize],
        probabilities: Option<&Matrix>,
        class_names: &[String],
        zero_division: ZeroDivision,
    ) -> MlResult<Self> {
        Self::compute_full(y_true, y_pred, probabilities, class_names, zero_division, 1)
    }

    /// `positive`: the index of the positive class when there are two (ignored otherwise).
    fn compute_full(
        y_true: &[usize],
        y_pred: &[usize],
        probabilities: Option<&Matrix>,
        class_names: &[String],
        zero_division: ZeroDivision,
        positive: usize,
    ) -> MlResult<Self> {
        let n_classes = class_names.len();
        if n_classes == 0 {
            return Err(invalid_param(
                "no class names given: pass one name per class, in label order",
            ));
        }
        let confusion_matrix = ConfusionMatrix::compute(y_true, y_pred, n_classes)?;
        check_class_names(class_names, n_classes)?;
        let macro_scores = prf_from_matrix(&confusion_matrix, Average::Macro, zero_division)?;
        let weighted = prf_from_matrix(&confusion_matrix, Average::Weighted, zero_division)?;
        let binary = if n_classes == 2 {
            Some(prf_from_matrix(
                &confusion_matrix,
                Average::Binary {
                    positive_label: positive,
                },
                zero_division,
            )?)
        } else {
            None
        };
        let report = ClassificationReport::from_confusion_matrix(
            &confusion_matrix,
            class_names,
            zero_division,
        )?;
        let report_text = report.text(2);

        let (mut roc_auc, mut roc_auc_weighted, mut average_precision_value, mut log_loss_value) =
            (None, None, None, None);
        if let Some(probabilities) = probabilities {
            if probabilities.n_cols() != n_classes {
                return Err(invalid_param(format!(
                    "probabilities have {} columns but there are {n_classes} class names; pass one column per class",
                    probabilities.n_cols()
                )));
            }
            log_loss_value = Some(log_loss(y_true, probabilities)?);
            if n_classes == 2 {
                // Ranked by the positive class's probability, with its samples as the 1s.
                let positive_scores = probabilities.column(positive);
                let is_positive: Vec<usize> =
                    y_true.iter().map(|&y| usize::from(y == positive)).collect();
                roc_auc = defined_binary_auc(&is_positive, &positive_scores)?;
                roc_auc_weighted = roc_auc;
                average_precision_value = Some(average_precision(&is_positive, &positive_scores)?);
            } else {
                roc_auc = defined_ovr_auc(y_true, probabilities, OvrAverage::Macro)?;
                roc_auc_weighted = defined_ovr_auc(y_true, probabilities, OvrAverage::Weighted)?;
            }
        }

        Ok(ClassificationMetrics {
            n_samples: y_true.len(),
            class_names: class_names.to_vec(),
            accuracy: report.accuracy,
            balanced_accuracy: balanced_accuracy(y_true, y_pred)?,
            positive_class: binary.as_ref().map(|_| class_names[positive].clone()),
            precision: binary.as_ref().map(|b| b.precision),
            recall: binary.as_ref().map(|b| b.recall),
            f1: binary.as_ref().map(|b| b.f1),
            precision_macro: macro_scores.precision,
            recall_macro: macro_scores.recall,
            f1_macro: macro_scores.f1,
            precision_weighted: weighted.precision,
            recall_weighted: weighted.recall,
            f1_weighted: weighted.f1,
            roc_auc,
            roc_auc_weighted,
            average_precision: average_precision_value,
            log_loss: log_loss_value,
            confusion_matrix,
            warnings: report.warnings.clone(),
            report,
            report_text,
        })
    }

    /// The headline numbers to record as run metrics: `accuracy`, `balanced_accuracy`, for two classes the
    /// positive class's `precision`, `recall` and `f1`, then `precision_macro`,
    /// `recall_macro`, `f1_macro`, `precision_weighted`, `recall_weighted`, `f1_weighted`, then `roc_auc`,
    /// `roc_auc_weighted`, `average_precision` and `log_loss` where defined. NaN values (possible only with
    /// [`ZeroDivision::NaN`]) are left out, since a run metric must be a number.
    pub fn headline(&self) -> Vec<(String, f64)> {
        let always = [
            ("accuracy", Some(self.accuracy)),
            ("balanced_accuracy", Some(self.balanced_accuracy)),
            ("precision", self.precision),
            ("recall", self.recall),
            ("f1", self.f1),
            ("precision_macro", Some(self.precision_macro)),
            ("recall_macro", Some(self.recall_macro)),
            ("f1_macro", Some(self.f1_macro)),
            ("precision_weighted", Some(self.precision_weighted)),
            ("recall_weighted", Some(self.recall_weighted)),
            ("f1_weighted", Some(self.f1_weighted)),
            ("roc_auc", self.roc_auc),
            ("roc_auc_weighted", self.roc_auc_weighted),
            ("average_precision", self.average_precision),
            ("log_loss", self.log_loss),
        ];
        always
            .into_iter()
            .filter_map(|(name, value)| {
                value.filter(|v| !v.is_nan()).map(|v| (name.to_string(), v))
            })
            .collect()
    }
}

/// The headline metrics of a binary problem that are about its positive class alone (ROC AUC is not: it is
/// the same from either side).
pub const POSITIVE_CLASS_METRICS: [&str; 4] = ["precision", "recall", "f1", "average_precision"];

/// The index of `label` among two class names, or an error that says what the classes are.
pub fn positive_index(class_names: &[String], label: &str) -> MlResult<usize> {
    if class_names.len() != 2 {
        return Err(invalid_param(format!(
            "a positive class applies to two classes; this problem has {} ({})",
            class_names.len(),
            class_names.join(", ")
        )));
    }
    class_names.iter().position(|c| c == label).ok_or_else(|| {
        invalid_param(format!(
            "positive class '{label}' is not a class; the classes are {}",
            class_names.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn binary_metrics_with_probabilities() {
        let y_true = [0, 0, 1, 1];
        let y_pred = [0, 1, 1, 1];
        let probabilities = Matrix::from_rows(&[
            vec![0.9, 0.1],
            vec![0.4, 0.6],
            vec![0.3, 0.7],
            vec![0.2, 0.8],
        ]);
        let metrics = ClassificationMetrics::compute(
            &y_true,
            &y_pred,
            Some(&probabilities),
            &names(&["no", "yes"]),
        )
        .unwrap();
        assert_eq!(metrics.accuracy, 0.75);
        // "yes" is positive: 2 of its 3 predictions are right, and both of its samples are found.
        assert_eq!(metrics.positive_class.as_deref(), Some("yes"));
        assert_eq!(metrics.precision, Some(2.0 / 3.0));
        assert_eq!(metrics.recall, Some(1.0));
        assert_eq!(metrics.f1, Some(0.8));
        assert_eq!(metrics.roc_auc, Some(1.0));
        assert_eq!(metrics.average_precision, Some(1.0));
        let names: Vec<String> = metrics
            .headline()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert!(names.contains(&"f1_macro".to_string()));
        assert!(names.contains(&"log_loss".to_string()));
        let json = serde_json::to_value(&metrics).unwrap();
        assert_eq!(
            json["confusion_matrix"],
            serde_json::json!([[1, 1], [0, 2]])
        );
        assert_eq!(json["report"]["accuracy"], serde_json::json!(0.75));
    }

    /// The first class as positive gives the scores and ranking metrics of the mirrored problem.
    #[test]
    fn the_positive_class_can_be_the_first() {
        let y_true = [0, 0, 1, 1, 1];
        let y_pred = [0, 1, 1, 1, 0];
        let p1 = [0.2, 0.6, 0.7, 0.9, 0.4];
        let probabilities =
            Matrix::from_rows(&p1.iter().map(|&p| vec![1.0 - p, p]).collect::<Vec<_>>());
        let classes = names(&["no", "yes"]);
        let first = ClassificationMetrics::compute_for_positive(
            &y_true,
            &y_pred,
            Some(&probabilities),
            &classes,
            Some("no"),
        )
        .unwrap();
        let flip = |v: &[usize]| v.iter().map(|&y| 1 - y).collect::<Vec<_>>();
        let mirrored = Matrix::from_rows(&p1.iter().map(|&p| vec![p, 1.0 - p]).collect::<Vec<_>>());
        let expected = ClassificationMetrics::compute(
            &flip(&y_true),
            &flip(&y_pred),
            Some(&mirrored),
            &names(&["yes", "no"]),
        )
        .unwrap();
        assert_eq!(first.positive_class.as_deref(), Some("no"));
        assert_eq!(first.precision, expected.precision);
        assert_eq!(first.recall, expected.recall);
        assert_eq!(first.f1, expected.f1);
        assert_eq!(first.average_precision, expected.average_precision);
        assert_eq!(first.roc_auc, expected.roc_auc);
        // "no": 1 of its 2 predictions right, 1 of its 2 samples found.
        assert_eq!(first.precision, Some(0.5));
        assert_eq!(first.recall, Some(0.5));
        let unknown = ClassificationMetrics::compute_for_positive(
            &y_true,
            &y_pred,
            None,
            &classes,
            Some("maybe"),
        )
        .unwrap_err();
        assert!(
            unknown.to_string().contains("the classes are no, yes"),
            "{unknown}"
        );
        assert!(positive_index(&names(&["a", "b", "c"]), "a").is_err());
    }

    #[test]
    fn undefined_auc_is_absent_not_an_error() {
        let probabilities = Matrix::from_rows(&[vec![0.9, 0.1], vec![0.4, 0.6]]);
        let metrics = ClassificationMetrics::compute(
            &[1, 1],
            &[0, 1],
            Some(&probabilities),
            &names(&["no", "yes"]),
        )
        .unwrap();
        assert_eq!(metrics.roc_auc, None);
        assert!(metrics.log_loss.is_some());
        assert!(metrics.headline().iter().all(|(name, _)| name != "roc_auc"));
    }

    #[test]
    fn mismatched_inputs_are_errors() {
        let probabilities = Matrix::from_rows(&[vec![0.9, 0.1], vec![0.4, 0.6]]);
        let three = names(&["a", "b", "c"]);
        assert!(
            ClassificationMetrics::compute(&[0, 1], &[0, 1], Some(&probabilities), &three).is_err()
        );
        assert!(ClassificationMetrics::compute(&[0, 1], &[0, 1], None, &[]).is_err());
        assert!(ClassificationMetrics::compute(&[], &[], None, &three).is_err());
        let without = ClassificationMetrics::compute(&[0, 1], &[0, 2], None, &three).unwrap();
        assert_eq!(without.log_loss, None);
        // Binary scores exist only for two classes.
        assert_eq!((without.positive_class.as_ref(), without.f1), (None, None));
        assert!(without.headline().iter().all(|(name, _)| name != "f1"));
        assert_eq!(
            without.warnings.len(),
            2,
            "class 2 has no true samples, class 1 no predictions"
        );
    }
}
