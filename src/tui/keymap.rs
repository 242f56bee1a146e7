//! The one keymap: key handling and the help screen are both generated from `KEYS`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, App, FormKey, Screen};

/// Where a binding applies: on a screen, or inside one of the modes that take every key
/// (a dialog, a text field, the details or the help).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    On(Screen),
    Confirm,
    /// A dialog with a reason to type (promotions and rollbacks).
    Reason,
    Form,
    /// A tune, sweep-file or outcomes dialog.
    Prompt,
    Filter,
    Path,
    Details,
    Help,
}

impl Scope {
    /// Every scope, in the order help lists them.
    pub fn all() -> Vec<Scope> {
        let mut v = vec![Scope::Everywhere];
        v.extend(Screen::ALL.iter().map(|s| Scope::On(*s)));
        v.extend([
            Scope::Details,
            Scope::Confirm,
            Scope::Reason,
            Scope::Form,
            Scope::Prompt,
            Scope::Filter,
            Scope::Path,
            Scope::Help,
        ]);
        v
    }

    pub fn label(self) -> &'static str {
        match self {
            Scope::Everywhere => "everywhere",
            Scope::On(s) => s.title(),
            Scope::Confirm => "a confirmation (a notice: any key closes it)",
            Scope::Reason => "a promotion or rollback (other keys type the reason)",
            Scope::Form => "the new-run form (other keys type)",
            Scope::Prompt => "a tune, sweep or outcomes dialog (other keys type)",
            Scope::Filter => "the filter (other keys type)",
            Scope::Path => "the file to score (other keys type)",
            Scope::Details => "a run's details",
            Scope::Help => "this help",
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

use crate::tracking::registry::PRODUCTION;
use KeyCode::{BackTab, Backspace, Char, Down, End, Enter, Esc, Home, Tab, Up};
use Scope::{Everywhere, On};

/// Screen-specific bindings come before the ones that apply everywhere, so a screen can give a
/// key its own meaning.
#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    b(&[Enter], "Enter", On(Screen::Runs), Action::Open, "details of the run (Esc closes)"),
    b(&[Char('n')], "n", On(Screen::Runs), Action::NewRun, "new run: family, parameters, data file"),
    b(&[Char(' ')], "Space", On(Screen::Runs), Action::ToggleSelect, "select or unselect the run for Compare"),
    b(&[Char('p')], "p", On(Screen::Runs), Action::AskPromote(PRODUCTION), "promote the run to production (asks first)"),
    b(&[Char('S')], "S", On(Screen::Runs), Action::AskPromote("staging"), "promote the run to staging (asks first)"),
    b(&[Char('t')], "t", On(Screen::Runs), Action::AskTune, "tune: sampled parameters within a time budget, each trial a run (asks families, budget, search space); runs in the background"),
    b(&[Char('w')], "w", On(Screen::Runs), Action::AskSweep, "sweep: train every run of a TOML sweep file (lists of values are crossed); runs in the background"),
    b(&[Char('x')], "x", On(Screen::Runs), Action::AskCancel, "cancel the running run under the cursor, else the tune or sweep in progress (asks first)"),
    b(&[Char('d')], "d", On(Screen::Runs), Action::AskDelete, "delete the run (asks first)"),
    b(&[Char('s')], "s", On(Screen::Runs), Action::NextSort, "sort by the next column"),
    b(&[Char('r')], "r", On(Screen::Runs), Action::ReverseSort, "reverse the sort"),
    b(&[Char('/')], "/", On(Screen::Runs), Action::StartFilter, "filter by name, family, status or id"),
    b(&[Esc], "Esc", On(Screen::Runs), Action::FilterCancel, "clear a kept filter"),
    b(&[Char('b')], "b", On(Screen::Compare), Action::PinBaseline, "baseline: the next compared run (after the last, none); it stays in view"),
    b(&[Char('c')], "c", On(Screen::Compare), Action::NextCells, "against the baseline: deltas, their 95 % intervals, or each metric's paired test with its p-value and interval (● marks a real difference; the tests are explained below)"),
    b(&[Char('d')], "d", On(Screen::Compare), Action::ToggleDiffOnly, "params: only those that differ, or all"),
    b(&[Char('h'), KeyCode::Left], "h / ←", On(Screen::Compare), Action::ScrollLeft, "scroll the run columns left"),
    b(&[Char('l'), KeyCode::Right], "l / →", On(Screen::Compare), Action::ScrollRight, "scroll the run columns right"),
    b(&[Char('p')], "p", On(Screen::Registry), Action::AskPromote(PRODUCTION), "point production at the version (asks first)"),
    b(&[Char('s')], "s", On(Screen::Registry), Action::AskPromote("staging"), "point staging at the version (asks first)"),
    b(&[Char('r')], "r", On(Screen::Registry), Action::AskRollback(PRODUCTION), "roll production back to its previous version"),
    b(&[Char('R')], "R", On(Screen::Registry), Action::AskRollback("staging"), "roll staging back"),
    b(&[Enter], "Enter", On(Screen::Registry), Action::Open, "the evidence [promote] weighed for the newest move to the version"),
    b(&[Enter], "Enter", On(Screen::Score), Action::Open, "score the file with the production model"),
    b(&[Char('f')], "f", On(Screen::Score), Action::EditPath, "change the file to score"),
    b(&[Char('x')], "x", On(Screen::Score), Action::AskCancel, "stop scoring"),
    b(&[Char('l')], "l", On(Screen::Score), Action::ToggleLog, "log for monitoring: also add the scored rows to the prediction log, or not"),
    b(&[Char('j'), Down], "j / ↓", On(Screen::Score), Action::Down, "next scored row (the file's first 1,000): why it got its probability, column by column (exact SHAP values)"),
    b(&[Char('k'), Up], "k / ↑", On(Screen::Score), Action::Up, "previous scored row"),
    b(&[Char('g'), Home], "g / Home", On(Screen::Score), Action::Top, "first scored row"),
    b(&[Char('G'), End], "G / End", On(Screen::Score), Action::Bottom, "last scored row listed"),
    b(&[Enter], "Enter", On(Screen::Drift), Action::Open, "drift of the Score screen's file against the training profile"),
    b(&[Char('w')], "w", On(Screen::Drift), Action::DriftWindows, "drift of the server's predictions, hour by hour (last day)"),
    b(&[Enter], "Enter", On(Screen::Monitor), Action::Open, "read the prediction log again"),
    b(&[Char('w')], "w", On(Screen::Monitor), Action::MonitorWindow, "the next window size (1h, 1d, 10000rows, 1000rows)"),
    b(&[Char('o')], "o", On(Screen::Monitor), Action::AskOutcomes, "import outcomes from a CSV with the id and label columns (asks for its path; a relative one is the workspace's)"),
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
    b(&[Char('6')], "6", Everywhere, Action::Goto(5), "Monitor"),
    b(&[Char('e')], "e", Everywhere, Action::Export, "export the screen's charts as PNG files"),
    b(&[Char('?')], "?", Everywhere, Action::ToggleHelp, "show or hide this help"),
    b(&[Char('q')], "q / Ctrl-C", Everywhere, Action::Quit, "quit"),
    b(&[Char('y'), Enter], "y / Enter", Scope::Confirm, Action::Confirm, "yes, do it"),
    b(&[Char('n'), Esc, Char('q')], "n / Esc / q", Scope::Confirm, Action::Cancel, "no, leave it"),
    b(&[Enter], "Enter", Scope::Reason, Action::Confirm, "do it, with the reason typed"),
    b(&[Esc], "Esc", Scope::Reason, Action::Cancel, "leave it"),
    b(&[Backspace], "Backspace", Scope::Reason, Action::ReasonBackspace, "delete a character"),
    b(&[], "Ctrl-U", Scope::Reason, Action::ClearText, "clear the reason"),
    b(&[Tab, Down], "Tab / ↓", Scope::Form, Action::Form(FormKey::Next), "next field"),
    b(&[BackTab, Up], "Shift-Tab / ↑", Scope::Form, Action::Form(FormKey::Prev), "previous field"),
    b(&[KeyCode::Left], "←", Scope::Form, Action::Form(FormKey::Left), "on family: the previous model family"),
    b(&[KeyCode::Right], "→", Scope::Form, Action::Form(FormKey::Right), "on family: the next model family"),
    b(&[Backspace], "Backspace", Scope::Form, Action::Form(FormKey::Backspace), "delete a character"),
    b(&[], "Ctrl-U", Scope::Form, Action::ClearText, "clear the field"),
    b(&[], "Ctrl-R", Scope::Form, Action::Form(FormKey::Reset), "reset every field to its default: gbdt, its parameters, the workspace's training file"),
    b(&[Enter], "Enter", Scope::Form, Action::Form(FormKey::Submit), "start the run in the background"),
    b(&[Esc], "Esc", Scope::Form, Action::Form(FormKey::Cancel), "close the form"),
    b(&[Tab, Down], "Tab / ↓", Scope::Prompt, Action::Prompt(FormKey::Next), "next field"),
    b(&[BackTab, Up], "Shift-Tab / ↑", Scope::Prompt, Action::Prompt(FormKey::Prev), "previous field"),
    b(&[Backspace], "Backspace", Scope::Prompt, Action::Prompt(FormKey::Backspace), "delete a character"),
    b(&[], "Ctrl-U", Scope::Prompt, Action::ClearText, "clear the field"),
    b(&[Enter], "Enter", Scope::Prompt, Action::Prompt(FormKey::Submit), "start it: a tune or sweep in the background, an import at once"),
    b(&[Esc], "Esc", Scope::Prompt, Action::Prompt(FormKey::Cancel), "close the dialog"),
    b(&[Enter], "Enter", Scope::Filter, Action::FilterDone, "keep the filter"),
    b(&[Esc], "Esc", Scope::Filter, Action::FilterCancel, "clear the filter"),
    b(&[Backspace], "Backspace", Scope::Filter, Action::FilterBackspace, "delete a character"),
    b(&[], "Ctrl-U", Scope::Filter, Action::ClearText, "clear the filter"),
    b(&[Enter, Esc], "Enter / Esc", Scope::Path, Action::PathDone, "stop editing"),
    b(&[Backspace], "Backspace", Scope::Path, Action::PathBackspace, "delete a character"),
    b(&[], "Ctrl-U", Scope::Path, Action::ClearText, "clear the path"),
    b(&[Esc, Char('q'), Enter], "Esc / q / Enter", Scope::Details, Action::CloseDetails, "close the details"),
    b(&[Char('j'), Down], "j / ↓", Scope::Details, Action::Down, "scroll down"),
    b(&[Char('k'), Up], "k / ↑", Scope::Details, Action::Up, "scroll up"),
    b(&[Char('g'), Home], "g / Home", Scope::Details, Action::Top, "back to the top"),
    b(&[Char('e')], "e", Scope::Details, Action::Export, "export the run's charts as PNG files"),
    b(&[Char('j'), Down], "j / ↓", Scope::Help, Action::Down, "scroll down"),
    b(&[Char('k'), Up], "k / ↑", Scope::Help, Action::Up, "scroll up"),
    b(&[Char('g'), Home], "g / Home", Scope::Help, Action::Top, "back to the top"),
    b(&[Char('G'), End], "G / End", Scope::Help, Action::Bottom, "to the end"),
    b(&[Char('?'), Esc, Char('q')], "? / Esc / q", Scope::Help, Action::ToggleHelp, "close the help"),
];

/// What Compare's paired tests say, one line each: the help lists them after Compare's keys.
#[rustfmt::skip]
pub static TERMS: &[(&str, &str)] = &[
    ("DeLong", "ROC AUC: DeLong's test of two ROC AUCs on the same validation rows"),
    ("bootstrap", "PR AUC, F1, log loss, Brier: the rows resampled in pairs 2,000 times"),
    ("McNemar", "accuracy: McNemar's exact test on the rows only one of the two gets right"),
    ("p = …", "how often a difference this large comes from chance alone; below 0.05 is rare"),
    ("[lo,hi]", "the 95 % interval of run minus baseline (accuracy's from the bootstrap)"),
    ("●", "the interval leaves out zero: a real difference, not noise"),
];

/// The binding for `code` in `scope`, if any.
fn find(scope: Scope, code: KeyCode) -> Option<Action> {
    KEYS.iter()
        .find(|k| k.scope == scope && k.keys.contains(&code))
        .map(|k| k.action.clone())
}

/// The binding for the control chord Ctrl-`c` in `scope`, if any: bindings with no plain key,
/// shown as `Ctrl-C`.
fn chord(scope: Scope, c: char) -> Option<Action> {
    let shown = format!("Ctrl-{}", c.to_ascii_uppercase());
    KEYS.iter()
        .find(|k| k.scope == scope && k.keys.is_empty() && k.shown == shown)
        .map(|k| k.action.clone())
}

/// The action for a key press, if any. A mode that is open takes every key; otherwise the
/// screen's bindings come before those that apply everywhere.
pub fn action(app: &App, key: KeyEvent) -> Option<Action> {
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    if control && key.code == Char('c') {
        return Some(Action::Quit);
    }
    let editing = app.list.filtering
        || app.score.editing
        || app.form.is_some()
        || app.prompt.is_some()
        || app.confirm.as_ref().is_some_and(|c| c.reason.is_some());
    if control && key.code == Char('u') && editing {
        return Some(Action::ClearText);
    }
    // A control chord is never typed into a field.
    let typed = match key.code {
        Char(c) if !control => Some(c),
        _ => None,
    };
    if app.list.filtering {
        return find(Scope::Filter, key.code).or(typed.map(Action::FilterChar));
    }
    if app.score.editing {
        return find(Scope::Path, key.code).or(typed.map(Action::PathChar));
    }
    if let Some(c) = &app.confirm {
        return match (&c.effect, &c.reason) {
            // A notice: any key closes it and does nothing else.
            (None, _) => Some(Action::Cancel),
            (Some(_), Some(_)) => find(Scope::Reason, key.code).or(typed.map(Action::ReasonChar)),
            (Some(_), None) => find(Scope::Confirm, key.code),
        };
    }
    if app.form.is_some() {
        if let (true, Char(c)) = (control, key.code) {
            return chord(Scope::Form, c);
        }
        return find(Scope::Form, key.code).or(typed.map(|c| Action::Form(FormKey::Char(c))));
    }
    if app.prompt.is_some() {
        if control {
            return None;
        }
        return find(Scope::Prompt, key.code).or(typed.map(|c| Action::Prompt(FormKey::Char(c))));
    }
    if app.help {
        return find(Scope::Help, key.code);
    }
    if app.details.is_some() {
        return find(Scope::Details, key.code);
    }
    find(On(app.screen), key.code).or_else(|| find(Everywhere, key.code))
}
