//! Screen 3: model versions with their aliases, and the audit log of every alias move.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Row, Table, TableState};
use ratatui::Frame;

use super::boxed;
use crate::metrics::Metric;
use crate::tui::app::App;
use crate::util::format_ms;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let auc = |id: &str| {
        app.runs
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| r.metrics.get(Metric::RocAuc.key()))
            .map_or("-".into(), |v| format!("{v:.4}"))
    };
    let versions = app.registry.versions.iter().map(|v| {
        Row::new(vec![
            v.version.to_string(),
            v.aliases.join(", "),
            v.run_name.clone(),
            v.family.clone(),
            auc(&v.run_id),
            format_ms(v.created_at),
        ])
    });
    app.rows_at.set((top.y + 2, 0));
    let mut state = TableState::default()
        .with_selected((!app.registry.versions.is_empty()).then_some(app.registry.cursor));
    f.render_stateful_widget(
        Table::new(
            versions,
            [
                Constraint::Length(8),
                Constraint::Length(22),
                Constraint::Min(12),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(19),
            ],
        )
        .header(
            Row::new(vec![
                "VERSION",
                "ALIASES",
                "RUN",
                "FAMILY",
                "ROC AUC",
                "REGISTERED (UTC)",
            ])
            .style(bold),
        )
        .block(boxed(
            " Versions (p production · s staging · r / R roll production / staging back) ",
        ))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        top,
        &mut state,
    );
    let v = |x: Option<i64>| x.map_or("none".to_string(), |v| v.to_string());
    let events = app.registry.events.iter().map(|e| {
        Row::new(vec![
            format_ms(e.at),
            e.alias.clone(),
            format!("{} → {}", v(e.from_version), v(e.to_version)),
            e.actor.clone(),
            e.reason.clone().unwrap_or_default(),
        ])
    });
    f.render_widget(
        Table::new(
            events,
            [
                Constraint::Length(19),
                Constraint::Length(12),
                Constraint::Length(14),
                Constraint::Length(22),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec!["WHEN (UTC)", "ALIAS", "MOVE", "BY", "REASON"]).style(bold))
        .block(boxed(" Audit log ")),
        bottom,
    );
}
