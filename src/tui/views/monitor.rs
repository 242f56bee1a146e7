//! Screen 6: the prediction log in windows: estimated (CBPE) and realized ROC AUC as lines
//! against each version's validation AUC, drift share and data quality as sparklines, and the
//! alerts `[monitor]` raised.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Chart, Dataset, GraphType, Paragraph, Row, Sparkline, Table, TableState,
};
use ratatui::Frame;

use super::{boxed, boxed_in, fit, palette};
use crate::monitor::MonitorReport;
use crate::tui::app::{App, MONITOR_WINDOWS};
use crate::util::thousands;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let window = MONITOR_WINDOWS[app.monitor.window];
    let Some(m) = &app.monitor.report else {
        let text = if app.monitor.importing {
            "importing outcomes…".to_string()
        } else if app.monitor.running {
            format!("reading the prediction log in windows of {window}…")
        } else if let Some(e) = &app.monitor.error {
            format!(
                "{e}\n\nEnter reads the log again; w changes the window size; o imports \
                 outcomes."
            )
        } else {
            "Enter reads the prediction log: per window, estimated and realized ROC AUC, drift \
             and data quality, and alerts. Outcomes come in with o (a CSV of ids and labels) or \
             `staytrack feedback`."
                .into()
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(boxed(" Monitor ")),
            area,
        );
        return;
    };
    let [head, chart, sparks, alerts] = Layout::vertical([
        Constraint::Length(2 + 1 + m.versions.len().min(3) as u16),
        Constraint::Min(8),
        Constraint::Length(6),
        Constraint::Length((m.alerts.len() as u16 + 3).clamp(4, 10)),
    ])
    .areas(area);
    let busy = if app.monitor.importing {
        " · importing outcomes…"
    } else if app.monitor.running {
        " · reading again…"
    } else {
        ""
    };
    head_lines(f, head, m, busy);
    // The newest window with outcomes per slice, beside the chart, when `[slices]` names columns.
    let newest = m
        .windows
        .iter()
        .rev()
        .find_map(|w| Some((w.label.as_str(), w.slices.as_ref()?)));
    let chart = match newest {
        Some((label, s)) => {
            let [chart, side] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(chart);
            super::slices::window_box(f, side, label, s);
            chart
        }
        None => chart,
    };
    auc_chart(f, chart, m);
    sparklines(f, sparks, m);
    alert_table(f, alerts, m, app.monitor.cursor);
}

fn head_lines(f: &mut Frame, area: Rect, m: &MonitorReport, busy: &str) {
    let width = area.width.saturating_sub(2) as usize;
    let mut lines = vec![Line::from(fit(
        &format!(
            "{} predictions, {} labelled, {} window(s) of {}{busy}",
            thousands(m.predictions),
            thousands(m.labelled),
            m.windows.len(),
            m.window,
        ),
        width,
    ))];
    for v in m.versions.iter().take(3) {
        lines.push(Line::from(fit(
            &format!(
                "version {}: validation ROC AUC {}; CBPE {}",
                v.model_version,
                v.validation_roc_auc
                    .map_or("–".into(), |a| format!("{a:.4}")),
                if v.calibrated {
                    "calibrates its probabilities"
                } else {
                    "takes its probabilities as they are"
                }
            ),
            width,
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(boxed_in("Monitor (o imports outcomes)", area)),
        area,
    );
}

fn auc_chart(f: &mut Frame, area: Rect, m: &MonitorReport) {
    let n = m.windows.len();
    let series = |pick: &dyn Fn(&crate::monitor::WindowReport) -> Option<f64>| -> Vec<(f64, f64)> {
        m.windows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((i as f64, pick(w)?)))
            .collect()
    };
    let est = series(&|w| w.estimated.and_then(|e| e.roc_auc));
    let real = series(&|w| w.realized.and_then(|r| r.roc_auc));
    let x_max = (n as f64 - 1.0).max(1.0);
    let baselines: Vec<(i64, Vec<(f64, f64)>)> = m
        .versions
        .iter()
        .filter_map(|v| {
            Some((
                v.model_version,
                vec![(0.0, v.validation_roc_auc?), (x_max, v.validation_roc_auc?)],
            ))
        })
        .collect();
    let all: Vec<f64> = est
        .iter()
        .chain(&real)
        .map(|p| p.1)
        .chain(baselines.iter().flat_map(|b| b.1.iter().map(|p| p.1)))
        .collect();
    let lo = (all.iter().copied().fold(1.0, f64::min) - 0.02).max(0.0);
    let hi = (all.iter().copied().fold(0.5, f64::max) + 0.02).min(1.0);
    // The validation lines go first, so the estimated and realized lines are drawn over them
    // where they meet, never hidden under the dots.
    let names: Vec<String> = baselines
        .iter()
        .map(|(v, _)| format!("v{v} validation"))
        .collect();
    let mut legend: Vec<(String, &str, Color)> = Vec::new();
    let mut datasets = Vec::new();
    for (k, (_, pts)) in baselines.iter().enumerate() {
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(palette(7 + k)))
                .data(pts),
        );
    }
    for (name, pts, colour) in [
        ("estimated", &est, palette(0)),
        ("realized", &real, palette(1)),
    ] {
        legend.push((
            if pts.is_empty() {
                format!("{name} (none)")
            } else {
                name.to_string()
            },
            "━",
            colour,
        ));
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(colour))
                .data(pts),
        );
    }
    for (k, name) in names.iter().enumerate() {
        legend.push((name.clone(), "•", palette(7 + k)));
    }
    // The legend sits above the plot, inside the box, at every size: one line, or more when
    // the names do not fit on one.
    let block = boxed(" ROC AUC per window ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let legend = legend_lines(&legend, inner.width as usize);
    let [legend_area, plot] =
        Layout::vertical([Constraint::Length(legend.len() as u16), Constraint::Min(0)])
            .areas(inner);
    f.render_widget(Paragraph::new(legend), legend_area);
    let first = m.windows.first().map_or(String::new(), |w| w.label.clone());
    let last = m.windows.last().map_or(String::new(), |w| w.label.clone());
    let chart = Chart::new(datasets)
        .legend_position(None)
        .x_axis(Axis::default().bounds([0.0, x_max]).labels([first, last]))
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels([format!("{lo:.2}"), format!("{hi:.2}")]),
        );
    f.render_widget(chart, plot);
}

