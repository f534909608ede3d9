//! A graph compiled to a plan: every value name gets a slot, every node becomes a step with its operator
//! compiled once, and a run walks the steps in order over whole batches.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::attrs::{Attributes, tensor_from_proto};
use crate::error::{RuntimeResult, invalid_input, invalid_model, unsupported};
use crate::onnx::{GraphProto, NodeProto, data_type};
use crate::ops::basic::{Binarizer, Imputer, Normalizer, Scaler};
use crate::ops::linear::{LinearClassifier, LinearRegressor};
use crate::ops::tree::{Labels, TreeClassifier, TreeRegressor};
use crate::tensor::{Data, Tensor, Value};

/// The operators the native plan runs, by domain.
pub const SUPPORTED_ML: &[&str] = &[
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "LinearClassifier",
    "LinearRegressor",
    "Scaler",
    "Imputer",
    "Normalizer",
    "Binarizer",
    "ZipMap",
    "FeatureVectorizer",
    "ArrayFeatureExtractor",
    "Cast",
    "OneHotEncoder",
];
pub const SUPPORTED_ONNX: &[&str] = &[
    "Identity", "Cast", "Gather", "ArgMax", "Softmax", "Concat", "Reshape", "Flatten", "Add",
    "Sub", "Mul", "Div", "MatMul", "Gemm", "Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Exp", "Log",
    "Sqrt",
];

#[derive(Debug, Clone, Copy)]
enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy)]
enum Unary {
    Relu,
    Sigmoid,
    Tanh,
    Abs,
    Neg,
    Exp,
    Log,
    Sqrt,
}

#[derive(Debug, Clone)]
enum Op {
    TreeClassifier(Box<TreeClassifier>),
    TreeRegressor(Box<TreeRegressor>),
    LinearClassifier(Box<LinearClassifier>),
    LinearRegressor(Box<LinearRegressor>),
    Scaler(Scaler),
    Imputer(Imputer),
    Normalizer(Normalizer),
    Binarizer(Binarizer),
    ZipMap(Labels),
    Cast(i32),
    ArgMax {
        axis: i64,
        keepdims: bool,
    },
    Softmax {
        axis: i64,
    },
    Identity,
    Concat {
        axis: i64,
    },
    Reshape,
    Flatten {
        axis: i64,
    },
    FeatureVectorizer,
    ArrayFeatureExtractor,
    OneHot {
        categories: Labels,
        zeros: bool,
    },
    Gather {
        axis: i64,
    },
    Binary(Binary),
    Unary(Unary),
    MatMul,
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
}

#[derive(Debug, Clone)]
struct Step {
    name: String,
    op: Op,
    inputs: Vec<Option<usize>>,
    outputs: Vec<usize>,
}

/// A graph input as the model declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphInput {
    pub name: String,
    /// ONNX element type code (`onnx::data_type`).
    pub elem_type: i32,
    /// Dimensions; `None` for a symbolic or unknown one (usually the batch).
    pub shape: Vec<Option<usize>>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub inputs: Vec<GraphInput>,
    pub outputs: Vec<String>,
    steps: Vec<Step>,
    input_slots: Vec<usize>,
    output_slots: Vec<usize>,
    constants: Vec<(usize, Value)>,
    n_slots: usize,
    /// Class labels of the model's classifier, if it has one.
    pub labels: Option<Labels>,
}

