use thiserror::Error;

/// Errors of the runtime. Messages name the operator, attribute, input or column at fault and say what to do.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// The file is not a valid ONNX model (truncated, malformed, inconsistent attributes).
    #[error("invalid ONNX model: {0}")]
    InvalidModel(String),
    /// The model is valid ONNX but uses something Steward cannot run.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The data given to predict does not fit the model's inputs.
    #[error("{0}")]
    InvalidInput(String),
}

pub type RuntimeResult<T> = Result<T, RuntimeError>;

pub fn invalid_model(message: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidModel(message.into())
}

pub fn unsupported(message: impl Into<String>) -> RuntimeError {
    RuntimeError::Unsupported(message.into())
}

pub fn invalid_input(message: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidInput(message.into())
}
