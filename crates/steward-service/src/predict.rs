//! Batch prediction for any version: ONNX graphs through the native runtime, models trained by Steward through
//! their native file (until ONNX export makes every version a graph).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use steward_ml::dataset::{ColumnData, ColumnType, Dataset, Role, RoleOverrides};
use steward_runtime::Model;
use steward_runtime::tensor::{Data, Tensor};
use steward_store::ModelVersion;

use crate::data::load_csv;
use crate::model::NATIVE_MODEL_FILE;
use crate::onnx::{ONNX_FILE_KEY, mlmodel_onnx_file};
use crate::{MODEL_FILE, ServiceError, ServiceResult, Steward};

/// Predictions for a file: one label or value per row, and class probabilities for classifiers.
#[derive(Debug, Clone, Serialize)]
pub struct PredictOutcome {
    pub model: String,
    pub version: i64,
    pub rows: usize,
    /// Class labels (classifiers) or values as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// `rows × values_per_row`, row-major (regressors, and networks with several outputs per row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    /// 1 for a single target.
    pub values_per_row: usize,
    /// Column order of `probabilities`.
    pub classes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<Vec<f64>>>,
}

/// A version ready to predict.
pub enum Predictor {
    Onnx(Arc<Model>),
    Native(Arc<steward_ml::train::TrainedModel>),
}

impl PredictOutcome {
    /// The values of row `i` (one per target).
    pub fn row_values(&self, i: usize) -> Option<&[f64]> {
        let k = self.values_per_row.max(1);
        self.values.as_ref().and_then(|v| v.get(i * k..(i + 1) * k))
    }

    /// `predictions` as clients read them: labels, else one number per row, else one list per row. Serialized
    /// straight from the outcome (the capture writes it on a hot path).
    pub fn predictions(&self) -> Predictions<'_> {
        Predictions(self)
    }
}

/// See [`PredictOutcome::predictions`].
pub struct Predictions<'a>(&'a PredictOutcome);

impl Serialize for Predictions<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let outcome = self.0;
        match (&outcome.labels, &outcome.values) {
            (Some(labels), _) => labels.serialize(serializer),
            (None, Some(values)) if outcome.values_per_row <= 1 => values.serialize(serializer),
            (None, Some(values)) => serializer.collect_seq(values.chunks(outcome.values_per_row)),
            _ => serializer.collect_seq(std::iter::empty::<f64>()),
        }
    }
}

impl Steward {
    /// Loads the predictor of a version, verified against its hashes.
    pub async fn load_predictor(&self, version: &ModelVersion) -> ServiceResult<Predictor> {
        let manifest = self.artifacts.read_manifest(&version.artifact_hash).await?;
        if manifest.file(NATIVE_MODEL_FILE).is_some() {
            return Ok(Predictor::Native(Arc::new(self.load_model(version).await?)));
        }
        let named = version
            .signature
            .as_ref()
            .and_then(|s| s.get(ONNX_FILE_KEY))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let file = match named {
            Some(file) => file,
            None if manifest.file(MODEL_FILE).is_some() => MODEL_FILE.to_string(),
            None => match manifest.file("MLmodel") {
                Some(_) => {
                    let text = self
                        .artifacts
                        .read_package_file(&version.artifact_hash, "MLmodel")
                        .await?;
                    mlmodel_onnx_file(&String::from_utf8_lossy(&text)).ok_or_else(|| {
                        ServiceError::InvalidInput(format!(
                            "{}/{}: MLmodel has no onnx flavor",
                            version.model, version.version
                        ))
                    })?
                }
                None => manifest
                    .files
                    .iter()
                    .find(|f| f.path.ends_with(".onnx"))
                    .map(|f| f.path.clone())
                    .ok_or_else(|| {
                        ServiceError::InvalidInput(format!(
                            "{}/{} holds no model file",
                            version.model, version.version
                        ))
                    })?,
            },
        };
        let bytes = self
            .artifacts
            .read_package_file(&version.artifact_hash, &file)
            .await?;
        let model = tokio::task::spawn_blocking(move || Model::load(&bytes))
            .await
            .map_err(|e| ServiceError::InvalidInput(format!("loading the model failed: {e}")))??;
        Ok(Predictor::Onnx(Arc::new(model)))
    }

