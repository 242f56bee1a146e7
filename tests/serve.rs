//! The real server (`staytrack serve`) on an ephemeral loopback port, hit by a real HTTP client:
//! every route and format, every error class, hot promotion under concurrent load, admin auth,
//! and a graceful shutdown that answers in-flight requests and loses no logged prediction.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod common;

use common::server::Server;

use serde_json::{json, Value};
use staytrack::bundle::Bundle;
use staytrack::data::{DatasetSpec, Frame};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_staytrack"))
}

fn run(ws: &Path, args: &[&str]) -> Output {
    let o = bin().args(args).env("STAYTRACK_HOME", ws).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A workspace with synthetic data and two finished runs (lr, tree), built once and copied.
fn template() -> &'static Path {
    static T: OnceLock<tempfile::TempDir> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        run(
            dir.path(),
            &["data", "synth", "--rows", "3000", "--test-rows", "300"],
        );
        run(dir.path(), &["train", "--model", "lr,tree"]);
        dir
    })
    .path()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(template(), dir.path());
    dir
}

/// Run ids by family.
fn run_id(ws: &Path, family: &str) -> String {
    let o = run(ws, &["runs", "list", "--json", "--family", family]);
    let runs: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    runs[0]["id"].as_str().unwrap().to_string()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// (status, parsed JSON body or the text as a JSON string)
fn call(method: &str, url: &str, ctype: Option<&str>, body: Option<&[u8]>) -> (u16, Value) {
    call_with(&agent(), method, url, ctype, body, None)
}

fn call_with(
    a: &ureq::Agent,
    method: &str,
    url: &str,
    ctype: Option<&str>,
    body: Option<&[u8]>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut resp = match method {
        "GET" => {
            let mut r = a.get(url);
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.call()
        }
        _ => {
            let mut r = a.post(url);
            if let Some(c) = ctype {
                r = r.header("Content-Type", c);
            }
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.send(body.unwrap_or_default())
        }
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

fn post_json(url: &str, body: &Value) -> (u16, Value) {
    call(
        "POST",
        url,
        Some("application/json"),
        Some(body.to_string().as_bytes()),
    )
}

/// The first `n` rows of the workspace's test file as records, numbers as JSON numbers.
fn test_records(ws: &Path, n: usize) -> Vec<serde_json::Map<String, Value>> {
    let text = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let mut recs = common::records_from_csv(&text, true);
    recs.truncate(n);
    recs
}

/// What the promoted bundle predicts for the records, computed in-process.
fn offline(ws: &Path, run: &str, records: &[serde_json::Map<String, Value>]) -> Vec<f64> {
    let db = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    let sha: String = db
        .query_row(
            "SELECT sha256 FROM artifacts WHERE run_id = ?1 AND name = 'bundle'",
            [run],
            |r| r.get(0),
        )
        .unwrap();
    let path: PathBuf = ws
        .join("artifacts")
        .join(&sha[..2])
        .join(format!("{sha}.bundle"));
    let b = Bundle::load(&path).unwrap();
    let frame = Frame::from_records(&DatasetSpec::hospital(), records).unwrap();
    b.predict(&frame).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn every_route_and_format_gives_the_model_s_answer() {
    let ws = workspace();
    let lr = run_id(ws.path(), "lr");
    run(ws.path(), &["promote", &lr]);
    let srv = Server::start(ws.path(), None, &[]);
    let u = |p: &str| format!("{}{p}", srv.base);
    let recs = test_records(ws.path(), 3);
    let want = offline(ws.path(), &lr, &recs);

    let (s, v) = call("GET", &u("/health"), None, None);
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    let (s, v) = call("GET", &u("/ready"), None, None);
    assert_eq!((s, v["model_version"].as_i64()), (200, Some(1)));
    let (s, v) = call("GET", &u("/v1/models"), None, None);
    assert_eq!(s, 200);
    assert_eq!(v["serving"]["run_id"], json!(lr));
    assert_eq!(v["versions"][0]["aliases"], json!(["production"]));
    assert_eq!(v["events"][0]["to_version"], json!(1));

    // /predict, one record and a list; case_id optional.
    let (s, v) = post_json(&u("/predict"), &Value::Object(recs[0].clone()));
    assert_eq!(s, 200, "{v}");
    assert!(close(v["probability"].as_f64().unwrap(), want[0]), "{v}");
    assert_eq!(v["class"], json!((want[0] >= 0.5) as i64));
    assert_eq!(v["model_version"], json!(1));
    assert_eq!(v["case_id"], recs[0]["case_id"]);
    let mut no_id = recs[1].clone();
    no_id.remove("case_id");
    let (s, v) = post_json(&u("/predict"), &json!([recs[0], no_id, recs[2]]));
    assert_eq!(s, 200, "{v}");
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 3);
    for (p, w) in preds.iter().zip(&want) {
        assert!(close(p["probability"].as_f64().unwrap(), *w));
    }
    assert_eq!(preds[1]["case_id"], Value::Null);

    // The seed's route and shape, with the bare NaN pandas writes for a missing value.
    let mut with_nan = recs[0].clone();
    with_nan.insert("Bed Grade".into(), Value::Null);
    let nan_body = Value::Object(with_nan.clone())
        .to_string()
        .replace("\"Bed Grade\":null", "\"Bed Grade\":NaN");
    assert!(nan_body.contains("NaN"));
    let want_nan = offline(ws.path(), &lr, &[with_nan])[0];
    let (s, v) = call(
        "POST",
        &u("/predict_outcome"),
        Some("application/json"),
        Some(nan_body.as_bytes()),
    );
    assert_eq!(s, 200, "{v}");
    let p = v["probability"][0].as_array().unwrap();
    assert!(close(p[1].as_f64().unwrap(), want_nan), "{v}");
    assert!(close(p[0].as_f64().unwrap(), 1.0 - want_nan));
    assert_eq!(v["Class"], json!([(want_nan >= 0.5) as i64]));

    // MLflow's four JSON layouts and CSV agree.
    let classes: Vec<i64> = want.iter().map(|p| (*p >= 0.5) as i64).collect();
    let cols: Vec<String> = recs[0].keys().cloned().collect();
    let split = json!({"dataframe_split": {
        "columns": cols,
        "data": recs.iter().map(|r| cols.iter().map(|c| r[c].clone()).collect::<Vec<_>>()).collect::<Vec<_>>(),
    }});
    let by_column: serde_json::Map<String, Value> = cols
        .iter()
        .map(|c| (c.clone(), recs.iter().map(|r| r[c].clone()).collect()))
        .collect();
    for body in [
        split,
        json!({ "dataframe_records": recs }),
        json!({ "instances": recs }),
        json!({ "inputs": by_column }),
    ] {
        let (s, v) = post_json(&u("/invocations"), &body);
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["predictions"], json!(classes), "{body}");
    }
    let (s, v) = post_json(
        &u("/invocations"),
        &json!({"dataframe_records": recs, "params": {"predict_method": "predict_proba"}}),
    );
    assert_eq!(s, 200);
    assert!(close(v["predictions"][2][1].as_f64().unwrap(), want[2]));
    let csv: String = std::fs::read_to_string(ws.path().join("data/test_data.csv"))
        .unwrap()
        .lines()
        .take(4)
        .map(|l| format!("{l}\n"))
        .collect();
    let (s, v) = call(
        "POST",
        &u("/invocations"),
        Some("text/csv; charset=utf-8"),
        Some(csv.as_bytes()),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["predictions"], json!(classes));

    // Open Inference Protocol v2.
    assert_eq!(call("GET", &u("/v2/health/live"), None, None).0, 200);
    assert_eq!(call("GET", &u("/v2/health/ready"), None, None).0, 200);
    assert_eq!(
        call("GET", &u("/v2/models/staytrack/ready"), None, None).0,
        200
    );
    let (s, meta) = call("GET", &u("/v2/models/staytrack"), None, None);
    assert_eq!(s, 200);
    assert_eq!(meta["versions"], json!(["1"]));
    let inputs: Vec<Value> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let name = i["name"].as_str().unwrap();
            json!({"name": name, "datatype": i["datatype"], "shape": [3],
                   "data": recs.iter().map(|r| r[name].clone()).collect::<Vec<_>>()})
        })
        .collect();
    let (s, v) = post_json(
        &u("/v2/models/production/infer"),
        &json!({"id": "req-7", "inputs": inputs}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!("req-7"));
    assert_eq!(v["outputs"][1]["data"], json!(classes));
    assert!(close(v["outputs"][0]["data"][0].as_f64().unwrap(), want[0]));
    let (s, v) = call("GET", &u("/v2/models/other"), None, None);
    assert_eq!(s, 404);
    assert!(v["error"].as_str().unwrap().contains("'other'"));

    // Prometheus text: requests, latency, classes, version.
    let (s, v) = call("GET", &u("/metrics"), None, None);
    assert_eq!(s, 200);
    let m = v.as_str().unwrap();
    assert!(
        m.contains("staytrack_http_requests_total{route=\"/invocations\",status=\"200\"} 6"),
        "{m}"
    );
    assert!(m.contains("staytrack_http_request_duration_seconds_count{route=\"/predict\"} 2"));
    assert!(m.contains("staytrack_model_version{alias=\"production\"} 1"));
    assert!(m.contains("staytrack_prediction_log_dropped_total 0"));
    let made: u64 = m
        .lines()
        .filter(|l| l.starts_with("staytrack_predictions_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    // 1 + 3 + 1 + 4×3 + 3 + 3 + 3
    assert_eq!(made, 26, "{m}");
    assert!(srv.terminate().success());
    let db = rusqlite::Connection::open(ws.path().join("staytrack.db")).unwrap();
    let logged: i64 = db
        .query_row("SELECT COUNT(*) FROM predictions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(logged, 26);
    let (inputs, version): (String, i64) = db
        .query_row(
            "SELECT inputs, model_version FROM predictions WHERE source = '/predict' ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(version, 1);
    let back: Value = serde_json::from_str(&inputs).unwrap();
    assert_eq!(back["Age"], recs[0]["Age"]);
}

/// A request whose Content-Length is over the limit, over a raw socket (a client library would
/// still be writing the body when the server answers).
fn oversized(addr: &str, bytes: usize) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n["
    )
    .unwrap();
    read_answer(s)
}

fn oversized_chunked(addr: &str, bytes: usize) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 8192];
    for _ in 0..bytes / chunk.len() + 1 {
        // The server may stop reading (and close) once it is over the limit.
        if write!(s, "{:x}\r\n", chunk.len()).is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    read_answer(s)
}

fn read_answer(mut s: TcpStream) -> (u16, String) {
    // The server answers without reading a body it will refuse; read until the JSON ends.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    let mut buf = [0u8; 4096];
    while !out.trim_end().ends_with('}') {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let status = out.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, out)
}

#[test]
fn bad_input_gets_a_json_4xx_and_never_stops_the_server() {
    let ws = workspace();
    run(ws.path(), &["promote", &run_id(ws.path(), "tree")]);
    let srv = Server::start(ws.path(), None, &["--max-body", "100000"]);
    let u = |p: &str| format!("{}{p}", srv.base);
    let rec = test_records(ws.path(), 1).remove(0);
    let err = |v: &Value| v["error"].as_str().unwrap_or_default().to_string();

    let (s, v) = call("POST", &u("/predict"), None, Some(b"{\"Age\": "));
    assert_eq!(s, 400);
    assert!(err(&v).contains("malformed JSON"), "{v}");

    let mut missing = rec.clone();
    missing.remove("Age");
    missing.remove("Department");
    let (s, v) = post_json(&u("/predict"), &Value::Object(missing));
    assert_eq!(s, 422);
    assert!(
        err(&v).contains("Department") && err(&v).contains("Age"),
        "{v}"
    );
    assert_eq!(v["fields"], json!(["Department", "Age"]));

    let mut unknown = rec.clone();
    unknown.insert("Colour".into(), json!("red"));
    let (s, v) = post_json(&u("/predict"), &Value::Object(unknown));
    assert_eq!(s, 422);
    assert!(err(&v).contains("unknown field(s) Colour"), "{v}");

    let mut wrong = rec.clone();
    wrong.insert("Visitors with Patient".into(), json!("many"));
    let (s, v) = post_json(&u("/predict"), &json!([rec, wrong]));
    assert_eq!(s, 422);
    assert!(
        err(&v).contains("record 1, field 'Visitors with Patient'"),
        "{v}"
    );
    let mut boolean = rec.clone();
    boolean.insert("Admission_Deposit".into(), json!(true));
    let (s, v) = post_json(&u("/invocations"), &json!({"instances": [boolean]}));
    assert_eq!(s, 422);
    assert_eq!(v["fields"], json!(["Admission_Deposit"]));

    for (body, want) in [(json!([]), 422), (json!(7), 422), (json!([1, 2]), 422)] {
        let (s, v) = post_json(&u("/predict"), &body);
        assert_eq!(s, want, "{body}: {v}");
        assert!(!err(&v).is_empty());
    }
    let (s, v) = post_json(&u("/invocations"), &json!({"records": [rec]}));
    assert_eq!(s, 400);
    assert!(err(&v).contains("exactly one of"), "{v}");
    let (s, v) = call("POST", &u("/invocations"), Some("text/plain"), Some(b"x"));
    assert_eq!(s, 415);
    assert!(err(&v).contains("text/plain"), "{v}");
    let (s, _) = call("POST", &u("/invocations"), None, Some(b"{}"));
    assert_eq!(s, 415);

    let (s, raw) = oversized(&srv.addr, 200_000);
    assert_eq!(s, 413, "{raw}");
    assert!(raw.contains("\"error\""), "{raw}");
    // No length given: the limit applies while the chunked body streams in.
    let (s, raw) = oversized_chunked(&srv.addr, 200_000);
    assert_eq!(s, 413, "{raw}");
    assert!(raw.contains("larger than the server's limit"), "{raw}");

    let (s, v) = call("GET", &u("/nowhere"), None, None);
    assert_eq!(s, 404);
    assert!(err(&v).contains("/nowhere"));
    let (s, v) = call("GET", &u("/predict"), None, None);
    assert_eq!(s, 405);
    assert!(err(&v).contains("GET"));

    // Still serving, and no 5xx was ever answered.
    let (s, _) = post_json(&u("/predict"), &Value::Object(rec));
    assert_eq!(s, 200);
    let (_, m) = call("GET", &u("/metrics"), None, None);
    let m = m.as_str().unwrap().to_string();
    assert!(!m.contains("status=\"5"), "{m}");
    assert!(m.contains("route=\"/predict\",status=\"422\"} 6"), "{m}");
    assert!(srv.terminate().success());
}

#[test]
fn the_serve_flag_starts_the_same_server() {
    let ws = workspace();
    run(ws.path(), &["promote", &run_id(ws.path(), "lr")]);
    let srv = Server::start_with(ws.path(), None, &["--serve"], &["--alias", "production"]);
    let (s, v) = call("GET", &format!("{}/ready", srv.base), None, None);
    assert_eq!((s, &v["model_version"]), (200, &json!(1)), "{v}");
    assert!(srv.terminate().success());
}

#[test]
fn without_a_model_the_server_waits_for_a_promotion() {
    let ws = workspace();
    let srv = Server::start(ws.path(), None, &[]);
    let u = |p: &str| format!("{}{p}", srv.base);
    let (s, v) = call("GET", &u("/ready"), None, None);
    assert_eq!(s, 503);
    assert!(v["error"].as_str().unwrap().contains("staytrack promote"));
    // MLflow's readiness probe says "not yet" in MLflow's error shape.
    let (s, v) = call("GET", &u("/ping"), None, None);
    assert_eq!(s, 503);
    assert_eq!(v["error_code"], "TEMPORARILY_UNAVAILABLE");
    assert!(v["message"].as_str().unwrap().contains("staytrack promote"));
    let rec = test_records(ws.path(), 1).remove(0);
    let (s, _) = post_json(&u("/predict"), &Value::Object(rec.clone()));
    assert_eq!(s, 503);
    assert_eq!(call("GET", &u("/health"), None, None).0, 200);
    // The container health check: the server answers, a closed port does not.
    let o = run(ws.path(), &["health", "--url", &u("/health")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("200"));
    let health = |url: &str| {
        bin()
            .args(["health", "--url", url])
            .env("STAYTRACK_HOME", ws.path())
            .output()
            .unwrap()
    };
    let o = health(&u("/no-such-route"));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("404"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let o = health(&format!("http://127.0.0.1:{port}/health"));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot connect"));
    let t = Instant::now();
    run(ws.path(), &["promote", &run_id(ws.path(), "lr")]);
    while call("GET", &u("/ready"), None, None).0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "not ready 2 s after promotion"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(post_json(&u("/predict"), &Value::Object(rec)).0, 200);
    assert_eq!(call("GET", &u("/ping"), None, None), (200, json!("\n")));
    assert_eq!(
        call("GET", &u("/version"), None, None),
        (200, json!(env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn every_registered_version_is_served_by_number_within_the_cache_bound() {
    let ws = workspace();
    let (lr, tree) = (run_id(ws.path(), "lr"), run_id(ws.path(), "tree"));
    run(ws.path(), &["promote", &lr]);
    run(ws.path(), &["promote", &tree]);
    run(ws.path(), &["train", "--model", "lr", "--name", "lr-again"]);
    run(ws.path(), &["promote", &run_id(ws.path(), "lr")]);
    // The alias is on version 3 and one more version is kept loaded, so asking for 1 and 2 in
    // turn evicts and reloads each time.
    let srv = Server::start(ws.path(), None, &["--max-versions", "1"]);
    let u = |p: &str| format!("{}{p}", srv.base);
    let recs = test_records(ws.path(), 2);
    let (_, meta) = call("GET", &u("/v2/models/staytrack"), None, None);
    assert_eq!(meta["versions"], json!(["1", "2", "3"]));
    let body = json!({"inputs": meta["inputs"].as_array().unwrap().iter().map(|i| {
        let name = i["name"].as_str().unwrap();
        json!({"name": name, "datatype": i["datatype"], "shape": [2],
               "data": recs.iter().map(|r| r[name].clone()).collect::<Vec<_>>()})
    }).collect::<Vec<_>>()});
    let want = [
        offline(ws.path(), &lr, &recs),
        offline(ws.path(), &tree, &recs),
    ];
    for version in [1, 2, 1, 2, 1] {
        let (s, v) = post_json(
            &u(&format!("/v2/models/staytrack/versions/{version}/infer")),
            &body,
        );
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["model_version"], json!(version.to_string()));
        let got = common::floats(&v["outputs"][0]["data"]);
        assert!(close(got[1], want[version - 1][1]), "{v}");
        let (s, v) = call(
            "GET",
            &u(&format!("/v2/models/staytrack/versions/{version}")),
            None,
            None,
        );
        assert_eq!(s, 200);
        assert_eq!(
            v["platform"],
            json!(if version == 1 {
                "staytrack-lr"
            } else {
                "staytrack-tree"
            })
        );
    }
    // The unversioned route stays on the alias.
    let (_, v) = post_json(&u("/v2/models/staytrack/infer"), &body);
    assert_eq!(v["model_version"], json!("3"));
    for (path, status, words) in [
        (
            "/v2/models/staytrack/versions/4/infer",
            404,
            "no version 4 in the registry; it holds 3 version(s), 1 to 3",
        ),
        (
            "/v2/models/staytrack/versions/abc/infer",
            400,
            "positive integer",
        ),
        (
            "/v2/models/staytrack/versions/0/infer",
            400,
            "positive integer",
        ),
        (
            "/v2/models/other/versions/1/infer",
            404,
            "no model named 'other'",
        ),
    ] {
        let (s, v) = post_json(&u(path), &body);
        assert_eq!(s, status, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains(words), "{path}: {v}");
    }
    assert_eq!(
        call(
            "GET",
            &u("/v2/models/staytrack/versions/1/ready"),
            None,
            None
        )
        .0,
        200
    );
    assert_eq!(
        call(
            "GET",
            &u("/v2/models/staytrack/versions/9/ready"),
            None,
            None
        )
        .0,
        404
    );
}

#[test]
fn a_promotion_is_served_within_two_seconds_without_failing_a_request() {
    let ws = workspace();
    let lr = run_id(ws.path(), "lr");
    let tree = run_id(ws.path(), "tree");
    run(ws.path(), &["promote", &lr]);
    let srv = Server::start(ws.path(), None, &[]);
    let url = format!("{}/predict", srv.base);
    let recs = test_records(ws.path(), 4);
    let want_lr = offline(ws.path(), &lr, &recs);
    let want_tree = offline(ws.path(), &tree, &recs);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (url, stop) = (url.clone(), stop.clone());
            let body = Value::Object(recs[t].clone()).to_string();
            let (a, b) = (want_lr[t], want_tree[t]);
            std::thread::spawn(move || {
                let agent = agent();
                let mut seen: Vec<(Instant, i64)> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (s, v) = call_with(
                        &agent,
                        "POST",
                        &url,
                        Some("application/json"),
                        Some(body.as_bytes()),
                        None,
                    );
                    assert_eq!(s, 200, "{v}");
                    let version = v["model_version"].as_i64().unwrap();
                    let p = v["probability"].as_f64().unwrap();
                    // The answer is the named version's, whole: never a mix.
                    let want = if version == 1 { a } else { b };
                    assert!(close(p, want), "version {version}: {p} vs {want}");
                    if let Some(&(_, last)) = seen.last() {
                        assert!(version >= last, "went back from {last} to {version}");
                    }
                    seen.push((Instant::now(), version));
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    run(ws.path(), &["promote", &tree, "--reason", "better"]);
    let done = Instant::now();
    std::thread::sleep(Duration::from_millis(2500));
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        let seen = c.join().expect("a client saw a failed request");
        total += seen.len();
        assert!(seen.iter().any(|(_, v)| *v == 1), "never saw version 1");
        let first_new = seen
            .iter()
            .find(|(_, v)| *v == 2)
            .expect("never saw version 2")
            .0;
        let lag = first_new.saturating_duration_since(done);
        assert!(lag <= Duration::from_secs(2), "served after {lag:?}");
        // Every answer started after the switch plus 2 s is the new model's.
        assert!(seen
            .iter()
            .filter(|(t, _)| *t > done + Duration::from_secs(2))
            .all(|(_, v)| *v == 2));
    }
    assert!(total > 20, "only {total} requests");
    let (_, m) = call("GET", &format!("{}/metrics", srv.base), None, None);
    let m = m.as_str().unwrap().to_string();
    assert!(m.contains("staytrack_model_version{alias=\"production\"} 2"));
    assert!(m.contains("staytrack_model_reloads_total 2"), "{m}");
    assert!(srv.terminate().success());
}

#[test]
fn admin_routes_need_the_configured_token() {
    let ws = workspace();
    let lr = run_id(ws.path(), "lr");
    let tree = run_id(ws.path(), "tree");
    run(ws.path(), &["promote", &lr]);

    // No token, or one shorter than 32 bytes: the admin routes are off, and say why.
    let body = json!({"run_id": tree}).to_string();
    for (token, why) in [
        (None, "STAYTRACK_TOKEN"),
        (Some("s3cret-token"), "32 bytes"),
    ] {
        let srv = Server::start(ws.path(), token, &[]);
        let (s, v) = call_with(
            &agent(),
            "POST",
            &format!("{}/v1/models/promote", srv.base),
            Some("application/json"),
            Some(body.as_bytes()),
            Some(token.unwrap_or("anything")),
        );
        assert_eq!(s, 403, "{v}");
        assert!(v["error"].as_str().unwrap().contains(why), "{v}");
    }

    let secret = "s3cret-token-of-at-least-32-bytes!";
    let srv = Server::start(ws.path(), Some(secret), &[]);
    let promote = format!("{}/v1/models/promote", srv.base);
    let a = agent();
    for token in [None, Some("wrong")] {
        let (s, _) = call_with(
            &a,
            "POST",
            &promote,
            Some("application/json"),
            Some(body.as_bytes()),
            token,
        );
        assert_eq!(s, 401);
    }
    let t = Some(secret);
    let (s, v) = call_with(&a, "POST", &promote, None, Some(b"{}"), t);
    assert_eq!(s, 422, "{v}");
    let (s, v) = call_with(
        &a,
        "POST",
        &promote,
        None,
        Some(json!({"run_id": "no-such-run"}).to_string().as_bytes()),
        t,
    );
    assert_eq!(s, 404, "{v}");
    let (s, v) = call_with(
        &a,
        "POST",
        &promote,
        None,
        Some(
            json!({"run_id": tree, "reason": "from the API"})
                .to_string()
                .as_bytes(),
        ),
        t,
    );
    assert_eq!(s, 200, "{v}");
    // Applied before the answer, not at the next poll.
    assert_eq!(v["serving_version"], json!(2));
    assert_eq!(v["move"]["from_version"], json!(1));
    let (_, r) = call("GET", &format!("{}/ready", srv.base), None, None);
    assert_eq!(r["model_version"], json!(2));
    // Back by version number, then a reload.
    let (s, v) = call_with(
        &a,
        "POST",
        &promote,
        None,
        Some(json!({"version": 1}).to_string().as_bytes()),
        t,
    );
    assert_eq!((s, &v["serving_version"]), (200, &json!(1)), "{v}");
    let (s, v) = call_with(
        &a,
        "POST",
        &format!("{}/v1/reload", srv.base),
        None,
        None,
        t,
    );
    assert_eq!((s, &v["serving_version"]), (200, &json!(1)), "{v}");
    let o = run(ws.path(), &["registry", "--json"]);
    let reg: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(reg["events"][1]["actor"], json!("api"));
    assert_eq!(reg["events"][1]["reason"], json!("from the API"));
}

#[test]
fn shutdown_answers_requests_in_flight_and_flushes_the_log() {
    let ws = workspace();
    run(ws.path(), &["promote", &run_id(ws.path(), "lr")]);
    let srv = Server::start(ws.path(), None, &[]);
    let recs = test_records(ws.path(), 200);
    let url = format!("{}/predict", srv.base);
    let a = agent();
    for r in &recs[..150] {
        let (s, _) = call_with(
            &a,
            "POST",
            &url,
            None,
            Some(Value::Object(r.clone()).to_string().as_bytes()),
            None,
        );
        assert_eq!(s, 200);
    }
    // A request half sent when SIGTERM arrives must still be answered.
    let body = json!(recs[150..].to_vec()).to_string();
    let (head, tail) = body.as_bytes().split_at(body.len() / 2);
    let mut sock = TcpStream::connect(&srv.addr).unwrap();
    write!(
        sock,
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    sock.write_all(head).unwrap();
    sock.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = srv.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(300));
    sock.write_all(tail).unwrap();
    let mut answer = Vec::new();
    let mut reader = BufReader::new(sock);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let _ = reader.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(text.matches("\"probability\"").count(), 50, "{text}");
    let status = srv.terminate();
    assert!(status.success(), "{status:?}");
    let db = rusqlite::Connection::open(ws.path().join("staytrack.db")).unwrap();
    let logged: i64 = db
        .query_row("SELECT COUNT(*) FROM predictions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(logged, 200);
}

#[test]
fn promote_and_registry_from_the_command_line() {
    let ws = workspace();
    let lr = run_id(ws.path(), "lr");
    let tree = run_id(ws.path(), "tree");
    let o = run(ws.path(), &["promote", &lr]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("production: none → version 1"), "{out}");
    let o = run(ws.path(), &["promote", &tree, "--reason", "try the tree"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("version 1 → version 2"), "{out}");
    // Deltas against the model it replaced.
    assert!(out.contains("against"), "{out}");
    let o = run(ws.path(), &["promote", &tree]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing changed"));
    run(ws.path(), &["promote", &lr, "--alias", "staging"]);
    let o = run(ws.path(), &["promote", "--rollback"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("version 2 → version 1"));
    let o = run(ws.path(), &["registry", "--json"]);
    let reg: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(reg["versions"].as_array().unwrap().len(), 2);
    let aliases: Vec<(String, i64)> = reg["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["alias"].as_str().unwrap().to_string(),
                a["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        aliases,
        vec![("production".to_string(), 1), ("staging".to_string(), 1)]
    );
    assert_eq!(reg["events"].as_array().unwrap().len(), 4);
    assert_eq!(reg["events"][2]["reason"], json!("try the tree"));
    let o = run(ws.path(), &["registry"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("production,staging"), "{text}");

    // --best picks the finished run with the highest ROC AUC (the lowest log loss with --metric).
    let runs: Vec<Value> =
        serde_json::from_slice(&run(ws.path(), &["runs", "list", "--json"]).stdout).unwrap();
    let best_by = |key: &str, lower: bool| {
        runs.iter()
            .max_by(|a, b| {
                let (x, y) = (
                    a["metrics"][key].as_f64().unwrap(),
                    b["metrics"][key].as_f64().unwrap(),
                );
                if lower {
                    y.total_cmp(&x)
                } else {
                    x.total_cmp(&y)
                }
            })
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let o = run(
        ws.path(),
        &["promote", "--best", "--alias", "best", "--json"],
    );
    let mv: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(mv["run_id"], json!(best_by("roc_auc", false)));
    let o = run(
        ws.path(),
        &[
            "promote",
            "--best",
            "--metric",
            "log_loss",
            "--alias",
            "calibrated",
            "--json",
        ],
    );
    let mv: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(mv["run_id"], json!(best_by("log_loss", true)));

    for (args, want) in [
        (vec!["promote", "nope"], "no run"),
        (vec!["promote", &lr, "--alias", "Prod!"], "not valid"),
        (vec!["promote", "--version", "9"], "no model version 9"),
        (
            vec!["promote", "--best", "--metric", "nope"],
            "no finished run has the metric 'nope'",
        ),
        (
            vec!["promote", "--rollback", "--alias", "canary"],
            "never been set",
        ),
    ] {
        let o = bin()
            .args(&args)
            .env("STAYTRACK_HOME", ws.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(want), "{args:?}: {e}");
    }
}

#[test]
fn concurrent_promotions_keep_the_alias_and_its_log_in_step() {
    let ws = workspace();
    let runs = [run_id(ws.path(), "lr"), run_id(ws.path(), "tree")];
    let db = ws.path().join("staytrack.db");
    let movers: Vec<_> = (0..2)
        .map(|t| {
            let (db, runs) = (db.clone(), runs.clone());
            std::thread::spawn(move || {
                let mut store = staytrack::tracking::Store::open(&db).unwrap();
                for i in 0..25 {
                    store
                        .promote_run(
                            &runs[(i + t) % 2],
                            "production",
                            &staytrack::tracking::registry::Audit::by("test", None),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for m in movers {
        m.join().unwrap();
    }
    let store = staytrack::tracking::Store::open(&db).unwrap();
    let versions = store.model_versions().unwrap();
    assert_eq!(
        versions.len(),
        2,
        "one version per run, however often promoted"
    );
    let mut events = store.alias_events(Some("production"), 1000).unwrap();
    events.reverse();
    assert_eq!(events[0].from_version, None);
    for pair in events.windows(2) {
        // Every move starts where the one before it ended: no move was lost or interleaved.
        assert_eq!(pair[1].from_version, pair[0].to_version, "{pair:?}");
        assert_ne!(pair[1].from_version, pair[1].to_version);
    }
    let now = store.alias_version("production").unwrap();
    assert_eq!(now, events.last().unwrap().to_version);
}

#[test]
fn a_full_prediction_log_drops_rows_and_counts_them() {
    let ws = workspace();
    run(ws.path(), &["promote", &run_id(ws.path(), "lr")]);
    // `--log-full drop`: availability over completeness (the default refuses instead; see
    // tests/capture.rs).
    let srv = Server::start(
        ws.path(),
        None,
        &["--log-queue", "10", "--log-full", "drop"],
    );
    let recs = test_records(ws.path(), 50);
    let (s, v) = post_json(&format!("{}/predict", srv.base), &json!(recs));
    // The answer does not depend on the log.
    assert_eq!(s, 200);
    assert_eq!(v["predictions"].as_array().unwrap().len(), 50);
    let (_, m) = call("GET", &format!("{}/metrics", srv.base), None, None);
    let m = m.as_str().unwrap().to_string();
    assert!(
        m.contains("staytrack_prediction_log_dropped_total 40"),
        "{m}"
    );
    assert!(srv.terminate().success());
    let db = rusqlite::Connection::open(ws.path().join("staytrack.db")).unwrap();
    let logged: i64 = db
        .query_row("SELECT COUNT(*) FROM predictions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(logged, 10);
}

/// The bundle a run registered.
fn bundle_of(ws: &Path, run: &str) -> Bundle {
    let db = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    let sha: String = db
        .query_row(
            "SELECT sha256 FROM artifacts WHERE run_id = ?1 AND name = 'bundle'",
            [run],
            |r| r.get(0),
        )
        .unwrap();
    Bundle::load(
        &ws.join("artifacts")
            .join(&sha[..2])
            .join(format!("{sha}.bundle")),
    )
    .unwrap()
}

/// Waits until the server serves `version`.
fn serving(base: &str, version: i64) {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let (s, v) = call("GET", &format!("{base}/ready"), None, None);
        if s == 200 && v["model_version"].as_i64() == Some(version) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("version {version} was not served within 10 s");
}

#[test]
fn one_record_at_a_time_is_scored_to_the_bit_as_the_whole_file_is_for_every_family() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    // More test rows than the block from which a file's ensembles are scored by leaf masks,
    // so the file takes that path and single records the walk.
    run(
        ws,
        &["data", "synth", "--rows", "3000", "--test-rows", "1100"],
    );
    let families = ["lr", "tree", "forest", "gbdt", "linfa-lr", "linfa-tree"];
    run(ws, &["train", "--model", &families.join(",")]);
    let test_csv = ws.join("data/test_data.csv");
    let frame = staytrack::data::load_csv(
        &test_csv,
        &DatasetSpec::hospital(),
        staytrack::data::Labels::Optional,
    )
    .unwrap();
    let recs = test_records(ws, 40);
    let mut srv: Option<Server> = None;
    for (i, family) in families.iter().enumerate() {
        let id = run_id(ws, family);
        run(ws, &["promote", &id]);
        let version = i as i64 + 1;
        let srv = srv.get_or_insert_with(|| Server::start(ws, None, &[]));
        serving(&srv.base, version);
        // The whole file in process (the path `staytrack score` takes) and through the CLI.
        let batch = bundle_of(ws, &id).predict(&frame).unwrap();
        let out = ws.join(format!("scored-{family}.csv"));
        run(ws, &["score", "--out", out.to_str().unwrap()]);
        let text = std::fs::read_to_string(&out).unwrap();
        let cli: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap())
            .collect();
        for (k, rec) in recs.iter().enumerate() {
            let (s, v) = post_json(
                &format!("{}/predict", srv.base),
                &Value::Object(rec.clone()),
            );
            assert_eq!(s, 200, "{family}: {v}");
            assert_eq!(v["model_version"], json!(version), "{family}");
            let p = v["probability"].as_f64().unwrap();
            assert_eq!(
                p.to_bits(),
                batch[k].to_bits(),
                "{family}, row {k}: {p} one at a time, {} in the file",
                batch[k]
            );
            assert_eq!(format!("{p:.6}"), cli[k], "{family}, row {k}");
        }
    }
}

#[test]
fn a_reload_under_load_swaps_the_laid_out_ensemble_whole() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    run(
        ws,
        &["data", "synth", "--rows", "3000", "--test-rows", "50"],
    );
    run(ws, &["train", "--model", "forest,gbdt"]);
    let (forest, gbdt) = (run_id(ws, "forest"), run_id(ws, "gbdt"));
    run(ws, &["promote", &gbdt]);
    let srv = Server::start(ws, None, &["--poll-ms", "20"]);
    let recs = test_records(ws, 4);
    let want = [offline(ws, &gbdt, &recs), offline(ws, &forest, &recs)];
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/predict", srv.base);
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (url, stop) = (url.clone(), stop.clone());
            let body = Value::Object(recs[t].clone()).to_string();
            let (g, f) = (want[0][t], want[1][t]);
            std::thread::spawn(move || {
                let agent = agent();
                let mut versions = std::collections::BTreeSet::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (s, v) = call_with(
                        &agent,
                        "POST",
                        &url,
                        Some("application/json"),
                        Some(body.as_bytes()),
                        None,
                    );
                    assert_eq!(s, 200, "{v}");
                    let version = v["model_version"].as_i64().unwrap();
                    let p = v["probability"].as_f64().unwrap();
                    // Odd versions are the boosted model, even ones the forest: each answer
                    // is one whole model's, to the bit.
                    let want = if version % 2 == 1 { g } else { f };
                    assert_eq!(
                        p.to_bits(),
                        want.to_bits(),
                        "version {version}: {p} vs {want}"
                    );
                    versions.insert(version);
                    n += 1;
                }
                (versions, n)
            })
        })
        .collect();
    // Six swaps under load, each a new version of one of the two.
    for k in 0..6 {
        std::thread::sleep(Duration::from_millis(150));
        let run = if k % 2 == 0 { &forest } else { &gbdt };
        let o = bin()
            .args(["promote", run, "--reason", "swap"])
            .env("STAYTRACK_HOME", ws)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        let (versions, n) = c.join().expect("a client saw a wrong answer");
        assert!(n > 10, "only {n} requests");
        seen.extend(versions);
    }
    assert!(seen.len() >= 2, "saw versions {seen:?} only");
}
