//! Training, evaluating and loading models trained by Steward.
//!
//! A trained model is stored as a package: `model.steward.json` (the native model: preprocessing, estimator,
//! class labels, training reference), `signature.json`, and `training.json` (quality checks, holdout metrics,
//! cross-validation, feature importance). ONNX export replaces the native file as the primary format in the
//! runtime issue; the native file then stays as a cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use steward_artifacts::PackageRef;
use steward_ml::dataset::{Dataset, RoleOverrides};
use steward_ml::quality::QualityReport;
use steward_ml::train::{
    CrossValidation, Evaluation, MODEL_FORMAT, TrainReport, TrainSpec, TrainedModel,
};
use steward_store::{
    Audit, DatasetRef, Metric, MetricValues, ModelVersion, NewRun, Run, RunStatus, StoreError, Tags,
};

use crate::data::{RegisteredDataset, load_csv};
use crate::{RegisterRequest, Registered, ServiceError, ServiceResult, Steward};

pub const NATIVE_MODEL_FILE: &str = "model.steward.json";
pub const TRAINING_REPORT_FILE: &str = "training.json";
pub const DEFAULT_EXPERIMENT: &str = "default";

/// Progress of a long fit: (done, total) trees or boosting rounds.
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub data: PathBuf,
    pub roles: RoleOverrides,
    pub spec: TrainSpec,
    pub experiment: String,
    pub run_name: Option<String>,
    /// Register the trained model as a new version of this model.
    pub register: Option<String>,
    /// The name the training data is registered under (default: the file's stem).
    pub dataset_name: Option<String>,
}

/// What `training.json` holds and `steward train --json` prints (the model itself is in the package). Nothing
/// here depends on the clock, so it is the same for the same data and seed.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingSummary {
    pub algorithm: String,
    pub task: String,
    pub params: std::collections::BTreeMap<String, String>,
    pub seed: u64,
    pub classes: Vec<String>,
    pub rows_train: usize,
    pub rows_test: usize,
    pub quality: QualityReport,
    pub holdout: Option<Evaluation>,
    pub cross_validation: Option<CrossValidation>,
    pub feature_importance: Vec<(String, f64)>,
    pub permutation_importance: Vec<steward_ml::train::PermutationImportance>,
    /// `model.onnx` in the package, or why not.
    pub onnx: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    pub run: Run,
    pub dataset: steward_store::Dataset,
    pub package: PackageRef,
    pub version: Option<ModelVersion>,
    pub summary: TrainingSummary,
    /// Wall time of the final fit. Kept out of the package (a run metric instead), so that the same data and
    /// seed give the same package hash.
    pub fit_seconds: f64,
}

fn summary(
    report: &TrainReport,
    onnx: &Result<Vec<u8>, crate::export::NotExportable>,
) -> TrainingSummary {
    TrainingSummary {
        algorithm: report.model.algorithm.name().to_string(),
        task: format!("{:?}", report.model.task).to_lowercase(),
        params: report.model.params.clone(),
        seed: report.model.seed,
        classes: report.model.classes.clone(),
        rows_train: report.rows_train,
        rows_test: report.rows_test,
        quality: report.quality.clone(),
        holdout: report.holdout.clone(),
        cross_validation: report.cross_validation.clone(),
        feature_importance: report.feature_importance.clone(),
        permutation_importance: report.permutation_importance.clone(),
        onnx: match onnx {
            Ok(_) => format!("exported as {}", crate::MODEL_FILE),
            Err(crate::export::NotExportable(reason)) => format!("not exported: {reason}"),
        },
    }
}

fn to_json(value: &impl Serialize) -> ServiceResult<Bytes> {
    serde_json::to_vec_pretty(value)
        .map(Bytes::from)
        .map_err(|e| ServiceError::InvalidInput(format!("cannot serialise: {e}")))
}

/// A dataset name from a file name: the stem, with characters outside the name charset replaced by '-'.
fn dataset_name_for(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches(['-', '_', '.']);
    if trimmed.is_empty() {
        "data".to_string()
    } else {
        trimmed.chars().take(128).collect()
    }
}

/// The run tag naming the package a training stored.
pub const MODEL_HASH_TAG: &str = "steward.model_hash";

