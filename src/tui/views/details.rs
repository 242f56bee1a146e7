//! A run's details over the current screen: status, params, every metric, artifacts, the ROC
//! curve, both confusion matrices, the top features and the per-step metric history.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use super::{boxed, boxed_in};
use crate::metrics::Confusion;
use crate::metrics::Metric;
use crate::tracking::RunSummary;
use crate::tui::app::Details;
use crate::util::format_ms;

/// A confusion matrix in `width` characters: counts with their rate within the actual class
/// when they fit, else the counts alone, else each row cut at a space with `…`, so no cell ever
/// shows part of a number.
fn confusion_lines(title: &str, m: &Confusion, width: usize) -> Vec<Line<'static>> {
    let digits = [m.tn, m.fp, m.fn_, m.tp]
        .iter()
        .map(|c| c.to_string().len())
        .max()
        .unwrap_or(1);
    let rate = |a: u64, b: u64| 100.0 * a as f64 / (a + b).max(1) as f64;
    let layout = |rates: bool| -> Vec<String> {
        let cell = |a: u64, b: u64| {
            if rates {
                format!("{a:>digits$} ({:>5.1}%)", rate(a, b))
            } else {
                a.to_string()
            }
        };
        let cells = [
            cell(m.tn, m.fp),
            cell(m.fp, m.tn),
            cell(m.fn_, m.tp),
            cell(m.tp, m.fn_),
        ];
        let head = ["predicted 0", "predicted 1"];
        let w = cells
            .iter()
            .map(|c| c.chars().count())
            .chain(head.iter().map(|h| h.len()))
            .max()
            .unwrap_or(0);
        vec![
            format!("{:9}{:>w$}  {:>w$}", "", head[0], head[1]),
            format!("actual 0 {:>w$}  {:>w$}", cells[0], cells[1]),
            format!("actual 1 {:>w$}  {:>w$}", cells[2], cells[3]),
        ]
    };
    let fits = |rows: &[String]| rows.iter().all(|r| r.chars().count() <= width);
    let rows = [layout(true), layout(false)]
        .into_iter()
        .find(|r| fits(r))
        .unwrap_or_else(|| {
            layout(false)
                .iter()
                .map(|r| super::fit_words(r, width))
                .collect()
        });
    let mut out = vec![Line::styled(
        super::fit(title, width),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    out.extend(rows.into_iter().map(Line::from));
    out
}

pub fn draw(f: &mut Frame, area: Rect, d: &Details) {
    f.render_widget(Clear, area);
    let Some(run) = &d.run else {
        f.render_widget(Paragraph::new("loading…").block(boxed("")), area);
        return;
    };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    // Wrapped here rather than by the paragraph, so the line count (and with it how far the
    // text scrolls) is exact.
    let width = left.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = text(run, d)
        .into_iter()
        .flat_map(|l| super::wrap_line(l, width))
        .collect();
    let visible = left.height.saturating_sub(2) as usize;
    let max = lines.len().saturating_sub(visible).min(u16::MAX as usize) as u16;
    d.max_scroll.set(max);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((d.scroll.min(max), 0))
            .block(boxed_in(
                &format!(
                    "{} ({}) · j/k scroll · e exports charts · Esc closes",
                    run.name, run.family
                ),
                left,
            )),
        left,
    );
    let [roc_area, conf_area, imp_area] = Layout::vertical([
        Constraint::Min(8),
        Constraint::Length(11),
        Constraint::Length(12),
    ])
    .areas(right);
    roc_pane(f, roc_area, run, d);
    confusion_pane(f, conf_area, run, d);
    let [gain_area, shap_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .areas(imp_area);
    importance_pane(f, gain_area, d);
    shap_pane(f, shap_area, d);
}

/// Each column's mean |SHAP| on the sample, as bars against the first; the title says how
/// many rows it took.
fn shap_pane(f: &mut Frame, area: Rect, d: &Details) {
    let width = area.width.saturating_sub(2) as usize;
    let (title, lines): (String, Vec<Line>) = match &d.shap {
        None => ("Mean |SHAP|".into(), vec![Line::from("computing…")]),
        Some(Err(e)) => (
            "Mean |SHAP|".into(),
            super::wrap(&format!("not computed: {e}"), width)
                .into_iter()
                .map(Line::from)
                .collect(),
        ),
        Some(Ok(None)) => (
            "Mean |SHAP|".into(),
            vec![Line::from("no bundle: nothing to explain")],
        ),
        Some(Ok(Some(g))) => {
            let top = g
                .columns
                .first()
                .map_or(1.0, |c| c.mean_abs_shap)
                .max(f64::MIN_POSITIVE);
            let name_w = (width / 2).max(6);
            let bar_w = width.saturating_sub(name_w + 9);
            let lines = g
                .columns
                .iter()
                .take(10)
                .map(|c| {
                    let bar = "█".repeat((bar_w as f64 * c.mean_abs_shap / top).round() as usize);
                    Line::from(format!(
                        "{:<name_w$} {:>7.4} {bar}",
                        super::fit(&c.column, name_w),
                        c.mean_abs_shap
                    ))
                })
                .collect();
            (
                format!(
                    "Mean |SHAP|, {} rows{}",
                    g.rows,
                    if g.stopped_by_time {
                        " (time bound)"
                    } else {
                        ""
                    }
                ),
                lines,
            )
        }
    };
    f.render_widget(Paragraph::new(lines).block(boxed_in(&title, area)), area);
}

/// The left pane's text: status, data, params, metrics, history and artifacts.
fn text(run: &RunSummary, d: &Details) -> Vec<Line<'static>> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("run      ", bold),
            Span::raw(run.id.clone()),
        ]),
        Line::from(vec![
            Span::styled("status   ", bold),
            Span::raw(format!(
                "{}{}",
                run.status.as_str(),
                run.status_reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(": {r}"))
            )),
        ]),
        Line::from(vec![
            Span::styled("started  ", bold),
            Span::raw(run.started_at.map_or("-".into(), format_ms)),
            Span::raw(run_time(run)),
        ]),
        Line::from(vec![
            Span::styled("data     ", bold),
            Span::raw(format!(
                "{} rows, seed {}",
                run.data_rows.unwrap_or(0),
                run.seed.unwrap_or(0)
            )),
        ]),
        Line::from(""),
        Line::styled("params", bold),
    ];
    for (k, v) in &run.params {
        lines.push(Line::from(format!("  {k:<22} {v}")));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled("metrics (validation split)", bold));
    for (k, v) in &run.metrics {
        lines.push(Line::from(format!("  {k:<22} {v:.6}")));
    }
    if !d.history.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::styled("per step", bold));
        for (k, h) in &d.history {
            if let (Some(a), Some(b)) = (h.first(), h.last()) {
                lines.push(Line::from(format!(
                    "  {k:<22} {} steps: {:.5} → {:.5}",
                    h.len(),
                    a.1,
                    b.1
                )));
            }
        }
    }
    if let Some(sw) = &d.sweep {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!(
                "sweep {} (`staytrack report --sweep {}` charts it)",
                sw.sweep, sw.sweep
            ),
            bold,
        ));
        for (family, trials, importance) in &sw.families {
            if !importance.is_empty() {
                let imp: Vec<String> = importance
                    .iter()
                    .map(|(k, rho, _)| format!("{k} {rho:+.2}"))
                    .collect();
                lines.push(Line::from(format!(
                    "  {family} importance (Spearman's ρ with ROC AUC, {} fits): {}",
                    importance[0].2,
                    imp.join(", ")
                )));
            }
            for t in trials {
                let here = if t.run_id == run.id { "▶" } else { " " };
                let stop = if t.early_stopped {
                    "stopped early"
                } else if t.budget_stopped {
                    "stopped by the budget"
                } else {
                    ""
                };
                lines.push(Line::from(format!(
                    " {here}{:<32} {:.4}  {:>9} rows  {stop}",
                    crate::tui::views::fit(&t.name, 32),
                    t.roc_auc,
                    crate::util::thousands(t.train_rows),
                )));
            }
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::styled("artifacts", bold));
    for a in &d.artifacts {
        lines.push(Line::from(format!(
            "  {} {} ({} bytes, sha256 {}…)",
            a.name,
            a.path,
            a.bytes,
            a.sha256.get(..12).unwrap_or(&a.sha256)
        )));
    }
    lines
}

