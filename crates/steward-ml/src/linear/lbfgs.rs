//! Limited-memory BFGS for smooth unconstrained minimisation, with a line search that satisfies the strong
//! Wolfe conditions (Nocedal & Wright, algorithms 3.5 and 3.6, with safeguarded cubic interpolation).
//!
//! It stops only on the gradient (`max |gᵢ| ≤ tol`, scipy's `pgtol` for an unbounded problem), not on a small
//! relative decrease of the objective: near the optimum that decrease sinks below rounding while the
//! coefficients are still ~1e-6 away, which is exactly where scipy's `ftol` stops scikit-learn's lbfgs. To keep
//! making progress there, a step is also accepted under the "approximate Wolfe" conditions of Hager & Zhang:
//! the objective did not rise by more than rounding, and the directional derivative shrank as strong Wolfe asks;
//! derivatives stay accurate long after function differences have become noise.

/// Settings of one minimisation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LbfgsSettings {
    pub max_iter: usize,
    /// Converged when the largest absolute gradient component is at most this.
    pub gradient_tol: f64,
    /// Number of correction pairs kept.
    pub memory: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct LbfgsOutcome {
    pub x: Vec<f64>,
    pub value: f64,
    pub gradient_max: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// Sufficient-decrease and curvature constants of the Wolfe conditions (the usual quasi-Newton choices).
const C1: f64 = 1e-4;
const C2: f64 = 0.9;
/// Objective evaluations allowed per line search (scikit-learn raises scipy's default 20 to 50 too).
const MAX_LINE_SEARCH_EVALS: usize = 50;
/// How far the objective may rise, relative to its size, for a step to count as "no increase beyond rounding".
const APPROXIMATE_WOLFE_SLACK: f64 = 1e-10;

/// Minimises `objective`, which writes the gradient at `x` into its second argument and returns the value.
pub(crate) fn minimize<F>(mut objective: F, x0: Vec<f64>, settings: &LbfgsSettings) -> LbfgsOutcome
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let n = x0.len();
    let mut x = x0;
    let mut gradient = vec![0.0; n];
    let mut value = objective(&x, &mut gradient);
    let mut history: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::with_capacity(settings.memory);
    let mut direction = vec![0.0; n];
    let mut trial_x = vec![0.0; n];
    let mut trial_gradient = vec![0.0; n];
    let mut iterations = 0;

    let outcome = |x: Vec<f64>, value: f64, gradient: &[f64], iterations: usize| {
        let gradient_max = max_abs(gradient);
        LbfgsOutcome {
            x,
            value,
            gradient_max,
            iterations,
            converged: gradient_max <= settings.gradient_tol,
        }
    };

    while iterations < settings.max_iter {
        if max_abs(&gradient) <= settings.gradient_tol || !value.is_finite() {
            break;
        }
        two_loop_direction(&gradient, &history, &mut direction);
        let mut slope = dot(&gradient, &direction);
        if slope.is_nan() || slope >= 0.0 {
            // Rounding can spoil the quasi-Newton direction; steepest descent always descends.
            history.clear();
            direction
                .iter_mut()
                .zip(&gradient)
                .for_each(|(d, g)| *d = -g);
            slope = dot(&gradient, &direction);
        }
        let mut first_step = if history.is_empty() {
            (1.0 / norm(&direction)).min(1.0)
        } else {
            1.0
        };
        let mut search = LineSearch {
            x: &x,
            value,
            slope,
            direction: &direction,
            trial_x: &mut trial_x,
            trial_gradient: &mut trial_gradient,
        };
        let mut accepted = search.run(&mut objective, first_step);
        if accepted.is_none() && !history.is_empty() {
            history.clear();
            direction
                .iter_mut()
                .zip(&gradient)
                .for_each(|(d, g)| *d = -g);
            slope = dot(&gradient, &direction);
            first_step = (1.0 / norm(&direction)).min(1.0);
            let mut search = LineSearch {
                x: &x,
                value,
                slope,
                direction: &direction,
                trial_x: &mut trial_x,
                trial_gradient: &mut trial_gradient,
            };
            accepted = search.run(&mut objective, first_step);
        }
        let Some(new_value) = accepted else {
            // No step lowers the objective measurably along steepest descent: as far as this precision allows,
            // this is the minimum. `converged` still reports whether the gradient test holds.
            break;
        };
        iterations += 1;
        let step: Vec<f64> = trial_x.iter().zip(&x).map(|(a, b)| a - b).collect();
        let change: Vec<f64> = trial_gradient
            .iter()
            .zip(&gradient)
            .map(|(a, b)| a - b)
            .collect();
        let curvature = dot(&step, &change);
        // Only pairs with positive curvature keep the inverse-Hessian approximation positive definite.
        if curvature > f64::EPSILON * dot(&change, &change) {
            if history.len() == settings.memory {
                history.remove(0);
            }
            history.push((step, change, 1.0 / curvature));
        }
        std::mem::swap(&mut x, &mut trial_x);
        std::mem::swap(&mut gradient, &mut trial_gradient);
        value = new_value;
    }
    outcome(x, value, &gradient, iterations)
}

