//! Screen 2: the selected runs side by side: metrics with the best of each marked, deltas
//! against a pinned baseline (or their intervals, or each metric's paired test with its p-value),
//! params (all or only those that differ), confusion matrices and ROC curves overlaid.

use std::collections::BTreeSet;

use crate::metrics::Metric;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Dataset, GraphType, Paragraph, Row, Table};
use ratatui::Frame;

use super::boxed_in;
use crate::metrics::paired::format_p;
use crate::tui::app::{App, CompareCells, CompareRun};

/// What Compare shows: the scores, then the losses and the fit time.
const METRICS: [Metric; 9] = {
    let s = Metric::SCORES;
    [
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        Metric::LogLoss,
        Metric::Brier,
        Metric::FitSeconds,
    ]
};

/// A run column's width: wider when it holds intervals (`0.8405 * [+0.059,+0.082]●`), wider
/// still for tests (`bootstrap p = 9.995e-4 [+0.059,+0.082]●`).
fn run_width(app: &App) -> u16 {
    match app.compare.cells {
        CompareCells::Deltas => 20,
        CompareCells::Intervals => 28,
        CompareCells::Tests => 40,
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    if app.compare.runs.is_empty() {
        f.render_widget(
            Paragraph::new("Select runs on the Runs screen with Space, then come back here."),
            area,
        );
        return;
    }
    // Metrics across the whole width (they carry deltas), params and charts below side by side.
    let [metrics_area, rest] = Layout::vertical([
        Constraint::Length(METRICS.len() as u16 + 4),
        Constraint::Min(6),
    ])
    .areas(area);
    // Runs trained with `[slices]` get a box across the width under the params and charts.
    let [rest, slices_area] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(super::slices::compare_height(&app.compare.runs)),
    ])
    .areas(rest);
    let [params_area, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(rest);
    let [roc_area, confusion_area] = Layout::vertical([
        Constraint::Min(8),
        Constraint::Length(app.compare.runs.len() as u16 + 2),
    ])
    .areas(right);
    let left = metrics_area;
    // Runs beyond the width scroll sideways (h / l); a pinned baseline stays in the first run
    // column, so its values and every delta against it stay on screen. The best of each metric
    // is over all runs.
    let all = &app.compare.runs;
    let base = app
        .compare
        .baseline
        .as_ref()
        .and_then(|b| all.iter().find(|c| &c.run.id == b));
    let others: Vec<&CompareRun> = all
        .iter()
        .filter(|c| base.is_none_or(|b| b.run.id != c.run.id))
        .collect();
    let columns = ((left.width.saturating_sub(24)) / run_width(app)).max(1) as usize;
    let visible = columns.saturating_sub(usize::from(base.is_some())).max(1);
    let max_off = others.len().saturating_sub(visible);
    app.compare.max_offset.set(max_off);
    let off = app.compare.offset.min(max_off);
    let runs: Vec<&CompareRun> = base
        .into_iter()
        .chain(others.iter().skip(off).take(visible).copied())
        .collect();
    let mut header = vec!["metric".to_string()];
    header.extend(runs.iter().map(|c| {
        // The baseline and the aliases on the run, as every run table marks them.
        let mut marks: Vec<&str> = Vec::new();
        if base.is_some_and(|b| b.run.id == c.run.id) {
            marks.push("base");
        }
        marks.extend(
            app.registry
                .versions
                .iter()
                .filter(|v| v.run_id == c.run.id)
                .flat_map(|v| v.aliases.iter().map(String::as_str)),
        );
        let name = if marks.is_empty() {
            c.run.name.clone()
        } else {
            format!("{} ({})", c.run.name, marks.join(", "))
        };
        super::fit(&name, run_width(app) as usize - 1)
    }));
    let view = Visible {
        all,
        runs: &runs,
        off,
        others: others.len(),
        base,
        header,
        app,
    };
    metrics_table(f, metrics_area, &view);
    params_table(f, params_area, app, &view);
    super::slices::compare_box(f, slices_area, base, &runs, &app.compare.slice_tests);
    // Runs logged through the MLflow API have no ROC curve; the metric they logged over steps
    // is drawn instead, beside the ROC curves when both kinds are compared.
    let has_roc = runs.iter().any(|c| !c.roc.x.is_empty());
    match (has_roc, runs.iter().any(|c| c.history.is_some())) {
        (true, true) => {
            let [a, b] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(roc_area);
            roc_curves(f, a, all, &runs);
            history_curves(f, b, all, &runs);
        }
        (false, true) => history_curves(f, roc_area, all, &runs),
        _ => roc_curves(f, roc_area, all, &runs),
    }
    confusions(f, confusion_area, &runs);
}

