//! A tune, sweep-file or outcomes dialog: one line per field, the focused one highlighted, its
//! help under the fields, then what went wrong or what the keys do.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{boxed, centered, fit, wrap};
use crate::tui::app::Prompt;

/// Width of the labels column.
const LABEL: usize = 10;

pub fn draw(f: &mut Frame, area: Rect, p: &Prompt) {
    let width = area.width.min(100);
    let inner = width.saturating_sub(2) as usize;
    let value_room = inner.saturating_sub(LABEL + 1).max(4);
    let label = Style::new().add_modifier(Modifier::BOLD);
    let focus = Style::new().add_modifier(Modifier::REVERSED);
    let grey = Style::new().fg(Color::DarkGray);
    let mut lines: Vec<Line> = p
        .fields
        .iter()
        .enumerate()
        .map(|(i, (name, value, _))| {
            // The end of a long path is the part being typed: keep it in view.
            let shown = if i == p.focus {
                let chars: Vec<char> = value.chars().collect();
                let keep = value_room.saturating_sub(1);
                let tail: String = chars[chars.len().saturating_sub(keep)..].iter().collect();
                let cut = if chars.len() > keep { "…" } else { "" };
                format!("{cut}{tail}▏")
            } else {
                fit(value, value_room)
            };
            Line::from(vec![
                Span::styled(format!("{:<LABEL$} ", fit(name, LABEL)), label),
                Span::styled(
                    format!("{shown:<value_room$}"),
                    if i == p.focus { focus } else { Style::new() },
                ),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    if let Some((name, _, help)) = p.fields.get(p.focus) {
        lines.extend(
            wrap(&format!("{name}: {help}"), inner)
                .into_iter()
                .map(|w| Line::styled(w, grey)),
        );
    }
    let (foot, style) = match &p.error {
        Some(e) => (e.clone(), Style::new().fg(Color::Red)),
        None => (
            format!(
                "{} · Tab/↓ next field · Esc closes · a relative path is the workspace's",
                p.submit_hint()
            ),
            grey,
        ),
    };
    lines.extend(
        wrap(&foot, inner)
            .into_iter()
            .map(|w| Line::styled(w, style)),
    );
    let rect = centered(area, width, lines.len() as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(boxed(format!(
            " {} ",
            fit(p.title(), inner.saturating_sub(2))
        ))),
        rect,
    );
}
