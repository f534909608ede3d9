//! Steward's metadata store.
//!
//! Object-safe traits describe what the rest of Steward may ask of the store: [`TrackingStore`] (experiments,
//! runs, metrics, datasets), [`RegistryStore`] (models, versions, aliases), [`DeploymentStore`] (what servers
//! route), [`PredictionStore`] (captured traffic) and [`EventStore`] (the append-only event log, which is also the
//! change feed). [`Store`] is all of them; [`open`] picks the implementation from a URI: `sqlite://` (embedded
//! default) or `postgres://`.
//!
//! Invariants every implementation keeps (checked by the conformance suite in `tests/conformance.rs`):
//! - Each write is one transaction; the event it emits commits with it, or neither does.
//! - Version numbers of a model are 1, 2, 3, ... with no gap and no duplicate, also under concurrent writers.
//! - Event ids grow strictly in commit order, so "events after id N" never skips a committed event.
//! - Names are checked by [`names`] before anything is written.
//! - A deployment only names versions and aliases that exist; an alias a deployment follows cannot be deleted,
//!   and a model with deployments is deleted only with `force` (which deletes the deployments too).

pub mod entities;
pub mod error;
pub mod filter;
pub mod names;
mod page;
mod postgres;
mod sqlite;
pub mod test_support;

use std::sync::Arc;

use async_trait::async_trait;

pub use entities::*;
pub use error::{StoreError, StoreResult};
pub use filter::{Clause, CmpOp, Filter};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// The schema version this build writes. A store with a higher version is refused, never modified.
pub const SCHEMA_VERSION: i64 = 2;

