//! Slices: staytrack's per-slice metrics and fairness gaps against fairlearn's `MetricFrame`,
//! `demographic_parity_difference` and `equalized_odds_difference` on a fixture of 2,400
//! predictions (made by tests/fixtures/make_slices_fixture.py); and through the real binary,
//! training that stores slices, `runs show` and `runs compare` that show them, and promotion
//! refused by the slice gates with the slice named.

mod common;

use std::path::Path;

use common::{floats, json, ok, run, run_of};
use serde_json::{json, Map, Value};
use staytrack::slices::{measure, SliceSettings};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/slices_fairlearn.json")).unwrap()
}

fn assert_close(name: &str, ours: f64, theirs: f64) {
    assert!(
        (ours - theirs).abs() <= 1e-9,
        "{name}: staytrack {ours}, fairlearn {theirs}"
    );
}

#[test]
fn slices_and_gaps_agree_with_fairlearn() {
    let f = fixture();
    let y: Vec<u8> = f["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    let p = floats(&f["p"]);
    let x = floats(&f["x"]);
    // The rows as logged inputs: the categorical column as text, the numeric one as a number.
    let records: Vec<Option<Map<String, Value>>> = f["group"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&x)
        .map(|(g, x)| Some(json!({ "group": g, "x": x }).as_object().unwrap().clone()))
        .collect();
    let settings = SliceSettings {
        columns: vec!["group".into(), "x".into()],
        bins: [("x".to_string(), floats(&f["edges"]))].into(),
        min_rows: 1,
        ..Default::default()
    };
    let groupings = settings.group_records(&records);
    let threshold = f["threshold"].as_f64().unwrap();
    let report = measure(&y, &p, &groupings, threshold, 1).unwrap();
    assert_eq!(report.columns.len(), 2);
    for (ours, theirs) in report.columns.iter().zip(f["columns"].as_array().unwrap()) {
        assert_eq!(ours.column, theirs["column"]);
        let expected = theirs["slices"].as_object().unwrap();
        assert_eq!(ours.slices.len(), expected.len(), "{}", ours.column);
        for s in &ours.slices {
            let e = &expected[&s.value];
            let name = |m: &str| format!("{} = {}: {m}", ours.column, s.value);
            assert_eq!(
                s.rows as u64,
                e["rows"].as_u64().unwrap(),
                "{}",
                name("rows")
            );
            assert!(s.judged);
            for (m, v) in [
                ("positive_rate", Some(s.positive_rate)),
                ("selection_rate", Some(s.selection_rate)),
                ("tpr", s.tpr),
                ("fpr", s.fpr),
                ("roc_auc", s.roc_auc),
                ("calibration_error", Some(s.calibration_error)),
            ] {
                assert_close(&name(m), v.unwrap(), e[m].as_f64().unwrap());
            }
        }
        for (m, v) in [
            (
                "demographic_parity_difference",
                ours.demographic_parity_difference,
            ),
            ("equalized_odds_difference", ours.equalized_odds_difference),
        ] {
            let theirs = theirs[m].as_f64().unwrap();
            assert!(theirs > 0.05, "the fixture's {m} should not be near zero");
            assert_close(&format!("{}: {m}", ours.column), v.unwrap(), theirs);
        }
    }
    // A grouping of other rows is refused, not measured.
    assert!(measure(&y[1..], &p[1..], &groupings, threshold, 1).is_err());
}

#[test]
fn small_slices_are_shown_but_left_out_of_the_gaps() {
    let f = fixture();
    let y: Vec<u8> = f["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    let p = floats(&f["p"]);
    let records: Vec<Option<Map<String, Value>>> = f["group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| Some(json!({ "group": g }).as_object().unwrap().clone()))
        .collect();
    let settings = SliceSettings {
        columns: vec!["group".into()],
        ..Default::default()
    };
    let g = settings.group_records(&records);
    // `west` has 230 rows: with min_rows above that, it is measured but not judged, and the
    // gaps are those of the other three.
    let all = measure(&y, &p, &g, 0.5, 1).unwrap();
    let some = measure(&y, &p, &g, 0.5, 300).unwrap();
    let west = some.slice("group", "west").unwrap();
    assert!(!west.judged && west.rows == 230);
    assert_eq!(all.slice("group", "west").unwrap().roc_auc, west.roc_auc);
    let rates: Vec<f64> = some.columns[0]
        .slices
        .iter()
        .filter(|s| s.judged)
        .map(|s| s.selection_rate)
        .collect();
    let spread = rates.iter().cloned().fold(f64::MIN, f64::max)
        - rates.iter().cloned().fold(f64::MAX, f64::min);
    assert_close(
        "dpd without west",
        some.columns[0].demographic_parity_difference.unwrap(),
        spread,
    );
    assert_ne!(
        some.columns[0].demographic_parity_difference,
        all.columns[0].demographic_parity_difference
    );
}

fn settings(ws: &Path, text: &str) {
    std::fs::write(ws.join("staytrack.toml"), text).unwrap();
}

const SLICES: &str =
    "[slices]\ncolumns = [\"Age\", \"Hospital_region_code\", \"Admission_Deposit\"]\n\
                      [slices.bins]\nAdmission_Deposit = [4000, 6000]\n";

#[test]
fn training_stores_slices_and_a_slice_gate_refuses_naming_the_slice() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "6000", "--test-rows", "30"],
    );
    // A column the spec lacks is refused before any training, naming the key.
    settings(ws, "[slices]\ncolumns = [\"Nope\"]\n");
    let o = run(ws, &["train", "--model", "lr"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        err.contains("[slices] columns: 'Nope' is not a column"),
        "{err}"
    );
    settings(ws, SLICES);
    ok(ws, &["train", "--model", "lr,gbdt"]);
    let (lr, gbdt) = (run_of(ws, "lr"), run_of(ws, "gbdt"));

    let shown = json(&ok(ws, &["runs", "show", &gbdt, "--json"]));
    let cols = shown["slices"]["columns"].as_array().unwrap();
    let names: Vec<&str> = cols.iter().map(|c| c["column"].as_str().unwrap()).collect();
    assert_eq!(names, ["Age", "Hospital_region_code", "Admission_Deposit"]);
    let deposit: Vec<&str> = cols[2]["slices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(deposit, ["< 4000", "[4000, 6000)", "≥ 6000"]);
    let rows: u64 = cols[1]["slices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(rows, 1200, "every validation row is in one region slice");
    assert!(cols[1]["equalized_odds_difference"].as_f64().unwrap() > 0.0);
    assert!(shown["curves"].get("slice_rows").is_none());
    let text = String::from_utf8_lossy(&ok(ws, &["runs", "show", &gbdt]).stdout).to_string();
    assert!(text.contains("SLICE COLUMN") && text.contains("equalized odds difference"));

    // Compare: lr's worst slice against gbdt, with DeLong's test on that slice's rows.
    let cmp = json(&ok(ws, &["runs", "compare", &gbdt, &lr, "--json"]));
    let worst = &cmp["worst_slices"][0]["worst"];
    assert_eq!(cmp["worst_slices"][0]["run_id"], lr.as_str());
    assert!(worst["drop"].as_f64().unwrap() > 0.0, "{worst}");
    assert_eq!(worst["test"]["test"], "DeLong");
    let slice_rows = worst["rows"].as_u64().unwrap();
    assert!((30..1200).contains(&slice_rows), "{worst}");

    // slices.png beside the other run charts.
    let out = ws.join("charts");
    ok(ws, &["report", "--out", out.to_str().unwrap()]);
    let png = image::open(out.join("slices.png")).unwrap();
    assert!(png.width() >= 1000 && png.height() > 400);

    // The gates: gbdt serves; lr loses more than 0.01 of ROC AUC on some slice.
    ok(ws, &["promote", &gbdt]);
    settings(
        ws,
        &format!(
            "{SLICES}[promote]\nworst_slice_roc_auc_drop = 0.01\nmax_equalized_odds_difference = 0.01\n"
        ),
    );
    let o = run(ws, &["promote", &lr]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let value = worst["value"].as_str().unwrap();
    let column = worst["column"].as_str().unwrap();
    assert!(
        err.contains(&format!(
            "✗ worst_slice_roc_auc_drop: worst slice {column} = {value}:"
        )) && err.contains("the limit is 0.01"),
        "{err}"
    );
    assert!(err.contains("✗ max_equalized_odds_difference: "), "{err}");
    let o = run(ws, &["promote", &lr, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let check = v["evidence"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "worst_slice_roc_auc_drop")
        .unwrap()
        .clone();
    assert_eq!(check["verdict"], "fail");
    assert_close(
        "measured drop",
        check["measured"].as_f64().unwrap(),
        worst["drop"].as_f64().unwrap(),
    );

    // The admin route weighs the same gates and answers 409 naming the slice.
    let token = "an-admin-token-of-at-least-32-bytes";
    let srv = common::server::Server::start(ws, Some(token), &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into();
    let mut resp = agent
        .post(&format!("{}/v1/models/promote", srv.base))
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {token}"))
        .send(json!({ "run_id": lr }).to_string().as_bytes())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 409);
    let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("worst slice {column} = {value}:")),
        "{body}"
    );
    srv.terminate();

    // Loose limits pass; a run without slices fails the gate with the way to get them.
    settings(
        ws,
        &format!(
            "{SLICES}[promote]\nworst_slice_roc_auc_drop = 1\nmax_equalized_odds_difference = 1\n"
        ),
    );
    ok(ws, &["promote", &lr]);
    std::fs::write(
        ws.join("staytrack.toml"),
        "[promote]\nmax_equalized_odds_difference = 1\n",
    )
    .unwrap();
    ok(ws, &["train", "--model", "lr", "--name", "unsliced"]);
    let o = run(ws, &["promote", "unsliced"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("has no slice metrics") && err.contains("[slices]"),
        "{err}"
    );
}

#[test]
fn every_monitor_window_with_outcomes_is_measured_per_slice() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "3000", "--test-rows", "30"],
    );
    settings(ws, SLICES);
    ok(ws, &["train", "--model", "lr"]);
    ok(ws, &["promote", &run_of(ws, "lr")]);
    // 600 rows scored into the log, their outcomes fed back.
    let text = std::fs::read_to_string(ws.join("data/train_data.csv")).unwrap();
    let part: String = text.lines().take(601).map(|l| format!("{l}\n")).collect();
    std::fs::write(ws.join("part.csv"), &part).unwrap();
    let (part, scored) = (ws.join("part.csv"), ws.join("scored.csv"));
    let (part, scored) = (part.to_str().unwrap(), scored.to_str().unwrap());
    ok(ws, &["score", part, "--log", "--out", scored]);
    ok(ws, &["feedback", part]);
    let m = json(&ok(ws, &["monitor", "--window", "1000rows", "--json"]));
    let w = &m["windows"][0];
    assert_eq!(w["labelled"], 600);
    let region = &w["slices"]["columns"][1];
    assert_eq!(region["column"], "Hospital_region_code");
    // Each region's rows and positive rate, counted from the file itself.
    let spec = staytrack::data::DatasetSpec::hospital();
    let records = common::csv_records(&ws.join("part.csv"));
    for s in region["slices"].as_array().unwrap() {
        let rows: Vec<_> = records
            .iter()
            .filter(|r| r["Hospital_region_code"] == s["value"])
            .collect();
        let positives = rows
            .iter()
            .filter(|r| spec.target.positive.iter().any(|p| r["Stay"] == p.as_str()))
            .count();
        assert_eq!(s["rows"].as_u64().unwrap() as usize, rows.len(), "{s}");
        assert_close(
            "positive rate",
            s["positive_rate"].as_f64().unwrap(),
            positives as f64 / rows.len() as f64,
        );
    }
    let text =
        String::from_utf8_lossy(&ok(ws, &["monitor", "--window", "1000rows"]).stdout).to_string();
    assert!(text.contains("slices of window") && text.contains("Hospital_region_code"));

    // A store row that does not read as slices: the page still shows, the gate refuses.
    let id = run_of(ws, "lr");
    let db = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    db.execute(
        "UPDATE curves SET points = '{\"columns\": 5}' WHERE kind = 'slices'",
        [],
    )
    .unwrap();
    drop(db);
    let o = ok(ws, &["runs", "show", &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("slices left out") && err.contains("do not read"),
        "{err}"
    );
    settings(
        ws,
        &format!("{SLICES}[promote]\naliases = [\"staging\"]\nmax_equalized_odds_difference = 1\n"),
    );
    let o = run(ws, &["promote", &id, "--alias", "staging"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("✗ max_equalized_odds_difference") && err.contains("do not read"),
        "{err}"
    );
}
