//! The Score screen's "why": the scored rows listed, the selected row's contributions drawn
//! with TestBackend and checked against `crate::explain`.

use super::tasks::{next_task, trained_workspace};
use super::*;
use crate::explain::Margin;
use crate::tui::tasks::{TaskMsg, Tasks};
use crate::tui::why::{RowWhy, MAX_ROWS};

/// Applies task reports until a row's explanation is in.
fn until_explained(app: &mut App, tasks: &mut Tasks) {
    loop {
        let msg = next_task(tasks);
        let done = matches!(msg, TaskMsg::WhyRow { .. });
        crate::tui::on_task(app, tasks, msg);
        if done {
            return;
        }
    }
}

/// Row `row` of the workspace's test file explained by the production model with
/// `crate::explain` directly: every column that moved it, largest first.
fn expected(cfg: &crate::config::Config, store: &Store, row: usize) -> Vec<(String, f64)> {
    let t = store.alias_target("production").unwrap().unwrap();
    let bundle =
        crate::bundle::Bundle::load_registered(&cfg.artifacts_dir, &t.sha256, t.path.as_deref())
            .unwrap();
    let explainer = crate::explain::Explainer::new(&bundle).unwrap();
    let frame = crate::data::load::load_csv(
        &cfg.test_file(),
        &bundle.spec,
        crate::data::Labels::Optional,
    )
    .unwrap();
    let all = crate::explain::explain_frame(
        &explainer,
        &bundle.pipeline,
        &frame,
        crate::explain::MAX_TOP,
    )
    .unwrap();
    all[row]
        .top
        .iter()
        .map(|c| (c.column.clone(), c.contribution))
        .collect()
}

/// The screen's bar for `column`: from its label on, holding its signed value.
fn bar_line<'a>(screen: &'a str, column: &str, c: f64) -> &'a str {
    let name: String = column.chars().take(20).collect();
    let value = format!("{c:+.4}");
    screen
        .lines()
        .filter_map(|l| l.find(&name).map(|i| &l[i..]))
        .find(|l| l.contains(&value) && l.contains('│'))
        .unwrap_or_else(|| panic!("no bar for {column} ({value}):\n{screen}"))
}

#[test]
fn the_score_screen_lists_scored_rows_and_charts_the_selected_row_s_contributions() {
    let (d, cfg, mut store) = trained_workspace();
    let mut tasks = Tasks::new(&cfg);
    let mut app = App::new(store.list_runs().unwrap(), 0);
    app.workspace = d.path().to_path_buf();
    app.score.path = "data/test_data.csv".into();
    goto(&mut app, "gbdt");
    update(&mut app, Action::AskPromote("production"));
    let e = update(&mut app, Action::Confirm).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    app.screen = Screen::Score;
    let e = update(&mut app, Action::Open).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    until_explained(&mut app, &mut tasks);
    let rows = app
        .score
        .why
        .rows
        .clone()
        .expect("the scored rows are listed");
    assert_eq!(rows.len(), 10);
    let scored = app.score.last.clone().unwrap();
    assert_eq!(rows.model_version, scored.model_version);

    for row in [0, 1] {
        let s = big_screen(&app);
        assert!(s.contains(&format!("Why row {}", row + 1)), "{s}");
        assert!(s.contains("10 rows (j/k)"), "{s}");
        // The row's probability is listed and charted, the class in the spec's words.
        let p = format!("{:.4}", rows.probabilities[row]);
        assert!(s.contains(&format!("probability {p}")), "{s}");
        assert!(s.contains(&scored.positive_class), "{s}");
        let want = expected(&cfg, &store, row);
        assert!(!want.is_empty());
        let why = &app.score.why.explained[&row];
        let got: Vec<(String, f64)> = why
            .columns
            .iter()
            .map(|(c, _, v)| (c.clone(), *v))
            .collect();
        assert_eq!(got, want);
        assert_eq!(why.margin, Margin::LogOdds);
        let sum: f64 = got.iter().map(|c| c.1).sum();
        assert!((why.expected + sum - why.output).abs() < 1e-9);
        // The largest columns are drawn with their signs: a positive bar right of the axis, a
        // negative one left of it.
        for (column, c) in want.iter().take(4) {
            let line = bar_line(&s, column, *c);
            let axis = line.find('│').unwrap();
            let bar = line.find('█').expect("a bar");
            assert_eq!(bar > axis, *c > 0.0, "{line}");
        }
        if row == 0 {
            let e = update(&mut app, Action::Down);
            assert_eq!(e, Some(Effect::ExplainRow { row: 1 }));
            crate::tui::apply(&mut store, &mut app, &mut tasks, e.unwrap()).unwrap();
            until_explained(&mut app, &mut tasks);
        }
    }
    // Back to a row already explained: nothing is asked again.
    assert_eq!(update(&mut app, Action::Up), None);
    assert_eq!(app.score.why.cursor, 0);
}

