//! Paired comparison of runs: each run against a baseline on the validation rows they share,
//! with the statistics of `metrics::paired`, or the reason they cannot be paired.
//!
//! Two runs are comparable when they were validated on the same rows: the same data file
//! (digest), seed and validation share, and so the same row ids in the same order.

use std::path::Path;

use serde::Serialize;

use crate::bundle::{Bundle, ValidationSet};
use crate::metrics::paired::{self, Bootstrap, DeLong, McNemar, Score};
use crate::metrics::{Metric, MetricsError};
use crate::tracking::{RunSummary, Store};

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

/// The validation rows a run's bundle kept, or why there are none.
pub fn validation_of(
    store: &Store,
    artifacts_dir: &Path,
    run: &RunSummary,
) -> Result<(Bundle, ValidationSet), String> {
    let artifacts = store.artifacts(&run.id).map_err(|e| e.to_string())?;
    let a = artifacts
        .iter()
        .find(|a| a.name == "bundle")
        .ok_or_else(|| format!("run {} has no model file", run.name))?;
    let mut bundle = Bundle::load_registered(artifacts_dir, &a.sha256, Some(&a.path))
        .map_err(|e| format!("run {}: {e}", run.name))?;
    let v = bundle.validation.take().ok_or_else(|| {
        format!(
            "run {} was trained before runs kept their validation predictions; train it again",
            run.name
        )
    })?;
    Ok((bundle, v))
}

/// Why two runs' validation rows are not the same rows, if they are not.
fn not_comparable(
    a: &Bundle,
    va: &ValidationSet,
    b: &Bundle,
    vb: &ValidationSet,
) -> Option<String> {
    let (da, db) = (&a.data, &b.data);
    if da.sha256 != db.sha256 {
        return Some(format!(
            "trained on different data (sha256 {}… and {}…)",
            &da.sha256[..da.sha256.len().min(12)],
            &db.sha256[..db.sha256.len().min(12)]
        ));
    }
    if da.seed != db.seed || da.valid_fraction != db.valid_fraction {
        return Some(format!(
            "split differently (seed {} / validation share {} and seed {} / {})",
            da.seed, da.valid_fraction, db.seed, db.valid_fraction
        ));
    }
    if va.ids != vb.ids || va.labels != vb.labels {
        return Some("their validation rows differ".into());
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
) -> Result<(ValidationSet, ValidationSet), String> {
    let (ba, va) = validation_of(store, artifacts_dir, baseline)?;
    let (bb, vb) = validation_of(store, artifacts_dir, candidate)?;
    match not_comparable(&ba, &va, &bb, &vb) {
        Some(why) => Err(why),
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
) -> Result<MetricTest, String> {
    let y = &a.labels;
    let (pa, pb) = (&a.probabilities, &b.probabilities);
    let err = |e: MetricsError| e.to_string();
    let score = Score::of(metric, threshold)
        .ok_or_else(|| format!("{} has no paired test", metric.key()))?;
    let (baseline, candidate) = (
        score.exact(y, pa).map_err(err)?,
        score.exact(y, pb).map_err(err)?,
    );
    let (test, p_value, ci) = match score {
        Score::RocAuc => {
            let d = paired::delong(y, pa, pb, LEVEL).map_err(err)?;
            ("DeLong", d.p_value, Some(d.ci))
        }
        Score::Accuracy(t) => (
            "McNemar",
            paired::mcnemar(y, pa, pb, t).map_err(err)?.p_value,
            None,
        ),
        s => {
            let b = paired::bootstrap(y, pa, pb, s, paired::RESAMPLES, SEED, LEVEL).map_err(err)?;
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
) -> Result<Vec<Outcome>, String> {
    let (base_bundle, base) = validation_of(store, artifacts_dir, baseline)?;
    Ok(others
        .iter()
        .map(|run| {
            let not = |why: String| Outcome::NotComparable {
                run_id: run.id.clone(),
                why,
            };
            let (bundle, v) = match validation_of(store, artifacts_dir, run) {
                Ok(x) => x,
                Err(e) => return not(e),
            };
            if let Some(why) = not_comparable(&base_bundle, &base, &bundle, &v) {
                return not(why);
            }
            match pair(&base, &v, threshold) {
                Ok(mut p) => {
                    p.run_id = run.id.clone();
                    Outcome::Paired(Box::new(p))
                }
                Err(e) => not(e),
            }
        })
        .collect())
}

/// The statistics of `b` against `a` on the same rows.
fn pair(a: &ValidationSet, b: &ValidationSet, threshold: f64) -> Result<Paired, String> {
    let y = &a.labels;
    let (pa, pb) = (&a.probabilities, &b.probabilities);
    let err = |e: MetricsError| e.to_string();
    let roc_auc = paired::delong(y, pa, pb, LEVEL).map_err(err)?;
    let scores = [
        Score::PrAuc,
        Score::F1(threshold),
        Score::Accuracy(threshold),
        Score::LogLoss,
        Score::Brier,
    ];
    let bootstrap = paired::bootstrap_all(y, pa, pb, &scores, paired::RESAMPLES, SEED, LEVEL)
        .map_err(err)?
        .into_iter()
        .zip(scores)
        .map(|(b, s)| (s.metric().key().to_string(), b))
        .collect();
    Ok(Paired {
        run_id: String::new(),
        roc_auc,
        bootstrap,
        accuracy: paired::mcnemar(y, pa, pb, threshold).map_err(err)?,
        threshold,
    })
}
