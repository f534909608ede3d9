//! Boosting's split criterion on quantized gradients, after LightGBM's quantized training (Shi et al., "Quantized
//! Training of Gradient Boosting Decision Trees", NeurIPS 2022).
//!
//! Each round, every row's gradient and hessian become integers: `round(g / scale)` with stochastic rounding
//! (unbiased: the expected integer is exactly `g / scale`), where `scale` spreads the largest magnitude over as
//! many levels as the node sums can hold without overflowing `i32`. A row's histogram contribution is then
//! `[g, h, 1, 0]` as four `i32`: one 16-byte vector add per row and feature instead of three `f64` adds, and
//! histogram subtraction is exact. Splits are chosen on the quantized sums; the leaf values are Newton steps
//! recomputed from the exact `f64` gradients of the leaf's rows (see `boosting::renew_leaf_values`), so only the
//! choice among nearly equal splits can differ from full precision.

use rayon::prelude::*;

use super::grow::{Criterion, nonempty_range};
use crate::rng::Rng;

/// Slots of one row's (and one bin's) statistics: gradient, hessian, row count, padding to 16 bytes.
const SLOTS: usize = 4;
const GRADIENT: usize = 0;
const HESSIAN: usize = 1;
const COUNT: usize = 2;
/// More levels than this add nothing to an `f64` gain comparison; fewer are used when many rows could overflow
/// a node's `i32` sum.
const MAX_LEVELS: f64 = (1u32 << 20) as f64;
/// Rows per parallel chunk (and per random stream, so the result does not depend on the thread count).
const CHUNK: usize = 8_192;

/// 2^-32: a 32-bit integer times this is uniform in [0, 1).
const UNIT_32: f64 = 1.0 / 4_294_967_296.0;
/// Added before truncating so that truncation (toward zero) is a floor: above every `|value| + 1`, since
/// `|value| <= levels <= MAX_LEVELS`.
const FLOOR_OFFSET: f64 = 2.0 * MAX_LEVELS;

/// `floor(value + u)` clamped to `±limit`, for `u` uniform in [0, 1): `value`'s floor or ceiling, and `value` in
/// expectation. Truncation after an offset instead of `f64::floor`, which is a library call without SSE4.1.
#[inline]
fn stochastic_round(value: f64, u: f64, limit: f64) -> i32 {
    let shifted = (value + u).clamp(-limit, limit) + FLOOR_OFFSET;
    (shifted as i64 - FLOOR_OFFSET as i64) as i32
}

/// One round's quantized gradients and hessians of one output.
#[derive(Default)]
pub(crate) struct QuantizedGradients {
    /// `[gradient, hessian, 1, 0]` per row, in quantization units.
    rows: Vec<[i32; SLOTS]>,
    gradient_scale: f64,
    hessian_scale: f64,
}

impl QuantizedGradients {
    /// Quantizes `gradients` and `hessians` (one per row) in place of the previous round's values; `seed` drives
    /// the stochastic rounding.
    pub fn quantize(&mut self, gradients: &[f64], hessians: &[f64], seed: u64) {
        let n_rows = gradients.len().max(1);
        // |sum| <= levels * rows must fit an i32, the type of the histogram bins.
        let levels = (f64::from(i32::MAX) / n_rows as f64)
            .floor()
            .clamp(1.0, MAX_LEVELS);
        let max_gradient = gradients
            .par_iter()
            .map(|g| g.abs())
            .reduce(|| 0.0, f64::max);
        let max_hessian = hessians
            .par_iter()
            .map(|h| h.abs())
            .reduce(|| 0.0, f64::max);
        let scale = |max: f64| if max > 0.0 { max / levels } else { 1.0 };
        self.gradient_scale = scale(max_gradient);
        self.hessian_scale = scale(max_hessian);
        let (to_gradient, to_hessian) = (1.0 / self.gradient_scale, 1.0 / self.hessian_scale);
        self.rows.resize(gradients.len(), [0; SLOTS]);
        let root = Rng::new(seed);
        self.rows
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(chunk, out)| {
                let mut rng = root.fork(chunk as u64);
                let first = chunk * CHUNK;
                for (offset, slot) in out.iter_mut().enumerate() {
                    let row = first + offset;
                    // One draw gives both rounding offsets (32 bits each are plenty for levels <= 2^20).
                    let bits = rng.next_u64();
                    let (u, v) = ((bits >> 32) as f64, (bits & 0xFFFF_FFFF) as f64);
                    *slot = [
                        stochastic_round(gradients[row] * to_gradient, u * UNIT_32, levels),
                        stochastic_round(hessians[row] * to_hessian, v * UNIT_32, levels),
                        1,
                        0,
                    ];
                }
            });
    }

    pub fn criterion(&self, l2: f64, min_hessian: f64) -> QuantizedCriterion<'_> {
        QuantizedCriterion {
            rows: &self.rows,
            gradient_scale: self.gradient_scale,
            hessian_scale: self.hessian_scale,
            l2,
            min_hessian,
        }
    }
}

