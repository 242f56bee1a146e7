//! The whole job from the keys: a tune and a sweep file with live progress and `x`, scoring
//! with logging, outcomes imported with the summary `staytrack feedback` prints, and
//! Compare's paired tests by name.

use super::tasks::{next_task, trained_workspace};
use super::*;
use crate::tui::tasks::{TaskMsg, Tasks};
use crossterm::event::KeyModifiers;

/// What the event loop does with a key: the keymap, `update`, then the effect.
fn press(store: &mut Store, app: &mut App, tasks: &mut Tasks, key: KeyEvent) {
    let Some(a) = keymap::action(app, key) else {
        panic!("{key:?} does nothing here");
    };
    if let Some(e) = update(app, a) {
        crate::tui::apply(store, app, tasks, e).unwrap();
    }
}

fn code(store: &mut Store, app: &mut App, tasks: &mut Tasks, c: KeyCode) {
    press(store, app, tasks, KeyEvent::from(c));
}

/// Empties the focused field (Ctrl-U) and types `text` into it.
fn retype(store: &mut Store, app: &mut App, tasks: &mut Tasks, text: &str) {
    let ctrl_u = KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL);
    press(store, app, tasks, ctrl_u);
    for c in text.chars() {
        code(store, app, tasks, KeyCode::Char(c));
    }
}

/// A workspace with a small synthetic file and no runs, and the UI on it.
fn synthetic(rows: usize) -> (tempfile::TempDir, crate::config::Config, Store, Tasks, App) {
    let d = tempfile::tempdir().unwrap();
    let cfg = cfg_for(&d);
    crate::data::synth::write_files(
        &crate::data::synth::SynthOptions {
            train_rows: rows,
            test_rows: 10,
            ..Default::default()
        },
        &cfg.data_dir,
    )
    .unwrap();
    let store = Store::open(&cfg.db_path).unwrap();
    let tasks = Tasks::new(&cfg);
    let mut app = App::new(Vec::new(), 0);
    app.workspace = d.path().to_path_buf();
    app.train_file = cfg.train_file().display().to_string();
    (d, cfg, store, tasks, app)
}

/// Applies task reports until `last` matches one (applied too); returns how many came.
fn until(app: &mut App, tasks: &mut Tasks, last: impl Fn(&TaskMsg) -> bool) -> usize {
    let mut n = 0;
    loop {
        let msg = next_task(tasks);
        let end = last(&msg);
        crate::tui::on_task(app, tasks, msg);
        n += 1;
        if end {
            return n;
        }
    }
}

/// The store's trials of sweep `name` (its default run, the yardstick, left out).
fn trials(store: &Store, name: &str) -> Vec<crate::tracking::RunSummary> {
    store
        .list_runs()
        .unwrap()
        .into_iter()
        .filter(|r| r.params.get(crate::tune::SWEEP_KEY).map(String::as_str) == Some(name))
        .filter(|r| r.params.get("stopped").map(String::as_str) != Some("default"))
        .collect()
}

