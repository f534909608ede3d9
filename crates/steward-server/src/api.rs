//! Steward's REST API, `/api/v1`: what the CLI reads (experiments, runs, datasets, models, versions, aliases and
//! their history, events) and moves (aliases), paged like the CLI (`limit`, `page_token`, `filter`), with
//! errors in one shape, `{"error": {"code", "message"}}`. `/api/v1/openapi.json` describes it.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_service::ServiceError;
use steward_store::{Audit, Filter, PageRequest, StoreError};

use crate::AppState;
use crate::api_writes as writes;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    filter: Option<String>,
    limit: Option<u32>,
    page_token: Option<String>,
    after: Option<i64>,
}

impl ListQuery {
    fn filter(&self) -> Result<Filter, ServiceError> {
        Ok(Filter::parse(self.filter.as_deref().unwrap_or(""))?)
    }

    fn page(&self) -> PageRequest {
        PageRequest {
            limit: self.limit,
            page_token: self.page_token.clone(),
        }
    }
}

/// The one error shape of `/api/v1`, with the status its code implies.
pub fn api_error(error: &ServiceError) -> Response {
    let status = match error.code() {
        "not_found" => StatusCode::NOT_FOUND,
        "already_exists" | "conflict" | "in_use" => StatusCode::CONFLICT,
        _ if error.is_user_error() => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (
        status,
        Json(json!({"error": {"code": error.code(), "message": error.to_string()}})),
    )
        .into_response()
}

fn store(result: Result<impl serde::Serialize, StoreError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => api_error(&ServiceError::from(e)),
    }
}

/// The value, or the API's error response for the error.
macro_rules! try_api {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(error) => return api_error(&error),
        }
    };
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(|| async { Json(openapi()) }))
        .route(
            "/api/v1/experiments",
            get(experiments).post(writes::create_experiment),
        )
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{id}", get(run))
        .route(
            "/api/v1/datasets",
            get(datasets)
                .post(writes::register_dataset)
                .layer(writes::upload_limit()),
        )
        .route("/api/v1/datasets/{name}", get(dataset))
        .route("/api/v1/models", get(models).post(writes::create_model))
        .route(
            "/api/v1/models/{name}",
            get(model).delete(writes::delete_model),
        )
        .route(
            "/api/v1/models/{name}/versions",
            get(versions)
                .post(writes::register_version)
                .layer(writes::upload_limit()),
        )
        .route("/api/v1/models/{name}/versions/{version}", get(version))
        .route("/api/v1/models/{name}/aliases", get(alias_history))
        .route(
            "/api/v1/models/{name}/aliases/{alias}",
            put(set_alias).delete(delete_alias).get(resolve_alias),
        )
        .route("/api/v1/events", get(events))
        .merge(writes::routes())
}

async fn experiments(State(s): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let filter = try_api!(q.filter());
    store(s.steward.store.list_experiments(&filter, &q.page()).await)
}

async fn runs(State(s): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let filter = try_api!(q.filter());
    store(s.steward.store.search_runs(&[], &filter, &q.page()).await)
}

async fn run(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    store(s.steward.store.get_run(&id).await)
}

async fn datasets(State(s): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let filter = try_api!(q.filter());
    store(s.steward.store.list_datasets(&filter, &q.page()).await)
}

async fn dataset(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    store(s.steward.store.get_dataset(&name, None).await)
}

async fn models(State(s): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let filter = try_api!(q.filter());
    store(s.steward.store.list_models(&filter, &q.page()).await)
}

async fn model(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    store(s.steward.store.get_model(&name).await)
}

async fn versions(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let filter = try_api!(q.filter());
    store(
        s.steward
            .store
            .list_model_versions(&name, &filter, &q.page())
            .await,
    )
}

async fn version(
    State(s): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    let Ok(number) = version.parse::<i64>() else {
        return api_error(&ServiceError::InvalidInput(format!(
            "version '{version}' is not a number"
        )));
    };
    store(s.steward.store.get_model_version(&name, number).await)
}

