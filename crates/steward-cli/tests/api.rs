//! `/api/v1` writes over real HTTP: everything the CLI creates or changes (experiments, models, versions from
//! uploaded ONNX, datasets from uploaded CSV, training, evaluation, deployments, captured predictions), and that
//! the CLI sees what the API wrote.

mod common;

use common::server::*;
use common::*;

#[test]
fn the_api_writes_what_the_cli_writes() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let server = Server::start(home, &[]);

    let experiment = server.json(
        "POST",
        "/api/v1/experiments",
        &serde_json::json!({"name": "flowers", "description": "iris work"}),
    );
    assert_eq!(
        experiment.status,
        201,
        "{}",
        String::from_utf8_lossy(&experiment.body)
    );
    assert_eq!(experiment.json()["name"], "flowers");
    let again = server.json(
        "POST",
        "/api/v1/experiments",
        &serde_json::json!({"name": "flowers"}),
    );
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error"]["code"], "already_exists");
    let bad = server.request(
        "POST",
        "/api/v1/experiments",
        &[("content-type", "application/json")],
        b"{\"nam\": 1}",
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the body must be")
    );

    // A dataset from a CSV body, then training on it, registering the model.
    let csv = std::fs::read(fixture("data/iris.csv")).unwrap();
    let dataset = server.request(
        "POST",
        "/api/v1/datasets?name=iris-data&target=species",
        &[("content-type", "text/csv")],
        &csv,
    );
    assert_eq!(
        dataset.status,
        201,
        "{}",
        String::from_utf8_lossy(&dataset.body)
    );
    assert_eq!(dataset.json()["dataset"]["row_count"], 150);
    let trained = server.json(
        "POST",
        "/api/v1/train",
        &serde_json::json!({"dataset": "iris-data", "algo": "decision_tree", "seed": 7,
                            "experiment": "flowers", "register": "iris", "params": {"max_depth": "3"}}),
    );
    assert_eq!(
        trained.status,
        201,
        "{}",
        String::from_utf8_lossy(&trained.body)
    );
    let trained = trained.json();
    assert_eq!(trained["version"]["version"], 1);
    assert_eq!(trained["summary"]["params"]["max_depth"], "3");
    let unknown_param = server.json(
        "POST",
        "/api/v1/train",
        &serde_json::json!({"dataset": "iris-data", "algo": "decision_tree", "params": {"depth": "3"}}),
    );
    assert_eq!(unknown_param.status, 400);

    // A version from an uploaded ONNX file; a truncated upload is refused and registers nothing.
    let onnx = std::fs::read(fixture("onnx/iris_random_forest_op18.onnx")).unwrap();
    let truncated = server.request(
        "POST",
        "/api/v1/models/iris/versions",
        &[("content-type", "application/octet-stream")],
        &onnx[..onnx.len() / 2],
    );
    assert_eq!(
        truncated.status,
        400,
        "{}",
        String::from_utf8_lossy(&truncated.body)
    );
    let registered = server.request(
        "POST",
        "/api/v1/models/iris/versions?description=forest",
        &[("content-type", "application/octet-stream")],
        &onnx,
    );
    assert_eq!(
        registered.status,
        201,
        "{}",
        String::from_utf8_lossy(&registered.body)
    );
    assert_eq!(registered.json()["version"]["version"], 2);
    assert_eq!(registered.json()["version"]["description"], "forest");

    // Evaluate a version on an uploaded CSV.
    let evaluation = server.request(
        "POST",
        "/api/v1/evaluate?model=iris/2&target=species",
        &[("content-type", "text/csv")],
        &csv,
    );
    assert_eq!(
        evaluation.status,
        200,
        "{}",
        String::from_utf8_lossy(&evaluation.body)
    );
    let accuracy = evaluation.json()["classification"]["accuracy"]
        .as_f64()
        .unwrap();
    assert!(accuracy > 0.9, "{accuracy}");
    // A positive class is for two classes; iris has three, and the answer says so.
    let refused = server.request(
        "POST",
        "/api/v1/evaluate?model=iris/2&target=species&positive_class=setosa",
        &[("content-type", "text/csv")],
        &csv,
    );
    let body = String::from_utf8_lossy(&refused.body);
    assert_eq!(refused.status, 400, "{body}");
    assert!(body.contains("two classes"), "{body}");

    // Validate data against the training data of a version.
    let validation = server.request(
        "POST",
        "/api/v1/validate?against=iris/1",
        &[("content-type", "text/csv")],
        &csv,
    );
    assert_eq!(
        validation.status,
        200,
        "{}",
        String::from_utf8_lossy(&validation.body)
    );
    assert_eq!(validation.json()["rows"], 150);
    assert!(validation.json()["report"].is_object());

    // Deploy through the API; the same server routes it at once.
    let alias = server.json(
        "PUT",
        "/api/v1/models/iris/aliases/production",
        &serde_json::json!({"version": 1}),
    );
    assert_eq!(alias.status, 200);
    let deployed = server.json(
        "PUT",
        "/api/v1/deployments/iris",
        &serde_json::json!({"model": "iris", "canary": {"version": 2, "percent": 100.0}}),
    );
    assert_eq!(
        deployed.status,
        200,
        "{}",
        String::from_utf8_lossy(&deployed.body)
    );
    assert_eq!(deployed.json()["primary_version"]["version"], 1);
    let body = serde_json::json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.9, 3.0, 5.1, 1.8]}]});
    let answer = server.json("POST", "/v2/models/iris/infer", &body);
    assert_eq!(answer.header("x-steward-model-version"), Some("iris/2"));
    assert_eq!(answer.header("x-steward-arm"), Some("canary"));
    let request_id = answer.header("x-steward-request-id").unwrap().to_string();
    let listed = server
        .request("GET", "/api/v1/deployments", &[], b"")
        .json();
    assert_eq!(listed["items"][0]["name"], "iris");
    let both = server.json(
        "PUT",
        "/api/v1/deployments/x",
        &serde_json::json!({"model": "iris", "alias": "production", "version": 1}),
    );
    assert_eq!(both.status, 400);
    let missing = server.json(
        "PUT",
        "/api/v1/deployments/x",
        &serde_json::json!({"model": "nope"}),
    );
    assert_eq!(missing.status, 404);

    // The captured prediction is readable by request id.
    let started = std::time::Instant::now();
    let captured = loop {
        let page = server
            .request(
                "GET",
                &format!("/api/v1/predictions?request_id={request_id}"),
                &[],
                b"",
            )
            .json();
        if !page["items"].as_array().unwrap().is_empty() || started.elapsed().as_secs() > 5 {
            break page;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(captured["items"][0]["role"], "canary");
    assert_eq!(captured["items"][0]["version"], 2);
    let bad_role = server.request("GET", "/api/v1/predictions?role=champion", &[], b"");
    assert_eq!(bad_role.status, 400);

    // The CLI sees what the API wrote.
    let runs = json(home, None, &["runs", "list", "--experiment", "flowers"]);
    assert_eq!(runs["items"].as_array().unwrap().len(), 1);
    let shown = json(home, None, &["deployments", "show", "iris"]);
    assert_eq!(shown["canary"]["version"], 2);

    // Deleting: the deployed model is refused without force, then goes with it.
    let refused = server.request("DELETE", "/api/v1/models/iris", &[], b"");
    assert_eq!(refused.status, 409);
    let deleted = server.request("DELETE", "/api/v1/deployments/iris", &[], b"");
    assert_eq!(deleted.status, 200);
    let forced = server.request("DELETE", "/api/v1/models/iris?force=true", &[], b"");
    assert_eq!(
        forced.status,
        200,
        "{}",
        String::from_utf8_lossy(&forced.body)
    );
    assert_eq!(
        server
            .request("GET", "/api/v1/models/iris", &[], b"")
            .status,
        404
    );
    let doctor = server.request("GET", "/api/v1/doctor", &[], b"").json();
    assert_eq!(doctor["problems"].as_array().unwrap().len(), 0);
    // Nothing is left behind in the temporary folder.
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("steward-upload-")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn networks_with_several_outputs_per_row_are_served_row_by_row() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    // Softmax over three classes, a plain network on the native plan; and a tract one (BatchNorm, GELU).
    for (name, file) in [
        ("iris-net", "onnx/torch_mlp_relu_softmax_op13.onnx"),
        (
            "wine-net",
            "onnx/torch_mlp_batchnorm_gelu_logsoftmax_op18.onnx",
        ),
    ] {
        ok(
            home,
            None,
            &["versions", "register", name, "--onnx", &fixture(file)],
        );
    }
    let server = Server::start(home, &[]);
    let answer = server
        .json(
            "POST",
            "/models/iris-net/invocations",
            &serde_json::json!({"inputs": [[0.1, 0.2, 0.3, 0.4], [-1.0, 0.5, -0.5, 1.0]]}),
        )
        .json();
    let rows = answer["predictions"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{answer}");
    for row in rows {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 3);
        let total: f64 = row.iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-5, "{answer}");
    }
    let wine_row: Vec<f64> = (0..13).map(|j| j as f64 / 13.0 - 0.5).collect();
    let oip = server.json(
        "POST",
        "/v2/models/wine-net/infer",
        &serde_json::json!({"inputs": [{"name": "input", "shape": [1, 13], "datatype": "FP32", "data": wine_row}]}),
    );
    assert_eq!(oip.status, 200, "{}", String::from_utf8_lossy(&oip.body));
    let output = &oip.json()["outputs"][0];
    assert_eq!(output["shape"], serde_json::json!([1, 3]));
    let total: f64 = output["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap().exp())
        .sum();
    assert!((total - 1.0).abs() < 1e-5, "log-probabilities: {output}");
}
