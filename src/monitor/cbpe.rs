//! Confidence-based performance estimation (CBPE, as NannyML defines it): while the real
//! outcomes are still on their way, the model's calibrated probabilities say what its confusion
//! matrix and ROC AUC should be. The calibration is fitted on the bundle's validation
//! predictions (rows the model never trained on), with isotonic regression as scikit-learn's
//! `IsotonicRegression(out_of_bounds="clip")` fits and predicts it.
//!
//! CBPE assumes the relation between inputs and outcome is unchanged (no concept shift): it sees
//! covariate shift, never a change in what a given input means.

use serde::Serialize;

/// A monotone map from a model's probability to the observed positive rate: scikit-learn's
/// isotonic regression, linear between its points and clipped at both ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Isotonic {
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Isotonic {
    /// Fits on probabilities `p` and 0/1 labels `y` (same length, at least one row).
    pub fn fit(p: &[f64], y: &[u8]) -> Isotonic {
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(y[a].cmp(&y[b])));
        // Equal probabilities become one point holding their mean label and their count.
        let mut xs: Vec<f64> = Vec::new();
        let mut sums: Vec<f64> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        for &i in &order {
            match xs.last() {
                Some(&last) if last == p[i] => {
                    *sums.last_mut().expect("same length") += f64::from(y[i]);
                    *weights.last_mut().expect("same length") += 1.0;
                }
                _ => {
                    xs.push(p[i]);
                    sums.push(f64::from(y[i]));
                    weights.push(1.0);
                }
            }
        }
        // Pool adjacent violators over blocks (mean, weight, points covered).
        let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(xs.len());
        for (s, w) in sums.iter().zip(&weights) {
            blocks.push((s / w, *w, 1));
            while blocks.len() > 1 {
                let (m2, w2, n2) = blocks[blocks.len() - 1];
                let (m1, w1, n1) = blocks[blocks.len() - 2];
                if m1 <= m2 {
                    break;
                }
                blocks.pop();
                let w = w1 + w2;
                *blocks.last_mut().expect("two blocks") = ((m1 * w1 + m2 * w2) / w, w, n1 + n2);
            }
        }
        let ys: Vec<f64> = blocks
            .iter()
            .flat_map(|&(m, _, n)| std::iter::repeat_n(m, n))
            .collect();
        Isotonic { x: xs, y: ys }
    }

    /// The calibrated probability of `p` (NumPy's `interp` after clipping to the fitted range).
    pub fn apply(&self, p: f64) -> f64 {
        let n = self.x.len();
        if n == 0 {
            return p;
        }
        if p <= self.x[0] {
            return self.y[0];
        }
        if p >= self.x[n - 1] {
            return self.y[n - 1];
        }
        let j = self.x.partition_point(|&x| x <= p);
        let (x0, x1, y0, y1) = (self.x[j - 1], self.x[j], self.y[j - 1], self.y[j]);
        let slope = (y1 - y0) / (x1 - x0);
        slope * (p - x0) + y0
    }
}

/// NannyML's expected calibration error: rows sorted by probability, cut into `bins` bins of
/// equal row count (the last takes the remainder), the row-weighted gap between mean probability
/// and positive rate.
fn equal_count_ece(p: &[f64], y: &[u8], bins: usize) -> f64 {
    let n = p.len();
    let bins = if n <= 2 * bins { n / 2 } else { bins };
    if bins < 2 {
        return 0.0;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let width = n / bins;
    let mut edges: Vec<usize> = (0..=n).step_by(width).collect();
    *edges.last_mut().expect("at least one edge") = n;
    edges
        .windows(2)
        .map(|w| {
            let rows = &order[w[0]..w[1]];
            let k = rows.len() as f64;
            let mp = rows.iter().map(|&i| p[i]).sum::<f64>() / k;
            let my = rows.iter().map(|&i| f64::from(y[i])).sum::<f64>() / k;
            k / n as f64 * (mp - my).abs()
        })
        .sum()
}

/// The calibration CBPE applies, and why.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// `None` when the validation predictions showed calibration would not help.
    pub isotonic: Option<Isotonic>,
    /// The rows it was fitted on.
    pub rows: usize,
}

impl Calibration {
    /// NannyML's rule: calibrate only if isotonic regression lowers the expected calibration
    /// error of held-out rows (10 stratified folds, 10 equal-count bins), and never for a model
    /// that separates the classes perfectly or data with one class. The folds are fixed by
    /// position within each class, so the decision is the same on every run.
    pub fn fit(p: &[f64], y: &[u8]) -> Calibration {
        let rows = p.len();
        let pos = y.iter().filter(|&&v| v == 1).count();
        let identity = Calibration {
            isotonic: None,
            rows,
        };
        if rows < 20 || pos == 0 || pos == rows {
            return identity;
        }
        if crate::metrics::roc_auc(y, p).is_ok_and(|a| a > 0.999) {
            return identity;
        }
        const FOLDS: usize = 10;
        let mut seen = [0usize; 2];
        let fold: Vec<usize> = y
            .iter()
            .map(|&v| {
                let k = seen[v as usize];
                seen[v as usize] += 1;
                k % FOLDS
            })
            .collect();
        let (mut test_p, mut test_y, mut test_c) = (Vec::new(), Vec::new(), Vec::new());
        for f in 0..FOLDS {
            let (mut tp, mut ty) = (Vec::new(), Vec::new());
            let (mut hp, mut hy) = (Vec::new(), Vec::new());
            for i in 0..rows {
                if fold[i] == f {
                    hp.push(p[i]);
                    hy.push(y[i]);
                } else {
                    tp.push(p[i]);
                    ty.push(y[i]);
                }
            }
            let iso = Isotonic::fit(&tp, &ty);
            test_c.extend(hp.iter().map(|&v| iso.apply(v)));
            test_p.extend(hp);
            test_y.extend(hy);
        }
        let before = equal_count_ece(&test_p, &test_y, 10);
        let after = equal_count_ece(&test_c, &test_y, 10);
        if before > after {
            Calibration {
                isotonic: Some(Isotonic::fit(p, y)),
                rows,
            }
        } else {
            identity
        }
    }