fn compile_op(node: &NodeProto) -> RuntimeResult<Op> {
    let attrs = Attributes::new(node);
    let ml = node.domain == "ai.onnx.ml";
    if !(node.domain.is_empty() || node.domain == "ai.onnx" || ml) {
        return Err(unsupported(format!(
            "operator {} of domain '{}' (node '{}'); Steward runs the standard and ai.onnx.ml domains",
            node.op_type, node.domain, node.name
        )));
    }
    let op = match (ml, node.op_type.as_str()) {
        (true, "TreeEnsembleClassifier") => {
            Op::TreeClassifier(Box::new(TreeClassifier::compile(node)?))
        }
        (true, "TreeEnsembleRegressor") => {
            Op::TreeRegressor(Box::new(TreeRegressor::compile(node)?))
        }
        (true, "LinearClassifier") => {
            Op::LinearClassifier(Box::new(LinearClassifier::compile(node)?))
        }
        (true, "LinearRegressor") => Op::LinearRegressor(Box::new(LinearRegressor::compile(node)?)),
        (true, "Scaler") => Op::Scaler(Scaler::compile(node)?),
        (true, "Imputer") => Op::Imputer(Imputer::compile(node)?),
        (true, "Normalizer") => Op::Normalizer(Normalizer::compile(node)?),
        (true, "Binarizer") => Op::Binarizer(Binarizer::compile(node)?),
        (true, "ZipMap") => Op::ZipMap(Labels::from_attributes(&attrs)?),
        (true, "FeatureVectorizer") => Op::FeatureVectorizer,
        (true, "ArrayFeatureExtractor") => Op::ArrayFeatureExtractor,
        (true, "OneHotEncoder") => {
            let strings = attrs.strings("cats_strings")?;
            let ints = attrs.ints("cats_int64s");
            let categories = match (strings.is_empty(), ints.is_empty()) {
                (false, true) => Labels::Str(strings),
                (true, false) => Labels::Int(ints),
                _ => return Err(attrs.error("needs exactly one of cats_strings and cats_int64s")),
            };
            Op::OneHot {
                categories,
                zeros: attrs.int("zeros", 1) != 0,
            }
        }
        (false, "Gather") => Op::Gather {
            axis: attrs.int("axis", 0),
        },
        (true, "Cast") | (false, "Cast") => {
            Op::Cast(attrs.int("to", data_type::FLOAT as i64) as i32)
        }
        (false, "Identity") => Op::Identity,
        (false, "ArgMax") => Op::ArgMax {
            axis: attrs.int("axis", 0),
            keepdims: attrs.int("keepdims", 1) != 0,
        },
        (false, "Softmax") => Op::Softmax {
            axis: attrs.int("axis", -1),
        },
        (false, "Concat") => Op::Concat {
            axis: attrs.int("axis", 1),
        },
        (false, "Reshape") => Op::Reshape,
        (false, "Flatten") => Op::Flatten {
            axis: attrs.int("axis", 1),
        },
        (false, "Add") => Op::Binary(Binary::Add),
        (false, "Sub") => Op::Binary(Binary::Sub),
        (false, "Mul") => Op::Binary(Binary::Mul),
        (false, "Div") => Op::Binary(Binary::Div),
        (false, "Relu") => Op::Unary(Unary::Relu),
        (false, "Sigmoid") => Op::Unary(Unary::Sigmoid),
        (false, "Tanh") => Op::Unary(Unary::Tanh),
        (false, "Abs") => Op::Unary(Unary::Abs),
        (false, "Neg") => Op::Unary(Unary::Neg),
        (false, "Exp") => Op::Unary(Unary::Exp),
        (false, "Log") => Op::Unary(Unary::Log),
        (false, "Sqrt") => Op::Unary(Unary::Sqrt),
        (false, "MatMul") => Op::MatMul,
        (false, "Gemm") => Op::Gemm {
            alpha: attrs.float("alpha", 1.0),
            beta: attrs.float("beta", 1.0),
            trans_a: attrs.int("transA", 0) != 0,
            trans_b: attrs.int("transB", 0) != 0,
        },
        (_, other) => {
            return Err(unsupported(format!(
                "operator {other}{} (node '{}'); the native runtime runs {} and ai.onnx.ml {}",
                if ml { " of ai.onnx.ml" } else { "" },
                node.name,
                SUPPORTED_ONNX.join(", "),
                SUPPORTED_ML.join(", ")
            )));
        }
    };
    Ok(op)
}

fn value_type_shape(info: &crate::onnx::ValueInfoProto) -> (i32, Vec<Option<usize>>) {
    use crate::onnx::tensor_shape_proto::dimension::Value as Dim;
    use crate::onnx::type_proto::Value as Type;
    match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(Type::TensorType(tensor)) => {
            let shape = tensor
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(Dim::DimValue(v)) if v >= 0 => Some(v as usize),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            (tensor.elem_type, shape)
        }
        _ => (0, Vec::new()),
    }
}

