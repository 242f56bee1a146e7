//! Paired comparison of runs: each run against a baseline on the validation rows they share,
//! with the statistics of `metrics::paired`, or the reason they cannot be paired.
//!
//! Two runs are comparable when they were validated on the same rows: the same data file
//! (digest), seed and validation share, and so the same row ids in the same order.

use std::path::Path;

use serde::Serialize;

use crate::bundle::{Bundle, BundleError, DataFingerprint, ValidationSet};
use crate::metrics::paired::{self, Bootstrap, DeLong, McNemar, Score};
use crate::metrics::{Metric, MetricsError};
use crate::tracking::{RunSummary, Store, StoreError};

/// The confidence level of every interval.
pub const LEVEL: f64 = 0.95;
/// The seed of the bootstrap, so the same comparison gives the same intervals.
pub const SEED: u64 = 42;

/// One run against the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    pub run_id: String,
    /// ROC AUC: DeLong's test.
    pub roc_auc: DeLong,
    /// The other scores: paired bootstrap intervals of `run − baseline`, by metric name.
    pub bootstrap: Vec<(String, Bootstrap)>,
    /// Accuracy at the threshold: McNemar's exact test.
    pub accuracy: McNemar,
    pub threshold: f64,
}

/// The comparison of one run with the baseline, or why there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Paired(Box<Paired>),
    NotComparable { run_id: String, why: String },
}

/// Why two runs cannot be compared: a run has no usable validation rows, the rows are not the
/// same rows, or a statistic refused them.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("run {run} has no model file")]
    NoModelFile { run: String },
    #[error(
        "run {run} was logged through the MLflow API without validation predictions; log them \
         as the artifact `{PREDICTIONS_ARTIFACT}` (id,label,probability: the rows \
         `staytrack runs predictions` writes) for a paired test"
    )]
    NoPredictions { run: String },
    #[error("run {run}: its `{PREDICTIONS_ARTIFACT}` {why}")]
    BadPredictions { run: String, why: String },
    #[error("run {run}: {bundle}")]
    Bundle { run: String, bundle: BundleError },
    #[error("run {run} was trained before runs kept their validation predictions; train it again")]
    NoValidationRows { run: String },
    #[error(transparent)]
    NotSameRows(#[from] Mismatch),
    #[error("{metric} has no paired test")]
    NoPairedTest { metric: &'static str },
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// How two runs' validation rows differ.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Mismatch {
    #[error("trained on different data (sha256 {a}… and {b}…)")]
    Data { a: String, b: String },
    #[error(
        "split differently (seed {seed_a} / validation share {share_a} and seed {seed_b} / \
         {share_b})"
    )]
    Split {
        seed_a: u64,
        share_a: f64,
        seed_b: u64,
        share_b: f64,
    },
    #[error("their validation rows differ")]
    Rows,
}

/// The artifact a run logged through the MLflow API holds its validation predictions in: the
/// CSV `staytrack runs predictions` writes (a header `<id column>,label,probability`).
pub const PREDICTIONS_ARTIFACT: &str = "staytrack_predictions.csv";

/// The largest predictions table read, in bytes.
const MAX_PREDICTIONS_BYTES: u64 = 256 * 1024 * 1024;

/// The validation rows a run kept (its bundle's, or the predictions table a run logged through
/// the MLflow API), with the data they came from when a bundle says, or why there are none.
pub fn validation_of(
    store: &Store,
    artifacts_dir: &Path,
    run: &RunSummary,
) -> Result<(Option<DataFingerprint>, ValidationSet), CompareError> {
    let artifacts = store.artifacts(&run.id)?;
    let Some(a) = artifacts.iter().find(|a| a.name == "bundle") else {
        return match artifacts.iter().find(|a| a.name == PREDICTIONS_ARTIFACT) {
            Some(t) => predictions_table(artifacts_dir, run, t).map(|v| (None, v)),
            None if run.family == crate::models::Family::External => {
                Err(CompareError::NoPredictions {
                    run: run.name.clone(),
                })
            }
            None => Err(CompareError::NoModelFile {
                run: run.name.clone(),
            }),
        };
    };
    let mut bundle =
        Bundle::load_registered(artifacts_dir, &a.sha256, Some(&a.path)).map_err(|bundle| {
            CompareError::Bundle {
                run: run.name.clone(),
                bundle,
            }
        })?;
    let v = bundle
        .validation
        .take()
        .ok_or_else(|| CompareError::NoValidationRows {
            run: run.name.clone(),
        })?;
    Ok((Some(bundle.data), v))
}

