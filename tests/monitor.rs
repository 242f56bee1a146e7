//! Monitoring: realized metrics against scikit-learn, CBPE against NannyML (fixture made by
//! tests/fixtures/make_monitor_fixture.py), CBPE against the truth on synthetic data, exact
//! data-quality counts, and the whole path end to end: serve → predictions → feedback →
//! monitor, with a planted covariate shift and a planted concept shift.

mod common;

use std::io::{BufRead, BufReader, Read, Write};

use common::{floats, ok, run};
use serde_json::{json, Value};
use staytrack::monitor::cbpe::{self, Calibration};
use staytrack::monitor::realized;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/monitor_reference.json")).unwrap()
}

fn labels(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u8)
        .collect()
}

fn close(what: &str, ours: f64, theirs: f64) {
    assert!(
        (ours - theirs).abs() <= 1e-9,
        "{what}: staytrack {ours}, reference {theirs}"
    );
}

#[test]
fn realized_metrics_equal_scikit_learn_and_cbpe_equals_nannyml() {
    let f = fixture();
    let (rp, ry) = (floats(&f["reference"]["p"]), labels(&f["reference"]["y"]));
    let cal = Calibration::fit(&rp, &ry);
    assert_eq!(
        cal.isotonic.is_some(),
        f["needs_calibration"].as_bool().unwrap(),
        "the calibration decision differs from NannyML's"
    );
    for (k, chunk) in f["chunks"].as_array().unwrap().iter().enumerate() {
        let (p, y) = (floats(&chunk["p"]), labels(&chunk["y"]));
        let class: Vec<u8> = p.iter().map(|&v| u8::from(v >= 0.5)).collect();
        let r = realized(&y, &p, &class).unwrap();
        let want = &chunk["realized"];
        for (name, ours) in [
            ("roc_auc", r.roc_auc.unwrap()),
            ("pr_auc", r.pr_auc.unwrap()),
            ("accuracy", r.accuracy),
            ("f1", r.f1),
            ("log_loss", r.log_loss),
            ("brier", r.brier),
            ("calibration_error", r.calibration_error),
        ] {
            close(
                &format!("chunk {k} {name}"),
                ours,
                want[name].as_f64().unwrap(),
            );
        }
        for (i, c) in floats(&chunk["calibrated"]).iter().enumerate() {
            close(
                &format!("chunk {k} calibrated row {i}"),
                cal.apply(p[i]),
                *c,
            );
        }
        let e = cbpe::estimate(&cal, &p, 0.5).unwrap();
        let want = &chunk["estimated"];
        for (name, ours) in [
            ("roc_auc", e.roc_auc.unwrap()),
            ("accuracy", e.accuracy),
            ("f1", e.f1),
            ("true_positive", e.true_positive),
            ("false_positive", e.false_positive),
            ("true_negative", e.true_negative),
            ("false_negative", e.false_negative),
        ] {
            close(
                &format!("chunk {k} estimated {name}"),
                ours,
                want[name].as_f64().unwrap(),
            );
        }
    }
}

/// A small seeded generator, so the test owns its randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A case: its true risk, the model's probability (`bend` 1 is calibrated) and its outcome.
    fn case(&mut self, shift: f64, bend: f64) -> (f64, u8) {
        let risk = 1.0 / (1.0 + (-(1.3 * (self.normal() + shift) - 0.7)).exp());
        let y = u8::from(self.next() < risk);
        (risk.powf(bend), y)
    }
}

#[test]
fn cbpe_is_within_a_hundredth_of_the_realized_auc_in_windows_of_twenty_thousand() {
    // A calibrated model, and one whose probabilities are bent (calibration has to fix them);
    // windows with and without covariate shift (CBPE's assumption holds in all of them).
    for bend in [1.0, 1.7] {
        let mut rng = Rng(0x5eed_0000 + (bend * 10.0) as u64);
        let (vp, vy): (Vec<f64>, Vec<u8>) = (0..40_000).map(|_| rng.case(0.0, bend)).unzip();
        let cal = Calibration::fit(&vp, &vy);
        // A bent model must be calibrated; for a calibrated one either choice is sound.
        if bend != 1.0 {
            assert!(cal.isotonic.is_some(), "bend {bend}");
        }
        for (w, shift) in [0.0, 0.0, 0.6, -0.5].iter().enumerate() {
            let (p, y): (Vec<f64>, Vec<u8>) = (0..20_000).map(|_| rng.case(*shift, bend)).unzip();
            let class: Vec<u8> = p.iter().map(|&v| u8::from(v >= 0.5)).collect();
            let real = realized(&y, &p, &class).unwrap().roc_auc.unwrap();
            let est = cbpe::estimate(&cal, &p, 0.5).unwrap().roc_auc.unwrap();
            assert!(
                (est - real).abs() < 0.01,
                "bend {bend}, window {w}: estimated {est:.4}, realized {real:.4}"
            );
        }
    }
}