    /// Predicts every row of a CSV file. Columns the model does not take (`ignore`, and the target of a model
    /// trained by Steward) may be present.
    pub async fn predict(
        &self,
        version: &ModelVersion,
        data: &Path,
        ignore: &[String],
    ) -> ServiceResult<PredictOutcome> {
        let predictor = self.load_predictor(version).await?;
        let roles = RoleOverrides {
            ignore: ignore.to_vec(),
            ..Default::default()
        };
        let dataset = load_csv(data, &roles).await?;
        let (model, number) = (version.model.clone(), version.version);
        tokio::task::spawn_blocking(move || predictor.predict(&dataset, model, number))
            .await
            .map_err(|e| ServiceError::InvalidInput(format!("prediction failed: {e}")))?
    }
}

impl Predictor {
    /// Predicts every row of `data` (columns by name; see [`Predictor::input_columns`]).
    pub fn predict(
        &self,
        data: &Dataset,
        model: String,
        version: i64,
    ) -> ServiceResult<PredictOutcome> {
        match self {
            Predictor::Native(trained) => predict_native(trained, data, model, version),
            Predictor::Onnx(onnx) => predict_onnx(onnx, data, model, version),
        }
    }

    /// The columns the model reads, in its order: names for models trained by Steward and multi-input graphs;
    /// for a one-matrix graph, `None` (it takes any columns, in order, as its features).
    pub fn input_columns(&self) -> Option<Vec<String>> {
        match self {
            Predictor::Native(trained) => Some(
                trained
                    .preprocessor
                    .input_columns()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            ),
            Predictor::Onnx(onnx) if onnx.signature().inputs.len() > 1 => Some(
                onnx.signature()
                    .inputs
                    .iter()
                    .map(|i| i.name.clone())
                    .collect(),
            ),
            Predictor::Onnx(_) => None,
        }
    }

    /// Features of a one-matrix graph, when it declares them.
    pub fn n_features(&self) -> Option<usize> {
        match self {
            Predictor::Native(trained) => Some(trained.preprocessor.input_columns().len()),
            Predictor::Onnx(onnx) => onnx.signature().n_features,
        }
    }

    pub fn classes(&self) -> Vec<String> {
        match self {
            Predictor::Native(trained) => trained.classes.clone(),
            Predictor::Onnx(onnx) => onnx.signature().classes.clone(),
        }
    }

    pub fn platform(&self) -> &'static str {
        match self {
            Predictor::Native(_) => "steward",
            Predictor::Onnx(_) => "onnx",
        }
    }
}

fn predict_native(
    trained: &steward_ml::train::TrainedModel,
    data: &Dataset,
    model: String,
    version: i64,
) -> ServiceResult<PredictOutcome> {
    let predictions = trained.predict(data)?;
    let probabilities = predictions
        .probabilities
        .as_ref()
        .map(|p| p.rows().map(|r| r.to_vec()).collect());
    Ok(PredictOutcome {
        model,
        version,
        rows: data.n_rows,
        labels: predictions.labels,
        values_per_row: predictions
            .values
            .as_ref()
            .map_or(1, |v| v.len().checked_div(data.n_rows).unwrap_or(1).max(1)),
        values: predictions.values,
        classes: trained.classes.clone(),
        probabilities,
    })
}

