//! `steward serve`: predictions over HTTP on the same store as the CLI. The Open Inference Protocol V2
//! (`/v2/...`, KServe's status codes and `{"error": "..."}` bodies) and MLflow-style `/invocations`. Models are
//! routed by `name` (its `production` alias, else its latest version), `name@alias` or `name/version`; every
//! answer names the version that produced it (`x-steward-model-version`) and carries a request id
//! (`x-steward-request-id`).
//!
//! Hot swap: a background task follows the event log; any alias or version event clears the resolved routes,
//! so the next request resolves again and picks up the new version (loaded once, then cached; versions are
//! immutable, so a cached predictor never goes stale).

mod api;
mod metrics;
mod requests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use steward_service::predict::{PredictOutcome, Predictor};
use steward_service::{ServiceError, Steward, VersionRef};
use steward_store::ModelVersion;

pub use requests::RequestError;

/// How often the event log is polled for alias moves and new versions.
pub const EVENT_POLL: Duration = Duration::from_millis(200);
/// Batches of at most this many rows are predicted on the request's task, larger ones on the blocking pool.
pub const INLINE_ROWS: usize = 64;
/// How long a request body may take to arrive by default.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Request ids: this process's random prefix and a counter, unique without a system call per request.
fn request_id(state: &AppState) -> String {
    let n = state
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}{n:016x}", state.id_prefix)
}

pub struct AppState {
    /// Random per process, so ids from different servers differ.
    id_prefix: String,
    requests: std::sync::atomic::AtomicU64,
    steward: Arc<Steward>,
    /// Route text (`iris`, `iris@production`, `iris/3`) → the version it resolved to.
    routes: RwLock<HashMap<String, Arc<ModelVersion>>>,
    predictors: Mutex<HashMap<(String, i64), Arc<Predictor>>>,
    /// The model `/invocations` serves when the request names none.
    default_model: Option<String>,
    metrics: metrics::Metrics,
    /// A request body that takes longer than this to arrive is answered 408 (slow or stalled clients).
    body_timeout: Duration,
}

impl AppState {
    pub fn new(steward: Arc<Steward>, default_model: Option<String>) -> Arc<AppState> {
        Self::with_body_timeout(steward, default_model, DEFAULT_BODY_TIMEOUT)
    }

    pub fn with_body_timeout(
        steward: Arc<Steward>,
        default_model: Option<String>,
        body_timeout: Duration,
    ) -> Arc<AppState> {
        let random = uuid::Uuid::new_v4().simple().to_string();
        Arc::new(AppState {
            id_prefix: random[..16].to_string(),
            requests: std::sync::atomic::AtomicU64::new(0),
            steward,
            routes: RwLock::new(HashMap::new()),
            predictors: Mutex::new(HashMap::new()),
            default_model,
            metrics: metrics::Metrics::default(),
            body_timeout,
        })
    }

    async fn resolve(&self, route: &str) -> Result<Arc<ModelVersion>, ServiceError> {
        if let Some(version) = self.routes.read().ok().and_then(|r| r.get(route).cloned()) {
            return Ok(version);
        }
        let reference = VersionRef::parse(route)?;
        let version = match &reference {
            // A bare name is its production deployment when it has one.
            VersionRef::Latest(model) => match self
                .steward
                .resolve(&VersionRef::Alias(model.clone(), "production".into()))
                .await
            {
                Ok(version) => version,
                Err(_) => self.steward.resolve(&reference).await?,
            },
            _ => self.steward.resolve(&reference).await?,
        };
        let version = Arc::new(version);
        if let Ok(mut routes) = self.routes.write() {
            routes.insert(route.to_string(), version.clone());
        }
        Ok(version)
    }

