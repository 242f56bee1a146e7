//! The TUI's state and the one function that changes it. Drawing reads `App`; keys become
//! `Action`s through the keymap; `update` applies them. Nothing here touches the terminal.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use crate::metrics::Metric;
use crate::models::{Family, FitProgress};
use crate::tracking::{RunStatus, RunSummary};

use super::dialogs::*;
use super::form::form_key;
pub use super::form::{FormKey, Job, RunForm};
use super::prompt::prompt_key;
pub use super::prompt::{Prompt, PromptKind, TuneJob};
pub use super::state::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Runs,
    Compare,
    Registry,
    Score,
    Drift,
    Monitor,
}

impl Screen {
    pub const ALL: [Screen; 6] = [
        Screen::Runs,
        Screen::Compare,
        Screen::Registry,
        Screen::Score,
        Screen::Drift,
        Screen::Monitor,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Runs => "Runs",
            Screen::Compare => "Compare",
            Screen::Registry => "Registry",
            Screen::Score => "Score",
            Screen::Drift => "Drift",
            Screen::Monitor => "Monitor",
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
    /// Compare: deltas, their intervals, or the paired tests.
    NextCells,
    /// Runs: open the details of the run under the cursor; Score: score the file; Drift:
    /// compare the Score screen's file with the reference.
    Open,
    CloseDetails,
    /// Runs: the new-run form.
    NewRun,
    Form(FormKey),
    /// Runs: ask what to tune; a sweep file to train.
    AskTune,
    AskSweep,
    /// Monitor: ask for an outcomes file to import.
    AskOutcomes,
    /// A key inside one of those dialogs.
    Prompt(FormKey),
    /// Score: add the scored rows to the prediction log, or not.
    ToggleLog,
    /// Runs: cancel the run under the cursor, else the tune or sweep (asks first); Score: stop
    /// scoring.
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
    /// Monitor: the next window size.
    MonitorWindow,
    /// Write the screen's charts as PNG files.
    Export,
    /// Compare: scroll the run columns.
    ScrollLeft,
    ScrollRight,
    /// A click at a terminal cell (column, row).
    Click(u16, u16),
    /// A dialog's reason field.
    ReasonChar(char),
    ReasonBackspace,
    /// Ctrl-U: empty the text field being edited.
    ClearText,
}

/// The longest reason a dialog takes.
pub const MAX_REASON: usize = 200;

/// Work `update` asks the event loop to do (it needs the store or a background task).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Promote {
        run_id: String,
        alias: &'static str,
        reason: Option<String>,
        /// Past a failed `[promote]` rule (the reason is then required).
        force: bool,
        /// What the policy weighed when it refused the move, reused by the override.
        weighed: Option<Weighed>,
    },
    Rollback {
        alias: &'static str,
        reason: Option<String>,
    },
    Delete {
        run_id: String,
    },
    Cancel {
        run_id: String,
    },
    Train(Job),
    LoadDetails {
        run_id: String,
    },
    Score {
        path: PathBuf,
        /// Add the rows to the prediction log.
        log: bool,
    },
    CancelScore,
    /// Score: explain this listed row on the explaining worker.
    ExplainRow {
        row: usize,
    },
    Tune(TuneJob),
    /// Train every run of a TOML sweep file.
    Sweep {
        file: PathBuf,
        name: Option<String>,
        data: PathBuf,
    },
    /// Stop the tune or sweep file in progress.
    CancelSweep,
    /// Import outcomes from a CSV, as `staytrack feedback`.
    Outcomes {
        file: PathBuf,
    },
    Drift {
        current: Option<PathBuf>,
    },
    Monitor {
        window: &'static str,
    },
    Export,
}

