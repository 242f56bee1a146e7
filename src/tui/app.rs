//! The TUI's state and the one function that changes it. Drawing reads `App`; keys become
//! `Action`s through the keymap; `update` applies them. Nothing here touches the terminal.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use crate::drift::monitor::StoredDrift;
use crate::models::{Family, FitProgress, Params};
use crate::score::ScoreSummary;
use crate::tracking::{AliasEvent, ArtifactRow, ModelVersion, RunStatus, RunSummary};

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
    PrAuc,
    F1,
    Duration,
}

impl SortKey {
    pub const ALL: [SortKey; 8] = [
        SortKey::Created,
        SortKey::Name,
        SortKey::Family,
        SortKey::Status,
        SortKey::RocAuc,
        SortKey::PrAuc,
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
            SortKey::PrAuc => "PR AUC",
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
    /// Runs: open the details of the run under the cursor; Score: score the file; Drift:
    /// compare the Score screen's file with the reference.
    Open,
    CloseDetails,
    /// Runs: the new-run form.
    NewRun,
    Form(FormKey),
    /// Runs: cancel the run under the cursor (asks first); Score: stop scoring.
    AskCancel,
    AskDelete,
    /// Registry: undo the alias's last move (asks first).
    AskRollback(&'static str),
    /// Score: edit the file to score.
    EditPath,
    PathChar(char),
    PathBackspace,
    PathDone,
    /// Drift: the server's recent predictions, in hourly windows.
    DriftWindows,
    /// Write the screen's charts as PNG files.
    Export,
    /// Compare: scroll the run columns.
    ScrollLeft,
    ScrollRight,
    /// A click at a terminal cell (column, row).
    Click(u16, u16),
}

/// A key inside the new-run form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKey {
    Next,
    Prev,
    Left,
    Right,
    Char(char),
    Backspace,
    Submit,
    Cancel,
}

/// Work `update` asks the event loop to do (it needs the store or a background task).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Promote { run_id: String, alias: &'static str },
    Rollback { alias: &'static str },
    Delete { run_id: String },
    Cancel { run_id: String },
    Train(Job),
    LoadDetails { run_id: String },
    Score { path: PathBuf },
    CancelScore,
    Drift { current: Option<PathBuf> },
    Export,
}

/// The new-run form: family, name, data file and the family's parameters, each as text.
#[derive(Debug, Clone, PartialEq)]
pub struct RunForm {
    pub family: Family,
    pub name: String,
    pub data: String,
    /// The split's seed and validation share, as `staytrack train --seed --valid-fraction`.
    pub seed: String,
    pub valid_fraction: String,
    /// (key, value as typed, help), in the family's order.
    pub params: Vec<(String, String, &'static str)>,
    /// 0 family, 1 name, 2 data, 3 seed, 4 validation share, 5.. params.
    pub focus: usize,
    pub error: Option<String>,
}

impl RunForm {
    pub fn new(family: Family, data: String) -> RunForm {
        let mut f = RunForm {
            family,
            name: String::new(),
            data,
            seed: "42".into(),
            valid_fraction: "0.2".into(),
            params: Vec::new(),
            focus: 0,
            error: None,
        };
        f.reset_params();
        f
    }

    fn reset_params(&mut self) {
        let defaults = Params::defaults(self.family).as_strings();
        self.params = self
            .family
            .specs()
            .iter()
            .map(|s| {
                let v = defaults
                    .iter()
                    .find(|(k, _)| k == s.key)
                    .map_or(String::new(), |(_, v)| v.clone());
                (s.key.to_string(), v, s.help)
            })
            .collect();
    }

    /// Fields before the family's params.
    pub const FIXED: usize = 5;

    fn fields(&self) -> usize {
        Self::FIXED + self.params.len()
    }

    fn text(&mut self) -> Option<&mut String> {
        match self.focus {
            0 => None,
            1 => Some(&mut self.name),
            2 => Some(&mut self.data),
            3 => Some(&mut self.seed),
            4 => Some(&mut self.valid_fraction),
            i => self.params.get_mut(i - Self::FIXED).map(|p| &mut p.1),
        }
    }

