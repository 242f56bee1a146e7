//! The TUI on a real store, drawn with TestBackend: every screen, dialog and key path.

mod job;
mod screens;
mod slices;
mod tasks;
mod why;

use crate::models::Family;
use crate::tracking::{NewRun, RunRecord, RunStatus, Store};
use crate::tui::app::{update, Action, App, Effect, FormKey, Screen, SortKey};
use crate::tui::keymap;
use crate::tui::views;
use crossterm::event::{KeyCode, KeyEvent};
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

/// The seeded store with `name` promoted to production through the UI, and the app on it.
fn with_production(name: &str) -> (tempfile::TempDir, Store, super::Tasks, App) {
    let (d, mut store) = seeded();
    let mut tasks = super::Tasks::new(&cfg_for(&d));
    let mut app = App::new(store.list_runs().unwrap(), 0);
    goto(&mut app, name);
    update(&mut app, Action::AskPromote("production"));
    let e = update(&mut app, Action::Confirm).unwrap();
    super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    (d, store, tasks, app)
}

/// A stored drift report of `current` against `reference`.
fn stored_drift(
    reference: &[crate::drift::Column],
    current: &[crate::drift::Column],
    windows: Vec<crate::drift::monitor::WindowSummary>,
) -> crate::drift::monitor::StoredDrift {
    let report =
        crate::drift::compare(reference, current, &crate::drift::Options::default()).unwrap();
    crate::drift::monitor::StoredDrift {
        reference: "training profile".into(),
        current: "shifted.csv (500 rows)".into(),
        model_version: Some(1),
        report,
        windows,
    }
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
    while app.list.sort != SortKey::RocAuc {
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
    assert_eq!(app.list.view.len(), 1);
    update(&mut app, Action::FilterCancel);
    assert_eq!(app.list.view.len(), 4);
    // Select two runs for Compare.
    update(&mut app, Action::ToggleSelect);
    update(&mut app, Action::Down);
    update(&mut app, Action::ToggleSelect);
    assert_eq!(app.list.selected.len(), 2);
    assert!(screen(&app).contains("2 selected"));
}

#[test]
fn promoting_from_the_runs_screen_asks_then_moves_the_alias() {
    let (_d, mut store) = seeded();
    let mut app = App::new(store.list_runs().unwrap(), 0);
    app.registry = super::load_registry(&store, app.registry.cursor).unwrap();
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
    assert_eq!(app.compare.runs.len(), 2);
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
    // Every key is shown whole at every size: `help_scrolls_to_every_key_whole_at_every_size`.
    let s = big_screen(&app);
    assert!(s.contains("j/k scroll · ? closes"), "{s}");
    update(&mut app, Action::Bottom);
    assert!(app.help_scroll > 0);
    assert!(big_screen(&app).contains("close the help"));
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
    assert!(matches!(
        update(&mut app, Action::PrevScreen),
        Some(Effect::Monitor { .. })
    ));
    assert_eq!(app.screen, Screen::Monitor);
    update(&mut app, Action::Goto(0));
    assert_eq!(app.screen, Screen::Runs);
    // Clicks: a tab switches screens, a row moves the cursor.
    let _ = screen(&app);
    update(&mut app, Action::Click(2, 4));
    assert_eq!(app.list.cursor, 1, "the second row of the table");
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
    // The reason is typed into the dialog (keys like q and n type, they do not close it).
    for c in "queue latency".chars() {
        let a = keymap::action(&app, KeyEvent::from(KeyCode::Char(c))).unwrap();
        update(&mut app, a);
    }
    let e = update(&mut app, Action::Confirm).unwrap();
    super::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    assert_eq!(store.alias_version("production").unwrap(), Some(1));
    let s = big_screen(&app);
    assert!(s.contains("production rolled back: version 2 → 1"), "{s}");
    assert!(
        s.contains("queue latency"),
        "the audit log shows the reason:\n{s}"
    );
    // An alias that never moved has nothing to roll back: a notice that any key closes.
    update(&mut app, Action::AskRollback("canary"));
    let notice = app.confirm.as_ref().unwrap();
    assert!(notice.effect.is_none());
    assert!(screen(&app).contains("canary has never moved"));
    let a = keymap::action(&app, KeyEvent::from(KeyCode::Char('r'))).unwrap();
    assert_eq!(a, Action::Cancel);
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
    // Registered: refused with a notice before any question, and the `n` that dismisses it
    // (as a "no") does not open the new-run form behind it.
    update(&mut app, Action::AskDelete);
    assert!(app.confirm.as_ref().unwrap().effect.is_none());
    assert!(screen(&app).contains("model version 1"));
    let a = keymap::action(&app, KeyEvent::from(KeyCode::Char('n'))).unwrap();
    update(&mut app, a);
    assert!(app.confirm.is_none() && app.form.is_none());
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
    assert!(app.confirm.take().unwrap().effect.is_none());
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
    let (d, store) = seeded();
    let mut app = App::new(store.list_runs().unwrap(), 0);
    app.workspace = d.path().to_path_buf();
    let train = d.path().join("data/train_data.csv");
    app.train_file = train.display().to_string();
    update(&mut app, Action::NewRun);
    let s = big_screen(&app);
    assert!(
        s.contains("New run") && s.contains("◀ gbdt ▶") && s.contains("learning_rate"),
        "{s}"
    );
    // → walks every family, linfa's two after staytrack's, and wraps round to lr.
    update(&mut app, Action::Form(FormKey::Right));
    assert_eq!(app.form.as_ref().unwrap().family, Family::LinfaLr);
    assert!(big_screen(&app).contains("gradient_tolerance"));
    update(&mut app, Action::Form(FormKey::Right));
    assert_eq!(app.form.as_ref().unwrap().family, Family::LinfaTree);
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
    // No data file yet: the form stays, with every entry, and says why.
    assert!(update(&mut app, Action::Form(FormKey::Submit)).is_none());
    let form = app.form.as_ref().unwrap();
    assert_eq!((form.name.as_str(), form.family), ("mine", Family::Lr));
    assert!(form.error.as_ref().unwrap().contains("no file at"));
    std::fs::create_dir_all(d.path().join("data")).unwrap();
    std::fs::write(d.path().join("data/train_data.csv"), "x\n").unwrap();
    match update(&mut app, Action::Form(FormKey::Submit)) {
        Some(Effect::Train(job)) => {
            assert_eq!(job.name, "mine");
            assert_eq!(job.params.family, Family::Lr);
            assert_eq!(job.params.get(&key), 2.0);
            assert_eq!(job.data, train);
            assert_eq!((job.seed, job.valid_fraction), (42, 0.2));
        }
        other => panic!("{other:?}"),
    }
    assert!(app.form.is_none());
    // The next form opens where this one left off, but for the run's name.
    update(&mut app, Action::NewRun);
    let form = app.form.as_ref().unwrap();
    assert_eq!((form.name.as_str(), form.family), ("", Family::Lr));
    assert_eq!(form.params[0].1, "2");
    // Ctrl-U empties the field being edited, and a control chord types nothing.
    update(&mut app, Action::Form(FormKey::Next));
    for c in "abc".chars() {
        update(&mut app, Action::Form(FormKey::Char(c)));
    }
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), crossterm::event::KeyModifiers::CONTROL);
    assert_eq!(keymap::action(&app, ctrl('a')), None);
    let a = keymap::action(&app, ctrl('u')).unwrap();
    update(&mut app, a);
    assert_eq!(app.form.as_ref().unwrap().name, "");
}

