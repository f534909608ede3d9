//! Row-wise preprocessing operators of `ai.onnx.ml`: Scaler, Imputer, Normalizer, Binarizer.

use crate::attrs::Attributes;
use crate::error::{RuntimeResult, invalid_input};
use crate::onnx::NodeProto;

/// A per-column parameter given once (broadcast to every column) or once per column.
fn per_column(values: &[f32], column: usize) -> f32 {
    if values.len() == 1 {
        values[0]
    } else {
        values[column]
    }
}

fn check_width(op: &str, values: &[f32], width: usize) -> RuntimeResult<()> {
    if values.len() > 1 && values.len() != width {
        return Err(invalid_input(format!(
            "{op} has {} per-column values but the input has {width} columns",
            values.len()
        )));
    }
    Ok(())
}

/// `y = (x - offset) * scale`, per column.
#[derive(Debug, Clone)]
pub struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Scaler {
    pub fn compile(node: &NodeProto) -> RuntimeResult<Scaler> {
        let attrs = Attributes::new(node);
        let mut offset = attrs.floats("offset");
        let mut scale = attrs.floats("scale");
        if offset.is_empty() {
            offset = vec![0.0];
        }
        if scale.is_empty() {
            scale = vec![1.0];
        }
        Ok(Scaler { offset, scale })
    }

    pub fn run(&self, x: &mut [f32], width: usize) -> RuntimeResult<()> {
        check_width("Scaler", &self.offset, width)?;
        check_width("Scaler", &self.scale, width)?;
        for row in x.chunks_exact_mut(width.max(1)) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - per_column(&self.offset, j)) * per_column(&self.scale, j);
            }
        }
        Ok(())
    }
}

/// Replaces missing values (NaN, or `replaced_value_float`) by a per-column value.
#[derive(Debug, Clone)]
pub struct Imputer {
    values: Vec<f32>,
    replaced: f32,
}

impl Imputer {
    pub fn compile(node: &NodeProto) -> RuntimeResult<Imputer> {
        let attrs = Attributes::new(node);
        let values = attrs.floats("imputed_value_floats");
        if values.is_empty() {
            return Err(
                attrs.error("has no imputed_value_floats (integer imputation is not supported)")
            );
        }
        Ok(Imputer {
            values,
            replaced: attrs.float("replaced_value_float", 0.0),
        })
    }

    pub fn run(&self, x: &mut [f32], width: usize) -> RuntimeResult<()> {
        check_width("Imputer", &self.values, width)?;
        let nan = self.replaced.is_nan();
        for row in x.chunks_exact_mut(width.max(1)) {
            for (j, v) in row.iter_mut().enumerate() {
                if (nan && v.is_nan()) || (!nan && *v == self.replaced) {
                    *v = per_column(&self.values, j);
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Norm {
    Max,
    L1,
    L2,
}

#[derive(Debug, Clone)]
pub struct Normalizer {
    norm: Norm,
}

impl Normalizer {
    pub fn compile(node: &NodeProto) -> RuntimeResult<Normalizer> {
        let attrs = Attributes::new(node);
        let norm = match attrs.string("norm", "MAX")?.as_str() {
            "MAX" => Norm::Max,
            "L1" => Norm::L1,
            "L2" => Norm::L2,
            other => return Err(attrs.error(format!("unknown norm '{other}'"))),
        };
        Ok(Normalizer { norm })
    }

    pub fn run(&self, x: &mut [f32], width: usize) {
        for row in x.chunks_exact_mut(width.max(1)) {
            let total: f64 = match self.norm {
                Norm::Max => row
                    .iter()
                    .map(|&v| f64::from(v))
                    .fold(f64::NEG_INFINITY, f64::max),
                Norm::L1 => row.iter().map(|&v| f64::from(v).abs()).sum(),
                Norm::L2 => row
                    .iter()
                    .map(|&v| f64::from(v).powi(2))
                    .sum::<f64>()
                    .sqrt(),
            };
            if total != 0.0 {
                for v in row.iter_mut() {
                    *v = (f64::from(*v) / total) as f32;
                }
            }
        }
    }
}

/// `1` where `x > threshold`, else `0`.
#[derive(Debug, Clone)]
pub struct Binarizer {
    threshold: f32,
}

impl Binarizer {
    pub fn compile(node: &NodeProto) -> RuntimeResult<Binarizer> {
        Ok(Binarizer {
            threshold: Attributes::new(node).float("threshold", 0.0),
        })
    }

    pub fn run(&self, x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = if *v > self.threshold { 1.0 } else { 0.0 };
        }
    }
}
