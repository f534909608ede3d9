//! Growing one tree on binned data. Shared by the decision tree, the forest and boosting; what differs between
//! them is the [`Criterion`] (class counts with Gini, or gradient/hessian sums for squared error and boosting)
//! and the [`GrowConfig`].
//!
//! The rows of a node are a contiguous range of one index array, partitioned in place (stably, so indices stay
//! ascending and column reads stay cache-friendly). Split finding scans per-feature histograms of per-bin
//! statistics. When a node considers most features, the histograms of all features are built and kept: after a
//! split only the smaller child's are built from its rows, and the larger child's are the parent's minus the
//! smaller's (histogram subtraction), so each level costs about half a pass over the data. When a node considers
//! few features (a forest's `sqrt`), building just those features' histograms from the node's rows is cheaper
//! than keeping all of them, so that mode builds them on demand and keeps nothing. Histogram buffers are pooled
//! and only the bins a node touched are cleared, so small nodes deep in the tree cost in proportion to their
//! rows, not to the number of bins.

use rayon::prelude::*;

use super::binning::{BinMapper, BinnedMatrix};
use super::model::Tree;
use crate::rng::Rng;

/// Per-bin statistics of a split criterion.
pub(crate) trait Criterion: Sync {
    /// What histogram bins and gathered per-row values are made of: `f64` sums, or integer sums of quantized
    /// gradients (exact under histogram subtraction, and one vector add per row and feature).
    type Stat: Copy + Default + Send + Sync + std::ops::SubAssign;
    /// Slots per histogram bin (one of them the row count); node totals have as many `f64` slots.
    fn n_stats(&self) -> usize;
    /// Outputs per leaf.
    fn n_outputs(&self) -> usize;
    /// Adds one row's statistics to a bin (or node total).
    fn add_row(&self, row: usize, slot: &mut [f64]);
    /// How many values [`Criterion::gather`] writes per row.
    fn gathered_per_row(&self) -> usize;
    /// Writes the per-row values `accumulate` reads into `out` (`gathered_per_row()` per row), in the order of
    /// `rows`, so that each feature's pass over a node reads them sequentially instead of through the row
    /// indices.
    fn gather(&self, rows: &[u32], out: &mut [Self::Stat]);
    /// Adds `rows` (with `gathered`, what [`Criterion::gather`] made of them) to the histogram of one feature
    /// whose bins are `column`; returns the range of bins touched as `(first, last + 1)`, or `(0, 0)` for no rows.
    fn accumulate(
        &self,
        column: &[u8],
        rows: &[u32],
        gathered: &[Self::Stat],
        histogram: &mut [Self::Stat],
    ) -> (usize, usize);
    /// [`Criterion::accumulate`] of four features in one pass over the rows (each row's gathered values read
    /// once for the four); criteria without a kernel of their own accumulate one feature after the other.
    fn accumulate4(
        &self,
        columns: [&[u8]; 4],
        rows: &[u32],
        gathered: &[Self::Stat],
        histograms: [&mut [Self::Stat]; 4],
    ) -> [(usize, usize); 4] {
        let mut ranges = [(0, 0); 4];
        for ((range, column), histogram) in ranges.iter_mut().zip(columns).zip(histograms) {
            *range = self.accumulate(column, rows, gathered, histogram);
        }
        ranges
    }
    /// [`Criterion::accumulate4`] for two features.
    fn accumulate2(
        &self,
        columns: [&[u8]; 2],
        rows: &[u32],
        gathered: &[Self::Stat],
        histograms: [&mut [Self::Stat]; 2],
    ) -> [(usize, usize); 2] {
        let [c0, c1] = columns;
        let [h0, h1] = histograms;
        [
            self.accumulate(c0, rows, gathered, h0),
            self.accumulate(c1, rows, gathered, h1),
        ]
    }
    /// A node's score; a split's gain is `score(left) + score(right) - score(parent)`, which for Gini and
    /// squared error is the weighted impurity decrease scikit-learn's feature importances sum.
    fn score(&self, stats: &[f64]) -> f64;
    /// Whether a child with these statistics is allowed (positive weight, enough hessian).
    fn child_allowed(&self, stats: &[f64]) -> bool;
    /// Whether a node with these rows cannot be improved by any split (one class, one target value).
    fn is_pure(&self, rows: &[u32]) -> bool;
    fn leaf_value(&self, stats: &[f64], out: &mut [f64]);

    /// The best split of one feature's histogram, as [`scan_feature`] defines it: `(best bin, its score)`, bin
    /// `usize::MAX` when no split respects the leaf limits, `None` when the feature is constant in the node.
    /// `left`, `right` are scratch; `best_left` receives the left child's totals at the best bin.
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        histogram: &[Self::Stat],
        touched: (usize, usize),
        totals: &[f64],
        min_samples_leaf: usize,
        left: &mut [f64],
        right: &mut [f64],
        best_left: &mut [f64],
    ) -> Option<(usize, f64)>;

    /// [`Criterion::scan`] visiting only the bins in `occupied` (the bins the node's rows fall in): the same
    /// result, in time proportional to the node's rows instead of its touched range. Criteria without a sparse
    /// scan of their own scan the occupied range.
    #[allow(clippy::too_many_arguments)]
    fn scan_occupied(
        &self,
        histogram: &[Self::Stat],
        occupied: &OccupiedBins,
        totals: &[f64],
        min_samples_leaf: usize,
        left: &mut [f64],
        right: &mut [f64],
        best_left: &mut [f64],
    ) -> Option<(usize, f64)> {
        let (first, last) = (occupied.first()?, occupied.last()?);
        self.scan(
            histogram,
            (first, last + 1),
            totals,
            min_samples_leaf,
            left,
            right,
            best_left,
        )
    }
}

/// The bins one feature's values fall in for a node's rows, as a bitmap over the 256 bins a `u8` column can
/// hold. Deep in a fully grown tree a node has a handful of rows whose bins spread over most of the range; its
/// split scan then visits these bins alone (see [`scan_node`]).
pub(crate) struct OccupiedBins([u64; 4]);

impl OccupiedBins {
    fn of(column: &[u8], rows: &[u32]) -> Self {
        let mut words = [0u64; 4];
        for &row in rows {
            let bin = column[row as usize];
            words[usize::from(bin >> 6)] |= 1 << (bin & 63);
        }
        OccupiedBins(words)
    }

    fn first(&self) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .find(|(_, word)| **word != 0)
            .map(|(index, word)| index * 64 + word.trailing_zeros() as usize)
    }

    fn last(&self) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .rev()
            .find(|(_, word)| **word != 0)
            .map(|(index, word)| index * 64 + 63 - word.leading_zeros() as usize)
    }

    /// The occupied bins in ascending order, but the last (a split after the last occupied bin moves no row);
    /// `None` when fewer than two bins are occupied, the feature constant in the node.
    fn split_candidates(&self) -> Option<impl Iterator<Item = usize> + '_> {
        let last = self.last()?;
        if self.first()? == last {
            return None;
        }
        let bins = self
            .0
            .iter()
            .enumerate()
            .flat_map(|(index, &word)| {
                let mut rest = word;
                std::iter::from_fn(move || {
                    (rest != 0).then(|| {
                        let bit = rest.trailing_zeros() as usize;
                        rest &= rest - 1;
                        index * 64 + bit
                    })
                })
            })
            .take_while(move |&bin| bin < last);
        Some(bins)
    }
}

/// `touched` without its empty bins at either end (a subtracted histogram's touched range can be wider than its
/// rows'), when at least two bins remain, the fewest a split needs. Bins are `stride` slots, `count_slot` of
/// them the row count.
pub(crate) fn nonempty_range<S: Copy + Default + PartialEq>(
    histogram: &[S],
    touched: (usize, usize),
    stride: usize,
    count_slot: usize,
) -> Option<(usize, usize)> {
    let empty = |bin: usize| histogram[bin * stride + count_slot] == S::default();
    let (mut lo, mut hi) = touched;
    while lo < hi && empty(lo) {
        lo += 1;
    }
    while hi > lo && empty(hi - 1) {
        hi -= 1;
    }
    (hi - lo >= 2).then_some((lo, hi))
}

