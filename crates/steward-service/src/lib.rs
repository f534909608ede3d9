//! The operations a Steward user thinks in. The CLI and (later) the server call these; neither holds life-cycle
//! logic of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use steward_artifacts::{ArtifactError, ArtifactStore, PackageRef, blob_uri};
use steward_store::{
    Audit, DatasetRef, Filter, MetricValues, ModelVersion, NewModelVersion, PageRequest, Store,
    StoreError, Tags,
};
use thiserror::Error;

pub mod data;
pub mod deploy;
pub mod export;
pub mod model;
pub mod onnx;
pub mod predict;

/// The file inside a package that, when present, holds the model's signature as JSON.
pub const SIGNATURE_FILE: &str = "signature.json";
/// The name a single `.onnx` file gets inside its package.
pub const MODEL_FILE: &str = "model.onnx";

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Ml(#[from] steward_ml::MlError),
    #[error(transparent)]
    Runtime(#[from] steward_runtime::RuntimeError),
    #[error("{0}")]
    InvalidInput(String),
}

impl ServiceError {
    pub fn is_user_error(&self) -> bool {
        match self {
            ServiceError::Store(e) => e.is_user_error(),
            ServiceError::Artifact(
                ArtifactError::InvalidPackage(_)
                | ArtifactError::InvalidHash(_)
                | ArtifactError::UnsupportedUri(_),
            ) => true,
            ServiceError::Artifact(_) => false,
            ServiceError::Ml(_) | ServiceError::Runtime(_) | ServiceError::InvalidInput(_) => true,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Store(e) => e.code(),
            ServiceError::Artifact(ArtifactError::Corrupted { .. }) => "artifact_corrupted",
            ServiceError::Artifact(ArtifactError::Missing { .. }) => "artifact_missing",
            ServiceError::Artifact(ArtifactError::InvalidPackage(_)) => "invalid_package",
            ServiceError::Artifact(_) => "artifact_failure",
            ServiceError::Ml(steward_ml::MlError::InvalidParam(_)) => "invalid_param",
            ServiceError::Ml(_) => "invalid_data",
            ServiceError::Runtime(steward_runtime::RuntimeError::Unsupported(_)) => {
                "unsupported_model"
            }
            ServiceError::Runtime(steward_runtime::RuntimeError::InvalidModel(_)) => {
                "invalid_model"
            }
            ServiceError::Runtime(steward_runtime::RuntimeError::InvalidInput(_)) => {
                "invalid_input"
            }
            ServiceError::InvalidInput(_) => "invalid_input",
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Where Steward keeps its data. Defaults: `STEWARD_HOME` = `./.steward`, metadata in `steward.db` there (SQLite),
/// artifacts in `artifacts/` there.
#[derive(Debug, Clone)]
pub struct Config {
    pub home: PathBuf,
    pub store_uri: Option<String>,
    pub artifacts_uri: Option<String>,
    pub actor: String,
}

impl Config {
    pub fn store_uri(&self) -> String {
        self.store_uri
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.home.join("steward.db").display()))
    }

    pub fn artifacts_uri(&self) -> String {
        self.artifacts_uri
            .clone()
            .unwrap_or_else(|| self.home.join("artifacts").display().to_string())
    }
}

/// Who is acting: `STEWARD_ACTOR`, else the login name, else "unknown".
pub fn default_actor() -> String {
    ["STEWARD_ACTOR", "USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

pub struct Steward {
    pub store: Arc<dyn Store>,
    pub artifacts: ArtifactStore,
    pub actor: String,
}

/// How a user names a model version: `name/3`, `name@alias`, or `name` (its latest version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    Number(String, i64),
    Alias(String, String),
    Latest(String),
}

impl VersionRef {
    pub fn parse(text: &str) -> ServiceResult<Self> {
        if let Some((model, alias)) = text.split_once('@') {
            return Ok(VersionRef::Alias(model.to_string(), alias.to_string()));
        }
        if let Some((model, number)) = text.split_once('/') {
            let number = number.parse::<i64>().map_err(|_| {
                ServiceError::InvalidInput(format!(
                    "'{text}' is not a version reference; use MODEL/VERSION (e.g. iris/3), MODEL@ALIAS or MODEL"
                ))
            })?;
            return Ok(VersionRef::Number(model.to_string(), number));
        }
        Ok(VersionRef::Latest(text.to_string()))
    }

    pub fn model(&self) -> &str {
        match self {
            VersionRef::Number(model, _)
            | VersionRef::Alias(model, _)
            | VersionRef::Latest(model) => model,
        }
    }
}

/// A request to register a model version from a file or folder.
#[derive(Debug, Clone, Default)]
pub struct RegisterRequest {
    pub model: String,
    pub source: PathBuf,
    pub description: Option<String>,
    pub tags: Tags,
    pub metrics: MetricValues,
    pub parent_version: Option<i64>,
    pub source_run: Option<String>,
    pub dataset: Option<DatasetRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub version: ModelVersion,
    pub package: PackageRef,
    pub model_created: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorProblem {
    pub model: String,
    pub version: i64,
    pub problem: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub store: String,
    pub artifacts: String,
    pub schema_version: i64,
    pub models: usize,
    pub versions_checked: usize,
    pub bytes_verified: u64,
    pub problems: Vec<DoctorProblem>,
}

impl DoctorReport {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Steward {
    pub async fn open(config: &Config) -> ServiceResult<Self> {
        let store = steward_store::open(&config.store_uri()).await?;
        let artifacts = ArtifactStore::open(&config.artifacts_uri())?;
        Ok(Steward {
            store,
            artifacts,
            actor: config.actor.clone(),
        })
    }

    pub fn audit(&self) -> Audit {
        Audit::new(self.actor.clone())
    }

    pub async fn resolve(&self, reference: &VersionRef) -> ServiceResult<ModelVersion> {
        Ok(match reference {
            VersionRef::Number(model, number) => {
                self.store.get_model_version(model, *number).await?
            }
            VersionRef::Alias(model, alias) => self.store.resolve_alias(model, alias).await?,
            VersionRef::Latest(model) => {
                let latest = self.store.get_model(model).await?.latest_version.ok_or_else(|| {
                    ServiceError::InvalidInput(format!(
                        "model '{model}' has no versions yet; register one with `steward versions register {model} FILE`"
                    ))
                })?;
                self.store.get_model_version(model, latest).await?
            }
        })
    }

    /// Stores the artifacts first, then the metadata in one transaction: a crash at any point leaves either the
    /// whole version or no version (at worst some unreferenced blobs).
    pub async fn register_version(&self, request: &RegisterRequest) -> ServiceResult<Registered> {
        steward_store::names::validate_name("model", &request.model)?;
        // The graph is checked before anything is stored: a model that cannot run is refused, naming why.
        let onnx = onnx::check_source(&request.source).await?;
        let package = self.store_package(&request.source).await?;
        let signature = match package.manifest.file(SIGNATURE_FILE) {
            Some(_) => {
                let bytes = self
                    .artifacts
                    .read_package_file(&package.manifest_hash, SIGNATURE_FILE)
                    .await?;
                Some(serde_json::from_slice(&bytes).map_err(|e| {
                    ServiceError::InvalidInput(format!(
                        "{SIGNATURE_FILE} in {} is not valid JSON: {e}",
                        request.source.display()
                    ))
                })?)
            }
            None => onnx.map(|checked| checked.signature_json()),
        };
        self.register_package(request, package, signature).await
    }

    /// Creates a version (and its model, if missing) for a package already in the artifact store.
    pub(crate) async fn register_package(
        &self,
        request: &RegisterRequest,
        package: PackageRef,
        signature: Option<serde_json::Value>,
    ) -> ServiceResult<Registered> {
        let model_created = match self
            .store
            .create_model(&request.model, None, &Tags::new(), &self.audit())
            .await
        {
            Ok(_) => true,
            Err(StoreError::AlreadyExists { .. }) => false,
            Err(other) => return Err(other.into()),
        };
        let version = self
            .store
            .create_model_version(
                &NewModelVersion {
                    model: request.model.clone(),
                    artifact_uri: blob_uri(&package.manifest_hash),
                    artifact_hash: package.manifest_hash.clone(),
                    signature,
                    metrics: request.metrics.clone(),
                    source_run: request.source_run.clone(),
                    dataset: request.dataset.clone(),
                    parent_version: request.parent_version,
                    description: request.description.clone(),
                    tags: request.tags.clone(),
                },
                &self.audit(),
            )
            .await?;
        Ok(Registered {
            version,
            package,
            model_created,
        })
    }

    async fn store_package(&self, source: &Path) -> ServiceResult<PackageRef> {
        let meta = std::fs::metadata(source).map_err(|e| {
            ServiceError::InvalidInput(format!(
                "cannot read {}: {e}; pass an .onnx file or a package folder",
                source.display()
            ))
        })?;
        if meta.is_dir() {
            let package = self.artifacts.put_package_dir(source).await?;
            let has_model = package
                .manifest
                .files
                .iter()
                .any(|f| f.path.ends_with(".onnx") || f.path == model::NATIVE_MODEL_FILE);
            if !has_model {
                return Err(ServiceError::InvalidInput(format!(
                    "package folder {} holds no .onnx file (nor a {} trained by Steward)",
                    source.display(),
                    model::NATIVE_MODEL_FILE
                )));
            }
            return Ok(package);
        }
        let is_onnx = source
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("onnx"));
        if !is_onnx {
            return Err(ServiceError::InvalidInput(format!(
                "{} is not an .onnx file; pass an .onnx file or a package folder",
                source.display()
            )));
        }
        if meta.len() == 0 {
            return Err(ServiceError::InvalidInput(format!(
                "{} is empty; an ONNX model cannot be",
                source.display()
            )));
        }
        Ok(self
            .artifacts
            .put_file_as_package(source, MODEL_FILE)
            .await?)
    }

    /// Checks that every version's artifacts exist and still match their hashes.
    pub async fn doctor(&self) -> ServiceResult<DoctorReport> {
        let mut report = DoctorReport {
            store: self.store.location(),
            artifacts: self.artifacts.location().to_string(),
            schema_version: self.store.schema_version().await?,
            models: 0,
            versions_checked: 0,
            bytes_verified: 0,
            problems: Vec::new(),
        };
        let mut model_page = PageRequest::first(500);
        loop {
            let models = self.store.list_models(&Filter::all(), &model_page).await?;
            for model in &models.items {
                report.models += 1;
                let mut version_page = PageRequest::first(500);
                loop {
                    let versions = self
                        .store
                        .list_model_versions(&model.name, &Filter::all(), &version_page)
                        .await?;
                    for version in &versions.items {
                        report.versions_checked += 1;
                        self.check_version(version, &mut report).await;
                    }
                    match versions.next_page_token {
                        Some(token) => version_page.page_token = Some(token),
                        None => break,
                    }
                }
                // Versions are numbered without gaps: a missing number means a lost row.
                if let Some(latest) = model.latest_version {
                    let listed = self.count_versions(&model.name).await?;
                    if listed as i64 != latest {
                        report.problems.push(DoctorProblem {
                            model: model.name.clone(),
                            version: latest,
                            problem: format!(
                                "the version counter is at {latest} but {listed} versions exist"
                            ),
                        });
                    }
                }
            }
            match models.next_page_token {
                Some(token) => model_page.page_token = Some(token),
                None => break,
            }
        }
        Ok(report)
    }

    async fn count_versions(&self, model: &str) -> ServiceResult<usize> {
        let mut count = 0;
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let versions = self
                .store
                .list_model_versions(model, &Filter::all(), &page)
                .await?;
            count += versions.items.len();
            match versions.next_page_token {
                Some(token) => page.page_token = Some(token),
                None => return Ok(count),
            }
        }
    }

    async fn check_version(&self, version: &ModelVersion, report: &mut DoctorReport) {
        let problem = |text: String| DoctorProblem {
            model: version.model.clone(),
            version: version.version,
            problem: text,
        };
        if version.artifact_uri != blob_uri(&version.artifact_hash) {
            report.problems.push(problem(format!(
                "artifact URI {} does not match hash {}",
                version.artifact_uri, version.artifact_hash
            )));
            return;
        }
        match self.artifacts.verify_package(&version.artifact_hash).await {
            Ok(manifest) => report.bytes_verified += manifest.total_size(),
            Err(error) => report.problems.push(problem(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_references() {
        assert_eq!(
            VersionRef::parse("iris/3").unwrap(),
            VersionRef::Number("iris".into(), 3)
        );
        assert_eq!(
            VersionRef::parse("iris@production").unwrap(),
            VersionRef::Alias("iris".into(), "production".into())
        );
        assert_eq!(
            VersionRef::parse("iris").unwrap(),
            VersionRef::Latest("iris".into())
        );
        assert!(VersionRef::parse("iris/three").is_err());
    }

    const IRIS_ONNX: &[u8] = include_bytes!("../../../fixtures/models/iris_logreg.onnx");

    async fn steward(dir: &Path) -> Steward {
        Steward::open(&Config {
            home: dir.to_path_buf(),
            store_uri: None,
            artifacts_uri: None,
            actor: "tester".into(),
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn register_resolve_and_doctor() {
        let dir = tempfile::tempdir().unwrap();
        let steward = steward(dir.path()).await;
        let onnx = dir.path().join("m.onnx");
        std::fs::write(&onnx, IRIS_ONNX).unwrap();
        let first = steward
            .register_version(&RegisterRequest {
                model: "iris".into(),
                source: onnx.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(first.model_created);
        assert_eq!(first.version.version, 1);
        assert_eq!(first.package.manifest.files[0].path, MODEL_FILE);

        let folder = dir.path().join("pkg");
        std::fs::create_dir_all(&folder).unwrap();
        // Another model than version 1's (an unknown protobuf field appended, which readers skip), so the two
        // versions share no blob.
        let mut other = IRIS_ONNX.to_vec();
        other.extend_from_slice(&[0xA0, 0x06, 0x01]);
        std::fs::write(folder.join("model.onnx"), other).unwrap();
        std::fs::write(folder.join(SIGNATURE_FILE), br#"{"inputs": ["x"]}"#).unwrap();
        let second = steward
            .register_version(&RegisterRequest {
                model: "iris".into(),
                source: folder,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(!second.model_created);
        assert_eq!(
            second.version.signature,
            Some(serde_json::json!({"inputs": ["x"]}))
        );

        let latest = steward
            .resolve(&VersionRef::parse("iris").unwrap())
            .await
            .unwrap();
        assert_eq!(latest.version, 2);
        let report = steward.doctor().await.unwrap();
        assert!(report.healthy(), "{:?}", report.problems);
        assert_eq!(report.versions_checked, 2);

        // Corrupt version 1's model file: doctor names the version and the object.
        let entry = &first.package.manifest.files[0];
        let blob = dir
            .path()
            .join("artifacts")
            .join(steward_artifacts::blob_key(&entry.sha256));
        std::fs::write(&blob, b"garbage").unwrap();
        let report = steward.doctor().await.unwrap();
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].version, 1);
        assert!(report.problems[0].problem.contains(&entry.sha256));
    }

    #[tokio::test]
    async fn bad_sources_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let steward = steward(dir.path()).await;
        let text = dir.path().join("model.txt");
        std::fs::write(&text, b"x").unwrap();
        let empty = dir.path().join("empty.onnx");
        std::fs::write(&empty, b"").unwrap();
        let no_onnx = dir.path().join("folder");
        std::fs::create_dir_all(&no_onnx).unwrap();
        std::fs::write(no_onnx.join("README"), b"x").unwrap();
        for (model, source) in [
            ("iris", dir.path().join("missing.onnx")),
            ("iris", text),
            ("iris", empty),
            ("iris", no_onnx),
            ("bad name", dir.path().join("m.onnx")),
        ] {
            let result = steward
                .register_version(&RegisterRequest {
                    model: model.into(),
                    source,
                    ..Default::default()
                })
                .await;
            let error = result.unwrap_err();
            assert!(error.is_user_error(), "{error}");
        }
        assert!(
            steward.store.get_model("iris").await.is_err(),
            "a failed registration created the model"
        );
    }
}
