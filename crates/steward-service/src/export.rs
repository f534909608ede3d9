//! Models trained by Steward as ONNX graphs, so they run in onnxruntime, Triton or any ONNX runtime, and in
//! Steward's own. The graph rebuilds the preprocessing (see [`preprocessing`]: imputation, standardisation,
//! one-hot encoding) and ends in the estimator's ai.onnx.ml operator, with scikit-learn's (skl2onnx's)
//! conventions: outputs `label` and `probabilities` for classifiers, `variable` for regressors.

use prost::Message;
use steward_ml::estimator::Estimator;
use steward_ml::preprocess::FeatureTransform;
use steward_ml::train::TrainedModel;
use steward_ml::tree::{NodeView, Tree};
use steward_runtime::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_type, data_type, tensor_shape_proto,
    type_proto,
};

/// Why a model has no ONNX form yet (it keeps its native file only).
#[derive(Debug, Clone, PartialEq)]
pub struct NotExportable(pub String);

fn floats(name: &str, values: impl IntoIterator<Item = f64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOATS,
        floats: values.into_iter().map(|v| v as f32).collect(),
        ..Default::default()
    }
}

fn ints(name: &str, values: impl IntoIterator<Item = i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: values.into_iter().collect(),
        ..Default::default()
    }
}

fn strings(name: &str, values: impl IntoIterator<Item = String>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRINGS,
        strings: values.into_iter().map(String::into_bytes).collect(),
        ..Default::default()
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRING,
        s: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: value,
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f: value,
        ..Default::default()
    }
}