#[test]
fn a_tune_started_with_t_records_its_trials_with_progress_and_x_stops_one() {
    let (_d, _cfg, mut store, mut tasks, mut app) = synthetic(2000);
    let (s, a, t) = (&mut store, &mut app, &mut tasks);
    code(s, a, t, KeyCode::Char('t'));
    let screen_text = render(a, 120, 30);
    assert!(
        screen_text.contains("Tune: sampled parameters") && screen_text.contains("families"),
        "{screen_text}"
    );
    // A budget that is no duration is refused in the dialog, which keeps every entry.
    retype(s, a, t, "lr");
    code(s, a, t, KeyCode::Tab);
    retype(s, a, t, "soon");
    code(s, a, t, KeyCode::Enter);
    let p = a.prompt.as_ref().expect("the dialog stays");
    assert!(p.error.as_ref().unwrap().contains("budget 'soon'"), "{p:?}");
    assert!(render(a, 120, 30).contains("budget 'soon': use 90s, 5m or 1h"));
    retype(s, a, t, "3s");
    code(s, a, t, KeyCode::Tab);
    code(s, a, t, KeyCode::Tab);
    retype(s, a, t, "sw");
    code(s, a, t, KeyCode::Enter);
    assert!(a.prompt.is_none() && a.sweep.is_some());
    assert!(t.busy());
    // Progress as trials end: how many, and the best so far.
    let mut seen = None;
    loop {
        let msg = next_task(t);
        let end = matches!(msg, TaskMsg::TuneEnded(_));
        crate::tui::on_task(a, t, msg);
        if end {
            break;
        }
        if let Some(p) = a.sweep.as_ref().filter(|p| p.done > 0) {
            let shown = render(a, 140, 30);
            assert!(
                shown.contains(&format!("tune sw: {} trial(s)", p.done))
                    && shown.contains("best sw-lr-")
                    && shown.contains("x stops"),
                "{shown}"
            );
            seen = Some(p.done);
        }
    }
    assert!(!t.busy() && a.sweep.is_none());
    let recorded = trials(s, "sw");
    assert!(!recorded.is_empty());
    assert_eq!(
        seen,
        Some(recorded.len()),
        "the progress counted every trial"
    );
    assert!(recorded
        .iter()
        .all(|r| r.status == RunStatus::Finished && r.family == Family::Lr));
    let m = a.message.clone().unwrap();
    assert!(
        m.text
            .contains(&format!("tune sw: {} trial(s)", recorded.len()))
            && m.text.contains("of a 3 s budget; best sw-lr-"),
        "{m:?}"
    );

    // An hour's budget, stopped with x after its first trial: the trials so far stay.
    a.set_runs(s.list_runs().unwrap(), 0);
    code(s, a, t, KeyCode::Char('t'));
    retype(s, a, t, "lr");
    code(s, a, t, KeyCode::Tab);
    retype(s, a, t, "1h");
    code(s, a, t, KeyCode::Tab);
    code(s, a, t, KeyCode::Tab);
    retype(s, a, t, "long");
    code(s, a, t, KeyCode::Enter);
    // Another tune while this one runs is refused.
    code(s, a, t, KeyCode::Char('t'));
    assert!(a.prompt.is_none());
    assert!(a.message.as_ref().unwrap().text.contains("busy"));
    until(a, t, |m| {
        matches!(m, TaskMsg::Tune(crate::tune::TuneEvent::Recorded { .. }))
    });
    // The run under the cursor is finished: x asks about the tune.
    code(s, a, t, KeyCode::Char('x'));
    let c = a.confirm.as_ref().expect("a question");
    assert!(c.title.contains("Stop the tune long?"), "{c:?}");
    let stopped_at = std::time::Instant::now();
    code(s, a, t, KeyCode::Char('y'));
    assert!(render(a, 140, 30).contains("stopping…"));
    until(a, t, |m| matches!(m, TaskMsg::TuneEnded(_)));
    assert!(stopped_at.elapsed() < std::time::Duration::from_secs(30));
    let m = a.message.clone().unwrap();
    assert!(m.text.contains("stopped with x"), "{m:?}");
    assert!(!trials(s, "long").is_empty());
}

#[test]
fn a_sweep_file_started_with_w_trains_every_run_with_progress() {
    let (d, _cfg, mut store, mut tasks, mut app) = synthetic(1500);
    let (s, a, t) = (&mut store, &mut app, &mut tasks);
    std::fs::write(d.path().join("sweep.toml"), "[lr]\nc = [0.5, 2.0]\n").unwrap();
    std::fs::write(d.path().join("bad.toml"), "[nope]\nc = 1\n").unwrap();
    code(s, a, t, KeyCode::Char('w'));
    // A file that is not there, then one that is no sweep: said in the dialog.
    retype(s, a, t, "missing.toml");
    code(s, a, t, KeyCode::Enter);
    let e = a.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(
        e.contains("no file at") && e.contains("missing.toml"),
        "{e}"
    );
    retype(s, a, t, "bad.toml");
    code(s, a, t, KeyCode::Enter);
    let e = a.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(e.contains("unknown family [nope]"), "{e}");
    assert!(a.sweep.is_none() && !t.busy());
    // A relative path is the workspace's.
    retype(s, a, t, "sweep.toml");
    code(s, a, t, KeyCode::Enter);
    assert!(a.prompt.is_none());
    let mut seen = false;
    loop {
        let msg = next_task(t);
        let end = matches!(msg, TaskMsg::TrainEnded(..));
        crate::tui::on_task(a, t, msg);
        if end {
            break;
        }
        if a.sweep.as_ref().is_some_and(|p| p.done == 1) && !seen {
            a.set_runs(s.list_runs().unwrap(), 0);
            let shown = render(a, 140, 30);
            assert!(
                shown.contains("sweep sweep.toml: 1 of 2 run(s); best lr"),
                "{shown}"
            );
            seen = true;
        }
    }
    assert!(seen && a.sweep.is_none() && !t.busy());
    let runs = s.list_runs().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs
        .iter()
        .all(|r| r.status == RunStatus::Finished && r.family == Family::Lr));
    let cs: std::collections::BTreeSet<&str> =
        runs.iter().map(|r| r.params["c"].as_str()).collect();
    assert_eq!(cs.len(), 2, "{cs:?}");
    let m = a.message.clone().unwrap();
    assert!(
        m.text
            .starts_with("sweep sweep.toml: 2 of 2 run(s) finished; best lr"),
        "{m:?}"
    );
}

