//! A hostile client against the real server: bodies that expand when parsed, oversized names and
//! values, deep nesting, silent and slow clients, idle keep-alive connections, non-finite
//! numbers, and SIGTERM with a thousand stalled connections. Throughout, `/health` answers, no
//! answer is a 5xx, the server's peak RSS (from /proc) stays under 512 MiB, and nothing it
//! logs is lost or not a number.

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
