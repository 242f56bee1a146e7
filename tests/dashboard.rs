//! The checked-in Grafana dashboard (`docker/grafana/dashboards/staytrack.json`) against a real
//! Prometheus: two `staytrack serve` replicas capturing to one moto bucket, with traffic, bad
//! requests and fed-back outcomes, and a `staytrack monitor --every --pull --listen` watch job
//! over that bucket, all scraped by `/usr/bin/prometheus` (`make prometheus` installs it). Every
//! target's `expr` of every panel, rows' nested panels included, is evaluated through
//! `/api/v1/query`, and the test fails naming each panel and query that finds no series: a
//! metric or label the dashboard asks for that the binary does not expose, or a query
//! Prometheus refuses, cannot go unnoticed.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use common::moto::Moto;
use common::server::Server;
use common::{ok, run_of, trained};
use serde_json::{json, Value};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const DASHBOARD: &str = "docker/grafana/dashboards/staytrack.json";
const PREFIX: &str = "team";
const BUCKET: &str = "dashboard";
const TOKEN: &str = "dashboard-test-admin-token-0123456789abcdef";
/// What Grafana's interval variables (`$__rate_interval`, `$__interval`, ...) become.
const INTERVAL: &str = "1m";
/// Requests answered per replica (a drift verdict needs 100 rows in a window).
const PER_REPLICA: usize = 200;

/// The capture settings every process shares: one moto bucket under one prefix.
fn env(moto: &Moto) -> Vec<(&'static str, String)> {
    moto.sync_env(BUCKET, PREFIX)
}

/// `staytrack ARGS` on `ws` with the capture settings, asserting success.
fn staytrack_ok(ws: &Path, moto: &Moto, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args(args)
        .env("STAYTRACK_HOME", ws)
        .envs(env(moto))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A serving replica named `replica` capturing every second, with admin routes on.
fn serve(ws: &Path, moto: &Moto, replica: &str) -> Server {
    let e = env(moto);
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_env(
        ws,
        Some(TOKEN),
        &["serve"],
        &["--replica", replica, "--capture-interval", "1s"],
        &pairs,
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A free loopback port (for Prometheus, which cannot report the one it bound).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process of this test's own, killed when it goes out of scope; its stderr goes to a file
/// that failures quote.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Proc {
        let err = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child, log }
    }

    /// The tail of its stderr, and whether it is still running, for a failure message.
    fn why(&mut self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        let state = match self.child.try_wait() {
            Ok(Some(st)) => format!("exited with {st}"),
            _ => "still running".to_string(),
        };
        format!("{} ({state}); its stderr ends:\n{tail}", self.name)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of a child's stdout as they come, read on a thread that keeps draining the pipe.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            // The receiver may be gone; keep draining so the child never blocks on the pipe.
            let _ = tx.send(line);
        }
    });
    rx
}

/// GETs `url`: the status and body, or None if nothing answered.
fn get(a: &ureq::Agent, url: &str) -> Option<(u16, String)> {
    let mut r = a.get(url).call().ok()?;
    let status = r.status().as_u16();
    Some((status, r.body_mut().read_to_string().unwrap_or_default()))
}

/// POSTs JSON to `url` (with the admin token); the status and the body.
fn post(a: &ureq::Agent, url: &str, body: &Value) -> (u16, String) {
    let mut r = a
        .post(url)
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send(body.to_string().as_bytes())
        .unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap_or_default())
}

