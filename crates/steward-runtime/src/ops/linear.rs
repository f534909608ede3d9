//! `ai.onnx.ml` LinearClassifier and LinearRegressor: one coefficient row per class or target.

use rayon::prelude::*;

use crate::attrs::Attributes;
use crate::error::{RuntimeResult, invalid_input};
use crate::onnx::NodeProto;
use crate::ops::tree::Labels;
use crate::ops::{PostTransform, apply_post_transform, exp_batchable};

#[derive(Debug, Clone)]
struct Weights {
    /// `n_outputs × n_features`, row-major, in float32 as ONNX computes linear models.
    coefficients_f32: Vec<f32>,
    intercepts: Vec<f64>,
    n_outputs: usize,
    n_features: usize,
}

impl Weights {
    fn new(attrs: &Attributes, n_outputs: usize) -> RuntimeResult<Weights> {
        let coefficients = attrs.numbers("coefficients")?;
        let mut intercepts = attrs.numbers("intercepts")?;
        if n_outputs == 0 || coefficients.is_empty() || coefficients.len() % n_outputs != 0 {
            return Err(attrs.error(format!(
                "{} coefficients do not split into {n_outputs} output(s)",
                coefficients.len()
            )));
        }
        if intercepts.is_empty() {
            intercepts = vec![0.0; n_outputs];
        }
        if intercepts.len() != n_outputs {
            return Err(attrs.error(format!(
                "{} intercepts for {n_outputs} output(s)",
                intercepts.len()
            )));
        }
        Ok(Weights {
            n_features: coefficients.len() / n_outputs,
            coefficients_f32: coefficients.iter().map(|&c| c as f32).collect(),
            intercepts,
            n_outputs,
        })
    }

    fn check(&self, width: usize) -> RuntimeResult<()> {
        if width != self.n_features {
            return Err(invalid_input(format!(
                "the linear model takes {} features but the input has {width}",
                self.n_features
            )));
        }
        Ok(())
    }

    /// Scores of one row: a float32 dot product per output, plus the intercept.
    fn scores(&self, row: &[f32], out: &mut [f64]) {
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.score_of(k, row);
        }
    }

    /// The score of output `k`: four partial sums, which the compiler turns into one SIMD register (four
    /// lanes is what every x86-64 has; a feature count that is a multiple of four leaves no scalar tail).
    #[inline]
    fn score_of(&self, k: usize, row: &[f32]) -> f64 {
        let n = self.n_features;
        let w = &self.coefficients_f32[k * n..(k + 1) * n];
        let mut partial = [0.0f32; 4];
        let mut w_chunks = w.chunks_exact(4);
        let mut x_chunks = row.chunks_exact(4);
        for (wc, xc) in (&mut w_chunks).zip(&mut x_chunks) {
            for lane in 0..4 {
                partial[lane] += wc[lane] * xc[lane];
            }
        }
        let mut total = (partial[0] + partial[2]) + (partial[1] + partial[3]);
        for (wv, xv) in w_chunks.remainder().iter().zip(x_chunks.remainder()) {
            total += wv * xv;
        }
        self.intercepts[k] + f64::from(total)
    }

    /// Row 1 is row 0 negated, coefficients and intercept, exactly.
    fn mirrored(&self) -> bool {
        let n = self.n_features;
        self.n_outputs == 2
            && self.intercepts[1] == -self.intercepts[0]
            && self.coefficients_f32[..n]
                .iter()
                .zip(&self.coefficients_f32[n..])
                .all(|(a, b)| *b == -*a)
    }
}

/// Batches of at least this many rows are scored on every core, in blocks of [`BLOCK`] rows. A row costs
/// tens of nanoseconds, so smaller batches finish before the other threads would have woken up.
const PARALLEL_ROWS: usize = 16_384;
const BLOCK: usize = 4_096;

#[derive(Debug, Clone)]
pub struct LinearClassifier {
    weights: Weights,
    pub labels: Labels,
    post_transform: PostTransform,
    /// Two rows where the second is exactly the first negated (skl2onnx's binary logistic regression): one
    /// dot product gives both scores, `[-s, s]`, bit for bit.
    mirrored: bool,
}

impl LinearClassifier {
    pub fn compile(node: &NodeProto) -> RuntimeResult<LinearClassifier> {
        let attrs = Attributes::new(node);
        let labels = Labels::from_attributes(&attrs)?;
        let n_intercepts = attrs.numbers("intercepts")?.len();
        let n_outputs = if n_intercepts > 0 {
            n_intercepts
        } else {
            labels.len()
        };
        let weights = Weights::new(&attrs, n_outputs)?;
        if !(n_outputs == labels.len() || (labels.len() == 2 && n_outputs == 1)) {
            return Err(attrs.error(format!(
                "{n_outputs} coefficient rows for {} class labels",
                labels.len()
            )));
        }
        Ok(LinearClassifier {
            mirrored: weights.mirrored(),
            weights,
            labels,
            post_transform: PostTransform::parse(&attrs)?,
        })
    }

    pub fn n_features(&self) -> usize {
        self.weights.n_features
    }

