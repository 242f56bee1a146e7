//! Fleet capture against real parts: three `staytrack serve` processes on one moto bucket, a
//! fresh workspace that pulls and monitors them, pyarrow reading every segment, hostile segments
//! in the bucket, and a slow store that must turn answers into 503s rather than unlogged 200s.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::moto::Moto;
use common::server::Server;
use common::{ok, run, run_of, trained};
use serde_json::Value;

const PREFIX: &str = "team";

fn env(moto: &Moto, bucket: &str) -> Vec<(&'static str, String)> {
    moto.sync_env(bucket, PREFIX)
}

fn staytrack(ws: &Path, moto: &Moto, bucket: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args(args)
        .env("STAYTRACK_HOME", ws)
        .envs(env(moto, bucket))
        .output()
        .unwrap()
}

fn start(ws: &Path, moto: &Moto, bucket: &str, extra: &[&str]) -> Server {
    let e = env(moto, bucket);
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_env(ws, None, &["serve"], extra, &pairs)
}

/// A workspace with gbdt trained on 3,000 rows and promoted to production.
fn promoted() -> tempfile::TempDir {
    let ws = trained("gbdt", 3000);
    let run = run_of(ws.path(), "gbdt");
    ok(ws.path(), &["promote", &run]);
    ws
}

fn records(ws: &Path, n: usize) -> Vec<serde_json::Map<String, Value>> {
    let text = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let mut recs = common::records_from_csv(&text, true);
    recs.truncate(n);
    recs
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// POSTs one record to /predict; (status, the ids the header names, the id the body names).
fn predict(
    a: &ureq::Agent,
    base: &str,
    rec: &Value,
    req: &str,
) -> (u16, Vec<String>, Option<String>) {
    let mut resp = a
        .post(&format!("{base}/predict"))
        .header("Content-Type", "application/json")
        .header("X-Request-Id", req)
        .send(rec.to_string().as_bytes())
        .unwrap();
    let status = resp.status().as_u16();
    let header: Vec<String> = resp
        .headers()
        .get("x-prediction-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let body: Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null);
    (
        status,
        header,
        body["prediction_id"].as_str().map(str::to_string),
    )
}

/// Every key under `captures/` in the bucket.
fn capture_keys(moto: &Moto, bucket: &str) -> Vec<String> {
    let c = moto.client();
    moto.block(async {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = c
                .list_objects_v2()
                .bucket(bucket)
                .prefix(format!("{PREFIX}/captures/"))
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => return keys,
            }
        }
    })
}

