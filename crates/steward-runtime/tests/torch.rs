//! PyTorch models exported with `torch.onnx.export` (fixtures/onnx/make_torch_fixtures.py): every one loads,
//! and its outputs equal PyTorch's own forward pass and onnxruntime's within float32 tolerance. Graphs of the
//! classical operators run on the native plan, the others (batch normalisation, GELU's Erf, ELU, Softplus) on
//! tract.

use steward_runtime::Model;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/onnx");

fn close(got: f32, want: f64) -> bool {
    let (got, want) = (f64::from(got), want);
    (got - want).abs() <= 1e-5 * want.abs().max(1.0)
}

#[test]
fn torch_exports_match_pytorch_and_onnxruntime() {
    let text = std::fs::read_to_string(format!("{FIXTURES}/torch_cases.json")).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    let mut engines = std::collections::BTreeMap::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes =
            std::fs::read(format!("{FIXTURES}/{}", case["file"].as_str().unwrap())).unwrap();
        let model = Model::load(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        *engines.entry(model.engine()).or_insert(0) += 1;
        let rows: Vec<Vec<f64>> = serde_json::from_value(case["x"].clone()).unwrap();
        let x: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
        let prediction = model
            .predict(&x, rows.len())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let values = prediction.values.expect("a tensor output");
        for reference in ["torch", "onnxruntime"] {
            let expected: Vec<f64> = case[reference]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
                .collect();
            assert_eq!(values.len(), expected.len(), "{name}: output size");
            for (i, (&got, &want)) in values.iter().zip(&expected).enumerate() {
                assert!(
                    close(got, want),
                    "{name} vs {reference}, value {i}: {got} != {want}"
                );
            }
        }
        // One row at a time gives the same as the batch.
        let width = rows[0].len();
        let single = model.predict(&x[..width], 1).unwrap().values.unwrap();
        assert_eq!(single[..], values[..single.len()], "{name}: row 0 alone");
    }
    assert_eq!(engines.get("native"), Some(&2), "{engines:?}");
    assert_eq!(engines.get("tract"), Some(&2), "{engines:?}");
}

#[test]
fn a_graph_neither_engine_runs_is_refused_naming_the_operator() {
    // An ai.onnx.ml operator outside the native plan that tract does not know either.
    let bytes = std::fs::read(format!("{FIXTURES}/torch_mlp_relu_softmax_op13.onnx")).unwrap();
    let mut bytes = bytes;
    let mut renamed = 0;
    for i in 0..bytes.len().saturating_sub(7) {
        if &bytes[i..i + 7] == b"Softmax" {
            bytes[i + 4] = b'w';
            renamed += 1;
        }
    }
    assert!(renamed > 0);
    let error = Model::load(&bytes).map(|_| ()).unwrap_err().to_string();
    assert!(error.contains("Softwax"), "{error}");
    assert!(
        error.contains("tract cannot run the graph either"),
        "{error}"
    );
}
