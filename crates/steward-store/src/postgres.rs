//! The store at scale: PostgreSQL through tokio-postgres with a deadpool connection pool.
//!
//! Any number of Steward processes may share one database. Version numbers come from a counter row in `models`
//! whose row lock serialises registrations into the same model. Event inserts first take a transaction-scoped
//! advisory lock and are the last statement of their transaction, so event ids become visible in increasing
//! order and a follower polling "id > last" never skips one.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::entities::*;
use crate::error::{StoreError, StoreResult};
use crate::filter::{Clause, Filter};
use crate::names::{
    validate_alias, validate_deployment, validate_key, validate_metric_value, validate_name,
    validate_tags, validate_value,
};
use crate::page::paginate;
use crate::sqlite::latest_per_key;
use crate::{
    DeploymentStore, EventStore, PredictionStore, RegistryStore, SCHEMA_VERSION, Store,
    TrackingStore, parse_int_token,
};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_initial.sql"),
    include_str!("../migrations/postgres/0002_deployments_predictions.sql"),
];
/// Advisory lock keys (arbitrary constants, unique to Steward).
const MIGRATION_LOCK: i64 = 0x5354_4557_0001;
const EVENT_LOCK: i64 = 0x5354_4557_0002;
/// Serialises deployment writes, so that revisions of one name never collide (they are rare writes).
const DEPLOYMENT_LOCK: i64 = 0x5354_4557_0003;
const POOL_SIZE: usize = 16;

pub struct PostgresStore {
    pool: Pool,
    location: String,
}

type Param = Box<dyn ToSql + Sync + Send>;

fn pool_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Pool(e.to_string())
}

/// The URI without its password, for messages.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &uri[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &uri[..scheme_end + 3], &uri[at..]),
                None => uri.to_string(),
            }
        }
        _ => uri.to_string(),
    }
}

impl PostgresStore {
    pub async fn open(uri: &str) -> StoreResult<Self> {
        let location = redact(uri);
        let config: tokio_postgres::Config = uri.parse().map_err(|e| {
            StoreError::InvalidArgument(format!("bad PostgreSQL URI {location}: {e}"))
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(pool_error)?;
        let store = PostgresStore { pool, location };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Postgres(e),
            other => StoreError::Pool(format!("{}: {other}", self.location)),
        })
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let has_meta: bool = tx
            .query_one("SELECT to_regclass('steward_meta') IS NOT NULL", &[])
            .await?
            .try_get(0)?;
        let current = if has_meta {
            let row = tx
                .query_opt(
                    "SELECT value FROM steward_meta WHERE key = 'schema_version'",
                    &[],
                )
                .await?;
            row.map(|r| r.try_get::<_, String>(0))
                .transpose()?
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| StoreError::NotSteward {
                    location: self.location.clone(),
                })?
        } else {
            let tables: i64 = tx
                .query_one(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                    &[],
                )
                .await?
                .try_get(0)?;
            if tables > 0 {
                return Err(StoreError::NotSteward {
                    location: self.location.clone(),
                });
            }
            0
        };
        if current > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                location: self.location.clone(),
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let version = index as i64 + 1;
            if version > current {
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO steward_meta (key, value) VALUES ('schema_version', $1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&version.to_string()],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers shared by the trait implementations

/// Appends an event. Must be the last statement of its transaction: it takes the global event lock, which is
/// held until commit, so anything after it would serialise every writer behind it.
async fn insert_event(
    client: &impl GenericClient,
    kind: &str,
    subject: &str,
    payload: &serde_json::Value,
    audit: &Audit,
) -> StoreResult<Event> {
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&EVENT_LOCK])
        .await?;
    let at = now_millis();
    let row = client
        .query_one(
            "INSERT INTO events (kind, subject, actor, at, reason, payload) VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id",
            &[&kind, &subject, &audit.actor, &at, &audit.reason, payload],
        )
        .await?;
    Ok(Event {
        id: row.try_get(0)?,
        kind: kind.to_string(),
        subject: subject.to_string(),
        actor: audit.actor.clone(),
        at,
        reason: audit.reason.clone(),
        payload: payload.clone(),
    })
}

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> StoreResult<T> {
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn to_json(value: &impl serde::Serialize) -> StoreResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn experiment_from_row(row: &Row) -> StoreResult<Experiment> {
    Ok(Experiment {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        created_at: row.try_get(3)?,
    })
}

const RUN_COLUMNS: &str =
    "r.seq, r.id, r.experiment_id, r.name, r.status, r.start_time, r.end_time";

fn run_from_row(row: &Row) -> StoreResult<(i64, Run)> {
    let status: String = row.try_get(4)?;
    let id: String = row.try_get(1)?;
    let status = RunStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("run {id} has status '{status}'")))?;
    Ok((
        row.try_get(0)?,
        Run {
            id,
            experiment_id: row.try_get(2)?,
            name: row.try_get(3)?,
            status,
            start_time: row.try_get(5)?,
            end_time: row.try_get(6)?,
            params: Tags::new(),
            tags: Tags::new(),
            metrics: MetricValues::new(),
            inputs: Vec::new(),
        },
    ))
}

/// Fills params, tags, latest metrics and inputs of the runs, four queries for the whole page.
async fn load_run_details(client: &impl GenericClient, runs: &mut [(i64, Run)]) -> StoreResult<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = runs.iter().map(|(seq, _)| *seq).collect();
    let index: HashMap<i64, usize> = seqs.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    for row in client
        .query(
            "SELECT run_seq, key, value FROM run_params WHERE run_seq = ANY($1)",
            &[&seqs],
        )
        .await?
    {
        let seq: i64 = row.try_get(0)?;
        runs[index[&seq]]
            .1
            .params
            .insert(row.try_get(1)?, row.try_get(2)?);
    }
    for row in client
        .query(
            "SELECT run_seq, key, value FROM run_tags WHERE run_seq = ANY($1)",
            &[&seqs],
        )
        .await?
    {
        let seq: i64 = row.try_get(0)?;
        runs[index[&seq]]
            .1
            .tags
            .insert(row.try_get(1)?, row.try_get(2)?);
    }
    for row in client
        .query(
            "SELECT run_seq, key, value FROM latest_metrics WHERE run_seq = ANY($1)",
            &[&seqs],
        )
        .await?
    {
        let seq: i64 = row.try_get(0)?;
        runs[index[&seq]]
            .1
            .metrics
            .insert(row.try_get(1)?, row.try_get(2)?);
    }
    for row in client
        .query(
            "SELECT i.run_seq, d.name, d.version FROM run_inputs i JOIN datasets d ON d.id = i.dataset_id
             WHERE i.run_seq = ANY($1) ORDER BY d.name, d.version",
            &[&seqs],
        )
        .await?
    {
        let seq: i64 = row.try_get(0)?;
        runs[index[&seq]].1.inputs.push(DatasetRef {
            name: row.try_get(1)?,
            version: row.try_get(2)?,
        });
    }
    Ok(())
}

