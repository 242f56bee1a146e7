//! One draw function per screen; `draw` lays out the frame and dispatches.

pub mod help;
pub mod runs;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};
use ratatui::Frame;

use super::app::{App, Screen};

pub fn draw(f: &mut Frame, app: &App) {
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let titles: Vec<Line> = Screen::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| Line::from(format!("{} {}", i + 1, s.title())))
        .collect();
    let current = Screen::ALL
        .iter()
        .position(|s| *s == app.screen)
        .unwrap_or(0);
    f.render_widget(
        Tabs::new(titles)
            .select(current)
            .highlight_style(Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED))
            .divider("│"),
        top,
    );
    match app.screen {
        Screen::Runs => runs::draw(f, body, app),
        other => placeholder(f, body, other),
    }
    status_line(f, bottom, app);
    if app.help {
        help::draw(f, f.area());
    }
}

fn placeholder(f: &mut Frame, area: Rect, screen: Screen) {
    f.render_widget(
        Paragraph::new(format!(
            "{}: not in this version yet. 1 returns to Runs.",
            screen.title()
        )),
        area,
    );
}

fn status_line(f: &mut Frame, area: Rect, app: &App) {
    let text = if app.filtering {
        Line::from(vec![
            Span::styled("filter: ", Style::new().fg(Color::Yellow)),
            Span::raw(app.filter.clone()),
            Span::raw("▏"),
        ])
    } else {
        Line::from(format!(
            "{} of {} runs · {} selected · sorted by {}{} · ? help · q quit",
            app.view.len(),
            app.runs.len(),
            app.selected.len(),
            app.sort.label(),
            if app.descending { " ↓" } else { " ↑" }
        ))
    };
    f.render_widget(Paragraph::new(text), area);
}
