//! `staytrack sync` against a real S3-compatible server on loopback (moto's `moto_server`, from
//! pip: `.ci/run` installs it; `STAYTRACK_TEST_MOTO` may name the executable).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::moto::{sync, Moto};
use common::{json, ok, run};
use serde_json::Value;

/// `staytrack ARGS` on `ws` with throwaway credentials (`secret` as the secret key).
fn with_credentials(ws: &Path, args: &[&str], secret: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args(args)
        .env("STAYTRACK_HOME", ws)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

fn sync_ok(ws: &Path, moto: &Moto, bucket: &str, args: &[&str]) -> Value {
    let o = sync(ws, moto, bucket, args);
    assert!(
        o.status.success(),
        "sync {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    json(&o)
}

/// A workspace with two finished runs (lr, tree) and lr promoted.
fn trained() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "3000", "--test-rows", "100"],
    );
    ok(ws, &["train", "--model", "lr,tree"]);
    let lr = run_of(ws, "lr");
    ok(ws, &["promote", &lr]);
    dir
}

fn run_of(ws: &Path, family: &str) -> String {
    let runs = json(&ok(ws, &["runs", "list", "--json", "--family", family]));
    runs[0]["id"].as_str().unwrap().to_string()
}

fn production(ws: &Path) -> Option<String> {
    let reg = json(&ok(ws, &["registry", "--json"]));
    let aliases = reg["aliases"].as_array().unwrap();
    aliases
        .iter()
        .find(|a| a["alias"] == "production")
        .map(|a| a["run_id"].as_str().unwrap().to_string())
}

fn bundle_bytes(ws: &Path, run: &str) -> Vec<u8> {
    let show = json(&ok(ws, &["runs", "show", run, "--json"]));
    let sha = show["artifacts"][0]["sha256"].as_str().unwrap().to_string();
    std::fs::read(
        ws.join("artifacts")
            .join(&sha[..2])
            .join(format!("{sha}.bundle")),
    )
    .unwrap()
}