#[async_trait]
pub trait TrackingStore: Send + Sync {
    async fn create_experiment(
        &self,
        name: &str,
        description: Option<&str>,
        audit: &Audit,
    ) -> StoreResult<Experiment>;
    async fn get_experiment(&self, name: &str) -> StoreResult<Experiment>;
    /// Ordered by id. Filters: name.
    async fn list_experiments(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<Experiment>>;

    async fn create_run(&self, run: &NewRun, audit: &Audit) -> StoreResult<Run>;
    async fn get_run(&self, run_id: &str) -> StoreResult<Run>;
    /// Moves a run to a new status; a terminal status records the end time.
    async fn set_run_status(
        &self,
        run_id: &str,
        status: RunStatus,
        audit: &Audit,
    ) -> StoreResult<Run>;
    /// Params are write-once: logging the same value again is accepted, a different value is a conflict.
    async fn log_params(&self, run_id: &str, params: &Tags) -> StoreResult<()>;
    async fn set_run_tags(&self, run_id: &str, tags: &Tags) -> StoreResult<()>;
    /// Appends a batch of metric observations in one transaction and updates the latest values.
    async fn log_metrics(&self, run_id: &str, metrics: &[Metric]) -> StoreResult<()>;
    async fn log_inputs(&self, run_id: &str, datasets: &[DatasetRef]) -> StoreResult<()>;
    /// Every observation of one metric, ordered by step, then timestamp.
    async fn metric_history(&self, run_id: &str, key: &str) -> StoreResult<Vec<Metric>>;
    /// Newest runs first. Filters: name, status, tags, params, metrics (latest values).
    /// An empty `experiment_ids` searches every experiment.
    async fn search_runs(
        &self,
        experiment_ids: &[i64],
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<Run>>;

    /// Registers a dataset version. Registering content that this name already holds returns the existing
    /// version instead of a new one (datasets are versioned by content hash).
    async fn register_dataset(&self, dataset: &NewDataset, audit: &Audit) -> StoreResult<Dataset>;
    /// `version: None` gives the latest version.
    async fn get_dataset(&self, name: &str, version: Option<i64>) -> StoreResult<Dataset>;
    /// In registration order. Filters: name.
    async fn list_datasets(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<Dataset>>;
}

#[async_trait]
pub trait RegistryStore: Send + Sync {
    async fn create_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &Tags,
        audit: &Audit,
    ) -> StoreResult<Model>;
    async fn get_model(&self, name: &str) -> StoreResult<Model>;
    /// Ordered by name. Filters: name, tags.
    async fn list_models(&self, filter: &Filter, page: &PageRequest) -> StoreResult<Page<Model>>;
    /// Deletes a model and its versions' metadata (artifacts are content-addressed and may be shared, so they
    /// stay). Refused while aliases point at the model unless `force`.
    async fn delete_model(&self, name: &str, force: bool, audit: &Audit) -> StoreResult<()>;

    /// Assigns the next version number atomically and stores the version, immutable from then on.
    async fn create_model_version(
        &self,
        version: &NewModelVersion,
        audit: &Audit,
    ) -> StoreResult<ModelVersion>;
    async fn get_model_version(&self, model: &str, version: i64) -> StoreResult<ModelVersion>;
    /// Ordered by version. Filters: tags, metrics.
    async fn list_model_versions(
        &self,
        model: &str,
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<ModelVersion>>;

    /// Points `alias` at `version` (creating or moving it) and records the move in the alias history.
    async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: i64,
        audit: &Audit,
    ) -> StoreResult<AliasChange>;
    async fn delete_alias(
        &self,
        model: &str,
        alias: &str,
        audit: &Audit,
    ) -> StoreResult<AliasChange>;
    async fn resolve_alias(&self, model: &str, alias: &str) -> StoreResult<ModelVersion>;
    /// Oldest first. `alias: None` gives the history of every alias of the model.
    async fn alias_history(
        &self,
        model: &str,
        alias: Option<&str>,
    ) -> StoreResult<Vec<AliasChange>>;
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends an event that is not the side effect of another store write (e.g. "deployed").
    async fn append_event(
        &self,
        kind: &str,
        subject: &str,
        payload: &serde_json::Value,
        audit: &Audit,
    ) -> StoreResult<Event>;
    /// Events with id > `after_id`, oldest first, at most `limit`.
    async fn events_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<Event>>;
}

#[async_trait]
pub trait DeploymentStore: Send + Sync {
    /// Creates the deployment `deployment.name` or replaces what it routes (its revision then grows by one).
    /// The model, every version and the primary alias must exist.
    async fn put_deployment(
        &self,
        deployment: &NewDeployment,
        audit: &Audit,
    ) -> StoreResult<Deployment>;
    async fn get_deployment(&self, name: &str) -> StoreResult<Deployment>;
    /// Ordered by name.
    async fn list_deployments(&self, page: &PageRequest) -> StoreResult<Page<Deployment>>;
    /// Returns what the deployment routed until now.
    async fn delete_deployment(&self, name: &str, audit: &Audit) -> StoreResult<Deployment>;
}

#[async_trait]
pub trait PredictionStore: Send + Sync {
    /// Appends captured predictions in one transaction. They emit no event: traffic is not a registry change.
    /// Records name their model by name and survive the model's deletion (they are history).
    async fn record_predictions(&self, predictions: &[NewPrediction]) -> StoreResult<()>;
    /// Deletes captured predictions beyond the newest `keep` (by id: ids grow with every record, so this is an
    /// index range, not a count; gaps from rolled-back writes make it keep slightly fewer) and those recorded
    /// before `before` (either limit optional); returns how many went. Servers call it periodically, so capture
    /// never fills the disk.
    async fn prune_predictions(
        &self,
        keep: Option<u64>,
        before: Option<Millis>,
    ) -> StoreResult<u64>;
    /// Newest first.
    async fn list_predictions(
        &self,
        query: &PredictionQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<PredictionRecord>>;
}

/// The whole metadata store.
#[async_trait]
pub trait Store:
    TrackingStore + RegistryStore + EventStore + DeploymentStore + PredictionStore
{
    /// Where the store lives, for messages (passwords are never included).
    fn location(&self) -> String;
    async fn schema_version(&self) -> StoreResult<i64>;
}

/// Opens (and migrates) the store named by `uri`: `sqlite:///abs/path.db`, `sqlite://relative.db`, a bare
/// path (SQLite), or `postgres://` / `postgresql://`.
pub async fn open(uri: &str) -> StoreResult<Arc<dyn Store>> {
    if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(uri).await?))
    } else if let Some(path) = uri.strip_prefix("sqlite://") {
        Ok(Arc::new(SqliteStore::open(path).await?))
    } else if uri.contains("://") {
        Err(StoreError::UnsupportedUri(uri.to_string()))
    } else {
        Ok(Arc::new(SqliteStore::open(uri).await?))
    }
}

/// Reads the page token of a listing ordered by an integer key.
pub(crate) fn parse_int_token(token: &str) -> StoreResult<i64> {
    token
        .parse::<i64>()
        .map_err(|_| StoreError::InvalidPageToken(token.to_string()))
}
