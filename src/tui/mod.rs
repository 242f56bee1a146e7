//! The terminal UI: `App` state (`app.rs`), keys to actions (`keymap.rs`), one view per screen
//! (`views/`), and the event loop here. The terminal is always restored: on quit, on error and
//! on a panic.

pub mod app;
pub mod keymap;
pub mod views;

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind, MouseButton, MouseEventKind};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::config::Config;
use crate::drift::monitor::{Current, MonitorOptions, StoredDrift, WindowSpec};
use crate::score::{ScoreSummary, Stage};
use crate::tracking::{RunStatus, Store};
use app::{update, Action, App, Details, Effect, Registry, Screen};

/// The metrics the runs table, its sorts and the promotion question read; Compare and the
/// details view load a run whole.
pub const LIST_METRICS: &[&str] = &["roc_auc", "pr_auc", "f1", "log_loss", "accuracy"];

/// Every run, with the metrics the lists show.
pub fn list_runs(store: &Store) -> anyhow::Result<Vec<crate::tracking::RunSummary>> {
    Ok(store.list_runs_brief(LIST_METRICS)?)
}

/// Reads the registry for the Registry screen.
pub fn load_registry(store: &Store) -> anyhow::Result<Registry> {
    Ok(Registry {
        versions: store.model_versions()?,
        events: store.alias_events(None, 200)?,
    })
}

use crate::report::curve as parse_curve;

/// Loads the selected runs' curves when the selection changed; runs already loaded are kept.
pub fn load_compare(store: &Store, app: &mut App) -> anyhow::Result<()> {
    let ids: Vec<&String> = app.selected.iter().collect();
    let loaded: Vec<&String> = app.compare.iter().map(|c| &c.run.id).collect();
    if ids == loaded {
        return Ok(());
    }
    let mut have: std::collections::HashMap<String, app::CompareRun> =
        std::mem::take(&mut app.compare)
            .into_iter()
            .map(|c| (c.run.id.clone(), c))
            .collect();
    let mut out = Vec::new();
    for id in app.selected.clone() {
        if let Some(c) = have.remove(&id) {
            out.push(c);
            continue;
        }
        let Ok(run) = store.get_run(&id) else {
            continue;
        };
        let curves = store.curves(&id)?;
        out.push(app::CompareRun {
            run,
            roc: parse_curve(&curves, "roc"),
            confusion: parse_curve(&curves, "confusion"),
        });
    }
    app.compare = out;
    Ok(())
}

/// Everything the store keeps about one run, for the details view.
pub fn load_details(store: &Store, run_id: &str) -> anyhow::Result<Details> {
    let run = store.get_run(run_id)?;
    let curves = store.curves(run_id)?;
    let mut history = Vec::new();
    for key in run.metrics.keys() {
        let h = store.metric_history(run_id, key)?;
        if h.len() > 1 {
            history.push((key.clone(), h));
        }
    }
    Ok(Details {
        roc: parse_curve(&curves, "roc"),
        confusion: parse_curve(&curves, "confusion"),
        confusion_best: parse_curve(&curves, "confusion_best"),
        importance: parse_curve(&curves, "importance"),
        artifacts: store.artifacts(run_id)?,
        history,
        scroll: 0,
        run: Some(run),
    })
}

/// What background tasks send back to the event loop.
pub enum TaskMsg {
    /// A training event, with the cancel flag of the batch it belongs to.
    Train(crate::train::Event, Arc<AtomicBool>),
    /// Runs finished, and what an automatic sync push said.
    TrainEnded(Result<(usize, Option<String>), String>),
    Score(Stage),
    Scored(Result<ScoreSummary, String>),
    Drifted(Result<(StoredDrift, i64), String>),
    Exported(Result<Vec<PathBuf>, String>),
}

/// The background tasks: training batches, scoring, drift and exports run on their own threads
/// (CPU-bound work must not hold the event loop) and report over one channel.
pub struct Tasks {
    cfg: Config,
    tx: Sender<TaskMsg>,
    pub rx: Receiver<TaskMsg>,
    /// Cancel flags of the runs this process trains.
    cancels: HashMap<String, Arc<AtomicBool>>,
    score_cancel: Option<Arc<AtomicBool>>,
    /// Training batches still going.
    pub training: usize,
}

impl Tasks {
    pub fn new(cfg: &Config) -> Tasks {
        let (tx, rx) = channel();
        Tasks {
            cfg: cfg.clone(),
            tx,
            rx,
            cancels: HashMap::new(),
            score_cancel: None,
            training: 0,
        }
    }

    pub fn busy(&self) -> bool {
        self.training > 0 || self.score_cancel.is_some()
    }

    fn train(&mut self, job: app::Job) {
        let app::Job {
            data,
            name,
            params,
            seed,
            valid_fraction,
        } = job;
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        let cancel = Arc::new(AtomicBool::new(false));
        self.training += 1;
        std::thread::spawn(move || {
            let res = (|| -> anyhow::Result<(usize, Option<String>)> {
                let mut store = Store::open(&cfg.db_path)?;
                let data = if data.is_relative() && !data.exists() {
                    cfg.workspace.join(data)
                } else {
                    data
                };
                let prepared = crate::train::prepare(&data, seed, valid_fraction)?;
                let (etx, erx) = channel();
                let forward = {
                    let (tx, cancel) = (tx.clone(), cancel.clone());
                    std::thread::spawn(move || {
                        for ev in erx {
                            let _ = tx.send(TaskMsg::Train(ev, cancel.clone()));
                        }
                    })
                };
                let job = crate::train::Job { name, params };
                let out = crate::train::run_jobs(
                    &mut store,
                    &cfg.artifacts_dir,
                    &prepared,
                    &[job],
                    &etx,
                    &cancel,
                );
                drop(etx);
                let _ = forward.join();
                let out = out?;
                let ids: Vec<String> = out.iter().map(|o| o.run_id.clone()).collect();
                let synced = if ids.is_empty() {
                    None
                } else {
                    crate::sync::auto_push(&cfg, &ids)
                };
                Ok((out.len(), synced))
            })();
            let _ = tx.send(TaskMsg::TrainEnded(res.map_err(|e| format!("{e:#}"))));
        });
    }