impl Steward {
    /// The data-quality checks a training run ran, read from the `training.json` of the package it stored;
    /// `None` for a run that trained nothing here (one logged through the tracking API).
    pub async fn run_quality(&self, run: &Run) -> ServiceResult<Option<QualityReport>> {
        #[derive(serde::Deserialize)]
        struct Recorded {
            quality: QualityReport,
        }
        let Some(hash) = run.tags.get(MODEL_HASH_TAG) else {
            return Ok(None);
        };
        let bytes = self
            .artifacts
            .read_package_file(hash, TRAINING_REPORT_FILE)
            .await?;
        let recorded: Recorded = serde_json::from_slice(&bytes).map_err(|e| {
            ServiceError::InvalidInput(format!(
                "run {}: {TRAINING_REPORT_FILE} of package {hash} is not a training report: {e}",
                run.id
            ))
        })?;
        Ok(Some(recorded.quality))
    }

    /// Reads a version's native model, verified against its hash.
    pub async fn load_model(&self, version: &ModelVersion) -> ServiceResult<TrainedModel> {
        let manifest = self.artifacts.read_manifest(&version.artifact_hash).await?;
        if manifest.file(NATIVE_MODEL_FILE).is_none() {
            return Err(ServiceError::InvalidInput(format!(
                "{}/{} is an ONNX model from elsewhere; evaluating it needs Steward's ONNX runtime, which is not built yet",
                version.model, version.version
            )));
        }
        let bytes = self
            .artifacts
            .read_package_file(&version.artifact_hash, NATIVE_MODEL_FILE)
            .await?;
        let model: TrainedModel = serde_json::from_slice(&bytes).map_err(|e| {
            ServiceError::InvalidInput(format!(
                "{}/{}: {NATIVE_MODEL_FILE} is not a model this Steward can read: {e}",
                version.model, version.version
            ))
        })?;
        if model.format != MODEL_FORMAT {
            return Err(ServiceError::InvalidInput(format!(
                "{}/{} has model format '{}'; this Steward reads '{MODEL_FORMAT}'",
                version.model, version.version, model.format
            )));
        }
        Ok(model)
    }

    /// Trains, then records: nothing is written unless training succeeds, so bad input never leaves a
    /// half-recorded run. Once the run exists, a later failure marks it FAILED.
    pub async fn train(
        &self,
        request: &TrainRequest,
        progress: Progress,
    ) -> ServiceResult<TrainOutcome> {
        steward_store::names::validate_name("experiment", &request.experiment)?;
        if let Some(model) = &request.register {
            steward_store::names::validate_name("model", model)?;
        }
        if request.roles.target.is_none() {
            return Err(ServiceError::InvalidInput(
                "training needs a target: pass --target COLUMN".into(),
            ));
        }
        let dataset_name = request
            .dataset_name
            .clone()
            .unwrap_or_else(|| dataset_name_for(&request.data));
        steward_store::names::validate_name("dataset", &dataset_name)?;

        let data = Arc::new(load_csv(&request.data, &request.roles).await?);
        let (training_data, spec) = (data.clone(), request.spec.clone());
        let report = tokio::task::spawn_blocking(move || {
            steward_ml::train::train(&training_data, &spec, &*progress)
        })
        .await
        .map_err(|e| ServiceError::InvalidInput(format!("training failed: {e}")))??;

        let registered = self
            .register_loaded_dataset(&data, &request.data, &dataset_name)
            .await?;
        let run = self.start_run(request, &report).await?;
        match self.record_run(request, &report, &registered, run).await {
            Ok(outcome) => Ok(outcome),
            Err((run_id, error)) => {
                let _ = self
                    .store
                    .set_run_status(
                        &run_id,
                        RunStatus::Failed,
                        &Audit::new(self.actor.clone()).with_reason(error.to_string()),
                    )
                    .await;
                Err(error)
            }
        }
    }

