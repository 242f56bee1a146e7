//! Classification metrics for a binary target and predicted probabilities of the positive class.
//!
//! Definitions follow the textbook ones and scikit-learn's conventions where there is a choice:
//! a row is predicted positive when its probability is ≥ the threshold; ROC AUC gives tied scores
//! half credit; PR AUC is average precision (Σ (Rₙ − Rₙ₋₁) Pₙ over distinct thresholds); log loss
//! clips probabilities to [ε, 1 − ε] with ε the f64 machine epsilon; the calibration curve uses
//! equal-width bins, a probability on an inner edge falling in the lower bin.

use serde::{Deserialize, Serialize};

mod metric;
pub mod paired;

pub use metric::{Direction, Metric, UnknownMetric};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("no rows to evaluate")]
    Empty,
    #[error("{labels} labels but {probs} probabilities")]
    LengthMismatch { labels: usize, probs: usize },
    #[error(
        "the evaluation set holds only class {0}: ROC AUC, PR AUC and the curves need both classes"
    )]
    SingleClass(u8),
    #[error("probability {value} at row {row} is not in [0, 1]")]
    BadProbability { row: usize, value: f64 },
    #[error("label {value} at row {row} is not 0 or 1")]
    BadLabel { row: usize, value: u8 },
}

/// Counts at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Confusion {
    pub tn: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tp: u64,
}

impl Confusion {
    pub fn at(y: &[u8], p: &[f64], threshold: f64) -> Confusion {
        let mut c = Confusion::default();
        for (&t, &s) in y.iter().zip(p) {
            match (t == 1, s >= threshold) {
                (true, true) => c.tp += 1,
                (true, false) => c.fn_ += 1,
                (false, true) => c.fp += 1,
                (false, false) => c.tn += 1,
            }
        }
        c
    }

    pub fn total(&self) -> u64 {
        self.tn + self.fp + self.fn_ + self.tp
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total())
    }

    /// 0 when nothing is predicted positive (scikit-learn's `zero_division=0`).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// A curve as parallel point lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Curve {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// The threshold (or bin centre) behind each point, when there is one.
    pub t: Vec<f64>,
}

/// Every metric staytrack records for a validation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub rows: usize,
    pub positives: usize,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    pub confusion: Confusion,
    /// The threshold that maximises F1, and the confusion matrix there.
    pub best_threshold: f64,
    pub best_f1: f64,
    pub confusion_best: Confusion,
    pub roc: Curve,
    pub pr: Curve,
    pub calibration: Curve,
}

impl Evaluation {
    /// Scalar metrics by name, as stored in the tracking store.
    pub fn scalars(&self) -> Vec<(&'static str, f64)> {
        [
            (Metric::Accuracy, self.accuracy),
            (Metric::Precision, self.precision),
            (Metric::Recall, self.recall),
            (Metric::F1, self.f1),
            (Metric::RocAuc, self.roc_auc),
            (Metric::PrAuc, self.pr_auc),
            (Metric::LogLoss, self.log_loss),
            (Metric::Brier, self.brier),
            (Metric::BestThreshold, self.best_threshold),
            (Metric::BestF1, self.best_f1),
        ]
        .into_iter()
        .map(|(m, v)| (m.key(), v))
        .collect()
    }
}

fn validate(y: &[u8], p: &[f64]) -> Result<(), MetricsError> {
    if y.len() != p.len() {
        return Err(MetricsError::LengthMismatch {
            labels: y.len(),
            probs: p.len(),
        });
    }
    if y.is_empty() {
        return Err(MetricsError::Empty);
    }
    for (row, (&t, &s)) in y.iter().zip(p).enumerate() {
        if t > 1 {
            return Err(MetricsError::BadLabel { row, value: t });
        }
        if !(0.0..=1.0).contains(&s) {
            return Err(MetricsError::BadProbability { row, value: s });
        }
    }
    Ok(())
}

