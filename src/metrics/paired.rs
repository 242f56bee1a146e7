//! Paired comparisons of two models scored on the same rows: whether a difference between them
//! is real or noise.
//!
//! - ROC AUC: DeLong's test, with the fast algorithm of Sun & Xu (2014) (midranks, O(n log n)):
//!   the difference, its variance, a two-sided p-value and a normal confidence interval.
//! - Any metric: a paired bootstrap (the same resampled rows for both models), seeded, with a
//!   percentile interval (numpy's linear interpolation).
//! - Accuracy at a threshold: McNemar's exact test, the two-sided binomial test on the rows
//!   where exactly one model is right (scipy's `binomtest(min(b, c), b + c, 0.5)`).

use serde::{Deserialize, Serialize};

use super::MetricsError;
use crate::data::rng::Rng;

/// DeLong's test of `auc_b − auc_a`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeLong {
    pub auc_a: f64,
    pub auc_b: f64,
    /// `auc_b − auc_a`.
    pub diff: f64,
    /// The variance of the difference.
    pub variance: f64,
    pub z: f64,
    /// Two-sided; 1 when the two score the rows alike (variance 0, difference 0).
    pub p_value: f64,
    /// The confidence interval of the difference at `level`.
    pub ci: (f64, f64),
    pub level: f64,
}

/// McNemar's exact test on the rows where the models disagree about being right.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Rows `a` gets right and `b` wrong.
    pub only_a: u64,
    /// Rows `b` gets right and `a` wrong.
    pub only_b: u64,
    pub p_value: f64,
}

/// A paired bootstrap interval of `metric(b) − metric(a)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// The difference on the rows as they are.
    pub diff: f64,
    pub ci: (f64, f64),
    pub level: f64,
    pub resamples: usize,
    pub seed: u64,
}

/// The resamples a bootstrap takes unless told otherwise.
pub const RESAMPLES: usize = 2000;

fn check(y: &[u8], a: &[f64], b: &[f64]) -> Result<(usize, usize), MetricsError> {
    if y.is_empty() {
        return Err(MetricsError::Empty);
    }
    for p in [a, b] {
        if p.len() != y.len() {
            return Err(MetricsError::LengthMismatch {
                labels: y.len(),
                probs: p.len(),
            });
        }
    }
    if let Some(row) = y.iter().position(|v| *v > 1) {
        return Err(MetricsError::BadLabel { row, value: y[row] });
    }
    let pos = y.iter().filter(|v| **v == 1).count();
    if pos == 0 || pos == y.len() {
        return Err(MetricsError::SingleClass(u8::from(pos > 0)));
    }
    Ok((pos, y.len() - pos))
}