    async fn start_run(&self, request: &TrainRequest, report: &TrainReport) -> ServiceResult<Run> {
        let experiment = match self.store.get_experiment(&request.experiment).await {
            Ok(experiment) => experiment,
            Err(StoreError::NotFound { .. }) => {
                match self
                    .store
                    .create_experiment(&request.experiment, None, &self.audit())
                    .await
                {
                    Ok(experiment) => experiment,
                    // Another process created it in between.
                    Err(StoreError::AlreadyExists { .. }) => {
                        self.store.get_experiment(&request.experiment).await?
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            Err(other) => return Err(other.into()),
        };
        let mut params: Tags = report.model.params.clone().into_iter().collect();
        params.insert("algorithm".into(), report.model.algorithm.name().into());
        params.insert("seed".into(), request.spec.seed.to_string());
        params.insert("test_size".into(), request.spec.test_size.to_string());
        params.insert("target".into(), report.model.target.clone());
        params.insert(
            "task".into(),
            format!("{:?}", report.model.task).to_lowercase(),
        );
        if let Some(folds) = request.spec.cv_folds {
            params.insert("cv".into(), folds.to_string());
        }
        Ok(self
            .store
            .create_run(
                &NewRun {
                    experiment_id: experiment.id,
                    name: request.run_name.clone(),
                    params,
                    tags: Tags::new(),
                },
                &self.audit(),
            )
            .await?)
    }

    async fn record_run(
        &self,
        request: &TrainRequest,
        report: &TrainReport,
        registered: &RegisteredDataset,
        run: Run,
    ) -> Result<TrainOutcome, (String, ServiceError)> {
        let run_id = run.id.clone();
        let fail = |e: ServiceError| (run_id.clone(), e);
        let dataset_ref = DatasetRef {
            name: registered.dataset.name.clone(),
            version: registered.dataset.version,
        };
        self.store
            .log_inputs(&run.id, std::slice::from_ref(&dataset_ref))
            .await
            .map_err(|e| fail(e.into()))?;

        let mut metrics: MetricValues = report
            .holdout
            .as_ref()
            .map(Evaluation::headline)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .collect();
        if let Some(cv) = &report.cross_validation {
            metrics.insert(format!("cv_{}_mean", cv.metric), cv.mean);
            metrics.insert(format!("cv_{}_std", cv.metric), cv.std);
        }
        metrics.insert("fit_seconds".into(), report.fit_seconds);
        metrics.insert("rows_train".into(), report.rows_train as f64);
        metrics.insert("rows_test".into(), report.rows_test as f64);
        let now = steward_store::now_millis();
        let logged: Vec<Metric> = metrics
            .iter()
            .map(|(key, value)| Metric {
                key: key.clone(),
                value: *value,
                step: 0,
                timestamp: now,
            })
            .collect();
        self.store
            .log_metrics(&run.id, &logged)
            .await
            .map_err(|e| fail(e.into()))?;

        // The same model as an ONNX graph, for any ONNX runtime; models it cannot express yet keep only the
        // native file, and the summary says why.
        let onnx = crate::export::export_onnx(&report.model);
        let summary = summary(report, &onnx);
        let signature = report.model.signature();
        let mut files = vec![
            (
                NATIVE_MODEL_FILE.to_string(),
                to_json(&report.model).map_err(fail)?,
            ),
            (
                crate::SIGNATURE_FILE.to_string(),
                to_json(&signature).map_err(fail)?,
            ),
            (
                TRAINING_REPORT_FILE.to_string(),
                to_json(&summary).map_err(fail)?,
            ),
        ];
        if let Ok(onnx) = onnx {
            files.push((crate::MODEL_FILE.to_string(), Bytes::from(onnx)));
        }
        let package = self
            .artifacts
            .put_package_files(files)
            .await
            .map_err(|e| fail(e.into()))?;

        let findings = report.quality.checks.iter().filter(|c| !c.passed).count();
        let tags: Tags = [
            (MODEL_HASH_TAG.to_string(), package.manifest_hash.clone()),
            ("steward.quality_findings".to_string(), findings.to_string()),
            (
                "steward.dataset".to_string(),
                format!("{}/{}", dataset_ref.name, dataset_ref.version),
            ),
        ]
        .into();
        self.store
            .set_run_tags(&run.id, &tags)
            .await
            .map_err(|e| fail(e.into()))?;

        let version = match &request.register {
            None => None,
            Some(model) => {
                let Registered { version, .. } = self
                    .register_package(
                        &RegisterRequest {
                            model: model.clone(),
                            source: request.data.clone(),
                            description: Some(format!(
                                "{} trained on {}/{}",
                                report.model.algorithm.name(),
                                dataset_ref.name,
                                dataset_ref.version
                            )),
                            tags: [(
                                "algorithm".to_string(),
                                report.model.algorithm.name().to_string(),
                            )]
                            .into(),
                            metrics: metrics
                                .iter()
                                .filter(|(k, _)| !k.starts_with("rows_"))
                                .map(|(k, v)| (k.clone(), *v))
                                .collect(),
                            parent_version: None,
                            source_run: Some(run.id.clone()),
                            dataset: Some(dataset_ref.clone()),
                        },
                        package.clone(),
                        Some(signature),
                    )
                    .await
                    .map_err(fail)?;
                Some(version)
            }
        };
        let run = self
            .store
            .set_run_status(&run.id, RunStatus::Finished, &self.audit())
            .await
            .map_err(|e| fail(e.into()))?;
        Ok(TrainOutcome {
            run,
            dataset: registered.dataset.clone(),
            package,
            version,
            summary,
            fit_seconds: report.fit_seconds,
        })
    }

    /// Evaluates a version on a CSV file that has the model's target column. Models trained by Steward know
    /// their target; an imported ONNX model needs `target` named (its other columns are its inputs, in order).
    /// `positive_class` picks the class a binary classifier's precision, recall and F1 are about (default:
    /// the one it was trained with, else the second class).
    pub async fn evaluate(
        &self,
        version: &ModelVersion,
        data: &Path,
        target: Option<&str>,
        positive_class: Option<&str>,
    ) -> ServiceResult<Evaluation> {
        let positive_class = positive_class.map(str::to_string);
        match self.load_predictor(version).await? {
            crate::predict::Predictor::Native(model) => {
                if let Some(target) = target
                    && target != model.target
                {
                    return Err(ServiceError::InvalidInput(format!(
                        "{}/{} was trained on target '{}', not '{target}'",
                        version.model, version.version, model.target
                    )));
                }
                let roles = RoleOverrides {
                    target: Some(model.target.clone()),
                    ..Default::default()
                };
                let data: Dataset = load_csv(data, &roles).await.map_err(|e| match e {
                    ServiceError::Ml(steward_ml::MlError::InvalidData(message))
                        if message.contains("no column named") =>
                    {
                        ServiceError::InvalidInput(format!(
                            "{message}; evaluation needs the model's target column '{}'",
                            model.target
                        ))
                    }
                    other => other,
                })?;
                let evaluation = tokio::task::spawn_blocking(move || {
                    model.evaluate_for_positive(&data, positive_class.as_deref())
                })
                .await
                .map_err(|e| ServiceError::InvalidInput(format!("evaluation failed: {e}")))??;
                Ok(evaluation)
            }
            crate::predict::Predictor::Onnx(onnx) => {
                let target = target.ok_or_else(|| {
                    ServiceError::InvalidInput(format!(
                        "{}/{} is an ONNX model that does not name its target; pass --target COLUMN",
                        version.model, version.version
                    ))
                })?;
                let roles = RoleOverrides {
                    target: Some(target.to_string()),
                    ..Default::default()
                };
                let data = load_csv(data, &roles).await?;
                let target = target.to_string();
                tokio::task::spawn_blocking(move || {
                    evaluate_onnx(&onnx, &data, &target, positive_class.as_deref())
                })
                .await
                .map_err(|e| ServiceError::InvalidInput(format!("evaluation failed: {e}")))?
            }
        }
    }
}

/// Metrics of an ONNX model on data with the target column: its predictions against the truth, with the class
/// labels of its signature.
fn evaluate_onnx(
    model: &steward_runtime::Model,
    data: &Dataset,
    target: &str,
    positive_class: Option<&str>,
) -> ServiceResult<Evaluation> {
    // The target column carries the Target role, so the model's inputs leave it out.
    let outcome = crate::predict::predict_onnx(model, data, String::new(), 0)?;
    let classes = model.signature().classes.clone();
    if classes.is_empty() {
        let truth = steward_ml::preprocess::regression_target(data, target)?;
        let predicted = outcome
            .values
            .ok_or_else(|| ServiceError::InvalidInput("the model returned no values".into()))?;
        if predicted.len() != truth.len() {
            return Err(ServiceError::InvalidInput(format!(
                "the model returns {} values per row; evaluation takes single-target regressors",
                predicted.len() / truth.len().max(1)
            )));
        }
        return Ok(Evaluation::Regression(
            steward_ml::metrics::RegressionMetrics::compute(&truth, &predicted)?,
        ));
    }
    let encoder = steward_ml::preprocess::LabelEncoder {
        classes: classes.clone(),
    };
    let truth = encoder.encode(data, target)?;
    let labels = outcome
        .labels
        .ok_or_else(|| ServiceError::InvalidInput("the model returned no labels".into()))?;
    let predicted: Vec<usize> = labels
        .iter()
        .map(|l| classes.iter().position(|c| c == l).unwrap_or(0))
        .collect();
    let probabilities = outcome.probabilities.map(|rows| {
        let k = classes.len();
        steward_ml::Matrix::new(rows.len(), k, rows.into_iter().flatten().collect())
    });
    Ok(Evaluation::Classification(Box::new(
        steward_ml::metrics::ClassificationMetrics::compute_for_positive(
            &truth,
            &predicted,
            probabilities.as_ref(),
            &classes,
            positive_class,
        )?,
    )))
}

#[cfg(test)]
mod tests {
    use super::dataset_name_for;
    use std::path::Path;

    #[test]
    fn dataset_names_come_from_file_names() {
        assert_eq!(dataset_name_for(Path::new("/data/iris.csv")), "iris");
        assert_eq!(
            dataset_name_for(Path::new("my data (v2).csv")),
            "my-data--v2-"
        );
        assert_eq!(dataset_name_for(Path::new("_.csv")), "data");
    }
}
