//! One draw function per screen; `draw` lays out the frame and dispatches.

pub mod compare;
pub mod details;
pub mod drift;
pub mod help;
pub mod monitor;
pub mod registry;
pub mod runs;
pub mod score;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};
use ratatui::Frame;

use super::app::{App, Screen};

/// A bordered block with a title: every pane's frame.
pub fn boxed<'a>(title: impl Into<ratatui::text::Line<'a>>) -> ratatui::widgets::Block<'a> {
    ratatui::widgets::Block::default()
        .borders(ratatui::widgets::Borders::ALL)
        .title(title)
}

/// The colour of the `i`-th run of a chart: the report palette's, so a run looks the same in
/// the TUI and in the PNG files.
pub fn palette(i: usize) -> Color {
    let rgb = crate::report::style::color(i);
    Color::Rgb(rgb.0, rgb.1, rgb.2)
}

/// `boxed` with the title fitted to `area`, ending in `…` when it is longer.
pub fn boxed_in<'a>(title: &str, area: Rect) -> ratatui::widgets::Block<'a> {
    let room = area.width.saturating_sub(4) as usize;
    boxed(format!(" {} ", fit(title.trim(), room)))
}

/// A `width`×`height` rectangle in the middle of `area` (clipped to it), for dialogs.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(height.min(area.height)),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, rect, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(width.min(area.width)),
        Constraint::Fill(1),
    ])
    .areas(mid);
    rect
}

/// A ROC chart: false against true positive rate on [0, 1], the legend bottom right.
pub fn roc_chart<'a>(
    datasets: Vec<ratatui::widgets::Dataset<'a>>,
    title: &'a str,
) -> ratatui::widgets::Chart<'a> {
    use ratatui::widgets::{Axis, Chart, LegendPosition};
    let axis = |name: &'a str| {
        Axis::default()
            .title(name)
            .bounds([0.0, 1.0])
            .labels(["0", "0.5", "1"])
    };
    Chart::new(datasets)
        .block(boxed(title))
        .legend_position(Some(LegendPosition::BottomRight))
        .hidden_legend_constraints((Constraint::Percentage(60), Constraint::Percentage(60)))
        .x_axis(axis("FPR"))
        .y_axis(axis("TPR"))
}

/// The smallest terminal the screens are laid out for.
pub const MIN_SIZE: (u16, u16) = (60, 16);

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let text = format!(
            "needs at least {}×{} (this is {}×{})",
            MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
        );
        f.render_widget(
            Paragraph::new(wrap(&text, area.width as usize).join("\n")),
            area,
        );
        return;
    }
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
        Screen::Score => score::draw(f, body, app),
        Screen::Drift => drift::draw(f, body, app),
        Screen::Monitor => monitor::draw(f, body, app),
    }
    if let Some(d) = &app.details {
        details::draw(f, body, d);
    }
    status_line(f, bottom, app);
    if let Some(form) = &app.form {
        run_form(f, body, form);
    }
    if let Some(c) = &app.confirm {
        confirm(f, f.area(), c);
    }
    if app.help {
        help::draw(f, f.area(), app.help_scroll);
    }
}