#[test]
fn a_model_that_cannot_be_explained_says_why_on_the_score_screen() {
    let mut app = App::new(Vec::new(), 0);
    app.screen = Screen::Score;
    app.score.last = Some(super::tasks::summary(10));
    app.score.why.error = Some(
        "version 1 cannot be explained: tree 0 keeps no training cover (the bundle was \
         written before explanations existed); train the run again to explain it"
            .into(),
    );
    let s = big_screen(&app);
    assert!(
        s.contains("no explanations: version 1 cannot be explained"),
        "{s}"
    );
    // Keys move nothing and ask nothing when there are no rows.
    assert_eq!(update(&mut app, Action::Down), None);
}

fn known() -> RowWhy {
    RowWhy {
        margin: Margin::Probability,
        expected: 0.25,
        output: 0.6,
        probability: 0.6,
        columns: vec![
            ("severity".into(), "high".into(), 0.5),
            ("age".into(), "41".into(), -0.2),
            ("ward".into(), "".into(), 0.05),
        ],
    }
}

#[test]
fn the_chart_draws_each_column_with_its_value_sign_and_the_sum() {
    let lines: Vec<String> = crate::tui::views::why::chart_lines(&known(), 100, 20)
        .iter()
        .map(|l| l.to_string())
        .collect();
    let text = lines.join("\n");
    assert!(
        text.contains("expected +0.2500 + contributions +0.3500 = +0.6000 (probability)"),
        "{text}"
    );
    let severity = lines
        .iter()
        .find(|l| l.contains("severity = high"))
        .unwrap();
    let age = lines.iter().find(|l| l.contains("age = 41")).unwrap();
    assert!(severity.ends_with("+0.5000"), "{severity}");
    assert!(age.ends_with("-0.2000"), "{age}");
    assert!(severity.find('█').unwrap() > severity.find('│').unwrap());
    assert!(age.find('█').unwrap() < age.find('│').unwrap());
    // The largest bar is the longest.
    let len = |l: &str| l.matches('█').count();
    assert!(len(severity) > len(age), "{text}");
    // Too short for every column: the rest are summed on the last line.
    let short: Vec<String> = crate::tui::views::why::chart_lines(&known(), 100, 4)
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(short.len(), 4, "{short:?}");
    assert_eq!(short[3], "… 2 more columns together -0.1500");
    // A value from a hostile file never reaches the terminal as a control sequence.
    let mut evil = known();
    evil.columns[0].1 = "\u{1b}[2Jx".into();
    let text: String = crate::tui::views::why::chart_lines(&evil, 100, 20)
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert!(
        !text.contains('\u{1b}') && text.contains("severity = \\u{1b}[2Jx"),
        "{text}"
    );
}

#[test]
fn answers_for_an_earlier_file_are_dropped_and_a_row_is_asked_for_once() {
    let mut why = crate::tui::why::WhyState {
        rows: Some(crate::tui::why::ScoredRows {
            id_column: "id".into(),
            ids: vec!["a".into(), "b".into()],
            probabilities: vec![0.1, 0.9],
            model_version: 1,
        }),
        generation: 2,
        ..Default::default()
    };
    assert_eq!(why.want(), Some(0));
    assert_eq!(why.want(), None, "asked already");
    why.answered(1, 0, known());
    assert!(why.explained.is_empty(), "an earlier file's answer");
    why.answered(2, 0, known());
    assert_eq!(why.pending, None);
    assert_eq!(why.want(), None, "known already");
    why.cursor = 1;
    assert_eq!(why.want(), Some(1));
}

