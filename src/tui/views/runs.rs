//! Screen 1: every run with status, family, key metrics, duration and start time, and the
//! progress of a tune or sweep file under it while one runs.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Gauge, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{boxed, col, fit, fit_columns, flex, Col};
use crate::metrics::Metric;
use crate::tracking::registry::PRODUCTION;
use crate::tracking::RunStatus;
use crate::tracking::RunSummary;
use crate::tui::app::{App, SortKey};
use crate::util::format_ms;

/// The runs table's columns, each sized from what it holds up to its cap; the least useful go
/// first as the terminal narrows.
const COLS: [Col; 11] = [
    col(" ", 1, 0),
    flex("NAME", 40, 0),
    col("ALIAS", 20, 0),
    col("FAMILY", 12, 70),
    col("STATUS", 10, 0),
    col("ROC AUC", 8, 0),
    col("PR AUC", 8, 95),
    col("F1", 8, 104),
    col("RUN TIME", 9, 80),
    col("STARTED (UTC)", 19, 124),
    col("RUN", 6, 132),
];

/// The sort key each column shows, in `COLS` order.
const SORTS: [Option<SortKey>; 11] = [
    None,
    Some(SortKey::Name),
    None,
    Some(SortKey::Family),
    Some(SortKey::Status),
    Some(SortKey::RocAuc),
    Some(SortKey::PrAuc),
    Some(SortKey::F1),
    Some(SortKey::Duration),
    Some(SortKey::Created),
    None,
];

/// The narrowest the name column gets.
const MIN_NAME: u16 = 12;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let area = match &app.sweep {
        Some(s) => {
            let [table, gauge] =
                Layout::vertical([Constraint::Min(0), Constraint::Length(3)]).areas(area);
            sweep_gauge(f, gauge, s, app.now);
            table
        }
        None => area,
    };
    // The sorted column carries an arrow.
    let arrow = if app.list.descending { "▼" } else { "▲" };
    let headers: Vec<String> = (0..COLS.len())
        .map(|i| {
            if SORTS[i].is_some() && SORTS[i] == Some(app.list.sort) {
                format!("{}{arrow}", COLS[i].name)
            } else {
                COLS[i].name.to_string()
            }
        })
        .collect();
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
    // Which aliases sit on each run's version, from the registry (a handful of rows).
    let aliases = |id: &str| -> String {
        app.registry
            .versions
            .iter()
            .filter(|v| v.run_id == id)
            .flat_map(|v| v.aliases.iter())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(",")
    };
    let visible: Vec<(&RunSummary, Vec<(String, Style)>)> = app.list.view[offset..end]
        .iter()
        .map(|&i| {
            let r = &app.runs[i];
            (r, row_cells(app, r, &aliases(&r.id)))
        })
        .collect();
    // Widths from the cells on screen and the headers; names and families from every listed
    // run, so those columns keep their width while the list scrolls.
    let mut content: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for (_, cells) in &visible {
        for (i, (text, _)) in cells.iter().enumerate() {
            content[i] = content[i].max(text.chars().count());
        }
    }
    content[1] = content[1].max(app.list.widest.0);
    content[3] = content[3].max(app.list.widest.1);
    let shown = fit_columns(&COLS, area.width, MIN_NAME, &content);
    let header = Row::new(shown.iter().map(|&(i, _)| headers[i].clone()))
        .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = visible.iter().map(|(r, cells)| {
        let cells: Vec<Cell> = shown
            .iter()
            .map(|&(i, w)| {
                let (text, style) = &cells[i];
                Cell::from(fit(text, w as usize)).style(*style)
            })
            .collect();
        Row::new(cells).style(Style::new().fg(status_colour(r.status)))
    });
    let widths: Vec<Constraint> = shown.iter().map(|&(_, w)| Constraint::Length(w)).collect();
    let title = if app.list.filter.is_empty() {
        " Runs (n new · Enter details · Space select · p promote · ? keys) ".to_string()
    } else {
        format!(" Runs matching '{}' (Esc clears) ", app.list.filter)
    };
    let inner = area.width.saturating_sub(2) as usize;
    let table = Table::new(rows, widths)
        .header(header)
        .block(boxed(fit(&title, inner)))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default()
        .with_selected((!app.list.view.is_empty()).then(|| app.list.cursor - offset));
    f.render_stateful_widget(table, area, &mut state);
    if app.runs.is_empty() {
        empty_state(f, area, app);
    } else if app.list.view.is_empty() && !app.list.filter.is_empty() {
        no_match(f, area, &app.list.filter);
    }
}