/// The graph's real inputs (those that are not initializers), in order.
pub fn graph_inputs(graph: &GraphProto) -> RuntimeResult<Vec<GraphInput>> {
    let initialized: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<GraphInput> = graph
        .input
        .iter()
        .filter(|i| !initialized.contains(i.name.as_str()))
        .map(|info| {
            let (elem_type, shape) = value_type_shape(info);
            GraphInput {
                name: info.name.clone(),
                elem_type,
                shape,
            }
        })
        .collect();
    if inputs.is_empty() {
        return Err(invalid_model("the graph has no inputs"));
    }
    Ok(inputs)
}

impl Plan {
    pub fn compile(graph: &GraphProto) -> RuntimeResult<Plan> {
        let mut slots: HashMap<String, usize> = HashMap::new();
        let slot = |name: &str, slots: &mut HashMap<String, usize>| -> usize {
            let next = slots.len();
            *slots.entry(name.to_string()).or_insert(next)
        };
        let mut constants = Vec::new();
        for initializer in &graph.initializer {
            let s = slot(&initializer.name, &mut slots);
            constants.push((s, Value::Tensor(tensor_from_proto(initializer)?)));
        }
        let inputs = graph_inputs(graph)?;
        let input_slots: Vec<usize> = inputs
            .iter()
            .map(|input| slot(&input.name, &mut slots))
            .collect();
        let mut defined: std::collections::HashSet<usize> = input_slots.iter().copied().collect();
        defined.extend(constants.iter().map(|(s, _)| *s));
        let mut steps = Vec::with_capacity(graph.node.len());
        let mut labels = None;
        for node in &graph.node {
            let op = compile_op(node)?;
            if labels.is_none() {
                labels = match &op {
                    Op::TreeClassifier(c) => Some(c.labels.clone()),
                    Op::LinearClassifier(c) => Some(c.labels.clone()),
                    _ => None,
                };
            }
            let mut step_inputs = Vec::with_capacity(node.input.len());
            for name in &node.input {
                if name.is_empty() {
                    step_inputs.push(None);
                    continue;
                }
                let s = *slots.get(name).filter(|s| defined.contains(s)).ok_or_else(|| {
                    invalid_model(format!(
                        "node '{}' ({}) reads '{name}', which no earlier node or input produces (nodes must be in topological order)",
                        node.name, node.op_type
                    ))
                })?;
                step_inputs.push(Some(s));
            }
            let outputs: Vec<usize> = node
                .output
                .iter()
                .map(|name| slot(name, &mut slots))
                .collect();
            defined.extend(outputs.iter().copied());
            steps.push(Step {
                name: if node.name.is_empty() {
                    node.op_type.clone()
                } else {
                    node.name.clone()
                },
                op,
                inputs: step_inputs,
                outputs,
            });
        }
        let mut output_slots = Vec::new();
        for output in &graph.output {
            let s = *slots
                .get(&output.name)
                .filter(|s| defined.contains(s))
                .ok_or_else(|| {
                    invalid_model(format!(
                        "graph output '{}' is produced by no node",
                        output.name
                    ))
                })?;
            output_slots.push(s);
        }
        Ok(Plan {
            inputs,
            outputs: graph.output.iter().map(|o| o.name.clone()).collect(),
            steps,
            input_slots,
            output_slots,
            constants,
            n_slots: slots.len(),
            labels,
        })
    }

    /// Runs the plan on one tensor per graph input (in the order of `self.inputs`); returns the graph outputs
    /// in the order of `self.outputs`.
    pub fn run(&self, inputs: Vec<Tensor>) -> RuntimeResult<Vec<Value>> {
        if inputs.len() != self.inputs.len() {
            return Err(invalid_input(format!(
                "the model takes {} input(s) ({}) but got {}",
                self.inputs.len(),
                self.inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                inputs.len()
            )));
        }
        let mut values: Vec<Option<Value>> = vec![None; self.n_slots];
        for (s, v) in &self.constants {
            values[*s] = Some(v.clone());
        }
        for (s, tensor) in self.input_slots.iter().zip(inputs) {
            values[*s] = Some(Value::Tensor(tensor));
        }
        for step in &self.steps {
            let args: Vec<Option<&Value>> = step
                .inputs
                .iter()
                .map(|s| s.and_then(|s| values[s].as_ref()))
                .collect();
            let results = run_step(step, &args).map_err(|e| match e {
                crate::error::RuntimeError::InvalidInput(m) => {
                    invalid_input(format!("{}: {m}", step.name))
                }
                other => other,
            })?;
            for (s, v) in step.outputs.iter().zip(results) {
                values[*s] = Some(v);
            }
        }
        self.output_slots
            .iter()
            .zip(&self.outputs)
            .map(|(s, name)| {
                values[*s]
                    .take()
                    .ok_or_else(|| invalid_model(format!("output '{name}' was not computed")))
            })
            .collect()
    }
}