/// The legend's entries (name, mark, colour) laid out in lines of at most `width` characters,
/// an entry never split over two lines.
fn legend_lines(entries: &[(String, &str, Color)], width: usize) -> Vec<Line<'static>> {
    let mut lines: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut used = 0;
    for (name, mark, colour) in entries {
        let text = format!("{mark} {name}");
        let len = text.chars().count();
        let gap = if used == 0 { 0 } else { 3 };
        if used > 0 && used + gap + len > width {
            lines.push(Vec::new());
            used = 0;
        }
        let line = lines.last_mut().expect("one line at least");
        if used > 0 {
            line.push(Span::raw("   "));
            used += 3;
        }
        line.push(Span::styled(fit(&text, width), Style::new().fg(*colour)));
        used += len;
    }
    lines.into_iter().map(Line::from).collect()
}

fn sparklines(f: &mut Frame, area: Rect, m: &MonitorReport) {
    let [drift, quality] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let pct = |v: f64| (v * 100.0).round().clamp(0.0, 100.0) as u64;
    let shares: Vec<u64> = m
        .windows
        .iter()
        .map(|w| w.drift.as_ref().map_or(0, |d| pct(d.share)))
        .collect();
    let last_drift = m
        .windows
        .iter()
        .rev()
        .find_map(|w| w.drift.as_ref())
        .map_or("–".into(), |d| format!("{}/{}", d.drifted, d.columns));
    f.render_widget(
        Sparkline::default()
            .block(boxed_in(
                &format!("drift share (latest {last_drift})"),
                drift,
            ))
            .data(&shares)
            .max(100)
            .style(Style::new().fg(palette(4))),
        drift,
    );
    let worst: Vec<u64> = m
        .windows
        .iter()
        .map(|w| {
            let q = &w.quality;
            pct(q
                .max_unseen_share
                .max(q.max_missing_share)
                .max(q.max_out_of_range_share))
        })
        .collect();
    let latest = m.windows.last().map_or("–".into(), |w| w.quality.line());
    f.render_widget(
        Sparkline::default()
            .block(boxed_in(
                &format!("data quality (latest: {latest})"),
                quality,
            ))
            .data(&worst)
            .max(100)
            .style(Style::new().fg(palette(2))),
        quality,
    );
}

fn alert_table(f: &mut Frame, area: Rect, m: &MonitorReport, cursor: usize) {
    if m.alerts.is_empty() {
        f.render_widget(Paragraph::new("no alerts").block(boxed(" Alerts ")), area);
        return;
    }
    let width = area.width.saturating_sub(2 + 21 + 5 + 24) as usize;
    let rows: Vec<Row> = m
        .alerts
        .iter()
        .map(|a| {
            Row::new(vec![
                a.window.clone(),
                a.model_version.map_or("–".into(), |v| format!("v{v}")),
                a.rule.clone(),
                fit(&a.message, width),
            ])
            .style(Style::new().fg(Color::Red))
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(21),
            Constraint::Length(4),
            Constraint::Length(22),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec!["window", "ver", "rule", "what"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(boxed(format!(" Alerts ({}) ", m.alerts.len())));
    let mut state = TableState::default().with_selected(Some(cursor.min(m.alerts.len() - 1)));
    f.render_stateful_widget(table, area, &mut state);
}
