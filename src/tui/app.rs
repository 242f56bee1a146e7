//! The TUI's state and the one function that changes it. Drawing reads `App`; keys become
//! `Action`s through the keymap; `update` applies them. Nothing here touches the terminal.

use std::collections::BTreeSet;

use crate::tracking::{AliasEvent, ModelVersion, RunSummary};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Runs,
    Compare,
    Registry,
    Score,
    Drift,
}

impl Screen {
    pub const ALL: [Screen; 5] = [
        Screen::Runs,
        Screen::Compare,
        Screen::Registry,
        Screen::Score,
        Screen::Drift,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Runs => "Runs",
            Screen::Compare => "Compare",
            Screen::Registry => "Registry",
            Screen::Score => "Score",
            Screen::Drift => "Drift",
        }
    }

    fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// The columns the runs table can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Created,
    Name,
    Family,
    Status,
    RocAuc,
    F1,
    Duration,
}

impl SortKey {
    pub const ALL: [SortKey; 7] = [
        SortKey::Created,
        SortKey::Name,
        SortKey::Family,
        SortKey::Status,
        SortKey::RocAuc,
        SortKey::F1,
        SortKey::Duration,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Created => "started",
            SortKey::Name => "name",
            SortKey::Family => "family",
            SortKey::Status => "status",
            SortKey::RocAuc => "ROC AUC",
            SortKey::F1 => "F1",
            SortKey::Duration => "duration",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    Down,
    Up,
    Top,
    Bottom,
    ToggleSelect,
    NextScreen,
    PrevScreen,
    Goto(usize),
    NextSort,
    ReverseSort,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    FilterDone,
    FilterCancel,
    ToggleHelp,
    /// Ask to move `alias` to the run under the cursor.
    AskPromote(&'static str),
    Confirm,
    Cancel,
    /// Compare: pin the run under the cursor (or the first compared run) as the baseline.
    PinBaseline,
    ToggleDiffOnly,
}

/// Work `update` asks the event loop to do (it needs the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Promote { run_id: String, alias: &'static str },
}

/// A pending yes/no question.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    pub effect: Effect,
}

/// One run on the Compare screen, with what the store keeps beside the summary.
#[derive(Debug, Clone)]
pub struct CompareRun {
    pub run: RunSummary,
    pub roc: crate::metrics::Curve,
    pub confusion: crate::metrics::Confusion,
}

/// The registry as the Registry screen shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    pub versions: Vec<ModelVersion>,
    pub events: Vec<AliasEvent>,
}

pub struct App {
    pub screen: Screen,
    pub runs: Vec<RunSummary>,
    /// Indices into `runs`, filtered and sorted: what the table shows.
    pub view: Vec<usize>,
    pub cursor: usize,
    pub selected: BTreeSet<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub filter: String,
    pub filtering: bool,
    pub help: bool,
    pub quit: bool,
    pub registry: Registry,
    /// The selected runs' details, in selection order, loaded by the event loop.
    pub compare: Vec<CompareRun>,
    /// The run the Compare screen shows deltas against.
    pub baseline: Option<String>,
    /// Compare shows only the params that differ.
    pub diff_only: bool,
    pub confirm: Option<Confirm>,
    /// The last outcome worth telling (a promotion, an error).
    pub message: Option<String>,
    /// Time the view is drawn at (ms), for durations of running runs.
    pub now: i64,
}

impl App {
    pub fn new(runs: Vec<RunSummary>, now: i64) -> App {
        let mut app = App {
            screen: Screen::Runs,
            runs,
            view: Vec::new(),
            cursor: 0,
            selected: BTreeSet::new(),
            sort: SortKey::Created,
            descending: true,
            filter: String::new(),
            filtering: false,
            help: false,
            quit: false,
            registry: Registry::default(),
            compare: Vec::new(),
            baseline: None,
            diff_only: false,
            confirm: None,
            message: None,
            now,
        };
        app.refresh_view();
        app
    }

    /// Replaces the runs (a reload from the store), keeping cursor, selection and filter.
    pub fn set_runs(&mut self, runs: Vec<RunSummary>, now: i64) {
        let current = self.current().map(|r| r.id.clone());
        self.runs = runs;
        self.now = now;
        self.refresh_view();
        if let Some(id) = current {
            if let Some(pos) = self.view.iter().position(|&i| self.runs[i].id == id) {
                self.cursor = pos;
            }
        }
    }

    pub fn current(&self) -> Option<&RunSummary> {
        self.view.get(self.cursor).map(|&i| &self.runs[i])
    }