    /// The run the form describes, or what is wrong with it.
    pub fn job(&self) -> Result<Job, String> {
        let given: Vec<(String, String)> = self
            .params
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect();
        let params = Params::resolve(self.family, &given).map_err(|e| e.to_string())?;
        if self.data.trim().is_empty() {
            return Err("the data file is empty".into());
        }
        let name = if self.name.trim().is_empty() {
            self.family.name().to_string()
        } else {
            self.name.trim().to_string()
        };
        let seed = self
            .seed
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("seed '{}': a whole number of 0 or more", self.seed))?;
        let valid_fraction = self
            .valid_fraction
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0 && *v < 1.0)
            .ok_or_else(|| {
                format!(
                    "validation share '{}': a number between 0 and 1",
                    self.valid_fraction
                )
            })?;
        Ok(Job {
            data: PathBuf::from(self.data.trim()),
            name,
            params,
            seed,
            valid_fraction,
        })
    }
}

/// A run to start from the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub data: PathBuf,
    pub name: String,
    pub params: Params,
    pub seed: u64,
    pub valid_fraction: f64,
}

/// A run's details: everything the store keeps about it.
#[derive(Debug, Clone, Default)]
pub struct Details {
    pub run: Option<RunSummary>,
    pub roc: crate::metrics::Curve,
    pub confusion: crate::metrics::Confusion,
    pub confusion_best: crate::metrics::Confusion,
    pub importance: Vec<(String, f64)>,
    pub artifacts: Vec<ArtifactRow>,
    /// Per-step metrics (boosting rounds, iterations), by key.
    pub history: Vec<(String, Vec<(i64, f64)>)>,
    pub scroll: u16,
}

/// The Score screen.
#[derive(Debug, Clone, Default)]
pub struct ScoreState {
    pub path: String,
    pub editing: bool,
    /// Progress (0 to 1) while a file is being scored.
    pub running: Option<f64>,
    pub last: Option<ScoreSummary>,
}

/// The Drift screen.
#[derive(Debug, Clone, Default)]
pub struct DriftState {
    /// The report shown and its id in the store.
    pub report: Option<(i64, StoredDrift)>,
    pub cursor: usize,
    /// What is being computed, while it is.
    pub running: Option<String>,
}

/// A line for the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub error: bool,
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
    /// The version under the cursor.
    pub cursor: usize,
}

/// The Runs screen: which runs the table shows, in which order, and what is selected.
pub struct RunList {
    /// Indices into `App::runs`, filtered and sorted: what the table shows.
    pub view: Vec<usize>,
    pub cursor: usize,
    pub selected: BTreeSet<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub filter: String,
    pub filtering: bool,
    /// The first row on screen; the view keeps the cursor visible.
    pub offset: Cell<usize>,
}

/// The Compare screen.
#[derive(Default)]
pub struct CompareState {
    /// The selected runs' details, in selection order, loaded by the event loop.
    pub runs: Vec<CompareRun>,
    /// The run the deltas are against.
    pub baseline: Option<String>,
    /// Only the params that differ.
    pub diff_only: bool,
    /// The first run column shown.
    pub offset: usize,
}

pub struct App {
    pub screen: Screen,
    /// Every run in the store, as the lists show them.
    pub runs: Vec<RunSummary>,
    pub list: RunList,
    pub help: bool,
    pub quit: bool,
    pub registry: Registry,
    pub compare: CompareState,
    pub confirm: Option<Confirm>,
    /// The last outcome worth telling (a promotion, an error).
    pub message: Option<Message>,
    /// Time the view is drawn at (ms), for durations of running runs.
    pub now: i64,
    pub form: Option<RunForm>,
    pub details: Option<Details>,
    /// Live progress of runs this process trains.
    pub live: HashMap<String, FitProgress>,
    pub score: ScoreState,
    pub drift: DriftState,
    /// The default training file for new runs.
    pub train_file: String,
    /// Where each screen's clickable rows start, set while drawing: (top row, first index).
    pub rows_at: Cell<(u16, usize)>,
}

impl App {
    pub fn new(runs: Vec<RunSummary>, now: i64) -> App {
        let mut app = App {
            screen: Screen::Runs,
            runs,
            list: RunList {
                view: Vec::new(),
                cursor: 0,
                selected: BTreeSet::new(),
                sort: SortKey::Created,
                descending: true,
                filter: String::new(),
                filtering: false,
                offset: Cell::new(0),
            },
            help: false,
            quit: false,
            registry: Registry::default(),
            compare: CompareState::default(),
            confirm: None,
            message: None,
            now,
            form: None,
            details: None,
            live: HashMap::new(),
            score: ScoreState::default(),
            drift: DriftState::default(),
            train_file: "data/train_data.csv".into(),
            rows_at: Cell::new((0, 0)),
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
            if let Some(pos) = self.list.view.iter().position(|&i| self.runs[i].id == id) {
                self.list.cursor = pos;
            }
        }
    }