/// The three sizes every screen, dialog and the help are checked at.
const SIZES: [(u16, u16); 3] = [(160, 48), (80, 24), (60, 20)];

/// One drawing at `cols`×`rows`, as rows of text.
fn draw_rows(cols: u16, rows: u16, draw: impl FnOnce(&mut ratatui::Frame)) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(cols, rows)).unwrap();
    t.draw(draw).unwrap();
    let buf = t.backend().buffer().clone();
    (0..rows)
        .map(|y| (0..cols).map(|x| buf[(x, y)].symbol()).collect())
        .collect()
}

/// What a box holds, its borders dropped and its rows joined with single spaces, so a phrase
/// wrapped over several rows reads whole and a cut one does not.
fn box_text(rows: &[String]) -> String {
    let inner: Vec<String> = rows
        .iter()
        .map(|r| {
            r.chars()
                .map(|c| {
                    if "│─┌┐└┘".contains(c) {
                        ' '
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    inner
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn help_scrolls_to_every_key_whole_at_every_size() {
    use crate::tui::keymap::{Scope, KEYS};
    for (cols, rows) in SIZES {
        // Scroll a line at a time and keep the top row of the box each time: the help as a
        // reader scrolling through it sees it.
        let mut seen: Vec<String> = Vec::new();
        let mut last_title = String::new();
        for scroll in 0..200u16 {
            let frame = draw_rows(cols, rows, |f| views::help::draw(f, f.area(), scroll));
            if scroll > 0
                && frame[0] == last_title
                && seen.last() == Some(&frame[rows as usize - 2])
            {
                break;
            }
            last_title = frame[0].clone();
            if scroll == 0 {
                seen.extend(frame[1..rows as usize - 1].iter().cloned());
            } else {
                seen.push(frame[rows as usize - 2].clone());
            }
        }
        let text = box_text(&seen);
        for scope in Scope::all() {
            let keys: Vec<_> = KEYS.iter().filter(|k| k.scope == scope).collect();
            if keys.is_empty() {
                continue;
            }
            assert!(
                text.contains(scope.label()),
                "{cols}×{rows}: {}",
                scope.label()
            );
            for k in keys {
                assert!(
                    text.contains(&format!("{} {}", k.shown, k.help)),
                    "{cols}×{rows}: '{} {}' is not shown whole:\n{}",
                    k.shown,
                    k.help,
                    seen.join("\n")
                );
            }
        }
        // What Compare's paired tests say, one line each.
        for (term, meaning) in crate::tui::keymap::TERMS {
            assert!(
                text.contains(&format!("{term} {meaning}")),
                "{cols}×{rows}: '{term} {meaning}' is not shown whole"
            );
        }
    }
}

#[test]
fn dialogs_wrap_every_line_whole_at_every_size() {
    let (_d, _store, _tasks, mut app) = with_production("gbdt");
    // A worse candidate: warned, with the deltas.
    goto(&mut app, "lr");
    update(&mut app, Action::AskPromote("production"));
    for c in "a long reason that has to wrap over more than one line of the dialog box".chars() {
        update(&mut app, Action::ReasonChar(c));
    }
    let worse = app.confirm.clone().unwrap();
    assert!(worse.warning);
    assert!(worse.lines[0].contains("worse than what production serves now: ROC AUC -0.0940"));
    let mut dialogs = vec![worse];
    update(&mut app, Action::Cancel);
    update(&mut app, Action::Goto(2));
    update(&mut app, Action::AskRollback("production"));
    dialogs.push(app.confirm.take().unwrap());
    update(&mut app, Action::Goto(0));
    goto(&mut app, "broken");
    update(&mut app, Action::AskDelete);
    dialogs.push(app.confirm.take().unwrap());
    goto(&mut app, "gbdt");
    update(&mut app, Action::AskDelete);
    dialogs.push(app.confirm.take().unwrap());
    // The version production already serves: a notice, not a question with +0.0000 deltas.
    update(&mut app, Action::AskPromote("production"));
    let same = app.confirm.take().unwrap();
    assert!(same.effect.is_none());
    assert!(
        same.lines[0].contains("already serves gbdt"),
        "{:?}",
        same.lines
    );
    dialogs.push(same);
    for (cols, rows) in SIZES {
        for c in &dialogs {
            let frame = draw_rows(cols, rows, |f| views::confirm(f, f.area(), c));
            let text = box_text(&frame);
            let mut want = c.lines.clone();
            want.push(c.title.clone());
            if let Some(r) = &c.reason {
                want.push(format!("reason: {r}"));
            }
            for line in want {
                let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
                assert!(
                    text.contains(&line),
                    "{cols}×{rows}: '{line}' is cut:\n{}",
                    frame.join("\n")
                );
            }
        }
    }
}

#[test]
fn every_screen_draws_at_every_size_with_names_and_numbers_whole() {
    let (_d, store, _tasks, mut app) = with_production("gbdt");
    for name in ["lr", "gbdt"] {
        goto(&mut app, name);
        update(&mut app, Action::ToggleSelect);
    }
    super::load_compare(&store, &mut app).unwrap();
    // A long numeric name and a code column of 32 values, as the hospital file has.
    let codes = |shift: usize| crate::drift::Column {
        name: "Hospital_code".into(),
        values: crate::drift::Values::Categorical(
            (1..=32)
                .map(|c: usize| (c.to_string(), (10 + (c + shift) % 7) as f64))
                .collect(),
        ),
        missing: 0.0,
    };
    let reference = vec![
        crate::drift::numeric_column(
            "Available Extra Rooms in Hospital",
            (0..500).map(|i| (i % 9) as f64),
        ),
        codes(0),
    ];
    let current = vec![
        crate::drift::numeric_column(
            "Available Extra Rooms in Hospital",
            (0..500).map(|i| (i % 5) as f64),
        ),
        codes(3),
    ];
    app.drift.report = Some((1, stored_drift(&reference, &current, Vec::new())));
    for (cols, rows) in SIZES {
        for screen in Screen::ALL {
            app.screen = screen;
            let frame = render(&app, cols, rows);
            assert!(
                frame.contains("1 Runs"),
                "{cols}×{rows} {screen:?}:\n{frame}"
            );
            if screen == Screen::Runs {
                // Every name whole, the production run marked, ROC AUC to four places.
                for name in ["lr", "tree", "gbdt", "broken"] {
                    assert!(
                        frame
                            .lines()
                            .any(|l| l.split_whitespace().any(|w| w == name)),
                        "{cols}×{rows}: '{name}' is not whole:\n{frame}"
                    );
                }
                assert!(frame.contains("production"), "{cols}×{rows}:\n{frame}");
                assert!(frame.contains("0.8530"), "{cols}×{rows}:\n{frame}");
            }
            // Where both compared runs fit, the production one is marked.
            if screen == Screen::Compare && cols >= 80 {
                assert!(
                    frame.contains("gbdt (production)"),
                    "{cols}×{rows}:\n{frame}"
                );
            }
            if screen == Screen::Drift {
                // Column names whole, or ending in … where the pane is too narrow; the test's
                // name whole.
                assert!(
                    frame.contains("Available Extra Rooms in Hospital")
                        || frame.contains("Available Extra Rooms in…")
                        || frame.contains("Available Extra Room…"),
                    "{cols}×{rows}:\n{frame}"
                );
                assert!(!frame.contains("Available Extra Rooms in Ho "), "{frame}");
                assert!(
                    frame.contains("Wasserstein") || frame.contains("K-S p-value"),
                    "{frame}"
                );
            }
        }
    }
    // The code column: every bin shown, or the title says how many of them are.
    app.screen = Screen::Drift;
    app.drift.cursor = 1;
    for (cols, rows) in SIZES {
        let frame = render(&app, cols, rows);
        let flat = frame.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("of 31 bins") || flat.contains("of 32 bins"),
            "{cols}×{rows}: the bins left out are not said:\n{frame}"
        );
    }
    // The new-run form: every field named, the focused field's help whole (beside it, or
    // under the form on a narrow terminal).
    app.screen = Screen::Runs;
    update(&mut app, Action::NewRun);
    for _ in 0..4 {
        update(&mut app, Action::Form(FormKey::Next));
    }
    for (cols, rows) in SIZES {
        let frame = render(&app, cols, rows);
        let flat = box_text(&frame.lines().map(String::from).collect::<Vec<_>>());
        for want in [
            "family",
            "valid_fraction",
            "share of rows held out for validation (stratified)",
        ] {
            assert!(flat.contains(want), "{cols}×{rows}: '{want}':\n{frame}");
        }
    }
    update(&mut app, Action::Form(FormKey::Cancel));
    // The registry: both tables fit, the reason of a move readable.
    app.screen = Screen::Registry;
    for (cols, rows) in SIZES {
        let frame = render(&app, cols, rows);
        assert!(frame.contains("production"), "{cols}×{rows}:\n{frame}");
        assert!(frame.contains("0.8530"), "{cols}×{rows}:\n{frame}");
    }
    // An empty store says what to do first.
    let empty = App::new(Vec::new(), 0);
    for (cols, rows) in SIZES {
        let text = render(&empty, cols, rows)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(text.contains("Press n to train your first run"), "{text}");
    }
    // Below the smallest size, one line says what is needed.
    let tiny = render(&app, 40, 10);
    assert!(
        tiny.lines()
            .next()
            .unwrap()
            .contains("needs at least 60×16 (this is 40×10)"),
        "{tiny}"
    );
}
