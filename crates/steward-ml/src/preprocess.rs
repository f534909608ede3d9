//! Preprocessing, fitted on training data and recorded with the model: imputation of missing values,
//! standardisation of numeric features, one-hot encoding of categorical and boolean features (unknown categories
//! become all zeros, as scikit-learn's `handle_unknown="ignore"`), and encoding of the target's class labels.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::dataset::{ColumnData, ColumnType, Dataset, Role, format_number, quantile_sorted};
use crate::error::{MlResult, invalid_data, invalid_param};
use crate::matrix::Matrix;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Imputation {
    Mean,
    Median,
    MostFrequent,
}

impl Imputation {
    pub fn parse(text: &str) -> MlResult<Self> {
        match text {
            "mean" => Ok(Imputation::Mean),
            "median" => Ok(Imputation::Median),
            "most_frequent" => Ok(Imputation::MostFrequent),
            other => Err(invalid_param(format!(
                "imputation '{other}' is not one of mean, median, most_frequent"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PreprocessConfig {
    pub imputation: Imputation,
    /// Scale numeric features to zero mean and unit variance (population variance, as StandardScaler).
    pub standardize: bool,
}

/// How one input column becomes one or more model inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureTransform {
    /// `(value, or fill when missing, − mean) / scale`.
    Numeric {
        column: String,
        fill: f64,
        mean: f64,
        scale: f64,
    },
    /// One output per category; missing values take `fill`; unknown values give all zeros.
    OneHot {
        column: String,
        categories: Vec<String>,
        fill: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub config: PreprocessConfig,
    pub transforms: Vec<FeatureTransform>,
}

impl Preprocessor {
    /// Fits on the dataset's feature columns (role `feature`).
    pub fn fit(data: &Dataset, config: PreprocessConfig) -> MlResult<Preprocessor> {
        let mut transforms = Vec::new();
        for (column, schema) in data.columns.iter().zip(&data.schema.columns) {
            if schema.role != Role::Feature {
                continue;
            }
            match (&column.data, schema.column_type) {
                (ColumnData::Numeric(values), _) => {
                    let mut present: Vec<f64> = Vec::with_capacity(values.len());
                    for (row, &value) in values.iter().enumerate() {
                        if value.is_infinite() {
                            return Err(invalid_data(format!(
                                "column '{}' row {} is {value}; features must be finite numbers",
                                column.name,
                                row + 2
                            )));
                        }
                        if !value.is_nan() {
                            present.push(value);
                        }
                    }
                    if present.is_empty() {
                        return Err(invalid_data(format!(
                            "column '{}' has no values; drop it (--ignore {}) or fill it",
                            column.name, column.name
                        )));
                    }
                    let n = present.len() as f64;
                    let mean = present.iter().sum::<f64>() / n;
                    let fill = match config.imputation {
                        Imputation::Mean => mean,
                        Imputation::Median => {
                            present.sort_by(f64::total_cmp);
                            quantile_sorted(&present, 0.5)
                        }
                        Imputation::MostFrequent => most_frequent_number(&present),
                    };
                    let (center, scale) = if config.standardize {
                        // The statistics of the imputed column, as a scikit-learn Pipeline(imputer, scaler) sees it.
                        let missing = values.len() as f64 - n;
                        let total = values.len() as f64;
                        let imputed_mean = (mean * n + fill * missing) / total;
                        let variance = (present
                            .iter()
                            .map(|v| (v - imputed_mean).powi(2))
                            .sum::<f64>()
                            + missing * (fill - imputed_mean).powi(2))
                            / total;
                        let std = variance.sqrt();
                        (imputed_mean, if std > 0.0 { std } else { 1.0 })
                    } else {
                        (0.0, 1.0)
                    };
                    transforms.push(FeatureTransform::Numeric {
                        column: column.name.clone(),
                        fill,
                        mean: center,
                        scale,
                    });
                }
                (ColumnData::Text(values), ColumnType::Categorical | ColumnType::Boolean) => {
                    let mut counts: HashMap<&str, usize> = HashMap::new();
                    for value in values.iter().flatten() {
                        *counts.entry(value).or_default() += 1;
                    }
                    if counts.is_empty() {
                        return Err(invalid_data(format!(
                            "column '{}' has no values; drop it (--ignore {}) or fill it",
                            column.name, column.name
                        )));
                    }
                    let mut categories: Vec<String> =
                        counts.keys().map(|c| c.to_string()).collect();
                    categories.sort();
                    // Most frequent, ties to the smallest value (scikit-learn's SimpleImputer rule).
                    let fill = categories
                        .iter()
                        .max_by(|a, b| counts[a.as_str()].cmp(&counts[b.as_str()]).then(b.cmp(a)))
                        .cloned()
                        .unwrap_or_default();
                    transforms.push(FeatureTransform::OneHot {
                        column: column.name.clone(),
                        categories,
                        fill,
                    });
                }
                (ColumnData::Text(_), ColumnType::Identifier | ColumnType::Numeric) => {
                    return Err(invalid_data(format!(
                        "column '{}' looks like an identifier (every value distinct); mark it with --id {} or --ignore {}",
                        column.name, column.name, column.name
                    )));
                }
            }
        }
        if transforms.is_empty() {
            return Err(invalid_data(
                "no feature columns left; every column is the target, an id or ignored",
            ));
        }
        Ok(Preprocessor { config, transforms })
    }

    /// Names of the model inputs, in order (`column` or `column=category`).
    pub fn output_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for transform in &self.transforms {
            match transform {
                FeatureTransform::Numeric { column, .. } => names.push(column.clone()),
                FeatureTransform::OneHot {
                    column, categories, ..
                } => names.extend(categories.iter().map(|c| format!("{column}={c}"))),
            }
        }
        names
    }

    /// The input columns the preprocessor reads, in order.
    pub fn input_columns(&self) -> Vec<&str> {
        self.transforms
            .iter()
            .map(|t| match t {
                FeatureTransform::Numeric { column, .. }
                | FeatureTransform::OneHot { column, .. } => column.as_str(),
            })
            .collect()
    }

    pub fn transform(&self, data: &Dataset) -> MlResult<Matrix> {
        let width = self.output_names().len();
        let mut matrix = Matrix::zeros(data.n_rows, width);
        let mut offset = 0;
        for transform in &self.transforms {
            match transform {
                FeatureTransform::Numeric {
                    column,
                    fill,
                    mean,
                    scale,
                } => {
                    let values = numeric_column(data, column)?;
                    for (row, &value) in values.iter().enumerate() {
                        if value.is_infinite() {
                            return Err(invalid_data(format!(
                                "column '{column}' row {} is {value}; features must be finite numbers",
                                row + 2
                            )));
                        }
                        let value = if value.is_nan() { *fill } else { value };
                        matrix.set(row, offset, (value - mean) / scale);
                    }
                    offset += 1;
                }
                FeatureTransform::OneHot {
                    column,
                    categories,
                    fill,
                } => {
                    let source = data
                        .column(column)
                        .ok_or_else(|| missing_column(data, column))?;
                    let index: HashMap<&str, usize> = categories
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.as_str(), i))
                        .collect();
                    for row in 0..data.n_rows {
                        let text = source.data.text(row);
                        let value = text.as_deref().unwrap_or(fill);
                        if let Some(&i) = index.get(value) {
                            matrix.set(row, offset + i, 1.0);
                        }
                    }
                    offset += categories.len();
                }
            }
        }
        Ok(matrix)
    }
}

fn missing_column(data: &Dataset, column: &str) -> crate::MlError {
    let known: Vec<&str> = data.columns.iter().map(|c| c.name.as_str()).collect();
    invalid_data(format!(
        "the model needs column '{column}', which this data lacks; its columns are: {}",
        known.join(", ")
    ))
}

fn numeric_column<'a>(data: &'a Dataset, name: &str) -> MlResult<&'a [f64]> {
    let column = data
        .column(name)
        .ok_or_else(|| missing_column(data, name))?;
    match &column.data {
        ColumnData::Numeric(values) => Ok(values),
        ColumnData::Text(values) => {
            let (row, value) = values
                .iter()
                .enumerate()
                .find_map(|(row, v)| {
                    v.as_deref()
                        .filter(|t| t.parse::<f64>().is_err())
                        .map(|t| (row, t))
                })
                .unwrap_or((0, ""));
            Err(invalid_data(format!(
                "column '{name}' must be numeric, but row {} holds '{value}'",
                row + 2
            )))
        }
    }
}

fn most_frequent_number(values: &[f64]) -> f64 {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for value in values {
        *counts.entry(value.to_bits()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(bits, count)| (f64::from_bits(bits), count))
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.total_cmp(&a.0)))
        .map_or(0.0, |(value, _)| value)
}