    fn score(&mut self, path: PathBuf) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        let cancel = Arc::new(AtomicBool::new(false));
        self.score_cancel = Some(cancel.clone());
        std::thread::spawn(move || {
            let progress = |s: Stage| {
                let _ = tx.send(TaskMsg::Score(s));
            };
            let res =
                crate::score::score_file(&cfg, &path, None, "production", 0.5, &progress, &cancel);
            let _ = tx.send(TaskMsg::Scored(res.map_err(|e| format!("{e:#}"))));
        });
    }

    fn drift(&self, current: Option<PathBuf>) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(move || {
            // A file given: that file; none: the last day of the server's log, hour by hour.
            let opts = MonitorOptions {
                alias: "production".into(),
                reference: None,
                current: match current {
                    Some(path) => Current::File(path),
                    None => Current::Log {
                        window: WindowSpec::Time(3_600_000),
                        since_ms: crate::util::now_ms() - 86_400_000,
                        label: "1h".into(),
                    },
                },
                drift: crate::drift::Options {
                    share: Some(crate::drift::DEFAULT_SHARE),
                    ..Default::default()
                },
            };
            let res = crate::drift::monitor::monitor(&cfg, &opts);
            let _ = tx.send(TaskMsg::Drifted(res.map_err(|e| format!("{e:#}"))));
        });
    }

    /// Writes the charts of what `app` shows, in the workspace's reports/ folder.
    fn export(&self, app: &App) -> Result<(), String> {
        enum What {
            Runs(Vec<crate::tracking::RunSummary>),
            Score(ScoreSummary),
            Drift(StoredDrift),
        }
        let finished = |r: &&crate::tracking::RunSummary| r.status == RunStatus::Finished;
        let what = if let Some(r) = app.details.as_ref().and_then(|d| d.run.clone()) {
            What::Runs(vec![r])
        } else {
            match app.screen {
                Screen::Runs | Screen::Compare => {
                    let picked: Vec<_> = if app.selected.is_empty() {
                        app.current()
                            .into_iter()
                            .filter(finished)
                            .cloned()
                            .collect()
                    } else {
                        app.runs
                            .iter()
                            .filter(|r| app.selected.contains(&r.id))
                            .filter(finished)
                            .cloned()
                            .collect()
                    };
                    What::Runs(picked)
                }
                Screen::Registry => What::Runs(
                    app.registry
                        .versions
                        .iter()
                        .filter(|v| !v.aliases.is_empty())
                        .filter_map(|v| app.runs.iter().find(|r| r.id == v.run_id))
                        .filter(finished)
                        .cloned()
                        .collect(),
                ),
                Screen::Score => What::Score(
                    app.score
                        .last
                        .clone()
                        .ok_or("nothing scored yet: Enter scores the file")?,
                ),
                Screen::Drift => What::Drift(
                    app.drift
                        .report
                        .as_ref()
                        .map(|(_, d)| d.clone())
                        .ok_or("no drift report yet: Enter computes one")?,
                ),
            }
        };
        if let What::Runs(r) = &what {
            if r.is_empty() {
                return Err("no finished run to chart: select runs with Space".into());
            }
        }
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(move || {
            let dir = cfg.workspace.join("reports");
            let res = (|| -> anyhow::Result<Vec<PathBuf>> {
                match what {
                    What::Runs(runs) => {
                        let store = Store::open(&cfg.db_path)?;
                        let runs = runs
                            .iter()
                            .map(|r| store.get_run(&r.id))
                            .collect::<Result<Vec<_>, _>>()?;
                        let charts = crate::report::run_charts(&store, &runs)?;
                        crate::report::render_runs(&charts, &dir)
                    }
                    What::Score(s) => Ok(vec![crate::report::render_score(&s, &dir)?]),
                    What::Drift(d) => crate::report::render_drift(&d, &dir),
                }
            })();
            let _ = tx.send(TaskMsg::Exported(res.map_err(|e| format!("{e:#}"))));
        });
        Ok(())
    }
}

