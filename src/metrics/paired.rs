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
    /// Two-sided bootstrap p-value of "no difference": twice the smaller share of resampled
    /// differences on either side of 0, counted as `(k + 1) / (B + 1)` so it is never 0 (it
    /// cannot resolve below `2 / (B + 1)`), at most 1.
    pub p_value: f64,
    pub level: f64,
    pub resamples: usize,
    pub seed: u64,
}

/// A p-value as reports print it: `p = 3.142e-2`, or `p < 1e-12` below what the normal tail
/// resolves.
pub fn format_p(p: f64) -> String {
    if p < 1e-12 {
        "p < 1e-12".to_string()
    } else {
        format!("p = {p:.3e}")
    }
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
pub(crate) fn midranks(v: &[f64]) -> Vec<f64> {
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

/// A score the paired bootstrap evaluates. A resample is a count per row (how often it was
/// drawn), and every score is computed from the counts over rows sorted once, so a resample
/// costs O(n) whatever the score: 2,000 resamples of 63,688 rows take a second, not a minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Score {
    RocAuc,
    PrAuc,
    /// F1 at a threshold (positive at p ≥ it).
    F1(f64),
    Accuracy(f64),
    LogLoss,
    Brier,
}

impl Score {
    /// The score for `metric` at `threshold`, if the bootstrap knows it.
    pub fn of(metric: super::Metric, threshold: f64) -> Option<Score> {
        use super::Metric;
        Some(match metric {
            Metric::RocAuc => Score::RocAuc,
            Metric::PrAuc => Score::PrAuc,
            Metric::F1 => Score::F1(threshold),
            Metric::Accuracy => Score::Accuracy(threshold),
            Metric::LogLoss => Score::LogLoss,
            Metric::Brier => Score::Brier,
            _ => return None,
        })
    }

    pub fn metric(self) -> super::Metric {
        use super::Metric;
        match self {
            Score::RocAuc => Metric::RocAuc,
            Score::PrAuc => Metric::PrAuc,
            Score::F1(_) => Metric::F1,
            Score::Accuracy(_) => Metric::Accuracy,
            Score::LogLoss => Metric::LogLoss,
            Score::Brier => Metric::Brier,
        }
    }

    /// The score on all rows as they are, by the metric functions every report uses.
    pub fn exact(self, y: &[u8], p: &[f64]) -> Result<f64, MetricsError> {
        match self {
            Score::RocAuc => super::roc_auc(y, p),
            Score::PrAuc => super::average_precision(y, p),
            Score::F1(t) => Ok(super::Confusion::at(y, p, t).f1()),
            Score::Accuracy(t) => Ok(super::Confusion::at(y, p, t).accuracy()),
            Score::LogLoss => super::log_loss(y, p),
            Score::Brier => super::brier(y, p),
        }
    }

    /// The score on rows weighted by `w`; `m` holds the model's rows ranked and each row's
    /// loss terms, computed once. None where it is undefined (one class drawn).
    fn weighted(self, y: &[u8], p: &[f64], m: &Ranked, w: &[u32]) -> Option<f64> {
        let order = &m.order;
        let total: f64 = w.iter().map(|c| *c as f64).sum();
        match self {
            Score::RocAuc | Score::PrAuc => {
                let pos: f64 = y.iter().zip(w).map(|(l, c)| (*l as f64) * *c as f64).sum();
                let neg = total - pos;
                if pos == 0.0 || neg == 0.0 {
                    return None;
                }
                let (mut tp, mut fp, mut area, mut recall0) = (0.0, 0.0, 0.0, 0.0);
                let mut i = 0;
                while i < order.len() {
                    // One group of tied probabilities at a time.
                    let (mut gp, mut gn) = (0.0, 0.0);
                    let mut j = i;
                    while j < order.len() && p[order[j]] == p[order[i]] {
                        let k = order[j];
                        let c = w[k] as f64;
                        if y[k] == 1 {
                            gp += c;
                        } else {
                            gn += c;
                        }
                        j += 1;
                    }
                    if self == Score::RocAuc {
                        // Negatives here rank below every positive above, and tie with these.
                        area += gn * (tp + 0.5 * gp);
                    }
                    tp += gp;
                    fp += gn;
                    if self == Score::PrAuc && tp + fp > 0.0 {
                        let recall = tp / pos;
                        area += (recall - recall0) * (tp / (tp + fp));
                        recall0 = recall;
                    }
                    i = j;
                }
                Some(if self == Score::RocAuc {
                    area / (pos * neg)
                } else {
                    area
                })
            }
            Score::F1(t) | Score::Accuracy(t) => {
                let mut c = super::Confusion::default();
                for ((l, q), n) in y.iter().zip(p).zip(w) {
                    let n = *n as u64;
                    match (*q >= t, *l == 1) {
                        (true, true) => c.tp += n,
                        (true, false) => c.fp += n,
                        (false, true) => c.fn_ += n,
                        (false, false) => c.tn += n,
                    }
                }
                Some(if let Score::F1(_) = self {
                    c.f1()
                } else {
                    c.accuracy()
                })
            }
            Score::LogLoss | Score::Brier => {
                let terms = if self == Score::LogLoss {
                    &m.log_loss
                } else {
                    &m.squared
                };
                let s: f64 = terms.iter().zip(w).map(|(t, n)| t * *n as f64).sum();
                Some(s / total)
            }
        }
    }
}

/// A model's rows as the bootstrap reads them: ranked by descending probability, and each
/// row's log-loss and squared-error terms, computed once for every resample.
struct Ranked {
    order: Vec<usize>,
    log_loss: Vec<f64>,
    squared: Vec<f64>,
}

impl Ranked {
    fn new(y: &[u8], p: &[f64]) -> Ranked {
        let eps = f64::EPSILON;
        Ranked {
            order: descending(p),
            log_loss: y
                .iter()
                .zip(p)
                .map(|(l, q)| {
                    let q = q.clamp(eps, 1.0 - eps);
                    if *l == 1 {
                        -q.ln()
                    } else {
                        -(1.0 - q).ln()
                    }
                })
                .collect(),
            squared: y
                .iter()
                .zip(p)
                .map(|(l, q)| (q - *l as f64).powi(2))
                .collect(),
        }
    }
}

/// Rows by descending probability (ties in row order).
fn descending(p: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&i, &j| p[j].total_cmp(&p[i]).then(i.cmp(&j)));
    order
}

