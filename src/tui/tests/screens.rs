//! What each screen shows at the sizes people use: numbers whole or cut visibly, lines and
//! legends that stay, columns sized from what they hold, scrolling that stops at the end, and
//! the questions and hints that say what is true.

use super::*;
use crate::metrics::Confusion;
use crate::promote::{Check, Evidence, Policy, Side, Verdict};
use crate::tracking::registry::Audit;
use crate::tracking::RunSummary;
use std::path::Path;

/// The right half of a frame's row, inside its box: the pane the matrices are in.
fn right_pane(line: &str, cols: u16) -> String {
    let half: String = line.chars().skip(cols as usize / 2).collect();
    half.trim_matches('│').to_string()
}

/// The numbers in `text` (digits and dots), each whole as written.
fn numbers(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|t| t.trim_matches('.'))
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn confusion_counts_are_whole_or_cut_with_an_ellipsis_in_details_and_compare() {
    let (_d, store) = seeded();
    let mut app = App::new(store.list_runs().unwrap(), 0);
    let m = Confusion {
        tn: 88,
        fp: 163,
        fn_: 12,
        tp: 1234,
    };
    let rate = |a: u64, b: u64| format!("{:.1}", 100.0 * a as f64 / (a + b) as f64);
    // What a cell may show: a count, its rate within the actual class, the class itself.
    let mut allowed: Vec<String> = ["0", "1", "88", "163", "12", "1234"]
        .map(String::from)
        .to_vec();
    allowed.extend([rate(88, 163), rate(163, 88), rate(12, 1234), rate(1234, 12)]);
    goto(&mut app, "gbdt");
    let run = app.current().unwrap().clone();
    app.details = Some(crate::tui::app::Details {
        run: Some(run),
        confusion: m,
        confusion_best: m,
        ..Default::default()
    });
    for (cols, rows) in [(80, 24), (160, 48)] {
        let frame = render(&app, cols, rows);
        let lines: Vec<String> = frame
            .lines()
            .map(|l| right_pane(l, cols))
            .filter(|l| l.trim_start().starts_with("actual "))
            .collect();
        assert!(!lines.is_empty(), "{cols}×{rows}: no matrix rows:\n{frame}");
        for l in &lines {
            for n in numbers(l) {
                assert!(
                    allowed.contains(&n),
                    "{cols}×{rows}: '{n}' is no count or rate of the matrix: '{l}'\n{frame}"
                );
            }
            assert!(
                (l.contains("88") && l.contains("163")) || (l.contains("12") && l.contains("1234")),
                "{cols}×{rows}: a count is missing: '{l}'\n{frame}"
            );
        }
    }
    // Compare at 60 columns: each run's counts whole, or the line cut at a space with `…`.
    app.details = None;
    for name in ["lr", "gbdt"] {
        goto(&mut app, name);
        update(&mut app, Action::ToggleSelect);
    }
    super::super::load_compare(&store, &mut app).unwrap();
    for c in &mut app.compare.runs {
        c.confusion = m;
    }
    allowed.extend([rate(1234, 12), rate(163, 88)]);
    app.screen = Screen::Compare;
    for (cols, rows) in [(60, 30), (80, 30)] {
        let frame = render(&app, cols, rows);
        let lines: Vec<String> = frame
            .lines()
            .map(|l| right_pane(l, cols))
            .filter(|l| l.starts_with("lr ") || l.starts_with("gbdt "))
            .collect();
        // At 60 columns one run is in view (the others scroll sideways).
        assert!(!lines.is_empty(), "{cols}×{rows}:\n{frame}");
        for l in &lines {
            for n in numbers(l) {
                assert!(
                    allowed.contains(&n),
                    "{cols}×{rows}: '{n}' is no count of the matrix: '{l}'\n{frame}"
                );
            }
            assert!(
                l.contains("TN 88") || l.trim_end().ends_with('…'),
                "{cols}×{rows}: '{l}'\n{frame}"
            );
        }
    }
}

/// A report whose estimate lies on the validation line in every window.
fn estimate_on_the_validation_line() -> crate::monitor::MonitorReport {
    let mut m = super::tasks::monitor_report();
    for w in &mut m.windows {
        w.estimated = Some(crate::monitor::cbpe::Estimate {
            rows: 5000,
            roc_auc: Some(0.8),
            accuracy: 0.7,
            f1: 0.6,
            precision: 0.6,
            recall: 0.6,
            true_positive: 1.0,
            false_positive: 1.0,
            true_negative: 1.0,
            false_negative: 1.0,
        });
    }
    m
}

