//! `staytrack tracking` against the real, unmodified MLflow client (`mlflow-skinny` in the
//! virtualenv `STAYTRACK_TEST_CLIENTS` names; `make clients` makes it), then the same runs
//! through the CLI beside a run staytrack trained; and hostile requests over raw HTTP.

mod common;

use std::path::Path;
use std::process::Command;

use common::server::Server;
use common::{exchange, json, ok, run_of, trained};

fn python() -> String {
    std::env::var("STAYTRACK_TEST_CLIENTS").unwrap_or_else(|_| "python3".into())
}

#[test]
fn the_mlflow_client_logs_into_the_store_beside_staytrack_runs() {
    let ws = trained("lr", 2000);
    let ws = ws.path();
    let lr = run_of(ws, "lr");
    let srv = Server::start_with(ws, None, &["tracking"], &[]);
    let out_json = ws.join("client-out.json");
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mlflow_tracking.py"))
        .args([srv.base.as_str(), out_json.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); run `make clients`", python()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MLflow client failed:\n{stdout}\n{stderr}"
    );
    // Every section reported, so one that stopped early cannot pass.
    let sections: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok ")).collect();
    assert_eq!(sections.len(), 7, "{stdout}");
    let ids: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap();
    let parent = ids["parent"].as_str().unwrap();
    let child = ids["child"].as_str().unwrap();

    // The same runs through the CLI, beside the run staytrack trained.
    let list = json(&ok(ws, &["runs", "list", "--json"]));
    let runs = list.as_array().unwrap();
    let find = |id: &str| runs.iter().find(|r| r["id"] == id).cloned();
    let p = find(parent).expect("the parent run is listed");
    assert_eq!(p["source"], "mlflow");
    assert_eq!(p["family"], "external");
    assert_eq!(p["experiment"], "readmission-sklearn");
    assert_eq!(p["status"], "finished");
    assert_eq!(p["params"]["n_estimators"], "200");
    assert!((p["metrics"]["roc_auc"].as_f64().unwrap() - 0.78).abs() < 1e-9);
    assert!((p["metrics"]["accuracy"].as_f64().unwrap() - 0.81).abs() < 1e-9);
    let c = find(child).expect("the child run is listed");
    assert_eq!(c["name"], "fold-1");
    let mine = find(&lr).expect("staytrack's run is still listed");
    assert_eq!(mine["source"], "staytrack");
    // 1,050 bulk runs, 6 grid runs, parent and child, and staytrack's own.
    assert_eq!(runs.len(), 1050 + 6 + 2 + 1);

    // A metric staytrack also computes is read by name: the list's ROC AUC column shows it.
    let text = String::from_utf8_lossy(&ok(ws, &["runs", "list"]).stdout).to_string();
    let line = text.lines().find(|l| l.starts_with(parent)).unwrap();
    assert!(
        line.contains("external") && line.contains("0.7800"),
        "{line}"
    );

    let show = json(&ok(ws, &["runs", "show", parent, "--json"]));
    let names: Vec<&str> = show["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "config/model.json",
            "features.txt",
            "inputs/features.txt",
            "notes/readme.txt"
        ]
    );
    // Each artifact is a content-addressed file in the workspace, with the bytes logged.
    for a in show["artifacts"].as_array().unwrap() {
        let path = Path::new(a["path"].as_str().unwrap());
        assert!(path.starts_with(ws.join("artifacts")), "{path:?}");
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            staytrack::bundle::sha256_hex(&bytes),
            a["sha256"].as_str().unwrap()
        );
    }

    // Compare puts the external run beside staytrack's and says why there is no paired test.
    let cmp = ok(ws, &["runs", "compare", &lr, parent]);
    let cmp = String::from_utf8_lossy(&cmp.stdout);
    assert!(
        cmp.contains("sk-forest") && cmp.contains("external"),
        "{cmp}"
    );
    assert!(cmp.contains("not comparable"), "{cmp}");
    let cmp = ok(ws, &["runs", "compare", &lr, parent, "--json"]);
    let cmp = String::from_utf8_lossy(&cmp.stdout);
    assert!(
        cmp.contains("logged through the MLflow API without validation predictions")
            && cmp.contains("staytrack_predictions.csv"),
        "{cmp}"
    );

    // A run that logs validation predictions on the same rows is paired: its table holds the
    // staytrack run's rows with every probability pulled towards 0.5.
    let table = ws.join("staytrack_predictions.csv");
    ok(
        ws,
        &["runs", "predictions", &lr, "--out", table.to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&table).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for l in lines.iter_mut().skip(1) {
        let (head, p) = l.rsplit_once(',').unwrap();
        let p: f64 = p.parse().unwrap();
        *l = format!("{head},{}", 0.5 + (p - 0.5) * 0.5);
    }
    std::fs::write(&table, lines.join("\n") + "\n").unwrap();
    let out = Command::new(python())
        .args([
            "-c",
            "import mlflow,sys; mlflow.set_tracking_uri(sys.argv[1]); \
             mlflow.set_experiment('paired'); r = mlflow.start_run(run_name='with-table'); \
             mlflow.log_artifact(sys.argv[2]); mlflow.end_run(); print(r.info.run_id)",
            srv.base.as_str(),
            table.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The client prints its own lines first; the id is the last.
    let with_table = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let cmp = json(&ok(ws, &["runs", "compare", &lr, &with_table, "--json"]));
    let text = cmp.to_string();
    assert!(
        text.contains("DeLong") || text.contains("p_value"),
        "{text}"
    );
    assert!(
        !text.contains("not comparable") && !text.contains("\"why\""),
        "{text}"
    );

    // An external run cannot be promoted to a served alias: it has no bundle.
    let o = common::run(ws, &["promote", parent]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("MLflow API"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    srv.terminate();
}

/// Sends one request; the status and the JSON error code, if any.
fn call(addr: &str, method: &str, path: &str, body: &[u8], extra: &str) -> (u16, String) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    let (code, body) = exchange(addr, &head, body);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    (code, v["error_code"].as_str().unwrap_or("").to_string())
}

fn create_run(addr: &str) -> String {
    let head = "POST /api/2.0/mlflow/runs/create HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n";
    let (code, body) = exchange(addr, head, b"{}");
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["run"]["info"]["run_id"].as_str().unwrap().to_string()
}

#[test]
fn hostile_requests_get_a_4xx_and_write_nothing_outside_the_workspace() {
    let outer = tempfile::tempdir().unwrap();
    let ws = outer.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    let srv = Server::start_with(&ws, None, &["tracking"], &["--max-artifact", "1024"]);
    let a = srv.addr.as_str();
    let run = create_run(a);
    let art = "/api/2.0/mlflow-artifacts/artifacts";
    let bad = |code: u16, err: &str, got: (u16, String), what: &str| {
        assert_eq!((code, err), (got.0, got.1.as_str()), "{what}");
    };
    // Artifact paths that would leave the run's folder, or the workspace.
    for path in [
        format!("{art}/0/{run}/artifacts/../../../../escape.txt"),
        format!("{art}/0/{run}/artifacts/%2e%2e/%2e%2e/escape.txt"),
        format!("{art}/0/{run}/artifacts/a%2f..%2f..%2fescape.txt"),
        format!("{art}/0/{run}/artifacts/a%00b"),
        format!("{art}//etc/escape.txt"),
        format!("{art}/0/{run}/artifacts/a%5c..%5cescape.txt"),
        format!("{art}/0/{run}/elsewhere/escape.txt"),
    ] {
        let got = call(a, "PUT", &path, b"data", "");
        assert!(
            got.0 == 400 || got.0 == 404,
            "{path}: {got:?} (a 4xx was expected)"
        );
    }
    bad(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        call(
            a,
            "PUT",
            &format!("{art}/0/0190aaaa-0000/artifacts/x.txt"),
            b"d",
            "",
        ),
        "an unknown run",
    );
    bad(
        413,
        "INVALID_PARAMETER_VALUE",
        call(
            a,
            "PUT",
            &format!("{art}/0/{run}/artifacts/big.bin"),
            &[7u8; 2048],
            "",
        ),
        "an artifact over --max-artifact",
    );
    bad(
        200,
        "",
        call(
            a,
            "PUT",
            &format!("{art}/0/{run}/artifacts/ok.txt"),
            b"fine",
            "",
        ),
        "a plain upload",
    );
    // Bodies and keys.
    let api = "/api/2.0/mlflow";
    bad(
        400,
        "INVALID_PARAMETER_VALUE",
        call(
            a,
            "POST",
            &format!("{api}/runs/log-batch"),
            b"{not json",
            "",
        ),
        "bad JSON",
    );
    bad(
        400,
        "INVALID_PARAMETER_VALUE",
        call(a, "POST", &format!("{api}/runs/log-batch"), b"[1,2,3]", ""),
        "JSON of the wrong shape",
    );
    let huge_key = format!(
        r#"{{"run_id":"{run}","key":"{}","value":1.0,"timestamp":0,"step":0}}"#,
        "k".repeat(100_000)
    );
    bad(
        400,
        "INVALID_PARAMETER_VALUE",
        call(
            a,
            "POST",
            &format!("{api}/runs/log-metric"),
            huge_key.as_bytes(),
            "",
        ),
        "a huge key",
    );
    let nan = format!(r#"{{"run_id":"{run}","key":"m","value":"NaN","timestamp":0}}"#);
    bad(
        400,
        "INVALID_PARAMETER_VALUE",
        call(
            a,
            "POST",
            &format!("{api}/runs/log-metric"),
            nan.as_bytes(),
            "",
        ),
        "a metric that is not a number",
    );
    let traversal_run = r#"{"run_id":"../../etc","key":"k","value":"v"}"#;
    bad(
        400,
        "INVALID_PARAMETER_VALUE",
        call(
            a,
            "POST",
            &format!("{api}/runs/set-tag"),
            traversal_run.as_bytes(),
            "",
        ),
        "a run id that is a path",
    );
    bad(
        400,
        "INVALID_PARAMETER_VALUE",
        call(
            a,
            "POST",
            &format!("{api}/runs/search"),
            br#"{"experiment_ids":["0"],"filter":"params.a = 'x'; DROP TABLE runs"}"#,
            "",
        ),
        "a filter with SQL in it",
    );
    bad(
        400,
        "INVALID_PARAMETER_VALUE",
        call(
            a,
            "GET",
            &format!("{api}/experiments/get?experiment_id=1%20OR%201"),
            b"",
            "",
        ),
        "an experiment id that is not a number",
    );
    // Routes outside the subset, and known routes with another method.
    bad(
        404,
        "ENDPOINT_NOT_FOUND",
        call(a, "POST", &format!("{api}/traces"), b"{}", ""),
        "an uncovered route",
    );
    bad(
        404,
        "ENDPOINT_NOT_FOUND",
        call(a, "GET", &format!("{api}/runs/create"), b"", ""),
        "a covered route with another method",
    );
    let big = vec![b' '; 17 * 1024 * 1024];
    let got = call(a, "POST", &format!("{api}/runs/log-batch"), &big, "");
    assert_eq!(got.0, 413, "a body over --max-body");

    // The store and every file stay inside the workspace.
    let outside: Vec<String> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(outside, ["ws"]);
    let show = json(&ok(&ws, &["runs", "show", &run, "--json"]));
    let arts = show["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 1, "{arts:?}");
    assert_eq!(arts[0]["name"], "ok.txt");

    // A run deleted through the API leaves `runs list` and comes back when restored.
    let body = format!(r#"{{"run_id":"{run}"}}"#);
    let listed = |ws: &Path| {
        json(&ok(ws, &["runs", "list", "--json"]))
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == run.as_str())
    };
    assert!(listed(&ws));
    bad(
        200,
        "",
        call(
            a,
            "POST",
            &format!("{api}/runs/delete"),
            body.as_bytes(),
            "",
        ),
        "delete",
    );
    assert!(!listed(&ws));
    bad(
        200,
        "",
        call(
            a,
            "POST",
            &format!("{api}/runs/restore"),
            body.as_bytes(),
            "",
        ),
        "restore",
    );
    assert!(listed(&ws));
    srv.terminate();
}

#[test]
fn a_token_guards_every_route_and_is_required_beyond_loopback() {
    let ws = tempfile::tempdir().unwrap();
    let token = "t".repeat(40);
    let srv = Server::start_with(ws.path(), Some(&token), &["tracking"], &[]);
    let a = srv.addr.as_str();
    let path = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default";
    assert_eq!(call(a, "GET", path, b"", "").0, 401);
    assert_eq!(
        call(a, "GET", path, b"", "Authorization: Bearer wrong\r\n").0,
        401
    );
    let (code, _) = call(
        a,
        "GET",
        path,
        b"",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(
        code, 404,
        "no experiment is named Default here; 'default' is"
    );
    let good = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=default";
    let auth = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(call(a, "GET", good, b"", &auth).0, 200);
    // The MLflow client sends MLFLOW_TRACKING_TOKEN as the bearer.
    let out = Command::new(python())
        .args([
            "-c",
            "import mlflow,sys; mlflow.set_tracking_uri(sys.argv[1]); \
             mlflow.set_experiment('tok'); mlflow.start_run(); mlflow.log_metric('m', 1.0); \
             mlflow.end_run(); print('ok')",
            srv.base.as_str(),
        ])
        .env("MLFLOW_TRACKING_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    srv.terminate();

    // Beyond loopback without a token, every request is refused.
    let mut child = Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args(["tracking", "--addr", "0.0.0.0:0"])
        .env("STAYTRACK_HOME", ws.path())
        .env_remove("STAYTRACK_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let l = lines.next().expect("the server exited").unwrap();
        if let Some(rest) = l.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_string();
        }
    };
    let local = format!("127.0.0.1:{port}");
    let (code, err) = call(&local, "GET", good, b"", "");
    assert_eq!((code, err.as_str()), (403, "PERMISSION_DENIED"));
    let (code, _) = call(&local, "POST", "/api/2.0/mlflow/runs/create", b"{}", "");
    assert_eq!(code, 403);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn runs_logged_through_the_api_travel_through_sync_marked_as_such() {
    let moto = common::moto::Moto::start();
    moto.bucket("shared");
    let a = tempfile::tempdir().unwrap();
    let srv = Server::start_with(a.path(), None, &["tracking"], &[]);
    let out = Command::new(python())
        .args([
            "-c",
            "import mlflow,sys; mlflow.set_tracking_uri(sys.argv[1]); \
             mlflow.set_experiment('shared-exp'); r = mlflow.start_run(run_name='plain'); \
             mlflow.log_param('depth', '4'); mlflow.log_metric('roc_auc', 0.7, step=0); \
             mlflow.log_metric('roc_auc', 0.75, step=1); mlflow.log_text('x', 'notes.txt'); \
             mlflow.end_run(); r2 = mlflow.start_run(run_name='nested-files'); \
             mlflow.log_text('y', 'config/model.txt'); mlflow.end_run(); \
             print(r.info.run_id, r2.info.run_id)",
            srv.base.as_str(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ids: Vec<&str> = stdout.lines().last().unwrap().split_whitespace().collect();
    let (plain, nested) = (ids[0], ids[1]);
    srv.terminate();
    let pushed = common::moto::sync(a.path(), &moto, "shared", &["push"]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    let b = tempfile::tempdir().unwrap();
    let pulled = common::moto::sync(b.path(), &moto, "shared", &["pull"]);
    let listed = json(&ok(b.path(), &["runs", "list", "--json"]));
    let run = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == plain)
        .unwrap_or_else(|| {
            panic!(
                "the plain run was not pulled: {}",
                String::from_utf8_lossy(&pulled.stderr)
            )
        })
        .clone();
    assert_eq!(run["source"], "mlflow");
    assert_eq!(run["family"], "external");
    assert_eq!(run["experiment"], "shared-exp");
    assert_eq!(run["params"]["depth"], "4");
    assert_eq!(run["metrics"]["roc_auc"], 0.75);
    // A run whose artifact names hold a folder is skipped by the pull and named.
    assert!(!listed.as_array().unwrap().iter().any(|r| r["id"] == nested));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&pulled.stdout),
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert!(
        said.contains(nested) && said.contains("config/model.txt"),
        "{said}"
    );
}
