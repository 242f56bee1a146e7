//! Metrics per slice and the gaps between slices, as fairlearn's `MetricFrame`,
//! `demographic_parity_difference` and `equalized_odds_difference` give them.
//!
//! Per slice: rows, positives and their rate, the selection rate (share predicted positive, a
//! row being positive when its probability is ≥ the threshold), ROC AUC (none with one class),
//! the expected calibration error over `metrics::CALIBRATION_BINS` equal-width bins, and the
//! true and false positive rates (none without positives, or negatives).
//!
//! The gaps, per column, over the slices with at least `min_rows` rows: the demographic parity
//! difference is max − min of the selection rate; the equalized odds difference is the larger
//! of max − min of the TPR and max − min of the FPR (fairlearn's `agg="worst_case"`). A slice
//! without positives has no TPR and is left out of the TPR gap (fairlearn would count it as 0).
//! With `min_rows = 1` and every slice holding both classes, the numbers are fairlearn's.

use serde::{Deserialize, Serialize};

use super::Grouping;
use crate::metrics::{self, Confusion, MetricsError};

/// One slice's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    pub value: String,
    pub rows: usize,
    pub positives: usize,
    pub positive_rate: f64,
    pub selection_rate: f64,
    pub roc_auc: Option<f64>,
    pub calibration_error: f64,
    pub tpr: Option<f64>,
    pub fpr: Option<f64>,
    /// Whether the slice has the rows (`min_rows`) to count in the gaps and the gates.
    pub judged: bool,
}

/// One column's slices and the gaps between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSlices {
    pub column: String,
    pub slices: Vec<GroupMetrics>,
    /// `None` with fewer than two judged slices.
    pub demographic_parity_difference: Option<f64>,
    pub equalized_odds_difference: Option<f64>,
    pub tpr_difference: Option<f64>,
    pub fpr_difference: Option<f64>,
}

impl ColumnSlices {
    /// The slices at both ends of the rate that decides the equalized odds difference:
    /// `TPR 0.61 for 'c' to 0.74 for 'a'`.
    pub fn odds_spread(&self) -> String {
        let c = self;
        let by_tpr = c.tpr_difference.unwrap_or(f64::NEG_INFINITY)
            >= c.fpr_difference.unwrap_or(f64::NEG_INFINITY);
        let (name, rate): (&str, fn(&GroupMetrics) -> Option<f64>) = if by_tpr {
            ("TPR", |s| s.tpr)
        } else {
            ("FPR", |s| s.fpr)
        };
        let judged = || {
            c.slices
                .iter()
                .filter(|s| s.judged)
                .filter_map(|s| Some((s, rate(s)?)))
        };
        match (
            judged().min_by(|a, b| a.1.total_cmp(&b.1)),
            judged().max_by(|a, b| a.1.total_cmp(&b.1)),
        ) {
            (Some((lo, l)), Some((hi, h))) => format!(
                "{name} {l:.4} for '{}' ({} rows) to {h:.4} for '{}' ({} rows)",
                lo.value,
                crate::util::thousands(lo.rows),
                hi.value,
                crate::util::thousands(hi.rows)
            ),
            _ => name.to_string(),
        }
    }
}

/// Every slice column of one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceReport {
    pub threshold: f64,
    pub calibration_bins: usize,
    pub min_rows: usize,
    pub columns: Vec<ColumnSlices>,
}

impl SliceReport {
    /// The slice of `column` named `value`.
    pub fn slice(&self, column: &str, value: &str) -> Option<&GroupMetrics> {
        self.columns
            .iter()
            .find(|c| c.column == column)?
            .slices
            .iter()
            .find(|s| s.value == value)
    }