/// A logged predictions table, read from its content-addressed file and checked.
fn predictions_table(
    artifacts_dir: &Path,
    run: &RunSummary,
    a: &crate::tracking::ArtifactRow,
) -> Result<ValidationSet, CompareError> {
    let bad = |why: String| CompareError::BadPredictions {
        run: run.name.clone(),
        why,
    };
    let hex = a.sha256.len() == 64 && a.sha256.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex || a.bytes as u64 > MAX_PREDICTIONS_BYTES {
        return Err(bad(format!(
            "is not readable here (at most {MAX_PREDICTIONS_BYTES} bytes)"
        )));
    }
    let path = crate::bundle::addressed_path(artifacts_dir, &a.sha256, "csv");
    let text = std::fs::read_to_string(&path).map_err(|e| bad(format!("cannot be read ({e})")))?;
    let v = parse_predictions(&text).map_err(bad)?;
    v.validate().map_err(|e| bad(e.to_string()))?;
    Ok(v)
}

/// `<id column>,label,probability` rows; an id may be quoted as CSV quotes it.
fn parse_predictions(text: &str) -> Result<ValidationSet, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("is empty")?;
    let id_column = header
        .strip_suffix(",label,probability")
        .ok_or("has no header `<id column>,label,probability`")?
        .to_string();
    let mut v = ValidationSet {
        id_column,
        ids: Vec::new(),
        labels: Vec::new(),
        probabilities: Vec::new(),
    };
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
        let row = i + 2;
        let (id, rest) = if let Some(q) = line.strip_prefix('"') {
            let end = q
                .match_indices('"')
                .map(|(k, _)| k)
                .find(|&k| q[k + 1..].starts_with(','))
                .ok_or(format!("line {row}: an unclosed quote"))?;
            (q[..end].replace("\"\"", "\""), &q[end + 2..])
        } else {
            let (id, rest) = line
                .split_once(',')
                .ok_or(format!("line {row}: three fields expected"))?;
            (id.to_string(), rest)
        };
        let (label, p) = rest
            .split_once(',')
            .ok_or(format!("line {row}: three fields expected"))?;
        let label = match label.trim() {
            "0" => 0,
            "1" => 1,
            other => return Err(format!("line {row}: label '{other}' is not 0 or 1")),
        };
        let p: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("line {row}: probability '{}' is not a number", p.trim()))?;
        v.ids.push(id);
        v.labels.push(label);
        v.probabilities.push(p);
    }
    Ok(v)
}

/// Why two runs' validation rows are not the same rows, if they are not. A logged predictions
/// table names no data file, so only its rows are compared.
fn not_comparable(
    a: Option<&DataFingerprint>,
    va: &ValidationSet,
    b: Option<&DataFingerprint>,
    vb: &ValidationSet,
) -> Option<Mismatch> {
    let (Some(da), Some(db)) = (a, b) else {
        return (va.ids != vb.ids || va.labels != vb.labels).then_some(Mismatch::Rows);
    };
    if da.sha256 != db.sha256 {
        return Some(Mismatch::Data {
            a: da.sha256[..da.sha256.len().min(12)].to_string(),
            b: db.sha256[..db.sha256.len().min(12)].to_string(),
        });
    }
    if da.seed != db.seed || da.valid_fraction != db.valid_fraction {
        return Some(Mismatch::Split {
            seed_a: da.seed,
            share_a: da.valid_fraction,
            seed_b: db.seed,
            share_b: db.valid_fraction,
        });
    }
    if va.ids != vb.ids || va.labels != vb.labels {
        return Some(Mismatch::Rows);
    }
    None
}

/// One metric's paired test of a candidate against a baseline.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MetricTest {
    pub metric: String,
    /// `DeLong`, `McNemar` or `bootstrap`.
    pub test: String,
    pub baseline: f64,
    pub candidate: f64,
    /// `candidate − baseline`.
    pub diff: f64,
    pub p_value: f64,
    /// The interval of the difference (none for McNemar's test).
    pub ci: Option<(f64, f64)>,
}

