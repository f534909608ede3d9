//! Helpers for tests that drive the real `steward` binary.
#![allow(dead_code)]

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const IRIS_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/models/iris_logreg.onnx"
);

/// A `steward` command on an isolated home (and, when given, another metadata store).
pub fn steward(home: &Path, store: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    command
        .env_remove("STEWARD_STORE")
        .env_remove("STEWARD_ARTIFACTS")
        .env("STEWARD_HOME", home)
        .env("STEWARD_ACTOR", "tester");
    if let Some(store) = store {
        command.arg("--store").arg(store);
    }
    command
}

pub fn run(home: &Path, store: Option<&str>, args: &[&str]) -> Output {
    steward(home, store)
        .args(args)
        .output()
        .expect("steward runs")
}

/// Runs and expects success; returns stdout.
pub fn ok(home: &Path, store: Option<&str>, args: &[&str]) -> String {
    let output = run(home, store, args);
    assert!(
        output.status.success(),
        "steward {args:?} failed ({:?}):\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

pub fn json(home: &Path, store: Option<&str>, args: &[&str]) -> serde_json::Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let text = ok(home, store, &with_json);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("steward {args:?} printed no JSON ({e}):\n{text}"))
}

/// Runs and expects failure with `code`; returns stderr.
pub fn fails(home: &Path, store: Option<&str>, args: &[&str], code: i32) -> String {
    let output = run(home, store, args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "steward {args:?}: stdout {} stderr {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stderr).expect("UTF-8 output")
}

/// A fresh PostgreSQL store URI, or `None` when `STEWARD_TEST_POSTGRES_URL` is not set (the test then skips).
pub fn postgres_store(test: &str) -> Option<String> {
    let base = steward_store::test_support::postgres_url(test)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    Some(
        runtime
            .block_on(steward_store::test_support::fresh_postgres_uri(&base))
            .expect("fresh PostgreSQL schema"),
    )
}

/// Where a blob lives under a home's local artifact store.
pub fn blob_path(home: &Path, hash: &str) -> PathBuf {
    home.join("artifacts")
        .join("sha256")
        .join(&hash[..2])
        .join(hash)
}