fn tensor_arg<'a>(args: &[Option<&'a Value>], i: usize) -> RuntimeResult<&'a Tensor> {
    args.get(i)
        .copied()
        .flatten()
        .and_then(Value::tensor)
        .ok_or_else(|| invalid_input(format!("input {i} is missing or not a tensor")))
}

/// A tensor as a float32 matrix, borrowed when it is one already (no copy of the batch per step).
fn float_matrix(t: &Tensor) -> RuntimeResult<(Cow<'_, [f32]>, usize, usize)> {
    let (rows, width) = t.rows_and_width();
    let values = t.f32_values().ok_or_else(|| {
        invalid_input(format!(
            "expected numbers, got a {} tensor",
            t.data.type_name()
        ))
    })?;
    Ok((values, rows, width))
}

/// [`float_matrix`] as an owned copy, for steps that rewrite the values in place or keep them.
fn owned_float_matrix(t: &Tensor) -> RuntimeResult<(Vec<f32>, usize, usize)> {
    let (values, rows, width) = float_matrix(t)?;
    Ok((values.into_owned(), rows, width))
}

fn labels_tensor(labels: &Labels, indices: &[usize]) -> Tensor {
    let n = indices.len();
    match labels {
        Labels::Int(v) => Tensor {
            shape: vec![n],
            data: Data::I64(indices.iter().map(|&i| v[i]).collect()),
        },
        Labels::Str(v) => Tensor {
            shape: vec![n],
            data: Data::Str(indices.iter().map(|&i| v[i].clone()).collect()),
        },
    }
}

fn normalise_axis(axis: i64, rank: usize) -> RuntimeResult<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a)
        .ok()
        .filter(|&a| a < rank.max(1))
        .ok_or_else(|| invalid_input(format!("axis {axis} is out of range for rank {rank}")))
}

