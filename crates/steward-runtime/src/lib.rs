//! Steward's model runtime. Every model is an ONNX graph: [`Model::load`] decodes it, checks that every
//! operator can run (naming the first that cannot), compiles it to a [`plan::Plan`] over flat arrays, and reads
//! its signature (inputs, outputs, class labels). [`Model::predict`] runs a batch given as a feature matrix.

pub mod attrs;
pub mod error;
pub mod onnx;
pub mod ops;
pub mod plan;
pub mod tensor;
#[cfg(feature = "tract")]
mod tract_engine;

use prost::Message;
use serde::Serialize;

pub use error::{RuntimeError, RuntimeResult};
use error::{invalid_input, invalid_model, unsupported};
use plan::Plan;
use tensor::{Data, Tensor, Value};

/// Largest model file accepted, so a hostile upload cannot make the decoder hold more than this.
pub const MAX_MODEL_BYTES: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSignature {
    pub name: String,
    #[serde(rename = "type")]
    pub elem_type: String,
    /// `null` for a dynamic dimension (the batch).
    pub shape: Vec<Option<usize>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signature {
    pub inputs: Vec<InputSignature>,
    pub outputs: Vec<String>,
    /// Class labels in the order of probability columns; empty for regressors.
    pub classes: Vec<String>,
    pub task: &'static str,
    /// Features the model reads when it takes one matrix input.
    pub n_features: Option<usize>,
    pub producer: String,
    pub opsets: Vec<(String, i64)>,
}

/// What a batch prediction returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Predicted class labels (classifiers), as the graph types them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<PredictedLabels>,
    /// Class probabilities, `rows × classes.len()` row-major (classifiers with probabilities).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<f32>>,
    /// Predicted values, `rows × n_targets` (regressors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f32>>,
    pub n_targets: usize,
}