/// The runs on screen, out of all selected ones, and the header naming them.
struct Visible<'a> {
    all: &'a [CompareRun],
    /// The baseline (if pinned) first, then the scrolled window of the others.
    runs: &'a [&'a CompareRun],
    off: usize,
    /// How many runs scroll (all but the baseline).
    others: usize,
    base: Option<&'a CompareRun>,
    header: Vec<String>,
    app: &'a App,
}

/// A run's paired test against the baseline on `metric`, if it is done and covers the metric:
/// the test's name, its p-value and the difference's 95 % interval. The tests are those `runs
/// compare` reports: DeLong's for ROC AUC, McNemar's for accuracy (with the bootstrap's
/// interval, McNemar's test having none), the paired bootstrap for the other scores.
fn test_of(app: &App, run_id: &str, metric: Metric) -> Option<(&'static str, f64, (f64, f64))> {
    let crate::compare::Outcome::Paired(p) = app.compare.tests.get(run_id)? else {
        return None;
    };
    if metric == Metric::RocAuc {
        return Some(("DeLong", p.roc_auc.p_value, p.roc_auc.ci));
    }
    let b = p
        .bootstrap
        .iter()
        .find(|(k, _)| k == metric.key())
        .map(|(_, b)| b)?;
    Some(if metric == Metric::Accuracy {
        ("McNemar", p.accuracy.p_value, b.ci)
    } else {
        ("bootstrap", b.p_value, b.ci)
    })
}

/// The cell against the baseline: `●` when the interval leaves out zero, `…` while the test
/// runs; the delta, its interval, or the test with its p-value and interval, as `c` chose.
/// `value` is the run's own value, left out of a test's cell for room.
fn delta_text(app: &App, run_id: &str, metric: Metric, value: String, delta: f64) -> String {
    let test = test_of(app, run_id, metric);
    let mark = match test {
        Some((_, _, (lo, hi))) if lo > 0.0 || hi < 0.0 => "●",
        Some(_) => "",
        None if app.compare.testing.contains(run_id) => "…",
        None => "",
    };
    match (test, app.compare.cells) {
        (Some((_, _, (lo, hi))), CompareCells::Intervals) => {
            format!("{value} [{lo:+.3},{hi:+.3}]{mark}")
        }
        (Some((name, p, (lo, hi))), CompareCells::Tests) => {
            format!("{name} {} [{lo:+.3},{hi:+.3}]{mark}", format_p(p))
        }
        _ => format!("{value} ({delta:+.4}){mark}"),
    }
}