    fn refresh_view(&mut self) {
        let f = self.filter.to_lowercase();
        let mut view: Vec<usize> = (0..self.runs.len())
            .filter(|&i| {
                let r = &self.runs[i];
                f.is_empty()
                    || r.name.to_lowercase().contains(&f)
                    || r.family.contains(&f)
                    || r.status.as_str().contains(&f)
                    || r.id.contains(&f)
            })
            .collect();
        let now = self.now;
        let key = self.sort;
        let runs = &self.runs;
        let metric =
            |i: usize, k: &str| runs[i].metrics.get(k).copied().unwrap_or(f64::NEG_INFINITY);
        view.sort_by(|&a, &b| {
            let (x, y) = (&runs[a], &runs[b]);
            let ord = match key {
                SortKey::Created => x.created_at.cmp(&y.created_at).then(x.id.cmp(&y.id)),
                SortKey::Name => x.name.cmp(&y.name),
                SortKey::Family => x.family.cmp(&y.family),
                SortKey::Status => x.status.as_str().cmp(y.status.as_str()),
                SortKey::RocAuc => metric(a, "roc_auc").total_cmp(&metric(b, "roc_auc")),
                SortKey::F1 => metric(a, "f1").total_cmp(&metric(b, "f1")),
                SortKey::Duration => x
                    .duration_ms(now)
                    .unwrap_or(-1)
                    .cmp(&y.duration_ms(now).unwrap_or(-1)),
            };
            if self.descending {
                ord.reverse()
            } else {
                ord
            }
        });
        self.view = view;
        self.cursor = self.cursor.min(self.view.len().saturating_sub(1));
    }
}

/// The run an alias points at now, from the registry.
fn alias_run<'a>(app: &'a App, alias: &str) -> Option<&'a RunSummary> {
    let v = app
        .registry
        .versions
        .iter()
        .find(|v| v.aliases.iter().any(|a| a == alias))?;
    app.runs.iter().find(|r| r.id == v.run_id)
}

/// The confirmation for moving `alias` to the current run: its metrics against the model the
/// alias serves now.
fn promote_question(app: &App, alias: &'static str) -> Option<Confirm> {
    let run = app.current()?;
    let before = alias_run(app, alias);
    let mut lines = vec![match before {
        Some(b) => format!(
            "now: {} ({}), run …{}",
            b.name,
            b.family,
            &b.id[b.id.len().saturating_sub(6)..]
        ),
        None => format!("nothing is on {alias} yet"),
    }];
    for (key, label) in [
        ("roc_auc", "ROC AUC"),
        ("pr_auc", "PR AUC"),
        ("f1", "F1"),
        ("log_loss", "log loss"),
    ] {
        let Some(new) = run.metrics.get(key) else {
            continue;
        };
        lines.push(match before.and_then(|b| b.metrics.get(key)) {
            Some(old) => format!("{label:<9} {new:.4}  ({:+.4})", new - old),
            None => format!("{label:<9} {new:.4}"),
        });
    }
    lines.push("y promotes, n or Esc cancels".into());
    Some(Confirm {
        title: format!("Promote {} ({}) to {alias}?", run.name, run.family),
        lines,
        effect: Effect::Promote {
            run_id: run.id.clone(),
            alias,
        },
    })
}

/// Applies one action; returns work for the event loop, if any.
pub fn update(app: &mut App, action: Action) -> Option<Effect> {
    let last = app.view.len().saturating_sub(1);
    match action {
        Action::AskPromote(alias) => {
            app.confirm = promote_question(app, alias);
            if app.confirm.is_none() {
                app.message = Some("no run under the cursor".into());
            }
        }
        Action::Confirm => return app.confirm.take().map(|c| c.effect),
        Action::Cancel => app.confirm = None,
        Action::PinBaseline => {
            let id = if app.screen == Screen::Compare {
                app.compare.first().map(|c| c.run.id.clone())
            } else {
                app.current().map(|r| r.id.clone())
            };
            app.baseline = if app.baseline == id { None } else { id };
        }
        Action::ToggleDiffOnly => app.diff_only = !app.diff_only,
        Action::Quit => app.quit = true,
        Action::Down => app.cursor = (app.cursor + 1).min(last),
        Action::Up => app.cursor = app.cursor.saturating_sub(1),
        Action::Top => app.cursor = 0,
        Action::Bottom => app.cursor = last,
        Action::ToggleSelect => {
            if let Some(id) = app.current().map(|r| r.id.clone()) {
                if !app.selected.remove(&id) {
                    app.selected.insert(id);
                }
            }
        }
        Action::NextScreen => {
            app.screen = Screen::ALL[(app.screen.index() + 1) % Screen::ALL.len()];
        }
        Action::PrevScreen => {
            let n = Screen::ALL.len();
            app.screen = Screen::ALL[(app.screen.index() + n - 1) % n];
        }
        Action::Goto(i) => {
            if let Some(s) = Screen::ALL.get(i) {
                app.screen = *s;
            }
        }
        Action::NextSort => {
            let i = SortKey::ALL
                .iter()
                .position(|k| *k == app.sort)
                .unwrap_or(0);
            app.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
            app.refresh_view();
        }
        Action::ReverseSort => {
            app.descending = !app.descending;
            app.refresh_view();
        }
        Action::StartFilter => app.filtering = true,
        Action::FilterChar(c) => {
            app.filter.push(c);
            app.cursor = 0;
            app.refresh_view();
        }
        Action::FilterBackspace => {
            app.filter.pop();
            app.refresh_view();
        }
        Action::FilterDone => app.filtering = false,
        Action::FilterCancel => {
            app.filtering = false;
            app.filter.clear();
            app.refresh_view();
        }
        Action::ToggleHelp => app.help = !app.help,
    }
    None
}