/// The range of bins a histogram build touched.
#[derive(Clone, Copy)]
struct Touched {
    lo: usize,
    hi: usize,
}

impl Touched {
    fn new() -> Self {
        Touched {
            lo: usize::MAX,
            hi: 0,
        }
    }

    /// `(first, last + 1)`, or `(0, 0)` when nothing was added.
    fn get(self) -> (usize, usize) {
        if self.lo > self.hi {
            (0, 0)
        } else {
            (self.lo, self.hi + 1)
        }
    }
}

/// Adds one row's `[gradient, hessian, 1, 0]` to its bin: one 16-byte vector add.
#[inline(always)]
fn add_row(histogram: &mut [i32], range: &mut Touched, bin: u8, row: &[i32]) {
    let bin = bin as usize;
    range.lo = range.lo.min(bin);
    range.hi = range.hi.max(bin);
    let slot: &mut [i32; SLOTS] = (&mut histogram[bin * SLOTS..bin * SLOTS + SLOTS])
        .try_into()
        .expect("a bin has SLOTS statistics");
    let row: &[i32; SLOTS] = row.try_into().expect("a row has SLOTS statistics");
    for k in 0..SLOTS {
        slot[k] = slot[k].wrapping_add(row[k]);
    }
}

/// One pass over `rows` adding each row to the histograms of several features (`(column, histogram)` pairs):
/// the row's gathered values are loaded once for all of them. A macro rather than a loop over arrays, which
/// kept the touched ranges in memory instead of registers and ran slower than one feature at a time.
macro_rules! accumulate_several {
    ($rows:expr, $gathered:expr, $(($column:ident, $histogram:ident)),+) => {{
        let rows: &[u32] = $rows;
        let gathered: &[i32] = $gathered;
        let n = rows.len();
        let first_column = [$($column),+][0];
        $(let mut $histogram = ($histogram, Touched::new());)+
        if n == first_column.len() {
            // Every row, in order (the root): read the columns directly.
            $(let $column = &$column[..n];)+
            for (index, row) in gathered.chunks_exact(SLOTS).enumerate().take(n) {
                $(add_row($histogram.0, &mut $histogram.1, $column[index], row);)+
            }
        } else {
            for (&index, row) in rows.iter().zip(gathered.chunks_exact(SLOTS)) {
                let index = index as usize;
                $(add_row($histogram.0, &mut $histogram.1, $column[index], row);)+
            }
        }
        [$($histogram.1.get()),+]
    }};
}

pub(crate) struct QuantizedCriterion<'a> {
    rows: &'a [[i32; SLOTS]],
    gradient_scale: f64,
    hessian_scale: f64,
    l2: f64,
    min_hessian: f64,
}

impl QuantizedCriterion<'_> {
    /// `G² / (H + l2)` of integer sums, in the gradients' own units.
    #[inline]
    fn score_of(&self, gradient: f64, hessian: f64) -> f64 {
        let denominator = hessian * self.hessian_scale + self.l2;
        if denominator <= 0.0 {
            0.0
        } else {
            let g = gradient * self.gradient_scale;
            g * g / denominator
        }
    }

    #[inline]
    fn hessian_allowed(&self, hessian: f64) -> bool {
        hessian * self.hessian_scale >= self.min_hessian
    }
}