    pub fn say(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            error: false,
        });
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            error: true,
        });
    }

    pub fn current(&self) -> Option<&RunSummary> {
        self.list.view.get(self.list.cursor).map(|&i| &self.runs[i])
    }

    fn refresh_view(&mut self) {
        let f = self.list.filter.to_lowercase();
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
        let key = self.list.sort;
        let runs = &self.runs;
        // Sort keys are computed once per run, not once per comparison: a metric lookup is a
        // map search, and 10,000 runs take 130,000 comparisons.
        let numbers: Vec<f64> = match key {
            SortKey::RocAuc | SortKey::PrAuc | SortKey::F1 => {
                let k = match key {
                    SortKey::RocAuc => "roc_auc",
                    SortKey::PrAuc => "pr_auc",
                    _ => "f1",
                };
                runs.iter()
                    .map(|r| r.metrics.get(k).copied().unwrap_or(f64::NEG_INFINITY))
                    .collect()
            }
            SortKey::Duration => runs
                .iter()
                .map(|r| r.duration_ms(now).map_or(-1.0, |d| d as f64))
                .collect(),
            _ => Vec::new(),
        };
        view.sort_by(|&a, &b| {
            let (x, y) = (&runs[a], &runs[b]);
            let ord = match key {
                SortKey::Created => x.created_at.cmp(&y.created_at).then(x.id.cmp(&y.id)),
                SortKey::Name => x.name.cmp(&y.name),
                SortKey::Family => x.family.cmp(&y.family),
                SortKey::Status => x.status.as_str().cmp(y.status.as_str()),
                SortKey::RocAuc | SortKey::PrAuc | SortKey::F1 | SortKey::Duration => {
                    numbers[a].total_cmp(&numbers[b])
                }
            };
            if self.list.descending {
                ord.reverse()
            } else {
                ord
            }
        });
        self.list.view = view;
        self.list.cursor = self.list.cursor.min(self.list.view.len().saturating_sub(1));
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

/// The run an action applies to: the version under the cursor on Registry, else the run under
/// the cursor.
fn target_run(app: &App) -> Option<&RunSummary> {
    if app.screen == Screen::Registry {
        let v = app.registry.versions.get(app.registry.cursor)?;
        return app.runs.iter().find(|r| r.id == v.run_id);
    }
    app.current()
}

fn short(id: &str) -> &str {
    crate::util::short_id(id, 6)
}

/// The confirmation for moving `alias` to the target run: its metrics against the model the
/// alias serves now.
fn promote_question(app: &App, alias: &'static str) -> Option<Confirm> {
    let run = target_run(app)?;
    let before = alias_run(app, alias);
    let mut lines = vec![match before {
        Some(b) => format!("now: {} ({}), run …{}", b.name, b.family, short(&b.id)),
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

fn rollback_question(app: &App, alias: &'static str) -> Result<Confirm, String> {
    let last = app
        .registry
        .events
        .iter()
        .filter(|e| e.alias == alias)
        .max_by_key(|e| e.id)
        .ok_or_else(|| format!("{alias} has never moved; there is nothing to roll back"))?;
    let v = |x: Option<i64>| x.map_or("none".to_string(), |v| format!("version {v}"));
    Ok(Confirm {
        title: format!("Roll {alias} back?"),
        lines: vec![
            format!(
                "{alias}: {} → {} (undoes the move of {})",
                v(last.to_version),
                v(last.from_version),
                crate::util::format_ms(last.at)
            ),
            "a server following the alias switches to it within a second".into(),
            "y rolls back, n or Esc cancels".into(),
        ],
        effect: Effect::Rollback { alias },
    })
}

fn cancel_question(run: &RunSummary) -> Result<Confirm, String> {
    if !matches!(run.status, RunStatus::Running | RunStatus::Queued) {
        return Err(format!(
            "{} is {}; only a running or queued run can be cancelled",
            run.name,
            run.status.as_str()
        ));
    }
    Ok(Confirm {
        title: format!("Cancel {} ({})?", run.name, run.family),
        lines: vec![
            format!(
                "run …{} is {}; it will end as cancelled",
                short(&run.id),
                run.status.as_str()
            ),
            "y cancels it, n or Esc keeps it going".into(),
        ],
        effect: Effect::Cancel {
            run_id: run.id.clone(),
        },
    })
}

fn delete_question(app: &App, run: &RunSummary) -> Result<Confirm, String> {
    if matches!(run.status, RunStatus::Running | RunStatus::Queued) {
        return Err(format!(
            "{} is {}; cancel it (x) before deleting it",
            run.name,
            run.status.as_str()
        ));
    }
    if let Some(v) = app.registry.versions.iter().find(|v| v.run_id == run.id) {
        return Err(format!(
            "{} is model version {} in the registry; registered runs are kept",
            run.name, v.version
        ));
    }
    Ok(Confirm {
        title: format!("Delete {} ({})?", run.name, run.family),
        lines: vec![
            format!(
                "run …{}: its params, metrics, curves and its model file go; this cannot be undone",
                short(&run.id)
            ),
            "y deletes, n or Esc keeps it".into(),
        ],
        effect: Effect::Delete {
            run_id: run.id.clone(),
        },
    })
}

/// Which tab the column `x` of the header falls in (tabs are " title " with a one-cell divider).
fn tab_at(x: u16) -> Option<usize> {
    let mut start = 0u16;
    for (i, s) in Screen::ALL.iter().enumerate() {
        let w = format!("{} {}", i + 1, s.title()).chars().count() as u16 + 2;
        if x >= start && x < start + w {
            return Some(i);
        }
        start += w + 1;
    }
    None
}

/// How many rows the current screen's cursor moves over.
fn rows(app: &App) -> usize {
    match app.screen {
        Screen::Runs => app.list.view.len(),
        Screen::Registry => app.registry.versions.len(),
        Screen::Drift => app
            .drift
            .report
            .as_ref()
            .map_or(0, |(_, d)| d.report.columns.len()),
        _ => 0,
    }
}

fn cursor_mut(app: &mut App) -> Option<&mut usize> {
    match app.screen {
        Screen::Runs => Some(&mut app.list.cursor),
        Screen::Registry => Some(&mut app.registry.cursor),
        Screen::Drift => Some(&mut app.drift.cursor),
        _ => None,
    }
}

fn move_cursor(app: &mut App, to: impl Fn(usize, usize) -> usize) {
    if let Some(d) = app.details.as_mut() {
        d.scroll = to(d.scroll as usize, u16::MAX as usize) as u16;
        return;
    }
    let last = rows(app).saturating_sub(1);
    if let Some(c) = cursor_mut(app) {
        *c = to(*c, last).min(last);
    }
}

fn form_key(app: &mut App, key: FormKey) -> Option<Effect> {
    let form = app.form.as_mut()?;
    let n = form.fields();
    form.error = None;
    match key {
        FormKey::Next => form.focus = (form.focus + 1) % n,
        FormKey::Prev => form.focus = (form.focus + n - 1) % n,
        FormKey::Left | FormKey::Right if form.focus == 0 => {
            let i = Family::ALL
                .iter()
                .position(|f| *f == form.family)
                .unwrap_or(0);
            let step = if key == FormKey::Right {
                1
            } else {
                Family::ALL.len() - 1
            };
            form.family = Family::ALL[(i + step) % Family::ALL.len()];
            form.reset_params();
        }
        FormKey::Left | FormKey::Right => {}
        FormKey::Char(c) => {
            if let Some(t) = form.text() {
                t.push(c);
            } else if c == 'h' || c == 'l' {
                return form_key(
                    app,
                    if c == 'l' {
                        FormKey::Right
                    } else {
                        FormKey::Left
                    },
                );
            }
        }
        FormKey::Backspace => {
            if let Some(t) = form.text() {
                t.pop();
            }
        }
        FormKey::Cancel => app.form = None,
        FormKey::Submit => match form.job() {
            Ok(job) => {
                app.form = None;
                return Some(Effect::Train(job));
            }
            Err(e) => form.error = Some(e),
        },
    }
    None
}

/// Applies one action; returns work for the event loop, if any.
pub fn update(app: &mut App, action: Action) -> Option<Effect> {
    match action {
        Action::AskPromote(alias) => match promote_question(app, alias) {
            Some(c) => app.confirm = Some(c),
            None => app.warn(if app.screen == Screen::Registry {
                "no version under the cursor"
            } else {
                "no run under the cursor"
            }),
        },
        Action::AskRollback(alias) => match rollback_question(app, alias) {
            Ok(c) => app.confirm = Some(c),
            Err(e) => app.warn(e),
        },
        Action::AskCancel => {
            if app.screen == Screen::Score {
                return app.score.running.is_some().then_some(Effect::CancelScore);
            }
            match app.current().map(cancel_question) {
                Some(Ok(c)) => app.confirm = Some(c),
                Some(Err(e)) => app.warn(e),
                None => app.warn("no run under the cursor"),
            }
        }
        Action::AskDelete => match app.current().map(|r| delete_question(app, r)) {
            Some(Ok(c)) => app.confirm = Some(c),
            Some(Err(e)) => app.warn(e),
            None => app.warn("no run under the cursor"),
        },
        Action::Confirm => return app.confirm.take().map(|c| c.effect),
        Action::Cancel => app.confirm = None,
        Action::PinBaseline => {
            let id = if app.screen == Screen::Compare {
                app.compare.runs.first().map(|c| c.run.id.clone())
            } else {
                app.current().map(|r| r.id.clone())
            };
            app.compare.baseline = if app.compare.baseline == id { None } else { id };
        }
        Action::ToggleDiffOnly => app.compare.diff_only = !app.compare.diff_only,
        Action::Quit => app.quit = true,
        Action::Down => move_cursor(app, |c, _| c + 1),
        Action::Up => move_cursor(app, |c, _| c.saturating_sub(1)),
        Action::Top => move_cursor(app, |_, _| 0),
        Action::Bottom => move_cursor(app, |_, last| last),
        Action::ToggleSelect => {
            if let Some(id) = app.current().map(|r| r.id.clone()) {
                if !app.list.selected.remove(&id) {
                    app.list.selected.insert(id);
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
                .position(|k| *k == app.list.sort)
                .unwrap_or(0);
            app.list.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
            app.refresh_view();
        }
        Action::ReverseSort => {
            app.list.descending = !app.list.descending;
            app.refresh_view();
        }
        Action::StartFilter => app.list.filtering = true,
        Action::FilterChar(c) => {
            app.list.filter.push(c);
            app.list.cursor = 0;
            app.refresh_view();
        }
        Action::FilterBackspace => {
            app.list.filter.pop();
            app.refresh_view();
        }
        Action::FilterDone => app.list.filtering = false,
        Action::FilterCancel => {
            app.list.filtering = false;
            app.list.filter.clear();
            app.refresh_view();
        }
        Action::ToggleHelp => app.help = !app.help,
        Action::Open => match app.screen {
            Screen::Runs => {
                let id = app.current()?.id.clone();
                return Some(Effect::LoadDetails { run_id: id });
            }
            Screen::Score if app.score.running.is_none() => {
                app.score.running = Some(0.0);
                return Some(Effect::Score {
                    path: PathBuf::from(app.score.path.trim()),
                });
            }
            Screen::Drift if app.drift.running.is_none() => {
                app.drift.running = Some(format!("drift of {}", app.score.path.trim()));
                return Some(Effect::Drift {
                    current: Some(PathBuf::from(app.score.path.trim())),
                });
            }
            _ => app.warn("busy: wait for the task to finish"),
        },
        Action::CloseDetails => app.details = None,
        Action::NewRun => app.form = Some(RunForm::new(Family::Gbdt, app.train_file.clone())),
        Action::Form(k) => return form_key(app, k),
        Action::EditPath => app.score.editing = true,
        Action::PathChar(c) => app.score.path.push(c),
        Action::PathBackspace => {
            app.score.path.pop();
        }
        Action::PathDone => app.score.editing = false,
        Action::DriftWindows => {
            if app.drift.running.is_some() {
                app.warn("busy: wait for the drift report to finish");
            } else {
                app.drift.running = Some("drift of the server's predictions".into());
                return Some(Effect::Drift { current: None });
            }
        }
        Action::Export => return Some(Effect::Export),
        Action::ScrollLeft => app.compare.offset = app.compare.offset.saturating_sub(1),
        Action::ScrollRight => {
            app.compare.offset =
                (app.compare.offset + 1).min(app.compare.runs.len().saturating_sub(1))
        }
        Action::Click(x, y) => {
            if y == 0 {
                if let Some(i) = tab_at(x) {
                    app.screen = Screen::ALL[i];
                }
            } else {
                let (top, first) = app.rows_at.get();
                if y >= top && top > 0 {
                    let i = first + (y - top) as usize;
                    if i < rows(app) {
                        if let Some(c) = cursor_mut(app) {
                            *c = i;
                        }
                    }
                }
            }
        }
    }
    None
}