/// The target of a classifier: class labels (kept as text, in sorted order) and their indices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEncoder {
    pub classes: Vec<String>,
}

impl LabelEncoder {
    /// Labels sorted as scikit-learn's `LabelEncoder` does: numerically for numeric targets, else by text.
    pub fn fit(data: &Dataset, target: &str) -> MlResult<LabelEncoder> {
        let column = data
            .column(target)
            .ok_or_else(|| missing_column(data, target))?;
        let mut classes: Vec<String> = Vec::new();
        match &column.data {
            ColumnData::Numeric(values) => {
                let mut numbers: Vec<f64> =
                    values.iter().copied().filter(|v| !v.is_nan()).collect();
                numbers.sort_by(f64::total_cmp);
                numbers.dedup();
                classes.extend(numbers.into_iter().map(format_number));
            }
            ColumnData::Text(values) => {
                let mut texts: Vec<&String> = values.iter().flatten().collect();
                texts.sort();
                texts.dedup();
                classes.extend(texts.into_iter().cloned());
            }
        }
        Ok(LabelEncoder { classes })
    }

    pub fn encode(&self, data: &Dataset, target: &str) -> MlResult<Vec<usize>> {
        let column = data
            .column(target)
            .ok_or_else(|| missing_column(data, target))?;
        let index: HashMap<&str, usize> = self
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        // A numeric target is looked up once per distinct value, not formatted once per row.
        let mut numeric_cache: HashMap<u64, usize> = HashMap::new();
        (0..data.n_rows)
            .map(|row| {
                if let ColumnData::Numeric(values) = &column.data
                    && !values[row].is_nan()
                    && let Some(&class) = numeric_cache.get(&(values[row] + 0.0).to_bits())
                {
                    return Ok(class);
                }
                let text = column.data.text(row).ok_or_else(|| {
                    invalid_data(format!(
                        "target '{target}' is missing at row {}; drop or fill those rows",
                        row + 2
                    ))
                })?;
                let class = index.get(text.as_str()).copied().ok_or_else(|| {
                    invalid_data(format!(
                        "target '{target}' row {} has class '{text}', which the model does not know (classes: {})",
                        row + 2,
                        self.classes.join(", ")
                    ))
                })?;
                if let ColumnData::Numeric(values) = &column.data {
                    numeric_cache.insert((values[row] + 0.0).to_bits(), class);
                }
                Ok(class)
            })
            .collect()
    }
}

