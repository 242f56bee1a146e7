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

/// The columns `staytrack drift --current file` tested, in order.
fn drift_columns(ws: &Path, file: &Path) -> Vec<String> {
    let d = json(&ok(
        ws,
        &["drift", "--current", file.to_str().unwrap(), "--json"],
    ));
    d["report"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap().to_string())
        .collect()
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
    assert_eq!(drift_columns(ws, &other), ["ward", "age", "dose", "count"]);
    // `data init` named its file as the training file: `train` needs no --data.
    ok(ws, &["train", "--model", "lr"]);
    // With that file gone, training says where a file goes (the hospital twin is not
    // generated into this workspace).
    std::fs::rename(&file, ws.join("moved.csv")).unwrap();
    let o = run(ws, &["train", "--model", "lr"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--data FILE") && err.contains("visits.csv"),
        "{err}"
    );
    assert!(!ws.join("data").exists());
    // Nor is it written on request.
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
    ] {
        let mut a = vec!["data", "init", f];
        a.extend(args.iter().copied());
        let o = run(ws, &a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{a:?}: {err}");
        assert!(err.contains(want), "{a:?}: {err}");
    }
    // Files that are no table: empty, a header alone, bytes that are not text.
    for (name, bytes) in [
        ("empty.csv", b"".to_vec()),
        ("header.csv", b"x,y\n".to_vec()),
        (
            "binary.csv",
            (0u8..=255).cycle().take(4096).collect::<Vec<u8>>(),
        ),
    ] {
        let p = ws.join(name);
        std::fs::write(&p, bytes).unwrap();
        let o = run(ws, &["data", "init", p.to_str().unwrap(), "--target", "y"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
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
    // A file that does not match the spec is named with the column it lacks.
    let other = ws.join("other.csv");
    numeric_only(&other, 50, 4);
    let o = run(ws, &["data", "check", other.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("other.csv") && err.contains("visit"), "{err}");
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

/// Only numbers, a 0/1 target and no id column.
fn numeric_only(path: &Path, rows: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut out = String::from("x1,x2,x3,x4,x5,label\n");
    for _ in 0..rows {
        let x: Vec<f64> = (0..5).map(|_| rng.normal()).collect();
        let z = 1.2 * x[0] - 0.8 * x[1] + 0.5 * x[2] * x[3];
        let y = u8::from(rng.f64() < 1.0 / (1.0 + (-z).exp()));
        let cells: Vec<String> = x.iter().map(|v| format!("{v:.4}")).collect();
        out.push_str(&format!("{},{y}\n", cells.join(",")));
    }
    std::fs::write(path, out).unwrap();
}

/// Six text categories with gaps, one quantity, a three-label target and an id named `ref`.
fn categorical_heavy(path: &Path, rows: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut out = String::from("ref,c1,c2,c3,c4,c5,c6,amount,outcome\n");
    for i in 0..rows {
        let mut z = 0.0;
        let mut cells = Vec::new();
        for c in 0..6 {
            if rng.f64() < 0.1 {
                cells.push(String::new());
                continue;
            }
            let k = rng.below(5);
            if c < 2 {
                z += k as f64 * 0.4 - 0.8;
            }
            cells.push(format!("k{k}"));
        }
        let amount = rng.f64() * 100.0;
        z += (amount - 50.0) / 40.0;
        let u = rng.f64();
        let p = 1.0 / (1.0 + (-z).exp());
        let outcome = if u < p * 0.6 {
            "high"
        } else if u < 0.8 {
            "mid"
        } else {
            "low"
        };
        out.push_str(&format!(
            "{},{},{amount:.2},{outcome}\n",
            50_000 + i * 7,
            cells.join(",")
        ));
    }
    std::fs::write(path, out).unwrap();
}

/// From `data init` to served predictions on one schema: check, every family trained above
/// chance, the best promoted and scored, the same probabilities from `/predict`,
/// `/invocations` and OIP v2, drift on the model's inputs and a report.
fn end_to_end(
    make: fn(&Path, usize, u64),
    target: &str,
    extra: &[&str],
    ids: &[&str],
    inputs: &[&str],
) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let file = ws.join("data.csv");
    make(&file, 2500, 11);
    let f = file.to_str().unwrap();
    let mut init = vec!["data", "init", f, "--target", target];
    init.extend_from_slice(extra);
    ok(ws, &init);
    ok(ws, &["data", "check", f]);
    ok(
        ws,
        &["train", "--data", f, "--model", "all,linfa-lr,linfa-tree"],
    );
    let runs = json(&ok(ws, &["runs", "list", "--json"]));
    assert_eq!(runs.as_array().unwrap().len(), 6);
    for r in runs.as_array().unwrap() {
        let auc = r["metrics"]["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.6, "{target}: {} has ROC AUC {auc}", r["name"]);
    }
    ok(ws, &["promote", "--best"]);
    let scored = ws.join("scored.csv");
    ok(ws, &["score", f, "--out", scored.to_str().unwrap()]);
    let text = std::fs::read_to_string(&scored).unwrap();
    let mut header: Vec<&str> = ids.to_vec();
    header.extend(["probability", "positive", "model_version"]);
    assert_eq!(text.lines().next().unwrap(), header.join(","));
    let want: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(ids.len()).unwrap().parse().unwrap())
        .collect();

    // The server reads requests by the model's spec.
    let mut recs = common::records_from_csv(&std::fs::read_to_string(&file).unwrap(), true);
    for r in &mut recs {
        r.remove(target);
    }
    // Rows with every value present, for OIP's typed tensors.
    let full: Vec<usize> = (0..recs.len())
        .filter(|i| recs[*i].values().all(|v| !v.is_null()))
        .take(3)
        .collect();
    let srv = common::server::Server::start(ws, None, &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, body: serde_json::Value| -> serde_json::Value {
        let mut r = agent
            .post(&format!("{}{path}", srv.base))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(status, 200, "{path}: {v}");
        v
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 5e-7;
    let v = post("/predict", serde_json::json!(recs[..3]));
    for (i, p) in v["predictions"].as_array().unwrap().iter().enumerate() {
        assert!(
            close(p["probability"].as_f64().unwrap(), want[i]),
            "/predict {i}: {p}"
        );
    }
    let v = post(
        "/invocations",
        serde_json::json!({ "dataframe_records": recs[..3],
                            "params": {"predict_method": "predict_proba"} }),
    );
    for (i, p) in v["predictions"].as_array().unwrap().iter().enumerate() {
        assert!(
            close(p[1].as_f64().unwrap(), want[i]),
            "/invocations {i}: {p}"
        );
    }
    let mut meta = agent
        .get(&format!("{}/v2/models/staytrack", srv.base))
        .call()
        .unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&meta.body_mut().read_to_string().unwrap()).unwrap();
    let names: Vec<&str> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    for i in inputs {
        assert!(names.contains(i), "OIP metadata lacks {i}: {names:?}");
    }
    let tensors: Vec<serde_json::Value> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let name = i["name"].as_str().unwrap();
            serde_json::json!({"name": name, "datatype": i["datatype"], "shape": [full.len()],
                "data": full.iter().map(|r| recs[*r][name].clone()).collect::<Vec<_>>()})
        })
        .collect();
    let v = post(
        "/v2/models/production/infer",
        serde_json::json!({ "inputs": tensors }),
    );
    for (k, r) in full.iter().enumerate() {
        let p = v["outputs"][0]["data"][k].as_f64().unwrap();
        assert!(close(p, want[*r]), "OIP row {r}: {p} vs {}", want[*r]);
    }
    srv.terminate();

    let later = ws.join("later.csv");
    make(&later, 800, 12);
    assert_eq!(drift_columns(ws, &later), inputs);
    let out = ws.join("charts");
    let o = ok(ws, &["report", "--out", out.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("roc_pr_curves.png"));
}

#[test]
fn a_numeric_only_table_with_no_id_trains_scores_and_serves() {
    end_to_end(
        numeric_only,
        "label",
        &[],
        &[],
        &["x1", "x2", "x3", "x4", "x5"],
    );
}

#[test]
fn a_categorical_table_with_gaps_and_three_labels_trains_scores_and_serves() {
    end_to_end(
        categorical_heavy,
        "outcome",
        &["--positive", "high", "--id", "ref"],
        &["ref"],
        &["c1", "c2", "c3", "c4", "c5", "c6", "amount"],
    );
}

#[test]
fn a_yes_no_table_with_its_own_ids_trains_scores_and_serves() {
    end_to_end(
        visits,
        "readmitted",
        &["--positive", "yes"],
        &["visit"],
        &["ward", "age", "dose", "count"],
    );
}
