//! Screen 1: every run with status, family, key metrics, duration and start time.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Row, Table, TableState};
use ratatui::Frame;

use super::boxed;
use crate::metrics::Metric;
use crate::tracking::RunStatus;
use crate::tracking::RunSummary;
use crate::tui::app::{App, SortKey};
use crate::util::format_ms;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    // The sorted column carries an arrow.
    let arrow = if app.list.descending { "▼" } else { "▲" };
    let header = Row::new(
        [
            (" ", None),
            ("NAME", Some(SortKey::Name)),
            ("FAMILY", Some(SortKey::Family)),
            ("STATUS", Some(SortKey::Status)),
            ("ROC AUC", Some(SortKey::RocAuc)),
            ("PR AUC", Some(SortKey::PrAuc)),
            ("F1", Some(SortKey::F1)),
            ("TIME", Some(SortKey::Duration)),
            ("STARTED (UTC)", Some(SortKey::Created)),
            ("RUN", None),
        ]
        .map(|(name, key)| {
            if key == Some(app.list.sort) {
                format!("{name}{arrow}")
            } else {
                name.to_string()
            }
        }),
    )
    .style(Style::new().add_modifier(Modifier::BOLD));
    // Only the rows on screen are built, so a store of 10,000 runs draws as fast as ten.
    let height = area.height.saturating_sub(3) as usize;
    let mut offset = app.list.offset.get();
    if app.list.cursor < offset {
        offset = app.list.cursor;
    } else if height > 0 && app.list.cursor >= offset + height {
        offset = app.list.cursor + 1 - height;
    }
    offset = offset.min(app.list.view.len().saturating_sub(height.max(1)));
    app.list.offset.set(offset);
    app.rows_at.set((area.y + 2, offset));
    let end = (offset + height).min(app.list.view.len());
    let rows = app.list.view[offset..end]
        .iter()
        .map(|&i| row(app, &app.runs[i]));
    let widths = [
        Constraint::Length(1),
        Constraint::Min(12),
        Constraint::Length(7),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(19),
        Constraint::Length(6),
    ];
    let title = if app.list.filter.is_empty() {
        " Runs (n new · Enter details · Space select · p promote · ? keys) ".to_string()
    } else {
        format!(" Runs matching '{}' ", app.list.filter)
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(boxed(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default()
        .with_selected((!app.list.view.is_empty()).then(|| app.list.cursor - offset));
    f.render_stateful_widget(table, area, &mut state);
}

/// One run as a table row: selection mark, name, family, status (live progress while this
/// process trains it), the listed metrics, duration, start and the end of the id.
fn row<'a>(app: &App, r: &RunSummary) -> Row<'a> {
    let metric = |m: Metric| {
        r.metrics
            .get(m.key())
            .map(|v| m.format(*v))
            .unwrap_or_else(|| "-".into())
    };
    let status = match (r.status, app.live.get(&r.id)) {
        (RunStatus::Running, Some(p)) if p.total > 0 => {
            let pct = 100 * p.done / p.total;
            let bar = "█".repeat(pct / 20) + &"░".repeat(5 - pct / 20);
            format!("{bar} {pct:>3}%")
        }
        (s, _) => s.as_str().to_string(),
    };
    let colour = match r.status {
        RunStatus::Finished => Color::Reset,
        RunStatus::Running | RunStatus::Queued => Color::Yellow,
        RunStatus::Failed => Color::Red,
        RunStatus::Cancelled => Color::DarkGray,
    };
    Row::new(vec![
        if app.list.selected.contains(&r.id) {
            "●"
        } else {
            " "
        }
        .to_string(),
        r.name.clone(),
        r.family.to_string(),
        status,
        metric(Metric::RocAuc),
        metric(Metric::PrAuc),
        metric(Metric::F1),
        r.duration_ms(app.now)
            .map(|d| format!("{:.1}s", d as f64 / 1000.0))
            .unwrap_or_else(|| "-".into()),
        format_ms(r.created_at),
        crate::util::short_id(&r.id, 6).to_string(),
    ])
    .style(Style::new().fg(colour))
}
