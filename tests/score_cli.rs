//! `staytrack score` through the real binary: the promoted model's probabilities, the summary,
//! atomic output, and the errors.

mod common;

use common::{json, ok, run};
use staytrack::bundle::Bundle;
use staytrack::data::{load_csv, DatasetSpec, Labels};

fn workspace() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "3000", "--test-rows", "1200"],
    );
    let o = ok(ws, &["train", "--model", "lr", "--json"]);
    let v = json(&o);
    let id = v[0]["run_id"].as_str().unwrap().to_string();
    (dir, id)
}

#[test]
fn score_writes_the_production_model_s_probabilities_and_a_true_summary() {
    let (dir, id) = workspace();
    let ws = dir.path();
    // Nothing promoted yet: a clear error, no file.
    let o = run(ws, &["score"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no model is promoted to 'production'"),
        "{err}"
    );
    assert!(!ws.join("predictions").exists());

    ok(ws, &["promote", &id]);
    let o = ok(ws, &["score", "--json"]);
    let s = json(&o);
    let out = std::path::PathBuf::from(s["output"].as_str().unwrap());
    assert_eq!(out, ws.join("predictions/test_data.v1.csv"));
    assert_eq!(s["rows"], 1200);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "case_id,patientid,probability,long_stay,model_version"
    );
    assert_eq!(lines.len(), 1201);

    // The probabilities are the bundle's own, row for row, in file order.
    let bundle_path = std::fs::read_dir(ws.join("artifacts"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "bundle"))
        .unwrap();
    let bundle = Bundle::load(&bundle_path).unwrap();
    let frame = load_csv(
        &ws.join("data/test_data.csv"),
        &DatasetSpec::hospital(),
        Labels::Optional,
    )
    .unwrap();
    let want = bundle.predict(&frame).unwrap();
    let test_text = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let mut positives = 0;
    let mut hist = [0u64; 10];
    for ((line, p), src) in lines[1..].iter().zip(&want).zip(test_text.lines().skip(1)) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(
            f[0],
            src.split(',').next().unwrap(),
            "case_id in file order"
        );
        let got: f64 = f[2].parse().unwrap();
        assert!((got - p).abs() < 5e-7, "{got} vs {p}");
        assert_eq!(f[3], if *p >= 0.5 { "1" } else { "0" });
        assert_eq!(f[4], "1");
        positives += usize::from(*p >= 0.5);
        hist[((p * 10.0) as usize).min(9)] += 1;
    }
    assert_eq!(s["positives"], positives);
    let share = s["positive_share"].as_f64().unwrap();
    assert!((share - positives as f64 / 1200.0).abs() < 1e-12);
    let got_hist: Vec<u64> = s["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(got_hist, hist);
    assert!(s["roc_auc"].is_null(), "the test file has no Stay");

    // A labelled file gets its metrics; a threshold moves the positives.
    let train = ws.join("data/train_data.csv");
    let scored = ws.join("scored.csv");
    let o = ok(
        ws,
        &[
            "score",
            train.to_str().unwrap(),
            "--threshold",
            "0.9",
            "--out",
            scored.to_str().unwrap(),
            "--json",
        ],
    );
    let s2 = json(&o);
    let auc = s2["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.6 && auc < 1.0, "{auc}");
    assert!(s2["positives"].as_u64().unwrap() < 3000 / 2);
    assert_eq!(s2["rows"], 3000);
    assert!(scored.is_file());

    // The text summary says where the file went.
    let o = ok(ws, &["score"]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("scored 1,200 rows") && t.contains("predictions written to"),
        "{t}"
    );
}

#[test]
fn a_bad_file_is_named_and_nothing_is_written() {
    let (dir, id) = workspace();
    let ws = dir.path();
    ok(ws, &["promote", &id]);
    let text = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[5].split(',').map(String::from).collect();
    let age = lines[0]
        .split(',')
        .position(|h| h == "Admission_Deposit")
        .unwrap();
    cells[age] = "lots".into();
    lines[5] = cells.join(",");
    std::fs::write(ws.join("bad.csv"), lines.join("\n")).unwrap();
    let (bad, out) = (ws.join("bad.csv"), ws.join("out.csv"));
    let o = run(
        ws,
        &[
            "score",
            bad.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.csv") && err.contains("Admission_Deposit"),
        "{err}"
    );
    assert!(!out.exists());
    let o = run(ws, &["score", "missing.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.csv"));
    let o = run(ws, &["score", "--threshold", "2"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_second_score_keeps_the_first_file_and_an_explicit_out_is_replaced_only_with_force() {
    let (dir, _) = workspace();
    let ws = dir.path();
    // A run is addressed by its name where its id would go.
    ok(ws, &["promote", "lr"]);
    let first = json(&ok(ws, &["score", "--json"]));
    let first_out = std::path::PathBuf::from(first["output"].as_str().unwrap());
    assert!(first_out.ends_with("predictions/test_data.v1.csv"));
    let before = std::fs::read(&first_out).unwrap();
    // A smaller file scored by the same version: a new name, the first file untouched.
    let text = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let few: String = text.lines().take(11).map(|l| format!("{l}\n")).collect();
    let small = ws.join("small").join("test_data.csv");
    std::fs::create_dir_all(small.parent().unwrap()).unwrap();
    std::fs::write(&small, few).unwrap();
    let o = ok(ws, &["score", small.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("test_data.v1.csv is kept") && said.contains("test_data.v1-2.csv"),
        "{said}"
    );
    assert_eq!(std::fs::read(&first_out).unwrap(), before);
    let second = ws.join("predictions/test_data.v1-2.csv");
    assert_eq!(
        std::fs::read_to_string(&second).unwrap().lines().count(),
        11
    );
    // --out naming a file that is there: refused, then replaced with --force.
    let o = run(
        ws,
        &[
            "score",
            small.to_str().unwrap(),
            "--out",
            first_out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exists; pass --force"), "{err}");
    assert_eq!(std::fs::read(&first_out).unwrap(), before);
    ok(
        ws,
        &[
            "score",
            small.to_str().unwrap(),
            "--out",
            first_out.to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&first_out).unwrap().lines().count(),
        11
    );
}

#[test]
fn a_file_larger_than_a_chunk_scores_as_the_whole_file_does_in_memory_and_a_late_error_names_its_row(
) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let rows = staytrack::score::CHUNK * 2 + 1234;
    ok(
        ws,
        &[
            "data",
            "synth",
            "--rows",
            "3000",
            "--test-rows",
            &rows.to_string(),
        ],
    );
    ok(ws, &["train", "--model", "gbdt"]);
    ok(ws, &["promote", "gbdt"]);
    let file = ws.join("data/test_data.csv");
    let out = ws.join("streamed.csv");
    let s = json(&ok(
        ws,
        &[
            "score",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--log",
            "--json",
        ],
    ));
    assert_eq!(s["rows"], rows);
    assert_eq!(s["logged"], rows);

    // The in-memory path: the whole file as one frame, through the same bundle.
    let store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    let t = store.alias_target("production").unwrap().unwrap();
    let bundle =
        Bundle::load_registered(&ws.join("artifacts"), &t.sha256, t.path.as_deref()).unwrap();
    let frame = load_csv(&file, &bundle.spec, Labels::Optional).unwrap();
    let probs = bundle.predict(&frame).unwrap();
    let ids = |name: &str| match frame.column(name) {
        Some(staytrack::data::ColumnData::Id(v)) => v.clone(),
        _ => panic!("{name}"),
    };
    let (case, patient) = (ids("case_id"), ids("patientid"));
    let mut want = String::from("case_id,patientid,probability,long_stay,model_version\n");
    for (i, p) in probs.iter().enumerate() {
        want.push_str(&format!(
            "{},{},{p:.6},{},{}\n",
            case.get(i),
            patient.get(i),
            u8::from(*p >= 0.5),
            t.version
        ));
    }
    assert!(
        std::fs::read_to_string(&out).unwrap() == want,
        "the streamed output differs from the in-memory scoring"
    );
    assert_eq!(store.count_predictions().unwrap(), rows);
    let positives = probs.iter().filter(|p| **p >= 0.5).count();
    assert_eq!(s["positives"], positives);

    // A bad value in the last chunk: named by its row and line in the whole file, nothing
    // written, nothing logged.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let col = lines[0]
        .split(',')
        .position(|h| h == "Admission_Deposit")
        .unwrap();
    let bad_row = rows - 3;
    let mut cells: Vec<String> = lines[bad_row].split(',').map(String::from).collect();
    cells[col] = "lots".into();
    lines[bad_row] = cells.join(",");
    let bad = ws.join("bad.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out2 = ws.join("never.csv");
    let o = run(
        ws,
        &[
            "score",
            bad.to_str().unwrap(),
            "--out",
            out2.to_str().unwrap(),
            "--log",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("row {bad_row} (line {})", bad_row + 1)),
        "{err}"
    );
    assert!(!out2.exists());
    assert_eq!(
        store.count_predictions().unwrap(),
        rows,
        "the failed pass logged nothing"
    );
    let leftovers: Vec<_> = std::fs::read_dir(ws)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
