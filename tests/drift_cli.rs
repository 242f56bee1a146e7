//! `staytrack drift` through the real binary: the synthetic drift modes, the prediction log cut
//! into windows, stored reports and bad arguments.

mod common;

use common::{csv_records, json, ok, run};

use serde_json::Value;

/// Synthetic data, an lr run promoted to production.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "20000", "--test-rows", "8000"],
    );
    ok(ws, &["train", "--model", "lr"]);
    let runs = json(&ok(ws, &["runs", "list", "--json"]));
    ok(ws, &["promote", runs[0]["id"].as_str().unwrap()]);
    dir
}

fn drifted(report: &Value) -> Vec<String> {
    report["report"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["drifted"].as_bool().unwrap())
        .map(|c| c["column"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn synthetic_drift_modes_are_found_on_the_columns_that_moved() {
    let dir = workspace();
    let ws = dir.path();
    let none = json(&ok(ws, &["drift", "--json"]));
    assert_eq!(
        none["report"]["dataset_drift"],
        Value::Bool(false),
        "{none}"
    );
    assert_eq!(drifted(&none), Vec::<String>::new());
    // The large training profile picks the distance tests.
    let tests: Vec<&str> = none["report"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["test"].as_str().unwrap())
        .collect();
    assert!(tests
        .iter()
        .all(|t| *t == "wasserstein" || *t == "jensen_shannon"));
    let pred = &none["report"]["prediction"];
    assert_eq!(pred["drifted"], Value::Bool(false), "{pred}");

    let other = ws.join("strong");
    ok(
        ws,
        &[
            "data",
            "synth",
            "--rows",
            "20000",
            "--test-rows",
            "8000",
            "--drift",
            "strong",
            "--out",
            other.to_str().unwrap(),
        ],
    );
    let strong_file = other.join("test_data.csv");
    let strong = json(&ok(
        ws,
        &[
            "drift",
            "--current",
            strong_file.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(strong["report"]["dataset_drift"], Value::Bool(true));
    let found = drifted(&strong);
    // What the strong mode shifts (data/README.md), and what it leaves alone.
    let shifted = [
        "Hospital_code",
        "Hospital_type_code",
        "City_Code_Hospital",
        "Available Extra Rooms in Hospital",
        "Ward_Facility_Code",
        "Type of Admission",
        "Severity of Illness",
        "Visitors with Patient",
        "Age",
        "Admission_Deposit",
    ];
    for f in &found {
        assert!(
            shifted.contains(&f.as_str()),
            "{f} drifted but was not shifted"
        );
    }
    for must in [
        "Type of Admission",
        "Severity of Illness",
        "Visitors with Patient",
        "Admission_Deposit",
    ] {
        assert!(
            found.iter().any(|f| f == must),
            "{must} not found in {found:?}"
        );
    }
    assert_eq!(strong["report"]["prediction"]["drifted"], Value::Bool(true));

    // Both reports were stored.
    let db = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    let (n, last): (i64, i64) = db
        .query_row(
            "SELECT COUNT(*), MAX(dataset_drift) FROM drift_reports",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((n, last), (2, 1));

    // A reference CSV of at most 1000 rows switches to the p-value tests.
    let small_ref = ws.join("small.csv");
    let text = std::fs::read_to_string(ws.join("data/train_data.csv")).unwrap();
    let head: Vec<&str> = text.lines().take(801).collect();
    std::fs::write(&small_ref, head.join("\n") + "\n").unwrap();
    let small = json(&ok(
        ws,
        &[
            "drift",
            "--reference",
            small_ref.to_str().unwrap(),
            "--json",
        ],
    ));
    let tests: Vec<&str> = small["report"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["test"].as_str().unwrap())
        .collect();
    assert!(
        tests.contains(&"ks") && tests.contains(&"chi_square"),
        "{tests:?}"
    );

    // Text output names the verdict.
    let o = ok(ws, &["drift", "--current", strong_file.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("DATASET DRIFT"), "{out}");
    assert!(out.contains("Admission_Deposit"), "{out}");
}

#[test]
fn the_prediction_log_is_cut_into_windows() {
    let dir = workspace();
    let ws = dir.path();
    let mut store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    let hour = 3_600_000;
    let base = staytrack::util::now_ms() - 3 * hour;
    let rows: Vec<staytrack::tracking::PredictionRow> = csv_records(&ws.join("data/test_data.csv"))
        .into_iter()
        .take(3000)
        .enumerate()
        .map(|(i, rec)| staytrack::tracking::PredictionRow {
            at: base + (i as i64 / 1000) * hour,
            model_version: Some(1),
            case_id: None,
            inputs: Value::Object(rec).to_string(),
            probability: 0.3 + (i % 10) as f64 * 0.02,
            class: 0,
            source: "/predict".into(),
            quality: None,
            ..Default::default()
        })
        .collect();
    store.log_predictions(&rows).unwrap();
    let by_rows = json(&ok(ws, &["drift", "--window", "1000rows", "--json"]));
    let windows = by_rows["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 3);
    assert!(windows.iter().all(|w| w["rows"] == 1000));
    let by_time = json(&ok(ws, &["drift", "--window", "1h", "--json"]));
    let n = by_time["windows"].as_array().unwrap().len();
    assert!((3..=4).contains(&n), "{n} windows");
    let total: u64 = by_time["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3000);
    // Logged probabilities bunched in 0.30..0.48 are far from the model's own spread.
    assert!(
        by_rows["windows"][0]["prediction_statistic"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let recent = json(&ok(
        ws,
        &["drift", "--window", "1h", "--since", "90m", "--json"],
    ));
    // Only the last hour's 1,000 rows are newer than 90 minutes.
    assert_eq!(recent["windows"].as_array().unwrap().len(), 1);
    assert_eq!(recent["windows"][0]["rows"], 1000);

    // Windows under the minimum are "too few rows", never drift; the minimum comes from the
    // flag, else `[drift] min_rows` in staytrack.toml.
    let o = common::run(ws, &["drift", "--window", "1000rows", "--min-rows", "1001"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("too few rows") && err.contains("holds 1000 row(s), fewer than the 1001"),
        "{err}"
    );
    std::fs::write(ws.join("staytrack.toml"), "[drift]\nmin_rows = 600\n").unwrap();
    let mixed = json(&ok(ws, &["drift", "--window", "700rows", "--json"]));
    let w = mixed["windows"].as_array().unwrap();
    // 3,000 rows in windows of 700: four full windows and one of 200.
    assert_eq!(w.len(), 5);
    assert!(w[..4].iter().all(|w| w["too_few"] == false));
    assert_eq!(
        (w[4]["rows"].as_u64(), w[4]["too_few"].as_bool()),
        (Some(200), Some(true))
    );
    assert_eq!(w[4]["dataset_drift"], false);
    let text =
        String::from_utf8_lossy(&ok(ws, &["drift", "--window", "700rows"]).stdout).to_string();
    assert!(text.contains("too few rows"), "{text}");
}

#[test]
fn bad_drift_requests_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "2000", "--test-rows", "100"],
    );
    for (args, want) in [
        (vec!["drift"], "no model is promoted to 'production'"),
        (vec!["drift", "--reference", "nope.csv"], "nope.csv"),
        (
            vec!["drift", "--test", "Age=median"],
            "'median' is not one of",
        ),
        (
            vec!["drift", "--test", "Colour=ks"],
            "'Colour' is not a model input",
        ),
        (vec!["drift", "--threshold", "Age"], "use COLUMN=VALUE"),
        (vec!["drift", "--window", "soon"], "--window 'soon'"),
    ] {
        let o = run(ws, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    let train = ws.join("data/train_data.csv");
    let o = run(
        ws,
        &[
            "drift",
            "--reference",
            train.to_str().unwrap(),
            "--window",
            "1h",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no predictions"));
}

#[test]
fn a_file_larger_than_a_chunk_gives_the_columns_of_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    common::ok(
        ws,
        &[
            "data",
            "synth",
            "--rows",
            "100",
            "--test-rows",
            "40000",
            "--drift",
            "mild",
        ],
    );
    let file = ws.join("data/test_data.csv");
    let spec = staytrack::data::DatasetSpec::hospital();
    let streamed = staytrack::drift::monitor::from_file(&file, &spec, None).unwrap();
    let whole = staytrack::data::load_csv(&file, &spec, staytrack::data::Labels::Optional).unwrap();
    assert_eq!(streamed.rows, 40_000);
    assert_eq!(streamed.columns, staytrack::drift::from_frame(&whole));
    assert!(streamed.probabilities.is_none());
}