/// Does what `update` asked for: store writes here, long work on a background task.
pub fn apply(
    store: &mut Store,
    app: &mut App,
    tasks: &mut Tasks,
    effect: Effect,
) -> anyhow::Result<()> {
    let actor = || {
        format!(
            "tui:{}",
            crate::tracking::registry::actor().trim_start_matches("cli:")
        )
    };
    match effect {
        Effect::Promote { run_id, alias } => {
            match store.promote_run(&run_id, alias, &actor(), None) {
                Ok(m) if m.changed => app.say(format!(
                    "{alias}: {} → version {}",
                    m.from_version
                        .map_or("none".into(), |v| format!("version {v}")),
                    m.to_version
                )),
                Ok(m) => app.say(format!("{alias} already serves version {}", m.to_version)),
                Err(e) => app.warn(format!("not promoted: {e}")),
            }
            app.registry = load_registry(store)?;
        }
        Effect::Rollback { alias } => {
            match store.rollback_alias(alias, &actor(), Some("rolled back from the TUI")) {
                Ok(m) => app.say(format!(
                    "{alias} rolled back: version {} → {}",
                    m.from_version.map_or("none".into(), |v| v.to_string()),
                    m.to_version
                )),
                Err(e) => app.warn(format!("not rolled back: {e}")),
            }
            app.registry = load_registry(store)?;
        }
        Effect::Delete { run_id } => match store.delete_run(&run_id) {
            Ok(files) => {
                for f in &files {
                    let _ = std::fs::remove_file(f);
                }
                app.selected.remove(&run_id);
                app.set_runs(list_runs(store)?, crate::util::now_ms());
                app.say(format!(
                    "deleted run …{} and {} file(s)",
                    crate::util::short_id(&run_id, 6),
                    files.len()
                ));
            }
            Err(e) => app.warn(e.to_string()),
        },
        Effect::Cancel { run_id } => match tasks.cancels.get(&run_id) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                app.say("cancelling: the run stops at its next step");
            }
            None => app.warn(
                "that run was started by another process; stop it there (Ctrl-C in its terminal)",
            ),
        },
        Effect::Train(job) => {
            app.say(format!(
                "preparing {} for {} ({})…",
                job.data.display(),
                job.name,
                job.params.family
            ));
            tasks.train(job);
        }
        Effect::LoadDetails { run_id } => match load_details(store, &run_id) {
            Ok(d) => app.details = Some(d),
            Err(e) => app.warn(format!("{e:#}")),
        },
        Effect::Score { path } => {
            if tasks.score_cancel.is_some() {
                app.warn("already scoring");
            } else {
                tasks.score(path);
            }
        }
        Effect::CancelScore => {
            if let Some(c) = &tasks.score_cancel {
                c.store(true, Ordering::Relaxed);
            }
        }
        Effect::Drift { current } => tasks.drift(current),
        Effect::Export => match tasks.export(app) {
            Ok(()) => app.say("exporting charts…"),
            Err(e) => app.warn(e),
        },
    }
    Ok(())
}

/// Applies what a background task reported. Returns whether the store changed.
pub fn on_task(app: &mut App, tasks: &mut Tasks, msg: TaskMsg) -> bool {
    use crate::train::Event as E;
    match msg {
        TaskMsg::Train(ev, cancel) => match ev {
            E::Queued { run_id, .. } => {
                tasks.cancels.insert(run_id, cancel);
                return true;
            }
            E::Started { .. } => return true,
            E::Progress { run_id, progress } => {
                app.live.insert(run_id, progress);
            }
            E::Finished { run_id, result } => {
                app.live.remove(&run_id);
                tasks.cancels.remove(&run_id);
                app.say(format!(
                    "{} finished: ROC AUC {:.4} in {:.1} s",
                    result.name, result.evaluation.roc_auc, result.fit_seconds
                ));
                return true;
            }
            E::Failed { run_id, reason } => {
                app.live.remove(&run_id);
                tasks.cancels.remove(&run_id);
                app.warn(format!("run failed: {reason}"));
                return true;
            }
            E::Cancelled { run_id } => {
                app.live.remove(&run_id);
                tasks.cancels.remove(&run_id);
                app.say("run cancelled");
                return true;
            }
        },
        TaskMsg::TrainEnded(res) => {
            tasks.training = tasks.training.saturating_sub(1);
            match res {
                Err(e) => app.warn(format!("training did not start: {e}")),
                Ok((_, Some(sync))) if sync.contains("stay safe") => app.warn(sync),
                Ok((_, Some(sync))) => app.say(sync),
                Ok((_, None)) => {}
            }
            return true;
        }
        TaskMsg::Score(stage) => app.score.running = Some(stage.ratio()),
        TaskMsg::Scored(res) => {
            tasks.score_cancel = None;
            app.score.running = None;
            match res {
                Ok(s) => {
                    app.say(format!(
                        "scored {} rows; predictions in {}",
                        crate::util::thousands(s.rows),
                        s.output.display()
                    ));
                    app.score.last = Some(s);
                }
                Err(e) => app.warn(e),
            }
        }
        TaskMsg::Drifted(res) => {
            app.drift.running = None;
            match res {
                Ok((d, id)) => {
                    app.say(format!(
                        "drift report {id}: {} of {} columns drifted",
                        d.report.drifted,
                        d.report.columns.len()
                    ));
                    app.drift.cursor = app
                        .drift
                        .cursor
                        .min(d.report.columns.len().saturating_sub(1));
                    app.drift.report = Some((id, d));
                }
                Err(e) => app.warn(e),
            }
        }
        TaskMsg::Exported(res) => match res {
            Ok(files) => {
                let dir = files
                    .first()
                    .and_then(|f| f.parent())
                    .map_or(String::new(), |d| d.display().to_string());
                app.say(format!("wrote {} PNG file(s) to {dir}", files.len()));
            }
            Err(e) => app.warn(format!("export failed: {e}")),
        },
    }
    false
}

/// Opens the store and builds the first state: runs, registry, the latest drift report.
pub fn open(cfg: &Config) -> anyhow::Result<(Store, App)> {
    let mut store = Store::open(&cfg.db_path)?;
    store.recover_interrupted()?;
    let mut app = App::new(list_runs(&store)?, crate::util::now_ms());
    app.registry = load_registry(&store)?;
    app.train_file = cfg.train_file().display().to_string();
    app.score.path = cfg.test_file().display().to_string();
    if let Some(row) = store.drift_report(None)? {
        if let Ok(d) = serde_json::from_str::<StoredDrift>(&row.report) {
            app.drift.report = Some((row.id, d));
        }
    }
    Ok((store, app))
}

/// How long a status message stays.
const MESSAGE_FOR: Duration = Duration::from_secs(8);

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        LeaveAlternateScreen,
        crossterm::event::DisableMouseCapture,
        crossterm::cursor::Show
    );
}