/// A node whose rows are this many times fewer than its touched bins is scanned through [`OccupiedBins`].
const SPARSE_SCAN_RATIO: usize = 4;

/// The best split of one feature's histogram for the node `rows` ([`Criterion::scan`]'s result), through the
/// occupied bins when the node is small against its touched range.
#[allow(clippy::too_many_arguments)]
fn scan_node<C: Criterion>(
    criterion: &C,
    histogram: &[C::Stat],
    touched: (usize, usize),
    column: &[u8],
    rows: &[u32],
    totals: &[f64],
    min_samples_leaf: usize,
    left: &mut [f64],
    right: &mut [f64],
    best_left: &mut [f64],
) -> Option<(usize, f64)> {
    if rows.len() * SPARSE_SCAN_RATIO < touched.1.saturating_sub(touched.0) {
        let occupied = OccupiedBins::of(column, rows);
        criterion.scan_occupied(
            histogram,
            &occupied,
            totals,
            min_samples_leaf,
            left,
            right,
            best_left,
        )
    } else {
        criterion.scan(
            histogram,
            touched,
            totals,
            min_samples_leaf,
            left,
            right,
            best_left,
        )
    }
}

/// Gini impurity over weighted class counts; leaves hold class probability distributions.
pub(crate) struct ClassCriterion<'a> {
    pub classes: &'a [u32],
    pub weights: &'a [f64],
    pub n_classes: usize,
}

impl Criterion for ClassCriterion<'_> {
    type Stat = f64;

    fn n_stats(&self) -> usize {
        self.n_classes + 1
    }

    fn n_outputs(&self) -> usize {
        self.n_classes
    }

    #[inline]
    fn add_row(&self, row: usize, slot: &mut [f64]) {
        slot[self.classes[row] as usize] += self.weights[row];
        slot[self.n_classes] += 1.0;
    }

    fn gathered_per_row(&self) -> usize {
        1
    }

    fn gather(&self, rows: &[u32], out: &mut [f64]) {
        for (o, &r) in out.iter_mut().zip(rows) {
            *o = self.weights[r as usize];
        }
    }

    fn accumulate(
        &self,
        column: &[u8],
        rows: &[u32],
        gathered: &[f64],
        histogram: &mut [f64],
    ) -> (usize, usize) {
        let stride = self.n_classes + 1;
        let (mut lo, mut hi) = (usize::MAX, 0usize);
        for (&row, &weight) in rows.iter().zip(gathered) {
            let row = row as usize;
            let bin = column[row] as usize;
            lo = lo.min(bin);
            hi = hi.max(bin);
            let base = bin * stride;
            histogram[base + self.classes[row] as usize] += weight;
            histogram[base + self.n_classes] += 1.0;
        }
        if rows.is_empty() {
            (0, 0)
        } else {
            (lo, hi + 1)
        }
    }

    #[inline]
    fn score(&self, stats: &[f64]) -> f64 {
        let counts = &stats[..self.n_classes];
        let total: f64 = counts.iter().sum();
        if total <= 0.0 {
            return 0.0;
        }
        counts.iter().map(|c| c * c).sum::<f64>() / total
    }

    #[inline]
    fn child_allowed(&self, stats: &[f64]) -> bool {
        stats[..self.n_classes].iter().sum::<f64>() > 0.0
    }

    fn is_pure(&self, rows: &[u32]) -> bool {
        let first = rows.first().map(|&r| self.classes[r as usize]);
        rows.iter()
            .all(|&r| Some(self.classes[r as usize]) == first)
    }

    fn leaf_value(&self, stats: &[f64], out: &mut [f64]) {
        let total: f64 = stats[..self.n_classes].iter().sum();
        for (o, c) in out.iter_mut().zip(&stats[..self.n_classes]) {
            *o = if total > 0.0 { c / total } else { 0.0 };
        }
    }

    #[inline]
    fn scan(
        &self,
        histogram: &[f64],
        touched: (usize, usize),
        totals: &[f64],
        min_samples_leaf: usize,
        left: &mut [f64],
        right: &mut [f64],
        best_left: &mut [f64],
    ) -> Option<(usize, f64)> {
        scan_feature(
            self,
            histogram,
            touched,
            totals,
            self.n_stats(),
            min_samples_leaf,
            left,
            right,
            best_left,
        )
    }

    #[inline]
    fn scan_occupied(
        &self,
        histogram: &[f64],
        occupied: &OccupiedBins,
        totals: &[f64],
        min_samples_leaf: usize,
        left: &mut [f64],
        right: &mut [f64],
        best_left: &mut [f64],
    ) -> Option<(usize, f64)> {
        let bins = occupied.split_candidates()?;
        left.fill(0.0);
        Some(scan_bins(
            self,
            histogram,
            bins,
            totals,
            self.n_stats(),
            min_samples_leaf,
            left,
            right,
            best_left,
        ))
    }
}

/// Sums of gradients and hessians (Newton boosting); with `gradient = -weight * y` and `hessian = weight` it
/// is weighted squared error, and the leaf value is the weighted mean.
pub(crate) struct GradientCriterion<'a> {
    pub gradients: &'a [f64],
    pub hessians: &'a [f64],
    pub l2: f64,
    pub min_hessian: f64,
    /// Regression targets, for the purity check of plain regression trees; `None` in boosting.
    pub targets: Option<&'a [f64]>,
}

impl Criterion for GradientCriterion<'_> {
    type Stat = f64;

    fn n_stats(&self) -> usize {
        3
    }

    fn n_outputs(&self) -> usize {
        1
    }

    #[inline]
    fn add_row(&self, row: usize, slot: &mut [f64]) {
        slot[0] += self.gradients[row];
        slot[1] += self.hessians[row];
        slot[2] += 1.0;
    }

    fn gathered_per_row(&self) -> usize {
        2
    }

    fn gather(&self, rows: &[u32], out: &mut [f64]) {
        for (pair, &row) in out.chunks_exact_mut(2).zip(rows) {
            pair[0] = self.gradients[row as usize];
            pair[1] = self.hessians[row as usize];
        }
    }

    fn accumulate(
        &self,
        column: &[u8],
        rows: &[u32],
        gathered: &[f64],
        histogram: &mut [f64],
    ) -> (usize, usize) {
        let (mut lo, mut hi) = (usize::MAX, 0usize);
        if rows.len() == column.len() {
            // Every row, in order (the root of a tree on unweighted data): read the column directly.
            for (&bin, pair) in column.iter().zip(gathered.chunks_exact(2)) {
                let bin = bin as usize;
                lo = lo.min(bin);
                hi = hi.max(bin);
                let slot = &mut histogram[bin * 3..bin * 3 + 3];
                slot[0] += pair[0];
                slot[1] += pair[1];
                slot[2] += 1.0;
            }
            return if rows.is_empty() {
                (0, 0)
            } else {
                (lo, hi + 1)
            };
        }
        for (&row, pair) in rows.iter().zip(gathered.chunks_exact(2)) {
            let bin = column[row as usize] as usize;
            lo = lo.min(bin);
            hi = hi.max(bin);
            let slot = &mut histogram[bin * 3..bin * 3 + 3];
            slot[0] += pair[0];
            slot[1] += pair[1];
            slot[2] += 1.0;
        }
        if rows.is_empty() {
            (0, 0)
        } else {
            (lo, hi + 1)
        }
    }

    #[inline]
    fn score(&self, stats: &[f64]) -> f64 {
        let denominator = stats[1] + self.l2;
        if denominator <= 0.0 {
            0.0
        } else {
            stats[0] * stats[0] / denominator
        }
    }

    #[inline]
    fn child_allowed(&self, stats: &[f64]) -> bool {
        stats[1] >= self.min_hessian
    }

    fn is_pure(&self, rows: &[u32]) -> bool {
        match self.targets {
            Some(targets) => {
                let first = rows.first().map(|&r| targets[r as usize]);
                rows.iter().all(|&r| Some(targets[r as usize]) == first)
            }
            None => false,
        }
    }

    fn leaf_value(&self, stats: &[f64], out: &mut [f64]) {
        let denominator = stats[1] + self.l2;
        out[0] = if denominator > 0.0 {
            -stats[0] / denominator
        } else {
            0.0
        };
    }

    /// [`scan_feature`] with the three statistics in registers: the same bins, scores and tie-breaking.
    #[inline]
    fn scan(
        &self,
        histogram: &[f64],
        touched: (usize, usize),
        totals: &[f64],
        min_samples_leaf: usize,
        _left: &mut [f64],
        _right: &mut [f64],
        best_left: &mut [f64],
    ) -> Option<(usize, f64)> {
        let (lo, hi) = nonempty_range(histogram, touched, 3, 2)?;
        Some(self.scan_bins(histogram, lo..hi - 1, totals, min_samples_leaf, best_left))
    }

    #[inline]
    fn scan_occupied(
        &self,
        histogram: &[f64],
        occupied: &OccupiedBins,
        totals: &[f64],
        min_samples_leaf: usize,
        _left: &mut [f64],
        _right: &mut [f64],
        best_left: &mut [f64],
    ) -> Option<(usize, f64)> {
        Some(self.scan_bins(
            histogram,
            occupied.split_candidates()?,
            totals,
            min_samples_leaf,
            best_left,
        ))
    }
}

