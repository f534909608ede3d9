//! The `steward` binary end to end: what a user types, what they see, and the exit codes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn register_list_show_and_move_aliases() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let registered = json(
        home,
        None,
        &[
            "versions",
            "register",
            "iris",
            IRIS_MODEL,
            "--description",
            "baseline",
            "--tag",
            "team=bio",
            "--metric",
            "accuracy=0.95",
        ],
    );
    assert_eq!(registered["version"]["version"], 1);
    assert_eq!(registered["model_created"], true);
    assert_eq!(registered["version"]["metrics"]["accuracy"], 0.95);
    assert_eq!(registered["version"]["tags"]["team"], "bio");
    let hash = registered["version"]["artifact_hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        blob_path(home, &hash).is_file(),
        "manifest stored under its hash"
    );

    let text = ok(
        home,
        None,
        &[
            "versions",
            "register",
            "iris",
            IRIS_MODEL,
            "--metric",
            "accuracy=0.97",
            "--parent",
            "1",
        ],
    );
    assert!(text.contains("registered iris/2"), "{text}");

    let listed = json(
        home,
        None,
        &[
            "versions",
            "list",
            "iris",
            "--filter",
            "metrics.accuracy > 0.96",
        ],
    );
    let versions: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2]);

    ok(home, None, &["alias", "set", "iris", "production", "1"]);
    let moved = ok(
        home,
        None,
        &[
            "alias",
            "set",
            "iris",
            "production",
            "2",
            "--reason",
            "better",
        ],
    );
    assert!(moved.contains("1 → 2"), "{moved}");
    let shown = json(home, None, &["versions", "show", "iris@production"]);
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["parent_version"], 1);
    let latest = json(home, None, &["versions", "show", "iris"]);
    assert_eq!(latest["version"], 2);
    let first = ok(home, None, &["versions", "show", "iris/1"]);
    assert!(first.contains("baseline"), "{first}");

    let history = json(home, None, &["alias", "history", "iris", "production"]);
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["previous_version"], 1);
    assert_eq!(history[1]["reason"], "better");
    assert_eq!(history[1]["actor"], "tester");
    let table = ok(home, None, &["alias", "history", "iris"]);
    assert!(
        table.contains("better") && table.contains("production"),
        "{table}"
    );

    let models = ok(home, None, &["models", "list"]);
    assert!(
        models.contains("iris") && models.contains("production→2"),
        "{models}"
    );
    let model = json(home, None, &["models", "show", "iris"]);
    assert_eq!(model["latest_version"], 2);

    let events = json(home, None, &["events"]);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "model.created",
            "model_version.registered",
            "model_version.registered",
            "alias.set",
            "alias.set"
        ]
    );
    let after = json(home, None, &["events", "--after", "4"]);
    assert_eq!(after.as_array().unwrap().len(), 1);

    ok(home, None, &["alias", "delete", "iris", "production"]);
    ok(home, None, &["models", "delete", "iris"]);
    assert!(ok(home, None, &["models", "list"]).contains("no models"));
}

#[test]
fn experiments_runs_and_paging() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    for name in ["a", "b", "c"] {
        ok(
            home,
            None,
            &["experiments", "create", name, "--description", "d"],
        );
    }
    let first = json(home, None, &["experiments", "list", "--limit", "2"]);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let token = first["next_page_token"].as_str().unwrap().to_string();
    let rest = json(
        home,
        None,
        &[
            "experiments",
            "list",
            "--limit",
            "2",
            "--page-token",
            &token,
        ],
    );
    assert_eq!(rest["items"][0]["name"], "c");
    assert!(rest["next_page_token"].is_null());
    let human = ok(home, None, &["experiments", "list", "--limit", "2"]);
    assert!(human.contains(&format!("--page-token {token}")), "{human}");

    // Runs are written by training (a later issue); the CLI lists and shows what the store holds.
    let runs = json(home, None, &["runs", "list", "--experiment", "a"]);
    assert_eq!(runs["items"].as_array().unwrap().len(), 0);
    let missing = fails(home, None, &["runs", "show", "nope"], 1);
    assert!(missing.contains("run 'nope' not found"), "{missing}");
    let unknown = fails(home, None, &["runs", "list", "--experiment", "zzz"], 1);
    assert!(unknown.contains("experiment 'zzz' not found"), "{unknown}");
}

