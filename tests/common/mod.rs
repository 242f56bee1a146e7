//! Helpers shared by the integration tests that drive the real binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

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

/// Rows of a CSV file as JSON records with every cell as text (empty cells are null), the way
/// the prediction log keeps them.
pub fn csv_records(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, c)| {
                    let v = if c.is_empty() {
                        serde_json::Value::Null
                    } else {
                        serde_json::Value::String(c.into())
                    };
                    (h.to_string(), v)
                })
                .collect()
        })
        .collect()
}
