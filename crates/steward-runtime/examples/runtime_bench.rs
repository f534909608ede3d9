//! Inference latency of the native runtime on ONNX files, the same files and rows `scripts/bench_runtime.py`
//! times onnxruntime on (`scripts/bench_runtime.sh` runs both). For each model: load time, single-row latency
//! (median of many calls) and per-row time in batches of 1,000, on one thread and on all cores.
//!
//! ```text
//! cargo run --release -p steward-runtime --example runtime_bench -- DIR
//! ```
//! DIR holds `<name>.onnx` and `<name>.rows.f32` (little-endian float32 rows, `<name>.width` columns).

use std::time::{Duration, Instant};

use steward_runtime::Model;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The input is handed over as an owned matrix made before the clock starts (`predict_owned`, what the server
/// does with the matrix it parsed), as onnxruntime reads a NumPy array in place.
fn time_predict(model: &Model, x: &[f32], rows: usize, repeats: usize) -> Duration {
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let input = x.to_vec();
        let start = Instant::now();
        let prediction = model.predict_owned(input, rows).expect("predict");
        samples.push(start.elapsed());
        std::hint::black_box(prediction);
    }
    median(samples)
}

/// tract on the same file, straight from tract's API (as a user of tract would run it): single-row latency and
/// the per-row time of a 100-row batch (tract's tree ensembles take milliseconds per row, so fewer and smaller
/// samples), or the error that stops it.
fn time_tract(bytes: &[u8], x: &[f32], width: usize, batch_rows: usize) -> serde_json::Value {
    use tract_onnx::prelude::*;
    let load = || -> TractResult<std::sync::Arc<TypedRunnableModel>> {
        let mut model = tract_onnx::onnx().model_for_read(&mut &bytes[..])?;
        let batch = model.symbols.sym("N");
        model.set_input_fact(
            0,
            InferenceFact::dt_shape(
                f32::datum_type(),
                tvec!(TDim::Sym(batch), TDim::from(width as i64)),
            ),
        )?;
        model.into_optimized()?.into_runnable()
    };
    let run = |plan: &std::sync::Arc<TypedRunnableModel>,
               rows: usize,
               offset: usize|
     -> TractResult<Duration> {
        let input = tract_ndarray::Array2::from_shape_vec(
            (rows, width),
            x[offset * width..(offset + rows) * width].to_vec(),
        )?;
        let start = Instant::now();
        let out = plan.run(tvec!(Tensor::from(input).into_tvalue()))?;
        let elapsed = start.elapsed();
        std::hint::black_box(out);
        Ok(elapsed)
    };
    let measure = || -> TractResult<serde_json::Value> {
        let start = Instant::now();
        let plan = load()?;
        let load_time = start.elapsed();
        let rows = x.len() / width;
        let batch_rows = batch_rows.min(100);
        let singles: Vec<Duration> = (0..21)
            .map(|i| run(&plan, 1, i % rows))
            .collect::<TractResult<_>>()?;
        let batches: Vec<Duration> = (0..3)
            .map(|_| run(&plan, batch_rows, 0))
            .collect::<TractResult<_>>()?;
        Ok(serde_json::json!({
            "load_ms": load_time.as_secs_f64() * 1e3,
            "single_row_us": median(singles).as_secs_f64() * 1e6,
            "batch_us_per_row": median(batches).as_secs_f64() * 1e6 / batch_rows as f64,
        }))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(measure)) {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            serde_json::json!({"error": format!("{error}").lines().next().unwrap_or("").to_string()})
        }
        Err(_) => serde_json::json!({"error": "tract panicked"}),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: runtime_bench DIR")?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".onnx")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(format!("{dir}/{name}.onnx"))?;
        let width: usize = std::fs::read_to_string(format!("{dir}/{name}.width"))?
            .trim()
            .parse()?;
        let raw = std::fs::read(format!("{dir}/{name}.rows.f32"))?;
        let x: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let rows = x.len() / width;
        let mut loads = Vec::new();
        let mut model = None;
        for _ in 0..5 {
            let start = Instant::now();
            model = Some(Model::load(&bytes)?);
            loads.push(start.elapsed());
        }
        let model = model.ok_or("no model")?;
        let load = median(loads);
        // Single rows, cycling through the rows so caches see varied input.
        let mut singles = Vec::with_capacity(2_000);
        for i in 0..2_000 {
            let r = i % rows;
            let row = x[r * width..(r + 1) * width].to_vec();
            let start = Instant::now();
            let prediction = model.predict_owned(row, 1)?;
            singles.push(start.elapsed());
            std::hint::black_box(prediction);
        }
        let single = median(singles);
        let batch_rows = rows.min(1_000);
        let batch = &x[..batch_rows * width];
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
        let one_thread = pool.install(|| time_predict(&model, batch, batch_rows, 50));
        let all_threads = time_predict(&model, batch, batch_rows, 50);
        let tract = time_tract(&bytes, &x, width, batch_rows);
        println!(
            "{}",
            serde_json::json!({
                "runner": "steward",
                "model": name,
                "load_ms": load.as_secs_f64() * 1e3,
                "single_row_us": single.as_secs_f64() * 1e6,
                "batch_rows": batch_rows,
                "batch_us_per_row_1_thread": one_thread.as_secs_f64() * 1e6 / batch_rows as f64,
                "batch_us_per_row_all_threads": all_threads.as_secs_f64() * 1e6 / batch_rows as f64,
                "tract": tract,
            })
        );
    }
    Ok(())
}
