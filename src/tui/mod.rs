//! The terminal UI: `App` state and `update` (`app.rs`), keys to actions (`keymap.rs`), one view
//! per screen (`views/`), what screens read (`load.rs`), the new-run form and the dialogs that
//! ask for text (`form.rs`, `prompt.rs`), background work (`tasks.rs`), carrying out effects
//! (`effects.rs`), and the event loop here. The terminal is always restored: on quit, on error and
//! on a panic.

pub mod app;
mod dialogs;
mod effects;
mod form;
pub mod keymap;
mod load;
mod prompt;
mod state;
mod tasks;
#[cfg(test)]
mod tests;
pub mod views;
pub mod why;

use std::io;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind, MouseButton, MouseEventKind};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::config::Config;
use app::{update, Action};

use effects::*;

pub use load::{list_runs, load_compare, load_details, load_registry, open, LIST_METRICS};
pub(crate) use tasks::Tasks;

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

/// Runs the UI until `q`; `notice` (what happened before it opened) shows in the status line.
pub fn run(cfg: &Config, notice: Option<String>) -> anyhow::Result<i32> {
    let (mut store, mut app) = open(cfg)?;
    if let Some(n) = notice {
        app.say(n);
    }
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
        if app.runs_total > app.runs.len() {
            tasks.load_runs();
        }
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
                    if let Some((base, runs)) = app.compare.untested() {
                        tasks.paired(base, runs);
                    }
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
                if app.runs_total <= load::READ_IN_PLACE {
                    app.set_runs(list_runs(&store)?, crate::util::now_ms());
                    // A background read still on its way is older than this one: read again
                    // after it, so the older list does not stay.
                    tasks.runs_again |= tasks.runs_loading;
                } else {
                    tasks.load_runs();
                }
                app.registry = load_registry(&store, app.registry.cursor)?;
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