/// Waits until `done` holds, polling every 200 ms, or panics with `what` at the deadline.
fn wait_for(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
    why: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            panic!("{what} within {limit:?}: {}", why());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Answers, bad requests and outcomes on one replica: `PER_REPLICA` predictions with case ids
/// from `first_id` (some with an unseen category or an out-of-range number, for the data
/// quality panel), a 422, a 404, and an outcome for every case, long and short stays both.
fn traffic(a: &ureq::Agent, s: &Server, recs: &[serde_json::Map<String, Value>], first_id: i64) {
    let mut outcomes = Vec::new();
    for i in 0..PER_REPLICA {
        let mut r = recs[i % recs.len()].clone();
        let id = first_id + i as i64;
        r.insert("case_id".into(), json!(id));
        if i % 25 == 0 {
            r.insert("Department".into(), json!("nowhere-seen"));
            r.insert("Admission_Deposit".into(), json!(1.0e9));
        }
        let (status, body) = post(a, &format!("{}/predict", s.base), &Value::Object(r));
        assert_eq!(status, 200, "/predict: {body}");
        let stay = if i % 3 == 0 { "31-40" } else { "11-20" };
        outcomes.push(json!({"case_id": id, "Stay": stay}));
    }
    let mut short = recs[0].clone();
    short.remove("Age");
    short.remove("Department");
    let (status, body) = post(a, &format!("{}/predict", s.base), &Value::Object(short));
    assert_eq!(status, 422, "a record missing columns: {body}");
    let (status, _) = get(a, &format!("{}/no/such/route", s.base)).unwrap();
    assert_eq!(status, 404);
    for chunk in outcomes.chunks(100) {
        let (status, body) = post(
            a,
            &format!("{}/v1/feedback", s.base),
            &json!({ "records": chunk }),
        );
        assert_eq!(status, 200, "/v1/feedback: {body}");
        let sum: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(sum["new"], chunk.len(), "{sum}");
    }
}

/// Every panel (rows' nested panels too) as (title, expr) of each of its targets.
fn panel_queries(dash: &Value) -> Vec<(String, String)> {
    fn walk(panels: &[Value], out: &mut Vec<(String, String)>) {
        for p in panels {
            let title = p["title"].as_str().unwrap_or("(untitled)");
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str().filter(|e| !e.trim().is_empty()) {
                    out.push((title.to_string(), expr.to_string()));
                }
            }
            if let Some(nested) = p["panels"].as_array() {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        dash["panels"].as_array().expect("a dashboard has panels"),
        &mut out,
    );
    out
}

/// `expr` as Grafana would send it: its interval variables as `INTERVAL`, and each dashboard
/// variable (`$name`, `${name}`, `${name:format}`, `[[name]]`) as its single default, else `.*`.
fn substitute(expr: &str, templating: &Value) -> String {
    let mut vars: Vec<(String, String)> = templating["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let name = v["name"].as_str()?.to_string();
            let value = match &v["current"]["value"] {
                Value::String(s) if !s.is_empty() && s != "$__all" => regex_escape(s),
                _ => ".*".to_string(),
            };
            Some((name, value))
        })
        .collect();
    for g in ["__rate_interval", "__interval", "__range"] {
        vars.push((g.to_string(), INTERVAL.to_string()));
    }
    // Longer names first, so `$replica_set` is not read as `$replica` and a tail.
    vars.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut e = expr.replace("$__interval_ms", "60000");
    for (name, value) in &vars {
        while let Some(start) = e.find(&format!("${{{name}:")) {
            let end = start + e[start..].find('}').expect("an unclosed ${");
            e.replace_range(start..=end, value);
        }
        e = e
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("[[{name}]]"), value)
            .replace(&format!("${name}"), value);
    }
    e
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// Evaluates `expr` now: the number of series (a scalar or string counts as one), or why
/// Prometheus refused it.
fn query(a: &ureq::Agent, prom: &str, expr: &str) -> Result<usize, String> {
    let mut r = a
        .get(&format!("{prom}/api/v1/query"))
        .query("query", expr)
        .call()
        .map_err(|e| format!("no answer: {e}"))?;
    let body = r.body_mut().read_to_string().unwrap_or_default();
    let v: Value = serde_json::from_str(&body).map_err(|_| format!("not JSON: {body}"))?;
    if v["status"] != "success" {
        return Err(format!("{}: {}", v["errorType"], v["error"]));
    }
    Ok(match &v["data"]["result"] {
        Value::Array(series) => series.len(),
        Value::Null => 0,
        _ => 1,
    })
}

#[test]
fn every_dashboard_panel_query_finds_series_in_a_real_prometheus() {
    let began = Instant::now();
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: run `make prometheus` (Debian's prometheus package) first"
    );
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DASHBOARD)).unwrap(),
    )
    .unwrap();
    let queries: Vec<(String, String)> = panel_queries(&dash)
        .into_iter()
        .map(|(title, expr)| {
            let e = substitute(&expr, &dash["templating"]);
            assert!(
                !e.contains('$') && !e.contains("[["),
                "panel '{title}': a variable the test cannot fill in: {expr}"
            );
            (title, e)
        })
        .collect();
    assert!(!queries.is_empty(), "the dashboard has no panel queries");

    let moto = Moto::start();
    moto.bucket(BUCKET);
    let base = trained("gbdt", 3000);
    let run = run_of(base.path(), "gbdt");
    ok(base.path(), &["promote", &run]);
    // The monitor's workspace pulls the model from the first workspace's push.
    staytrack_ok(base.path(), &moto, &["sync", "push"]);
    let text = std::fs::read_to_string(base.path().join("data/test_data.csv")).unwrap();
    let recs = common::records_from_csv(&text, true);
    let (ws_a, ws_b) = (
        common::copy_workspace(base.path()),
        common::copy_workspace(base.path()),
    );
    let servers = [
        serve(ws_a.path(), &moto, "a"),
        serve(ws_b.path(), &moto, "b"),
    ];

    let scratch = tempfile::tempdir().unwrap();
    let fresh = tempfile::tempdir().unwrap();
    ok(
        fresh.path(),
        &["data", "synth", "--rows", "200", "--test-rows", "10"],
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_staytrack"));
    cmd.args(["monitor", "--every", "2s", "--listen", "127.0.0.1:0"])
        .args(["--pull", "--window", "1h", "--no-webhook"])
        .env("STAYTRACK_HOME", fresh.path())
        .envs(env(&moto))
        .stdout(Stdio::piped());
    let mut monitor = Proc::spawn("staytrack monitor", cmd, scratch.path().join("monitor.log"));
    let said = lines_of(&mut monitor.child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let monitor_addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match said.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.split("latest result at http://").nth(1) {
                    break rest.trim_end_matches("/metrics").trim().to_string();
                }
            }
            Err(_) => panic!("the monitor never said where it listens: {}", monitor.why()),
        }
    };

    // Prometheus scrapes all three every second from before the traffic on, so rates move.
    let port = free_port();
    let prom = format!("http://127.0.0.1:{port}");
    let targets: Vec<String> = servers
        .iter()
        .map(|s| s.addr.clone())
        .chain([monitor_addr.clone()])
        .map(|t| format!("'{t}'"))
        .collect();
    let config = scratch.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: staytrack\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .unwrap();
    let mut cmd = Command::new(PROMETHEUS);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            scratch.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .current_dir(scratch.path())
        .stdout(Stdio::null());
    let mut prometheus = Proc::spawn("prometheus", cmd, scratch.path().join("prometheus.log"));
    let a = agent();
    wait_for(
        "Prometheus ready",
        Duration::from_secs(30),
        || matches!(get(&a, &format!("{prom}/-/ready")), Some((200, _))),
        || prometheus.why(),
    );

    for (k, s) in servers.iter().enumerate() {
        traffic(&a, s, &recs, 1_000_000 * (k as i64 + 1));
    }

    // The servers ship segments and outcomes every second; the monitor pulls them every 2 s.
    wait_for(
        "the monitor's /metrics showing a realized ROC AUC and a drift share",
        Duration::from_secs(40),
        || {
            get(&a, &format!("http://{monitor_addr}/metrics")).is_some_and(|(_, t)| {
                t.contains("staytrack_monitor_roc_auc{kind=\"realized\"")
                    && t.contains("staytrack_monitor_drift_share{")
            })
        },
        || monitor.why(),
    );
    wait_for(
        "Prometheus scraping all three targets (up == 1)",
        Duration::from_secs(20),
        || query(&a, &prom, "count(up == 1) == 3") == Ok(1),
        || {
            let targets = get(&a, &format!("{prom}/api/v1/targets")).unwrap_or_default();
            format!("{}\n{}", targets.1, prometheus.why())
        },
    );
    // A few more scrapes after the monitor's figures, so every rate() has samples to work on.
    std::thread::sleep(Duration::from_secs(3));

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut failures = Vec::new();
    for (title, expr) in &queries {
        let found = loop {
            match query(&a, &prom, expr) {
                Ok(0) if Instant::now() < deadline => std::thread::sleep(Duration::from_secs(1)),
                other => break other,
            }
        };
        match found {
            Ok(0) => failures.push(format!("panel '{title}': no series for {expr}")),
            Ok(n) => eprintln!("{n:>3} series  {title}: {expr}"),
            Err(e) => failures.push(format!("panel '{title}': Prometheus refused {expr}: {e}")),
        }
    }
    eprintln!(
        "{} panel queries checked in {:.1?}",
        queries.len(),
        began.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} dashboard queries find nothing:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n")
    );
}

#[test]
fn grafana_variables_become_an_interval_their_default_or_anything() {
    let templating = json!({"list": [
        {"name": "alias", "current": {"value": "production"}},
        {"name": "replica", "current": {"value": "$__all"}},
        {"name": "replica_set", "current": {"text": "All"}},
        {"name": "host", "current": {"value": "10.0.0.1:9000"}},
    ]});
    assert_eq!(
        substitute(
            r#"rate(x{alias="$alias",replica=~"${replica:regex}",set=~"[[replica_set]]",h=~"$host"}[$__rate_interval]) / $__interval_ms"#,
            &templating
        ),
        r#"rate(x{alias="production",replica=~".*",set=~".*",h=~"10\.0\.0\.1:9000"}[1m]) / 60000"#
    );
    assert_eq!(
        substitute("sum(up[${__interval}])", &json!({})),
        "sum(up[1m])"
    );
}