/// Resamples drawn from one random stream: the bootstrap's unit of work, so the result for a
/// seed is the same on any number of cores.
const CHUNK: usize = 50;

/// A paired bootstrap of `score(b) − score(a)` for each of `scores`: `resamples` draws of the
/// rows with replacement (the same draws for both models and every score), seeded; each
/// interval is the `level` percentile interval of the differences. Draws where a score is
/// undefined (one class) are skipped for it. The draws run in parallel, one core a chunk.
pub fn bootstrap_all(
    y: &[u8],
    a: &[f64],
    b: &[f64],
    scores: &[Score],
    resamples: usize,
    seed: u64,
    level: f64,
) -> Result<Vec<Bootstrap>, MetricsError> {
    check(y, a, b)?;
    let full: Vec<f64> = scores
        .iter()
        .map(|s| Ok(s.exact(y, b)? - s.exact(y, a)?))
        .collect::<Result<_, MetricsError>>()?;
    let n = y.len();
    let (oa, ob) = (Ranked::new(y, a), Ranked::new(y, b));
    let chunks = resamples.div_ceil(CHUNK);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |c| c.get())
        .min(chunks.max(1));
    // Per chunk, per score, the differences it drew.
    let mut parts: Vec<(usize, Vec<Vec<f64>>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    let mut w = vec![0u32; n];
                    loop {
                        let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if c >= chunks {
                            return done;
                        }
                        let mut rng = Rng::derive(seed, c as u64);
                        let mut diffs = vec![Vec::with_capacity(CHUNK); scores.len()];
                        for _ in 0..CHUNK.min(resamples - c * CHUNK) {
                            w.iter_mut().for_each(|x| *x = 0);
                            for _ in 0..n {
                                w[rng.below(n as u64) as usize] += 1;
                            }
                            for (s, d) in scores.iter().zip(diffs.iter_mut()) {
                                if let (Some(sb), Some(sa)) =
                                    (s.weighted(y, b, &ob, &w), s.weighted(y, a, &oa, &w))
                                {
                                    d.push(sb - sa);
                                }
                            }
                        }
                        done.push((c, diffs));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    parts.sort_by_key(|(c, _)| *c);
    let tail = (1.0 - level) / 2.0;
    Ok(scores
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let mut d: Vec<f64> = parts
                .iter()
                .flat_map(|(_, p)| p[i].iter().copied())
                .collect();
            d.sort_by(f64::total_cmp);
            let side = |f: fn(&f64) -> bool| d.iter().filter(|x| f(x)).count() as f64;
            let p_value = if d.is_empty() {
                f64::NAN
            } else {
                let k = side(|x| *x <= 0.0).min(side(|x| *x >= 0.0));
                (2.0 * (k + 1.0) / (d.len() as f64 + 1.0)).min(1.0)
            };
            Bootstrap {
                diff: full[i],
                ci: (percentile(&d, tail), percentile(&d, 1.0 - tail)),
                p_value,
                level,
                resamples,
                seed,
            }
        })
        .collect())
}

