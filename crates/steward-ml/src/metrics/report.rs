//! The classification report: per-class precision, recall, F1 and support, then accuracy and the macro and
//! weighted averages. [`ClassificationReport::text`] prints exactly what scikit-learn's
//! `classification_report(y_true, y_pred, labels=range(n_classes), target_names=class_names, digits=digits)`
//! prints, and the serde form equals its `output_dict=True` dictionary (same keys, same order).

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::classification::{
    Average, ConfusionMatrix, UndefinedMetric, ZeroDivision, check_class_names,
    per_class_from_matrix, prf_from_matrix,
};
use crate::error::{MlResult, invalid_param};

/// Keys the report's dictionary form uses besides the class names.
const RESERVED_NAMES: [&str; 3] = ["accuracy", "macro avg", "weighted avg"];
/// The longest heading of the summary lines; the name column is at least this wide.
const LONGEST_HEADING: &str = "weighted avg";

/// One line of the report: a class, or an average over classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReportRow {
    pub name: String,
    pub precision: f64,
    pub recall: f64,
    #[serde(rename = "f1-score")]
    pub f1_score: f64,
    pub support: u64,
}

/// The classification report of one evaluation. Serializes as scikit-learn's `output_dict=True` form:
/// `{"<class>": {"precision", "recall", "f1-score", "support"}, ..., "accuracy": x, "macro avg": {...},
/// "weighted avg": {...}}` with support as a float, like scikit-learn's.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationReport {
    pub classes: Vec<ClassReportRow>,
    pub accuracy: f64,
    pub macro_avg: ClassReportRow,
    pub weighted_avg: ClassReportRow,
    /// Ill-defined ratios met (only under [`ZeroDivision::Warn`]).
    pub warnings: Vec<UndefinedMetric>,
}

impl ClassificationReport {
    /// Computes the report for classes `0..class_names.len()`. Class names must be distinct and must not be
    /// one of the summary keys (`accuracy`, `macro avg`, `weighted avg`), or the dictionary form would lose rows.
    pub fn compute(
        y_true: &[usize],
        y_pred: &[usize],
        class_names: &[String],
        zero_division: ZeroDivision,
    ) -> MlResult<Self> {
        let matrix = ConfusionMatrix::compute(y_true, y_pred, class_names.len())?;
        Self::from_confusion_matrix(&matrix, class_names, zero_division)
    }

    pub(crate) fn from_confusion_matrix(
        matrix: &ConfusionMatrix,
        class_names: &[String],
        zero_division: ZeroDivision,
    ) -> MlResult<Self> {
        check_class_names(class_names, matrix.n_classes())?;
        for (index, name) in class_names.iter().enumerate() {
            if RESERVED_NAMES.contains(&name.as_str()) {
                return Err(invalid_param(format!(
                    "class name {name:?} collides with a summary line of the report; rename class {index}"
                )));
            }
            if class_names[..index].contains(name) {
                return Err(invalid_param(format!(
                    "class name {name:?} is used twice (class {index}); give every class a distinct name"
                )));
            }
        }
        let per_class = per_class_from_matrix(matrix, zero_division);
        let classes = class_names
            .iter()
            .enumerate()
            .map(|(c, name)| ClassReportRow {
                name: name.clone(),
                precision: per_class.precision[c],
                recall: per_class.recall[c],
                f1_score: per_class.f1[c],
                support: per_class.support[c],
            })
            .collect();
        let total = matrix.n_samples();
        let average_row = |name: &str, average: Average| -> MlResult<ClassReportRow> {
            let scores = prf_from_matrix(matrix, average, zero_division)?;
            Ok(ClassReportRow {
                name: name.to_string(),
                precision: scores.precision,
                recall: scores.recall,
                f1_score: scores.f1,
                support: total,
            })
        };
        // With every class included, the micro average is accuracy; scikit-learn prints its F1 on that line.
        let micro = prf_from_matrix(matrix, Average::Micro, zero_division)?;
        Ok(ClassificationReport {
            classes,
            accuracy: micro.precision,
            macro_avg: average_row("macro avg", Average::Macro)?,
            weighted_avg: average_row("weighted avg", Average::Weighted)?,
            warnings: per_class.warnings,
        })
    }