    /// Always calibrates (what NannyML does once it has decided calibration is needed).
    pub fn isotonic(p: &[f64], y: &[u8]) -> Calibration {
        Calibration {
            isotonic: Some(Isotonic::fit(p, y)),
            rows: p.len(),
        }
    }

    pub fn apply(&self, p: f64) -> f64 {
        self.isotonic.as_ref().map_or(p, |i| i.apply(p))
    }
}

/// What CBPE expects of a set of predictions whose outcomes are not known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub rows: usize,
    pub roc_auc: Option<f64>,
    pub accuracy: f64,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
    /// The expected confusion matrix, in rows.
    pub true_positive: f64,
    pub false_positive: f64,
    pub true_negative: f64,
    pub false_negative: f64,
}

/// Estimates performance from the model's probabilities `p` and the classes it predicted
/// (`p ≥ threshold`), with `cal` mapping probabilities to expected outcome rates.
pub fn estimate(cal: &Calibration, p: &[f64], threshold: f64) -> Option<Estimate> {
    if p.is_empty() {
        return None;
    }
    let c: Vec<f64> = p.iter().map(|&v| cal.apply(v)).collect();
    let (mut tp, mut fp, mut tn, mut fn_) = (0.0, 0.0, 0.0, 0.0);
    for (&raw, &q) in p.iter().zip(&c) {
        if raw >= threshold {
            tp += q;
            fp += 1.0 - q;
        } else {
            fn_ += q;
            tn += 1.0 - q;
        }
    }
    let n = p.len() as f64;
    let ratio = |a: f64, b: f64| if b != 0.0 { a / b } else { 0.0 };
    Some(Estimate {
        rows: p.len(),
        roc_auc: roc_auc(p, &c),
        accuracy: (tp + tn) / n,
        f1: ratio(tp, tp + 0.5 * (fp + fn_)),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
        true_positive: tp,
        false_positive: fp,
        true_negative: tn,
        false_negative: fn_,
    })
}

/// NannyML's estimated ROC AUC: rows ranked by the model's own probability (highest first),
/// expected true and false positives accumulated from the calibrated ones, rounded to 5
/// decimals as NannyML does, and the trapezoid area under the expected curve. `None` when the
/// calibrated probabilities expect no positives or no negatives.
fn roc_auc(raw: &[f64], calibrated: &[f64]) -> Option<f64> {
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|&a, &b| raw[b].total_cmp(&raw[a]));
    let round5 = |v: f64| (v * 1e5).round_ties_even() / 1e5;
    let mut tps = Vec::with_capacity(raw.len() + 1);
    let mut fps = Vec::with_capacity(raw.len() + 1);
    tps.push(0.0);
    fps.push(0.0);
    let mut sum = 0.0;
    for (k, &i) in order.iter().enumerate() {
        sum += calibrated[i];
        tps.push(round5(sum));
        fps.push(round5((k + 1) as f64 - sum));
    }
    let (t, f) = (*tps.last()?, *fps.last()?);
    if t <= 0.0 || f <= 0.0 {
        return None;
    }
    let mut area = 0.0;
    for k in 1..tps.len() {
        let (x0, x1) = (fps[k - 1] / f, fps[k] / f);
        let (y0, y1) = (tps[k - 1] / t, tps[k] / t);
        area += (x1 - x0) * (y0 + y1) / 2.0;
    }
    Some(area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_pools_violators_and_interpolates_between_points() {
        let p = [0.1, 0.2, 0.3, 0.4, 0.4];
        let y = [0, 1, 0, 1, 1];
        let iso = Isotonic::fit(&p, &y);
        // 0.2 and 0.3 violate the order and are pooled to 0.5; 0.4 holds two positives.
        assert_eq!(iso.x, vec![0.1, 0.2, 0.3, 0.4]);
        assert_eq!(iso.y, vec![0.0, 0.5, 0.5, 1.0]);
        assert_eq!(iso.apply(0.0), 0.0);
        assert!((iso.apply(0.15) - 0.25).abs() < 1e-12);
        assert!((iso.apply(0.35) - 0.75).abs() < 1e-12);
        assert_eq!(iso.apply(0.9), 1.0);
    }

    #[test]
    fn a_calibrated_model_expects_its_own_rates() {
        let cal = Calibration {
            isotonic: None,
            rows: 0,
        };
        let e = estimate(&cal, &[0.9, 0.8, 0.2, 0.1], 0.5).unwrap();
        assert!((e.true_positive - 1.7).abs() < 1e-12);
        assert!((e.false_positive - 0.3).abs() < 1e-12);
        assert!((e.accuracy - 0.85).abs() < 1e-12);
        assert!(estimate(&cal, &[], 0.5).is_none());
        assert_eq!(estimate(&cal, &[0.0, 0.0], 0.5).unwrap().roc_auc, None);
    }
}