/// Midranks (1-based, ties sharing their mean rank) of `v`, as the fast algorithm needs them.
fn midranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && v[order[j]] == v[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

/// One model's AUC and its structural components (V10 over positives, V01 over negatives).
fn components(pos: &[f64], neg: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let (m, n) = (pos.len() as f64, neg.len() as f64);
    let tx = midranks(pos);
    let ty = midranks(neg);
    let all: Vec<f64> = pos.iter().chain(neg).copied().collect();
    let tz = midranks(&all);
    let auc = tz[..pos.len()].iter().sum::<f64>() / (m * n) - (m + 1.0) / (2.0 * n);
    let v10: Vec<f64> = (0..pos.len()).map(|i| (tz[i] - tx[i]) / n).collect();
    let v01: Vec<f64> = (0..neg.len())
        .map(|j| 1.0 - (tz[pos.len() + j] - ty[j]) / m)
        .collect();
    (auc, v10, v01)
}

/// Sample covariance (n − 1 in the denominator).
fn cov(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 2 {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    x.iter()
        .zip(y)
        .map(|(a, b)| (a - mx) * (b - my))
        .sum::<f64>()
        / (n - 1.0)
}

/// The standard normal quantile: Acklam's rational approximation, refined by one Halley step
/// on `erfc`, so it is exact to double precision for the levels a report uses.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step against the exact CDF.
    let e = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// DeLong's test of the ROC AUC difference of `b` over `a` on the same rows, with a `level`
/// (e.g. 0.95) confidence interval.
pub fn delong(y: &[u8], a: &[f64], b: &[f64], level: f64) -> Result<DeLong, MetricsError> {
    check(y, a, b)?;
    let split = |p: &[f64]| -> (Vec<f64>, Vec<f64>) {
        let pos = y.iter().zip(p).filter(|(l, _)| **l == 1).map(|(_, v)| *v);
        let neg = y.iter().zip(p).filter(|(l, _)| **l == 0).map(|(_, v)| *v);
        (pos.collect(), neg.collect())
    };
    let (pa, na) = split(a);
    let (pb, nb) = split(b);
    let (m, n) = (pa.len() as f64, na.len() as f64);
    let (auc_a, v10a, v01a) = components(&pa, &na);
    let (auc_b, v10b, v01b) = components(&pb, &nb);
    // Var(b − a) = Var(a) + Var(b) − 2 Cov(a, b), each term over positives / m + negatives / n.
    let s10 = cov(&v10a, &v10a) + cov(&v10b, &v10b) - 2.0 * cov(&v10a, &v10b);
    let s01 = cov(&v01a, &v01a) + cov(&v01b, &v01b) - 2.0 * cov(&v01a, &v01b);
    let variance = (s10 / m + s01 / n).max(0.0);
    let diff = auc_b - auc_a;
    let sd = variance.sqrt();
    let (z, p_value) = if sd > 0.0 {
        let z = diff / sd;
        (z, libm::erfc(z.abs() / std::f64::consts::SQRT_2))
    } else {
        (0.0, if diff == 0.0 { 1.0 } else { 0.0 })
    };
    let q = normal_quantile(0.5 + level / 2.0);
    Ok(DeLong {
        auc_a,
        auc_b,
        diff,
        variance,
        z,
        p_value,
        ci: (diff - q * sd, diff + q * sd),
        level,
    })
}

/// McNemar's exact test of accuracy at `threshold` (a row is predicted positive at p ≥ it).
pub fn mcnemar(y: &[u8], a: &[f64], b: &[f64], threshold: f64) -> Result<McNemar, MetricsError> {
    check(y, a, b)?;
    let (mut only_a, mut only_b) = (0u64, 0u64);
    for ((l, pa), pb) in y.iter().zip(a).zip(b) {
        let ra = u8::from(*pa >= threshold) == *l;
        let rb = u8::from(*pb >= threshold) == *l;
        match (ra, rb) {
            (true, false) => only_a += 1,
            (false, true) => only_b += 1,
            _ => {}
        }
    }
    Ok(McNemar {
        only_a,
        only_b,
        p_value: binomial_two_sided_half(only_a.min(only_b), only_a + only_b),
    })
}

/// The two-sided binomial test of `k` successes in `n` trials at p = 1/2: twice the lower tail,
/// at most 1 (the distribution is symmetric, so this equals scipy's `binomtest`).
fn binomial_two_sided_half(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let ln2 = std::f64::consts::LN_2;
    let ln_choose = |i: u64| {
        libm::lgamma(n as f64 + 1.0)
            - libm::lgamma(i as f64 + 1.0)
            - libm::lgamma((n - i) as f64 + 1.0)
    };
    // Summed from the largest term down in log space, so no term underflows the others.
    let logs: Vec<f64> = (0..=k).map(|i| ln_choose(i) - n as f64 * ln2).collect();
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = top.exp() * logs.iter().map(|l| (l - top).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// A paired bootstrap of `metric(y, b) − metric(y, a)`: `resamples` draws of the rows with
/// replacement (the same draw for both models), seeded; the interval is the `level` percentile
/// interval of the differences. Draws where the metric is undefined (one class) are skipped.
pub fn bootstrap(
    y: &[u8],
    a: &[f64],
    b: &[f64],
    metric: impl Fn(&[u8], &[f64]) -> Result<f64, MetricsError>,
    resamples: usize,
    seed: u64,
    level: f64,
) -> Result<Bootstrap, MetricsError> {
    check(y, a, b)?;
    let diff = metric(y, b)? - metric(y, a)?;
    let n = y.len();
    let mut rng = Rng::new(seed);
    let (mut ys, mut pa, mut pb) = (vec![0u8; n], vec![0.0; n], vec![0.0; n]);
    let mut diffs = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for k in 0..n {
            let i = rng.below(n as u64) as usize;
            ys[k] = y[i];
            pa[k] = a[i];
            pb[k] = b[i];
        }
        if let (Ok(mb), Ok(ma)) = (metric(&ys, &pb), metric(&ys, &pa)) {
            diffs.push(mb - ma);
        }
    }
    diffs.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Ok(Bootstrap {
        diff,
        ci: (percentile(&diffs, tail), percentile(&diffs, 1.0 - tail)),
        level,
        resamples,
        seed,
    })
}

/// numpy's `percentile` of sorted values at quantile `q` (linear interpolation).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_models_differ_by_nothing() {
        let y = [0, 1, 0, 1, 1, 0, 0, 1];
        let p = [0.1, 0.8, 0.3, 0.6, 0.7, 0.2, 0.65, 0.4];
        let d = delong(&y, &p, &p, 0.95).unwrap();
        assert_eq!((d.diff, d.p_value), (0.0, 1.0));
        let m = mcnemar(&y, &p, &p, 0.5).unwrap();
        assert_eq!((m.only_a, m.only_b, m.p_value), (0, 0, 1.0));
        let b = bootstrap(&y, &p, &p, super::super::roc_auc, 200, 7, 0.95).unwrap();
        assert_eq!((b.diff, b.ci), (0.0, (0.0, 0.0)));
    }

    #[test]
    fn quantiles_and_binomial_tails_are_exact() {
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
        assert!((normal_quantile(0.5)).abs() < 1e-15);
        assert!((normal_quantile(0.001) + 3.090_232_306_167_813_5).abs() < 1e-12);
        // 2 of 10 at 1/2: 2 × (1 + 10 + 45) / 1024.
        assert!((binomial_two_sided_half(2, 10) - 112.0 / 1024.0).abs() < 1e-15);
        assert_eq!(binomial_two_sided_half(5, 10), 1.0);
    }

    #[test]
    fn the_bootstrap_is_reproducible_for_a_seed() {
        let y: Vec<u8> = (0..200).map(|i| (i % 3 == 0) as u8).collect();
        let a: Vec<f64> = (0..200).map(|i| ((i * 37) % 100) as f64 / 100.0).collect();
        let b: Vec<f64> = y
            .iter()
            .zip(&a)
            .map(|(l, p)| (p * 0.5 + *l as f64 * 0.5).min(1.0))
            .collect();
        let run = |seed| bootstrap(&y, &a, &b, super::super::roc_auc, 300, seed, 0.95).unwrap();
        assert_eq!(run(1), run(1));
        assert_ne!(run(1).ci, run(2).ci);
        let r = run(1);
        assert!(r.ci.0 < r.diff && r.diff < r.ci.1, "{r:?}");
    }
}
