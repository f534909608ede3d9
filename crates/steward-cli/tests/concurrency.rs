//! 32 `steward` processes register into one model at the same time: versions 1..32, no gap, no duplicate.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;

use common::*;

fn thirty_two_processes_register_into_one_model(store: Option<&str>) {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ok(home, store, &["models", "create", "busy"]);
    let children: Vec<_> = (0..32)
        .map(|i| {
            steward(home, store)
                .args([
                    "versions", "register", "busy", IRIS_MODEL, "--json", "--tag",
                ])
                .arg(format!("writer={i}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn steward")
        })
        .collect();
    let mut versions = BTreeSet::new();
    let mut writers = BTreeSet::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a registration failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let registered: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let version = registered["version"]["version"].as_i64().unwrap();
        assert!(versions.insert(version), "version {version} given twice");
        writers.insert(
            registered["version"]["tags"]["writer"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(versions, (1..=32).collect::<BTreeSet<i64>>());
    assert_eq!(writers.len(), 32);
    let listed = json(home, store, &["versions", "list", "busy"]);
    assert_eq!(listed["items"].as_array().unwrap().len(), 32);
    let model = json(home, store, &["models", "show", "busy"]);
    assert_eq!(model["latest_version"], 32);
    let registered_events = json(home, store, &["events", "--limit", "1000"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "model_version.registered")
        .count();
    assert_eq!(registered_events, 32);
}

#[test]
fn sqlite_thirty_two_processes_register_into_one_model() {
    thirty_two_processes_register_into_one_model(None);
}

#[test]
fn postgres_thirty_two_processes_register_into_one_model() {
    let Some(store) = postgres_store("postgres_thirty_two_processes_register_into_one_model")
    else {
        return;
    };
    thirty_two_processes_register_into_one_model(Some(&store));
}