#[test]
fn the_monitor_chart_draws_the_estimate_over_the_validation_line_with_a_legend_at_80x24() {
    let mut app = App::new(Vec::new(), 0);
    app.screen = Screen::Monitor;
    app.monitor.report = Some(estimate_on_the_validation_line());
    for (cols, rows) in [(80, 24), (160, 48)] {
        let mut t = Terminal::new(TestBackend::new(cols, rows)).unwrap();
        t.draw(|f| views::draw(f, &app)).unwrap();
        let buf = t.backend().buffer().clone();
        // The estimated line's braille cells are still there where the validation line runs.
        let estimate = views::palette(0);
        let braille = buf
            .content()
            .iter()
            .filter(|c| c.fg == estimate)
            .filter(|c| {
                c.symbol()
                    .chars()
                    .all(|ch| ('\u{2801}'..='\u{28ff}').contains(&ch))
            })
            .count();
        assert!(braille > 0, "{cols}×{rows}: the estimated line is hidden");
        let frame = render(&app, cols, rows);
        let chart_rows: Vec<&str> = frame
            .lines()
            .skip_while(|l| !l.contains("ROC AUC per window"))
            .collect();
        let legend = chart_rows.get(1).copied().unwrap_or_default();
        for want in ["estimated", "realized", "v3 validation"] {
            assert!(
                legend.contains(want),
                "{cols}×{rows}: the legend under the title lacks '{want}':\n{frame}"
            );
        }
    }
}

#[test]
fn a_sweep_trial_shows_its_fit_time_not_the_moment_it_was_recorded() {
    let (d, mut store) = seeded();
    let id = store
        .create_run(&NewRun {
            name: "sw-gbdt-03".into(),
            family: "gbdt".into(),
            params: vec![(crate::tune::SWEEP_KEY.into(), "sw".into())],
            ..Default::default()
        })
        .unwrap();
    store.set_status(&id, RunStatus::Running, None).unwrap();
    let rec = RunRecord {
        metrics: vec![
            ("roc_auc".into(), 0, 0.84),
            (crate::metrics::Metric::FitSeconds.key().into(), 0, 28.76),
        ],
        ..Default::default()
    };
    store.finish_run(&id, &rec).unwrap();
    // The list as the UI reads it: brief, with the listed metrics only.
    let mut app = App::new(super::super::list_runs(&store).unwrap(), 0);
    app.now = crate::util::now_ms();
    let frame = render(&app, 160, 20);
    let row = frame.lines().find(|l| l.contains("sw-gbdt-03")).unwrap();
    assert!(row.contains("28.8s"), "{frame}");
    assert!(!row.contains(" 0.0s"), "{frame}");
    goto(&mut app, "sw-gbdt-03");
    let mut tasks = crate::tui::Tasks::new(&cfg_for(&d));
    let e = update(&mut app, Action::Open).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    let frame = render(&app, 200, 40);
    let flat = frame.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("fit 28.8 s"), "{frame}");
    assert!(!flat.contains("run time 0.0 s"), "{frame}");
}

/// The help box's title: (first line shown, last line shown, lines in all).
fn help_position(frame: &str) -> (usize, usize, usize) {
    let title = frame.lines().find(|l| l.contains("Keys ")).unwrap();
    let n = numbers(title.split("Keys ").nth(1).unwrap());
    let n: Vec<usize> = n.iter().map(|x| x.parse().unwrap()).collect();
    (n[0], n[1], n[2])
}

