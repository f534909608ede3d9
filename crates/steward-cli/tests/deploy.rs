//! `steward deploy` end to end: a canary share (sticky by routing key), a shadow whose answers are captured and
//! never returned, deployment changes followed by every running server without a failed request, unreferenced
//! models dropped, and the refusals that keep deployments consistent.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::server::*;
use common::*;

const FOREST: &str = "onnx/iris_random_forest_op18.onnx";
const LOGISTIC: &str = "onnx/iris_logistic_regression_op18.onnx";
const TREE: &str = "onnx/iris_decision_tree_op18.onnx";

/// iris versions 1 (forest), 2 (logistic regression), 3 (decision tree); production -> 1.
fn iris_home(home: &Path) {
    for file in [FOREST, LOGISTIC, TREE] {
        register(home, "iris", file);
    }
    ok(home, None, &["alias", "set", "iris", "production", "1"]);
}

fn infer_body(row: &[f64]) -> serde_json::Value {
    serde_json::json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": row}]})
}

fn infer(server: &Server, row: &[f64], key: Option<&str>) -> Response {
    let body = infer_body(row).to_string();
    let mut headers = vec![("content-type", "application/json")];
    if let Some(key) = key {
        headers.push(("x-steward-routing-key", key));
    }
    let answer = server.request("POST", "/v2/models/iris/infer", &headers, body.as_bytes());
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer
}

fn captured(home: &Path, role: &str) -> Vec<serde_json::Value> {
    let page = json(
        home,
        None,
        &["predictions", "list", "--role", role, "--limit", "10000"],
    );
    page["items"].as_array().unwrap().clone()
}

