//! Screen 3: model versions with their aliases, and the audit log of every alias move.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Row, Table, TableState};
use ratatui::Frame;

use super::{boxed, col, fit, fit_columns, flex, Col};
use crate::metrics::Metric;
use crate::tui::app::App;
use crate::util::format_ms;

const VERSION_COLS: [Col; 6] = [
    col("VERSION", 7, 0),
    col("ALIASES", 18, 0),
    flex("RUN", 40, 0),
    col("FAMILY", 12, 76),
    col("ROC AUC", 8, 0),
    col("REGISTERED (UTC)", 19, 100),
];

const EVENT_COLS: [Col; 6] = [
    col("WHEN (UTC)", 19, 0),
    col("ALIAS", 10, 0),
    col("MOVE", 12, 0),
    col("BY", 20, 96),
    flex("REASON", 60, 0),
    col("EVIDENCE", 40, 110),
];

/// A table of `cols` in `area`: the columns that fit, sized from their cells, every cell cut
/// to its column with `…`.
fn table<'a>(
    area: Rect,
    cols: &[Col],
    rows: impl Iterator<Item = Vec<String>>,
    title: &str,
) -> Table<'a> {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut content = vec![0; cols.len()];
    for cells in &rows {
        for (i, c) in cells.iter().enumerate().take(cols.len()) {
            content[i] = content[i].max(c.chars().count());
        }
    }
    let shown = fit_columns(cols, area.width, 10, &content);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let rows: Vec<Row> = rows
        .iter()
        .map(|cells| {
            Row::new(
                shown
                    .iter()
                    .map(|&(i, w)| fit(&cells[i], w as usize))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    Table::new(rows, shown.iter().map(|&(_, w)| Constraint::Length(w)))
        .header(Row::new(shown.iter().map(|&(i, _)| cols[i].name)).style(bold))
        .block(boxed(format!(
            " {} ",
            fit(title, area.width.saturating_sub(4) as usize)
        )))
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let auc = |id: &str| {
        app.runs
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| r.metrics.get(Metric::RocAuc.key()))
            .map_or("-".into(), |v| format!("{v:.4}"))
    };
    let versions = app.registry.versions.iter().map(|v| {
        vec![
            v.version.to_string(),
            v.aliases.join(", "),
            v.run_name.clone(),
            v.family.clone(),
            auc(&v.run_id),
            format_ms(v.created_at),
        ]
    });
    app.rows_at.set((top.y + 2, 0));
    let mut state = TableState::default()
        .with_selected((!app.registry.versions.is_empty()).then_some(app.registry.cursor));
    f.render_stateful_widget(
        table(
            top,
            &VERSION_COLS,
            versions,
            "Versions (p production · s staging · r / R roll production / staging back · Enter evidence)",
        )
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        top,
        &mut state,
    );
    let events = app.registry.events.iter().map(|e| {
        let mut row = e.audit_row().to_vec();
        row.push(crate::promote::Evidence::cell(e));
        row
    });
    f.render_widget(table(bottom, &EVENT_COLS, events, "Audit log"), bottom);
}
