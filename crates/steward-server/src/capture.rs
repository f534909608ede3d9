//! Capture of live traffic: every answered prediction (and every shadow prediction) goes into a bounded queue;
//! one writer task drains it in batches into the store's prediction records. A full queue drops the record and
//! counts the drop: capture never slows down or fails a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use steward_ml::dataset::{ColumnData, Dataset};
use steward_service::predict::PredictOutcome;
use steward_store::{NewPrediction, PredictionRole, Store, now_millis};
use tokio::sync::mpsc;

/// Queue capacity by default: about a second of traffic at full speed.
pub const DEFAULT_QUEUE: usize = 50_000;
/// The writer stores at most this many records per transaction.
const WRITE_BATCH: usize = 2_048;

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
    capacity: usize,
    pub counters: Arc<CaptureCounters>,
}

impl Capture {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>, capacity: usize) -> Capture {
        let capacity = capacity.max(1);
        let (sender, receiver) = mpsc::channel(capacity);
        let counters = Arc::new(CaptureCounters::default());
        tokio::spawn(write_loop(store, receiver, counters.clone()));
        Capture {
            sender,
            capacity,
            counters,
        }
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
        self.capacity - self.sender.capacity()
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
        inputs: columnar(&inputs),
        outputs: outputs(&outcome),
        latency_micros: latency.as_micros() as i64,
    }
}

/// `{"column": [value per row]}` in the request's column order; NaN becomes null.
pub fn columnar(data: &Dataset) -> Value {
    let mut columns = Map::with_capacity(data.columns.len());
    for column in &data.columns {
        let values = match &column.data {
            ColumnData::Numeric(values) => values.iter().map(|&v| json!(v)).collect(),
            ColumnData::Text(values) => values.iter().map(|v| json!(v)).collect(),
        };
        columns.insert(column.name.clone(), Value::Array(values));
    }
    Value::Object(columns)
}

pub fn outputs(outcome: &PredictOutcome) -> Value {
    let predictions = match (&outcome.labels, &outcome.values) {
        (Some(labels), _) => json!(labels),
        (None, Some(values)) => json!(values),
        _ => json!([]),
    };
    let mut out = json!({ "predictions": predictions });
    if let Some(probabilities) = &outcome.probabilities {
        out["probabilities"] = json!(probabilities);
        out["classes"] = json!(outcome.classes);
    }
    out
}