    /// The report as scikit-learn prints it with `digits` decimals (scikit-learn's default is 2).
    pub fn text(&self, digits: usize) -> String {
        let name_width = self
            .classes
            .iter()
            .map(|row| row.name.chars().count())
            .max()
            .unwrap_or(0);
        let width = name_width.max(LONGEST_HEADING.len()).max(digits);
        let mut text = format!(
            "{:>width$}  {:>9} {:>9} {:>9} {:>9}\n\n",
            "", "precision", "recall", "f1-score", "support"
        );
        let line = |row: &ClassReportRow| {
            format!(
                "{:>width$}  {} {} {} {:>9}\n",
                row.name,
                fixed(row.precision, digits),
                fixed(row.recall, digits),
                fixed(row.f1_score, digits),
                row.support
            )
        };
        for row in &self.classes {
            text.push_str(&line(row));
        }
        text.push('\n');
        text.push_str(&format!(
            "{:>width$}  {:>9} {:>9} {} {:>9}\n",
            "accuracy",
            "",
            "",
            fixed(self.accuracy, digits),
            self.macro_avg.support
        ));
        text.push_str(&line(&self.macro_avg));
        text.push_str(&line(&self.weighted_avg));
        text
    }

    /// The dictionary form as a JSON value (what `serde_json::to_value(&report)` gives).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for row in &self.classes {
            map.insert(row.name.clone(), row_json(row));
        }
        map.insert("accuracy".into(), json_number(self.accuracy));
        map.insert("macro avg".into(), row_json(&self.macro_avg));
        map.insert("weighted avg".into(), row_json(&self.weighted_avg));
        serde_json::Value::Object(map)
    }
}

/// Python's `"{:>9.{digits}f}"`: Rust's fixed formatting rounds the same way (exact value, ties to even); only
/// the spelling of NaN and infinity differs.
fn fixed(value: f64, digits: usize) -> String {
    if value.is_nan() {
        format!("{:>9}", "nan")
    } else if value.is_infinite() {
        format!("{:>9}", if value > 0.0 { "inf" } else { "-inf" })
    } else {
        format!("{value:>9.digits$}")
    }
}

/// NaN has no JSON spelling: it becomes `null`, as serde_json writes a NaN `f64`.
fn json_number(value: f64) -> serde_json::Value {
    serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn row_json(row: &ClassReportRow) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("precision".into(), json_number(row.precision));
    map.insert("recall".into(), json_number(row.recall));
    map.insert("f1-score".into(), json_number(row.f1_score));
    map.insert("support".into(), json_number(row.support as f64));
    serde_json::Value::Object(map)
}

/// The scores of one row in the dictionary form (support as a float, like scikit-learn's).
#[derive(Serialize)]
struct RowScores {
    precision: f64,
    recall: f64,
    #[serde(rename = "f1-score")]
    f1_score: f64,
    support: f64,
}

impl From<&ClassReportRow> for RowScores {
    fn from(row: &ClassReportRow) -> Self {
        RowScores {
            precision: row.precision,
            recall: row.recall,
            f1_score: row.f1_score,
            support: row.support as f64,
        }
    }
}

impl Serialize for ClassificationReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.classes.len() + 3))?;
        for row in &self.classes {
            map.serialize_entry(&row.name, &RowScores::from(row))?;
        }
        map.serialize_entry("accuracy", &self.accuracy)?;
        map.serialize_entry("macro avg", &RowScores::from(&self.macro_avg))?;
        map.serialize_entry("weighted avg", &RowScores::from(&self.weighted_avg))?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn text_layout() {
        let report = ClassificationReport::compute(
            &[0, 0, 1, 1],
            &[0, 1, 1, 1],
            &names(&["cat", "dog"]),
            ZeroDivision::Warn,
        )
        .unwrap();
        let text = report.text(2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "              precision    recall  f1-score   support"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "         cat       1.00      0.50      0.67         2"
        );
        assert_eq!(
            lines[5],
            "    accuracy                           0.75         4"
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn dictionary_form_keeps_order_and_nan_becomes_null() {
        let report =
            ClassificationReport::compute(&[0, 0], &[0, 0], &names(&["b", "a"]), ZeroDivision::NaN)
                .unwrap();
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.starts_with(r#"{"b":{"precision":1.0"#), "{json}");
        assert!(json.contains(r#""a":{"precision":null"#), "{json}");
        assert_eq!(serde_json::to_value(&report).unwrap(), report.to_json());
        assert!(report.text(2).contains("      nan"));
    }

    #[test]
    fn names_must_be_distinct_and_complete() {
        let y = [0, 1];
        assert!(
            ClassificationReport::compute(&y, &y, &names(&["a", "a"]), ZeroDivision::Warn).is_err()
        );
        assert!(
            ClassificationReport::compute(&y, &y, &names(&["a", "accuracy"]), ZeroDivision::Warn)
                .is_err()
        );
        assert!(ClassificationReport::compute(&y, &y, &names(&["a"]), ZeroDivision::Warn).is_err());
    }
}
