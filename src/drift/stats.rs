//! The statistics behind drift tests, written to give the same numbers as scipy (which
//! Evidently calls): two-sample Kolmogorov–Smirnov with scipy's `auto` p-value, Pearson's
//! chi-square, the two-proportion Z-test, the Wasserstein-1 distance, the Jensen–Shannon distance
//! and the population stability index.
//!
//! Samples are weighted: a value with its count. That lets a stored reference profile (exact
//! value counts, or histogram bins) stand in for the raw training column.

/// Sorted distinct values with their weights (counts).
pub type Weighted = [(f64, f64)];

/// Sorts and merges equal values.
pub fn weighted(values: impl IntoIterator<Item = f64>) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    let mut out: Vec<(f64, f64)> = Vec::new();
    for x in v {
        match out.last_mut() {
            Some((last, w)) if *last == x => *w += 1.0,
            _ => out.push((x, 1.0)),
        }
    }
    out
}

fn total(a: &Weighted) -> f64 {
    a.iter().map(|(_, w)| w).sum()
}

/// Walks two sorted weighted samples together, one distinct value at a time, calling `f` with
/// the value and each sample's weight at it (0 where it has none).
pub fn merge_walk(a: &Weighted, b: &Weighted, mut f: impl FnMut(f64, f64, f64)) {
    let (mut i, mut j) = (0, 0);
    loop {
        let x = match (a.get(i), b.get(j)) {
            (Some(p), Some(q)) => p.0.min(q.0),
            (Some(p), None) => p.0,
            (None, Some(q)) => q.0,
            (None, None) => break,
        };
        let (mut wa, mut wb) = (0.0, 0.0);
        while i < a.len() && a[i].0 == x {
            wa += a[i].1;
            i += 1;
        }
        while j < b.len() && b[j].0 == x {
            wb += b[j].1;
            j += 1;
        }
        f(x, wa, wb);
    }
}

/// The largest gap between the two empirical CDFs (the KS statistic D).
pub fn ks_statistic(a: &Weighted, b: &Weighted) -> f64 {
    let (ta, tb) = (total(a), total(b));
    let (mut ca, mut cb) = (0.0, 0.0);
    let mut d: f64 = 0.0;
    merge_walk(a, b, |_, wa, wb| {
        ca += wa;
        cb += wb;
        d = d.max((ca / ta - cb / tb).abs());
    });
    d
}

/// scipy's `ks_2samp(a, b).pvalue` (two-sided, method `auto`): exact when the larger sample has
/// at most 10,000 values, otherwise `kstwo.sf(d, round(m n / (m + n)))`.
pub fn ks_pvalue(d: f64, n1: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    if n1.max(n2) <= 10_000 {
        if let Some(p) = ks_exact_two_sample(d, n1, n2) {
            return p;
        }
    }
    let en = (n1 as f64 * n2 as f64 / (n1 + n2) as f64).round();
    kolmogorov_sf(d, en.max(1.0) as u64)
}

/// P(D ≥ d) for two samples of sizes m and n without ties: the share of the C(m+n, m) lattice
/// paths that leave the band |i/m − j/n| < d, computed as a walk with step probabilities so
/// nothing overflows. None when the grid is too large to walk.
pub fn ks_exact_two_sample(d: f64, m: u64, n: u64) -> Option<f64> {
    if m.saturating_mul(n) > 50_000_000 {
        return None;
    }
    let (m, n) = (m as usize, n as usize);
    // Work in integers: |i n − j m| ≥ h is outside, h = d m n rounded (D is a multiple of 1/(mn)).
    let h = (d * m as f64 * n as f64).round() as i64 - 1;
    let inside = |i: usize, j: usize| ((i * n) as i64 - (j * m) as i64).abs() <= h;
    // prob[j] = probability of reaching (i, j) while staying inside.
    let mut prob = vec![0.0f64; n + 1];
    prob[0] = 1.0;
    for j in 1..=n {
        let steps = (m + n) as f64;
        // From (0, j-1) to (0, j): a "b" step, probability (n - (j-1)) / (m + n - (j-1)).
        prob[j] = if inside(0, j) {
            prob[j - 1] * (n - (j - 1)) as f64 / (steps - (j - 1) as f64)
        } else {
            0.0
        };
    }
    for i in 1..=m {
        let mut row = vec![0.0f64; n + 1];
        for j in 0..=n {
            if !inside(i, j) {
                continue;
            }
            let left = (m + n - (i - 1) - j) as f64;
            // From (i-1, j) by an "a" step.
            let mut p = prob[j] * (m - (i - 1)) as f64 / left;
            if j > 0 {
                // From (i, j-1) by a "b" step.
                let left_b = (m + n - i - (j - 1)) as f64;
                p += row[j - 1] * (n - (j - 1)) as f64 / left_b;
            }
            row[j] = p;
        }
        prob = row;
    }
    Some((1.0 - prob[n]).clamp(0.0, 1.0))
}