impl GradientCriterion<'_> {
    /// The loop of [`Criterion::scan`] over candidate bins `bins` (ascending), the three sums in registers.
    #[inline]
    fn scan_bins(
        &self,
        histogram: &[f64],
        bins: impl Iterator<Item = usize>,
        totals: &[f64],
        min_samples_leaf: usize,
        best_left: &mut [f64],
    ) -> (usize, f64) {
        let score = |g: f64, h: f64| {
            let denominator = h + self.l2;
            if denominator <= 0.0 {
                0.0
            } else {
                g * g / denominator
            }
        };
        let (total_g, total_h, total_count) = (totals[0], totals[1], totals[2]);
        let min_leaf = min_samples_leaf as f64;
        let (mut g, mut h, mut count) = (0.0, 0.0, 0.0);
        let mut best_bin = usize::MAX;
        let mut best_score = f64::NEG_INFINITY;
        for bin in bins {
            let slot = &histogram[bin * 3..bin * 3 + 3];
            g += slot[0];
            h += slot[1];
            count += slot[2];
            // An empty bin: the previous bin's split (see `scan_feature`).
            if slot[2] == 0.0 {
                continue;
            }
            if count < min_leaf {
                continue;
            }
            if total_count - count < min_leaf {
                break;
            }
            let (right_g, right_h) = (total_g - g, total_h - h);
            if h < self.min_hessian || right_h < self.min_hessian {
                continue;
            }
            let candidate = score(g, h) + score(right_g, right_h);
            if candidate > best_score {
                best_score = candidate;
                best_bin = bin;
                best_left.copy_from_slice(&[g, h, count]);
            }
        }
        (best_bin, best_score)
    }
}

/// Rows per block when building a node's histograms: every feature's histogram takes one block before the next
/// block is read, so the gathered statistics are read from memory once per node, not once per feature.
const ROW_BLOCK: usize = 2_048;

/// Adds `rows` (with their `gathered` values) to the histograms of features `first..` (as many as `histograms`
/// holds, `feature_len` each), block by block so that a block's gathered values stay in cache for every feature,
/// four features per pass where the criterion has a four-feature kernel.
#[allow(clippy::too_many_arguments)]
fn accumulate_features<C: Criterion>(
    criterion: &C,
    data: &BinnedMatrix,
    first: usize,
    rows: &[u32],
    gathered: &[C::Stat],
    feature_len: usize,
    histograms: &mut [C::Stat],
    touched: &mut [(usize, usize)],
) {
    let per_row = gathered.len() / rows.len().max(1);
    for start in (0..rows.len()).step_by(ROW_BLOCK) {
        let end = (start + ROW_BLOCK).min(rows.len());
        let (block, block_gathered) =
            (&rows[start..end], &gathered[start * per_row..end * per_row]);
        let groups = histograms
            .chunks_mut(4 * feature_len)
            .zip(touched.chunks_mut(4));
        for (index, (group, ranges)) in groups.enumerate() {
            let group_first = first + 4 * index;
            if let [r0, r1, r2, r3] = ranges {
                let (h0, rest) = group.split_at_mut(feature_len);
                let (h1, rest) = rest.split_at_mut(feature_len);
                let (h2, h3) = rest.split_at_mut(feature_len);
                let columns = [0, 1, 2, 3].map(|k| data.column(group_first + k));
                let added = criterion.accumulate4(columns, block, block_gathered, [h0, h1, h2, h3]);
                for (range, added) in [r0, r1, r2, r3].into_iter().zip(added) {
                    *range = merge_ranges(*range, added);
                }
                continue;
            }
            // The last group has fewer than four features: two at once, then one.
            let mut done = 0;
            if let [r0, r1, ..] = ranges {
                let (h0, rest) = group.split_at_mut(feature_len);
                let (h1, _) = rest.split_at_mut(feature_len);
                let columns = [0, 1].map(|k| data.column(group_first + k));
                let added = criterion.accumulate2(columns, block, block_gathered, [h0, h1]);
                for (range, added) in [r0, r1].into_iter().zip(added) {
                    *range = merge_ranges(*range, added);
                }
                done = 2;
            }
            let features = group[done * feature_len..]
                .chunks_mut(feature_len)
                .zip(ranges[done..].iter_mut());
            for (offset, (histogram, range)) in features.enumerate() {
                let column = data.column(group_first + done + offset);
                let added = criterion.accumulate(column, block, block_gathered, histogram);
                *range = merge_ranges(*range, added);
            }
        }
    }
}

