//! Micro-batching: concurrent small requests for one version are gathered for at most `max_wait` (or until
//! `max_rows`) and predicted in one call, then each request gets its own rows back. Off by default: it only
//! pays when one prediction call costs much more than its rows (see BENCHMARKS.md for both measured).
//!
//! Tokio's timers tick in milliseconds, so waits below one millisecond are spent yielding to other tasks and
//! checking the queue, not sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use steward_ml::dataset::{Column, ColumnData, Dataset};
use steward_service::predict::{PredictOutcome, Predictor};
use steward_service::{ServiceError, ServiceResult};
use steward_store::ModelVersion;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// A batch is predicted as soon as it holds this many rows.
    pub max_rows: usize,
    /// ... or when its first request has waited this long.
    pub max_wait: Duration,
}

struct Job {
    data: Arc<Dataset>,
    reply: oneshot::Sender<ServiceResult<PredictOutcome>>,
}

pub struct Batcher {
    sender: mpsc::Sender<Job>,
}

/// For `/metrics`: how many predictions the batchers made and for how many requests.
#[derive(Default)]
pub struct BatchCounters {
    pub batches: AtomicU64,
    pub requests: AtomicU64,
}

impl Batcher {
    /// Starts the batching task of one version; it ends when the batcher is dropped.
    pub fn start(
        predictor: Arc<Predictor>,
        version: Arc<ModelVersion>,
        config: BatchConfig,
        counters: Arc<BatchCounters>,
    ) -> Batcher {
        let (sender, receiver) = mpsc::channel(config.max_rows.max(1) * 4);
        tokio::spawn(batch_loop(predictor, version, config, receiver, counters));
        Batcher { sender }
    }

    pub async fn predict(&self, data: Arc<Dataset>) -> ServiceResult<PredictOutcome> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job { data, reply })
            .await
            .map_err(|_| ServiceError::InvalidInput("the model was unloaded; retry".into()))?;
        answer
            .await
            .map_err(|_| ServiceError::InvalidInput("the batch was abandoned; retry".into()))?
    }
}

async fn batch_loop(
    predictor: Arc<Predictor>,
    version: Arc<ModelVersion>,
    config: BatchConfig,
    mut receiver: mpsc::Receiver<Job>,
    counters: Arc<BatchCounters>,
) {
    while let Some(first) = receiver.recv().await {
        let deadline = Instant::now() + config.max_wait;
        let mut rows = first.data.n_rows;
        let mut jobs = vec![first];
        while rows < config.max_rows {
            let next = match receiver.try_recv() {
                Ok(job) => Some(job),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        None
                    } else if left >= Duration::from_millis(1) {
                        tokio::time::timeout(left, receiver.recv())
                            .await
                            .ok()
                            .flatten()
                    } else {
                        tokio::task::yield_now().await;
                        continue;
                    }
                }
            };
            match next {
                Some(job) => {
                    rows += job.data.n_rows;
                    jobs.push(job);
                }
                None => break,
            }
        }
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .requests
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        answer(&predictor, &version, jobs);
    }
}

fn answer(predictor: &Predictor, version: &ModelVersion, jobs: Vec<Job>) {
    let predict = |data: &Dataset| predictor.predict(data, version.model.clone(), version.version);
    if jobs.len() > 1
        && let Some(joined) = concat(&jobs)
        && let Ok(outcome) = predict(&joined)
    {
        let mut start = 0;
        for job in jobs {
            let rows = job.data.n_rows;
            let _ = job.reply.send(Ok(slice(&outcome, start, rows)));
            start += rows;
        }
        return;
    }
    // One request, requests with different columns, or a batch that failed: each on its own, so that every
    // request gets its own answer or its own error.
    for job in jobs {
        let _ = job.reply.send(predict(&job.data));
    }
}

/// The rows of every job under the first job's columns; `None` when the jobs' columns differ.
fn concat(jobs: &[Job]) -> Option<Dataset> {
    let first = &jobs[0].data;
    let same_columns = jobs.iter().all(|job| {
        job.data.columns.len() == first.columns.len()
            && job.data.columns.iter().zip(&first.columns).all(|(a, b)| {
                a.name == b.name
                    && matches!(
                        (&a.data, &b.data),
                        (ColumnData::Numeric(_), ColumnData::Numeric(_))
                            | (ColumnData::Text(_), ColumnData::Text(_))
                    )
            })
    });
    if !same_columns {
        return None;
    }
    let columns = first
        .columns
        .iter()
        .enumerate()
        .map(|(j, column)| {
            let data = match &column.data {
                ColumnData::Numeric(_) => ColumnData::Numeric(
                    jobs.iter()
                        .flat_map(|job| match &job.data.columns[j].data {
                            ColumnData::Numeric(values) => values.as_slice(),
                            ColumnData::Text(_) => &[],
                        })
                        .copied()
                        .collect(),
                ),
                ColumnData::Text(_) => ColumnData::Text(
                    jobs.iter()
                        .flat_map(|job| match &job.data.columns[j].data {
                            ColumnData::Text(values) => values.as_slice(),
                            ColumnData::Numeric(_) => &[],
                        })
                        .cloned()
                        .collect(),
                ),
            };
            Column {
                name: column.name.clone(),
                data,
            }
        })
        .collect();
    Dataset::from_columns(columns).ok()
}

fn slice(outcome: &PredictOutcome, start: usize, rows: usize) -> PredictOutcome {
    let range = start..start + rows;
    PredictOutcome {
        model: outcome.model.clone(),
        version: outcome.version,
        rows,
        labels: outcome.labels.as_ref().map(|l| l[range.clone()].to_vec()),
        values: outcome.values.as_ref().map(|v| {
            let k = outcome.values_per_row.max(1);
            v[range.start * k..range.end * k].to_vec()
        }),
        values_per_row: outcome.values_per_row,
        classes: outcome.classes.clone(),
        probabilities: outcome.probabilities.as_ref().map(|p| p[range].to_vec()),
    }
}
