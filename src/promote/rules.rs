//! The rules a promotion is weighed by, one check each: beating the served model on a paired
//! test, drift against its training data, and scoring latency.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Check, Policy, Verdict, LATENCY_ROWS};
use crate::bundle::Bundle;
use crate::compare;
use crate::config::Config;
use crate::metrics::{Direction, Metric};
use crate::tracking::{RunSummary, Store};

pub(super) fn check(rule: &str) -> Check {
    Check {
        rule: rule.to_string(),
        verdict: Verdict::Skip,
        detail: String::new(),
        measured: None,
        limit: None,
        test: None,
    }
}

pub(super) fn fail(rule: &str, detail: String) -> Check {
    Check {
        verdict: Verdict::Fail,
        detail,
        ..check(rule)
    }
}

/// The candidate against the model the alias serves, on their shared validation rows.
pub(super) fn beat_rule(
    store: &Store,
    cfg: &Config,
    policy: &Policy,
    metric: Metric,
    candidate: &RunSummary,
    current: Option<&(RunSummary, i64)>,
) -> Check {
    let key = metric.key();
    let Some((now, version)) = current else {
        return Check {
            detail: "nothing is served on the alias yet; there is no model to beat".into(),
            ..check(key)
        };
    };
    let rows = compare::shared_rows(store, &cfg.artifacts_dir, now, candidate);
    let test = match rows
        .and_then(|(a, b)| compare::metric_test(metric, &a, &b, crate::data::spec::THRESHOLD))
    {
        Ok(t) => t,
        Err(why) => {
            return fail(
                key,
                format!(
                    "no paired test against version {version} ({}): {why}",
                    now.name
                ),
            )
        }
    };
    // The gain in the metric's own direction: lower log loss is a gain.
    let gain = match metric.direction() {
        Direction::LowerIsBetter => -test.diff,
        _ => test.diff,
    };
    let mut needs = format!("a gain of at least {:+.4}", policy.min_gain);
    let mut ok = gain >= policy.min_gain;
    if let Some(p) = policy.max_p {
        needs.push_str(&format!(" with p < {p}"));
        ok &= test.p_value < p;
    }
    Check {
        verdict: if ok { Verdict::Pass } else { Verdict::Fail },
        detail: format!(
            "{:.4} against {:.4} of version {version} ({}): gain {gain:+.4}, {} ({}); the policy needs {needs}",
            test.candidate,
            test.baseline,
            now.name,
            crate::metrics::paired::format_p(test.p_value),
            test.test,
        ),
        measured: Some(gain),
        limit: Some(policy.min_gain),
        test: Some(test),
        ..check(key)
    }
}

