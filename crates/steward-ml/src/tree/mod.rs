//! Decision trees, random forests and gradient-boosted trees with histogram-based split finding.
//!
//! Every learner bins each feature once (at most 255 quantile bins, thresholds exactly representable as `f32`),
//! grows trees on the binned columns with per-node histograms and histogram subtraction ([`grow`]), and keeps
//! the fitted trees as flat node arrays ([`Tree`]) that predict on raw `f64` rows with `x <= threshold` going
//! left — the layout of ONNX's tree ensembles. Fitting is deterministic for a seed, also under rayon
//! parallelism: each tree draws from `Rng::fork(tree_index)` and results are collected in tree order.

mod binning;
mod boosting;
mod decision_tree;
mod forest;
mod grow;
mod model;
pub(crate) mod params;
mod quantized;

use rayon::prelude::*;

pub use boosting::{GradientBoostingClassifier, GradientBoostingRegressor};
pub use decision_tree::{DecisionTreeClassifier, DecisionTreeRegressor};
pub use forest::{RandomForestClassifier, RandomForestRegressor};
pub use model::{LEAF, NodeView, Tree};
pub use params::{
    ClassWeight, DecisionTreeParams, EarlyStopping, GradientBoostingParams, MaxFeatures,
    RandomForestParams,
};

use crate::error::{MlResult, invalid_data, invalid_param};
use crate::math::argmax;
use crate::matrix::{Matrix, Probabilities};
use crate::rng::Rng;

/// A fitted classifier: class probabilities, one column per class in label order.
pub trait TreeClassifier {
    fn n_classes(&self) -> usize;
    /// Errors when `x` has a different number of columns than the training data.
    fn predict_proba(&self, x: &Matrix) -> MlResult<Probabilities>;
    /// Impurity-based importances, one per feature, summing to 1 (all zero when no tree has a split).
    fn feature_importances(&self) -> Vec<f64>;

    /// The most probable class of each row (the lowest index on ties).
    fn predict(&self, x: &Matrix) -> MlResult<Vec<usize>> {
        let probabilities = self.predict_proba(x)?;
        Ok(probabilities.rows().map(argmax).collect())
    }
}

/// A fitted regressor.
pub trait TreeRegressor {
    /// Errors when `x` has a different number of columns than the training data.
    fn predict(&self, x: &Matrix) -> MlResult<Vec<f64>>;
    /// Impurity-based importances, one per feature, summing to 1 (all zero when no tree has a split).
    fn feature_importances(&self) -> Vec<f64>;
}

/// A progress callback that ignores its calls.
pub fn no_progress(_done: usize, _total: usize) {}

/// Permutation importance: for each column, the drop of `predict_score` (higher is better, e.g. accuracy or R²)
/// when that column's values are shuffled, as `(mean, standard deviation)` over `n_repeats` shuffles. Columns
/// are evaluated in parallel; shuffle `r` of column `j` draws from `Rng::new(seed).fork(j * n_repeats + r)`, so
/// the result is deterministic.
pub fn permutation_importance(
    predict_score: &(dyn Fn(&Matrix) -> f64 + Sync),
    x: &Matrix,
    n_repeats: usize,
    seed: u64,
) -> MlResult<Vec<(f64, f64)>> {
    if n_repeats == 0 {
        return Err(invalid_param(
            "permutation importance needs n_repeats >= 1 (5 is usual)",
        ));
    }
    if x.n_rows() < 2 || x.n_cols() == 0 {
        return Err(invalid_data(
            "permutation importance needs at least 2 rows and 1 column",
        ));
    }
    let baseline = predict_score(x);
    let root = Rng::new(seed);
    let result = (0..x.n_cols())
        .into_par_iter()
        .map(|column| {
            let mut shuffled = x.clone();
            let original = x.column(column);
            let drops: Vec<f64> = (0..n_repeats)
                .map(|repeat| {
                    let mut values = original.clone();
                    root.fork((column * n_repeats + repeat) as u64)
                        .shuffle(&mut values);
                    for (row, value) in values.into_iter().enumerate() {
                        shuffled.set(row, column, value);
                    }
                    baseline - predict_score(&shuffled)
                })
                .collect();
            mean_and_std(&drops)
        })
        .collect();
    Ok(result)
}

fn mean_and_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, variance.sqrt())
}