fn run_step(step: &Step, args: &[Option<&Value>]) -> RuntimeResult<Vec<Value>> {
    let t = |v: Tensor| Value::Tensor(v);
    Ok(match &step.op {
        Op::TreeClassifier(op) => {
            let (x, rows, width) = float_matrix(tensor_arg(args, 0)?)?;
            let (labels, probabilities) = op.run(&x, width)?;
            let k = op.labels.len();
            vec![
                t(labels_tensor(&op.labels, &labels)),
                t(Tensor::f32(vec![rows, k], probabilities)),
            ]
        }
        Op::TreeRegressor(op) => {
            let (x, rows, width) = float_matrix(tensor_arg(args, 0)?)?;
            vec![t(Tensor::f32(
                vec![rows, op.n_targets()],
                op.run(&x, width)?,
            ))]
        }
        Op::LinearClassifier(op) => {
            let (x, rows, width) = float_matrix(tensor_arg(args, 0)?)?;
            let (labels, scores, out_width) = op.run(&x, width)?;
            vec![
                t(labels_tensor(&op.labels, &labels)),
                t(Tensor::f32(vec![rows, out_width], scores)),
            ]
        }
        Op::LinearRegressor(op) => {
            let (x, rows, width) = float_matrix(tensor_arg(args, 0)?)?;
            vec![t(Tensor::f32(
                vec![rows, op.n_targets()],
                op.run(&x, width)?,
            ))]
        }
        Op::Scaler(op) => {
            let (mut x, rows, width) = owned_float_matrix(tensor_arg(args, 0)?)?;
            op.run(&mut x, width)?;
            vec![t(Tensor::f32(vec![rows, width], x))]
        }
        Op::Imputer(op) => {
            let input = tensor_arg(args, 0)?;
            let (mut x, _, width) = owned_float_matrix(input)?;
            op.run(&mut x, width)?;
            vec![t(Tensor::f32(input.shape.clone(), x))]
        }
        Op::Normalizer(op) => {
            let (mut x, rows, width) = owned_float_matrix(tensor_arg(args, 0)?)?;
            op.run(&mut x, width);
            vec![t(Tensor::f32(vec![rows, width], x))]
        }
        Op::Binarizer(op) => {
            let input = tensor_arg(args, 0)?;
            let (mut x, _, _) = owned_float_matrix(input)?;
            op.run(&mut x);
            vec![t(Tensor::f32(input.shape.clone(), x))]
        }
        Op::ZipMap(labels) => {
            let (x, rows, width) = owned_float_matrix(tensor_arg(args, 0)?)?;
            if width != labels.len() {
                return Err(invalid_input(format!(
                    "ZipMap has {} labels for {width} columns",
                    labels.len()
                )));
            }
            vec![Value::ZipMap {
                keys: labels.names(),
                rows,
                values: x,
            }]
        }
        Op::Cast(to) => vec![t(cast(tensor_arg(args, 0)?, *to)?)],
        Op::Identity => vec![
            args.first()
                .copied()
                .flatten()
                .cloned()
                .ok_or_else(|| invalid_input("Identity has no input"))?,
        ],
        Op::ArgMax { axis, keepdims } => {
            let input = tensor_arg(args, 0)?;
            let (x, rows, width) = float_matrix(input)?;
            let rank = input.shape.len();
            if normalise_axis(*axis, rank)? != rank.saturating_sub(1) || rank > 2 {
                return Err(unsupported(
                    "ArgMax over an axis other than the last of a 2-D tensor",
                ));
            }
            let indices: Vec<i64> = x
                .chunks_exact(width.max(1))
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .fold(
                            (0, f32::NEG_INFINITY),
                            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                        )
                        .0 as i64
                })
                .collect();
            let shape = if *keepdims { vec![rows, 1] } else { vec![rows] };
            vec![t(Tensor {
                shape,
                data: Data::I64(indices),
            })]
        }
        Op::Softmax { axis } => {
            let input = tensor_arg(args, 0)?;
            let rank = input.shape.len();
            if normalise_axis(*axis, rank)? != rank.saturating_sub(1) {
                return Err(unsupported("Softmax over an axis other than the last"));
            }
            let (x, _, width) = float_matrix(input)?;
            let mut out = Vec::with_capacity(x.len());
            for row in x.chunks_exact(width.max(1)) {
                let mut scores: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
                crate::ops::softmax(&mut scores, false);
                out.extend(scores.iter().map(|&v| v as f32));
            }
            vec![t(Tensor::f32(input.shape.clone(), out))]
        }
        Op::Concat { axis } => concat_columns(args, *axis)?,
        Op::FeatureVectorizer => concat_columns(args, 1)?,
        Op::Flatten { axis } => {
            let input = tensor_arg(args, 0)?;
            let a = normalise_axis(*axis, input.shape.len() + 1)?;
            let rows: usize = input.shape[..a.min(input.shape.len())].iter().product();
            let cols = input.data.len().checked_div(rows).unwrap_or(0);
            vec![t(Tensor {
                shape: vec![rows, cols],
                data: input.data.clone(),
            })]
        }
        Op::Reshape => {
            let input = tensor_arg(args, 0)?;
            let shape = match &tensor_arg(args, 1)?.data {
                Data::I64(v) => v.clone(),
                _ => return Err(invalid_input("Reshape's shape must be int64")),
            };
            vec![t(reshape(input, &shape)?)]
        }
        Op::ArrayFeatureExtractor => {
            let input = tensor_arg(args, 0)?;
            let indices = match &tensor_arg(args, 1)?.data {
                Data::I64(v) => v.clone(),
                _ => {
                    return Err(invalid_input(
                        "ArrayFeatureExtractor's indices must be int64",
                    ));
                }
            };
            vec![t(extract_columns(input, &indices)?)]
        }
        Op::OneHot { categories, zeros } => {
            vec![t(one_hot(tensor_arg(args, 0)?, categories, *zeros)?)]
        }
        Op::Gather { axis } => {
            let input = tensor_arg(args, 0)?;
            let index = tensor_arg(args, 1)?;
            let indices = match &index.data {
                Data::I64(v) => v.clone(),
                _ => return Err(invalid_input("Gather's indices must be int64")),
            };
            if input.shape.len() != 2 || normalise_axis(*axis, 2)? != 1 {
                return Err(unsupported("Gather other than of columns of a 2-D tensor"));
            }
            let mut gathered = extract_columns(input, &indices)?;
            if index.shape.is_empty() {
                // A scalar index drops the axis.
                gathered.shape = vec![input.shape[0]];
            }
            vec![t(gathered)]
        }
        Op::Binary(op) => vec![t(binary(*op, tensor_arg(args, 0)?, tensor_arg(args, 1)?)?)],
        Op::Unary(op) => {
            let input = tensor_arg(args, 0)?;
            let (x, _, _) = float_matrix(input)?;
            let f = |v: f32| -> f32 {
                match op {
                    Unary::Relu => v.max(0.0),
                    Unary::Sigmoid => 1.0 / (1.0 + (-v).exp()),
                    Unary::Tanh => v.tanh(),
                    Unary::Abs => v.abs(),
                    Unary::Neg => -v,
                    Unary::Exp => v.exp(),
                    Unary::Log => v.ln(),
                    Unary::Sqrt => v.sqrt(),
                }
            };
            vec![t(Tensor::f32(
                input.shape.clone(),
                x.iter().copied().map(f).collect(),
            ))]
        }
        Op::MatMul => vec![t(gemm(
            tensor_arg(args, 0)?,
            tensor_arg(args, 1)?,
            None,
            1.0,
            0.0,
            false,
            false,
        )?)],
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            let c = args.get(2).copied().flatten().and_then(Value::tensor);
            vec![t(gemm(
                tensor_arg(args, 0)?,
                tensor_arg(args, 1)?,
                c,
                *alpha,
                *beta,
                *trans_a,
                *trans_b,
            )?)]
        }
    })
}

