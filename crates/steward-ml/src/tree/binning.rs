//! Feature binning for histogram-based split finding: each feature is cut once, at quantiles of the training
//! data, into at most 255 bins, and the training matrix is stored column-major as one byte per value.
//!
//! Bin edges are the thresholds the fitted trees keep, so they are chosen to be exactly representable as `f32`
//! (ONNX tree ensembles store float32 thresholds and compare float32 inputs). An edge `t` between two adjacent
//! distinct training values `a < b` is kept only when `a <= t` and `f32(b) > t`; then every training value
//! lands on the same side of `t` whether compared as `f64` or after rounding to `f32`, and the binning
//! (`x <= t` goes to the lower bin) agrees with prediction on raw rows.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::matrix::Matrix;
use crate::rng::Rng;

/// Quantiles are computed on at most this many rows (scikit-learn's HistGradientBoosting uses the same
/// subsample): the edges barely move beyond it, and sorting a million values per feature would dominate.
const BINNING_SUBSAMPLE: usize = 200_000;

/// Per-feature bin edges, ascending and f32-representable. Bin `i` holds values in `(edges[i-1], edges[i]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BinMapper {
    pub edges: Vec<Vec<f64>>,
}

/// The training matrix as bin indices, column-major: `column(f)[row]`.
pub(crate) struct BinnedMatrix {
    n_rows: usize,
    codes: Vec<u8>,
    /// Bins in use per feature (`edges.len() + 1`).
    pub n_bins: Vec<usize>,
}

impl BinnedMatrix {
    pub fn column(&self, feature: usize) -> &[u8] {
        &self.codes[feature * self.n_rows..(feature + 1) * self.n_rows]
    }

    pub fn n_features(&self) -> usize {
        self.n_bins.len()
    }

    pub fn max_bins(&self) -> usize {
        self.n_bins.iter().copied().max().unwrap_or(1)
    }
}

impl BinMapper {
    /// Fits edges on the rows of `x` listed in `rows` (all rows when `None`), at most `max_bins` bins each.
    pub fn fit(x: &Matrix, rows: Option<&[usize]>, max_bins: usize, seed: u64) -> BinMapper {
        let mut sample: Vec<usize> = match rows {
            Some(rows) => rows.to_vec(),
            None => (0..x.n_rows()).collect(),
        };
        if sample.len() > BINNING_SUBSAMPLE {
            Rng::new(seed).shuffle(&mut sample);
            sample.truncate(BINNING_SUBSAMPLE);
        }
        let edges = (0..x.n_cols())
            .into_par_iter()
            .map(|feature| {
                let mut values: Vec<f64> = sample.iter().map(|&r| x.get(r, feature)).collect();
                values.sort_unstable_by(f64::total_cmp);
                feature_edges(&values, max_bins)
            })
            .collect();
        BinMapper { edges }
    }

    pub fn bin(&self, feature: usize, value: f64) -> u8 {
        // Values above the last edge go to the last bin; `partition_point` counts edges below `value`.
        self.edges[feature].partition_point(|&edge| edge < value) as u8
    }

    /// Bins the given rows of `x` (all rows when `None`); row `i` of the result is `rows[i]`.
    pub fn transform(&self, x: &Matrix, rows: Option<&[usize]>) -> BinnedMatrix {
        let n_rows = rows.map_or(x.n_rows(), <[usize]>::len);
        let mut codes = vec![0u8; n_rows * x.n_cols()];
        if n_rows > 0 {
            codes
                .par_chunks_mut(n_rows)
                .enumerate()
                .for_each(|(feature, column)| match rows {
                    Some(rows) => {
                        for (code, &r) in column.iter_mut().zip(rows) {
                            *code = self.bin(feature, x.get(r, feature));
                        }
                    }
                    None => {
                        for (r, code) in column.iter_mut().enumerate() {
                            *code = self.bin(feature, x.get(r, feature));
                        }
                    }
                });
        }
        BinnedMatrix {
            n_rows,
            codes,
            n_bins: self.edges.iter().map(|e| e.len() + 1).collect(),
        }
    }
}

