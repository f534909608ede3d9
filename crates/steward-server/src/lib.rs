//! `steward serve`: predictions over HTTP on the same store as the CLI. The Open Inference Protocol V2
//! (`/v2/...`, KServe's status codes and `{"error": "..."}` bodies) and MLflow-style `/invocations`. A route
//! is a deployment's name (`steward deploy`), a bare model name (its `production` alias, else its latest
//! version), `name@alias` or `name/version`; every answer names the version that produced it
//! (`x-steward-model-version`), the arm that answered (`x-steward-arm`: primary or canary) and carries a
//! request id (`x-steward-request-id`) under which the capture stores the inputs and the answer.
//!
//! Hot swap: a background task follows the event log. On any registry or deployment change it resolves every
//! known route again, loads the predictors the new routes need *before* swapping them in, then drops the
//! predictors no route refers to any more. Requests keep being answered by the old routes until the swap, so a
//! change costs no failed and no slow request. Versions are immutable, so a cached predictor never goes stale.

mod api;
mod api_writes;
mod batching;
mod capture;
mod listen;
mod metrics;
mod requests;
mod routing;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use steward_ml::dataset::Dataset;
use steward_service::predict::{PredictOutcome, Predictor};
use steward_service::{ServiceError, Steward, VersionRef};
use steward_store::{ModelVersion, PredictionRole, StoreError};
use tracing::Instrument;

pub use batching::BatchConfig;
pub use capture::DEFAULT_QUEUE as DEFAULT_CAPTURE_QUEUE;
pub use capture::{DEFAULT_KEEP as DEFAULT_CAPTURE_KEEP, Retention};
pub use requests::RequestError;
pub use routing::ROUTING_KEY_HEADER;
use routing::Route;

/// How often the event log is polled for alias moves, new versions and deployment changes.
pub const EVENT_POLL: Duration = Duration::from_millis(200);
/// Batches of at most this many rows are predicted on the request's task, larger ones on the blocking pool.
pub const INLINE_ROWS: usize = 64;
/// How long a request body may take to arrive by default.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send a request's head (line and headers) by default; also how long an idle
/// keep-alive connection stays open.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Request ids: this process's random prefix and a counter, unique without a system call per request.
fn request_id(state: &AppState) -> (String, u64) {
    let n = state
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (format!("{}{n:016x}", state.id_prefix), n)
}

/// A version ready to predict, with its input columns worked out once (requests are parsed against them) and,
/// when micro-batching is on, its batcher (started by the first request that needs it, dropped with it).
#[derive(Clone)]
struct Loaded {
    predictor: Arc<Predictor>,
    columns: Option<Arc<[String]>>,
    batcher: Arc<std::sync::OnceLock<batching::Batcher>>,
}

/// How a server is set up beyond its store.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The model `/invocations` serves when the request names none.
    pub default_model: Option<String>,
    /// A request body that takes longer than this to arrive is answered 408 (slow or stalled clients).
    pub body_timeout: Duration,
    /// A connection whose request head takes longer than this to arrive is closed.
    pub header_timeout: Duration,
    /// Capture queue length; `None` turns capture off.
    pub capture_queue: Option<usize>,
    /// How much captured traffic the store keeps.
    pub retention: Retention,
    /// Micro-batching of concurrent small requests; `None` (the default) predicts each request on its own.
    pub batching: Option<BatchConfig>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            default_model: None,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            capture_queue: Some(capture::DEFAULT_QUEUE),
            retention: Retention::default(),
            batching: None,
        }
    }
}

pub struct AppState {
    /// Random per process, so ids from different servers differ.
    id_prefix: String,
    requests: std::sync::atomic::AtomicU64,
    steward: Arc<Steward>,
    /// Route text (`iris`, `iris@production`, `iris/3`) → what it resolved to.
    routes: RwLock<HashMap<String, Arc<Route>>>,
    /// model → version → loaded predictor (nested, so a lookup borrows the model name instead of copying it).
    predictors: Mutex<HashMap<String, HashMap<i64, Loaded>>>,
    batch_counters: Arc<batching::BatchCounters>,
    options: ServerOptions,
    metrics: metrics::Metrics,
    capture: Option<capture::Capture>,
}