#[test]
fn the_score_screen_s_help_states_the_rows_it_lists() {
    let help = keymap::KEYS
        .iter()
        .find(|k| k.scope == keymap::Scope::On(Screen::Score) && k.action == Action::Down)
        .unwrap()
        .help;
    let n = crate::util::thousands(MAX_ROWS);
    assert!(help.contains(&format!("first {n}")), "{help}");
}

#[test]
fn a_run_s_details_show_mean_shap_beside_gain_computed_when_opened_and_bounded() {
    let (d, cfg, mut store) = trained_workspace();
    let mut tasks = Tasks::new(&cfg);
    let mut app = App::new(store.list_runs().unwrap(), 0);
    app.workspace = d.path().to_path_buf();
    goto(&mut app, "gbdt");
    let e = update(&mut app, Action::Open).unwrap();
    crate::tui::apply(&mut store, &mut app, &mut tasks, e).unwrap();
    assert!(big_screen(&app).contains("computing…"));
    let msg = next_task(&tasks);
    assert!(matches!(msg, TaskMsg::DetailsShap { .. }));
    crate::tui::on_task(&mut app, &mut tasks, msg);
    let g = app
        .details
        .as_ref()
        .unwrap()
        .shap
        .clone()
        .unwrap()
        .unwrap()
        .unwrap();
    // The test file's 10 rows, well within the bounds.
    assert_eq!((g.rows, g.stopped_by_time), (10, false));
    let s = big_screen(&app);
    assert!(s.contains("Mean |SHAP|, 10 rows"), "{s}");
    assert!(s.contains(&g.columns[0].column), "{s}");
    // The numbers are crate::explain's mean |contribution| over those rows, gain beside them.
    let run_id = app.details.as_ref().unwrap().run.clone().unwrap().id;
    let a = store
        .artifacts(&run_id)
        .unwrap()
        .into_iter()
        .find(|a| a.name == "bundle")
        .unwrap();
    let bundle =
        crate::bundle::Bundle::load_registered(&cfg.artifacts_dir, &a.sha256, Some(&a.path))
            .unwrap();
    let explainer = crate::explain::Explainer::new(&bundle).unwrap();
    let frame = crate::data::load::load_csv(
        &cfg.test_file(),
        &bundle.spec,
        crate::data::Labels::Optional,
    )
    .unwrap();
    let all = crate::explain::explain_frame(
        &explainer,
        &bundle.pipeline,
        &frame,
        crate::explain::MAX_TOP,
    )
    .unwrap();
    for c in &g.columns {
        let want: f64 = all
            .iter()
            .flat_map(|r| r.top.iter().filter(|t| t.column == c.column))
            .map(|t| t.contribution.abs())
            .sum::<f64>()
            / 10.0;
        assert!((c.mean_abs_shap - want).abs() < 1e-12, "{}", c.column);
        assert!(c.gain.is_finite() && c.gain >= 0.0, "{}", c.column);
    }
    let gains: f64 = g.columns.iter().map(|c| c.gain).sum();
    assert!((gains - bundle.importance.iter().sum::<f64>()).abs() < 1e-9);
    // A time bound of nothing still explains one row, and says the bound came first.
    let one =
        crate::explain::global::of_bundle(&bundle, &cfg.test_file(), 5, std::time::Duration::ZERO)
            .unwrap();
    assert_eq!((one.rows, one.stopped_by_time), (1, true));
    assert!(one.describe().contains("the time bound came first"));
    let five = crate::explain::global::of_bundle(
        &bundle,
        &cfg.test_file(),
        5,
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!((five.rows, five.stopped_by_time), (5, false));
}