/// Runs the UI until `q`.
pub fn run(cfg: &Config) -> anyhow::Result<i32> {
    let (mut store, mut app) = open(cfg)?;
    let mut tasks = Tasks::new(cfg);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        crossterm::event::EnableMouseCapture
    )?;
    let res = (|| -> anyhow::Result<()> {
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        let mut version = store.data_version()?;
        let mut message: Option<(app::Message, Instant)> = None;
        // Lets the end-to-end test check that a panic gives the terminal back.
        // Debug builds only: a release binary never panics on an environment variable.
        let panic_after_draw =
            cfg!(debug_assertions) && std::env::var_os("STAYTRACK_TEST_PANIC").is_some();
        while !app.quit {
            app.now = crate::util::now_ms();
            terminal.draw(|f| views::draw(f, &app))?;
            if panic_after_draw {
                panic!("STAYTRACK_TEST_PANIC is set");
            }
            let wait = if tasks.busy() { 50 } else { 250 };
            let mut changed = false;
            if event::poll(Duration::from_millis(wait))? {
                let action = match event::read()? {
                    Event::Key(k) if k.kind == KeyEventKind::Press => keymap::action(&app, k),
                    Event::Mouse(m) => match m.kind {
                        MouseEventKind::ScrollDown => Some(Action::Down),
                        MouseEventKind::ScrollUp => Some(Action::Up),
                        MouseEventKind::Down(MouseButton::Left) => {
                            Some(Action::Click(m.column, m.row))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                if let Some(a) = action {
                    if let Some(effect) = update(&mut app, a) {
                        apply(&mut store, &mut app, &mut tasks, effect)?;
                    }
                    load_compare(&store, &mut app)?;
                }
            }
            while let Ok(msg) = tasks.rx.try_recv() {
                changed |= on_task(&mut app, &mut tasks, msg);
            }
            let now_version = store.data_version()?;
            // Another connection's commit (a training thread, another process) changes
            // data_version; running durations move with `app.now` alone, so nothing else reloads.
            if changed || now_version != version {
                version = now_version;
                app.set_runs(list_runs(&store)?, crate::util::now_ms());
                app.registry = load_registry(&store)?;
            }
            match (&app.message, &message) {
                (Some(m), Some((old, at))) if m == old => {
                    if at.elapsed() >= MESSAGE_FOR {
                        app.message = None;
                        message = None;
                    }
                }
                (Some(m), _) => message = Some((m.clone(), Instant::now())),
                (None, _) => message = None,
            }
        }
        Ok(())
    })();
    restore();
    res?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::app::{update, Action, App, Effect, FormKey, Screen, SortKey};
    use super::views;
    use crate::models::Family;
    use crate::tracking::{NewRun, RunRecord, RunStatus, Store};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    /// A store with three finished runs and one failed run.
    fn seeded() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("staytrack.db")).unwrap();
        for (name, family, auc) in [
            ("lr", "lr", 0.759),
            ("tree", "tree", 0.791),
            ("gbdt", "gbdt", 0.853),
        ] {
            let id = store
                .create_run(&NewRun {
                    name: name.into(),
                    family: family.into(),
                    ..Default::default()
                })
                .unwrap();
            store.set_status(&id, RunStatus::Running, None).unwrap();
            let rec = RunRecord {
                metrics: vec![("roc_auc".into(), 0, auc), ("f1".into(), 0, auc - 0.1)],
                artifacts: vec![crate::tracking::ArtifactRow {
                    name: "bundle".into(),
                    path: format!("artifacts/{name}.bundle"),
                    sha256: format!("{name:0>64}"),
                    bytes: 1,
                }],
                ..Default::default()
            };
            store.finish_run(&id, &rec).unwrap();
        }
        let id = store
            .create_run(&NewRun {
                name: "broken".into(),
                family: "forest".into(),
                ..Default::default()
            })
            .unwrap();
        store
            .set_status(&id, RunStatus::Failed, Some("out of memory"))
            .unwrap();
        (dir, store)
    }

    fn cfg_for(dir: &tempfile::TempDir) -> crate::config::Config {
        crate::config::Config::resolve(Some(dir.path()))
    }

    /// The frame's text at `cols`×`rows`, one line per row.
    fn render(app: &App, cols: u16, rows: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(cols, rows)).unwrap();
        t.draw(|f| views::draw(f, app)).unwrap();
        let buf = t.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    fn screen(app: &App) -> String {
        render(app, 120, 16)
    }

    #[test]
    fn the_runs_screen_lists_every_run_and_sorts_and_filters() {
        let (_d, store) = seeded();
        let mut app = App::new(store.list_runs().unwrap(), crate::util::now_ms());
        let s = screen(&app);
        for want in [
            "1 Runs",
            "2 Compare",
            "NAME",
            "ROC AUC",
            "gbdt",
            "0.8530",
            "broken",
            "failed",
            "4 of 4 runs",
        ] {
            assert!(s.contains(want), "{want} missing:\n{s}");
        }
        // Sort by ROC AUC, best first: gbdt above tree above lr.
        while app.sort != SortKey::RocAuc {
            update(&mut app, Action::NextSort);
        }
        let s = screen(&app);
        assert!(s.contains("ROC AUC▼"), "the sorted column is marked:\n{s}");
        let pos = |n: &str| s.find(&format!("│ {n} ")).or_else(|| s.find(n)).unwrap();
        assert!(pos("gbdt") < pos("tree") && pos("tree") < pos("lr "), "{s}");
        // Filter.
        update(&mut app, Action::StartFilter);
        for c in "tre".chars() {
            update(&mut app, Action::FilterChar(c));
        }
        let s = screen(&app);
        assert!(
            s.contains("1 of 4 runs") || s.contains("filter: tre"),
            "{s}"
        );
        assert_eq!(app.view.len(), 1);
        update(&mut app, Action::FilterCancel);
        assert_eq!(app.view.len(), 4);
        // Select two runs for Compare.
        update(&mut app, Action::ToggleSelect);
        update(&mut app, Action::Down);
        update(&mut app, Action::ToggleSelect);
        assert_eq!(app.selected.len(), 2);
        assert!(screen(&app).contains("2 selected"));
    }

    #[test]
    fn promoting_from_the_runs_screen_asks_then_moves_the_alias() {
        let (_d, mut store) = seeded();
        let mut app = App::new(store.list_runs().unwrap(), 0);
        app.registry = super::load_registry(&store).unwrap();
        while app.current().map(|r| r.name.as_str()) != Some("lr") {
            update(&mut app, Action::Down);
        }
        assert!(update(&mut app, Action::AskPromote("production")).is_none());
        let s = screen(&app);
        assert!(s.contains("Promote lr (lr) to production?"), "{s}");
        assert!(s.contains("nothing is on production yet"), "{s}");
        let effect = update(&mut app, Action::Confirm).expect("an effect");
        let mut tasks = super::Tasks::new(&cfg_for(&_d));
        super::apply(&mut store, &mut app, &mut tasks, effect).unwrap();
        assert_eq!(
            store.alias_target("production").unwrap().unwrap().version,
            1
        );
        // The next promotion shows deltas against lr.
        update(&mut app, Action::Top);
        while app.current().map(|r| r.name.as_str()) != Some("gbdt") {
            update(&mut app, Action::Down);
        }
        update(&mut app, Action::AskPromote("production"));
        let s = screen(&app);
        assert!(s.contains("ROC AUC   0.8530  (+0.0940)"), "{s}");
        update(&mut app, Action::Cancel);
        assert!(app.confirm.is_none());
        assert_eq!(
            store.alias_target("production").unwrap().unwrap().version,
            1
        );
        update(&mut app, Action::Goto(2));
        let s = screen(&app);
        assert!(s.contains("production") && s.contains("none → 1"), "{s}");
    }

    #[test]
    fn compare_shows_the_selected_runs_side_by_side_with_the_best_marked() {
        let (_d, store) = seeded();
        let mut app = App::new(store.list_runs().unwrap(), 0);
        for name in ["lr", "gbdt"] {
            update(&mut app, Action::Top);
            while app.current().map(|r| r.name.as_str()) != Some(name) {
                update(&mut app, Action::Down);
            }
            update(&mut app, Action::ToggleSelect);
        }
        super::load_compare(&store, &mut app).unwrap();
        assert_eq!(app.compare.len(), 2);
        update(&mut app, Action::Goto(1));
        let s = screen(&app);
        assert!(
            s.contains("roc_auc") && s.contains("0.8530 *") && s.contains("0.7590"),
            "{s}"
        );
        // The best value is green as well as starred.
        let mut t = Terminal::new(TestBackend::new(120, 16)).unwrap();
        t.draw(|f| views::draw(f, &app)).unwrap();
        let buf = t.backend().buffer().clone();
        let cells: Vec<_> = buf.content().iter().collect();
        let text: String = cells.iter().map(|c| c.symbol()).collect();
        let at = text.find("0.8530 *").unwrap();
        let idx = text[..at].chars().count();
        assert_eq!(cells[idx].fg, ratatui::style::Color::Green);
        let worse = text[..text.find("0.7590").unwrap()].chars().count();
        assert_ne!(cells[worse].fg, ratatui::style::Color::Green);
        update(&mut app, Action::PinBaseline);
        let s = screen(&app);
        assert!(s.contains("lr (base)") || s.contains("gbdt (base)"), "{s}");
        assert!(s.contains("+0.0940") || s.contains("-0.0940"), "{s}");
    }

    fn big_screen(app: &App) -> String {
        render(app, 200, 60)
    }

    fn goto(app: &mut App, name: &str) {
        update(app, Action::Top);
        while app.current().map(|r| r.name.as_str()) != Some(name) {
            update(app, Action::Down);
        }
    }

    #[test]
    fn help_lists_every_key_and_screens_cycle() {
        let (_d, store) = seeded();
        let mut app = App::new(store.list_runs().unwrap(), 0);
        update(&mut app, Action::ToggleHelp);
        let s = big_screen(&app);
        assert!(s.contains("Keys (? closes)"), "{s}");
        for k in super::keymap::KEYS {
            let head: String = k.help.chars().take(24).collect();
            assert!(s.contains(&head), "help lacks '{}':\n{s}", k.help);
        }
        // Keys go through the same table: q quits only when no dialog is open.
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(
            super::keymap::action(&app, key('q')),
            Some(Action::ToggleHelp)
        );
        update(&mut app, Action::ToggleHelp);
        assert_eq!(super::keymap::action(&app, key('q')), Some(Action::Quit));
        assert_eq!(
            super::keymap::action(&app, key('d')),
            Some(Action::AskDelete)
        );
        app.screen = Screen::Compare;
        assert_eq!(
            super::keymap::action(&app, key('d')),
            Some(Action::ToggleDiffOnly)
        );
        // Open modes take every key: the form types, a confirmation knows y and n only.
        update(&mut app, Action::NewRun);
        assert_eq!(
            super::keymap::action(&app, key('q')),
            Some(Action::Form(FormKey::Char('q')))
        );
        update(&mut app, Action::Form(FormKey::Cancel));
        app.screen = Screen::Runs;
        update(&mut app, Action::AskDelete);
        assert_eq!(super::keymap::action(&app, key('y')), Some(Action::Confirm));
        assert_eq!(super::keymap::action(&app, key('j')), None);
        update(&mut app, Action::Cancel);
        app.screen = Screen::Runs;
        update(&mut app, Action::NextScreen);
        assert_eq!(app.screen, Screen::Compare);
        update(&mut app, Action::PrevScreen);
        update(&mut app, Action::PrevScreen);
        assert_eq!(app.screen, Screen::Drift);
        update(&mut app, Action::Goto(0));
        assert_eq!(app.screen, Screen::Runs);
        // Clicks: a tab switches screens, a row moves the cursor.
        let _ = screen(&app);
        update(&mut app, Action::Click(2, 4));
        assert_eq!(app.cursor, 1, "the second row of the table");
        let x = " 1 Runs │ 2 Compare │ ".chars().count() as u16 + 2;
        update(&mut app, Action::Click(x, 0));
        assert_eq!(app.screen, Screen::Registry);
    }

    #[test]
    fn registry_moves_aliases_and_rolls_back_after_asking() {
        let (d, mut store) = seeded();
        let mut tasks = super::Tasks::new(&cfg_for(&d));
        let mut app = App::new(store.list_runs().unwrap(), 0);
        for name in ["lr", "gbdt"] {
            goto(&mut app, name);
            update(&mut app, Action::AskPromote("production"));
            let e = update(&mut app, Action::Confirm).unwrap();
            super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
        }
        update(&mut app, Action::Goto(2));
        // Versions are listed newest first: the cursor's version goes to staging.
        let first = app.registry.versions[0].version;
        update(&mut app, Action::AskPromote("staging"));
        let e = update(&mut app, Action::Confirm).unwrap();
        super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
        assert_eq!(store.alias_version("staging").unwrap(), Some(first));
        update(&mut app, Action::AskRollback("production"));
        let s = screen(&app);
        assert!(
            s.contains("Roll production back?") && s.contains("version 2 → version 1"),
            "{s}"
        );
        let e = update(&mut app, Action::Confirm).unwrap();
        super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
        assert_eq!(store.alias_version("production").unwrap(), Some(1));
        let s = big_screen(&app);
        assert!(s.contains("production rolled back: version 2 → 1"), "{s}");
        assert!(
            s.contains("rolled back from the TUI"),
            "the audit log shows the reason:\n{s}"
        );
        // An alias that never moved has nothing to roll back: a warning, no question.
        update(&mut app, Action::AskRollback("canary"));
        assert!(app.confirm.is_none());
        assert!(app.message.as_ref().unwrap().error);
    }

    #[test]
    fn deleting_asks_first_and_keeps_registered_and_running_runs() {
        let (d, mut store) = seeded();
        let mut tasks = super::Tasks::new(&cfg_for(&d));
        let mut app = App::new(store.list_runs().unwrap(), 0);
        goto(&mut app, "lr");
        update(&mut app, Action::AskPromote("production"));
        let e = update(&mut app, Action::Confirm).unwrap();
        super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
        // Registered: refused before any question.
        update(&mut app, Action::AskDelete);
        assert!(app.confirm.is_none());
        assert!(app
            .message
            .as_ref()
            .unwrap()
            .text
            .contains("model version 1"));
        // The store refuses it too, whatever the UI says.
        let lr = app.current().unwrap().id.clone();
        assert!(store.delete_run(&lr).is_err());
        goto(&mut app, "broken");
        update(&mut app, Action::AskDelete);
        assert!(screen(&app).contains("Delete broken (forest)?"));
        update(&mut app, Action::Cancel);
        assert_eq!(store.count_runs().unwrap(), 4);
        update(&mut app, Action::AskDelete);
        let e = update(&mut app, Action::Confirm).unwrap();
        super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
        assert_eq!(store.count_runs().unwrap(), 3);
        assert!(!screen(&app).contains("broken"));
        // A running run can be cancelled (asks), not deleted.
        let id = store
            .create_run(&NewRun {
                name: "busy".into(),
                family: "gbdt".into(),
                ..Default::default()
            })
            .unwrap();
        store.set_status(&id, RunStatus::Running, None).unwrap();
        app.set_runs(store.list_runs().unwrap(), 0);
        goto(&mut app, "busy");
        update(&mut app, Action::AskDelete);
        assert!(app.confirm.is_none());
        update(&mut app, Action::AskCancel);
        assert!(screen(&app).contains("Cancel busy (gbdt)?"));
        let e = update(&mut app, Action::Confirm).unwrap();
        super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
        assert!(
            app.message
                .as_ref()
                .unwrap()
                .text
                .contains("another process"),
            "a run this process does not train is not ours to cancel"
        );
    }

    #[test]
    fn details_show_params_metrics_and_the_artifact() {
        let (d, mut store) = seeded();
        let mut tasks = super::Tasks::new(&cfg_for(&d));
        let mut app = App::new(store.list_runs().unwrap(), 0);
        goto(&mut app, "gbdt");
        let e = update(&mut app, Action::Open).unwrap();
        super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
        let s = big_screen(&app);
        for want in [
            "gbdt (gbdt)",
            "status   finished",
            "roc_auc",
            "0.853000",
            "artifacts/gbdt.bundle",
            "ROC curve",
            "Top features",
        ] {
            assert!(s.contains(want), "{want} missing:\n{s}");
        }
        update(&mut app, Action::CloseDetails);
        assert!(app.details.is_none());
    }

    #[test]
    fn the_new_run_form_validates_and_starts_a_run() {
        let (_d, store) = seeded();
        let mut app = App::new(store.list_runs().unwrap(), 0);
        update(&mut app, Action::NewRun);
        let s = big_screen(&app);
        assert!(
            s.contains("New run") && s.contains("◀ gbdt ▶") && s.contains("learning_rate"),
            "{s}"
        );
        update(&mut app, Action::Form(FormKey::Right));
        assert_eq!(app.form.as_ref().unwrap().family, Family::Lr);
        assert!(big_screen(&app).contains("max_iter"));
        // Type a name, then a bad value for the first param.
        update(&mut app, Action::Form(FormKey::Next));
        for c in "mine".chars() {
            update(&mut app, Action::Form(FormKey::Char(c)));
        }
        for _ in 0..2 {
            update(&mut app, Action::Form(FormKey::Next));
        }
        // The seed: a bad one is refused, then restored.
        update(&mut app, Action::Form(FormKey::Char('x')));
        assert!(update(&mut app, Action::Form(FormKey::Submit)).is_none());
        assert!(big_screen(&app).contains("seed '42x'"));
        update(&mut app, Action::Form(FormKey::Backspace));
        update(&mut app, Action::Form(FormKey::Next));
        update(&mut app, Action::Form(FormKey::Next));
        let key = app.form.as_ref().unwrap().params[0].0.clone();
        for _ in 0..10 {
            update(&mut app, Action::Form(FormKey::Backspace));
        }
        update(&mut app, Action::Form(FormKey::Char('x')));
        assert!(update(&mut app, Action::Form(FormKey::Submit)).is_none());
        let s = big_screen(&app);
        assert!(s.contains(&format!("parameter '{key}'")), "{s}");
        update(&mut app, Action::Form(FormKey::Backspace));
        update(&mut app, Action::Form(FormKey::Char('2')));
        match update(&mut app, Action::Form(FormKey::Submit)) {
            Some(Effect::Train(job)) => {
                assert_eq!(job.name, "mine");
                assert_eq!(job.params.family, Family::Lr);
                assert_eq!(job.params.get(&key), 2.0);
                assert_eq!(job.data, std::path::PathBuf::from("data/train_data.csv"));
                assert_eq!((job.seed, job.valid_fraction), (42, 0.2));
            }
            other => panic!("{other:?}"),
        }
        assert!(app.form.is_none());
    }

    /// Waits for the next message of a background task.
    fn next_task(tasks: &super::Tasks) -> super::TaskMsg {
        tasks
            .rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a background task reports within a minute")
    }

    #[test]
    fn a_run_that_cannot_start_says_why_and_records_nothing() {
        let (d, mut store) = seeded();
        let mut tasks = super::Tasks::new(&cfg_for(&d));
        let mut app = App::new(store.list_runs().unwrap(), 0);
        update(&mut app, Action::NewRun);
        let form = app.form.as_mut().unwrap();
        form.data = d.path().join("missing.csv").display().to_string();
        let e = update(&mut app, Action::Form(FormKey::Submit)).unwrap();
        super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
        assert!(tasks.busy());
        let msg = next_task(&tasks);
        super::on_task(&mut app, &mut tasks, msg);
        assert!(!tasks.busy());
        let m = app.message.clone().unwrap();
        assert!(m.error && m.text.contains("missing.csv"), "{m:?}");
        assert_eq!(store.count_runs().unwrap(), 4);
    }

    #[test]
    fn a_run_trains_in_the_background_with_progress_and_an_unreachable_bucket_is_said() {
        let d = tempfile::tempdir().unwrap();
        let cfg = cfg_for(&d);
        crate::data::synth::write_files(
            &crate::data::synth::SynthOptions {
                train_rows: 2000,
                test_rows: 10,
                ..Default::default()
            },
            &cfg.data_dir,
        )
        .unwrap();
        // Automatic push to a bucket nobody serves: the run must finish anyway, and say so.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        std::fs::write(
            cfg.settings_file(),
            format!("[sync]\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\nauto = true\n"),
        )
        .unwrap();
        let mut store = Store::open(&cfg.db_path).unwrap();
        let mut tasks = super::Tasks::new(&cfg);
        let mut app = App::new(Vec::new(), 0);
        app.train_file = cfg.train_file().display().to_string();
        update(&mut app, Action::NewRun);
        update(&mut app, Action::Form(FormKey::Right));
        let e = update(&mut app, Action::Form(FormKey::Submit)).unwrap();
        super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
        let (mut progress, mut changed) = (0, false);
        while tasks.busy() {
            let msg = next_task(&tasks);
            if let super::TaskMsg::Train(crate::train::Event::Progress { .. }, _) = &msg {
                progress += 1;
            }
            changed |= super::on_task(&mut app, &mut tasks, msg);
        }
        assert!(changed && progress > 0, "progress events: {progress}");
        let runs = store.list_runs().unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, RunStatus::Finished);
        assert_eq!(runs[0].family, "lr");
        let m = app.message.clone().unwrap();
        assert!(m.error && m.text.contains("stay safe"), "{m:?}");
    }

    #[test]
    fn export_writes_the_screen_s_charts_and_says_where() {
        let (d, mut store) = seeded();
        let mut tasks = super::Tasks::new(&cfg_for(&d));
        let mut app = App::new(store.list_runs().unwrap(), 0);
        app.screen = Screen::Score;
        // Nothing to export yet: said at once, no task.
        super::apply(&mut store, &mut app, &mut tasks, Effect::Export).unwrap();
        assert!(app
            .message
            .as_ref()
            .unwrap()
            .text
            .contains("nothing scored yet"));
        app.score.last = Some(crate::score::ScoreSummary {
            input: "data/test_data.csv".into(),
            output: "predictions/test_data.v1.csv".into(),
            alias: "production".into(),
            model_version: 1,
            run_id: "r".into(),
            rows: 100,
            threshold: 0.5,
            positives: 40,
            positive_share: 0.4,
            mean_probability: 0.45,
            histogram: vec![5, 10, 10, 10, 15, 10, 10, 10, 10, 10],
            roc_auc: None,
            accuracy: None,
            seconds: 0.1,
        });
        super::apply(&mut store, &mut app, &mut tasks, Effect::Export).unwrap();
        let msg = next_task(&tasks);
        super::on_task(&mut app, &mut tasks, msg);
        let png = d.path().join("reports/score-test_data.v1.png");
        let text = &app.message.as_ref().unwrap().text;
        assert!(
            text.contains("wrote 1 PNG file(s)") && text.contains("reports"),
            "{text}"
        );
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }

    #[test]
    fn the_score_screen_shows_progress_then_the_summary() {
        let (_d, store) = seeded();
        let mut app = App::new(store.list_runs().unwrap(), 0);
        app.screen = Screen::Score;
        app.score.path = "data/test_data.csv".into();
        assert!(big_screen(&app).contains("not scored yet"));
        assert!(matches!(
            update(&mut app, Action::Open),
            Some(Effect::Score { .. })
        ));
        app.score.running = Some(
            crate::score::Stage::Scoring {
                done: 50,
                total: 100,
            }
            .ratio(),
        );
        assert!(
            big_screen(&app).contains("scoring… 52 %"),
            "{}",
            big_screen(&app)
        );
        assert_eq!(
            update(&mut app, Action::AskCancel),
            Some(Effect::CancelScore)
        );
        app.score.running = None;
        app.score.last = Some(crate::score::ScoreSummary {
            input: "data/test_data.csv".into(),
            output: "predictions/test_data.v3.csv".into(),
            alias: "production".into(),
            model_version: 3,
            run_id: "r".into(),
            rows: 137_057,
            threshold: 0.5,
            positives: 55_000,
            positive_share: 55_000.0 / 137_057.0,
            mean_probability: 0.41,
            histogram: vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
            roc_auc: None,
            accuracy: None,
            seconds: 0.4,
        });
        let s = big_screen(&app);
        for want in [
            "137,057 of data/test_data.csv",
            "55,000 (40.1 %)",
            "predictions/test_data.v3.csv",
            "done in 0.40 s",
            "0.9",
        ] {
            assert!(s.contains(want), "{want} missing:\n{s}");
        }
        update(&mut app, Action::EditPath);
        update(&mut app, Action::PathBackspace);
        update(&mut app, Action::PathChar('X'));
        update(&mut app, Action::PathDone);
        assert_eq!(app.score.path, "data/test_data.csX");
    }

    #[test]
    fn the_drift_screen_shows_the_table_the_verdict_and_a_column() {
        let (_d, store) = seeded();
        let mut app = App::new(store.list_runs().unwrap(), 0);
        app.screen = Screen::Drift;
        assert!(screen(&app).contains("No drift report yet"));
        let reference = vec![
            crate::drift::numeric_column("Admission_Deposit", (0..500).map(|i| i as f64)),
            crate::drift::numeric_column("Visitors", (0..500).map(|i| (i % 7) as f64)),
        ];
        let current = vec![
            crate::drift::numeric_column("Admission_Deposit", (0..500).map(|i| 400.0 + i as f64)),
            crate::drift::numeric_column("Visitors", (0..500).map(|i| (i % 7) as f64)),
        ];
        let report =
            crate::drift::compare(&reference, &current, &crate::drift::Options::default()).unwrap();
        app.drift.report = Some((
            7,
            crate::drift::monitor::StoredDrift {
                reference: "training profile".into(),
                current: "shifted.csv (500 rows)".into(),
                model_version: Some(1),
                report,
                windows: vec![crate::drift::monitor::WindowSummary {
                    label: "w".into(),
                    start_ms: 0,
                    rows: 500,
                    drifted: 1,
                    share: 0.5,
                    dataset_drift: true,
                    prediction_statistic: None,
                    statistics: Vec::new(),
                }],
            },
        ));
        let s = big_screen(&app);
        for want in [
            "Report 7: shifted.csv (500 rows) against training profile",
            "DATASET DRIFT: 1 of 2",
            "Admission_Deposit",
            "DRIFT",
            "Admission_Deposit: reference (cyan) vs current (red)",
            "Drift across windows",
        ] {
            assert!(s.contains(want), "{want} missing:\n{s}");
        }
        update(&mut app, Action::Down);
        assert!(big_screen(&app).contains("Visitors: reference (cyan) vs current (yellow)"));
        assert!(matches!(
            update(&mut app, Action::DriftWindows),
            Some(Effect::Drift { current: None })
        ));
        assert!(
            update(&mut app, Action::Open).is_none(),
            "one drift task at a time"
        );
    }

    #[test]
    fn compare_scrolls_sideways_when_runs_do_not_fit() {
        let (_d, store) = seeded();
        let mut app = App::new(store.list_runs().unwrap(), 0);
        for name in ["lr", "tree", "gbdt"] {
            goto(&mut app, name);
            update(&mut app, Action::ToggleSelect);
        }
        super::load_compare(&store, &mut app).unwrap();
        app.screen = Screen::Compare;
        let mut t = Terminal::new(TestBackend::new(70, 30)).unwrap();
        let text = |t: &mut Terminal<TestBackend>, app: &App| {
            t.draw(|f| views::draw(f, app)).unwrap();
            let buf = t.backend().buffer().clone();
            buf.content().iter().map(|c| c.symbol()).collect::<String>()
        };
        let s = text(&mut t, &app);
        assert!(s.contains("runs 1-2"), "{s}");
        update(&mut app, Action::ScrollRight);
        let s = text(&mut t, &app);
        assert!(s.contains("runs 2-3"), "{s}");
    }
}
