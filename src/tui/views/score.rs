//! Screen 4: score a CSV with the production model: the file, a progress gauge (its title says
//! whether the rows go to the prediction log), then rows scored, the positive share, the rows
//! logged, the probability histogram and where the predictions went; then the scored rows and
//! the selected row's contributions (`why.rs`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Gauge, Paragraph};
use ratatui::Frame;

use super::{boxed, boxed_in};
use crate::score::ScoreSummary;
use crate::tracking::registry::PRODUCTION;
use crate::tui::app::App;
use crate::util::thousands;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    // Rows are clickable only once the list is drawn.
    app.rows_at.set((0, 0));
    // Wrapped to the pane, so no number at the end of a line is cut.
    let width = area.width.saturating_sub(2) as usize;
    let summary: Option<Vec<Line>> = app.score.last.as_ref().map(|s| {
        summary_lines(s)
            .into_iter()
            .flat_map(|l| super::wrap_line(l, width))
            .collect()
    });
    let [file_area, gauge_area, summary_area, chart_area] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Length(summary.as_ref().map_or(7, |l| l.len() as u16 + 2)),
        Constraint::Min(6),
    ])
    .areas(area);
    file_pane(f, file_area, app);
    let (ratio, label) = match (app.score.running, &app.score.last) {
        (Some(r), _) => (r, format!("scoring… {:.0} % (x stops)", 100.0 * r)),
        (None, Some(s)) => (1.0, format!("done in {:.2} s", s.seconds)),
        (None, None) => (0.0, "not scored yet".into()),
    };
    let logging = if app.score.log {
        " Progress · log for monitoring: on (l turns it off) "
    } else {
        " Progress · log for monitoring: off (l turns it on) "
    };
    f.render_widget(
        Gauge::default()
            .block(boxed_in(logging, gauge_area))
            .gauge_style(Style::new().fg(Color::Green))
            .ratio(ratio.clamp(0.0, 1.0))
            .label(label),
        gauge_area,
    );
    let Some(s) = &app.score.last else {
        let text = match &app.score.error {
            Some(e) => Line::styled(format!("not scored: {e}"), Style::new().fg(Color::Red)),
            None => Line::from(format!(
                "Press Enter to score the file with the production model{}.",
                if app.score.log {
                    "; its rows go to the prediction log for monitoring"
                } else {
                    "; l also adds its rows to the prediction log for monitoring"
                }
            )),
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(boxed(" Result ")),
            summary_area,
        );
        return;
    };
    f.render_widget(
        Paragraph::new(summary.unwrap_or_default()).block(boxed(" Result ")),
        summary_area,
    );
    let why = &app.score.why;
    if why.rows.is_none() && why.error.is_none() && !why.loading {
        histogram(f, chart_area, s);
        return;
    }
    // The rows and the selected row's contributions below the histogram, or alone when the
    // screen is short (`e` still exports the histogram).
    if chart_area.height >= 20 {
        let [hist_area, why_area] =
            Layout::vertical([Constraint::Length(8), Constraint::Min(12)]).areas(chart_area);
        histogram(f, hist_area, s);
        super::why::draw(f, why_area, app, &s.positive_class);
    } else {
        super::why::draw(f, chart_area, app, &s.positive_class);
    }
}

/// The file to score, editable in place, over the model that would score it.
fn file_pane(f: &mut Frame, file_area: Rect, app: &App) {
    let production = app
        .registry
        .versions
        .iter()
        .find(|v| v.aliases.iter().any(|a| a == PRODUCTION));
    let model = production.map_or(
        "nothing is promoted to production yet (p on Runs)".into(),
        |v| {
            format!(
                "production: version {} ({}, {})",
                v.version, v.run_name, v.family
            )
        },
    );
    let mut file = vec![Span::raw(app.score.path.clone())];
    if app.score.editing {
        file.push(Span::raw("▏"));
    }
    let title = if app.score.editing {
        " File to score (Enter keeps it, Esc stops editing) "
    } else {
        " File to score (f changes it, Enter scores it) "
    };
    f.render_widget(
        Paragraph::new(vec![Line::from(file)])
            .block(boxed_in(title, file_area).title_bottom(format!(" {model} "))),
        file_area,
    );
}

/// Rows, the positive class (in the model's words), the metrics when the file has the label
/// column, the data quality as `staytrack score` prints it, and where the output went.
fn summary_lines(s: &ScoreSummary) -> Vec<Line<'static>> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("rows scored   ", bold),
            Span::raw(format!(
                "{} of {} by '{}' (version {})",
                thousands(s.rows),
                s.input.display(),
                s.alias,
                s.model_version
            )),
        ]),
        Line::from(vec![
            Span::styled("positive      ", bold),
            Span::raw(format!(
                "{}: {} ({:.1} %) at p ≥ {}; mean probability {:.4}",
                s.positive_class,
                thousands(s.positives),
                100.0 * s.positive_share,
                s.threshold,
                s.mean_probability
            )),
        ]),
    ];
    if let (Some(auc), Some(acc)) = (s.roc_auc, s.accuracy) {
        lines.push(Line::from(vec![
            Span::styled("labelled      ", bold),
            Span::raw(format!(
                "the file has {}: ROC AUC {auc:.4}, accuracy {acc:.4}",
                s.target_column
            )),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled("data quality  ", bold),
        Span::raw(s.quality.line()),
    ]));
    if s.logged > 0 {
        lines.push(Line::from(vec![
            Span::styled("logged        ", bold),
            Span::raw(format!(
                "{} rows added to the prediction log (Monitor reads them)",
                thousands(s.logged)
            )),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled("written to    ", bold),
        Span::raw(s.output.display().to_string()),
    ]));
    lines
}

/// Rows per probability bin; bins at or above the threshold in red.
fn histogram(f: &mut Frame, chart_area: Rect, s: &ScoreSummary) {
    let bars: Vec<Bar> = s
        .histogram
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let lo = i as f64 / s.histogram.len() as f64;
            Bar::default()
                .value(c as u64)
                .label(Line::from(format!("{lo:.1}")))
                .text_value(thousands(c))
                .style(Style::new().fg(if lo + 0.05 >= s.threshold {
                    Color::Red
                } else {
                    Color::Cyan
                }))
        })
        .collect();
    let width = (chart_area.width.saturating_sub(2) / s.histogram.len().max(1) as u16)
        .saturating_sub(1)
        .max(1);
    f.render_widget(
        BarChart::default()
            .block(boxed_in(
                &format!(
                    "Predicted probability of {} (rows per bin; red: at or above {})",
                    s.positive_class, s.threshold
                ),
                chart_area,
            ))
            .data(BarGroup::default().bars(&bars))
            .bar_width(width)
            .bar_gap(1),
        chart_area,
    );
}
