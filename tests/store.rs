//! The tracking store on a real SQLite file: migrations, concurrent writers, runs.

use std::sync::{Arc, Barrier};

use rusqlite::Connection;
use staytrack::tracking::{schema, NewRun, RunStatus, Store, StoreError};

fn tables(path: &std::path::Path) -> Vec<String> {
    let c = Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn migrates_an_empty_file_and_reopening_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/staytrack.db");
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::latest());
    let id = store
        .create_run(&NewRun {
            name: "first".into(),
            family: "lr".into(),
            ..Default::default()
        })
        .unwrap();
    drop(store);
    let expected = [
        "alias_events",
        "aliases",
        "artifacts",
        "capture_segments",
        "curves",
        "drift_reports",
        "experiment_tags",
        "experiments",
        "metrics",
        "model_versions",
        "outcome_outbox",
        "outcomes",
        "params",
        "prediction_outcomes",
        "predictions",
        "registered_alias_events",
        "registered_aliases",
        "registered_models",
        "registered_versions",
        "run_inputs",
        "run_tags",
        "runs",
        "sync_state",
        "workspace_facts",
    ];
    assert_eq!(tables(&path), expected);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::latest());
    assert_eq!(tables(&path), expected);
    assert_eq!(store.list_runs().unwrap().len(), 1);
    assert!(store.run_exists(&id).unwrap());
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let c = Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("staytrack.db");
    Store::open(&path).unwrap();
    let c = Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", schema::latest() + 5)
        .unwrap();
    drop(c);
    let e = Store::open(&path).err().expect("must refuse");
    assert!(matches!(e, StoreError::Migrate { .. }));
    assert!(e.to_string().contains("newer than this staytrack"), "{e}");
    let c = Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, schema::latest() + 5);
}

#[test]
fn foreign_keys_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let e = store.log_metrics("no-such-run", &[("roc_auc", 0, 0.5)]);
    assert!(e.is_err(), "a metric for a missing run must be refused");
    let e = store
        .set_status("no-such-run", RunStatus::Running, None)
        .unwrap_err();
    assert!(matches!(e, StoreError::NoSuchRun(_)));
}

#[test]
fn runs_params_metrics_and_status_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let id = store
        .create_run(&NewRun {
            name: "gbdt-a".into(),
            family: "gbdt".into(),
            params: vec![
                ("learning_rate".into(), "0.1".into()),
                ("max_depth".into(), "6".into()),
            ],
            seed: Some(42),
            data_rows: Some(1000),
            ..Default::default()
        })
        .unwrap();
    store.set_status(&id, RunStatus::Running, None).unwrap();
    store
        .log_metrics(&id, &[("valid_logloss", 0, 0.6), ("valid_logloss", 1, 0.5)])
        .unwrap();
    store.log_metrics(&id, &[("roc_auc", 0, 0.84)]).unwrap();
    store.set_status(&id, RunStatus::Finished, None).unwrap();
    let r = store.get_run(&id[..8]).unwrap();
    assert_eq!(r.status, RunStatus::Finished);
    assert_eq!(r.params["max_depth"], "6");
    assert_eq!(r.metrics["valid_logloss"], 0.5, "the latest step wins");
    assert_eq!(r.metrics["roc_auc"], 0.84);
    assert!(r.started_at.is_some() && r.finished_at.unwrap() >= r.started_at.unwrap());
    assert_eq!(r.seed, Some(42));
    assert!(matches!(
        store.get_run("zzzz"),
        Err(StoreError::NoSuchRun(_))
    ));
    assert!(matches!(store.get_run(""), Err(StoreError::NoSuchRun(_))));
    assert_eq!(
        store.get_run(&id[id.len() - 6..]).unwrap().id,
        id,
        "a suffix finds it too"
    );
    // Two runs of one batch share their time prefix: a short prefix is ambiguous, not a guess.
    let other = store
        .create_run(&NewRun {
            name: "b".into(),
            family: "lr".into(),
            ..Default::default()
        })
        .unwrap();
    let e = store.get_run(&id[..4]).unwrap_err();
    assert!(matches!(e, StoreError::AmbiguousRun { .. }));
    assert!(
        e.to_string().contains(&other),
        "the candidates are listed: {e}"
    );
    assert_eq!(store.get_run(&other).unwrap().name, "b");
    // A name used once addresses its run; a name used twice is an error listing both.
    assert_eq!(store.get_run("b").unwrap().id, other);
    let again = store
        .create_run(&NewRun {
            name: "b".into(),
            family: "gbdt".into(),
            ..Default::default()
        })
        .unwrap();
    let e = store.get_run("b").unwrap_err().to_string();
    assert!(
        e.contains("'b' matches 2 runs") && e.contains(&other) && e.contains(&again),
        "{e}"
    );
}

