//! Drift between a reference (the production bundle's training profile, or a CSV) and current
//! data (a CSV, or the server's prediction log), with Evidently's DataDriftPreset rules:
//!
//! | reference rows (non-missing) | column | test | drift when |
//! |---|---|---|---|
//! | ≤ 1000 | numeric, > 5 distinct | two-sample Kolmogorov–Smirnov | p < 0.05 |
//! | ≤ 1000 | categorical, or ≤ 5 distinct | chi-square (> 2 distinct), else two-proportion Z | p < 0.05 |
//! | > 1000 | numeric, > 5 distinct | Wasserstein / max(std of reference, 0.001) | ≥ 0.1 |
//! | > 1000 | categorical, or ≤ 5 distinct | Jensen–Shannon distance (natural log) | ≥ 0.1 |
//! | on request | any | PSI (30 bins, Evidently's zero fill) | ≥ 0.1 |
//!
//! Distinct values are counted over reference and current together, missing values are left
//! out of every test (as Evidently drops them), and the dataset drifts when the share of drifted
//! columns is at least 0.5. Test and threshold can be set per column.

pub mod monitor;
pub mod stats;

use crate::util::short_number as short;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::data::profile::{ColumnProfile, Profile};
use crate::data::{ColumnData, Frame};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    Ks,
    ChiSquare,
    ZTest,
    Wasserstein,
    JensenShannon,
    Psi,
}

impl Test {
    pub fn parse(s: &str) -> Option<Test> {
        Some(match s {
            "ks" => Test::Ks,
            "chisquare" | "chi_square" | "chi2" => Test::ChiSquare,
            "z" | "ztest" | "z_test" => Test::ZTest,
            "wasserstein" => Test::Wasserstein,
            "jensenshannon" | "jensen_shannon" | "js" => Test::JensenShannon,
            "psi" => Test::Psi,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Test::Ks => "K-S p-value",
            Test::ChiSquare => "chi-square p-value",
            Test::ZTest => "Z-test p-value",
            Test::Wasserstein => "Wasserstein (normed)",
            Test::JensenShannon => "Jensen-Shannon distance",
            Test::Psi => "PSI",
        }
    }

    /// The name in at most 12 characters, for narrow tables.
    pub fn short_name(self) -> &'static str {
        match self {
            Test::Ks => "K-S p-value",
            Test::ChiSquare => "chi² p-value",
            Test::ZTest => "Z p-value",
            Test::Wasserstein => "Wasserstein",
            Test::JensenShannon => "JS distance",
            Test::Psi => "PSI",
        }
    }

    /// p-value tests drift below the threshold; distances at or above it.
    pub fn is_p_value(self) -> bool {
        matches!(self, Test::Ks | Test::ChiSquare | Test::ZTest)
    }

    pub fn default_threshold(self) -> f64 {
        if self.is_p_value() {
            0.05
        } else {
            0.1
        }
    }
}

/// One column's values, as weighted points or category counts; missing values counted apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Numeric(Vec<(f64, f64)>),
    Categorical(BTreeMap<String, f64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
    pub missing: f64,
}

impl Column {
    /// Adds `other`, the same column over more rows: the result is the column of all the rows
    /// read at once (values in the same order, equal values merged as `stats::weighted` does),
    /// so a file can be profiled a chunk at a time.
    pub fn absorb(&mut self, other: Column) {
        self.missing += other.missing;
        match (&mut self.values, other.values) {
            (Values::Numeric(a), Values::Numeric(b)) => {
                let mut out: Vec<(f64, f64)> = Vec::with_capacity(a.len() + b.len());
                let (mut i, mut j) = (0, 0);
                while i < a.len() || j < b.len() {
                    let take_a = j == b.len()
                        || (i < a.len()
                            && a[i].0.total_cmp(&b[j].0) != std::cmp::Ordering::Greater);
                    let (x, w) = if take_a {
                        i += 1;
                        a[i - 1]
                    } else {
                        j += 1;
                        b[j - 1]
                    };
                    match out.last_mut() {
                        Some((last, lw)) if *last == x => *lw += w,
                        _ => out.push((x, w)),
                    }
                }
                *a = out;
            }
            (Values::Categorical(a), Values::Categorical(b)) => {
                for (k, n) in b {
                    *a.entry(k).or_default() += n;
                }
            }
            // A column cannot change kind between chunks of one file read by one spec.
            (_, b) => debug_assert!(false, "column {} changed kind: {b:?}", self.name),
        }
    }

