//! Slices across runs: a run's stored slices, and the slice where a candidate loses the most ROC
//! AUC against a baseline, with DeLong's test on that slice's rows when the runs share them.

use std::path::Path;

use serde::Serialize;

use super::{Grouping, SliceReport, REPORT_CURVE, ROWS_CURVE};
use crate::bundle::ValidationSet;
use crate::compare::{self, MetricTest};
use crate::metrics::Metric;
use crate::tracking::{RunSummary, Store, StoreError};

/// Why a run's stored slices cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("run {run}: its stored {kind} do not read ({source})")]
    Unreadable {
        run: String,
        kind: &'static str,
        source: serde_json::Error,
    },
}

/// The slices training stored for `run`, `None` when it stored none.
pub fn report_of(store: &Store, run: &RunSummary) -> Result<Option<SliceReport>, StoredError> {
    read(store, run, REPORT_CURVE, "slices")
}

/// Each validation row's slice, per column, as training stored them.
pub fn rows_of(store: &Store, run: &RunSummary) -> Result<Option<Vec<Grouping>>, StoredError> {
    read(store, run, ROWS_CURVE, "slice rows")
}

fn read<T: serde::de::DeserializeOwned>(
    store: &Store,
    run: &RunSummary,
    curve: &str,
    kind: &'static str,
) -> Result<Option<T>, StoredError> {
    let curves = store.curves(&run.id)?;
    curves
        .get(curve)
        .map(|json| serde_json::from_str(json))
        .transpose()
        .map_err(|source| StoredError::Unreadable {
            run: run.name.clone(),
            kind,
            source,
        })
}

/// The slice a candidate does worst on against a baseline, by ROC AUC.
#[derive(Debug, Clone, Serialize)]
pub struct SliceDrop {
    pub column: String,
    pub value: String,
    /// The candidate's rows in the slice.
    pub rows: usize,
    pub baseline_roc_auc: f64,
    pub candidate_roc_auc: f64,
    /// `baseline − candidate`: positive is a loss.
    pub drop: f64,
    /// DeLong's test of the two on the slice's rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<MetricTest>,
    /// Why there is no test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_note: Option<String>,
}

/// The slice, judged in both reports, where the candidate's ROC AUC falls furthest below the
/// baseline's; `None` when they share no such slice.
pub fn worst_drop(baseline: &SliceReport, candidate: &SliceReport) -> Option<SliceDrop> {
    candidate
        .columns
        .iter()
        .flat_map(|c| c.slices.iter().map(move |s| (c.column.as_str(), s)))
        .filter(|(_, s)| s.judged)
        .filter_map(|(column, s)| {
            let b = baseline.slice(column, &s.value).filter(|b| b.judged)?;
            let (ba, ca) = (b.roc_auc?, s.roc_auc?);
            Some(SliceDrop {
                column: column.to_string(),
                value: s.value.clone(),
                rows: s.rows,
                baseline_roc_auc: ba,
                candidate_roc_auc: ca,
                drop: ba - ca,
                test: None,
                test_note: None,
            })
        })
        .max_by(|a, b| a.drop.total_cmp(&b.drop))
}

/// The worst slice of `candidate` against `baseline`, with DeLong's test on its rows when the
/// runs were validated on the same rows; `None` when either stored no slices or they share no
/// judged slice.
pub fn worst_against(
    store: &Store,
    artifacts_dir: &Path,
    baseline: &RunSummary,
    candidate: &RunSummary,
) -> Result<Option<SliceDrop>, StoredError> {
    let (Some(b), Some(c)) = (report_of(store, baseline)?, report_of(store, candidate)?) else {
        return Ok(None);
    };
    let Some(mut worst) = worst_drop(&b, &c) else {
        return Ok(None);
    };
    let rows = rows_of(store, candidate)?;
    match paired_on_slice(store, artifacts_dir, baseline, candidate, &worst, rows) {
        Ok(t) => worst.test = Some(t),
        Err(why) => worst.test_note = Some(why),
    }
    Ok(Some(worst))
}

fn paired_on_slice(
    store: &Store,
    artifacts_dir: &Path,
    baseline: &RunSummary,
    candidate: &RunSummary,
    worst: &SliceDrop,
    rows: Option<Vec<Grouping>>,
) -> Result<MetricTest, String> {
    let grouping = rows
        .into_iter()
        .flatten()
        .find(|g| g.column == worst.column)
        .ok_or("the candidate kept no slice of its validation rows")?;
    let slot = grouping
        .labels
        .iter()
        .position(|l| *l == worst.value)
        .ok_or("the slice is not among the candidate's rows")?;
    let (a, b) = compare::shared_rows(store, artifacts_dir, baseline, candidate)
        .map_err(|e| e.to_string())?;
    if grouping.members.len() != a.labels.len() {
        return Err("the stored slices do not match the validation rows".into());
    }
    let keep = grouping.rows_of(slot);
    let (sa, sb) = (subset(&a, &keep), subset(&b, &keep));
    compare::metric_test(Metric::RocAuc, &sa, &sb, crate::data::spec::THRESHOLD)
        .map_err(|e| e.to_string())
}

/// The rows `rows` of `v` (a row `v` lacks is left out: a loaded set is already checked whole).
fn subset(v: &ValidationSet, rows: &[usize]) -> ValidationSet {
    let mut out = ValidationSet {
        id_column: v.id_column.clone(),
        ids: Vec::with_capacity(rows.len()),
        labels: Vec::with_capacity(rows.len()),
        probabilities: Vec::with_capacity(rows.len()),
    };
    for &i in rows {
        if let (Some(id), Some(&y), Some(&p)) =
            (v.ids.get(i), v.labels.get(i), v.probabilities.get(i))
        {
            out.ids.push(id.clone());
            out.labels.push(y);
            out.probabilities.push(p);
        }
    }
    out
}