/// Merges two touched-bin ranges (`(0, 0)` is empty).
#[inline]
fn merge_ranges(a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    match (a.0 == a.1, b.0 == b.1) {
        (true, _) => b,
        (_, true) => a,
        _ => (a.0.min(b.0), a.1.max(b.1)),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct GrowConfig {
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    /// Non-constant features a node examines (resolved from `MaxFeatures`).
    pub max_features: usize,
    /// Best-first growth up to this many leaves; depth-first without a limit when `None`.
    pub max_leaves: Option<usize>,
    /// A split must gain strictly more than this (boosting: 0; scikit-learn's trees accept any valid split of an
    /// impure node: `-inf`).
    pub min_gain: f64,
    /// Build large histograms in parallel over features (off inside a forest, whose trees are parallel already).
    pub parallel: bool,
}

/// A grown tree plus what boosting needs to update training predictions without re-walking the tree.
pub(crate) struct GrownTree {
    pub tree: Tree,
    /// Sum of split gains per feature (unnormalised impurity decrease).
    pub importances: Vec<f64>,
    /// The node's rows are `rows[start..end]` for each `(leaf node, start, end)`.
    pub leaves: Vec<(usize, usize, usize)>,
    pub rows: Vec<u32>,
}

struct Split {
    feature: usize,
    bin: usize,
    gain: f64,
    /// The criterion's statistics of the rows going left (the right child's are the parent's minus these), so
    /// children never re-sum their rows.
    left_totals: Vec<f64>,
}

/// Histograms of every feature of one node: `data[feature * feature_len + bin * n_stats + stat]`, plus the
/// range of bins each feature's histogram touched (what must be cleared before reuse).
struct HistogramSet<S> {
    data: Vec<S>,
    touched: Vec<(usize, usize)>,
}

struct Pending<S> {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    totals: Vec<f64>,
    split: Split,
    histograms: Option<HistogramSet<S>>,
}

/// Stable partition of `rows` by `bin <= split_bin`: the lefts end at the front of `rows`, the rights at the front
/// of `rights` (as long as `rows`); returns the number of lefts.
fn partition_chunk(column: &[u8], split_bin: u8, rows: &mut [u32], rights: &mut [u32]) -> usize {
    // Branch-free: each row is written to both sides and only the side it belongs to advances, because the
    // direction is as unpredictable as the data.
    let (mut n_left, mut n_right) = (0, 0);
    for i in 0..rows.len() {
        let row = rows[i];
        let goes_left = column[row as usize] <= split_bin;
        rows[n_left] = row;
        rights[n_right] = row;
        n_left += usize::from(goes_left);
        n_right += usize::from(!goes_left);
    }
    n_left
}

/// Rows above which a partition is split over threads.
const PARALLEL_PARTITION_ROWS: usize = 16_384;

/// Rows whose histogram builds are worth splitting over threads.
const PARALLEL_MIN_ROWS: usize = 2_048;

struct Grower<'a, C: Criterion> {
    data: &'a BinnedMatrix,
    criterion: &'a C,
    config: &'a GrowConfig,
    n_stats: usize,
    /// `max_bins * n_stats`: one feature's histogram.
    feature_len: usize,
    keep_histograms: bool,
    /// Kept histograms and every feature examined: a node's histograms are built and scanned (and its sibling's
    /// subtracted and scanned) in one pass, see [`Grower::build_and_scan`].
    fused: bool,
    pool: Vec<HistogramSet<C::Stat>>,
    /// One feature's histogram, for the build-on-demand mode.
    scratch: Vec<C::Stat>,
    partition_buffer: Vec<u32>,
    /// What the criterion gathered for the node whose histograms are being built.
    gathered: Vec<C::Stat>,
    feature_order: Vec<usize>,
    left_stats: Vec<f64>,
    right_stats: Vec<f64>,
    /// Left statistics at the best bin of the feature being scanned, and of the best split so far.
    feature_best_left: Vec<f64>,
    best_left: Vec<f64>,
}

pub(crate) fn grow<C: Criterion>(
    data: &BinnedMatrix,
    mapper: &BinMapper,
    criterion: &C,
    rows: Vec<u32>,
    config: &GrowConfig,
    rng: &mut Rng,
) -> GrownTree {
    grow_with(data, mapper, criterion, rows, config, rng, true)
}

/// [`grow`], with the fused build-and-scan pass allowed or not (the tests check both give the same tree).
fn grow_with<C: Criterion>(
    data: &BinnedMatrix,
    mapper: &BinMapper,
    criterion: &C,
    mut rows: Vec<u32>,
    config: &GrowConfig,
    rng: &mut Rng,
    allow_fused: bool,
) -> GrownTree {
    let n_features = data.n_features();
    let n_stats = criterion.n_stats();
    let feature_len = data.max_bins() * n_stats;
    let mut grower = Grower {
        data,
        criterion,
        config,
        n_stats,
        feature_len,
        keep_histograms: config.max_features * 2 > n_features,
        fused: allow_fused && config.max_features >= n_features,
        pool: Vec::new(),
        scratch: vec![C::Stat::default(); feature_len],
        partition_buffer: Vec::with_capacity(rows.len()),
        gathered: Vec::new(),
        feature_order: (0..n_features).collect(),
        left_stats: vec![0.0; n_stats],
        right_stats: vec![0.0; n_stats],
        feature_best_left: vec![0.0; n_stats],
        best_left: vec![0.0; n_stats],
    };
    let mut tree = Tree::new(criterion.n_outputs());
    let mut importances = vec![0.0; n_features];
    let mut leaves = Vec::new();
    let mut leaf_value = vec![0.0; criterion.n_outputs()];
    let mut frontier: Vec<Pending<C::Stat>> = Vec::new();
    let mut n_leaves = 1usize;

    let root = tree.push_node();
    let end = rows.len();
    let mut root_totals = vec![0.0; n_stats];
    for &row in &rows {
        criterion.add_row(row as usize, &mut root_totals);
    }
    grower.visit(
        root,
        0,
        end,
        0,
        root_totals,
        None,
        &rows,
        rng,
        &mut frontier,
        |node, totals| {
            criterion.leaf_value(totals, &mut leaf_value);
            tree.set_leaf(node, &leaf_value);
            leaves.push((node, 0, end));
        },
    );

    while let Some(pending) = pop_next(&mut frontier, config.max_leaves.is_some()) {
        if config.max_leaves.is_some_and(|max| n_leaves >= max) {
            // The leaf budget is spent: this and every other pending node stays a leaf.
            criterion.leaf_value(&pending.totals, &mut leaf_value);
            tree.set_leaf(pending.node, &leaf_value);
            leaves.push((pending.node, pending.start, pending.end));
            if let Some(histograms) = pending.histograms {
                grower.release(histograms);
            }
            continue;
        }
        let Pending {
            node,
            start,
            end,
            depth,
            totals,
            split,
            histograms,
        } = pending;
        let right_totals: Vec<f64> = totals
            .iter()
            .zip(&split.left_totals)
            .map(|(t, l)| t - l)
            .collect();
        let middle = grower.partition(&mut rows[start..end], split.feature, split.bin) + start;
        let left = tree.push_node();
        let right = tree.push_node();
        tree.set_split(
            node,
            split.feature,
            mapper.edges[split.feature][split.bin],
            left,
            right,
        );
        importances[split.feature] += split.gain.max(0.0);
        n_leaves += 1;

        let mut finish_leaf = |node: usize, totals: &[f64], start: usize, end: usize| {
            criterion.leaf_value(totals, &mut leaf_value);
            tree.set_leaf(node, &leaf_value);
            leaves.push((node, start, end));
        };
        let histograms = match histograms {
            Some(parent) if grower.fused => Err(parent),
            other => Ok(other),
        };
        if let Err(parent) = histograms {
            // Both children's histograms and best splits in one pass over feature groups.
            let left_rows = ChildRows {
                start,
                end: middle,
                totals: &split.left_totals,
                splittable: grower.splittable(depth + 1, &rows[start..middle]),
            };
            let right_rows = ChildRows {
                start: middle,
                end,
                totals: &right_totals,
                splittable: grower.splittable(depth + 1, &rows[middle..end]),
            };
            let left_is_smaller = middle - start <= end - middle;
            let (small, large) = if left_is_smaller {
                (&left_rows, &right_rows)
            } else {
                (&right_rows, &left_rows)
            };
            let (small_result, large_result) = if !small.splittable && !large.splittable {
                grower.release(parent);
                ((None, None), (None, None))
            } else {
                // The small child's histograms are built even when only the large one may split: the large
                // one's are the parent's minus them.
                let sibling = if large.splittable {
                    Some((
                        parent,
                        large.totals.as_slice(),
                        &rows[large.start..large.end],
                    ))
                } else {
                    grower.release(parent);
                    None
                };
                let (small_set, small_split, large_result) = grower.build_and_scan(
                    &rows[small.start..small.end],
                    small.totals,
                    small.splittable,
                    sibling,
                );
                let large_result = match large_result {
                    Some((set, split)) => (Some(set), split),
                    None => (None, None),
                };
                ((Some(small_set), small_split), large_result)
            };
            let (left_result, right_result) = if left_is_smaller {
                (small_result, large_result)
            } else {
                (large_result, small_result)
            };
            // Right first onto the stack so that depth-first growth continues with the left child.
            grower.settle(
                right,
                middle,
                end,
                depth + 1,
                right_totals,
                right_result,
                &mut frontier,
                |n, t| finish_leaf(n, t, middle, end),
            );
            grower.settle(
                left,
                start,
                middle,
                depth + 1,
                split.left_totals,
                left_result,
                &mut frontier,
                |n, t| finish_leaf(n, t, start, middle),
            );
            continue;
        }
        let (left_histograms, right_histograms) = match histograms.ok().flatten() {
            Some(parent) => {
                let left_is_smaller = middle - start <= end - middle;
                let (small_start, small_end) = if left_is_smaller {
                    (start, middle)
                } else {
                    (middle, end)
                };
                let small = grower.build_all(&rows[small_start..small_end]);
                let large = grower.subtract(parent, &small);
                if left_is_smaller {
                    (Some(small), Some(large))
                } else {
                    (Some(large), Some(small))
                }
            }
            None => (None, None),
        };
        // Right first onto the stack so that depth-first growth continues with the left child.
        grower.visit(
            right,
            middle,
            end,
            depth + 1,
            right_totals,
            right_histograms,
            &rows,
            rng,
            &mut frontier,
            |n, t| finish_leaf(n, t, middle, end),
        );
        grower.visit(
            left,
            start,
            middle,
            depth + 1,
            split.left_totals,
            left_histograms,
            &rows,
            rng,
            &mut frontier,
            |n, t| finish_leaf(n, t, start, middle),
        );
    }
    GrownTree {
        tree,
        importances,
        leaves,
        rows,
    }
}

/// One child of a split being made: its rows `rows[start..end]`, its totals, whether it may split.
struct ChildRows<'a> {
    start: usize,
    end: usize,
    totals: &'a Vec<f64>,
    splittable: bool,
}