    fn rows(&self) -> f64 {
        match &self.values {
            Values::Numeric(v) => v.iter().map(|p| p.1).sum(),
            Values::Categorical(c) => c.values().sum(),
        }
    }
}

/// Columns of a reference profile. Exact value counts are used as they are; a histogram bin's
/// mass sits at the middle of the bin (its lower edge is the previous bin's upper edge), which
/// keeps Wasserstein within a fraction of a bin width of the exact value.
pub fn from_profile(p: &Profile) -> Vec<Column> {
    p.columns.iter().map(profile_column).collect()
}

pub fn profile_column(c: &ColumnProfile) -> Column {
    match c {
        ColumnProfile::Numeric {
            name,
            missing,
            values,
            edges,
            counts,
            ..
        } => {
            let points: Vec<(f64, f64)> = match (values, edges, counts) {
                (Some(v), _, _) => v.iter().map(|(x, n)| (*x, *n as f64)).collect(),
                (None, Some(e), Some(n)) => e
                    .iter()
                    .zip(n)
                    .enumerate()
                    .map(|(i, (hi, n))| {
                        let x = if i == 0 { *hi } else { (e[i - 1] + hi) / 2.0 };
                        (x, *n as f64)
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Column {
                name: name.clone(),
                values: Values::Numeric(points),
                missing: *missing as f64,
            }
        }
        ColumnProfile::Categorical {
            name,
            missing,
            counts,
            ..
        } => Column {
            name: name.clone(),
            values: Values::Categorical(
                counts.iter().map(|(k, v)| (k.clone(), *v as f64)).collect(),
            ),
            missing: *missing as f64,
        },
    }
}

/// The model-input columns of a frame.
pub fn from_frame(frame: &Frame) -> Vec<Column> {
    let features: Vec<&str> = frame.spec.features().map(|c| c.name.as_str()).collect();
    frame
        .columns()
        .filter(|(n, _)| features.contains(n))
        .filter_map(|(name, data)| match data {
            ColumnData::Numeric(v) => {
                let missing = v.iter().filter(|x| x.is_nan()).count() as f64;
                Some(Column {
                    name: name.to_string(),
                    values: Values::Numeric(stats::weighted(v.iter().copied())),
                    missing,
                })
            }
            ColumnData::Categorical(c) => {
                let mut counts = vec![0.0; c.levels.len()];
                let mut missing = 0.0;
                for &code in &c.codes {
                    match counts.get_mut(code as usize) {
                        Some(n) => *n += 1.0,
                        None => missing += 1.0,
                    }
                }
                Some(Column {
                    name: name.to_string(),
                    values: Values::Categorical(
                        c.levels
                            .iter()
                            .cloned()
                            .zip(counts)
                            .filter(|(_, n)| *n > 0.0)
                            .collect(),
                    ),
                    missing,
                })
            }
            ColumnData::Id(_) => None,
        })
        .collect()
}

/// A numeric column from raw values (predicted probabilities, say).
pub fn numeric_column(name: &str, values: impl IntoIterator<Item = f64>) -> Column {
    let v: Vec<f64> = values.into_iter().collect();
    Column {
        name: name.to_string(),
        missing: v.iter().filter(|x| x.is_nan()).count() as f64,
        values: Values::Numeric(stats::weighted(v)),
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Per column: a test instead of the default rule, and/or a threshold.
    pub tests: BTreeMap<String, Test>,
    pub thresholds: BTreeMap<String, f64>,
    /// PSI for every column without its own test.
    pub psi: bool,
    /// The share of drifted columns at which the dataset drifts.
    pub share: Option<f64>,
}

pub const DEFAULT_SHARE: f64 = 0.5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    pub column: String,
    pub kind: String,
    pub test: Test,
    pub statistic: f64,
    pub threshold: f64,
    pub drifted: bool,
    pub distinct: usize,
    pub reference_rows: f64,
    pub current_rows: f64,
    pub reference_missing: f64,
    pub current_missing: f64,
    /// Bin labels and the share of each sample in them, for charts.
    pub bins: Vec<String>,
    pub reference_shares: Vec<f64>,
    pub current_shares: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub columns: Vec<ColumnDrift>,
    pub drifted: usize,
    pub share: f64,
    pub share_threshold: f64,
    pub dataset_drift: bool,
    /// Drift of the predicted probability, kept apart from the input columns' verdict.
    pub prediction: Option<ColumnDrift>,
}

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error("column '{0}' is in the reference but not in the current data")]
    MissingColumn(String),
    #[error("column '{column}' is {reference} in the reference but {current} in the current data")]
    KindMismatch {
        column: String,
        reference: &'static str,
        current: &'static str,
    },
    #[error("column '{0}' has no values in the reference or in the current data")]
    Empty(String),
    #[error("test {test:?} does not apply to the categorical column '{column}'")]
    WrongTest { column: String, test: Test },
}

/// Compares every reference column with its current counterpart.
pub fn compare(
    reference: &[Column],
    current: &[Column],
    opts: &Options,
) -> Result<DriftReport, DriftError> {
    let mut columns = Vec::with_capacity(reference.len());
    for r in reference {
        let c = current
            .iter()
            .find(|c| c.name == r.name)
            .ok_or_else(|| DriftError::MissingColumn(r.name.clone()))?;
        columns.push(column_drift(r, c, opts)?);
    }
    let drifted = columns.iter().filter(|c| c.drifted).count();
    let share = if columns.is_empty() {
        0.0
    } else {
        drifted as f64 / columns.len() as f64
    };
    let share_threshold = opts.share.unwrap_or(DEFAULT_SHARE);
    Ok(DriftReport {
        drifted,
        share,
        share_threshold,
        dataset_drift: !columns.is_empty() && share >= share_threshold,
        columns,
        prediction: None,
    })
}

fn kind_name(v: &Values) -> &'static str {
    match v {
        Values::Numeric(_) => "numeric",
        Values::Categorical(_) => "categorical",
    }
}