async fn run_seq(client: &impl GenericClient, run_id: &str) -> StoreResult<i64> {
    client
        .query_opt("SELECT seq FROM runs WHERE id = $1", &[&run_id])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .ok_or_else(|| StoreError::not_found("run", run_id))
}

async fn read_run(client: &impl GenericClient, run_id: &str) -> StoreResult<Run> {
    let row = client
        .query_opt(
            &format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = $1"),
            &[&run_id],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("run", run_id))?;
    let mut runs = [run_from_row(&row)?];
    load_run_details(client, &mut runs).await?;
    let [(_, run)] = runs;
    Ok(run)
}

const DATASET_COLUMNS: &str = "id, name, version, content_hash, schema, row_count, created_at";

fn dataset_from_row(row: &Row) -> StoreResult<(i64, Dataset)> {
    Ok((
        row.try_get(0)?,
        Dataset {
            name: row.try_get(1)?,
            version: row.try_get(2)?,
            content_hash: row.try_get(3)?,
            schema: row.try_get(4)?,
            row_count: row.try_get(5)?,
            created_at: row.try_get(6)?,
        },
    ))
}

async fn dataset_id(client: &impl GenericClient, reference: &DatasetRef) -> StoreResult<i64> {
    client
        .query_opt(
            "SELECT id FROM datasets WHERE name = $1 AND version = $2",
            &[&reference.name, &reference.version],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .ok_or_else(|| StoreError::not_found("dataset", reference.to_string()))
}

const MODEL_COLUMNS: &str = "id, name, description, tags, created_at, updated_at, last_version";

fn model_from_row(row: &Row) -> StoreResult<(i64, Model)> {
    let last_version: i64 = row.try_get(6)?;
    Ok((
        row.try_get(0)?,
        Model {
            name: row.try_get(1)?,
            description: row.try_get(2)?,
            tags: from_json(row.try_get(3)?)?,
            created_at: row.try_get(4)?,
            updated_at: row.try_get(5)?,
            latest_version: (last_version > 0).then_some(last_version),
            aliases: BTreeMap::new(),
        },
    ))
}

async fn load_aliases(client: &impl GenericClient, models: &mut [(i64, Model)]) -> StoreResult<()> {
    if models.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = models.iter().map(|(id, _)| *id).collect();
    let index: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for row in client
        .query(
            "SELECT model_id, alias, version FROM aliases WHERE model_id = ANY($1)",
            &[&ids],
        )
        .await?
    {
        let id: i64 = row.try_get(0)?;
        models[index[&id]]
            .1
            .aliases
            .insert(row.try_get(1)?, row.try_get(2)?);
    }
    Ok(())
}

async fn read_model(client: &impl GenericClient, name: &str) -> StoreResult<(i64, Model)> {
    let row = client
        .query_opt(
            &format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = $1"),
            &[&name],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("model", name))?;
    let mut models = [model_from_row(&row)?];
    load_aliases(client, &mut models).await?;
    let [model] = models;
    Ok(model)
}

async fn model_id(client: &impl GenericClient, name: &str) -> StoreResult<i64> {
    client
        .query_opt("SELECT id FROM models WHERE name = $1", &[&name])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .ok_or_else(|| StoreError::not_found("model", name))
}

const VERSION_COLUMNS: &str = "m.name, v.version, v.artifact_uri, v.artifact_hash, v.signature, v.metrics, \
     v.source_run, d.name, d.version, v.parent_version, v.description, v.tags, v.created_at";
const VERSION_FROM: &str = "model_versions v JOIN models m ON m.id = v.model_id \
     LEFT JOIN datasets d ON d.id = v.dataset_id";

fn version_from_row(row: &Row) -> StoreResult<ModelVersion> {
    let dataset_name: Option<String> = row.try_get(7)?;
    let dataset_version: Option<i64> = row.try_get(8)?;
    Ok(ModelVersion {
        model: row.try_get(0)?,
        version: row.try_get(1)?,
        artifact_uri: row.try_get(2)?,
        artifact_hash: row.try_get(3)?,
        signature: row.try_get(4)?,
        metrics: from_json(row.try_get(5)?)?,
        source_run: row.try_get(6)?,
        dataset: dataset_name
            .zip(dataset_version)
            .map(|(name, version)| DatasetRef { name, version }),
        parent_version: row.try_get(9)?,
        description: row.try_get(10)?,
        tags: from_json(row.try_get(11)?)?,
        created_at: row.try_get(12)?,
    })
}

async fn read_version(
    client: &impl GenericClient,
    model: &str,
    version: i64,
) -> StoreResult<ModelVersion> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM {VERSION_FROM} WHERE m.name = $1 AND v.version = $2"
            ),
            &[&model, &version],
        )
        .await?;
    match row {
        Some(row) => version_from_row(&row),
        None => {
            model_id(client, model).await?;
            Err(StoreError::not_found(
                "version",
                format!("{model}/{version}"),
            ))
        }
    }
}

