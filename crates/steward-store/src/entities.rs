//! The entities Steward keeps in its metadata store. Plain data: no I/O here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC (as MLflow stores them).
pub type Millis = i64;

pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

pub type Tags = BTreeMap<String, String>;
pub type MetricValues = BTreeMap<String, f64>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "RUNNING" => Some(RunStatus::Running),
            "FINISHED" => Some(RunStatus::Finished),
            "FAILED" => Some(RunStatus::Failed),
            "KILLED" => Some(RunStatus::Killed),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        self != RunStatus::Running
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One metric observation. A run keeps every observation (the history) and, for search, the latest
/// value per key (highest step, then newest timestamp).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub step: i64,
    pub timestamp: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DatasetRef {
    pub name: String,
    pub version: i64,
}

impl std::fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    pub experiment_id: i64,
    pub name: Option<String>,
    pub params: Tags,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub experiment_id: i64,
    pub name: String,
    pub status: RunStatus,
    pub start_time: Millis,
    pub end_time: Option<Millis>,
    pub params: Tags,
    pub tags: Tags,
    /// Latest value of each metric.
    pub metrics: MetricValues,
    pub inputs: Vec<DatasetRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDataset {
    pub name: String,
    pub content_hash: String,
    pub schema: serde_json::Value,
    pub row_count: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub name: String,
    pub version: i64,
    pub content_hash: String,
    pub schema: serde_json::Value,
    pub row_count: Option<i64>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    pub description: Option<String>,
    pub tags: Tags,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Highest version number ever assigned (versions are never reused, even after a failed write).
    pub latest_version: Option<i64>,
    pub aliases: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewModelVersion {
    pub model: String,
    pub artifact_uri: String,
    pub artifact_hash: String,
    pub signature: Option<serde_json::Value>,
    pub metrics: MetricValues,
    pub source_run: Option<String>,
    pub dataset: Option<DatasetRef>,
    pub parent_version: Option<i64>,
    pub description: Option<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub model: String,
    pub version: i64,
    pub artifact_uri: String,
    pub artifact_hash: String,
    pub signature: Option<serde_json::Value>,
    pub metrics: MetricValues,
    pub source_run: Option<String>,
    pub dataset: Option<DatasetRef>,
    pub parent_version: Option<i64>,
    pub description: Option<String>,
    pub tags: Tags,
    pub created_at: Millis,
}

/// One move of an alias. `version == None` means the alias was deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasChange {
    pub model: String,
    pub alias: String,
    pub version: Option<i64>,
    pub previous_version: Option<i64>,
    pub actor: String,
    pub reason: Option<String>,
    pub at: Millis,
}

/// What a deployment serves as its primary: an alias followed as it moves, or one pinned version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentTarget {
    Alias(String),
    Version(i64),
}

/// A canary: this share of the traffic (0–100 percent) goes to `version` instead of the primary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    pub version: i64,
    pub percent: f64,
}

/// What to create or replace under a deployment name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDeployment {
    pub name: String,
    pub model: String,
    pub primary: DeploymentTarget,
    pub canary: Option<Canary>,
    /// A version that sees a copy of every request; its answers are recorded, never returned.
    pub shadow: Option<i64>,
}

/// What the server routes under a name: the primary, and optionally a canary share and a shadow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub name: String,
    pub model: String,
    pub primary: DeploymentTarget,
    pub canary: Option<Canary>,
    pub shadow: Option<i64>,
    /// 1 at creation, +1 on every change.
    pub revision: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub updated_by: String,
}

/// Which arm of a deployment answered (or, for a shadow, computed without answering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionRole {
    Primary,
    Canary,
    Shadow,
}

impl PredictionRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PredictionRole::Primary => "primary",
            PredictionRole::Canary => "canary",
            PredictionRole::Shadow => "shadow",
        }
    }

    pub fn parse(text: &str) -> Option<PredictionRole> {
        match text {
            "primary" => Some(PredictionRole::Primary),
            "canary" => Some(PredictionRole::Canary),
            "shadow" => Some(PredictionRole::Shadow),
            _ => None,
        }
    }
}

/// One captured prediction request as it is written: what came in, what the model answered, how long it took.
/// `inputs` and `outputs` are JSON text, made once by the writer (capture is a hot path: no JSON tree, no copy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPrediction {
    pub request_id: String,
    pub at: Millis,
    pub deployment: Option<String>,
    pub model: String,
    pub version: i64,
    pub role: PredictionRole,
    pub rows: i64,
    /// Columnar JSON: `{"column": [value per row]}`.
    pub inputs: String,
    /// JSON: `{"predictions": [...]}`, plus `probabilities` (one row per input row, in the order of the
    /// version's class labels) for classifiers.
    pub outputs: String,
    pub latency_micros: i64,
}

/// A captured prediction as it is read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRecord {
    pub id: i64,
    pub request_id: String,
    pub at: Millis,
    pub deployment: Option<String>,
    pub model: String,
    pub version: i64,
    pub role: PredictionRole,
    pub rows: i64,
    pub inputs: serde_json::Value,
    pub outputs: serde_json::Value,
    pub latency_micros: i64,
}

/// Which captured predictions to list; unset fields match everything.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PredictionQuery {
    pub model: Option<String>,
    pub version: Option<i64>,
    pub deployment: Option<String>,
    pub role: Option<PredictionRole>,
    pub request_id: Option<String>,
}

/// An entry of the append-only event log. Ids grow strictly, so "events after id N" is a change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub actor: String,
    pub at: Millis,
    pub reason: Option<String>,
    pub payload: serde_json::Value,
}

/// Who makes a change, and why. Every write that emits an event takes one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Audit {
    pub actor: String,
    pub reason: Option<String>,
}

impl Audit {
    pub fn new(actor: impl Into<String>) -> Self {
        Audit {
            actor: actor.into(),
            reason: None,
        }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// Event kinds, kept in one place so that consumers (the server's hot swap, audits) match on constants.
pub mod event_kind {
    pub const EXPERIMENT_CREATED: &str = "experiment.created";
    pub const RUN_CREATED: &str = "run.created";
    pub const RUN_STATUS_CHANGED: &str = "run.status_changed";
    pub const DATASET_REGISTERED: &str = "dataset.registered";
    pub const MODEL_CREATED: &str = "model.created";
    pub const MODEL_UPDATED: &str = "model.updated";
    pub const MODEL_DELETED: &str = "model.deleted";
    pub const VERSION_REGISTERED: &str = "model_version.registered";
    pub const ALIAS_SET: &str = "alias.set";
    pub const ALIAS_DELETED: &str = "alias.deleted";
    pub const DEPLOYMENT_SET: &str = "deployment.set";
    pub const DEPLOYMENT_DELETED: &str = "deployment.deleted";
}

/// A page of results plus the token that fetches the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

/// How much to fetch, and from where. Page tokens are opaque to callers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    pub limit: Option<u32>,
    pub page_token: Option<String>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 10_000;

    pub fn first(limit: u32) -> Self {
        PageRequest {
            limit: Some(limit),
            page_token: None,
        }
    }

    pub fn effective_limit(&self) -> u32 {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }
}