/// Depth-first pops the most recent node; best-first (leaf-wise) pops the node with the largest gain.
fn pop_next<S>(frontier: &mut Vec<Pending<S>>, best_first: bool) -> Option<Pending<S>> {
    if !best_first {
        return frontier.pop();
    }
    let best = frontier
        .iter()
        .enumerate()
        .max_by(|(_, a), (_, b)| a.split.gain.total_cmp(&b.split.gain))
        .map(|(i, _)| i)?;
    // Order-preserving removal keeps ties resolved the same way on every run.
    Some(frontier.remove(best))
}

impl<C: Criterion> Grower<'_, C> {
    /// Decides whether the node `rows[start..end]` splits; pushes it onto the frontier if so, otherwise calls
    /// `make_leaf(node, totals)`.
    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        node: usize,
        start: usize,
        end: usize,
        depth: usize,
        totals: Vec<f64>,
        histograms: Option<HistogramSet<C::Stat>>,
        rows: &[u32],
        rng: &mut Rng,
        frontier: &mut Vec<Pending<C::Stat>>,
        make_leaf: impl FnOnce(usize, &[f64]),
    ) {
        let node_rows = &rows[start..end];
        let mut histograms = histograms;
        let split = if !self.splittable(depth, node_rows) {
            None
        } else if self.fused && histograms.is_none() {
            let (set, split, _) = self.build_and_scan(node_rows, &totals, true, None);
            histograms = Some(set);
            split
        } else {
            if self.keep_histograms && histograms.is_none() {
                histograms = Some(self.build_all(node_rows));
            }
            self.best_split(node_rows, &totals, histograms.as_ref(), rng)
        };
        self.settle(
            node,
            start,
            end,
            depth,
            totals,
            (histograms, split),
            frontier,
            make_leaf,
        );
    }

    /// Whether a node at `depth` with these rows may split at all.
    fn splittable(&self, depth: usize, node_rows: &[u32]) -> bool {
        let count = node_rows.len();
        let config = self.config;
        config.max_depth.is_none_or(|max| depth < max)
            && count >= config.min_samples_split
            && count >= 2 * config.min_samples_leaf
            && !self.criterion.is_pure(node_rows)
    }

    /// Pushes a node with a split onto the frontier; otherwise returns its histograms to the pool and calls
    /// `make_leaf(node, totals)`.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        node: usize,
        start: usize,
        end: usize,
        depth: usize,
        totals: Vec<f64>,
        (histograms, split): (Option<HistogramSet<C::Stat>>, Option<Split>),
        frontier: &mut Vec<Pending<C::Stat>>,
        make_leaf: impl FnOnce(usize, &[f64]),
    ) {
        match split {
            Some(split) => frontier.push(Pending {
                node,
                start,
                end,
                depth,
                totals,
                split,
                histograms,
            }),
            None => {
                if let Some(h) = histograms {
                    self.release(h);
                }
                make_leaf(node, &totals);
            }
        }
    }

    /// Fills `self.gathered` for `rows`, in parallel for large nodes.
    fn gather(&mut self, rows: &[u32]) {
        let per_row = self.criterion.gathered_per_row();
        self.gathered
            .resize(rows.len() * per_row, C::Stat::default());
        let criterion = self.criterion;
        if self.config.parallel && rows.len() >= PARALLEL_MIN_ROWS {
            self.gathered
                .par_chunks_mut(ROW_BLOCK * per_row)
                .zip(rows.par_chunks(ROW_BLOCK))
                .for_each(|(out, block)| criterion.gather(block, out));
        } else {
            criterion.gather(rows, &mut self.gathered);
        }
    }

    fn take_buffer(&mut self) -> HistogramSet<C::Stat> {
        self.pool.pop().unwrap_or_else(|| HistogramSet {
            data: vec![C::Stat::default(); self.feature_len * self.data.n_features()],
            touched: vec![(0, 0); self.data.n_features()],
        })
    }

    /// Clears the touched bins and returns the buffer to the pool.
    fn release(&mut self, mut histograms: HistogramSet<C::Stat>) {
        for (feature, &(lo, hi)) in histograms.touched.iter().enumerate() {
            let base = feature * self.feature_len;
            histograms.data[base + lo * self.n_stats..base + hi * self.n_stats]
                .fill(C::Stat::default());
        }
        histograms.touched.fill((0, 0));
        self.pool.push(histograms);
    }

    fn build_all(&mut self, rows: &[u32]) -> HistogramSet<C::Stat> {
        let mut set = self.take_buffer();
        self.gather(rows);
        let (data, criterion, feature_len) = (self.data, self.criterion, self.feature_len);
        let gathered = &self.gathered[..];
        // Fills the histograms of features `first..` (as many as `histograms` holds), block by block.
        let build = |first: usize, histograms: &mut [C::Stat], touched: &mut [(usize, usize)]| {
            accumulate_features(
                criterion,
                data,
                first,
                rows,
                gathered,
                feature_len,
                histograms,
                touched,
            );
        };
        let HistogramSet {
            data: buffer,
            touched,
        } = &mut set;
        let n_features = touched.len();
        if self.config.parallel && rows.len() >= PARALLEL_MIN_ROWS && n_features > 1 {
            // One contiguous group of features per thread.
            let group = n_features.div_ceil(rayon::current_num_threads().max(1));
            buffer
                .par_chunks_mut(feature_len * group)
                .zip(touched.par_chunks_mut(group))
                .enumerate()
                .for_each(|(index, (histograms, ranges))| build(index * group, histograms, ranges));
        } else {
            build(0, buffer, touched);
        }
        set
    }

    /// Builds the histograms of every feature for the node `rows` (statistics `totals`) and, when `scan`, finds
    /// its best split; with `sibling` (the parent's histograms, the sibling's totals and rows) also turns the parent's
    /// histograms into the sibling's by subtraction and finds the sibling's best split. All of it in one pass
    /// over groups of features, one group per thread, each feature's histogram scanned while it is still in
    /// cache: one parallel region per split instead of one per step. Results equal [`Grower::best_split`]'s
    /// over all features: the highest score, ties to the lowest feature index.
    #[allow(clippy::type_complexity)]
    fn build_and_scan(
        &mut self,
        rows: &[u32],
        totals: &[f64],
        scan: bool,
        sibling: Option<(HistogramSet<C::Stat>, &[f64], &[u32])>,
    ) -> (
        HistogramSet<C::Stat>,
        Option<Split>,
        Option<(HistogramSet<C::Stat>, Option<Split>)>,
    ) {
        let mut own = self.take_buffer();
        self.gather(rows);
        let (data, criterion, feature_len) = (self.data, self.criterion, self.feature_len);
        let (n_stats, min_leaf) = (self.n_stats, self.config.min_samples_leaf);
        let gathered = &self.gathered[..];
        let n_features = own.touched.len();
        let (mut sibling_set, sibling_totals, sibling_rows) = match sibling {
            Some((set, totals, rows)) => (Some(set), Some(totals), rows),
            None => (None, None, &[][..]),
        };
        let threads = if self.config.parallel {
            rayon::current_num_threads().max(1)
        } else {
            1
        };
        let group = n_features.div_ceil(threads).max(1);
        type Best = Option<(usize, usize, f64, Vec<f64>)>;
        let work = |first: usize,
                    histograms: &mut [C::Stat],
                    touched: &mut [(usize, usize)],
                    parent: Option<(&mut [C::Stat], &[(usize, usize)])>|
         -> (Best, Best) {
            accumulate_features(
                criterion,
                data,
                first,
                rows,
                gathered,
                feature_len,
                histograms,
                touched,
            );
            let (mut left, mut right, mut best_left) =
                (vec![0.0; n_stats], vec![0.0; n_stats], vec![0.0; n_stats]);
            let mut scan_one = |feature: usize,
                                histogram: &[C::Stat],
                                range,
                                rows: &[u32],
                                totals: &[f64],
                                best: &mut Best| {
                if let Some((bin, score)) = scan_node(
                    criterion,
                    histogram,
                    range,
                    data.column(feature),
                    rows,
                    totals,
                    min_leaf,
                    &mut left,
                    &mut right,
                    &mut best_left,
                ) && bin != usize::MAX
                    && best.as_ref().is_none_or(|b| score > b.2)
                {
                    *best = Some((feature, bin, score, best_left.clone()));
                }
            };
            let (mut own_best, mut sibling_best): (Best, Best) = (None, None);
            let mut parent = parent;
            for (offset, histogram) in histograms.chunks(feature_len).enumerate() {
                let feature = first + offset;
                let range = touched[offset];
                if scan {
                    scan_one(feature, histogram, range, rows, totals, &mut own_best);
                }
                if let (Some((parent_data, parent_touched)), Some(sibling_totals)) =
                    (parent.as_mut(), sibling_totals)
                {
                    let parent_histogram =
                        &mut parent_data[offset * feature_len..(offset + 1) * feature_len];
                    let (lo, hi) = range;
                    for (t, s) in parent_histogram[lo * n_stats..hi * n_stats]
                        .iter_mut()
                        .zip(&histogram[lo * n_stats..hi * n_stats])
                    {
                        *t -= *s;
                    }
                    scan_one(
                        feature,
                        parent_histogram,
                        parent_touched[offset],
                        sibling_rows,
                        sibling_totals,
                        &mut sibling_best,
                    );
                }
            }
            (own_best, sibling_best)
        };
        let HistogramSet {
            data: buffer,
            touched,
        } = &mut own;
        let results: Vec<(Best, Best)> = match sibling_set.as_mut() {
            Some(parent) if threads > 1 => buffer
                .par_chunks_mut(feature_len * group)
                .zip(touched.par_chunks_mut(group))
                .zip(parent.data.par_chunks_mut(feature_len * group))
                .zip(parent.touched.par_chunks(group))
                .enumerate()
                .map(|(index, (((h, t), pd), pt))| work(index * group, h, t, Some((pd, pt))))
                .collect(),
            None if threads > 1 => buffer
                .par_chunks_mut(feature_len * group)
                .zip(touched.par_chunks_mut(group))
                .enumerate()
                .map(|(index, (h, t))| work(index * group, h, t, None))
                .collect(),
            Some(parent) => vec![work(
                0,
                buffer,
                touched,
                Some((&mut parent.data, &parent.touched)),
            )],
            None => vec![work(0, buffer, touched, None)],
        };
        let (own_bests, sibling_bests): (Vec<Best>, Vec<Best>) = results.into_iter().unzip();
        // Groups are in feature order: a later group wins only with a strictly higher score.
        let pick = |bests: Vec<Best>, totals: &[f64]| -> Option<Split> {
            let best = bests
                .into_iter()
                .flatten()
                .reduce(|a, b| if b.2 > a.2 { b } else { a })?;
            let (feature, bin, score, left_totals) = best;
            let gain = score - criterion.score(totals);
            (gain > self.config.min_gain).then_some(Split {
                feature,
                bin,
                gain,
                left_totals,
            })
        };
        let own_split = if scan { pick(own_bests, totals) } else { None };
        let sibling_result = match (sibling_set, sibling_totals) {
            (Some(set), Some(sibling_totals)) => {
                let split = pick(sibling_bests, sibling_totals);
                Some((set, split))
            }
            _ => None,
        };
        (own, own_split, sibling_result)
    }

    /// `parent - small`, written into the parent's buffer (histogram subtraction).
    fn subtract(
        &mut self,
        mut parent: HistogramSet<C::Stat>,
        small: &HistogramSet<C::Stat>,
    ) -> HistogramSet<C::Stat> {
        let n_stats = self.n_stats;
        for feature in 0..self.data.n_features() {
            let (lo, hi) = small.touched[feature];
            let base = feature * self.feature_len;
            let target = &mut parent.data[base + lo * n_stats..base + hi * n_stats];
            let source = &small.data[base + lo * n_stats..base + hi * n_stats];
            for (t, s) in target.iter_mut().zip(source) {
                *t -= *s;
            }
        }
        parent
    }

    /// Stable partition of `rows` by `bin <= split_bin` on `feature`; returns the number going left. Large
    /// nodes are partitioned in parallel chunks (each into its own left and right part, then concatenated in
    /// chunk order, which keeps the result stable).
    fn partition(&mut self, rows: &mut [u32], feature: usize, split_bin: usize) -> usize {
        let column = self.data.column(feature);
        let split_bin = split_bin as u8;
        self.partition_buffer.clear();
        self.partition_buffer.resize(rows.len(), 0);
        let threads = rayon::current_num_threads();
        if !self.config.parallel || threads < 2 || rows.len() < PARALLEL_PARTITION_ROWS {
            let n_left = partition_chunk(column, split_bin, rows, &mut self.partition_buffer);
            let n_right = rows.len() - n_left;
            rows[n_left..].copy_from_slice(&self.partition_buffer[..n_right]);
            return n_left;
        }
        let chunk = rows.len().div_ceil(threads);
        // Each chunk's lefts stay at the front of its slice of `rows`, its rights at the front of its slice of
        // the buffer.
        let counts: Vec<usize> = rows
            .par_chunks_mut(chunk)
            .zip(self.partition_buffer.par_chunks_mut(chunk))
            .map(|(rows, rights)| partition_chunk(column, split_bin, rows, rights))
            .collect();
        let mut gathered = Vec::with_capacity(rows.len());
        for (index, &n_left) in counts.iter().enumerate() {
            gathered.extend_from_slice(&rows[index * chunk..index * chunk + n_left]);
        }
        let n_left = gathered.len();
        for (index, &n_left) in counts.iter().enumerate() {
            let size = chunk.min(rows.len() - index * chunk);
            gathered.extend_from_slice(
                &self.partition_buffer[index * chunk..index * chunk + size - n_left],
            );
        }
        rows.copy_from_slice(&gathered);
        n_left
    }

    /// [`Grower::best_split`] over every feature of kept histograms, the features scanned in parallel. The
    /// result is the sequential one: the highest score, ties to the lowest feature index.
    fn best_split_parallel(
        &self,
        set: &HistogramSet<C::Stat>,
        totals: &[f64],
        parent_score: f64,
    ) -> Option<Split> {
        let (criterion, n_stats, min_leaf) =
            (self.criterion, self.n_stats, self.config.min_samples_leaf);
        let best = set
            .data
            .par_chunks(self.feature_len)
            .zip(set.touched.par_iter())
            .enumerate()
            .filter_map(|(feature, (histogram, &touched))| {
                let (mut left, mut right, mut best_left) =
                    (vec![0.0; n_stats], vec![0.0; n_stats], vec![0.0; n_stats]);
                let (bin, score) = criterion.scan(
                    histogram,
                    touched,
                    totals,
                    min_leaf,
                    &mut left,
                    &mut right,
                    &mut best_left,
                )?;
                (bin != usize::MAX).then_some((feature, bin, score, best_left))
            })
            .reduce_with(|a, b| {
                if b.2 > a.2 || (b.2 == a.2 && b.0 < a.0) {
                    b
                } else {
                    a
                }
            })?;
        let (feature, bin, score, left_totals) = best;
        let gain = score - parent_score;
        (gain > self.config.min_gain).then_some(Split {
            feature,
            bin,
            gain,
            left_totals,
        })
    }

    /// The best split over the features this node examines: all of them, or (with `max_features` below the
    /// feature count) features in a random order until `max_features` non-constant ones have been seen, as
    /// scikit-learn does.
    fn best_split(
        &mut self,
        rows: &[u32],
        totals: &[f64],
        histograms: Option<&HistogramSet<C::Stat>>,
        rng: &mut Rng,
    ) -> Option<Split> {
        let n_features = self.data.n_features();
        let sample_features = self.config.max_features < n_features;
        if sample_features {
            rng.shuffle(&mut self.feature_order);
        }
        let parent_score = self.criterion.score(totals);
        if let Some(set) = histograms
            && !sample_features
            && self.config.parallel
            && rows.len() >= PARALLEL_MIN_ROWS
        {
            return self.best_split_parallel(set, totals, parent_score);
        }
        if histograms.is_none() {
            self.gather(rows);
        }
        let mut best: Option<(usize, usize, f64)> = None;
        let mut best_score = f64::NEG_INFINITY;
        let mut examined = 0;
        for position in 0..n_features {
            if examined >= self.config.max_features {
                break;
            }
            let feature = if sample_features {
                self.feature_order[position]
            } else {
                position
            };
            let base = feature * self.feature_len;
            let (histogram, touched, scratch_used) = match histograms {
                Some(set) => (
                    &set.data[base..base + self.feature_len],
                    set.touched[feature],
                    false,
                ),
                None => {
                    let touched = self.criterion.accumulate(
                        self.data.column(feature),
                        rows,
                        &self.gathered,
                        &mut self.scratch,
                    );
                    (&self.scratch[..], touched, true)
                }
            };
            let found = scan_node(
                self.criterion,
                histogram,
                touched,
                self.data.column(feature),
                rows,
                totals,
                self.config.min_samples_leaf,
                &mut self.left_stats,
                &mut self.right_stats,
                &mut self.feature_best_left,
            );
            if scratch_used {
                let (lo, hi) = touched;
                self.scratch[lo * self.n_stats..hi * self.n_stats].fill(C::Stat::default());
            }
            let Some((bin, score)) = found else {
                continue;
            };
            examined += 1;
            if bin != usize::MAX && score > best_score {
                best_score = score;
                best = Some((feature, bin, score - parent_score));
                self.best_left.copy_from_slice(&self.feature_best_left);
            }
        }
        best.filter(|&(_, _, gain)| gain > self.config.min_gain)
            .map(|(feature, bin, gain)| Split {
                feature,
                bin,
                gain,
                left_totals: self.best_left.clone(),
            })
    }
}