/// A workspace with an lr model on production, and a file of fresh labelled admissions (another
/// seed of the same generator).
fn served_workspace(fresh_rows: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = common::trained("lr", 20_000);
    let ws = dir.path();
    ok(ws, &["promote", "lr"]);
    let fresh = ws.join("fresh");
    ok(
        ws,
        &[
            "data",
            "synth",
            "--rows",
            &fresh_rows.to_string(),
            "--test-rows",
            "5000",
            "--seed",
            "77",
            "--drift",
            "strong",
            "--out",
            fresh.to_str().unwrap(),
        ],
    );
    (dir, fresh)
}

fn predictions_logged(ws: &std::path::Path) -> usize {
    staytrack::tracking::Store::open(&ws.join("staytrack.db"))
        .unwrap()
        .count_predictions()
        .unwrap()
}

/// A one-request HTTP server that keeps what it was sent.
fn hook() -> (String, std::thread::JoinHandle<String>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut len = 0;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        (&s).write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8(body).unwrap()
    });
    (url, h)
}

#[test]
fn serve_feedback_monitor_catches_covariate_shift_and_the_concept_shift_cbpe_cannot_see() {
    let (dir, fresh) = served_workspace(10_000);
    let ws = dir.path();
    let (url, hooked) = hook();
    std::fs::write(
        ws.join("staytrack.toml"),
        format!("[monitor]\nwebhook = \"{url}\"\n"),
    )
    .unwrap();
    let typed = |path: &std::path::Path| {
        common::records_from_csv(&std::fs::read_to_string(path).unwrap(), true)
    };
    let labelled = typed(&fresh.join("train_data.csv"));
    let shifted = typed(&fresh.join("test_data.csv"));
    let strip = |r: &serde_json::Map<String, Value>| {
        let mut r = r.clone();
        r.remove("Stay");
        Value::Object(r)
    };
    // Window 1: fresh admissions; window 2: shifted inputs; window 3: fresh admissions whose
    // outcomes will no longer follow the inputs.
    let phases: Vec<Vec<Value>> = vec![
        labelled[..5000].iter().map(strip).collect(),
        shifted[..5000].iter().map(strip).collect(),
        labelled[5000..10_000].iter().map(strip).collect(),
    ];
    let srv = common::server::Server::start(ws, None, &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut sent = 0;
    for phase in &phases {
        for batch in phase.chunks(1000) {
            let r = agent
                .post(&format!("{}/predict", srv.base))
                .header("Content-Type", "application/json")
                .send(json!(batch).to_string().as_bytes())
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
        sent += phase.len();
        // Each phase is in the log before the next starts, so windows of 5,000 rows are phases.
        let t = std::time::Instant::now();
        while predictions_logged(ws) < sent {
            assert!(t.elapsed().as_secs() < 60, "the log never caught up");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    srv.terminate();

    // Outcomes: the truth for window 1; for window 3, two rows in five swap long and short.
    let mut csv = String::from("case_id,Stay\n");
    for (i, r) in labelled[..10_000].iter().enumerate() {
        let stay = r["Stay"].as_str().unwrap();
        let long = !matches!(stay, "0-10" | "11-20" | "21-30");
        let stay = if i >= 5000 && i % 5 < 2 {
            if long {
                "0-10"
            } else {
                "More than 100 Days"
            }
        } else {
            stay
        };
        csv.push_str(&format!("{},{stay}\n", r["case_id"]));
    }
    std::fs::write(ws.join("outcomes.csv"), csv).unwrap();
    let outcomes = ws.join("outcomes.csv");
    let f = common::json(&ok(ws, &["feedback", outcomes.to_str().unwrap(), "--json"]));
    assert_eq!(f["new"], 10_000, "{f}");
    assert_eq!(f["unknown_ids"], 0, "{f}");

    let o = run(ws, &["monitor", "--window", "5000rows", "--json"]);
    assert_eq!(o.status.code(), Some(3), "an alert exits 3: {o:?}");
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["predictions"], 15_000);
    assert_eq!(m["labelled"], 10_000);
    let windows = m["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 3, "{m}");
    let validation = m["versions"][0]["validation_roc_auc"].as_f64().unwrap();
    let rules = |w: usize| -> Vec<String> {
        m["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["start_ms"] == windows[w]["start_ms"])
            .map(|a| a["rule"].as_str().unwrap().to_string())
            .collect()
    };
    let auc = |w: usize, kind: &str| windows[w][kind]["roc_auc"].as_f64().unwrap();

    // Window 1: as trained; the estimate agrees with the truth.
    assert_eq!(windows[0]["labelled"], 5000);
    assert!(rules(0).is_empty(), "{:?}", rules(0));
    assert!(
        (auc(0, "estimated") - auc(0, "realized")).abs() < 0.02,
        "estimated {} realized {}",
        auc(0, "estimated"),
        auc(0, "realized")
    );
    // Window 2: the inputs moved, and drift says so.
    assert!(
        rules(1).contains(&"max_drift_share".to_string()),
        "{:?}",
        rules(1)
    );
    assert!(windows[1]["drift"]["share"].as_f64().unwrap() > 0.5);
    assert_eq!(windows[1]["labelled"], 0);
    // Window 3: the outcomes no longer follow the inputs. CBPE, which assumes they do, sees a
    // model as good as ever; the realized AUC sees the drop.
    assert!(
        rules(2).contains(&"max_realized_drop".to_string()),
        "{:?}",
        rules(2)
    );
    assert!(!rules(2).contains(&"max_estimated_drop".to_string()));
    assert!(!rules(2).contains(&"max_drift_share".to_string()));
    assert!((auc(2, "estimated") - validation).abs() < 0.02);
    assert!(auc(2, "realized") < validation - 0.1);

    // The webhook got the same alerts.
    let body: Value = serde_json::from_str(&hooked.join().unwrap()).unwrap();
    assert_eq!(body["alerts"], m["alerts"]);
    assert_eq!(m["webhook"]["status"], 204);

    // The text report names the windows and the alerts.
    let o = run(ws, &["monitor", "--window", "5000rows", "--no-webhook"]);
    assert_eq!(o.status.code(), Some(3));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("[max_realized_drop]"), "{text}");
    assert!(text.contains("[max_drift_share]"), "{text}");

    // A window that is neither a duration nor a row count is refused, naming the flag.
    let o = run(ws, &["monitor", "--window", "5 rows"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--window"));
}

#[test]
fn data_quality_is_counted_exactly_in_score_monitor_and_metrics() {
    let dir = common::trained("lr", 3000);
    let ws = dir.path();
    ok(ws, &["promote", "lr"]);
    // One typical row (each column's most common training value, numbers at their median),
    // repeated, with planted findings.
    let train = common::csv_records(&ws.join("data/train_data.csv"));
    let header: Vec<String> = std::fs::read_to_string(ws.join("data/test_data.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let typical: Vec<String> = header
        .iter()
        .map(|h| {
            let mut vals: Vec<&str> = train.iter().filter_map(|r| r[h].as_str()).collect();
            vals.sort();
            vals[vals.len() / 2].to_string()
        })
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut rows: Vec<Vec<String>> = (0..40)
        .map(|i| {
            let mut r = typical.clone();
            r[0] = (900_000 + i).to_string();
            r
        })
        .collect();
    for r in &mut rows[0..3] {
        r[col("Age")] = "200-300".into();
    }
    for r in &mut rows[3..5] {
        r[col("Department")] = "nowhere".into();
    }
    for r in &mut rows[5..9] {
        r[col("Visitors with Patient")] = "-5".into();
    }
    rows[9][col("Admission_Deposit")] = "1000000000".into();
    for r in &mut rows[10..16] {
        r[col("Bed Grade")] = String::new();
    }
    for r in &mut rows[16..18] {
        r[col("City_Code_Patient")] = String::new();
    }
    let mut text = header.join(",") + "\n";
    for r in &rows {
        text.push_str(&(r.join(",") + "\n"));
    }
    let file = ws.join("planted.csv");
    std::fs::write(&file, &text).unwrap();
    let want = [
        ("Age", "unseen", 3),
        ("Department", "unseen", 2),
        ("Visitors with Patient", "out_of_range", 4),
        ("Admission_Deposit", "out_of_range", 1),
        ("Bed Grade", "missing", 6),
        ("City_Code_Patient", "missing", 2),
    ];
    let check = |q: &Value, coerced: u64| {
        let cols = q["columns"].as_array().unwrap();
        // The coercions add one column (Hospital_code) to the six planted ones.
        assert_eq!(cols.len(), if coerced > 0 { 7 } else { 6 }, "{q}");
        for (c, kind, n) in want {
            let found = cols.iter().find(|x| x["column"] == c).unwrap();
            assert_eq!(found[kind], n, "{c} {kind}: {q}");
            for other in ["missing", "unseen", "out_of_range"] {
                if other != kind {
                    assert_eq!(found[other], 0, "{c} {other}: {q}");
                }
            }
        }
        assert_eq!(q["unseen"], 5);
        assert_eq!(q["missing"], 8);
        assert_eq!(q["out_of_range"], 5);
        assert_eq!(q["coerced"], coerced);
        let age = cols.iter().find(|x| x["column"] == "Age").unwrap();
        assert_eq!(age["top_unseen"], json!([["200-300", 3]]));
    };

    let s = common::json(&ok(
        ws,
        &["score", file.to_str().unwrap(), "--log", "--json"],
    ));
    check(&s["quality"], 0);
    assert_eq!(s["logged"], 40);
    let o = run(ws, &["monitor", "--window", "1000rows", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    check(&m["windows"][0]["quality"], 0);

    // The same rows as requests, two numbers sent as text: the server counts the same findings
    // plus two coercions, in /metrics with one series per column and kind.
    let mut recs = common::records_from_csv(&text, true);
    recs[20].insert("Hospital_code".into(), json!(typical[col("Hospital_code")]));
    recs[21].insert("Visitors with Patient".into(), json!(3.0));
    let srv = common::server::Server::start(ws, None, &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(&format!("{}/predict", srv.base))
        .header("Content-Type", "application/json")
        .send(json!(recs).to_string().as_bytes())
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    let metrics = agent
        .get(&format!("{}/metrics", srv.base))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    for (c, kind, n) in want.iter().copied().chain([
        ("Hospital_code", "coerced", 1),
        ("Visitors with Patient", "coerced", 1),
    ]) {
        let line = format!("staytrack_data_quality_total{{column=\"{c}\",kind=\"{kind}\"}} {n}");
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    assert_eq!(
        metrics.matches("staytrack_data_quality_total{").count(),
        8,
        "{metrics}"
    );
    let t = std::time::Instant::now();
    while predictions_logged(ws) < 80 {
        assert!(t.elapsed().as_secs() < 30);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    srv.terminate();
    let o = run(ws, &["monitor", "--window", "40rows", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    check(&m["windows"][1]["quality"], 2);
}

#[test]
fn rows_staytrack_never_wrote_bad_settings_and_a_dead_webhook_are_reported_not_fatal() {
    let dir = common::trained("lr", 3000);
    let ws = dir.path();
    ok(ws, &["promote", "lr"]);
    let test = ws.join("data/test_data.csv");
    ok(ws, &["score", test.to_str().unwrap(), "--log"]);
    // Rows another program put in the log: a probability outside [0, 1], a class of 3,
    // findings and inputs that are not JSON, and a model version the registry never had.
    let conn = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    conn.execute_batch(
        "INSERT INTO predictions (at, model_version, case_id, inputs, probability, class, source, quality)
           VALUES (1, 1, 5, '{}', 7.5, 1, 'x', NULL),
                  (1, 1, 6, '{}', 0.5, 3, 'x', NULL),
                  (1, 1, 7, 'not json', 0.5, 1, 'x', 'not json either'),
                  (1, 99, 8, '{}', 0.4, 0, 'x', NULL);",
    )
    .unwrap();
    drop(conn);
    let o = run(ws, &["monitor", "--window", "1000rows", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    let notes = m["notes"].to_string();
    assert!(notes.contains("2 logged prediction(s)"), "{notes}");
    assert!(notes.contains("model version 99"), "{notes}");
    assert_eq!(
        m["predictions"], 32,
        "30 scored rows and the 2 readable strangers"
    );

    // monitor.png, drawn from the same report.
    let out = ws.join("charts");
    ok(
        ws,
        &[
            "report",
            "--monitor",
            "10rows",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let png = image::open(out.join("monitor.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1400, 900));

    // A typo in [monitor] is an error that names the key; so is a value out of range.
    std::fs::write(
        ws.join("staytrack.toml"),
        "[monitor]\nmax_drfit_share = 0.3\n",
    )
    .unwrap();
    let o = run(ws, &["monitor"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("max_drfit_share"));
    std::fs::write(
        ws.join("staytrack.toml"),
        "[monitor]\nmax_unseen_share = 2\n",
    )
    .unwrap();
    let o = run(ws, &["monitor"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("max_unseen_share: 2"));

    // An alert with a webhook nobody answers: a warning, and still exit 3.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        ws.join("staytrack.toml"),
        format!(
            "[monitor]\nmin_rows = 1\nmin_estimated_roc_auc = 0.99\nwebhook = \"http://127.0.0.1:{port}/\"\nwebhook_timeout_secs = 2\n"
        ),
    )
    .unwrap();
    let o = run(ws, &["monitor", "--window", "1000rows"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("webhook http://127.0.0.1"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("[min_estimated_roc_auc]"));
}