#[test]
fn two_writers_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("s.db"));
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|w| {
            let path = Arc::clone(&path);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                // Each writer has its own connection, as two processes would.
                let store = Store::open(&path);
                barrier.wait();
                let mut store = store.unwrap();
                for i in 0..150 {
                    let id = store
                        .create_run(&NewRun {
                            name: format!("w{w}-{i}"),
                            family: "lr".into(),
                            params: vec![("c".into(), i.to_string())],
                            ..Default::default()
                        })
                        .unwrap();
                    store
                        .log_metrics(&id, &[("roc_auc", 0, 0.5 + i as f64 / 1000.0)])
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let runs = store.list_runs().unwrap();
    assert_eq!(runs.len(), 300);
    assert!(runs
        .iter()
        .all(|r| r.metrics.contains_key("roc_auc") && r.params.contains_key("c")));
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_version_1_store_migrates_in_place_keeping_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("staytrack.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(schema::MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO runs (id, experiment_id, name, family, status, created_at)
             VALUES ('old-run', 1, 'old', 'lr', 'finished', 1)",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::latest());
    assert!(tables(&path).contains(&"sync_state".to_string()));
    assert_eq!(store.get_run("old-run").unwrap().name, "old");
}

#[test]
fn lists_take_the_latest_step_and_brief_lists_only_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("staytrack.db")).unwrap();
    let mut ids = Vec::new();
    for (name, base) in [("a", 0.0), ("b", 10.0)] {
        let id = store
            .create_run(&NewRun {
                name: name.into(),
                family: "gbdt".into(),
                params: vec![("learning_rate".into(), format!("{base}"))],
                ..Default::default()
            })
            .unwrap();
        store.set_status(&id, RunStatus::Running, None).unwrap();
        // Steps logged out of order: the latest step wins, not the last row written.
        store
            .log_metrics(
                &id,
                &[
                    ("loss", 3, base + 0.3),
                    ("loss", 1, base + 0.1),
                    ("loss", 2, base + 0.2),
                    ("roc_auc", 0, base + 0.8),
                ],
            )
            .unwrap();
        ids.push(id);
    }
    let all = store.list_runs().unwrap();
    let b = all.iter().find(|r| r.name == "b").unwrap();
    assert_eq!(b.metrics["loss"], 10.3);
    assert_eq!(b.metrics["roc_auc"], 10.8);
    assert_eq!(b.params["learning_rate"], "10");
    let brief = store.list_runs_brief(&["roc_auc"]).unwrap();
    assert_eq!(brief.len(), 2);
    for r in &brief {
        assert_eq!(r.metrics.keys().collect::<Vec<_>>(), vec!["roc_auc"]);
        assert!(r.params.is_empty());
    }
    // One run by id carries its own values only.
    let a = store.get_run(&ids[0]).unwrap();
    assert_eq!(a.metrics["loss"], 0.3);
    assert_eq!(a.params["learning_rate"], "0");
    assert_eq!(a.metrics.len(), 2);
}

#[test]
fn a_store_from_before_text_ids_keeps_each_logged_id_and_outcome_as_text_that_still_join() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("staytrack.db");
    // The store as it was before ids became text: every migration up to that one.
    let text_ids = schema::MIGRATIONS
        .iter()
        .position(|m| m.contains("case_id_int"))
        .unwrap();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        for m in &schema::MIGRATIONS[..text_ids] {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", text_ids as i64)
            .unwrap();
        for (id, case) in [(1, Some(42)), (2, Some(7)), (3, None)] {
            c.execute(
                "INSERT INTO predictions (id, at, model_version, case_id, inputs, probability,
                                          class, source)
                 VALUES (?1, ?1, 1, ?2, '{}', 0.8, 1, '/predict')",
                rusqlite::params![id, case],
            )
            .unwrap();
        }
        c.execute(
            "INSERT INTO outcomes (case_id, label, raw, source, at) VALUES (42, 1, 'yes', 'f', 5)",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::latest());
    let c = rusqlite::Connection::open(&path).unwrap();
    let ids: Vec<(Option<String>, String)> = c
        .prepare("SELECT case_id, typeof(case_id) FROM predictions ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        ids,
        [
            (Some("42".to_string()), "text".to_string()),
            (Some("7".to_string()), "text".to_string()),
            (None, "null".to_string()),
        ]
    );
    let key: (String, String) = c
        .query_row("SELECT case_id, typeof(case_id) FROM outcomes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(key, ("42".to_string(), "text".to_string()));
    // The copied ids still meet their outcome: case 42 is labelled, the others are not.
    let mut outcomes = Vec::new();
    store
        .scan_predictions(
            &staytrack::tracking::predictions::LogFilter::since(0),
            &mut |r| outcomes.push(r.outcome),
        )
        .unwrap();
    assert_eq!(outcomes, [Some(1), None, None]);
}