pub struct App {
    pub screen: Screen,
    /// The runs the lists show: the newest page at first, every run once the background read
    /// is in.
    pub runs: Vec<RunSummary>,
    /// Runs in the store, so the status line can say how many are still being read.
    pub runs_total: usize,
    pub list: RunList,
    pub help: bool,
    /// The help's first line shown.
    pub help_scroll: u16,
    /// The furthest the help scrolls at the last drawing's size, so scrolling stops at its end.
    pub help_max: Cell<u16>,
    pub quit: bool,
    pub registry: Registry,
    pub compare: CompareState,
    pub confirm: Option<Confirm>,
    /// The last outcome worth telling (a promotion, an error).
    pub message: Option<Message>,
    /// Time the view is drawn at (ms), for durations of running runs.
    pub now: i64,
    pub form: Option<RunForm>,
    /// A tune, sweep-file or outcomes dialog.
    pub prompt: Option<Prompt>,
    /// The tune or sweep file in progress.
    pub sweep: Option<SweepProgress>,
    pub details: Option<Details>,
    /// Live progress of runs this process trains.
    pub live: HashMap<String, FitProgress>,
    pub score: ScoreState,
    pub drift: DriftState,
    pub monitor: MonitorState,
    /// The default training file for new runs, and whether it was missing when the UI opened.
    pub train_file: String,
    pub train_missing: bool,
    /// The workspace's dataset, by its spec's name, when the spec reads.
    pub dataset: Option<String>,
    /// The workspace folder: relative paths typed on the Score screen are its, and the new-run
    /// form also tries its data file there.
    pub workspace: PathBuf,
    /// The last new-run form started, so the next one opens with its family and entries.
    pub last_form: Option<RunForm>,
    /// Where each screen's clickable rows start, set while drawing: (top row, first index).
    pub rows_at: Cell<(u16, usize)>,
}