fn kill9(s: &mut Server) {
    let st = Command::new("kill")
        .args(["-9", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let _ = s.child.wait();
}

/// Prediction ids in a workspace's store, by replica, with how often each appears.
fn stored_ids(ws: &Path) -> BTreeMap<String, BTreeMap<String, usize>> {
    let db = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    let mut st = db
        .prepare("SELECT replica, prediction_id FROM predictions WHERE prediction_id IS NOT NULL")
        .unwrap();
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for r in rows {
        let (rep, id) = r.unwrap();
        *out.entry(rep).or_default().entry(id).or_default() += 1;
    }
    out
}

#[test]
fn three_servers_one_bucket_every_acknowledged_prediction_once_and_a_bounded_loss() {
    let moto = Moto::start();
    let bucket = "fleet";
    moto.bucket(bucket);
    let base = promoted();
    let recs = records(base.path(), 30);
    let interval = 2u64;
    let workspaces: Vec<_> = (0..3)
        .map(|_| common::copy_workspace(base.path()))
        .collect();
    let names = ["replica-a", "replica-b", "replica-c"];
    let mut servers: Vec<Server> = workspaces
        .iter()
        .zip(names)
        .map(|(ws, name)| {
            start(
                ws.path(),
                &moto,
                bucket,
                &[
                    "--replica",
                    name,
                    "--capture-interval",
                    &format!("{interval}s"),
                    "--poll-ms",
                    "100",
                ],
            )
        })
        .collect();
    let a = agent();
    // Load on all three at once, each answer's ids remembered with when it was answered.
    let mut acked: Vec<Vec<(String, Instant)>> = vec![Vec::new(); 3];
    let until = Instant::now() + Duration::from_secs(5);
    let mut i = 0usize;
    while Instant::now() < until {
        for (k, s) in servers.iter().enumerate() {
            let rec = Value::Object(recs[i % recs.len()].clone());
            let (status, header, body) = predict(&a, &s.base, &rec, &format!("req-{k}-{i}"));
            assert_eq!(status, 200);
            assert_eq!(header.len(), 1, "one id in X-Prediction-Id");
            assert_eq!(
                body.as_deref(),
                Some(header[0].as_str()),
                "the body names the same id"
            );
            acked[k].push((header[0].clone(), Instant::now()));
        }
        i += 1;
    }
    // The killed one loses what it answered since its last seal; the others ship everything.
    let killed_at = Instant::now();
    kill9(&mut servers[0]);
    let s2 = servers.remove(2);
    let s1 = servers.remove(1);
    assert!(s1.terminate().success());
    assert!(s2.terminate().success());

    let keys = capture_keys(&moto, bucket);
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("{PREFIX}/captures/predictions/model="))),
        "{keys:?}"
    );
    for name in names.iter().skip(1) {
        assert!(
            keys.iter().any(|k| k.contains(&format!("/{name}-"))),
            "{name}: {keys:?}"
        );
    }

    // A fresh workspace pulls the model and every replica's captures, and monitors them.
    let fresh = tempfile::tempdir().unwrap();
    ok(
        fresh.path(),
        &["data", "synth", "--rows", "200", "--test-rows", "10"],
    );
    // The runs come from the first workspace's push.
    let pushed = staytrack(base.path(), &moto, bucket, &["sync", "push"]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let pulled = staytrack(fresh.path(), &moto, bucket, &["sync", "pull", "--json"]);
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let sum: Value = serde_json::from_slice(&pulled.stdout).unwrap();
    // Pulling again imports nothing new.
    let again = staytrack(fresh.path(), &moto, bucket, &["sync", "pull", "--json"]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["captures"]["segments"], 0, "{again}");

    let stored = stored_ids(fresh.path());
    for k in 1..3 {
        let held = stored.get(names[k]).cloned().unwrap_or_default();
        let want: BTreeSet<&String> = acked[k].iter().map(|(id, _)| id).collect();
        assert_eq!(
            held.len(),
            want.len(),
            "{}: every acknowledged prediction",
            names[k]
        );
        for (id, n) in &held {
            assert!(want.contains(id), "{}: {id} was never answered", names[k]);
            assert_eq!(*n, 1, "{}: {id} is there once", names[k]);
        }
    }
    let held0 = stored.get(names[0]).cloned().unwrap_or_default();
    let answered0: BTreeSet<&String> = acked[0].iter().map(|(id, _)| id).collect();
    assert!(held0
        .keys()
        .all(|id| answered0.contains(id) && held0[id] == 1));
    let lost = answered0.len() - held0.len();
    // At most what it answered in its last unsealed interval (plus a second of slack for the
    // seal's own round trip).
    let window = Duration::from_secs(interval + 1);
    let recent = acked[0]
        .iter()
        .filter(|(_, t)| killed_at.duration_since(*t) <= window)
        .count();
    eprintln!(
        "killed replica: {} answered, {} in the bucket, {lost} lost (at most {recent} allowed)",
        answered0.len(),
        held0.len()
    );
    assert!(
        lost <= recent,
        "lost {lost}, more than the last interval's {recent}"
    );
    let total: usize = stored.values().map(BTreeMap::len).sum();
    assert_eq!(
        sum["captures"]["predictions"].as_u64().unwrap() as usize,
        total
    );

    // Monitor covers every replica, and filters to one.
    let m = run(
        fresh.path(),
        &["monitor", "--json", "--window", "1h", "--no-webhook"],
    );
    let rep: Value = serde_json::from_slice(&m.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&m.stderr)));
    assert_eq!(rep["predictions"].as_u64().unwrap() as usize, total);
    let one = run(
        fresh.path(),
        &[
            "monitor",
            "--json",
            "--window",
            "1h",
            "--no-webhook",
            "--replica",
            names[1],
        ],
    );
    let one: Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(
        one["predictions"].as_u64().unwrap() as usize,
        acked[1].len()
    );

    // A real Parquet reader: pyarrow reads every segment, with the spec's columns and types.
    let Ok(py) = std::env::var("STAYTRACK_TEST_CLIENTS") else {
        panic!("STAYTRACK_TEST_CLIENTS must name the clients' python (make test sets it)");
    };
    let dir = tempfile::tempdir().unwrap();
    for (n, k) in keys.iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("{n}.parquet")),
            moto.object(bucket, k),
        )
        .unwrap();
    }
    let script = r#"
