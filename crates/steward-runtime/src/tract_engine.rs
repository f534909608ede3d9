//! Graphs outside the native plan's operators run on tract (`tract-onnx`): PyTorch exports with batch
//! normalisation, GELU, ELU and the like, convolutions, and whatever else tract supports. The graph is optimised
//! once at load for a symbolic batch size; a run converts Steward's tensors to tract's and back.

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::error::{RuntimeResult, invalid_input, unsupported};
use crate::onnx::data_type;
use crate::plan::GraphInput;
use crate::tensor::{Data, Tensor as StewardTensor, Value};

type Runnable = TypedRunnableModel;

#[derive(Clone)]
pub struct TractGraph {
    plan: Arc<Runnable>,
}

impl std::fmt::Debug for TractGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TractGraph")
    }
}

impl TractGraph {
    /// Loads and optimises the graph; `why_not_native` says why the native plan refused it, for the error when
    /// tract cannot run it either.
    pub fn load(
        bytes: &[u8],
        inputs: &[GraphInput],
        why_not_native: &str,
    ) -> RuntimeResult<TractGraph> {
        // tract is not ours to harden: a hostile graph that makes it panic is refused like any other.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::load_unguarded(bytes, inputs, why_not_native)
        }))
        .unwrap_or_else(|_| {
            Err(unsupported(format!(
                "{why_not_native}; tract failed on the graph"
            )))
        })
    }

    fn load_unguarded(
        bytes: &[u8],
        inputs: &[GraphInput],
        why_not_native: &str,
    ) -> RuntimeResult<TractGraph> {
        let refused = |e: TractError| {
            unsupported(format!(
                "{why_not_native}; tract cannot run the graph either: {}",
                first_line(&format!("{e:#}"))
            ))
        };
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(refused)?;
        // A dimension the file leaves unnamed becomes the batch symbol, so one optimised plan serves any batch.
        for (i, input) in inputs.iter().enumerate() {
            let datum = match input.elem_type {
                data_type::FLOAT => f32::datum_type(),
                data_type::DOUBLE => f64::datum_type(),
                data_type::INT64 => i64::datum_type(),
                other => {
                    return Err(unsupported(format!(
                        "input '{}' of type {} (tract graphs take float, double or int64 inputs)",
                        input.name,
                        data_type::name(other)
                    )));
                }
            };
            let batch = model.symbols.sym("N");
            let shape: TVec<TDim> = input
                .shape
                .iter()
                .map(|d| match d {
                    Some(n) => TDim::from(*n as i64),
                    None => TDim::Sym(batch.clone()),
                })
                .collect();
            model
                .set_input_fact(i, InferenceFact::dt_shape(datum, shape))
                .map_err(refused)?;
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(refused)?;
        Ok(TractGraph { plan })
    }

    /// Runs the graph on one tensor per input; returns its outputs in graph order.
    pub fn run(&self, inputs: Vec<StewardTensor>) -> RuntimeResult<Vec<Value>> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_unguarded(inputs)))
            .unwrap_or_else(|_| Err(invalid_input("tract failed on this input")))
    }

    fn run_unguarded(&self, inputs: Vec<StewardTensor>) -> RuntimeResult<Vec<Value>> {
        let mut feed: TVec<TValue> = TVec::new();
        for input in inputs {
            let tensor = match input.data {
                Data::F32(v) => {
                    tract_ndarray::ArrayD::from_shape_vec(input.shape, v).map(Tensor::from)
                }
                Data::F64(v) => {
                    tract_ndarray::ArrayD::from_shape_vec(input.shape, v).map(Tensor::from)
                }
                Data::I64(v) => {
                    tract_ndarray::ArrayD::from_shape_vec(input.shape, v).map(Tensor::from)
                }
                Data::Str(_) => return Err(invalid_input("tract graphs take no string inputs")),
            }
            .map_err(|e| invalid_input(format!("the input does not fit its shape: {e}")))?;
            feed.push(tensor.into_tvalue());
        }
        let outputs = self
            .plan
            .run(feed)
            .map_err(|e| invalid_input(format!("tract: {}", first_line(&format!("{e:#}")))))?;
        outputs
            .into_iter()
            .map(|t| {
                let shape = t.shape().to_vec();
                let data = if let Ok(view) = t.to_plain_array_view::<f32>() {
                    Data::F32(view.iter().copied().collect())
                } else if let Ok(view) = t.to_plain_array_view::<f64>() {
                    Data::F32(view.iter().map(|&v| v as f32).collect())
                } else if let Ok(view) = t.to_plain_array_view::<i64>() {
                    Data::I64(view.iter().copied().collect())
                } else {
                    return Err(unsupported(format!(
                        "a tract output of type {:?}",
                        t.datum_type()
                    )));
                };
                Ok(Value::Tensor(StewardTensor { shape, data }))
            })
            .collect()
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
