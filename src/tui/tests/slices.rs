//! Slices on the Compare and Monitor screens, drawn with TestBackend.

use super::{goto, render, seeded};
use crate::slices::{measure, Grouping, SliceReport};
use crate::tui::app::{update, Action, App, Screen};

/// Two slices, `a` and `b`, of eight rows; `flip` makes the model rank `b`'s rows backwards.
fn report(flip: bool) -> SliceReport {
    let y = [1, 0, 1, 0, 1, 0, 1, 0];
    let mut p = vec![0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4];
    if flip {
        p[4..].reverse();
    }
    let g = Grouping {
        column: "group".into(),
        labels: vec!["a".into(), "b".into()],
        members: vec![0, 0, 0, 0, 1, 1, 1, 1],
    };
    measure(&y, &p, &[g], 0.5, 1).unwrap()
}

#[test]
fn compare_names_each_run_s_worst_slice_against_the_baseline() {
    let (_d, store) = seeded();
    let mut app = App::new(store.list_runs().unwrap(), 0);
    for name in ["lr", "gbdt"] {
        goto(&mut app, name);
        update(&mut app, Action::ToggleSelect);
    }
    crate::tui::load_compare(&store, &mut app).unwrap();
    app.screen = Screen::Compare;
    // Runs trained without slices leave the box out.
    assert!(!render(&app, 160, 48).contains("Worst slice"));
    let gbdt = app
        .compare
        .runs
        .iter()
        .position(|c| c.run.name == "gbdt")
        .unwrap();
    for (i, c) in app.compare.runs.iter_mut().enumerate() {
        c.slices = Some(report(i != gbdt));
    }
    app.compare.baseline = Some(app.compare.runs[gbdt].run.id.clone());
    let frame = render(&app, 160, 48);
    assert!(
        frame.contains("Worst slice by ROC AUC (± vs the base's)"),
        "{frame}"
    );
    // lr ranks b's rows backwards: AUC 0 there against the baseline's 1.
    let line = frame
        .lines()
        .find(|l| l.contains("group = b"))
        .unwrap_or_else(|| panic!("no worst slice line:\n{frame}"));
    assert!(line.contains("0.0000 (-1.0000)"), "{line}");
    // Once the background test is in, its p-value joins the line.
    let lr = app.compare.runs[1 - gbdt].run.id.clone();
    let drop = crate::slices::compare::worst_drop(
        app.compare.runs[gbdt].slices.as_ref().unwrap(),
        app.compare.runs[1 - gbdt].slices.as_ref().unwrap(),
    )
    .unwrap();
    let test = crate::compare::MetricTest {
        metric: "roc_auc".into(),
        test: "DeLong".into(),
        baseline: 1.0,
        candidate: 0.0,
        diff: -1.0,
        p_value: 0.0123,
        ci: None,
    };
    app.compare.slice_tests.insert(
        lr,
        crate::slices::compare::SliceDrop {
            test: Some(test),
            ..drop
        },
    );
    let frame = render(&app, 160, 48);
    assert!(frame.contains("0.0000 (-1.0000, p = 1.230e-2)"), "{frame}");
    // At 120 columns the line still holds the slice, the drop and the p-value.
    let frame = render(&app, 120, 40);
    assert!(
        frame.contains("group = b: 0.0000 (-1.0000, p = 1.230e-2)"),
        "{frame}"
    );
}

#[test]
fn monitor_shows_the_newest_labelled_window_s_slices() {
    let mut app = App::new(Vec::new(), 0);
    app.screen = Screen::Monitor;
    let mut m = super::tasks::monitor_report();
    assert!(!render(
        &{
            let mut a = App::new(Vec::new(), 0);
            a.screen = Screen::Monitor;
            a.monitor.report = Some(m.clone());
            a
        },
        160,
        48
    )
    .contains("Slices of window"));
    let last = m.windows.len() - 1;
    m.windows[last].slices = Some(report(true));
    let label = m.windows[last].label.clone();
    app.monitor.report = Some(m);
    let frame = render(&app, 160, 48);
    assert!(
        frame.contains(&format!("Slices of window {label}")),
        "{frame}"
    );
    assert!(
        frame.contains("gaps: demographic parity 0.0000, equalized odds 1.0000"),
        "{frame}"
    );
    assert!(frame.contains("b                   4  0.0000"), "{frame}");
}