/// The validation rows of `baseline` and `candidate`, when they are the same rows.
pub fn shared_rows(
    store: &Store,
    artifacts_dir: &Path,
    baseline: &RunSummary,
    candidate: &RunSummary,
) -> Result<(ValidationSet, ValidationSet), CompareError> {
    let (ba, va) = validation_of(store, artifacts_dir, baseline)?;
    let (bb, vb) = validation_of(store, artifacts_dir, candidate)?;
    match not_comparable(ba.as_ref(), &va, bb.as_ref(), &vb) {
        Some(why) => Err(why.into()),
        None => Ok((va, vb)),
    }
}

/// `metric` of `b` against `a` on the same rows, by the test `runs compare` reports for it:
/// DeLong's for ROC AUC, McNemar's for accuracy, the paired bootstrap otherwise.
pub fn metric_test(
    metric: Metric,
    a: &ValidationSet,
    b: &ValidationSet,
    threshold: f64,
) -> Result<MetricTest, CompareError> {
    let y = &a.labels;
    let (pa, pb) = (&a.probabilities, &b.probabilities);
    let score = Score::of(metric, threshold).ok_or(CompareError::NoPairedTest {
        metric: metric.key(),
    })?;
    let (baseline, candidate) = (score.exact(y, pa)?, score.exact(y, pb)?);
    let (test, p_value, ci) = match score {
        Score::RocAuc => {
            let d = paired::delong(y, pa, pb, LEVEL)?;
            ("DeLong", d.p_value, Some(d.ci))
        }
        Score::Accuracy(t) => ("McNemar", paired::mcnemar(y, pa, pb, t)?.p_value, None),
        s => {
            let b = paired::bootstrap(y, pa, pb, s, paired::RESAMPLES, SEED, LEVEL)?;
            ("bootstrap", b.p_value, Some(b.ci))
        }
    };
    Ok(MetricTest {
        metric: metric.key().to_string(),
        test: test.to_string(),
        baseline,
        candidate,
        diff: candidate - baseline,
        p_value,
        ci,
    })
}

/// Each of `others` against `baseline`, on their shared validation rows.
pub fn compare(
    store: &Store,
    artifacts_dir: &Path,
    baseline: &RunSummary,
    others: &[RunSummary],
    threshold: f64,
) -> Result<Vec<Outcome>, CompareError> {
    let (base_bundle, base) = validation_of(store, artifacts_dir, baseline)?;
    Ok(others
        .iter()
        .map(|run| {
            let not = |why: CompareError| Outcome::NotComparable {
                run_id: run.id.clone(),
                why: why.to_string(),
            };
            let (bundle, v) = match validation_of(store, artifacts_dir, run) {
                Ok(x) => x,
                Err(e) => return not(e),
            };
            if let Some(why) = not_comparable(base_bundle.as_ref(), &base, bundle.as_ref(), &v) {
                return not(why.into());
            }
            match pair(&base, &v, threshold) {
                Ok(mut p) => {
                    p.run_id = run.id.clone();
                    Outcome::Paired(Box::new(p))
                }
                Err(e) => not(e.into()),
            }
        })
        .collect())
}

/// The statistics of `b` against `a` on the same rows.
fn pair(a: &ValidationSet, b: &ValidationSet, threshold: f64) -> Result<Paired, MetricsError> {
    let y = &a.labels;
    let (pa, pb) = (&a.probabilities, &b.probabilities);
    let roc_auc = paired::delong(y, pa, pb, LEVEL)?;
    let scores = [
        Score::PrAuc,
        Score::F1(threshold),
        Score::Accuracy(threshold),
        Score::LogLoss,
        Score::Brier,
    ];
    let bootstrap = paired::bootstrap_all(y, pa, pb, &scores, paired::RESAMPLES, SEED, LEVEL)?
        .into_iter()
        .zip(scores)
        .map(|(b, s)| (s.metric().key().to_string(), b))
        .collect();
    Ok(Paired {
        run_id: String::new(),
        roc_auc,
        bootstrap,
        accuracy: paired::mcnemar(y, pa, pb, threshold)?,
        threshold,
    })
}