#[test]
fn two_workspaces_end_with_the_same_runs_artifacts_and_aliases() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = trained();
    let b = tempfile::tempdir().unwrap();
    let (wa, wb) = (a.path(), b.path());

    let pushed = sync_ok(wa, &moto, "shared", &["push", "--json"]);
    assert_eq!(
        (pushed["runs"].as_u64(), pushed["artifacts"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(pushed["events"], 1);
    let pulled = sync_ok(wb, &moto, "shared", &["pull", "--json"]);
    assert_eq!(
        (pulled["runs"].as_u64(), pulled["events"].as_u64()),
        (Some(2), Some(1))
    );

    let ids = |ws: &Path| -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = json(&ok(ws, &["runs", "list", "--json"]))
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_string(),
                    r["metrics"]["roc_auc"].as_f64().unwrap(),
                )
            })
            .collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    assert_eq!(ids(wa), ids(wb));
    let lr = run_of(wa, "lr");
    let tree = run_of(wa, "tree");
    for r in [&lr, &tree] {
        assert_eq!(bundle_bytes(wa, r), bundle_bytes(wb, r), "bundle of {r}");
    }
    assert_eq!(production(wb), Some(lr.clone()));

    // B moves production, weighed by a policy; A follows after a pull, evidence and all.
    std::fs::write(
        wb.join("staytrack.toml"),
        "[promote]\nmax_model_mb = 1000\n",
    )
    .unwrap();
    ok(wb, &["promote", &tree, "--reason", "B prefers the tree"]);
    let pushed = sync_ok(wb, &moto, "shared", &["push", "--json"]);
    assert_eq!(
        (pushed["runs"].as_u64(), pushed["events"].as_u64()),
        (Some(0), Some(1))
    );
    let pulled = sync_ok(wa, &moto, "shared", &["pull", "--json"]);
    assert_eq!(pulled["events"], 1);
    assert_eq!(production(wa), Some(tree.clone()));
    let reg = json(&ok(wa, &["registry", "--json"]));
    assert_eq!(reg["events"][0]["reason"], "B prefers the tree");
    let evidence = &reg["events"][0]["evidence"];
    assert_eq!(evidence["passed"], true, "{evidence}");
    assert_eq!(evidence["checks"][0]["rule"], "max_model_mb", "{evidence}");
    assert!(reg["events"][0]["actor"]
        .as_str()
        .unwrap()
        .contains("via sync"));

    // Nothing is pushed twice, and both sides are level.
    let again = sync_ok(wa, &moto, "shared", &["push", "--json"]);
    assert_eq!(
        (
            again["runs"].as_u64(),
            again["artifacts"].as_u64(),
            again["events"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    for ws in [wa, wb] {
        let st = sync_ok(ws, &moto, "shared", &["status", "--json"]);
        assert_eq!(st["ahead_runs"], Value::Array(vec![]), "{st}");
        assert_eq!(st["behind_runs"], Value::Array(vec![]), "{st}");
        assert_eq!(
            (
                st["unpushed_events"].as_u64(),
                st["unapplied_events"].as_u64()
            ),
            (Some(0), Some(0))
        );
    }
    // The pulled runs are whole: they can be served.
    let o = ok(wb, &["runs", "show", &tree]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("tree"));
}

#[test]
fn a_corrupted_object_is_detected_on_pull() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = trained();
    sync_ok(a.path(), &moto, "shared", &["push", "--json"]);
    let tree = run_of(a.path(), "tree");
    let show = json(&ok(a.path(), &["runs", "show", &tree, "--json"]));
    let sha = show["artifacts"][0]["sha256"].as_str().unwrap().to_string();
    let key = format!("team/artifacts/{sha}");
    moto.put("shared", &key, b"not the bundle you are looking for");

    let c = tempfile::tempdir().unwrap();
    let o = sync(c.path(), &moto, "shared", &["pull"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&key) && err.contains("corrupted"), "{err}");
    assert!(err.contains("s3://shared/"), "{err}");
    // The run whose artifact failed was not recorded; the store is sound.
    let ids: Vec<String> = json(&ok(c.path(), &["runs", "list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.contains(&tree), "{ids:?}");
    let db = rusqlite::Connection::open(c.path().join("staytrack.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn an_interrupted_push_completes_when_run_again() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = trained();
    let wa = a.path();
    sync_ok(wa, &moto, "shared", &["push", "--json"]);
    // As if the push had died after the first run: the second run's artifact and document
    // never arrived.
    let tree = run_of(wa, "tree");
    let show = json(&ok(wa, &["runs", "show", &tree, "--json"]));
    let sha = show["artifacts"][0]["sha256"].as_str().unwrap().to_string();
    moto.delete("shared", &format!("team/artifacts/{sha}"));
    moto.delete("shared", &format!("team/runs/{tree}.json"));
    let st = sync_ok(wa, &moto, "shared", &["status", "--json"]);
    assert_eq!(st["ahead_runs"], serde_json::json!([tree]));
    let resumed = sync_ok(wa, &moto, "shared", &["push", "--json"]);
    assert_eq!(
        (resumed["runs"].as_u64(), resumed["artifacts"].as_u64()),
        (Some(1), Some(1))
    );
    let st = sync_ok(wa, &moto, "shared", &["status", "--json"]);
    assert_eq!(st["ahead_runs"], Value::Array(vec![]));
    let doc: Value =
        serde_json::from_slice(&moto.object("shared", &format!("team/runs/{tree}.json"))).unwrap();
    assert_eq!(doc["id"], Value::String(tree));
}

#[test]
fn concurrent_pushes_of_the_same_runs_write_each_object_once() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = trained();
    let wa = a.path().to_path_buf();
    let url = moto.url.clone();
    let pushers: Vec<_> = (0..2)
        .map(|_| {
            let (wa, url) = (wa.clone(), url.clone());
            std::thread::spawn(move || {
                with_credentials(
                    &wa,
                    &[
                        "sync",
                        "push",
                        "--json",
                        "--bucket",
                        "shared",
                        "--prefix",
                        "team",
                        "--endpoint",
                        &url,
                    ],
                    "test",
                )
            })
        })
        .collect();
    let (mut runs, mut artifacts) = (0, 0);
    for p in pushers {
        let o = p.join().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        runs += json(&o)["runs"].as_u64().unwrap();
        artifacts += json(&o)["artifacts"].as_u64().unwrap();
    }
    // Each run document was written by exactly one of the two (the other's conditional write
    // was refused, or it saw the object already there).
    assert_eq!((runs, artifacts), (2, 2));
    for family in ["lr", "tree"] {
        let id = run_of(&wa, family);
        let doc: Value =
            serde_json::from_slice(&moto.object("shared", &format!("team/runs/{id}.json")))
                .unwrap();
        assert_eq!(doc["id"], Value::String(id));
    }
    let b = tempfile::tempdir().unwrap();
    let pulled = sync_ok(b.path(), &moto, "shared", &["pull", "--json"]);
    assert_eq!(pulled["runs"], 2);
}

#[test]
fn large_artifacts_go_up_in_parts_and_backups_are_whole() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = trained();
    let wa = a.path();
    // A 9 MiB artifact recorded for the lr run.
    let lr = run_of(wa, "lr");
    let big: Vec<u8> = (0..9 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let sha = staytrack::bundle::sha256_hex(&big);
    let dir = wa.join("artifacts").join(&sha[..2]);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{sha}.bin"));
    std::fs::write(&path, &big).unwrap();
    let db = rusqlite::Connection::open(wa.join("staytrack.db")).unwrap();
    db.execute(
        "INSERT INTO artifacts (run_id, name, path, sha256, bytes, created_at) VALUES (?1, 'predictions', ?2, ?3, ?4, 0)",
        rusqlite::params![lr, path.display().to_string(), sha, big.len() as i64],
    )
    .unwrap();
    drop(db);
    let pushed = sync_ok(wa, &moto, "shared", &["push", "--json"]);
    assert_eq!(pushed["artifacts"], 3);
    assert_eq!(moto.object("shared", &format!("team/artifacts/{sha}")), big);
    let b = tempfile::tempdir().unwrap();
    sync_ok(b.path(), &moto, "shared", &["pull", "--json"]);
    let copy = std::fs::read(
        b.path()
            .join("artifacts")
            .join(&sha[..2])
            .join(format!("{sha}.bin")),
    )
    .unwrap();
    assert_eq!(copy, big);

    let o = sync(wa, &moto, "shared", &["backup"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let key = out.split("s3://shared/").nth(1).unwrap().trim().to_string();
    let snap = tempfile::tempdir().unwrap();
    let file = snap.path().join("snap.db");
    std::fs::write(&file, moto.object("shared", &key)).unwrap();
    let c = rusqlite::Connection::open(&file).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let runs: i64 = c
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!((check.as_str(), runs), ("ok", 2));
}

#[test]
fn errors_name_the_bucket_key_and_cause_and_settings_come_from_the_file() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = trained();
    let wa = a.path();
    let o = sync(wa, &moto, "missing-bucket", &["push"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("s3://missing-bucket/team/") && err.contains("no such bucket"),
        "{err}"
    );

    let o = with_credentials(
        wa,
        &[
            "sync",
            "status",
            "--bucket",
            "shared",
            "--endpoint",
            "http://127.0.0.1:9",
        ],
        "test",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("network"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = run(wa, &["sync", "push"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no bucket"));

    // staytrack.toml: settings without flags, and automatic pushes after training.
    std::fs::write(
        wa.join("staytrack.toml"),
        format!(
            "[sync]\nbucket = \"shared\"\nprefix = \"auto\"\nendpoint = \"{}\"\nauto = true\n",
            moto.url
        ),
    )
    .unwrap();
    let o = with_credentials(
        wa,
        &["train", "--model", "lr", "--name", "auto"],
        "s3cr3t-never-stored-42",
    );
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("sync: pushed 1 run(s)"), "{err}");
    let auto_id = json(&ok(wa, &["runs", "list", "--json"]))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let doc: Value =
        serde_json::from_slice(&moto.object("shared", &format!("auto/runs/{auto_id}.json")))
            .unwrap();
    assert_eq!(doc["name"], "auto");
    // Credentials never land in the store or the settings.
    for f in ["staytrack.db", "staytrack.toml"] {
        let bytes = std::fs::read(wa.join(f)).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("s3cr3t-never-stored-42"),
            "{f}"
        );
    }

    // An unreachable bucket leaves the run safe locally and training successful.
    std::fs::write(
        wa.join("staytrack.toml"),
        "[sync]\nbucket = \"shared\"\nendpoint = \"http://127.0.0.1:9\"\nauto = true\n",
    )
    .unwrap();
    let o = with_credentials(wa, &["train", "--model", "lr", "--name", "offline"], "test");
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("stay safe"));

    std::fs::write(wa.join("staytrack.toml"), "[sync]\nbuckit = \"x\"\n").unwrap();
    let o = run(wa, &["sync", "push"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("staytrack.toml") && err.contains("buckit"),
        "{err}"
    );
}

#[test]
fn the_largest_reason_and_one_recorded_before_the_bound_travel_and_every_workspace_agrees() {
    let moto = Moto::start();
    moto.bucket("trust");
    let a = trained();
    let tree = run_of(a.path(), "tree");
    // The longest reason the registry takes, in the widest characters.
    let largest = "é".repeat(1000);
    ok(a.path(), &["promote", &tree, "--reason", &largest]);
    // A move recorded before the bound, with a reason that passes what a pull takes.
    let db = rusqlite::Connection::open(a.path().join("staytrack.db")).unwrap();
    db.execute(
        "UPDATE alias_events SET reason = ?1 WHERE id = (SELECT MIN(id) FROM alias_events)",
        ["x".repeat(70_000)],
    )
    .unwrap();
    drop(db);
    sync_ok(a.path(), &moto, "trust", &["push", "--json"]);
    let b = tempfile::tempdir().unwrap();
    let pulled = sync_ok(b.path(), &moto, "trust", &["pull", "--json"]);
    assert_eq!(
        pulled["rejected"].as_array().map_or(0, Vec::len),
        0,
        "{pulled}"
    );
    assert_eq!(production(b.path()), Some(tree.clone()));
    let reg = json(&ok(b.path(), &["registry", "--json"]));
    let reasons: Vec<String> = reg["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect();
    assert!(reasons.contains(&largest), "{reasons:?}");
    let cut = reasons.iter().find(|r| r.starts_with("xxx")).unwrap();
    assert_eq!(cut.chars().count(), 1000);
    assert!(cut.ends_with('…'));
}
