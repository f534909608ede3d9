//! Random forests: bagged decision trees with random feature subsets per node, grown in parallel with rayon.
//!
//! The data is binned once and shared by every tree. A bootstrap sample is represented as per-row counts (a row
//! drawn twice weighs twice), as scikit-learn does, so no tree copies the data. Tree `i` draws its bootstrap
//! and feature subsets from `Rng::new(seed).fork(i)` and trees are collected in index order, so the forest is
//! identical however rayon schedules the work. Classification leaves hold class probability distributions and
//! the forest averages them (scikit-learn's `predict_proba`); regression leaves hold weighted means.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::binning::BinMapper;
use super::decision_tree::{squared_error_criterion, tree_config, weighted_rows};
use super::grow::{ClassCriterion, grow};
use super::model::Tree;
use super::params::{ClassWeight, MaxFeatures, RandomForestParams};
use super::{
    TreeClassifier, TreeRegressor, TreeSum, check_class_labels, check_fit_input,
    check_predict_input, check_regression_targets, normalised, predict_trees,
};
use crate::error::{MlResult, invalid_param};
use crate::matrix::{Matrix, Probabilities};
use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForestClassifier {
    trees: Vec<Tree>,
    n_classes: usize,
    n_features: usize,
    importances: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForestRegressor {
    trees: Vec<Tree>,
    n_features: usize,
    importances: Vec<f64>,
}

/// How often each row appears in tree `rng`'s sample: a bootstrap of `n` draws, or every row once.
fn sample_counts(n_rows: usize, bootstrap: bool, rng: &mut Rng) -> Vec<u32> {
    if !bootstrap {
        return vec![1; n_rows];
    }
    let mut counts = vec![0u32; n_rows];
    for _ in 0..n_rows {
        counts[rng.below(n_rows)] += 1;
    }
    counts
}

/// scikit-learn's "balanced" weights, `n / (n_classes * count(class))`, from per-row counts.
fn balanced_class_weights(classes: &[u32], counts: &[u32], n_classes: usize) -> Vec<f64> {
    let mut per_class = vec![0.0f64; n_classes];
    for (&class, &count) in classes.iter().zip(counts) {
        per_class[class as usize] += f64::from(count);
    }
    let total: f64 = per_class.iter().sum();
    per_class
        .iter()
        .map(|&c| {
            if c > 0.0 {
                total / (n_classes as f64 * c)
            } else {
                0.0
            }
        })
        .collect()
}

/// Averages per-tree normalised importances and normalises the mean, as scikit-learn's forests do.
fn forest_importances(per_tree: &[Vec<f64>], n_features: usize) -> Vec<f64> {
    let mut sum = vec![0.0; n_features];
    for tree in per_tree {
        for (s, v) in sum.iter_mut().zip(normalised(tree)) {
            *s += v;
        }
    }
    normalised(&sum)
}

/// The binning subsample's seed, from a stream no tree uses (trees fork small indices).
fn binning_seed(root: &Rng) -> u64 {
    root.fork(u64::MAX).next_u64()
}

/// Calls `progress(done, total)` as trees finish, from whichever thread finished one.
struct ProgressCounter<'a> {
    done: AtomicUsize,
    total: usize,
    progress: &'a (dyn Fn(usize, usize) + Sync),
}

impl ProgressCounter<'_> {
    fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        (self.progress)(done, self.total);
    }
}

impl RandomForestClassifier {
    /// Fits `params.n_estimators` trees on class indices `y` in `0..n_classes`. `progress(done, total)` is
    /// called as trees finish.
    pub fn fit(
        x: &Matrix,
        y: &[usize],
        n_classes: usize,
        sample_weight: Option<&[f64]>,
        params: &RandomForestParams,
        seed: u64,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> MlResult<Self> {
        params.validate()?;
        check_fit_input(x, y.len(), sample_weight)?;
        let classes = check_class_labels(y, n_classes)?;
        let max_features = params
            .max_features
            .unwrap_or(MaxFeatures::Sqrt)
            .resolve("max_features", x.n_cols())?;
        let fixed_class_weights = match &params.class_weight {
            ClassWeight::Uniform | ClassWeight::BalancedSubsample => None,
            ClassWeight::Balanced => Some(balanced_class_weights(
                &classes,
                &vec![1; classes.len()],
                n_classes,
            )),
            ClassWeight::Explicit(weights) if weights.len() != n_classes => {
                return Err(invalid_param(format!(
                    "class_weight gives {} weights for {n_classes} classes; give one per class in label order",
                    weights.len()
                )));
            }
            ClassWeight::Explicit(weights) => Some(weights.clone()),
        };
        let root = Rng::new(seed);
        let mapper = BinMapper::fit(x, None, params.max_bins, binning_seed(&root));
        let binned = mapper.transform(x, None);
        let config = tree_config(
            params.max_depth,
            params.min_samples_split,
            params.min_samples_leaf,
            max_features,
        );
        let counter = ProgressCounter {
            done: AtomicUsize::new(0),
            total: params.n_estimators,
            progress,
        };
        let grown: Vec<(Tree, Vec<f64>)> = (0..params.n_estimators)
            .into_par_iter()
            .map(|index| {
                let mut rng = root.fork(index as u64);
                let counts = sample_counts(x.n_rows(), params.bootstrap, &mut rng);
                let subsample_weights;
                let class_weights = match (&fixed_class_weights, &params.class_weight) {
                    (Some(w), _) => Some(w),
                    (None, ClassWeight::BalancedSubsample) => {
                        subsample_weights = balanced_class_weights(&classes, &counts, n_classes);
                        Some(&subsample_weights)
                    }
                    _ => None,
                };
                let weights: Vec<f64> = (0..x.n_rows())
                    .map(|r| {
                        f64::from(counts[r])
                            * sample_weight.map_or(1.0, |w| w[r])
                            * class_weights.map_or(1.0, |w| w[classes[r] as usize])
                    })
                    .collect();
                let criterion = ClassCriterion {
                    classes: &classes,
                    weights: &weights,
                    n_classes,
                };
                let tree = grow(
                    &binned,
                    &mapper,
                    &criterion,
                    weighted_rows(&weights),
                    &config,
                    &mut rng,
                );
                counter.tick();
                (tree.tree, tree.importances)
            })
            .collect();
        let (trees, importances): (Vec<Tree>, Vec<Vec<f64>>) = grown.into_iter().unzip();
        Ok(RandomForestClassifier {
            trees,
            n_classes,
            n_features: x.n_cols(),
            importances: forest_importances(&importances, x.n_cols()),
        })
    }

    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }
}