impl AppState {
    /// Must be called within a tokio runtime (the capture writer starts here).
    pub fn new(steward: Arc<Steward>, options: ServerOptions) -> Arc<AppState> {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let capture = options
            .capture_queue
            .map(|queue| capture::Capture::start(steward.store.clone(), queue));
        if capture.is_some() {
            capture::start_pruning(steward.store.clone(), options.retention);
        }
        Arc::new(AppState {
            id_prefix: random[..16].to_string(),
            requests: std::sync::atomic::AtomicU64::new(0),
            steward,
            routes: RwLock::new(HashMap::new()),
            predictors: Mutex::new(HashMap::new()),
            batch_counters: Arc::default(),
            options,
            metrics: metrics::Metrics::default(),
            capture,
        })
    }

    async fn resolve(&self, route: &str) -> Result<Arc<Route>, ServiceError> {
        if let Some(resolved) = self.routes.read().ok().and_then(|r| r.get(route).cloned()) {
            return Ok(resolved);
        }
        let resolved = Arc::new(self.resolve_uncached(route).await?);
        if let Ok(mut routes) = self.routes.write() {
            routes.insert(route.to_string(), resolved.clone());
        }
        Ok(resolved)
    }

    async fn resolve_uncached(&self, route: &str) -> Result<Route, ServiceError> {
        let reference = VersionRef::parse(route)?;
        let VersionRef::Latest(name) = &reference else {
            return Ok(Route::direct(self.steward.resolve(&reference).await?));
        };
        // A bare name is a deployment when one has that name, else the model's production alias, else its
        // latest version.
        match self.steward.store.get_deployment(name).await {
            Ok(deployment) => {
                let resolved = self.steward.resolve_deployment(deployment).await?;
                return Ok(Route {
                    deployment: Some(resolved.deployment.name.clone()),
                    primary: Arc::new(resolved.primary_version),
                    canary: resolved
                        .canary_version
                        .zip(resolved.deployment.canary.as_ref().map(|c| c.percent))
                        .map(|(version, percent)| (Arc::new(version), percent)),
                    shadow: resolved.shadow_version.map(Arc::new),
                });
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let production = VersionRef::Alias(name.clone(), "production".into());
        match self.steward.resolve(&production).await {
            Ok(version) => Ok(Route::direct(version)),
            Err(_) => Ok(Route::direct(self.steward.resolve(&reference).await?)),
        }
    }

    async fn predictor(&self, version: &ModelVersion) -> Result<Loaded, ServiceError> {
        if let Some(loaded) = self.predictors.lock().ok().and_then(|p| {
            p.get(version.model.as_str())
                .and_then(|versions| versions.get(&version.version))
                .cloned()
        }) {
            return Ok(loaded);
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
        let loaded = Loaded {
            columns: predictor.input_columns().map(Arc::from),
            predictor,
            batcher: Arc::default(),
        };
        if let Ok(mut predictors) = self.predictors.lock() {
            predictors
                .entry(version.model.clone())
                .or_default()
                .insert(version.version, loaded.clone());
        }
        Ok(loaded)
    }

    /// Resolves every known route again, loads what the new routes need, swaps them in, and drops the
    /// predictors nothing refers to any more. A route that no longer resolves is forgotten (its next request
    /// resolves again and gets the error).
    async fn refresh_routes(&self) {
        let known: Vec<String> = self
            .routes
            .read()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        let mut fresh = HashMap::with_capacity(known.len());
        for name in known {
            match self.resolve_uncached(&name).await {
                Ok(route) => {
                    for version in route.versions() {
                        // A version that fails to load stays out of the cache; requests report why.
                        let _ = self.predictor(version).await;
                    }
                    fresh.insert(name, Arc::new(route));
                }
                Err(error) => {
                    tracing::info!(route = name.as_str(), %error, "route no longer resolves");
                }
            }
        }
        let referenced: HashSet<(String, i64)> = fresh
            .values()
            .flat_map(|route: &Arc<Route>| {
                route
                    .versions()
                    .map(|v| (v.model.clone(), v.version))
                    .collect::<Vec<_>>()
            })
            .collect();
        if let Ok(mut routes) = self.routes.write() {
            *routes = fresh;
        }
        if let Ok(mut predictors) = self.predictors.lock() {
            let count = |p: &HashMap<String, HashMap<i64, Loaded>>| {
                p.values().map(HashMap::len).sum::<usize>()
            };
            let before = count(&predictors);
            for (model, versions) in predictors.iter_mut() {
                versions.retain(|version, _| referenced.contains(&(model.clone(), *version)));
            }
            predictors.retain(|_, versions| !versions.is_empty());
            let kept = count(&predictors);
            if kept < before {
                tracing::info!(dropped = before - kept, kept, "unreferenced models dropped");
            }
        }
    }

    /// Predicts through the version's batcher when batching is on and the request is small enough to join a
    /// batch; otherwise directly.
    async fn predict(
        &self,
        loaded: Loaded,
        data: Arc<Dataset>,
        version: &Arc<ModelVersion>,
    ) -> Result<PredictOutcome, ServiceError> {
        let Some(config) = self.options.batching.filter(|c| data.n_rows < c.max_rows) else {
            return predict_batch(loaded.predictor, data, version).await;
        };
        let batcher = loaded.batcher.get_or_init(|| {
            batching::Batcher::start(
                loaded.predictor.clone(),
                version.clone(),
                config,
                self.batch_counters.clone(),
            )
        });
        batcher.predict(data).await
    }

    fn loaded_models(&self) -> usize {
        self.predictors
            .lock()
            .map_or(0, |p| p.values().map(HashMap::len).sum())
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
        match tokio::time::timeout(state.options.body_timeout, read).await {
            Ok(Ok(bytes)) => Ok(TimedBody(bytes)),
            Ok(Err(_)) => Err(too_big()),
            Err(_) => {
                let message = format!(
                    "the request body did not arrive within {} ms",
                    state.options.body_timeout.as_millis()
                );
                Err((StatusCode::REQUEST_TIMEOUT, Json(json!({"error": message}))).into_response())
            }
        }
    }
}

/// Follows the event log; on any change, resolves the known routes again (see the module documentation).
pub async fn follow_events(state: Arc<AppState>) {
    let mut last = latest_event_id(&state).await;
    loop {
        tokio::time::sleep(EVENT_POLL).await;
        match state.steward.store.events_after(last, 1000).await {
            Ok(events) if !events.is_empty() => {
                last = events.last().map_or(last, |e| e.id);
                tracing::info!(
                    events = events.len(),
                    last,
                    "registry changed; resolving routes again"
                );
                state.refresh_routes().await;
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
        .route("/v2/models/{name}/versions/{version}", get(model_metadata))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_ready),
        )
        .route("/v2/models/{name}/versions/{version}/infer", post(infer))
        .route("/invocations", post(invocations))
        .route("/models/{name}/invocations", post(invocations_named))
        .route("/metrics", get(render_metrics))
        .merge(api::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves until `shutdown` resolves; in-flight requests finish first, then the capture queue is written out.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::spawn(follow_events(state.clone()));
    let header_timeout = state.options.header_timeout;
    listen::accept_loop(listener, router(state.clone()), header_timeout, shutdown).await;
    if let Some(capture) = &state.capture {
        capture.drain(Duration::from_secs(10)).await;
    }
    Ok(())
}

async fn render_metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(&metrics::Gauges {
            models_loaded: state.loaded_models(),
            capture: state.capture.as_ref().map(|c| (c.depth(), &*c.counters)),
            batching: state
                .options
                .batching
                .is_some()
                .then_some(&*state.batch_counters),
        }),
    )
        .into_response()
}

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

/// Counts a prediction request in `/metrics`: in flight while it runs, then by model, version and status.
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
    let micros = elapsed.as_micros() as u64;
    if status >= 500 {
        tracing::warn!(version, status, rows, micros, "prediction failed");
    } else {
        tracing::debug!(version, status, rows, micros, "prediction");
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

/// The route text of `/v2/models/{name}[/versions/{version}]/...`: `name` or `name/version`, so one handler
/// serves both paths.
struct ModelRoute(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ModelRoute {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let name = params.get("name").cloned().unwrap_or_default();
        Ok(ModelRoute(match params.get("version") {
            Some(version) => format!("{name}/{version}"),
            None => name,
        }))
    }
}

async fn metadata(state: &AppState, route: &str) -> Response {
    let version = match state.resolve(route).await {
        Ok(route) => route.primary.clone(),
        Err(e) => return oip_error(&e),
    };
    let (predictor, columns) = match state.predictor(&version).await {
        Ok(loaded) => (loaded.predictor, loaded.columns),
        Err(e) => return oip_error(&e),
    };
    let inputs: Vec<Value> = match columns {
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

async fn model_metadata(
    State(state): State<Arc<AppState>>,
    ModelRoute(route): ModelRoute,
) -> Response {
    metadata(&state, &route).await
}

async fn ready(state: &AppState, route: &str) -> Response {
    let route = match state.resolve(route).await {
        Ok(route) => route,
        Err(e) => return oip_error(&e),
    };
    let mut loaded = Ok(());
    for version in route.versions() {
        if let Err(e) = state.predictor(version).await {
            loaded = Err(e);
            break;
        }
    }
    match loaded {
        Ok(()) => Json(json!({"name": route.primary.model, "ready": true})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn model_ready(
    State(state): State<Arc<AppState>>,
    ModelRoute(route): ModelRoute,
) -> Response {
    ready(&state, &route).await
}

fn with_headers(mut response: Response, predicted: &Predicted, request_id: &str) -> Response {
    let headers = response.headers_mut();
    let version = &predicted.version;
    if let Ok(v) = HeaderValue::from_str(&format!("{}/{}", version.model, version.version)) {
        headers.insert("x-steward-model-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-steward-request-id", v);
    }
    headers.insert(
        "x-steward-arm",
        HeaderValue::from_static(predicted.role.as_str()),
    );
    response
}

/// A request answered by one arm of its route, with what it was asked, kept for capture and the shadow.
struct Predicted {
    route: Arc<Route>,
    version: Arc<ModelVersion>,
    role: PredictionRole,
    data: Arc<Dataset>,
    outcome: PredictOutcome,
}

/// Predicts on the request's own task for small batches (microseconds: handing them to the blocking pool costs
/// more than the inference), on the blocking pool for large ones so they never stall other requests.
async fn predict_batch(
    predictor: Arc<Predictor>,
    data: Arc<Dataset>,
    version: &ModelVersion,
) -> Result<PredictOutcome, ServiceError> {
    let (model, number) = (version.model.clone(), version.version);
    if data.n_rows <= INLINE_ROWS {
        return predictor.predict(&data, model, number);
    }
    tokio::task::spawn_blocking(move || predictor.predict(&data, model, number))
        .await
        .map_err(|e| ServiceError::InvalidInput(format!("inference failed: {e}")))?
}

async fn run_prediction(
    state: &AppState,
    route: &str,
    headers: &HeaderMap,
    request_number: u64,
    parse: impl FnOnce(Option<&[String]>) -> Result<Dataset, RequestError>,
) -> Result<Predicted, Response> {
    let route = state.resolve(route).await.map_err(|e| oip_error(&e))?;
    let key = headers.get(ROUTING_KEY_HEADER).map(HeaderValue::as_bytes);
    let (version, role) = route.pick(key, request_number);
    let version = version.clone();
    let loaded = state.predictor(&version).await.map_err(|e| oip_error(&e))?;
    let data = parse(loaded.columns.as_deref())
        .map_err(|e| (StatusCode::BAD_REQUEST, Json(json!({"error": e.0}))).into_response())?;
    let data = Arc::new(data);
    let outcome = state
        .predict(loaded, data.clone(), &version)
        .await
        .map_err(|e| oip_error(&e))?;
    Ok(Predicted {
        route,
        version,
        role,
        data,
        outcome,
    })
}

/// After the answer is built: capture it, and mirror the request to the route's shadow (off the request path;
/// the shadow's answer is captured, never returned).
fn after_answer(
    state: &Arc<AppState>,
    predicted: Predicted,
    request_id: String,
    started: std::time::Instant,
) {
    let Predicted {
        route,
        role,
        data,
        outcome,
        ..
    } = predicted;
    if let Some(shadow) = route.shadow.clone() {
        let state = state.clone();
        let (data, request_id, deployment) =
            (data.clone(), request_id.clone(), route.deployment.clone());
        let span = tracing::info_span!(
            "shadow",
            request_id = request_id.as_str(),
            version = shadow.version
        );
        tokio::spawn(
            async move {
                let started = std::time::Instant::now();
                let result = match state.predictor(&shadow).await {
                    Ok(loaded) => predict_batch(loaded.predictor, data.clone(), &shadow).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(outcome) => {
                        state.metrics.shadow(true);
                        if let Some(capture) = &state.capture {
                            capture.record(capture::Captured {
                                request_id,
                                deployment,
                                role: PredictionRole::Shadow,
                                inputs: data,
                                outcome,
                                latency: started.elapsed(),
                            });
                        }
                    }
                    Err(error) => {
                        state.metrics.shadow(false);
                        tracing::warn!(%error, "shadow prediction failed");
                    }
                }
            }
            .instrument(span),
        );
    }
    if let Some(capture) = &state.capture {
        capture.record(capture::Captured {
            request_id,
            deployment: route.deployment.clone(),
            role,
            inputs: data,
            outcome,
            latency: started.elapsed(),
        });
    }
}

/// The body formats a prediction can come in.
#[derive(Clone, Copy)]
enum Protocol {
    OpenInference,
    Mlflow,
}

/// Every prediction request: a request id, a `predict` span around the work, and its count in `/metrics`.
async fn predict_route(
    state: &Arc<AppState>,
    route: &str,
    headers: &HeaderMap,
    body: &[u8],
    protocol: Protocol,
) -> Response {
    let (request_id, number) = request_id(state);
    let span = tracing::info_span!("predict", request_id = request_id.as_str(), route);
    let work = async {
        match protocol {
            Protocol::OpenInference => {
                infer_inner(state, route, headers, body, request_id, number).await
            }
            Protocol::Mlflow => {
                invocations_inner(state, route, headers, body, request_id, number).await
            }
        }
    };
    measured(state, route, work).instrument(span).await
}

async fn infer_inner(
    state: &Arc<AppState>,
    route: &str,
    headers: &HeaderMap,
    body: &[u8],
    request_id: String,
    request_number: u64,
) -> Served {
    let started = std::time::Instant::now();
    let request: requests::InferRequest = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let what = if e.is_data() {
                "not an inference request ({\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}]})"
            } else {
                "not JSON"
            };
            let error = Json(json!({"error": format!("the body is {what}: {e}")}));
            return Served::failed((StatusCode::BAD_REQUEST, error).into_response());
        }
    };
    let id = request.id.clone();
    let parse = |columns: Option<&[String]>| requests::oip_dataset(&request, columns);
    match run_prediction(state, route, headers, request_number, parse).await {
        Ok(predicted) => {
            let id = id.unwrap_or_else(|| Value::String(request_id.clone()));
            let answer = requests::oip_response(&predicted.outcome, &predicted.version, id);
            let response = with_headers(Json(answer).into_response(), &predicted, &request_id);
            let (rows, version) = (predicted.outcome.rows, predicted.version.clone());
            after_answer(state, predicted, request_id, started);
            Served {
                response,
                rows,
                version: Some(version),
            }
        }
        Err(response) => Served::failed(response),
    }
}

async fn infer(
    State(state): State<Arc<AppState>>,
    ModelRoute(route): ModelRoute,
    headers: HeaderMap,
    TimedBody(body): TimedBody,
) -> Response {
    predict_route(&state, &route, &headers, &body, Protocol::OpenInference).await
}

/// MLflow's error shape, for the MLflow-style endpoints.
fn mlflow_error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message})),
    )
        .into_response()
}

async fn invocations_inner(
    state: &Arc<AppState>,
    route: &str,
    headers: &HeaderMap,
    body: &[u8],
    request_id: String,
    request_number: u64,
) -> Served {
    let started = std::time::Instant::now();
    let csv = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let result = run_prediction(state, route, headers, request_number, |columns| {
        if csv {
            requests::csv_dataset(body)
        } else {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| RequestError(format!("the body is not JSON: {e}")))?;
            requests::mlflow_dataset(&value, columns)
        }
    })
    .await;
    match result {
        Ok(predicted) => {
            let outcome = &predicted.outcome;
            let response = Json(json!({"predictions": outcome.predictions()})).into_response();
            let response = with_headers(response, &predicted, &request_id);
            let (rows, version) = (outcome.rows, predicted.version.clone());
            after_answer(state, predicted, request_id, started);
            Served {
                response,
                rows,
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
        .or_else(|| state.options.default_model.clone());
    match route {
        Some(route) => predict_route(&state, &route, &headers, &body, Protocol::Mlflow).await,
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
    predict_route(&state, &name, &headers, &body, Protocol::Mlflow).await
}