/// Class labels as the graph outputs them: integers stay integers (no text made per row unless asked).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PredictedLabels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl PredictedLabels {
    pub fn len(&self) -> usize {
        match self {
            PredictedLabels::Int(v) => v.len(),
            PredictedLabels::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label of row `i` as text (what the signature's class names hold).
    pub fn text(&self, i: usize) -> String {
        match self {
            PredictedLabels::Int(v) => v[i].to_string(),
            PredictedLabels::Str(v) => v[i].clone(),
        }
    }

    pub fn into_strings(self) -> Vec<String> {
        match self {
            PredictedLabels::Int(v) => v.iter().map(ToString::to_string).collect(),
            PredictedLabels::Str(v) => v,
        }
    }
}

/// Every value a node reads (and every graph output) is a graph input, an initializer or the output of an
/// earlier node: ONNX requires nodes in topological order. Checked before either engine sees the graph, so a
/// dangling or cyclic reference is an invalid model, not a question for tract (which panics on some).
fn check_references(graph: &onnx::GraphProto) -> RuntimeResult<()> {
    let mut defined: std::collections::HashSet<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .chain(graph.initializer.iter().map(|t| t.name.as_str()))
        .collect();
    for node in &graph.node {
        // An empty name is an omitted optional input.
        if let Some(missing) = node
            .input
            .iter()
            .find(|i| !i.is_empty() && !defined.contains(i.as_str()))
        {
            return Err(invalid_model(format!(
                "node '{}' ({}) reads '{missing}', which no graph input, initializer or earlier node defines",
                node.name, node.op_type
            )));
        }
        defined.extend(node.output.iter().map(String::as_str));
    }
    if let Some(missing) = graph
        .output
        .iter()
        .find(|o| !defined.contains(o.name.as_str()))
    {
        return Err(invalid_model(format!(
            "graph output '{}' is not computed by any node",
            missing.name
        )));
    }
    Ok(())
}

/// What runs the graph: the native plan, or tract for graphs beyond the plan's operators.
#[derive(Debug, Clone)]
enum Engine {
    Native(Plan),
    #[cfg(feature = "tract")]
    Tract(tract_engine::TractGraph),
}

#[derive(Debug, Clone)]
pub struct Model {
    engine: Engine,
    inputs: Vec<plan::GraphInput>,
    outputs: Vec<String>,
    signature: Signature,
}

impl Model {
    /// Decodes, checks and compiles an ONNX model.
    pub fn load(bytes: &[u8]) -> RuntimeResult<Model> {
        if bytes.is_empty() {
            return Err(invalid_model("the file is empty"));
        }
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(invalid_model(format!(
                "the file has {} bytes; models over {MAX_MODEL_BYTES} bytes are refused",
                bytes.len()
            )));
        }
        let model = onnx::ModelProto::decode(bytes).map_err(|e| {
            invalid_model(format!(
                "cannot decode the protobuf ({e}); is the file an ONNX model, and complete?"
            ))
        })?;
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| invalid_model("the model has no graph"))?;
        let mut opsets = Vec::new();
        for opset in &model.opset_import {
            let domain = if opset.domain.is_empty() {
                "ai.onnx"
            } else {
                opset.domain.as_str()
            };
            let supported = match domain {
                "ai.onnx" => (1..=21).contains(&opset.version),
                "ai.onnx.ml" => (1..=4).contains(&opset.version),
                _ => true, // Checked per node: an unused domain does no harm.
            };
            if !supported {
                return Err(unsupported(format!("opset {} of {domain}", opset.version)));
            }
            if !opsets
                .iter()
                .any(|(d, v)| d == domain && *v == opset.version)
            {
                opsets.push((domain.to_string(), opset.version));
            }
        }
        check_references(graph)?;
        let inputs = plan::graph_inputs(graph)?;
        let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        let engine = match Plan::compile(graph) {
            Ok(plan) => Engine::Native(plan),
            #[cfg(feature = "tract")]
            Err(RuntimeError::Unsupported(why)) => {
                Engine::Tract(tract_engine::TractGraph::load(bytes, &inputs, &why)?)
            }
            Err(e) => return Err(e),
        };
        let classes = match &engine {
            Engine::Native(plan) => plan.labels.as_ref().map(|l| l.names()).unwrap_or_default(),
            #[cfg(feature = "tract")]
            Engine::Tract(_) => Vec::new(),
        };
        let n_features = match inputs.as_slice() {
            [only] => only.shape.get(1).copied().flatten(),
            _ => None,
        };
        let signature = Signature {
            inputs: inputs
                .iter()
                .map(|i| InputSignature {
                    name: i.name.clone(),
                    elem_type: onnx::data_type::name(i.elem_type).to_string(),
                    shape: i.shape.clone(),
                })
                .collect(),
            outputs: outputs.clone(),
            task: if classes.is_empty() {
                "regression"
            } else {
                "classification"
            },
            classes,
            n_features,
            producer: format!("{} {}", model.producer_name, model.producer_version)
                .trim()
                .to_string(),
            opsets,
        };
        Ok(Model {
            engine,
            inputs,
            outputs,
            signature,
        })
    }

    /// What runs the graph: `native` (the compiled plan) or `tract`.
    pub fn engine(&self) -> &'static str {
        match &self.engine {
            Engine::Native(_) => "native",
            #[cfg(feature = "tract")]
            Engine::Tract(_) => "tract",
        }
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Runs the graph on raw input tensors, one per graph input; returns the graph's outputs by name.
    pub fn run(&self, inputs: Vec<Tensor>) -> RuntimeResult<Vec<(String, Value)>> {
        let values = match &self.engine {
            Engine::Native(plan) => plan.run(inputs)?,
            #[cfg(feature = "tract")]
            Engine::Tract(graph) => graph.run(inputs)?,
        };
        Ok(self.outputs.iter().cloned().zip(values).collect())
    }

    /// Predicts a batch given as a row-major `rows × n_features` matrix (NaN for missing values), for models with
    /// one float matrix input (what scikit-learn exports and Steward writes).
    pub fn predict(&self, x: &[f32], rows: usize) -> RuntimeResult<Prediction> {
        self.predict_owned(x.to_vec(), rows)
    }

    /// [`Model::predict`] on a matrix the caller hands over: a float model reads it in place, without the
    /// copy `predict` makes (a batch of 1,000 × 20 is 80 KB).
    pub fn predict_owned(&self, x: Vec<f32>, rows: usize) -> RuntimeResult<Prediction> {
        let [input] = self.inputs.as_slice() else {
            return Err(invalid_input(format!(
                "the model takes {} inputs ({}); give them by name",
                self.inputs.len(),
                self.inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let width = x.len().checked_div(rows).unwrap_or(0);
        if rows * width != x.len() {
            return Err(invalid_input(
                "the matrix does not split into the given rows",
            ));
        }
        if let Some(expected) = self.signature.n_features
            && expected != width
        {
            return Err(invalid_input(format!(
                "the model takes {expected} features (input '{}') but the data has {width} columns",
                input.name
            )));
        }
        let data = match input.elem_type {
            onnx::data_type::DOUBLE => Data::F64(x.iter().map(|&v| f64::from(v)).collect()),
            _ => Data::F32(x),
        };
        self.predict_tensors(
            vec![Tensor {
                shape: vec![rows, width],
                data,
            }],
            rows,
        )
    }

    /// Predicts a batch of `rows` given as one tensor per graph input (in signature order), and reads labels,
    /// probabilities and values off the outputs.
    pub fn predict_tensors(&self, inputs: Vec<Tensor>, rows: usize) -> RuntimeResult<Prediction> {
        let outputs = self.run(inputs)?;
        let mut prediction = Prediction {
            labels: None,
            probabilities: None,
            values: None,
            n_targets: 0,
        };
        for (_, value) in outputs {
            match value {
                Value::ZipMap { values, .. } => prediction.probabilities = Some(values),
                Value::Tensor(t) => match t.data {
                    Data::Str(labels) if prediction.labels.is_none() => {
                        prediction.labels = Some(PredictedLabels::Str(labels))
                    }
                    Data::I64(labels)
                        if prediction.labels.is_none() && !self.signature.classes.is_empty() =>
                    {
                        prediction.labels = Some(PredictedLabels::Int(labels))
                    }
                    Data::F32(v)
                        if !self.signature.classes.is_empty()
                            && prediction.probabilities.is_none()
                            && v.len() == rows * self.signature.classes.len() =>
                    {
                        prediction.probabilities = Some(v);
                    }
                    Data::F32(v) if prediction.values.is_none() => {
                        prediction.n_targets = v.len().checked_div(rows).unwrap_or(0);
                        prediction.values = Some(v);
                    }
                    _ => {}
                },
            }
        }
        Ok(prediction)
    }
}