/// `direction = −H g` with the two-loop recursion; `H₀ = γ I`, `γ = sᵀy / yᵀy` of the newest pair.
fn two_loop_direction(
    gradient: &[f64],
    history: &[(Vec<f64>, Vec<f64>, f64)],
    direction: &mut [f64],
) {
    direction.copy_from_slice(gradient);
    let mut alphas = vec![0.0; history.len()];
    for (k, (s, y, rho)) in history.iter().enumerate().rev() {
        let alpha = rho * dot(s, direction);
        alphas[k] = alpha;
        direction
            .iter_mut()
            .zip(y)
            .for_each(|(d, yi)| *d -= alpha * yi);
    }
    if let Some((s, y, _)) = history.last() {
        let gamma = dot(s, y) / dot(y, y);
        direction.iter_mut().for_each(|d| *d *= gamma);
    }
    for ((s, y, rho), alpha) in history.iter().zip(&alphas) {
        let beta = rho * dot(y, direction);
        direction
            .iter_mut()
            .zip(s)
            .for_each(|(d, si)| *d += (alpha - beta) * si);
    }
    direction.iter_mut().for_each(|d| *d = -*d);
}

/// One point of the line: step length, objective, directional derivative.
#[derive(Debug, Clone, Copy)]
struct Point {
    step: f64,
    value: f64,
    slope: f64,
}

struct LineSearch<'a> {
    x: &'a [f64],
    value: f64,
    slope: f64,
    direction: &'a [f64],
    /// On success these hold the accepted point and its gradient.
    trial_x: &'a mut Vec<f64>,
    trial_gradient: &'a mut Vec<f64>,
}

impl LineSearch<'_> {
    /// Returns the objective at the accepted step, or `None` when no acceptable step was found.
    fn run<F>(&mut self, objective: &mut F, first_step: f64) -> Option<f64>
    where
        F: FnMut(&[f64], &mut [f64]) -> f64,
    {
        let mut evaluations = 0;
        let mut previous = Point {
            step: 0.0,
            value: self.value,
            slope: self.slope,
        };
        let mut step = first_step;
        let (low, high) = loop {
            if evaluations == MAX_LINE_SEARCH_EVALS {
                return self.fall_back(objective, previous);
            }
            evaluations += 1;
            let point = self.evaluate(objective, step);
            if self.acceptable(point) {
                return Some(point.value);
            }
            if !self.sufficient_decrease(point)
                || (evaluations > 1 && point.value >= previous.value)
            {
                break (previous, point);
            }
            if point.slope >= 0.0 {
                break (point, previous);
            }
            previous = point;
            step *= 4.0;
        };
        self.zoom(objective, low, high, evaluations)
    }

    /// Nocedal & Wright algorithm 3.6: `low` satisfies sufficient decrease and has the lowest value so far;
    /// the minimiser lies between `low` and `high`.
    fn zoom<F>(
        &mut self,
        objective: &mut F,
        mut low: Point,
        mut high: Point,
        mut evaluations: usize,
    ) -> Option<f64>
    where
        F: FnMut(&[f64], &mut [f64]) -> f64,
    {
        while evaluations < MAX_LINE_SEARCH_EVALS {
            let width = (high.step - low.step).abs();
            if width <= f64::EPSILON * low.step.abs().max(high.step.abs()) {
                break;
            }
            let step = interpolate(low, high);
            evaluations += 1;
            let point = self.evaluate(objective, step);
            if self.acceptable(point) {
                return Some(point.value);
            }
            if !self.sufficient_decrease(point) || point.value >= low.value {
                high = point;
            } else {
                if point.slope * (high.step - low.step) >= 0.0 {
                    high = low;
                }
                low = point;
            }
        }
        self.fall_back(objective, low)
    }

    /// Out of evaluations: take the best point found if it lowered the objective (the caller skips the
    /// quasi-Newton update if its curvature is wrong), otherwise report failure.
    fn fall_back<F>(&mut self, objective: &mut F, best: Point) -> Option<f64>
    where
        F: FnMut(&[f64], &mut [f64]) -> f64,
    {
        if best.step > 0.0 && best.value < self.value {
            Some(self.evaluate(objective, best.step).value)
        } else {
            None
        }
    }

    fn evaluate<F>(&mut self, objective: &mut F, step: f64) -> Point
    where
        F: FnMut(&[f64], &mut [f64]) -> f64,
    {
        for ((t, x), d) in self.trial_x.iter_mut().zip(self.x).zip(self.direction) {
            *t = x + step * d;
        }
        let value = objective(self.trial_x, self.trial_gradient);
        Point {
            step,
            value,
            slope: dot(self.trial_gradient, self.direction),
        }
    }

    fn sufficient_decrease(&self, point: Point) -> bool {
        point.value.is_finite() && point.value <= self.value + C1 * point.step * self.slope
    }

    /// Strong Wolfe, with the decrease test relaxed to "no rise beyond rounding" (approximate Wolfe).
    fn acceptable(&self, point: Point) -> bool {
        let slack = APPROXIMATE_WOLFE_SLACK * self.value.abs();
        let decrease = self.sufficient_decrease(point) || point.value <= self.value + slack;
        decrease && point.slope.is_finite() && point.slope.abs() <= C2 * self.slope.abs()
    }
}

