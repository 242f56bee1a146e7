//! Screen 5: drift of current data against the reference: the per-column table, the dataset
//! verdict, the selected column's distributions side by side, and drift across windows.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{boxed, fit, wrap};
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
        f.render_widget(
            Paragraph::new(text)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(boxed(" Drift ")),
            area,
        );
        return;
    };
    let r = &d.report;
    let has_windows = !d.windows.is_empty();
    let head_text = head_text(app, *id, d);
    let inner = area.width.saturating_sub(2) as usize;
    let head_height = head_text
        .iter()
        .map(|(t, _)| wrap(t, inner).len())
        .sum::<usize>() as u16
        + 2;
    let [head, body, windows_area] = Layout::vertical([
        Constraint::Length(head_height),
        Constraint::Min(8),
        Constraint::Length(if has_windows { 9 } else { 0 }),
    ])
    .areas(area);
    head_lines(f, head, app, *id, d);
    // Side by side when there is room for both; else the chart under the table.
    let [table_area, chart_area] = if body.width >= 130 {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body)
    } else {
        Layout::vertical([Constraint::Min(5), Constraint::Length(10)]).areas(body)
    };
    columns_table(f, table_area, app, r);
    if let Some(c) = r.columns.get(app.drift.cursor) {
        distributions(f, chart_area, c);
    }
    if has_windows {
        windows(f, windows_area, d);
    }
}

/// The report's title, verdict and the prediction's drift, each with its style.
fn head_text(app: &App, id: i64, d: &StoredDrift) -> Vec<(String, Style)> {
    let r = &d.report;
    let verdict = if r.dataset_drift {
        (
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
        (
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
    vec![
        (
            format!("Report {id}: {} against {}", d.current, d.reference),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        verdict,
        (format!("{prediction}{running}"), Style::new()),
    ]
}

/// The report's title, the verdict and the prediction's drift, wrapped to the pane.
fn head_lines(f: &mut Frame, head: Rect, app: &App, id: i64, d: &StoredDrift) {
    let inner = head.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = head_text(app, id, d)
        .into_iter()
        .flat_map(|(t, style)| {
            wrap(&t, inner)
                .into_iter()
                .map(move |w| Line::styled(w, style))
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(boxed(" Drift ")), head);
}

/// One row per column: its test, statistic, threshold and verdict; j/k selects. Names are
/// whole where the pane allows, else end in `…`; the threshold goes first on a narrow pane.
fn columns_table(f: &mut Frame, table_area: Rect, app: &App, r: &DriftReport) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let wide = table_area.width >= 70;
    let fixed: u16 = 12 + 7 + 5 + if wide { 9 + 11 + 2 } else { 0 } + 3 + 2 + 2;
    let longest = r
        .columns
        .iter()
        .map(|c| c.column.chars().count())
        .max()
        .unwrap_or(6) as u16;
    let name_width = table_area
        .width
        .saturating_sub(fixed)
        .clamp(6, longest.max(6));
    let rows = r.columns.iter().map(|c| {
        let mut cells = vec![fit(&c.column, name_width as usize)];
        if wide {
            cells.push(c.kind.clone());
        }
        cells.push(c.test.short_name().to_string());
        cells.push(format!("{:.4}", c.statistic));
        if wide {
            cells.push(format!("{}", c.threshold));
        }
        cells.push(if c.drifted { "DRIFT" } else { "ok" }.to_string());
        Row::new(cells).style(if c.drifted {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        })
    });
    let mut widths = vec![Constraint::Length(name_width)];
    let mut header = vec!["COLUMN"];
    if wide {
        widths.push(Constraint::Length(11));
        header.push("KIND");
    }
    widths.extend([Constraint::Length(12), Constraint::Length(7)]);
    header.extend(["TEST", "STAT"]);
    if wide {
        widths.push(Constraint::Length(9));
        header.push("THRESHOLD");
    }
    widths.push(Constraint::Length(5));
    header.push("DRIFT");
    app.rows_at.set((table_area.y + 2, 0));
    let mut state = TableState::default().with_selected(Some(app.drift.cursor));
    f.render_stateful_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(bold))
            .block(boxed(" Columns (j/k selects) "))
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        table_area,
        &mut state,
    );
}

/// The selected column's reference and current share of each bin, side by side, in per-mille.
/// As many bins as the pane holds (each needs three cells); the title says when some are left
/// out and gives the range, and bins are labelled only when every label fits under its bars.
fn distributions(f: &mut Frame, chart_area: Rect, c: &ColumnDrift) {
    let inner = chart_area.width.saturating_sub(2);
    let room = (inner / 3).max(1) as usize;
    let shown = c.bins.len().min(room);
    let width = ((inner / shown.max(1) as u16).saturating_sub(1) / 2).max(1);
    let group = (2 * width) as usize;
    let labelled = c.bins[..shown].iter().all(|l| l.chars().count() <= group);
    let groups: Vec<BarGroup> = c
        .bins
        .iter()
        .zip(c.reference_shares.iter().zip(&c.current_shares))
        .take(shown)
        .map(|(label, (rs, cs))| {
            let g = BarGroup::default().bars(&[
                Bar::default()
                    .value((rs * 1000.0).round() as u64)
                    .text_value(String::new())
                    .style(Style::new().fg(Color::Cyan)),
                Bar::default()
                    .value((cs * 1000.0).round() as u64)
                    .text_value(String::new())
                    .style(Style::new().fg(if c.drifted { Color::Red } else { Color::Yellow })),
            ]);
            if labelled {
                g.label(Line::from(label.clone()))
            } else if group >= 4 {
                // Wide enough for a readable start: cut with an ellipsis, the title gives the
                // range.
                g.label(Line::from(fit(label, group)))
            } else {
                g
            }
        })
        .collect();
    // What is shown goes on top; the test and the colours below.
    let mut title = c.column.clone();
    if !labelled || shown < c.bins.len() {
        title.push_str(&format!(
            ": {} of {} bins, {} … {}",
            shown,
            c.bins.len(),
            c.bins.first().map_or("", String::as_str),
            c.bins[..shown].last().map_or("", String::as_str)
        ));
    }
    let legend = format!(
        "{}: reference cyan, current {}",
        c.test.name(),
        if c.drifted { "red" } else { "yellow" }
    );
    let room = inner.saturating_sub(2) as usize;
    let mut chart = BarChart::default()
        .block(
            boxed(format!(" {} ", fit(&title, room)))
                .title_bottom(format!(" {} ", fit(&legend, room))),
        )
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