async fn alias_history(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    store(s.steward.store.alias_history(&name, None).await)
}

async fn resolve_alias(
    State(s): State<Arc<AppState>>,
    Path((name, alias)): Path<(String, String)>,
) -> Response {
    store(s.steward.store.resolve_alias(&name, &alias).await)
}

#[derive(Debug, Deserialize)]
pub struct SetAlias {
    version: i64,
    reason: Option<String>,
}

async fn set_alias(
    State(s): State<Arc<AppState>>,
    Path((name, alias)): Path<(String, String)>,
    body: Result<Json<SetAlias>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => {
            return api_error(&ServiceError::InvalidInput(format!(
                "the body must be {{\"version\": N, \"reason\": \"...\"}}: {e}"
            )));
        }
    };
    let mut audit = Audit::new(s.steward.actor.clone());
    if let Some(reason) = body.reason {
        audit = audit.with_reason(reason);
    }
    let result = s
        .steward
        .store
        .set_alias(&name, &alias, body.version, &audit)
        .await;
    s.refresh_routes().await;
    store(result)
}

async fn delete_alias(
    State(s): State<Arc<AppState>>,
    Path((name, alias)): Path<(String, String)>,
) -> Response {
    let result = s
        .steward
        .store
        .delete_alias(&name, &alias, &Audit::new(s.steward.actor.clone()))
        .await;
    s.refresh_routes().await;
    store(result)
}

async fn events(State(s): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    store(
        s.steward
            .store
            .events_after(q.after.unwrap_or(0), limit)
            .await,
    )
}

