//! Evaluation metrics, equal to scikit-learn's on the same inputs.
