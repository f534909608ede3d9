//! Request bodies → a dataset of named columns, and outcomes → response bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use steward_ml::dataset::{Column, ColumnData, Dataset, RoleOverrides};
use steward_service::predict::PredictOutcome;
use steward_store::ModelVersion;

/// A request the server cannot use, with a message that says what to send instead.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError(pub String);

fn bad(message: impl Into<String>) -> RequestError {
    RequestError(message.into())
}

/// A column from JSON values: numbers (null = missing) make a numeric column, anything else a text one.
fn column(name: String, values: &[&Value]) -> Result<Column, RequestError> {
    let numeric =
        values.iter().all(|v| v.is_number() || v.is_null()) && values.iter().any(|v| v.is_number());
    let data = if numeric {
        ColumnData::Numeric(
            values
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect(),
        )
    } else {
        ColumnData::Text(
            values
                .iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::String(s) => Ok(Some(s.clone())),
                    Value::Number(n) => Ok(Some(n.to_string())),
                    Value::Bool(b) => Ok(Some(b.to_string())),
                    other => Err(bad(format!(
                        "column '{name}' holds {other}; values must be numbers, strings or null"
                    ))),
                })
                .collect::<Result<_, _>>()?,
        )
    };
    Ok(Column { name, data })
}

/// Names for positional values: the model's own input columns when it has them and the count fits,
/// otherwise `f0, f1, ...` (a one-matrix graph takes its columns in order).
fn positional_names(columns: Option<&[String]>, width: usize) -> Result<Vec<String>, RequestError> {
    match columns {
        Some(columns) if columns.len() == width => Ok(columns.to_vec()),
        Some(columns) => Err(bad(format!(
            "rows have {width} values but the model takes {} columns: {}",
            columns.len(),
            columns.join(", ")
        ))),
        None => Ok((0..width).map(|j| format!("f{j}")).collect()),
    }
}

fn from_rows(names: Vec<String>, rows: &[Value]) -> Result<Dataset, RequestError> {
    let mut columns = Vec::with_capacity(names.len());
    for (j, name) in names.into_iter().enumerate() {
        let values: Vec<&Value> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.as_array()
                    .and_then(|r| r.get(j))
                    .ok_or_else(|| bad(format!("row {i} has no value for column {j}")))
            })
            .collect::<Result<_, _>>()?;
        columns.push(column(name, &values)?);
    }
    Dataset::from_columns(columns).map_err(|e| bad(e.to_string()))
}

fn from_records(records: &[Value]) -> Result<Dataset, RequestError> {
    let first = records
        .first()
        .and_then(Value::as_object)
        .ok_or_else(|| bad("records must be a non-empty list of {column: value} objects"))?;
    let names: Vec<String> = first.keys().cloned().collect();
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        let values: Vec<&Value> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.get(&name)
                    .ok_or_else(|| bad(format!("record {i} has no '{name}'")))
            })
            .collect::<Result<_, _>>()?;
        columns.push(column(name, &values)?);
    }
    Dataset::from_columns(columns).map_err(|e| bad(e.to_string()))
}

fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        other => out.push(other),
    }
}

/// An Open Inference Protocol request body, read straight into typed fields (fields the protocol allows but
/// Steward does not use, such as `parameters` and `outputs`, are skipped).
#[derive(Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    inputs: Option<Vec<InferInput>>,
}

#[derive(Deserialize)]
struct InferInput {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    shape: Option<Vec<Value>>,
    #[serde(default)]
    datatype: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

/// One `[N, F]` input (a matrix of features) or one `[N]`/`[N, 1]` input per column, named as the model's
/// columns.
pub fn oip_dataset(
    request: &InferRequest,
    columns: Option<&[String]>,
) -> Result<Dataset, RequestError> {
    let inputs = request
        .inputs
        .as_deref()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| {
            bad("the request needs \"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}]")
        })?;
    let mut parsed = Vec::with_capacity(inputs.len());
    for input in inputs {
        let name = input
            .name
            .as_deref()
            .ok_or_else(|| bad("every input needs a name"))?;
        let shape: Vec<usize> = input
            .shape
            .as_deref()
            .ok_or_else(|| bad(format!("input '{name}' needs a shape")))?
            .iter()
            .map(|d| {
                d.as_u64()
                    .map(|d| d as usize)
                    .ok_or_else(|| bad(format!("input '{name}': shape {d} is not a size")))
            })
            .collect::<Result<_, _>>()?;
        let datatype = input.datatype.as_deref().unwrap_or("FP32");
        if !matches!(
            datatype,
            "FP32"
                | "FP64"
                | "FP16"
                | "INT8"
                | "INT16"
                | "INT32"
                | "INT64"
                | "UINT8"
                | "BOOL"
                | "BYTES"
        ) {
            return Err(bad(format!("input '{name}': unknown datatype {datatype}")));
        }
        let mut data = Vec::new();
        flatten(
            input
                .data
                .as_ref()
                .ok_or_else(|| bad(format!("input '{name}' has no data")))?,
            &mut data,
        );
        let count: usize = shape.iter().product();
        if count != data.len() {
            return Err(bad(format!(
                "input '{name}' has shape {shape:?} ({count} values) but {} values of data",
                data.len()
            )));
        }
        if datatype != "BYTES"
            && data
                .iter()
                .any(|v| !(v.is_number() || v.is_null() || v.is_boolean()))
        {
            return Err(bad(format!(
                "input '{name}' is {datatype} but holds non-numbers"
            )));
        }
        parsed.push((name, shape, data));
    }
    if let [(_, shape, data)] = parsed.as_slice()
        && shape.len() == 2
        && (shape[1] > 1 || columns.is_none_or(|c| c.len() == 1))
    {
        let (rows, width) = (shape[0], shape[1]);
        let names = positional_names(columns, width)?;
        let mut matrix = Vec::with_capacity(width);
        let mut values = Vec::with_capacity(rows);
        for (j, name) in names.into_iter().enumerate() {
            values.clear();
            values.extend((0..rows).map(|r| data[r * width + j]));
            matrix.push(column(name, &values)?);
        }
        return Dataset::from_columns(matrix).map_err(|e| bad(e.to_string()));
    }
    let mut columns = Vec::with_capacity(parsed.len());
    for (name, shape, data) in parsed {
        if shape.len() > 2 || (shape.len() == 2 && shape[1] != 1) {
            return Err(bad(format!(
                "input '{name}' has shape {shape:?}; give one [N, F] matrix or one [N] input per column"
            )));
        }
        columns.push(column(name.to_string(), &data)?);
    }
    Dataset::from_columns(columns).map_err(|e| bad(e.to_string()))
}

