//! Operators of the native plan. Each is compiled once from its node (attributes parsed and checked, arrays
//! laid out) and then runs on whole batches.

pub mod basic;
pub mod linear;
pub mod tree;

use crate::attrs::Attributes;
use crate::error::RuntimeResult;

/// `post_transform` of the ONNX-ML operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Softmax,
    Logistic,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    pub fn parse(attrs: &Attributes) -> RuntimeResult<PostTransform> {
        Ok(match attrs.string("post_transform", "NONE")?.as_str() {
            "NONE" => PostTransform::None,
            "SOFTMAX" => PostTransform::Softmax,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            other => return Err(attrs.error(format!("unknown post_transform '{other}'"))),
        })
    }
}

/// Applies a post transform to one row of scores in place.
pub fn apply_post_transform(transform: PostTransform, scores: &mut [f64]) {
    match transform {
        PostTransform::None => {}
        PostTransform::Logistic => {
            for s in scores.iter_mut() {
                *s = 1.0 / (1.0 + (-*s).exp());
            }
        }
        PostTransform::Softmax => softmax(scores, false),
        PostTransform::SoftmaxZero => softmax(scores, true),
        PostTransform::Probit => {
            for s in scores.iter_mut() {
                *s = probit(*s);
            }
        }
    }
}

/// Softmax; with `keep_zeros`, entries that are exactly 0 stay 0 (ONNX's SOFTMAX_ZERO).
pub fn softmax(scores: &mut [f64], keep_zeros: bool) {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for s in scores.iter_mut() {
        if keep_zeros && *s == 0.0 {
            continue;
        }
        *s = (*s - max).exp();
        total += *s;
    }
    if total > 0.0 {
        for s in scores.iter_mut() {
            *s /= total;
        }
    }
}

/// The inverse of the standard normal CDF, as ONNX-ML defines PROBIT: `sqrt(2) * erfinv(2p - 1)`.
fn probit(p: f64) -> f64 {
    std::f64::consts::SQRT_2 * erf_inv(2.0 * p - 1.0)
}

/// Inverse error function (Giles' single-precision approximation, refined by two Newton steps).
fn erf_inv(x: f64) -> f64 {
    if x <= -1.0 {
        return f64::NEG_INFINITY;
    }
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let mut y = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_36e-08;
        for c in [
            3.432_739_39e-07,
            -3.523_387_7e-06,
            -4.391_506_54e-06,
            0.000_218_580_87,
            -0.001_253_725_03,
            -0.004_177_681_64,
            0.246_640_727,
            1.501_409_41,
        ] {
            p = c + p * w;
        }
        p * x
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        for c in [
            0.000_100_950_558,
            0.001_349_343_22,
            -0.003_673_428_44,
            0.005_739_507_73,
            -0.007_622_461_3,
            0.009_438_870_47,
            1.001_674_06,
            2.832_976_82,
        ] {
            p = c + p * w;
        }
        p * x
    };
    for _ in 0..2 {
        let err = erf(y) - x;
        y -= err / (2.0 / std::f64::consts::PI.sqrt() * (-y * y).exp());
    }
    y
}

/// The error function (Abramowitz-Stegun 7.1.26 is too coarse here; this is the series/continued fraction
/// pair with about 1e-15 accuracy).
fn erf(x: f64) -> f64 {
    if x.abs() < 2.0 {
        // Maclaurin series.
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for n in 1..60 {
            term *= -x2 / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    } else {
        // Continued fraction for erfc.
        let ax = x.abs();
        let mut f = 0.0;
        for n in (1..60).rev() {
            f = n as f64 / 2.0 / (ax + f);
        }
        let erfc = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f);
        x.signum() * (1.0 - erfc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probit_inverts_the_normal_cdf() {
        // scipy.stats.norm.ppf
        assert!((probit(0.975) - 1.959_963_984_540_054).abs() < 1e-9);
        assert!((probit(0.5)).abs() < 1e-12);
        assert!((probit(0.1) + 1.281_551_565_544_600_5).abs() < 1e-9);
    }

    #[test]
    fn softmax_zero_keeps_zeros() {
        let mut scores = [0.0, 1.0, 2.0];
        softmax(&mut scores, true);
        assert_eq!(scores[0], 0.0);
        assert!((scores[1] + scores[2] - 1.0).abs() < 1e-12);
    }
}
