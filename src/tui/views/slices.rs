//! Slices on the Compare and Monitor screens: each compared run's worst slice (against the same
//! slice of the baseline when one is pinned) and its largest equalized odds difference; a
//! monitor window's slices. Drawing only reads what the loader put in the state.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table};
use ratatui::Frame;

use super::{boxed_in, fit};
use std::collections::HashMap;

use crate::metrics::paired::format_p;
use crate::slices::compare::{worst_drop, SliceDrop};
use crate::slices::SliceReport;
use crate::tui::app::CompareRun;

/// The rows the Compare screen gives the slices box: one per compared run, a header and
/// borders; none when no run has slices.
pub fn compare_height(runs: &[CompareRun]) -> u16 {
    if runs.iter().any(|c| c.slices.is_some()) {
        runs.len() as u16 + 3
    } else {
        0
    }
}

/// One line per run: its worst judged slice by ROC AUC, or against a pinned baseline the slice
/// it loses most on, and its largest equalized odds difference with the column.
pub fn compare_box(
    f: &mut Frame,
    area: Rect,
    base: Option<&CompareRun>,
    runs: &[&CompareRun],
    tested: &HashMap<String, SliceDrop>,
) {
    if area.height == 0 {
        return;
    }
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let base_report = base.and_then(|b| b.slices.as_ref());
    let rows = runs.iter().map(|c| {
        let Some(r) = &c.slices else {
            return Row::new(vec![
                fit(&c.run.name, 12),
                "no slices".into(),
                String::new(),
            ]);
        };
        let against = base_report
            .filter(|_| base.is_some_and(|b| b.run.id != c.run.id))
            .and_then(|b| worst_drop(b, r));
        // The background test's result once it is in; the drop read from the reports before.
        let test = tested
            .get(&c.run.id)
            .and_then(|d| d.test.as_ref())
            .map(|t| format!(", {}", format_p(t.p_value)))
            .unwrap_or_default();
        let worst = match (against, r.worst_roc_auc()) {
            (Some(d), _) => format!(
                "{} = {}: {:.4} ({:+.4}{test})",
                d.column, d.value, d.candidate_roc_auc, -d.drop
            ),
            (None, Some((col, s))) => format!(
                "{col} = {}: {:.4} ({} rows)",
                s.value,
                s.roc_auc.unwrap_or(f64::NAN),
                s.rows
            ),
            (None, None) => "-".into(),
        };
        let odds = r
            .worst_equalized_odds()
            .map(|(_, e)| format!("{e:.4}"))
            .unwrap_or_else(|| "-".into());
        Row::new(vec![fit(&c.run.name, 12), worst, odds])
    });
    let title = if base_report.is_some() {
        "Worst slice by ROC AUC (± vs the base's) · EOD: equalized odds difference"
    } else {
        "Worst slice by ROC AUC · EOD: largest equalized odds difference"
    };
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(12),
                Constraint::Min(24),
                Constraint::Length(6),
            ],
        )
        .header(Row::new(vec!["run", "worst slice", "EOD"]).style(bold))
        .block(boxed_in(title, area)),
        area,
    );
}

/// A window's slices, one line each, and each column's gaps under its slices.
pub fn window_box(f: &mut Frame, area: Rect, label: &str, r: &SliceReport) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
    let width = area.width.saturating_sub(2) as usize;
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "{:<14} {:>6} {:>7} {:>6} {:>6} {:>6}",
                "slice", "rows", "ROC AUC", "ECE", "TPR", "FPR"
            ),
            width,
        ),
        bold,
    )];
    for c in &r.columns {
        lines.push(Line::styled(fit(&c.column, width), bold));
        for s in &c.slices {
            let value = format!("{}{}", s.value, if s.judged { "" } else { " †" });
            lines.push(Line::from(fit(
                &format!(
                    "{:<14} {:>6} {:>7} {:>6.4} {:>6} {:>6}",
                    fit(&value, 14),
                    s.rows,
                    opt(s.roc_auc),
                    s.calibration_error,
                    opt(s.tpr),
                    opt(s.fpr),
                ),
                width,
            )));
        }
        lines.push(Line::from(fit(
            &format!(
                "  gaps: demographic parity {}, equalized odds {}",
                opt(c.demographic_parity_difference),
                opt(c.equalized_odds_difference)
            ),
            width,
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(boxed_in(
            &format!("Slices of window {label} († under min_rows: not in the gaps)"),
            area,
        )),
        area,
    );
}
