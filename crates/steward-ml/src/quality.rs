//! Data-quality checks. On its own, a dataset is checked for missing values, constant columns, duplicate rows,
//! infinite numbers, categorical features of mostly unique values (dates or free text read as categories),
//! leakage (a feature identical to the target) and class imbalance. Against a reference (a
//! registered dataset or the data a model was trained on) it is also checked for missing columns, type
//! mismatches, values outside the reference range and unknown categories.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::dataset::{ColumnData, ColumnType, Dataset, Profile, Role, Schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding. Passed checks are kept too, so a report shows what was checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub passed: bool,
    /// How serious a failure of this check is.
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QualityReport {
    pub checks: Vec<Check>,
}

impl QualityReport {
    fn add(
        &mut self,
        check: &str,
        column: Option<&str>,
        failed: Option<(Severity, String)>,
        passed_message: impl FnOnce() -> String,
    ) {
        let (passed, severity, message) = match failed {
            Some((severity, message)) => (false, severity, message),
            None => (true, Severity::Info, passed_message()),
        };
        self.checks.push(Check {
            check: check.to_string(),
            column: column.map(str::to_string),
            passed,
            severity,
            message,
        });
    }

    /// Failed checks at `severity` or worse.
    pub fn failures(&self, severity: Severity) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| !c.passed && c.severity >= severity)
            .collect()
    }

    pub fn passed(&self, fail_on: Severity) -> bool {
        self.failures(fail_on).is_empty()
    }
}

/// What data is compared against: the schema and profile of the training or reference data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub schema: Schema,
    pub profile: Profile,
}

/// A minority class below this share of the majority class is reported as imbalance.
const IMBALANCE_RATIO: f64 = 0.1;
/// A categorical feature with at least this many distinct values, most of them seen once or twice (more
/// distinct values than half its rows), is reported: dates, free text and keys read as categories.
const HIGH_CARDINALITY_MIN: usize = 50;