/// The run time beside the start: the wall time with loading and evaluation, or, for a run
/// recorded after its fit (a sweep's trial), the fit's time, said as such.
fn run_time(run: &RunSummary) -> String {
    let now = crate::util::now_ms();
    let (Some(wall), Some(shown)) = (run.duration_ms(now), crate::tui::app::run_time_ms(run, now))
    else {
        return String::new();
    };
    if shown > wall {
        format!(
            " (fit {:.1} s; recorded after its fit, as a sweep's trials are)",
            shown as f64 / 1000.0
        )
    } else {
        format!(
            " (run time {:.1} s, with loading and evaluation; the model's fit alone is the fit \
             seconds metric)",
            wall as f64 / 1000.0
        )
    }
}

fn roc_pane(f: &mut Frame, roc_area: Rect, run: &RunSummary, d: &Details) {
    let pts: Vec<(f64, f64)> = d
        .roc
        .x
        .iter()
        .copied()
        .zip(d.roc.y.iter().copied())
        .collect();
    f.render_widget(
        super::roc_chart(
            vec![Dataset::default()
                .name(format!(
                    "ROC AUC {:.4}",
                    run.metrics
                        .get(Metric::RocAuc.key())
                        .copied()
                        .unwrap_or(f64::NAN)
                ))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                // The first palette colour, as the run's exported charts draw it.
                .style(Style::new().fg(super::palette(0)))
                .data(&pts)],
            " ROC curve ",
        ),
        roc_area,
    );
}

fn confusion_pane(f: &mut Frame, conf_area: Rect, run: &RunSummary, d: &Details) {
    let width = conf_area.width.saturating_sub(2) as usize;
    let mut conf = confusion_lines(
        &format!("at {}", crate::score::THRESHOLD),
        &d.confusion,
        width,
    );
    let best = run
        .metrics
        .get(Metric::BestThreshold.key())
        .map_or(String::new(), |t| format!(" ({t:.3})"));
    conf.extend(confusion_lines(
        &format!("at the F1-best threshold{best}"),
        &d.confusion_best,
        width,
    ));
    f.render_widget(
        Paragraph::new(conf).block(boxed_in(
            "Confusion matrices (rate within the actual class)",
            conf_area,
        )),
        conf_area,
    );
}

/// The ten most important features as bars against the first.
fn importance_pane(f: &mut Frame, imp_area: Rect, d: &Details) {
    let top = d
        .importance
        .first()
        .map_or(1.0, |x| x.1)
        .max(f64::MIN_POSITIVE);
    let imp: Vec<Line> = d
        .importance
        .iter()
        .take(10)
        .map(|(k, v)| {
            let bar = "█".repeat((20.0 * v / top).round() as usize);
            Line::from(format!(
                "{:<28} {bar}",
                k.chars().take(28).collect::<String>()
            ))
        })
        .collect();
    f.render_widget(Paragraph::new(imp).block(boxed(" Top features ")), imp_area);
}
