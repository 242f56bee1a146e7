//! Promotion on evidence through the real binary and server: the `[promote]` policy refuses a
//! worse candidate on every path (a run, `--version`, `--best`, the admin route), `--force`
//! needs a reason and is audited with the evidence, and rollbacks are never weighed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::server::Server;
use common::{json, ok, run, run_of};
use serde_json::{json, Value};

fn policy(ws: &Path, text: &str) {
    std::fs::write(ws.join("staytrack.toml"), format!("[promote]\n{text}\n")).unwrap();
}

fn production(ws: &Path) -> i64 {
    let store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    store.alias_version("production").unwrap().unwrap()
}

fn newest_event(ws: &Path) -> Value {
    json(&ok(ws, &["registry", "--json"]))["events"][0].clone()
}

fn check<'a>(evidence: &'a Value, rule: &str) -> &'a Value {
    evidence["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} check in {evidence}"))
}

#[test]
fn a_worse_candidate_is_refused_on_every_cli_path_and_force_is_audited() {
    let dir = common::trained("lr,gbdt", 6000);
    let ws = dir.path();
    let (lr, gbdt) = (run_of(ws, "lr"), run_of(ws, "gbdt"));
    // No policy: nothing is weighed.
    ok(ws, &["promote", &gbdt]);
    assert!(newest_event(ws)["evidence"].is_null());
    // lr onto staging (unguarded) registers it as version 2.
    ok(ws, &["promote", &lr, "--alias", "staging"]);

    policy(ws, "metric = \"roc_auc\"\nmax_p = 0.05");
    for args in [
        vec!["promote", lr.as_str()],
        vec!["promote", "--version", "2"],
    ] {
        let o = run(ws, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("✗ roc_auc"), "{err}");
        assert!(
            err.contains("DeLong") && err.contains("--force --reason"),
            "{err}"
        );
        assert_eq!(production(ws), 1, "{args:?} moved the alias");
    }
    // The refusal as JSON, with the numbers.
    let o = run(ws, &["promote", &lr, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["refused"], true);
    let c = check(&v["evidence"], "roc_auc");
    assert_eq!(c["verdict"], "fail");
    assert!(c["test"]["diff"].as_f64().unwrap() < 0.0, "{c}");
    assert!(c["test"]["p_value"].as_f64().unwrap() < 0.05, "{c}");
    assert_eq!(v["evidence"]["current"]["run_id"], gbdt.as_str());

    // --best on a guarded alias: gbdt (the best) against lr on staging passes the metric rule
    // but not a size limit no model meets.
    policy(
        ws,
        "aliases = [\"production\", \"staging\"]\nmetric = \"roc_auc\"\nmax_p = 0.05\nmax_model_mb = 0.000001",
    );
    let o = run(ws, &["promote", "--best", "--alias", "staging"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("✓ roc_auc") && err.contains("✗ max_model_mb"),
        "{err}"
    );

    // --force needs a reason; with one, the move is made and audited with its evidence.
    policy(ws, "metric = \"roc_auc\"\nmax_p = 0.05");
    let o = run(ws, &["promote", &lr, "--force"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(production(ws), 1);
    let o = ok(
        ws,
        &["promote", &lr, "--force", "--reason", "a fairer model"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("forced past roc_auc"), "{out}");
    assert_eq!(production(ws), 2);
    let e = newest_event(ws);
    assert_eq!(e["reason"], "a fairer model");
    assert_eq!(e["evidence"]["forced"], true);
    assert_eq!(e["evidence"]["passed"], false);
    assert_eq!(check(&e["evidence"], "roc_auc")["verdict"], "fail");
    let table = String::from_utf8_lossy(&ok(ws, &["registry"]).stdout).to_string();
    assert!(
        table.contains("EVIDENCE") && table.contains("forced past roc_auc"),
        "{table}"
    );

    // A rollback restores what served before: never weighed.
    ok(ws, &["promote", "--rollback", "--reason", "back to gbdt"]);
    assert_eq!(production(ws), 1);
    // A better candidate passes, and its evidence is kept too.
    ok(ws, &["promote", "--rollback"]);
    assert_eq!(production(ws), 2);
    let o = ok(ws, &["promote", &gbdt]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("✓ roc_auc"));
    assert_eq!(newest_event(ws)["evidence"]["passed"], true);
}

#[test]
fn a_policy_with_a_bad_value_is_an_error_naming_the_key() {
    let dir = common::trained("lr", 3000);
    let ws = dir.path();
    let lr = run_of(ws, "lr");
    for (text, key) in [
        ("metric = \"roc_auc\"\nmax_p = 3", "max_p"),
        ("metric = \"nonsense\"", "metric"),
        ("metric = \"fit_seconds\"", "metric"),
        ("max_p = 0.05", "need a metric"),
        ("max_drift_share = -1", "max_drift_share"),
        ("max_model_mb = nan", "max_model_mb"),
        ("aliases = [\"Prod!\"]", "aliases"),
        ("typo = 1", "typo"),
    ] {
        policy(ws, text);
        let o = run(ws, &["promote", &lr]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(0), "{text}");
        assert!(
            err.contains("staytrack.toml") && err.contains(key),
            "{text}: {err}"
        );
    }
    assert!(json(&ok(ws, &["registry", "--json"]))["events"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn the_drift_and_latency_rules_weigh_logged_predictions_and_timed_rows() {
    let dir = common::trained("lr,gbdt", 6000);
    let ws = dir.path();
    let (lr, gbdt) = (run_of(ws, "lr"), run_of(ws, "gbdt"));
    // Nothing logged yet: the drift rule has nothing to weigh and says so.
    policy(ws, "max_drift_share = 0.3");
    let o = ok(ws, &["promote", &lr]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("– max_drift_share") && out.contains("prediction(s) logged"),
        "{out}"
    );

    // A strongly shifted population in the prediction log.
    let other = ws.join("strong");
    ok(
        ws,
        &[
            "data",
            "synth",
            "--rows",
            "3000",
            "--test-rows",
            "2000",
            "--drift",
            "strong",
            "--out",
            other.to_str().unwrap(),
        ],
    );
    let mut store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    let rows: Vec<staytrack::tracking::PredictionRow> =
        common::csv_records(&other.join("test_data.csv"))
            .into_iter()
            .map(|rec| staytrack::tracking::PredictionRow {
                at: staytrack::util::now_ms(),
                model_version: Some(1),
                case_id: None,
                inputs: Value::Object(rec).to_string(),
                probability: 0.5,
                class: 1,
                source: "/predict".into(),
                quality: None,
                ..Default::default()
            })
            .collect();
    store.log_predictions(&rows).unwrap();
    drop(store);
    let o = run(ws, &["promote", &gbdt]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("✗ max_drift_share") && err.contains("columns drifted"),
        "{err}"
    );
    assert_eq!(production(ws), 1);

    // A latency limit no model meets fails; a generous one passes with its measurement.
    policy(ws, "max_predict_ms = 0.0000001");
    let o = run(ws, &["promote", &gbdt, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = check(&v["evidence"], "max_predict_ms");
    assert_eq!(c["verdict"], "fail", "{c}");
    assert!(c["measured"].as_f64().unwrap() > 0.0);
    policy(ws, "max_predict_ms = 10000");
    let v = json(&ok(ws, &["promote", &gbdt, "--json"]));
    assert_eq!(check(&v["evidence"], "max_predict_ms")["verdict"], "pass");
    assert_eq!(production(ws), 2);
}

fn post(base: &str, token: &str, body: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut resp = agent
        .post(&format!("{base}/v1/models/promote"))
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {token}"))
        .send(body.to_string().as_bytes())
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn the_admin_route_weighs_the_same_policy() {
    let dir = common::trained("lr,gbdt", 6000);
    let ws = dir.path();
    let (lr, gbdt) = (run_of(ws, "lr"), run_of(ws, "gbdt"));
    ok(ws, &["promote", &gbdt]);
    policy(ws, "metric = \"roc_auc\"\nmin_gain = 0.001\nmax_p = 0.05");
    let token = "an-admin-token-of-at-least-32-bytes";
    let srv = Server::start(ws, Some(token), &[]);
    let (s, v) = post(&srv.base, token, &json!({ "run_id": lr }));
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error_code"], "RESOURCE_CONFLICT");
    assert!(v["message"].as_str().unwrap().contains("✗ roc_auc"), "{v}");
    assert_eq!(check(&v["evidence"], "roc_auc")["verdict"], "fail");
    assert_eq!(production(ws), 1);
    let (s, v) = post(&srv.base, token, &json!({ "run_id": lr, "force": true }));
    assert_eq!(s, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("reason"), "{v}");
    let (s, v) = post(&srv.base, token, &json!({ "run_id": lr, "force": "yes" }));
    assert_eq!(s, 422, "{v}");
    let (s, v) = post(
        &srv.base,
        token,
        &json!({ "run_id": lr, "force": true, "reason": "shadow test" }),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["evidence"]["forced"], true);
    assert_eq!(v["serving_version"], 2);
    let e = newest_event(ws);
    assert_eq!(
        (e["actor"].as_str(), e["reason"].as_str()),
        (Some("api"), Some("shadow test"))
    );
    assert_eq!(e["evidence"]["forced"], true);
    srv.terminate();
}

#[test]
fn the_admin_route_answers_a_caller_fault_with_4xx_and_a_workspace_fault_with_500() {
    let dir = common::trained("lr", 1200);
    let ws = dir.path();
    let lr = run_of(ws, "lr");
    let token = "an-admin-token-of-at-least-32-bytes";
    let srv = Server::start(ws, Some(token), &[]);
    // What the caller named does not exist: 404, saying what.
    let (s, v) = post(&srv.base, token, &json!({ "run_id": "no-such-run" }));
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");
    assert!(
        v["message"].as_str().unwrap().contains("no-such-run"),
        "{v}"
    );
    let (s, v) = post(&srv.base, token, &json!({ "version": 99 }));
    assert_eq!(s, 404, "{v}");
    // A settings file the server cannot read is its own fault: 500, naming no path.
    let settings = ws.join("staytrack.toml");
    let _ = std::fs::remove_file(&settings);
    std::fs::create_dir(&settings).unwrap();
    let (s, v) = post(&srv.base, token, &json!({ "run_id": lr }));
    assert_eq!(s, 500, "{v}");
    assert_eq!(v["error_code"], "INTERNAL_ERROR");
    let m = v["message"].as_str().unwrap();
    assert!(m.contains("promotion policy"), "{v}");
    assert!(
        !m.contains("staytrack.toml") && !m.contains(&ws.display().to_string()),
        "{v}"
    );
    std::fs::remove_dir(&settings).unwrap();
    // So is a policy with a value out of range.
    policy(ws, "max_p = 3");
    let (s, v) = post(&srv.base, token, &json!({ "run_id": lr }));
    assert_eq!(s, 500, "{v}");
    assert!(
        !v["message"].as_str().unwrap().contains("staytrack.toml"),
        "{v}"
    );
    assert!(json(&ok(ws, &["registry", "--json"]))["events"]
        .as_array()
        .unwrap()
        .is_empty());
    srv.terminate();
}