#[test]
fn help_and_details_stop_at_their_end_and_k_moves_back_at_once() {
    let (d, mut store) = seeded();
    let mut app = App::new(store.list_runs().unwrap(), 0);
    update(&mut app, Action::ToggleHelp);
    let _ = render(&app, 80, 24);
    for _ in 0..500 {
        update(&mut app, Action::Down);
    }
    let (_, last, all) = help_position(&render(&app, 80, 24));
    assert_eq!(last, all, "the help ends at its last line");
    let (first, _, _) = help_position(&render(&app, 80, 24));
    update(&mut app, Action::Up);
    let (back, _, _) = help_position(&render(&app, 80, 24));
    assert_eq!(back + 1, first, "one k moves the help up one line");
    update(&mut app, Action::ToggleHelp);
    // A run with more text than the pane holds.
    let id = store
        .create_run(&NewRun {
            name: "wide".into(),
            family: "gbdt".into(),
            params: (0..40)
                .map(|i| (format!("param_{i:02}"), "1".into()))
                .collect(),
            ..Default::default()
        })
        .unwrap();
    store.set_status(&id, RunStatus::Running, None).unwrap();
    store.finish_run(&id, &RunRecord::default()).unwrap();
    app.set_runs(store.list_runs().unwrap(), 0);
    goto(&mut app, "wide");
    let mut tasks = crate::tui::Tasks::new(&cfg_for(&d));
    let e = update(&mut app, Action::Open).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    let top = render(&app, 80, 24);
    assert!(
        !top.contains("param_39"),
        "the text is longer than the pane:\n{top}"
    );
    for _ in 0..500 {
        update(&mut app, Action::Down);
    }
    let end = render(&app, 80, 24);
    assert!(end.contains("param_39"), "the end is in view:\n{end}");
    update(&mut app, Action::Up);
    let back = render(&app, 80, 24);
    assert_ne!(back, end, "one k scrolls back at once");
    assert!(back.contains("param_38"), "{back}");
}

/// The seeded store with lr on production (version 1), then gbdt forced past two failed
/// `[promote]` rules (version 2), then production rolled back to lr; and the app on it.
fn forced_then_rolled_back() -> (tempfile::TempDir, Store, App) {
    let (d, mut store) = seeded();
    let runs = store.list_runs().unwrap();
    let run = |n: &str| runs.iter().find(|r| r.name == n).unwrap().clone();
    let (lr, gbdt) = (run("lr"), run("gbdt"));
    let plain = Audit {
        actor: "cli:ana",
        reason: Some("first"),
        evidence: None,
        expect_from: None,
    };
    store.promote_run(&lr.id, "production", &plain).unwrap();
    let side = |r: &RunSummary, v: i64| Side {
        run_id: r.id.clone(),
        run_name: r.name.clone(),
        family: r.family.to_string(),
        version: Some(v),
    };
    let failed = |rule: &str| Check {
        rule: rule.into(),
        verdict: Verdict::Fail,
        detail: "worse".into(),
        measured: None,
        limit: None,
        test: None,
    };
    let evidence = Evidence {
        alias: "production".into(),
        candidate: side(&gbdt, 2),
        current: Some(side(&lr, 1)),
        policy: Policy {
            metric: Some("roc_auc".into()),
            max_predict_ms: Some(1.0),
            ..Default::default()
        },
        checks: vec![failed("metric"), failed("max_predict_ms")],
        passed: false,
        forced: true,
    };
    let json = serde_json::to_value(&evidence).unwrap();
    let forced = Audit {
        actor: "cli:bo",
        reason: Some("demo tomorrow"),
        evidence: Some(&json),
        expect_from: None,
    };
    store.promote_run(&gbdt.id, "production", &forced).unwrap();
    store
        .rollback_alias("production", "cli:ana", Some("too slow"))
        .unwrap();
    let mut app = App::new(super::super::list_runs(&store).unwrap(), 0);
    app.registry = super::super::load_registry(&store, 0).unwrap();
    (d, store, app)
}

#[test]
fn rolling_back_to_a_version_forced_past_the_policy_shows_its_metrics_and_warns() {
    let (_d, _store, mut app) = forced_then_rolled_back();
    update(&mut app, Action::Goto(2));
    // The second `r`: undoing the rollback puts the forced version back.
    update(&mut app, Action::AskRollback("production"));
    let c = app.confirm.clone().unwrap();
    assert!(c.warning, "{:?}", c.lines);
    let text = c.lines.join("\n");
    for want in [
        "production: version 1 → version 2",
        "⚠ version 2 was put on production by overriding [promote] (forced past metric, \
         max_predict_ms), by cli:bo; reason: demo tomorrow",
        "version 2: gbdt (gbdt)",
        "ROC AUC   0.8530  (+0.0940)",
    ] {
        assert!(text.contains(want), "'{want}' not in:\n{text}");
    }
    // Drawn whole, the warning first and in red.
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| views::draw(f, &app)).unwrap();
    let buf = t.backend().buffer().clone();
    let warn = buf
        .content()
        .iter()
        .find(|cell| cell.symbol() == "⚠")
        .expect("the warning is drawn");
    assert_eq!(warn.fg, ratatui::style::Color::Red);
}