/// Waits until the capture holds `n` records of `role` (the writer is asynchronous).
fn wait_for_captured(home: &Path, role: &str, n: usize) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let records = captured(home, role);
        if records.len() >= n || started.elapsed() > Duration::from_secs(10) {
            assert_eq!(records.len(), n, "{role} records");
            return records;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(server: &Server, name: &str) -> f64 {
    let text = String::from_utf8(server.request("GET", "/metrics", &[], b"").body).unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[test]
fn canary_takes_its_share_sticky_by_key_and_the_shadow_is_captured_never_returned() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    iris_home(home);
    let deployed = json(
        home,
        None,
        &[
            "deploy",
            "iris",
            "--canary",
            "2",
            "--percent",
            "25",
            "--shadow",
            "3",
        ],
    );
    assert_eq!(deployed["primary_version"]["version"], 1);
    assert_eq!(deployed["canary"]["percent"], 25.0);
    assert_eq!(deployed["revision"], 1);
    let server = Server::start(home, &[]);

    let rows = iris_rows();
    let mut arms: BTreeMap<String, usize> = BTreeMap::new();
    let mut answers = BTreeMap::new();
    let n = 400;
    for i in 0..n {
        let row = &rows[i % rows.len()];
        let answer = infer(&server, row, None);
        let version = answer
            .header("x-steward-model-version")
            .unwrap()
            .to_string();
        let arm = answer.header("x-steward-arm").unwrap().to_string();
        match arm.as_str() {
            "primary" => assert_eq!(version, "iris/1"),
            "canary" => assert_eq!(version, "iris/2"),
            other => panic!("arm {other}"),
        }
        *arms.entry(arm).or_default() += 1;
        let label = answer.json()["outputs"][0]["data"][0].clone();
        answers.insert(
            answer.header("x-steward-request-id").unwrap().to_string(),
            (version, row.clone(), label),
        );
    }
    let canary = arms.get("canary").copied().unwrap_or(0);
    // 25% of 400 is 100; the buckets are spread evenly, so 70-130 is generous yet catches a wrong split.
    assert!(
        (70..=130).contains(&canary),
        "canary answered {canary} of {n}"
    );

    // A routing key keeps its arm; different keys spread over both.
    let mut keyed_arms = BTreeSet::new();
    let mut keyed_canary = 0;
    for user in 0..40 {
        let key = format!("user-{user}");
        let first = infer(&server, &rows[0], Some(&key))
            .header("x-steward-arm")
            .unwrap()
            .to_string();
        for _ in 0..4 {
            let again = infer(&server, &rows[0], Some(&key));
            assert_eq!(again.header("x-steward-arm").unwrap(), first, "{key}");
        }
        keyed_canary += if first == "canary" { 5 } else { 0 };
        keyed_arms.insert(first);
    }
    assert_eq!(keyed_arms.len(), 2, "40 keys all reached one arm");

    // Every answered request is captured with its inputs and the answer the client saw; the shadow saw every
    // request, answered none, and its answers are captured under the same request ids.
    let total = n + 40 * 5;
    let canary_total = canary + keyed_canary;
    let primaries = wait_for_captured(home, "primary", total - canary_total);
    let canaries = wait_for_captured(home, "canary", canary_total);
    let shadows = wait_for_captured(home, "shadow", total);
    assert!(
        shadows
            .iter()
            .all(|s| s["version"] == 3 && s["deployment"] == "iris")
    );
    let shadow_ids: BTreeSet<&str> = shadows
        .iter()
        .map(|s| s["request_id"].as_str().unwrap())
        .collect();
    let mut checked = 0;
    for record in primaries.iter().chain(&canaries) {
        let id = record["request_id"].as_str().unwrap();
        assert!(shadow_ids.contains(id), "request {id} was not mirrored");
        if let Some((version, row, label)) = answers.get(id) {
            assert_eq!(&format!("iris/{}", record["version"]), version);
            let inputs = &record["inputs"];
            let recorded: Vec<f64> = (0..4)
                .map(|j| inputs[format!("f{j}")][0].as_f64().unwrap_or(f64::NAN))
                .collect();
            assert_eq!(&recorded, row, "{inputs}");
            assert_eq!(&record["outputs"]["predictions"][0], label);
            assert!(record["latency_micros"].as_i64().unwrap() > 0);
            checked += 1;
        }
    }
    assert_eq!(checked, n);
    assert_eq!(
        metric(&server, "steward_shadow_predictions_total{status=\"ok\"}"),
        total as f64
    );
    assert_eq!(
        metric(&server, "steward_capture_records_total{fate=\"dropped\"}"),
        0.0
    );
    assert_eq!(metric(&server, "steward_models_loaded"), 3.0);
}

/// The version two servers answer with now, asked without a routing key.
fn served_version(server: &Server) -> String {
    infer(server, &[5.9, 3.0, 5.1, 1.8], None)
        .header("x-steward-model-version")
        .unwrap()
        .to_string()
}

fn wait_until_served(servers: &[&Server], expected: &str, what: &str) {
    let started = Instant::now();
    for server in servers {
        while served_version(server) != expected {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{what}: {} still not at {expected} after 1 s",
                server.addr
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn deployment_changes_reach_every_running_server_without_a_failed_request() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    iris_home(home);
    ok(home, None, &["deploy", "iris", "--alias", "production"]);
    let first = Server::start(home, &["--no-capture"]);
    let second = Server::start(home, &["--no-capture"]);
    wait_until_served(&[&first, &second], "iris/1", "start");

    let stop = Arc::new(AtomicBool::new(false));
    let body = infer_body(&[6.3, 3.3, 6.0, 2.5]).to_string();
    let mut load = load_until(&first.addr, "/v2/models/iris/infer", &body, 2, &stop);
    load.extend(load_until(
        &second.addr,
        "/v2/models/iris/infer",
        &body,
        2,
        &stop,
    ));
    // Canary at 100% sends everything to it, at 0% nothing: each flip is visible in every answer.
    for flip in 0..20 {
        let (percent, expected) = if flip % 2 == 0 {
            ("100", "iris/2")
        } else {
            ("0", "iris/1")
        };
        ok(
            home,
            None,
            &[
                "deploy",
                "iris",
                "--canary",
                "2",
                "--percent",
                percent,
                "--reason",
                "flip",
            ],
        );
        wait_until_served(&[&first, &second], expected, &format!("flip {flip}"));
    }
    // A pinned version, then following the alias again as it moves.
    ok(home, None, &["deploy", "iris", "--version", "3"]);
    wait_until_served(&[&first, &second], "iris/3", "pinned");
    ok(home, None, &["deploy", "iris"]);
    ok(home, None, &["alias", "set", "iris", "production", "2"]);
    wait_until_served(&[&first, &second], "iris/2", "alias moved");
    stop.store(true, Ordering::Relaxed);
    let (mut served, mut failed, mut versions) = (0, 0, BTreeSet::new());
    for thread in load {
        let (s, f, v) = thread.join().unwrap();
        served += s;
        failed += f;
        versions.extend(v);
    }
    assert_eq!(failed, 0, "{failed} failed requests of {}", served + failed);
    assert!(served > 100, "{served}");
    let live: BTreeSet<String> = ["iris/1", "iris/2", "iris/3"].map(String::from).into();
    assert!(versions.is_subset(&live), "{versions:?}");

    // Only version 2 is referenced now: the others were dropped from memory.
    let started = Instant::now();
    while metric(&first, "steward_models_loaded") != 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "unreferenced models stay loaded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Deleting the deployment falls back to the model's production alias.
    ok(home, None, &["deploy", "iris", "--version", "1"]);
    wait_until_served(&[&first, &second], "iris/1", "pinned to 1");
    ok(home, None, &["deployments", "delete", "iris"]);
    wait_until_served(&[&first, &second], "iris/2", "deployment deleted");
    let events = json(home, None, &["events", "--limit", "1000"]);
    let deployment_events = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("deployment."))
        .count();
    assert_eq!(deployment_events, 1 + 20 + 2 + 1 + 1);
}

#[test]
fn deployments_refuse_what_would_break_routing() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    iris_home(home);
    let missing_alias = fails(home, None, &["deploy", "iris", "--alias", "staging"], 1);
    assert!(
        missing_alias.contains("alias 'iris@staging' not found"),
        "{missing_alias}"
    );
    let missing_version = fails(
        home,
        None,
        &["deploy", "iris", "--canary", "9", "--percent", "5"],
        1,
    );
    assert!(missing_version.contains("iris/9"), "{missing_version}");
    let same = fails(home, None, &["deploy", "iris", "--shadow", "1"], 1);
    assert!(same.contains("primary version already"), "{same}");
    let percent = fails(
        home,
        None,
        &["deploy", "iris", "--canary", "2", "--percent", "150"],
        1,
    );
    assert!(percent.contains("outside 0-100"), "{percent}");
    let no_percent = fails(home, None, &["deploy", "iris", "--canary", "2"], 2);
    assert!(no_percent.contains("--percent"), "{no_percent}");
    assert!(
        json(home, None, &["deployments", "list"])["deployments"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    ok(
        home,
        None,
        &["deploy", "iris", "--name", "iris-live", "--shadow", "3"],
    );
    let table = ok(home, None, &["deployments", "list"]);
    assert!(
        table.contains("iris-live") && table.contains("@production"),
        "{table}"
    );
    let shown = json(home, None, &["deployments", "show", "iris-live"]);
    assert_eq!(shown["shadow"], 3);
    assert_eq!(shown["primary"]["alias"], "production");
    assert_eq!(shown["primary_version"]["version"], 1);

    let followed = fails(home, None, &["alias", "delete", "iris", "production"], 1);
    assert!(followed.contains("deployment iris-live"), "{followed}");
    let deployed = fails(home, None, &["models", "delete", "iris"], 1);
    assert!(
        deployed.contains("aliases") || deployed.contains("deployed"),
        "{deployed}"
    );
    let gone = fails(home, None, &["deployments", "delete", "nope"], 1);
    assert!(gone.contains("deployment 'nope' not found"), "{gone}");
}

#[test]
fn micro_batching_answers_each_request_with_its_own_rows() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    iris_home(home);
    let plain = Server::start(home, &["--no-capture"]);
    let batched = Server::start(
        home,
        &[
            "--no-capture",
            "--batch-max-rows",
            "16",
            "--batch-wait-us",
            "3000",
        ],
    );
    let rows = iris_rows();
    let answer_of = |server: &Server, row: &[f64]| {
        let answer = infer(server, row, None).json();
        (
            answer["outputs"][0]["data"].clone(),
            answer["outputs"][1]["data"].clone(),
        )
    };
    let expected: Vec<_> = rows.iter().map(|row| answer_of(&plain, row)).collect();
    let batched_addr = batched.addr.clone();
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (addr, rows, expected) = (batched_addr.clone(), rows.clone(), expected.clone());
            std::thread::spawn(move || {
                for i in 0..rows.len() {
                    let k = (i + client * 3) % rows.len();
                    let body = infer_body(&rows[k]).to_string();
                    let answer = http(
                        &addr,
                        "POST",
                        "/v2/models/iris/infer",
                        &[("content-type", "application/json")],
                        body.as_bytes(),
                    );
                    assert_eq!(answer.status, 200);
                    let json = answer.json();
                    let got = (
                        json["outputs"][0]["data"].clone(),
                        json["outputs"][1]["data"].clone(),
                    );
                    assert_eq!(got, expected[k], "row {k} got another request's answer");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let requests = metric(&batched, "steward_batched_requests_total");
    let batches = metric(&batched, "steward_batches_total");
    assert_eq!(requests, (8 * rows.len()) as f64);
    // Concurrent requests shared predictions: fewer predictions than requests.
    assert!(
        batches < requests,
        "{batches} batches for {requests} requests"
    );
    // A malformed request is refused before it reaches the batcher, with its own error.
    let bad = serde_json::json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]});
    assert_eq!(
        batched.json("POST", "/v2/models/iris/infer", &bad).status,
        400
    );
}

/// The distributed shape: two servers (separate homes, as on separate machines) share one PostgreSQL store and
/// one artifact folder; a deployment change made by a third process reaches both, and both capture into it.
#[test]
fn servers_sharing_postgres_follow_deployments_and_capture_there() {
    let Some(store) =
        postgres_store("servers_sharing_postgres_follow_deployments_and_capture_there")
    else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let artifacts = shared.path().join("artifacts");
    let artifacts = artifacts.to_str().unwrap();
    let homes: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let cli = |args: &[&str]| {
        let mut full = vec!["--artifacts", artifacts];
        full.extend_from_slice(args);
        json(homes[0].path(), Some(&store), &full)
    };
    for file in [FOREST, LOGISTIC] {
        cli(&["versions", "register", "iris", &fixture(file)]);
    }
    cli(&["alias", "set", "iris", "production", "1"]);
    cli(&["deploy", "iris"]);
    let servers: Vec<Server> = homes[1..]
        .iter()
        .map(|home| Server::start_on(home.path(), Some(&store), &["--artifacts", artifacts]))
        .collect();
    let refs: Vec<&Server> = servers.iter().collect();
    wait_until_served(&refs, "iris/1", "start");
    cli(&["deploy", "iris", "--canary", "2", "--percent", "100"]);
    wait_until_served(&refs, "iris/2", "canary at 100%");
    let started = Instant::now();
    loop {
        let captured = cli(&["predictions", "list", "--role", "canary", "--limit", "1000"]);
        if !captured["items"].as_array().unwrap().is_empty() {
            assert_eq!(captured["items"][0]["version"], 2);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "nothing captured in PostgreSQL"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn captured_predictions_are_pruned_to_the_newest() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    iris_home(home);
    let server = Server::start(
        home,
        &["--capture-keep", "5", "--capture-prune-seconds", "0.2"],
    );
    for _ in 0..20 {
        infer(&server, &[5.9, 3.0, 5.1, 1.8], None);
    }
    let started = Instant::now();
    loop {
        let written = metric(&server, "steward_capture_records_total{fate=\"written\"}");
        let kept = captured(home, "primary").len();
        if written == 20.0 && kept == 5 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "written {written}, kept {kept}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
