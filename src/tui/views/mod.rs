//! One draw function per screen; `draw` lays out the frame and dispatches.

pub mod compare;
pub mod details;
pub mod drift;
pub mod help;
pub mod monitor;
pub mod prompt;
pub mod registry;
pub mod runs;
pub mod score;
pub mod slices;
pub mod why;

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
    if let Some(p) = &app.prompt {
        prompt::draw(f, body, p);
    }
    if let Some(c) = &app.confirm {
        confirm(f, f.area(), c);
    }
    if app.help {
        app.help_max.set(help::max_scroll(f.area()));
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
            "Tab/↓ next field · Enter starts the run in the background · Ctrl-R resets to \
             the defaults · Esc cancels"
                .into(),
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

/// `line` in lines of at most `width` characters, broken at spaces. A line that starts with a
/// bold label keeps it on its first line and indents the rest under the value.
pub fn wrap_line(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    if line.width() <= width {
        return vec![line];
    }
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let (label, rest) = match line.spans.first() {
        Some(s) if s.style == bold && line.spans.len() > 1 => (s.content.to_string(), 1),
        _ => (String::new(), 0),
    };
    let text: String = line.spans[rest..]
        .iter()
        .map(|s| s.content.as_ref())
        .collect();
    let style = line.spans.get(rest).map_or(line.style, |s| s.style);
    let (indent, line_style) = (label.chars().count(), line.style);
    let parts = wrap(&text, width.saturating_sub(indent).max(1));
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let head = if i == 0 {
                Span::styled(label.clone(), bold)
            } else {
                Span::raw(" ".repeat(indent))
            };
            Line::from(vec![head, Span::styled(part, style)]).style(line_style)
        })
        .collect()
}

/// A table column: its header, the widest it gets while space is short (its cells are sized
/// from their content up to this), whether it is the one that gives way first, and the
/// narrowest pane it is shown in, so the least useful columns go first as a terminal narrows
/// and no value is cut in the middle.
pub struct Col {
    pub name: &'static str,
    pub cap: u16,
    pub flex: bool,
    pub min_area: u16,
}

/// A column, as the tables list them.
pub const fn col(name: &'static str, cap: u16, min_area: u16) -> Col {
    Col {
        name,
        cap,
        flex: false,
        min_area,
    }
}

/// The column that narrows first (down to the table's least) when the others need the room.
pub const fn flex(name: &'static str, cap: u16, min_area: u16) -> Col {
    Col {
        name,
        cap,
        flex: true,
        min_area,
    }
}

/// The columns of `cols` a pane `width` wide shows (their indices), and the width each gets.
///
/// `content` holds the widest cell of each column. A column is as wide as its widest cell or
/// header, up to its cap; the flexible one gives way down to `flex_min` when room is short,
/// and the columns shown in the widest panes only go when that is not enough. Room left over
/// goes to cells still cut, the short columns before the flexible one, so a short column is
/// never cut while the pane has room for it.
pub fn fit_columns(
    cols: &[Col],
    width: u16,
    flex_min: u16,
    content: &[usize],
) -> Vec<(usize, u16)> {
    let mut shown: Vec<usize> = (0..cols.len())
        .filter(|&i| width >= cols[i].min_area)
        .collect();
    let want = |i: usize| {
        let c = content.get(i).copied().unwrap_or(0);
        c.max(cols[i].name.chars().count()).min(u16::MAX as usize) as u16
    };
    loop {
        let room = width.saturating_sub(2 + shown.len().saturating_sub(1) as u16);
        let mut w: Vec<u16> = shown
            .iter()
            .map(|&i| {
                let least = if cols[i].flex { flex_min } else { 0 };
                want(i).min(cols[i].cap).max(least)
            })
            .collect();
        let total: u16 = w.iter().sum();
        if total > room {
            let mut over = total - room;
            for (k, &i) in shown.iter().enumerate() {
                if cols[i].flex {
                    let give = w[k].saturating_sub(flex_min).min(over);
                    w[k] -= give;
                    over -= give;
                }
            }
            if over > 0 {
                let droppable = shown
                    .iter()
                    .enumerate()
                    .filter(|(_, &i)| cols[i].min_area > 0)
                    .max_by_key(|(_, &i)| cols[i].min_area)
                    .map(|(k, _)| k);
                if let Some(k) = droppable {
                    shown.remove(k);
                    continue;
                }
            }
        } else {
            let mut spare = room - total;
            for flexible in [false, true] {
                for (k, &i) in shown.iter().enumerate() {
                    if cols[i].flex == flexible {
                        let more = want(i).saturating_sub(w[k]).min(spare);
                        w[k] += more;
                        spare -= more;
                    }
                }
            }
        }
        return shown.into_iter().zip(w).collect();
    }
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

/// `text` in at most `width` characters, cut at a space and ending in `…` when it had to be
/// cut, so a number is shown whole or not at all.
pub fn fit_words(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let room: String = text.chars().take(width.saturating_sub(1)).collect();
    // Cut where a word ends: at the last space that fits, or before a word that starts there.
    let next_is_space = text.chars().nth(room.chars().count()) == Some(' ');
    let kept = if next_is_space {
        room.trim_end()
    } else {
        room.rfind(' ').map_or("", |i| room[..i].trim_end())
    };
    format!("{kept}…")
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
