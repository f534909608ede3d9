//! Registry and tracking throughput on both backends, each beside a reference measured in the same run.
//!
//! `cargo bench -p steward-service --bench registry` (scripts/bench.sh runs it and the MLflow reference).
//! PostgreSQL is measured when `STEWARD_BENCH_POSTGRES_URL` (or `STEWARD_TEST_POSTGRES_URL`) is set.
//! Sizes can be reduced for a quick look: `STEWARD_BENCH_SCALE=0.1`; parts chosen with
//! `STEWARD_BENCH_ONLY=register,metrics,search,capture` and backends with `STEWARD_BENCH_BACKENDS=sqlite,postgres`.
//!
//! Measures:
//! 1. register N versions through the service (artifact package written and fsynced + metadata transaction);
//!    reference: one bare `INSERT` transaction per version into an unindexed table of the same backend.
//! 2. log 1,000,000 metrics in batches of 1,000 (`log_metrics`: history + latest values, validated);
//!    reference: the same rows inserted into one bare table with the same index, one transaction per batch.
//! 3. search 100,000 runs with a metric filter (`metrics.accuracy > x`, first page of 100 with details);
//!    reference: the same search asking for a page of one run (the cost of finding, without the page).
//! 4. capture 200,000 predictions in batches of 2,048 (`record_predictions`, what the server's capture writer
//!    calls); reference: the same rows into one bare table without indexes, one transaction per batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use steward_service::{Config, RegisterRequest, Steward};
use steward_store::{
    Filter, Metric, NewPrediction, NewRun, PageRequest, PredictionRole, Store, Tags,
};

