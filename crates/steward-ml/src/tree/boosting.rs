//! Gradient-boosted trees in the style of scikit-learn's HistGradientBoosting and LightGBM: Newton steps
//! (leaf value `-G / (H + l2)`, shrunk by the learning rate) on binned data, trees grown leaf-wise up to
//! `max_leaves` and/or to `max_depth`, and early stopping on the loss of a held-out validation split.
//!
//! Losses: squared error (regression; baseline the weighted mean), binary log loss (one tree per round on the
//! log-odds; baseline the prior log-odds) and multinomial softmax (one tree per class per round; baseline the log
//! of the class priors). The trees of one multiclass round are grown in parallel; within a tree, large
//! histograms are built in parallel over features. Training predictions are updated from the rows each leaf
//! holds, without walking the tree again.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::binning::BinMapper;
use super::grow::{GrowConfig, GrownTree, grow};
use super::model::{NodeView, Tree};
use super::params::{EarlyStopping, GradientBoostingParams};
use super::quantized::QuantizedGradients;
use super::{
    TreeClassifier, TreeRegressor, TreeSum, check_class_labels, check_fit_input,
    check_predict_input, check_regression_targets, normalised, predict_trees,
};
use crate::error::{MlResult, invalid_data};
use crate::math::{sigmoid, softmax};
use crate::matrix::{Matrix, Probabilities};
use crate::rng::Rng;