impl App {
    pub fn new(runs: Vec<RunSummary>, now: i64) -> App {
        let mut app = App {
            screen: Screen::Runs,
            runs_total: runs.len(),
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
                widest: (0, 0),
            },
            help: false,
            help_scroll: 0,
            help_max: Cell::new(0),
            quit: false,
            registry: Registry::default(),
            compare: CompareState::default(),
            confirm: None,
            message: None,
            now,
            form: None,
            prompt: None,
            sweep: None,
            details: None,
            live: HashMap::new(),
            score: ScoreState::default(),
            drift: DriftState::default(),
            monitor: MonitorState::default(),
            train_file: "data/train_data.csv".into(),
            train_missing: false,
            dataset: None,
            workspace: PathBuf::from("."),
            last_form: None,
            rows_at: Cell::new((0, 0)),
        };
        app.refresh_view();
        app
    }

    /// Replaces the runs (a reload from the store), keeping cursor, selection and filter.
    pub fn set_runs(&mut self, runs: Vec<RunSummary>, now: i64) {
        let current = self.current().map(|r| r.id.clone());
        self.runs_total = runs.len();
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
                    || r.family.name().contains(&f)
                    || r.status.as_str().contains(&f)
                    || r.id.contains(&f)
            })
            .collect();
        self.sort(&mut view);
        let runs = &self.runs;
        self.list.widest = view.iter().fold((0, 0), |(n, f), &i| {
            let r = &runs[i];
            (
                n.max(r.name.chars().count()),
                f.max(r.family.name().chars().count()),
            )
        });
        self.list.view = view;
        self.list.cursor = self.list.cursor.min(self.list.view.len().saturating_sub(1));
    }

    /// Orders the view again after the sort changed: the same runs, so the same widest name.
    fn resort(&mut self) {
        let mut view = std::mem::take(&mut self.list.view);
        self.sort(&mut view);
        self.list.view = view;
    }

    fn sort(&self, view: &mut [usize]) {
        let now = self.now;
        let key = self.list.sort;
        let runs = &self.runs;
        // Sort keys are computed once per run, not once per comparison: a metric lookup is a
        // map search, and 10,000 runs take 130,000 comparisons.
        let numbers: Vec<f64> = match key {
            SortKey::RocAuc | SortKey::PrAuc | SortKey::F1 => {
                let k = match key {
                    SortKey::RocAuc => Metric::RocAuc,
                    SortKey::PrAuc => Metric::PrAuc,
                    _ => Metric::F1,
                }
                .key();
                runs.iter()
                    .map(|r| r.metrics.get(k).copied().unwrap_or(f64::NEG_INFINITY))
                    .collect()
            }
            SortKey::Duration => runs
                .iter()
                .map(|r| run_time_ms(r, now).map_or(-1.0, |d| d as f64))
                .collect(),
            _ => Vec::new(),
        };
        view.sort_by(|&a, &b| {
            let (x, y) = (&runs[a], &runs[b]);
            let ord = match key {
                SortKey::Created => x.created_at.cmp(&y.created_at).then(x.id.cmp(&y.id)),
                SortKey::Name => x.name.cmp(&y.name),
                SortKey::Family => x.family.name().cmp(y.family.name()),
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
    }
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

/// What showing the current screen needs: the Monitor screen reads the log the first time.
fn entered(app: &mut App) -> Option<Effect> {
    let first = app.monitor.report.is_none() && app.monitor.error.is_none();
    if app.screen == Screen::Monitor && first && !app.monitor.running {
        return start_monitor(app);
    }
    None
}

/// Reads the prediction log for the Monitor screen, unless that is already under way.
fn start_monitor(app: &mut App) -> Option<Effect> {
    if app.monitor.running {
        app.warn("busy: the monitor is reading the log");
        return None;
    }
    app.monitor.running = true;
    Some(Effect::Monitor {
        window: MONITOR_WINDOWS[app.monitor.window],
    })
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
        Screen::Monitor => app.monitor.report.as_ref().map_or(0, |m| m.alerts.len()),
        Screen::Score => app.score.why.rows.as_ref().map_or(0, |r| r.len()),
        _ => 0,
    }
}

fn cursor_mut(app: &mut App) -> Option<&mut usize> {
    match app.screen {
        Screen::Runs => Some(&mut app.list.cursor),
        Screen::Registry => Some(&mut app.registry.cursor),
        Screen::Drift => Some(&mut app.drift.cursor),
        Screen::Monitor => Some(&mut app.monitor.cursor),
        Screen::Score => Some(&mut app.score.why.cursor),
        _ => None,
    }
}

fn move_cursor(app: &mut App, to: impl Fn(usize, usize) -> usize) {
    // The help and the details scroll no further than the last drawing showed their end, so
    // the first `k` after the end moves them back.
    if app.help {
        let max = app.help_max.get() as usize;
        app.help_scroll = to(app.help_scroll as usize, max).min(max) as u16;
        return;
    }
    if let Some(d) = app.details.as_mut() {
        let max = d.max_scroll.get() as usize;
        d.scroll = to(d.scroll as usize, max).min(max) as u16;
        return;
    }
    let last = rows(app).saturating_sub(1);
    if let Some(c) = cursor_mut(app) {
        *c = to(*c, last).min(last);
    }
}

/// Moves the cursor; on the Score screen, asks for the new row's explanation unless it is
/// known or already asked for.
fn moved(app: &mut App, to: impl Fn(usize, usize) -> usize) -> Option<Effect> {
    move_cursor(app, to);
    explain_wanted(app)
}

fn explain_wanted(app: &mut App) -> Option<Effect> {
    if app.screen != Screen::Score || app.help || app.details.is_some() {
        return None;
    }
    let row = app.score.why.want()?;
    Some(Effect::ExplainRow { row })
}

/// The Score screen's file: a relative path is the workspace's, whichever folder the process
/// runs in, as every other file the workspace names.
fn score_path(app: &App) -> PathBuf {
    app.workspace.join(app.score.path.trim())
}

/// Applies one action; returns work for the event loop, if any.
///
/// One arm per action, like the keymap it answers: the whole state machine reads in one place.
pub fn update(app: &mut App, action: Action) -> Option<Effect> {
    match action {
        Action::AskPromote(alias) => app.confirm = Some(promote_question(app, alias)),
        Action::AskRollback(alias) => app.confirm = Some(rollback_question(app, alias)),
        Action::AskCancel => {
            if app.screen == Screen::Score {
                return app.score.running.is_some().then_some(Effect::CancelScore);
            }
            // A running run under the cursor first; else the tune or sweep file in progress
            // (a tune's trials are recorded as they end, so none is ever running in the list).
            let run_going = app
                .current()
                .is_some_and(|r| matches!(r.status, RunStatus::Running | RunStatus::Queued));
            if let (false, Some(s)) = (run_going, &app.sweep) {
                app.confirm = Some(sweep_cancel_question(s));
                return None;
            }
            app.confirm = Some(match app.current() {
                Some(run) => cancel_question(run),
                None => Confirm::notice("Nothing to cancel", "there is no run under the cursor"),
            });
        }
        Action::AskDelete => {
            app.confirm = Some(match app.current() {
                Some(run) => delete_question(app, run),
                None => Confirm::notice("Nothing to delete", "there is no run under the cursor"),
            });
        }
        Action::Confirm => {
            let c = app.confirm.take()?;
            let reason = c.reason.clone().filter(|r| !r.trim().is_empty());
            if matches!(c.effect, Some(Effect::Promote { force: true, .. })) && reason.is_none() {
                // An override is never anonymous: the dialog stays until a reason is typed.
                app.confirm = Some(c);
                app.warn("type why the policy is overridden; it is kept in the audit log");
                return None;
            }
            return c.effect.map(|e| match e {
                Effect::Promote {
                    run_id,
                    alias,
                    force,
                    weighed,
                    ..
                } => Effect::Promote {
                    run_id,
                    alias,
                    reason,
                    force,
                    weighed,
                },
                Effect::Rollback { alias, .. } => Effect::Rollback { alias, reason },
                other => other,
            });
        }
        Action::Cancel => app.confirm = None,
        Action::ReasonChar(c) => {
            if let Some(r) = app.confirm.as_mut().and_then(|c| c.reason.as_mut()) {
                if r.chars().count() < MAX_REASON {
                    r.push(c);
                }
            }
        }
        Action::ReasonBackspace => {
            if let Some(r) = app.confirm.as_mut().and_then(|c| c.reason.as_mut()) {
                r.pop();
            }
        }
        Action::ClearText => {
            if let Some(r) = app.confirm.as_mut().and_then(|c| c.reason.as_mut()) {
                r.clear();
            } else if app.list.filtering {
                app.list.filter.clear();
                app.refresh_view();
            } else if app.score.editing {
                app.score.path.clear();
            } else if app.form.is_some() {
                return form_key(app, FormKey::Clear);
            } else if app.prompt.is_some() {
                return prompt_key(app, FormKey::Clear);
            }
        }
        Action::PinBaseline => {
            if app.screen == Screen::Compare {
                // Each press moves the baseline to the next compared run; after the last, none.
                let ids: Vec<&String> = app.compare.runs.iter().map(|c| &c.run.id).collect();
                let next = match app.compare.baseline.as_ref() {
                    None => ids.first().map(|id| (*id).clone()),
                    Some(b) => ids
                        .iter()
                        .position(|id| *id == b)
                        .and_then(|i| ids.get(i + 1))
                        .map(|id| (*id).clone()),
                };
                app.compare.baseline = next;
            } else {
                let id = app.current().map(|r| r.id.clone());
                app.compare.baseline = if app.compare.baseline == id { None } else { id };
            }
        }
        Action::ToggleDiffOnly => app.compare.diff_only = !app.compare.diff_only,
        Action::NextCells => app.compare.cells = app.compare.cells.next(),
        Action::Quit => app.quit = true,
        Action::Down => return moved(app, |c, _| c + 1),
        Action::Up => return moved(app, |c, _| c.saturating_sub(1)),
        Action::Top => return moved(app, |_, _| 0),
        Action::Bottom => return moved(app, |_, last| last),
        Action::ToggleSelect => {
            if let Some(id) = app.current().map(|r| r.id.clone()) {
                if !app.list.selected.remove(&id) {
                    app.list.selected.insert(id);
                }
            }
        }
        Action::NextScreen => {
            app.screen = Screen::ALL[(app.screen.index() + 1) % Screen::ALL.len()];
            return entered(app);
        }
        Action::PrevScreen => {
            let n = Screen::ALL.len();
            app.screen = Screen::ALL[(app.screen.index() + n - 1) % n];
            return entered(app);
        }
        Action::Goto(i) => {
            if let Some(s) = Screen::ALL.get(i) {
                app.screen = *s;
            }
            return entered(app);
        }
        Action::NextSort => {
            let i = SortKey::ALL
                .iter()
                .position(|k| *k == app.list.sort)
                .unwrap_or(0);
            app.list.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
            app.resort();
        }
        Action::ReverseSort => {
            app.list.descending = !app.list.descending;
            app.resort();
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
        Action::ToggleHelp => {
            app.help = !app.help;
            app.help_scroll = 0;
        }
        Action::Open => match app.screen {
            Screen::Runs => {
                let id = app.current()?.id.clone();
                return Some(Effect::LoadDetails { run_id: id });
            }
            Screen::Registry => app.confirm = Some(evidence_notice(app)),
            Screen::Score if app.score.running.is_none() => {
                app.score.running = Some(0.0);
                return Some(Effect::Score {
                    path: score_path(app),
                    log: app.score.log,
                });
            }
            Screen::Monitor => return start_monitor(app),
            Screen::Drift if app.drift.running.is_none() => {
                app.drift.running = Some(format!("drift of {}", app.score.path.trim()));
                return Some(Effect::Drift {
                    current: Some(score_path(app)),
                });
            }
            _ => app.warn("busy: wait for the task to finish"),
        },
        Action::CloseDetails => app.details = None,
        Action::NewRun => {
            app.form = Some(match app.last_form.clone() {
                Some(mut f) => {
                    f.name.clear();
                    f.focus = 0;
                    f.error = None;
                    f
                }
                None => RunForm::new(Family::Gbdt, app.train_file.clone()),
            })
        }
        Action::Form(k) => return form_key(app, k),
        Action::AskTune | Action::AskSweep if app.sweep.is_some() => {
            app.warn("busy: a tune or sweep is running (x stops it)")
        }
        Action::AskTune => app.prompt = Some(Prompt::tune(app.train_file.clone())),
        Action::AskSweep => app.prompt = Some(Prompt::sweep(app.train_file.clone())),
        Action::AskOutcomes if app.monitor.importing => {
            app.warn("busy: the outcomes are being imported")
        }
        Action::AskOutcomes => app.prompt = Some(Prompt::outcomes()),
        Action::Prompt(k) => return prompt_key(app, k),
        Action::ToggleLog => app.score.log = !app.score.log,
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
        Action::MonitorWindow => {
            app.monitor.window = (app.monitor.window + 1) % MONITOR_WINDOWS.len();
            return start_monitor(app);
        }
        Action::Export => return Some(Effect::Export),
        Action::ScrollLeft => app.compare.offset = app.compare.offset.saturating_sub(1),
        Action::ScrollRight => {
            app.compare.offset = (app.compare.offset + 1).min(app.compare.max_offset.get())
        }
        Action::Click(x, y) => {
            if y == 0 {
                if let Some(i) = tab_at(x) {
                    app.screen = Screen::ALL[i];
                    return entered(app);
                }
            } else {
                let (top, first) = app.rows_at.get();
                if y >= top && top > 0 {
                    let i = first + (y - top) as usize;
                    if i < rows(app) {
                        if let Some(c) = cursor_mut(app) {
                            *c = i;
                        }
                        return explain_wanted(app);
                    }
                }
            }
        }
    }
    None
}
