//! Capture of live traffic: every answered prediction (and every shadow prediction) goes into a bounded queue;
//! one writer task drains it in batches into the store's prediction records. A full queue drops the record and
//! counts the drop: capture never slows down or fails a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::ser::SerializeMap;
use steward_ml::dataset::{ColumnData, Dataset};
use steward_service::predict::PredictOutcome;
use steward_store::{NewPrediction, PredictionRole, Store, now_millis};
use tokio::sync::mpsc;

/// Queue capacity by default: about a second of traffic at full speed.
pub const DEFAULT_QUEUE: usize = 50_000;
/// The writer stores at most this many records per transaction.
const WRITE_BATCH: usize = 2_048;
/// After the first record of a batch arrives, the writer waits this long for more: a commit rewrites the
/// pages it touches, so many small transactions cost far more than a few large ones.
const LINGER: Duration = Duration::from_millis(20);

/// How many captured predictions the store keeps by default (about 3 GB in SQLite); older ones are pruned.
pub const DEFAULT_KEEP: u64 = 10_000_000;
/// What the capture keeps: at most `keep` records (the newest), none older than `max_age`, checked `every`.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub keep: Option<u64>,
    pub max_age: Option<Duration>,
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep: Some(DEFAULT_KEEP),
            max_age: None,
            every: Duration::from_secs(60),
        }
    }
}

/// Prunes now and then every `retention.every`, for as long as the server runs (each replica may; pruning is
/// idempotent).
pub fn start_pruning(store: Arc<dyn Store>, retention: Retention) {
    if retention.keep.is_none() && retention.max_age.is_none() {
        return;
    }
    tokio::spawn(async move {
        loop {
            let before = retention
                .max_age
                .map(|age| now_millis() - age.as_millis() as i64);
            match store.prune_predictions(retention.keep, before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(records = n, "old captured predictions pruned"),
                Err(error) => tracing::warn!(%error, "pruning captured predictions failed"),
            }
            tokio::time::sleep(retention.every).await;
        }
    });
}

/// One answered request, as it leaves the request path. Turning it into JSON happens on the writer task.
pub struct Captured {
    pub request_id: String,
    pub deployment: Option<String>,
    pub role: PredictionRole,
    pub inputs: Arc<Dataset>,
    pub outcome: PredictOutcome,
    pub latency: Duration,
}

#[derive(Default)]
pub struct CaptureCounters {
    pub enqueued: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
}

pub struct Capture {
    sender: mpsc::Sender<Captured>,
    pub counters: Arc<CaptureCounters>,
}

impl Capture {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>, capacity: usize) -> Capture {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(CaptureCounters::default());
        tokio::spawn(write_loop(store, receiver, counters.clone()));
        Capture { sender, counters }
    }

    pub fn record(&self, captured: Captured) {
        match self.sender.try_send(captured) {
            Ok(()) => {
                self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records waiting to be written.
    pub fn depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    /// Waits until everything enqueued so far is written (or failed), at most `limit`. Called at shutdown.
    pub async fn drain(&self, limit: Duration) {
        let started = Instant::now();
        let target = self.counters.enqueued.load(Ordering::Relaxed);
        while self.counters.written.load(Ordering::Relaxed)
            + self.counters.failed.load(Ordering::Relaxed)
            < target
            && started.elapsed() < limit
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    mut receiver: mpsc::Receiver<Captured>,
    counters: Arc<CaptureCounters>,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while receiver.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < WRITE_BATCH {
            let room = WRITE_BATCH - batch.len();
            match tokio::time::timeout_at(deadline, receiver.recv_many(&mut batch, room)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let records: Vec<NewPrediction> = batch.drain(..).map(to_record).collect();
        let n = records.len() as u64;
        match store.record_predictions(&records).await {
            Ok(()) => {
                counters.written.fetch_add(n, Ordering::Relaxed);
            }
            Err(error) => {
                counters.failed.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(records = n, %error, "captured predictions could not be stored");
            }
        }
    }
}

fn to_record(captured: Captured) -> NewPrediction {
    let Captured {
        request_id,
        deployment,
        role,
        inputs,
        outcome,
        latency,
    } = captured;
    NewPrediction {
        request_id,
        at: now_millis(),
        deployment,
        model: outcome.model.clone(),
        version: outcome.version,
        role,
        rows: outcome.rows as i64,
        inputs: json_text(&Columnar(&inputs)),
        outputs: json_text(&Outputs(&outcome)),
        latency_micros: latency.as_micros() as i64,
    }
}

fn json_text(value: &impl Serialize) -> String {
    // Serializing plain numbers, strings and lists cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// `{"column": [value per row]}` in the request's column order; NaN becomes null.
pub struct Columnar<'a>(pub &'a Dataset);

impl Serialize for Columnar<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.columns.len()))?;
        for column in &self.0.columns {
            match &column.data {
                ColumnData::Numeric(values) => map.serialize_entry(&column.name, values)?,
                ColumnData::Text(values) => map.serialize_entry(&column.name, values)?,
            }
        }
        map.end()
    }
}

/// `{"predictions": [...], "probabilities": [[...], ...]}` (class order: the version's signature).
pub struct Outputs<'a>(pub &'a PredictOutcome);

impl Serialize for Outputs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let outcome = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("predictions", &outcome.predictions())?;
        if let Some(probabilities) = &outcome.probabilities {
            map.serialize_entry("probabilities", probabilities)?;
        }
        map.end()
    }
}
