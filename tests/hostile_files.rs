//! Hostile files and stores: bundles whose checksum is right and whose structure is not, a store
//! from nowhere (negative schema version), run ids no staytrack wrote, durations that overflow,
//! owner-only permissions on everything staytrack creates, and no temporary folder left behind.
//! A workspace whose store, data or output folders are not what they should be (a folder, a
//! file, junk, a link to a device) gives an error naming them.
//!
//! Distinct hostile inputs: 36 (16 bundles, 1 store, 8 ids and durations, 2 in the permissions
//! test, 9 broken workspaces).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::server::Server;
use common::{json, ok, run, run_of};
use serde_json::{json, Value};
use staytrack::bundle::{sha256_hex, Bundle, BundleError};

fn bundle_of(ws: &Path, run: &str) -> (String, Vec<u8>) {
    let show = json(&ok(ws, &["runs", "show", run, "--json"]));
    let sha = show["artifacts"][0]["sha256"].as_str().unwrap().to_string();
    let bytes = std::fs::read(
        ws.join("artifacts")
            .join(&sha[..2])
            .join(format!("{sha}.bundle")),
    )
    .unwrap();
    (sha, bytes)
}

/// The bundle's JSON payload.
fn payload(bytes: &[u8]) -> Value {
    let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    serde_json::from_slice(&bytes[nl + 1..]).unwrap()
}

/// A bundle file around `payload` with a checksum that matches it.
fn checksummed(payload: &Value) -> Vec<u8> {
    let body = serde_json::to_vec(payload).unwrap();
    let mut out = format!("staytrack-bundle 1 sha256:{}\n", sha256_hex(&body)).into_bytes();
    out.extend_from_slice(&body);
    out
}