async fn deployments_of_model(
    client: &impl GenericClient,
    model_id: i64,
) -> StoreResult<Vec<String>> {
    client
        .query(
            "SELECT name FROM deployments WHERE model_id = $1 ORDER BY name",
            &[&model_id],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

const DEPLOYMENT_COLUMNS: &str = "d.name, m.name, d.primary_alias, d.primary_version, d.canary_version, \
     d.canary_percent, d.shadow_version, d.revision, d.created_at, d.updated_at, d.updated_by";
const DEPLOYMENT_FROM: &str = "deployments d JOIN models m ON m.id = d.model_id";

fn deployment_from_row(row: &Row) -> StoreResult<Deployment> {
    let alias: Option<String> = row.try_get(2)?;
    let primary = match alias {
        Some(alias) => DeploymentTarget::Alias(alias),
        None => DeploymentTarget::Version(row.try_get(3)?),
    };
    let canary = match (
        row.try_get::<_, Option<i64>>(4)?,
        row.try_get::<_, Option<f64>>(5)?,
    ) {
        (Some(version), Some(percent)) => Some(Canary { version, percent }),
        _ => None,
    };
    Ok(Deployment {
        name: row.try_get(0)?,
        model: row.try_get(1)?,
        primary,
        canary,
        shadow: row.try_get(6)?,
        revision: row.try_get(7)?,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
        updated_by: row.try_get(10)?,
    })
}

async fn read_deployment(client: &impl GenericClient, name: &str) -> StoreResult<Deployment> {
    let row = client
        .query_opt(
            &format!("SELECT {DEPLOYMENT_COLUMNS} FROM {DEPLOYMENT_FROM} WHERE d.name = $1"),
            &[&name],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("deployment", name))?;
    deployment_from_row(&row)
}

const PREDICTION_COLUMNS: &str =
    "id, request_id, at, deployment, model, version, role, n_rows, inputs, outputs, latency_micros";

fn prediction_from_row(row: &Row) -> StoreResult<PredictionRecord> {
    let role: String = row.try_get(6)?;
    Ok(PredictionRecord {
        id: row.try_get(0)?,
        request_id: row.try_get(1)?,
        at: row.try_get(2)?,
        deployment: row.try_get(3)?,
        model: row.try_get(4)?,
        version: row.try_get(5)?,
        role: PredictionRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("prediction role '{role}'")))?,
        rows: row.try_get(7)?,
        inputs: row.try_get(8)?,
        outputs: row.try_get(9)?,
        latency_micros: row.try_get(10)?,
    })
}

async fn record_alias_change(
    client: &impl GenericClient,
    model_id: i64,
    change: &AliasChange,
) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO alias_history (model_id, alias, version, previous_version, actor, reason, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &model_id,
                &change.alias,
                &change.version,
                &change.previous_version,
                &change.actor,
                &change.reason,
                &change.at,
            ],
        )
        .await?;
    Ok(())
}

/// SQL conditions with `?` marks, numbered `$1, $2, ...` as they are added.
#[derive(Default)]
struct Conditions {
    sql: String,
    values: Vec<Param>,
}

impl Conditions {
    fn push(&mut self, condition: &str, values: Vec<Param>) {
        self.sql.push_str(" AND ");
        for (i, piece) in condition.split('?').enumerate() {
            if i > 0 {
                self.sql.push_str(&format!("${}", self.values.len() + i));
            }
            self.sql.push_str(piece);
        }
        self.values.extend(values);
    }