fn cast(input: &Tensor, to: i32) -> RuntimeResult<Tensor> {
    let shape = input.shape.clone();
    let data = match (to, &input.data) {
        (data_type::FLOAT, _) => Data::F32(
            input
                .to_f32()
                .ok_or_else(|| unsupported("Cast from string to float"))?,
        ),
        (data_type::DOUBLE, Data::F64(v)) => Data::F64(v.clone()),
        (data_type::DOUBLE, _) => Data::F64(
            input
                .to_f32()
                .ok_or_else(|| unsupported("Cast from string to double"))?
                .into_iter()
                .map(f64::from)
                .collect(),
        ),
        (data_type::INT64 | data_type::INT32, Data::I64(v)) => Data::I64(v.clone()),
        (data_type::INT64 | data_type::INT32, Data::F32(v)) => {
            Data::I64(v.iter().map(|&x| x as i64).collect())
        }
        (data_type::INT64 | data_type::INT32, Data::F64(v)) => {
            Data::I64(v.iter().map(|&x| x as i64).collect())
        }
        (data_type::STRING, Data::Str(v)) => Data::Str(v.clone()),
        (data_type::STRING, Data::I64(v)) => Data::Str(v.iter().map(ToString::to_string).collect()),
        (data_type::STRING, Data::F32(v)) => Data::Str(v.iter().map(ToString::to_string).collect()),
        (other, data) => {
            return Err(unsupported(format!(
                "Cast of {} to {}",
                data.type_name(),
                data_type::name(other)
            )));
        }
    };
    Ok(Tensor { shape, data })
}