impl Criterion for QuantizedCriterion<'_> {
    type Stat = i32;

    fn n_stats(&self) -> usize {
        SLOTS
    }

    fn n_outputs(&self) -> usize {
        1
    }

    #[inline]
    fn add_row(&self, row: usize, slot: &mut [f64]) {
        for (s, &q) in slot.iter_mut().zip(&self.rows[row]) {
            *s += f64::from(q);
        }
    }

    fn gathered_per_row(&self) -> usize {
        SLOTS
    }

    fn gather(&self, rows: &[u32], out: &mut [i32]) {
        for (o, &row) in out.chunks_exact_mut(SLOTS).zip(rows) {
            o.copy_from_slice(&self.rows[row as usize]);
        }
    }

    fn accumulate(
        &self,
        column: &[u8],
        rows: &[u32],
        gathered: &[i32],
        histogram: &mut [i32],
    ) -> (usize, usize) {
        let mut range = Touched::new();
        if rows.len() == column.len() {
            // Every row, in order (the root): read the column directly.
            for (&bin, row) in column.iter().zip(gathered.chunks_exact(SLOTS)) {
                add_row(histogram, &mut range, bin, row);
            }
        } else {
            for (&index, row) in rows.iter().zip(gathered.chunks_exact(SLOTS)) {
                add_row(histogram, &mut range, column[index as usize], row);
            }
        }
        range.get()
    }

    fn accumulate4(
        &self,
        columns: [&[u8]; 4],
        rows: &[u32],
        gathered: &[i32],
        histograms: [&mut [i32]; 4],
    ) -> [(usize, usize); 4] {
        let [c0, c1, c2, c3] = columns;
        let [h0, h1, h2, h3] = histograms;
        accumulate_several!(rows, gathered, (c0, h0), (c1, h1), (c2, h2), (c3, h3))
    }

    fn accumulate2(
        &self,
        columns: [&[u8]; 2],
        rows: &[u32],
        gathered: &[i32],
        histograms: [&mut [i32]; 2],
    ) -> [(usize, usize); 2] {
        let [c0, c1] = columns;
        let [h0, h1] = histograms;
        accumulate_several!(rows, gathered, (c0, h0), (c1, h1))
    }

    #[inline]
    fn score(&self, stats: &[f64]) -> f64 {
        self.score_of(stats[GRADIENT], stats[HESSIAN])
    }

    #[inline]
    fn child_allowed(&self, stats: &[f64]) -> bool {
        self.hessian_allowed(stats[HESSIAN])
    }

    fn is_pure(&self, _rows: &[u32]) -> bool {
        false
    }

    fn leaf_value(&self, stats: &[f64], out: &mut [f64]) {
        let denominator = stats[HESSIAN] * self.hessian_scale + self.l2;
        out[0] = if denominator > 0.0 {
            -stats[GRADIENT] * self.gradient_scale / denominator
        } else {
            0.0
        };
    }

    /// The scan of `grow::scan_feature` on integer prefix sums: the same bins, limits and tie-breaking (the
    /// first bin of the highest score). (A three-pass form whose middle pass compiles to AVX2 divisions measured
    /// no faster.)
    #[inline]
    fn scan(
        &self,
        histogram: &[i32],
        touched: (usize, usize),
        totals: &[f64],
        min_samples_leaf: usize,
        _left: &mut [f64],
        _right: &mut [f64],
        best_left: &mut [f64],
    ) -> Option<(usize, f64)> {
        let (lo, hi) = nonempty_range(histogram, touched, SLOTS, COUNT)?;
        let (total_g, total_h, total_count) = (totals[GRADIENT], totals[HESSIAN], totals[COUNT]);
        let min_leaf = min_samples_leaf as f64;
        let (gradient_scale, hessian_scale, l2) =
            (self.gradient_scale, self.hessian_scale, self.l2);
        let min_hessian = self.min_hessian;
        let (mut g, mut h, mut count) = (0i64, 0i64, 0i64);
        let mut best = usize::MAX;
        let mut best_score = f64::NEG_INFINITY;
        let mut best_sums = [0.0; 3];
        let bins = &histogram[lo * SLOTS..(hi - 1) * SLOTS];
        for (i, slot) in bins.chunks_exact(SLOTS).enumerate() {
            g += i64::from(slot[GRADIENT]);
            h += i64::from(slot[HESSIAN]);
            count += i64::from(slot[COUNT]);
            let (lg, lh, lc) = (g as f64, h as f64, count as f64);
            let (rg, rh, rc) = (total_g - lg, total_h - lh, total_count - lc);
            let (slh, srh) = (lh * hessian_scale, rh * hessian_scale);
            let (slg, srg) = (lg * gradient_scale, rg * gradient_scale);
            if rc < min_leaf {
                // The right side only shrinks from here on.
                break;
            }
            // Branch-free: which candidates are valid is as unpredictable as the data.
            if !((lc >= min_leaf) & (slh >= min_hessian) & (srh >= min_hessian)) {
                continue;
            }
            let score = slg * slg / (slh + l2) + srg * srg / (srh + l2);
            if score > best_score {
                best_score = score;
                best = i;
                best_sums = [lg, lh, lc];
            }
        }
        if best == usize::MAX {
            return Some((usize::MAX, f64::NEG_INFINITY));
        }
        best_left.copy_from_slice(&[best_sums[0], best_sums[1], best_sums[2], 0.0]);
        Some((lo + best, best_score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stochastic_rounding_is_unbiased_and_bounded() {
        let n = 40_000;
        let gradients: Vec<f64> = (0..n)
            .map(|i| ((i % 7) as f64 - 3.0) * 0.013 + 1e-4)
            .collect();
        let hessians: Vec<f64> = (0..n)
            .map(|i| 0.25 * ((i % 5) as f64 + 1.0) / 5.0)
            .collect();
        let mut q = QuantizedGradients::default();
        q.quantize(&gradients, &hessians, 3);
        let levels = (f64::from(i32::MAX) / n as f64).floor();
        let (mut sum_g, mut sum_h) = (0i64, 0i64);
        for (row, slot) in q.rows.iter().enumerate() {
            assert_eq!(slot[COUNT], 1);
            assert!(f64::from(slot[GRADIENT].abs()) <= levels);
            // Each value is the floor or the ceiling of its exact quotient.
            let exact = gradients[row] / q.gradient_scale;
            assert!(
                (f64::from(slot[GRADIENT]) - exact).abs() < 1.0 + 1e-9,
                "{row}"
            );
            sum_g += i64::from(slot[GRADIENT]);
            sum_h += i64::from(slot[HESSIAN]);
        }
        let exact_g: f64 = gradients.iter().sum();
        let exact_h: f64 = hessians.iter().sum();
        // Unbiased: the sum's error is a random walk of n steps below one unit, far below n units.
        assert!(
            (sum_g as f64 * q.gradient_scale - exact_g).abs()
                < 2.0 * (n as f64).sqrt() * q.gradient_scale
        );
        assert!(
            (sum_h as f64 * q.hessian_scale - exact_h).abs()
                < 2.0 * (n as f64).sqrt() * q.hessian_scale
        );

        // Same seed, same integers; another seed rounds differently somewhere.
        let mut again = QuantizedGradients::default();
        again.quantize(&gradients, &hessians, 3);
        assert_eq!(q.rows, again.rows);
        again.quantize(&gradients, &hessians, 4);
        assert_ne!(q.rows, again.rows);
    }

    #[test]
    fn rounding_is_a_floor_of_value_plus_offset() {
        for (value, u, expected) in [
            (2.25, 0.5, 2),
            (2.25, 0.8, 3),
            (-2.25, 0.5, -2),
            (-2.25, 0.2, -3),
            (-2.25, 0.8, -2),
            (-3.0, 0.0, -3),
            (5.0, 0.0, 5),
            (1e9, 0.3, 1000),
            (-1e9, 0.3, -1000),
        ] {
            assert_eq!(
                stochastic_round(value, u, 1000.0),
                expected,
                "{value} + {u}"
            );
        }
    }

    #[test]
    fn constant_hessians_stay_exact() {
        let gradients = vec![0.5, -1.5, 2.0, 0.0];
        let hessians = vec![1.0; 4];
        let mut q = QuantizedGradients::default();
        q.quantize(&gradients, &hessians, 0);
        let first = q.rows[0][HESSIAN];
        assert!(q.rows.iter().all(|r| r[HESSIAN] == first));
        assert_eq!(f64::from(first) * q.hessian_scale, 1.0);
        // All-zero gradients quantize to zero without dividing by zero.
        q.quantize(&[0.0; 4], &hessians, 0);
        assert!(q.rows.iter().all(|r| r[GRADIENT] == 0));
    }
}
