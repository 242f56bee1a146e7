//! The slice rules of a promotion: no slice may lose more ROC AUC against the served model than
//! `worst_slice_roc_auc_drop`, and no slice column's equalized odds difference may pass
//! `max_equalized_odds_difference`. Both read the slices training stored for each run.

use super::rules::{check, fail};
use super::{Check, Verdict};
use crate::config::Config;
use crate::slices::compare::{report_of, worst_against};
use crate::slices::SliceReport;
use crate::tracking::{RunSummary, Store};
use crate::util::thousands;

pub(super) const DROP_RULE: &str = "worst_slice_roc_auc_drop";
pub(super) const ODDS_RULE: &str = "max_equalized_odds_difference";

/// The hint every refusal for missing slices ends with.
const HOW: &str = "name columns in [slices] of staytrack.toml and train again";

/// The run's stored slices, or why a rule cannot weigh them.
fn candidate_report(store: &Store, run: &RunSummary) -> Result<SliceReport, String> {
    match report_of(store, run) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(format!("run {} has no slice metrics; {HOW}", run.name)),
        Err(e) => Err(e.to_string()),
    }
}

/// The candidate's worst slice against the same slice of the model the alias serves.
pub(super) fn slice_drop_rule(
    store: &Store,
    cfg: &Config,
    limit: f64,
    candidate: &RunSummary,
    current: Option<&(RunSummary, i64)>,
) -> Check {
    let Some((now, version)) = current else {
        return Check {
            detail: "nothing is served on the alias yet; there are no slices to compare with"
                .into(),
            ..check(DROP_RULE)
        };
    };
    if let Err(why) = candidate_report(store, candidate) {
        return fail(DROP_RULE, why);
    }
    match report_of(store, now) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return fail(
                DROP_RULE,
                format!(
                    "version {version} ({}) has no slice metrics to compare with; {HOW}",
                    now.name
                ),
            )
        }
        Err(e) => return fail(DROP_RULE, e.to_string()),
    }
    let worst = match worst_against(store, &cfg.artifacts_dir, now, candidate) {
        Ok(Some(w)) => w,
        Ok(None) => {
            return fail(
                DROP_RULE,
                format!(
                    "the candidate and version {version} ({}) share no slice with enough rows \
                     and both classes",
                    now.name
                ),
            )
        }
        Err(e) => return fail(DROP_RULE, e.to_string()),
    };
    let test = match (&worst.test, &worst.test_note) {
        (Some(t), _) => format!(
            ", {} ({})",
            crate::metrics::paired::format_p(t.p_value),
            t.test
        ),
        (None, Some(why)) => format!(" (no paired test: {why})"),
        (None, None) => String::new(),
    };
    Check {
        verdict: if worst.drop <= limit {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        detail: format!(
            "worst slice {} = {}: ROC AUC {:.4} against {:.4} of version {version} ({}) on {} \
             rows, a drop of {:.4}{test}; the limit is {limit}",
            worst.column,
            worst.value,
            worst.candidate_roc_auc,
            worst.baseline_roc_auc,
            now.name,
            thousands(worst.rows),
            worst.drop,
        ),
        measured: Some(worst.drop),
        limit: Some(limit),
        test: worst.test,
        ..check(DROP_RULE)
    }
}

/// The candidate's largest equalized odds difference over its slice columns.
pub(super) fn equalized_odds_rule(store: &Store, limit: f64, candidate: &RunSummary) -> Check {
    let report = match candidate_report(store, candidate) {
        Ok(r) => r,
        Err(why) => return fail(ODDS_RULE, why),
    };
    let Some((column, eod)) = report.worst_equalized_odds() else {
        return Check {
            detail: format!(
                "no slice column has two slices of at least {} rows",
                report.min_rows
            ),
            ..check(ODDS_RULE)
        };
    };
    Check {
        verdict: if eod <= limit {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        detail: format!(
            "{}: equalized odds difference {eod:.4} ({}); the limit is {limit}",
            column.column,
            column.odds_spread()
        ),
        measured: Some(eod),
        limit: Some(limit),
        ..check(ODDS_RULE)
    }
}
