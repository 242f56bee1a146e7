//! The Score screen's "why" panes: the scored file's first rows (id, probability) and the
//! selected row's contributions as a diverging bar chart, each bar labelled with the column and
//! the row's value, from the expected value to the row's output.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{boxed_in, fit};
use crate::explain::Margin;
use crate::tui::app::App;
use crate::tui::why::{RowWhy, ScoredRows};
use crate::util::thousands;

/// Pushes towards the positive class.
const UP: Color = Color::Red;
/// Pushes away from it.
const DOWN: Color = Color::Blue;

/// The rows list on the left, the selected row's chart on the right. `positive` names the
/// positive class (the spec's words).
pub fn draw(f: &mut Frame, area: Rect, app: &App, positive: &str) {
    let why = &app.score.why;
    let Some(rows) = &why.rows else {
        let text = match (&why.error, why.loading) {
            (Some(e), _) => {
                Line::styled(format!("no explanations: {e}"), Style::new().fg(Color::Red))
            }
            (None, true) => Line::from("reading the scored rows to explain them…"),
            (None, false) => Line::from("score a file to see why each row got its probability"),
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(boxed_in("Why", area)),
            area,
        );
        return;
    };
    let list_w = (area.width / 3).clamp(20, 34);
    let [list_area, chart_area] =
        Layout::horizontal([Constraint::Length(list_w), Constraint::Min(10)]).areas(area);
    list(f, list_area, app, rows);
    let title = format!(
        "Why row {} ({} {}): contributions to {positive}",
        why.cursor + 1,
        rows.id_column,
        crate::util::shown(rows.ids.get(why.cursor).map_or("", String::as_str))
    );
    let block = boxed_in(&title, chart_area);
    let inner = block.inner(chart_area);
    f.render_widget(block, chart_area);
    let lines = match why.explained.get(&why.cursor) {
        Some(w) => chart_lines(w, inner.width as usize, inner.height as usize),
        None => vec![Line::from("explaining…")],
    };
    f.render_widget(Paragraph::new(lines), inner);
}

/// The rows around the cursor, the cursor's reversed.
fn list(f: &mut Frame, area: Rect, app: &App, rows: &ScoredRows) {
    let why = &app.score.why;
    let title = if why.total > rows.len() {
        format!(
            "first {} of {} rows (j/k)",
            thousands(rows.len()),
            thousands(why.total)
        )
    } else {
        format!("{} rows (j/k)", thousands(rows.len()))
    };
    let block = boxed_in(&title, area);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let height = inner.height.saturating_sub(1) as usize;
    if height == 0 {
        return;
    }
    // Keep the cursor in view, moving the window as little as possible.
    let mut offset = why.offset.get().min(why.cursor);
    if why.cursor >= offset + height {
        offset = why.cursor + 1 - height;
    }
    why.offset.set(offset);
    // A click on a row picks it.
    app.rows_at.set((inner.y + 1, offset));
    let width = inner.width as usize;
    let id_w = width.saturating_sub(12).max(1);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = vec![Line::styled(
        format!(
            "{:<id_w$} {:>11}",
            fit(&rows.id_column, id_w),
            "probability"
        ),
        bold,
    )];
    for i in offset..(offset + height).min(rows.len()) {
        let p = rows.probabilities.get(i).copied().unwrap_or(f64::NAN);
        // A file's id may hold control characters: shown escaped, never sent to the terminal.
        let id = crate::util::shown(&rows.ids[i]);
        let text = format!("{:<id_w$} {p:>11.4}", fit(&id, id_w));
        lines.push(if i == why.cursor {
            Line::styled(text, Style::new().add_modifier(Modifier::REVERSED))
        } else {
            Line::from(text)
        });
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The chart as lines `width` wide, at most `height` of them: the sum on top, then a bar per
/// column as long as fit, the rest summed on the last line.
pub fn chart_lines(w: &RowWhy, width: usize, height: usize) -> Vec<Line<'static>> {
    let scale = match w.margin {
        Margin::Probability => "probability",
        Margin::LogOdds => "log-odds",
    };
    // Wrapped, so the output at the end of the sum is never cut.
    let sum = Line::from(format!(
        "probability {:.4}: expected {:+.4} + contributions {:+.4} = {:+.4} ({scale})",
        w.probability,
        w.expected,
        w.output - w.expected,
        w.output
    ));
    let mut lines = super::wrap_line(sum, width.max(1));
    lines.push(Line::from(vec![
        Span::styled("■ raises", Style::new().fg(UP)),
        Span::raw("  "),
        Span::styled("■ lowers", Style::new().fg(DOWN)),
    ]));
    let room = height.saturating_sub(lines.len());
    let shown = if w.columns.len() > room {
        room.saturating_sub(1)
    } else {
        w.columns.len()
    };
    // Label, then a bar either side of the axis, then the signed number.
    let number_w = 10;
    let label_w = (width / 3).clamp(8, 36);
    let half = (width.saturating_sub(label_w + number_w + 3) / 2).min(30);
    let max = w.columns.iter().map(|c| c.2.abs()).fold(0.0_f64, f64::max);
    for (column, value, c) in w.columns.iter().take(shown) {
        let value = if value.is_empty() {
            "(missing)".into()
        } else {
            crate::util::shown(value)
        };
        // The value stays whole where it can: the column's name gives way first.
        let value_w = value.chars().count() + 3;
        let label = if value_w + 4 <= label_w {
            format!("{} = {value}", fit(column, label_w - value_w))
        } else {
            fit(&format!("{column} = {value}"), label_w)
        };
        let len = if max > 0.0 {
            ((half as f64 * c.abs() / max).round() as usize).clamp(1, half.max(1))
        } else {
            0
        };
        let (left, right) = if *c >= 0.0 {
            (" ".repeat(half), "█".repeat(len.min(half)))
        } else {
            (
                format!(
                    "{}{}",
                    " ".repeat(half - len.min(half)),
                    "█".repeat(len.min(half))
                ),
                String::new(),
            )
        };
        let pad = " ".repeat(half - right.chars().count());
        let colour = if *c >= 0.0 { UP } else { DOWN };
        lines.push(Line::from(vec![
            Span::raw(format!("{label:<label_w$} ")),
            Span::styled(left, Style::new().fg(colour)),
            Span::raw("│"),
            Span::styled(right, Style::new().fg(colour)),
            Span::raw(format!("{pad} {c:>+number_w$.4}")),
        ]));
    }
    if shown < w.columns.len() {
        let rest: f64 = w.columns[shown..].iter().map(|c| c.2).sum();
        lines.push(Line::from(format!(
            "… {} more columns together {rest:+.4}",
            w.columns.len() - shown
        )));
    }
    if w.columns.is_empty() {
        lines.push(Line::from(
            "no column moved this row from the expected value",
        ));
    }
    lines
}