/// A tune's trials and time against its budget, or a sweep file's runs, with the best so far.
fn sweep_gauge(f: &mut Frame, area: Rect, s: &crate::tui::app::SweepProgress, now: i64) {
    let (ratio, progress) = match (s.budget_ms, s.total) {
        (Some(budget), _) => {
            let spent = (now - s.started).clamp(0, budget);
            (
                spent as f64 / budget.max(1) as f64,
                format!(
                    "tune {}: {} trial(s) · {} s of {} s",
                    s.name,
                    s.done,
                    spent / 1000,
                    budget / 1000
                ),
            )
        }
        (None, total) => {
            let total = total.unwrap_or(0);
            (
                s.done as f64 / total.max(1) as f64,
                format!("sweep {}: {} of {total} run(s)", s.name, s.done),
            )
        }
    };
    // The best run's name goes first, then the metric's name, as the pane narrows.
    let inner = area.width.saturating_sub(2) as usize;
    let label = [
        format!("{progress}{}", s.best_text()),
        s.best.as_ref().map_or(String::new(), |(_, auc)| {
            format!("{progress}; best ROC AUC {auc:.4}")
        }),
        s.best.as_ref().map_or(String::new(), |(_, auc)| {
            format!("{progress}; best {auc:.4}")
        }),
        progress.clone(),
    ]
    .into_iter()
    .find(|l| !l.is_empty() && l.chars().count() <= inner)
    .unwrap_or_else(|| fit(&progress, inner));
    let title = if s.stopping {
        " Sweep · stopping… "
    } else {
        " Sweep · x stops "
    };
    f.render_widget(
        Gauge::default()
            .block(boxed(title))
            .gauge_style(Style::new().fg(Color::Green))
            .ratio(ratio.clamp(0.0, 1.0))
            .label(label),
        area,
    );
}

/// What a filter that matches nothing shows instead of an empty table.
fn no_match(f: &mut Frame, area: Rect, filter: &str) {
    let rect = Rect {
        x: area.x + 2,
        y: area.y + 2,
        width: area.width.saturating_sub(4),
        height: area.height.saturating_sub(3).min(3),
    };
    let text = format!("no runs match '{filter}'; Esc clears it");
    f.render_widget(
        Paragraph::new(super::wrap(&text, rect.width as usize).join("\n"))
            .style(Style::new().fg(Color::Yellow)),
        rect,
    );
}

/// What a first start shows instead of an empty table: what to do next.
fn empty_state(f: &mut Frame, area: Rect, app: &App) {
    let inner = area.width.saturating_sub(6) as usize;
    let dataset = app
        .dataset
        .as_ref()
        .map_or(String::new(), |d| format!(" of dataset '{d}'"));
    let text = [
        "No runs yet.".to_string(),
        String::new(),
        "Press n to train your first run: the form starts with gbdt on the workspace's \
         training file, and the run trains in the background."
            .to_string(),
        if app.train_missing {
            format!(
                "Training file{dataset}: {} is missing; put the training CSV there, or type its \
                 path in the form's data field.",
                app.train_file
            )
        } else {
            format!("Training file{dataset}: {}", app.train_file)
        },
        "Or run `staytrack train` in a shell; its runs show up here. ? lists every key.".into(),
    ];
    let lines: Vec<Line> = text
        .iter()
        .flat_map(|t| super::wrap(t, inner))
        .map(Line::from)
        .collect();
    let h = (lines.len() as u16).min(area.height.saturating_sub(4));
    let rect = Rect {
        x: area.x + 3,
        y: area.y + 3,
        width: area.width.saturating_sub(6),
        height: h,
    };
    f.render_widget(
        Paragraph::new(lines).style(Style::new().fg(Color::Cyan)),
        rect,
    );
}

fn status_colour(s: RunStatus) -> Color {
    match s {
        RunStatus::Finished => Color::Reset,
        RunStatus::Running | RunStatus::Queued => Color::Yellow,
        RunStatus::Failed => Color::Red,
        RunStatus::Cancelled => Color::DarkGray,
    }
}

/// One run's cells, in `COLS` order: selection mark, name, the aliases on it, family, status
/// (live progress while this process trains it), the listed metrics, run time, start and the
/// end of the id.
fn row_cells(app: &App, r: &RunSummary, aliases: &str) -> Vec<(String, Style)> {
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
    let plain = Style::new();
    let alias_style = if aliases.is_empty() {
        plain
    } else if aliases.split(',').any(|a| a == PRODUCTION) {
        Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Cyan)
    };
    vec![
        (
            if app.list.selected.contains(&r.id) {
                "●"
            } else {
                " "
            }
            .to_string(),
            plain,
        ),
        (r.name.clone(), plain),
        (aliases.to_string(), alias_style),
        (r.family.to_string(), plain),
        (status, plain),
        (metric(Metric::RocAuc), plain),
        (metric(Metric::PrAuc), plain),
        (metric(Metric::F1), plain),
        (
            crate::tui::app::run_time_ms(r, app.now)
                .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                .unwrap_or_else(|| "-".into()),
            plain,
        ),
        (format_ms(r.created_at), plain),
        (crate::util::short_id(&r.id, 6).to_string(), plain),
    ]
}
