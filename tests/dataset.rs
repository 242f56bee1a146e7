//! A workspace of another dataset: `data init` infers the spec from a CSV, and check, train,
//! score and drift read files by it; bad files and bad specs are refused with their names.

mod common;

use std::path::Path;

use common::{json, ok, run};
use staytrack::data::rng::Rng;

/// Visits with a planted signal: older patients, ward C and higher doses come back more often.
/// `visit` ids, a nullable text ward, a nullable float dose and a yes/no target.
fn visits(path: &Path, rows: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut out = String::from("visit,ward,age,dose,count,readmitted\n");
    for i in 0..rows {
        let ward = ["A", "B", "C", ""][rng.below(4) as usize];
        let age = 60.0 + 10.0 * rng.normal();
        let dose = (rng.f64() > 0.05).then(|| rng.f64() * 5.0);
        let count = rng.below(60);
        let z =
            0.08 * (age - 60.0) + if ward == "C" { 0.8 } else { 0.0 } + 0.4 * dose.unwrap_or(2.5)
                - 1.2;
        let yes = rng.f64() < 1.0 / (1.0 + (-z).exp());
        out.push_str(&format!(
            "{},{ward},{age:.1},{},{count},{}\n",
            1000 + i,
            dose.map_or(String::new(), |d| format!("{d:.3}")),
            if yes { "yes" } else { "no" }
        ));
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn another_dataset_goes_from_init_to_scored_rows() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let file = ws.join("visits.csv");
    visits(&file, 3000, 1);
    let f = file.to_str().unwrap();
    let o = ok(
        ws,
        &[
            "data",
            "init",
            f,
            "--target",
            "readmitted",
            "--positive",
            "yes",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("'visit' read as an id"), "{out}");
    assert!(out.contains("readmitted is 1 when it is yes"), "{out}");
    let settings = std::fs::read_to_string(ws.join("staytrack.toml")).unwrap();
    assert!(settings.contains("name = \"visits\""), "{settings}");
    // A second init does not replace the spec unless told.
    let o = run(ws, &["data", "init", f, "--target", "readmitted"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));

    // The file checks out; a bad cell is named by row and column.
    assert!(String::from_utf8_lossy(&ok(ws, &["data", "check", f]).stdout).contains("valid"));
    let bad = ws.join("bad.csv");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Row 5's age becomes text.
    let mut parts: Vec<String> = lines[5].split(',').map(str::to_string).collect();
    parts[2] = "old".into();
    lines[5] = parts.join(",");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let o = run(ws, &["data", "check", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("age") && err.contains("old"), "{err}");

    // Train on it: the planted signal is found by both families.
    ok(ws, &["train", "--data", f, "--model", "lr,gbdt"]);
    let runs = json(&ok(ws, &["runs", "list", "--json"]));
    for r in runs.as_array().unwrap() {
        let auc = r["metrics"]["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.65, "{}: {auc}", r["name"]);
    }
    ok(ws, &["promote", "--best"]);
    // Scored rows carry the spec's id column and the positive class.
    let scored = ws.join("scored.csv");
    let o = ok(ws, &["score", f, "--out", scored.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("readmitted is yes"));
    let text = std::fs::read_to_string(&scored).unwrap();
    assert_eq!(
        text.lines().next(),
        Some("visit,probability,positive,model_version")
    );
    assert_eq!(text.lines().count(), 3001);
    assert!(text.lines().nth(1).unwrap().starts_with("1000,"));
    // Drift reads the file by the model's spec: its inputs, none of the hospital's columns.
    let other = ws.join("later.csv");
    visits(&other, 1500, 2);
    let d = json(&ok(
        ws,
        &["drift", "--current", other.to_str().unwrap(), "--json"],
    ));
    let cols: Vec<&str> = d["report"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["ward", "age", "dose", "count"]);
    // The hospital twin is not written into this workspace.
    let o = run(ws, &["data", "synth", "--rows", "100"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("'visits'"));
}

#[test]
fn init_and_the_spec_refuse_what_cannot_be_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let file = ws.join("visits.csv");
    visits(&file, 200, 3);
    let f = file.to_str().unwrap();
    for (args, want) in [
        (
            vec!["--target", "outcome"],
            "--target outcome: no such column",
        ),
        (
            vec!["--target", "readmitted", "--positive", "maybe"],
            "--positive maybe",
        ),
        (vec!["--target", "ward"], "missing in"),
        (vec!["--target", "count"], "labels"),
        (vec!["--target", "readmitted", "--id", "ward"], "--id ward"),
    ] {
        let mut a = vec!["data", "init", f];
        a.extend(args.iter().copied());
        let o = run(ws, &a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{a:?}: {err}");
        assert!(err.contains(want), "{a:?}: {err}");
    }
    let one = ws.join("one.csv");
    std::fs::write(&one, "x,y\n1,a\n2,a\n").unwrap();
    let o = run(
        ws,
        &["data", "init", one.to_str().unwrap(), "--target", "y"],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("one label"));
    assert!(
        !ws.join("staytrack.toml").exists(),
        "a refused init writes nothing"
    );

    // A spec written by hand is checked before anything reads by it.
    ok(ws, &["data", "init", f, "--target", "readmitted"]);
    let path = ws.join("staytrack.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("name = \"age\"", "name = \"ward\"")).unwrap();
    let o = run(ws, &["train", "--data", f, "--model", "lr"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[dataset]") && err.contains("'ward' is listed twice"),
        "{err}"
    );
    std::fs::write(
        &path,
        text.replace("role = \"numeric\"", "role = \"feature\""),
    )
    .unwrap();
    let o = run(ws, &["data", "check", f]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("feature"));
}
