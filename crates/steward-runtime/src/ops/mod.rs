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

/// e^x to within 2e-14 relative (a degree-11 polynomial after reducing by powers of two), written with plain
/// arithmetic and bit operations so that a loop over many values becomes SIMD, which a call into libm cannot.
/// Arguments are clamped to [-708, 709] (results stay normal); NaN is the caller's to handle.
#[inline]
pub fn exp_batchable(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding 1.5 * 2^52 rounds to an integer held in the low bits of the mantissa.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let x = x.clamp(-708.0, 709.0);
    let shifted = x * LOG2E + ROUND;
    let k = shifted - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let mut p = 1.0 / 39_916_800.0;
    for c in [
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // 2^k from k's bits: the exponent field is k + 1023.
    let k_bits = (shifted.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    let scale = f64::from_bits(((k_bits + 1023) as u64) << 52);
    p * scale
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
    #[test]
    fn the_batchable_exponential_equals_libm_to_two_parts_in_ten_to_the_fourteen() {
        let mut worst: f64 = 0.0;
        let mut x: f64 = -700.0;
        while x < 700.0 {
            let want = x.exp();
            let got = super::exp_batchable(x);
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        for x in [
            0.0, 1e-300, -1e-300, 0.5, -0.5, 1.0, 88.7, -88.7, 708.9, -707.9,
        ] {
            let (want, got) = (f64::exp(x), super::exp_batchable(x));
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 2e-14, "worst relative error {worst:e}");
    }

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