/// The numeric target of a regressor; missing or infinite values are errors that name the row.
pub fn regression_target(data: &Dataset, target: &str) -> MlResult<Vec<f64>> {
    let values = numeric_column(data, target)?;
    for (row, value) in values.iter().enumerate() {
        if !value.is_finite() {
            return Err(invalid_data(format!(
                "target '{target}' row {} is {}; drop or fill those rows",
                row + 2,
                if value.is_nan() {
                    "missing".to_string()
                } else {
                    value.to_string()
                }
            )));
        }
    }
    Ok(values.to_vec())
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

    #[test]
    fn imputes_standardizes_and_one_hot_encodes() {
        let train = dataset("x,c,y\n1,red,a\n3,blue,b\n,red,a\n");
        let pre = Preprocessor::fit(
            &train,
            PreprocessConfig {
                imputation: Imputation::Mean,
                standardize: true,
            },
        )
        .unwrap();
        assert_eq!(pre.output_names(), ["x", "c=blue", "c=red"]);
        let m = pre.transform(&train).unwrap();
        // Imputed column [1, 3, 2]: mean 2, population std sqrt(2/3).
        let std = (2.0f64 / 3.0).sqrt();
        assert!((m.get(0, 0) + 1.0 / std).abs() < 1e-12);
        assert_eq!(m.get(2, 0), 0.0);
        assert_eq!(m.row(1)[1..], [1.0, 0.0]);

        let unseen = dataset("x,c,y\n2,green,a\n2,,b\n");
        let m = pre.transform(&unseen).unwrap();
        assert_eq!(m.row(0)[1..], [0.0, 0.0], "unknown category → zeros");
        assert_eq!(
            m.row(1)[1..],
            [0.0, 1.0],
            "missing category → most frequent"
        );
    }

    #[test]
    fn median_and_most_frequent() {
        let train = dataset("x,y\n1,a\n2,a\n2,a\n10,b\n,b\n");
        for (imputation, expected) in [
            (Imputation::Median, 2.0),
            (Imputation::MostFrequent, 2.0),
            (Imputation::Mean, 3.75),
        ] {
            let pre = Preprocessor::fit(
                &train,
                PreprocessConfig {
                    imputation,
                    standardize: false,
                },
            )
            .unwrap();
            assert_eq!(pre.transform(&train).unwrap().get(4, 0), expected);
        }
    }

    #[test]
    fn wrong_columns_are_named() {
        let train = dataset("x,y\n1,a\n2,b\n");
        let pre = Preprocessor::fit(
            &train,
            PreprocessConfig {
                imputation: Imputation::Mean,
                standardize: false,
            },
        )
        .unwrap();
        let renamed = dataset("z,y\n1,a\n");
        let message = pre.transform(&renamed).unwrap_err().to_string();
        assert!(message.contains("needs column 'x'"), "{message}");
        let texty = dataset("x,y\n1,a\nabc,b\n");
        let message = pre.transform(&texty).unwrap_err().to_string();
        assert!(message.contains("row 3 holds 'abc'"), "{message}");
        let infinite = dataset("x,y\ninf,a\n1,b\n");
        assert!(Preprocessor::fit(&infinite, pre.config).is_err());
    }

    #[test]
    fn labels_are_sorted_like_scikit_learn() {
        let data = dataset("x,y\n1,10\n2,9\n3,10\n");
        let encoder = LabelEncoder::fit(&data, "y").unwrap();
        assert_eq!(encoder.classes, ["9", "10"]);
        assert_eq!(encoder.encode(&data, "y").unwrap(), [1, 0, 1]);
        let other = dataset("x,y\n1,11\n");
        assert!(
            encoder
                .encode(&other, "y")
                .unwrap_err()
                .to_string()
                .contains("'11'")
        );
        let missing = dataset("x,y\n1,\n");
        assert!(regression_target(&missing, "y").is_err());
    }
}