fn scale() -> f64 {
    std::env::var("STEWARD_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

/// Whether `part` of the comma-separated environment list `variable` is wanted (all when it is unset).
fn wanted(variable: &str, part: &str) -> bool {
    std::env::var(variable).map_or(true, |list| {
        list.split(',').any(|p| p.trim().eq_ignore_ascii_case(part))
    })
}

fn scaled(n: usize) -> usize {
    ((n as f64 * scale()) as usize).max(1)
}

struct Measure {
    backend: &'static str,
    what: String,
    steward: String,
    reference: String,
    ratio: f64,
    target: String,
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

enum Raw {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Raw {
    /// Inserts `count` rows, one transaction each, into an unindexed table.
    async fn single_row_transactions(&self, count: usize) -> Duration {
        match self {
            Raw::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut conn = rusqlite::Connection::open(&path).unwrap();
                    conn.execute_batch(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                         CREATE TABLE versions (model_id INTEGER, version INTEGER, uri TEXT, hash TEXT, created INTEGER)",
                    )
                    .unwrap();
                    let start = Instant::now();
                    for i in 0..count {
                        let tx = conn
                            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                            .unwrap();
                        tx.execute(
                            "INSERT INTO versions VALUES (1, ?1, 'steward-artifacts:sha256/ab/x', 'x', 0)",
                            [i as i64],
                        )
                        .unwrap();
                        tx.commit().unwrap();
                    }
                    start.elapsed()
                })
                .await
                .unwrap()
            }
            Raw::Postgres(uri) => {
                let mut client = pg_connect(uri).await;
                client
                    .batch_execute(
                        "CREATE TABLE versions (model_id BIGINT, version BIGINT, uri TEXT, hash TEXT, created BIGINT)",
                    )
                    .await
                    .unwrap();
                let start = Instant::now();
                for i in 0..count {
                    let tx = client.transaction().await.unwrap();
                    tx.execute(
                        "INSERT INTO versions VALUES (1, $1, 'steward-artifacts:sha256/ab/x', 'x', 0)",
                        &[&(i as i64)],
                    )
                    .await
                    .unwrap();
                    tx.commit().await.unwrap();
                }
                start.elapsed()
            }
        }
    }

    /// Inserts the predictions' columns, one transaction per batch, into one table without indexes.
    async fn prediction_batches(&self, batches: &[Vec<NewPrediction>]) -> Duration {
        match self {
            Raw::Sqlite(path) => {
                let (path, batches) = (path.clone(), batches.to_vec());
                tokio::task::spawn_blocking(move || {
                    let mut conn = rusqlite::Connection::open(&path).unwrap();
                    conn.execute_batch(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                         CREATE TABLE predictions (request_id TEXT, at INTEGER, deployment TEXT, model TEXT,
                             version INTEGER, role TEXT, n_rows INTEGER, inputs TEXT, outputs TEXT, latency INTEGER)",
                    )
                    .unwrap();
                    let start = Instant::now();
                    for batch in &batches {
                        let tx = conn.transaction().unwrap();
                        {
                            let mut insert = tx
                                .prepare_cached("INSERT INTO predictions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
                                .unwrap();
                            for p in batch {
                                insert
                                    .execute(rusqlite::params![
                                        p.request_id, p.at, p.deployment, p.model, p.version,
                                        p.role.as_str(), p.rows, p.inputs, p.outputs, p.latency_micros
                                    ])
                                    .unwrap();
                            }
                        }
                        tx.commit().unwrap();
                    }
                    start.elapsed()
                })
                .await
                .unwrap()
            }
            Raw::Postgres(uri) => {
                let client = pg_connect(uri).await;
                client
                    .batch_execute(
                        "CREATE TABLE predictions (request_id TEXT, at BIGINT, deployment TEXT, model TEXT,
                             version BIGINT, role TEXT, n_rows BIGINT, inputs TEXT, outputs TEXT, latency BIGINT)",
                    )
                    .await
                    .unwrap();
                let start = Instant::now();
                for batch in batches {
                    let ids: Vec<&str> = batch.iter().map(|p| p.request_id.as_str()).collect();
                    let inputs: Vec<&str> = batch.iter().map(|p| p.inputs.as_str()).collect();
                    let outputs: Vec<&str> = batch.iter().map(|p| p.outputs.as_str()).collect();
                    let numbers: Vec<i64> = batch.iter().map(|p| p.version).collect();
                    client
                        .execute(
                            "INSERT INTO predictions (request_id, at, model, version, role, n_rows, inputs, outputs, latency)
                             SELECT r, 0, 'iris', v, 'primary', 1, i, o, 0 FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[]) AS t (r, v, i, o)",
                            &[&ids, &numbers, &inputs, &outputs],
                        )
                        .await
                        .unwrap();
                }
                start.elapsed()
            }
        }
    }

    /// Inserts `batches` × 1,000 metric rows, one transaction per batch, into one indexed table.
    async fn metric_batches(&self, batches: usize) -> Duration {
        match self {
            Raw::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut conn = rusqlite::Connection::open(&path).unwrap();
                    conn.execute_batch(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                         CREATE TABLE metrics (run_seq INTEGER, key TEXT, value REAL, step INTEGER, timestamp INTEGER);
                         CREATE INDEX metrics_by_run_key ON metrics (run_seq, key, step);",
                    )
                    .unwrap();
                    let start = Instant::now();
                    for batch in 0..batches {
                        let tx = conn
                            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                            .unwrap();
                        {
                            let mut insert = tx
                                .prepare_cached("INSERT INTO metrics VALUES (1, ?1, ?2, ?3, ?4)")
                                .unwrap();
                            for metric in metric_batch(batch) {
                                insert
                                    .execute(rusqlite::params![
                                        metric.key,
                                        metric.value,
                                        metric.step,
                                        metric.timestamp
                                    ])
                                    .unwrap();
                            }
                        }
                        tx.commit().unwrap();
                    }
                    start.elapsed()
                })
                .await
                .unwrap()
            }
            Raw::Postgres(uri) => {
                let mut client = pg_connect(uri).await;
                client
                    .batch_execute(
                        "CREATE TABLE metrics (run_seq BIGINT, key TEXT, value DOUBLE PRECISION, step BIGINT, timestamp BIGINT);
                         CREATE INDEX metrics_by_run_key ON metrics (run_seq, key, step);",
                    )
                    .await
                    .unwrap();
                let start = Instant::now();
                for batch in 0..batches {
                    let rows = metric_batch(batch);
                    let keys: Vec<&str> = rows.iter().map(|m| m.key.as_str()).collect();
                    let values: Vec<f64> = rows.iter().map(|m| m.value).collect();
                    let steps: Vec<i64> = rows.iter().map(|m| m.step).collect();
                    let times: Vec<i64> = rows.iter().map(|m| m.timestamp).collect();
                    let tx = client.transaction().await.unwrap();
                    tx.execute(
                        "INSERT INTO metrics SELECT 1, * FROM UNNEST($1::text[], $2::float8[], $3::int8[], $4::int8[])",
                        &[&keys, &values, &steps, &times],
                    )
                    .await
                    .unwrap();
                    tx.commit().await.unwrap();
                }
                start.elapsed()
            }
        }
    }
}

