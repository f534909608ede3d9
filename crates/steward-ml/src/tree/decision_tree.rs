//! A single decision tree: Gini for classification (leaves hold class probability distributions), squared error
//! for regression (leaves hold weighted means). Rows with weight 0 take no part in the fit, as in scikit-learn.

use serde::{Deserialize, Serialize};

use super::binning::BinMapper;
use super::grow::{ClassCriterion, GradientCriterion, GrowConfig, grow};
use super::model::Tree;
use super::params::DecisionTreeParams;
use super::{
    TreeClassifier, TreeRegressor, check_class_labels, check_fit_input, check_predict_input,
    check_regression_targets, normalised, predict_rows,
};
use crate::error::MlResult;
use crate::matrix::{Matrix, Probabilities};
use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionTreeClassifier {
    tree: Tree,
    n_classes: usize,
    n_features: usize,
    importances: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionTreeRegressor {
    tree: Tree,
    n_features: usize,
    importances: Vec<f64>,
}

/// The tree shape settings shared by single trees and forests.
pub(crate) fn tree_config(
    max_depth: Option<usize>,
    min_samples_split: usize,
    min_samples_leaf: usize,
    max_features: usize,
) -> GrowConfig {
    GrowConfig {
        max_depth,
        min_samples_split,
        min_samples_leaf,
        max_features,
        max_leaves: None,
        min_gain: f64::NEG_INFINITY,
        parallel: false,
    }
}

/// Rows that take part in a fit: those with positive weight.
pub(crate) fn weighted_rows(weights: &[f64]) -> Vec<u32> {
    (0..weights.len() as u32)
        .filter(|&r| weights[r as usize] > 0.0)
        .collect()
}

impl DecisionTreeClassifier {
    /// Fits on class indices `y` in `0..n_classes`; `seed` drives binning subsamples and feature sampling.
    pub fn fit(
        x: &Matrix,
        y: &[usize],
        n_classes: usize,
        sample_weight: Option<&[f64]>,
        params: &DecisionTreeParams,
        seed: u64,
    ) -> MlResult<Self> {
        params.validate()?;
        check_fit_input(x, y.len(), sample_weight)?;
        let classes = check_class_labels(y, n_classes)?;
        let max_features = params.max_features.resolve("max_features", x.n_cols())?;
        let rng = Rng::new(seed);
        let mapper = BinMapper::fit(x, None, params.max_bins, rng.fork(0).next_u64());
        let binned = mapper.transform(x, None);
        let weights = sample_weight.map_or_else(|| vec![1.0; x.n_rows()], <[f64]>::to_vec);
        let criterion = ClassCriterion {
            classes: &classes,
            weights: &weights,
            n_classes,
        };
        let config = tree_config(
            params.max_depth,
            params.min_samples_split,
            params.min_samples_leaf,
            max_features,
        );
        let grown = grow(
            &binned,
            &mapper,
            &criterion,
            weighted_rows(&weights),
            &config,
            &mut rng.fork(1),
        );
        Ok(DecisionTreeClassifier {
            tree: grown.tree,
            n_classes,
            n_features: x.n_cols(),
            importances: normalised(&grown.importances),
        })
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }
}

impl TreeClassifier for DecisionTreeClassifier {
    fn n_classes(&self) -> usize {
        self.n_classes
    }

    fn predict_proba(&self, x: &Matrix) -> MlResult<Probabilities> {
        check_predict_input(x, self.n_features)?;
        Ok(predict_rows(x, self.n_classes, |row, out| {
            out.copy_from_slice(self.tree.predict_row(row));
        }))
    }

    fn feature_importances(&self) -> Vec<f64> {
        self.importances.clone()
    }
}

impl DecisionTreeRegressor {
    pub fn fit(
        x: &Matrix,
        y: &[f64],
        sample_weight: Option<&[f64]>,
        params: &DecisionTreeParams,
        seed: u64,
    ) -> MlResult<Self> {
        params.validate()?;
        check_fit_input(x, y.len(), sample_weight)?;
        check_regression_targets(y)?;
        let max_features = params.max_features.resolve("max_features", x.n_cols())?;
        let rng = Rng::new(seed);
        let mapper = BinMapper::fit(x, None, params.max_bins, rng.fork(0).next_u64());
        let binned = mapper.transform(x, None);
        let weights = sample_weight.map_or_else(|| vec![1.0; x.n_rows()], <[f64]>::to_vec);
        let gradients: Vec<f64> = y.iter().zip(&weights).map(|(y, w)| -y * w).collect();
        let criterion = squared_error_criterion(&gradients, &weights, y);
        let config = tree_config(
            params.max_depth,
            params.min_samples_split,
            params.min_samples_leaf,
            max_features,
        );
        let grown = grow(
            &binned,
            &mapper,
            &criterion,
            weighted_rows(&weights),
            &config,
            &mut rng.fork(1),
        );
        Ok(DecisionTreeRegressor {
            tree: grown.tree,
            n_features: x.n_cols(),
            importances: normalised(&grown.importances),
        })
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }
}

/// Weighted squared error as a gradient criterion: gradient `-w*y`, hessian `w`, so the leaf value `-G/H` is
/// the weighted mean and the gain is the weighted variance decrease.
pub(crate) fn squared_error_criterion<'a>(
    gradients: &'a [f64],
    weights: &'a [f64],
    targets: &'a [f64],
) -> GradientCriterion<'a> {
    GradientCriterion {
        gradients,
        hessians: weights,
        l2: 0.0,
        min_hessian: f64::MIN_POSITIVE,
        targets: Some(targets),
    }
}

impl TreeRegressor for DecisionTreeRegressor {
    fn predict(&self, x: &Matrix) -> MlResult<Vec<f64>> {
        check_predict_input(x, self.n_features)?;
        Ok(x.rows().map(|row| self.tree.predict_row(row)[0]).collect())
    }

    fn feature_importances(&self) -> Vec<f64> {
        self.importances.clone()
    }
}