/// The feature columns of a file for a one-matrix model: every column with the Feature role (not the target,
/// ids, times or ignored ones), in file order.
fn feature_matrix(model: &Model, data: &Dataset) -> ServiceResult<Vec<f32>> {
    let columns: Vec<&steward_ml::dataset::Column> = data
        .columns
        .iter()
        .zip(&data.schema.columns)
        .filter(|(_, s)| s.role == Role::Feature)
        .map(|(c, _)| c)
        .collect();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    if let Some(expected) = model.signature().n_features
        && expected != columns.len()
    {
        return Err(ServiceError::InvalidInput(format!(
            "the model takes {expected} numeric features (input '{}'), but the file has {} columns to use ({}); \
             leave out the others with --ignore COLUMN",
            model.signature().inputs[0].name,
            columns.len(),
            names.join(", ")
        )));
    }
    let mut x = vec![0.0f32; data.n_rows * columns.len()];
    for (j, column) in columns.iter().enumerate() {
        let ColumnData::Numeric(values) = &column.data else {
            return Err(ServiceError::InvalidInput(format!(
                "column '{}' is not numeric; the model takes numbers (leave it out with --ignore {})",
                column.name, column.name
            )));
        };
        for (i, &v) in values.iter().enumerate() {
            x[i * columns.len() + j] = v as f32;
        }
    }
    Ok(x)
}

/// One `[rows, 1]` tensor per graph input, taken from the column of the same name (ColumnTransformer exports).
fn named_inputs(model: &Model, data: &Dataset) -> ServiceResult<Vec<Tensor>> {
    model
        .signature()
        .inputs
        .iter()
        .map(|input| {
            let column = data.column(&input.name).ok_or_else(|| {
                ServiceError::InvalidInput(format!(
                    "the model's input '{}' has no column of that name; it takes: {}",
                    input.name,
                    model
                        .signature()
                        .inputs
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let schema = data.schema.column(&input.name);
            let data = match (&column.data, input.elem_type.as_str()) {
                (ColumnData::Numeric(v), "string") => Data::Str(
                    v.iter()
                        .map(|x| steward_ml::dataset::format_number(*x))
                        .collect(),
                ),
                (ColumnData::Numeric(v), "int64") => {
                    Data::I64(v.iter().map(|&x| x as i64).collect())
                }
                (ColumnData::Numeric(v), _) => Data::F32(v.iter().map(|&x| x as f32).collect()),
                (ColumnData::Text(v), "string") => {
                    Data::Str(v.iter().map(|x| x.clone().unwrap_or_default()).collect())
                }
                (ColumnData::Text(_), other) => {
                    return Err(ServiceError::InvalidInput(format!(
                        "column '{}' holds text ({:?}) but the model's input is {other}",
                        input.name,
                        schema
                            .map(|s| s.column_type)
                            .unwrap_or(ColumnType::Categorical)
                    )));
                }
            };
            Ok(Tensor {
                shape: vec![column.data.len(), 1],
                data,
            })
        })
        .collect()
}

pub(crate) fn predict_onnx(
    model: &Model,
    data: &Dataset,
    name: String,
    version: i64,
) -> ServiceResult<PredictOutcome> {
    let rows = data.n_rows;
    let prediction = if model.signature().inputs.len() == 1 {
        model.predict_owned(feature_matrix(model, data)?, rows)?
    } else {
        model.predict_tensors(named_inputs(model, data)?, rows)?
    };
    let classes = model.signature().classes.clone();
    let probabilities = prediction.probabilities.as_ref().and_then(|p| {
        let k = classes.len();
        (k > 0).then(|| {
            p.chunks_exact(k)
                .map(|r| r.iter().map(|&v| f64::from(v)).collect())
                .collect()
        })
    });
    Ok(PredictOutcome {
        model: name,
        version,
        rows,
        labels: prediction
            .labels
            .map(steward_runtime::PredictedLabels::into_strings),
        values_per_row: prediction.n_targets.max(1),
        values: prediction
            .values
            .map(|v| v.into_iter().map(f64::from).collect()),
        classes,
        probabilities,
    })
}