/// The default test for a column (Evidently's rule).
pub fn default_test(categorical: bool, distinct: usize, reference_rows: f64) -> Test {
    let small = reference_rows <= 1000.0;
    if categorical || distinct <= 5 {
        match (small, distinct > 2) {
            (true, true) => Test::ChiSquare,
            (true, false) => Test::ZTest,
            (false, _) => Test::JensenShannon,
        }
    } else if small {
        Test::Ks
    } else {
        Test::Wasserstein
    }
}

/// Both samples as counts over the same keys: numeric values as their text.
fn as_counts(v: &Values) -> BTreeMap<String, f64> {
    match v {
        Values::Categorical(c) => c.clone(),
        Values::Numeric(p) => p.iter().map(|(x, w)| (num_key(*x), *w)).collect(),
    }
}

/// Distinct values over two sorted weighted samples.
fn merged_distinct(a: &[(f64, f64)], b: &[(f64, f64)]) -> usize {
    let mut n = 0;
    stats::merge_walk(a, b, |_, _, _| n += 1);
    n
}

fn num_key(x: f64) -> String {
    format!("{x}")
}

/// Evidently's rules for one column in one place: which test, its threshold, the statistic, the verdict.
pub fn column_drift(r: &Column, c: &Column, opts: &Options) -> Result<ColumnDrift, DriftError> {
    let categorical = match (&r.values, &c.values) {
        (Values::Numeric(_), Values::Numeric(_)) => false,
        (Values::Categorical(_), Values::Categorical(_)) => true,
        (a, b) => {
            return Err(DriftError::KindMismatch {
                column: r.name.clone(),
                reference: kind_name(a),
                current: kind_name(b),
            })
        }
    };
    let (rn, cn) = (r.rows(), c.rows());
    if rn == 0.0 || cn == 0.0 {
        return Err(DriftError::Empty(r.name.clone()));
    }
    let distinct = match (&r.values, &c.values) {
        (Values::Numeric(a), Values::Numeric(b)) => merged_distinct(a, b),
        (Values::Categorical(a), Values::Categorical(b)) => {
            a.keys().chain(b.keys()).collect::<BTreeSet<_>>().len()
        }
        _ => unreachable!("kinds checked above"),
    };
    let test = match opts.tests.get(&r.name) {
        Some(t) => *t,
        None if opts.psi => Test::Psi,
        None => default_test(categorical, distinct, rn),
    };
    // Counts keyed by value are read by the per-value tests and the categorical charts only;
    // building them for a numeric column with thousands of values would be most of the work.
    let needs_counts = categorical
        || match (test, &r.values) {
            (Test::Ks | Test::Wasserstein, _) => false,
            (Test::Psi, Values::Numeric(a)) => a.len() <= 20,
            _ => true,
        };
    let (rc, cc) = if needs_counts {
        (as_counts(&r.values), as_counts(&c.values))
    } else {
        (BTreeMap::new(), BTreeMap::new())
    };
    let keys: BTreeSet<&String> = rc.keys().chain(cc.keys()).collect();
    let samples = Samples {
        r,
        c,
        rn,
        cn,
        rc: &rc,
        cc: &cc,
    };
    if categorical && matches!(test, Test::Ks | Test::Wasserstein) {
        return Err(DriftError::WrongTest {
            column: r.name.clone(),
            test,
        });
    }
    let threshold = opts
        .thresholds
        .get(&r.name)
        .copied()
        .unwrap_or(test.default_threshold());
    let shares = |m: &BTreeMap<String, f64>, n: f64| -> Vec<f64> {
        keys.iter()
            .map(|k| m.get(*k).copied().unwrap_or(0.0) / n)
            .collect()
    };
    let statistic = match test {
        Test::Ks => {
            let (Values::Numeric(a), Values::Numeric(b)) = (&r.values, &c.values) else {
                unreachable!("checked above")
            };
            let d = stats::ks_statistic(a, b);
            stats::ks_pvalue(d, rn.round() as u64, cn.round() as u64)
        }
        Test::Wasserstein => {
            let (Values::Numeric(a), Values::Numeric(b)) = (&r.values, &c.values) else {
                unreachable!("checked above")
            };
            stats::wasserstein(a, b) / stats::std(a).max(0.001)
        }
        Test::ChiSquare => {
            let k = cn / rn;
            let exp: Vec<f64> = keys
                .iter()
                .map(|key| rc.get(*key).copied().unwrap_or(0.0) * k)
                .collect();
            let obs: Vec<f64> = keys
                .iter()
                .map(|key| cc.get(*key).copied().unwrap_or(0.0))
                .collect();
            stats::chi_square(&obs, &exp).1
        }
        Test::ZTest => {
            let only = |m: &BTreeMap<String, f64>| m.len() == 1;
            if only(&rc) && only(&cc) && rc.keys().next() == cc.keys().next() {
                1.0
            } else {
                let key = keys.iter().next().copied();
                let k1 = key.and_then(|k| rc.get(k)).copied().unwrap_or(0.0);
                let k2 = key.and_then(|k| cc.get(k)).copied().unwrap_or(0.0);
                stats::z_test(k1, rn, k2, cn).1
            }
        }
        Test::JensenShannon => stats::jensen_shannon(&shares(&rc, rn), &shares(&cc, cn)),
        Test::Psi => {
            let (mut a, mut b) = psi_shares(&samples, &keys);
            stats::fill_zeroes(&mut a);
            stats::fill_zeroes(&mut b);
            stats::psi(&a, &b)
        }
    };
    let drifted = if test.is_p_value() {
        statistic < threshold
    } else {
        statistic >= threshold
    };
    let (bins, reference_shares, current_shares) = chart_bins(&samples);
    Ok(ColumnDrift {
        column: r.name.clone(),
        kind: kind_name(&r.values).to_string(),
        test,
        statistic,
        threshold,
        drifted,
        distinct,
        reference_rows: rn,
        current_rows: cn,
        reference_missing: r.missing,
        current_missing: c.missing,
        bins,
        reference_shares,
        current_shares,
    })
}