/// `bootstrap_all` for one score.
pub fn bootstrap(
    y: &[u8],
    a: &[f64],
    b: &[f64],
    score: Score,
    resamples: usize,
    seed: u64,
    level: f64,
) -> Result<Bootstrap, MetricsError> {
    Ok(bootstrap_all(y, a, b, &[score], resamples, seed, level)?.remove(0))
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
        let b = bootstrap(&y, &p, &p, Score::RocAuc, 200, 7, 0.95).unwrap();
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
        let run = |seed| bootstrap(&y, &a, &b, Score::RocAuc, 300, seed, 0.95).unwrap();
        assert_eq!(run(1), run(1));
        assert_ne!(run(1).ci, run(2).ci);
        let r = run(1);
        assert!(r.ci.0 < r.diff && r.diff < r.ci.1, "{r:?}");
    }

    #[test]
    fn weighted_scores_on_every_row_once_are_the_scores() {
        let y: Vec<u8> = (0..500).map(|i| ((i * 7) % 5 < 2) as u8).collect();
        // Rounded, so many tie.
        let p: Vec<f64> = (0..500)
            .map(|i| ((((i * 37) % 100) as f64 / 100.0) * 0.6 + y[i] as f64 * 0.4).min(1.0))
            .map(|v| (v * 20.0).round() / 20.0)
            .collect();
        let order = Ranked::new(&y, &p);
        let ones = vec![1u32; p.len()];
        for s in [
            Score::RocAuc,
            Score::PrAuc,
            Score::F1(0.5),
            Score::Accuracy(0.5),
            Score::LogLoss,
            Score::Brier,
        ] {
            let w = s.weighted(&y, &p, &order, &ones).unwrap();
            let e = s.exact(&y, &p).unwrap();
            assert!((w - e).abs() < 1e-12, "{s:?}: {w} vs {e}");
        }
        // Counts of two are the row twice.
        let twice: Vec<u8> = y.iter().chain(&y).copied().collect();
        let p2: Vec<f64> = p.iter().chain(&p).copied().collect();
        let w = Score::PrAuc
            .weighted(&y, &p, &order, &vec![2u32; p.len()])
            .unwrap();
        assert!((w - Score::PrAuc.exact(&twice, &p2).unwrap()).abs() < 1e-12);
    }
}
