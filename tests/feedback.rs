//! Outcomes fed back through `staytrack feedback` and `POST /v1/feedback`: stored once per case,
//! counted against logged predictions, bad rows skipped and named, reloads changing nothing.

mod common;

use common::{json, ok, run};
use serde_json::{json, Value};

/// A workspace with an lr model on production and 200 logged predictions of training rows;
/// returns it with those rows' (case_id, Stay).
fn logged() -> (tempfile::TempDir, Vec<(i64, String)>) {
    let dir = common::trained("lr", 3000);
    let ws = dir.path();
    ok(ws, &["promote", "lr"]);
    let recs = common::csv_records(&ws.join("data/train_data.csv"));
    let mut store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    let rows: Vec<staytrack::tracking::PredictionRow> = recs
        .iter()
        .take(200)
        .map(|r| staytrack::tracking::PredictionRow {
            at: staytrack::util::now_ms(),
            model_version: Some(1),
            case_id: r["case_id"].as_str().map(str::to_string),
            inputs: Value::Object(r.clone()).to_string(),
            probability: 0.4,
            class: 0,
            source: "/predict".into(),
            quality: None,
            ..Default::default()
        })
        .collect();
    store.log_predictions(&rows).unwrap();
    let truth = recs
        .iter()
        .take(200)
        .map(|r| {
            (
                r["case_id"].as_str().unwrap().parse().unwrap(),
                r["Stay"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (dir, truth)
}

#[test]
fn outcomes_load_once_count_unknown_ids_and_name_bad_rows() {
    let (dir, truth) = logged();
    let ws = dir.path();
    let mut csv = String::from("case_id,Stay\n");
    for (id, stay) in &truth {
        csv.push_str(&format!("{id},{stay}\n"));
    }
    for i in 0..10 {
        csv.push_str(&format!("{},0-10\n", 900_000_000 + i));
    }
    csv.push_str("abc,0-10\n");
    csv.push_str(&format!("{},forever\n", truth[0].0));
    let file = ws.join("outcomes.csv");
    std::fs::write(&file, &csv).unwrap();
    let f = file.to_str().unwrap();
    let o = run(ws, &["feedback", f, "--json"]);
    assert_eq!(o.status.code(), Some(1), "bad rows make the exit status 1");
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["rows"], 212);
    assert_eq!(s["new"], 210);
    assert_eq!(s["unknown_ids"], 10);
    let rejected = s["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{s}");
    assert_eq!(rejected[0][0], 211);
    assert!(rejected[0][1].as_str().unwrap().contains("'abc'"), "{s}");
    assert_eq!(rejected[1][0], 212);
    assert!(
        rejected[1][1].as_str().unwrap().contains("'forever'"),
        "{s}"
    );
    let store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    assert_eq!(store.count_outcomes().unwrap(), 210);
    drop(store);

    // The same file again changes nothing.
    let s = json(&run(ws, &["feedback", f, "--json"]));
    assert_eq!(
        (
            s["new"].as_u64(),
            s["unchanged"].as_u64(),
            s["changed"].as_u64()
        ),
        (Some(0), Some(210), Some(0))
    );
    // A corrected outcome replaces the old one; 0/1 labels are read too.
    let positive = truth
        .iter()
        .find(|(_, s)| !matches!(s.as_str(), "0-10" | "11-20" | "21-30"))
        .unwrap();
    let fix = ws.join("fix.csv");
    std::fs::write(&fix, format!("Stay,case_id\n0,{}\n", positive.0)).unwrap();
    let o = ok(ws, &["feedback", fix.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("0 new, 0 unchanged, 1 changed"), "{out}");
    // Bytes that are no table are an error naming the file, and nothing is stored.
    let junk = ws.join("junk.csv");
    std::fs::write(&junk, (0u8..=255).cycle().take(4096).collect::<Vec<u8>>()).unwrap();
    let o = run(ws, &["feedback", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("junk.csv"));
    let store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    assert_eq!(store.count_outcomes().unwrap(), 210);
    drop(store);
    // A file without the columns is an error naming them.
    let o = run(
        ws,
        &["feedback", fix.to_str().unwrap(), "--label", "Outcome"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no column 'Outcome'"));
}

#[test]
fn the_admin_route_takes_the_same_outcomes() {
    let (dir, truth) = logged();
    let ws = dir.path();
    let token = "a-feedback-token-of-at-least-32-bytes";
    let srv = common::server::Server::start(ws, Some(token), &["--max-rows", "50"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |body: Value, t: Option<&str>| -> (u16, Value) {
        let mut r = agent
            .post(&format!("{}/v1/feedback", srv.base))
            .header("Content-Type", "application/json");
        if let Some(t) = t {
            r = r.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = r.send(body.to_string().as_bytes()).unwrap();
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null),
        )
    };
    let recs: Vec<Value> = truth
        .iter()
        .take(20)
        .map(|(id, stay)| json!({"case_id": id, "Stay": stay}))
        .collect();
    assert_eq!(post(json!(recs), None).0, 401);
    let (s, v) = post(json!(recs), Some(token));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["new"].as_u64(), v["unknown_ids"].as_u64()),
        (Some(20), Some(0))
    );
    // Named fields, and a bad record skipped and named.
    let named = json!({"id": "case", "label": "outcome", "records": [
        {"case": truth[30].0, "outcome": 1}, {"case": "x", "outcome": 0}]});
    let (s, v) = post(named, Some(token));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["new"], 1);
    assert_eq!(v["rejected"][0][0], 2);
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"case_id": i, "Stay": "0-10"}))
        .collect();
    assert_eq!(post(json!(many), Some(token)).0, 413);
    assert_eq!(post(json!({"records": 3}), Some(token)).0, 422);
    srv.terminate();
}