impl TreeClassifier for RandomForestClassifier {
    fn n_classes(&self) -> usize {
        self.n_classes
    }

    fn predict_proba(&self, x: &Matrix) -> MlResult<Probabilities> {
        check_predict_input(x, self.n_features)?;
        let scale = 1.0 / self.trees.len() as f64;
        let sum = TreeSum::zeros(self.n_classes);
        Ok(predict_trees(
            x,
            &self.trees,
            &sum,
            self.n_classes,
            |sums, out| {
                for (o, s) in out.iter_mut().zip(sums) {
                    *o = s * scale;
                }
            },
        ))
    }

    fn feature_importances(&self) -> Vec<f64> {
        self.importances.clone()
    }
}

impl RandomForestRegressor {
    /// Fits `params.n_estimators` regression trees (squared error); `class_weight` does not apply.
    pub fn fit(
        x: &Matrix,
        y: &[f64],
        sample_weight: Option<&[f64]>,
        params: &RandomForestParams,
        seed: u64,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> MlResult<Self> {
        params.validate()?;
        check_fit_input(x, y.len(), sample_weight)?;
        check_regression_targets(y)?;
        let max_features = params
            .max_features
            .unwrap_or(MaxFeatures::All)
            .resolve("max_features", x.n_cols())?;
        let root = Rng::new(seed);
        let mapper = BinMapper::fit(x, None, params.max_bins, binning_seed(&root));
        let binned = mapper.transform(x, None);
        let config = tree_config(
            params.max_depth,
            params.min_samples_split,
            params.min_samples_leaf,
            max_features,
        );
        let counter = ProgressCounter {
            done: AtomicUsize::new(0),
            total: params.n_estimators,
            progress,
        };
        let grown: Vec<(Tree, Vec<f64>)> = (0..params.n_estimators)
            .into_par_iter()
            .map(|index| {
                let mut rng = root.fork(index as u64);
                let counts = sample_counts(x.n_rows(), params.bootstrap, &mut rng);
                let weights: Vec<f64> = (0..x.n_rows())
                    .map(|r| f64::from(counts[r]) * sample_weight.map_or(1.0, |w| w[r]))
                    .collect();
                let gradients: Vec<f64> = y.iter().zip(&weights).map(|(y, w)| -y * w).collect();
                let criterion = squared_error_criterion(&gradients, &weights, y);
                let tree = grow(
                    &binned,
                    &mapper,
                    &criterion,
                    weighted_rows(&weights),
                    &config,
                    &mut rng,
                );
                counter.tick();
                (tree.tree, tree.importances)
            })
            .collect();
        let (trees, importances): (Vec<Tree>, Vec<Vec<f64>>) = grown.into_iter().unzip();
        Ok(RandomForestRegressor {
            trees,
            n_features: x.n_cols(),
            importances: forest_importances(&importances, x.n_cols()),
        })
    }

    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }
}

impl TreeRegressor for RandomForestRegressor {
    fn predict(&self, x: &Matrix) -> MlResult<Vec<f64>> {
        check_predict_input(x, self.n_features)?;
        let scale = 1.0 / self.trees.len() as f64;
        let sum = TreeSum::zeros(1);
        let predictions = predict_trees(x, &self.trees, &sum, 1, |sums, out| {
            out[0] = sums[0] * scale;
        });
        Ok(predictions.as_slice().to_vec())
    }

    fn feature_importances(&self) -> Vec<f64> {
        self.importances.clone()
    }
}
