//! Explanations through the real binary: `staytrack explain` on a generated file (rows, order,
//! values, contributions that add up, outputs never replaced silently), and the server's
//! `explain` parameter on `/predict`, MLflow's `/invocations` and OIP's `/v2/.../infer`, with
//! hostile values refused by name.

mod common;

use std::path::Path;

use common::server::Server;
use common::{exchange, json, ok, records_from_csv, run};
use serde_json::{json, Value};

/// A workspace with a promoted model of `family`.
fn workspace(family: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "2500", "--test-rows", "300"],
    );
    // Small models: the test is about explaining them.
    let size = match family {
        "forest" => "n_trees=12",
        _ => "n_rounds=40",
    };
    ok(ws, &["train", "--model", family, "-p", size]);
    let id = common::run_of(ws, family);
    ok(ws, &["promote", &id]);
    dir
}

/// The explained file as rows of cells (no quoting in generated data).
fn rows_of(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

#[test]
fn explain_writes_each_row_s_top_columns_and_every_column_adds_up_to_the_probability() {
    for (family, margin) in [("gbdt", "log_odds"), ("forest", "probability")] {
        let dir = workspace(family);
        let ws = dir.path();
        let s = json(&ok(ws, &["explain", "--top", "64", "--json"]));
        assert_eq!(s["rows"], 300, "{family}");
        assert_eq!(s["margin"], margin, "{family}");
        assert_eq!(s["family"], family);
        let out = std::path::PathBuf::from(s["output"].as_str().unwrap());
        assert_eq!(out, ws.join("predictions/test_data.v1.explained.csv"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{family}: the output is the owner's only");
        let rows = rows_of(&out);
        assert_eq!(rows.len(), 301);
        assert_eq!(
            rows[0][..6],
            [
                "case_id",
                "patientid",
                "probability",
                "top1_column",
                "top1_value",
                "top1_contribution"
            ]
        );
        // Probabilities and ids are the ones `score` writes, in the file's order.
        let scored = json(&ok(ws, &["score", "--json"]));
        let scored = rows_of(Path::new(scored["output"].as_str().unwrap()));
        let expected = s["expected_value"].as_f64().unwrap();
        let columns: Vec<String> = s["mean_abs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[0].as_str().unwrap().to_string())
            .collect();
        assert!(columns.iter().any(|c| c == "Age") && !columns.iter().any(|c| c == "case_id"));
        for (r, (row, sc)) in rows[1..].iter().zip(&scored[1..]).enumerate() {
            assert_eq!(row[..3], sc[..3], "{family}, row {r}");
            let p: f64 = row[2].parse().unwrap();
            let mut sum = expected;
            let mut last = f64::INFINITY;
            for k in (3..row.len()).step_by(3) {
                if row[k].is_empty() {
                    assert!(row[k + 2].is_empty(), "{family}, row {r}");
                    continue;
                }
                assert!(columns.contains(&row[k]), "{family}, row {r}: {}", row[k]);
                let c: f64 = row[k + 2].parse().unwrap();
                assert!(c.abs() <= last, "{family}, row {r}: largest first");
                last = c.abs();
                sum += c;
            }
            // Every column listed: the values add up to the margin of the written probability
            // (six decimals of it).
            let margin_of_p = if margin == "log_odds" { logit(p) } else { p };
            assert!(
                (sum - margin_of_p).abs() < 1e-4,
                "{family}, row {r}: {sum} against {margin_of_p}"
            );
        }
        // The values are the row's own: an Age cell is one of the file's Age labels.
        let test = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
        let records = records_from_csv(&test, false);
        for (row, rec) in rows[1..].iter().zip(&records) {
            for k in (3..row.len()).step_by(3) {
                if !row[k].is_empty() && row[k] == "Age" {
                    assert_eq!(rec["Age"], Value::from(row[k + 1].as_str()));
                }
            }
        }
    }
}

#[test]
fn explain_never_replaces_an_output_silently_and_refuses_bad_top() {
    let dir = workspace("gbdt");
    let ws = dir.path();
    let first = json(&ok(ws, &["explain", "--json"]));
    let second = json(&ok(ws, &["explain", "--json"]));
    assert_eq!(
        second["output"].as_str().unwrap(),
        ws.join("predictions/test_data.v1.explained-2.csv")
            .to_str()
            .unwrap()
    );
    assert_eq!(second["kept"], first["output"]);
    // Five columns a row by default.
    let rows = rows_of(Path::new(first["output"].as_str().unwrap()));
    assert_eq!(rows[0].len(), 3 + 5 * 3);
    let out = ws.join("mine.csv");
    std::fs::write(&out, "keep me").unwrap();
    let o = run(ws, &["explain", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    ok(
        ws,
        &[
            "explain",
            "--out",
            out.to_str().unwrap(),
            "--force",
            "--top",
            "2",
        ],
    );
    assert_eq!(rows_of(&out)[0].len(), 3 + 2 * 3);
    for bad in ["0", "65", "-1", "many", "2.5"] {
        let o = run(ws, &["explain", &format!("--top={bad}")]);
        assert_eq!(o.status.code(), Some(2), "--top {bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("--top must be a whole number from 1 to 64"),
            "{err}"
        );
    }
    // A file with a missing column is refused by name, and nothing is written.
    let bad = ws.join("bad.csv");
    std::fs::write(&bad, "case_id,Age\n1,21-30\n").unwrap();
    let o = run(ws, &["explain", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!ws.join("predictions/bad.v1.explained.csv").exists());
}

/// POSTs JSON to the server; (status, body as JSON, or the text when it is not JSON).
fn post(addr: &str, path: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    );
    let (code, body) = exchange(addr, &head, &bytes);
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    (code, v)
}

/// Checks an explanation's shape: `k` columns at most, largest |contribution| first.
fn check(e: &Value, k: usize) {
    assert_eq!(e["margin"], "log_odds");
    assert!(e["expected_value"].is_f64());
    let top = e["top"].as_array().unwrap();
    assert!(!top.is_empty() && top.len() <= k, "{e}");
    let c: Vec<f64> = top
        .iter()
        .map(|t| t["contribution"].as_f64().unwrap())
        .collect();
    assert!(c.windows(2).all(|w| w[0].abs() >= w[1].abs()), "{e}");
    assert!(top.iter().all(|t| t["column"].is_string()));
}

#[test]
fn the_server_explains_when_asked_and_refuses_bad_values_by_name() {
    let dir = workspace("gbdt");
    let ws = dir.path();
    let srv = Server::start(ws, None, &[]);
    let addr = &srv.addr;
    let test = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let records = records_from_csv(&test, true);
    let one = Value::Object(records[0].clone());

    // Not asked: the answer is what it always was.
    let (code, plain) = post(addr, "/predict", &one);
    assert_eq!(code, 200);
    assert!(plain.get("explanation").is_none(), "{plain}");

    let (code, v) = post(addr, "/predict?explain=3", &one);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["probability"], plain["probability"]);
    check(&v["explanation"], 3);
    let age = records[0]["Age"].clone();
    for t in v["explanation"]["top"].as_array().unwrap() {
        if t["column"] == "Age" {
            assert_eq!(t["value"], age);
        }
    }
    // A list: each row explained, more than the inline rows so it runs off the workers.
    let many = Value::Array(records[..20].iter().cloned().map(Value::Object).collect());
    let (code, v) = post(addr, "/predict?explain=2", &many);
    assert_eq!(code, 200, "{v}");
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 20);
    preds.iter().for_each(|p| check(&p["explanation"], 2));

    // MLflow's params.explain, as a number or as text.
    for k in [json!(4), json!("4")] {
        let body = json!({"dataframe_records": &records[..3], "params": {"explain": k}});
        let (code, v) = post(addr, "/invocations", &body);
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["predictions"].as_array().unwrap().len(), 3);
        let e = v["explanations"].as_array().unwrap();
        assert_eq!(e.len(), 3);
        e.iter().for_each(|e| check(e, 4));
    }
    let (_, v) = post(
        addr,
        "/invocations",
        &json!({"dataframe_records": &records[..3]}),
    );
    assert!(v.get("explanations").is_none());

    // OIP's parameters.explain: one more output, a JSON text per row.
    let age_col: Vec<Value> = records[..2].iter().map(|r| r["Age"].clone()).collect();
    let mut inputs = Vec::new();
    for name in records[0].keys() {
        let data: Vec<Value> = records[..2].iter().map(|r| r[name].clone()).collect();
        let datatype = if data.iter().all(|d| d.is_i64()) {
            "INT64"
        } else if data.iter().all(|d| d.is_number()) {
            "FP64"
        } else {
            "BYTES"
        };
        inputs.push(json!({"name": name, "shape": [2], "datatype": datatype, "data": data}));
    }
    assert_eq!(age_col.len(), 2);
    let body = json!({"inputs": inputs, "parameters": {"explain": 3}});
    let (code, v) = post(addr, "/v2/models/staytrack/infer", &body);
    assert_eq!(code, 200, "{v}");
    let out = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "explanation")
        .unwrap_or_else(|| panic!("no explanation output: {v}"));
    assert_eq!(out["datatype"], "BYTES");
    assert_eq!(out["shape"], json!([2]));
    for text in out["data"].as_array().unwrap() {
        check(&serde_json::from_str(text.as_str().unwrap()).unwrap(), 3);
    }

    // Hostile values: a 400 that names the field, whatever the route.
    for bad in [
        "0",
        "65",
        "-1",
        "abc",
        "1e3",
        "",
        "99999999999999999999999",
        "3%00",
    ] {
        let (code, v) = post(addr, &format!("/predict?explain={bad}"), &one);
        assert_eq!(code, 400, "explain={bad}: {v}");
        assert!(
            v.to_string().contains("explain must be a whole number"),
            "{v}"
        );
    }
    let (code, v) = post(addr, "/predict?explain=2&explain=3", &one);
    assert_eq!(code, 400);
    assert!(v.to_string().contains("explain"), "{v}");
    for bad in [
        json!(0),
        json!(65),
        json!(-2),
        json!(2.5),
        json!("x"),
        json!(true),
        json!([1]),
    ] {
        let body = json!({"dataframe_records": &records[..1], "params": {"explain": bad}});
        let (code, v) = post(addr, "/invocations", &body);
        assert_eq!(code, 400, "params.explain={bad}: {v}");
        assert!(v.to_string().contains("params.explain"), "{v}");
        let body = json!({"inputs": inputs, "parameters": {"explain": bad}});
        let (code, v) = post(addr, "/v2/models/staytrack/infer", &body);
        assert_eq!(code, 400, "parameters.explain={bad}: {v}");
        assert!(v.to_string().contains("parameters.explain"), "{v}");
    }
    drop(srv);
}