/// One column's two samples, their sizes and their value counts, as the binning rules read them.
#[derive(Clone, Copy)]
struct Samples<'a> {
    r: &'a Column,
    c: &'a Column,
    rn: f64,
    cn: f64,
    rc: &'a BTreeMap<String, f64>,
    cc: &'a BTreeMap<String, f64>,
}

impl<'a> Samples<'a> {
    #[allow(clippy::type_complexity)]
    fn parts(&self) -> (&'a Column, &'a Column, f64, f64, &'a Counts, &'a Counts) {
        (self.r, self.c, self.rn, self.cn, self.rc, self.cc)
    }
}

/// Values and how often each occurs.
type Counts = BTreeMap<String, f64>;

/// Evidently's PSI bins: 30 equal-width bins over both samples' range for a numeric column with
/// more than 20 distinct reference values, else one bin per value.
fn psi_shares(s: &Samples, keys: &BTreeSet<&String>) -> (Vec<f64>, Vec<f64>) {
    let (r, c, rn, cn, rc, cc) = s.parts();
    if let (Values::Numeric(a), Values::Numeric(b)) = (&r.values, &c.values) {
        if a.len() > 20 {
            return (histogram(a, b, 30, a, rn).1, histogram(a, b, 30, b, cn).1);
        }
    }
    let sh = |m: &BTreeMap<String, f64>, n: f64| -> Vec<f64> {
        keys.iter()
            .map(|k| m.get(*k).copied().unwrap_or(0.0) / n)
            .collect()
    };
    (sh(rc, rn), sh(cc, cn))
}