/// Every metric across the width, the best of each marked, deltas against the baseline.
fn metrics_table(f: &mut Frame, area: Rect, v: &Visible) {
    let Visible {
        all,
        runs,
        off,
        others,
        base,
        ref header,
        app,
    } = *v;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let rows = METRICS.iter().map(|m| {
        let k = &m.key();
        let vals: Vec<Option<f64>> = runs
            .iter()
            .map(|c| c.run.metrics.get(*k).copied())
            .collect();
        let best = m.best(all.iter().filter_map(|c| c.run.metrics.get(*k).copied()));
        let mut cells = vec![Cell::from(k.to_string())];
        for (c, v) in runs.iter().zip(&vals) {
            let is_best = v.is_some() && *v == best && all.len() > 1;
            let text = match v {
                None => "-".into(),
                Some(v) => {
                    let star = if Some(*v) == best && all.len() > 1 {
                        " *"
                    } else {
                        ""
                    };
                    let value = format!("{}{star}", m.format(*v));
                    match base.and_then(|b| b.run.metrics.get(*k)) {
                        Some(b) if b.is_finite() && c.run.id != base.map_or("", |b| &b.run.id) => {
                            delta_text(app, &c.run.id, *m, value, v - b)
                        }
                        _ => value,
                    }
                }
            };
            cells.push(if is_best {
                Cell::from(text).style(Style::new().fg(Color::Green).add_modifier(Modifier::BOLD))
            } else {
                Cell::from(text)
            });
        }
        Row::new(cells)
    });
    f.render_widget(
        Table::new(
            rows,
            std::iter::once(Constraint::Length(22))
                .chain(runs.iter().map(|_| Constraint::Length(run_width(app)))),
        )
        .header(Row::new(header.clone()).style(bold))
        .block(boxed_in(
            &if all.len() > runs.len() {
                let shown = runs.len() - usize::from(base.is_some());
                format!(
                    " Metrics (* best of all {}) · {}runs {}-{} of {} · h/l scroll · b baseline ",
                    all.len(),
                    if base.is_some() { "baseline + " } else { "" },
                    off + 1,
                    off + shown,
                    others
                )
            } else if base.is_some() {
                match app.compare.cells {
                    CompareCells::Deltas => {
                        " Metrics (* best · ● differs from the baseline, 95 % · c intervals) "
                    }
                    CompareCells::Intervals => {
                        " Metrics (95 % intervals against the baseline · ● differs · c tests) "
                    }
                    CompareCells::Tests => {
                        " Paired tests against the baseline: test, p-value, 95 % interval · ● \
                         differs · ? explains · c deltas "
                    }
                }
                .to_string()
            } else {
                " Metrics (* best; b picks a baseline) ".to_string()
            },
            area,
        )),
        area,
    );
}

/// The params side by side; with `d`, only those that differ.
fn params_table(f: &mut Frame, area: Rect, app: &App, v: &Visible) {
    let runs = v.runs;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let keys: BTreeSet<&String> = runs.iter().flat_map(|c| c.run.params.keys()).collect();
    let params = keys.into_iter().filter_map(|k| {
        let vals: Vec<String> = runs
            .iter()
            .map(|c| c.run.params.get(k).cloned().unwrap_or_else(|| "-".into()))
            .collect();
        let differs = vals.iter().any(|v| v != &vals[0]);
        if app.compare.diff_only && !differs {
            return None;
        }
        let mut cells = vec![k.clone()];
        cells.extend(vals);
        Some(Row::new(cells).style(if differs { bold } else { Style::new() }))
    });
    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(22))
        .chain(runs.iter().map(|_| Constraint::Min(10)))
        .collect();
    let mut pheader = v.header.clone();
    pheader[0] = "param".into();
    f.render_widget(
        Table::new(params, widths)
            .header(Row::new(pheader).style(bold))
            .block(boxed_in(
                if app.compare.diff_only {
                    "Params that differ (d shows all)"
                } else {
                    "Params (d shows only those that differ)"
                },
                area,
            )),
        area,
    );
}

/// A run's colour: its place among all compared runs in the report palette, so a run has one
/// colour here, while scrolling, and in the exported PNG charts.
fn run_colour(all: &[CompareRun], c: &CompareRun) -> Color {
    super::palette(all.iter().position(|x| x.run.id == c.run.id).unwrap_or(0))
}

/// The ROC curves overlaid, one colour per run.
fn roc_curves(f: &mut Frame, area: Rect, all: &[CompareRun], runs: &[&CompareRun]) {
    let data: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|c| {
            c.roc
                .x
                .iter()
                .copied()
                .zip(c.roc.y.iter().copied())
                .collect()
        })
        .collect();
    let datasets: Vec<Dataset> = runs
        .iter()
        .zip(&data)
        .map(|(c, d)| {
            Dataset::default()
                .name(format!(
                    "{} {:.3}",
                    c.run.name,
                    c.run
                        .metrics
                        .get(Metric::RocAuc.key())
                        .copied()
                        .unwrap_or(f64::NAN)
                ))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(run_colour(all, c)))
                .data(d)
        })
        .collect();
    f.render_widget(super::roc_chart(datasets, " ROC curves "), area);
}

