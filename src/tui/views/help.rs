//! The help overlay, generated from the keymap: one section per scope, every description
//! wrapped to the box, scrolled with the cursor keys when it is taller than the terminal.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{boxed, wrap};
use crate::tui::app::Screen;
use crate::tui::keymap::{Scope, KEYS, TERMS};

/// Width of the keys column.
const KEY_WIDTH: usize = 16;

/// The help's lines for a box `inner` characters wide.
pub fn lines(inner: usize) -> Vec<Line<'static>> {
    let text_width = inner.saturating_sub(KEY_WIDTH + 1).max(8);
    let mut out = Vec::new();
    let entry = |keys: String, help: &str, out: &mut Vec<Line<'static>>| {
        for (i, part) in wrap(help, text_width).into_iter().enumerate() {
            let left = if i == 0 { keys.as_str() } else { "" };
            out.push(Line::from(format!("{left:<KEY_WIDTH$} {part}")));
        }
    };
    for scope in Scope::all() {
        let keys: Vec<_> = KEYS.iter().filter(|k| k.scope == scope).collect();
        if keys.is_empty() {
            continue;
        }
        for part in wrap(scope.label(), inner) {
            out.push(Line::styled(
                part,
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ));
        }
        for k in keys {
            entry(format!("  {}", k.shown), k.help, &mut out);
        }
        // Compare's `c` shows paired tests by name: what each says, under its keys.
        if scope == Scope::On(Screen::Compare) {
            for (term, meaning) in TERMS {
                entry(format!("  {term}"), meaning, &mut out);
            }
        }
    }
    entry(
        "mouse".into(),
        "scroll moves the cursor; click a tab or a row",
        &mut out,
    );
    out
}

/// The help's box in `area`, and its lines there.
fn layout(area: Rect) -> (Rect, Vec<Line<'static>>) {
    let width = area.width.min(100);
    let rect = super::centered(area, width, area.height);
    (rect, lines(width.saturating_sub(2) as usize))
}

/// The furthest the help scrolls in `area`: its last line at the bottom of the box, so `k`
/// moves it back at once.
pub fn max_scroll(area: Rect) -> u16 {
    let (rect, lines) = layout(area);
    let visible = rect.height.saturating_sub(2) as usize;
    lines.len().saturating_sub(visible).min(u16::MAX as usize) as u16
}

pub fn draw(f: &mut Frame, area: Rect, scroll: u16) {
    let (rect, lines) = layout(area);
    let inner = rect.width.saturating_sub(2) as usize;
    let visible = rect.height.saturating_sub(2) as usize;
    let max = max_scroll(area) as usize;
    let scroll = (scroll as usize).min(max);
    let title = if max > 0 {
        format!(
            " Keys {}–{} of {} · j/k scroll · ? closes ",
            scroll + 1,
            (scroll + visible).min(lines.len()),
            lines.len()
        )
    } else {
        " Keys · ? closes ".to_string()
    };
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((scroll as u16, 0))
            .block(boxed(super::fit(&title, inner))),
        rect,
    );
}