    /// Label indices and scores (`n_rows × n_classes`, or `n_rows × 1` for a single-row binary model, as ONNX
    /// Runtime writes them).
    pub fn run(&self, x: &[f32], width: usize) -> RuntimeResult<(Vec<usize>, Vec<f32>, usize)> {
        self.weights.check(width)?;
        let n_rows = x.len().checked_div(width).unwrap_or(0);
        let k = self.weights.n_outputs;
        // Binary with one coefficient row: ONNX Runtime writes two scores [-s, s] (after the transform: for
        // LOGISTIC [1 - p, p]), and the label is the positive one when s > 0.
        let out_width = if k == 1 { 2 } else { k };
        let mut labels = vec![0usize; n_rows];
        let mut out = vec![0.0f32; n_rows * out_width];
        let run_block = |rows: &[f32], labels: &mut [usize], out: &mut [f32]| {
            if self.mirrored && self.post_transform == PostTransform::Logistic {
                self.mirrored_logistic(rows, width.max(1), labels, out);
                return;
            }
            let mut scores = vec![0.0; k];
            for ((row, label), out) in rows
                .chunks_exact(width.max(1))
                .zip(labels.iter_mut())
                .zip(out.chunks_exact_mut(out_width))
            {
                *label = self.row(row, &mut scores, out);
            }
        };
        if n_rows >= PARALLEL_ROWS {
            x[..n_rows * width]
                .par_chunks(BLOCK * width)
                .zip(labels.par_chunks_mut(BLOCK))
                .zip(out.par_chunks_mut(BLOCK * out_width))
                .for_each(|((rows, labels), out)| run_block(rows, labels, out));
        } else {
            run_block(&x[..n_rows * width], &mut labels, &mut out);
        }
        Ok((labels, out, out_width))
    }

    /// Binary logistic regression over many rows: the scores first, then every exponential in one loop that
    /// compiles to SIMD ([`exp_batchable`]), then the two probabilities per row. On CPUs with AVX2 the same
    /// code is compiled for it (twice the lanes, the same operations in the same order, so the same bits).
    fn mirrored_logistic(&self, rows: &[f32], width: usize, labels: &mut [usize], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above; nothing else is required.
            unsafe { self.mirrored_logistic_avx2(rows, width, labels, out) };
            return;
        }
        self.mirrored_logistic_portable(rows, width, labels, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn mirrored_logistic_avx2(
        &self,
        rows: &[f32],
        width: usize,
        labels: &mut [usize],
        out: &mut [f32],
    ) {
        self.mirrored_logistic_portable(rows, width, labels, out);
    }

    #[inline(always)]
    fn mirrored_logistic_portable(
        &self,
        rows: &[f32],
        width: usize,
        labels: &mut [usize],
        out: &mut [f32],
    ) {
        const CHUNK: usize = 64;
        let mut s = [0.0f64; CHUNK];
        let mut e = [0.0f64; CHUNK];
        for ((rows, labels), out) in rows
            .chunks(CHUNK * width)
            .zip(labels.chunks_mut(CHUNK))
            .zip(out.chunks_mut(CHUNK * 2))
        {
            let n = labels.len();
            for (s, row) in s.iter_mut().zip(rows.chunks_exact(width)) {
                *s = self.weights.score_of(1, row);
            }
            for (e, &s) in e[..n].iter_mut().zip(&s[..n]) {
                *e = exp_batchable(-s);
            }
            for i in 0..n {
                let (s, e) = (s[i], e[i]);
                // 1/(1+e^s) = e^-s/(1+e^-s) and 1/(1+e^-s): one exponential and one division for both.
                let positive = 1.0 / (1.0 + e);
                let negative = e * positive;
                // NaN stays NaN (the clamped exponential would turn it into a number).
                let nan = s.is_nan();
                out[2 * i] = if nan { f32::NAN } else { negative as f32 };
                out[2 * i + 1] = if nan { f32::NAN } else { positive as f32 };
                labels[i] = usize::from(s > -s);
            }
        }
    }

    /// One row's label index and its `out_width` scores.
    #[inline]
    fn row(&self, row: &[f32], scores: &mut [f64], out: &mut [f32]) -> usize {
        if self.mirrored {
            // (With LOGISTIC, `run` takes `mirrored_logistic` instead, for whole blocks.)
            let s = self.weights.score_of(1, row);
            scores[0] = -s;
            scores[1] = s;
            apply_post_transform(self.post_transform, scores);
            out[0] = scores[0] as f32;
            out[1] = scores[1] as f32;
            // The first of equal scores wins, as in the general case.
            return usize::from(s > -s);
        }
        self.weights.scores(row, scores);
        if scores.len() == 1 {
            let s = scores[0];
            let pair = match self.post_transform {
                PostTransform::Logistic => {
                    let p = 1.0 / (1.0 + (-s).exp());
                    [1.0 - p, p]
                }
                PostTransform::None => [-s, s],
                other => {
                    let mut pair = [-s, s];
                    apply_post_transform(other, &mut pair);
                    pair
                }
            };
            out[0] = pair[0] as f32;
            out[1] = pair[1] as f32;
            return usize::from(s > 0.0);
        }
        let best = scores
            .iter()
            .enumerate()
            .fold(
                (0, f64::NEG_INFINITY),
                |b, (i, &s)| if s > b.1 { (i, s) } else { b },
            )
            .0;
        apply_post_transform(self.post_transform, scores);
        for (o, &s) in out.iter_mut().zip(scores.iter()) {
            *o = s as f32;
        }
        best
    }
}

#[derive(Debug, Clone)]
pub struct LinearRegressor {
    weights: Weights,
    post_transform: PostTransform,
}

impl LinearRegressor {
    pub fn compile(node: &NodeProto) -> RuntimeResult<LinearRegressor> {
        let attrs = Attributes::new(node);
        let targets = usize::try_from(attrs.int("targets", 1))
            .ok()
            .filter(|&t| t >= 1)
            .ok_or_else(|| attrs.error("targets must be at least 1"))?;
        Ok(LinearRegressor {
            weights: Weights::new(&attrs, targets)?,
            post_transform: PostTransform::parse(&attrs)?,
        })
    }