/// The survival function of the one-sample two-sided Kolmogorov statistic D_n (scipy's
/// `kstwo.sf`), by Marsaglia, Tsang and Wang's exact matrix method; for a band too wide for
/// the matrix (where the answer is tiny) the limiting distribution is used.
pub fn kolmogorov_sf(d: f64, n: u64) -> f64 {
    if d <= 0.0 {
        return 1.0;
    }
    if d >= 1.0 {
        return 0.0;
    }
    let nd = n as f64 * d;
    let k = nd.floor() as usize + 1;
    let m = 2 * k - 1;
    if m > 400 {
        // Limiting Kolmogorov distribution with Stephens' small-sample correction.
        let sn = (n as f64).sqrt();
        let x = d * (sn + 0.12 + 0.11 / sn);
        let mut s = 0.0;
        for j in 1..=100 {
            let t = 2.0 * (-1.0f64).powi(j - 1) * (-2.0 * (j as f64 * x).powi(2)).exp();
            s += t;
            if t.abs() < 1e-300 {
                break;
            }
        }
        return s.clamp(0.0, 1.0);
    }
    let h = k as f64 - nd;
    let mut mat = vec![0.0f64; m * m];
    for i in 0..m {
        for j in 0..m {
            if i + 1 >= j {
                mat[i * m + j] = 1.0;
            }
        }
    }
    for i in 0..m {
        mat[i * m] -= h.powi(i as i32 + 1);
        mat[(m - 1) * m + i] -= h.powi((m - i) as i32);
    }
    if 2.0 * h - 1.0 > 0.0 {
        mat[(m - 1) * m] += (2.0 * h - 1.0).powi(m as i32);
    }
    for i in 0..m {
        for j in 0..m {
            if i + 1 > j {
                let mut f = 1.0;
                for g in 1..=(i + 1 - j) {
                    f *= g as f64;
                }
                mat[i * m + j] /= f;
            }
        }
    }
    let (q, mut e) = mat_pow(&mat, m, n);
    let mut s = q[(k - 1) * m + (k - 1)];
    for i in 1..=n {
        s = s * i as f64 / n as f64;
        if s < 1e-140 {
            s *= 1e140;
            e -= 140;
        }
    }
    let cdf = s * 10f64.powi(e);
    (1.0 - cdf).clamp(0.0, 1.0)
}

fn mat_mul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let x = a[i * m + k];
            if x == 0.0 {
                continue;
            }
            for j in 0..m {
                c[i * m + j] += x * b[k * m + j];
            }
        }
    }
    c
}

/// `a^n` with a decimal exponent kept aside so nothing overflows.
fn mat_pow(a: &[f64], m: usize, n: u64) -> (Vec<f64>, i32) {
    if n == 1 {
        return (a.to_vec(), 0);
    }
    let (half, e) = mat_pow(a, m, n / 2);
    let mut v = mat_mul(&half, &half, m);
    let mut e = 2 * e;
    if n % 2 == 1 {
        v = mat_mul(a, &v, m);
    }
    if v[(m / 2) * m + m / 2] > 1e140 {
        for x in v.iter_mut() {
            *x *= 1e-140;
        }
        e += 140;
    }
    (v, e)
}

/// scipy's `chisquare(f_obs, f_exp).pvalue`: Pearson's statistic against k − 1 degrees of freedom.
pub fn chi_square(observed: &[f64], expected: &[f64]) -> (f64, f64) {
    let stat: f64 = observed
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .sum();
    let df = observed.len().saturating_sub(1) as f64;
    if df == 0.0 {
        return (stat, f64::NAN);
    }
    (stat, gamma_q(df / 2.0, stat / 2.0))
}