    fn name(&mut self, column: &str, clause: &Clause) -> bool {
        match clause {
            Clause::NameEquals(name) => {
                self.push(&format!("{column} = ?"), vec![Box::new(name.clone())]);
                true
            }
            Clause::NamePrefix(prefix) => {
                self.push(
                    &format!("starts_with({column}, ?)"),
                    vec![Box::new(prefix.clone())],
                );
                true
            }
            _ => false,
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------------------------

#[async_trait]
impl TrackingStore for PostgresStore {
    async fn create_experiment(
        &self,
        name: &str,
        description: Option<&str>,
        audit: &Audit,
    ) -> StoreResult<Experiment> {
        validate_name("experiment", name)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let created_at = now_millis();
        let row = tx
            .query_opt(
                "INSERT INTO experiments (name, description, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING RETURNING id",
                &[&name, &description, &created_at],
            )
            .await?
            .ok_or_else(|| StoreError::already_exists("experiment", name))?;
        let experiment = Experiment {
            id: row.try_get(0)?,
            name: name.to_string(),
            description: description.map(str::to_string),
            created_at,
        };
        insert_event(
            &tx,
            event_kind::EXPERIMENT_CREATED,
            name,
            &serde_json::json!({ "id": experiment.id }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(experiment)
    }

    async fn get_experiment(&self, name: &str) -> StoreResult<Experiment> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, name, description, created_at FROM experiments WHERE name = $1",
                &[&name],
            )
            .await?
            .ok_or_else(|| StoreError::not_found("experiment", name))?;
        experiment_from_row(&row)
    }

    async fn list_experiments(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<Experiment>> {
        filter.ensure_only("experiments", &["name"])?;
        let limit = page.effective_limit();
        let mut conditions = Conditions::default();
        if let Some(token) = &page.page_token {
            conditions.push("id > ?", vec![Box::new(parse_int_token(token)?)]);
        }
        for clause in &filter.clauses {
            conditions.name("name", clause);
        }
        let sql = format!(
            "SELECT id, name, description, created_at FROM experiments WHERE TRUE{} ORDER BY id LIMIT {}",
            conditions.sql,
            limit + 1
        );
        let client = self.client().await?;
        let items = client
            .query(&sql, &conditions.params())
            .await?
            .iter()
            .map(experiment_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paginate(items, limit, |e| e.id.to_string()))
    }

    async fn create_run(&self, run: &NewRun, audit: &Audit) -> StoreResult<Run> {
        if let Some(name) = &run.name {
            validate_name("run", name)?;
        }
        validate_tags("param", run.params.iter())?;
        validate_tags("tag", run.tags.iter())?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let exists: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM experiments WHERE id = $1)",
                &[&run.experiment_id],
            )
            .await?
            .try_get(0)?;
        if !exists {
            return Err(StoreError::not_found(
                "experiment",
                format!("id {}", run.experiment_id),
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = run
            .name
            .clone()
            .unwrap_or_else(|| format!("run-{}", &id[..8]));
        let seq: i64 = tx
            .query_one(
                "INSERT INTO runs (id, experiment_id, name, status, start_time) VALUES ($1, $2, $3, $4, $5)
                 RETURNING seq",
                &[
                    &id,
                    &run.experiment_id,
                    &name,
                    &RunStatus::Running.as_str(),
                    &now_millis(),
                ],
            )
            .await?
            .try_get(0)?;
        for (table, values) in [("run_params", &run.params), ("run_tags", &run.tags)] {
            if values.is_empty() {
                continue;
            }
            let keys: Vec<&String> = values.keys().collect();
            let texts: Vec<&String> = values.values().collect();
            tx.execute(
                &format!(
                    "INSERT INTO {table} (run_seq, key, value) SELECT $1, * FROM UNNEST($2::text[], $3::text[])"
                ),
                &[&seq, &keys, &texts],
            )
            .await?;
        }
        let created = read_run(&tx, &id).await?;
        insert_event(
            &tx,
            event_kind::RUN_CREATED,
            &id,
            &serde_json::json!({ "experiment_id": run.experiment_id, "name": name }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_run(&self, run_id: &str) -> StoreResult<Run> {
        let client = self.client().await?;
        read_run(&client, run_id).await
    }

    async fn set_run_status(
        &self,
        run_id: &str,
        status: RunStatus,
        audit: &Audit,
    ) -> StoreResult<Run> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let seq = run_seq(&tx, run_id).await?;
        let end_time = status.is_terminal().then(now_millis);
        tx.execute(
            "UPDATE runs SET status = $1, end_time = $2 WHERE seq = $3",
            &[&status.as_str(), &end_time, &seq],
        )
        .await?;
        let run = read_run(&tx, run_id).await?;
        insert_event(
            &tx,
            event_kind::RUN_STATUS_CHANGED,
            run_id,
            &serde_json::json!({ "status": status }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(run)
    }

    async fn log_params(&self, run_id: &str, params: &Tags) -> StoreResult<()> {
        validate_tags("param", params.iter())?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let seq = run_seq(&tx, run_id).await?;
        let keys: Vec<&String> = params.keys().collect();
        let values: Vec<&String> = params.values().collect();
        tx.execute(
            "INSERT INTO run_params (run_seq, key, value) SELECT $1, * FROM UNNEST($2::text[], $3::text[])
             ON CONFLICT (run_seq, key) DO NOTHING",
            &[&seq, &keys, &values],
        )
        .await?;
        // Params are write-once: whatever is stored now must equal what was asked for.
        for row in tx
            .query(
                "SELECT key, value FROM run_params WHERE run_seq = $1 AND key = ANY($2)",
                &[&seq, &keys],
            )
            .await?
        {
            let key: String = row.try_get(0)?;
            let stored: String = row.try_get(1)?;
            if params.get(&key) != Some(&stored) {
                return Err(StoreError::Conflict(format!(
                    "param '{key}' of run {run_id} is already '{stored}'; params cannot change (log a new run)"
                )));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_run_tags(&self, run_id: &str, tags: &Tags) -> StoreResult<()> {
        validate_tags("tag", tags.iter())?;
        let client = self.client().await?;
        let seq = run_seq(&client, run_id).await?;
        let keys: Vec<&String> = tags.keys().collect();
        let values: Vec<&String> = tags.values().collect();
        client
            .execute(
                "INSERT INTO run_tags (run_seq, key, value) SELECT $1, * FROM UNNEST($2::text[], $3::text[])
                 ON CONFLICT (run_seq, key) DO UPDATE SET value = excluded.value",
                &[&seq, &keys, &values],
            )
            .await?;
        Ok(())
    }

    async fn log_metrics(&self, run_id: &str, metrics: &[Metric]) -> StoreResult<()> {
        for metric in metrics {
            validate_metric_value(&metric.key, metric.value)?;
        }
        if metrics.is_empty() {
            run_seq(&self.client().await?, run_id).await?;
            return Ok(());
        }
        let latest = latest_per_key(metrics);
        fn columns(batch: &[Metric]) -> (Vec<&str>, Vec<f64>, Vec<i64>, Vec<i64>) {
            (
                batch.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(),
                batch.iter().map(|m| m.value).collect::<Vec<_>>(),
                batch.iter().map(|m| m.step).collect::<Vec<_>>(),
                batch.iter().map(|m| m.timestamp).collect::<Vec<_>>(),
            )
        }
        let (keys, values, steps, timestamps) = columns(metrics);
        let (latest_keys, latest_values, latest_steps, latest_timestamps) = columns(&latest);
        // One statement, so one round trip and its own transaction: the history rows and the latest values are
        // written together or not at all. A run that does not exist matches no row in `r`, so nothing is written.
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "WITH r AS (SELECT seq FROM runs WHERE id = $1),
                 history AS (
                     INSERT INTO metrics (run_seq, key, value, step, timestamp)
                     SELECT r.seq, m.key, m.value, m.step, m.timestamp
                     FROM r, UNNEST($2::text[], $3::float8[], $4::int8[], $5::int8[]) AS m(key, value, step, timestamp)
                 ),
                 latest AS (
                     INSERT INTO latest_metrics (run_seq, key, value, step, timestamp)
                     SELECT r.seq, m.key, m.value, m.step, m.timestamp
                     FROM r, UNNEST($6::text[], $7::float8[], $8::int8[], $9::int8[]) AS m(key, value, step, timestamp)
                     ON CONFLICT (run_seq, key) DO UPDATE SET
                       value = excluded.value, step = excluded.step, timestamp = excluded.timestamp
                     WHERE excluded.step > latest_metrics.step
                        OR (excluded.step = latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)
                 )
                 SELECT count(*) FROM r",
            )
            .await?;
        let runs: i64 = client
            .query_one(
                &statement,
                &[
                    &run_id,
                    &keys,
                    &values,
                    &steps,
                    &timestamps,
                    &latest_keys,
                    &latest_values,
                    &latest_steps,
                    &latest_timestamps,
                ],
            )
            .await?
            .try_get(0)?;
        if runs == 0 {
            return Err(StoreError::not_found("run", run_id));
        }
        Ok(())
    }

    async fn log_inputs(&self, run_id: &str, datasets: &[DatasetRef]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let seq = run_seq(&tx, run_id).await?;
        for reference in datasets {
            let id = dataset_id(&tx, reference).await?;
            tx.execute(
                "INSERT INTO run_inputs (run_seq, dataset_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&seq, &id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn metric_history(&self, run_id: &str, key: &str) -> StoreResult<Vec<Metric>> {
        validate_key("metric", key)?;
        let client = self.client().await?;
        let seq = run_seq(&client, run_id).await?;
        client
            .query(
                "SELECT key, value, step, timestamp FROM metrics WHERE run_seq = $1 AND key = $2
                 ORDER BY step, timestamp",
                &[&seq, &key],
            )
            .await?
            .iter()
            .map(|row| {
                Ok(Metric {
                    key: row.try_get(0)?,
                    value: row.try_get(1)?,
                    step: row.try_get(2)?,
                    timestamp: row.try_get(3)?,
                })
            })
            .collect()
    }

    async fn search_runs(
        &self,
        experiment_ids: &[i64],
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<Run>> {
        filter.ensure_only("runs", &["name", "status", "tags", "params", "metrics"])?;
        let limit = page.effective_limit();
        let mut conditions = Conditions::default();
        if !experiment_ids.is_empty() {
            conditions.push(
                "r.experiment_id = ANY(?)",
                vec![Box::new(experiment_ids.to_vec())],
            );
        }
        if let Some(token) = &page.page_token {
            conditions.push("r.seq < ?", vec![Box::new(parse_int_token(token)?)]);
        }
        for clause in &filter.clauses {
            if conditions.name("r.name", clause) {
                continue;
            }
            match clause {
                Clause::Status(status) => {
                    conditions.push("r.status = ?", vec![Box::new(status.as_str().to_string())])
                }
                Clause::Tag { key, value } => conditions.push(
                    "EXISTS (SELECT 1 FROM run_tags t WHERE t.run_seq = r.seq AND t.key = ? AND t.value = ?)",
                    vec![Box::new(key.clone()), Box::new(value.clone())],
                ),
                Clause::Param { key, value } => conditions.push(
                    "EXISTS (SELECT 1 FROM run_params p WHERE p.run_seq = r.seq AND p.key = ? AND p.value = ?)",
                    vec![Box::new(key.clone()), Box::new(value.clone())],
                ),
                Clause::Metric { key, op, value } => conditions.push(
                    &format!(
                        "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_seq = r.seq AND m.key = ? AND m.value {} ?)",
                        op.sql()
                    ),
                    vec![Box::new(key.clone()), Box::new(*value)],
                ),
                Clause::NameEquals(_) | Clause::NamePrefix(_) => {}
            }
        }
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE TRUE{} ORDER BY r.seq DESC LIMIT {}",
            conditions.sql,
            limit + 1
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &conditions.params())
            .await?
            .iter()
            .map(run_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let page = paginate(rows, limit, |(seq, _)| seq.to_string());
        let mut runs = page.items;
        load_run_details(&client, &mut runs).await?;
        Ok(Page {
            items: runs.into_iter().map(|(_, run)| run).collect(),
            next_page_token: page.next_page_token,
        })
    }

    async fn register_dataset(&self, dataset: &NewDataset, audit: &Audit) -> StoreResult<Dataset> {
        validate_name("dataset", &dataset.name)?;
        if dataset.content_hash.is_empty() {
            return Err(StoreError::InvalidArgument(
                "a dataset needs its content hash".into(),
            ));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Serialise registrations of one dataset name, so version numbers are assigned without races.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('steward.dataset.' || $1, 0))",
            &[&dataset.name],
        )
        .await?;
        if let Some(row) = tx
            .query_opt(
                &format!(
                    "SELECT {DATASET_COLUMNS} FROM datasets WHERE name = $1 AND content_hash = $2"
                ),
                &[&dataset.name, &dataset.content_hash],
            )
            .await?
        {
            return Ok(dataset_from_row(&row)?.1);
        }
        let created_at = now_millis();
        let version: i64 = tx
            .query_one(
                "INSERT INTO datasets (name, version, content_hash, schema, row_count, created_at)
                 SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5 FROM datasets WHERE name = $1
                 RETURNING version",
                &[
                    &dataset.name,
                    &dataset.content_hash,
                    &dataset.schema,
                    &dataset.row_count,
                    &created_at,
                ],
            )
            .await?
            .try_get(0)?;
        insert_event(
            &tx,
            event_kind::DATASET_REGISTERED,
            &format!("{}/{version}", dataset.name),
            &serde_json::json!({ "content_hash": dataset.content_hash }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(Dataset {
            name: dataset.name.clone(),
            version,
            content_hash: dataset.content_hash.clone(),
            schema: dataset.schema.clone(),
            row_count: dataset.row_count,
            created_at,
        })
    }

    async fn get_dataset(&self, name: &str, version: Option<i64>) -> StoreResult<Dataset> {
        let client = self.client().await?;
        let row = match version {
            Some(version) => {
                client
                    .query_opt(
                        &format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = $1 AND version = $2"),
                        &[&name, &version],
                    )
                    .await?
            }
            None => {
                client
                    .query_opt(
                        &format!(
                            "SELECT {DATASET_COLUMNS} FROM datasets WHERE name = $1 ORDER BY version DESC LIMIT 1"
                        ),
                        &[&name],
                    )
                    .await?
            }
        };
        let label = match version {
            Some(version) => format!("{name}/{version}"),
            None => name.to_string(),
        };
        let row = row.ok_or_else(|| StoreError::not_found("dataset", label))?;
        Ok(dataset_from_row(&row)?.1)
    }

    async fn list_datasets(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<Dataset>> {
        filter.ensure_only("datasets", &["name"])?;
        let limit = page.effective_limit();
        let mut conditions = Conditions::default();
        if let Some(token) = &page.page_token {
            conditions.push("id > ?", vec![Box::new(parse_int_token(token)?)]);
        }
        for clause in &filter.clauses {
            conditions.name("name", clause);
        }
        let sql = format!(
            "SELECT {DATASET_COLUMNS} FROM datasets WHERE TRUE{} ORDER BY id LIMIT {}",
            conditions.sql,
            limit + 1
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &conditions.params())
            .await?
            .iter()
            .map(dataset_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let page = paginate(rows, limit, |(id, _)| id.to_string());
        Ok(Page {
            items: page.items.into_iter().map(|(_, d)| d).collect(),
            next_page_token: page.next_page_token,
        })
    }
}

#[async_trait]
impl RegistryStore for PostgresStore {
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
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let now = now_millis();
        let inserted = tx
            .execute(
                "INSERT INTO models (name, description, tags, created_at, updated_at, last_version)
                 VALUES ($1, $2, $3, $4, $4, 0) ON CONFLICT (name) DO NOTHING",
                &[&name, &description, &to_json(tags)?, &now],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::already_exists("model", name));
        }
        let (_, model) = read_model(&tx, name).await?;
        insert_event(
            &tx,
            event_kind::MODEL_CREATED,
            name,
            &serde_json::json!({ "description": description, "tags": tags }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(model)
    }

    async fn get_model(&self, name: &str) -> StoreResult<Model> {
        let client = self.client().await?;
        Ok(read_model(&client, name).await?.1)
    }

    async fn list_models(&self, filter: &Filter, page: &PageRequest) -> StoreResult<Page<Model>> {
        filter.ensure_only("models", &["name", "tags"])?;
        let limit = page.effective_limit();
        let mut conditions = Conditions::default();
        if let Some(token) = &page.page_token {
            conditions.push("name COLLATE \"C\" > ?", vec![Box::new(token.clone())]);
        }
        for clause in &filter.clauses {
            if conditions.name("name", clause) {
                continue;
            }
            if let Clause::Tag { key, value } = clause {
                conditions.push(
                    "tags ->> ? = ?",
                    vec![Box::new(key.clone()), Box::new(value.clone())],
                );
            }
        }
        // COLLATE "C" makes the order (and so the page tokens) byte-wise, like SQLite's.
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE TRUE{} ORDER BY name COLLATE \"C\" LIMIT {}",
            conditions.sql,
            limit + 1
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &conditions.params())
            .await?
            .iter()
            .map(model_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let page = paginate(rows, limit, |(_, model)| model.name.clone());
        let mut models = page.items;
        load_aliases(&client, &mut models).await?;
        Ok(Page {
            items: models.into_iter().map(|(_, model)| model).collect(),
            next_page_token: page.next_page_token,
        })
    }

    async fn delete_model(&self, name: &str, force: bool, audit: &Audit) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Lock the model row so that no version or alias is added while it is being deleted.
        let id: i64 = tx
            .query_opt("SELECT id FROM models WHERE name = $1 FOR UPDATE", &[&name])
            .await?
            .ok_or_else(|| StoreError::not_found("model", name))?
            .try_get(0)?;
        let (_, model) = read_model(&tx, name).await?;
        if !model.aliases.is_empty() && !force {
            let aliases: Vec<String> = model
                .aliases
                .iter()
                .map(|(alias, version)| format!("{alias} -> {version}"))
                .collect();
            return Err(StoreError::Conflict(format!(
                "model '{name}' still has aliases ({}); delete them first or pass --force",
                aliases.join(", ")
            )));
        }
        let deployments = deployments_of_model(&tx, id).await?;
        if !deployments.is_empty() && !force {
            return Err(StoreError::Conflict(format!(
                "model '{name}' is deployed ({}); delete the deployments first or pass --force",
                deployments.join(", ")
            )));
        }
        for table in ["deployments", "aliases", "alias_history", "model_versions"] {
            tx.execute(&format!("DELETE FROM {table} WHERE model_id = $1"), &[&id])
                .await?;
        }
        tx.execute("DELETE FROM models WHERE id = $1", &[&id])
            .await?;
        insert_event(
            &tx,
            event_kind::MODEL_DELETED,
            name,
            &serde_json::json!({
                "versions": model.latest_version.unwrap_or(0),
                "aliases": model.aliases,
                "deployments": deployments,
                "forced": force,
            }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(())
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
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let model_id = model_id(&tx, &version.model).await?;
        let dataset = match &version.dataset {
            Some(reference) => Some(dataset_id(&tx, reference).await?),
            None => None,
        };
        if let Some(run) = &version.source_run {
            run_seq(&tx, run).await?;
        }
        // The row lock on the counter serialises registrations into one model; a rolled-back registration
        // rolls the counter back too, so numbers have no gaps.
        let number: i64 = tx
            .query_one(
                "UPDATE models SET last_version = last_version + 1, updated_at = $2 WHERE id = $1
                 RETURNING last_version",
                &[&model_id, &now_millis()],
            )
            .await?
            .try_get(0)?;
        if let Some(parent) = version.parent_version
            && (parent < 1 || parent >= number)
        {
            return Err(StoreError::not_found(
                "version",
                format!("{}/{parent} (parent)", version.model),
            ));
        }
        tx.execute(
            "INSERT INTO model_versions (model_id, version, artifact_uri, artifact_hash, signature, metrics,
                 source_run, dataset_id, parent_version, description, tags, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                &model_id,
                &number,
                &version.artifact_uri,
                &version.artifact_hash,
                &version.signature,
                &to_json(&version.metrics)?,
                &version.source_run,
                &dataset,
                &version.parent_version,
                &version.description,
                &to_json(&version.tags)?,
                &now_millis(),
            ],
        )
        .await?;
        let created = read_version(&tx, &version.model, number).await?;
        insert_event(
            &tx,
            event_kind::VERSION_REGISTERED,
            &format!("{}/{number}", version.model),
            &serde_json::json!({ "artifact_hash": version.artifact_hash, "version": number }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_model_version(&self, model: &str, version: i64) -> StoreResult<ModelVersion> {
        let client = self.client().await?;
        read_version(&client, model, version).await
    }

    async fn list_model_versions(
        &self,
        model: &str,
        filter: &Filter,
        page: &PageRequest,
    ) -> StoreResult<Page<ModelVersion>> {
        filter.ensure_only("model versions", &["tags", "metrics"])?;
        let limit = page.effective_limit();
        let client = self.client().await?;
        let id = model_id(&client, model).await?;
        let mut conditions = Conditions::default();
        conditions.push("v.model_id = ?", vec![Box::new(id)]);
        if let Some(token) = &page.page_token {
            conditions.push("v.version > ?", vec![Box::new(parse_int_token(token)?)]);
        }
        for clause in &filter.clauses {
            match clause {
                Clause::Tag { key, value } => conditions.push(
                    "v.tags ->> ? = ?",
                    vec![Box::new(key.clone()), Box::new(value.clone())],
                ),
                Clause::Metric { key, op, value } => conditions.push(
                    &format!("(v.metrics ->> ?)::float8 {} ?", op.sql()),
                    vec![Box::new(key.clone()), Box::new(*value)],
                ),
                _ => {}
            }
        }
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM {VERSION_FROM} WHERE TRUE{} ORDER BY v.version LIMIT {}",
            conditions.sql,
            limit + 1
        );
        let items = client
            .query(&sql, &conditions.params())
            .await?
            .iter()
            .map(version_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paginate(items, limit, |v| v.version.to_string()))
    }

    async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: i64,
        audit: &Audit,
    ) -> StoreResult<AliasChange> {
        validate_alias(alias)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Lock the model row: alias moves of one model are serialised, so the history's "previous" is exact.
        let id: i64 = tx
            .query_opt(
                "SELECT id FROM models WHERE name = $1 FOR UPDATE",
                &[&model],
            )
            .await?
            .ok_or_else(|| StoreError::not_found("model", model))?
            .try_get(0)?;
        read_version(&tx, model, version).await?;
        let previous: Option<i64> = tx
            .query_opt(
                "SELECT version FROM aliases WHERE model_id = $1 AND alias = $2",
                &[&id, &alias],
            )
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        tx.execute(
            "INSERT INTO aliases (model_id, alias, version) VALUES ($1, $2, $3)
             ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version",
            &[&id, &alias, &version],
        )
        .await?;
        let change = AliasChange {
            model: model.to_string(),
            alias: alias.to_string(),
            version: Some(version),
            previous_version: previous,
            actor: audit.actor.clone(),
            reason: audit.reason.clone(),
            at: now_millis(),
        };
        record_alias_change(&tx, id, &change).await?;
        insert_event(
            &tx,
            event_kind::ALIAS_SET,
            &format!("{model}@{alias}"),
            &serde_json::json!({ "version": version, "previous_version": previous }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn delete_alias(
        &self,
        model: &str,
        alias: &str,
        audit: &Audit,
    ) -> StoreResult<AliasChange> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let id: i64 = tx
            .query_opt(
                "SELECT id FROM models WHERE name = $1 FOR UPDATE",
                &[&model],
            )
            .await?
            .ok_or_else(|| StoreError::not_found("model", model))?
            .try_get(0)?;
        let followers: Vec<String> = tx
            .query(
                "SELECT name FROM deployments WHERE model_id = $1 AND primary_alias = $2 ORDER BY name",
                &[&id, &alias],
            )
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if !followers.is_empty() {
            return Err(StoreError::Conflict(format!(
                "alias '{model}@{alias}' is the primary of deployment {}; deploy another target or delete the deployment first",
                followers.join(", ")
            )));
        }
        let previous: i64 = tx
            .query_opt(
                "DELETE FROM aliases WHERE model_id = $1 AND alias = $2 RETURNING version",
                &[&id, &alias],
            )
            .await?
            .ok_or_else(|| StoreError::not_found("alias", format!("{model}@{alias}")))?
            .try_get(0)?;
        let change = AliasChange {
            model: model.to_string(),
            alias: alias.to_string(),
            version: None,
            previous_version: Some(previous),
            actor: audit.actor.clone(),
            reason: audit.reason.clone(),
            at: now_millis(),
        };
        record_alias_change(&tx, id, &change).await?;
        insert_event(
            &tx,
            event_kind::ALIAS_DELETED,
            &format!("{model}@{alias}"),
            &serde_json::json!({ "previous_version": previous }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn resolve_alias(&self, model: &str, alias: &str) -> StoreResult<ModelVersion> {
        let client = self.client().await?;
        let id = model_id(&client, model).await?;
        let version: i64 = client
            .query_opt(
                "SELECT version FROM aliases WHERE model_id = $1 AND alias = $2",
                &[&id, &alias],
            )
            .await?
            .ok_or_else(|| StoreError::not_found("alias", format!("{model}@{alias}")))?
            .try_get(0)?;
        read_version(&client, model, version).await
    }

    async fn alias_history(
        &self,
        model: &str,
        alias: Option<&str>,
    ) -> StoreResult<Vec<AliasChange>> {
        let client = self.client().await?;
        let id = model_id(&client, model).await?;
        client
            .query(
                "SELECT m.name, h.alias, h.version, h.previous_version, h.actor, h.reason, h.at
                 FROM alias_history h JOIN models m ON m.id = h.model_id
                 WHERE h.model_id = $1 AND ($2::text IS NULL OR h.alias = $2) ORDER BY h.id",
                &[&id, &alias],
            )
            .await?
            .iter()
            .map(|row| {
                Ok(AliasChange {
                    model: row.try_get(0)?,
                    alias: row.try_get(1)?,
                    version: row.try_get(2)?,
                    previous_version: row.try_get(3)?,
                    actor: row.try_get(4)?,
                    reason: row.try_get(5)?,
                    at: row.try_get(6)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append_event(
        &self,
        kind: &str,
        subject: &str,
        payload: &serde_json::Value,
        audit: &Audit,
    ) -> StoreResult<Event> {
        validate_key("event kind", kind)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let event = insert_event(&tx, kind, subject, payload, audit).await?;
        tx.commit().await?;
        Ok(event)
    }

    async fn events_after(&self, after_id: i64, limit: u32) -> StoreResult<Vec<Event>> {
        let limit = i64::from(limit.clamp(1, PageRequest::MAX_LIMIT));
        let client = self.client().await?;
        client
            .query(
                "SELECT id, kind, subject, actor, at, reason, payload FROM events WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after_id, &limit],
            )
            .await?
            .iter()
            .map(|row| {
                Ok(Event {
                    id: row.try_get(0)?,
                    kind: row.try_get(1)?,
                    subject: row.try_get(2)?,
                    actor: row.try_get(3)?,
                    at: row.try_get(4)?,
                    reason: row.try_get(5)?,
                    payload: row.try_get(6)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl DeploymentStore for PostgresStore {
    async fn put_deployment(
        &self,
        deployment: &NewDeployment,
        audit: &Audit,
    ) -> StoreResult<Deployment> {
        validate_deployment(deployment)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEPLOYMENT_LOCK])
            .await?;
        // Lock the model row too: an alias cannot be deleted while a deployment starts to follow it.
        let id: i64 = tx
            .query_opt(
                "SELECT id FROM models WHERE name = $1 FOR UPDATE",
                &[&deployment.model],
            )
            .await?
            .ok_or_else(|| StoreError::not_found("model", &deployment.model))?
            .try_get(0)?;
        let (alias, pinned) = match &deployment.primary {
            DeploymentTarget::Alias(alias) => {
                let known = tx
                    .query_opt(
                        "SELECT version FROM aliases WHERE model_id = $1 AND alias = $2",
                        &[&id, alias],
                    )
                    .await?;
                if known.is_none() {
                    return Err(StoreError::not_found(
                        "alias",
                        format!("{}@{alias}", deployment.model),
                    ));
                }
                (Some(alias.clone()), None)
            }
            DeploymentTarget::Version(version) => {
                read_version(&tx, &deployment.model, *version).await?;
                (None, Some(*version))
            }
        };
        let canary_version = deployment.canary.as_ref().map(|c| c.version);
        for version in canary_version.iter().chain(deployment.shadow.iter()) {
            read_version(&tx, &deployment.model, *version).await?;
        }
        let previous = match read_deployment(&tx, &deployment.name).await {
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (name) DO UPDATE SET model_id = excluded.model_id,
                 primary_alias = excluded.primary_alias, primary_version = excluded.primary_version,
                 canary_version = excluded.canary_version, canary_percent = excluded.canary_percent,
                 shadow_version = excluded.shadow_version, revision = excluded.revision,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            &[
                &stored.name,
                &id,
                &alias,
                &pinned,
                &canary_version,
                &stored.canary.as_ref().map(|c| c.percent),
                &stored.shadow,
                &stored.revision,
                &stored.created_at,
                &stored.updated_at,
                &stored.updated_by,
            ],
        )
        .await?;
        insert_event(
            &tx,
            event_kind::DEPLOYMENT_SET,
            &stored.name,
            &serde_json::json!({ "deployment": stored, "previous": previous }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn get_deployment(&self, name: &str) -> StoreResult<Deployment> {
        let client = self.client().await?;
        read_deployment(&client, name).await
    }

    async fn list_deployments(&self, page: &PageRequest) -> StoreResult<Page<Deployment>> {
        let limit = page.effective_limit();
        let after = page.page_token.clone().unwrap_or_default();
        let client = self.client().await?;
        let items = client
            .query(
                &format!(
                    "SELECT {DEPLOYMENT_COLUMNS} FROM {DEPLOYMENT_FROM} WHERE d.name > $1 ORDER BY d.name LIMIT {}",
                    limit + 1
                ),
                &[&after],
            )
            .await?
            .iter()
            .map(deployment_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paginate(items, limit, |d| d.name.clone()))
    }

    async fn delete_deployment(&self, name: &str, audit: &Audit) -> StoreResult<Deployment> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEPLOYMENT_LOCK])
            .await?;
        let previous = read_deployment(&tx, name).await?;
        tx.execute("DELETE FROM deployments WHERE name = $1", &[&name])
            .await?;
        insert_event(
            &tx,
            event_kind::DEPLOYMENT_DELETED,
            name,
            &serde_json::json!({ "previous": previous }),
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(previous)
    }
}

#[async_trait]
impl PredictionStore for PostgresStore {
    async fn record_predictions(&self, predictions: &[NewPrediction]) -> StoreResult<()> {
        if predictions.is_empty() {
            return Ok(());
        }
        // One statement for the whole batch: the columns travel as arrays and UNNEST turns them into rows.
        let request_ids: Vec<&str> = predictions.iter().map(|p| p.request_id.as_str()).collect();
        let ats: Vec<i64> = predictions.iter().map(|p| p.at).collect();
        let deployments: Vec<Option<&str>> = predictions
            .iter()
            .map(|p| p.deployment.as_deref())
            .collect();
        let models: Vec<&str> = predictions.iter().map(|p| p.model.as_str()).collect();
        let versions: Vec<i64> = predictions.iter().map(|p| p.version).collect();
        let roles: Vec<&str> = predictions.iter().map(|p| p.role.as_str()).collect();
        let rows: Vec<i64> = predictions.iter().map(|p| p.rows).collect();
        let inputs: Vec<&str> = predictions.iter().map(|p| p.inputs.as_str()).collect();
        let outputs: Vec<&str> = predictions.iter().map(|p| p.outputs.as_str()).collect();
        let latencies: Vec<i64> = predictions.iter().map(|p| p.latency_micros).collect();
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO predictions (request_id, at, deployment, model, version, role, n_rows, inputs,
                     outputs, latency_micros)
                 SELECT r, a, d, m, v, ro, n, i::json, o::json, l
                 FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],
                     $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[])
                     AS t (r, a, d, m, v, ro, n, i, o, l)",
                &[
                    &request_ids,
                    &ats,
                    &deployments,
                    &models,
                    &versions,
                    &roles,
                    &rows,
                    &inputs,
                    &outputs,
                    &latencies,
                ],
            )
            .await?;
        Ok(())
    }

    async fn prune_predictions(
        &self,
        keep: Option<u64>,
        before: Option<Millis>,
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        let mut deleted = 0;
        if let Some(keep) = keep {
            let keep = i64::try_from(keep).unwrap_or(i64::MAX);
            deleted += client
                .execute(
                    "DELETE FROM predictions WHERE id <= (SELECT max(id) FROM predictions) - $1",
                    &[&keep],
                )
                .await?;
        }
        if let Some(before) = before {
            deleted += client
                .execute("DELETE FROM predictions WHERE at < $1", &[&before])
                .await?;
        }
        Ok(deleted)
    }

    async fn list_predictions(
        &self,
        query: &PredictionQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<PredictionRecord>> {
        let limit = page.effective_limit();
        let mut conditions = Conditions::default();
        if let Some(token) = &page.page_token {
            conditions.push("id < ?", vec![Box::new(parse_int_token(token)?)]);
        }
        if let Some(model) = &query.model {
            conditions.push("model = ?", vec![Box::new(model.clone())]);
        }
        if let Some(version) = query.version {
            conditions.push("version = ?", vec![Box::new(version)]);
        }
        if let Some(deployment) = &query.deployment {
            conditions.push("deployment = ?", vec![Box::new(deployment.clone())]);
        }
        if let Some(role) = query.role {
            conditions.push("role = ?", vec![Box::new(role.as_str().to_string())]);
        }
        if let Some(request_id) = &query.request_id {
            conditions.push("request_id = ?", vec![Box::new(request_id.clone())]);
        }
        let sql = format!(
            "SELECT {PREDICTION_COLUMNS} FROM predictions WHERE TRUE{} ORDER BY id DESC LIMIT {}",
            conditions.sql,
            limit + 1
        );
        let client = self.client().await?;
        let items = client
            .query(&sql, &conditions.params())
            .await?
            .iter()
            .map(prediction_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paginate(items, limit, |p| p.id.to_string()))
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        let client = self.client().await?;
        let version: String = client
            .query_one(
                "SELECT value FROM steward_meta WHERE key = 'schema_version'",
                &[],
            )
            .await?
            .try_get(0)?;
        version
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("schema_version '{version}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://steward:secret@db:5432/steward"),
            "postgres://steward:***@db:5432/steward"
        );
        assert_eq!(redact("postgres://db/steward"), "postgres://db/steward");
    }
}
