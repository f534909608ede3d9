//! Least squares and ridge through a singular value decomposition. A tall design is first reduced by a
//! Householder QR (so the SVD works on a small square `R`), a wide one is decomposed through its transpose;
//! the SVD itself is one-sided Jacobi (Hestenes), which is slow only for very many features but accurate to
//! working precision even when the design is ill-conditioned or rank deficient. The normal equations are never
//! formed: they square the condition number, and the minimum-norm answer scikit-learn gives for a
//! rank-deficient design needs the singular values anyway.

/// The solution of `min ‖A w − b‖² + alpha ‖w‖²` for a dense `n × p` design.
#[derive(Debug, Clone)]
pub(crate) struct LeastSquares {
    pub coefficients: Vec<f64>,
    /// Singular values above `rcond × largest` (all of them when the largest is zero: rank 0).
    pub rank: usize,
}

/// Column-major storage, because both Householder reflections and Jacobi rotations work on whole columns.
struct Columns {
    len: usize,
    data: Vec<f64>,
}

impl Columns {
    fn col(&self, j: usize) -> &[f64] {
        &self.data[j * self.len..(j + 1) * self.len]
    }

    /// Two distinct columns, both mutable (`i < j`).
    fn pair_mut(&mut self, i: usize, j: usize) -> (&mut [f64], &mut [f64]) {
        debug_assert!(i < j);
        let (head, tail) = self.data.split_at_mut(j * self.len);
        (
            &mut head[i * self.len..(i + 1) * self.len],
            &mut tail[..self.len],
        )
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `design` is row-major `n_rows × n_cols`. `alpha = 0` gives the minimum-norm least-squares solution in which
/// singular values at or below `rcond × largest` count as zero (scipy's `lstsq(cond=rcond)`); `alpha > 0`
/// gives the ridge solution, which needs no cut-off.
pub(crate) fn solve(
    design: &[f64],
    n_rows: usize,
    n_cols: usize,
    target: &[f64],
    alpha: f64,
    rcond: f64,
) -> LeastSquares {
    assert_eq!(design.len(), n_rows * n_cols, "design has the wrong size");
    assert_eq!(target.len(), n_rows, "target has the wrong length");
    if n_cols == 0 {
        return LeastSquares {
            coefficients: Vec::new(),
            rank: 0,
        };
    }
    if n_rows >= n_cols {
        solve_tall(design, n_rows, n_cols, target, alpha, rcond)
    } else {
        solve_wide(design, n_rows, n_cols, target, alpha, rcond)
    }
}

/// `A = Q R`; then `R V = G` with orthogonal columns `G_j = σ_j u_j`, so `w = Σ_j v_j (G_jᵀ Qᵀb) / (σ_j² + α)`.
fn solve_tall(
    design: &[f64],
    n_rows: usize,
    n_cols: usize,
    target: &[f64],
    alpha: f64,
    rcond: f64,
) -> LeastSquares {
    let mut a = Columns {
        len: n_rows,
        data: vec![0.0; n_rows * n_cols],
    };
    for (i, row) in design.chunks_exact(n_cols).enumerate() {
        for (j, &value) in row.iter().enumerate() {
            a.data[j * n_rows + i] = value;
        }
    }
    let mut rhs = target.to_vec();
    let mut r = Columns {
        len: n_cols,
        data: vec![0.0; n_cols * n_cols],
    };
    for k in 0..n_cols {
        let (left, right) = a.data.split_at_mut((k + 1) * n_rows);
        let v = &mut left[k * n_rows + k..];
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            // The reflection maps v to -sign(v0)‖v‖ e1; that sign avoids cancellation in v0 - diag.
            let diag = if v[0] >= 0.0 { -norm } else { norm };
            v[0] -= diag;
            let v_norm2 = v.iter().map(|x| x * x).sum::<f64>();
            let beta = 2.0 / v_norm2;
            for column in right.chunks_exact_mut(n_rows) {
                let tail = &mut column[k..];
                let scale = beta * dot(v, tail);
                tail.iter_mut()
                    .zip(v.iter())
                    .for_each(|(t, vi)| *t -= scale * vi);
            }
            let tail = &mut rhs[k..];
            let scale = beta * dot(v, tail);
            tail.iter_mut()
                .zip(v.iter())
                .for_each(|(t, vi)| *t -= scale * vi);
            r.data[k * n_cols + k] = diag;
        }
        for j in k + 1..n_cols {
            r.data[j * n_cols + k] = right[(j - k - 1) * n_rows + k];
        }
    }
    let projected = &rhs[..n_cols];
    let rotation = jacobi_orthogonalise(&mut r);
    let sigma2: Vec<f64> = (0..n_cols).map(|j| dot(r.col(j), r.col(j))).collect();
    let keep = kept_directions(&sigma2, alpha, rcond);
    let mut coefficients = vec![0.0; n_cols];
    for j in 0..n_cols {
        if !keep[j] {
            continue;
        }
        let weight = dot(r.col(j), projected) / (sigma2[j] + alpha);
        coefficients
            .iter_mut()
            .zip(rotation.col(j))
            .for_each(|(c, v)| *c += weight * v);
    }
    LeastSquares {
        coefficients,
        rank: keep_rank(&sigma2, rcond),
    }
}

/// `Aᵀ V = G` with orthogonal columns `G_j = σ_j u_j` (right singular vectors of A), so
/// `w = Σ_j G_j (v_jᵀ b) / (σ_j² + α)`.
fn solve_wide(
    design: &[f64],
    n_rows: usize,
    n_cols: usize,
    target: &[f64],
    alpha: f64,
    rcond: f64,
) -> LeastSquares {
    // The columns of Aᵀ are the rows of A: the row-major data already is Aᵀ in column-major order.
    let mut transposed = Columns {
        len: n_cols,
        data: design.to_vec(),
    };
    let rotation = jacobi_orthogonalise(&mut transposed);
    let sigma2: Vec<f64> = (0..n_rows)
        .map(|j| dot(transposed.col(j), transposed.col(j)))
        .collect();
    let keep = kept_directions(&sigma2, alpha, rcond);
    let mut coefficients = vec![0.0; n_cols];
    for j in 0..n_rows {
        if !keep[j] {
            continue;
        }
        let weight = dot(rotation.col(j), target) / (sigma2[j] + alpha);
        coefficients
            .iter_mut()
            .zip(transposed.col(j))
            .for_each(|(c, g)| *c += weight * g);
    }
    LeastSquares {
        coefficients,
        rank: keep_rank(&sigma2, rcond),
    }
}

fn keep_rank(sigma2: &[f64], rcond: f64) -> usize {
    let largest = sigma2.iter().copied().fold(0.0, f64::max).sqrt();
    sigma2
        .iter()
        .filter(|&&s2| largest > 0.0 && s2.sqrt() > rcond * largest)
        .count()
}

/// Ridge keeps every direction (`σ / (σ² + α)` is bounded); least squares drops the numerically null ones.
fn kept_directions(sigma2: &[f64], alpha: f64, rcond: f64) -> Vec<bool> {
    let largest = sigma2.iter().copied().fold(0.0, f64::max).sqrt();
    sigma2
        .iter()
        .map(|&s2| {
            if alpha > 0.0 {
                s2 > 0.0
            } else {
                largest > 0.0 && s2.sqrt() > rcond * largest
            }
        })
        .collect()
}

/// One-sided Jacobi: rotates pairs of columns of `m` until all are mutually orthogonal, and returns the
/// accumulated rotation `V` (square, one column per column of `m`). Afterwards `m_original · V = m`.
fn jacobi_orthogonalise(m: &mut Columns) -> Columns {
    let n = m.data.len() / m.len.max(1);
    let mut v = Columns {
        len: n,
        data: vec![0.0; n * n],
    };
    for j in 0..n {
        v.data[j * n + j] = 1.0;
    }
    // Quadratic convergence makes ~6–10 sweeps typical; the cap only guards against a pathological input.
    const MAX_SWEEPS: usize = 60;
    for _ in 0..MAX_SWEEPS {
        let mut rotated = false;
        for i in 0..n {
            for j in i + 1..n {
                let (ci, cj) = m.pair_mut(i, j);
                let a = dot(ci, ci);
                let b = dot(cj, cj);
                let g = dot(ci, cj);
                if g == 0.0 || g.abs() <= f64::EPSILON * (a * b).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (b - a) / (2.0 * g);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                rotate(ci, cj, c, s);
                let (vi, vj) = v.pair_mut(i, j);
                rotate(vi, vj, c, s);
            }
        }
        if !rotated {
            break;
        }
    }
    v
}

fn rotate(x: &mut [f64], y: &mut [f64], c: f64, s: f64) {
    for (xi, yi) in x.iter_mut().zip(y.iter_mut()) {
        let (a, b) = (*xi, *yi);
        *xi = c * a - s * b;
        *yi = s * a + c * b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn residual_normal_equations(
        a: &[f64],
        n: usize,
        p: usize,
        b: &[f64],
        w: &[f64],
        alpha: f64,
    ) -> f64 {
        // Aᵀ(A w − b) + α w should vanish at the optimum.
        let residual: Vec<f64> = (0..n)
            .map(|i| dot(&a[i * p..(i + 1) * p], w) - b[i])
            .collect();
        (0..p)
            .map(|j| {
                let g: f64 = (0..n).map(|i| a[i * p + j] * residual[i]).sum::<f64>() + alpha * w[j];
                g.abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn tall_solution_satisfies_the_normal_equations() {
        let mut rng = crate::rng::Rng::new(3);
        let (n, p) = (40, 4);
        let a: Vec<f64> = (0..n * p).map(|_| rng.normal()).collect();
        let b: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        for alpha in [0.0, 0.5, 10.0] {
            let solution = solve(&a, n, p, &b, alpha, 1e-6);
            assert_eq!(solution.rank, p);
            let residual = residual_normal_equations(&a, n, p, &b, &solution.coefficients, alpha);
            assert!(residual < 1e-12, "alpha {alpha}: {residual}");
        }
    }

    #[test]
    fn exactly_solvable_wide_system_is_interpolated_with_minimum_norm() {
        // Two equations, three unknowns: w = Aᵀ(AAᵀ)⁻¹b is the minimum-norm interpolant.
        let a = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let b = [2.0, 3.0];
        let w = solve(&a, 2, 3, &b, 0.0, 1e-6).coefficients;
        // AAᵀ = [[2,1],[1,2]], (AAᵀ)⁻¹b = [1/3, 4/3], Aᵀ· = [1/3, 4/3, 5/3].
        for (got, want) in w.iter().zip([1.0 / 3.0, 4.0 / 3.0, 5.0 / 3.0]) {
            assert!((got - want).abs() < 1e-14, "{w:?}");
        }
    }

    #[test]
    fn duplicated_column_splits_the_weight_evenly() {
        // y = 2 x with x given twice: the minimum-norm solution is 1 and 1, and the rank is 1.
        let xs = [1.0, -2.0, 0.5, 3.0];
        let a: Vec<f64> = xs.iter().flat_map(|&x| [x, x]).collect();
        let b: Vec<f64> = xs.iter().map(|x| 2.0 * x).collect();
        let solution = solve(&a, 4, 2, &b, 0.0, 1e-6);
        assert_eq!(solution.rank, 1);
        for c in &solution.coefficients {
            assert!((c - 1.0).abs() < 1e-14, "{:?}", solution.coefficients);
        }
    }

    #[test]
    fn zero_design_gives_zero_coefficients() {
        let solution = solve(&[0.0; 6], 3, 2, &[1.0, 2.0, 3.0], 0.0, 1e-6);
        assert_eq!(solution.coefficients, vec![0.0, 0.0]);
        assert_eq!(solution.rank, 0);
    }
}
