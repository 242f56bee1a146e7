//! The help overlay, generated from the keymap: one section per scope.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Clear, Row, Table};
use ratatui::Frame;

use super::boxed;
use crate::tui::keymap::{Scope, KEYS};

pub fn draw(f: &mut Frame, area: Rect) {
    let mut rows = Vec::new();
    for scope in Scope::all() {
        let keys: Vec<_> = KEYS.iter().filter(|k| k.scope == scope).collect();
        if keys.is_empty() {
            continue;
        }
        rows.push(
            Row::new(vec![scope.label().to_string(), String::new()])
                .style(Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)),
        );
        for k in keys {
            rows.push(Row::new(vec![format!("  {}", k.shown), k.help.to_string()]));
        }
    }
    rows.push(Row::new(vec![
        "mouse".to_string(),
        "scroll moves the cursor; click a tab or a row".to_string(),
    ]));
    // Two columns when one would not fit the terminal's height.
    let cols = if rows.len() as u16 + 2 > area.height {
        2
    } else {
        1
    };
    let per = rows.len().div_ceil(cols);
    let rect = super::centered(area, 96 * cols as u16, per as u16 + 2);
    f.render_widget(Clear, rect);
    let parts = Layout::horizontal(vec![Constraint::Ratio(1, cols as u32); cols]).split(rect);
    let mut rows = rows.into_iter();
    for (i, part) in parts.iter().enumerate() {
        let chunk: Vec<Row> = rows.by_ref().take(per).collect();
        let title = if i == 0 { " Keys (? closes) " } else { "" };
        f.render_widget(
            Table::new(chunk, [Constraint::Length(16), Constraint::Min(10)]).block(boxed(title)),
            *part,
        );
    }
}
