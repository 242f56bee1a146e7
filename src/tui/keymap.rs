//! The one keymap: key handling and the help screen are both generated from `KEYS`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, App, FormKey, Screen};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    On(Screen),
    /// Inside a dialog (filter, form, confirmation, path): listed in help, matched in `action`.
    Dialog,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Everywhere => "everywhere",
            Scope::On(s) => s.title(),
            Scope::Dialog => "dialogs",
        }
    }
}

pub struct Binding {
    pub keys: &'static [KeyCode],
    /// The keys as help shows them.
    pub shown: &'static str,
    pub scope: Scope,
    pub action: Action,
    pub help: &'static str,
}

const fn b(
    keys: &'static [KeyCode],
    shown: &'static str,
    scope: Scope,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        shown,
        scope,
        action,
        help,
    }
}

use KeyCode::{BackTab, Backspace, Char, Down, End, Enter, Esc, Home, Tab, Up};
use Scope::{Dialog, Everywhere, On};

/// Screen-specific bindings come before the ones that apply everywhere, so a screen can give a
/// key its own meaning.
#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    b(&[Enter], "Enter", On(Screen::Runs), Action::Open, "details of the run (Esc closes)"),
    b(&[Char('n')], "n", On(Screen::Runs), Action::NewRun, "new run: family, parameters, data file"),
    b(&[Char(' ')], "Space", On(Screen::Runs), Action::ToggleSelect, "select or unselect the run for Compare"),
    b(&[Char('p')], "p", On(Screen::Runs), Action::AskPromote("production"), "promote the run to production (asks first)"),
    b(&[Char('S')], "S", On(Screen::Runs), Action::AskPromote("staging"), "promote the run to staging (asks first)"),
    b(&[Char('x')], "x", On(Screen::Runs), Action::AskCancel, "cancel the running run (asks first)"),
    b(&[Char('d')], "d", On(Screen::Runs), Action::AskDelete, "delete the run (asks first)"),
    b(&[Char('s')], "s", On(Screen::Runs), Action::NextSort, "sort by the next column"),
    b(&[Char('r')], "r", On(Screen::Runs), Action::ReverseSort, "reverse the sort"),
    b(&[Char('/')], "/", On(Screen::Runs), Action::StartFilter, "filter by name, family, status or id"),
    b(&[Char('b')], "b", On(Screen::Compare), Action::PinBaseline, "pin the first run as the baseline (again unpins)"),
    b(&[Char('d')], "d", On(Screen::Compare), Action::ToggleDiffOnly, "params: only those that differ, or all"),
    b(&[Char('h'), KeyCode::Left], "h / ←", On(Screen::Compare), Action::ScrollLeft, "scroll the run columns left"),
    b(&[Char('l'), KeyCode::Right], "l / →", On(Screen::Compare), Action::ScrollRight, "scroll the run columns right"),
    b(&[Char('p')], "p", On(Screen::Registry), Action::AskPromote("production"), "point production at the version (asks first)"),
    b(&[Char('s')], "s", On(Screen::Registry), Action::AskPromote("staging"), "point staging at the version (asks first)"),
    b(&[Char('r')], "r", On(Screen::Registry), Action::AskRollback("production"), "roll production back to its previous version"),
    b(&[Char('R')], "R", On(Screen::Registry), Action::AskRollback("staging"), "roll staging back"),
    b(&[Enter], "Enter", On(Screen::Score), Action::Open, "score the file with the production model"),
    b(&[Char('f')], "f", On(Screen::Score), Action::EditPath, "change the file to score"),
    b(&[Char('x')], "x", On(Screen::Score), Action::AskCancel, "stop scoring"),
    b(&[Enter], "Enter", On(Screen::Drift), Action::Open, "drift of the Score screen's file against the training profile"),
    b(&[Char('w')], "w", On(Screen::Drift), Action::DriftWindows, "drift of the server's predictions, hour by hour (last day)"),
    b(&[Char('j'), Down], "j / ↓", Everywhere, Action::Down, "next row"),
    b(&[Char('k'), Up], "k / ↑", Everywhere, Action::Up, "previous row"),
    b(&[Char('g'), Home], "g / Home", Everywhere, Action::Top, "first row"),
    b(&[Char('G'), End], "G / End", Everywhere, Action::Bottom, "last row"),
    b(&[Tab], "Tab", Everywhere, Action::NextScreen, "next screen"),
    b(&[BackTab], "Shift-Tab", Everywhere, Action::PrevScreen, "previous screen"),
    b(&[Char('1')], "1", Everywhere, Action::Goto(0), "Runs"),
    b(&[Char('2')], "2", Everywhere, Action::Goto(1), "Compare"),
    b(&[Char('3')], "3", Everywhere, Action::Goto(2), "Registry"),
    b(&[Char('4')], "4", Everywhere, Action::Goto(3), "Score"),
    b(&[Char('5')], "5", Everywhere, Action::Goto(4), "Drift"),
    b(&[Char('e')], "e", Everywhere, Action::Export, "export the screen's charts as PNG files"),
    b(&[Char('?')], "?", Everywhere, Action::ToggleHelp, "show or hide this help"),
    b(&[Char('q')], "q / Ctrl-C", Everywhere, Action::Quit, "quit"),
    b(&[Enter], "y / Enter", Dialog, Action::Confirm, "confirm; in a form, start the run"),
    b(&[Esc], "n / Esc", Dialog, Action::Cancel, "cancel"),
    b(&[Tab, Down, Up, BackTab], "Tab / ↓ / ↑", Dialog, Action::Form(FormKey::Next), "form: next or previous field"),
    b(&[KeyCode::Left, KeyCode::Right], "← / →", Dialog, Action::Form(FormKey::Right), "form: change the model family"),
    b(&[Backspace], "Backspace", Dialog, Action::Form(FormKey::Backspace), "delete a character"),
];

