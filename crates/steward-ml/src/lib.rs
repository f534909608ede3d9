//! Steward's learning engine. It knows numbers, not storage or HTTP: tabular datasets, data-quality checks,
//! reproducible splits, preprocessing, training algorithms and evaluation metrics. Pure functions over column
//! data; deterministic for a given seed.

pub mod dataset;
pub mod error;
pub mod estimator;
pub mod linear;
mod math;
pub mod matrix;
pub mod metrics;
pub mod preprocess;
pub mod quality;
pub mod rng;
pub mod split;
pub mod train;
pub mod tree;

pub use error::{MlError, MlResult};
pub use matrix::{Matrix, Probabilities};