async fn pg_connect(uri: &str) -> tokio_postgres::Client {
    let config: tokio_postgres::Config = uri.parse().unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// 1,000 metrics: 10 keys × 100 steps.
fn metric_batch(batch: usize) -> Vec<Metric> {
    (0..1000)
        .map(|i| Metric {
            key: format!("metric_{}", i % 10),
            value: (batch * 1000 + i) as f64 * 1e-6,
            step: (batch * 100 + i / 10) as i64,
            timestamp: 1_700_000_000_000 + (batch * 1000 + i) as i64,
        })
        .collect()
}

async fn bench_registration(
    backend: &'static str,
    steward: &Steward,
    raw: &Raw,
    work: &std::path::Path,
) -> Measure {
    let count = scaled(10_000);
    steward
        .store
        .create_model("bench", None, &Tags::new(), &steward.audit())
        .await
        .unwrap();
    // Distinct models, so every registration writes new blobs: the iris logistic regression (2 KB) with a
    // counter appended as an unknown protobuf field (number 100), which ONNX readers skip.
    let model = include_bytes!("../../../fixtures/models/iris_logreg.onnx");
    let mut files = Vec::with_capacity(count);
    for i in 0..count {
        let file = work.join(format!("model-{i}.onnx"));
        let mut bytes = model.to_vec();
        bytes.extend_from_slice(&[0xA0, 0x06]);
        let mut counter = i as u64;
        loop {
            let byte = (counter & 0x7f) as u8;
            counter >>= 7;
            if counter == 0 {
                bytes.push(byte);
                break;
            }
            bytes.push(byte | 0x80);
        }
        std::fs::write(&file, bytes).unwrap();
        files.push(file);
    }
    let start = Instant::now();
    for file in &files {
        steward
            .register_version(&RegisterRequest {
                model: "bench".into(),
                source: file.clone(),
                metrics: [("accuracy".to_string(), 0.9)].into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let elapsed = start.elapsed();
    let reference = raw.single_row_transactions(count).await;
    let steward_rate = per_second(count, elapsed);
    let reference_rate = per_second(count, reference);
    Measure {
        backend,
        what: format!("register {count} versions (2 KB ONNX file each, fsynced)"),
        steward: format!("{steward_rate:.0} versions/s ({elapsed:.1?})"),
        reference: format!("{reference_rate:.0} bare insert txns/s"),
        ratio: steward_rate / reference_rate,
        target: "-".into(),
    }
}

async fn bench_metrics(backend: &'static str, store: &Arc<dyn Store>, raw: &Raw) -> Measure {
    let batches = scaled(1000);
    let experiment = store
        .create_experiment("metrics-bench", None, &steward_audit())
        .await
        .unwrap();
    let run = store
        .create_run(
            &NewRun {
                experiment_id: experiment.id,
                name: None,
                params: Tags::new(),
                tags: Tags::new(),
            },
            &steward_audit(),
        )
        .await
        .unwrap();
    let prepared: Vec<Vec<Metric>> = (0..batches).map(metric_batch).collect();
    let start = Instant::now();
    for batch in &prepared {
        store.log_metrics(&run.id, batch).await.unwrap();
    }
    let elapsed = start.elapsed();
    let reference = raw.metric_batches(batches).await;
    let rows = batches * 1000;
    let steward_rate = per_second(rows, elapsed);
    let reference_rate = per_second(rows, reference);
    Measure {
        backend,
        what: format!("log {rows} metrics in batches of 1,000"),
        steward: format!("{steward_rate:.0} metrics/s ({elapsed:.1?})"),
        reference: format!("{reference_rate:.0} rows/s bare batch insert"),
        ratio: steward_rate / reference_rate,
        target: if backend == "SQLite" {
            "≥ 200,000/s".into()
        } else {
            "≥ 100,000/s".into()
        },
    }
}

async fn bench_capture(backend: &'static str, store: &Arc<dyn Store>, raw: &Raw) -> Measure {
    let total = scaled(200_000);
    let records: Vec<NewPrediction> = (0..total)
        .map(|i| NewPrediction {
            request_id: format!("3f2a9c0d41e7b8aa{i:016x}"),
            at: 1_800_000_000_000 + i as i64,
            deployment: Some("iris".into()),
            model: "iris".into(),
            version: 1 + (i % 2) as i64,
            role: PredictionRole::Primary,
            rows: 1,
            inputs: format!(
                r#"{{"sepal_length_cm":[5.{}],"sepal_width_cm":[3.0],"petal_length_cm":[5.1],"petal_width_cm":[1.8]}}"#,
                i % 10
            ),
            outputs: r#"{"predictions":["virginica"],"probabilities":[[0.0,0.06,0.94]]}"#.into(),
            latency_micros: 80,
        })
        .collect();
    let batches: Vec<Vec<NewPrediction>> = records.chunks(2048).map(<[_]>::to_vec).collect();
    let start = Instant::now();
    for batch in &batches {
        store.record_predictions(batch).await.unwrap();
    }
    let elapsed = start.elapsed();
    let reference = raw.prediction_batches(&batches).await;
    let steward_rate = per_second(total, elapsed);
    let reference_rate = per_second(total, reference);
    Measure {
        backend,
        what: format!("capture {total} predictions in batches of 2,048"),
        steward: format!(
            "{steward_rate:.0} records/s ({:.1} µs each)",
            elapsed.as_secs_f64() * 1e6 / total as f64
        ),
        reference: format!("{reference_rate:.0} rows/s bare batch insert, no index"),
        ratio: steward_rate / reference_rate,
        target: "-".into(),
    }
}

fn steward_audit() -> steward_store::Audit {
    steward_store::Audit::new("bench")
}

/// `loader` writes the runs (on PostgreSQL with `synchronous_commit = off`, only to load 100,000 runs quickly);
/// `store` searches them.
async fn bench_search(
    backend: &'static str,
    store: &Arc<dyn Store>,
    loader: &Arc<dyn Store>,
) -> Vec<Measure> {
    let runs = scaled(100_000);
    let experiment = loader
        .create_experiment("search-bench", None, &steward_audit())
        .await
        .unwrap();
    let started = Instant::now();
    let parallel = 8;
    let mut tasks = Vec::new();
    for worker in 0..parallel {
        let store = loader.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..runs).step_by(parallel) {
                let run = store
                    .create_run(
                        &NewRun {
                            experiment_id: experiment.id,
                            name: None,
                            params: [("seed".to_string(), (i % 10).to_string())].into(),
                            tags: Tags::new(),
                        },
                        &steward_audit(),
                    )
                    .await
                    .unwrap();
                // Deterministic, spread over [0, 1).
                let accuracy = ((i as u64).wrapping_mul(2654435761) % 100_000) as f64 / 100_000.0;
                store
                    .log_metrics(
                        &run.id,
                        &[Metric {
                            key: "accuracy".into(),
                            value: accuracy,
                            step: 0,
                            timestamp: 0,
                        }],
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let setup = started.elapsed();

    let mut measures = Vec::new();
    for (label, selectivity) in [("matches 50%", 0.5), ("matches 0.1%", 0.999)] {
        let filter = Filter::parse(&format!("metrics.accuracy > {selectivity}")).unwrap();
        let mut timings = Vec::new();
        for _ in 0..101 {
            let start = Instant::now();
            let page = store
                .search_runs(&[experiment.id], &filter, &PageRequest::first(100))
                .await
                .unwrap();
            timings.push(start.elapsed());
            assert!(!page.items.is_empty());
        }
        timings.sort();
        let p50 = percentile(&timings, 0.5);
        let p95 = percentile(&timings, 0.95);
        // Reference: the cheapest query that answers "which runs match" without Steward's page and details.
        let mut reference_timings = Vec::new();
        for _ in 0..101 {
            let start = Instant::now();
            let page = store
                .search_runs(&[experiment.id], &filter, &PageRequest::first(1))
                .await
                .unwrap();
            reference_timings.push(start.elapsed());
            assert_eq!(page.items.len(), 1);
        }
        reference_timings.sort();
        let reference_p50 = percentile(&reference_timings, 0.5);
        measures.push(Measure {
            backend,
            what: format!(
                "search {runs} runs, `metrics.accuracy > {selectivity}` ({label}), page of 100"
            ),
            steward: format!("p50 {p50:.2?}, p95 {p95:.2?}"),
            reference: format!("p50 {reference_p50:.2?} for a page of 1"),
            ratio: p50.as_secs_f64() / reference_p50.as_secs_f64(),
            target: "p50 ≤ 20 ms".into(),
        });
    }
    eprintln!("{backend}: created {runs} runs with a metric each in {setup:.1?}");
    measures
}

async fn bench_backend(
    backend: &'static str,
    store_uri: String,
    raw: Raw,
    dir: &std::path::Path,
) -> Vec<Measure> {
    let steward = Steward::open(&Config {
        home: dir.to_path_buf(),
        store_uri: Some(store_uri.clone()),
        artifacts_uri: None,
        actor: "bench".into(),
    })
    .await
    .unwrap();
    let work = dir.join("models");
    std::fs::create_dir_all(&work).unwrap();
    let mut measures = Vec::new();
    if wanted("STEWARD_BENCH_ONLY", "register") {
        measures.push(bench_registration(backend, &steward, &raw, &work).await);
        eprintln!("{backend}: registration done");
    }
    if wanted("STEWARD_BENCH_ONLY", "metrics") {
        measures.push(bench_metrics(backend, &steward.store, &raw).await);
        eprintln!("{backend}: metrics done");
    }
    if wanted("STEWARD_BENCH_ONLY", "capture") {
        measures.push(bench_capture(backend, &steward.store, &raw).await);
        eprintln!("{backend}: capture done");
    }
    if !wanted("STEWARD_BENCH_ONLY", "search") {
        return measures;
    }
    let loader = match &raw {
        Raw::Sqlite(_) => steward.store.clone(),
        Raw::Postgres(_) => steward_store::open(&store_uri.replacen(
            "options=",
            "options=-c%20synchronous_commit%3Doff%20",
            1,
        ))
        .await
        .unwrap(),
    };
    measures.extend(bench_search(backend, &steward.store, &loader).await);
    measures
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut measures = Vec::new();
        let sqlite_dir = tempfile::tempdir().unwrap();
        if wanted("STEWARD_BENCH_BACKENDS", "sqlite") {
            measures.extend(
                bench_backend(
                    "SQLite",
                    format!(
                        "sqlite://{}",
                        sqlite_dir.path().join("steward.db").display()
                    ),
                    Raw::Sqlite(sqlite_dir.path().join("reference.db")),
                    sqlite_dir.path(),
                )
                .await,
            );
        }
        let postgres = std::env::var("STEWARD_BENCH_POSTGRES_URL")
            .or_else(|_| std::env::var("STEWARD_TEST_POSTGRES_URL"))
            .ok()
            .filter(|_| wanted("STEWARD_BENCH_BACKENDS", "postgres"));
        match postgres {
            Some(base) => {
                let store_uri = steward_store::test_support::fresh_postgres_uri(&base)
                    .await
                    .unwrap();
                let reference_uri = steward_store::test_support::fresh_postgres_uri(&base)
                    .await
                    .unwrap();
                let dir = tempfile::tempdir().unwrap();
                measures.extend(
                    bench_backend(
                        "PostgreSQL",
                        store_uri,
                        Raw::Postgres(reference_uri),
                        dir.path(),
                    )
                    .await,
                );
            }
            None => eprintln!("PostgreSQL skipped: set STEWARD_BENCH_POSTGRES_URL"),
        }
        println!(
            "| backend | measure | Steward | reference (same run) | Steward / reference | target |"
        );
        println!("|---|---|---|---|---|---|");
        for m in &measures {
            println!(
                "| {} | {} | {} | {} | {:.2} | {} |",
                m.backend, m.what, m.steward, m.reference, m.ratio, m.target
            );
        }
    });
}
