//! The writing half of `/api/v1`: what the CLI creates and changes, over HTTP. Uploads (ONNX models, CSV data)
//! are the raw request body; they pass through a private temporary folder because the service reads files, and
//! the folder is removed when the request ends.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use steward_ml::dataset::{Role, RoleOverrides};
use steward_ml::estimator::Algorithm;
use steward_ml::train::TrainSpec;
use steward_service::deploy::DeployRequest;
use steward_service::model::{DEFAULT_EXPERIMENT, TrainRequest};
use steward_service::{RegisterRequest, ServiceError, VersionRef};
use steward_store::{
    Audit, Canary, DeploymentTarget, PageRequest, PredictionQuery, PredictionRole, Tags,
};

use crate::AppState;
use crate::api::api_error;

/// Uploads (models, datasets) may be this large.
pub const MAX_UPLOAD_BYTES: usize = 1 << 30;

/// The routes only this half serves; the others are chained onto the reading routes in `api::routes`.
pub fn routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/api/v1/train", post(train))
        .route("/api/v1/evaluate", post(evaluate).layer(upload_limit()))
        .route("/api/v1/validate", post(validate).layer(upload_limit()))
        .route("/api/v1/deployments", get(list_deployments))
        .route(
            "/api/v1/deployments/{name}",
            get(get_deployment)
                .put(put_deployment)
                .delete(delete_deployment),
        )
        .route("/api/v1/predictions", get(list_predictions))
        .route("/api/v1/doctor", get(doctor))
}

pub fn upload_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(MAX_UPLOAD_BYTES)
}

fn created(value: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

fn ok_json(result: Result<impl serde::Serialize, ServiceError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => api_error(&e),
    }
}

fn body<T>(body: Result<Json<T>, JsonRejection>, shape: &str) -> Result<T, ServiceError> {
    body.map(|Json(b)| b)
        .map_err(|e| ServiceError::InvalidInput(format!("the body must be {shape}: {e}")))
}

fn audit(s: &AppState, reason: Option<String>) -> Audit {
    Audit {
        actor: s.steward.actor.clone(),
        reason,
    }
}

/// An uploaded body saved as `file_name` in a fresh private folder, removed on drop.
struct Upload {
    dir: PathBuf,
    file: PathBuf,
}

impl Upload {
    async fn save(bytes: &[u8], file_name: &str) -> Result<Upload, ServiceError> {
        if bytes.is_empty() {
            return Err(ServiceError::InvalidInput(
                "the body is empty: send the file's bytes as the request body".into(),
            ));
        }
        let dir =
            std::env::temp_dir().join(format!("steward-upload-{}", uuid::Uuid::new_v4().simple()));
        let file = dir.join(file_name);
        let write = async {
            tokio::fs::create_dir(&dir).await?;
            tokio::fs::write(&file, bytes).await
        };
        write
            .await
            .map_err(|e| ServiceError::InvalidInput(format!("cannot keep the upload: {e}")))?;
        Ok(Upload { dir, file })
    }

    fn path(&self) -> &FsPath {
        &self.file
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Deserialize)]
pub struct NewExperiment {
    name: String,
    description: Option<String>,
}

pub async fn create_experiment(
    State(s): State<Arc<AppState>>,
    request: Result<Json<NewExperiment>, JsonRejection>,
) -> Response {
    let request = match body(request, r#"{"name": "...", "description": "..."}"#) {
        Ok(r) => r,
        Err(e) => return api_error(&e),
    };
    match s
        .steward
        .store
        .create_experiment(
            &request.name,
            request.description.as_deref(),
            &audit(&s, None),
        )
        .await
    {
        Ok(experiment) => created(experiment),
        Err(e) => api_error(&e.into()),
    }
}

#[derive(Deserialize)]
pub struct NewModel {
    name: String,
    description: Option<String>,
    #[serde(default)]
    tags: Tags,
}