/// Edges for one feature's sorted values: between every pair of adjacent distinct values when there are few,
/// otherwise at `max_bins - 1` evenly spaced quantiles (each moved to just above a distinct value, so that
/// equal values never straddle an edge).
fn feature_edges(sorted: &[f64], max_bins: usize) -> Vec<f64> {
    let mut distinct: Vec<f64> = Vec::new();
    for &v in sorted {
        if distinct.last() != Some(&v) {
            distinct.push(v);
        }
    }
    let mut edges = Vec::new();
    let mut push_edge = |lower: f64, upper: f64| {
        if let Some(edge) = f32_edge_between(lower, upper)
            && edges.last().is_none_or(|&last| edge > last)
        {
            edges.push(edge);
        }
    };
    if distinct.len() <= max_bins {
        for pair in distinct.windows(2) {
            push_edge(pair[0], pair[1]);
        }
    } else {
        let n = sorted.len();
        for i in 1..max_bins {
            let position = ((i as f64 / max_bins as f64) * (n - 1) as f64).round() as usize;
            let lower = sorted[position];
            // The next distinct value above `lower`: binary search in the distinct list.
            let next = distinct.partition_point(|&d| d <= lower);
            if let Some(&upper) = distinct.get(next) {
                push_edge(lower, upper);
            }
        }
    }
    edges
}

/// An f32-representable threshold `t` with `lower <= t` and `f32(upper) > t`, near the midpoint; `None` when
/// the two values are indistinguishable in f32 (they then share a bin).
fn f32_edge_between(lower: f64, upper: f64) -> Option<f64> {
    let midpoint = lower + (upper - lower) / 2.0;
    let mut edge = midpoint as f32;
    if f64::from(edge) < lower {
        edge = edge.next_up();
    }
    let edge = f64::from(edge);
    (edge.is_finite() && edge >= lower && f64::from(upper as f32) > edge && upper > edge)
        .then_some(edge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let x = Matrix::new(6, 1, vec![3.0, 1.0, 2.0, 2.0, 1.0, 3.0]);
        let mapper = BinMapper::fit(&x, None, 255, 0);
        assert_eq!(mapper.edges[0], vec![1.5, 2.5]);
        let binned = mapper.transform(&x, None);
        assert_eq!(binned.column(0), &[2, 0, 1, 1, 0, 2]);
    }

    #[test]
    fn many_values_are_cut_into_at_most_max_bins_balanced_bins() {
        let values: Vec<f64> = (0..10_000).map(|i| (i as f64).sqrt() * 0.37).collect();
        let x = Matrix::new(values.len(), 1, values);
        let mapper = BinMapper::fit(&x, None, 16, 0);
        assert_eq!(mapper.edges[0].len(), 15);
        let binned = mapper.transform(&x, None);
        let mut counts = [0usize; 16];
        for &b in binned.column(0) {
            counts[b as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (500..=750).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn edges_are_f32_and_agree_with_f32_rounded_inputs() {
        // Values closer together than f32 resolution, and values that f32 rounding would move across a
        // naive midpoint.
        let mut rng = Rng::new(3);
        let values: Vec<f64> = (0..5_000)
            .map(|i| 1.0 + (i % 300) as f64 * 1e-9 + rng.next_f64() * 1e-12)
            .collect();
        let x = Matrix::new(values.len(), 1, values.clone());
        let mapper = BinMapper::fit(&x, None, 255, 0);
        let binned = mapper.transform(&x, None);
        for (&value, &code) in values.iter().zip(binned.column(0)) {
            for (i, &edge) in mapper.edges[0].iter().enumerate() {
                assert_eq!(f64::from(edge as f32), edge, "edge not f32-representable");
                let left_f64 = value <= edge;
                let left_f32 = f64::from(value as f32) <= edge;
                assert_eq!(left_f64, left_f32, "value {value} edge {edge}");
                assert_eq!(left_f64, (code as usize) <= i);
            }
        }
    }
}
