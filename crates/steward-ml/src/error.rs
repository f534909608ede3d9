use thiserror::Error;

/// Errors of the learning engine. Messages name the row, column or parameter at fault and say what to do.
#[derive(Debug, Error)]
pub enum MlError {
    /// The input data cannot be used as given (wrong column, non-numeric value, NaN, single class, ...).
    #[error("{0}")]
    InvalidData(String),
    /// A training or evaluation parameter is unknown or out of range.
    #[error("{0}")]
    InvalidParam(String),
    /// Not a `#[source]`: the message already carries the cause, so error chains do not print it twice.
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

pub type MlResult<T> = Result<T, MlError>;

pub fn invalid_data(message: impl Into<String>) -> MlError {
    MlError::InvalidData(message.into())
}

pub fn invalid_param(message: impl Into<String>) -> MlError {
    MlError::InvalidParam(message.into())
}
