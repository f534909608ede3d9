//! Any bytes as an ONNX model: loading must return a model or an error, never panic, hang or allocate without
//! bound; a model that loads must predict a small batch or fail cleanly.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use steward_runtime::Model;

static PANIC_HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys installs a hook that aborts on every panic, even one caught inside. Steward catches tract's
    // panics (the graph is refused with an error), so here only a panic that escapes `Model` counts, and
    // libfuzzer-sys still aborts on that one when it reaches the fuzz target's boundary.
    PANIC_HOOK.call_once(|| {
        let aborting = std::panic::take_hook();
        drop(aborting);
        std::panic::set_hook(Box::new(|info| {
            if std::env::var_os("STEWARD_FUZZ_SHOW_PANICS").is_some() {
                eprintln!("caught: {info}");
            }
        }));
    });
    if let Ok(model) = Model::load(data)
        && let Some(n) = model.signature().n_features
        && n <= 4096
    {
        let x = vec![0.5f32; n * 2];
        let _ = model.predict(&x, 2);
    }
});
