//! `kill -9` in the middle of training, promotions and a sync pull: afterwards the store passes
//! `PRAGMA integrity_check`, every recorded artifact is whole, aliases agree with their audit
//! log, and running the command again finishes the job.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::moto::Moto;
use common::{json, ok};

fn spawn(ws: &Path, args: &[&str]) -> Child {
    common::command(ws, "crash")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills `child` with SIGKILL after `after`; true when it was still running then.
fn kill_after(mut child: Child, after: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

/// The store is sound: integrity, every artifact recorded is on disk with its digest, and each
/// alias points where its newest audit event says.
fn assert_consistent(ws: &Path) {
    let db = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    // Killed before the schema was written: an empty store, which the next open migrates.
    let tables: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'artifacts'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if tables == 0 {
        let v: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 0, "a schema version without its tables");
        return;
    }
    let fk: i64 = db
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
    let mut st = db.prepare("SELECT path, sha256 FROM artifacts").unwrap();
    let rows: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (path, sha) in rows {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(staytrack::bundle::sha256_hex(&bytes), sha, "{path}");
    }
    let mut st = db
        .prepare(
            "SELECT a.alias, a.version,
                    (SELECT to_version FROM alias_events e WHERE e.alias = a.alias
                     ORDER BY at DESC, id DESC LIMIT 1)
             FROM aliases a",
        )
        .unwrap();
    let aliases: Vec<(String, i64, Option<i64>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (alias, version, logged) in aliases {
        assert_eq!(Some(version), logged, "alias {alias}");
    }
}

fn synth(ws: &Path, rows: &str) {
    ok(ws, &["data", "synth", "--rows", rows, "--test-rows", "20"]);
}

#[test]
fn training_killed_at_any_moment_leaves_a_sound_store() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    synth(ws, "20000");
    let mut killed = 0;
    for ms in [150u64, 400, 900, 1600, 2500] {
        let child = spawn(ws, &["train", "--model", "lr,gbdt"]);
        killed += kill_after(child, Duration::from_millis(ms)) as usize;
        assert_consistent(ws);
    }
    assert!(killed >= 3, "training finished too fast to be interrupted");
    // The next command marks the interrupted runs failed; nothing stays "running".
    let runs = json(&ok(ws, &["runs", "list", "--json"]));
    assert!(runs
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] != "running" && r["status"] != "queued"));
    ok(ws, &["train", "--model", "lr"]);
    assert_consistent(ws);
}

#[test]
fn promotions_killed_at_any_moment_keep_aliases_and_their_log_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    synth(ws, "2000");
    ok(ws, &["train", "--model", "lr,tree"]);
    let ids: Vec<String> = json(&ok(ws, &["runs", "list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    for i in 0..40u64 {
        let run = &ids[(i % 2) as usize];
        let child = spawn(ws, &["promote", run, "--reason", &format!("move {i}")]);
        kill_after(child, Duration::from_millis(i % 20));
        assert_consistent(ws);
    }
    ok(ws, &["promote", &ids[0]]);
    assert_consistent(ws);
}

#[test]
fn a_pull_killed_at_any_moment_finishes_when_run_again() {
    let moto = Moto::start();
    moto.bucket("shared");
    let src = tempfile::tempdir().unwrap();
    synth(src.path(), "2000");
    ok(src.path(), &["train", "--model", "lr,tree,forest"]);
    let lr = json(&ok(
        src.path(),
        &["runs", "list", "--json", "--family", "lr"],
    ))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(src.path(), &["promote", &lr]);
    let remote = [
        "--bucket",
        "shared",
        "--prefix",
        "t",
        "--endpoint",
        moto.url.as_str(),
    ];
    let mut push = vec!["sync", "push"];
    push.extend_from_slice(&remote);
    assert!(spawn(src.path(), &push).wait().unwrap().success());

    let dst = tempfile::tempdir().unwrap();
    let mut pull = vec!["sync", "pull"];
    pull.extend_from_slice(&remote);
    let mut interrupted = 0;
    for ms in [30u64, 80, 150, 250, 400, 600] {
        interrupted += kill_after(spawn(dst.path(), &pull), Duration::from_millis(ms)) as usize;
        if dst.path().join("staytrack.db").exists() {
            assert_consistent(dst.path());
        }
    }
    assert!(
        interrupted >= 2,
        "every pull finished before it could be killed"
    );
    assert!(spawn(dst.path(), &pull).wait().unwrap().success());
    assert_consistent(dst.path());
    let runs = json(&ok(dst.path(), &["runs", "list", "--json"]));
    assert_eq!(runs.as_array().unwrap().len(), 3);
    let reg = json(&ok(dst.path(), &["registry", "--json"]));
    assert_eq!(reg["aliases"][0]["run_id"], serde_json::json!(lr));
}
