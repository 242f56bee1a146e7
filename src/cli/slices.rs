//! Slices as `runs show`, `runs compare` and `monitor` print them: a table per report, the
//! fairness gaps under it, and the worst slice of a run against a baseline.

use crate::slices::compare::SliceDrop;
use crate::slices::SliceReport;
use crate::util::{render_table, thousands};

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into())
}

/// The slice table and, per column, its gaps. Slices with fewer than `min_rows` rows are marked
/// and left out of the gaps.
pub fn print_report(r: &SliceReport) {
    let mut rows = Vec::new();
    let mut small = false;
    for c in &r.columns {
        for s in &c.slices {
            small |= !s.judged;
            rows.push(vec![
                c.column.clone(),
                format!("{}{}", s.value, if s.judged { "" } else { " †" }),
                thousands(s.rows),
                format!("{:.4}", s.positive_rate),
                opt(s.roc_auc),
                format!("{:.4}", s.calibration_error),
                opt(s.tpr),
                opt(s.fpr),
                format!("{:.4}", s.selection_rate),
            ]);
        }
    }
    print!(
        "{}",
        render_table(
            &[
                "SLICE COLUMN",
                "VALUE",
                "ROWS",
                "POSITIVE RATE",
                "ROC AUC",
                "ECE",
                "TPR",
                "FPR",
                "SELECTED",
            ],
            &rows
        )
    );
    for c in &r.columns {
        println!(
            "{}: demographic parity difference {}, equalized odds difference {}{}",
            c.column,
            opt(c.demographic_parity_difference),
            opt(c.equalized_odds_difference),
            if c.equalized_odds_difference.is_some() {
                format!(" ({})", c.odds_spread())
            } else {
                String::new()
            }
        );
    }
    println!(
        "TPR, FPR and SELECTED at threshold {}; ECE over {} equal-width bins{}",
        r.threshold,
        r.calibration_bins,
        if small {
            format!(
                "; † fewer than {} rows, left out of the gaps and the gates",
                r.min_rows
            )
        } else {
            String::new()
        }
    );
}

/// `name`'s worst slice against the baseline, one line.
pub fn drop_line(name: &str, d: &SliceDrop) -> String {
    let test = match (&d.test, &d.test_note) {
        (Some(t), _) => format!(
            ", {} ({})",
            crate::metrics::paired::format_p(t.p_value),
            t.test
        ),
        (None, Some(why)) => format!(" (no paired test: {why})"),
        (None, None) => String::new(),
    };
    format!(
        "{name}: worst slice {} = {} ({} rows): ROC AUC {:.4} against {:.4}, {:+.4}{test}",
        d.column,
        d.value,
        thousands(d.rows),
        d.candidate_roc_auc,
        d.baseline_roc_auc,
        -d.drop
    )
}
