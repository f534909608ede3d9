//! Bad model files: truncated, corrupted or hostile bytes give an error, never a panic, and unsupported
//! operators are refused by name.

use prost::Message;
use steward_runtime::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    ValueInfoProto,
};
use steward_runtime::{Model, RuntimeError};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/onnx");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

/// Deterministic xorshift for byte corruption.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn truncated_and_corrupted_files_are_errors_not_panics() {
    for name in [
        "iris_random_forest_op18.onnx",
        "cancer_gradient_boosting_op13_zipmap.onnx",
        "diabetes_impute_ridge_op18.onnx",
        "wine_logistic_regression_op13_zipmap.onnx",
    ] {
        let bytes = fixture(name);
        assert!(Model::load(&bytes).is_ok(), "{name} loads");
        for cut in (0..bytes.len()).step_by(37) {
            // Any outcome but a panic; a prefix that happens to decode must still run or fail cleanly.
            if let Ok(model) = Model::load(&bytes[..cut])
                && let Some(n) = model.signature().n_features
            {
                let _ = model.predict(&vec![0.5; n * 3], 3);
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300 {
            let mut corrupted = bytes.clone();
            for _ in 0..1 + next(&mut state) % 8 {
                let at = (next(&mut state) as usize) % corrupted.len();
                corrupted[at] = next(&mut state) as u8;
            }
            if let Ok(model) = Model::load(&corrupted)
                && let Some(n) = model.signature().n_features
            {
                let _ = model.predict(&vec![0.5; n * 2], 2);
            }
        }
    }
    assert!(matches!(
        Model::load(b""),
        Err(RuntimeError::InvalidModel(_))
    ));
    assert!(matches!(
        Model::load(b"not a model at all"),
        Err(RuntimeError::InvalidModel(_))
    ));
}

fn graph_with(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer,
            input: vec![ValueInfoProto {
                name: "X".into(),
                ..Default::default()
            }],
            output: vec![ValueInfoProto {
                name: "Y".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: format!("{op}_0"),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attributes,
        ..Default::default()
    }
}

#[test]
fn unsupported_operators_are_named() {
    let bytes = graph_with(vec![node("Conv", &["X"], &["Y"], vec![])], vec![]);
    let error = Model::load(&bytes).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, RuntimeError::Unsupported(_)), "{message}");
    assert!(
        message.contains("Conv") && message.contains("Conv_0"),
        "{message}"
    );

    let custom = NodeProto {
        domain: "com.example".into(),
        ..node("Fancy", &["X"], &["Y"], vec![])
    };
    let message = Model::load(&graph_with(vec![custom], vec![]))
        .unwrap_err()
        .to_string();
    assert!(message.contains("com.example"), "{message}");
}

#[test]
fn inconsistent_graphs_are_invalid() {
    // A node that reads a value nothing produces.
    let message = Model::load(&graph_with(
        vec![node("Relu", &["nowhere"], &["Y"], vec![])],
        vec![],
    ))
    .unwrap_err()
    .to_string();
    assert!(message.contains("nowhere"), "{message}");
    // The same in a graph only tract could run (tract 0.23 panics on a dangling reference): refused before
    // either engine sees it.
    let error = Model::load(&graph_with(
        vec![
            node("Relu", &["X"], &["A"], vec![]),
            node("Softsign", &["A", "dangling"], &["Y"], vec![]),
        ],
        vec![],
    ))
    .unwrap_err();
    assert!(
        matches!(&error, RuntimeError::InvalidModel(m) if m.contains("dangling") && m.contains("Softsign_0")),
        "{error}"
    );
    // Nodes out of topological order, and an output no node computes.
    let message = Model::load(&graph_with(
        vec![
            node("Relu", &["A"], &["Y"], vec![]),
            node("Relu", &["X"], &["A"], vec![]),
        ],
        vec![],
    ))
    .unwrap_err()
    .to_string();
    assert!(message.contains("'A'"), "{message}");
    let message = Model::load(&graph_with(
        vec![node("Relu", &["X"], &["Z"], vec![])],
        vec![],
    ))
    .unwrap_err()
    .to_string();
    assert!(message.contains("'Y'"), "{message}");
    // An initializer whose dimensions promise more values than it holds (a huge allocation if trusted).
    let lying = TensorProto {
        name: "W".into(),
        dims: vec![1 << 40, 1 << 20],
        data_type: 1,
        float_data: vec![1.0],
        ..Default::default()
    };
    let message = Model::load(&graph_with(
        vec![node("Add", &["X", "W"], &["Y"], vec![])],
        vec![lying],
    ))
    .unwrap_err()
    .to_string();
    assert!(message.contains("dimensions"), "{message}");
    // A tree whose node points at itself would loop forever.
    let ints = |name: &str, values: &[i64]| AttributeProto {
        name: name.into(),
        ints: values.to_vec(),
        ..Default::default()
    };
    let strings = |name: &str, values: &[&str]| AttributeProto {
        name: name.into(),
        strings: values.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    };
    let floats = |name: &str, values: &[f32]| AttributeProto {
        name: name.into(),
        floats: values.to_vec(),
        ..Default::default()
    };
    let cyclic = NodeProto {
        domain: "ai.onnx.ml".into(),
        ..node(
            "TreeEnsembleRegressor",
            &["X"],
            &["Y"],
            vec![
                ints("nodes_treeids", &[0, 0]),
                ints("nodes_nodeids", &[0, 1]),
                ints("nodes_featureids", &[0, 0]),
                floats("nodes_values", &[0.5, 0.5]),
                strings("nodes_modes", &["BRANCH_LEQ", "BRANCH_LEQ"]),
                ints("nodes_truenodeids", &[1, 1]),
                ints("nodes_falsenodeids", &[1, 0]),
                ints("target_treeids", &[0]),
                ints("target_nodeids", &[1]),
                ints("target_ids", &[0]),
                floats("target_weights", &[1.0]),
            ],
        )
    };
    let message = Model::load(&graph_with(vec![cyclic], vec![]))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("cycle") || message.contains("root"),
        "{message}"
    );
}

#[test]
fn wrong_input_width_names_what_the_model_expects() {
    let model = Model::load(&fixture("iris_random_forest_op18.onnx")).unwrap();
    assert_eq!(model.signature().n_features, Some(4));
    let message = model.predict(&[1.0; 6], 2).unwrap_err().to_string();
    assert!(
        message.contains("4 features") && message.contains("3 columns"),
        "{message}"
    );
}
