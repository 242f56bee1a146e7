//! `staytrack train` and `staytrack runs` through the real binary, including a training process
//! killed with SIGKILL and one stopped with Ctrl-C.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_staytrack"))
}

fn run(ws: &Path, args: &[&str]) -> Output {
    bin().args(args).env("STAYTRACK_HOME", ws).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn workspace(rows: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &["data", "synth", "--rows", rows, "--test-rows", "50"],
    );
    assert!(o.status.success(), "{}", text(&o));
    dir
}

fn runs_json(ws: &Path) -> Vec<serde_json::Value> {
    let o = run(ws, &["runs", "list", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn train_all_records_four_finished_runs_with_bundles() {
    let ws = workspace("3000");
    let o = run(
        ws.path(),
        &[
            "train",
            "--param",
            "forest.n_trees=15",
            "--param",
            "n_rounds=40",
            "--name",
            "base",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for name in ["base-lr", "base-tree", "base-forest", "base-gbdt"] {
        assert!(out.contains(name), "{name} missing from:\n{out}");
    }
    assert!(out.contains("ROC AUC") && out.contains(" *"), "{out}");
    let runs = runs_json(ws.path());
    assert_eq!(runs.len(), 4);
    for r in &runs {
        assert_eq!(r["status"], "finished", "{r}");
        assert_eq!(r["seed"], 42);
        assert_eq!(
            r["params"]["valid_fraction"], "0.2",
            "the split is recorded with the run"
        );
        let auc = r["metrics"]["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.6 && auc <= 1.0, "{r}");
        for k in [
            "accuracy",
            "precision",
            "recall",
            "f1",
            "pr_auc",
            "log_loss",
            "brier",
            "best_threshold",
        ] {
            assert!(r["metrics"][k].is_number(), "{k} missing in {r}");
        }
    }
    let forest = runs.iter().find(|r| r["family"] == "forest").unwrap();
    assert_eq!(forest["params"]["n_trees"], "15");
    let gbdt = runs.iter().find(|r| r["family"] == "gbdt").unwrap();
    assert_eq!(gbdt["params"]["n_rounds"], "40");

    // show: curves, confusion matrices, the bundle whose bytes hash to the recorded sha256.
    let id = gbdt["id"].as_str().unwrap();
    let o = run(ws.path(), &["runs", "show", &id[..30], "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["curves"]["roc"]["x"].as_array().unwrap().len() > 10);
    let c = &v["curves"]["confusion"];
    let total: u64 = ["tn", "fp", "fn_", "tp"]
        .iter()
        .map(|k| c[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, 600, "the validation split is 20 % of 3,000 rows");
    let art = &v["artifacts"][0];
    let bytes = std::fs::read(art["path"].as_str().unwrap()).unwrap();
    assert_eq!(
        staytrack::bundle::sha256_hex(&bytes),
        art["sha256"].as_str().unwrap()
    );
    let o = run(ws.path(), &["runs", "show", id]);
    let out = text(&o);
    assert!(
        out.contains("confusion matrix at threshold 0.5") && out.contains("TOP FEATURES"),
        "{out}"
    );

    // Filters and ordering.
    let o = run(
        ws.path(),
        &[
            "runs", "list", "--sort", "roc_auc", "--limit", "2", "--json",
        ],
    );
    let top: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(top.len(), 2);
    let best = runs
        .iter()
        .map(|r| r["metrics"]["roc_auc"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(top[0]["metrics"]["roc_auc"].as_f64().unwrap(), best);
    assert!(top[0]["metrics"]["roc_auc"].as_f64() >= top[1]["metrics"]["roc_auc"].as_f64());
    let o = run(ws.path(), &["runs", "list", "--family", "gbdt", "--json"]);
    let only: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["family"], "gbdt");
    let o = run(ws.path(), &["runs", "list", "--status", "failed", "--json"]);
    assert_eq!(
        serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout)
            .unwrap()
            .len(),
        0
    );
    let o = run(ws.path(), &["runs", "list", "--sort", "speed"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--sort 'speed'"));

    let ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut args = vec!["runs", "compare"];
    args.extend(&ids);
    let o = run(ws.path(), &args);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("roc_auc")).count(), 1);
    assert!(
        out.lines()
            .any(|l| l.starts_with("roc_auc") && l.contains('*')),
        "{out}"
    );
    let o = run(ws.path(), &["runs", "diff", ids[0], ids[1], "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let roc = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "roc_auc")
        .unwrap();
    let delta = roc["b"].as_f64().unwrap() - roc["a"].as_f64().unwrap();
    assert!((roc["delta"].as_f64().unwrap() - delta).abs() < 1e-12);
}

#[test]
fn same_seed_same_model() {
    let ws = workspace("1500");
    for _ in 0..2 {
        let o = run(
            ws.path(),
            &["train", "--model", "gbdt", "--param", "n_rounds=20"],
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let runs = runs_json(ws.path());
    assert_eq!(runs[0]["metrics"]["roc_auc"], runs[1]["metrics"]["roc_auc"]);
    let model = |r: &serde_json::Value| {
        let o = run(
            ws.path(),
            &["runs", "show", r["id"].as_str().unwrap(), "--json"],
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let path = v["artifacts"][0]["path"].as_str().unwrap().to_string();
        staytrack::bundle::Bundle::load(Path::new(&path)).unwrap()
    };
    let (a, b) = (model(&runs[0]), model(&runs[1]));
    assert_ne!(a.run_id, b.run_id);
    assert_eq!(
        a.model, b.model,
        "same data, seed and params give the same model"
    );
    assert_eq!(a.pipeline, b.pipeline);
}

#[test]
fn bad_train_arguments_are_clear_errors() {
    let ws = workspace("300");
    let cases: [(&[&str], &str); 6] = [
        (&["train", "--model", "svm"], "unknown model 'svm'"),
        (
            &["train", "--param", "eta=0.1"],
            "no selected model has a parameter 'eta'",
        ),
        (
            &["train", "--model", "lr", "--param", "gbdt.n_rounds=5"],
            "gbdt is not among the models",
        ),
        (
            &["train", "--model", "gbdt", "--param", "learning_rate=fast"],
            "'fast' is not a number",
        ),
        (&["train", "--param", "oops"], "expected key=value"),
        (
            &["train", "--data", "/nonexistent.csv"],
            "/nonexistent.csv: cannot read",
        ),
    ];
    for (args, want) in cases {
        let o = run(ws.path(), args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
    }
    // One class only: refused before any run is recorded.
    let one = ws.path().join("one.csv");
    let text_all = std::fs::read_to_string(ws.path().join("data/train_data.csv")).unwrap();
    let mut lines = text_all.lines();
    let mut content = format!("{}\n", lines.next().unwrap());
    for l in lines.filter(|l| l.ends_with(",0-10") || l.ends_with(",11-20")) {
        content.push_str(l);
        content.push('\n');
    }
    std::fs::write(&one, content).unwrap();
    let o = run(ws.path(), &["train", "--data", one.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("holds only class 0"), "{}", text(&o));
    assert_eq!(
        runs_json(ws.path()).len(),
        0,
        "bad arguments create no runs"
    );
}

#[test]
fn a_sweep_file_trains_every_combination() {
    let ws = workspace("1500");
    let sweep = ws.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        "[gbdt]\nn_rounds = 10\nlearning_rate = [0.1, 0.3]\nmax_leaves = [7, 15]\n",
    )
    .unwrap();
    let o = run(
        ws.path(),
        &["train", "--sweep", sweep.to_str().unwrap(), "--json"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.len(), 4);
    let runs = runs_json(ws.path());
    let combos: std::collections::BTreeSet<(String, String)> = runs
        .iter()
        .map(|r| {
            (
                r["params"]["learning_rate"].as_str().unwrap().into(),
                r["params"]["max_leaves"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(combos.len(), 4);
}

fn wait_for_status(db: &Path, status: &str, timeout: Duration) -> Option<String> {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if let Ok(c) = rusqlite::Connection::open(db) {
            let r: Result<String, _> =
                c.query_row("SELECT id FROM runs WHERE status = ?1", [status], |r| {
                    r.get(0)
                });
            if let Ok(id) = r {
                return Some(id);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_killed_training_leaves_an_intact_store_and_is_marked_failed() {
    let ws = workspace("4000");
    let mut child = bin()
        .args(["train", "--model", "forest", "--param", "n_trees=5000"])
        .env("STAYTRACK_HOME", ws.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = ws.path().join("staytrack.db");
    let id = wait_for_status(&db, "running", Duration::from_secs(60)).expect("the run starts");
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let c = rusqlite::Connection::open(&db).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(c);
    // No artifact and no temporary file was left behind.
    let arts = ws.path().join("artifacts");
    let leftovers: Vec<_> = walk(&arts);
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The next start marks the run failed, with the reason.
    let o = run(ws.path(), &["runs", "list", "--json"]);
    assert!(text(&o).contains("was interrupted"), "{}", text(&o));
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let r = runs.iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(r["status"], "failed");
    assert!(r["status_reason"]
        .as_str()
        .unwrap()
        .contains("ended while the run was running"));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn ctrl_c_cancels_cleanly() {
    let ws = workspace("4000");
    let child = bin()
        .args([
            "train",
            "--model",
            "forest,gbdt",
            "--param",
            "forest.n_trees=5000",
        ])
        .env("STAYTRACK_HOME", ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let db = ws.path().join("staytrack.db");
    wait_for_status(&db, "running", Duration::from_secs(60)).expect("the run starts");
    std::thread::sleep(Duration::from_millis(300));
    let k = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let runs = runs_json(ws.path());
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["status"] == "cancelled"), "{runs:?}");
    assert!(walk(&ws.path().join("artifacts")).is_empty());
}
