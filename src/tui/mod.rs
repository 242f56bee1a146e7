//! The terminal UI: `App` state (`app.rs`), keys to actions (`keymap.rs`), one view per screen
//! (`views/`), and the event loop here. The terminal is always restored: on quit, on error and
//! on a panic.

pub mod app;
pub mod keymap;
pub mod views;

use std::io;
use std::time::Duration;

use crossterm::event::{self, Event, KeyEventKind, MouseEventKind};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::config::Config;
use crate::tracking::Store;
use app::{update, Action, App, Effect, Registry};

/// Reads the registry for the Registry screen.
pub fn load_registry(store: &Store) -> anyhow::Result<Registry> {
    Ok(Registry {
        versions: store.model_versions()?,
        events: store.alias_events(None, 200)?,
    })
}

/// Loads the selected runs' curves when the selection changed.
pub fn load_compare(store: &Store, app: &mut App) -> anyhow::Result<()> {
    let ids: Vec<&String> = app.selected.iter().collect();
    let loaded: Vec<&String> = app.compare.iter().map(|c| &c.run.id).collect();
    if ids == loaded {
        return Ok(());
    }
    let mut out = Vec::new();
    for id in app.selected.clone() {
        let Some(run) = app.runs.iter().find(|r| r.id == id).cloned() else {
            continue;
        };
        let curves = store.curves(&id)?;
        let roc = curves
            .get("roc")
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let confusion = curves
            .get("confusion")
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        out.push(app::CompareRun {
            run,
            roc,
            confusion,
        });
    }
    app.compare = out;
    Ok(())
}

/// Does what `update` asked for.
pub fn apply(store: &mut Store, app: &mut App, effect: Effect) -> anyhow::Result<()> {
    match effect {
        Effect::Promote { run_id, alias } => {
            let actor = format!(
                "tui:{}",
                crate::cli_registry::actor().trim_start_matches("cli:")
            );
            app.message = Some(match store.promote_run(&run_id, alias, &actor, None) {
                Ok(m) if m.changed => format!(
                    "{alias}: {} → version {}",
                    m.from_version
                        .map_or("none".into(), |v| format!("version {v}")),
                    m.to_version
                ),
                Ok(m) => format!("{alias} already serves version {}", m.to_version),
                Err(e) => format!("not promoted: {e}"),
            });
            app.registry = load_registry(store)?;
        }
    }
    Ok(())
}

/// How often the runs are reloaded from the store while idle.
const RELOAD: Duration = Duration::from_millis(1000);

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        LeaveAlternateScreen,
        crossterm::event::DisableMouseCapture
    );
}

/// Runs the UI until `q`.
pub fn run(cfg: &Config) -> anyhow::Result<i32> {
    let mut store = Store::open(&cfg.db_path)?;
    store.recover_interrupted()?;
    let mut app = App::new(store.list_runs()?, crate::util::now_ms());
    app.registry = load_registry(&store)?;
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
        let mut last = std::time::Instant::now();
        while !app.quit {
            terminal.draw(|f| views::draw(f, &app))?;
            if event::poll(Duration::from_millis(250))? {
                match event::read()? {
                    Event::Key(k) if k.kind == KeyEventKind::Press => {
                        if let Some(a) = keymap::action(&app, k) {
                            if let Some(effect) = update(&mut app, a) {
                                apply(&mut store, &mut app, effect)?;
                            }
                            load_compare(&store, &mut app)?;
                        }
                    }
                    Event::Mouse(m) => match m.kind {
                        MouseEventKind::ScrollDown => {
                            update(&mut app, Action::Down);
                        }
                        MouseEventKind::ScrollUp => {
                            update(&mut app, Action::Up);
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
            if last.elapsed() >= RELOAD {
                app.set_runs(store.list_runs()?, crate::util::now_ms());
                app.registry = load_registry(&store)?;
                last = std::time::Instant::now();
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
    use super::app::{update, Action, App, Screen, SortKey};
    use super::views;
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

    fn screen(app: &App) -> String {
        let mut t = Terminal::new(TestBackend::new(120, 16)).unwrap();
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
        super::apply(&mut store, &mut app, effect).unwrap();
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
        update(&mut app, Action::PinBaseline);
        let s = screen(&app);
        assert!(s.contains("baseline"), "{s}");
        assert!(s.contains("+0.0940") || s.contains("-0.0940"), "{s}");
    }

    #[test]
    fn help_lists_every_key_and_screens_cycle() {
        let (_d, store) = seeded();
        let mut app = App::new(store.list_runs().unwrap(), 0);
        update(&mut app, Action::ToggleHelp);
        let s = screen(&app);
        assert!(
            s.contains("Keys (? closes)") && s.contains("sort by the next column"),
            "{s}"
        );
        update(&mut app, Action::ToggleHelp);
        update(&mut app, Action::NextScreen);
        assert_eq!(app.screen, Screen::Compare);
        update(&mut app, Action::PrevScreen);
        update(&mut app, Action::PrevScreen);
        assert_eq!(app.screen, Screen::Drift);
        update(&mut app, Action::Goto(0));
        assert_eq!(app.screen, Screen::Runs);
    }
}