/// The action for a key press, if any.
pub fn action(app: &App, key: KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == Char('c') {
        return Some(Action::Quit);
    }
    if app.filtering {
        return match key.code {
            Enter => Some(Action::FilterDone),
            Esc => Some(Action::FilterCancel),
            Backspace => Some(Action::FilterBackspace),
            Char(c) => Some(Action::FilterChar(c)),
            _ => None,
        };
    }
    if app.score.editing {
        return match key.code {
            Enter => Some(Action::PathDone),
            Esc => Some(Action::PathCancel),
            Backspace => Some(Action::PathBackspace),
            Char(c) => Some(Action::PathChar(c)),
            _ => None,
        };
    }
    if app.confirm.is_some() {
        return match key.code {
            Char('y') | Enter => Some(Action::Confirm),
            Char('n') | Esc | Char('q') => Some(Action::Cancel),
            _ => None,
        };
    }
    if app.form.is_some() {
        return Some(Action::Form(match key.code {
            Tab | Down => FormKey::Next,
            BackTab | Up => FormKey::Prev,
            KeyCode::Left => FormKey::Left,
            KeyCode::Right => FormKey::Right,
            Enter => FormKey::Submit,
            Esc => FormKey::Cancel,
            Backspace => FormKey::Backspace,
            Char(c) => FormKey::Char(c),
            _ => return None,
        }));
    }
    if app.help {
        return match key.code {
            Char('?') | Esc | Char('q') => Some(Action::ToggleHelp),
            _ => None,
        };
    }
    if app.details.is_some() {
        return match key.code {
            Esc | Char('q') | Enter => Some(Action::CloseDetails),
            Char('j') | Down => Some(Action::Down),
            Char('k') | Up => Some(Action::Up),
            Char('g') | Home => Some(Action::Top),
            Char('e') => Some(Action::Export),
            _ => None,
        };
    }
    KEYS.iter()
        .filter(|k| match k.scope {
            On(s) => s == app.screen,
            Everywhere => true,
            Dialog => false,
        })
        .find(|k| k.keys.contains(&key.code))
        .map(|k| k.action.clone())
}