pub async fn create_model(
    State(s): State<Arc<AppState>>,
    request: Result<Json<NewModel>, JsonRejection>,
) -> Response {
    let request = match body(
        request,
        r#"{"name": "...", "description": "...", "tags": {}}"#,
    ) {
        Ok(r) => r,
        Err(e) => return api_error(&e),
    };
    match s
        .steward
        .store
        .create_model(
            &request.name,
            request.description.as_deref(),
            &request.tags,
            &audit(&s, None),
        )
        .await
    {
        Ok(model) => created(model),
        Err(e) => api_error(&e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct DeleteModel {
    #[serde(default)]
    force: bool,
}

pub async fn delete_model(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<DeleteModel>,
) -> Response {
    let result = s
        .steward
        .store
        .delete_model(&name, q.force, &audit(&s, None))
        .await;
    s.refresh_routes().await;
    match result {
        Ok(()) => Json(json!({"deleted": name})).into_response(),
        Err(e) => api_error(&e.into()),
    }
}

#[derive(Deserialize)]
pub struct RegisterQuery {
    description: Option<String>,
    parent_version: Option<i64>,
}

/// The body is an ONNX model.
pub async fn register_version(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<RegisterQuery>,
    bytes: Bytes,
) -> Response {
    let upload = match Upload::save(&bytes, "model.onnx").await {
        Ok(u) => u,
        Err(e) => return api_error(&e),
    };
    let request = RegisterRequest {
        model: name,
        source: upload.path().to_path_buf(),
        description: q.description,
        parent_version: q.parent_version,
        ..Default::default()
    };
    match s.steward.register_version(&request).await {
        Ok(registered) => created(registered),
        Err(e) => api_error(&e),
    }
}

#[derive(Deserialize)]
pub struct DatasetQuery {
    name: String,
    target: Option<String>,
    /// Comma-separated column names.
    id: Option<String>,
    time: Option<String>,
    ignore: Option<String>,
}

fn list(text: &Option<String>) -> Vec<String> {
    text.iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The body is a CSV file.
pub async fn register_dataset(
    State(s): State<Arc<AppState>>,
    Query(q): Query<DatasetQuery>,
    bytes: Bytes,
) -> Response {
    let upload = match Upload::save(&bytes, &format!("{}.csv", q.name)).await {
        Ok(u) => u,
        Err(e) => return api_error(&e),
    };
    let roles = RoleOverrides {
        target: q.target.clone(),
        id: list(&q.id),
        time: list(&q.time),
        ignore: list(&q.ignore),
    };
    match s
        .steward
        .register_dataset(upload.path(), &q.name, &roles)
        .await
    {
        Ok(registered) => created(registered),
        Err(e) => api_error(&e),
    }
}

#[derive(Deserialize)]
struct TrainBody {
    /// A registered dataset: NAME or NAME/VERSION.
    dataset: String,
    /// Default: the dataset's target column.
    target: Option<String>,
    algo: String,
    #[serde(default)]
    params: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    seed: u64,
    test_size: Option<f64>,
    cv: Option<usize>,
    experiment: Option<String>,
    run_name: Option<String>,
    register: Option<String>,
}

/// Trains on a registered dataset (its bytes come back from the artifact store, verified by hash).
async fn train(
    State(s): State<Arc<AppState>>,
    request: Result<Json<TrainBody>, JsonRejection>,
) -> Response {
    let request = match body(
        request,
        r#"{"dataset": "NAME[/VERSION]", "algo": "random_forest", "target": "...", "params": {}, "seed": 0, "register": "MODEL"}"#,
    ) {
        Ok(r) => r,
        Err(e) => return api_error(&e),
    };
    let result: Result<_, ServiceError> = async {
        let algorithm = Algorithm::parse(&request.algo)?;
        let registered = s.steward.get_dataset(&request.dataset).await?;
        let schema = &registered.metadata.schema;
        let columns = |role: Role| -> Vec<String> {
            schema
                .columns
                .iter()
                .filter(|c| c.role == role)
                .map(|c| c.name.clone())
                .collect()
        };
        let roles = RoleOverrides {
            target: request
                .target
                .clone()
                .or_else(|| schema.target().map(|c| c.name.clone())),
            id: columns(Role::Id),
            time: columns(Role::Time),
            ignore: columns(Role::Ignore),
        };
        let bytes = s
            .steward
            .artifacts
            .get_verified(&registered.dataset.content_hash)
            .await?;
        let file_name = registered
            .metadata
            .file_name
            .clone()
            .unwrap_or_else(|| format!("{}.csv", registered.dataset.name));
        let upload = Upload::save(&bytes, &file_name).await?;
        let train = TrainRequest {
            data: upload.path().to_path_buf(),
            roles,
            spec: TrainSpec {
                algorithm,
                params: request.params.clone().into_iter().collect(),
                seed: request.seed,
                test_size: request.test_size.unwrap_or(0.2),
                cv_folds: request.cv,
                task: None,
            },
            experiment: request
                .experiment
                .clone()
                .unwrap_or_else(|| DEFAULT_EXPERIMENT.to_string()),
            run_name: request.run_name.clone(),
            register: request.register.clone(),
            dataset_name: Some(registered.dataset.name.clone()),
        };
        s.steward.train(&train, Arc::new(|_, _| {})).await
    }
    .await;
    match result {
        Ok(outcome) => created(outcome),
        Err(e) => api_error(&e),
    }
}

#[derive(Deserialize)]
struct EvaluateQuery {
    /// MODEL, MODEL@ALIAS or MODEL/VERSION.
    model: String,
    target: Option<String>,
    /// The class a binary classifier's precision, recall and F1 are about.
    positive_class: Option<String>,
}

/// The body is a CSV file with the target column.
async fn evaluate(
    State(s): State<Arc<AppState>>,
    Query(q): Query<EvaluateQuery>,
    bytes: Bytes,
) -> Response {
    let result: Result<_, ServiceError> = async {
        let version = s.steward.resolve(&VersionRef::parse(&q.model)?).await?;
        let upload = Upload::save(&bytes, "data.csv").await?;
        s.steward
            .evaluate(
                &version,
                upload.path(),
                q.target.as_deref(),
                q.positive_class.as_deref(),
            )
            .await
    }
    .await;
    ok_json(result)
}

#[derive(Deserialize)]
struct ValidateQuery {
    /// DATASET[/VERSION], MODEL@ALIAS or MODEL/VERSION.
    against: Option<String>,
    target: Option<String>,
}

/// The body is a CSV file; the answer is the quality report (the caller decides what severity fails).
async fn validate(
    State(s): State<Arc<AppState>>,
    Query(q): Query<ValidateQuery>,
    bytes: Bytes,
) -> Response {
    let result: Result<_, ServiceError> = async {
        let upload = Upload::save(&bytes, "data.csv").await?;
        let roles = RoleOverrides {
            target: q.target.clone(),
            ..Default::default()
        };
        s.steward
            .validate(upload.path(), q.against.as_deref(), &roles)
            .await
    }
    .await;
    ok_json(result)
}

#[derive(Deserialize)]
struct PageQuery {
    limit: Option<u32>,
    page_token: Option<String>,
}

async fn list_deployments(State(s): State<Arc<AppState>>, Query(q): Query<PageQuery>) -> Response {
    let page = PageRequest {
        limit: q.limit,
        page_token: q.page_token,
    };
    ok_json(s.steward.deployments(&page).await)
}

async fn get_deployment(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    ok_json(s.steward.deployment(&name).await)
}

#[derive(Deserialize)]
struct PutDeployment {
    model: String,
    /// Follow this alias (default: production) ...
    alias: Option<String>,
    /// ... or pin this version.
    version: Option<i64>,
    canary: Option<Canary>,
    shadow: Option<i64>,
    reason: Option<String>,
}

async fn put_deployment(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    request: Result<Json<PutDeployment>, JsonRejection>,
) -> Response {
    let request = match body(
        request,
        r#"{"model": "...", "alias": "production" | "version": N, "canary": {"version": N, "percent": P}, "shadow": N}"#,
    ) {
        Ok(r) => r,
        Err(e) => return api_error(&e),
    };
    let primary = match (request.alias, request.version) {
        (Some(_), Some(_)) => {
            return api_error(&ServiceError::InvalidInput(
                "give \"alias\" or \"version\", not both".into(),
            ));
        }
        (None, Some(version)) => DeploymentTarget::Version(version),
        (alias, None) => DeploymentTarget::Alias(alias.unwrap_or_else(|| "production".into())),
    };
    let result = s
        .steward
        .deploy(&DeployRequest {
            name: Some(name),
            model: request.model,
            primary,
            canary: request.canary,
            shadow: request.shadow,
            reason: request.reason,
        })
        .await;
    s.refresh_routes().await;
    ok_json(result)
}

#[derive(Deserialize)]
struct ReasonQuery {
    reason: Option<String>,
}

async fn delete_deployment(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<ReasonQuery>,
) -> Response {
    let result = s.steward.undeploy(&name, q.reason.as_deref()).await;
    s.refresh_routes().await;
    ok_json(result)
}

#[derive(Deserialize)]
struct PredictionsQuery {
    model: Option<String>,
    version: Option<i64>,
    deployment: Option<String>,
    role: Option<String>,
    request_id: Option<String>,
    limit: Option<u32>,
    page_token: Option<String>,
}

async fn list_predictions(
    State(s): State<Arc<AppState>>,
    Query(q): Query<PredictionsQuery>,
) -> Response {
    let role = match q.role.as_deref().map(|r| {
        PredictionRole::parse(r).ok_or_else(|| {
            ServiceError::InvalidInput(format!("unknown role '{r}': use primary, canary or shadow"))
        })
    }) {
        Some(Err(e)) => return api_error(&e),
        Some(Ok(role)) => Some(role),
        None => None,
    };
    let result = s
        .steward
        .store
        .list_predictions(
            &PredictionQuery {
                model: q.model,
                version: q.version,
                deployment: q.deployment,
                role,
                request_id: q.request_id,
            },
            &PageRequest {
                limit: q.limit,
                page_token: q.page_token,
            },
        )
        .await;
    ok_json(result.map_err(ServiceError::from))
}

async fn doctor(State(s): State<Arc<AppState>>) -> Response {
    ok_json(s.steward.doctor().await)
}
