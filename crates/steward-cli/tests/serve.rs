//! `steward serve` over real HTTP (a child process on port 0, a plain HTTP/1.1 client): the Open Inference
//! Protocol, MLflow-style invocations, errors with KServe's status codes, hot swap while requests flow, and a
//! graceful stop on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::server::*;
use common::*;

#[test]
fn open_inference_protocol_and_invocations() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    register(home, "onnx-iris", "onnx/iris_random_forest_op18.onnx");
    json(
        home,
        None,
        &[
            "train",
            "--data",
            &fixture("data/iris.csv"),
            "--target",
            "species",
            "--algo",
            "random_forest",
            "--register",
            "iris",
        ],
    );
    let server = Server::start(home, &["--model", "iris"]);

    assert_eq!(
        server.request("GET", "/v2/health/live", &[], b"").status,
        200
    );
    assert_eq!(
        server.request("GET", "/v2/health/ready", &[], b"").status,
        200
    );
    assert_eq!(
        server.request("GET", "/v2", &[], b"").json()["name"],
        "steward"
    );
    let metadata = server.request("GET", "/v2/models/iris", &[], b"").json();
    assert_eq!(metadata["platform"], "steward");
    assert_eq!(metadata["inputs"].as_array().unwrap().len(), 4);
    assert_eq!(
        server
            .request("GET", "/v2/models/iris/versions/1/ready", &[], b"")
            .status,
        200
    );

    // The same rows through the CLI and through the protocol give the same labels.
    let rows = iris_rows();
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("rows.csv");
    let mut csv = String::from("sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n");
    for row in &rows {
        csv.push_str(&format!(
            "{}\n",
            row.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    std::fs::write(&csv_path, &csv).unwrap();
    for model in ["iris", "onnx-iris"] {
        let expected = json(
            home,
            None,
            &["predict", model, "--data", csv_path.to_str().unwrap()],
        )["labels"]
            .clone();
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let answer = server.json(
            "POST",
            &format!("/v2/models/{model}/infer"),
            &serde_json::json!({"id": "req-1", "inputs": [{"name": "input", "shape": [rows.len(), 4], "datatype": "FP64", "data": flat}]}),
        );
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(
            answer.header("x-steward-model-version"),
            Some(format!("{model}/1").as_str())
        );
        assert_eq!(
            answer.header("x-steward-request-id").map(str::len),
            Some(32)
        );
        let body = answer.json();
        assert_eq!(body["id"], "req-1");
        assert_eq!(body["model_version"], "1");
        let label = body["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "label")
            .unwrap();
        assert_eq!(label["data"], expected, "{model}");
        let probabilities = body["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "probabilities")
            .unwrap();
        assert_eq!(probabilities["shape"], serde_json::json!([rows.len(), 3]));

        // MLflow's formats, all the same answer.
        let columns = [
            "sepal_length_cm",
            "sepal_width_cm",
            "petal_length_cm",
            "petal_width_cm",
        ];
        let records: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::Value::Object(
                    columns
                        .iter()
                        .zip(r)
                        .map(|(c, v)| (c.to_string(), serde_json::json!(v)))
                        .collect(),
                )
            })
            .collect();
        let bodies = [
            serde_json::json!({"dataframe_split": {"columns": columns, "data": rows}}),
            serde_json::json!({"dataframe_records": records}),
            serde_json::json!({"instances": rows}),
            serde_json::json!({"inputs": records}),
        ];
        for body in &bodies {
            let answer = server.json("POST", &format!("/models/{model}/invocations"), body);
            assert_eq!(
                answer.status,
                200,
                "{body}: {}",
                String::from_utf8_lossy(&answer.body)
            );
            assert_eq!(answer.json()["predictions"], expected, "{model} {body}");
        }
        let answer = server.request(
            "POST",
            &format!("/models/{model}/invocations"),
            &[("content-type", "text/csv")],
            csv.as_bytes(),
        );
        assert_eq!(answer.json()["predictions"], expected, "{model} CSV");
    }
    // /invocations without a model in the path serves --model.
    let answer = server.json(
        "POST",
        "/invocations",
        &serde_json::json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}),
    );
    assert_eq!(answer.json()["predictions"], serde_json::json!(["setosa"]));
    assert_eq!(answer.header("x-steward-model-version"), Some("iris/1"));
}

