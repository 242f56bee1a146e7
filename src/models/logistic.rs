//! L2-regularised logistic regression, fitted with L-BFGS.
//!
//! The objective is scikit-learn's: mean log loss + ‖w‖² / (2·C·n), the intercept unpenalised, and
//! the fit stops when the largest gradient component falls below `tol`. The loss and its gradient
//! come from one pass over the encoded rows (a weight per feature group, not a product per
//! one-hot slot), split across threads; that pass is what makes the fit fast
//! (linfa-logistic computes Xᵀv on a transposed view, about ten times slower without BLAS, and it
//! is kept as a test-time reference: `tests/models.rs` checks both reach the same coefficients).

use crate::features::Encoded;

use super::{sigmoid, FitContext, FitError};

/// Loss and gradient at `w` (last entry the intercept).
fn loss_grad(x: &Encoded, y: &[u8], w: &[f64], l2: f64) -> (f64, Vec<f64>) {
    use rayon::prelude::*;
    let d = x.n_features();
    let n = x.n_rows();
    let chunk = 8192;
    let (loss, mut grad) = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let (lo, hi) = (c * chunk, ((c + 1) * chunk).min(n));
            let mut g = vec![0.0; d + 1];
            let mut loss = 0.0;
            for (i, &label) in y.iter().enumerate().take(hi).skip(lo) {
                let z = x.dot(i, &w[..d], w[d]);
                // log(1 + e^z) − y·z, computed stably.
                let yi = label as f64;
                loss += if z > 0.0 {
                    z + (-z).exp().ln_1p()
                } else {
                    z.exp().ln_1p()
                } - yi * z;
                let r = sigmoid(z) - yi;
                x.add_row(i, r, &mut g[..d]);
                g[d] += r;
            }
            (loss, g)
        })
        .collect::<Vec<_>>()
        // Summed in chunk order, not in whatever order threads finish: the same data and seed
        // give the same weights to the last bit.
        .into_iter()
        .fold((0.0, vec![0.0; d + 1]), |(la, mut ga), (lb, gb)| {
            for (a, b) in ga.iter_mut().zip(&gb) {
                *a += b;
            }
            (la + lb, ga)
        });
    let inv = 1.0 / n as f64;
    let mut loss = loss * inv;
    for j in 0..d {
        grad[j] = grad[j] * inv + l2 * w[j];
        loss += 0.5 * l2 * w[j] * w[j];
    }
    grad[d] *= inv;
    (loss, grad)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Returns (weights, intercept, iterations).
pub fn fit(
    x: &Encoded,
    y: &[u8],
    c: f64,
    max_iter: usize,
    tol: f64,
    ctx: &FitContext,
) -> Result<(Vec<f64>, f64, usize), FitError> {
    let d = x.n_features();
    let n = x.n_rows();
    let l2 = 1.0 / (c * n as f64);
    let mut w = vec![0.0; d + 1];
    let pos = y.iter().filter(|&&t| t == 1).count() as f64 / n as f64;
    w[d] = (pos / (1.0 - pos)).ln();
    let (mut f, mut g) = loss_grad(x, y, &w, l2);
    let m = 10;
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut iters = 0;
    while iters < max_iter {
        ctx.check_cancel()?;
        if g.iter().fold(0.0f64, |a, v| a.max(v.abs())) <= tol {
            break;
        }
        // Two-loop recursion for the search direction.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, yv) in s_hist.iter().zip(&y_hist).rev() {
            let a = dot(s, &q) / dot(yv, s);
            q.iter_mut().zip(yv).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        if let (Some(s), Some(yv)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, yv) / dot(yv, yv);
            q.iter_mut().for_each(|qi| *qi *= gamma);
        }
        for ((s, yv), a) in s_hist.iter().zip(&y_hist).zip(alphas.iter().rev()) {
            let b = dot(yv, &q) / dot(yv, s);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += si * (a - b));
        }
        let dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        let dir = if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            slope = -dot(&g, &g);
            g.iter().map(|v| -v).collect()
        } else {
            dir
        };
        // Backtracking line search with the Armijo condition.
        let mut step = if s_hist.is_empty() {
            1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0)
        } else {
            1.0
        };
        let (mut w_new, mut f_new, mut g_new);
        loop {
            w_new = w
                .iter()
                .zip(&dir)
                .map(|(a, b)| a + step * b)
                .collect::<Vec<_>>();
            (f_new, g_new) = loss_grad(x, y, &w_new, l2);
            if f_new <= f + 1e-4 * step * slope || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = w_new.iter().zip(&w).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        if dot(&s, &yv) > 1e-12 {
            s_hist.push(s);
            y_hist.push(yv);
            if s_hist.len() > m {
                s_hist.remove(0);
                y_hist.remove(0);
            }
        }
        let improvement = f - f_new;
        w = w_new;
        f = f_new;
        g = g_new;
        iters += 1;
        ctx.report(iters, max_iter, Some(("train_objective", f)));
        if improvement.abs() <= 1e-15 * f.abs().max(1.0) {
            break;
        }
    }
    let intercept = w.pop().unwrap_or(0.0);
    Ok((w, intercept, iters))
}
