//! Tabular datasets: CSV in, typed columns out, with a schema (types and roles), a content hash and a profile.
//!
//! Type inference, per column, over the non-missing values:
//! - `numeric` when every value parses as a number;
//! - `boolean` when every value is one of true/false/yes/no/t/f/y/n (any case);
//! - `identifier` when the values are text, all distinct, and there are at least 20 of them (row keys, not
//!   features; excluded from training unless given another role);
//! - `categorical` otherwise.
//!
//! Missing values: an empty field, `NA`, `N/A`, `NaN`, `nan`, `null`, `NULL`, `None` or `?`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{MlError, MlResult, invalid_data};

const MISSING_TOKENS: &[&str] = &["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"];
const IDENTIFIER_MIN_ROWS: usize = 20;
const HISTOGRAM_BINS: usize = 20;
const TOP_CATEGORIES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Numeric,
    Categorical,
    Boolean,
    Identifier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Feature,
    Target,
    Id,
    Time,
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub columns: Vec<ColumnSchema>,
}

impl Schema {
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn target(&self) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.role == Role::Target)
    }

    pub fn features(&self) -> impl Iterator<Item = &ColumnSchema> {
        self.columns.iter().filter(|c| c.role == Role::Feature)
    }
}

/// Column values. Numeric missing values are NaN; text missing values are `None`.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Numeric(Vec<f64>),
    Text(Vec<Option<String>>),
}

impl ColumnData {
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Numeric(values) => values.len(),
            ColumnData::Text(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            ColumnData::Numeric(values) => values[row].is_nan(),
            ColumnData::Text(values) => values[row].is_none(),
        }
    }

    /// The value as text, as it would be written back (missing → `None`).
    pub fn text(&self, row: usize) -> Option<String> {
        match self {
            ColumnData::Numeric(values) => {
                let v = values[row];
                (!v.is_nan()).then(|| format_number(v))
            }
            ColumnData::Text(values) => values[row].clone(),
        }
    }
}

impl ColumnData {
    /// How often each present value occurs, keyed by its text (numbers as [`format_number`] writes them). Numbers
    /// are counted by value first and formatted once per distinct value, not once per row.
    pub fn value_counts(&self) -> HashMap<String, usize> {
        match self {
            ColumnData::Numeric(values) => {
                let mut by_bits: HashMap<u64, usize> = HashMap::new();
                for v in values.iter().filter(|v| !v.is_nan()) {
                    // +0.0 and -0.0 are one value, as their text is.
                    *by_bits.entry((v + 0.0).to_bits()).or_default() += 1;
                }
                let mut counts = HashMap::with_capacity(by_bits.len());
                for (bits, count) in by_bits {
                    *counts
                        .entry(format_number(f64::from_bits(bits)))
                        .or_default() += count;
                }
                counts
            }
            ColumnData::Text(values) => {
                let mut counts: HashMap<String, usize> = HashMap::new();
                for value in values.iter().flatten() {
                    match counts.get_mut(value.as_str()) {
                        Some(count) => *count += 1,
                        None => {
                            counts.insert(value.clone(), 1);
                        }
                    }
                }
                counts
            }
        }
    }
}

pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub data: ColumnData,
}

/// What the user says about columns; everything else is inferred.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleOverrides {
    pub target: Option<String>,
    pub id: Vec<String>,
    pub time: Vec<String>,
    pub ignore: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub columns: Vec<Column>,
    pub schema: Schema,
    /// SHA-256 of the file's bytes.
    pub content_hash: String,
    pub n_rows: usize,
}

impl Dataset {
    /// A dataset from columns already typed (a request body, say): numeric columns are numeric features, text
    /// columns categorical ones. No content hash (the data has no file).
    pub fn from_columns(columns: Vec<Column>) -> MlResult<Dataset> {
        let n_rows = columns.first().map_or(0, |c| c.data.len());
        if let Some(column) = columns.iter().find(|c| c.data.len() != n_rows) {
            return Err(invalid_data(format!(
                "column '{}' has {} values but the first column has {n_rows}; give every column the same rows",
                column.name,
                column.data.len()
            )));
        }
        let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        check_headers(&names)?;
        let schema = Schema {
            columns: columns
                .iter()
                .map(|c| ColumnSchema {
                    name: c.name.clone(),
                    column_type: match c.data {
                        ColumnData::Numeric(_) => ColumnType::Numeric,
                        ColumnData::Text(_) => ColumnType::Categorical,
                    },
                    role: Role::Feature,
                })
                .collect(),
        };
        Ok(Dataset {
            columns,
            schema,
            content_hash: String::new(),
            n_rows,
        })
    }