#[test]
fn errors_have_kserve_status_codes_and_one_json_shape() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    register(home, "iris", "onnx/iris_random_forest_op18.onnx");
    let server = Server::start(home, &[]);
    let unknown = server.json(
        "POST",
        "/v2/models/nope/infer",
        &serde_json::json!({"inputs": []}),
    );
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"].as_str().unwrap().contains("nope"));
    let malformed = server.request(
        "POST",
        "/v2/models/iris/infer",
        &[("content-type", "application/json")],
        b"{not json",
    );
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.json()["error"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    let shape = server.json(
        "POST",
        "/v2/models/iris/infer",
        &serde_json::json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}),
    );
    assert_eq!(shape.status, 400);
    assert!(
        shape.json()["error"].as_str().unwrap().contains("4"),
        "{}",
        shape.json()
    );
    let mismatch = server.json(
        "POST",
        "/v2/models/iris/infer",
        &serde_json::json!({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3]}]}),
    );
    assert_eq!(mismatch.status, 400);
    let text = server.json(
        "POST",
        "/v2/models/iris/infer",
        &serde_json::json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ["a", "b", "c", "d"]}]}),
    );
    assert_eq!(text.status, 400);
    let missing = server.json(
        "POST",
        "/invocations",
        &serde_json::json!({"instances": [[1, 2, 3, 4]]}),
    );
    assert_eq!(missing.status, 400);
    assert!(
        missing.json()["message"]
            .as_str()
            .unwrap()
            .contains("--model")
    );
    assert_eq!(missing.json()["error_code"], "BAD_REQUEST");
    let huge = vec![b' '; 17 * 1024 * 1024];
    let too_big = server.request(
        "POST",
        "/v2/models/iris/infer",
        &[("content-type", "application/json")],
        &huge,
    );
    assert_eq!(too_big.status, 413);
    // Still serving after all that.
    assert_eq!(
        server.request("GET", "/v2/health/ready", &[], b"").status,
        200
    );
}

