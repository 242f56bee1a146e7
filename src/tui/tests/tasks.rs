//! Background tasks seen from the UI: training with progress, failures said, exports, scoring,
//! drift.

use super::*;
/// Waits for the next message of a background task.
pub(super) fn next_task(tasks: &crate::tui::tasks::Tasks) -> crate::tui::tasks::TaskMsg {
    tasks
        .rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a background task reports within a minute")
}

#[test]
fn a_run_that_cannot_start_says_why_and_records_nothing() {
    let (d, mut store) = seeded();
    let mut tasks = crate::tui::tasks::Tasks::new(&cfg_for(&d));
    let mut app = App::new(store.list_runs().unwrap(), 0);
    update(&mut app, Action::NewRun);
    let form = app.form.as_mut().unwrap();
    // A file that is there but is no training file: the run fails in the background and
    // says why (a file that is not there is refused by the form itself).
    std::fs::write(d.path().join("bad.csv"), "not,a\ntraining,file\n").unwrap();
    form.data = d.path().join("bad.csv").display().to_string();
    let e = update(&mut app, Action::Form(FormKey::Submit)).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    assert!(tasks.busy());
    let msg = next_task(&tasks);
    crate::tui::on_task(&mut app, &mut tasks, msg);
    assert!(!tasks.busy());
    let m = app.message.clone().unwrap();
    assert!(m.error && m.text.contains("bad.csv"), "{m:?}");
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
    let mut tasks = crate::tui::tasks::Tasks::new(&cfg);
    let mut app = App::new(Vec::new(), 0);
    app.train_file = cfg.train_file().display().to_string();
    update(&mut app, Action::NewRun);
    // From gbdt, three steps round to lr (past linfa's two).
    for _ in 0..3 {
        update(&mut app, Action::Form(FormKey::Right));
    }
    assert_eq!(app.form.as_ref().unwrap().family, Family::Lr);
    let e = update(&mut app, Action::Form(FormKey::Submit)).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    let (mut progress, mut changed) = (0, false);
    while tasks.busy() {
        let msg = next_task(&tasks);
        if let crate::tui::tasks::TaskMsg::Train(crate::train::Event::Progress { .. }, _) = &msg {
            progress += 1;
        }
        changed |= crate::tui::on_task(&mut app, &mut tasks, msg);
    }
    assert!(changed && progress > 0, "progress events: {progress}");
    let runs = store.list_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Finished);
    assert_eq!(runs[0].family, crate::models::Family::Lr);
    let m = app.message.clone().unwrap();
    assert!(m.error && m.text.contains("stay safe"), "{m:?}");
}