    pub fn read_csv(path: &Path, roles: &RoleOverrides) -> MlResult<Dataset> {
        let bytes = std::fs::read(path).map_err(|error| MlError::Io {
            path: path.display().to_string(),
            error,
        })?;
        Self::from_csv_bytes(&bytes, roles).map_err(|e| match e {
            MlError::InvalidData(message) => invalid_data(format!("{}: {message}", path.display())),
            other => other,
        })
    }

    pub fn from_csv_bytes(bytes: &[u8], roles: &RoleOverrides) -> MlResult<Dataset> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(invalid_data(
                "the file is empty; expected a CSV file with a header row",
            ));
        }
        let content_hash = hex::encode(Sha256::digest(bytes));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(bytes);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| invalid_data(format!("cannot read the header row: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        check_headers(&headers)?;
        // Pass 1 parses every column as numbers, which is what most columns are and costs 8 bytes a cell. A
        // column that turns out not to be numeric is read again as text in pass 2, from the same bytes.
        let n_columns = headers.len();
        let mut numeric: Vec<Option<Vec<f64>>> = vec![Some(Vec::new()); n_columns];
        let mut record = csv::StringRecord::new();
        let mut n_rows = 0usize;
        loop {
            // Row numbers as a spreadsheet shows them: the header is row 1.
            let line = n_rows + 2;
            let more = reader
                .read_record(&mut record)
                .map_err(|e| csv_error(&e, line, n_columns))?;
            if !more {
                break;
            }
            for (column, field) in record.iter().enumerate() {
                let Some(values) = &mut numeric[column] else {
                    continue;
                };
                let field = field.trim();
                if MISSING_TOKENS.contains(&field) {
                    values.push(f64::NAN);
                } else if let Ok(value) = field.parse::<f64>() {
                    values.push(value);
                } else {
                    numeric[column] = None;
                }
            }
            n_rows += 1;
        }
        if n_rows == 0 {
            return Err(invalid_data("the file has a header but no rows"));
        }
        let text_columns: Vec<usize> = (0..n_columns).filter(|&c| numeric[c].is_none()).collect();
        let mut text: Vec<Vec<Option<String>>> = vec![Vec::new(); n_columns];
        if !text_columns.is_empty() {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(false)
                .from_reader(bytes);
            while reader
                .read_record(&mut record)
                .map_err(|e| invalid_data(format!("re-reading the file: {e}")))?
            {
                for &column in &text_columns {
                    let field = record.get(column).unwrap_or_default().trim();
                    text[column]
                        .push((!MISSING_TOKENS.contains(&field)).then(|| field.to_string()));
                }
            }
        }
        let mut columns = Vec::with_capacity(n_columns);
        let mut schema = Vec::with_capacity(n_columns);
        for ((name, parsed), values) in headers.into_iter().zip(numeric).zip(text) {
            let (column_type, data) = match parsed {
                Some(numbers) if numbers.iter().any(|v| !v.is_nan()) => {
                    (ColumnType::Numeric, ColumnData::Numeric(numbers))
                }
                // Every value is missing: nothing says what the column is.
                Some(numbers) => (
                    ColumnType::Categorical,
                    ColumnData::Text(vec![None; numbers.len()]),
                ),
                None => infer_column(&name, values)?,
            };
            schema.push(ColumnSchema {
                name: name.clone(),
                column_type,
                role: if column_type == ColumnType::Identifier {
                    Role::Id
                } else {
                    Role::Feature
                },
            });
            columns.push(Column { name, data });
        }
        let mut dataset = Dataset {
            columns,
            schema: Schema { columns: schema },
            content_hash,
            n_rows,
        };
        dataset.apply_roles(roles)?;
        Ok(dataset)
    }

    /// Sets the roles the user gave; unknown column names are an error that lists the columns.
    pub fn apply_roles(&mut self, roles: &RoleOverrides) -> MlResult<()> {
        let mut assign = |name: &str, role: Role| -> MlResult<()> {
            let columns = &mut self.schema.columns;
            match columns.iter_mut().find(|c| c.name == name) {
                Some(column) => {
                    column.role = role;
                    Ok(())
                }
                None => {
                    let known: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                    Err(invalid_data(format!(
                        "no column named '{name}'; the columns are: {}",
                        known.join(", ")
                    )))
                }
            }
        };
        if let Some(target) = &roles.target {
            assign(target, Role::Target)?;
        }
        for name in &roles.id {
            assign(name, Role::Id)?;
        }
        for name in &roles.time {
            assign(name, Role::Time)?;
        }
        for name in &roles.ignore {
            assign(name, Role::Ignore)?;
        }
        Ok(())
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The rows at `indices` (for splits).
    pub fn select_rows(&self, indices: &[usize]) -> Dataset {
        let columns = self
            .columns
            .iter()
            .map(|column| Column {
                name: column.name.clone(),
                data: match &column.data {
                    ColumnData::Numeric(values) => {
                        ColumnData::Numeric(indices.iter().map(|&i| values[i]).collect())
                    }
                    ColumnData::Text(values) => {
                        ColumnData::Text(indices.iter().map(|&i| values[i].clone()).collect())
                    }
                },
            })
            .collect();
        Dataset {
            columns,
            schema: self.schema.clone(),
            content_hash: self.content_hash.clone(),
            n_rows: indices.len(),
        }
    }

    pub fn profile(&self) -> Profile {
        Profile {
            n_rows: self.n_rows,
            columns: self
                .columns
                .iter()
                .zip(&self.schema.columns)
                .map(|(column, schema)| profile_column(column, schema.column_type))
                .collect(),
        }
    }
}

fn csv_error(error: &csv::Error, line: usize, n_columns: usize) -> crate::MlError {
    match error.kind() {
        csv::ErrorKind::UnequalLengths { len, .. } => invalid_data(format!(
            "row {line} has {len} fields but the header has {n_columns}; check for a missing or extra separator"
        )),
        _ => invalid_data(format!("row {line}: {error}")),
    }
}

fn check_headers(headers: &[String]) -> MlResult<()> {
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err(invalid_data("the header row is empty"));
    }
    let mut seen = HashMap::new();
    for (index, name) in headers.iter().enumerate() {
        if name.is_empty() {
            return Err(invalid_data(format!(
                "column {} has an empty name in the header row",
                index + 1
            )));
        }
        if let Some(first) = seen.insert(name.as_str(), index) {
            return Err(invalid_data(format!(
                "columns {} and {} are both named '{name}'",
                first + 1,
                index + 1
            )));
        }
    }
    Ok(())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" => Some(true),
        "false" | "f" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// A column whose values are numbers but for at most this share is taken as a numeric column with typos, not
/// as a categorical one: loading it fails and names the first stray value.
const STRAY_VALUE_SHARE: f64 = 0.05;
/// ... provided it has at least this many values, so that tiny columns are not second-guessed.
const STRAY_VALUE_MIN_ROWS: usize = 20;

fn infer_column(name: &str, values: Vec<Option<String>>) -> MlResult<(ColumnType, ColumnData)> {
    let present: Vec<&str> = values.iter().flatten().map(String::as_str).collect();
    let non_numeric = present.iter().filter(|v| v.parse::<f64>().is_err()).count();
    if non_numeric > 0
        && present.len() >= STRAY_VALUE_MIN_ROWS
        && (non_numeric as f64) <= STRAY_VALUE_SHARE * present.len() as f64
    {
        let (row, value) = values
            .iter()
            .enumerate()
            .find_map(|(row, v)| {
                v.as_deref()
                    .filter(|t| t.parse::<f64>().is_err())
                    .map(|t| (row + 2, t))
            })
            .unwrap_or_default();
        return Err(invalid_data(format!(
            "column '{name}' is numeric ({} of {} values are numbers) but row {row} holds '{value}'{}; \
             correct the value, leave the cell empty for a missing value, or drop the column with --ignore {name}",
            present.len() - non_numeric,
            present.len(),
            if non_numeric > 1 {
                format!(" ({} non-numeric values in all)", non_numeric)
            } else {
                String::new()
            }
        )));
    }
    let has_values = !present.is_empty();
    Ok(infer_typed_column(values, has_values && non_numeric == 0))
}

fn infer_typed_column(values: Vec<Option<String>>, all_numeric: bool) -> (ColumnType, ColumnData) {
    if all_numeric {
        let numbers = values
            .iter()
            .map(|v| {
                v.as_deref()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(f64::NAN)
            })
            .collect();
        return (ColumnType::Numeric, ColumnData::Numeric(numbers));
    }
    let present: Vec<&str> = values.iter().flatten().map(String::as_str).collect();
    // Values stay as written (a `yes`/`no` target predicts `yes`, not `true`), like every other category.
    if !present.is_empty() && present.iter().all(|v| parse_bool(v).is_some()) {
        return (ColumnType::Boolean, ColumnData::Text(values));
    }
    let distinct: std::collections::HashSet<&str> = present.iter().copied().collect();
    let column_type = if present.len() >= IDENTIFIER_MIN_ROWS && distinct.len() == present.len() {
        ColumnType::Identifier
    } else {
        ColumnType::Categorical
    };
    (column_type, ColumnData::Text(values))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// `counts.len() + 1` edges; the last bin includes its upper edge.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericProfile {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Sample standard deviation (n − 1), as pandas' `describe`.
    pub std: f64,
    /// Quantiles at 1, 5, 25, 50, 75, 95, 99 % (linear interpolation, as numpy's default).
    pub quantiles: BTreeMap<String, f64>,
    pub histogram: Histogram,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalProfile {
    pub distinct: usize,
    /// The most frequent values, most frequent first (ties by value), at most 20.
    pub top: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    pub count: usize,
    pub missing: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericProfile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categorical: Option<CategoricalProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub n_rows: usize,
    pub columns: Vec<ColumnProfile>,
}

impl Profile {
    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// numpy's default (linear) quantile of sorted values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.len() == 1 {
        return sorted[0];
    }
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    let fraction = position - low as f64;
    sorted[low] + (sorted[high] - sorted[low]) * fraction
}

fn profile_column(column: &Column, column_type: ColumnType) -> ColumnProfile {
    let missing = (0..column.data.len())
        .filter(|&row| column.data.is_missing(row))
        .count();
    let mut profile = ColumnProfile {
        name: column.name.clone(),
        column_type,
        count: column.data.len() - missing,
        missing,
        numeric: None,
        categorical: None,
    };
    match &column.data {
        ColumnData::Numeric(values) => {
            let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
            if present.is_empty() {
                return profile;
            }
            present.sort_by(f64::total_cmp);
            let n = present.len() as f64;
            let mean = present.iter().sum::<f64>() / n;
            let variance = if present.len() > 1 {
                present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
            } else {
                0.0
            };
            let (min, max) = (present[0], present[present.len() - 1]);
            let quantiles = [1, 5, 25, 50, 75, 95, 99]
                .iter()
                .map(|p| {
                    (
                        format!("p{p:02}"),
                        quantile_sorted(&present, *p as f64 / 100.0),
                    )
                })
                .collect();
            profile.numeric = Some(NumericProfile {
                min,
                max,
                mean,
                std: variance.sqrt(),
                quantiles,
                histogram: histogram(&present, min, max),
            });
        }
        ColumnData::Text(values) => {
            let mut counts: HashMap<&str, u64> = HashMap::new();
            for value in values.iter().flatten() {
                *counts.entry(value).or_default() += 1;
            }
            let distinct = counts.len();
            let mut top: Vec<(String, u64)> = counts
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            top.truncate(TOP_CATEGORIES);
            profile.categorical = Some(CategoricalProfile { distinct, top });
        }
    }
    profile
}

/// Equal-width bins over [min, max] (numpy's `histogram` convention: the last bin is closed).
pub fn histogram(values: &[f64], min: f64, max: f64) -> Histogram {
    let bins = HISTOGRAM_BINS;
    let (low, high) = if min == max {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    let width = (high - low) / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|i| low + width * i as f64).collect();
    let mut counts = vec![0u64; bins];
    for &value in values {
        if value < low || value > high {
            continue;
        }
        let bin = (((value - low) / width) as usize).min(bins - 1);
        counts[bin] += 1;
    }
    Histogram { edges, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> MlResult<Dataset> {
        Dataset::from_csv_bytes(text.as_bytes(), &RoleOverrides::default())
    }

    #[test]
    fn infers_types_and_missing_values() {
        let data =
            load("x,colour,flag,label\n1.5,red,yes,a\nNA,blue,no,b\n3,\"red\",,a\n").unwrap();
        let types: Vec<ColumnType> = data.schema.columns.iter().map(|c| c.column_type).collect();
        assert_eq!(
            types,
            [
                ColumnType::Numeric,
                ColumnType::Categorical,
                ColumnType::Boolean,
                ColumnType::Categorical
            ]
        );
        assert!(data.columns[0].data.is_missing(1));
        assert!(data.columns[2].data.is_missing(2));
        // Booleans keep their spelling, so labels come back as the user wrote them.
        assert_eq!(data.columns[2].data.text(0).as_deref(), Some("yes"));
        assert_eq!(data.n_rows, 3);
        assert_eq!(data.content_hash.len(), 64);
    }

    #[test]
    fn unique_text_columns_are_identifiers() {
        let mut text = String::from("key,value\n");
        for i in 0..25 {
            text.push_str(&format!("user-{i},{}\n", i % 3));
        }
        let data = load(&text).unwrap();
        assert_eq!(data.schema.columns[0].column_type, ColumnType::Identifier);
        assert_eq!(data.schema.columns[0].role, Role::Id);
    }

    #[test]
    fn roles_and_their_errors() {
        let roles = RoleOverrides {
            target: Some("y".into()),
            ignore: vec!["note".into()],
            ..Default::default()
        };
        let data = Dataset::from_csv_bytes(b"x,note,y\n1,a,0\n2,b,1\n", &roles).unwrap();
        assert_eq!(data.schema.target().unwrap().name, "y");
        assert_eq!(data.schema.features().count(), 1);
        let wrong = RoleOverrides {
            target: Some("label".into()),
            ..Default::default()
        };
        let message = Dataset::from_csv_bytes(b"x,y\n1,2\n", &wrong)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("no column named 'label'") && message.contains("x, y"),
            "{message}"
        );
    }

    #[test]
    fn bad_files_say_where() {
        for (text, needle) in [
            ("", "empty"),
            ("a,b\n", "no rows"),
            ("a,b\n1,2\n3\n", "row 3 has 1 fields"),
            ("a,a\n1,2\n", "both named 'a'"),
            ("a,\n1,2\n", "empty name"),
        ] {
            let message = load(text).unwrap_err().to_string();
            assert!(message.contains(needle), "{text:?}: {message}");
        }
    }

    #[test]
    fn profiles_match_numpy_conventions() {
        let data = load("x,c\n1,a\n2,a\n3,b\n4,\n").unwrap();
        let profile = data.profile();
        let x = profile.column("x").unwrap().numeric.as_ref().unwrap();
        assert_eq!((x.min, x.max, x.mean), (1.0, 4.0, 2.5));
        // pandas: Series([1,2,3,4]).std() == 1.2909944487358056
        assert!((x.std - 1.2909944487358056).abs() < 1e-15);
        // numpy: np.percentile([1,2,3,4], 25) == 1.75
        assert_eq!(x.quantiles["p25"], 1.75);
        assert_eq!(x.histogram.counts.iter().sum::<u64>(), 4);
        assert_eq!(
            *x.histogram.counts.last().unwrap(),
            1,
            "the last bin is closed"
        );
        let c = profile.column("c").unwrap();
        assert_eq!(c.missing, 1);
        assert_eq!(c.categorical.as_ref().unwrap().top[0], ("a".to_string(), 2));
    }
}