/// The alias moves 100 times from other processes while four clients send requests: every request succeeds,
/// answers come only from the versions that were live, and the server follows each move within a second.
#[test]
fn alias_moves_swap_the_served_version_without_failed_requests() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    register(home, "iris", "onnx/iris_random_forest_op18.onnx");
    register(home, "iris", "onnx/iris_logistic_regression_op18.onnx");
    ok(home, None, &["alias", "set", "iris", "production", "1"]);
    let server = Server::start(home, &[]);
    let body = serde_json::json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.9, 3.0, 5.1, 1.8]}]});
    let version_now = || {
        let answer = server.json("POST", "/v2/models/iris/infer", &body);
        assert_eq!(answer.status, 200);
        answer
            .header("x-steward-model-version")
            .unwrap()
            .to_string()
    };
    assert_eq!(version_now(), "iris/1");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = load_until(
        &server.addr,
        "/v2/models/iris/infer",
        &body.to_string(),
        4,
        &stop,
    );
    for flip in 0..100 {
        let target = if flip % 2 == 0 { "2" } else { "1" };
        ok(home, None, &["alias", "set", "iris", "production", target]);
        let started = Instant::now();
        let expected = format!("iris/{target}");
        while version_now() != expected {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "flip {flip}: still not {expected} after 1 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut served, mut failed, mut versions) = (0, 0, std::collections::BTreeSet::new());
    for thread in load {
        let (s, f, v) = thread.join().unwrap();
        served += s;
        failed += f;
        versions.extend(v);
    }
    assert_eq!(failed, 0, "{failed} failed requests");
    assert!(served > 100, "{served}");
    assert!(
        versions.iter().all(|v| v == "iris/1" || v == "iris/2"),
        "{versions:?}"
    );
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let home = tempfile::tempdir().unwrap();
    register(home.path(), "iris", "onnx/iris_random_forest_op18.onnx");
    let mut server = Server::start(home.path(), &[]);
    assert_eq!(
        server.request("GET", "/v2/health/live", &[], b"").status,
        200
    );
    // A request in flight when the signal comes: its body is half sent.
    let body = br#"{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.9, 3.0, 5.1, 1.8]}]}"#;
    let mut in_flight = TcpStream::connect(&server.addr).unwrap();
    in_flight
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).unwrap();
    in_flight.write_all(&body[..20]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let pid = server.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(200));
    in_flight.write_all(&body[20..]).unwrap();
    let mut answer = Vec::new();
    in_flight.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the in-flight request got: {answer}"
    );
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn metrics_count_requests_by_model_version_and_status() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    register(home, "iris", "onnx/iris_random_forest_op18.onnx");
    let server = Server::start(home, &[]);
    let body = serde_json::json!({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}]});
    for _ in 0..3 {
        assert_eq!(
            server.json("POST", "/v2/models/iris/infer", &body).status,
            200
        );
    }
    assert_eq!(
        server.json("POST", "/v2/models/nope/infer", &body).status,
        404
    );
    let metrics = server.request("GET", "/metrics", &[], b"");
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains("steward_requests_total{model=\"iris\",version=\"1\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("steward_requests_total{model=\"nope\",version=\"\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(text.contains("steward_rows_total 6"), "{text}");
    assert!(
        text.contains("steward_request_duration_seconds_count 4"),
        "{text}"
    );
    assert!(
        text.contains("steward_model_load_seconds{model=\"iris\",version=\"1\"}"),
        "{text}"
    );
    assert!(text.contains("steward_requests_in_flight 0"), "{text}");
}

#[test]
fn rest_api_reads_the_registry_and_moves_aliases() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    json(
        home,
        None,
        &[
            "train",
            "--data",
            &fixture("data/iris.csv"),
            "--target",
            "species",
            "--algo",
            "decision_tree",
            "--register",
            "iris",
        ],
    );
    register(home, "iris", "onnx/iris_random_forest_op18.onnx");
    let server = Server::start(home, &[]);
    let models = server.request("GET", "/api/v1/models", &[], b"").json();
    assert_eq!(models["items"][0]["name"], "iris");
    let versions = server
        .request("GET", "/api/v1/models/iris/versions?limit=1", &[], b"")
        .json();
    assert_eq!(versions["items"].as_array().unwrap().len(), 1);
    assert!(versions["next_page_token"].is_string(), "{versions}");
    let version = server
        .request("GET", "/api/v1/models/iris/versions/2", &[], b"")
        .json();
    assert_eq!(version["signature"]["format"], "onnx");
    let runs = server
        .request(
            "GET",
            "/api/v1/runs?filter=metrics.accuracy%20%3E%200.5",
            &[],
            b"",
        )
        .json();
    assert_eq!(runs["items"].as_array().unwrap().len(), 1);
    let datasets = server.request("GET", "/api/v1/datasets", &[], b"").json();
    assert_eq!(datasets["items"][0]["name"], "iris");

    // Moving the alias over the API is served at once.
    let moved = server.json(
        "PUT",
        "/api/v1/models/iris/aliases/production",
        &serde_json::json!({"version": 1, "reason": "rollback test"}),
    );
    assert_eq!(
        moved.status,
        200,
        "{}",
        String::from_utf8_lossy(&moved.body)
    );
    let body = serde_json::json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    let answer = server.json("POST", "/v2/models/iris/infer", &body);
    assert_eq!(answer.header("x-steward-model-version"), Some("iris/1"));
    let history = server
        .request("GET", "/api/v1/models/iris/aliases", &[], b"")
        .json();
    assert_eq!(
        history.as_array().unwrap().last().unwrap()["reason"],
        "rollback test"
    );
    let events = server
        .request("GET", "/api/v1/events?after=0&limit=1000", &[], b"")
        .json();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "alias.set"),
        "{events}"
    );

    // Errors: one shape, with the status the code implies.
    let missing = server.request("GET", "/api/v1/models/nope", &[], b"");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    let bad_filter = server.request("GET", "/api/v1/models?filter=colour%20%3D%201", &[], b"");
    assert_eq!(bad_filter.status, 400);
    let bad_body = server.request(
        "PUT",
        "/api/v1/models/iris/aliases/production",
        &[("content-type", "application/json")],
        b"{\"v\": 1}",
    );
    assert_eq!(bad_body.status, 400);
    let spec = server
        .request("GET", "/api/v1/openapi.json", &[], b"")
        .json();
    assert!(spec["paths"]["/api/v1/models/{name}/versions"].is_object());
    assert_eq!(spec["openapi"], "3.1.0");
}

/// A client that stops sending its body gets 408 once the body timeout passes, and the server goes on serving.
#[test]
fn slow_clients_time_out_with_408() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(
        home.path(),
        &["--body-timeout-ms", "300", "--header-timeout-ms", "400"],
    );
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inputs\":")
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let n = stream.read(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("did not arrive within 300 ms"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A client that never finishes its request head loses the connection; one that sends nothing at all too.
    let mut trickling = TcpStream::connect(&server.addr).unwrap();
    let silent = TcpStream::connect(&server.addr).unwrap();
    for stream in [&trickling, &silent] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    }
    let started = Instant::now();
    trickling
        .write_all(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .unwrap();
    for mut stream in [trickling, silent] {
        let mut rest = Vec::new();
        // The server closes the connection: end of stream, not our read timeout.
        let closed = stream.read_to_end(&mut rest);
        assert!(closed.is_ok(), "{closed:?}");
        assert!(!String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200"));
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // Meanwhile, and after, the server answers everyone else.
    assert_eq!(
        server.request("GET", "/v2/health/live", &[], b"").status,
        200
    );
}