    async fn predictor(&self, version: &ModelVersion) -> Result<Arc<Predictor>, ServiceError> {
        let key = (version.model.clone(), version.version);
        if let Some(p) = self
            .predictors
            .lock()
            .ok()
            .and_then(|p| p.get(&key).cloned())
        {
            return Ok(p);
        }
        let started = std::time::Instant::now();
        let predictor = Arc::new(self.steward.load_predictor(version).await?);
        self.metrics
            .model_loaded(&version.model, version.version, started.elapsed());
        tracing::info!(
            model = version.model.as_str(),
            version = version.version,
            millis = started.elapsed().as_millis() as u64,
            "model loaded"
        );
        if let Ok(mut predictors) = self.predictors.lock() {
            predictors.insert(key, predictor.clone());
        }
        Ok(predictor)
    }

    fn forget_routes(&self) {
        if let Ok(mut routes) = self.routes.write() {
            routes.clear();
        }
    }
}

/// A request body read within the server's time limit and size limit: a slow or stalled client gets 408, an
/// oversized body 413, both as `{"error": "..."}`.
pub struct TimedBody(pub axum::body::Bytes);

impl axum::extract::FromRequest<Arc<AppState>> for TimedBody {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let too_big = || {
            let message = format!(
                "the body is over the limit of {MAX_BODY_BYTES} bytes; send smaller batches"
            );
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(json!({"error": message})),
            )
                .into_response()
        };
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(too_big());
        }
        let read = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES);
        match tokio::time::timeout(state.body_timeout, read).await {
            Ok(Ok(bytes)) => Ok(TimedBody(bytes)),
            Ok(Err(_)) => Err(too_big()),
            Err(_) => {
                let message = format!(
                    "the request body did not arrive within {} ms",
                    state.body_timeout.as_millis()
                );
                Err((StatusCode::REQUEST_TIMEOUT, Json(json!({"error": message}))).into_response())
            }
        }
    }
}

/// Follows the event log and clears resolved routes when models, versions or aliases change.
pub async fn follow_events(state: Arc<AppState>) {
    let mut last = match state.steward.store.events_after(0, 1).await {
        Ok(_) => latest_event_id(&state).await,
        Err(_) => 0,
    };
    loop {
        tokio::time::sleep(EVENT_POLL).await;
        match state.steward.store.events_after(last, 1000).await {
            Ok(events) if !events.is_empty() => {
                last = events.last().map_or(last, |e| e.id);
                tracing::info!(
                    events = events.len(),
                    last,
                    "registry changed; routes will be resolved again"
                );
                state.forget_routes();
            }
            _ => {}
        }
    }
}

async fn latest_event_id(state: &AppState) -> i64 {
    let mut last = 0;
    while let Ok(batch) = state.steward.store.events_after(last, 1000).await {
        match batch.last() {
            Some(event) => last = event.id,
            None => break,
        }
    }
    last
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/v2/health/live",
            get(|| async { Json(json!({"live": true})) }),
        )
        .route(
            "/v2/health/ready",
            get(|| async { Json(json!({"ready": true})) }),
        )
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(model_metadata_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_ready_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(infer_version),
        )
        .route("/invocations", post(invocations))
        .route("/models/{name}/invocations", post(invocations_named))
        .route("/metrics", get(render_metrics))
        .merge(api::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::spawn(follow_events(state.clone()));
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn render_metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Counts a prediction request in `/metrics`: in flight while it runs, then by model, version and status.
/// What a prediction handler hands to [`measured`]: the response, the rows predicted, and the version that
/// answered (none when the request failed before one was resolved).
struct Served {
    response: Response,
    rows: usize,
    version: Option<Arc<ModelVersion>>,
}

impl Served {
    fn failed(response: Response) -> Served {
        Served {
            response,
            rows: 0,
            version: None,
        }
    }
}

async fn measured(
    state: &AppState,
    route: &str,
    work: impl std::future::Future<Output = Served>,
) -> Response {
    let started = std::time::Instant::now();
    state
        .metrics
        .in_flight
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Served {
        response,
        rows,
        version: served_by,
    } = work.await;
    state
        .metrics
        .in_flight
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    // A request that failed before a version was resolved counts under the model its route names.
    let model = served_by.as_ref().map_or_else(
        || route.split(['@', '/']).next().unwrap_or(route),
        |v| v.model.as_str(),
    );
    let version = served_by
        .as_ref()
        .map(|v| v.version.to_string())
        .unwrap_or_default();
    let version = version.as_str();
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.record(model, version, status, elapsed, rows);
    if status >= 500 || tracing::enabled!(tracing::Level::DEBUG) {
        let request_id = response
            .headers()
            .get("x-steward-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let micros = elapsed.as_micros() as u64;
        if status >= 500 {
            tracing::warn!(
                route,
                version,
                status,
                rows,
                micros,
                request_id,
                "prediction failed"
            );
        } else {
            tracing::debug!(
                route,
                version,
                status,
                rows,
                micros,
                request_id,
                "prediction"
            );
        }
    }
    response
}

async fn server_metadata() -> Json<Value> {
    Json(json!({"name": "steward", "version": env!("CARGO_PKG_VERSION"), "extensions": []}))
}

/// KServe's status for a service error: unknown model 404, bad input 400, a model that cannot load 503.
fn oip_error(error: &ServiceError) -> Response {
    let status = match error.code() {
        "not_found" => StatusCode::NOT_FOUND,
        "invalid_model" | "unsupported_model" | "artifact_missing" | "artifact_corrupted"
        | "artifact_failure" => StatusCode::SERVICE_UNAVAILABLE,
        _ if error.is_user_error() => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({"error": error.to_string()}))).into_response()
}

fn route_of(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name}/{v}"),
        None => name.to_string(),
    }
}