pub fn check(data: &Dataset, reference: Option<&Reference>) -> QualityReport {
    let mut report = QualityReport::default();
    let target = data.schema.target().map(|c| c.name.clone());
    if let Some(reference) = reference {
        check_against_reference(data, reference, &mut report);
    }
    for (column, schema) in data.columns.iter().zip(&data.schema.columns) {
        if matches!(schema.role, Role::Ignore) {
            continue;
        }
        let name = column.name.as_str();
        let missing = (0..data.n_rows)
            .filter(|&r| column.data.is_missing(r))
            .count();
        let is_target = schema.role == Role::Target;
        report.add(
            "missing_values",
            Some(name),
            (missing > 0).then(|| {
                let severity = if is_target || missing == data.n_rows {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                let what = if is_target { "target" } else { "column" };
                (
                    severity,
                    format!(
                        "{what} '{name}' has {missing} missing value(s) of {} ({:.1}%)",
                        data.n_rows,
                        100.0 * missing as f64 / data.n_rows as f64
                    ),
                )
            }),
            || format!("'{name}' has no missing values"),
        );
        if let ColumnData::Numeric(values) = &column.data {
            let infinite = values.iter().filter(|v| v.is_infinite()).count();
            report.add(
                "non_finite",
                Some(name),
                (infinite > 0).then(|| {
                    (
                        Severity::Error,
                        format!("'{name}' has {infinite} infinite value(s)"),
                    )
                }),
                || format!("'{name}' has only finite numbers"),
            );
        }
        if schema.role == Role::Feature {
            let distinct = distinct_values(&column.data);
            report.add(
                "constant_column",
                Some(name),
                (distinct <= 1).then(|| {
                    (
                        Severity::Warning,
                        format!("'{name}' has a single value; it cannot help a model (consider --ignore {name})"),
                    )
                }),
                || format!("'{name}' has {distinct} distinct values"),
            );
            if schema.column_type == ColumnType::Categorical {
                let present = data.n_rows - missing;
                report.add(
                    "high_cardinality",
                    Some(name),
                    (distinct >= HIGH_CARDINALITY_MIN && 2 * distinct > present).then(|| {
                        (
                            Severity::Warning,
                            format!(
                                "categorical '{name}' has {distinct} distinct values in {present} rows; one-hot \
                                 encoding makes a column of each and few repeat, so a model learns little from it. \
                                 A date or time: --time {name}; free text or a key: --ignore {name}"
                            ),
                        )
                    }),
                    || format!("'{name}' has {distinct} categories"),
                );
            }
            if let Some(target) = &target
                && let Some(target_column) = data.column(target)
                && same_values(&column.data, &target_column.data)
            {
                report.add(
                    "leakage",
                    Some(name),
                    Some((
                        Severity::Error,
                        format!(
                            "feature '{name}' is identical to the target '{target}'; a model would learn the answer (use --ignore {name})"
                        ),
                    )),
                    String::new,
                );
            }
        }
        let looks_categorical = matches!(
            schema.column_type,
            ColumnType::Categorical | ColumnType::Boolean
        ) || matches!(&column.data, ColumnData::Numeric(v) if small_integer_set(v));
        if is_target && looks_categorical {
            check_classes(name, &column.data, &mut report);
        }
    }
    if target.is_some() && !report.checks.iter().any(|c| c.check == "leakage") {
        report.add("leakage", None, None, || {
            "no feature is identical to the target".to_string()
        });
    }
    let duplicates = duplicate_rows(data);
    report.add(
        "duplicate_rows",
        None,
        (duplicates > 0).then(|| {
            (
                Severity::Warning,
                format!("{duplicates} row(s) duplicate an earlier row"),
            )
        }),
        || "no duplicate rows".to_string(),
    );
    report
}

fn small_integer_set(values: &[f64]) -> bool {
    let mut seen = HashSet::new();
    for v in values.iter().filter(|v| !v.is_nan()) {
        if v.fract() != 0.0 {
            return false;
        }
        seen.insert(v.to_bits());
        if seen.len() > 20 {
            return false;
        }
    }
    true
}

fn distinct_values(data: &ColumnData) -> usize {
    match data {
        ColumnData::Numeric(values) => values
            .iter()
            .filter(|v| !v.is_nan())
            .map(|v| v.to_bits())
            .collect::<HashSet<_>>()
            .len(),
        ColumnData::Text(values) => values.iter().flatten().collect::<HashSet<_>>().len(),
    }
}

fn check_classes(name: &str, data: &ColumnData, report: &mut QualityReport) {
    let counts = data.value_counts();
    let (Some(min), Some(max)) = (counts.values().min(), counts.values().max()) else {
        return;
    };
    let failed = if counts.len() < 2 {
        Some((
            Severity::Error,
            format!(
                "target '{name}' has a single class ({}); a classifier needs at least two",
                counts.keys().next().map(String::as_str).unwrap_or_default()
            ),
        ))
    } else if (*min as f64) < IMBALANCE_RATIO * *max as f64 {
        let rarest = counts
            .iter()
            .min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        Some((
            Severity::Warning,
            format!(
                "target '{name}' is imbalanced: class '{rarest}' has {min} rows, the largest class {max} (consider class_weight=balanced)"
            ),
        ))
    } else {
        None
    };
    report.add("class_balance", Some(name), failed, || {
        format!("{} classes, smallest {min}, largest {max}", counts.len())
    });
}

/// Whether two columns hold the same values row by row (missing equals missing), as text would compare them.
fn same_values(a: &ColumnData, b: &ColumnData) -> bool {
    match (a, b) {
        (ColumnData::Numeric(x), ColumnData::Numeric(y)) => x
            .iter()
            .zip(y)
            .all(|(p, q)| p == q || (p.is_nan() && q.is_nan())),
        (ColumnData::Text(x), ColumnData::Text(y)) => x == y,
        _ => (0..a.len()).all(|r| a.text(r) == b.text(r)),
    }
}

/// Rows equal to an earlier row. Rows are compared by a 128-bit hash of their cells (two independently keyed
/// SipHashes), with no per-cell allocation; a false match needs a 128-bit collision.
fn duplicate_rows(data: &Dataset) -> usize {
    use std::hash::{Hash, Hasher};
    let mut seen: HashSet<u128> = HashSet::with_capacity(data.n_rows);
    let mut duplicates = 0;
    for row in 0..data.n_rows {
        let mut first = std::collections::hash_map::DefaultHasher::new();
        let mut second = std::collections::hash_map::DefaultHasher::new();
        0x5eed_u64.hash(&mut second);
        for column in &data.columns {
            match &column.data {
                ColumnData::Numeric(values) => {
                    let v = values[row];
                    // One key for every missing value, and for +0.0 and -0.0.
                    let bits = if v.is_nan() {
                        u64::MAX
                    } else {
                        (v + 0.0).to_bits()
                    };
                    bits.hash(&mut first);
                    bits.hash(&mut second);
                }
                ColumnData::Text(values) => {
                    values[row].hash(&mut first);
                    values[row].hash(&mut second);
                }
            }
        }
        let key = (u128::from(first.finish()) << 64) | u128::from(second.finish());
        if !seen.insert(key) {
            duplicates += 1;
        }
    }
    duplicates
}

fn check_against_reference(data: &Dataset, reference: &Reference, report: &mut QualityReport) {
    for expected in &reference.schema.columns {
        if !matches!(expected.role, Role::Feature | Role::Target) {
            continue;
        }
        let name = expected.name.as_str();
        let Some(column) = data.column(name) else {
            // The target may legitimately be absent from data to predict on.
            let severity = if expected.role == Role::Target {
                Severity::Info
            } else {
                Severity::Error
            };
            report.add(
                "missing_column",
                Some(name),
                Some((
                    severity,
                    format!("column '{name}' of the reference is missing"),
                )),
                String::new,
            );
            continue;
        };
        let profile = reference.profile.column(name);
        match (expected.column_type, &column.data) {
            (ColumnType::Numeric, ColumnData::Text(values)) => {
                let example = values
                    .iter()
                    .enumerate()
                    .find_map(|(row, v)| {
                        v.as_deref()
                            .filter(|t| t.parse::<f64>().is_err())
                            .map(|t| format!("row {} holds '{t}'", row + 2))
                    })
                    .unwrap_or_default();
                report.add(
                    "type_mismatch",
                    Some(name),
                    Some((
                        Severity::Error,
                        format!("column '{name}' is numeric in the reference, but {example}"),
                    )),
                    String::new,
                );
            }
            (ColumnType::Numeric, ColumnData::Numeric(values)) => {
                let Some(range) = profile.and_then(|p| p.numeric.as_ref()) else {
                    continue;
                };
                let outside = values
                    .iter()
                    .filter(|v| !v.is_nan() && (**v < range.min || **v > range.max))
                    .count();
                report.add(
                    "out_of_range",
                    Some(name),
                    (outside > 0).then(|| {
                        (
                            Severity::Warning,
                            format!(
                                "{outside} value(s) of '{name}' fall outside the reference range [{}, {}]",
                                range.min, range.max
                            ),
                        )
                    }),
                    || format!("'{name}' stays within [{}, {}]", range.min, range.max),
                );
            }
            (ColumnType::Categorical | ColumnType::Boolean, _) => {
                let Some(categories) = profile.and_then(|p| p.categorical.as_ref()) else {
                    continue;
                };
                // Only a complete list of reference categories can tell what is new.
                if categories.distinct > categories.top.len() {
                    continue;
                }
                let known: HashSet<&str> = categories.top.iter().map(|(c, _)| c.as_str()).collect();
                let mut unknown: Vec<String> = (0..data.n_rows)
                    .filter_map(|r| column.data.text(r))
                    .filter(|v| !known.contains(v.as_str()))
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                unknown.sort();
                report.add(
                    "unknown_category",
                    Some(name),
                    (!unknown.is_empty()).then(|| {
                        (
                            Severity::Warning,
                            format!(
                                "'{name}' has categories the reference never had: {}",
                                unknown
                                    .iter()
                                    .take(5)
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    }),
                    || format!("'{name}' has only known categories"),
                );
            }
            _ => {}
        }
    }
    for column in &data.columns {
        if reference.schema.column(&column.name).is_none() {
            report.add(
                "unexpected_column",
                Some(&column.name),
                Some((
                    Severity::Info,
                    format!("column '{}' is not in the reference", column.name),
                )),
                String::new,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::RoleOverrides;

    fn dataset(text: &str) -> Dataset {
        Dataset::from_csv_bytes(
            text.as_bytes(),
            &RoleOverrides {
                target: Some("y".into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn failed<'a>(report: &'a QualityReport, check: &str) -> Vec<&'a Check> {
        report
            .checks
            .iter()
            .filter(|c| c.check == check && !c.passed)
            .collect()
    }

    #[test]
    fn finds_problems_in_one_dataset() {
        let data = dataset("x,k,leak,y\n1,same,a,a\n,same,b,b\n1,same,a,a\n2,same,a,a\n");
        let report = check(&data, None);
        assert_eq!(
            failed(&report, "missing_values")[0].column.as_deref(),
            Some("x")
        );
        assert_eq!(
            failed(&report, "missing_values")[0].severity,
            Severity::Warning
        );
        assert_eq!(
            failed(&report, "constant_column")[0].column.as_deref(),
            Some("k")
        );
        assert_eq!(
            failed(&report, "leakage")[0].column.as_deref(),
            Some("leak")
        );
        assert_eq!(failed(&report, "leakage")[0].severity, Severity::Error);
        assert!(
            failed(&report, "duplicate_rows")[0]
                .message
                .starts_with("1 row")
        );
        assert!(!report.passed(Severity::Error));
        assert!(
            report.checks.iter().any(|c| c.passed),
            "passed checks are listed too"
        );
    }

    #[test]
    fn a_categorical_feature_of_mostly_unique_values_is_reported() {
        // 60 dates over 100 rows (most seen once or twice) and 3 plans: the dates are reported, the plans not.
        let mut text = String::from("day,plan,y\n");
        for row in 0..100 {
            text.push_str(&format!(
                "2024-01-{:02},p{},{}\n",
                row % 60,
                row % 3,
                row % 2
            ));
        }
        let report = check(&dataset(&text), None);
        let found = failed(&report, "high_cardinality");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].column.as_deref(), Some("day"));
        assert!(
            found[0].message.contains("--time day"),
            "{}",
            found[0].message
        );
        // Half as many distinct dates repeat enough to be categories.
        let mut text = String::from("day,plan,y\n");
        for row in 0..100 {
            text.push_str(&format!(
                "2024-01-{:02},p{},{}\n",
                row % 50,
                row % 3,
                row % 2
            ));
        }
        assert!(failed(&check(&dataset(&text), None), "high_cardinality").is_empty());
    }

    #[test]
    fn duplicates_and_leakage_compare_values_not_spelling() {
        // 1.0 and 1 are one number, -0 and 0 too, and two missing values match; 1 and 2 rows differ.
        let data = dataset("x,t,y\n1.0,a,1\n1,a,1\n-0,,2\n0,,2\n1,b,2\n");
        assert_eq!(duplicate_rows(&data), 2);
        let numeric = dataset("x,copy,y\n1,1.0,1\n,,2\n3,3,1\n");
        assert!(same_values(
            &numeric.columns[0].data,
            &numeric.columns[1].data
        ));
        assert!(!same_values(
            &numeric.columns[0].data,
            &numeric.columns[2].data
        ));
        let counts = numeric.columns[2].data.value_counts();
        assert_eq!((counts["1"], counts["2"]), (2, 1));
    }

    #[test]
    fn single_class_and_imbalance() {
        let one = dataset("x,y\n1,a\n2,a\n");
        assert_eq!(
            failed(&check(&one, None), "class_balance")[0].severity,
            Severity::Error
        );
        let mut text = String::from("x,y\n");
        for i in 0..50 {
            text.push_str(&format!("{i},{}\n", if i < 2 { "rare" } else { "common" }));
        }
        let report = check(&dataset(&text), None);
        let imbalance = failed(&report, "class_balance");
        assert_eq!(imbalance[0].severity, Severity::Warning);
        assert!(imbalance[0].message.contains("'rare'"));
        assert!(report.passed(Severity::Error));
    }

    #[test]
    fn compares_with_a_reference() {
        let train = dataset("x,c,y\n1,red,a\n5,blue,b\n3,red,a\n");
        let reference = Reference {
            schema: train.schema.clone(),
            profile: train.profile(),
        };
        let clean = dataset("x,c,y\n2,red,a\n4,blue,b\n");
        assert!(check(&clean, Some(&reference)).passed(Severity::Warning));

        let drifted = dataset("x,c,extra,y\n9,green,1,a\n");
        let report = check(&drifted, Some(&reference));
        assert!(
            failed(&report, "out_of_range")[0]
                .message
                .contains("[1, 5]")
        );
        assert!(
            failed(&report, "unknown_category")[0]
                .message
                .contains("green")
        );
        assert_eq!(
            failed(&report, "unexpected_column")[0].severity,
            Severity::Info
        );

        let broken = Dataset::from_csv_bytes(b"x,y\nabc,a\n", &RoleOverrides::default()).unwrap();
        let report = check(&broken, Some(&reference));
        assert!(
            failed(&report, "type_mismatch")[0]
                .message
                .contains("row 2 holds 'abc'")
        );
        assert_eq!(
            failed(&report, "missing_column")[0].column.as_deref(),
            Some("c")
        );
        assert!(!report.passed(Severity::Error));
    }
}
