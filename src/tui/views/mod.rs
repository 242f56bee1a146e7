//! One draw function per screen; `draw` lays out the frame and dispatches.

pub mod compare;
pub mod help;
pub mod registry;
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
        Screen::Registry => registry::draw(f, body, app),
        Screen::Compare => compare::draw(f, body, app),
        other => placeholder(f, body, other),
    }
    status_line(f, bottom, app);
    if let Some(c) = &app.confirm {
        confirm(f, f.area(), c);
    }
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

fn confirm(f: &mut Frame, area: Rect, c: &crate::tui::app::Confirm) {
    use ratatui::widgets::{Block, Borders, Clear};
    let h = c.lines.len() as u16 + 2;
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(h),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, rect, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(70.min(area.width)),
        Constraint::Fill(1),
    ])
    .areas(mid);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(
            c.lines
                .iter()
                .map(|l| Line::from(l.clone()))
                .collect::<Vec<_>>(),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {} ", c.title)),
        ),
        rect,
    );
}

fn status_line(f: &mut Frame, area: Rect, app: &App) {
    let text = if app.filtering {
        Line::from(vec![
            Span::styled("filter: ", Style::new().fg(Color::Yellow)),
            Span::raw(app.filter.clone()),
            Span::raw("▏"),
        ])
    } else if let Some(m) = &app.message {
        Line::from(Span::styled(m.clone(), Style::new().fg(Color::Green)))
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