/// The share of drifted columns between the candidate's training profile and the newest
/// logged predictions.
pub(super) fn drift_rule(
    store: &Store,
    cfg: &Config,
    policy: &Policy,
    limit: f64,
    b: &Bundle,
) -> Check {
    const RULE: &str = "max_drift_share";
    let min_rows = crate::drift::monitor::min_rows_setting(cfg)
        .unwrap_or(crate::drift::monitor::DEFAULT_MIN_ROWS);
    let rows = match store.recent_predictions(0, policy.drift_rows) {
        Ok(r) => r,
        Err(e) => return fail(RULE, format!("the prediction log cannot be read: {e}")),
    };
    if rows.len() < min_rows.max(1) {
        return Check {
            detail: format!(
                "{} prediction(s) logged, fewer than the {min_rows} a drift verdict needs",
                rows.len()
            ),
            ..check(RULE)
        };
    }
    let records: Vec<serde_json::Map<String, serde_json::Value>> = rows
        .iter()
        .filter_map(|r| serde_json::from_str(&r.inputs).ok())
        .collect();
    let report = crate::data::Frame::from_records(&b.spec, &records)
        .map_err(|e| format!("a logged prediction's inputs: {e}"))
        .and_then(|frame| {
            crate::drift::compare(
                &crate::drift::from_profile(&b.profile),
                &crate::drift::from_frame(&frame),
                &crate::drift::Options {
                    share: Some(crate::drift::DEFAULT_SHARE),
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())
        });
    match report {
        Ok(r) => {
            let drifted: Vec<&str> = r
                .columns
                .iter()
                .filter(|c| c.drifted)
                .map(|c| c.column.as_str())
                .collect();
            Check {
                verdict: if r.share <= limit {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
                detail: format!(
                    "{} of {} columns drifted ({:.2}) in the newest {} predictions against the \
                     candidate's training data{}; the limit is {limit}",
                    r.drifted,
                    r.columns.len(),
                    r.share,
                    rows.len(),
                    if drifted.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", drifted.join(", "))
                    }
                ),
                measured: Some(r.share),
                limit: Some(limit),
                ..check(RULE)
            }
        }
        Err(e) => fail(RULE, e),
    }
}

/// The 99th percentile of the time to predict one validation row, over up to
/// `LATENCY_ROWS` rows one at a time, as a request of one row is served.
pub(super) fn latency_rule(cfg: &Config, limit: f64, b: &Bundle) -> Check {
    const RULE: &str = "max_predict_ms";
    let frame = match validation_frame(cfg, b) {
        Ok(f) => f,
        Err(e) => return fail(RULE, format!("cannot measure: {e}")),
    };
    let mut ms = Vec::with_capacity(frame.n_rows());
    for i in 0..frame.n_rows() {
        let one = frame.take(&[i]);
        let start = Instant::now();
        if let Err(e) = b.predict(&one) {
            return fail(RULE, format!("validation row {i} cannot be predicted: {e}"));
        }
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let p99 = ms[((ms.len() as f64 * 0.99).ceil() as usize).clamp(1, ms.len()) - 1];
    let p50 = ms[ms.len() / 2];
    Check {
        verdict: if p99 <= limit {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        detail: format!(
            "one row takes {p99:.3} ms at the 99th percentile ({p50:.3} ms median) over {} \
             validation rows; the limit is {limit} ms",
            ms.len()
        ),
        measured: Some(p99),
        limit: Some(limit),
        ..check(RULE)
    }
}

/// Why the latency rule has no rows to time: the training data is gone, changed or unreadable.
#[derive(Debug, thiserror::Error)]
enum TrainingDataError {
    #[error("the training data {} is not there", .path.display())]
    Missing { path: PathBuf },
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} changed since the run was trained (its sha256 differs)", .path.display())]
    Changed { path: PathBuf },
    #[error(transparent)]
    Load(#[from] crate::data::load::LoadError),
    #[error("the split has no validation rows")]
    NoRows,
}

/// The first `LATENCY_ROWS` validation rows of the run's data, re-read from the data file
/// and split as training split it; refused when the file is not the one trained on.
fn validation_frame(cfg: &Config, b: &Bundle) -> Result<crate::data::Frame, TrainingDataError> {
    let recorded = PathBuf::from(&b.data.path);
    let path = [recorded.clone(), cfg.workspace.join(&recorded)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or(TrainingDataError::Missing { path: recorded })?;
    let bytes = std::fs::read(&path).map_err(|source| TrainingDataError::Read {
        path: path.clone(),
        source,
    })?;
    if crate::bundle::sha256_hex(&bytes) != b.data.sha256 {
        return Err(TrainingDataError::Changed { path });
    }
    let frame = crate::data::load::parse_csv(
        bytes,
        Path::new(&path),
        &b.spec,
        crate::data::Labels::Required,
    )?;
    let y = frame.target.clone().unwrap_or_default();
    let split = crate::data::split::stratified_split(&y, b.data.valid_fraction, b.data.seed);
    let rows: Vec<usize> = split.valid.into_iter().take(LATENCY_ROWS).collect();
    if rows.is_empty() {
        return Err(TrainingDataError::NoRows);
    }
    Ok(frame.take(&rows))
}