/// Scans one feature's histogram; returns `(best bin, its score)` with bin `usize::MAX` when no split of this
/// feature respects the leaf limits, or `None` when the feature is constant in the node.
#[allow(clippy::too_many_arguments)]
#[inline]
fn scan_feature<C: Criterion>(
    criterion: &C,
    histogram: &[f64],
    touched: (usize, usize),
    totals: &[f64],
    n_stats: usize,
    min_samples_leaf: usize,
    left: &mut [f64],
    right: &mut [f64],
    best_left: &mut [f64],
) -> Option<(usize, f64)> {
    let (lo, hi) = nonempty_range(histogram, touched, n_stats, n_stats - 1)?;
    left.fill(0.0);
    Some(scan_bins(
        criterion,
        histogram,
        lo..hi - 1,
        totals,
        n_stats,
        min_samples_leaf,
        left,
        right,
        best_left,
    ))
}

/// The loop of [`scan_feature`] over candidate bins `bins` (ascending; `left` starts at zero): `(best bin, its
/// score)`, bin `usize::MAX` when no split respects the limits.
#[allow(clippy::too_many_arguments)]
#[inline]
fn scan_bins<C: Criterion>(
    criterion: &C,
    histogram: &[f64],
    bins: impl Iterator<Item = usize>,
    totals: &[f64],
    n_stats: usize,
    min_samples_leaf: usize,
    left: &mut [f64],
    right: &mut [f64],
    best_left: &mut [f64],
) -> (usize, f64) {
    let count_slot = n_stats - 1;
    let total_count = totals[count_slot];
    let min_leaf = min_samples_leaf as f64;
    let mut best_bin = usize::MAX;
    let mut best_score = f64::NEG_INFINITY;
    for bin in bins {
        let slot = &histogram[bin * n_stats..(bin + 1) * n_stats];
        for (l, s) in left.iter_mut().zip(slot) {
            *l += s;
        }
        // An empty bin moves no row: its split is the previous bin's (in fully grown trees most bins of a
        // small node are empty, and the scores are most of the time). Its other statistics are still added,
        // as a subtracted histogram may leave rounding residue there.
        if slot[count_slot] == 0.0 {
            continue;
        }
        let left_count = left[count_slot];
        if left_count < min_leaf {
            continue;
        }
        if total_count - left_count < min_leaf {
            break;
        }
        for ((r, t), l) in right.iter_mut().zip(totals).zip(left.iter()) {
            *r = t - l;
        }
        if !criterion.child_allowed(left) || !criterion.child_allowed(right) {
            continue;
        }
        let score = criterion.score(left) + criterion.score(right);
        if score > best_score {
            best_score = score;
            best_bin = bin;
            best_left.copy_from_slice(left);
        }
    }
    (best_bin, best_score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;
    use crate::tree::quantized::QuantizedGradients;

    fn random_data(n_rows: usize, n_features: usize, seed: u64) -> (Matrix, Vec<u32>, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let values: Vec<f64> = (0..n_rows * n_features)
            .map(|i| {
                // Some features with few distinct values, so that bins stay empty and ranges matter.
                if i % n_features == 0 {
                    rng.below(4) as f64
                } else {
                    rng.normal()
                }
            })
            .collect();
        let x = Matrix::new(n_rows, n_features, values);
        let classes: Vec<u32> = (0..n_rows)
            .map(|r| u32::from(x.row(r)[1] + 0.5 * x.row(r)[2] + 0.3 * rng.normal() > 0.0))
            .collect();
        let targets: Vec<f64> = (0..n_rows)
            .map(|r| x.row(r)[1].sin() + x.row(r)[0])
            .collect();
        (x, classes, targets)
    }

    fn both_ways<C: Criterion>(criterion: &C, x: &Matrix, config: &GrowConfig) {
        let mapper = BinMapper::fit(x, None, 255, 0);
        let binned = mapper.transform(x, None);
        let rows: Vec<u32> = (0..x.n_rows() as u32).collect();
        let fused = grow_with(
            &binned,
            &mapper,
            criterion,
            rows.clone(),
            config,
            &mut Rng::new(1),
            true,
        );
        let plain = grow_with(
            &binned,
            &mapper,
            criterion,
            rows,
            config,
            &mut Rng::new(1),
            false,
        );
        assert!(fused.tree.n_nodes() > 3, "the tree should split");
        assert_eq!(fused.tree, plain.tree);
        assert_eq!(fused.importances, plain.importances);
        assert_eq!(fused.leaves, plain.leaves);
        assert_eq!(fused.rows, plain.rows);
    }

    #[test]
    fn the_fused_pass_grows_the_same_trees() {
        let (x, classes, targets) = random_data(6_000, 7, 5);
        let weights = vec![1.0; x.n_rows()];
        let best_first = GrowConfig {
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 20,
            max_features: x.n_cols(),
            max_leaves: Some(31),
            min_gain: 0.0,
            parallel: true,
        };
        let depth_first = GrowConfig {
            max_depth: Some(6),
            max_leaves: None,
            min_samples_leaf: 1,
            min_gain: f64::NEG_INFINITY,
            parallel: false,
            ..best_first.clone()
        };
        let gini = ClassCriterion {
            classes: &classes,
            weights: &weights,
            n_classes: 2,
        };
        let gradients: Vec<f64> = targets.iter().map(|t| -t).collect();
        let squared = GradientCriterion {
            gradients: &gradients,
            hessians: &weights,
            l2: 0.0,
            min_hessian: f64::MIN_POSITIVE,
            targets: Some(&targets),
        };
        let mut quantized = QuantizedGradients::default();
        quantized.quantize(&gradients, &weights, 2);
        let boosting = quantized.criterion(0.0, 1e-3);
        for config in [&best_first, &depth_first] {
            both_ways(&gini, &x, config);
            both_ways(&squared, &x, config);
            both_ways(&boosting, &x, config);
        }
    }

    /// A subtracted histogram can leave rounding residue in a bin no row of the node falls in; a split there
    /// would move the same rows as the bin before it but put the threshold elsewhere. Both scans choose bins
    /// that hold rows.
    #[test]
    fn a_split_never_lands_on_an_empty_bin() {
        // Bins 0..4; bin 2 holds no row but a residue that makes its (meaningless) score the highest.
        let mut gradient_histogram = vec![0.0; 4 * 3];
        for (bin, (g, count)) in [(-3.0, 3.0), (-1.0, 1.0), (-1e-9, 0.0), (4.0, 4.0)]
            .into_iter()
            .enumerate()
        {
            gradient_histogram[bin * 3..bin * 3 + 3].copy_from_slice(&[g, count, count]);
        }
        let totals: Vec<f64> = (0..3)
            .map(|slot| gradient_histogram.iter().skip(slot).step_by(3).sum())
            .collect();
        let squared = GradientCriterion {
            gradients: &[],
            hessians: &[],
            l2: 0.0,
            min_hessian: f64::MIN_POSITIVE,
            targets: None,
        };
        let (mut left, mut right, mut best_left) = ([0.0; 3], [0.0; 3], [0.0; 3]);
        let (bin, _) = squared
            .scan(
                &gradient_histogram,
                (0, 4),
                &totals,
                1,
                &mut left,
                &mut right,
                &mut best_left,
            )
            .expect("a split");
        assert_eq!(bin, 1, "the split after bin 1, not after the empty bin 2");
        assert_eq!(best_left[2], 4.0);

        // The same for the generic scan (Gini): bin 1 is empty but carries a residue of class 0.
        let mut class_histogram = vec![0.0; 3 * 3];
        for (bin, slot) in [[3.0, 0.0, 3.0], [1e-9, 0.0, 0.0], [0.0, 4.0, 4.0]]
            .into_iter()
            .enumerate()
        {
            class_histogram[bin * 3..bin * 3 + 3].copy_from_slice(&slot);
        }
        let class_totals: Vec<f64> = (0..3)
            .map(|slot| class_histogram.iter().skip(slot).step_by(3).sum())
            .collect();
        let gini = ClassCriterion {
            classes: &[],
            weights: &[],
            n_classes: 2,
        };
        let (mut left, mut right, mut best_left) = ([0.0; 3], [0.0; 3], [0.0; 3]);
        let (bin, _) = gini
            .scan(
                &class_histogram,
                (0, 3),
                &class_totals,
                1,
                &mut left,
                &mut right,
                &mut best_left,
            )
            .expect("a split");
        assert_eq!(bin, 0, "class 0 alone on the left");
        assert_eq!(best_left[2], 3.0);
    }

    #[test]
    fn occupied_bins_lists_the_bins_of_the_rows() {
        let column: Vec<u8> = vec![7, 200, 7, 0, 255, 64, 63];
        let occupied = OccupiedBins::of(&column, &[0, 1, 2, 4, 5, 6]);
        assert_eq!(occupied.first(), Some(7));
        assert_eq!(occupied.last(), Some(255));
        let candidates: Vec<usize> = occupied
            .split_candidates()
            .expect("bins to split")
            .collect();
        assert_eq!(candidates, vec![7, 63, 64, 200]);
        assert_eq!(OccupiedBins::of(&column, &[]).first(), None);
        // One occupied bin (rows 0 and 2 both in bin 7) leaves nothing to split.
        assert!(
            OccupiedBins::of(&column, &[0, 2])
                .split_candidates()
                .is_none()
        );
    }

    /// The sparse scan of a small node gives the dense scan's split, bit for bit, for both f64 criteria.
    #[test]
    fn the_occupied_bins_scan_finds_the_dense_scans_split() {
        let mut rng = Rng::new(11);
        let n_rows = 2_000;
        let column: Vec<u8> = (0..n_rows).map(|_| rng.below(256) as u8).collect();
        let gradients: Vec<f64> = (0..n_rows).map(|_| rng.normal()).collect();
        let hessians: Vec<f64> = (0..n_rows).map(|_| 0.5 + rng.below(3) as f64).collect();
        let classes: Vec<u32> = (0..n_rows).map(|_| rng.below(3) as u32).collect();
        let weights = vec![1.0; n_rows];
        let squared = GradientCriterion {
            gradients: &gradients,
            hessians: &hessians,
            l2: 0.5,
            min_hessian: 1e-3,
            targets: None,
        };
        let gini = ClassCriterion {
            classes: &classes,
            weights: &weights,
            n_classes: 3,
        };
        fn compare<C: Criterion<Stat = f64>>(criterion: &C, column: &[u8], rows: &[u32]) -> usize {
            let n_stats = criterion.n_stats();
            let mut gathered = vec![0.0; rows.len() * criterion.gathered_per_row()];
            criterion.gather(rows, &mut gathered);
            let mut histogram = vec![0.0; 256 * n_stats];
            let touched = criterion.accumulate(column, rows, &gathered, &mut histogram);
            let mut totals = vec![0.0; n_stats];
            for &row in rows {
                criterion.add_row(row as usize, &mut totals);
            }
            let mut scratch = [vec![0.0; n_stats], vec![0.0; n_stats]];
            let (mut dense_left, mut sparse_left) = (vec![0.0; n_stats], vec![0.0; n_stats]);
            let [left, right] = &mut scratch;
            let dense = criterion.scan(
                &histogram,
                touched,
                &totals,
                2,
                left,
                right,
                &mut dense_left,
            );
            let occupied = OccupiedBins::of(column, rows);
            let sparse = criterion.scan_occupied(
                &histogram,
                &occupied,
                &totals,
                2,
                left,
                right,
                &mut sparse_left,
            );
            assert_eq!(dense, sparse, "rows {rows:?}");
            if let Some((bin, _)) = dense
                && bin != usize::MAX
            {
                assert_eq!(dense_left, sparse_left);
                return 1;
            }
            0
        }
        let mut splits = 0;
        for size in [1, 2, 3, 5, 8, 13, 21, 40] {
            for _ in 0..50 {
                let mut rows: Vec<u32> = (0..size).map(|_| rng.below(n_rows) as u32).collect();
                rows.sort_unstable();
                rows.dedup();
                splits += compare(&squared, &column, &rows);
                splits += compare(&gini, &column, &rows);
            }
        }
        assert!(splits > 300, "most nodes should split ({splits})");
    }
}