fn both_classes(y: &[u8]) -> Result<(u64, u64), MetricsError> {
    let pos = y.iter().filter(|&&t| t == 1).count() as u64;
    let neg = y.len() as u64 - pos;
    if pos == 0 {
        return Err(MetricsError::SingleClass(0));
    }
    if neg == 0 {
        return Err(MetricsError::SingleClass(1));
    }
    Ok((pos, neg))
}

/// Cumulative (fp, tp) counts at each distinct score, highest score first: the points where the
/// predicted-positive set grows as the threshold falls.
fn ranked_counts(y: &[u8], p: &[f64]) -> Vec<(f64, u64, u64)> {
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let mut out = Vec::new();
    let (mut fp, mut tp) = (0u64, 0u64);
    for (k, &i) in order.iter().enumerate() {
        if y[i] == 1 {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = k + 1 == order.len() || p[order[k + 1]] != p[i];
        if last_of_tie {
            out.push((p[i], fp, tp));
        }
    }
    out
}

/// Area under the ROC curve; tied scores count one half.
pub fn roc_auc(y: &[u8], p: &[f64]) -> Result<f64, MetricsError> {
    validate(y, p)?;
    let (pos, neg) = both_classes(y)?;
    let mut area = 0.0;
    let (mut fp0, mut tp0) = (0u64, 0u64);
    for (_, fp, tp) in ranked_counts(y, p) {
        // Trapezoid between consecutive points, in counts to stay exact.
        area += (fp - fp0) as f64 * (tp + tp0) as f64 / 2.0;
        fp0 = fp;
        tp0 = tp;
    }
    Ok(area / (pos as f64 * neg as f64))
}

/// ROC curve points (false positive rate, true positive rate, threshold), starting at (0, 0)
/// with threshold 2, above every probability (JSON has no infinity).
pub fn roc_curve(y: &[u8], p: &[f64]) -> Result<Curve, MetricsError> {
    validate(y, p)?;
    let (pos, neg) = both_classes(y)?;
    let mut c = Curve {
        x: vec![0.0],
        y: vec![0.0],
        t: vec![2.0],
    };
    for (s, fp, tp) in ranked_counts(y, p) {
        c.x.push(fp as f64 / neg as f64);
        c.y.push(tp as f64 / pos as f64);
        c.t.push(s);
    }
    Ok(c)
}

/// Average precision: Σ (Rₙ − Rₙ₋₁) Pₙ over distinct thresholds, highest first.
pub fn average_precision(y: &[u8], p: &[f64]) -> Result<f64, MetricsError> {
    validate(y, p)?;
    let (pos, _) = both_classes(y)?;
    let mut ap = 0.0;
    let mut r0 = 0.0;
    for (_, fp, tp) in ranked_counts(y, p) {
        let r = tp as f64 / pos as f64;
        let prec = tp as f64 / (tp + fp) as f64;
        ap += (r - r0) * prec;
        r0 = r;
    }
    Ok(ap)
}

/// Precision–recall points (recall, precision, threshold), highest threshold first.
pub fn pr_curve(y: &[u8], p: &[f64]) -> Result<Curve, MetricsError> {
    validate(y, p)?;
    let (pos, _) = both_classes(y)?;
    let mut c = Curve::default();
    for (s, fp, tp) in ranked_counts(y, p) {
        c.x.push(tp as f64 / pos as f64);
        c.y.push(tp as f64 / (tp + fp) as f64);
        c.t.push(s);
    }
    Ok(c)
}

/// Mean negative log-likelihood, probabilities clipped to [ε, 1 − ε].
pub fn log_loss(y: &[u8], p: &[f64]) -> Result<f64, MetricsError> {
    validate(y, p)?;
    let eps = f64::EPSILON;
    let sum: f64 = y
        .iter()
        .zip(p)
        .map(|(&t, &s)| {
            let s = s.clamp(eps, 1.0 - eps);
            if t == 1 {
                -s.ln()
            } else {
                -(1.0 - s).ln()
            }
        })
        .sum();
    Ok(sum / y.len() as f64)
}

pub fn brier(y: &[u8], p: &[f64]) -> Result<f64, MetricsError> {
    validate(y, p)?;
    let sum: f64 = y.iter().zip(p).map(|(&t, &s)| (s - t as f64).powi(2)).sum();
    Ok(sum / y.len() as f64)
}

/// The threshold (one of the scores) with the highest F1, and that F1. Ties go to the higher
/// threshold.
pub fn best_f1_threshold(y: &[u8], p: &[f64]) -> Result<(f64, f64), MetricsError> {
    validate(y, p)?;
    let (pos, _) = both_classes(y)?;
    let mut best = (1.0, -1.0);
    for (s, fp, tp) in ranked_counts(y, p) {
        let f1 = 2.0 * tp as f64 / (tp as f64 + fp as f64 + pos as f64);
        if f1 > best.1 {
            best = (s, f1);
        }
    }
    Ok(best)
}

/// Reliability diagram over `bins` equal-width bins: (mean predicted, observed positive share)
/// for each non-empty bin, in bin order; `t` holds the row counts.
pub fn calibration_curve(y: &[u8], p: &[f64], bins: usize) -> Result<Curve, MetricsError> {
    validate(y, p)?;
    let bins = bins.max(1);
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    let mut count = vec![0u64; bins];
    for (&t, &s) in y.iter().zip(p) {
        // Inner edges k/bins: a value on an edge belongs to the bin below it.
        let mut b = (s * bins as f64).ceil() as usize;
        b = b.saturating_sub(1).min(bins - 1);
        // Guard against the float product landing on the wrong side of an edge.
        while b > 0 && s <= b as f64 / bins as f64 {
            b -= 1;
        }
        while b + 1 < bins && s > (b + 1) as f64 / bins as f64 {
            b += 1;
        }
        sum_p[b] += s;
        sum_y[b] += t as f64;
        count[b] += 1;
    }
    let mut c = Curve::default();
    for b in 0..bins {
        if count[b] > 0 {
            c.x.push(sum_p[b] / count[b] as f64);
            c.y.push(sum_y[b] / count[b] as f64);
            c.t.push(count[b] as f64);
        }
    }
    Ok(c)
}

/// Bins of the calibration curve and of the expected calibration error.
pub const CALIBRATION_BINS: usize = 10;

/// Expected calibration error: Σ over the calibration curve's bins of (rows in the bin / rows)
/// × |mean probability − positive share|, over `bins` equal-width bins (edges as
/// `calibration_curve`). One class only is allowed: it is still a calibration.
pub fn expected_calibration_error(y: &[u8], p: &[f64], bins: usize) -> Result<f64, MetricsError> {
    let curve = calibration_curve(y, p, bins)?;
    Ok(curve
        .x
        .iter()
        .zip(&curve.y)
        .zip(&curve.t)
        .map(|((mp, fy), n)| n / y.len() as f64 * (mp - fy).abs())
        .sum())
}

/// Keeps at most `max` points of a curve, always the first and the last, for storage and plots.
pub fn thin(c: &Curve, max: usize) -> Curve {
    let n = c.x.len();
    if n <= max || max < 2 {
        return c.clone();
    }
    let idx: Vec<usize> = (0..max)
        .map(|k| ((k as f64) * (n - 1) as f64 / (max - 1) as f64).round() as usize)
        .collect();
    Curve {
        x: idx.iter().map(|&i| c.x[i]).collect(),
        y: idx.iter().map(|&i| c.y[i]).collect(),
        t: idx.iter().map(|&i| c.t[i]).collect(),
    }
}

/// Every metric at once.
pub fn evaluate(y: &[u8], p: &[f64]) -> Result<Evaluation, MetricsError> {
    validate(y, p)?;
    let (pos, _) = both_classes(y)?;
    let confusion = Confusion::at(y, p, crate::data::spec::THRESHOLD);
    let (best_threshold, best_f1) = best_f1_threshold(y, p)?;
    Ok(Evaluation {
        rows: y.len(),
        positives: pos as usize,
        accuracy: confusion.accuracy(),
        precision: confusion.precision(),
        recall: confusion.recall(),
        f1: confusion.f1(),
        roc_auc: roc_auc(y, p)?,
        pr_auc: average_precision(y, p)?,
        log_loss: log_loss(y, p)?,
        brier: brier(y, p)?,
        confusion,
        best_threshold,
        best_f1,
        confusion_best: Confusion::at(y, p, best_threshold),
        roc: thin(&roc_curve(y, p)?, 201),
        pr: thin(&pr_curve(y, p)?, 201),
        calibration: calibration_curve(y, p, CALIBRATION_BINS)?,
    })
}

/// Spearman's rank correlation: Pearson's on midranks (ties share their mean rank), as
/// scipy's `spearmanr`. NaN when either side is constant or the lengths differ.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    if x.len() != y.len() || x.len() < 2 {
        return f64::NAN;
    }
    let (rx, ry) = (paired::midranks(x), paired::midranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_knows_its_direction_and_ranks_by_it() {
        use super::{Direction, Metric};
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.key()), Some(m));
            assert!(!m.label().is_empty());
            let best = m.best([0.2, 0.9, 0.5]);
            match m.direction() {
                Direction::HigherIsBetter => assert_eq!(best, Some(0.9), "{m}"),
                Direction::LowerIsBetter => assert_eq!(best, Some(0.2), "{m}"),
                Direction::Unranked => assert_eq!(best, None, "{m}"),
            }
        }
        let lower: Vec<&str> = Metric::ALL
            .into_iter()
            .filter(|m| m.direction() == Direction::LowerIsBetter)
            .map(Metric::key)
            .collect();
        assert_eq!(
            lower,
            ["log_loss", "brier", "fit_seconds", "predict_seconds"]
        );
        assert_eq!(Metric::BestThreshold.direction(), Direction::Unranked);
        assert_eq!(Metric::RocAuc.best([f64::NAN, 0.7]), Some(0.7));
        assert!(Metric::parse_or_list("auc", "--metric")
            .unwrap_err()
            .to_string()
            .contains("roc_auc"));
    }

    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn confusion_by_hand() {
        // y:  1    1    0    0    1    0
        // p: .9   .4   .6   .2   .5   .5   at 0.5: tp=2 (0.9, 0.5), fn=1, fp=2 (0.6, 0.5), tn=1
        let y = [1, 1, 0, 0, 1, 0];
        let p = [0.9, 0.4, 0.6, 0.2, 0.5, 0.5];
        let c = Confusion::at(&y, &p, 0.5);
        assert_eq!(
            c,
            Confusion {
                tn: 1,
                fp: 2,
                fn_: 1,
                tp: 2
            }
        );
        close(c.accuracy(), 3.0 / 6.0);
        close(c.precision(), 2.0 / 4.0);
        close(c.recall(), 2.0 / 3.0);
        close(c.f1(), 4.0 / 7.0);
    }

    #[test]
    fn auc_by_hand_with_ties() {
        // Positives score .9 .5 .4, negatives .6 .5 .2. Pairs (pos > neg = 1, tie = ½):
        // .9 beats all 3 (3); .5 beats .2, ties .5 (1.5); .4 beats .2 (1): 5.5 / 9.
        let y = [1, 1, 0, 0, 1, 0];
        let p = [0.9, 0.4, 0.6, 0.2, 0.5, 0.5];
        close(roc_auc(&y, &p).unwrap(), 5.5 / 9.0);
        // All scores tied: exactly one half.
        close(roc_auc(&[0, 1, 0, 1], &[0.3; 4]).unwrap(), 0.5);
        // Perfect and reversed rankings.
        close(roc_auc(&[0, 0, 1, 1], &[0.1, 0.2, 0.8, 0.9]).unwrap(), 1.0);
        close(roc_auc(&[1, 1, 0, 0], &[0.1, 0.2, 0.8, 0.9]).unwrap(), 0.0);
    }

    #[test]
    fn average_precision_by_hand() {
        // Sorted: .9(1) .6(0) .5{1,0} .4(1) .2(0); 3 positives.
        // .9: R 1/3 P 1 → 1/3; .6: ΔR 0; .5: R 2/3 P 2/4 → 1/3·1/2; .4: R 1 P 3/5 → 1/3·3/5.
        let y = [1, 1, 0, 0, 1, 0];
        let p = [0.9, 0.4, 0.6, 0.2, 0.5, 0.5];
        close(
            average_precision(&y, &p).unwrap(),
            1.0 / 3.0 + 1.0 / 6.0 + 1.0 / 5.0,
        );
    }

    #[test]
    fn log_loss_and_brier_by_hand() {
        let y = [1, 0];
        let p = [0.8, 0.3];
        close(
            log_loss(&y, &p).unwrap(),
            -(0.8f64.ln() + 0.7f64.ln()) / 2.0,
        );
        close(brier(&y, &p).unwrap(), (0.04 + 0.09) / 2.0);
        // Certain and wrong is large but finite.
        let l = log_loss(&[1], &[0.0]).unwrap();
        close(l, -f64::EPSILON.ln());
    }

    #[test]
    fn best_threshold_by_hand() {
        // Thresholds: .9 → F1 2/(1+0+3)=.5; .6 → 2/(1+1+3)=.4; .5 → 4/(2+2+3)=.571;
        // .4 → 6/(3+2+3)=.75; .2 → 6/(3+3+3)=.667.
        let y = [1, 1, 0, 0, 1, 0];
        let p = [0.9, 0.4, 0.6, 0.2, 0.5, 0.5];
        let (t, f1) = best_f1_threshold(&y, &p).unwrap();
        close(t, 0.4);
        close(f1, 0.75);
    }

    #[test]
    fn calibration_bins_put_edges_below() {
        let y = [0, 1, 1, 0];
        let p = [0.1, 0.1, 0.15, 0.95];
        let c = calibration_curve(&y, &p, 10).unwrap();
        // 0.1 sits on the first inner edge, so bin 0 holds both 0.1s; 0.15 is bin 1; 0.95 bin 9.
        assert_eq!(c.t, vec![2.0, 1.0, 1.0]);
        close(c.x[0], 0.1);
        close(c.y[0], 0.5);
    }

    #[test]
    fn single_class_and_bad_input_are_clear_errors() {
        assert_eq!(
            roc_auc(&[1, 1], &[0.2, 0.9]),
            Err(MetricsError::SingleClass(1))
        );
        assert_eq!(
            evaluate(&[0, 0], &[0.2, 0.9]).unwrap_err(),
            MetricsError::SingleClass(0)
        );
        assert!(evaluate(&[0, 1], &[0.2, 1.5])
            .unwrap_err()
            .to_string()
            .contains("row 1"));
        assert_eq!(evaluate(&[], &[]).unwrap_err(), MetricsError::Empty);
        assert!(matches!(
            evaluate(&[0, 1], &[0.2]),
            Err(MetricsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            evaluate(&[0, 2], &[0.2, 0.3]),
            Err(MetricsError::BadLabel { .. })
        ));
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let c = Curve {
            x: (0..1000).map(|i| i as f64).collect(),
            y: (0..1000).map(|i| i as f64).collect(),
            t: (0..1000).map(|i| i as f64).collect(),
        };
        let t = thin(&c, 11);
        assert_eq!(t.x.len(), 11);
        assert_eq!((t.x[0], t.x[10]), (0.0, 999.0));
    }
}
