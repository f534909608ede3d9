//! Reading a node's attributes and initializer tensors, with errors that name the node and attribute.

use crate::error::{RuntimeResult, invalid_model, unsupported};
use crate::onnx::{AttributeProto, NodeProto, TensorProto, data_type};
use crate::tensor::{Data, Tensor};

pub struct Attributes<'a> {
    node: &'a NodeProto,
}

impl<'a> Attributes<'a> {
    pub fn new(node: &'a NodeProto) -> Self {
        Attributes { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn describe(&self) -> String {
        if self.node.name.is_empty() {
            self.node.op_type.clone()
        } else {
            format!("{} '{}'", self.node.op_type, self.node.name)
        }
    }

    pub fn error(&self, message: impl std::fmt::Display) -> crate::error::RuntimeError {
        invalid_model(format!("{}: {message}", self.describe()))
    }

    pub fn floats(&self, name: &str) -> Vec<f32> {
        self.get(name).map(|a| a.floats.clone()).unwrap_or_default()
    }

    pub fn ints(&self, name: &str) -> Vec<i64> {
        self.get(name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    pub fn strings(&self, name: &str) -> RuntimeResult<Vec<String>> {
        let Some(attribute) = self.get(name) else {
            return Ok(Vec::new());
        };
        attribute
            .strings
            .iter()
            .map(|s| {
                String::from_utf8(s.clone()).map_err(|_| {
                    self.error(format!("attribute {name} holds a string that is not UTF-8"))
                })
            })
            .collect()
    }

    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }

    pub fn string(&self, name: &str, default: &str) -> RuntimeResult<String> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(a) => String::from_utf8(a.s.clone())
                .map_err(|_| self.error(format!("attribute {name} is not UTF-8"))),
        }
    }

    /// A list of numbers given either as `name` (floats) or, in ai.onnx.ml 3, as `name_as_tensor` (a tensor,
    /// usually double).
    pub fn numbers(&self, name: &str) -> RuntimeResult<Vec<f64>> {
        let tensor_name = format!("{name}_as_tensor");
        if let Some(attribute) = self.get(&tensor_name) {
            let proto = attribute
                .t
                .as_ref()
                .ok_or_else(|| self.error(format!("attribute {tensor_name} has no tensor")))?;
            let tensor = tensor_from_proto(proto)?;
            return match tensor.data {
                Data::F64(v) => Ok(v),
                Data::F32(v) => Ok(v.into_iter().map(f64::from).collect()),
                other => Err(self.error(format!(
                    "attribute {tensor_name} is a {} tensor; expected float or double",
                    other.type_name()
                ))),
            };
        }
        Ok(self.floats(name).into_iter().map(f64::from).collect())
    }
}

fn read_le<const N: usize, T>(raw: &[u8], convert: fn([u8; N]) -> T) -> Vec<T> {
    raw.chunks_exact(N)
        .map(|chunk| {
            let mut bytes = [0u8; N];
            bytes.copy_from_slice(chunk);
            convert(bytes)
        })
        .collect()
}

/// An initializer or attribute tensor. The element count must match the dimensions exactly, so a hostile
/// header cannot ask for more memory than the file holds.
pub fn tensor_from_proto(proto: &TensorProto) -> RuntimeResult<Tensor> {
    if !proto.external_data.is_empty() || proto.data_location == 1 {
        return Err(unsupported(format!(
            "tensor '{}' keeps its data in an external file; re-export the model with the data inside",
            proto.name
        )));
    }
    let mut shape = Vec::with_capacity(proto.dims.len());
    for &d in &proto.dims {
        let d = usize::try_from(d).map_err(|_| {
            invalid_model(format!(
                "tensor '{}' has a negative dimension {d}",
                proto.name
            ))
        })?;
        shape.push(d);
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            invalid_model(format!("tensor '{}' has dimensions too large", proto.name))
        })?;
    let raw = &proto.raw_data;
    let data = match proto.data_type {
        data_type::FLOAT if !raw.is_empty() => Data::F32(read_le(raw, f32::from_le_bytes)),
        data_type::FLOAT => Data::F32(proto.float_data.clone()),
        data_type::DOUBLE if !raw.is_empty() => Data::F64(read_le(raw, f64::from_le_bytes)),
        data_type::DOUBLE => Data::F64(proto.double_data.clone()),
        data_type::INT64 if !raw.is_empty() => Data::I64(read_le(raw, i64::from_le_bytes)),
        data_type::INT64 => Data::I64(proto.int64_data.clone()),
        data_type::INT32 if !raw.is_empty() => Data::I64(
            read_le(raw, i32::from_le_bytes)
                .into_iter()
                .map(i64::from)
                .collect(),
        ),
        data_type::INT32 => Data::I64(proto.int32_data.iter().map(|&v| i64::from(v)).collect()),
        data_type::STRING => Data::Str(
            proto
                .string_data
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        other => {
            return Err(unsupported(format!(
                "tensor '{}' has element type {}",
                proto.name,
                data_type::name(other)
            )));
        }
    };
    if data.len() != count {
        return Err(invalid_model(format!(
            "tensor '{}' has dimensions {shape:?} ({count} values) but holds {}",
            proto.name,
            data.len()
        )));
    }
    Tensor::new(shape, data)
}
