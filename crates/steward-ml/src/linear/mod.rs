//! Linear models: least squares, ridge, and L2-regularised logistic regression.