/// The metric each run logged over steps, one colour per run, on axes that fit them all.
fn history_curves(f: &mut Frame, area: Rect, all: &[CompareRun], runs: &[&CompareRun]) {
    use ratatui::widgets::{Axis, Chart, LegendPosition};
    let with: Vec<_> = runs
        .iter()
        .filter_map(|c| {
            let (key, h) = c.history.as_ref()?;
            Some((
                *c,
                key,
                h.iter().map(|(s, v)| (*s as f64, *v)).collect::<Vec<_>>(),
            ))
        })
        .collect();
    let points = || with.iter().flat_map(|(_, _, d)| d.iter());
    let x_max = points().map(|p| p.0).fold(1.0, f64::max);
    let (mut lo, mut hi) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if !(lo.is_finite() && hi.is_finite()) {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let same = with.windows(2).all(|w| w[0].1 == w[1].1);
    let title = match with.first() {
        Some((_, key, _)) if same => format!(" {key} by step "),
        _ => " metrics by step ".to_string(),
    };
    let datasets: Vec<Dataset> = with
        .iter()
        .map(|(c, key, d)| {
            let name = if same {
                c.run.name.clone()
            } else {
                format!("{} {key}", c.run.name)
            };
            Dataset::default()
                .name(name)
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(run_colour(all, c)))
                .data(d)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(super::boxed(title))
        .legend_position(Some(LegendPosition::BottomRight))
        .hidden_legend_constraints((Constraint::Percentage(60), Constraint::Percentage(60)))
        .x_axis(
            Axis::default()
                .title("step")
                .bounds([0.0, x_max])
                .labels(["0".to_string(), format!("{x_max}")]),
        )
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels([format!("{lo:.3}"), format!("{hi:.3}")]),
        );
    f.render_widget(chart, area);
}

/// Each run's confusion matrix at 0.5, with its rates when they fit: the counts alone on a
/// narrow pane, and a line cut at a space with `…` when even they do not, so no count is ever
/// shown in part.
fn confusions(f: &mut Frame, area: Rect, runs: &[&CompareRun]) {
    let width = area.width.saturating_sub(2) as usize;
    let name_width = runs
        .iter()
        .map(|c| c.run.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 16);
    let lines: Vec<Line> = runs
        .iter()
        .map(|c| {
            let m = c.confusion;
            let pos = (m.tp + m.fn_).max(1) as f64;
            let neg = (m.tn + m.fp).max(1) as f64;
            let name = super::fit(&c.run.name, name_width);
            if c.run.family == crate::models::Family::External && m.tn + m.fp + m.fn_ + m.tp == 0 {
                return Line::from(super::fit_words(
                    &format!("{name:<name_width$} none: logged through the MLflow API"),
                    width,
                ));
            }
            let counts = format!(
                "{name:<name_width$} TN {:>6} FP {:>6} FN {:>6} TP {:>6}",
                m.tn, m.fp, m.fn_, m.tp
            );
            let rates = format!(
                " · TPR {:.1}% FPR {:.1}%",
                100.0 * m.tp as f64 / pos,
                100.0 * m.fp as f64 / neg
            );
            let compact = format!(
                "{name:<name_width$} TN {} FP {} FN {} TP {}",
                m.tn, m.fp, m.fn_, m.tp
            );
            let text = [format!("{counts}{rates}"), counts, compact.clone()]
                .into_iter()
                .find(|t| t.chars().count() <= width)
                .unwrap_or_else(|| super::fit_words(&compact, width));
            Line::from(text)
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(boxed_in(
            &format!("Confusion matrices at {}", crate::score::THRESHOLD),
            area,
        )),
        area,
    );
}