/// ai.onnx.ml OneHotEncoder: one more dimension than the input, of the categories' length; a value that is no
/// category gives all zeros (or, with `zeros` off, an error).
fn one_hot(input: &Tensor, categories: &Labels, zeros: bool) -> RuntimeResult<Tensor> {
    let k = categories.len();
    let position: Box<dyn Fn(usize) -> Option<usize>> = match (categories, &input.data) {
        (Labels::Str(cats), Data::Str(values)) => {
            let index: HashMap<&str, usize> = cats
                .iter()
                .enumerate()
                .map(|(i, c)| (c.as_str(), i))
                .collect();
            Box::new(move |i| index.get(values[i].as_str()).copied())
        }
        (Labels::Int(cats), Data::I64(values)) => {
            let index: HashMap<i64, usize> =
                cats.iter().enumerate().map(|(i, &c)| (c, i)).collect();
            Box::new(move |i| index.get(&values[i]).copied())
        }
        (Labels::Int(cats), Data::F32(values)) => {
            let index: HashMap<i64, usize> =
                cats.iter().enumerate().map(|(i, &c)| (c, i)).collect();
            Box::new(move |i| index.get(&(values[i] as i64)).copied())
        }
        (_, data) => {
            return Err(invalid_input(format!(
                "OneHotEncoder with {} categories got a {} tensor",
                if matches!(categories, Labels::Str(_)) {
                    "string"
                } else {
                    "int64"
                },
                data.type_name()
            )));
        }
    };
    let n = input.data.len();
    let mut out = vec![0.0f32; n * k];
    for i in 0..n {
        match position(i) {
            Some(j) => out[i * k + j] = 1.0,
            None if zeros => {}
            None => {
                return Err(invalid_input(format!(
                    "value {i} is not one of the encoder's categories"
                )));
            }
        }
    }
    let mut shape = input.shape.clone();
    shape.push(k);
    Ok(Tensor::f32(shape, out))
}

fn concat_columns(args: &[Option<&Value>], axis: i64) -> RuntimeResult<Vec<Value>> {
    let tensors: Vec<&Tensor> = (0..args.len())
        .map(|i| tensor_arg(args, i))
        .collect::<RuntimeResult<_>>()?;
    let first = tensors
        .first()
        .ok_or_else(|| invalid_input("Concat has no inputs"))?;
    let rank = first.shape.len().max(2);
    if normalise_axis(axis, rank)? != rank - 1 || first.shape.len() > 2 {
        return Err(unsupported(
            "Concat along an axis other than the last of 2-D tensors",
        ));
    }
    let rows = first.rows_and_width().0;
    let parts: Vec<(Cow<'_, [f32]>, usize)> = tensors
        .iter()
        .map(|t| {
            let (x, r, w) = float_matrix(t)?;
            if r != rows {
                return Err(invalid_input(format!(
                    "Concat of {r} rows with {rows} rows"
                )));
            }
            Ok((x, w))
        })
        .collect::<RuntimeResult<_>>()?;
    let width: usize = parts.iter().map(|(_, w)| w).sum();
    let mut out = Vec::with_capacity(rows * width);
    for r in 0..rows {
        for (x, w) in &parts {
            out.extend_from_slice(&x[r * w..(r + 1) * w]);
        }
    }
    Ok(vec![Value::Tensor(Tensor::f32(vec![rows, width], out))])
}

fn reshape(input: &Tensor, shape: &[i64]) -> RuntimeResult<Tensor> {
    let total = input.data.len();
    let mut dims: Vec<usize> = Vec::with_capacity(shape.len());
    let mut unknown = None;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 if unknown.is_none() => {
                unknown = Some(i);
                dims.push(1);
            }
            0 => dims.push(
                *input
                    .shape
                    .get(i)
                    .ok_or_else(|| invalid_input("Reshape copies a dimension the input lacks"))?,
            ),
            d if d > 0 => dims.push(d as usize),
            _ => return Err(invalid_input(format!("Reshape to {shape:?}"))),
        }
    }
    let known: usize = dims.iter().product();
    if let Some(i) = unknown {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(invalid_input(format!(
                "cannot reshape {} values to {shape:?}",
                total
            )));
        }
        dims[i] = total / known;
    }
    Tensor::new(dims, input.data.clone())
        .map_err(|_| invalid_input(format!("cannot reshape {total} values to {shape:?}")))
}