#[test]
fn export_writes_the_screen_s_charts_and_says_where() {
    let (d, mut store) = seeded();
    let mut tasks = crate::tui::tasks::Tasks::new(&cfg_for(&d));
    let mut app = App::new(store.list_runs().unwrap(), 0);
    app.screen = Screen::Score;
    // Nothing to export yet: said at once, no task.
    crate::tui::apply(&mut store, &mut app, &mut tasks, Effect::Export).unwrap();
    assert!(app
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("nothing scored yet"));
    app.score.last = Some(crate::score::ScoreSummary {
        input: "data/test_data.csv".into(),
        output: "predictions/test_data.v1.csv".into(),
        kept: None,
        alias: "production".into(),
        positive_class: "stay of more than 30 days".into(),
        target_column: "Stay".into(),
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
        quality: Default::default(),
        logged: 0,
        seconds: 0.1,
    });
    // Two exports of the same screen: two folders, the first export left as it was.
    let mut pngs = Vec::new();
    for _ in 0..2 {
        crate::tui::apply(&mut store, &mut app, &mut tasks, Effect::Export).unwrap();
        let msg = next_task(&tasks);
        crate::tui::on_task(&mut app, &mut tasks, msg);
        let text = app.message.as_ref().unwrap().text.clone();
        assert!(text.contains("wrote 1 PNG file(s) to "), "{text}");
        let dir = std::path::PathBuf::from(text.split(" to ").nth(1).unwrap());
        assert!(dir.starts_with(d.path().join("reports")), "{text}");
        assert!(
            dir.to_string_lossy().ends_with("score") || dir.to_string_lossy().ends_with("score-2")
        );
        pngs.push(dir.join("score-test_data.v1.png"));
    }
    assert_ne!(pngs[0], pngs[1]);
    for png in &pngs {
        let bytes = std::fs::read(png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }
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
        kept: None,
        alias: "production".into(),
        positive_class: "stay of more than 30 days".into(),
        target_column: "Stay".into(),
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
        quality: Default::default(),
        logged: 0,
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
    app.drift.report = Some((
        7,
        stored_drift(
            &reference,
            &current,
            vec![crate::drift::monitor::WindowSummary {
                label: "w".into(),
                start_ms: 0,
                rows: 500,
                drifted: 1,
                share: 0.5,
                dataset_drift: true,
                prediction_statistic: None,
                statistics: Vec::new(),
                too_few: false,
            }],
        ),
    ));
    let s = big_screen(&app);
    for want in [
        "Report 7: shifted.csv (500 rows) against training profile",
        "DATASET DRIFT: 1 of 2",
        "Admission_Deposit",
        "DRIFT",
        "K-S p-value: reference cyan, current red",
        "Drift across windows",
    ] {
        assert!(s.contains(want), "{want} missing:\n{s}");
    }
    update(&mut app, Action::Down);
    assert!(big_screen(&app).contains("K-S p-value: reference cyan, current yellow"));
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
    crate::tui::load_compare(&store, &mut app).unwrap();
    app.screen = Screen::Compare;
    let mut t = Terminal::new(TestBackend::new(70, 30)).unwrap();
    let text = |t: &mut Terminal<TestBackend>, app: &App| {
        t.draw(|f| views::draw(f, app)).unwrap();
        let buf = t.backend().buffer().clone();
        buf.content().iter().map(|c| c.symbol()).collect::<String>()
    };
    let s = text(&mut t, &app);
    assert!(s.contains("runs 1-2 of 3"), "{s}");
    update(&mut app, Action::ScrollRight);
    let s = text(&mut t, &app);
    assert!(s.contains("runs 2-3 of 3"), "{s}");
    // At the end, `l` moves nothing, not even state the screen does not show.
    update(&mut app, Action::ScrollRight);
    assert_eq!(app.compare.offset, 1);
    update(&mut app, Action::ScrollLeft);
    assert_eq!(app.compare.offset, 0);
    // b picks each compared run in turn as the baseline, then none; the baseline stays in the
    // first column while the others scroll, and its deltas with it.
    let names: Vec<String> = app
        .compare
        .runs
        .iter()
        .map(|c| c.run.name.clone())
        .collect();
    update(&mut app, Action::PinBaseline);
    update(&mut app, Action::PinBaseline);
    let base = &names[1];
    assert_eq!(
        app.compare.baseline.as_ref(),
        Some(&app.compare.runs[1].run.id)
    );
    for _ in 0..3 {
        let s = text(&mut t, &app);
        assert!(s.contains(&format!("{base} (base)")), "{s}");
        assert!(s.contains("baseline + runs"), "{s}");
        assert!(
            s.contains("(+0.") || s.contains("(-0."),
            "deltas are shown: {s}"
        );
        update(&mut app, Action::ScrollRight);
    }
    update(&mut app, Action::PinBaseline);
    update(&mut app, Action::PinBaseline);
    assert_eq!(app.compare.baseline, None);
}

/// A real workspace with finished lr and gbdt runs on a small synthetic file.
pub(super) fn trained_workspace() -> (tempfile::TempDir, crate::config::Config, Store) {
    let d = tempfile::tempdir().unwrap();
    let cfg = cfg_for(&d);
    crate::data::synth::write_files(
        &crate::data::synth::SynthOptions {
            train_rows: 4000,
            test_rows: 10,
            ..Default::default()
        },
        &cfg.data_dir,
    )
    .unwrap();
    let mut store = Store::open(&cfg.db_path).unwrap();
    let prepared = crate::train::prepare(
        &cfg.train_file(),
        &crate::data::DatasetSpec::hospital(),
        7,
        0.2,
    )
    .unwrap();
    let jobs: Vec<crate::train::Job> = [Family::Lr, Family::Gbdt]
        .into_iter()
        .map(|f| crate::train::Job {
            name: f.name().into(),
            params: crate::models::Params::defaults(f),
        })
        .collect();
    let (tx, _rx) = std::sync::mpsc::channel();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    crate::train::run_jobs(
        &mut store,
        &cfg.artifacts_dir,
        &prepared,
        &jobs,
        &tx,
        &cancel,
    )
    .unwrap();
    (d, cfg, store)
}

#[test]
fn the_promotion_policy_refuses_in_the_tui_and_an_override_needs_a_reason() {
    let (_d, cfg, mut store) = trained_workspace();
    let mut tasks = crate::tui::tasks::Tasks::new(&cfg);
    let mut app = App::new(store.list_runs().unwrap(), 0);
    // gbdt on production first, with no policy: at once, nothing weighed.
    goto(&mut app, "gbdt");
    update(&mut app, Action::AskPromote("production"));
    let e = update(&mut app, Action::Confirm).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    assert_eq!(store.alias_version("production").unwrap(), Some(1));
    std::fs::write(
        cfg.settings_file(),
        "[promote]\nmetric = \"roc_auc\"\nmax_p = 0.05\n",
    )
    .unwrap();
    // lr is worse: weighed in the background, then refused with the numbers.
    goto(&mut app, "lr");
    update(&mut app, Action::AskPromote("production"));
    let e = update(&mut app, Action::Confirm).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    let msg = next_task(&tasks);
    assert!(crate::tui::on_task(&mut app, &mut tasks, msg));
    let s = render(&app, 160, 30);
    assert!(s.contains("[promote] refused lr for production"), "{s}");
    assert!(s.contains("✗ roc_auc") && s.contains("DeLong"), "{s}");
    assert_eq!(store.alias_version("production").unwrap(), Some(1));
    // Enter without a reason keeps the dialog open and moves nothing.
    assert!(update(&mut app, Action::Confirm).is_none());
    assert!(app.confirm.is_some());
    for c in "fairness audit".chars() {
        update(&mut app, Action::ReasonChar(c));
    }
    let e = update(&mut app, Action::Confirm).unwrap();
    assert!(matches!(e, Effect::Promote { force: true, .. }), "{e:?}");
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    let msg = next_task(&tasks);
    crate::tui::on_task(&mut app, &mut tasks, msg);
    assert_eq!(store.alias_version("production").unwrap(), Some(2));
    let ev = &store.alias_events(Some("production"), 1).unwrap()[0];
    assert_eq!(ev.reason.as_deref(), Some("fairness audit"));
    assert_eq!(ev.evidence.as_ref().unwrap()["forced"], true);
    // The Registry screen shows the evidence, in its column and rule by rule on Enter.
    app.registry = crate::tui::load_registry(&store, 0).unwrap();
    update(&mut app, Action::Goto(2));
    let s = render(&app, 160, 30);
    assert!(
        s.contains("EVIDENCE") && s.contains("forced past roc_auc"),
        "{s}"
    );
    update(&mut app, Action::Open);
    let s = render(&app, 160, 30);
    assert!(
        s.contains("✗ roc_auc") && s.contains("fairness audit"),
        "{s}"
    );
}

#[test]
fn compare_marks_real_differences_against_the_baseline_and_shows_intervals_on_demand() {
    let (_d, cfg, store) = trained_workspace();
    let tasks = crate::tui::tasks::Tasks::new(&cfg);
    let mut app = App::new(store.list_runs().unwrap(), 0);
    for name in ["lr", "gbdt"] {
        goto(&mut app, name);
        update(&mut app, Action::ToggleSelect);
    }
    update(&mut app, Action::Goto(1));
    crate::tui::load_compare(&store, &mut app).unwrap();
    assert!(app.compare.untested().is_none(), "no baseline, no tests");
    update(&mut app, Action::PinBaseline);
    let base = app.compare.baseline.clone().unwrap();
    let (b, runs) = app.compare.untested().expect("the other run needs a test");
    assert_eq!((b, runs.len()), (base.clone(), 1));
    // Asked once: a second look finds it under way.
    assert!(app.compare.untested().is_none());
    assert!(render(&app, 160, 40).contains('…'));
    tasks.paired(base, runs);
    let msg = next_task(&tasks);
    let mut tasks = tasks;
    crate::tui::on_task(&mut app, &mut tasks, msg);
    assert!(app.compare.testing.is_empty());
    let s = render(&app, 160, 40);
    let roc = s.lines().find(|l| l.contains("roc_auc")).unwrap();
    // lr against gbdt (or the reverse) on the same 800 rows: DeLong sees the gap.
    assert!(roc.contains('●'), "{s}");
    assert!(s.contains("● differs from the baseline"), "{s}");
    update(&mut app, Action::NextCells);
    let s = render(&app, 160, 40);
    let roc = s.lines().find(|l| l.contains("roc_auc")).unwrap();
    assert!(roc.contains("[+") || roc.contains("[-"), "{s}");
    // Another baseline forgets the old tests and asks for new ones.
    update(&mut app, Action::PinBaseline);
    assert!(app.compare.untested().is_some());
}

#[test]
fn a_trial_s_details_show_its_sweep_sorted_with_parameter_importance() {
    let (d, cfg, mut store) = trained_workspace();
    let space = d.path().join("space.toml");
    std::fs::write(
        &space,
        "[gbdt]\nn_rounds = 20\nmax_leaves = [4, 8, 16]\nlearning_rate = { min = 0.05, max = 0.5, log = true }\n",
    )
    .unwrap();
    let opts = crate::tune::TuneOptions {
        families: vec![Family::Gbdt],
        budget: std::time::Duration::from_secs(8),
        space: Some(space),
        data: cfg.train_file(),
        seed: 7,
        valid_fraction: 0.2,
        eta: 3,
        min_rung_rows: 300,
        name: Some("sw".into()),
    };
    let report = crate::tune::tune(&mut store, &cfg, &opts, &|_| {}).unwrap();
    // The default gbdt run was in the store already: found, not trained again.
    let default = report.families[0].default_run.clone().unwrap();
    assert_eq!(store.get_run(&default).unwrap().name, "gbdt");
    let best = report.families[0].best.clone().unwrap();
    let mut tasks = crate::tui::tasks::Tasks::new(&cfg);
    let mut app = App::new(store.list_runs().unwrap(), 0);
    goto(&mut app, &best.name);
    let e = update(&mut app, Action::Open).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    let sweep = app.details.as_ref().unwrap().sweep.as_ref().unwrap();
    let (_, trials, importance) = &sweep.families[0];
    assert_eq!(trials.len(), report.trials.len());
    assert!(
        trials.windows(2).all(|w| w[0].roc_auc >= w[1].roc_auc),
        "best first"
    );
    assert_eq!(trials[0].run_id, best.run_id);
    let keys: Vec<&str> = importance.iter().map(|i| i.0.as_str()).collect();
    assert!(keys.contains(&"learning_rate"), "{keys:?}");
    let s = render(&app, 160, 200);
    assert!(s.contains("sweep sw") && s.contains("importance"), "{s}");
    assert!(s.contains(&format!("▶{}", best.name)), "{s}");
}

pub(super) fn monitor_report() -> crate::monitor::MonitorReport {
    use crate::monitor::{Alert, MonitorReport, Realized, VersionInfo, WindowDrift, WindowReport};
    let window = |i: i64, real: f64, share: f64| WindowReport {
        label: format!("2026-11-2{i} 00:00"),
        start_ms: i,
        end_ms: i,
        model_version: Some(3),
        predictions: 5000,
        labelled: 2000,
        realized: Some(Realized {
            rows: 2000,
            positives: 700,
            roc_auc: Some(real),
            pr_auc: Some(0.6),
            accuracy: 0.7,
            f1: 0.6,
            log_loss: 0.5,
            brier: 0.2,
            calibration_error: 0.02,
        }),
        estimated: None,
        estimate_note: None,
        drift: Some(WindowDrift {
            share,
            drifted: (share * 10.0) as usize,
            columns: 10,
            drifted_columns: Vec::new(),
            rows: 5000,
        }),
        drift_note: None,
        quality: Default::default(),
        slices: None,
    };
    MonitorReport {
        generated_at: 0,
        window: "1d".into(),
        since_ms: 0,
        predictions: 15_000,
        labelled: 6000,
        versions: vec![VersionInfo {
            model_version: 3,
            run_id: "r".into(),
            validation_roc_auc: Some(0.8),
            calibrated: true,
        }],
        windows: vec![
            window(1, 0.8, 0.1),
            window(2, 0.79, 0.2),
            window(3, 0.6, 0.7),
        ],
        alerts: vec![Alert {
            window: "2026-11-23 00:00".into(),
            start_ms: 3,
            model_version: Some(3),
            rule: "max_realized_drop".into(),
            measured: 0.2,
            limit: 0.05,
            message: "version 3: realized ROC AUC 0.6000 is 0.2000 below validation".into(),
        }],
        notes: Vec::new(),
        thresholds: Default::default(),
    }
}

#[test]
fn the_monitor_screen_reads_the_log_when_first_shown_and_shows_lines_sparklines_and_alerts() {
    let (_d, store) = seeded();
    let mut app = App::new(store.list_runs().unwrap(), 0);
    let e = update(&mut app, Action::Goto(5));
    assert_eq!(app.screen, Screen::Monitor);
    assert!(matches!(e, Some(Effect::Monitor { window: "1h" })), "{e:?}");
    assert!(screen(&app).contains("reading the prediction log in windows of 1h"));
    // A second read waits for the first.
    assert!(update(&mut app, Action::Open).is_none());
    app.monitor.running = false;
    app.monitor.report = Some(monitor_report());
    let text = render(&app, 120, 40);
    for want in [
        "15,000 predictions, 6,000 labelled, 3 window(s) of 1d",
        "version 3: validation ROC AUC 0.8000; CBPE calibrates",
        "ROC AUC per window",
        "drift share (latest 7/10)",
        "Alerts (1)",
        "max_realized_drop",
    ] {
        assert!(text.contains(want), "{want} not in\n{text}");
    }
    // w: the next window size, read at once.
    let e = update(&mut app, Action::MonitorWindow);
    assert!(matches!(e, Some(Effect::Monitor { window: "1d" })), "{e:?}");
}

#[test]
fn the_first_screen_reads_the_newest_page_and_the_rest_arrives_in_the_background() {
    let d = tempfile::tempdir().unwrap();
    let cfg = cfg_for(&d);
    let mut store = Store::open(&cfg.db_path).unwrap();
    let n = crate::tui::load::FIRST_PAGE + 7;
    for i in 0..n {
        store
            .create_run(&crate::tracking::NewRun {
                name: format!("run-{i}"),
                family: "lr".into(),
                ..Default::default()
            })
            .unwrap();
    }
    let all: Vec<String> = crate::tui::list_runs(&store)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    drop(store);
    let (store, mut app) = crate::tui::open(&cfg).unwrap();
    assert_eq!(app.runs_total, n);
    // The page is the newest runs, in the order the whole list has them.
    let page: Vec<&String> = app.runs.iter().map(|r| &r.id).collect();
    assert_eq!(
        page,
        all.iter()
            .take(crate::tui::load::FIRST_PAGE)
            .collect::<Vec<_>>()
    );
    assert!(screen(&app).contains("reading 7 more"), "{}", screen(&app));
    let mut tasks = crate::tui::tasks::Tasks::new(&cfg);
    tasks.load_runs();
    // A second read asked for while the first runs is done once after it.
    tasks.load_runs();
    assert!(tasks.busy());
    let msg = next_task(&tasks);
    crate::tui::on_task(&mut app, &mut tasks, msg);
    assert_eq!(app.runs.len(), n);
    assert!(!screen(&app).contains("more)"), "{}", screen(&app));
    assert!(tasks.busy(), "the read asked for meanwhile is on its way");
    let msg = next_task(&tasks);
    crate::tui::on_task(&mut app, &mut tasks, msg);
    assert!(!tasks.busy());
    assert_eq!(app.runs.len(), store.count_runs().unwrap());
}

/// A scored file's summary of `rows` rows, a tenth of them positive.
pub(super) fn summary(rows: usize) -> crate::score::ScoreSummary {
    crate::score::ScoreSummary {
        input: "data/test_data.csv".into(),
        output: "predictions/test_data.v1.csv".into(),
        kept: None,
        alias: "production".into(),
        positive_class: "the positive class".into(),
        target_column: "label".into(),
        model_version: 1,
        run_id: "r".into(),
        rows,
        threshold: 0.5,
        positives: rows / 10,
        positive_share: 0.1,
        mean_probability: 0.2,
        histogram: vec![1; 10],
        roc_auc: None,
        accuracy: None,
        quality: Default::default(),
        logged: 0,
        seconds: 0.1,
    }
}

#[test]
fn cancelling_a_linfa_tree_run_stops_it_when_the_tree_is_grown_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let cfg = cfg_for(&d);
    crate::data::synth::write_files(
        &crate::data::synth::SynthOptions {
            train_rows: 60000,
            test_rows: 10,
            ..Default::default()
        },
        &cfg.data_dir,
    )
    .unwrap();
    let mut store = Store::open(&cfg.db_path).unwrap();
    let mut tasks = crate::tui::tasks::Tasks::new(&cfg);
    let mut app = App::new(Vec::new(), 0);
    app.train_file = cfg.train_file().display().to_string();
    update(&mut app, Action::NewRun);
    // From gbdt, two steps to linfa-tree.
    for _ in 0..2 {
        update(&mut app, Action::Form(FormKey::Right));
    }
    assert_eq!(app.form.as_ref().unwrap().family, Family::LinfaTree);
    let e = update(&mut app, Action::Form(FormKey::Submit)).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    // `x` once the tree has begun to grow (its first progress report), through the dialog; the
    // rows are enough for linfa to take far longer than that takes.
    let mut asked = None;
    while tasks.busy() {
        let msg = next_task(&tasks);
        let started = matches!(
            &msg,
            crate::tui::tasks::TaskMsg::Train(crate::train::Event::Progress { .. }, _)
        );
        if crate::tui::on_task(&mut app, &mut tasks, msg) {
            app.set_runs(store.list_runs().unwrap(), 0);
        }
        if started && asked.is_none() {
            update(&mut app, Action::AskCancel);
            let e = update(&mut app, Action::Confirm).expect("a running run can be cancelled");
            crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
            asked = app.message.clone();
        }
    }
    let said = asked
        .expect("linfa-tree reports progress while it fits")
        .text;
    assert!(
        said.contains("cannot be interrupted while its tree grows")
            && said.contains("recorded as cancelled"),
        "{said}"
    );
    let runs = store.list_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Cancelled, "{:?}", runs[0]);
    assert!(app.message.unwrap().text.contains("run cancelled"));
}