    pub fn n_features(&self) -> usize {
        self.weights.n_features
    }

    pub fn n_targets(&self) -> usize {
        self.weights.n_outputs
    }

    pub fn run(&self, x: &[f32], width: usize) -> RuntimeResult<Vec<f32>> {
        self.weights.check(width)?;
        let k = self.weights.n_outputs;
        let n_rows = x.len() / width.max(1);
        let mut out = vec![0.0f32; n_rows * k];
        let run_block = |rows: &[f32], out: &mut [f32]| {
            let mut scores = vec![0.0; k];
            for (row, out) in rows.chunks_exact(width.max(1)).zip(out.chunks_exact_mut(k)) {
                self.weights.scores(row, &mut scores);
                apply_post_transform(self.post_transform, &mut scores);
                for (o, &s) in out.iter_mut().zip(scores.iter()) {
                    *o = s as f32;
                }
            }
        };
        if n_rows >= PARALLEL_ROWS && k > 0 {
            x[..n_rows * width]
                .par_chunks(BLOCK * width)
                .zip(out.par_chunks_mut(BLOCK * k))
                .for_each(|(rows, out)| run_block(rows, out));
        } else {
            run_block(&x[..n_rows * width], &mut out);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::AttributeProto;

    fn attribute(name: &str) -> AttributeProto {
        AttributeProto {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// skl2onnx's binary logistic regression: two mirrored coefficient rows, LOGISTIC.
    fn mirrored_classifier(n_features: usize) -> LinearClassifier {
        let row: Vec<f32> = (0..n_features).map(|i| (i as f32 * 0.37).sin()).collect();
        let coefficients: Vec<f32> = row.iter().map(|c| -c).chain(row.iter().copied()).collect();
        let node = NodeProto {
            op_type: "LinearClassifier".to_string(),
            domain: "ai.onnx.ml".to_string(),
            attribute: vec![
                AttributeProto {
                    floats: coefficients,
                    ..attribute("coefficients")
                },
                AttributeProto {
                    floats: vec![-0.25, 0.25],
                    ..attribute("intercepts")
                },
                AttributeProto {
                    ints: vec![0, 1],
                    ..attribute("classlabels_ints")
                },
                AttributeProto {
                    s: b"LOGISTIC".to_vec(),
                    ..attribute("post_transform")
                },
            ],
            ..Default::default()
        };
        LinearClassifier::compile(&node).expect("a valid LinearClassifier")
    }

    #[test]
    fn the_avx2_build_gives_the_same_bits() {
        for n_features in [1, 3, 4, 20, 23] {
            let model = mirrored_classifier(n_features);
            assert!(model.mirrored);
            let n_rows = 300;
            let mut x: Vec<f32> = (0..n_rows * n_features)
                .map(|i| ((i * 7919) % 1000) as f32 / 50.0 - 10.0)
                .collect();
            x[5] = f32::NAN;
            let (mut labels, mut out) = (vec![0; n_rows], vec![0.0f32; 2 * n_rows]);
            model.mirrored_logistic_portable(&x, n_features, &mut labels, &mut out);
            // Probabilities sum to one and the label is the likelier class.
            for (label, pair) in labels.iter().zip(out.chunks_exact(2)) {
                if pair[0].is_nan() {
                    continue;
                }
                assert!((pair[0] + pair[1] - 1.0).abs() < 1e-6);
                assert_eq!(*label, usize::from(pair[1] > pair[0]), "{pair:?}");
            }
            let nan_row = 5 / n_features;
            assert!(
                out[2 * nan_row].is_nan() && out[2 * nan_row + 1].is_nan(),
                "a NaN input gives NaN probabilities"
            );
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let (mut wide_labels, mut wide_out) = (vec![0; n_rows], vec![0.0f32; 2 * n_rows]);
                // SAFETY: AVX2 is present, checked just above.
                unsafe {
                    model.mirrored_logistic_avx2(&x, n_features, &mut wide_labels, &mut wide_out)
                };
                assert_eq!(labels, wide_labels);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&out), bits(&wide_out), "{n_features} features");
            }
        }
    }
}
