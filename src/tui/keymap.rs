//! The one keymap: key handling and the help screen are both generated from it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, App};

/// (keys as shown in help, what they do)
pub const HELP: &[(&str, &str)] = &[
    ("j / ↓", "next run"),
    ("k / ↑", "previous run"),
    ("g / Home", "first run"),
    ("G / End", "last run"),
    ("Space", "select or unselect the run (for Compare)"),
    ("1-5", "Runs, Compare, Registry, Score, Drift"),
    ("Tab / Shift-Tab", "next / previous screen"),
    ("s", "sort by the next column"),
    (
        "p",
        "promote the run under the cursor to production (asks first)",
    ),
    (
        "S",
        "promote the run under the cursor to staging (asks first)",
    ),
    ("r", "reverse the sort"),
    (
        "/",
        "filter runs by name, family, status or id (Enter keeps it, Esc clears it)",
    ),
    ("?", "show or hide this help"),
    ("q / Ctrl-C", "quit"),
];

/// The action for a key press, if any.
pub fn action(app: &App, key: KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if app.filtering {
        return match key.code {
            KeyCode::Enter => Some(Action::FilterDone),
            KeyCode::Esc => Some(Action::FilterCancel),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Char(c) => Some(Action::FilterChar(c)),
            _ => None,
        };
    }
    if app.confirm.is_some() {
        return match key.code {
            KeyCode::Char('y') | KeyCode::Enter => Some(Action::Confirm),
            KeyCode::Char('n') | KeyCode::Esc | KeyCode::Char('q') => Some(Action::Cancel),
            _ => None,
        };
    }
    if app.help {
        return match key.code {
            KeyCode::Char('?') | KeyCode::Esc | KeyCode::Char('q') => Some(Action::ToggleHelp),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::Char(' ') => Action::ToggleSelect,
        KeyCode::Tab => Action::NextScreen,
        KeyCode::BackTab => Action::PrevScreen,
        KeyCode::Char(c @ '1'..='5') => Action::Goto(c as usize - '1' as usize),
        KeyCode::Char('s') => Action::NextSort,
        KeyCode::Char('p') => Action::AskPromote("production"),
        KeyCode::Char('b') => Action::PinBaseline,
        KeyCode::Char('d') => Action::ToggleDiffOnly,
        KeyCode::Char('S') => Action::AskPromote("staging"),
        KeyCode::Char('r') => Action::ReverseSort,
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Char('?') => Action::ToggleHelp,
        _ => return None,
    })
}