fn ml_node(
    op: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: op.into(),
        domain: "ai.onnx.ml".into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn tensor_info(name: &str, elem_type: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    use tensor_shape_proto::{Dimension, dimension::Value};
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(v) => Value::DimValue(*v),
                                None => Value::DimParam("N".into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The node attributes of a list of trees; `leaf(tree, values, out)` turns one leaf's values into the
/// `(output id, weight)` pairs to record.
struct TreeAttributes {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    features: Vec<i64>,
    values: Vec<f64>,
    modes: Vec<String>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    leaf_trees: Vec<i64>,
    leaf_nodes: Vec<i64>,
    leaf_ids: Vec<i64>,
    leaf_weights: Vec<f64>,
}

/// Turns one leaf's values (of tree `t`) into the `(output id, weight)` pairs to record.
type LeafWeights<'a> = &'a dyn Fn(usize, &[f64], &mut Vec<(i64, f64)>);

fn tree_attributes(trees: &[&Tree], leaf: LeafWeights) -> TreeAttributes {
    let mut a = TreeAttributes {
        tree_ids: Vec::new(),
        node_ids: Vec::new(),
        features: Vec::new(),
        values: Vec::new(),
        modes: Vec::new(),
        true_ids: Vec::new(),
        false_ids: Vec::new(),
        leaf_trees: Vec::new(),
        leaf_nodes: Vec::new(),
        leaf_ids: Vec::new(),
        leaf_weights: Vec::new(),
    };
    let mut pairs = Vec::new();
    for (t, tree) in trees.iter().enumerate() {
        for n in 0..tree.n_nodes() {
            a.tree_ids.push(t as i64);
            a.node_ids.push(n as i64);
            match tree.node(n) {
                NodeView::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    a.features.push(feature as i64);
                    a.values.push(threshold);
                    a.modes.push("BRANCH_LEQ".into());
                    a.true_ids.push(left as i64);
                    a.false_ids.push(right as i64);
                }
                NodeView::Leaf { values } => {
                    a.features.push(0);
                    a.values.push(0.0);
                    a.modes.push("LEAF".into());
                    a.true_ids.push(0);
                    a.false_ids.push(0);
                    pairs.clear();
                    leaf(t, values, &mut pairs);
                    for &(id, weight) in &pairs {
                        a.leaf_trees.push(t as i64);
                        a.leaf_nodes.push(n as i64);
                        a.leaf_ids.push(id);
                        a.leaf_weights.push(weight);
                    }
                }
            }
        }
    }
    a
}

fn node_attributes(a: &TreeAttributes) -> Vec<AttributeProto> {
    vec![
        ints("nodes_treeids", a.tree_ids.iter().copied()),
        ints("nodes_nodeids", a.node_ids.iter().copied()),
        ints("nodes_featureids", a.features.iter().copied()),
        floats("nodes_values", a.values.iter().copied()),
        strings("nodes_modes", a.modes.iter().cloned()),
        ints("nodes_truenodeids", a.true_ids.iter().copied()),
        ints("nodes_falsenodeids", a.false_ids.iter().copied()),
    ]
}

/// A tree classifier in ONNX Runtime's conventions: with two classes one score (class 1's) under class id 0,
/// the "binary case"; otherwise one score per class.
fn tree_classifier(
    trees: &[&Tree],
    classes: &[String],
    leaf_scale: f64,
    base_values: Option<&[f64]>,
    post_transform: &str,
    output_per_tree: Option<usize>,
) -> NodeProto {
    let binary = classes.len() == 2;
    let attributes = tree_attributes(trees, &|t, values, out| match output_per_tree {
        // Boosting: each tree scores one output (round-major), one value per leaf.
        Some(k) => out.push(((t % k) as i64, values[0] * leaf_scale)),
        None if binary => out.push((0, values[1] * leaf_scale)),
        None => out.extend(
            values
                .iter()
                .enumerate()
                .map(|(c, v)| (c as i64, v * leaf_scale)),
        ),
    });
    let mut attrs = node_attributes(&attributes);
    attrs.extend([
        ints("class_treeids", attributes.leaf_trees.iter().copied()),
        ints("class_nodeids", attributes.leaf_nodes.iter().copied()),
        ints("class_ids", attributes.leaf_ids.iter().copied()),
        floats("class_weights", attributes.leaf_weights.iter().copied()),
        strings("classlabels_strings", classes.iter().cloned()),
        string("post_transform", post_transform),
    ]);
    if let Some(base) = base_values {
        attrs.push(floats("base_values", base.iter().copied()));
    }
    ml_node(
        "TreeEnsembleClassifier",
        &["features"],
        &["label", "probabilities"],
        attrs,
    )
}

fn tree_regressor(trees: &[&Tree], leaf_scale: f64, base_value: Option<f64>) -> NodeProto {
    let attributes = tree_attributes(trees, &|_, values, out| {
        out.push((0, values[0] * leaf_scale))
    });
    let mut attrs = node_attributes(&attributes);
    attrs.extend([
        ints("target_treeids", attributes.leaf_trees.iter().copied()),
        ints("target_nodeids", attributes.leaf_nodes.iter().copied()),
        ints("target_ids", attributes.leaf_ids.iter().copied()),
        floats("target_weights", attributes.leaf_weights.iter().copied()),
        int("n_targets", 1),
        string("aggregate_function", "SUM"),
        string("post_transform", "NONE"),
    ]);
    if let Some(base) = base_value {
        attrs.push(floats("base_values", [base]));
    }
    ml_node("TreeEnsembleRegressor", &["features"], &["variable"], attrs)
}

fn onnx_node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn int64_tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: data_type::INT64,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

/// Graph inputs, the nodes that turn them into `features`, and the constants those nodes read.
type Preprocessing = (Vec<ValueInfoProto>, Vec<NodeProto>, Vec<TensorProto>);

/// The graph inputs and the nodes that turn them into `features`, the matrix the estimator was fitted on.
///
/// All-numeric models take one float matrix `X` (Imputer, then Scaler when standardised). Models with
/// categorical columns take one input per column, by name, as skl2onnx exports a DataFrame: a numeric column is
/// a float `[N, 1]` (NaN when missing) imputed and scaled on its own; a categorical one a string `[N, 1]` (empty
/// when missing) one-hot encoded over its categories plus the empty string, whose column a MatMul folds onto
/// the fill category (missing values take the fill, unknown ones give zeros, as the native model does); the
/// pieces are concatenated in the model's feature order.
fn preprocessing(model: &TrainedModel) -> Result<Preprocessing, NotExportable> {
    let transforms = &model.preprocessor.transforms;
    let all_numeric = transforms
        .iter()
        .all(|t| matches!(t, FeatureTransform::Numeric { .. }));
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    if all_numeric {
        let (mut fills, mut means, mut scales) = (Vec::new(), Vec::new(), Vec::new());
        for transform in transforms {
            if let FeatureTransform::Numeric {
                fill, mean, scale, ..
            } = transform
            {
                fills.push(*fill);
                means.push(*mean);
                scales.push(1.0 / *scale);
            }
        }
        let n_features = fills.len() as i64;
        nodes.push(ml_node(
            "Imputer",
            &["X"],
            &["imputed"],
            vec![
                floats("imputed_value_floats", fills),
                float("replaced_value_float", f32::NAN),
            ],
        ));
        let standardised = means.iter().any(|&m| m != 0.0) || scales.iter().any(|&s| s != 1.0);
        if standardised {
            nodes.push(ml_node(
                "Scaler",
                &["imputed"],
                &["features"],
                vec![floats("offset", means), floats("scale", scales)],
            ));
        } else {
            nodes.push(onnx_node(
                "Identity",
                "Identity",
                &["imputed"],
                &["features"],
                vec![],
            ));
        }
        let inputs = vec![tensor_info(
            "X",
            data_type::FLOAT,
            &[None, Some(n_features)],
        )];
        return Ok((inputs, nodes, initializers));
    }
    let mut inputs = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for (i, transform) in transforms.iter().enumerate() {
        match transform {
            FeatureTransform::Numeric {
                column,
                fill,
                mean,
                scale,
            } => {
                inputs.push(tensor_info(column, data_type::FLOAT, &[None, Some(1)]));
                let imputed = format!("imputed_{i}");
                let scaled = format!("scaled_{i}");
                nodes.push(NodeProto {
                    name: format!("Imputer_{i}"),
                    ..ml_node(
                        "Imputer",
                        &[column],
                        &[&imputed],
                        vec![
                            floats("imputed_value_floats", [*fill]),
                            float("replaced_value_float", f32::NAN),
                        ],
                    )
                });
                nodes.push(NodeProto {
                    name: format!("Scaler_{i}"),
                    ..ml_node(
                        "Scaler",
                        &[&imputed],
                        &[&scaled],
                        vec![floats("offset", [*mean]), floats("scale", [1.0 / *scale])],
                    )
                });
                parts.push(scaled);
            }
            FeatureTransform::OneHot {
                column,
                categories,
                fill,
            } => {
                inputs.push(tensor_info(column, data_type::STRING, &[None, Some(1)]));
                let k = categories.len();
                if categories.iter().any(String::is_empty) {
                    return Err(NotExportable(format!(
                        "column '{column}' has an empty-string category, which the graph uses for missing values"
                    )));
                }
                let fill_index = categories.iter().position(|c| c == fill).ok_or_else(|| {
                    NotExportable(format!(
                        "column '{column}': the fill '{fill}' is not one of its categories"
                    ))
                })?;
                let (encoded, flat, shape, fold, folded) = (
                    format!("onehot_{i}"),
                    format!("onehot_flat_{i}"),
                    format!("onehot_shape_{i}"),
                    format!("missing_fold_{i}"),
                    format!("encoded_{i}"),
                );
                let mut cats = categories.clone();
                cats.push(String::new());
                nodes.push(NodeProto {
                    name: format!("OneHotEncoder_{i}"),
                    ..ml_node(
                        "OneHotEncoder",
                        &[column],
                        &[&encoded],
                        vec![strings("cats_strings", cats), int("zeros", 1)],
                    )
                });
                initializers.push(int64_tensor(&shape, &[-1, k as i64 + 1]));
                nodes.push(onnx_node(
                    "Reshape",
                    &format!("Reshape_{i}"),
                    &[&encoded, &shape],
                    &[&flat],
                    vec![],
                ));
                // (K + 1) × K: the identity on the categories, and the empty string's row on the fill's column.
                let mut matrix = vec![0.0f32; (k + 1) * k];
                for c in 0..k {
                    matrix[c * k + c] = 1.0;
                }
                matrix[k * k + fill_index] = 1.0;
                initializers.push(TensorProto {
                    name: fold.clone(),
                    dims: vec![k as i64 + 1, k as i64],
                    data_type: data_type::FLOAT,
                    float_data: matrix,
                    ..Default::default()
                });
                nodes.push(onnx_node(
                    "MatMul",
                    &format!("MatMul_{i}"),
                    &[&flat, &fold],
                    &[&folded],
                    vec![],
                ));
                parts.push(folded);
            }
        }
    }
    let part_names: Vec<&str> = parts.iter().map(String::as_str).collect();
    nodes.push(onnx_node(
        "Concat",
        "Concat_features",
        &part_names,
        &["features"],
        vec![int("axis", 1)],
    ));
    Ok((inputs, nodes, initializers))
}

/// The ONNX bytes of a trained model, or why it has none yet.
pub fn export_onnx(model: &TrainedModel) -> Result<Vec<u8>, NotExportable> {
    let (inputs, mut nodes, initializers) = preprocessing(model)?;
    let classes = &model.classes;
    let k = classes.len() as i64;
    match &model.estimator {
        Estimator::DecisionTreeClassifier(m) => {
            nodes.push(tree_classifier(
                &[m.tree()],
                classes,
                1.0,
                None,
                "NONE",
                None,
            ));
        }
        Estimator::RandomForestClassifier(m) => {
            let trees: Vec<&Tree> = m.trees().iter().collect();
            let scale = 1.0 / trees.len() as f64;
            nodes.push(tree_classifier(&trees, classes, scale, None, "NONE", None));
        }
        Estimator::GradientBoostingClassifier(m) => {
            let trees: Vec<&Tree> = m.trees().iter().collect();
            let outputs = m.baseline().len();
            let transform = if outputs == 1 { "LOGISTIC" } else { "SOFTMAX" };
            nodes.push(tree_classifier(
                &trees,
                classes,
                1.0,
                Some(m.baseline()),
                transform,
                Some(outputs),
            ));
        }
        Estimator::DecisionTreeRegressor(m) => nodes.push(tree_regressor(&[m.tree()], 1.0, None)),
        Estimator::RandomForestRegressor(m) => {
            let trees: Vec<&Tree> = m.trees().iter().collect();
            let scale = 1.0 / trees.len() as f64;
            nodes.push(tree_regressor(&trees, scale, None));
        }
        Estimator::GradientBoostingRegressor(m) => {
            let trees: Vec<&Tree> = m.trees().iter().collect();
            nodes.push(tree_regressor(&trees, 1.0, Some(m.baseline())));
        }
        Estimator::LinearRegression(m) => nodes.push(ml_node(
            "LinearRegressor",
            &["features"],
            &["variable"],
            vec![
                floats("coefficients", m.coefficients().iter().copied()),
                floats("intercepts", [m.intercept()]),
                int("targets", 1),
            ],
        )),
        Estimator::LogisticRegression(m) => {
            let coefficients = m.coefficients();
            let (weights, intercepts, transform): (Vec<f64>, Vec<f64>, &str) =
                if coefficients.n_rows() == 1 {
                    // Binary: scores [-z, z] through LOGISTIC, then L1-normalised: [1 - p, p], as skl2onnx writes it.
                    let row = coefficients.row(0);
                    let b = m.intercepts()[0];
                    (
                        row.iter().map(|w| -w).chain(row.iter().copied()).collect(),
                        vec![-b, b],
                        "LOGISTIC",
                    )
                } else {
                    (
                        coefficients.as_slice().to_vec(),
                        m.intercepts().to_vec(),
                        m.post_transform().onnx_name(),
                    )
                };
            nodes.push(ml_node(
                "LinearClassifier",
                &["features"],
                &["label", "scores"],
                vec![
                    floats("coefficients", weights),
                    floats("intercepts", intercepts),
                    strings("classlabels_strings", classes.iter().cloned()),
                    string("post_transform", transform),
                    int("multi_class", 0),
                ],
            ));
            let normalise = if coefficients.n_rows() == 1 {
                "L1"
            } else {
                "MAX"
            };
            if normalise == "L1" {
                nodes.push(ml_node(
                    "Normalizer",
                    &["scores"],
                    &["probabilities"],
                    vec![string("norm", "L1")],
                ));
            } else {
                nodes.push(NodeProto {
                    op_type: "Identity".into(),
                    name: "Identity_scores".into(),
                    input: vec!["scores".into()],
                    output: vec!["probabilities".into()],
                    ..Default::default()
                });
            }
        }
    }
    let outputs = if classes.is_empty() {
        vec![tensor_info("variable", data_type::FLOAT, &[None, Some(1)])]
    } else {
        vec![
            tensor_info("label", data_type::STRING, &[None]),
            tensor_info("probabilities", data_type::FLOAT, &[None, Some(k)]),
        ]
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            },
            OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 1,
            },
        ],
        producer_name: "steward".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "{} trained by Steward on target '{}'",
            model.algorithm.name(),
            model.target
        ),
        graph: Some(GraphProto {
            name: model.algorithm.name().into(),
            node: nodes,
            input: inputs,
            initializer: initializers,
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}