/// The minimiser of the cubic through both end points (value and slope), kept at least a tenth of the interval
/// away from either end; bisection when the cubic is unusable (e.g. an infinite value).
fn interpolate(a: Point, b: Point) -> f64 {
    let (lo, hi) = if a.step < b.step {
        (a.step, b.step)
    } else {
        (b.step, a.step)
    };
    let margin = 0.1 * (hi - lo);
    let bisection = 0.5 * (lo + hi);
    if !(a.value.is_finite() && b.value.is_finite() && a.slope.is_finite() && b.slope.is_finite()) {
        return bisection;
    }
    let d1 = a.slope + b.slope - 3.0 * (a.value - b.value) / (a.step - b.step);
    let discriminant = d1 * d1 - a.slope * b.slope;
    if discriminant < 0.0 {
        return bisection;
    }
    let d2 = (b.step - a.step).signum() * discriminant.sqrt();
    let step = b.step - (b.step - a.step) * (b.slope + d2 - d1) / (b.slope - a.slope + 2.0 * d2);
    if step.is_finite() && step >= lo + margin && step <= hi - margin {
        step
    } else if step.is_finite() {
        step.clamp(lo + margin, hi - margin)
    } else {
        bisection
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_the_rosenbrock_function_to_the_gradient_tolerance() {
        let rosenbrock = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let settings = LbfgsSettings {
            max_iter: 500,
            gradient_tol: 1e-12,
            memory: 10,
        };
        let result = minimize(rosenbrock, vec![-1.2, 1.0], &settings);
        assert!(result.converged, "{result:?}");
        assert!(
            (result.x[0] - 1.0).abs() < 1e-10 && (result.x[1] - 1.0).abs() < 1e-10,
            "{result:?}"
        );
    }

    #[test]
    fn ill_conditioned_quadratic_reaches_a_tight_tolerance() {
        // f = ½ Σ λᵢ (xᵢ − i)² with λ spanning six orders of magnitude.
        let scales: Vec<f64> = (0..20)
            .map(|i| 10f64.powf(-3.0 + 6.0 * i as f64 / 19.0))
            .collect();
        let objective = |x: &[f64], g: &mut [f64]| {
            let mut value = 0.0;
            for (i, (&xi, &l)) in x.iter().zip(&scales).enumerate() {
                let r = xi - i as f64;
                g[i] = l * r;
                value += 0.5 * l * r * r;
            }
            value
        };
        let settings = LbfgsSettings {
            max_iter: 10_000,
            gradient_tol: 1e-13,
            memory: 10,
        };
        let result = minimize(objective, vec![0.0; 20], &settings);
        assert!(result.converged, "{result:?}");
        for (i, xi) in result.x.iter().enumerate() {
            // Error ≤ tol / λ_min = 1e-13 / 1e-3.
            assert!((xi - i as f64).abs() < 1e-9, "{i}: {xi}");
        }
    }

    #[test]
    fn max_iter_bounds_the_iterations_and_reports_no_convergence() {
        let objective = |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * x[0] + 1e-3 * x[0].powi(3) * 4.0;
            x[0] * x[0] + 1e-3 * x[0].powi(4)
        };
        let settings = LbfgsSettings {
            max_iter: 0,
            gradient_tol: 1e-12,
            memory: 5,
        };
        let result = minimize(objective, vec![3.0], &settings);
        assert_eq!(result.iterations, 0);
        assert!(!result.converged);
    }
}