async fn metadata(state: &AppState, route: &str) -> Response {
    let version = match state.resolve(route).await {
        Ok(v) => v,
        Err(e) => return oip_error(&e),
    };
    let predictor = match state.predictor(&version).await {
        Ok(p) => p,
        Err(e) => return oip_error(&e),
    };
    let inputs: Vec<Value> = match predictor.input_columns() {
        Some(columns) => columns
            .iter()
            .map(|c| json!({"name": c, "datatype": "FP64", "shape": [-1]}))
            .collect(),
        None => vec![
            json!({"name": "input", "datatype": "FP32", "shape": [-1, predictor.n_features().map_or(-1, |n| n as i64)]}),
        ],
    };
    let classes = predictor.classes();
    let outputs = if classes.is_empty() {
        json!([{"name": "prediction", "datatype": "FP64", "shape": [-1]}])
    } else {
        json!([
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, classes.len()]}
        ])
    };
    Json(json!({
        "name": version.model,
        "versions": [version.version.to_string()],
        "platform": predictor.platform(),
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"classes": classes},
    }))
    .into_response()
}

async fn model_metadata(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    metadata(&state, &route_of(&name, None)).await
}

async fn model_metadata_version(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    metadata(&state, &route_of(&name, Some(&version))).await
}

async fn ready(state: &AppState, route: &str) -> Response {
    let version = match state.resolve(route).await {
        Ok(v) => v,
        Err(e) => return oip_error(&e),
    };
    match state.predictor(&version).await {
        Ok(_) => Json(json!({"name": version.model, "ready": true})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn model_ready(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    ready(&state, &route_of(&name, None)).await
}

async fn model_ready_version(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    ready(&state, &route_of(&name, Some(&version))).await
}

fn with_headers(mut response: Response, version: &ModelVersion, request_id: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/{}", version.model, version.version)) {
        headers.insert("x-steward-model-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-steward-request-id", v);
    }
    response
}

async fn run_prediction(
    state: &AppState,
    route: &str,
    parse: impl FnOnce(&Predictor) -> Result<steward_ml::dataset::Dataset, RequestError>,
) -> Result<(Arc<ModelVersion>, PredictOutcome), Response> {
    let version = state.resolve(route).await.map_err(|e| oip_error(&e))?;
    let predictor = state.predictor(&version).await.map_err(|e| oip_error(&e))?;
    let data = parse(&predictor)
        .map_err(|e| (StatusCode::BAD_REQUEST, Json(json!({"error": e.0}))).into_response())?;
    let (model, number) = (version.model.clone(), version.version);
    // Small batches take microseconds: run them on the request's own task, since handing them to the blocking
    // pool costs more than the inference. Large batches go to the pool so they never stall other requests.
    let outcome = if data.n_rows <= INLINE_ROWS {
        predictor
            .predict(&data, model, number)
            .map_err(|e| oip_error(&e))?
    } else {
        tokio::task::spawn_blocking(move || predictor.predict(&data, model, number))
            .await
            .map_err(|e| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": format!("inference failed: {e}")})),
                )
                    .into_response()
            })?
            .map_err(|e| oip_error(&e))?
    };
    Ok((version, outcome))
}

