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
use app::{update, Action, App};

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
                            update(&mut app, a);
                        }
                    }
                    Event::Mouse(m) => match m.kind {
                        MouseEventKind::ScrollDown => update(&mut app, Action::Down),
                        MouseEventKind::ScrollUp => update(&mut app, Action::Up),
                        _ => {}
                    },
                    _ => {}
                }
            }
            if last.elapsed() >= RELOAD {
                app.set_runs(store.list_runs()?, crate::util::now_ms());
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