/// Equal-width bins over the range of `a` and `b` together (numpy's `histogram` edges, the
/// last bin closed); returns the edges and the share of `of` in each bin.
fn histogram(
    a: &[(f64, f64)],
    b: &[(f64, f64)],
    bins: usize,
    of: &[(f64, f64)],
    n: f64,
) -> (Vec<f64>, Vec<f64>) {
    let lo = a[0].0.min(b[0].0);
    let hi = a[a.len() - 1].0.max(b[b.len() - 1].0);
    let (lo, hi) = if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    // numpy's linspace: start + i * step, the last edge exactly the stop.
    let step = (hi - lo) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + lo).collect();
    edges[bins] = hi;
    let mut shares = vec![0.0; bins];
    for (x, w) in of {
        // The bin whose half-open range holds x, by the edges themselves (as numpy does).
        let i = edges[1..bins].partition_point(|e| e <= x);
        shares[i] += w / n;
    }
    (edges, shares)
}

/// Bins for charts: up to 20 equal-width bins for numeric columns with many values, else the
/// values or categories (the 30 most frequent in the reference, the rest as "other").
fn chart_bins(s: &Samples) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    let (r, c, rn, cn, rc, cc) = s.parts();
    if let (Values::Numeric(a), Values::Numeric(b)) = (&r.values, &c.values) {
        if a.len().max(b.len()) > 20 {
            let (edges, ra) = histogram(a, b, 20, a, rn);
            let (_, ca) = histogram(a, b, 20, b, cn);
            // Each bin by its lower edge.
            let labels = edges.windows(2).map(|w| short(w[0])).collect();
            return (labels, ra, ca);
        }
        let keys: BTreeSet<u64> = a.iter().chain(b).map(|p| p.0.to_bits()).collect();
        let mut xs: Vec<f64> = keys.into_iter().map(f64::from_bits).collect();
        xs.sort_by(f64::total_cmp);
        let share =
            |v: &[(f64, f64)], x: f64, n: f64| v.iter().find(|p| p.0 == x).map_or(0.0, |p| p.1 / n);
        return (
            xs.iter().map(|x| short(*x)).collect(),
            xs.iter().map(|x| share(a, *x, rn)).collect(),
            xs.iter().map(|x| share(b, *x, cn)).collect(),
        );
    }
    let mut keys: Vec<&String> = rc.keys().chain(cc.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.sort_by(|x, y| {
        let (a, b) = (rc.get(*x).unwrap_or(&0.0), rc.get(*y).unwrap_or(&0.0));
        b.total_cmp(a).then(x.cmp(y))
    });
    let (top, rest) = keys.split_at(keys.len().min(30));
    // Bands and codes ("0-10", "11-20", "91-100") read in their own order, not by frequency.
    let mut top = top.to_vec();
    if top.iter().all(|k| leading_number(k).is_some()) {
        top.sort_by(|x, y| {
            leading_number(x)
                .unwrap_or(0.0)
                .total_cmp(&leading_number(y).unwrap_or(0.0))
                .then(x.cmp(y))
        });
    }
    let mut labels: Vec<String> = top.iter().map(|k| k.to_string()).collect();
    let mut ra: Vec<f64> = top
        .iter()
        .map(|k| rc.get(*k).unwrap_or(&0.0) / rn)
        .collect();
    let mut ca: Vec<f64> = top
        .iter()
        .map(|k| cc.get(*k).unwrap_or(&0.0) / cn)
        .collect();
    if !rest.is_empty() {
        labels.push("other".into());
        ra.push(rest.iter().map(|k| rc.get(*k).unwrap_or(&0.0)).sum::<f64>() / rn);
        ca.push(rest.iter().map(|k| cc.get(*k).unwrap_or(&0.0)).sum::<f64>() / cn);
    }
    (labels, ra, ca)
}

/// The number a label starts with (`"41-50"` is 41, `"7"` is 7), if it starts with one.
fn leading_number(label: &str) -> Option<f64> {
    let end = label
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*c == '.' && *i > 0)))
        .map_or(label.len(), |(i, _)| i);
    label[..end].parse().ok()
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn bin_labels_are_short_and_bands_keep_their_order() {
        assert_eq!(short(3181.2), "3181");
        assert_eq!(short(3181.0), "3181");
        assert_eq!(short(1.6), "1.6");
        assert_eq!(short(0.05), "0.05");
        assert_eq!(short(12.345), "12.35");
        assert_eq!(leading_number("41-50"), Some(41.0));
        assert_eq!(leading_number("More than 100 Days"), None);
        assert_eq!(leading_number("7"), Some(7.0));
    }
}