async fn infer_route(state: &AppState, route: &str, body: &[u8]) -> Response {
    measured(state, route, infer_inner(state, route, body)).await
}

async fn infer_inner(state: &AppState, route: &str, body: &[u8]) -> Served {
    let request_id = request_id(state);
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let error = Json(json!({"error": format!("the body is not JSON: {e}")}));
            return Served::failed((StatusCode::BAD_REQUEST, error).into_response());
        }
    };
    let id = request.get("id").cloned();
    match run_prediction(state, route, |p| requests::oip_dataset(&request, p)).await {
        Ok((version, outcome)) => {
            let mut answer = requests::oip_response(&outcome, &version);
            if let Some(id) = id {
                answer["id"] = id;
            } else {
                answer["id"] = Value::String(request_id.clone());
            }
            Served {
                response: with_headers(Json(answer).into_response(), &version, &request_id),
                rows: outcome.rows,
                version: Some(version),
            }
        }
        Err(response) => Served::failed(response),
    }
}

async fn infer(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    TimedBody(body): TimedBody,
) -> Response {
    infer_route(&state, &route_of(&name, None), &body).await
}

async fn infer_version(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    TimedBody(body): TimedBody,
) -> Response {
    infer_route(&state, &route_of(&name, Some(&version)), &body).await
}

/// MLflow's error shape, for the MLflow-style endpoints.
fn mlflow_error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message})),
    )
        .into_response()
}

async fn invocations_route(
    state: &AppState,
    route: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    measured(state, route, invocations_inner(state, route, headers, body)).await
}

async fn invocations_inner(
    state: &AppState,
    route: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Served {
    let request_id = request_id(state);
    let csv = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let result = run_prediction(state, route, |p| {
        if csv {
            requests::csv_dataset(body)
        } else {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| RequestError(format!("the body is not JSON: {e}")))?;
            requests::mlflow_dataset(&value, p)
        }
    })
    .await;
    match result {
        Ok((version, outcome)) => {
            let predictions = match (&outcome.labels, &outcome.values) {
                (Some(labels), _) => json!(labels),
                (None, Some(values)) => json!(values),
                _ => json!([]),
            };
            let response = Json(json!({"predictions": predictions})).into_response();
            Served {
                response: with_headers(response, &version, &request_id),
                rows: outcome.rows,
                version: Some(version),
            }
        }
        Err(response) => {
            // Re-shape KServe's error into MLflow's.
            let status = response.status();
            let code = match status {
                StatusCode::NOT_FOUND => "RESOURCE_DOES_NOT_EXIST",
                StatusCode::BAD_REQUEST => "BAD_REQUEST",
                _ => "INTERNAL_ERROR",
            };
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_default();
            Served::failed(mlflow_error(status, code, message))
        }
    }
}

async fn invocations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    TimedBody(body): TimedBody,
) -> Response {
    let route = headers
        .get("x-steward-model")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| state.default_model.clone());
    match route {
        Some(route) => invocations_route(&state, &route, &headers, &body).await,
        None => mlflow_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "no model: start `steward serve --model NAME`, send an x-steward-model header, or POST to /models/NAME/invocations".into(),
        ),
    }
}

async fn invocations_named(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    TimedBody(body): TimedBody,
) -> Response {
    invocations_route(&state, &name, &headers, &body).await
}