#[test]
fn user_errors_exit_1_with_a_hint_and_usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let cases: &[(&[&str], &str)] = &[
        (&["models", "show", "nope"], "model 'nope' not found"),
        (
            &["models", "create", "bad/name"],
            "invalid model 'bad/name'",
        ),
        (&["versions", "show", "nope/x"], "MODEL/VERSION"),
        (
            &["versions", "register", "m", "/does/not/exist.onnx"],
            "cannot read",
        ),
        (
            &[
                "versions", "register", "m", IRIS_MODEL, "--metric", "acc=high",
            ],
            "not a number",
        ),
        (
            &["models", "list", "--filter", "colour = 'red'"],
            "unknown field",
        ),
        (
            &["alias", "set", "nope", "production", "1"],
            "model 'nope' not found",
        ),
        (
            &["--store", "mysql://x", "models", "list"],
            "unsupported store URI",
        ),
    ];
    for (args, needle) in cases {
        let stderr = fails(home, None, args, 1);
        assert!(stderr.contains(needle), "steward {args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
    // A failed registration leaves nothing behind.
    assert!(ok(home, None, &["models", "list"]).contains("no models"));

    ok(home, None, &["models", "create", "m"]);
    assert!(fails(home, None, &["models", "create", "m"], 1).contains("already exists"));
    ok(home, None, &["versions", "register", "m", IRIS_MODEL]);
    ok(home, None, &["alias", "set", "m", "production", "1"]);
    assert!(
        fails(home, None, &["alias", "set", "m", "production", "5"], 1)
            .contains("version 'm/5' not found")
    );
    assert!(fails(home, None, &["alias", "set", "m", "Prod", "1"], 1).contains("invalid alias"));
    let refused = fails(home, None, &["models", "delete", "m"], 1);
    assert!(
        refused.contains("--force") && refused.contains("production"),
        "{refused}"
    );
    ok(home, None, &["models", "delete", "m", "--force"]);

    let as_json = fails(home, None, &["models", "show", "m", "--json"], 1);
    let error: serde_json::Value = serde_json::from_str(as_json.trim()).unwrap();
    assert_eq!(error["error"]["code"], "not_found");

    for usage in [
        &["versions"][..],
        &["models", "frobnicate"],
        &["--no-such-flag"],
        &["alias", "set", "m"],
    ] {
        fails(home, None, usage, 2);
    }
}

#[test]
fn a_database_that_is_not_stewards_is_refused_untouched() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("steward.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE invoices (id INTEGER); INSERT INTO invoices VALUES (1);")
        .unwrap();
    let stderr = fails(home.path(), None, &["models", "list"], 1);
    assert!(stderr.contains("is not a Steward store"), "{stderr}");
    let tables: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);

    let newer = tempfile::tempdir().unwrap();
    ok(newer.path(), None, &["models", "list"]);
    rusqlite::Connection::open(newer.path().join("steward.db"))
        .unwrap()
        .execute_batch("UPDATE steward_meta SET value = '42' WHERE key = 'schema_version'")
        .unwrap();
    let stderr = fails(newer.path(), None, &["models", "list"], 1);
    assert!(
        stderr.contains("newer Steward") && stderr.contains("upgrade"),
        "{stderr}"
    );
}

#[test]
fn doctor_names_the_corrupted_version() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let folder = home.join("package");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(IRIS_MODEL, folder.join("model.onnx")).unwrap();
    std::fs::write(folder.join("signature.json"), br#"{"inputs": 4}"#).unwrap();
    ok(home, None, &["versions", "register", "iris", IRIS_MODEL]);
    let second = json(
        home,
        None,
        &["versions", "register", "iris", folder.to_str().unwrap()],
    );
    assert_eq!(second["version"]["signature"]["inputs"], 4);
    assert!(ok(home, None, &["doctor"]).contains("healthy"));

    let signature_hash = second["package"]["manifest"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "signature.json")
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(blob_path(home, &signature_hash), b"{}").unwrap();
    let output = run(home, None, &["doctor"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("PROBLEM iris/2") && stdout.contains(&signature_hash),
        "{stdout}"
    );
    assert!(!stdout.contains("PROBLEM iris/1"), "{stdout}");
}

#[test]
fn events_follow_streams_changes_made_by_another_process() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ok(home, None, &["models", "create", "watched"]);
    let mut follower = steward(home, None)
        .args(["events", "--follow", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sender.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    ok(home, None, &["versions", "register", "watched", IRIS_MODEL]);
    ok(home, None, &["alias", "set", "watched", "production", "1"]);
    let mut kinds = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while kinds.len() < 3 && Instant::now() < deadline {
        if let Ok(line) = receiver.recv_timeout(Duration::from_millis(200)) {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            kinds.push(event["kind"].as_str().unwrap().to_string());
        }
    }
    follower.kill().unwrap();
    let _ = follower.wait();
    assert_eq!(
        kinds,
        ["model.created", "model_version.registered", "alias.set"]
    );
}

/// The README's first command: the guided tour runs on a fresh home, and again on the same home.
#[test]
fn the_demo_runs_twice_on_one_home() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let first = ok(home, None, &["demo"]);
    assert!(first.contains("0 problem(s)"), "{first}");
    assert!(
        first.contains("precision    recall  f1-score   support"),
        "{first}"
    );
    let second = json(home, None, &["demo"]);
    let versions = second["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["version"], 4);
    // The same data and seed gave the same packages the second time.
    let listed = json(home, None, &["versions", "list", "iris-demo"]);
    let hashes: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["artifact_hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes[0], hashes[2]);
    assert_eq!(hashes[1], hashes[3]);
    let production = json(home, None, &["versions", "show", "iris-demo@production"]);
    assert_eq!(production["version"], 4);
}
