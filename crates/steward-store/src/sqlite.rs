//! The embedded default: SQLite in WAL mode, one file (`STEWARD_HOME/steward.db`).
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool with a connection taken from a small
//! pool. Writes use `BEGIN IMMEDIATE`: the write lock is taken at the start of the transaction, so concurrent
//! writers (also from other processes) wait on the busy timeout instead of failing on a lock upgrade.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::entities::*;
use crate::error::{StoreError, StoreResult};
use crate::filter::{Clause, Filter};
use crate::names::{
    validate_alias, validate_deployment, validate_key, validate_metric_value, validate_name,
    validate_tags, validate_value,
};
use crate::page::paginate;
use crate::{
    DeploymentStore, EventStore, PredictionStore, RegistryStore, SCHEMA_VERSION, Store,
    TrackingStore, parse_int_token,
};

const BUSY_TIMEOUT: Duration = Duration::from_secs(60);
const POOL_KEEP: usize = 8;
/// Up to this many runs matching a metric clause, search starts from the metric index (see `search_runs`).
const SELECTIVE_METRIC_MATCHES: i64 = 5_000;

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_initial.sql"),
    include_str!("../migrations/sqlite/0002_deployments_predictions.sql"),
];

pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Inner {
    fn connect(&self) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // NORMAL is durable against process crashes (kill -9) in WAL mode; only an OS crash or power loss can
        // drop the last transactions, never corrupt the file.
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
        Ok(conn)
    }

    fn take(&self) -> StoreResult<Connection> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < POOL_KEEP
        {
            idle.push(conn);
        }
    }
}

fn location_of(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (and its parent folder) if missing, and migrates it.
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let inner = Arc::new(Inner {
            path,
            idle: Mutex::new(Vec::new()),
        });
        let setup = inner.clone();
        tokio::task::spawn_blocking(move || -> StoreResult<()> {
            if let Some(parent) = setup.path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)?;
            }
            let mut conn = setup.connect()?;
            migrate(&mut conn, &setup.path)?;
            setup.give_back(conn);
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Pool(format!("blocking task failed: {e}")))??;
        Ok(SqliteStore { inner })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn with_conn<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.take()?;
            let result = work(&mut conn);
            inner.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Pool(format!("blocking task failed: {e}")))?
    }

    /// Runs `work` in a `BEGIN IMMEDIATE` transaction; commits when it returns `Ok`.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> StoreResult<()> {
    let location = location_of(path);
    // Switching to WAL needs no transaction and is a no-op when the file is already in WAL mode.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "{location}: cannot switch to WAL mode (got {mode})"
        )));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let has_meta: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'steward_meta')",
        [],
        |row| row.get(0),
    )?;
    let current = if has_meta {
        let version: Option<String> = tx
            .query_row(
                "SELECT value FROM steward_meta WHERE key = 'schema_version'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        version
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| StoreError::NotSteward {
                location: location.clone(),
            })?
    } else {
        let other_tables: i64 = tx.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |row| row.get(0),
        )?;
        if other_tables > 0 {
            return Err(StoreError::NotSteward { location });
        }
        0
    };
    if current > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            location,
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version > current {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO steward_meta (key, value) VALUES ('schema_version', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![version.to_string()],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Row helpers

fn json_text(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{e}: {text}")))
}

fn insert_event(
    tx: &Transaction<'_>,
    kind: &str,
    subject: &str,
    payload: &serde_json::Value,
    audit: &Audit,
) -> StoreResult<Event> {
    let at = now_millis();
    let payload_text = json_text(payload)?;
    tx.execute(
        "INSERT INTO events (kind, subject, actor, at, reason, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![kind, subject, audit.actor, at, audit.reason, payload_text],
    )?;
    Ok(Event {
        id: tx.last_insert_rowid(),
        kind: kind.to_string(),
        subject: subject.to_string(),
        actor: audit.actor.clone(),
        at,
        reason: audit.reason.clone(),
        payload: payload.clone(),
    })
}

fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Event, String)> {
    Ok((
        Event {
            id: row.get(0)?,
            kind: row.get(1)?,
            subject: row.get(2)?,
            actor: row.get(3)?,
            at: row.get(4)?,
            reason: row.get(5)?,
            payload: serde_json::Value::Null,
        },
        row.get(6)?,
    ))
}

fn experiment_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Experiment> {
    Ok(Experiment {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        created_at: row.get(3)?,
    })
}

const RUN_COLUMNS: &str =
    "r.seq, r.id, r.experiment_id, r.name, r.status, r.start_time, r.end_time";

struct RunRow {
    seq: i64,
    run: Run,
}

fn run_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Run, String)> {
    let status: String = row.get(4)?;
    Ok((
        row.get(0)?,
        Run {
            id: row.get(1)?,
            experiment_id: row.get(2)?,
            name: row.get(3)?,
            status: RunStatus::Running,
            start_time: row.get(5)?,
            end_time: row.get(6)?,
            params: Tags::new(),
            tags: Tags::new(),
            metrics: MetricValues::new(),
            inputs: Vec::new(),
        },
        status,
    ))
}

fn finish_run_row((seq, mut run, status): (i64, Run, String)) -> StoreResult<RunRow> {
    run.status = RunStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("run {} has status '{status}'", run.id)))?;
    Ok(RunRow { seq, run })
}