/// scikit-learn's `early_stopping='auto'` turns early stopping on above this many rows.
const AUTO_EARLY_STOPPING_ROWS: usize = 10_000;
/// Children with a smaller hessian sum are not split off (scikit-learn's `min_hessian_to_split`).
const MIN_CHILD_HESSIAN: f64 = 1e-3;
/// Priors are clipped away from 0 and 1 so the baseline log-odds stay finite.
const PRIOR_CLIP: f64 = 1e-15;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientBoostingClassifier {
    n_classes: usize,
    n_features: usize,
    /// Raw scores before any tree: one for binary (log-odds of class 1), one per class otherwise.
    baseline: Vec<f64>,
    /// Round-major: round `r`'s tree for output `k` is `trees[r * baseline.len() + k]`. Leaf values already
    /// include the learning rate.
    trees: Vec<Tree>,
    n_rounds: usize,
    validation_losses: Vec<f64>,
    importances: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientBoostingRegressor {
    n_features: usize,
    baseline: f64,
    /// One per round; leaf values already include the learning rate.
    trees: Vec<Tree>,
    n_rounds: usize,
    validation_losses: Vec<f64>,
    importances: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Loss {
    SquaredError,
    Binomial,
    Multinomial(usize),
}

impl Loss {
    fn n_outputs(self) -> usize {
        match self {
            Loss::Multinomial(k) => k,
            _ => 1,
        }
    }

    /// Raw scores that minimise the loss with no features.
    fn baseline(self, targets: &[f64], weights: &[f64]) -> Vec<f64> {
        let total: f64 = weights.iter().sum();
        match self {
            Loss::SquaredError => {
                vec![targets.iter().zip(weights).map(|(y, w)| y * w).sum::<f64>() / total]
            }
            Loss::Binomial => {
                let p = (targets.iter().zip(weights).map(|(y, w)| y * w).sum::<f64>() / total)
                    .clamp(PRIOR_CLIP, 1.0 - PRIOR_CLIP);
                vec![(p / (1.0 - p)).ln()]
            }
            Loss::Multinomial(k) => {
                let mut priors = vec![0.0; k];
                for (y, w) in targets.iter().zip(weights) {
                    priors[*y as usize] += w;
                }
                priors
                    .iter()
                    .map(|p| (p / total).clamp(PRIOR_CLIP, 1.0).ln())
                    .collect()
            }
        }
    }

    /// Gradients and hessians of every output for the rows, from their raw scores (`n_outputs` per row).
    fn gradients(
        self,
        raw: &[f64],
        targets: &[f64],
        weights: &[f64],
        gradients: &mut [Vec<f64>],
        hessians: &mut [Vec<f64>],
    ) {
        let k = self.n_outputs();
        if k == 1 {
            // One output: rows are independent, so large sets are computed in parallel chunks.
            const CHUNK: usize = 8_192;
            let (gradients, hessians) = (&mut gradients[0], &mut hessians[0]);
            gradients
                .par_chunks_mut(CHUNK)
                .zip(hessians.par_chunks_mut(CHUNK))
                .enumerate()
                .for_each(|(chunk, (g, h))| {
                    let first = chunk * CHUNK;
                    for (row, (g, h)) in (first..).zip(g.iter_mut().zip(h.iter_mut())) {
                        let (y, w) = (targets[row], weights[row]);
                        if self == Loss::SquaredError {
                            *g = w * (raw[row] - y);
                            *h = w;
                        } else {
                            let p = sigmoid(raw[row]);
                            *g = w * (p - y);
                            *h = w * p * (1.0 - p);
                        }
                    }
                });
            return;
        }
        let mut probabilities = vec![0.0; k];
        for row in 0..targets.len() {
            let (y, w) = (targets[row], weights[row]);
            let Loss::Multinomial(_) = self else {
                unreachable!("single-output losses are handled above")
            };
            softmax(&raw[row * k..(row + 1) * k], &mut probabilities);
            for (class, &p) in probabilities.iter().enumerate() {
                let indicator = if y as usize == class { 1.0 } else { 0.0 };
                gradients[class][row] = w * (p - indicator);
                hessians[class][row] = w * p * (1.0 - p);
            }
        }
    }

    /// Weighted mean loss: half squared error, or negative log-likelihood.
    fn mean_loss(self, raw: &[f64], targets: &[f64], weights: &[f64]) -> f64 {
        let k = self.n_outputs();
        let mut total = 0.0;
        for row in 0..targets.len() {
            let (y, w) = (targets[row], weights[row]);
            total += w * match self {
                Loss::SquaredError => 0.5 * (y - raw[row]).powi(2),
                Loss::Binomial => {
                    let z = raw[row];
                    z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z
                }
                Loss::Multinomial(_) => {
                    let scores = &raw[row * k..(row + 1) * k];
                    log_sum_exp(scores) - scores[y as usize]
                }
            };
        }
        total / weights.iter().sum::<f64>()
    }
}

fn log_sum_exp(scores: &[f64]) -> f64 {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + scores.iter().map(|s| (s - max).exp()).sum::<f64>().ln()
}

struct Boosted {
    baseline: Vec<f64>,
    trees: Vec<Tree>,
    n_rounds: usize,
    validation_losses: Vec<f64>,
    importances: Vec<f64>,
}

/// Splits rows into training and validation parts, stratified by `groups` (class per row) when given; both
/// parts come back sorted so that column reads stay sequential.
fn validation_split(
    n_rows: usize,
    groups: Option<&[u32]>,
    fraction: f64,
    rng: &mut Rng,
) -> (Vec<usize>, Vec<usize>) {
    let mut by_group: Vec<Vec<usize>> = Vec::new();
    for row in 0..n_rows {
        let group = groups.map_or(0, |g| g[row] as usize);
        if by_group.len() <= group {
            by_group.resize(group + 1, Vec::new());
        }
        by_group[group].push(row);
    }
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for mut rows in by_group {
        rng.shuffle(&mut rows);
        let n_validation = (rows.len() as f64 * fraction).round() as usize;
        validation.extend_from_slice(&rows[..n_validation]);
        train.extend_from_slice(&rows[n_validation..]);
    }
    train.sort_unstable();
    validation.sort_unstable();
    (train, validation)
}

/// Sets every leaf of a tree grown on quantized gradients to the Newton step of its rows' exact gradients and
/// hessians, `-G / (H + l2)`, so quantization affects only which split is chosen, not the values.
fn renew_leaf_values(grown: &mut GrownTree, gradients: &[f64], hessians: &[f64], l2: f64) {
    for &(node, start, end) in &grown.leaves {
        let (mut g, mut h) = (0.0, 0.0);
        for &row in &grown.rows[start..end] {
            g += gradients[row as usize];
            h += hessians[row as usize];
        }
        let denominator = h + l2;
        let value = if denominator > 0.0 {
            -g / denominator
        } else {
            0.0
        };
        grown.tree.replace_leaf_values(node, &[value]);
    }
}

/// The leaf values of a grown tree, written onto the raw scores of the training rows each leaf holds.
fn add_leaf_values(grown: &GrownTree, raw: &mut [f64], n_outputs: usize, output: usize) {
    for &(node, start, end) in &grown.leaves {
        if let NodeView::Leaf { values } = grown.tree.node(node) {
            let value = values[0];
            for &row in &grown.rows[start..end] {
                raw[row as usize * n_outputs + output] += value;
            }
        }
    }
}

/// scikit-learn's rule: stop when none of the last `n_iter_no_change` losses beats the one before them by
/// more than `tol`. `losses[0]` is the baseline's.
fn should_stop(losses: &[f64], n_iter_no_change: usize, tol: f64) -> bool {
    if losses.len() <= n_iter_no_change {
        return false;
    }
    let reference = losses[losses.len() - n_iter_no_change - 1];
    !losses[losses.len() - n_iter_no_change..]
        .iter()
        .any(|&loss| loss < reference - tol)
}

/// Runs [`boost_on_pool`] on a thread of rayon's pool: the rounds are sequential and every round forks small
/// parallel jobs (histograms, split scans, gradients), which a pool thread hands to the other threads by
/// work-stealing, far cheaper than injecting each job into the pool from outside it.
#[allow(clippy::too_many_arguments)]
fn boost(
    x: &Matrix,
    targets: &[f64],
    weights: &[f64],
    strata: Option<&[u32]>,
    loss: Loss,
    params: &GradientBoostingParams,
    seed: u64,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Boosted {
    if rayon::current_thread_index().is_some() {
        return boost_on_pool(x, targets, weights, strata, loss, params, seed, progress);
    }
    rayon::join(
        || boost_on_pool(x, targets, weights, strata, loss, params, seed, progress),
        || (),
    )
    .0
}

#[allow(clippy::too_many_arguments)]
fn boost_on_pool(
    x: &Matrix,
    targets: &[f64],
    weights: &[f64],
    strata: Option<&[u32]>,
    loss: Loss,
    params: &GradientBoostingParams,
    seed: u64,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Boosted {
    let root = Rng::new(seed);
    let early_stopping = match params.early_stopping {
        EarlyStopping::Auto => x.n_rows() > AUTO_EARLY_STOPPING_ROWS,
        EarlyStopping::On => true,
        EarlyStopping::Off => false,
    };
    let (train, validation) = if early_stopping {
        let (train, validation) = validation_split(
            x.n_rows(),
            strata,
            params.validation_fraction,
            &mut root.fork(0),
        );
        if train.is_empty() || validation.is_empty() {
            ((0..x.n_rows()).collect(), Vec::new())
        } else {
            (train, validation)
        }
    } else {
        ((0..x.n_rows()).collect(), Vec::new())
    };
    let mapper = BinMapper::fit(x, Some(&train), params.max_bins, root.fork(1).next_u64());
    let binned = mapper.transform(x, Some(&train));
    let train_targets: Vec<f64> = train.iter().map(|&r| targets[r]).collect();
    let train_weights: Vec<f64> = train.iter().map(|&r| weights[r]).collect();
    let validation_targets: Vec<f64> = validation.iter().map(|&r| targets[r]).collect();
    let validation_weights: Vec<f64> = validation.iter().map(|&r| weights[r]).collect();
    let rows: Vec<u32> = (0..train.len() as u32)
        .filter(|&r| train_weights[r as usize] > 0.0)
        .collect();

    let n_outputs = loss.n_outputs();
    let baseline = loss.baseline(&train_targets, &train_weights);
    let mut raw_train: Vec<f64> = baseline
        .iter()
        .copied()
        .cycle()
        .take(train.len() * n_outputs)
        .collect();
    let mut raw_validation: Vec<f64> = baseline
        .iter()
        .copied()
        .cycle()
        .take(validation.len() * n_outputs)
        .collect();
    let has_validation = !validation.is_empty() && validation_weights.iter().sum::<f64>() > 0.0;
    let mut validation_losses = Vec::new();
    if has_validation {
        validation_losses.push(loss.mean_loss(
            &raw_validation,
            &validation_targets,
            &validation_weights,
        ));
    }
    let mut gradients = vec![vec![0.0; train.len()]; n_outputs];
    let mut hessians = vec![vec![0.0; train.len()]; n_outputs];
    let mut quantized: Vec<QuantizedGradients> = (0..n_outputs)
        .map(|_| QuantizedGradients::default())
        .collect();
    let config = GrowConfig {
        max_depth: params.max_depth,
        min_samples_split: 2,
        min_samples_leaf: params.min_samples_leaf,
        max_features: x.n_cols(),
        max_leaves: params.max_leaves,
        min_gain: 0.0,
        parallel: true,
    };
    let mut trees = Vec::new();
    let mut importances = vec![0.0; x.n_cols()];
    let mut n_rounds = 0;
    for round in 0..params.n_estimators {
        loss.gradients(
            &raw_train,
            &train_targets,
            &train_weights,
            &mut gradients,
            &mut hessians,
        );
        let grown: Vec<GrownTree> = quantized
            .par_iter_mut()
            .enumerate()
            .map(|(output, quantized)| {
                let mut rng = root.fork((2 + round * n_outputs + output) as u64);
                quantized.quantize(&gradients[output], &hessians[output], rng.next_u64());
                let criterion = quantized.criterion(params.l2_regularization, MIN_CHILD_HESSIAN);
                let mut grown = grow(
                    &binned,
                    &mapper,
                    &criterion,
                    rows.clone(),
                    &config,
                    &mut rng,
                );
                renew_leaf_values(
                    &mut grown,
                    &gradients[output],
                    &hessians[output],
                    params.l2_regularization,
                );
                grown.tree.scale_values(params.learning_rate);
                grown
            })
            .collect();
        let mut all_single_leaves = true;
        for (output, grown) in grown.into_iter().enumerate() {
            add_leaf_values(&grown, &mut raw_train, n_outputs, output);
            for (row, &source) in validation.iter().enumerate() {
                raw_validation[row * n_outputs + output] +=
                    grown.tree.predict_row(x.row(source))[0];
            }
            for (total, gain) in importances.iter_mut().zip(&grown.importances) {
                *total += gain;
            }
            all_single_leaves &= grown.tree.n_nodes() == 1;
            trees.push(grown.tree);
        }
        n_rounds = round + 1;
        progress(n_rounds, params.n_estimators);
        if has_validation {
            validation_losses.push(loss.mean_loss(
                &raw_validation,
                &validation_targets,
                &validation_weights,
            ));
            if should_stop(&validation_losses, params.n_iter_no_change, params.tol) {
                break;
            }
        }
        // No tree of this round found a split with positive gain: further rounds would change nothing.
        if all_single_leaves {
            break;
        }
    }
    Boosted {
        baseline,
        trees,
        n_rounds,
        validation_losses,
        importances,
    }
}

impl GradientBoostingClassifier {
    /// Fits on class indices `y` in `0..n_classes` (at least 2 classes): binary log loss for 2 classes,
    /// softmax otherwise. `progress(done, total)` is called after every boosting round.
    pub fn fit(
        x: &Matrix,
        y: &[usize],
        n_classes: usize,
        sample_weight: Option<&[f64]>,
        params: &GradientBoostingParams,
        seed: u64,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> MlResult<Self> {
        params.validate()?;
        check_fit_input(x, y.len(), sample_weight)?;
        let classes = check_class_labels(y, n_classes)?;
        if n_classes < 2 {
            return Err(invalid_data(
                "gradient boosting needs at least 2 classes; the target has only one",
            ));
        }
        let loss = if n_classes == 2 {
            Loss::Binomial
        } else {
            Loss::Multinomial(n_classes)
        };
        let targets: Vec<f64> = y.iter().map(|&c| c as f64).collect();
        let weights = sample_weight.map_or_else(|| vec![1.0; x.n_rows()], <[f64]>::to_vec);
        let boosted = boost(
            x,
            &targets,
            &weights,
            Some(&classes),
            loss,
            params,
            seed,
            progress,
        );
        Ok(GradientBoostingClassifier {
            n_classes,
            n_features: x.n_cols(),
            baseline: boosted.baseline,
            trees: boosted.trees,
            n_rounds: boosted.n_rounds,
            validation_losses: boosted.validation_losses,
            importances: normalised(&boosted.importances),
        })
    }

    /// Boosting rounds actually fitted (fewer than `n_estimators` after early stopping).
    pub fn n_rounds(&self) -> usize {
        self.n_rounds
    }

    /// Validation loss before the first round and after each round; empty without early stopping.
    pub fn validation_losses(&self) -> &[f64] {
        &self.validation_losses
    }

    pub fn baseline(&self) -> &[f64] {
        &self.baseline
    }

    /// Round-major trees: `trees()[round * baseline().len() + output]`.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }
}

impl TreeClassifier for GradientBoostingClassifier {
    fn n_classes(&self) -> usize {
        self.n_classes
    }

    fn predict_proba(&self, x: &Matrix) -> MlResult<Probabilities> {
        check_predict_input(x, self.n_features)?;
        let n_outputs = self.baseline.len();
        if n_outputs == 1 {
            // The trees' sum first, then the baseline, as the booster adds them.
            let sum = TreeSum::zeros(1);
            Ok(predict_trees(
                x,
                &self.trees,
                &sum,
                self.n_classes,
                |sums, out| {
                    let p = sigmoid(self.baseline[0] + sums[0]);
                    out[0] = 1.0 - p;
                    out[1] = p;
                },
            ))
        } else {
            // One tree per class per round, each class's score starting from its baseline.
            let sum = TreeSum {
                width: n_outputs,
                initial: Some(&self.baseline),
                groups: n_outputs,
            };
            Ok(predict_trees(
                x,
                &self.trees,
                &sum,
                self.n_classes,
                |sums, out| {
                    softmax(sums, out);
                },
            ))
        }
    }

    fn feature_importances(&self) -> Vec<f64> {
        self.importances.clone()
    }
}

impl GradientBoostingRegressor {
    /// Fits squared-error boosting. `progress(done, total)` is called after every boosting round.
    pub fn fit(
        x: &Matrix,
        y: &[f64],
        sample_weight: Option<&[f64]>,
        params: &GradientBoostingParams,
        seed: u64,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> MlResult<Self> {
        params.validate()?;
        check_fit_input(x, y.len(), sample_weight)?;
        check_regression_targets(y)?;
        let weights = sample_weight.map_or_else(|| vec![1.0; x.n_rows()], <[f64]>::to_vec);
        let boosted = boost(
            x,
            y,
            &weights,
            None,
            Loss::SquaredError,
            params,
            seed,
            progress,
        );
        Ok(GradientBoostingRegressor {
            n_features: x.n_cols(),
            baseline: boosted.baseline[0],
            trees: boosted.trees,
            n_rounds: boosted.n_rounds,
            validation_losses: boosted.validation_losses,
            importances: normalised(&boosted.importances),
        })
    }

    pub fn n_rounds(&self) -> usize {
        self.n_rounds
    }

    pub fn validation_losses(&self) -> &[f64] {
        &self.validation_losses
    }

    pub fn baseline(&self) -> f64 {
        self.baseline
    }

    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }
}

impl TreeRegressor for GradientBoostingRegressor {
    fn predict(&self, x: &Matrix) -> MlResult<Vec<f64>> {
        check_predict_input(x, self.n_features)?;
        let sum = TreeSum::zeros(1);
        let predictions = predict_trees(x, &self.trees, &sum, 1, |sums, out| {
            out[0] = self.baseline + sums[0];
        });
        Ok(predictions.as_slice().to_vec())
    }

    fn feature_importances(&self) -> Vec<f64> {
        self.importances.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_values_are_exact_newton_steps_despite_quantized_splits() {
        // Two groups a stump separates; with one round, learning rate 1 and no l2, each leaf's prediction is
        // its group's mean exactly (quantized sums would be off in the sixth digit).
        let x = Matrix::new(6, 1, vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let y = [0.1, 0.25, 0.32, 0.7, 0.81, 0.77];
        let params = GradientBoostingParams {
            n_estimators: 1,
            learning_rate: 1.0,
            min_samples_leaf: 1,
            l2_regularization: 0.0,
            early_stopping: EarlyStopping::Off,
            ..GradientBoostingParams::default()
        };
        let model = GradientBoostingRegressor::fit(&x, &y, None, &params, 0, &|_, _| {}).unwrap();
        let predicted = model.predict(&x).unwrap();
        let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
        for (row, expected) in [(0, mean(&y[..3])), (5, mean(&y[3..]))] {
            assert!(
                (predicted[row] - expected).abs() < 1e-14,
                "{} vs {expected}",
                predicted[row]
            );
        }
    }

    #[test]
    fn stopping_rule_matches_scikit_learn() {
        // Improving steadily: keep going.
        assert!(!should_stop(&[1.0, 0.9, 0.8, 0.7], 2, 0.0));
        // The last two are no better than the one before them.
        assert!(should_stop(&[1.0, 0.9, 0.95, 0.91], 2, 0.0));
        // Improvements smaller than tol do not count.
        assert!(should_stop(&[1.0, 0.9, 0.899, 0.898], 2, 0.01));
        assert!(!should_stop(&[1.0, 0.9], 2, 0.0));
    }

    #[test]
    fn losses_are_minimised_by_the_baseline() {
        let targets = [0.0, 1.0, 1.0, 1.0];
        let weights = [1.0; 4];
        for loss in [Loss::SquaredError, Loss::Binomial] {
            let best = loss.baseline(&targets, &weights)[0];
            let at_best = loss.mean_loss(&[best; 4], &targets, &weights);
            for delta in [-0.1, 0.1] {
                assert!(loss.mean_loss(&[best + delta; 4], &targets, &weights) > at_best);
            }
        }
        let multi = Loss::Multinomial(3);
        let targets = [0.0, 1.0, 2.0, 2.0];
        let baseline = multi.baseline(&targets, &weights);
        let raw: Vec<f64> = baseline.iter().copied().cycle().take(12).collect();
        let mut shifted = raw.clone();
        shifted[0] += 0.2;
        shifted[3] += 0.2;
        shifted[6] += 0.2;
        shifted[9] += 0.2;
        assert!(
            multi.mean_loss(&shifted, &targets, &weights)
                > multi.mean_loss(&raw, &targets, &weights)
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        let targets = [1.0, 0.0];
        let weights = [1.0, 2.0];
        let raw = [0.3, -0.7];
        let mut g = vec![vec![0.0; 2]];
        let mut h = vec![vec![0.0; 2]];
        Loss::Binomial.gradients(&raw, &targets, &weights, &mut g, &mut h);
        let eps = 1e-6;
        for row in 0..2 {
            let loss_at = |z: f64| {
                let mut r = raw;
                r[row] = z;
                Loss::Binomial.mean_loss(&r, &targets, &weights) * 3.0
            };
            let numeric = (loss_at(raw[row] + eps) - loss_at(raw[row] - eps)) / (2.0 * eps);
            assert!(
                (numeric - g[0][row]).abs() < 1e-5,
                "{numeric} vs {}",
                g[0][row]
            );
        }
    }
}
