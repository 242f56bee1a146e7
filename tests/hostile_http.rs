//! A hostile client against the real server: bodies that expand when parsed, oversized names and
//! values, deep nesting, silent and slow clients, idle keep-alive connections, non-finite
//! numbers, and SIGTERM with a thousand stalled connections. Throughout, `/health` answers, no
//! answer is a 5xx, the server's peak RSS (from /proc) stays under 512 MiB, and nothing it
//! logs is lost or not a number.
//!
//! Malformed requests to every route (each body format and content type, v2 tensors of the
//! wrong type, shape or value, duplicate keys, non-UTF-8 bytes, bad headers and paths, the
//! admin routes without or with a wrong token, bodies whose framing lies) are each a 4xx; every
//! routed one (a path parameter that is not UTF-8 too) is the server's JSON error; the server
//! stays up, and its metrics count every routed one and no 5xx.
//!
//! Distinct hostile inputs: 212 (13 expanding bodies, 13 extreme numbers, 5 slow or silent
//! clients, 1 SIGTERM with stalled connections, 2 log bounds, 1 trickle, 1 field flood, 176
//! malformed requests).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::Server;
use common::{exchange, ok, records_from_csv};
use serde_json::{json, Value};

/// A workspace with logistic regression promoted (its score is a sum, the one that non-finite
/// inputs could break).
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        &["data", "synth", "--rows", "2000", "--test-rows", "20"],
    );
    ok(dir.path(), &["train", "--model", "lr"]);
    let id = common::json(&ok(dir.path(), &["runs", "list", "--json"]))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(dir.path(), &["promote", &id]);
    dir
}

fn one_record(ws: &Path) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    records_from_csv(&text, true).remove(0)
}

/// Sends raw bytes and reads the status code of the answer (0 when the connection closed
/// without one).
fn raw(addr: &str, head: &str, body: &[u8]) -> u16 {
    exchange(addr, head, body).0
}

/// `GET /health` on a fresh connection: its status code.
fn health(addr: &str) -> u16 {
    raw(
        addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    )
}

fn post(addr: &str, path: &str, ctype: &str, body: &[u8]) -> u16 {
    raw(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        body,
    )
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// Polls `/health` until stopped; counts answers that were not 200.
fn health_watch(addr: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        let (mut good, mut bad) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            let code = health(&addr);
            if code == 200 && t.elapsed() < Duration::from_secs(5) {
                good += 1;
            } else {
                bad += 1;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (good, bad)
    })
}

/// `open`, then `item` `n` times, then `close`: a body that grows without growing the test.
fn repeated(open: &[u8], item: &[u8], n: usize, close: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(open.len() + item.len() * n + close.len());
    b.extend_from_slice(open);
    for _ in 0..n {
        b.extend_from_slice(item);
    }
    b.extend_from_slice(close);
    b
}

/// (name, path, content type, body) of every expanding or oversized body.
fn expanding_bodies() -> Vec<(&'static str, &'static str, &'static str, Vec<u8>)> {
    let mut v = Vec::new();
    // 8 MB of CSV: a 200 KB header name and 4M short lines.
    let mut csv = "A".repeat(200_000).into_bytes();
    csv.extend_from_slice(b",Age\n");
    while csv.len() < 8_000_000 {
        csv.extend_from_slice(b"1\n");
    }
    v.push((
        "csv with a huge name and 4M lines",
        "/invocations",
        "text/csv",
        csv,
    ));
    // The same lines under a real header.
    let mut csv = b"Age\n".to_vec();
    while csv.len() < 8_000_000 {
        csv.extend_from_slice(b"1\n");
    }
    v.push(("csv of 4M lines", "/invocations", "text/csv", csv));
    let mut csv = "A".repeat(300).into_bytes();
    csv.extend_from_slice(b"\n1\n");
    v.push(("csv with a 300-byte name", "/invocations", "text/csv", csv));
    // 1.2M empty-keyed records.
    let j = repeated(b"[", b"{\"\":0},", 1_100_000, b"{\"\":0}]");
    v.push((
        "1.1M tiny records",
        "/predict",
        "application/json",
        j.clone(),
    ));
    v.push((
        "1.1M tiny records (seed route)",
        "/predict_outcome",
        "application/json",
        j,
    ));
    // One record with a million keys.
    let mut j = b"{".to_vec();
    for i in 0..900_000 {
        j.extend_from_slice(format!("\"{i}\":0,").as_bytes());
    }
    j.extend_from_slice(b"\"x\":0}");
    v.push(("one record of 900k keys", "/predict", "application/json", j));
    // dataframe_split with a huge column name and a million rows.
    let open = format!(
        "{{\"dataframe_split\":{{\"columns\":[\"{}\"],\"data\":[",
        "B".repeat(200_000)
    );
    let j = repeated(open.as_bytes(), b"[1],", 1_000_000, b"[1]]}}");
    v.push((
        "dataframe_split of 1M rows",
        "/invocations",
        "application/json",
        j,
    ));
    // MLflow records, and columns of 2M values each.
    let j = repeated(b"{\"instances\":[", b"{},", 1_000_000, b"{}]}");
    v.push((
        "instances of 1M empty records",
        "/invocations",
        "application/json",
        j,
    ));
    let j = repeated(
        b"{\"inputs\":[{\"name\":\"Age\",\"datatype\":\"BYTES\",\"shape\":[2000000],\"data\":[",
        b"0,",
        2_000_000,
        b"0]}]}",
    );
    v.push((
        "a v2 tensor of 2M values",
        "/v2/models/staytrack/infer",
        "application/json",
        j,
    ));
    // Nesting far past any real body.
    let mut j = "[".repeat(200_000).into_bytes();
    j.extend_from_slice(&"]".repeat(200_000).into_bytes());
    v.push(("200k-deep nesting", "/predict", "application/json", j));
    // A 5 MB text value and a 1 MB field name.
    let j = format!("{{\"Department\":\"{}\"}}", "d".repeat(5_000_000)).into_bytes();
    v.push(("a 5 MB value", "/predict", "application/json", j));
    let j = format!("{{\"{}\":1}}", "n".repeat(1_000_000)).into_bytes();
    v.push(("a 1 MB field name", "/predict", "application/json", j));
    // Over the body limit.
    v.push((
        "11 MB of spaces",
        "/predict",
        "application/json",
        vec![b' '; 11 * 1024 * 1024],
    ));
    v
}

