//! The help overlay, generated from the keymap.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Clear, Row, Table};
use ratatui::Frame;

use crate::tui::keymap::HELP;

pub fn draw(f: &mut Frame, area: Rect) {
    let height = HELP.len() as u16 + 2;
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(height),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, rect, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(90.min(area.width)),
        Constraint::Fill(1),
    ])
    .areas(mid);
    let rows = HELP
        .iter()
        .map(|(k, what)| Row::new(vec![k.to_string(), what.to_string()]));
    f.render_widget(Clear, rect);
    f.render_widget(
        Table::new(rows, [Constraint::Length(18), Constraint::Min(10)])
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Keys (? closes) "),
            )
            .style(Style::new().add_modifier(Modifier::empty())),
        rect,
    );
}