#[test]
fn columns_are_sized_from_their_content_and_short_ones_are_never_cut() {
    let (_d, mut store, _) = forced_then_rolled_back();
    let id = store
        .create_run(&NewRun {
            name: "reference".into(),
            family: "linfa-tree".into(),
            ..Default::default()
        })
        .unwrap();
    store.set_status(&id, RunStatus::Failed, Some("x")).unwrap();
    let mut app = App::new(super::super::list_runs(&store).unwrap(), 0);
    app.registry = super::super::load_registry(&store, 0).unwrap();
    for cols in [100, 160, 200] {
        let frame = render(&app, cols, 30);
        assert!(
            frame.contains("linfa-tree"),
            "{cols}: FAMILY is cut:\n{frame}"
        );
        let header = frame.lines().find(|l| l.contains("NAME")).unwrap();
        let gap = header.find("ALIAS").unwrap() - header.find("NAME").unwrap();
        // The longest name is "reference" (9): its column is not stretched across the pane.
        assert!(gap <= 13, "{cols}: NAME takes {gap} columns:\n{frame}");
    }
    app.screen = Screen::Registry;
    for cols in [120, 160, 200] {
        let frame = render(&app, cols, 30);
        if cols >= 110 {
            assert!(
                frame.contains("forced past metric, max_predict_ms"),
                "{cols}: EVIDENCE is cut:\n{frame}"
            );
        }
        let header = frame.lines().find(|l| l.contains("VERSION")).unwrap();
        let gap = header.find("FAMILY").unwrap() - header.find("RUN").unwrap();
        // Run names are short here: the column is at its least (10) and no wider.
        assert!(gap <= 11, "{cols}: RUN takes {gap} columns:\n{frame}");
    }
}

#[test]
fn a_relative_score_path_is_the_workspace_s_and_a_failure_clears_the_old_result() {
    let (d, store) = seeded();
    let mut app = App::new(store.list_runs().unwrap(), 0);
    app.workspace = d.path().to_path_buf();
    app.screen = Screen::Score;
    app.score.path = "incoming/batch.csv".into();
    match update(&mut app, Action::Open) {
        Some(Effect::Score { path, .. }) => assert_eq!(path, d.path().join("incoming/batch.csv")),
        other => panic!("{other:?}"),
    }
    app.score.running = None;
    // An absolute path stays as typed.
    app.score.path = "/elsewhere/batch.csv".into();
    match update(&mut app, Action::Open) {
        Some(Effect::Score { path, .. }) => assert_eq!(path, Path::new("/elsewhere/batch.csv")),
        other => panic!("{other:?}"),
    }
    app.score.path = "incoming/batch.csv".into();
    app.screen = Screen::Drift;
    match update(&mut app, Action::Open) {
        Some(Effect::Drift { current }) => {
            assert_eq!(current, Some(d.path().join("incoming/batch.csv")))
        }
        other => panic!("{other:?}"),
    }
    // An earlier result does not stay under a failure, as if it were this file's.
    app.screen = Screen::Score;
    app.score.last = Some(super::tasks::summary(137_057));
    let mut tasks = crate::tui::Tasks::new(&cfg_for(&d));
    let msg = crate::tui::tasks::TaskMsg::Scored(Err("incoming/batch.csv: no such file".into()));
    crate::tui::on_task(&mut app, &mut tasks, msg);
    assert!(app.score.last.is_none());
    let frame = render(&app, 120, 30);
    assert!(!frame.contains("137,057"), "{frame}");
    assert!(frame.contains("not scored: incoming/batch.csv"), "{frame}");
}

#[test]
fn the_score_result_shows_the_data_quality_line_the_cli_prints() {
    let mut app = App::new(Vec::new(), 0);
    app.screen = Screen::Score;
    let mut s = super::tasks::summary(1000);
    s.quality = crate::data::quality::QualitySummary {
        rows: 1000,
        missing: 2,
        unseen: 5,
        ..Default::default()
    };
    let cli = crate::score::describe(&s);
    let line = cli
        .lines()
        .find_map(|l| l.strip_prefix("data quality: "))
        .unwrap()
        .to_string();
    assert_eq!(line, "2 missing, 5 unseen");
    app.score.last = Some(s);
    for (cols, rows) in [(120, 30), (80, 24)] {
        let frame = render(&app, cols, rows);
        assert!(
            frame.contains(&format!("data quality  {line}")),
            "{cols}×{rows}:\n{frame}"
        );
    }
}