#[test]
fn expanding_bodies_are_refused_within_bounded_memory_while_health_answers() {
    let ws = workspace();
    let srv = Server::start(ws.path(), None, &["--max-body", "10485760"]);
    let pid = srv.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let watch = health_watch(srv.addr.clone(), stop.clone());
    let bodies = expanding_bodies();
    let n_bodies = bodies.len();
    for (name, path, ctype, body) in &bodies {
        let code = post(&srv.addr, path, ctype, body);
        assert!((400..500).contains(&code), "{name}: answered {code}");
    }
    // All of them at once, four times over.
    let bodies = Arc::new(bodies);
    let workers: Vec<_> = (0..4)
        .flat_map(|_| 0..n_bodies)
        .map(|i| {
            let (addr, bodies) = (srv.addr.clone(), bodies.clone());
            std::thread::spawn(move || {
                let (name, path, ctype, body) = &bodies[i];
                (name.to_string(), post(&addr, path, ctype, body))
            })
        })
        .collect();
    for w in workers {
        let (name, code) = w.join().unwrap();
        // 503 when the body budget is full is an answer too; never a 5xx of another kind.
        assert!(
            (400..500).contains(&code) || code == 503,
            "{name} (concurrent): answered {code}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let (good, bad) = watch.join().unwrap();
    assert_eq!(bad, 0, "health failed {bad} times of {}", good + bad);
    assert!(good > 5);
    let peak = peak_rss_kib(pid);
    assert!(peak < 512 * 1024, "peak RSS {} MiB", peak / 1024);
    eprintln!(
        "peak RSS under {} hostile bodies: {} MiB",
        n_bodies * 5,
        peak / 1024
    );
    // Still serving.
    let rec = json!(one_record(ws.path())).to_string();
    assert_eq!(
        post(&srv.addr, "/predict", "application/json", rec.as_bytes()),
        200
    );
}

#[test]
fn non_finite_and_extreme_numbers_never_give_a_non_number() {
    let ws = workspace();
    let srv = Server::start(ws.path(), None, &[]);
    let base = one_record(ws.path());
    let mut sent_ok = 0;
    let cases: Vec<(&str, Value)> = vec![
        ("Admission_Deposit", json!(1e308)),
        ("Admission_Deposit", json!(-1e308)),
        ("Visitors with Patient", json!(1e308)),
        ("Available Extra Rooms in Hospital", json!(-1e308)),
        ("Admission_Deposit", json!("inf")),
        ("Admission_Deposit", json!("-Infinity")),
        ("Admission_Deposit", json!("NaN")),
        ("Admission_Deposit", json!("1e999")),
        ("Bed Grade", json!(f64::MAX)),
        ("City_Code_Patient", json!(f64::MIN_POSITIVE)),
    ];
    let mut bodies: Vec<String> = cases
        .iter()
        .map(|(k, v)| {
            let mut r = base.clone();
            r.insert(k.to_string(), v.clone());
            json!(r).to_string()
        })
        .collect();
    // Two extreme columns of opposite signs: the sum that used to be ∞ − ∞.
    let mut r = base.clone();
    r.insert("Admission_Deposit".into(), json!(1e308));
    r.insert("Bed Grade".into(), json!(-1e308));
    bodies.push(json!(r).to_string());
    r.insert("City_Code_Patient".into(), json!(f64::MAX));
    r.insert("Admission_Deposit".into(), json!(-f64::MAX));
    bodies.push(json!(r).to_string());
    // A number JSON cannot hold, written out.
    let text = json!(base).to_string();
    bodies.push(text.replacen(
        &format!("\"Admission_Deposit\":{}", base["Admission_Deposit"]),
        "\"Admission_Deposit\":1e400",
        1,
    ));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for b in &bodies {
        let mut resp = agent
            .post(&format!("{}/predict", srv.base))
            .content_type("application/json")
            .send(b.as_bytes())
            .unwrap();
        let code = resp.status().as_u16();
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        assert!(code < 500, "{b}: {code} {v}");
        if code == 200 {
            let p = v["probability"].as_f64();
            assert!(p.is_some_and(|p| (0.0..=1.0).contains(&p)), "{b}: {v}");
            sent_ok += 1;
        } else {
            assert!(v["error"].is_string(), "{v}");
        }
    }
    assert!(
        sent_ok >= 6,
        "the extreme but finite inputs are answered: {sent_ok}"
    );
    assert!(srv.terminate().success());
    let db = rusqlite::Connection::open(ws.path().join("staytrack.db")).unwrap();
    let (n, finite): (i64, i64) = db
        .query_row(
            "SELECT COUNT(*), SUM(probability BETWEEN 0 AND 1) FROM predictions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((n, finite), (sent_ok, sent_ok));
}

/// Reads until the server closes the connection; how long that took.
fn closed_within(mut s: TcpStream, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(t.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(t.elapsed()),
            Err(_) => return None,
        }
    }
}

#[test]
fn silent_slow_and_idle_clients_are_timed_out() {
    let ws = workspace();
    let srv = Server::start(
        ws.path(),
        None,
        &["--header-timeout", "2", "--request-timeout", "3"],
    );
    let limit = Duration::from_secs(8);
    // Connects and says nothing.
    let s = TcpStream::connect(&srv.addr).unwrap();
    assert!(
        closed_within(s, limit).is_some(),
        "a silent client was kept"
    );
    // Half a request line.
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.write_all(b"GET /hea").unwrap();
    assert!(
        closed_within(s, limit).is_some(),
        "half a request line was kept"
    );
    // Headers that never end, a byte a second.
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.write_all(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let slow = std::thread::spawn({
        let mut s = s.try_clone().unwrap();
        move || {
            for _ in 0..6 {
                if s.write_all(b"X").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
    assert!(closed_within(s, limit).is_some(), "slow headers were kept");
    slow.join().unwrap();
    // A body that stops halfway: 408 after the request timeout.
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.write_all(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"Age\":")
        .unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // An idle keep-alive connection after a whole request.
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
    let idle = closed_within(s, limit).expect("an idle keep-alive connection was kept");
    assert!(idle >= Duration::from_millis(1500), "{idle:?}");
    // And the server still answers.
    assert_eq!(health(&srv.addr), 200);
}

#[test]
fn sigterm_with_a_thousand_stalled_connections_exits_within_the_deadline_and_flushes_the_log() {
    let ws = workspace();
    // A header timeout far past the deadline: the deadline, not the timeout, must end them.
    let srv = Server::start(
        ws.path(),
        None,
        &["--header-timeout", "120", "--shutdown-timeout", "3"],
    );
    let rec = json!(one_record(ws.path())).to_string();
    let predicted = AtomicUsize::new(0);
    for _ in 0..100 {
        assert_eq!(
            post(&srv.addr, "/predict", "application/json", rec.as_bytes()),
            200
        );
        predicted.fetch_add(1, Ordering::Relaxed);
    }
    let mut stalled = Vec::new();
    for i in 0..1000 {
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        let partial: &[u8] = match i % 3 {
            0 => b"GET /heal",
            1 => b"POST /predict HTTP/1.1\r\nHost: x\r\n",
            _ => b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"Age\"",
        };
        s.write_all(partial).unwrap();
        stalled.push(s);
    }
    // The server still answers beside them.
    assert_eq!(health(&srv.addr), 200);
    let t = Instant::now();
    let status = srv.terminate();
    let took = t.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(3 + 3), "exited after {took:?}");
    drop(stalled);
    let db = rusqlite::Connection::open(ws.path().join("staytrack.db")).unwrap();
    let logged: i64 = db
        .query_row("SELECT COUNT(*) FROM predictions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(logged as usize, predicted.load(Ordering::Relaxed));
}

#[test]
fn the_log_is_bounded_in_bytes_and_pruned_by_age() {
    let ws = workspace();
    let db_path = ws.path().join("staytrack.db");
    // Forty days of old predictions, and one from now.
    let db = rusqlite::Connection::open(&db_path).unwrap();
    let now = staytrack::util::now_ms();
    for (i, age_days) in [40i64, 35, 31, 1].iter().enumerate() {
        db.execute(
            "INSERT INTO predictions (at, model_version, case_id, inputs, probability, class, source)
             VALUES (?1, 1, ?2, '{}', 0.5, 1, 'old')",
            rusqlite::params![now - age_days * 86_400_000, i as i64],
        )
        .unwrap();
    }
    drop(db);
    // The server prunes past its retention when it starts; a queue of 2 KB holds a few rows,
    // and with `--log-full drop` the rest are answered and counted, not refused.
    let srv = Server::start(
        ws.path(),
        None,
        &[
            "--log-queue-bytes",
            "2000",
            "--log-retention",
            "30d",
            "--log-full",
            "drop",
        ],
    );
    let count = |src: &str| -> i64 {
        let db = rusqlite::Connection::open(&db_path).unwrap();
        db.query_row(
            "SELECT COUNT(*) FROM predictions WHERE source = ?1",
            [src],
            |r| r.get(0),
        )
        .unwrap()
    };
    let t = Instant::now();
    while count("old") != 1 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "old rows were not pruned"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let recs: Vec<_> = (0..50).map(|_| one_record(ws.path())).collect();
    let body = json!(recs).to_string();
    assert_eq!(
        post(&srv.addr, "/predict", "application/json", body.as_bytes()),
        200
    );
    let metrics = {
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let dropped: u64 = metrics
        .lines()
        .find(|l| l.starts_with("staytrack_prediction_log_dropped_total "))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    assert!(dropped > 0 && dropped < 50, "{dropped} dropped");
    assert!(srv.terminate().success());
    assert_eq!(count("/predict") as u64 + dropped, 50);
    // And by hand.
    let o = common::run(ws.path(), &["log", "prune", "--older-than", "1h"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("deleted 1 logged prediction(s)"));
    assert_eq!(count("old"), 0);
    let o = common::run(ws.path(), &["log", "prune", "--older-than", "soon"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn twelve_trickling_bodies_do_not_keep_a_normal_request_waiting() {
    let ws = workspace();
    let srv = Server::start(ws.path(), None, &["--max-body", "10485760"]);
    // Twelve connections each declare a 10 MiB body and send a byte a second.
    let stop = Arc::new(AtomicBool::new(false));
    let trickles: Vec<_> = (0..12)
        .map(|_| {
            let (addr, stop) = (srv.addr.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                let head = format!(
                    "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n[",
                    10 * 1024 * 1024
                );
                s.write_all(head.as_bytes()).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1000));
                    if s.write_all(b" ").is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let rec = json!(one_record(ws.path())).to_string();
    for _ in 0..5 {
        let t = Instant::now();
        let code = post(&srv.addr, "/predict", "application/json", rec.as_bytes());
        let took = t.elapsed();
        assert_eq!(code, 200, "a normal request beside twelve trickling bodies");
        assert!(
            took < Duration::from_secs(2),
            "a normal request took {took:?} beside twelve trickling bodies"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in trickles {
        t.join().unwrap();
    }
}

#[test]
fn a_flood_of_unknown_fields_gets_a_small_answer_that_counts_them() {
    let ws = workspace();
    let srv = Server::start(ws.path(), None, &["--max-body", "10485760"]);
    let pid = srv.child.id();
    // 38,000 distinct unknown names of 256 bytes each: about 10 MB.
    let mut body = Vec::with_capacity(10 * 1024 * 1024);
    body.push(b'{');
    for i in 0..38_000 {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(format!("\"{i:0>256}\":1").as_bytes());
    }
    body.push(b'}');
    assert!(body.len() < 10 * 1024 * 1024);
    let head = format!(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (code, answer) = exchange(&srv.addr, &head, &body);
    assert_eq!(code, 422, "{}", String::from_utf8_lossy(&answer));
    assert!(answer.len() <= 64 * 1024, "a {} byte answer", answer.len());
    let v: Value = serde_json::from_slice(&answer).unwrap();
    let msg = v["message"].as_str().unwrap();
    assert!(msg.ends_with("… and 37,980 more unknown fields"), "{msg}");
    assert_eq!(v["fields"].as_array().unwrap().len(), 20);
    assert_eq!(v["fields_not_listed"], 37_980);
    // Twelve at once stay within the memory bound.
    let body = Arc::new(body);
    let workers: Vec<_> = (0..12)
        .map(|_| {
            let (addr, head, body) = (srv.addr.clone(), head.clone(), body.clone());
            std::thread::spawn(move || exchange(&addr, &head, &body))
        })
        .collect();
    for w in workers {
        let (code, answer) = w.join().unwrap();
        assert!(code == 422 || code == 503 || code == 429, "answered {code}");
        assert!(answer.len() <= 64 * 1024, "a {} byte answer", answer.len());
    }
    let peak = peak_rss_kib(pid);
    assert!(peak < 512 * 1024, "peak RSS {} MiB", peak / 1024);
    eprintln!(
        "peak RSS under twelve floods of unknown fields: {} MiB",
        peak / 1024
    );
}

/// How a hostile request must be answered.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// By a route: this status, a JSON body whose `error` holds the text, and counted in
    /// `/metrics`.
    Route(u16, &'static str),
    /// By the HTTP layer, before any route: this status, and not counted.
    Http(u16),
}

/// A request as it goes on the wire: the start line, `Host`, the `headers` given (whole lines),
/// a `Content-Length` for `body` unless the headers frame it themselves, and `Connection: close`.
fn wire(method: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let framed = headers.iter().any(|h| {
        let h = h.to_ascii_lowercase();
        h.starts_with("content-length:") || h.starts_with("transfer-encoding:")
    });
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n").into_bytes();
    for h in headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !framed {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body);
    out
}

fn json_post(path: &str, body: impl AsRef<[u8]>) -> Vec<u8> {
    wire(
        "POST",
        path,
        &["Content-Type: application/json"],
        body.as_ref(),
    )
}

/// `rec` as JSON with `key`'s value written as the raw text `raw` (a token JSON lacks, say).
fn with_raw(rec: &serde_json::Map<String, Value>, key: &str, raw: &str) -> String {
    let mut r = rec.clone();
    r.insert(key.into(), json!("\u{1}raw\u{1}"));
    json!(r).to_string().replace("\"\\u0001raw\\u0001\"", raw)
}

/// `rec` with `key` set to `v`.
fn with_value(rec: &serde_json::Map<String, Value>, key: &str, v: Value) -> String {
    let mut r = rec.clone();
    r.insert(key.into(), v);
    json!(r).to_string()
}

const ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef-hostile";

/// (name, request, answer) of every malformed request: each route's bodies, each MLflow format
/// and content type, the v2 protocol's tensors, headers, paths, the admin routes' token, and
/// bodies whose framing lies.
fn malformed_requests(ws: &Path) -> Vec<(String, Vec<u8>, Answer)> {
    use Answer::*;
    let rec = one_record(ws);
    let good = json!(rec).to_string();
    let text = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let row = lines.next().unwrap().to_string();
    let names: Vec<&str> = header.split(',').collect();
    let cells: Vec<&str> = row.split(',').collect();
    let csv = format!("{header}\n{row}\n");
    let csv_post = |body: &[u8]| wire("POST", "/invocations", &["Content-Type: text/csv"], body);
    let with_cell = |i: usize, v: &str| {
        let mut c = cells.clone();
        c[i] = v;
        format!("{header}\n{}\n", c.join(","))
    };
    let dept = names.iter().position(|n| *n == "Department").unwrap();
    let rooms = names
        .iter()
        .position(|n| *n == "Available Extra Rooms in Hospital")
        .unwrap();
    // v2 tensors, one per column, typed as the record is.
    let tensors: Vec<Value> = rec
        .iter()
        .map(|(k, v)| {
            let dt = if v.is_i64() {
                "INT64"
            } else if v.is_f64() {
                "FP64"
            } else {
                "BYTES"
            };
            json!({"name": k, "datatype": dt, "shape": [1], "data": [v]})
        })
        .collect();
    let at = |name: &str| tensors.iter().position(|t| t["name"] == name).unwrap();
    let (hosp, deposit) = (at("Hospital_code"), at("Admission_Deposit"));
    let v2 = "/v2/models/staytrack/infer";
    let v2_with = |i: usize, t: Value| {
        let mut all = tensors.clone();
        all[i] = t;
        json_post(v2, json!({ "inputs": all }).to_string())
    };
    let tensor = |name: &str, dt: Value, shape: Value, data: Value| json!({"name": name, "datatype": dt, "shape": shape, "data": data});
    let v2_raw = |i: usize, raw: &str| {
        let mut all = tensors.clone();
        all[i]["data"] = json!(["\u{1}raw\u{1}"]);
        json_post(
            v2,
            json!({ "inputs": all })
                .to_string()
                .replace("\"\\u0001raw\\u0001\"", raw),
        )
    };
    // A binary v2 request: a JSON head of `n` bytes, then raw bytes.
    let v2_binary = |head: Value, tail: &[u8], declared: Option<&str>| {
        let head = head.to_string();
        let mut body = head.clone().into_bytes();
        body.extend_from_slice(tail);
        let len = format!(
            "Inference-Header-Content-Length: {}",
            declared.map_or(head.len().to_string(), str::to_string)
        );
        wire(
            "POST",
            v2,
            &["Content-Type: application/octet-stream", &len],
            &body,
        )
    };
    let bearer = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let admin = |path: &str, auth: &str, body: &[u8]| {
        let mut h = vec!["Content-Type: application/json"];
        if !auth.is_empty() {
            h.push(auth);
        }
        wire("POST", path, &h, body)
    };
    let chunked = |body: &[u8]| {
        wire(
            "POST",
            "/predict",
            &[
                "Content-Type: application/json",
                "Transfer-Encoding: chunked",
            ],
            body,
        )
    };
    let mut cases: Vec<(&str, Vec<u8>, Answer)> = vec![
        // /predict: bodies that are not JSON, or not records.
        ("predict: empty body", json_post("/predict", ""), Route(400, "malformed JSON")),
        ("predict: cut short", json_post("/predict", "{\"Age\":"), Route(400, "EOF")),
        (
            "predict: trailing garbage",
            json_post("/predict", format!("{good}xx")),
            Route(400, "trailing characters"),
        ),
        ("predict: a string", json_post("/predict", "\"hi\""), Route(422, "found a string")),
        ("predict: null", json_post("/predict", "null"), Route(422, "found null")),
        ("predict: a number", json_post("/predict", "42"), Route(422, "found a number")),
        ("predict: no records", json_post("/predict", "[]"), Route(422, "no records")),
        (
            "predict: a list of numbers",
            json_post("/predict", "[1,2]"),
            Route(422, "expected an object"),
        ),
        ("predict: an empty record", json_post("/predict", "{}"), Route(422, "missing field")),
        (
            "predict: a key twice",
            json_post("/predict", format!("{},\"Age\":\"0-10\"}}", &good[..good.len() - 1])),
            Route(400, "'Age' appears twice"),
        ),
        (
            "predict: a key twice, once escaped",
            json_post("/predict", format!("{},\"\\u0041ge\":\"0-10\"}}", &good[..good.len() - 1])),
            Route(400, "'Age' appears twice"),
        ),
        (
            "predict: Infinity",
            json_post("/predict", with_raw(&rec, "Admission_Deposit", "Infinity")),
            Route(400, "malformed JSON"),
        ),
        (
            "predict: -Infinity",
            json_post("/predict", with_raw(&rec, "Admission_Deposit", "-Infinity")),
            Route(400, "malformed JSON"),
        ),
        (
            "predict: NaN where a value is required",
            json_post("/predict", with_raw(&rec, "Admission_Deposit", "NaN")),
            Route(422, "a value is required"),
        ),
        (
            "predict: a 400-digit integer",
            json_post("/predict", with_raw(&rec, "Visitors with Patient", &"9".repeat(400))),
            Route(400, "number out of range"),
        ),
        (
            "predict: 1e308 in an integer column",
            json_post("/predict", with_value(&rec, "Visitors with Patient", json!(1e308))),
            Route(422, "expected an integer"),
        ),
        (
            "predict: 2.5 in an integer column",
            json_post("/predict", with_value(&rec, "Visitors with Patient", json!(2.5))),
            Route(422, "expected an integer"),
        ),
        (
            "predict: text in an integer column",
            json_post("/predict", with_value(&rec, "Visitors with Patient", json!("three"))),
            Route(422, "expected an integer"),
        ),
        (
            "predict: a case id past i64",
            json_post("/predict", with_raw(&rec, "case_id", "1180591620717411303424")),
            Route(422, "case_id"),
        ),
        (
            "predict: an object as a value",
            json_post("/predict", with_value(&rec, "Age", json!({"a": [1]}))),
            Route(422, "found an object"),
        ),
        (
            "predict: a list as a value",
            json_post("/predict", with_value(&rec, "Age", json!([1, 2]))),
            Route(422, "found a list"),
        ),
        (
            "predict: a boolean as a value",
            json_post("/predict", with_value(&rec, "Age", json!(true))),
            Route(422, "found a boolean"),
        ),
        (
            "predict: a key holding NUL",
            json_post("/predict", with_value(&rec, "A\u{0}ge", json!("x"))),
            Route(422, "unknown field"),
        ),
        (
            "predict: bytes that are not UTF-8",
            json_post(
                "/predict",
                [&b"{\"Department\":\"anes\xff\xfe\"}"[..]].concat(),
            ),
            Route(400, "malformed JSON"),
        ),
        (
            "predict: a key that is not UTF-8",
            json_post("/predict", b"{\"\xff\xfe\":1}"),
            Route(400, "malformed JSON"),
        ),
        (
            "predict: a lone surrogate",
            json_post("/predict", with_raw(&rec, "Department", "\"\\ud800\"")),
            Route(400, "malformed JSON"),
        ),
        (
            "predict: 1,000 nested objects",
            json_post("/predict", format!("{}1{}", "{\"a\":".repeat(1000), "}".repeat(1000))),
            Route(400, "recursion limit"),
        ),
        (
            "predict: UTF-16",
            json_post(
                "/predict",
                good.encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<u8>>(),
            ),
            Route(400, "malformed JSON"),
        ),
        (
            "predict: a byte-order mark",
            json_post("/predict", [&b"\xEF\xBB\xBF"[..], good.as_bytes()].concat()),
            Route(400, "malformed JSON"),
        ),
        ("predict: CSV sent as JSON", json_post("/predict", &csv), Route(400, "malformed JSON")),
        (
            "predict: gzip declared, junk sent",
            wire(
                "POST",
                "/predict",
                &["Content-Type: application/json", "Content-Encoding: gzip"],
                b"\x1f\x8b junk",
            ),
            Route(400, "malformed JSON"),
        ),
        (
            "predict: 200 records, past --max-rows",
            json_post("/predict", json!(vec![rec.clone(); 200]).to_string()),
            Route(413, "--max-rows"),
        ),
        (
            "predict_outcome: a list of numbers",
            json_post("/predict_outcome", "[1]"),
            Route(422, "expected an object"),
        ),
        // /invocations: each content type and format.
        (
            "invocations: no content type",
            wire("POST", "/invocations", &[], b"{}"),
            Route(415, "(none)"),
        ),
        (
            "invocations: text/plain",
            wire("POST", "/invocations", &["Content-Type: text/plain"], csv.as_bytes()),
            Route(415, "text/plain"),
        ),
        (
            "invocations: application/xml",
            wire("POST", "/invocations", &["Content-Type: application/xml"], b"<a/>"),
            Route(415, "application/xml"),
        ),
        (
            "invocations: a content type that is not ASCII",
            wire(
                "POST",
                "/invocations",
                &["Content-Type: \u{e9}t\u{e9}"],
                b"{}",
            ),
            Route(415, "not supported"),
        ),
        ("invocations: no format", json_post("/invocations", "{}"), Route(400, "it holds none")),
        (
            "invocations: two formats",
            json_post("/invocations", json!({"instances": [rec], "inputs": [rec]}).to_string()),
            Route(400, "instances and inputs"),
        ),
        (
            "invocations: an unknown format",
            json_post("/invocations", json!({"rows": [rec]}).to_string()),
            Route(400, "it holds none"),
        ),
        (
            "invocations: a key twice",
            json_post("/invocations", format!("{{\"instances\":[{good}],\"instances\":[]}}")),
            Route(400, "'instances' appears twice"),
        ),
        (
            "dataframe_split: no columns",
            json_post("/invocations", json!({"dataframe_split": {"data": [cells]}}).to_string()),
            Route(400, "columns array"),
        ),
        (
            "dataframe_split: columns a string",
            json_post(
                "/invocations",
                json!({"dataframe_split": {"columns": "Age", "data": [cells]}}).to_string(),
            ),
            Route(400, "columns array"),
        ),
        (
            "dataframe_split: data a number",
            json_post(
                "/invocations",
                json!({"dataframe_split": {"columns": names, "data": 5}}).to_string(),
            ),
            Route(400, "data array"),
        ),
        (
            "dataframe_split: a short row",
            json_post(
                "/invocations",
                json!({"dataframe_split": {"columns": names, "data": [&cells[1..]]}}).to_string(),
            ),
            Route(422, "16 values for 17 columns"),
        ),
        (
            "dataframe_split: a long row",
            json_post(
                "/invocations",
                json!({"dataframe_split": {"columns": names, "data": [([&cells[..], &["x"]].concat())]}})
                    .to_string(),
            ),
            Route(422, "18 values for 17 columns"),
        ),
        (
            "dataframe_split: a column name that is a number",
            json_post(
                "/invocations",
                json!({"dataframe_split": {"columns": ([&[json!(1)][..], &names[1..].iter().map(|n| json!(n)).collect::<Vec<_>>()].concat()), "data": [cells]}})
                    .to_string(),
            ),
            Route(400, "must hold strings"),
        ),
        (
            "dataframe_split: a row that is an object",
            json_post(
                "/invocations",
                json!({"dataframe_split": {"columns": names, "data": [rec]}}).to_string(),
            ),
            Route(422, "expected an array"),
        ),
        (
            "dataframe_records: an object",
            json_post("/invocations", json!({"dataframe_records": rec}).to_string()),
            Route(400, "array of objects"),
        ),
        (
            "dataframe_records: rows as lists",
            json_post("/invocations", json!({"dataframe_records": [cells]}).to_string()),
            Route(422, "expected an object"),
        ),
        (
            "dataframe_records: none",
            json_post("/invocations", json!({"dataframe_records": []}).to_string()),
            Route(422, "no records"),
        ),
        (
            "instances: numbers",
            json_post("/invocations", json!({"instances": [1, 2, 3]}).to_string()),
            Route(422, "expected an object"),
        ),
        (
            "instances: null",
            json_post("/invocations", json!({"instances": null}).to_string()),
            Route(400, "found null"),
        ),
        (
            "inputs: a string",
            json_post("/invocations", json!({"inputs": "x"}).to_string()),
            Route(400, "found a string"),
        ),
        (
            "inputs: columns of different lengths",
            json_post(
                "/invocations",
                json!({"inputs": rec.iter().enumerate().map(|(i, (k, v))| (k.clone(), if i == 0 { json!([v, v]) } else { json!([v]) })).collect::<serde_json::Map<_, _>>()})
                    .to_string(),
            ),
            Route(422, "values but"),
        ),
        ("text/csv: empty", csv_post(b""), Route(422, "empty")),
        ("text/csv: a header alone", csv_post(format!("{header}\n").as_bytes()), Route(422, "no data rows")),
        (
            "text/csv: binary junk",
            csv_post(&(0..=255u8).cycle().take(1024).collect::<Vec<u8>>()),
            Route(400, "not valid UTF-8"),
        ),
        (
            "text/csv: invalid UTF-8",
            csv_post(&[csv.as_bytes(), b"\xff\xfe\n"].concat()),
            Route(400, "not valid UTF-8"),
        ),
        (
            "text/csv: UTF-16 with its byte-order mark",
            csv_post(
                &[&b"\xFF\xFE"[..], &csv.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()].concat(),
            ),
            Route(400, "not valid UTF-8"),
        ),
        (
            "text/csv: a quote never closed",
            csv_post(format!("{csv}\"abc,1\n").as_bytes()),
            Route(400, "never closed"),
        ),
        (
            "text/csv: a ragged row",
            csv_post(format!("{csv}{}\n", cells[..3].join(",")).as_bytes()),
            Route(422, "has 3 fields but the header has 17"),
        ),
        (
            "text/csv: text in an integer column",
            csv_post(with_cell(rooms, "many").as_bytes()),
            Route(422, "expected an integer"),
        ),
        (
            "text/csv: a NUL in an integer cell",
            csv_post(with_cell(rooms, "2\u{0}").as_bytes()),
            Route(422, "expected an integer"),
        ),
        (
            "text/csv: 10,000 columns",
            csv_post(
                format!(
                    "{}\n{}\n",
                    (0..10_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(","),
                    vec!["1"; 10_000].join(",")
                )
                .as_bytes(),
            ),
            Route(422, "unknown field"),
        ),
        (
            "text/csv: a 1 MB cell",
            csv_post(with_cell(dept, &"x".repeat(1_000_000)).as_bytes()),
            Route(422, "longer than the 1024 allowed"),
        ),
        // The v2 protocol: tensors of the wrong shape, type or value.
        ("v2: empty body", json_post(v2, ""), Route(400, "malformed JSON")),
        ("v2: no inputs", json_post(v2, "{}"), Route(400, "inputs must be an array")),
        ("v2: inputs an object", json_post(v2, "{\"inputs\":{}}"), Route(400, "inputs must be an array")),
        ("v2: no tensors", json_post(v2, "{\"inputs\":[]}"), Route(400, "no tensors")),
        (
            "v2: BYTES for an integer column",
            v2_with(hosp, tensor("Hospital_code", json!("BYTES"), json!([1]), json!(["22"]))),
            Route(400, "does not fit"),
        ),
        (
            "v2: an unknown datatype",
            v2_with(hosp, tensor("Hospital_code", json!("INT1024"), json!([1]), json!([22]))),
            Route(400, "unknown datatype"),
        ),
        (
            "v2: a datatype that is a number",
            v2_with(hosp, tensor("Hospital_code", json!(5), json!([1]), json!([22]))),
            Route(400, "needs a datatype"),
        ),
        (
            "v2: a shape of 2 rows for 1 value",
            v2_with(hosp, tensor("Hospital_code", json!("INT64"), json!([2]), json!([22]))),
            Route(400, "shape says 2 rows"),
        ),
        (
            "v2: a shape of 2 rows for 3 values",
            v2_with(hosp, tensor("Hospital_code", json!("INT64"), json!([2, 1]), json!([1, 2, 3]))),
            Route(400, "shape says 2 rows"),
        ),
        (
            "v2: a negative shape",
            v2_with(hosp, tensor("Hospital_code", json!("INT64"), json!([-1]), json!([22]))),
            Route(400, "needs a shape"),
        ),
        (
            "v2: a fractional shape",
            v2_with(hosp, tensor("Hospital_code", json!("INT64"), json!([1.5]), json!([22]))),
            Route(400, "needs a shape"),
        ),
        (
            "v2: a shape whose product overflows",
            v2_with(hosp, tensor("Hospital_code", json!("INT64"), json!([u64::MAX, 3]), json!([22]))),
            Route(400, "is not [rows] or [rows, 1]"),
        ),
        (
            "v2: a 3-d shape",
            v2_with(hosp, tensor("Hospital_code", json!("INT64"), json!([1, 1, 1]), json!([22]))),
            Route(400, "is not [rows] or [rows, 1]"),
        ),
        (
            "v2: columns of different lengths",
            v2_with(hosp, tensor("Hospital_code", json!("INT64"), json!([2]), json!([22, 23]))),
            Route(422, "values but"),
        ),
        (
            "v2: data null",
            v2_with(hosp, tensor("Hospital_code", json!("INT64"), json!([1]), json!(null))),
            Route(400, "data must be an array"),
        ),
        (
            "v2: 300 as INT8",
            v2_with(hosp, tensor("Hospital_code", json!("INT8"), json!([1]), json!([300]))),
            Route(400, "within INT8"),
        ),
        (
            "v2: -1 as UINT32",
            v2_with(hosp, tensor("Hospital_code", json!("UINT32"), json!([1]), json!([-1]))),
            Route(400, "within UINT32"),
        ),
        (
            "v2: 2^64-1 as INT64",
            v2_with(hosp, tensor("Hospital_code", json!("INT64"), json!([1]), json!([u64::MAX]))),
            Route(400, "within INT64"),
        ),
        (
            "v2: 1e6 as FP16",
            v2_with(deposit, tensor("Admission_Deposit", json!("FP16"), json!([1]), json!([1e6]))),
            Route(400, "(FP16)"),
        ),
        (
            "v2: 1e39 as BF16",
            v2_with(deposit, tensor("Admission_Deposit", json!("BF16"), json!([1]), json!([1e39]))),
            Route(400, "(BF16)"),
        ),
        (
            "v2: 1e300 as FP32",
            v2_with(deposit, tensor("Admission_Deposit", json!("FP32"), json!([1]), json!([1e300]))),
            Route(400, "(FP32)"),
        ),
        (
            "v2: text as FP64",
            v2_with(deposit, tensor("Admission_Deposit", json!("FP64"), json!([1]), json!(["x"]))),
            Route(400, "(FP64)"),
        ),
        (
            "v2: BOOL for a number",
            v2_with(deposit, tensor("Admission_Deposit", json!("BOOL"), json!([1]), json!([true]))),
            Route(400, "does not fit"),
        ),
        (
            "v2: nested data",
            v2_with(deposit, tensor("Admission_Deposit", json!("FP64"), json!([1]), json!([[[0.5]]]))),
            Route(400, "(FP64)"),
        ),
        ("v2: NaN where a value is required", v2_raw(deposit, "NaN"), Route(422, "a value is required")),
        ("v2: Infinity", v2_raw(deposit, "Infinity"), Route(400, "malformed JSON")),
        ("v2: 1e999", v2_raw(deposit, "1e999"), Route(400, "number out of range")),
        (
            "v2: a column twice",
            json_post(v2, json!({"inputs": ([&tensors[..], &tensors[..1]].concat())}).to_string()),
            Route(400, "given twice"),
        ),
        (
            "v2: a key twice in a tensor",
            json_post(
                v2,
                json!({ "inputs": tensors })
                    .to_string()
                    .replacen("\"datatype\":\"INT64\"", "\"datatype\":\"INT64\",\"datatype\":\"BYTES\"", 1),
            ),
            Route(400, "'datatype' appears twice"),
        ),
        (
            "v2: an unknown column",
            json_post(
                v2,
                json!({"inputs": ([&tensors[..], &[tensor("Nope", json!("FP64"), json!([1]), json!([1.0]))]].concat())})
                    .to_string(),
            ),
            Route(422, "unknown field"),
        ),
        (
            "v2: a name that is a number",
            v2_with(hosp, json!({"name": 7, "datatype": "INT64", "shape": [1], "data": [22]})),
            Route(400, "needs a name"),
        ),
        (
            "v2: an unknown output",
            json_post(v2, json!({"inputs": tensors, "outputs": [{"name": "nope"}]}).to_string()),
            Route(400, "has no output 'nope'"),
        ),
        (
            "v2: an id that is an object",
            json_post(v2, json!({"id": {"x": 1}, "inputs": tensors}).to_string()),
            Route(400, "id must be a string"),
        ),
        (
            "v2: a model no one serves",
            json_post("/v2/models/nope/infer", json!({ "inputs": tensors }).to_string()),
            Route(404, "no model named 'nope'"),
        ),
        (
            "v2: a version that is not a number",
            json_post("/v2/models/staytrack/versions/abc/infer", json!({ "inputs": tensors }).to_string()),
            Route(400, "positive integer"),
        ),
        (
            "v2: a version past u64",
            json_post("/v2/models/staytrack/versions/99999999999999999999999/infer", json!({ "inputs": tensors }).to_string()),
            Route(400, "positive integer"),
        ),
        (
            "v2: version -1",
            json_post("/v2/models/staytrack/versions/-1/infer", json!({ "inputs": tensors }).to_string()),
            Route(400, "positive integer"),
        ),
        (
            "v2: version 0",
            wire("GET", "/v2/models/staytrack/versions/0", &[], b""),
            Route(400, "positive integer"),
        ),
        (
            "v2: a version the registry lacks",
            wire("GET", "/v2/models/staytrack/versions/999/ready", &[], b""),
            Route(404, "no version 999"),
        ),
        (
            "v2: CSV",
            wire("POST", v2, &["Content-Type: text/csv"], csv.as_bytes()),
            Route(400, "malformed JSON"),
        ),
        (
            "v2 binary: a header length that is text",
            v2_binary(json!({ "inputs": tensors }), b"", Some("ten")),
            Route(400, "must be a byte count"),
        ),
        (
            "v2 binary: a header length of -1",
            v2_binary(json!({ "inputs": tensors }), b"", Some("-1")),
            Route(400, "must be a byte count"),
        ),
        (
            "v2 binary: a header length past the body",
            v2_binary(json!({ "inputs": tensors }), b"", Some("99999")),
            Route(400, "but the body holds"),
        ),
        (
            "v2 binary: a size past the body's end",
            v2_binary(
                json!({"inputs": [{"name": "Hospital_code", "datatype": "INT64", "shape": [1], "parameters": {"binary_data_size": 800}}]}),
                b"",
                None,
            ),
            Route(400, "binary_data_size is 800"),
        ),
        (
            "v2 binary: a size that does not fit the shape",
            v2_binary(
                json!({"inputs": [{"name": "Hospital_code", "datatype": "INT64", "shape": [1], "parameters": {"binary_data_size": 4}}]}),
                &[0; 4],
                None,
            ),
            Route(400, "take 8 bytes"),
        ),
        (
            "v2 binary: data and binary data both",
            v2_binary(
                json!({"inputs": [{"name": "Hospital_code", "datatype": "INT64", "shape": [1], "data": [1], "parameters": {"binary_data_size": 8}}]}),
                &[0; 8],
                None,
            ),
            Route(400, "send one"),
        ),
        (
            "v2 binary: a BYTES length past the data",
            v2_binary(
                json!({"inputs": [{"name": "Age", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}}]}),
                b"\xff\xff\x00\x00ab",
                None,
            ),
            Route(400, "says 65535 bytes"),
        ),
        (
            "v2 binary: bytes after the last tensor",
            v2_binary(json!({ "inputs": tensors }), b"junk", None),
            Route(400, "after the inputs' binary data"),
        ),
        // Headers.
        (
            "X-Request-Id: empty",
            wire("POST", "/predict", &["Content-Type: application/json", "X-Request-Id: "], good.as_bytes()),
            Route(400, "X-Request-Id"),
        ),
        (
            "X-Request-Id: 129 characters",
            wire("POST", "/predict", &["Content-Type: application/json", &format!("X-Request-Id: {}", "a".repeat(129))], good.as_bytes()),
            Route(400, "X-Request-Id"),
        ),
        (
            "X-Request-Id: a space",
            wire("POST", "/predict", &["Content-Type: application/json", "X-Request-Id: a b"], good.as_bytes()),
            Route(400, "X-Request-Id"),
        ),
        (
            "X-Request-Id: not ASCII",
            wire("POST", "/predict", &["Content-Type: application/json", "X-Request-Id: \u{e9}t\u{e9}"], good.as_bytes()),
            Route(400, "X-Request-Id"),
        ),
        (
            "X-Request-Id: DEL on /invocations",
            wire("POST", "/invocations", &["Content-Type: application/json", "X-Request-Id: \u{7f}"], json!({"instances": [rec]}).to_string().as_bytes()),
            Http(400),
        ),
        (
            "X-Request-Id: 200 characters on v2",
            wire("POST", v2, &["Content-Type: application/json", &format!("X-Request-Id: {}", "a".repeat(200))], json!({ "inputs": tensors }).to_string().as_bytes()),
            Route(400, "X-Request-Id"),
        ),
        (
            "a 100 KB header and a malformed body",
            wire("POST", "/predict", &["Content-Type: application/json", &format!("X-Junk: {}", "a".repeat(100_000))], b"{"),
            Route(400, "malformed JSON"),
        ),
        (
            "a 1 MB header",
            wire("POST", "/predict", &[&format!("X-Junk: {}", "a".repeat(1_000_000))], b"{"),
            Http(431),
        ),
        (
            "2,000 headers",
            wire("POST", "/predict", &(0..2000).map(|i| format!("X-H{i}: v")).collect::<Vec<_>>().iter().map(String::as_str).collect::<Vec<_>>(), b"{"),
            Http(431),
        ),
        ("a NUL in a header", wire("POST", "/predict", &["X-Junk: a\u{0}b"], b"{"), Http(400)),
        ("a header name with a space", wire("POST", "/predict", &["X J: v"], b"{"), Http(400)),
        ("a folded header", wire("POST", "/predict", &["X-A: a\r\n b"], b"{"), Http(400)),
        (
            "a 50 KB content type",
            wire("POST", "/invocations", &[&format!("Content-Type: a/{}", "b".repeat(50_000))], b"{}"),
            Route(415, "not supported"),
        ),
        // Paths and methods.
        ("a 100 KB path", wire("GET", &format!("/{}", "a".repeat(100_000)), &[], b""), Http(414)),
        ("../ in the path", wire("GET", "/../../etc/passwd", &[], b""), Route(404, "no route")),
        ("%2e%2e in the path", wire("GET", "/%2e%2e/%2e%2e/etc/passwd", &[], b""), Route(404, "no route")),
        (
            "../ in a model name",
            wire("GET", "/v2/models/..%2f..%2fetc/ready", &[], b""),
            Route(404, "no model named"),
        ),
        ("a NUL in a model name", wire("GET", "/v2/models/a%00b", &[], b""), Route(404, "no model named")),
        ("a bad escape in a model name", wire("GET", "/v2/models/%zz", &[], b""), Route(404, "no model named")),
        // A path parameter that does not decode is the server's JSON error on every route that
        // has one, naming the parameter.
        ("a model name that is not UTF-8", wire("GET", "/v2/models/%ff%fe", &[], b""), Route(400, "the path's 'name' is not UTF-8")),
        ("ready: a model name that is not UTF-8", wire("GET", "/v2/models/%ff/ready", &[], b""), Route(400, "the path's 'name' is not UTF-8")),
        ("infer: a model name that is not UTF-8", json_post("/v2/models/%c3%28/infer", "{}"), Route(400, "the path's 'name' is not UTF-8")),
        ("a version that is not UTF-8", wire("GET", "/v2/models/staytrack/versions/%80", &[], b""), Route(400, "the path's 'version' is not UTF-8")),
        (
            "ready: a version that is not UTF-8",
            wire("GET", "/v2/models/staytrack/versions/%ed%a0%80/ready", &[], b""),
            Route(400, "the path's 'version' is not UTF-8"),
        ),
        (
            "infer: a name and a version that are not UTF-8",
            json_post("/v2/models/%fe/versions/%ff/infer", "{}"),
            Route(400, "is not UTF-8"),
        ),
        // A name or a version of 8 KB is named in a line, not echoed whole.
        (
            "an 8 KB model name",
            wire("GET", &format!("/v2/models/{}", "n".repeat(8000)), &[], b""),
            Route(404, "no model named 'nnn"),
        ),
        (
            "an 8 KB version",
            wire("GET", &format!("/v2/models/staytrack/versions/{}", "9".repeat(8000)), &[], b""),
            Route(400, "a model version is a positive integer, not '999"),
        ),
        ("an unknown route", wire("GET", "/admin", &[], b""), Route(404, "no route GET /admin")),
        ("an unknown method", wire("BREW", "/predict", &[], b""), Route(405, "BREW is not allowed")),
        ("GET on /predict", wire("GET", "/predict", &[], b""), Route(405, "GET is not allowed")),
        ("DELETE on /v1/models", wire("DELETE", "/v1/models", &[], b""), Route(405, "DELETE is not allowed")),
        ("HTTP/0.9", b"GET /health\r\n\r\n".to_vec(), Http(400)),
        ("HTTP/2.0 in text", b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(), Http(400)),
        ("a request line of control bytes", b"\x00\x01\x02\r\n\r\n".to_vec(), Http(400)),
        // The admin routes: no token, a wrong one, then bodies past the token.
        ("promote: no token", admin("/v1/models/promote", "", b"{\"run_id\":\"x\"}"), Route(401, "bearer token")),
        ("promote: a wrong token", admin("/v1/models/promote", "Authorization: Bearer wrong", b"{\"run_id\":\"x\"}"), Route(401, "bearer token")),
        (
            "promote: the token less a character",
            admin("/v1/models/promote", &format!("Authorization: Bearer {}", &ADMIN_TOKEN[1..]), b"{}"),
            Route(401, "bearer token"),
        ),
        (
            "promote: the token and a character",
            admin("/v1/models/promote", &format!("Authorization: Bearer {ADMIN_TOKEN}x"), b"{}"),
            Route(401, "bearer token"),
        ),
        (
            "promote: the token as Basic",
            admin("/v1/models/promote", &format!("Authorization: Basic {ADMIN_TOKEN}"), b"{}"),
            Route(401, "bearer token"),
        ),
        (
            "reload: a token that is not ASCII",
            admin("/v1/reload", "Authorization: Bearer \u{e9}\u{e9}", b""),
            Route(401, "bearer token"),
        ),
        (
            "reload: a 50 KB token",
            admin("/v1/reload", &format!("Authorization: Bearer {}", "a".repeat(50_000)), b""),
            Route(401, "bearer token"),
        ),
        ("feedback: no token", admin("/v1/feedback", "", b"[]"), Route(401, "bearer token")),
        ("promote: malformed JSON", admin("/v1/models/promote", &bearer, b"{\"run_id\":"), Route(400, "malformed JSON")),
        ("promote: ../ as the run", admin("/v1/models/promote", &bearer, b"{\"run_id\":\"../../etc/passwd\"}"), Route(404, "../../etc/passwd")),
        ("promote: ../ as the alias", admin("/v1/models/promote", &bearer, b"{\"run_id\":\"lr\",\"alias\":\"../x\"}"), Route(422, "not valid")),
        ("promote: a run id that is a number", admin("/v1/models/promote", &bearer, b"{\"run_id\":5}"), Route(422, "run_id")),
        ("feedback: malformed JSON", admin("/v1/feedback", &bearer, b"[{"), Route(400, "malformed JSON")),
        ("feedback: one object", admin("/v1/feedback", &bearer, b"{\"case_id\":1}"), Route(422, "list of records")),
        ("feedback: CSV", admin("/v1/feedback", &bearer, b"case_id,Stay\n1,0-10\n"), Route(400, "malformed JSON")),
        // Bodies whose framing lies.
        (
            "Content-Length shorter than the body",
            wire("POST", "/predict", &["Content-Type: application/json", "Content-Length: 5"], good.as_bytes()),
            Route(400, "EOF"),
        ),
        (
            "Content-Length longer than the body",
            wire("POST", "/predict", &["Content-Type: application/json", "Content-Length: 100"], b"{\"Age\":"),
            Route(408, "not complete"),
        ),
        ("Content-Length -5", wire("POST", "/predict", &["Content-Length: -5"], b"{}"), Http(400)),
        ("Content-Length past u64", wire("POST", "/predict", &["Content-Length: 99999999999999999999999"], b"{}"), Http(400)),
        ("two Content-Lengths", wire("POST", "/predict", &["Content-Length: 2", "Content-Length: 3"], b"{}"), Http(400)),
        ("Transfer-Encoding: gzip", wire("POST", "/predict", &["Transfer-Encoding: gzip"], b"{}"), Http(400)),
        (
            "Content-Length and chunked both",
            wire("POST", "/predict", &["Content-Type: application/json", "Content-Length: 2", "Transfer-Encoding: chunked"], b"2\r\n{}\r\n0\r\n\r\n"),
            Route(422, "missing field"),
        ),
        ("a chunk longer than it says", chunked(b"1\r\n{}\r\n0\r\n\r\n"), Route(400, "cannot read the request body")),
        ("a chunk shorter than it says", chunked(b"ff\r\n{}\r\n0\r\n\r\n"), Route(408, "not complete")),
        ("a chunk size that is not hex", chunked(b"zz\r\n{}\r\n0\r\n\r\n"), Route(400, "cannot read the request body")),
        ("a chunk size past u64", chunked(b"ffffffffffffffffff\r\n{}\r\n0\r\n\r\n"), Route(400, "cannot read the request body")),
        (
            "chunks past --max-body",
            chunked(&[format!("{:x}\r\n", 3 << 20).as_bytes(), &vec![b' '; 3 << 20], b"\r\n0\r\n\r\n"].concat()),
            Route(413, "--max-body"),
        ),
        (
            "Content-Length past --max-body",
            wire("POST", "/predict", &["Content-Type: application/json", "Content-Length: 999999999", "Expect: 100-continue"], b""),
            Route(413, "--max-body"),
        ),
    ];
    cases
        .drain(..)
        .map(|(n, r, a)| (n.to_string(), r, a))
        .collect()
}

/// `GET path` on a fresh connection: status and body as text.
fn get_text(addr: &str, path: &str) -> (u16, String) {
    let (code, body) = exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        b"",
    );
    (code, String::from_utf8_lossy(&body).into_owned())
}

/// (route, status, count) of every `staytrack_http_requests_total` line.
fn request_counts(metrics: &str) -> Vec<(String, String, u64)> {
    metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("staytrack_http_requests_total{route=\"")?;
            let (route, rest) = rest.split_once("\",status=\"")?;
            let (status, n) = rest.split_once("\"} ")?;
            Some((
                route.to_string(),
                status.to_string(),
                n.trim().parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn malformed_requests_to_every_route_are_client_errors_counted_and_the_server_stays_up() {
    let ws = workspace();
    let srv = Server::start(
        ws.path(),
        Some(ADMIN_TOKEN),
        &[
            "--request-timeout",
            "2",
            "--max-body",
            "2097152",
            "--max-rows",
            "100",
        ],
    );
    let cases = malformed_requests(ws.path());
    let mut names = std::collections::HashSet::new();
    let mut routed = 0u64;
    for (name, request, want) in &cases {
        assert!(names.insert(name.clone()), "{name} is in the table twice");
        let t = Instant::now();
        let (code, body) = exchange(&srv.addr, "", request);
        let text = String::from_utf8_lossy(&body);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{name}: took {:?}",
            t.elapsed()
        );
        match *want {
            Answer::Route(status, says) => {
                assert_eq!(code, status, "{name}: {text}");
                let v: Value = serde_json::from_slice(&body)
                    .unwrap_or_else(|e| panic!("{name}: not a JSON answer ({e}): {text}"));
                let err = v["error"].as_str().unwrap_or_else(|| panic!("{name}: {v}"));
                assert!(err.contains(says), "{name}: '{says}' is not in: {text}");
                assert!(err.len() < 4096, "{name}: an error of {} bytes", err.len());
                routed += 1;
            }
            Answer::Http(status) => assert_eq!(code, status, "{name}: {text}"),
        }
        assert!((400..500).contains(&code), "{name}: {code}");
    }
    eprintln!(
        "{} malformed requests, {routed} of them routed",
        cases.len()
    );
    // Still up, still ready, and still scoring.
    assert_eq!(health(&srv.addr), 200);
    assert_eq!(get_text(&srv.addr, "/ready").0, 200);
    let rec = json!(one_record(ws.path())).to_string();
    assert_eq!(
        post(&srv.addr, "/predict", "application/json", rec.as_bytes()),
        200
    );
    // The counts add up: every routed request once, none a 5xx.
    let (code, metrics) = get_text(&srv.addr, "/metrics");
    assert_eq!(code, 200);
    let counts = request_counts(&metrics);
    let fives: Vec<_> = counts.iter().filter(|c| c.1.starts_with('5')).collect();
    assert!(fives.is_empty(), "5xx answers: {fives:?}");
    let counted: u64 = counts
        .iter()
        .filter(|(route, _, _)| route != "/health" && route != "/ready" && route != "/metrics")
        .map(|c| c.2)
        .sum();
    assert_eq!(counted, routed + 1, "{counts:?}");
    let ok: u64 = counts
        .iter()
        .filter(|(route, status, _)| route == "/predict" && status == "200")
        .map(|c| c.2)
        .sum();
    assert_eq!(ok, 1, "only the last request was scored: {counts:?}");
    assert!(srv.terminate().success());
}