/// The new-run form: one line per field, the focused one highlighted. Each field's help sits
/// beside it when the terminal is wide enough, else the focused field's help is under the form.
fn run_form(f: &mut Frame, area: Rect, form: &crate::tui::app::RunForm) {
    use ratatui::widgets::Clear;
    let focus = Style::new().add_modifier(Modifier::REVERSED);
    let label = Style::new().add_modifier(Modifier::BOLD);
    let grey = Style::new().fg(Color::DarkGray);
    let families: Vec<&str> = crate::models::Family::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    let family_help = format!("← → choose: {}", families.join(", "));
    let mut fields: Vec<(String, String, &str)> = vec![
        (
            "family".into(),
            format!("◀ {} ▶", form.family.name()),
            family_help.as_str(),
        ),
        ("name".into(), form.name.clone(), "empty: the family"),
        ("data".into(), form.data.clone(), "training CSV"),
        (
            "seed".into(),
            form.seed.clone(),
            "for the split and the model",
        ),
        (
            "valid_fraction".into(),
            form.valid_fraction.clone(),
            "share of rows held out for validation (stratified)",
        ),
    ];
    fields.extend(
        form.params
            .iter()
            .map(|(k, v, h)| (k.clone(), v.clone(), *h)),
    );
    let rect_width = area.width.min(140);
    let inner = rect_width.saturating_sub(2) as usize;
    let value_room = inner.saturating_sub(23).max(8);
    let width = fields
        .iter()
        .map(|(_, v, _)| v.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(14, 48)
        .min(value_room)
        + 2;
    let longest_help = fields
        .iter()
        .map(|(_, _, h)| h.chars().count())
        .max()
        .unwrap_or(0);
    let helps_beside = 22 + width + 1 + longest_help <= inner;
    let mut lines: Vec<Line> = fields
        .iter()
        .enumerate()
        .map(|(i, (name, value, help))| {
            let mut spans = vec![
                Span::styled(format!("{:<22}", fit(name, 21)), label),
                Span::styled(
                    format!("{:<width$}", fit(value, width - 1)),
                    if form.focus == i { focus } else { Style::new() },
                ),
            ];
            if helps_beside && !help.is_empty() {
                spans.push(Span::styled(format!(" {help}"), grey));
            }
            Line::from(spans)
        })
        .collect();
    // The help and the footer always show; on a short terminal the fields scroll with the
    // focus.
    let mut tail: Vec<Line> = vec![Line::from("")];
    if !helps_beside {
        if let Some((name, _, help)) = fields.get(form.focus) {
            tail.extend(
                wrap(&format!("{name}: {help}"), inner)
                    .into_iter()
                    .map(|w| Line::styled(w, grey)),
            );
        }
    }
    let foot = match &form.error {
        Some(e) => (e.clone(), Style::new().fg(Color::Red)),
        None => (
            "Tab/↓ next field · Enter starts the run in the background · Esc cancels".into(),
            grey,
        ),
    };
    tail.extend(
        wrap(&foot.0, inner)
            .into_iter()
            .map(|w| Line::styled(w, foot.1)),
    );
    let room = (area.height.saturating_sub(2) as usize)
        .saturating_sub(tail.len())
        .max(1);
    if lines.len() > room {
        let first = (form.focus + 1)
            .saturating_sub(room)
            .min(lines.len() - room);
        lines = lines.drain(first..first + room).collect();
    }
    lines.extend(tail);
    let rect = centered(area, rect_width, lines.len() as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(Paragraph::new(lines).block(boxed(" New run ")), rect);
}

/// `text` broken into lines of at most `width` characters, at spaces where it can be (a word
/// longer than a line is split), so nothing is cut off.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let gap = usize::from(used > 0);
            if used + gap + word.len() <= width {
                if gap == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 {
                out.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than a whole line.
            let rest = word.split_off(width);
            out.push(word.iter().collect());
            word = rest;
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// A table column: its header, its width (0: the one that takes what the others leave), and
/// the narrowest pane it is shown in, so the least useful columns go first as a terminal
/// narrows and no value is cut in the middle.
pub struct Col {
    pub name: &'static str,
    pub width: u16,
    pub min_area: u16,
}

/// A column, as the tables list them.
pub const fn col(name: &'static str, width: u16, min_area: u16) -> Col {
    Col {
        name,
        width,
        min_area,
    }
}

/// The columns of `cols` a pane `width` wide shows (their indices), and the width each gets.
pub fn fit_columns(cols: &[Col], width: u16, flex_min: u16) -> Vec<(usize, u16)> {
    let shown: Vec<usize> = (0..cols.len())
        .filter(|&i| width >= cols[i].min_area)
        .collect();
    let fixed: u16 = shown.iter().map(|&i| cols[i].width).sum::<u16>()
        + shown.len().saturating_sub(1) as u16
        + 2;
    let flex = width.saturating_sub(fixed).max(flex_min);
    shown
        .into_iter()
        .map(|i| {
            (
                i,
                if cols[i].width == 0 {
                    flex
                } else {
                    cols[i].width
                },
            )
        })
        .collect()
}

/// `text` in at most `width` characters, ending in `…` when it had to be cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut s: String = text.chars().take(width - 1).collect();
    s.push('…');
    s
}

/// A dialog: its lines wrapped to the box, the warning in red, the reason being typed.
pub(crate) fn confirm(f: &mut Frame, area: Rect, c: &crate::tui::app::Confirm) {
    use ratatui::widgets::Clear;
    let width = area.width.min(80);
    let inner = width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    for l in &c.lines {
        let style = if c.warning && l.starts_with('⚠') {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        lines.extend(wrap(l, inner).into_iter().map(|w| Line::styled(w, style)));
    }
    if let Some(reason) = &c.reason {
        lines.extend(
            wrap(&format!("reason: {reason}▏"), inner)
                .into_iter()
                .map(|w| Line::styled(w, Style::new().fg(Color::Yellow))),
        );
    }
    let rect = centered(area, width, lines.len() as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(boxed(format!(
            " {} ",
            fit(&c.title, inner.saturating_sub(2))
        ))),
        rect,
    );
}

fn status_line(f: &mut Frame, area: Rect, app: &App) {
    let text = if app.list.filtering {
        Line::from(vec![
            Span::styled("filter: ", Style::new().fg(Color::Yellow)),
            Span::raw(app.list.filter.clone()),
            Span::raw("▏"),
        ])
    } else if let Some(m) = &app.message {
        Line::from(Span::styled(
            m.text.clone(),
            Style::new().fg(if m.error { Color::Red } else { Color::Green }),
        ))
    } else {
        Line::from(format!(
            "{} of {} runs{} · {} selected · sorted by {}{} · ? help · q quit",
            app.list.view.len(),
            app.runs.len(),
            if app.runs_total > app.runs.len() {
                format!(
                    " (the newest; reading {} more)",
                    crate::util::thousands(app.runs_total - app.runs.len())
                )
            } else {
                String::new()
            },
            app.list.selected.len(),
            app.list.sort.label(),
            if app.list.descending { " ↓" } else { " ↑" }
        ))
    };
    f.render_widget(Paragraph::new(text), area);
}