/// MLflow's scoring formats: `dataframe_split`, `dataframe_records`, `instances` and `inputs` (rows as lists or
/// records, or `{column: [values]}`).
pub fn mlflow_dataset(body: &Value, columns: Option<&[String]>) -> Result<Dataset, RequestError> {
    if let Some(split) = body.get("dataframe_split") {
        let data = split
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("dataframe_split needs \"data\": [[...], ...]"))?;
        let names = match split.get("columns").and_then(Value::as_array) {
            Some(columns) => columns
                .iter()
                .map(|c| {
                    c.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad("column names must be strings"))
                })
                .collect::<Result<_, _>>()?,
            None => positional_names(
                columns,
                data.first().and_then(Value::as_array).map_or(0, Vec::len),
            )?,
        };
        return from_rows(names, data);
    }
    if let Some(records) = body.get("dataframe_records").and_then(Value::as_array) {
        return from_records(records);
    }
    let rows = body
        .get("instances")
        .or_else(|| body.get("inputs"))
        .ok_or_else(|| {
            bad("the body needs dataframe_split, dataframe_records, instances or inputs")
        })?;
    match rows {
        Value::Array(items) if items.first().is_some_and(Value::is_object) => from_records(items),
        Value::Array(items) => {
            let width = items.first().and_then(Value::as_array).map_or(0, Vec::len);
            from_rows(positional_names(columns, width)?, items)
        }
        Value::Object(map) => {
            let mut columns = Vec::with_capacity(map.len());
            for (name, values) in map {
                let values: Vec<&Value> = values
                    .as_array()
                    .ok_or_else(|| bad(format!("inputs.{name} must be a list")))?
                    .iter()
                    .collect();
                columns.push(column(name.clone(), &values)?);
            }
            Dataset::from_columns(columns).map_err(|e| bad(e.to_string()))
        }
        _ => Err(bad(
            "instances/inputs must be a list of rows or an object of columns",
        )),
    }
}

/// A CSV body with a header row.
pub fn csv_dataset(body: &[u8]) -> Result<Dataset, RequestError> {
    Dataset::from_csv_bytes(body, &RoleOverrides::default()).map_err(|e| bad(e.to_string()))
}

/// The Open Inference Protocol answer: `label` (BYTES) and `probabilities` (FP64, `[N, classes]`) for
/// classifiers, `prediction` (FP64) for regressors. Serialized straight from the outcome (no JSON tree).
#[derive(Serialize)]
pub struct OipResponse<'a> {
    model_name: &'a str,
    model_version: String,
    outputs: Vec<OipOutput<'a>>,
    id: Value,
}

#[derive(Serialize)]
struct OipOutput<'a> {
    name: &'static str,
    datatype: &'static str,
    shape: Vec<usize>,
    data: OutputData<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<ClassNames<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutputData<'a> {
    Labels(&'a [String]),
    Numbers(&'a [f64]),
    Rows(FlatRows<'a>),
}

/// `[[p, ...], ...]` written as one flat list, as the protocol wants tensors.
struct FlatRows<'a>(&'a [Vec<f64>]);

impl Serialize for FlatRows<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().flatten())
    }
}

#[derive(Serialize)]
struct ClassNames<'a> {
    classes: &'a [String],
}

pub fn oip_response<'a>(
    outcome: &'a PredictOutcome,
    version: &'a ModelVersion,
    id: Value,
) -> OipResponse<'a> {
    let mut outputs = Vec::with_capacity(2);
    if let Some(labels) = &outcome.labels {
        outputs.push(OipOutput {
            name: "label",
            datatype: "BYTES",
            shape: vec![labels.len()],
            data: OutputData::Labels(labels),
            parameters: None,
        });
    }
    if let Some(probabilities) = &outcome.probabilities {
        outputs.push(OipOutput {
            name: "probabilities",
            datatype: "FP64",
            shape: vec![probabilities.len(), outcome.classes.len()],
            data: OutputData::Rows(FlatRows(probabilities)),
            parameters: Some(ClassNames {
                classes: &outcome.classes,
            }),
        });
    }
    if let Some(values) = &outcome.values {
        let width = values.len().checked_div(outcome.rows).unwrap_or(1);
        outputs.push(OipOutput {
            name: "prediction",
            datatype: "FP64",
            shape: vec![outcome.rows, width],
            data: OutputData::Numbers(values),
            parameters: None,
        });
    }
    OipResponse {
        model_name: &version.model,
        model_version: version.version.to_string(),
        outputs,
        id,
    }
}