/// Scales to sum 1; leaves all-zero input as it is.
pub(crate) fn normalised(values: &[f64]) -> Vec<f64> {
    let total: f64 = values.iter().sum();
    if total > 0.0 {
        values.iter().map(|v| v / total).collect()
    } else {
        vec![0.0; values.len()]
    }
}

/// Checks the feature matrix and optional sample weights shared by every fit.
pub(crate) fn check_fit_input(
    x: &Matrix,
    n_targets: usize,
    sample_weight: Option<&[f64]>,
) -> MlResult<()> {
    if x.n_rows() == 0 || x.n_cols() == 0 {
        return Err(invalid_data(format!(
            "cannot fit a tree on {} rows x {} columns; the training data needs at least one row and one feature",
            x.n_rows(),
            x.n_cols()
        )));
    }
    if n_targets != x.n_rows() {
        return Err(invalid_data(format!(
            "{} target values for {} rows; give one target per row",
            n_targets,
            x.n_rows()
        )));
    }
    if let Some(position) = x.as_slice().iter().position(|v| !v.is_finite()) {
        return Err(invalid_data(format!(
            "feature value at row {}, column {} is {}; impute or drop missing and infinite values first",
            position / x.n_cols(),
            position % x.n_cols(),
            x.as_slice()[position]
        )));
    }
    if let Some(weights) = sample_weight {
        if weights.len() != x.n_rows() {
            return Err(invalid_data(format!(
                "{} sample weights for {} rows; give one weight per row",
                weights.len(),
                x.n_rows()
            )));
        }
        if let Some(row) = weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
            return Err(invalid_data(format!(
                "sample weight of row {row} is {}; weights must be finite and >= 0",
                weights[row]
            )));
        }
        if !weights.iter().any(|&w| w > 0.0) {
            return Err(invalid_data(
                "every sample weight is 0; at least one row must have a positive weight",
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_class_labels(labels: &[usize], n_classes: usize) -> MlResult<Vec<u32>> {
    if n_classes == 0 {
        return Err(invalid_param(
            "n_classes is 0; a classifier needs at least one class",
        ));
    }
    if let Some(row) = labels.iter().position(|&c| c >= n_classes) {
        return Err(invalid_data(format!(
            "class index {} at row {row} is out of range for {n_classes} classes; encode labels as 0..{n_classes}",
            labels[row]
        )));
    }
    Ok(labels.iter().map(|&c| c as u32).collect())
}

pub(crate) fn check_regression_targets(targets: &[f64]) -> MlResult<()> {
    match targets.iter().position(|v| !v.is_finite()) {
        Some(row) => Err(invalid_data(format!(
            "regression target at row {row} is {}; drop or impute rows without a finite target",
            targets[row]
        ))),
        None => Ok(()),
    }
}

pub(crate) fn check_predict_input(x: &Matrix, n_features: usize) -> MlResult<()> {
    if x.n_cols() != n_features {
        return Err(invalid_data(format!(
            "the model was trained on {n_features} features but the data has {}; give the same columns, in order",
            x.n_cols()
        )));
    }
    Ok(())
}

/// Rows per parallel prediction task; smaller batches run on the calling thread.
const PREDICT_CHUNK_ROWS: usize = 512;

/// An `n_rows x n_outputs` matrix filled block by block (`PREDICT_CHUNK_ROWS` rows) with `fill(first_row,
/// block)`, the blocks in parallel when there are several.
fn fill_blocks(n_rows: usize, n_outputs: usize, fill: impl Fn(usize, &mut [f64]) + Sync) -> Matrix {
    let mut out = vec![0.0; n_rows * n_outputs];
    if n_outputs == 0 || n_rows == 0 {
        return Matrix::new(n_rows, n_outputs, out);
    }
    let chunk = PREDICT_CHUNK_ROWS * n_outputs;
    let fill = |(index, block): (usize, &mut [f64])| fill(index * PREDICT_CHUNK_ROWS, block);
    if n_rows > PREDICT_CHUNK_ROWS {
        out.par_chunks_mut(chunk).enumerate().for_each(fill);
    } else {
        out.chunks_mut(chunk).enumerate().for_each(fill);
    }
    Matrix::new(n_rows, n_outputs, out)
}

/// Fills an `x.n_rows() x n_outputs` matrix row by row with `predict_row(row, out)`, in parallel for large batches.
pub(crate) fn predict_rows(
    x: &Matrix,
    n_outputs: usize,
    predict_row: impl Fn(&[f64], &mut [f64]) + Sync,
) -> Matrix {
    fill_blocks(x.n_rows(), n_outputs, |first_row, block| {
        for (offset, target) in block.chunks_mut(n_outputs).enumerate() {
            predict_row(x.row(first_row + offset), target);
        }
    })
}

/// Rows one tree walk takes side by side ([`Tree::leaves_of`]).
const LANES: usize = 8;

/// How the trees of an ensemble add up, for [`predict_trees`].
pub(crate) struct TreeSum<'a> {
    /// Sums per row.
    pub width: usize,
    /// What each row's sums start from (`width` values); `None` is zeros.
    pub initial: Option<&'a [f64]>,
    /// Boosting's multiclass rounds hold one tree per class: tree `t` adds its one value to sum `t % groups`.
    /// 1 when every tree adds all its values from sum 0.
    pub groups: usize,
}

impl TreeSum<'_> {
    /// `width` sums from zero, every tree adding all its values: forests, and boosting with one output.
    pub fn zeros(width: usize) -> Self {
        TreeSum {
            width,
            initial: None,
            groups: 1,
        }
    }
}

/// Predicts `x` with an ensemble: every tree's leaf values added into the row's sums, trees in order (the same
/// additions in the same order as a row-by-row walk, so the same bits), then `finish(sums, out)` per row.
///
/// The walk is tree by tree over blocks of rows: the upper levels of a tree stay in cache for the whole block,
/// where a row walking every tree in turn would fetch each tree's nodes again from memory (fully grown forests
/// are tens of megabytes).
pub(crate) fn predict_trees(
    x: &Matrix,
    trees: &[Tree],
    sum: &TreeSum<'_>,
    n_outputs: usize,
    finish: impl Fn(&[f64], &mut [f64]) + Sync,
) -> Matrix {
    let width = sum.width;
    fill_blocks(x.n_rows(), n_outputs, |first_row, block| {
        let rows = block.len() / n_outputs;
        let mut sums: Vec<f64> = match sum.initial {
            Some(initial) => initial.iter().copied().cycle().take(rows * width).collect(),
            None => vec![0.0; rows * width],
        };
        for (t, tree) in trees.iter().enumerate() {
            let offset = t % sum.groups;
            let add = |row_sums: &mut [f64], leaf: usize| {
                for (s, v) in row_sums[offset..].iter_mut().zip(tree.leaf_values(leaf)) {
                    *s += v;
                }
            };
            let mut lanes = sums.chunks_exact_mut(width * LANES);
            let mut r = first_row;
            for lane_sums in &mut lanes {
                let leaves =
                    tree.leaves_of(std::array::from_fn::<_, LANES, _>(|lane| x.row(r + lane)));
                for (row_sums, leaf) in lane_sums.chunks_exact_mut(width).zip(leaves) {
                    add(row_sums, leaf);
                }
                r += LANES;
            }
            for row_sums in lanes.into_remainder().chunks_exact_mut(width) {
                add(row_sums, tree.leaf_of(x.row(r)));
                r += 1;
            }
        }
        for (row_sums, target) in sums.chunks_exact(width).zip(block.chunks_mut(n_outputs)) {
            finish(row_sums, target);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_importance_sees_only_the_column_the_score_uses() {
        let mut rng = Rng::new(5);
        let rows: Vec<Vec<f64>> = (0..200).map(|_| vec![rng.normal(), rng.normal()]).collect();
        let x = Matrix::from_rows(&rows);
        let truth: Vec<bool> = rows.iter().map(|r| r[0] > 0.0).collect();
        let accuracy = |m: &Matrix| {
            m.rows()
                .zip(&truth)
                .filter(|(row, t)| (row[0] > 0.0) == **t)
                .count() as f64
                / truth.len() as f64
        };
        let importance = permutation_importance(&accuracy, &x, 3, 1).unwrap();
        assert!(importance[0].0 > 0.3, "{importance:?}");
        assert_eq!(importance[1], (0.0, 0.0));
        assert!(permutation_importance(&accuracy, &x, 0, 1).is_err());
    }
}
