//! Datasets as a user handles them: register a CSV file (content-addressed, with its schema and profile),
//! look one up, and validate new data against a registered dataset or a model's training data.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use steward_ml::dataset::{Dataset, Profile, RoleOverrides, Schema};
use steward_ml::quality::{self, QualityReport, Reference};
use steward_store::NewDataset;

use crate::{ServiceError, ServiceResult, Steward, VersionRef};

pub const DATASET_METADATA_FORMAT: &str = "steward-dataset/1";

/// What a dataset row's `schema` column holds: the typed schema with roles, and the profile that later serves as
/// the reference for validation and drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetMetadata {
    pub format: String,
    pub schema: Schema,
    pub profile: Profile,
    pub file_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisteredDataset {
    pub dataset: steward_store::Dataset,
    pub metadata: DatasetMetadata,
}

/// Reads and types a CSV file off the async runtime.
pub async fn load_csv(path: &Path, roles: &RoleOverrides) -> ServiceResult<Dataset> {
    let (path, roles) = (path.to_path_buf(), roles.clone());
    tokio::task::spawn_blocking(move || Dataset::read_csv(&path, &roles))
        .await
        .map_err(|e| ServiceError::InvalidInput(format!("loading data failed: {e}")))?
        .map_err(ServiceError::from)
}

impl Steward {
    /// Registers a CSV file as a dataset version: the bytes go to the artifact store under their hash (which is
    /// the dataset's content hash), the schema and profile to the metadata store. The same content under the
    /// same name gives back the existing version.
    pub async fn register_dataset(
        &self,
        path: &Path,
        name: &str,
        roles: &RoleOverrides,
    ) -> ServiceResult<RegisteredDataset> {
        steward_store::names::validate_name("dataset", name)?;
        let data = load_csv(path, roles).await?;
        self.register_loaded_dataset(&data, path, name).await
    }

    /// Registers data already loaded from `path` (its bytes are stored as they are on disk).
    pub async fn register_loaded_dataset(
        &self,
        data: &Dataset,
        path: &Path,
        name: &str,
    ) -> ServiceResult<RegisteredDataset> {
        steward_store::names::validate_name("dataset", name)?;
        let bytes = tokio::fs::read(path).await.map_err(|e| {
            ServiceError::InvalidInput(format!("cannot read {}: {e}", path.display()))
        })?;
        let blob = self.artifacts.put_bytes(Bytes::from(bytes)).await?;
        if blob.hash != data.content_hash {
            return Err(ServiceError::InvalidInput(format!(
                "{} changed while it was being registered; try again",
                path.display()
            )));
        }
        let metadata = DatasetMetadata {
            format: DATASET_METADATA_FORMAT.to_string(),
            schema: data.schema.clone(),
            profile: data.profile(),
            file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
        };
        let dataset = self
            .store
            .register_dataset(
                &NewDataset {
                    name: name.to_string(),
                    content_hash: data.content_hash.clone(),
                    schema: serde_json::to_value(&metadata)
                        .map_err(|e| ServiceError::InvalidInput(e.to_string()))?,
                    row_count: Some(data.n_rows as i64),
                },
                &self.audit(),
            )
            .await?;
        // An existing version keeps the metadata it was registered with.
        let metadata = dataset_metadata(&dataset)?;
        Ok(RegisteredDataset { dataset, metadata })
    }

    /// `NAME` (latest) or `NAME/VERSION`.
    pub async fn get_dataset(&self, reference: &str) -> ServiceResult<RegisteredDataset> {
        let (name, version) = parse_dataset_ref(reference)?;
        let dataset = self.store.get_dataset(&name, version).await?;
        let metadata = dataset_metadata(&dataset)?;
        Ok(RegisteredDataset { dataset, metadata })
    }

    /// The reference that `--against` names: `MODEL@ALIAS` or `MODEL/VERSION` is the data a model was trained
    /// on; `NAME` or `NAME/VERSION` is a registered dataset (tried first), else a model's latest version.
    pub async fn reference(&self, against: &str) -> ServiceResult<(String, Reference)> {
        if !against.contains('@') {
            match self.get_dataset(against).await {
                Ok(registered) => {
                    return Ok((
                        format!(
                            "dataset {}/{}",
                            registered.dataset.name, registered.dataset.version
                        ),
                        Reference {
                            schema: registered.metadata.schema,
                            profile: registered.metadata.profile,
                        },
                    ));
                }
                Err(ServiceError::Store(steward_store::StoreError::NotFound { .. })) => {}
                Err(other) => return Err(other),
            }
        }
        let version = self.resolve(&VersionRef::parse(against)?).await.map_err(|e| match e {
            ServiceError::Store(steward_store::StoreError::NotFound { .. }) => {
                ServiceError::InvalidInput(format!(
                    "'{against}' is neither a registered dataset nor a model version; see `steward data list` and `steward models list`"
                ))
            }
            other => other,
        })?;
        let model = self.load_model(&version).await?;
        Ok((
            format!("model {}/{} training data", version.model, version.version),
            model.reference.clone(),
        ))
    }

    /// Loads `path` (with the roles of the reference when it has a target) and checks its quality.
    pub async fn validate(
        &self,
        path: &Path,
        against: Option<&str>,
        roles: &RoleOverrides,
    ) -> ServiceResult<Validation> {
        let reference = match against {
            Some(against) => Some(self.reference(against).await?),
            None => None,
        };
        let mut roles = roles.clone();
        if roles.target.is_none()
            && let Some((_, reference)) = &reference
            && let Some(target) = reference.schema.target()
        {
            let header = read_header(path)?;
            if header.iter().any(|h| h == &target.name) {
                roles.target = Some(target.name.clone());
            }
        }
        let data = load_csv(path, &roles).await?;
        let report = quality::check(&data, reference.as_ref().map(|(_, r)| r));
        Ok(Validation {
            file: path.to_path_buf(),
            rows: data.n_rows,
            against: reference.map(|(label, _)| label),
            report,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub file: PathBuf,
    pub rows: usize,
    pub against: Option<String>,
    pub report: QualityReport,
}

fn read_header(path: &Path) -> ServiceResult<Vec<String>> {
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| ServiceError::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
    Ok(reader
        .headers()
        .map_err(|e| ServiceError::InvalidInput(format!("{}: {e}", path.display())))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect())
}

pub fn dataset_metadata(dataset: &steward_store::Dataset) -> ServiceResult<DatasetMetadata> {
    serde_json::from_value(dataset.schema.clone()).map_err(|e| {
        ServiceError::InvalidInput(format!(
            "dataset {}/{} has no Steward schema ({e}); register it with `steward data register`",
            dataset.name, dataset.version
        ))
    })
}

pub fn parse_dataset_ref(reference: &str) -> ServiceResult<(String, Option<i64>)> {
    match reference.split_once('/') {
        Some((name, version)) => {
            let version = version.parse::<i64>().map_err(|_| {
                ServiceError::InvalidInput(format!(
                    "'{reference}' is not a dataset reference; use NAME or NAME/VERSION"
                ))
            })?;
            Ok((name.to_string(), Some(version)))
        }
        None => Ok((reference.to_string(), None)),
    }
}
