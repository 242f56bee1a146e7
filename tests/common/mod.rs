//! Helpers shared by the integration tests that drive the real binary.
#![allow(dead_code)]

pub mod moto;
pub mod server;
pub mod tmux;

use std::path::Path;
use std::process::{Command, Output};

/// `staytrack` on `ws` with throwaway AWS credentials (for moto) and `user` as the actor.
pub fn command(ws: &Path, user: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_staytrack"));
    c.env("STAYTRACK_HOME", ws)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("USER", user);
    c
}

/// A workspace with `rows` synthetic rows and a finished run of each of `families` (comma-separated).
pub fn trained(families: &str, rows: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        &[
            "data",
            "synth",
            "--rows",
            &rows.to_string(),
            "--test-rows",
            "30",
        ],
    );
    ok(dir.path(), &["train", "--model", families]);
    dir
}

/// A copy of a workspace (store, artifacts, data) in a new folder.
pub fn copy_workspace(ws: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", ws.display()))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    dir
}

/// The id of the newest run of `family`.
pub fn run_of(ws: &Path, family: &str) -> String {
    json(&ok(ws, &["runs", "list", "--json", "--family", family]))[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The id of the run named `name`.
pub fn run_of_name(ws: &Path, name: &str) -> String {
    json(&ok(ws, &["runs", "show", name, "--json"]))["run"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs `staytrack` on the workspace `ws`.
pub fn run(ws: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args(args)
        .env("STAYTRACK_HOME", ws)
        .output()
        .unwrap()
}

/// `run`, asserting success and showing the output when it fails.
pub fn ok(ws: &Path, args: &[&str]) -> Output {
    let o = run(ws, args);
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Rows of CSV text as JSON records. With `typed`, cells that read as numbers become JSON
/// numbers (as a client sends them); otherwise every cell is text, the way the prediction log
/// keeps CSV rows. Empty cells are null either way.
pub fn records_from_csv(
    text: &str,
    typed: bool,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, c)| {
                    let v = if c.is_empty() {
                        Value::Null
                    } else if let (true, Ok(i)) = (typed, c.parse::<i64>()) {
                        Value::from(i)
                    } else if let (true, Ok(f)) = (typed, c.parse::<f64>()) {
                        Value::from(f)
                    } else {
                        Value::String(c.into())
                    };
                    (h.to_string(), v)
                })
                .collect()
        })
        .collect()
}

/// Every row of a CSV file as text records (see `records_from_csv`).
pub fn csv_records(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    records_from_csv(&std::fs::read_to_string(path).unwrap(), false)
}

/// A JSON array of numbers.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Sends raw bytes to `addr` and reads the whole answer: its status code (0 when the connection
/// closed without one) and its body. The server may answer and close before the whole body is
/// sent, so write errors are not failures.
pub fn exchange(addr: &str, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |i| i + 4);
    let code = String::from_utf8_lossy(&buf[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, buf[split..].to_vec())
}

/// `staytrack ARGS` on `ws`, killed and the test failed if it runs past `limit`: no input may
/// hang a command. Its output goes through files, so a chatty command never blocks on a pipe.
pub fn run_within(ws: &Path, args: &[&str], limit: std::time::Duration) -> Output {
    let logs = tempfile::tempdir().unwrap();
    let (out, err) = (logs.path().join("out"), logs.path().join("err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args(args)
        .env("STAYTRACK_HOME", ws)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

/// Every path under `dir` with its kind and length, except those under `skip` (the
/// workspace): what a command wrote outside the workspace shows as a difference.
pub fn listing(dir: &Path, skip: &Path) -> Vec<(String, bool, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.starts_with(skip) {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.push((p.display().to_string(), m.is_dir(), m.len()));
        }
    }
    out.sort();
    out
}