/// The regularised upper incomplete gamma function Q(a, x).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x.is_nan() || a <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let ln_pre = a * x.ln() - x - libm::lgamma(a);
    if x < a + 1.0 {
        // Series for P(a, x).
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * ln_pre.exp()
    } else {
        // Lentz's continued fraction for Q(a, x).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-17 {
                break;
            }
        }
        ln_pre.exp() * h
    }
}

/// Evidently's two-proportion Z-test: successes and sizes of both samples ⇒ (z, two-sided p).
pub fn z_test(k1: f64, n1: f64, k2: f64, n2: f64) -> (f64, f64) {
    let (p1, p2) = (k1 / n1, k2 / n2);
    let p = (k1 + k2) / (n1 + n2);
    let z = (p1 - p2) / (p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)).sqrt();
    (z, libm::erfc(z.abs() / std::f64::consts::SQRT_2))
}

/// scipy's `wasserstein_distance(u, v)` for weighted samples: the area between the CDFs.
pub fn wasserstein(a: &Weighted, b: &Weighted) -> f64 {
    let (ta, tb) = (total(a), total(b));
    let (mut ca, mut cb) = (0.0, 0.0);
    let mut area = 0.0;
    // The CDF gap after each distinct value holds until the next one.
    let mut last: Option<(f64, f64)> = None;
    merge_walk(a, b, |x, wa, wb| {
        if let Some((px, gap)) = last {
            area += gap * (x - px);
        }
        ca += wa;
        cb += wb;
        last = Some((x, (ca / ta - cb / tb).abs()));
    });
    area
}

/// Population standard deviation of a weighted sample (numpy's `std`).
pub fn std(a: &Weighted) -> f64 {
    let t = total(a);
    let mean = a.iter().map(|(x, w)| x * w).sum::<f64>() / t;
    (a.iter().map(|(x, w)| w * (x - mean).powi(2)).sum::<f64>() / t).sqrt()
}

/// scipy's `jensenshannon(p, q)` with the natural logarithm (a distance: the square root of
/// the divergence). Inputs are normalised first.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    let rel = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let mut js = 0.0;
    for (a, b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        js += rel(a, m) + rel(b, m);
    }
    (js / 2.0).max(0.0).sqrt()
}

/// Evidently's population stability index over matching shares (already zero-filled).
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .sum()
}

/// Evidently's zero filling: empty shares become min(non-zero)/10⁶ when the smallest non-zero
/// share is at most 0.0001, else 0.0001.
pub fn fill_zeroes(shares: &mut [f64]) {
    let min = shares
        .iter()
        .copied()
        .filter(|s| *s != 0.0)
        .fold(f64::INFINITY, f64::min);
    let fill = if min <= 0.0001 { min / 1e6 } else { 0.0001 };
    for s in shares.iter_mut() {
        if *s == 0.0 {
            *s = fill;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_are_at_distance_zero() {
        let a = weighted([1.0, 2.0, 2.0, 5.0]);
        assert_eq!(ks_statistic(&a, &a), 0.0);
        assert_eq!(wasserstein(&a, &a), 0.0);
        assert_eq!(jensen_shannon(&[1.0, 2.0], &[2.0, 4.0]), 0.0);
        assert_eq!(psi(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        assert!((ks_pvalue(0.0, 4, 4) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_cases() {
        // Two point masses one apart: every unit of mass moves 1.
        assert!((wasserstein(&weighted([0.0]), &weighted([1.0])) - 1.0).abs() < 1e-12);
        // KS of disjoint samples is 1.
        assert_eq!(
            ks_statistic(&weighted([1.0, 2.0]), &weighted([3.0, 4.0])),
            1.0
        );
        // m = n = 2, D = 1: 2 of the 6 paths stay on the edge, p = 2/6.
        assert!((ks_exact_two_sample(1.0, 2, 2).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        // Chi-square with 1 df at 3.841459: p = 0.05.
        assert!((gamma_q(0.5, 3.841_458_820_694_124 / 2.0) - 0.05).abs() < 1e-12);
        // z = 1.959964: p = 0.05.
        let p = libm::erfc(1.959_963_984_540_054 / std::f64::consts::SQRT_2);
        assert!((p - 0.05).abs() < 1e-12);
        // JS distance of disjoint distributions is sqrt(ln 2).
        assert!((jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]) - 2f64.ln().sqrt()).abs() < 1e-12);
    }
}