fn extract_columns(input: &Tensor, indices: &[i64]) -> RuntimeResult<Tensor> {
    let (rows, width) = if input.shape.len() <= 1 {
        (1, input.data.len())
    } else {
        input.rows_and_width()
    };
    let idx: Vec<usize> = indices
        .iter()
        .map(|&i| {
            usize::try_from(i)
                .ok()
                .filter(|&i| i < width)
                .ok_or_else(|| invalid_input(format!("index {i} out of {width} columns")))
        })
        .collect::<RuntimeResult<_>>()?;
    let pick = |r: usize, j: usize| r * width + j;
    let data = match &input.data {
        Data::F32(v) => Data::F32(
            (0..rows)
                .flat_map(|r| idx.iter().map(move |&j| (r, j)))
                .map(|(r, j)| v[pick(r, j)])
                .collect(),
        ),
        Data::F64(v) => Data::F64(
            (0..rows)
                .flat_map(|r| idx.iter().map(move |&j| (r, j)))
                .map(|(r, j)| v[pick(r, j)])
                .collect(),
        ),
        Data::I64(v) => Data::I64(
            (0..rows)
                .flat_map(|r| idx.iter().map(move |&j| (r, j)))
                .map(|(r, j)| v[pick(r, j)])
                .collect(),
        ),
        Data::Str(v) => Data::Str(
            (0..rows)
                .flat_map(|r| idx.iter().map(move |&j| (r, j)))
                .map(|(r, j)| v[pick(r, j)].clone())
                .collect(),
        ),
    };
    let shape = if input.shape.len() <= 1 {
        vec![idx.len()]
    } else {
        vec![rows, idx.len()]
    };
    Ok(Tensor { shape, data })
}

/// Elementwise with the broadcasts models use: equal shapes, a scalar, a row `[W]`/`[1, W]` or a column `[N, 1]`.
fn binary(op: Binary, a: &Tensor, b: &Tensor) -> RuntimeResult<Tensor> {
    let (x, _, _) = float_matrix(a)?;
    let (y, _, _) = float_matrix(b)?;
    let (big, big_shape, small, small_shape, swapped) = if x.len() >= y.len() {
        (&x, &a.shape, &y, &b.shape, false)
    } else {
        (&y, &b.shape, &x, &a.shape, true)
    };
    let width = *big_shape.last().unwrap_or(&1);
    let index: Box<dyn Fn(usize) -> usize> = if small.len() == big.len() {
        Box::new(|i| i)
    } else if small.len() == 1 {
        Box::new(|_| 0)
    } else if small.len() == width && small_shape.last() == Some(&width) {
        Box::new(move |i| i % width)
    } else if width > 0 && small.len() == big.len() / width && small_shape.last() == Some(&1) {
        Box::new(move |i| i / width)
    } else {
        return Err(unsupported(format!(
            "broadcasting {:?} with {:?}",
            a.shape, b.shape
        )));
    };
    let f = |p: f32, q: f32| match op {
        Binary::Add => p + q,
        Binary::Sub => p - q,
        Binary::Mul => p * q,
        Binary::Div => p / q,
    };
    let out = big
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let s = small[index(i)];
            if swapped { f(s, v) } else { f(v, s) }
        })
        .collect();
    Ok(Tensor::f32(big_shape.clone(), out))
}

#[allow(clippy::too_many_arguments)]
fn gemm(
    a: &Tensor,
    b: &Tensor,
    c: Option<&Tensor>,
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
) -> RuntimeResult<Tensor> {
    if a.shape.len() != 2 || b.shape.len() != 2 {
        return Err(unsupported(format!(
            "matrix products of shapes {:?} and {:?} (only 2-D)",
            a.shape, b.shape
        )));
    }
    let (x, _, _) = float_matrix(a)?;
    let (w, _, _) = float_matrix(b)?;
    let (n, k) = if trans_a {
        (a.shape[1], a.shape[0])
    } else {
        (a.shape[0], a.shape[1])
    };
    let (k2, m) = if trans_b {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if k != k2 {
        return Err(invalid_input(format!(
            "matrix product of {n}x{k} and {k2}x{m}"
        )));
    }
    let at = |i: usize, p: usize| if trans_a { x[p * n + i] } else { x[i * k + p] };
    let bt = |p: usize, j: usize| if trans_b { w[j * k + p] } else { w[p * m + j] };
    let mut out = vec![0.0f32; n * m];
    for i in 0..n {
        for j in 0..m {
            let mut acc = 0.0f32;
            for p in 0..k {
                acc += at(i, p) * bt(p, j);
            }
            out[i * m + j] = alpha * acc;
        }
    }
    let mut result = Tensor::f32(vec![n, m], out);
    if let Some(c) = c {
        let scaled = if beta == 1.0 {
            c.clone()
        } else {
            let (cv, _, _) = float_matrix(c)?;
            Tensor::f32(c.shape.clone(), cv.iter().map(|v| v * beta).collect())
        };
        result = binary(Binary::Add, &result, &scaled)?;
    }
    Ok(result)
}
