//! Exactness against scikit-learn: every model in `fixtures/onnx/cases.json` (skl2onnx exports made by
//! `fixtures/onnx/make_onnx_fixtures.py`) must give scikit-learn's labels, and probabilities and values within
//! 1e-5 relative (float32, as ONNX computes) of scikit-learn's and of onnxruntime's.

use serde_json::Value as Json;
use steward_runtime::Model;
use steward_runtime::tensor::{Data, Tensor};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/onnx");

fn cases() -> Vec<Json> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/cases.json")).expect("cases.json");
    let all: Json = serde_json::from_str(&text).expect("JSON");
    all["cases"].as_array().expect("cases").clone()
}

fn matrix(case: &Json) -> (Vec<f32>, usize) {
    let rows = case["x"].as_array().unwrap();
    let values = rows
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .map(|v| v.as_f64().map_or(f32::NAN, |v| v as f32))
        .collect();
    (values, rows.len())
}

/// One tensor per graph input: the matrix `x`, or (ColumnTransformer exports) each input's column by name.
fn inputs(model: &Model, case: &Json) -> (Vec<Tensor>, usize) {
    if case.get("x").is_some() {
        let (x, rows) = matrix(case);
        return (vec![Tensor::f32(vec![rows, x.len() / rows], x)], rows);
    }
    let columns = &case["columns"];
    let mut rows = 0;
    let tensors = model
        .signature()
        .inputs
        .iter()
        .map(|input| {
            let values = columns[&input.name].as_array().unwrap();
            rows = values.len();
            let data = if input.elem_type == "string" {
                Data::Str(
                    values
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect(),
                )
            } else {
                Data::F32(
                    values
                        .iter()
                        .map(|v| v.as_f64().map_or(f32::NAN, |v| v as f32))
                        .collect(),
                )
            };
            Tensor {
                shape: vec![values.len(), 1],
                data,
            }
        })
        .collect();
    (tensors, rows)
}

fn flat(value: &Json) -> Vec<f64> {
    match value {
        Json::Array(items) => items.iter().flat_map(flat).collect(),
        Json::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

fn label_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `|a - b| <= 1e-5 * max(|b|, 1)`: relative for large values, absolute near zero (probabilities).
fn assert_close(name: &str, what: &str, ours: &[f32], expected: &[f64]) {
    assert_eq!(ours.len(), expected.len(), "{name}: {what} length");
    for (i, (&a, &b)) in ours.iter().zip(expected).enumerate() {
        let tolerance = 1e-5 * b.abs().max(1.0);
        assert!(
            (f64::from(a) - b).abs() <= tolerance,
            "{name}: {what}[{i}] is {a}, expected {b}"
        );
    }
}

#[test]
fn every_scikit_learn_export_runs_as_scikit_learn_predicts() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    assert!(
        cases.iter().any(|c| c.get("columns").is_some()),
        "no ColumnTransformer case"
    );
    let mut checked_probabilities = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let bytes =
            std::fs::read(format!("{FIXTURES}/{}", case["file"].as_str().unwrap())).unwrap();
        let model = Model::load(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (tensors, rows) = inputs(&model, case);
        let prediction = model
            .predict_tensors(tensors, rows)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        match case["task"].as_str().unwrap() {
            "classification" => {
                let expected: Vec<String> = case["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(label_text)
                    .collect();
                assert_eq!(
                    prediction.labels.clone().map(|l| l.into_strings()),
                    Some(expected),
                    "{name}: labels"
                );
                let classes: Vec<String> = case["classes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(label_text)
                    .collect();
                assert_eq!(model.signature().classes, classes, "{name}: classes");
                if !case["probabilities"].is_null() {
                    let probabilities = prediction
                        .probabilities
                        .as_ref()
                        .unwrap_or_else(|| panic!("{name}: no probabilities"));
                    assert_close(
                        name,
                        "probability vs scikit-learn",
                        probabilities,
                        &flat(&case["probabilities"]),
                    );
                    checked_probabilities += 1;
                }
            }
            _ => {
                let values = prediction
                    .values
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: no values"));
                assert_close(
                    name,
                    "value vs scikit-learn",
                    values,
                    &flat(&case["values"]),
                );
            }
        }
    }
    assert!(checked_probabilities >= 30, "{checked_probabilities}");
}

#[test]
fn raw_outputs_match_onnxruntime() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let bytes =
            std::fs::read(format!("{FIXTURES}/{}", case["file"].as_str().unwrap())).unwrap();
        let model = Model::load(&bytes).unwrap();
        let (tensors, _) = inputs(&model, &case);
        let outputs = model.run(tensors).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (output, value) in outputs {
            let expected = &case["onnxruntime"][&output];
            match value {
                steward_runtime::tensor::Value::ZipMap { keys, values, .. } => {
                    let expected_keys: Vec<String> = expected["zipmap_keys"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(label_text)
                        .collect();
                    assert_eq!(keys, expected_keys, "{name}: {output} keys");
                    assert_close(name, &output, &values, &flat(&expected["values"]));
                }
                steward_runtime::tensor::Value::Tensor(t) => match t.data {
                    steward_runtime::tensor::Data::F32(v) => {
                        assert_close(name, &output, &v, &flat(expected))
                    }
                    steward_runtime::tensor::Data::I64(v) => {
                        let e: Vec<i64> = flat(expected).into_iter().map(|v| v as i64).collect();
                        assert_eq!(v, e, "{name}: {output}");
                    }
                    steward_runtime::tensor::Data::Str(v) => {
                        let e: Vec<String> = expected
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(label_text)
                            .collect();
                        assert_eq!(v, e, "{name}: {output}");
                    }
                    steward_runtime::tensor::Data::F64(v) => {
                        let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
                        assert_close(name, &output, &v, &flat(expected));
                    }
                },
            }
        }
    }
}

/// One row at a time (the serving path) gives exactly what the batch gives (trees in the outer loop).
#[test]
fn single_rows_equal_the_batch() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let bytes =
            std::fs::read(format!("{FIXTURES}/{}", case["file"].as_str().unwrap())).unwrap();
        let model = Model::load(&bytes).unwrap();
        if case.get("x").is_none() {
            continue;
        }
        let (x, rows) = matrix(&case);
        let width = x.len() / rows;
        let batch = model.predict(&x, rows).unwrap();
        for r in [0, rows / 2, rows - 1] {
            let single = model.predict(&x[r * width..(r + 1) * width], 1).unwrap();
            if let (Some(a), Some(b)) = (&single.labels, &batch.labels) {
                assert_eq!(a.text(0), b.text(r), "{name} row {r}");
            }
            for (a, b) in [
                (&single.probabilities, &batch.probabilities),
                (&single.values, &batch.values),
            ] {
                if let (Some(a), Some(b)) = (a, b) {
                    let k = a.len();
                    assert_eq!(a[..], b[r * k..(r + 1) * k], "{name} row {r}");
                }
            }
        }
    }
}