/// The OpenAPI 3.1 description of `/api/v1` and the prediction endpoints.
pub fn openapi() -> Value {
    let list = |summary: &str| {
        json!({"get": {"summary": summary, "parameters": [
            {"name": "filter", "in": "query", "schema": {"type": "string"}, "description": "e.g. metrics.accuracy > 0.9 AND tags.team = 'x'"},
            {"name": "limit", "in": "query", "schema": {"type": "integer"}},
            {"name": "page_token", "in": "query", "schema": {"type": "string"}}
        ], "responses": {"200": {"description": "a page: items and next_page_token"}, "400": {"$ref": "#/components/responses/Error"}}}})
    };
    let create = |summary: &str, schema: Value| json!({"post": {"summary": summary, "requestBody": {"content": {"application/json": {"schema": schema}}}, "responses": {"201": {"description": "created"}, "400": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}});
    let upload = |summary: &str, media: &str| json!({"post": {"summary": summary, "requestBody": {"content": {media: {"schema": {"type": "string", "format": "binary"}}}}, "responses": {"201": {"description": "created"}, "400": {"$ref": "#/components/responses/Error"}}}});
    let merge = |mut a: Value, b: Value| {
        if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
            a.extend(b);
        }
        a
    };
    let one = |summary: &str| json!({"get": {"summary": summary, "responses": {"200": {"description": "the entity"}, "404": {"$ref": "#/components/responses/Error"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Steward", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/api/v1/experiments": merge(list("List experiments"), create("Create an experiment", json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "description": {"type": "string"}}}))),
            "/api/v1/runs": list("Search runs, newest first"),
            "/api/v1/runs/{id}": one("A run with params, metrics, tags and inputs"),
            "/api/v1/datasets": merge(list("List datasets"), upload("Register a CSV body as a dataset version (query: name, target, id, time, ignore)", "text/csv")),
            "/api/v1/datasets/{name}": one("A dataset's latest version"),
            "/api/v1/models": merge(list("List models"), create("Create a model", json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "tags": {"type": "object"}}}))),
            "/api/v1/models/{name}": merge(one("A model with its aliases"), json!({"delete": {"summary": "Delete a model (query force=true when it has aliases or deployments)", "responses": {"200": {"description": "deleted"}, "409": {"$ref": "#/components/responses/Error"}}}})),
            "/api/v1/models/{name}/versions": merge(list("List a model's versions"), upload("Register an ONNX body as a new version (query: description, parent_version)", "application/octet-stream")),
            "/api/v1/models/{name}/versions/{version}": one("A version: artifact hash, signature, metrics, lineage"),
            "/api/v1/models/{name}/aliases": one("Every alias move of the model, oldest first"),
            "/api/v1/models/{name}/aliases/{alias}": {
                "get": {"summary": "The version an alias points at", "responses": {"200": {"description": "the version"}, "404": {"$ref": "#/components/responses/Error"}}},
                "put": {"summary": "Point an alias at a version", "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["version"], "properties": {"version": {"type": "integer"}, "reason": {"type": "string"}}}}}}, "responses": {"200": {"description": "the alias change"}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}},
                "delete": {"summary": "Remove an alias", "responses": {"200": {"description": "the alias change"}, "404": {"$ref": "#/components/responses/Error"}}}
            },
            "/api/v1/train": create("Train on a registered dataset; records a run and optionally registers the model", json!({"type": "object", "required": ["dataset", "algo"], "properties": {"dataset": {"type": "string"}, "algo": {"type": "string"}, "target": {"type": "string"}, "params": {"type": "object"}, "seed": {"type": "integer"}, "test_size": {"type": "number"}, "cv": {"type": "integer"}, "experiment": {"type": "string"}, "run_name": {"type": "string"}, "register": {"type": "string"}}})),
            "/api/v1/validate": upload("Check a CSV body's quality (query: against=DATASET[/V]|MODEL@ALIAS, target)", "text/csv"),
            "/api/v1/evaluate": upload("Evaluate a version (query: model=NAME[@ALIAS|/VERSION], target, positive_class) on a CSV body", "text/csv"),
            "/api/v1/deployments": {"get": {"summary": "Deployments with the versions they route to now", "responses": {"200": {"description": "a page"}}}},
            "/api/v1/deployments/{name}": {
                "get": {"summary": "A deployment", "responses": {"200": {"description": "the deployment"}, "404": {"$ref": "#/components/responses/Error"}}},
                "put": {"summary": "Create or change a deployment", "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["model"], "properties": {"model": {"type": "string"}, "alias": {"type": "string"}, "version": {"type": "integer"}, "canary": {"type": "object", "properties": {"version": {"type": "integer"}, "percent": {"type": "number"}}}, "shadow": {"type": "integer"}, "reason": {"type": "string"}}}}}}, "responses": {"200": {"description": "the deployment"}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}},
                "delete": {"summary": "Stop routing the name", "responses": {"200": {"description": "what it routed"}, "404": {"$ref": "#/components/responses/Error"}}}
            },
            "/api/v1/predictions": {"get": {"summary": "Captured predictions, newest first (query: model, version, deployment, role, request_id, limit, page_token)", "responses": {"200": {"description": "a page"}}}},
            "/api/v1/doctor": {"get": {"summary": "Check every version's artifacts against their hashes", "responses": {"200": {"description": "the report"}}}},
            "/api/v1/events": {"get": {"summary": "Events after an id (the change feed)", "parameters": [
                {"name": "after", "in": "query", "schema": {"type": "integer"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer"}}
            ], "responses": {"200": {"description": "events, oldest first"}}}},
            "/v2/models/{name}/infer": {"post": {"summary": "Open Inference Protocol V2 inference", "responses": {"200": {"description": "outputs"}, "400": {"description": "bad input"}, "404": {"description": "unknown model"}, "503": {"description": "model cannot load"}}}},
            "/invocations": {"post": {"summary": "MLflow-style scoring", "responses": {"200": {"description": "{\"predictions\": [...]}"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text format"}}}}
        },
        "components": {"responses": {"Error": {"description": "an error", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}
        }}}}}}
    })
}
