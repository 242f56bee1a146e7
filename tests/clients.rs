//! The real clients against `staytrack serve`, unmodified: MLflow's scoring client, tritonclient's
//! HTTP client (binary and JSON tensors, by alias and by version) and prometheus_client's parser.
//! The calls live in `tests/clients/clients.py`; `STAYTRACK_TEST_CLIENTS` names the Python of a
//! virtualenv holding the clients (`make clients` makes it; `make test` does so first).

mod common;

use std::path::Path;
use std::process::Command;

use common::server::Server;
use common::{ok, run_of, trained};

/// The synthetic test rows with missing values spelled the ways files spell them.
fn rows_with_gaps(ws: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let bed = header.iter().position(|h| *h == "Bed Grade").unwrap();
    let city = header
        .iter()
        .position(|h| *h == "City_Code_Patient")
        .unwrap();
    for (row, col, token) in [
        (1, bed, ""),
        (2, city, "NA"),
        (3, bed, "NaN"),
        (4, city, ""),
    ] {
        let mut cells: Vec<String> = lines[row].split(',').map(str::to_string).collect();
        cells[col] = token.to_string();
        lines[row] = cells.join(",");
    }
    let path = ws.join("rows.csv");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn mlflow_triton_and_prometheus_clients_work_unmodified() {
    let python = std::env::var("STAYTRACK_TEST_CLIENTS").unwrap_or_else(|_| "python3".into());
    let ws = trained("lr,gbdt", 3000);
    let ws = ws.path();
    let rows = rows_with_gaps(ws);
    let rows_arg = rows.to_str().unwrap();
    // Version 1 (lr) and version 2 (gbdt), each scored by `staytrack score` while it is the alias.
    ok(ws, &["promote", &run_of(ws, "lr")]);
    let old = ws.join("v1.csv");
    ok(ws, &["score", rows_arg, "--out", old.to_str().unwrap()]);
    ok(ws, &["promote", &run_of(ws, "gbdt")]);
    let latest = ws.join("v2.csv");
    ok(ws, &["score", rows_arg, "--out", latest.to_str().unwrap()]);

    let srv = Server::start(ws, None, &[]);
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/clients.py"))
        .args([
            srv.base.as_str(),
            rows_arg,
            latest.to_str().unwrap(),
            "2",
            old.to_str().unwrap(),
            "1",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e}); run `make clients`"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the clients failed (install them with `make clients`):\n{stdout}\n{stderr}"
    );
    // Every call reported, so a section that stopped early cannot pass.
    let calls: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok ")).collect();
    for client in ["mlflow", "tritonclient", "prometheus_client"] {
        assert!(
            calls
                .iter()
                .any(|l| l.starts_with(&format!("ok {client} "))),
            "{client} made no call:\n{stdout}"
        );
    }
    assert_eq!(calls.len(), 22, "{stdout}");
    srv.terminate();
}