/// A workspace whose dataset spec is its own ('visits'), with the file it was read from.
fn own_dataset() -> (tempfile::TempDir, crate::config::Config) {
    let d = tempfile::tempdir().unwrap();
    let cfg = cfg_for(&d);
    std::fs::write(
        cfg.settings_file(),
        "[dataset]\nname = \"visits\"\n\n[dataset.target]\ncolumn = \"back\"\n\
         labels = [\"no\", \"yes\"]\npositive = [\"yes\"]\n\n\
         [[dataset.columns]]\nname = \"age\"\nrole = \"numeric\"\nvalue = \"float\"\n\n\
         [[dataset.columns]]\nname = \"back\"\nrole = \"target\"\nvalue = \"text\"\n",
    )
    .unwrap();
    std::fs::write(d.path().join("visits.csv"), "age,back\n1,no\n2,yes\n").unwrap();
    (d, cfg)
}

#[test]
fn the_first_start_hint_names_the_dataset_s_training_file_and_says_when_it_is_missing() {
    let (d, cfg) = own_dataset();
    let flat = |app: &App| {
        render(app, 100, 30)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (_store, app) = crate::tui::open(&cfg).unwrap();
    let visits = d.path().join("visits.csv").display().to_string();
    assert_eq!(app.train_file, visits);
    let text = flat(&app);
    assert!(
        text.contains(&format!("Training file of dataset 'visits': {visits}")),
        "{text}"
    );
    assert!(!text.contains("missing"), "{text}");
    // The file gone: the hint says so rather than naming a file as if it were there.
    std::fs::remove_file(d.path().join("visits.csv")).unwrap();
    let (_store, app) = crate::tui::open(&cfg).unwrap();
    let text = flat(&app);
    let default = cfg.train_file().display().to_string();
    assert!(
        text.contains(&format!(
            "Training file of dataset 'visits': {default} is missing"
        )),
        "{text}"
    );
}

#[test]
fn ctrl_r_resets_the_form_and_esc_clears_a_kept_filter_that_matches_nothing() {
    use crossterm::event::KeyModifiers;
    let (_d, store) = seeded();
    let mut app = App::new(store.list_runs().unwrap(), 0);
    app.train_file = "data/train.csv".into();
    // The next form keeps the last run's settings; Ctrl-R brings back the defaults.
    app.last_form = Some(crate::tui::app::RunForm {
        name: "mine".into(),
        ..crate::tui::app::RunForm::new(Family::LinfaLr, "other.csv".into())
    });
    update(&mut app, Action::NewRun);
    assert_eq!(app.form.as_ref().unwrap().family, Family::LinfaLr);
    let frame = render(&app, 160, 40);
    let flat = frame.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("Ctrl-R resets to the defaults"), "{frame}");
    let ctrl_r = KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL);
    let a = keymap::action(&app, ctrl_r).expect("Ctrl-R is bound in the form");
    update(&mut app, a);
    let defaults = crate::tui::app::RunForm::new(Family::Gbdt, "data/train.csv".into());
    assert_eq!(app.form.as_ref().unwrap(), &defaults);
    update(&mut app, Action::Form(FormKey::Cancel));
    update(&mut app, Action::NewRun);
    assert_eq!(app.form.as_ref().unwrap(), &defaults, "the defaults stay");
    update(&mut app, Action::Form(FormKey::Cancel));
    // The help lists it.
    let help = views::help::lines(98)
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        help.contains("Ctrl-R") && help.contains("reset every field"),
        "{help}"
    );
    // A kept filter that matches nothing says so, and Esc clears it.
    update(&mut app, Action::StartFilter);
    for c in "zzz".chars() {
        update(&mut app, Action::FilterChar(c));
    }
    update(&mut app, Action::FilterDone);
    let frame = render(&app, 120, 20);
    assert!(
        frame.contains("no runs match 'zzz'; Esc clears it"),
        "{frame}"
    );
    let a = keymap::action(&app, KeyEvent::from(KeyCode::Esc)).expect("Esc is bound on Runs");
    update(&mut app, a);
    assert_eq!(app.list.filter, "");
    assert_eq!(app.list.view.len(), 4);
    assert!(render(&app, 120, 20).contains("4 of 4 runs"));
}
