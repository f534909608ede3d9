//! Any bytes as an ONNX model: loading must return a model or an error, never panic, hang or allocate without
//! bound; a model that loads must predict a small batch or fail cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use steward_runtime::Model;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::load(data)
        && let Some(n) = model.signature().n_features
        && n <= 4096
    {
        let x = vec![0.5f32; n * 2];
        let _ = model.predict(&x, 2);
    }
});
