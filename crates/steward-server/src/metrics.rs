//! `/metrics` in Prometheus' text format: prediction requests by model, version and status, their latency
//! histogram, rows predicted, requests in flight, how long each model took to load, models loaded, shadow
//! predictions, and the capture queue (depth, written, dropped, failed).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// model → version → status → count.
type RequestCounts = BTreeMap<String, BTreeMap<String, BTreeMap<u16, u64>>>;

#[derive(Default)]
pub struct Metrics {
    /// model → version → status → count; nested so that a request allocates only the first time its key is seen.
    requests: Mutex<RequestCounts>,
    /// Cumulative counts per bucket of [`BUCKETS`], plus +Inf.
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
    rows: AtomicU64,
    pub in_flight: AtomicI64,
    load_seconds: Mutex<BTreeMap<(String, i64), f64>>,
    shadow_ok: AtomicU64,
    shadow_failed: AtomicU64,
}

/// Values read from elsewhere at render time.
pub struct Gauges<'a> {
    pub models_loaded: usize,
    /// Queue depth and counters, when capture is on.
    pub capture: Option<(usize, &'a crate::capture::CaptureCounters)>,
    /// When micro-batching is on.
    pub batching: Option<&'a crate::batching::BatchCounters>,
}

impl Metrics {
    pub fn record(&self, model: &str, version: &str, status: u16, elapsed: Duration, rows: usize) {
        if let Ok(mut requests) = self.requests.lock() {
            if !requests.contains_key(model) {
                requests.insert(model.to_string(), BTreeMap::new());
            }
            if let Some(versions) = requests.get_mut(model) {
                if !versions.contains_key(version) {
                    versions.insert(version.to_string(), BTreeMap::new());
                }
                if let Some(statuses) = versions.get_mut(version) {
                    *statuses.entry(status).or_default() += 1;
                }
            }
        }
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
    }

    pub fn model_loaded(&self, model: &str, version: i64, elapsed: Duration) {
        if let Ok(mut loads) = self.load_seconds.lock() {
            loads.insert((model.to_string(), version), elapsed.as_secs_f64());
        }
    }

    pub fn shadow(&self, ok: bool) {
        let counter = if ok {
            &self.shadow_ok
        } else {
            &self.shadow_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, gauges: &Gauges<'_>) -> String {
        let mut out = String::new();
        let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        header(
            &mut out,
            "steward_requests_total",
            "counter",
            "Prediction requests by model, version and status.",
        );
        if let Ok(requests) = self.requests.lock() {
            for (model, versions) in requests.iter() {
                for (version, statuses) in versions {
                    for (status, count) in statuses {
                        let _ = writeln!(
                            out,
                            "steward_requests_total{{model=\"{}\",version=\"{}\",status=\"{status}\"}} {count}",
                            escape(model),
                            escape(version)
                        );
                    }
                }
            }
        }
        header(
            &mut out,
            "steward_request_duration_seconds",
            "histogram",
            "Latency of prediction requests.",
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.latency[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "steward_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.latency[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "steward_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "steward_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "steward_request_duration_seconds_count {cumulative}");
        header(&mut out, "steward_rows_total", "counter", "Rows predicted.");
        let _ = writeln!(
            out,
            "steward_rows_total {}",
            self.rows.load(Ordering::Relaxed)
        );
        single(
            &mut out,
            "steward_requests_in_flight",
            "gauge",
            "Prediction requests being served.",
            self.in_flight.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "steward_model_load_seconds",
            "gauge",
            "How long loading each model version took.",
        );
        if let Ok(loads) = self.load_seconds.lock() {
            for ((model, version), seconds) in loads.iter() {
                let _ = writeln!(
                    out,
                    "steward_model_load_seconds{{model=\"{}\",version=\"{version}\"}} {seconds}",
                    escape(model)
                );
            }
        }
        header(
            &mut out,
            "steward_models_loaded",
            "gauge",
            "Model versions held in memory (dropped when no route refers to them).",
        );
        let _ = writeln!(out, "steward_models_loaded {}", gauges.models_loaded);
        header(
            &mut out,
            "steward_shadow_predictions_total",
            "counter",
            "Requests mirrored to a shadow version, by outcome.",
        );
        for (status, counter) in [("ok", &self.shadow_ok), ("failed", &self.shadow_failed)] {
            let _ = writeln!(
                out,
                "steward_shadow_predictions_total{{status=\"{status}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        if let Some(counters) = gauges.batching {
            header(
                &mut out,
                "steward_batches_total",
                "counter",
                "Predictions made by the micro-batcher (each for one or more requests).",
            );
            let _ = writeln!(
                out,
                "steward_batches_total {}",
                counters.batches.load(Ordering::Relaxed)
            );
            header(
                &mut out,
                "steward_batched_requests_total",
                "counter",
                "Requests answered through the micro-batcher.",
            );
            let _ = writeln!(
                out,
                "steward_batched_requests_total {}",
                counters.requests.load(Ordering::Relaxed)
            );
        }
        if let Some((depth, counters)) = gauges.capture {
            header(
                &mut out,
                "steward_capture_queue_depth",
                "gauge",
                "Captured predictions waiting to be written.",
            );
            let _ = writeln!(out, "steward_capture_queue_depth {depth}");
            header(
                &mut out,
                "steward_capture_records_total",
                "counter",
                "Captured predictions by fate: written, dropped (queue full), failed (store error).",
            );
            for (fate, counter) in [
                ("written", &counters.written),
                ("dropped", &counters.dropped),
                ("failed", &counters.failed),
            ] {
                let _ = writeln!(
                    out,
                    "steward_capture_records_total{{fate=\"{fate}\"}} {}",
                    counter.load(Ordering::Relaxed)
                );
            }
        }
        out
    }
}

/// The `# HELP` and `# TYPE` lines of a metric.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A metric with one unlabelled sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}