/// Fills params, tags, latest metrics and inputs of runs already read.
fn load_run_details(conn: &Connection, rows: &mut [RunRow]) -> StoreResult<()> {
    let mut params = conn.prepare_cached("SELECT key, value FROM run_params WHERE run_seq = ?1")?;
    let mut tags = conn.prepare_cached("SELECT key, value FROM run_tags WHERE run_seq = ?1")?;
    let mut metrics =
        conn.prepare_cached("SELECT key, value FROM latest_metrics WHERE run_seq = ?1")?;
    let mut inputs = conn.prepare_cached(
        "SELECT d.name, d.version FROM run_inputs i JOIN datasets d ON d.id = i.dataset_id
         WHERE i.run_seq = ?1 ORDER BY d.name, d.version",
    )?;
    for row in rows.iter_mut() {
        row.run.params = params
            .query_map([row.seq], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        row.run.tags = tags
            .query_map([row.seq], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        row.run.metrics = metrics
            .query_map([row.seq], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        row.run.inputs = inputs
            .query_map([row.seq], |r| {
                Ok(DatasetRef {
                    name: r.get(0)?,
                    version: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

fn run_seq(conn: &Connection, run_id: &str) -> StoreResult<i64> {
    conn.query_row("SELECT seq FROM runs WHERE id = ?1", [run_id], |row| {
        row.get(0)
    })
    .optional()?
    .ok_or_else(|| StoreError::not_found("run", run_id))
}

fn read_run(conn: &Connection, run_id: &str) -> StoreResult<Run> {
    let raw = conn
        .query_row(
            &format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = ?1"),
            [run_id],
            run_from_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::not_found("run", run_id))?;
    let mut rows = [finish_run_row(raw)?];
    load_run_details(conn, &mut rows)?;
    let [row] = rows;
    Ok(row.run)
}

fn dataset_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Dataset, String)> {
    Ok((
        row.get(0)?,
        Dataset {
            name: row.get(1)?,
            version: row.get(2)?,
            content_hash: row.get(3)?,
            schema: serde_json::Value::Null,
            row_count: row.get(5)?,
            created_at: row.get(6)?,
        },
        row.get(4)?,
    ))
}

fn finish_dataset(
    (id, mut dataset, schema): (i64, Dataset, String),
) -> StoreResult<(i64, Dataset)> {
    dataset.schema = from_json(&schema)?;
    Ok((id, dataset))
}

const DATASET_COLUMNS: &str = "id, name, version, content_hash, schema, row_count, created_at";

fn dataset_id(conn: &Connection, reference: &DatasetRef) -> StoreResult<i64> {
    conn.query_row(
        "SELECT id FROM datasets WHERE name = ?1 AND version = ?2",
        params![reference.name, reference.version],
        |row| row.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("dataset", reference.to_string()))
}

struct ModelRow {
    id: i64,
    model: Model,
}

fn read_model(conn: &Connection, name: &str) -> StoreResult<ModelRow> {
    let row = conn
        .query_row(
            "SELECT id, name, description, tags, created_at, updated_at, last_version FROM models WHERE name = ?1",
            [name],
            model_from_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::not_found("model", name))?;
    let mut rows = [finish_model(row)?];
    load_aliases(conn, &mut rows)?;
    let [row] = rows;
    Ok(row)
}

type RawModel = (i64, Model, String, i64);

fn model_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawModel> {
    Ok((
        row.get(0)?,
        Model {
            name: row.get(1)?,
            description: row.get(2)?,
            tags: Tags::new(),
            created_at: row.get(4)?,
            updated_at: row.get(5)?,
            latest_version: None,
            aliases: BTreeMap::new(),
        },
        row.get(3)?,
        row.get(6)?,
    ))
}

fn finish_model((id, mut model, tags, last_version): RawModel) -> StoreResult<ModelRow> {
    model.tags = from_json(&tags)?;
    model.latest_version = (last_version > 0).then_some(last_version);
    Ok(ModelRow { id, model })
}

fn load_aliases(conn: &Connection, rows: &mut [ModelRow]) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached("SELECT alias, version FROM aliases WHERE model_id = ?1")?;
    for row in rows.iter_mut() {
        row.model.aliases = stmt
            .query_map([row.id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

fn model_id(conn: &Connection, name: &str) -> StoreResult<i64> {
    conn.query_row("SELECT id FROM models WHERE name = ?1", [name], |row| {
        row.get(0)
    })
    .optional()?
    .ok_or_else(|| StoreError::not_found("model", name))
}

const VERSION_COLUMNS: &str = "m.name, v.version, v.artifact_uri, v.artifact_hash, v.signature, v.metrics, \
     v.source_run, d.name, d.version, v.parent_version, v.description, v.tags, v.created_at";
const VERSION_FROM: &str = "model_versions v JOIN models m ON m.id = v.model_id \
     LEFT JOIN datasets d ON d.id = v.dataset_id";

type RawVersion = (ModelVersion, Option<String>, String, String);

fn version_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawVersion> {
    let dataset_name: Option<String> = row.get(7)?;
    let dataset_version: Option<i64> = row.get(8)?;
    Ok((
        ModelVersion {
            model: row.get(0)?,
            version: row.get(1)?,
            artifact_uri: row.get(2)?,
            artifact_hash: row.get(3)?,
            signature: None,
            metrics: MetricValues::new(),
            source_run: row.get(6)?,
            dataset: dataset_name
                .zip(dataset_version)
                .map(|(name, version)| DatasetRef { name, version }),
            parent_version: row.get(9)?,
            description: row.get(10)?,
            tags: Tags::new(),
            created_at: row.get(12)?,
        },
        row.get(4)?,
        row.get(5)?,
        row.get(11)?,
    ))
}

fn finish_version(
    (mut version, signature, metrics, tags): RawVersion,
) -> StoreResult<ModelVersion> {
    version.signature = signature.as_deref().map(from_json).transpose()?;
    version.metrics = from_json(&metrics)?;
    version.tags = from_json(&tags)?;
    Ok(version)
}

fn read_version(conn: &Connection, model: &str, version: i64) -> StoreResult<ModelVersion> {
    let raw = conn
        .query_row(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM {VERSION_FROM} WHERE m.name = ?1 AND v.version = ?2"
            ),
            params![model, version],
            version_from_row,
        )
        .optional()?;
    match raw {
        Some(raw) => finish_version(raw),
        None => {
            model_id(conn, model)?;
            Err(StoreError::not_found(
                "version",
                format!("{model}/{version}"),
            ))
        }
    }
}

fn deployments_of_model(conn: &Connection, model_id: i64) -> StoreResult<Vec<String>> {
    let names = conn
        .prepare_cached("SELECT name FROM deployments WHERE model_id = ?1 ORDER BY name")?
        .query_map([model_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

const DEPLOYMENT_COLUMNS: &str = "d.name, m.name, d.primary_alias, d.primary_version, d.canary_version, \
     d.canary_percent, d.shadow_version, d.revision, d.created_at, d.updated_at, d.updated_by";
const DEPLOYMENT_FROM: &str = "deployments d JOIN models m ON m.id = d.model_id";

fn deployment_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Deployment> {
    let alias: Option<String> = row.get(2)?;
    let primary = match alias {
        Some(alias) => DeploymentTarget::Alias(alias),
        None => DeploymentTarget::Version(row.get(3)?),
    };
    let canary = match (row.get::<_, Option<i64>>(4)?, row.get::<_, Option<f64>>(5)?) {
        (Some(version), Some(percent)) => Some(Canary { version, percent }),
        _ => None,
    };
    Ok(Deployment {
        name: row.get(0)?,
        model: row.get(1)?,
        primary,
        canary,
        shadow: row.get(6)?,
        revision: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
        updated_by: row.get(10)?,
    })
}

fn read_deployment(conn: &Connection, name: &str) -> StoreResult<Deployment> {
    conn.query_row(
        &format!("SELECT {DEPLOYMENT_COLUMNS} FROM {DEPLOYMENT_FROM} WHERE d.name = ?1"),
        [name],
        deployment_from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("deployment", name))
}

const PREDICTION_COLUMNS: &str =
    "id, request_id, at, deployment, model, version, role, n_rows, inputs, outputs, latency_micros";

fn prediction_from_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(PredictionRecord, [String; 3])> {
    let texts = [row.get(6)?, row.get(8)?, row.get(9)?];
    Ok((
        PredictionRecord {
            id: row.get(0)?,
            request_id: row.get(1)?,
            at: row.get(2)?,
            deployment: row.get(3)?,
            model: row.get(4)?,
            version: row.get(5)?,
            role: PredictionRole::Primary,
            rows: row.get(7)?,
            inputs: serde_json::Value::Null,
            outputs: serde_json::Value::Null,
            latency_micros: row.get(10)?,
        },
        texts,
    ))
}

fn finish_prediction(
    (mut record, [role, inputs, outputs]): (PredictionRecord, [String; 3]),
) -> StoreResult<PredictionRecord> {
    record.role = PredictionRole::parse(&role)
        .ok_or_else(|| StoreError::Corrupt(format!("prediction role '{role}'")))?;
    record.inputs = from_json(&inputs)?;
    record.outputs = from_json(&outputs)?;
    Ok(record)
}

fn alias_change_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AliasChange> {
    Ok(AliasChange {
        model: row.get(0)?,
        alias: row.get(1)?,
        version: row.get(2)?,
        previous_version: row.get(3)?,
        actor: row.get(4)?,
        reason: row.get(5)?,
        at: row.get(6)?,
    })
}

fn record_alias_change(
    tx: &Transaction<'_>,
    model_id: i64,
    change: &AliasChange,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO alias_history (model_id, alias, version, previous_version, actor, reason, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            model_id,
            change.alias,
            change.version,
            change.previous_version,
            change.actor,
            change.reason,
            change.at
        ],
    )?;
    Ok(())
}

/// Collects SQL conditions and their bound values.
#[derive(Default)]
struct Conditions {
    sql: String,
    values: Vec<SqlValue>,
}

impl Conditions {
    fn push(&mut self, condition: &str, values: impl IntoIterator<Item = SqlValue>) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
        self.values.extend(values);
    }

    fn name(&mut self, column: &str, clause: &Clause) -> bool {
        match clause {
            Clause::NameEquals(name) => {
                self.push(&format!("{column} = ?"), [SqlValue::Text(name.clone())]);
                true
            }
            Clause::NamePrefix(prefix) => {
                self.push(
                    &format!("substr({column}, 1, ?) = ?"),
                    [
                        SqlValue::Integer(prefix.chars().count() as i64),
                        SqlValue::Text(prefix.clone()),
                    ],
                );
                true
            }
            _ => false,
        }
    }
}

fn json_path(key: &str) -> SqlValue {
    // Keys are validated (no quotes), so this path cannot be escaped.
    SqlValue::Text(format!("$.\"{key}\""))
}

// ---------------------------------------------------------------------------------------------------------------

#[async_trait]
impl TrackingStore for SqliteStore {
    async fn create_experiment(
        &self,
        name: &str,
        description: Option<&str>,
        audit: &Audit,
    ) -> StoreResult<Experiment> {
        validate_name("experiment", name)?;
        let (name, description, audit) = (
            name.to_string(),
            description.map(str::to_string),
            audit.clone(),
        );
        self.write(move |tx| {
            let created_at = now_millis();
            let inserted = tx.execute(
                "INSERT INTO experiments (name, description, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO NOTHING",
                params![name, description, created_at],
            )?;
            if inserted == 0 {
                return Err(StoreError::already_exists("experiment", &name));
            }
            let experiment = Experiment {
                id: tx.last_insert_rowid(),
                name: name.clone(),
                description,
                created_at,
            };
            insert_event(
                tx,
                event_kind::EXPERIMENT_CREATED,
                &name,
                &serde_json::json!({ "id": experiment.id }),
                &audit,
            )?;
            Ok(experiment)
        })
        .await
    }

    async fn get_experiment(&self, name: &str) -> StoreResult<Experiment> {
        let name = name.to_string();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT id, name, description, created_at FROM experiments WHERE name = ?1",
                [&name],
                experiment_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::not_found("experiment", &name))
        })
        .await
    }

    async fn list_experiments(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<Experiment>> {
        filter.ensure_only("experiments", &["name"])?;
        let filter = filter.clone();
        let limit = page.effective_limit();
        let after = page
            .page_token
            .as_deref()
            .map(parse_int_token)
            .transpose()?;
        self.with_conn(move |conn| {
            let mut conditions = Conditions::default();
            if let Some(after) = after {
                conditions.push("id > ?", [SqlValue::Integer(after)]);
            }
            for clause in &filter.clauses {
                conditions.name("name", clause);
            }
            let sql = format!(
                "SELECT id, name, description, created_at FROM experiments WHERE 1 = 1{} ORDER BY id LIMIT {}",
                conditions.sql,
                limit + 1
            );
            let mut stmt = conn.prepare(&sql)?;
            let items = stmt
                .query_map(rusqlite::params_from_iter(conditions.values), experiment_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(paginate(items, limit, |e| e.id.to_string()))
        })
        .await
    }

    async fn create_run(&self, run: &NewRun, audit: &Audit) -> StoreResult<Run> {
        if let Some(name) = &run.name {
            validate_name("run", name)?;
        }
        validate_tags("param", run.params.iter())?;
        validate_tags("tag", run.tags.iter())?;
        let (new_run, audit) = (run.clone(), audit.clone());
        self.write(move |tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM experiments WHERE id = ?1)",
                [new_run.experiment_id],
                |row| row.get(0),
            )?;
            if !exists {
                return Err(StoreError::not_found(
                    "experiment",
                    format!("id {}", new_run.experiment_id),
                ));
            }
            let id = uuid::Uuid::new_v4().simple().to_string();
            let name = new_run.name.clone().unwrap_or_else(|| format!("run-{}", &id[..8]));
            let start_time = now_millis();
            tx.execute(
                "INSERT INTO runs (id, experiment_id, name, status, start_time) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, new_run.experiment_id, name, RunStatus::Running.as_str(), start_time],
            )?;
            let seq = tx.last_insert_rowid();
            for (key, value) in &new_run.params {
                tx.execute(
                    "INSERT INTO run_params (run_seq, key, value) VALUES (?1, ?2, ?3)",
                    params![seq, key, value],
                )?;
            }
            for (key, value) in &new_run.tags {
                tx.execute(
                    "INSERT INTO run_tags (run_seq, key, value) VALUES (?1, ?2, ?3)",
                    params![seq, key, value],
                )?;
            }
            insert_event(
                tx,
                event_kind::RUN_CREATED,
                &id,
                &serde_json::json!({ "experiment_id": new_run.experiment_id, "name": name }),
                &audit,
            )?;
            read_run(tx, &id)
        })
        .await
    }

    async fn get_run(&self, run_id: &str) -> StoreResult<Run> {
        let run_id = run_id.to_string();
        self.with_conn(move |conn| read_run(conn, &run_id)).await
    }

    async fn set_run_status(
        &self,
        run_id: &str,
        status: RunStatus,
        audit: &Audit,
    ) -> StoreResult<Run> {
        let (run_id, audit) = (run_id.to_string(), audit.clone());
        self.write(move |tx| {
            let seq = run_seq(tx, &run_id)?;
            let end_time = status.is_terminal().then(now_millis);
            tx.execute(
                "UPDATE runs SET status = ?1, end_time = ?2 WHERE seq = ?3",
                params![status.as_str(), end_time, seq],
            )?;
            insert_event(
                tx,
                event_kind::RUN_STATUS_CHANGED,
                &run_id,
                &serde_json::json!({ "status": status }),
                &audit,
            )?;
            read_run(tx, &run_id)
        })
        .await
    }

    async fn log_params(&self, run_id: &str, params_: &Tags) -> StoreResult<()> {
        validate_tags("param", params_.iter())?;
        let (run_id, params_) = (run_id.to_string(), params_.clone());
        self.write(move |tx| {
            let seq = run_seq(tx, &run_id)?;
            let mut existing =
                tx.prepare_cached("SELECT value FROM run_params WHERE run_seq = ?1 AND key = ?2")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO run_params (run_seq, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (key, value) in &params_ {
                let old: Option<String> = existing
                    .query_row(params![seq, key], |row| row.get(0))
                    .optional()?;
                match old {
                    Some(old) if &old == value => {}
                    Some(old) => {
                        return Err(StoreError::Conflict(format!(
                            "param '{key}' of run {run_id} is already '{old}'; params cannot change (log a new run)"
                        )));
                    }
                    None => {
                        insert.execute(params![seq, key, value])?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn set_run_tags(&self, run_id: &str, tags: &Tags) -> StoreResult<()> {
        validate_tags("tag", tags.iter())?;
        let (run_id, tags) = (run_id.to_string(), tags.clone());
        self.write(move |tx| {
            let seq = run_seq(tx, &run_id)?;
            let mut upsert = tx.prepare_cached(
                "INSERT INTO run_tags (run_seq, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run_seq, key) DO UPDATE SET value = excluded.value",
            )?;
            for (key, value) in &tags {
                upsert.execute(params![seq, key, value])?;
            }
            Ok(())
        })
        .await
    }

    async fn log_metrics(&self, run_id: &str, metrics: &[Metric]) -> StoreResult<()> {
        for metric in metrics {
            validate_metric_value(&metric.key, metric.value)?;
        }
        let latest = latest_per_key(metrics);
        let (run_id, metrics) = (run_id.to_string(), metrics.to_vec());
        self.write(move |tx| {
            let seq = run_seq(tx, &run_id)?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO metrics (run_seq, key, value, step, timestamp) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for metric in &metrics {
                insert.execute(params![seq, metric.key, metric.value, metric.step, metric.timestamp])?;
            }
            let mut upsert = tx.prepare_cached(
                "INSERT INTO latest_metrics (run_seq, key, value, step, timestamp) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (run_seq, key) DO UPDATE SET
                   value = excluded.value, step = excluded.step, timestamp = excluded.timestamp
                 WHERE excluded.step > latest_metrics.step
                    OR (excluded.step = latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)",
            )?;
            for metric in latest {
                upsert.execute(params![seq, metric.key, metric.value, metric.step, metric.timestamp])?;
            }
            Ok(())
        })
        .await
    }

    async fn log_inputs(&self, run_id: &str, datasets: &[DatasetRef]) -> StoreResult<()> {
        let (run_id, datasets) = (run_id.to_string(), datasets.to_vec());
        self.write(move |tx| {
            let seq = run_seq(tx, &run_id)?;
            for reference in &datasets {
                let id = dataset_id(tx, reference)?;
                tx.execute(
                    "INSERT INTO run_inputs (run_seq, dataset_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![seq, id],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn metric_history(&self, run_id: &str, key: &str) -> StoreResult<Vec<Metric>> {
        validate_key("metric", key)?;
        let (run_id, key) = (run_id.to_string(), key.to_string());
        self.with_conn(move |conn| {
            let seq = run_seq(conn, &run_id)?;
            let mut stmt = conn.prepare_cached(
                "SELECT key, value, step, timestamp FROM metrics WHERE run_seq = ?1 AND key = ?2
                 ORDER BY step, timestamp",
            )?;
            let history = stmt
                .query_map(params![seq, key], |row| {
                    Ok(Metric {
                        key: row.get(0)?,
                        value: row.get(1)?,
                        step: row.get(2)?,
                        timestamp: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(history)
        })
        .await
    }

    async fn search_runs(
        &self,
        experiment_ids: &[i64],
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<Run>> {
        filter.ensure_only("runs", &["name", "status", "tags", "params", "metrics"])?;
        let (experiment_ids, filter) = (experiment_ids.to_vec(), filter.clone());
        let limit = page.effective_limit();
        let before = page
            .page_token
            .as_deref()
            .map(parse_int_token)
            .transpose()?;
        self.with_conn(move |conn| {
            let mut conditions = Conditions::default();
            if !experiment_ids.is_empty() {
                let marks = vec!["?"; experiment_ids.len()].join(", ");
                conditions.push(
                    &format!("r.experiment_id IN ({marks})"),
                    experiment_ids.iter().map(|id| SqlValue::Integer(*id)),
                );
            }
            if let Some(before) = before {
                conditions.push("r.seq < ?", [SqlValue::Integer(before)]);
            }
            for clause in &filter.clauses {
                if conditions.name("r.name", clause) {
                    continue;
                }
                match clause {
                    Clause::Status(status) => conditions
                        .push("r.status = ?", [SqlValue::Text(status.as_str().into())]),
                    Clause::Tag { key, value } => conditions.push(
                        "EXISTS (SELECT 1 FROM run_tags t WHERE t.run_seq = r.seq AND t.key = ? AND t.value = ?)",
                        [SqlValue::Text(key.clone()), SqlValue::Text(value.clone())],
                    ),
                    Clause::Param { key, value } => conditions.push(
                        "EXISTS (SELECT 1 FROM run_params p WHERE p.run_seq = r.seq AND p.key = ? AND p.value = ?)",
                        [SqlValue::Text(key.clone()), SqlValue::Text(value.clone())],
                    ),
                    Clause::Metric { key, op, value } => conditions.push(
                        &format!(
                            "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_seq = r.seq AND m.key = ? AND m.value {} ?)",
                            op.sql()
                        ),
                        [SqlValue::Text(key.clone()), SqlValue::Real(*value)],
                    ),
                    Clause::NameEquals(_) | Clause::NamePrefix(_) => {}
                }
            }
            // SQLite's planner cannot know how selective a metric range is. Newest-first order makes it scan
            // runs backwards and test each; when the first metric clause matches few runs, start from the
            // metric index instead (CROSS JOIN fixes the join order) and sort the few matches.
            let mut from = "runs r".to_string();
            let mut values = Vec::new();
            if let Some((key, op, value)) = filter.clauses.iter().find_map(|c| match c {
                Clause::Metric { key, op, value } if *op != crate::filter::CmpOp::Ne => {
                    Some((key, op, value))
                }
                _ => None,
            }) {
                let matching: i64 = conn.query_row(
                    &format!(
                        "SELECT count(*) FROM (SELECT 1 FROM latest_metrics WHERE key = ?1 AND value {} ?2 LIMIT ?3)",
                        op.sql()
                    ),
                    params![key, value, SELECTIVE_METRIC_MATCHES + 1],
                    |row| row.get(0),
                )?;
                if matching <= SELECTIVE_METRIC_MATCHES {
                    from = format!(
                        "(SELECT run_seq FROM latest_metrics WHERE key = ? AND value {} ?) selected \
                         CROSS JOIN runs r ON r.seq = selected.run_seq",
                        op.sql()
                    );
                    values.push(SqlValue::Text(key.clone()));
                    values.push(SqlValue::Real(*value));
                }
            }
            values.extend(conditions.values);
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM {from} WHERE 1 = 1{} ORDER BY r.seq DESC LIMIT {}",
                conditions.sql,
                limit + 1
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let raw = stmt
                .query_map(rusqlite::params_from_iter(values), run_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let rows = raw.into_iter().map(finish_run_row).collect::<StoreResult<Vec<_>>>()?;
            let page = paginate(rows, limit, |row| row.seq.to_string());
            let mut rows = page.items;
            load_run_details(conn, &mut rows)?;
            Ok(Page {
                items: rows.into_iter().map(|row| row.run).collect(),
                next_page_token: page.next_page_token,
            })
        })
        .await
    }

    async fn register_dataset(&self, dataset: &NewDataset, audit: &Audit) -> StoreResult<Dataset> {
        validate_name("dataset", &dataset.name)?;
        if dataset.content_hash.is_empty() {
            return Err(StoreError::InvalidArgument(
                "a dataset needs its content hash".into(),
            ));
        }
        let (new, audit) = (dataset.clone(), audit.clone());
        self.write(move |tx| {
            let existing = tx
                .query_row(
                    &format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1 AND content_hash = ?2"),
                    params![new.name, new.content_hash],
                    dataset_from_row,
                )
                .optional()?;
            if let Some(existing) = existing {
                return Ok(finish_dataset(existing)?.1);
            }
            let version: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM datasets WHERE name = ?1",
                [&new.name],
                |row| row.get(0),
            )?;
            let created_at = now_millis();
            tx.execute(
                "INSERT INTO datasets (name, version, content_hash, schema, row_count, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    new.name,
                    version,
                    new.content_hash,
                    json_text(&new.schema)?,
                    new.row_count,
                    created_at
                ],
            )?;
            insert_event(
                tx,
                event_kind::DATASET_REGISTERED,
                &format!("{}/{version}", new.name),
                &serde_json::json!({ "content_hash": new.content_hash }),
                &audit,
            )?;
            Ok(Dataset {
                name: new.name,
                version,
                content_hash: new.content_hash,
                schema: new.schema,
                row_count: new.row_count,
                created_at,
            })
        })
        .await
    }

    async fn get_dataset(&self, name: &str, version: Option<i64>) -> StoreResult<Dataset> {
        let name = name.to_string();
        self.with_conn(move |conn| {
            let raw = match version {
                Some(version) => conn
                    .query_row(
                        &format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1 AND version = ?2"),
                        params![name, version],
                        dataset_from_row,
                    )
                    .optional()?,
                None => conn
                    .query_row(
                        &format!(
                            "SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1 ORDER BY version DESC LIMIT 1"
                        ),
                        params![name],
                        dataset_from_row,
                    )
                    .optional()?,
            };
            let label = match version {
                Some(version) => format!("{name}/{version}"),
                None => name.clone(),
            };
            let raw = raw.ok_or_else(|| StoreError::not_found("dataset", label))?;
            Ok(finish_dataset(raw)?.1)
        })
        .await
    }

    async fn list_datasets(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<Dataset>> {
        filter.ensure_only("datasets", &["name"])?;
        let filter = filter.clone();
        let limit = page.effective_limit();
        let after = page
            .page_token
            .as_deref()
            .map(parse_int_token)
            .transpose()?;
        self.with_conn(move |conn| {
            let mut conditions = Conditions::default();
            if let Some(after) = after {
                conditions.push("id > ?", [SqlValue::Integer(after)]);
            }
            for clause in &filter.clauses {
                conditions.name("name", clause);
            }
            let sql = format!(
                "SELECT {DATASET_COLUMNS} FROM datasets WHERE 1 = 1{} ORDER BY id LIMIT {}",
                conditions.sql,
                limit + 1
            );
            let mut stmt = conn.prepare(&sql)?;
            let items = stmt
                .query_map(
                    rusqlite::params_from_iter(conditions.values),
                    dataset_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(finish_dataset)
                .collect::<StoreResult<Vec<_>>>()?;
            let page = paginate(items, limit, |(id, _)| id.to_string());
            Ok(Page {
                items: page.items.into_iter().map(|(_, d)| d).collect(),
                next_page_token: page.next_page_token,
            })
        })
        .await
    }
}

/// The observation that wins "latest" for each key within one batch: highest step, then newest timestamp,
/// then the last one logged.
pub(crate) fn latest_per_key(metrics: &[Metric]) -> Vec<Metric> {
    let mut latest: BTreeMap<&str, &Metric> = BTreeMap::new();
    for metric in metrics {
        let replace = match latest.get(metric.key.as_str()) {
            None => true,
            Some(current) => (metric.step, metric.timestamp) >= (current.step, current.timestamp),
        };
        if replace {
            latest.insert(&metric.key, metric);
        }
    }
    latest.into_values().cloned().collect()
}

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn create_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &Tags,
        audit: &Audit,
    ) -> StoreResult<Model> {
        validate_name("model", name)?;
        validate_tags("tag", tags.iter())?;
        if let Some(description) = description {
            validate_value("description", name, description)?;
        }
        let (name, description, tags, audit) = (
            name.to_string(),
            description.map(str::to_string),
            tags.clone(),
            audit.clone(),
        );
        self.write(move |tx| {
            let now = now_millis();
            let inserted = tx.execute(
                "INSERT INTO models (name, description, tags, created_at, updated_at, last_version)
                 VALUES (?1, ?2, ?3, ?4, ?4, 0) ON CONFLICT (name) DO NOTHING",
                params![name, description, json_text(&tags)?, now],
            )?;
            if inserted == 0 {
                return Err(StoreError::already_exists("model", &name));
            }
            insert_event(
                tx,
                event_kind::MODEL_CREATED,
                &name,
                &serde_json::json!({ "description": description, "tags": tags }),
                &audit,
            )?;
            Ok(read_model(tx, &name)?.model)
        })
        .await
    }

    async fn get_model(&self, name: &str) -> StoreResult<Model> {
        let name = name.to_string();
        self.with_conn(move |conn| Ok(read_model(conn, &name)?.model))
            .await
    }

    async fn list_models(&self, filter: &Filter, page: &PageRequest) -> StoreResult<Page<Model>> {
        filter.ensure_only("models", &["name", "tags"])?;
        let filter = filter.clone();
        let limit = page.effective_limit();
        let after = page.page_token.clone();
        self.with_conn(move |conn| {
            let mut conditions = Conditions::default();
            if let Some(after) = after {
                conditions.push("name > ?", [SqlValue::Text(after)]);
            }
            for clause in &filter.clauses {
                if conditions.name("name", clause) {
                    continue;
                }
                if let Clause::Tag { key, value } = clause {
                    conditions.push(
                        "json_extract(tags, ?) = ?",
                        [json_path(key), SqlValue::Text(value.clone())],
                    );
                }
            }
            let sql = format!(
                "SELECT id, name, description, tags, created_at, updated_at, last_version FROM models
                 WHERE 1 = 1{} ORDER BY name LIMIT {}",
                conditions.sql,
                limit + 1
            );
            let mut stmt = conn.prepare(&sql)?;
            let raw = stmt
                .query_map(rusqlite::params_from_iter(conditions.values), model_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let rows = raw.into_iter().map(finish_model).collect::<StoreResult<Vec<_>>>()?;
            let page = paginate(rows, limit, |row| row.model.name.clone());
            let mut rows = page.items;
            load_aliases(conn, &mut rows)?;
            Ok(Page {
                items: rows.into_iter().map(|row| row.model).collect(),
                next_page_token: page.next_page_token,
            })
        })
        .await
    }

    async fn delete_model(&self, name: &str, force: bool, audit: &Audit) -> StoreResult<()> {
        let (name, audit) = (name.to_string(), audit.clone());
        self.write(move |tx| {
            let row = read_model(tx, &name)?;
            if !row.model.aliases.is_empty() && !force {
                let aliases: Vec<String> = row
                    .model
                    .aliases
                    .iter()
                    .map(|(alias, version)| format!("{alias} -> {version}"))
                    .collect();
                return Err(StoreError::Conflict(format!(
                    "model '{name}' still has aliases ({}); delete them first or pass --force",
                    aliases.join(", ")
                )));
            }
            let deployments = deployments_of_model(tx, row.id)?;
            if !deployments.is_empty() && !force {
                return Err(StoreError::Conflict(format!(
                    "model '{name}' is deployed ({}); delete the deployments first or pass --force",
                    deployments.join(", ")
                )));
            }
            tx.execute("DELETE FROM deployments WHERE model_id = ?1", [row.id])?;
            tx.execute("DELETE FROM aliases WHERE model_id = ?1", [row.id])?;
            tx.execute("DELETE FROM alias_history WHERE model_id = ?1", [row.id])?;
            tx.execute("DELETE FROM model_versions WHERE model_id = ?1", [row.id])?;
            tx.execute("DELETE FROM models WHERE id = ?1", [row.id])?;
            insert_event(
                tx,
                event_kind::MODEL_DELETED,
                &name,
                &serde_json::json!({
                    "versions": row.model.latest_version.unwrap_or(0),
                    "aliases": row.model.aliases,
                    "deployments": deployments,
                    "forced": force,
                }),
                &audit,
            )?;
            Ok(())
        })
        .await
    }

    async fn create_model_version(
        &self,
        version: &NewModelVersion,
        audit: &Audit,
    ) -> StoreResult<ModelVersion> {
        validate_name("model", &version.model)?;
        validate_tags("tag", version.tags.iter())?;
        for (key, value) in &version.metrics {
            validate_metric_value(key, *value)?;
        }
        if let Some(description) = &version.description {
            validate_value("description", &version.model, description)?;
        }
        if version.artifact_uri.is_empty() || version.artifact_hash.is_empty() {
            return Err(StoreError::InvalidArgument(
                "a model version needs an artifact URI and hash".into(),
            ));
        }
        let (new, audit) = (version.clone(), audit.clone());
        self.write(move |tx| {
            let model_id = model_id(tx, &new.model)?;
            let dataset = new.dataset.as_ref().map(|d| dataset_id(tx, d)).transpose()?;
            if let Some(run) = &new.source_run {
                run_seq(tx, run)?;
            }
            // The counter row is the serialisation point: the write lock is already held (BEGIN IMMEDIATE), and a
            // rolled-back registration rolls the counter back too, so numbers have no gaps.
            let number: i64 = tx.query_row(
                "UPDATE models SET last_version = last_version + 1, updated_at = ?2 WHERE id = ?1 RETURNING last_version",
                params![model_id, now_millis()],
                |row| row.get(0),
            )?;
            if let Some(parent) = new.parent_version
                && (parent < 1 || parent >= number)
            {
                return Err(StoreError::not_found(
                    "version",
                    format!("{}/{parent} (parent)", new.model),
                ));
            }
            let created_at = now_millis();
            tx.execute(
                "INSERT INTO model_versions (model_id, version, artifact_uri, artifact_hash, signature, metrics,
                     source_run, dataset_id, parent_version, description, tags, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    model_id,
                    number,
                    new.artifact_uri,
                    new.artifact_hash,
                    new.signature.as_ref().map(json_text).transpose()?,
                    json_text(&new.metrics)?,
                    new.source_run,
                    dataset,
                    new.parent_version,
                    new.description,
                    json_text(&new.tags)?,
                    created_at
                ],
            )?;
            insert_event(
                tx,
                event_kind::VERSION_REGISTERED,
                &format!("{}/{number}", new.model),
                &serde_json::json!({ "artifact_hash": new.artifact_hash, "version": number }),
                &audit,
            )?;
            read_version(tx, &new.model, number)
        })
        .await
    }

    async fn get_model_version(&self, model: &str, version: i64) -> StoreResult<ModelVersion> {
        let model = model.to_string();
        self.with_conn(move |conn| read_version(conn, &model, version))
            .await
    }

    async fn list_model_versions(
        &self,
        model: &str,
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<ModelVersion>> {
        filter.ensure_only("model versions", &["tags", "metrics"])?;
        let (model, filter) = (model.to_string(), filter.clone());
        let limit = page.effective_limit();
        let after = page
            .page_token
            .as_deref()
            .map(parse_int_token)
            .transpose()?;
        self.with_conn(move |conn| {
            let id = model_id(conn, &model)?;
            let mut conditions = Conditions::default();
            conditions.push("v.model_id = ?", [SqlValue::Integer(id)]);
            if let Some(after) = after {
                conditions.push("v.version > ?", [SqlValue::Integer(after)]);
            }
            for clause in &filter.clauses {
                match clause {
                    Clause::Tag { key, value } => conditions.push(
                        "json_extract(v.tags, ?) = ?",
                        [json_path(key), SqlValue::Text(value.clone())],
                    ),
                    Clause::Metric { key, op, value } => conditions.push(
                        &format!("json_extract(v.metrics, ?) {} ?", op.sql()),
                        [json_path(key), SqlValue::Real(*value)],
                    ),
                    _ => {}
                }
            }
            let sql = format!(
                "SELECT {VERSION_COLUMNS} FROM {VERSION_FROM} WHERE 1 = 1{} ORDER BY v.version LIMIT {}",
                conditions.sql,
                limit + 1
            );
            let mut stmt = conn.prepare(&sql)?;
            let items = stmt
                .query_map(rusqlite::params_from_iter(conditions.values), version_from_row)?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(finish_version)
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(paginate(items, limit, |v| v.version.to_string()))
        })
        .await
    }

    async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: i64,
        audit: &Audit,
    ) -> StoreResult<AliasChange> {
        validate_alias(alias)?;
        let (model, alias, audit) = (model.to_string(), alias.to_string(), audit.clone());
        self.write(move |tx| {
            let id = model_id(tx, &model)?;
            read_version(tx, &model, version)?;
            let previous: Option<i64> = tx
                .query_row(
                    "SELECT version FROM aliases WHERE model_id = ?1 AND alias = ?2",
                    params![id, alias],
                    |row| row.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO aliases (model_id, alias, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version",
                params![id, alias, version],
            )?;
            let change = AliasChange {
                model: model.clone(),
                alias: alias.clone(),
                version: Some(version),
                previous_version: previous,
                actor: audit.actor.clone(),
                reason: audit.reason.clone(),
                at: now_millis(),
            };
            record_alias_change(tx, id, &change)?;
            insert_event(
                tx,
                event_kind::ALIAS_SET,
                &format!("{model}@{alias}"),
                &serde_json::json!({ "version": version, "previous_version": previous }),
                &audit,
            )?;
            Ok(change)
        })
        .await
    }

    async fn delete_alias(
        &self,
        model: &str,
        alias: &str,
        audit: &Audit,
    ) -> StoreResult<AliasChange> {
        let (model, alias, audit) = (model.to_string(), alias.to_string(), audit.clone());
        self.write(move |tx| {
            let id = model_id(tx, &model)?;
            let followers: Vec<String> = tx
                .prepare_cached(
                    "SELECT name FROM deployments WHERE model_id = ?1 AND primary_alias = ?2 ORDER BY name",
                )?
                .query_map(params![id, alias], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            if !followers.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "alias '{model}@{alias}' is the primary of deployment {}; deploy another target or delete the deployment first",
                    followers.join(", ")
                )));
            }
            let previous: i64 = tx
                .query_row(
                    "DELETE FROM aliases WHERE model_id = ?1 AND alias = ?2 RETURNING version",
                    params![id, alias],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::not_found("alias", format!("{model}@{alias}")))?;
            let change = AliasChange {
                model: model.clone(),
                alias: alias.clone(),
                version: None,
                previous_version: Some(previous),
                actor: audit.actor.clone(),
                reason: audit.reason.clone(),
                at: now_millis(),
            };
            record_alias_change(tx, id, &change)?;
            insert_event(
                tx,
                event_kind::ALIAS_DELETED,
                &format!("{model}@{alias}"),
                &serde_json::json!({ "previous_version": previous }),
                &audit,
            )?;
            Ok(change)
        })
        .await
    }

    async fn resolve_alias(&self, model: &str, alias: &str) -> StoreResult<ModelVersion> {
        let (model, alias) = (model.to_string(), alias.to_string());
        self.with_conn(move |conn| {
            let id = model_id(conn, &model)?;
            let version: i64 = conn
                .query_row(
                    "SELECT version FROM aliases WHERE model_id = ?1 AND alias = ?2",
                    params![id, alias],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::not_found("alias", format!("{model}@{alias}")))?;
            read_version(conn, &model, version)
        })
        .await
    }

    async fn alias_history(
        &self,
        model: &str,
        alias: Option<&str>,
    ) -> StoreResult<Vec<AliasChange>> {
        let (model, alias) = (model.to_string(), alias.map(str::to_string));
        self.with_conn(move |conn| {
            let id = model_id(conn, &model)?;
            let mut stmt = conn.prepare_cached(
                "SELECT m.name, h.alias, h.version, h.previous_version, h.actor, h.reason, h.at
                 FROM alias_history h JOIN models m ON m.id = h.model_id
                 WHERE h.model_id = ?1 AND (?2 IS NULL OR h.alias = ?2) ORDER BY h.id",
            )?;
            let history = stmt
                .query_map(params![id, alias], alias_change_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(history)
        })
        .await
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append_event(
        &self,
        kind: &str,
        subject: &str,
        payload: &serde_json::Value,
        audit: &Audit,
    ) -> StoreResult<Event> {
        validate_key("event kind", kind)?;
        let (kind, subject, payload, audit) = (
            kind.to_string(),
            subject.to_string(),
            payload.clone(),
            audit.clone(),
        );
        self.write(move |tx| insert_event(tx, &kind, &subject, &payload, &audit))
            .await
    }

    async fn events_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<Event>> {
        let limit = limit.clamp(1, PageRequest::MAX_LIMIT);
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, kind, subject, actor, at, reason, payload FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let raw = stmt
                .query_map(params![after_id, limit], event_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raw.into_iter()
                .map(|(mut event, payload)| {
                    event.payload = from_json(&payload)?;
                    Ok(event)
                })
                .collect()
        })
        .await
    }
}

#[async_trait]
impl DeploymentStore for SqliteStore {
    async fn put_deployment(
        &self,
        deployment: &NewDeployment,
        audit: &Audit,
    ) -> StoreResult<Deployment> {
        validate_deployment(deployment)?;
        let (deployment, audit) = (deployment.clone(), audit.clone());
        self.write(move |tx| {
            let id = model_id(tx, &deployment.model)?;
            let (alias, pinned) = match &deployment.primary {
                DeploymentTarget::Alias(alias) => {
                    let known: Option<i64> = tx
                        .query_row(
                            "SELECT version FROM aliases WHERE model_id = ?1 AND alias = ?2",
                            params![id, alias],
                            |row| row.get(0),
                        )
                        .optional()?;
                    if known.is_none() {
                        return Err(StoreError::not_found(
                            "alias",
                            format!("{}@{alias}", deployment.model),
                        ));
                    }
                    (Some(alias.clone()), None)
                }
                DeploymentTarget::Version(version) => {
                    read_version(tx, &deployment.model, *version)?;
                    (None, Some(*version))
                }
            };
            let canary_version = deployment.canary.as_ref().map(|c| c.version);
            for version in canary_version.iter().chain(deployment.shadow.iter()) {
                read_version(tx, &deployment.model, *version)?;
            }
            let previous = match read_deployment(tx, &deployment.name) {
                Ok(previous) => Some(previous),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            let now = now_millis();
            let stored = Deployment {
                name: deployment.name.clone(),
                model: deployment.model.clone(),
                primary: deployment.primary.clone(),
                canary: deployment.canary.clone(),
                shadow: deployment.shadow,
                revision: previous.as_ref().map_or(1, |p| p.revision + 1),
                created_at: previous.as_ref().map_or(now, |p| p.created_at),
                updated_at: now,
                updated_by: audit.actor.clone(),
            };
            tx.execute(
                "INSERT INTO deployments (name, model_id, primary_alias, primary_version, canary_version,
                     canary_percent, shadow_version, revision, created_at, updated_at, updated_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (name) DO UPDATE SET model_id = excluded.model_id,
                     primary_alias = excluded.primary_alias, primary_version = excluded.primary_version,
                     canary_version = excluded.canary_version, canary_percent = excluded.canary_percent,
                     shadow_version = excluded.shadow_version, revision = excluded.revision,
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                params![
                    stored.name,
                    id,
                    alias,
                    pinned,
                    canary_version,
                    stored.canary.as_ref().map(|c| c.percent),
                    stored.shadow,
                    stored.revision,
                    stored.created_at,
                    stored.updated_at,
                    stored.updated_by,
                ],
            )?;
            insert_event(
                tx,
                event_kind::DEPLOYMENT_SET,
                &stored.name,
                &serde_json::json!({ "deployment": stored, "previous": previous }),
                &audit,
            )?;
            Ok(stored)
        })
        .await
    }

    async fn get_deployment(&self, name: &str) -> StoreResult<Deployment> {
        let name = name.to_string();
        self.with_conn(move |conn| read_deployment(conn, &name))
            .await
    }

    async fn list_deployments(&self, page: &PageRequest) -> StoreResult<Page<Deployment>> {
        let limit = page.effective_limit();
        let after = page.page_token.clone().unwrap_or_default();
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM {DEPLOYMENT_FROM} WHERE d.name > ?1 ORDER BY d.name LIMIT {}",
                limit + 1
            );
            let items = conn
                .prepare(&sql)?
                .query_map([after], deployment_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(paginate(items, limit, |d| d.name.clone()))
        })
        .await
    }

    async fn delete_deployment(&self, name: &str, audit: &Audit) -> StoreResult<Deployment> {
        let (name, audit) = (name.to_string(), audit.clone());
        self.write(move |tx| {
            let previous = read_deployment(tx, &name)?;
            tx.execute("DELETE FROM deployments WHERE name = ?1", [&name])?;
            insert_event(
                tx,
                event_kind::DEPLOYMENT_DELETED,
                &name,
                &serde_json::json!({ "previous": previous }),
                &audit,
            )?;
            Ok(previous)
        })
        .await
    }
}

#[async_trait]
impl PredictionStore for SqliteStore {
    async fn record_predictions(&self, predictions: &[NewPrediction]) -> StoreResult<()> {
        if predictions.is_empty() {
            return Ok(());
        }
        // The blocking pool needs owned data; the batch is copied there once.
        let rows = predictions.to_vec();
        self.write(move |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO predictions (request_id, at, deployment, model, version, role, n_rows, inputs,
                     outputs, latency_micros)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for p in &rows {
                insert.execute(params![
                    p.request_id,
                    p.at,
                    p.deployment,
                    p.model,
                    p.version,
                    p.role.as_str(),
                    p.rows,
                    p.inputs,
                    p.outputs,
                    p.latency_micros,
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn prune_predictions(
        &self,
        keep: Option<u64>,
        before: Option<Millis>,
    ) -> StoreResult<u64> {
        self.write(move |tx| {
            let mut deleted = 0;
            if let Some(keep) = keep {
                let keep = i64::try_from(keep).unwrap_or(i64::MAX);
                deleted += tx.execute(
                    "DELETE FROM predictions WHERE id <= (SELECT max(id) FROM predictions) - ?1",
                    [keep],
                )?;
            }
            if let Some(before) = before {
                deleted += tx.execute("DELETE FROM predictions WHERE at < ?1", [before])?;
            }
            Ok(deleted as u64)
        })
        .await
    }

    async fn list_predictions(
        &self,
        query: &PredictionQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<PredictionRecord>> {
        let query = query.clone();
        let limit = page.effective_limit();
        let before = page
            .page_token
            .as_deref()
            .map(parse_int_token)
            .transpose()?;
        self.with_conn(move |conn| {
            let mut conditions = Conditions::default();
            if let Some(before) = before {
                conditions.push("id < ?", [SqlValue::Integer(before)]);
            }
            if let Some(model) = query.model {
                conditions.push("model = ?", [SqlValue::Text(model)]);
            }
            if let Some(version) = query.version {
                conditions.push("version = ?", [SqlValue::Integer(version)]);
            }
            if let Some(deployment) = query.deployment {
                conditions.push("deployment = ?", [SqlValue::Text(deployment)]);
            }
            if let Some(role) = query.role {
                conditions.push("role = ?", [SqlValue::Text(role.as_str().into())]);
            }
            if let Some(request_id) = query.request_id {
                conditions.push("request_id = ?", [SqlValue::Text(request_id)]);
            }
            let sql = format!(
                "SELECT {PREDICTION_COLUMNS} FROM predictions WHERE 1 = 1{} ORDER BY id DESC LIMIT {}",
                conditions.sql,
                limit + 1
            );
            let raw = conn
                .prepare(&sql)?
                .query_map(rusqlite::params_from_iter(conditions.values), prediction_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let items = raw
                .into_iter()
                .map(finish_prediction)
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(paginate(items, limit, |p| p.id.to_string()))
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn location(&self) -> String {
        location_of(&self.inner.path)
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        self.with_conn(|conn| {
            let version: String = conn.query_row(
                "SELECT value FROM steward_meta WHERE key = 'schema_version'",
                [],
                |row| row.get(0),
            )?;
            version
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("schema_version '{version}'")))
        })
        .await
    }
}
