//! Screen 5: drift of current data against the reference: the per-column table, the dataset
//! verdict, the selected column's distributions side by side, and drift across windows.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::boxed;
use crate::drift::monitor::StoredDrift;
use crate::drift::{ColumnDrift, DriftReport};
use crate::tui::app::App;
use crate::util::format_ms;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some((id, d)) = &app.drift.report else {
        let text = match &app.drift.running {
            Some(what) => format!("computing {what}…"),
            None => "No drift report yet. Enter compares the Score screen's file with the \
                     production model's training profile; w reads the server's predictions."
                .into(),
        };
        f.render_widget(Paragraph::new(text).block(boxed(" Drift ")), area);
        return;
    };
    let r = &d.report;
    let has_windows = !d.windows.is_empty();
    let [head, body, windows_area] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(8),
        Constraint::Length(if has_windows { 9 } else { 0 }),
    ])
    .areas(area);
    head_lines(f, head, app, *id, d);
    let [table_area, chart_area] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body);
    columns_table(f, table_area, app, r);
    if let Some(c) = r.columns.get(app.drift.cursor) {
        distributions(f, chart_area, c);
    }
    if has_windows {
        windows(f, windows_area, d);
    }
}

/// The verdict and the prediction's drift, under the report's title.
fn head_lines(f: &mut Frame, head: Rect, app: &App, id: i64, d: &StoredDrift) {
    let r = &d.report;
    let verdict = if r.dataset_drift {
        Line::styled(
            format!(
                "DATASET DRIFT: {} of {} columns drifted ({:.0} % ≥ {:.0} %)",
                r.drifted,
                r.columns.len(),
                100.0 * r.share,
                100.0 * r.share_threshold
            ),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )
    } else {
        Line::styled(
            format!(
                "no dataset drift: {} of {} columns drifted ({:.0} % < {:.0} %)",
                r.drifted,
                r.columns.len(),
                100.0 * r.share,
                100.0 * r.share_threshold
            ),
            Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
        )
    };
    let prediction = r
        .prediction
        .as_ref()
        .map_or("prediction: no reference".into(), |p| {
            format!(
                "prediction: {} {:.4} (threshold {}) {}",
                p.test.name(),
                p.statistic,
                p.threshold,
                if p.drifted { "DRIFTED" } else { "ok" }
            )
        });
    let running = app
        .drift
        .running
        .as_ref()
        .map_or(String::new(), |w| format!(" · computing {w}…"));
    f.render_widget(
        Paragraph::new(vec![verdict, Line::from(format!("{prediction}{running}"))]).block(boxed(
            format!(" Report {id}: {} against {} ", d.current, d.reference),
        )),
        head,
    );
}

/// One row per column: its test, statistic, threshold and verdict; j/k selects.
fn columns_table(f: &mut Frame, table_area: Rect, app: &App, r: &DriftReport) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let rows = r.columns.iter().map(|c| {
        Row::new(vec![
            c.column.clone(),
            c.kind.clone(),
            c.test.name().to_string(),
            format!("{:.4}", c.statistic),
            format!("{}", c.threshold),
            if c.drifted { "DRIFT" } else { "ok" }.to_string(),
        ])
        .style(if c.drifted {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        })
    });
    app.rows_at.set((table_area.y + 2, 0));
    let mut state = TableState::default().with_selected(Some(app.drift.cursor));
    f.render_stateful_widget(
        Table::new(
            rows,
            [
                Constraint::Min(14),
                Constraint::Length(11),
                Constraint::Length(22),
                Constraint::Length(7),
                Constraint::Length(9),
                Constraint::Length(5),
            ],
        )
        .header(Row::new(vec!["COLUMN", "KIND", "TEST", "STAT", "THRESHOLD", "DRIFT"]).style(bold))
        .block(boxed(" Columns (j/k selects) "))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        table_area,
        &mut state,
    );
}

/// The selected column's reference and current share of each bin, side by side, in per-mille.
fn distributions(f: &mut Frame, chart_area: Rect, c: &ColumnDrift) {
    let groups: Vec<BarGroup> = c
        .bins
        .iter()
        .zip(c.reference_shares.iter().zip(&c.current_shares))
        .take(24)
        .map(|(label, (rs, cs))| {
            let short: String = label.chars().take(8).collect();
            BarGroup::default().label(Line::from(short)).bars(&[
                Bar::default()
                    .value((rs * 1000.0).round() as u64)
                    .text_value(String::new())
                    .style(Style::new().fg(Color::Cyan)),
                Bar::default()
                    .value((cs * 1000.0).round() as u64)
                    .text_value(String::new())
                    .style(Style::new().fg(if c.drifted { Color::Red } else { Color::Yellow })),
            ])
        })
        .collect();
    let n = groups.len().max(1) as u16;
    let width = ((chart_area.width.saturating_sub(2) / n).saturating_sub(1) / 2).max(1);
    let mut chart = BarChart::default()
        .block(boxed(format!(
            " {}: reference (cyan) vs current ({}) ",
            c.column,
            if c.drifted { "red" } else { "yellow" }
        )))
        .bar_width(width)
        .bar_gap(0)
        .group_gap(1);
    for g in groups {
        chart = chart.data(g);
    }
    f.render_widget(chart, chart_area);
}

/// The last windows of the prediction log: rows, drifted columns and the verdict of each.
fn windows(f: &mut Frame, windows_area: Rect, d: &StoredDrift) {
    let r = &d.report;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let rows = d.windows.iter().rev().take(7).rev().map(|w| {
        if w.too_few {
            return Row::new(vec![
                format_ms(w.start_ms),
                w.rows.to_string(),
                "-".into(),
                "too few rows".into(),
                String::new(),
            ])
            .style(Style::new().fg(Color::DarkGray));
        }
        let bar = "█".repeat((w.share * 20.0).round() as usize);
        Row::new(vec![
            format_ms(w.start_ms),
            w.rows.to_string(),
            format!("{:>2}/{}", w.drifted, r.columns.len()),
            format!("{bar:<20}"),
            if w.dataset_drift { "DRIFT" } else { "ok" }.to_string(),
        ])
        .style(if w.dataset_drift {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        })
    });
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(19),
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(21),
                Constraint::Length(6),
            ],
        )
        .header(Row::new(vec!["WINDOW (UTC)", "ROWS", "COLS", "DRIFTED SHARE", ""]).style(bold))
        .block(boxed(" Drift across windows (latest last) ")),
        windows_area,
    );
}
