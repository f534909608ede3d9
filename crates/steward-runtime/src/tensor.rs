//! Values flowing through a plan: dense tensors of one element type, and ZipMap's sequence of maps.

use crate::error::{RuntimeResult, invalid_model};

#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    Str(Vec<String>),
}

impl Data {
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Data::F32(_) => "float",
            Data::F64(_) => "double",
            Data::I64(_) => "int64",
            Data::Str(_) => "string",
        }
    }
}

/// A dense row-major tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Data) -> RuntimeResult<Tensor> {
        let count: usize = shape.iter().product();
        if count != data.len() {
            return Err(invalid_model(format!(
                "a tensor of shape {shape:?} needs {count} values but has {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        Tensor {
            shape,
            data: Data::F32(values),
        }
    }

    /// Rows (the first dimension) and values per row (the product of the others), for 2-D views of batches.
    pub fn rows_and_width(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [] => (1, 1),
            [n] => (*n, 1),
            [n, rest @ ..] => (*n, rest.iter().product()),
        }
    }

    /// The values as `f32`, converting `f64` and `i64` (the implicit casts ONNX-ML operators allow).
    /// The values as float32: borrowed when they already are, converted otherwise.
    pub fn f32_values(&self) -> Option<std::borrow::Cow<'_, [f32]>> {
        match &self.data {
            Data::F32(v) => Some(std::borrow::Cow::Borrowed(v)),
            _ => self.to_f32().map(std::borrow::Cow::Owned),
        }
    }

    pub fn to_f32(&self) -> Option<Vec<f32>> {
        match &self.data {
            Data::F32(v) => Some(v.clone()),
            Data::F64(v) => Some(v.iter().map(|&x| x as f32).collect()),
            Data::I64(v) => Some(v.iter().map(|&x| x as f32).collect()),
            Data::Str(_) => None,
        }
    }
}

/// What a plan's slots hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Tensor(Tensor),
    /// ZipMap's output: one map per row from class label to probability, in the order of `keys`.
    ZipMap {
        keys: Vec<String>,
        rows: usize,
        values: Vec<f32>,
    },
}

impl Value {
    pub fn tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            Value::ZipMap { .. } => None,
        }
    }
}