    /// The judged slice with the lowest ROC AUC, and its column.
    pub fn worst_roc_auc(&self) -> Option<(&str, &GroupMetrics)> {
        self.columns
            .iter()
            .flat_map(|c| c.slices.iter().map(move |s| (c.column.as_str(), s)))
            .filter(|(_, s)| s.judged)
            .filter_map(|(c, s)| Some((c, s, s.roc_auc?)))
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(c, s, _)| (c, s))
    }

    /// The column with the largest equalized odds difference, and it.
    pub fn worst_equalized_odds(&self) -> Option<(&ColumnSlices, f64)> {
        self.columns
            .iter()
            .filter_map(|c| Some((c, c.equalized_odds_difference?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The slices of `groupings` over labels `y` and probabilities `p` (one per row, the rows the
/// groupings were made from).
pub fn measure(
    y: &[u8],
    p: &[f64],
    groupings: &[Grouping],
    threshold: f64,
    min_rows: usize,
) -> Result<SliceReport, MetricsError> {
    if y.len() != p.len() {
        return Err(MetricsError::LengthMismatch {
            labels: y.len(),
            probs: p.len(),
        });
    }
    let mut columns = Vec::with_capacity(groupings.len());
    for g in groupings {
        if g.members.len() != y.len() {
            return Err(MetricsError::LengthMismatch {
                labels: y.len(),
                probs: g.members.len(),
            });
        }
        let mut ys = vec![Vec::new(); g.labels.len()];
        let mut ps = vec![Vec::new(); g.labels.len()];
        for ((&m, &t), &s) in g.members.iter().zip(y).zip(p) {
            let m = m as usize;
            if m < ys.len() {
                ys[m].push(t);
                ps[m].push(s);
            }
        }
        let mut slices = Vec::with_capacity(g.labels.len());
        for ((label, yg), pg) in g.labels.iter().zip(&ys).zip(&ps) {
            if yg.is_empty() {
                continue;
            }
            slices.push(group(label, yg, pg, threshold, min_rows)?);
        }
        columns.push(gaps(&g.column, slices));
    }
    Ok(SliceReport {
        threshold,
        calibration_bins: metrics::CALIBRATION_BINS,
        min_rows,
        columns,
    })
}

fn group(
    label: &str,
    y: &[u8],
    p: &[f64],
    threshold: f64,
    min_rows: usize,
) -> Result<GroupMetrics, MetricsError> {
    let c = Confusion::at(y, p, threshold);
    let n = y.len();
    let rate = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    let positives = (c.tp + c.fn_) as usize;
    let roc_auc = match metrics::roc_auc(y, p) {
        Ok(a) => Some(a),
        Err(MetricsError::SingleClass(_)) => None,
        Err(e) => return Err(e),
    };
    Ok(GroupMetrics {
        value: label.to_string(),
        rows: n,
        positives,
        positive_rate: positives as f64 / n as f64,
        selection_rate: (c.tp + c.fp) as f64 / n as f64,
        roc_auc,
        calibration_error: metrics::expected_calibration_error(y, p, metrics::CALIBRATION_BINS)?,
        tpr: rate(c.tp, c.tp + c.fn_),
        fpr: rate(c.fp, c.fp + c.tn),
        judged: n >= min_rows,
    })
}

/// max − min of some values; `None` with fewer than two.
fn spread(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut lo, mut hi, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
        n += 1;
    }
    (n >= 2).then_some(hi - lo)
}

fn gaps(column: &str, slices: Vec<GroupMetrics>) -> ColumnSlices {
    let judged = || slices.iter().filter(|s| s.judged);
    let dpd = spread(judged().map(|s| s.selection_rate));
    let tpr = spread(judged().filter_map(|s| s.tpr));
    let fpr = spread(judged().filter_map(|s| s.fpr));
    let eod = match (tpr, fpr) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    ColumnSlices {
        column: column.to_string(),
        demographic_parity_difference: dpd,
        equalized_odds_difference: eod,
        tpr_difference: tpr,
        fpr_difference: fpr,
        slices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_follow_fairlearn_and_small_slices_are_not_judged() {
        // Slice a: TPR 1, FPR 0, selection 0.5; slice b: TPR 0.5, FPR 0.5, selection 0.5;
        // slice c: one row, shown but not judged.
        let y = [1, 0, 1, 1, 0, 0, 1];
        let p = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.99];
        let g = Grouping {
            column: "c".into(),
            labels: vec!["a".into(), "b".into(), "c".into()],
            members: vec![0, 0, 1, 1, 1, 1, 2],
        };
        let r = measure(&y, &p, &[g], 0.5, 2).unwrap();
        let c = &r.columns[0];
        assert_eq!(c.slices.len(), 3);
        assert_eq!(c.slices[0].tpr, Some(1.0));
        assert_eq!(c.slices[1].fpr, Some(0.5));
        assert!(!c.slices[2].judged);
        assert_eq!(c.slices[2].roc_auc, None);
        assert_eq!(c.demographic_parity_difference, Some(0.0));
        assert_eq!(c.tpr_difference, Some(0.5));
        assert_eq!(c.fpr_difference, Some(0.5));
        assert_eq!(c.equalized_odds_difference, Some(0.5));
        assert_eq!(r.worst_roc_auc().unwrap().1.value, "b");
        let short = Grouping {
            column: "c".into(),
            labels: vec!["a".into()],
            members: vec![0],
        };
        assert!(measure(&y, &p, &[short], 0.5, 1).is_err());
    }
}