#[test]
fn scoring_with_l_logs_the_rows_and_o_imports_outcomes_with_the_feedback_summary() {
    let (d, cfg, mut store) = trained_workspace();
    let mut tasks = Tasks::new(&cfg);
    let mut app = App::new(store.list_runs().unwrap(), 0);
    app.workspace = d.path().to_path_buf();
    app.score.path = "data/test_data.csv".into();
    let (s, a, t) = (&mut store, &mut app, &mut tasks);
    goto(a, "lr");
    code(s, a, t, KeyCode::Char('p'));
    code(s, a, t, KeyCode::Enter);
    a.registry = crate::tui::load_registry(s, 0).unwrap();
    code(s, a, t, KeyCode::Char('4'));
    assert!(big_screen(a).contains("log for monitoring: off (l turns it on)"));
    code(s, a, t, KeyCode::Char('l'));
    assert!(big_screen(a).contains("log for monitoring: on (l turns it off)"));
    assert_eq!(s.count_predictions().unwrap(), 0);
    code(s, a, t, KeyCode::Enter);
    until(a, t, |m| matches!(m, TaskMsg::Scored(_)));
    let scored = a.score.last.clone().expect("scored");
    assert_eq!((scored.rows, scored.logged), (10, 10));
    assert_eq!(s.count_predictions().unwrap(), 10);
    let screen_text = big_screen(a);
    assert!(
        screen_text.contains("10 rows added to the prediction log"),
        "{screen_text}"
    );
    assert!(a
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("10 rows logged for monitoring"));

    // Outcomes for the logged rows: eight new, one repeated, an id with two labels, a row
    // with no id.
    let spec = crate::data::DatasetSpec::of_workspace(&cfg).unwrap();
    let (id_col, label_col) = crate::feedback::columns(&spec, None, None).unwrap();
    let table = crate::data::load::read_text_columns(&cfg.test_file()).unwrap();
    let ids: Vec<String> = table
        .column(&id_col)
        .unwrap()
        .iter()
        .map(|c| c.as_deref().unwrap().to_string())
        .collect();
    let mut csv = format!("{id_col},{label_col}\n");
    for (i, id) in ids.iter().take(8).enumerate() {
        csv += &format!("{id},{}\n", i % 2);
    }
    csv += &format!("{},0\n{},1\n{},0\n,1\n", ids[0], ids[8], ids[8]);
    std::fs::write(d.path().join("outcomes.csv"), csv).unwrap();
    code(s, a, t, KeyCode::Char('6'));
    until(a, t, |m| matches!(m, TaskMsg::Monitored(_)));
    code(s, a, t, KeyCode::Char('o'));
    assert!(render(a, 120, 30).contains("Import outcomes"));
    retype(s, a, t, "outcomes.csv");
    code(s, a, t, KeyCode::Enter);
    assert!(a.prompt.is_none() && a.monitor.importing);
    until(a, t, |m| matches!(m, TaskMsg::Outcomes { .. }));
    let c = a.confirm.clone().expect("the summary");
    let file = d.path().join("outcomes.csv");
    let want = format!(
        "{}: 12 rows: 8 new, 0 unchanged, 0 changed, 1 repeated, 2 conflicting, 1 skipped; 0 \
         with no logged prediction yet",
        file.display()
    );
    assert_eq!(c.lines[0], want);
    // The counts add up to the rows read.
    let counts: Vec<usize> = want
        .split(|ch: char| !ch.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let n = counts.len();
    assert_eq!(counts[n - 8], counts[n - 7..n - 1].iter().sum::<usize>());
    assert!(c.lines.iter().any(|l| l.contains("; conflicting")), "{c:?}");
    assert!(c.lines.iter().any(|l| l.contains("; skipped")), "{c:?}");
    assert_eq!(s.count_outcomes().unwrap(), 8);
    let shown = box_text(
        &render(a, 120, 30)
            .lines()
            .map(String::from)
            .collect::<Vec<_>>(),
    );
    assert!(
        shown.contains("8 new, 0 unchanged, 0 changed, 1 repeated"),
        "{shown}"
    );
    // Any key closes it; the monitor reads the log again, now with the outcomes.
    code(s, a, t, KeyCode::Char('o'));
    assert!(a.confirm.is_none() && a.prompt.is_none());
    until(a, t, |m| matches!(m, TaskMsg::Monitored(_)));
    assert_eq!(a.monitor.report.as_ref().unwrap().labelled, 8);
    // The same file again changes nothing.
    code(s, a, t, KeyCode::Char('o'));
    retype(s, a, t, "outcomes.csv");
    code(s, a, t, KeyCode::Enter);
    until(a, t, |m| matches!(m, TaskMsg::Outcomes { .. }));
    assert!(a.confirm.as_ref().unwrap().lines[0].contains("0 new, 8 unchanged"));
}

#[test]
fn compare_shows_each_metric_s_paired_test_with_its_p_value_and_help_explains_them() {
    let (_d, cfg, store) = trained_workspace();
    let mut tasks = Tasks::new(&cfg);
    let mut app = App::new(store.list_runs().unwrap(), 0);
    for name in ["lr", "gbdt"] {
        goto(&mut app, name);
        update(&mut app, Action::ToggleSelect);
    }
    update(&mut app, Action::Goto(1));
    crate::tui::load_compare(&store, &mut app).unwrap();
    update(&mut app, Action::PinBaseline);
    let (base, runs) = app.compare.untested().unwrap();
    tasks.paired(base, runs.clone());
    until(&mut app, &mut tasks, |m| {
        matches!(m, TaskMsg::Paired { .. })
    });
    let crate::compare::Outcome::Paired(p) = app.compare.tests[&runs[0]].clone() else {
        panic!("not paired");
    };
    // c: deltas, then intervals, then the tests.
    for _ in 0..2 {
        let a = keymap::action(&app, KeyEvent::from(KeyCode::Char('c'))).unwrap();
        update(&mut app, a);
    }
    let s = render(&app, 160, 40);
    let line = |metric: &str| {
        s.lines()
            .find(|l| l.contains(&format!("│{metric} ")) || l.contains(&format!(" {metric} ")))
            .unwrap_or_else(|| panic!("{metric}:\n{s}"))
            .to_string()
    };
    let roc = line("roc_auc");
    let (lo, hi) = p.roc_auc.ci;
    assert!(
        roc.contains(&format!(
            "DeLong {} [{lo:+.3},{hi:+.3}]",
            crate::metrics::paired::format_p(p.roc_auc.p_value)
        )),
        "{s}"
    );
    assert!(line("pr_auc").contains("bootstrap p"), "{s}");
    assert!(line("accuracy").contains("McNemar p"), "{s}");
    assert!(s.contains("Paired tests against the baseline"), "{s}");
    // ? explains each test and the marks in one line.
    update(&mut app, Action::ToggleHelp);
    let text = box_text(&draw_rows(100, 200, |f| views::help::draw(f, f.area(), 0)));
    for (term, meaning) in crate::tui::keymap::TERMS {
        assert!(
            text.contains(&format!("{term} {meaning}")),
            "{term}:\n{text}"
        );
    }
    // Once more: back to the deltas.
    update(&mut app, Action::ToggleHelp);
    update(&mut app, Action::NextCells);
    assert!(render(&app, 160, 40).contains("(+0.") || render(&app, 160, 40).contains("(-0."));
}

#[test]
fn the_dialogs_and_the_sweep_line_draw_whole_at_every_size() {
    let (_d, store) = seeded();
    let mut app = App::new(store.list_runs().unwrap(), 0);
    app.sweep = Some(crate::tui::app::SweepProgress {
        name: "nightly".into(),
        budget_ms: Some(300_000),
        total: None,
        started: 0,
        done: 12,
        best: Some(("nightly-gbdt-07".into(), 0.8123)),
        bracket: None,
        stopping: false,
    });
    app.now = 60_000;
    for (cols, rows) in SIZES {
        let frame = render(&app, cols, rows);
        assert!(
            frame.contains("tune nightly: 12 trial(s) · 60 s of 300 s")
                && frame.contains("best")
                && frame.contains("0.8123")
                && frame.contains("x stops"),
            "{cols}×{rows}:\n{frame}"
        );
        // The table keeps its rows above the line.
        assert!(frame.contains("gbdt"), "{cols}×{rows}:\n{frame}");
    }
    app.sweep = None;
    let prompts = [
        crate::tui::app::Prompt::tune("data/train_data.csv".into()),
        crate::tui::app::Prompt::sweep("data/train_data.csv".into()),
        crate::tui::app::Prompt::outcomes(),
    ];
    for p in prompts {
        for focus in 0..p.fields.len() {
            app.prompt = Some(crate::tui::app::Prompt { focus, ..p.clone() });
            for (cols, rows) in SIZES {
                let frame = render(&app, cols, rows);
                let text = box_text(&frame.lines().map(String::from).collect::<Vec<_>>());
                let (name, _, help) = p.fields[focus];
                assert!(
                    text.contains(&format!("{name}: {help}")),
                    "{cols}×{rows}: the help of {name} is cut:\n{frame}"
                );
                for (name, _, _) in &p.fields {
                    assert!(text.contains(name), "{cols}×{rows}: {name}:\n{frame}");
                }
                assert!(text.contains("Esc closes"), "{cols}×{rows}:\n{frame}");
            }
        }
    }
}