import json, sys, glob
import pyarrow.parquet as pq
out = {"rows": 0, "schemas": []}
for f in sorted(glob.glob(sys.argv[1] + "/*.parquet")):
    t = pq.read_table(f)
    out["rows"] += t.num_rows
    out["schemas"].append({fld.name: str(fld.type) for fld in t.schema})
    assert len(set(t.column("prediction_id").to_pylist())) == t.num_rows
print(json.dumps(out))
"#;
    let o = Command::new(py)
        .args(["-c", script, dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(read["rows"].as_u64().unwrap() as usize, total);
    let spec = staytrack::data::DatasetSpec::hospital();
    for schema in read["schemas"].as_array().unwrap() {
        assert_eq!(schema["ts"], "timestamp[ms, tz=UTC]", "{schema}");
        assert_eq!(schema["probability"], "double");
        assert_eq!(schema["class"], "int64");
        assert_eq!(schema["prediction_id"], "string");
        assert_eq!(schema["schema_version"], "int32");
        for c in spec
            .columns
            .iter()
            .filter(|c| c.role != staytrack::data::Role::Target)
        {
            let want = match c.value {
                staytrack::data::spec::ValueType::Int => "int64",
                staytrack::data::spec::ValueType::Float => "double",
                staytrack::data::spec::ValueType::Text => "string",
            };
            let name = staytrack::capture::segment::input_name(&c.name);
            assert_eq!(schema[&name], want, "column {}: {schema}", c.name);
        }
    }
}

/// A prediction row as a server logs it, for segments the tests write themselves.
fn row(at: i64, pid: &str, replica: &str, p: f64) -> staytrack::tracking::PredictionRow {
    staytrack::tracking::PredictionRow {
        at,
        model_version: Some(1),
        case_id: Some("7".into()),
        inputs: r#"{"case_id": 7, "Age": "41-50", "Admission_Deposit": 4000.5}"#.into(),
        probability: p,
        class: i64::from(p >= 0.5),
        source: "/predict".into(),
        prediction_id: Some(pid.into()),
        replica: Some(replica.into()),
        model_name: Some("m".into()),
        alias: Some("production".into()),
        run_id: Some("r".into()),
        threshold: Some(0.5),
        ..Default::default()
    }
}

#[test]
fn hostile_segments_are_skipped_and_named_and_the_rest_import() {
    use staytrack::capture::segment::encode_predictions;
    let moto = Moto::start();
    let bucket = "hostile";
    moto.bucket(bucket);
    let ws = tempfile::tempdir().unwrap();
    ok(
        ws.path(),
        &["data", "synth", "--rows", "200", "--test-rows", "10"],
    );
    std::fs::write(
        ws.path().join("staytrack.toml"),
        "[capture]\nmax_segment_bytes = 200000\n",
    )
    .unwrap();
    let spec = staytrack::data::DatasetSpec::hospital();
    let inputs: Vec<_> = spec
        .columns
        .iter()
        .filter(|c| c.role != staytrack::data::Role::Target)
        .collect();
    // 2025-11-24 16:00 UTC, a whole hour.
    let hour = 1_764_000_000_000i64;
    let key = |rep: &str, seq: u32| {
        let t = staytrack::util::format_ms(hour);
        format!(
            "{PREFIX}/captures/predictions/model=m/dt={}/hour={}/{rep}-{seq:06}.parquet",
            &t[..10],
            &t[11..13]
        )
    };
    let good = encode_predictions(
        &[
            row(hour + 5, "p-1", "good", 0.2),
            row(hour + 6, "p-2", "good", 0.8),
        ],
        &inputs,
        "m",
    )
    .unwrap();
    moto.put(bucket, &key("good", 0), &good);
    // The same ids under another key with other content.
    let dup = encode_predictions(&[row(hour + 5, "p-1", "good", 0.9)], &inputs, "m").unwrap();
    moto.put(bucket, &key("good", 1), &dup);
    // The same ids, the same content, another key: duplicates, not a conflict.
    moto.put(bucket, &key("good", 2), &good);
    // A column the spec does not have.
    let mut bogus = inputs[0].clone();
    bogus.name = "bogus".into();
    let wrong = encode_predictions(&[row(hour + 5, "p-9", "wrong", 0.2)], &[&bogus], "m").unwrap();
    moto.put(bucket, &key("wrong", 0), &wrong);
    // Cut in half.
    moto.put(bucket, &key("cut", 0), &good[..good.len() / 2]);
    // Over the cap (declared 300,000 bytes; the workspace reads 200,000 at most).
    moto.put(bucket, &key("big", 0), &vec![b'P'; 300_000]);
    // Keys that name paths, or are not of the segment's shape.
    moto.put(
        bucket,
        &format!("{PREFIX}/captures/predictions/model=../dt=2025-01-01/hour=00/x-000000.parquet"),
        &good,
    );
    moto.put(
        bucket,
        &format!("{PREFIX}/captures/predictions/model=m/dt=2025-01-01/hour=00/../../../../evil-1.parquet"),
        &good,
    );
    // A row outside the hour its key names.
    let late =
        encode_predictions(&[row(hour + 3_600_000, "p-5", "late", 0.2)], &inputs, "m").unwrap();
    moto.put(bucket, &key("late", 0), &late);

    // A dictionary bomb: one long text repeated 190,000 times in two columns is a small file
    // whose footer says little, and unpacks to 389 MB, past the 256 MiB a segment may.
    let py = std::env::var("STAYTRACK_TEST_CLIENTS")
        .expect("STAYTRACK_TEST_CLIENTS must name the clients' python (make test sets it)");
    let tmp = tempfile::tempdir().unwrap();
    let (small, bomb) = (
        tmp.path().join("small.parquet"),
        tmp.path().join("bomb.parquet"),
    );
    std::fs::write(&small, &good).unwrap();
    let script = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
n = 190_000
cols = {}
for f in t.schema:
    v = t.column(f.name)[0].as_py()
    if f.name in ("department", "ward_type"):
        v = "x" * 1024
    cols[f.name] = pa.array([v] * n, type=f.type)
bomb = pa.table(cols, schema=t.schema)
pq.write_table(bomb, sys.argv[2], compression="zstd", use_dictionary=True)
"#;
    let o = Command::new(&py)
        .args([
            "-c",
            script,
            small.to_str().unwrap(),
            bomb.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bomb = std::fs::read(&bomb).unwrap();
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    moto.put(bucket, &key("bomb", 0), &bomb);

    // Segments older than asked for stay in the bucket, judged from their keys alone.
    let o = staytrack(
        ws.path(),
        &moto,
        bucket,
        &["sync", "pull", "--json", "--captures-since", "1d"],
    );
    let sum: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sum["captures"]["older"], 8, "{sum}");
    assert_eq!(sum["captures"]["predictions"], 0, "{sum}");
    let o = staytrack(ws.path(), &moto, bucket, &["sync", "pull", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let sum: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rejected: Vec<String> = sum["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let named = |what: &str, why: &str| {
        assert!(
            rejected.iter().any(|r| r.contains(what) && r.contains(why)),
            "{what} / {why}: {rejected:#?}"
        )
    };
    named("/good-000001", "already held with other content");
    named("/wrong-000000", "'bogus' is not one a segment carries");
    named("/cut-000000", "not a readable Parquet file");
    named("/big-000000", "more than the 200000 allowed");
    named("model=../", "not a capture segment key");
    named("evil-1", "not a capture segment key");
    named("/late-000000", "outside the key's hour");
    named("/bomb-000000", "unpack to more than");
    assert_eq!(rejected.len(), 8, "{rejected:#?}");
    assert_eq!(sum["captures"]["predictions"], 2, "{sum}");
    assert_eq!(sum["captures"]["duplicates"], 2, "{sum}");
    let stored = stored_ids(ws.path());
    assert_eq!(stored.len(), 1);
    assert_eq!(stored["good"].len(), 2);
    // Nothing was written outside the workspace's store and artifacts.
    let db = rusqlite::Connection::open(ws.path().join("staytrack.db")).unwrap();
    let p: f64 = db
        .query_row(
            "SELECT probability FROM predictions WHERE prediction_id = 'p-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(p, 0.2, "the conflicting segment changed nothing");
}

#[test]
fn a_slow_store_turns_answers_into_503s_and_every_200_is_logged() {
    let ws = promoted();
    let recs = records(ws.path(), 10);
    let s = Server::start(
        ws.path(),
        None,
        &["--log-queue", "20", "--log-wait", "50ms"],
    );
    let a = agent();
    let db = ws.path().join("staytrack.db");
    // Another process's write transaction holds the store: the writer cannot write.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        c.execute_batch("COMMIT").unwrap();
    });
    held_rx.recv().unwrap();
    let (mut ok200, mut busy) = (0usize, 0usize);
    let mut retry_after = false;
    for i in 0..200 {
        let rec = Value::Object(recs[i % recs.len()].clone());
        let resp = a
            .post(&format!("{}/predict", s.base))
            .header("Content-Type", "application/json")
            .send(rec.to_string().as_bytes())
            .unwrap();
        match resp.status().as_u16() {
            200 => ok200 += 1,
            503 => {
                busy += 1;
                retry_after |= resp.headers().get("retry-after").is_some();
            }
            other => panic!("status {other}"),
        }
    }
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(busy > 0, "a full log refuses answers");
    assert!(retry_after, "a 503 says when to come back");
    // Only answered predictions count as predictions.
    let metrics = a
        .get(&format!("{}/metrics", s.base))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let predicted: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("staytrack_predictions_total{"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    assert_eq!(predicted as usize, ok200, "{metrics}");
    assert!(s.terminate().success());
    let c = rusqlite::Connection::open(ws.path().join("staytrack.db")).unwrap();
    let logged: i64 = c
        .query_row("SELECT COUNT(*) FROM predictions", [], |r| r.get(0))
        .unwrap();
    eprintln!("{ok200} answered, {busy} refused, {logged} logged");
    assert_eq!(logged as usize, ok200, "every 200 is a logged prediction");
}

#[test]
fn every_route_names_its_predictions_and_the_log_keeps_them_with_the_request_id() {
    let ws = promoted();
    let recs = records(ws.path(), 3);
    let s = Server::start(ws.path(), None, &[]);
    let a = agent();
    let mut named: Vec<(String, String)> = Vec::new();
    let mut send = |path: &str, ctype: &str, body: String, req: &str| -> Value {
        let mut resp = a
            .post(&format!("{}{path}", s.base))
            .header("Content-Type", ctype)
            .header("X-Request-Id", req)
            .send(body.as_bytes())
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let ids: Vec<String> = resp
            .headers()
            .get("x-prediction-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        assert_eq!(ids.len(), 3, "{path}: one id per record");
        named.extend(ids.iter().map(|i| (i.clone(), req.to_string())));
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        let body_ids: Vec<String> = match path {
            "/predict" => v["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["prediction_id"].as_str().unwrap().to_string())
                .collect(),
            "/invocations" => serde_json::from_value(v["prediction_ids"].clone()).unwrap(),
            "/predict_outcome" => serde_json::from_value(v["prediction_id"].clone()).unwrap(),
            _ => v["parameters"]["prediction_ids"]
                .as_str()
                .unwrap()
                .split(',')
                .map(str::to_string)
                .collect(),
        };
        assert_eq!(body_ids, ids, "{path}: the body names the header's ids");
        v
    };
    let list = Value::Array(recs.iter().cloned().map(Value::Object).collect());
    send(
        "/predict",
        "application/json",
        list.to_string(),
        "r-predict",
    );
    send(
        "/invocations",
        "application/json",
        serde_json::json!({ "dataframe_records": list }).to_string(),
        "r-mlflow",
    );
    let columns: Vec<&String> = recs[0].keys().collect();
    let inputs: Vec<Value> = columns
        .iter()
        .map(|c| {
            let data: Vec<Value> = recs.iter().map(|r| r[*c].clone()).collect();
            let dt = if data.iter().all(Value::is_string) {
                "BYTES"
            } else if data.iter().all(|v| v.is_i64()) {
                "INT64"
            } else {
                "FP64"
            };
            serde_json::json!({"name": c, "shape": [3], "datatype": dt, "data": data})
        })
        .collect();
    send(
        "/v2/models/staytrack/infer",
        "application/json",
        serde_json::json!({ "inputs": inputs }).to_string(),
        "r-oip",
    );
    // A request id that is not 1 to 128 visible ASCII characters is refused, naming the header.
    for bad in ["", &"x".repeat(129), "a b"] {
        let resp = a
            .post(&format!("{}/predict", s.base))
            .header("Content-Type", "application/json")
            .header("X-Request-Id", bad)
            .send(Value::Object(recs[0].clone()).to_string().as_bytes())
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{bad:?}");
    }
    assert!(s.terminate().success());
    let db = rusqlite::Connection::open(ws.path().join("staytrack.db")).unwrap();
    for (id, req) in &named {
        let got: String = db
            .query_row(
                "SELECT request_id FROM predictions WHERE prediction_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(&got, req);
    }
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM predictions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as usize, named.len(), "refused requests log nothing");
}

#[test]
fn outcomes_travel_through_the_bucket_and_join_by_prediction_id_or_case() {
    let moto = Moto::start();
    let bucket = "outcomes";
    moto.bucket(bucket);
    let ws = promoted();
    let recs = records(ws.path(), 30);
    let s = start(
        ws.path(),
        &moto,
        bucket,
        &["--replica", "api-1", "--capture-interval", "1s"],
    );
    let a = agent();
    let mut answered = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let (status, ids, _) = predict(&a, &s.base, &Value::Object(r.clone()), &format!("r{i}"));
        assert_eq!(status, 200);
        answered.push((ids[0].clone(), r["case_id"].as_i64().unwrap()));
    }
    assert!(s.terminate().success());
    // Ten outcomes by prediction id, ten by case id, from the CLI of the serving workspace:
    // they wait in its outbox and ship at once.
    let by_id: String = std::iter::once("prediction_id,Stay".to_string())
        .chain(answered[..10].iter().map(|(id, _)| format!("{id},31-40")))
        .collect::<Vec<_>>()
        .join("\n");
    let by_case: String = std::iter::once("case_id,Stay".to_string())
        .chain(answered[10..20].iter().map(|(_, c)| format!("{c},0-10")))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(ws.path().join("by_id.csv"), by_id).unwrap();
    std::fs::write(ws.path().join("by_case.csv"), by_case).unwrap();
    for (file, id) in [("by_id.csv", "prediction_id"), ("by_case.csv", "case_id")] {
        let path = ws.path().join(file);
        let o = staytrack(
            ws.path(),
            &moto,
            bucket,
            &["feedback", path.to_str().unwrap(), "--id", id, "--json"],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let sum: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(sum["new"], 10, "{sum}");
    }
    let keys = capture_keys(&moto, bucket);
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{PREFIX}/captures/outcomes/dt="))),
        "{keys:?}"
    );
    let pushed = staytrack(ws.path(), &moto, bucket, &["sync", "push"]);
    assert!(pushed.status.success());
    let fresh = tempfile::tempdir().unwrap();
    ok(
        fresh.path(),
        &["data", "synth", "--rows", "200", "--test-rows", "10"],
    );
    let pulled = staytrack(fresh.path(), &moto, bucket, &["sync", "pull", "--json"]);
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let sum: Value = serde_json::from_slice(&pulled.stdout).unwrap();
    assert_eq!(sum["captures"]["predictions"], 30, "{sum}");
    assert_eq!(sum["captures"]["outcomes"], 20, "{sum}");
    let m = run(
        fresh.path(),
        &["monitor", "--json", "--window", "1d", "--no-webhook"],
    );
    let rep: Value = serde_json::from_slice(&m.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&m.stderr)));
    assert_eq!(rep["predictions"], 30);
    assert_eq!(rep["labelled"], 20, "both kinds of outcome join");
}