#[test]
fn checksummed_bundles_with_a_broken_structure_are_refused() {
    let ws = common::trained("lr,tree,gbdt", 2000);
    let w = ws.path();
    let (_, tree) = bundle_of(w, &run_of(w, "tree"));
    let (_, gbdt) = bundle_of(w, &run_of(w, "gbdt"));
    let (_, lr) = bundle_of(w, &run_of(w, "lr"));
    for b in [&tree, &gbdt, &lr] {
        assert!(Bundle::from_bytes(b, Path::new("x")).is_ok());
    }
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, &Vec<u8>, Edit)> = vec![
        ("a cycle", &tree, |p| {
            p["model"]["tree"]["left"][0] = json!(0)
        }),
        ("a child past the end", &tree, |p| {
            p["model"]["tree"]["right"][0] = json!(1_000_000)
        }),
        ("a child before its parent", &gbdt, |p| {
            let t = &mut p["model"]["trees"][0];
            let n = t["left"].as_array().unwrap().len();
            // The last split node points back at the root.
            let last = (0..n)
                .rev()
                .find(|&i| t["feature"][i] != json!(u32::MAX))
                .unwrap();
            t["right"][last] = json!(0);
        }),
        ("a feature that does not exist", &tree, |p| {
            p["model"]["tree"]["feature"][0] = json!(4_000_000)
        }),
        ("arrays of different lengths", &gbdt, |p| {
            p["model"]["trees"][0]["value"]
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        ("a tree with no nodes", &tree, |p| {
            for k in ["feature", "threshold", "left", "right", "value"] {
                p["model"]["tree"][k] = json!([]);
            }
        }),
        ("boosting with no trees", &gbdt, |p| {
            p["model"]["trees"] = json!([])
        }),
        ("a weight short", &lr, |p| {
            p["model"]["weights"].as_array_mut().unwrap().pop();
        }),
        ("a weight that is not a number", &lr, |p| {
            p["model"]["weights"][0] = json!(null)
        }),
        ("feature names of the wrong count", &lr, |p| {
            p["feature_names"].as_array_mut().unwrap().pop();
        }),
        ("a zero scale", &lr, |p| {
            let enc = p["pipeline"]["encoders"].as_array_mut().unwrap();
            let e = enc.iter_mut().find(|e| e["kind"] == "scaled").unwrap();
            e["std"] = json!(0.0);
        }),
        ("an encoder on a column the spec lacks", &lr, |p| {
            p["pipeline"]["encoders"][0]["column"] = json!("Nope");
        }),
        ("a spec column twice", &lr, |p| {
            let c = p["spec"]["columns"][1].clone();
            p["spec"]["columns"].as_array_mut().unwrap().push(c);
        }),
        ("a positive label the target lacks", &lr, |p| {
            p["spec"]["target"]["positive"] = json!(["forever"]);
        }),
        ("a target rule naming no column", &lr, |p| {
            p["spec"]["target"]["column"] = json!("Nope");
        }),
    ];
    for (what, base, edit) in &cases {
        let mut p = payload(base);
        edit(&mut p);
        let bytes = checksummed(&p);
        let t = std::time::Instant::now();
        let err = Bundle::from_bytes(&bytes, Path::new("hostile.bundle")).unwrap_err();
        assert!(t.elapsed().as_secs() < 5, "{what}: took {:?}", t.elapsed());
        assert!(
            matches!(
                err,
                BundleError::Invalid { .. } | BundleError::Decode { .. }
            ),
            "{what}: {err}"
        );
        assert!(err.to_string().contains("hostile.bundle"), "{what}: {err}");
    }

    // Served: a cyclic tree behind production is never loaded; the server stays healthy and
    // says why it is not ready, instead of hanging its workers.
    let tree_run = run_of(w, "tree");
    ok(w, &["promote", &tree_run]);
    let mut p = payload(&tree);
    p["model"]["tree"]["left"][0] = json!(0);
    let bad = checksummed(&p);
    let sha = sha256_hex(&bad);
    let dir = w.join("artifacts").join(&sha[..2]);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{sha}.bundle"));
    std::fs::write(&path, &bad).unwrap();
    let db = rusqlite::Connection::open(w.join("staytrack.db")).unwrap();
    db.execute("UPDATE model_versions SET sha256 = ?1", [&sha])
        .unwrap();
    db.execute(
        "UPDATE artifacts SET sha256 = ?1, path = ?2 WHERE run_id = ?3",
        rusqlite::params![sha, path.display().to_string(), tree_run],
    )
    .unwrap();
    drop(db);
    let srv = Server::start(w, None, &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .into();
    let get = |p: &str| {
        let mut r = agent.get(&format!("{}{p}", srv.base)).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(get("/health").0, 200);
    let (code, body) = get("/ready");
    assert_eq!(code, 503);
    assert!(body.contains("not a usable model"), "{body}");
    let mut r = agent
        .post(&format!("{}/predict", srv.base))
        .content_type("application/json")
        .send(b"{}".as_slice())
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        503,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    assert_eq!(get("/health").0, 200);
}

#[test]
fn a_store_staytrack_never_wrote_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("staytrack.db")).unwrap();
    db.pragma_update(None, "user_version", -1).unwrap();
    drop(db);
    let o = run(dir.path(), &["runs", "list"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a staytrack store"), "{err}");
}

#[test]
fn ids_and_durations_from_anywhere_never_panic() {
    let ws = common::trained("lr", 2000);
    let w = ws.path();
    let lr = run_of(w, "lr");
    // Runs whose ids no staytrack writes (a store edited by hand, or from another tool).
    let db = rusqlite::Connection::open(w.join("staytrack.db")).unwrap();
    for (i, id) in ["é", "ééééééé-ü", "\u{1F600}\u{1F600}\u{1F600}", "x"]
        .iter()
        .enumerate()
    {
        db.execute(
            "INSERT INTO runs (id, experiment_id, name, family, status, created_at)
             VALUES (?1, 1, ?2, 'lr', 'failed', ?3)",
            rusqlite::params![id, format!("odd{i}"), i as i64],
        )
        .unwrap();
    }
    drop(db);
    for args in [
        vec!["runs", "list"],
        vec!["runs", "list", "--json"],
        vec!["runs", "show", "ééééééé-ü"],
        vec!["runs", "compare", &lr, "ééééééé-ü"],
        vec!["report", "--out", "reports"],
        vec!["drift", "--window", "99999999999999999d"],
        vec!["drift", "--window", "1h", "--since", "9223372036854775807d"],
        vec!["drift", "--window", "106751991167d"],
        vec!["log", "prune", "--older-than", "9223372036854775807s"],
    ] {
        let o = run(w, &args);
        assert_ne!(
            o.status.code(),
            Some(101),
            "{args:?} panicked: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.code().is_some(), "{args:?} was killed");
    }
}

fn modes(dir: &Path, out: &mut Vec<(String, u32)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.push((p.display().to_string(), m.permissions().mode() & 0o777));
        if m.is_dir() {
            modes(&p, out);
        }
    }
}

#[test]
fn everything_staytrack_creates_is_owner_only_and_no_temporary_folder_stays() {
    let ws = common::trained("lr", 2000);
    let w = ws.path();
    ok(w, &["promote", &run_of(w, "lr")]);
    ok(w, &["score", "--json"]);
    ok(w, &["report", "--out", "reports"]);
    let srv = Server::start(w, None, &[]);
    drop(srv);
    let mut all = Vec::new();
    modes(w, &mut all);
    let mine: Vec<_> = all.iter().filter(|(p, _)| !p.contains("/data/")).collect();
    assert!(mine.iter().any(|(p, _)| p.ends_with("staytrack.db")));
    assert!(mine.iter().any(|(p, _)| p.ends_with(".bundle")));
    assert!(mine.iter().any(|(p, _)| p.contains("predictions")));
    for (p, mode) in &mine {
        assert_eq!(mode & 0o077, 0, "{p} is {mode:o}");
    }
    // A store made before (world-readable) is narrowed when opened.
    std::fs::set_permissions(
        w.join("staytrack.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    ok(w, &["runs", "list"]);
    let mode = std::fs::metadata(w.join("staytrack.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A backup that fails to upload leaves no snapshot folder behind.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args([
            "sync",
            "backup",
            "--bucket",
            "b",
            "--endpoint",
            "http://127.0.0.1:9",
        ])
        .env("STAYTRACK_HOME", w)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let left: Vec<String> = std::fs::read_dir(w)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".backup"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_workspace_whose_parts_are_not_what_they_should_be_gives_errors_naming_them() {
    use std::os::unix::fs::symlink;
    let trained = common::trained("lr", 1200);
    ok(trained.path(), &["promote", "lr"]);
    let sandbox = tempfile::tempdir().unwrap();
    type Break = fn(&Path);
    // (name, what is done to a copy of the workspace, the command, the error's words)
    let cases: Vec<(&str, Break, Vec<&str>, &str)> = vec![
        (
            "the store is a folder",
            |w| {
                std::fs::remove_file(w.join("staytrack.db")).unwrap();
                std::fs::create_dir(w.join("staytrack.db")).unwrap();
            },
            vec!["runs", "list"],
            "staytrack.db",
        ),
        (
            "the store is random bytes",
            |w| {
                let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
                std::fs::write(w.join("staytrack.db"), junk).unwrap();
            },
            vec!["runs", "list"],
            "file is not a database",
        ),
        (
            "the store is a SQLite header and junk",
            |w| std::fs::write(w.join("staytrack.db"), b"SQLite format 3\0junkjunk").unwrap(),
            vec!["runs", "list"],
            "file is not a database",
        ),
        (
            "the store is a link to a device",
            |w| {
                std::fs::remove_file(w.join("staytrack.db")).unwrap();
                symlink("/dev/zero", w.join("staytrack.db")).unwrap();
            },
            vec!["runs", "list"],
            "staytrack.db",
        ),
        (
            "data is a file",
            |w| {
                std::fs::remove_dir_all(w.join("data")).unwrap();
                std::fs::write(w.join("data"), b"x").unwrap();
            },
            vec!["score"],
            "creating the folder",
        ),
        (
            "the test file is a link to a device",
            |w| {
                std::fs::remove_file(w.join("data/test_data.csv")).unwrap();
                symlink("/dev/zero", w.join("data/test_data.csv")).unwrap();
            },
            vec!["score"],
            "test_data.csv: cannot read the file: a character device, not a file",
        ),
        (
            "predictions is a file",
            |w| std::fs::write(w.join("predictions"), b"x").unwrap(),
            vec!["score"],
            "creating the folder",
        ),
        (
            "the training file is a folder",
            |w| {
                std::fs::remove_file(w.join("data/train_data.csv")).unwrap();
                std::fs::create_dir(w.join("data/train_data.csv")).unwrap();
            },
            vec!["train", "--model", "lr"],
            "train_data.csv",
        ),
    ];
    for (name, break_it, args, says) in &cases {
        let ws = sandbox.path().join("ws");
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(trained.path())
            .arg(&ws)
            .status()
            .unwrap();
        assert!(st.success());
        break_it(&ws);
        let before = common::listing(sandbox.path(), &ws);
        let o = common::run_within(&ws, args, std::time::Duration::from_secs(60));
        let err = String::from_utf8_lossy(&o.stderr);
        let head: String = err.chars().take(400).collect();
        assert_ne!(o.status.code(), Some(101), "{name}: panicked: {head}");
        assert_eq!(o.status.code(), Some(1), "{name}: {head}");
        assert!(err.contains(says), "{name}: '{says}' is not in: {head}");
        assert_eq!(common::listing(sandbox.path(), &ws), before, "{name}");
        std::fs::remove_dir_all(&ws).unwrap();
    }
    // A workspace that is a file.
    let file = sandbox.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let o = common::run_within(&file, &["runs", "list"], std::time::Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not-a-folder"));
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}