#[test]
fn an_override_keeps_the_typed_reason_and_the_evidence_the_refusal_weighed() {
    let (d, cfg, mut store) = trained_workspace();
    let mut tasks = crate::tui::tasks::Tasks::new(&cfg);
    let mut app = App::new(store.list_runs().unwrap(), 0);
    goto(&mut app, "gbdt");
    update(&mut app, Action::AskPromote("production"));
    let e = update(&mut app, Action::Confirm).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    // lr is worse on ROC AUC, and no model predicts a row in a nanosecond.
    std::fs::write(
        cfg.settings_file(),
        "[promote]\nmetric = \"roc_auc\"\nmax_p = 0.05\nmax_predict_ms = 0.000001\n",
    )
    .unwrap();
    goto(&mut app, "lr");
    update(&mut app, Action::AskPromote("production"));
    for c in "needed for the audit".chars() {
        update(&mut app, Action::ReasonChar(c));
    }
    let e = update(&mut app, Action::Confirm).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    let msg = next_task(&tasks);
    crate::tui::on_task(&mut app, &mut tasks, msg);
    let refused = app.confirm.clone().expect("the policy refuses lr");
    assert!(refused.title.contains("refused lr"), "{refused:?}");
    assert_eq!(refused.reason.as_deref(), Some("needed for the audit"));
    let timed = refused
        .lines
        .iter()
        .find(|l| l.starts_with("✗ max_predict_ms: one row takes"))
        .expect("the latency rule was measured")
        .clone();
    // Weighing again would now fail to time the model: its training rows are gone.
    std::fs::remove_file(cfg.train_file()).unwrap();
    // Enter overrides at once, with the reason already there.
    let e = update(&mut app, Action::Confirm).unwrap();
    assert!(
        matches!(&e, Effect::Promote { force: true, reason: Some(r), .. } if r == "needed for the audit"),
        "{e:?}"
    );
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    let msg = next_task(&tasks);
    crate::tui::on_task(&mut app, &mut tasks, msg);
    assert_eq!(store.alias_version("production").unwrap(), Some(2));
    let ev = &store.alias_events(Some("production"), 1).unwrap()[0];
    assert_eq!(ev.reason.as_deref(), Some("needed for the audit"));
    let kept = crate::promote::Evidence::of_event(ev).unwrap();
    assert!(kept.forced);
    assert!(
        kept.lines().contains(&timed),
        "the refusal's evidence is the one kept, not a second weighing: {:?}",
        kept.lines()
    );
    drop(d);
}
