//! A bucket that lies: `staytrack sync pull` against moto's S3 server holding hostile objects
//! (path traversal, absolute and device paths, malformed, huge, short and non-ASCII ids, wrong
//! formats, corrupt and oversized artifacts, bad aliases, forged event keys), and alias moves
//! pushed out of order. A bad object is skipped and named; the rest is pulled; nothing is
//! written outside the workspace; the store stays sound.
//!
//! A bucket that stalls: a lying proxy between the client and moto trickles a body a byte a
//! second, or answers every listing "truncated" with the same token; the pull still ends, in
//! bounded time, naming what it gave up. Temporary files of ended processes go on the next
//! command; a running process's stay.
//!
//! A bucket whose answers lie, through the proxy: objects it fails (500, 403, 503), malformed,
//! another's, cut short, declared huge, flipped, longer or shorter than their documents say;
//! listings holding keys with `..`, backslashes, absolute paths, NUL and line breaks, bad
//! capture keys, and 20,000 keys no staytrack writes. Each is skipped and named, the pull exits
//! 1, the rest is pulled, and the counts add up. A move whose reason or actor holds control
//! characters still reaches every pull.
//!
//! Distinct hostile inputs: 78 (37 objects, 1 out-of-order history, 2 local files, 2 stalls, 1
//! bad rate, 1 leftover temporary files, 20 lying answers, 11 listed keys, 1 key of 600 bytes,
//! 1 listing of 20,000 keys, 1 move with control characters).

mod common;

use std::path::Path;
use std::process::Output;

use common::moto::{sync, Moto};
use common::{json, ok, run_of};
use serde_json::{json, Value};

fn with_env(ws: &Path, args: &[&str], user: &str) -> Output {
    common::command(ws, user).args(args).output().unwrap()
}

fn sync_json(ws: &Path, moto: &Moto, bucket: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let o = sync(ws, moto, bucket, args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (
        o.status.code(),
        v,
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn promote(ws: &Path, run: &str, alias: &str, who: &str, why: &str) {
    let o = with_env(
        ws,
        &["promote", run, "--alias", alias, "--reason", why],
        who,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Distinct milliseconds, so the moves have an order of their own.
    std::thread::sleep(std::time::Duration::from_millis(5));
}

fn registry(ws: &Path) -> Value {
    json(&ok(ws, &["registry", "--json"]))
}

fn alias_run(ws: &Path, alias: &str) -> Option<String> {
    registry(ws)["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alias"] == alias)
        .map(|a| a["run_id"].as_str().unwrap().to_string())
}

/// (alias, at, actor without the sync marker, reason) of every move, sorted by time.
fn history(ws: &Path) -> Vec<(String, i64, String, String)> {
    let mut v: Vec<_> = registry(ws)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["alias"].as_str().unwrap().to_string(),
                e["at"].as_i64().unwrap(),
                e["actor"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches(" (via sync)")
                    .to_string(),
                e["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn integrity(ws: &Path) -> String {
    let db = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    db.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_pull_ends_where_the_bucket_s_history_ends_with_original_times_and_actors() {
    let moto = Moto::start();
    moto.bucket("shared");
    moto.bucket("second");
    let a = common::trained("lr,tree", 2000);
    let wa = a.path();
    let (lr, tree) = (run_of(wa, "lr"), run_of(wa, "tree"));
    promote(wa, &lr, "production", "alice", "m1 first model");
    promote(wa, &tree, "production", "alice", "m2 trees");
    assert_eq!(
        sync_json(wa, &moto, "shared", &["push", "--json"]).1["events"],
        2
    );

    // B pulls, moves production itself, and pushes only later.
    let b = tempfile::tempdir().unwrap();
    let wb = b.path();
    let (code, v, err) = sync_json(wb, &moto, "shared", &["pull", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["events"], 2);
    assert_eq!(alias_run(wb, "production"), Some(tree.clone()));
    promote(wb, &lr, "production", "bob", "m3 late");

    // Meanwhile A moves twice more and pushes first.
    promote(wa, &lr, "production", "alice", "m4");
    promote(wa, &tree, "staging", "alice", "m5 staging");
    promote(wa, &tree, "production", "alice", "m6 trees again");
    assert_eq!(
        sync_json(wa, &moto, "shared", &["push", "--json"]).1["events"],
        3
    );
    // B's older move arrives last.
    assert_eq!(
        sync_json(wb, &moto, "shared", &["push", "--json"]).1["events"],
        1
    );

    // A fresh workspace ends where the history ends: m6, not the first move ever made.
    let c = tempfile::tempdir().unwrap();
    let wc = c.path();
    let (code, v, err) = sync_json(wc, &moto, "shared", &["pull", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(alias_run(wc, "production"), Some(tree.clone()), "{v}");
    assert_eq!(alias_run(wc, "staging"), Some(tree.clone()));
    let st = sync_json(wc, &moto, "shared", &["status", "--json"]).1;
    assert_eq!(st["unapplied_events"], 0, "{st}");
    assert_eq!(st["unpushed_events"], 0, "{st}");
    // Every move, with the time and actor it was made with.
    let all = history(wc);
    assert_eq!(all.len(), 6, "{all:?}");
    let mut expected = history(wa);
    expected.extend(history(wb).into_iter().filter(|e| e.3 == "m3 late"));
    expected.sort();
    assert_eq!(all, expected);
    assert!(all.iter().any(|e| e.2 == "cli:bob" && e.3 == "m3 late"));
    let events = registry(wc)["events"].clone();
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"].as_str().unwrap().ends_with("(via sync)")));

    // The two that moved meanwhile agree after pulling: B follows m6, A keeps m3 as history.
    for ws in [wa, wb] {
        let (code, _, err) = sync_json(ws, &moto, "shared", &["pull", "--json"]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(alias_run(ws, "production"), Some(tree.clone()));
        assert_eq!(history(ws), all);
    }
    // Pulling again changes nothing.
    let (_, v, _) = sync_json(wc, &moto, "shared", &["pull", "--json"]);
    assert_eq!(
        (v["events"].as_u64(), v["history"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(history(wc), all);

    // A second bucket gets every move, pulled ones included, and ends the same.
    let (_, v, _) = sync_json(wc, &moto, "second", &["push", "--json"]);
    assert_eq!(
        (v["runs"].as_u64(), v["events"].as_u64()),
        (Some(2), Some(6))
    );
    let d = tempfile::tempdir().unwrap();
    sync_json(d.path(), &moto, "second", &["pull", "--json"]);
    assert_eq!(alias_run(d.path(), "production"), Some(tree.clone()));
    assert_eq!(history(d.path()), all);
    for ws in [wa, wb, wc, d.path()] {
        assert_eq!(integrity(ws), "ok");
    }
}

/// Everything under `dir`, as paths relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn hostile_objects_are_skipped_and_named_and_the_rest_is_pulled() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = common::trained("lr", 2000);
    let wa = a.path();
    let lr = run_of(wa, "lr");
    promote(wa, &lr, "production", "alice", "good");
    let (_, pushed, err) = sync_json(wa, &moto, "shared", &["push", "--json"]);
    assert_eq!(pushed["runs"], 1, "{err}");
    let doc: Value =
        serde_json::from_slice(&moto.object("shared", &format!("team/runs/{lr}.json"))).unwrap();
    let sha = doc["artifacts"][0]["sha256"].as_str().unwrap().to_string();
    let bundle = moto.object("shared", &format!("team/artifacts/{sha}"));

    // A sandbox: the workspace is one folder inside it, so any write outside shows up.
    let sandbox = tempfile::tempdir().unwrap();
    let wc = sandbox.path().join("ws");
    std::fs::create_dir(&wc).unwrap();

    // Run documents: each a copy of the good one with one thing wrong.
    let variant = |id: &str, f: &dyn Fn(&mut Value)| -> (String, Vec<u8>) {
        let mut d = doc.clone();
        d["id"] = json!(id);
        f(&mut d);
        (
            format!("team/runs/{id}.json"),
            serde_json::to_vec(&d).unwrap(),
        )
    };
    let id = |n: u32| format!("0000aaaa-0000-7000-8000-{n:012}");
    let fake_sha = |n: u8| format!("{:064x}", n as u128 + 1);
    let mut hostile: Vec<(String, Vec<u8>, &str)> = vec![
        {
            let (k, b) = variant(&id(1), &|d| {
                d["artifacts"][0]["file"] = json!("../../escaped")
            });
            (k, b, "not <sha256>")
        },
        {
            let (k, b) = variant(&id(2), &|d| {
                d["artifacts"][0]["file"] = json!("/tmp/absolute")
            });
            (k, b, "not <sha256>")
        },
        {
            let (k, b) = variant(&id(3), &|d| d["artifacts"][0]["file"] = json!("/dev/zero"));
            (k, b, "not <sha256>")
        },
        {
            let (k, b) = variant(&id(4), &|d| {
                d["artifacts"][0]["file"] = json!(format!("{sha}.bundle/../../x"))
            });
            (k, b, "not <sha256>")
        },
        {
            let (k, b) = variant(&id(5), &|d| d["format"] = json!(2));
            (k, b, "format")
        },
        {
            let (k, b) = variant(&id(6), &|d| d["format"] = json!("one"));
            (k, b, "not a run document")
        },
        {
            let (k, b) = variant(&id(7), &|d| d["status"] = json!("running"));
            (k, b, "status")
        },
        {
            let (k, b) = variant(&id(8), &|d| d["family"] = json!("rm -rf"));
            (k, b, "family")
        },
        {
            let (k, b) = variant(&id(9), &|d| d["artifacts"][0]["bytes"] = json!(-5));
            (k, b, "bytes")
        },
        {
            let (k, b) = variant(&id(10), &|d| {
                d["artifacts"][0]["sha256"] = json!("../../etc")
            });
            (k, b, "sha256")
        },
        {
            let (k, b) = variant(&id(11), &|d| d["name"] = json!("evil\u{1b}[2J"));
            (k, b, "control")
        },
        (
            format!("team/runs/{}.json", id(12)),
            b"{\"id\": ".to_vec(),
            "not a run document",
        ),
        {
            let (k, b) = variant(&id(13), &|d| d["id"] = json!("someone-else"));
            (k, b, "holds run")
        },
        {
            // A short artifact: declared bigger than the object is.
            let f = fake_sha(1);
            let (k, b) = variant(&id(14), &|d| {
                d["artifacts"][0]["sha256"] = json!(f);
                d["artifacts"][0]["file"] = json!(format!("{f}.bundle"));
                d["artifacts"][0]["bytes"] = json!(1_000_000);
            });
            (k, b, "corrupted")
        },
        {
            // A long artifact: more bytes than declared.
            let f = fake_sha(2);
            let (k, b) = variant(&id(15), &|d| {
                d["artifacts"][0]["sha256"] = json!(f);
                d["artifacts"][0]["file"] = json!(format!("{f}.bundle"));
                d["artifacts"][0]["bytes"] = json!(10);
            });
            (k, b, "more than the 10 allowed")
        },
        {
            // An artifact the bucket does not have.
            let f = fake_sha(3);
            let (k, b) = variant(&id(16), &|d| {
                d["artifacts"][0]["sha256"] = json!(f);
                d["artifacts"][0]["file"] = json!(format!("{f}.bundle"));
            });
            (k, b, "artifact")
        },
        (
            "team/runs/has_underscore%.json".to_string(),
            variant("has_underscore%", &|_| {}).1,
            "not a run id",
        ),
        (
            format!("team/runs/{}.json", "9".repeat(300)),
            variant(&"9".repeat(300), &|_| {}).1,
            "not a run id",
        ),
        (
            "team/runs/ééé-ü.json".to_string(),
            variant("ééé-ü", &|_| {}).1,
            "not a run id",
        ),
        (
            "team/runs/.json".to_string(),
            b"{}".to_vec(),
            "not a run id",
        ),
        (
            "team/runs/nested/x.json".to_string(),
            b"{}".to_vec(),
            "not a run id",
        ),
        (
            "team/runs/not-json.txt".to_string(),
            b"x".to_vec(),
            "not a run document key",
        ),
    ];
    // Artifacts for the short and long variants: 3 bytes whose hash is not fake_sha(1), and 20.
    moto.put("shared", &format!("team/artifacts/{}", fake_sha(1)), b"abc");
    moto.put(
        "shared",
        &format!("team/artifacts/{}", fake_sha(2)),
        &[7u8; 20],
    );

    // Alias events: each wrong in one way.
    let good_event =
        json!({"alias": "production", "run_id": lr, "actor": "x", "reason": null, "at": 1});
    let event_key = |ev: &Value| -> String {
        let e: staytrack::tracking::documents::EventDoc =
            serde_json::from_value(ev.clone()).unwrap();
        format!("team/{}", e.key())
    };
    let with = |k: &str, v: Value| {
        let mut e = good_event.clone();
        e[k] = v;
        e
    };
    for (ev, why) in [
        (with("alias", json!("Prod")), "alias"),
        (with("alias", json!("../x")), "alias"),
        (with("alias", json!("a".repeat(100))), "alias"),
        (with("run_id", json!("x_%")), "run_id"),
        (with("actor", json!("")), "actor"),
        (with("actor", json!("\u{7}bell")), "control"),
        (with("reason", json!("r".repeat(5000))), "reason"),
        (with("evidence", json!("forged")), "evidence"),
        (with("evidence", json!([1, 2])), "evidence"),
    ] {
        let key = event_key(&ev);
        hostile.push((key, serde_json::to_vec(&ev).unwrap(), why));
    }
    // Well-formed events under keys their content does not give (a replay of one move under
    // many names), at negative or far-future times, and not JSON.
    hostile.push((
        "team/registry/events/0000000000001-forgedforged.json".into(),
        serde_json::to_vec(&good_event).unwrap(),
        "belongs at",
    ));
    let neg = with("at", json!(-5));
    hostile.push((
        "team/registry/events/-000000000005-aaaaaaaaaaaa.json".into(),
        serde_json::to_vec(&neg).unwrap(),
        "not a time",
    ));
    hostile.push((
        "team/registry/events/0000000000002-notjsonatall.json".into(),
        b"[1, 2".to_vec(),
        "not an alias event",
    ));
    hostile.push((
        "team/registry/events/0000000000003-withunknown1.json".into(),
        serde_json::to_vec(&with("extra", json!(1))).unwrap(),
        "not an alias event",
    ));
    hostile.push((
        "team/registry/events/0000000000004-toobigtoread.json".into(),
        vec![b' '; 100 * 1024],
        "more than the 65536 allowed",
    ));
    hostile.push((
        "team/registry/events/nested/0000000000005-abcdefabcdef.json".into(),
        b"{}".to_vec(),
        "not an alias event key",
    ));
    // A move to a run that is not in the bucket waits rather than fails.
    let waiting = with("run_id", json!("0000ffff-0000-7000-8000-000000000000"));
    let waiting_key = event_key(&waiting);
    moto.put(
        "shared",
        &waiting_key,
        &serde_json::to_vec(&waiting).unwrap(),
    );

    for (k, b, _) in &hostile {
        moto.put("shared", k, b);
    }
    // A file the bucket tries to reach through the artifacts folder.
    let outside = sandbox.path().join("escaped");
    assert!(!outside.exists());

    let (code, v, err) = sync_json(&wc, &moto, "shared", &["pull", "--json"]);
    assert_eq!(code, Some(1), "a pull that skipped objects says so: {err}");
    // The good run and its move arrived despite everything else.
    assert_eq!(v["runs"], 1, "{v}");
    assert_eq!(alias_run(&wc, "production"), Some(lr.clone()));
    let rejected: Vec<String> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    for (k, _, why) in &hostile {
        let line = rejected
            .iter()
            .find(|r| r.starts_with(&format!("s3://shared/{k}:")))
            .unwrap_or_else(|| panic!("{k} was not reported: {rejected:#?}"));
        assert!(line.contains(why), "{k}: expected '{why}' in {line}");
        assert!(err.contains(k.as_str()), "{k} not on stderr");
    }
    assert_eq!(rejected.len(), hostile.len(), "{rejected:#?}");
    assert!(
        v["waiting"].as_array().unwrap()[0]
            .as_str()
            .unwrap()
            .contains("not in the bucket yet"),
        "{v}"
    );
    // Nothing outside the workspace; inside it, only the store and the one verified bundle.
    let all = files(sandbox.path());
    assert!(all.iter().all(|f| f.starts_with("ws/")), "{all:?}");
    let artifacts = files(&wc.join("artifacts"));
    assert_eq!(artifacts, vec![format!("{}/{sha}.bundle", &sha[..2])]);
    assert_eq!(
        std::fs::read(
            wc.join("artifacts")
                .join(&sha[..2])
                .join(format!("{sha}.bundle"))
        )
        .unwrap(),
        bundle
    );
    assert_eq!(integrity(&wc), "ok");
    // The same objects are reported again, and nothing else changes.
    let (code, v, _) = sync_json(&wc, &moto, "shared", &["pull", "--json"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["rejected"].as_array().unwrap().len(), hostile.len());
    assert_eq!(v["runs"], 0);
    let runs = json(&ok(&wc, &["runs", "list", "--json"]));
    assert_eq!(runs.as_array().unwrap().len(), 1);
}

#[test]
fn a_local_file_in_the_artifact_s_place_is_checked_not_trusted() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = common::trained("lr", 2000);
    let lr = run_of(a.path(), "lr");
    sync_json(a.path(), &moto, "shared", &["push", "--json"]);
    let doc: Value =
        serde_json::from_slice(&moto.object("shared", &format!("team/runs/{lr}.json"))).unwrap();
    let sha = doc["artifacts"][0]["sha256"].as_str().unwrap().to_string();
    let b = tempfile::tempdir().unwrap();
    // Something already sits where the artifact goes: a wrong file, then a link to a device.
    let dir = b.path().join("artifacts").join(&sha[..2]);
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join(format!("{sha}.bundle"));
    std::fs::write(&target, b"stale").unwrap();
    let (code, v, err) = sync_json(b.path(), &moto, "shared", &["pull", "--json"]);
    assert_eq!((code, v["artifacts"].as_u64()), (Some(0), Some(1)), "{err}");
    let served = std::fs::read(&target).unwrap();
    assert_eq!(staytrack::bundle::sha256_hex(&served), sha);
    let c = tempfile::tempdir().unwrap();
    let dir = c.path().join("artifacts").join(&sha[..2]);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join(format!("{sha}.bundle"))).unwrap();
    let (code, v, err) = sync_json(c.path(), &moto, "shared", &["pull", "--json"]);
    // The link is replaced by the verified file (never read as the artifact).
    assert_eq!((code, v["runs"].as_u64()), (Some(0), Some(1)), "{err}");
    let meta = std::fs::symlink_metadata(dir.join(format!("{sha}.bundle"))).unwrap();
    assert!(meta.is_file());
}

/// What the proxy lies about; everything else passes through to moto unchanged.
#[derive(Clone)]
enum Lie {
    /// The body of the object whose key ends with this, one byte a second.
    Trickle(String),
    /// Every listing: truncated, with the same continuation token.
    EndlessListing,
    /// Objects answered otherwise than the bucket would, and keys the bucket does not hold in
    /// its listings.
    Objects(std::sync::Arc<Lies>),
}

#[derive(Default)]
struct Lies {
    /// (object key, how its GET is answered)
    twists: Vec<(String, Twist)>,
    /// (listing prefix, URL-encoded key): keys added to every listing under that prefix.
    listed: Vec<(String, String)>,
}

/// How the proxy answers a GET of one object.
#[derive(Clone)]
enum Twist {
    /// An S3 error: this status and code, never reaching the bucket.
    Fail(u16, &'static str),
    /// These bytes as the object, with a length that matches them.
    Body(Vec<u8>),
    /// The object with one byte flipped: the same length, another digest.
    FlipByte,
    /// The object's length declared, this many of its bytes sent, then the connection closed.
    Cut(usize),
    /// This length declared, a few bytes sent, then the connection closed.
    Declare(u64),
}

/// A lying S3 endpoint on loopback: one request per connection (answered with
/// `Connection: close`), forwarded to `upstream` unless the lie says otherwise.
struct Proxy {
    url: String,
}

impl Proxy {
    fn start(upstream: &str, lie: Lie) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (up, lie) = (upstream.clone(), lie.clone());
                std::thread::spawn(move || {
                    let _ = proxy_one(conn, &up, &lie);
                });
            }
        });
        Proxy { url }
    }
}

/// An HTTP message's start line and headers, `Connection: close` in place of any connection
/// header, and its body's length (None: until the connection ends).
fn read_head(r: &mut impl std::io::BufRead) -> std::io::Result<(String, Option<usize>)> {
    let mut lines = Vec::new();
    let mut length = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name == "content-length" {
            length = line
                .split_once(':')
                .and_then(|(_, v)| v.trim().parse().ok());
        }
        if name != "connection" && name != "keep-alive" {
            lines.push(line);
        }
    }
    lines.push("Connection: close".into());
    Ok((lines.join("\r\n") + "\r\n\r\n", length))
}

fn proxy_one(client: std::net::TcpStream, upstream: &str, lie: &Lie) -> std::io::Result<()> {
    use std::io::{BufReader, Read, Write};
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let (head, length) = read_head(&mut from_client)?;
    let mut body = vec![0; length.unwrap_or(0)];
    from_client.read_exact(&mut body)?;
    let target = head.split(' ').nth(1).unwrap_or_default().to_string();
    let path = target.split('?').next().unwrap_or_default().to_string();
    if let Lie::Objects(lies) = lie {
        return lie_about_objects(&mut to_client, &head, &body, &target, &path, upstream, lies);
    }
    if matches!(lie, Lie::EndlessListing) && target.contains("list-type=2") {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
            <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <Name>shared</Name><Prefix>team/</Prefix><KeyCount>0</KeyCount>\
            <MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\
            <ContinuationToken>again</ContinuationToken>\
            <NextContinuationToken>again</NextContinuationToken></ListBucketResult>";
        write!(
            to_client,
            "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        return to_client.flush();
    }
    let up = std::net::TcpStream::connect(upstream)?;
    let mut to_up = up.try_clone()?;
    to_up.write_all(head.as_bytes())?;
    to_up.write_all(&body)?;
    let mut from_up = BufReader::new(up);
    let (answer, length) = read_head(&mut from_up)?;
    to_client.write_all(answer.as_bytes())?;
    let ok = answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200");
    let mut rest = Vec::new();
    match length {
        Some(n) if !head.starts_with("HEAD ") => {
            rest.resize(n, 0);
            from_up.read_exact(&mut rest)?;
        }
        Some(_) => {}
        None => {
            from_up.read_to_end(&mut rest)?;
        }
    }
    match lie {
        Lie::Trickle(suffix) if ok && path.ends_with(suffix.as_str()) => {
            for b in rest {
                to_client.write_all(&[b])?;
                to_client.flush()?;
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        _ => to_client.write_all(&rest)?,
    }
    to_client.flush()
}

/// Sends `head` and `body` to `upstream` and reads its whole answer: its head (with
/// `Connection: close`) and body.
fn forward(upstream: &str, head: &str, body: &[u8]) -> std::io::Result<(String, Vec<u8>)> {
    use std::io::{BufReader, Read, Write};
    let up = std::net::TcpStream::connect(upstream)?;
    let mut to_up = up.try_clone()?;
    to_up.write_all(head.as_bytes())?;
    to_up.write_all(body)?;
    let mut from_up = BufReader::new(up);
    let (answer, length) = read_head(&mut from_up)?;
    let mut rest = Vec::new();
    match length {
        Some(n) if !head.starts_with("HEAD ") => {
            rest.resize(n, 0);
            from_up.read_exact(&mut rest)?;
        }
        Some(_) => {}
        None => {
            from_up.read_to_end(&mut rest)?;
        }
    }
    Ok((answer, rest))
}

/// `head` with its `Content-Length` set to `n`.
fn with_length(head: &str, n: u64) -> String {
    let lines: Vec<String> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .map(str::to_string)
        .chain([format!("Content-Length: {n}")])
        .collect();
    lines.join("\r\n") + "\r\n\r\n"
}

/// A listing's `prefix` parameter, decoded.
fn listing_prefix(target: &str) -> String {
    let q = target.split_once('?').map_or("", |(_, q)| q);
    decoded(
        q.split('&')
            .find_map(|kv| kv.strip_prefix("prefix="))
            .unwrap_or_default(),
    )
}

/// `%XX` escapes decoded.
fn decoded(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&raw[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lie_about_objects(
    to_client: &mut std::net::TcpStream,
    head: &str,
    body: &[u8],
    target: &str,
    path: &str,
    upstream: &str,
    lies: &Lies,
) -> std::io::Result<()> {
    use std::io::Write;
    if target.contains("list-type=2") {
        let (answer, xml) = forward(upstream, head, body)?;
        let prefix = listing_prefix(target);
        let mut xml = String::from_utf8_lossy(&xml).into_owned();
        let extra: String = lies
            .listed
            .iter()
            .filter(|(p, _)| *p == prefix)
            .map(|(_, k)| format!("<Contents><Key>{k}</Key><Size>1</Size></Contents>"))
            .collect();
        if let Some(at) = xml.rfind("</ListBucketResult>") {
            xml.insert_str(at, &extra);
        }
        to_client.write_all(with_length(&answer, xml.len() as u64).as_bytes())?;
        to_client.write_all(xml.as_bytes())?;
        return to_client.flush();
    }
    let path = decoded(path);
    let twist = head
        .starts_with("GET ")
        .then(|| {
            lies.twists
                .iter()
                .find(|(k, _)| path.ends_with(&format!("/{k}")))
        })
        .flatten();
    let Some((_, twist)) = twist else {
        let (answer, rest) = forward(upstream, head, body)?;
        to_client.write_all(answer.as_bytes())?;
        to_client.write_all(&rest)?;
        return to_client.flush();
    };
    let ok_head = |n: u64| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {n}\r\n\
             Connection: close\r\n\r\n"
        )
    };
    match twist {
        Twist::Fail(status, code) => {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
                 <Message>the proxy says {code}</Message></Error>"
            );
            write!(
                to_client,
                "HTTP/1.1 {status} Lie\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{xml}",
                xml.len()
            )?;
        }
        Twist::Body(b) => {
            to_client.write_all(ok_head(b.len() as u64).as_bytes())?;
            to_client.write_all(b)?;
        }
        Twist::FlipByte => {
            let (_, mut rest) = forward(upstream, head, body)?;
            let mid = rest.len() / 2;
            rest[mid] ^= 0x01;
            to_client.write_all(ok_head(rest.len() as u64).as_bytes())?;
            to_client.write_all(&rest)?;
        }
        Twist::Cut(n) => {
            let (_, rest) = forward(upstream, head, body)?;
            to_client.write_all(ok_head(rest.len() as u64).as_bytes())?;
            to_client.write_all(&rest[..(*n).min(rest.len())])?;
        }
        Twist::Declare(n) => {
            to_client.write_all(ok_head(*n).as_bytes())?;
            to_client.write_all(b"{\"id\":")?;
        }
    }
    to_client.flush()
}

/// `staytrack ARGS` on `ws` with `env`, killed (and the test failed) if it runs past `limit`;
/// returns its exit code, stdout, stderr and how long it took.
fn bounded(
    ws: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    limit: std::time::Duration,
) -> (Option<i32>, String, String, std::time::Duration) {
    let logs = tempfile::tempdir().unwrap();
    let (out, err) = (logs.path().join("out"), logs.path().join("err"));
    let mut cmd = common::command(ws, "sync");
    cmd.args(args)
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let t = std::time::Instant::now();
    let mut child = cmd.spawn().unwrap();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{args:?} still running after {limit:?}: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    (
        status.code(),
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&err).unwrap(),
        t.elapsed(),
    )
}

#[test]
fn a_body_that_trickles_is_given_up_and_named_and_the_rest_is_pulled() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = common::trained("lr,tree", 2000);
    let wa = a.path();
    let (lr, tree) = (run_of(wa, "lr"), run_of(wa, "tree"));
    let (_, pushed, err) = sync_json(wa, &moto, "shared", &["push", "--json"]);
    assert_eq!(pushed["runs"], 2, "{err}");
    let doc: Value =
        serde_json::from_slice(&moto.object("shared", &format!("team/runs/{tree}.json"))).unwrap();
    let sha = doc["artifacts"][0]["sha256"].as_str().unwrap().to_string();
    let proxy = Proxy::start(&moto.url, Lie::Trickle(format!("team/artifacts/{sha}")));

    // A byte a second never stalls; the rate rule (here 2048 bytes in any 3 s) ends it.
    let b = tempfile::tempdir().unwrap();
    let pull = [
        "sync",
        "pull",
        "--json",
        "--bucket",
        "shared",
        "--prefix",
        "team",
        "--endpoint",
        &proxy.url,
    ];
    let (code, out, err, took) = bounded(
        b.path(),
        &pull,
        &[("STAYTRACK_SYNC_MIN_RATE", "2048/3")],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    let artifact = format!("s3://shared/team/artifacts/{sha}");
    assert!(
        err.contains(&artifact) && err.contains("fell below 2048 bytes in 3 s"),
        "{err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let rejected = v["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{v}");
    let why = rejected[0].as_str().unwrap();
    assert!(
        why.starts_with(&format!("s3://shared/team/runs/{tree}.json: ")),
        "{why}"
    );
    assert!(why.contains(&artifact), "{why}");
    // The other run came whole; nothing half-written is left.
    assert_eq!(v["runs"], 1, "{v}");
    let runs = json(&ok(b.path(), &["runs", "list", "--json"]));
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [lr.as_str()]);
    let left = files(&b.path().join("artifacts"));
    assert!(left.iter().all(|f| !f.contains(".tmp-")), "{left:?}");
    assert_eq!(left.len(), 1, "{left:?}");

    // An unreadable rate is refused, never taken as the default.
    let (code, _, err, _) = bounded(
        b.path(),
        &pull,
        &[("STAYTRACK_SYNC_MIN_RATE", "fast")],
        std::time::Duration::from_secs(30),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("STAYTRACK_SYNC_MIN_RATE"), "{err}");

    // Straight from the bucket, the next pull takes what was given up.
    let (code, v, err) = sync_json(b.path(), &moto, "shared", &["pull", "--json"]);
    assert_eq!((code, v["runs"].as_u64()), (Some(0), Some(1)), "{err}");
    assert_eq!(integrity(b.path()), "ok");
}

#[test]
fn a_listing_that_repeats_its_token_ends_naming_the_bucket_and_prefix() {
    let moto = Moto::start();
    moto.bucket("shared");
    let proxy = Proxy::start(&moto.url, Lie::EndlessListing);
    let b = tempfile::tempdir().unwrap();
    for cmd in ["pull", "status"] {
        let (code, out, err, took) = bounded(
            b.path(),
            &[
                "sync",
                cmd,
                "--bucket",
                "shared",
                "--prefix",
                "team",
                "--endpoint",
                &proxy.url,
            ],
            &[],
            std::time::Duration::from_secs(60),
        );
        assert_eq!(code, Some(1), "{cmd}: {out}{err}");
        assert!(took < std::time::Duration::from_secs(20), "{cmd}: {took:?}");
        assert!(
            err.contains("s3://shared/team/runs/") && err.contains("continuation token"),
            "{cmd}: {err}"
        );
    }
}

#[test]
fn temporary_files_of_ended_processes_go_on_the_next_command_and_running_ones_stay() {
    let ws = tempfile::tempdir().unwrap();
    let w = ws.path();
    let art = w.join("artifacts").join("ab");
    let pred = w.join("predictions");
    for d in [&art, &pred, &w.join("data")] {
        std::fs::create_dir_all(d).unwrap();
    }
    // An ended process's id, and a running one's (a pull still downloading, say).
    let mut ended = std::process::Command::new("true").spawn().unwrap();
    ended.wait().unwrap();
    let dead = ended.id();
    let mut running = std::process::Command::new("sleep")
        .arg("120")
        .spawn()
        .unwrap();
    let live = running.id();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let make = |p: std::path::PathBuf, old: bool| {
        std::fs::write(&p, b"partial").unwrap();
        if old {
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
        }
        p
    };
    let gone = [
        make(art.join(format!(".ab00.bundle.tmp-{dead}-0")), true),
        make(pred.join(format!(".test_data.v1.csv.tmp-{dead}-3")), true),
    ];
    let kept = [
        // Its process still runs.
        make(art.join(format!(".ab01.bundle.tmp-{live}-0")), true),
        // Written a moment ago: its process may run where /proc cannot see.
        make(pred.join(format!(".test_data.v2.csv.tmp-{dead}-0")), false),
        // Not a name staytrack gives its temporary files, or not in those folders.
        make(art.join(format!("ab02.bundle.tmp-{dead}-0")), true),
        make(art.join(format!(".ab03.bundle.tmp-{dead}")), true),
        make(pred.join(format!(".x.tmp-{dead}-0.csv")), true),
        make(
            w.join("artifacts").join(format!(".ab04.tmp-{dead}-0")),
            true,
        ),
        make(
            w.join("data").join(format!(".train_data.csv.tmp-{dead}-0")),
            true,
        ),
    ];
    // A link with the right name is not a file of staytrack's: neither it nor its target goes.
    let target = make(w.join("target.csv"), true);
    let link = pred.join(format!(".link.csv.tmp-{dead}-0"));
    std::os::unix::fs::symlink(&target, &link).unwrap();

    ok(w, &["runs", "list", "--json"]);
    for p in &gone {
        assert!(!p.exists(), "{} is still there", p.display());
    }
    for p in kept.iter().chain([&target, &link]) {
        assert!(
            std::fs::symlink_metadata(p).is_ok(),
            "{} was removed",
            p.display()
        );
    }
    // Once its process has ended, the next command takes the running pull's file too.
    running.kill().unwrap();
    running.wait().unwrap();
    ok(w, &["runs", "list", "--json"]);
    assert!(!kept[0].exists());
    assert!(kept[1..].iter().all(|p| p.exists()));
}

/// One lie of the proxy's and the object it makes a pull refuse.
struct Told {
    what: &'static str,
    /// Objects put in the bucket for it (the bucket holds them as they should be).
    put: Vec<(String, Vec<u8>)>,
    /// The object whose GET the proxy answers otherwise.
    twist: Option<(String, Twist)>,
    /// The key the pull must refuse, and the words of why.
    refused: String,
    why: &'static str,
}

#[test]
fn a_lying_bucket_s_objects_are_each_skipped_and_named_and_the_rest_is_pulled() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = common::trained("lr", 2000);
    let wa = a.path();
    let lr = run_of(wa, "lr");
    promote(wa, &lr, "production", "alice", "good");
    let (_, pushed, err) = sync_json(wa, &moto, "shared", &["push", "--json"]);
    assert_eq!(
        (pushed["runs"].as_u64(), pushed["events"].as_u64()),
        (Some(1), Some(1)),
        "{err}"
    );
    let doc: Value =
        serde_json::from_slice(&moto.object("shared", &format!("team/runs/{lr}.json"))).unwrap();
    let sha = doc["artifacts"][0]["sha256"].as_str().unwrap().to_string();
    let bundle = moto.object("shared", &format!("team/artifacts/{sha}"));

    let id = |n: u32| format!("0000bbbb-0000-7000-8000-{n:012}");
    let run_key = |n: u32| format!("team/runs/{}.json", id(n));
    // A copy of the good run under another id, with the artifact given (sha, bytes).
    let run_doc = |n: u32, art: Option<(&str, usize)>| -> Vec<u8> {
        let mut d = doc.clone();
        d["id"] = json!(id(n));
        if let Some((s, len)) = art {
            d["artifacts"][0]["sha256"] = json!(s);
            d["artifacts"][0]["file"] = json!(format!("{s}.bundle"));
            d["artifacts"][0]["bytes"] = json!(len);
        }
        serde_json::to_vec(&d).unwrap()
    };
    // An artifact of its own (the bundle and `n` more line breaks), put where a run finds it.
    let own_artifact = |n: usize| -> (String, Vec<u8>) {
        let mut b = bundle.clone();
        b.extend(std::iter::repeat_n(b'\n', n));
        (staytrack::bundle::sha256_hex(&b), b)
    };
    // A run whose own artifact the proxy lies about.
    let artifact_case = |what: &'static str, n: u32, twist: Twist, why: &'static str| {
        let (s, b) = own_artifact(n as usize);
        Told {
            what,
            put: vec![
                (run_key(n), run_doc(n, Some((&s, b.len())))),
                (format!("team/artifacts/{s}"), b.clone()),
            ],
            twist: Some((format!("team/artifacts/{s}"), twist)),
            refused: run_key(n),
            why,
        }
    };
    // A run document the proxy lies about (its artifact is the good one).
    let doc_case = |what: &'static str, n: u32, twist: Twist, why: &'static str| Told {
        what,
        put: vec![(run_key(n), run_doc(n, None))],
        twist: Some((run_key(n), twist)),
        refused: run_key(n),
        why,
    };
    // An alias move the proxy lies about.
    let event = |alias: &str, at: i64| -> (String, Vec<u8>) {
        let ev = json!({"alias": alias, "run_id": lr, "actor": "x", "reason": null, "at": at});
        let e: staytrack::tracking::documents::EventDoc =
            serde_json::from_value(ev.clone()).unwrap();
        (
            format!("team/{}", e.key()),
            serde_json::to_vec(&ev).unwrap(),
        )
    };
    let event_case = |what: &'static str, alias: &str, twist: Twist, why: &'static str| {
        let (k, b) = event(alias, 7);
        Told {
            what,
            put: vec![(k.clone(), b)],
            twist: Some((k.clone(), twist)),
            refused: k,
            why,
        }
    };
    let segment = |replica: &str| {
        format!("team/captures/predictions/model=av-healthcare-analytics-ii/dt=2024-01-01/hour=00/{replica}-000001.parquet")
    };
    let (_, other_event) = event("other", 9);
    let told = vec![
        doc_case(
            "a run document the bucket fails (500)",
            1,
            Twist::Fail(500, "InternalError"),
            "S3 error InternalError",
        ),
        doc_case(
            "a run document the bucket refuses (403)",
            2,
            Twist::Fail(403, "AccessDenied"),
            "access denied",
        ),
        doc_case(
            "a run document of malformed JSON",
            3,
            Twist::Body(b"{\"id\": [".to_vec()),
            "not a run document",
        ),
        doc_case(
            "a run document of another run",
            4,
            Twist::Body(run_doc(1, None)),
            "holds run",
        ),
        doc_case(
            "a run document that is not UTF-8",
            5,
            Twist::Body(b"\xff\xfe{}".to_vec()),
            "not a run document",
        ),
        doc_case(
            "a run document declared 100 MB",
            6,
            Twist::Declare(100 << 20),
            "declares 104857600 bytes, more than the 67108864 allowed",
        ),
        doc_case(
            "a run document cut short",
            7,
            Twist::Cut(10),
            "network: reading the object failed",
        ),
        artifact_case(
            "an artifact the bucket fails (500)",
            11,
            Twist::Fail(500, "InternalError"),
            "S3 error InternalError",
        ),
        artifact_case(
            "an artifact with a byte flipped",
            12,
            Twist::FlipByte,
            "corrupted",
        ),
        artifact_case(
            "an artifact cut short",
            13,
            Twist::Cut(100),
            "network: reading the object failed",
        ),
        artifact_case(
            "an artifact longer than its document says",
            14,
            Twist::Body([&bundle[..], &[b' '; 64]].concat()),
            "more than the",
        ),
        artifact_case(
            "an artifact shorter than its document says",
            15,
            Twist::Body(bundle[..bundle.len() / 2].to_vec()),
            "corrupted",
        ),
        artifact_case(
            "an artifact of 0 bytes",
            16,
            Twist::Body(Vec::new()),
            "corrupted",
        ),
        artifact_case(
            "an artifact declared 10 GB",
            17,
            Twist::Declare(10 << 30),
            "more than the",
        ),
        event_case(
            "an alias move the bucket fails (503)",
            "staging",
            Twist::Fail(503, "SlowDown"),
            "SlowDown",
        ),
        event_case(
            "an alias move of malformed JSON",
            "canary",
            Twist::Body(b"{".to_vec()),
            "not an alias event",
        ),
        event_case(
            "an alias move of another move",
            "shadow",
            Twist::Body(other_event.clone()),
            "belongs at",
        ),
        event_case(
            "an alias move declared 1 MB",
            "blue",
            Twist::Declare(1 << 20),
            "more than the 65536 allowed",
        ),
        Told {
            what: "a capture segment of junk",
            put: vec![(segment("r1"), b"PAR1 not parquet at all".to_vec())],
            twist: None,
            refused: segment("r1"),
            why: "not a readable Parquet file",
        },
        Told {
            what: "a capture segment the bucket fails (500)",
            put: vec![(segment("r2"), b"PAR1".to_vec())],
            twist: Some((segment("r2"), Twist::Fail(500, "InternalError"))),
            refused: segment("r2"),
            why: "S3 error InternalError",
        },
    ];
    // Keys only the listings hold: (listing prefix, key as listed, key as read, why).
    let listed: Vec<(&str, &str, &str, &str)> = vec![
        (
            "team/runs/",
            "team/runs/..%2F..%2Fescaped.json",
            "team/runs/../../escaped.json",
            "not a run id",
        ),
        (
            "team/runs/",
            "team/runs/..%5C..%5Cescaped.json",
            "team/runs/..\\..\\escaped.json",
            "not a run id",
        ),
        (
            "team/runs/",
            "%2Fetc%2Fpasswd",
            "/etc/passwd",
            "not a run document key",
        ),
        (
            "team/runs/",
            "team/runs/a%00b.json",
            "team/runs/a\0b.json",
            "not a run id",
        ),
        (
            "team/runs/",
            "team/runs/a%0Ab.json",
            "team/runs/a\nb.json",
            "not a run id",
        ),
        (
            "team/registry/events/",
            "team/registry/events/..%2F..%2Fx.json",
            "team/registry/events/../../x.json",
            "not an alias event key",
        ),
        (
            "team/registry/events/",
            "%2Fabs%2Fkey.json",
            "/abs/key.json",
            "not an alias event key",
        ),
        (
            "team/captures/predictions/",
            "team/captures/predictions/..%2F..%2F..%2Fetc%2Fpasswd",
            "team/captures/predictions/../../../etc/passwd",
            "not a capture segment key",
        ),
        (
            "team/captures/outcomes/",
            "team/captures/outcomes/dt=2024-13-45/r-1.parquet",
            "team/captures/outcomes/dt=2024-13-45/r-1.parquet",
            "the date part",
        ),
        (
            "team/captures/predictions/",
            "team/captures/predictions/model=x/dt=2024-01-01/hour=24/r-1.parquet",
            "team/captures/predictions/model=x/dt=2024-01-01/hour=24/r-1.parquet",
            "the hour part",
        ),
        (
            "team/captures/outcomes/",
            "team/captures/outcomes/dt=2024-01-01/r%5Cx-1.parquet",
            "team/captures/outcomes/dt=2024-01-01/r\\x-1.parquet",
            "the replica",
        ),
    ];
    let long_key = format!(
        "team/captures/outcomes/dt=2024-01-01/{}-1.parquet",
        "r".repeat(600)
    );
    // A listing of 20,000 keys no staytrack writes.
    let bulk: Vec<String> = (0..20_000)
        .map(|i| format!("team/runs/bulk_{i}.json"))
        .collect();
    let mut lies = Lies::default();
    for t in &told {
        for (k, b) in &t.put {
            moto.put("shared", k, b);
        }
        if let Some(tw) = &t.twist {
            lies.twists.push(tw.clone());
        }
    }
    for (prefix, key, _, _) in &listed {
        lies.listed.push((prefix.to_string(), key.to_string()));
    }
    lies.listed
        .push(("team/captures/outcomes/".into(), long_key.clone()));
    for k in &bulk {
        lies.listed.push(("team/runs/".into(), k.clone()));
    }
    let proxy = Proxy::start(&moto.url, Lie::Objects(std::sync::Arc::new(lies)));

    let sandbox = tempfile::tempdir().unwrap();
    let wc = sandbox.path().join("ws");
    std::fs::create_dir(&wc).unwrap();
    let pull = [
        "sync",
        "pull",
        "--json",
        "--bucket",
        "shared",
        "--prefix",
        "team",
        "--endpoint",
        &proxy.url,
    ];
    let (code, out, err, took) = bounded(&wc, &pull, &[], std::time::Duration::from_secs(120));
    assert_eq!(
        code,
        Some(1),
        "a pull that skipped objects says so: {:.2000}",
        err
    );
    eprintln!(
        "a pull past {} lies took {took:?}",
        told.len() + listed.len() + 1 + bulk.len()
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let rejected: Vec<&str> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    // Named as it is, or written out where it holds what a terminal should not see.
    let find = |key: &str| {
        let (url, written) = (
            format!("s3://shared/{key}:"),
            format!("s3://shared/{}:", key.escape_debug()),
        );
        rejected
            .iter()
            .find(|r| r.starts_with(&url) || r.starts_with(&written))
            .copied()
    };
    for t in &told {
        let line =
            find(&t.refused).unwrap_or_else(|| panic!("{}: {} was not refused", t.what, t.refused));
        assert!(
            line.contains(t.why),
            "{}: '{}' is not in {line}",
            t.what,
            t.why
        );
        assert!(err.contains(&t.refused), "{}: not on stderr", t.what);
    }
    for (_, _, key, why) in &listed {
        let line = find(key).unwrap_or_else(|| panic!("{key:?} was not refused"));
        assert!(line.contains(why), "{key:?}: '{why}' is not in {line}");
    }
    let line = find(&long_key).expect("a 600-byte key was not refused");
    assert!(line.contains("longer than 512 bytes"), "{line:.300}");
    for k in &bulk {
        assert!(find(k).is_some_and(|l| l.contains("not a run id")), "{k}");
    }
    assert!(
        !rejected.iter().any(|r| r.chars().any(char::is_control)),
        "a key reached the report as a control character"
    );
    // The counts add up: every lie once, nothing else.
    assert_eq!(rejected.len(), told.len() + listed.len() + 1 + bulk.len());
    // The good run and its move arrived; nothing a lie touched did.
    assert_eq!(
        (v["runs"].as_u64(), v["events"].as_u64()),
        (Some(1), Some(1)),
        "{:.2000}",
        out
    );
    assert_eq!(alias_run(&wc, "production"), Some(lr.clone()));
    let runs = json(&ok(&wc, &["runs", "list", "--json"]));
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    let all = files(sandbox.path());
    assert!(all.iter().all(|f| f.starts_with("ws/")), "{all:?}");
    let artifacts = files(&wc.join("artifacts"));
    assert_eq!(artifacts, vec![format!("{}/{sha}.bundle", &sha[..2])]);
    assert_eq!(integrity(&wc), "ok");
    // Straight from the bucket, every run the proxy lied about comes.
    let (code, v, err) = sync_json(&wc, &moto, "shared", &["pull", "--json"]);
    assert_eq!(code, Some(1), "{err:.2000}");
    let came = v["runs"].as_u64().unwrap();
    assert_eq!(came, 7 + 7, "{v:.2000}");
}

#[test]
fn a_move_with_a_line_break_or_an_escape_in_its_reason_or_actor_reaches_every_pull() {
    let moto = Moto::start();
    moto.bucket("shared");
    let a = common::trained("lr", 2000);
    let wa = a.path();
    let lr = run_of(wa, "lr");
    let reason = "first line\nsecond line \u{1b}[2J\u{7}";
    promote(wa, &lr, "production", "ev\u{1b}il\nuser", reason);
    let (_, pushed, err) = sync_json(wa, &moto, "shared", &["push", "--json"]);
    assert_eq!(pushed["events"], 1, "{err}");
    let b = tempfile::tempdir().unwrap();
    let (code, v, err) = sync_json(b.path(), &moto, "shared", &["pull", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(v["rejected"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(v["events"], 1, "{v}");
    assert_eq!(alias_run(b.path(), "production"), Some(lr));
    // It arrives written out, never as the control characters themselves.
    let ev = &registry(b.path())["events"][0];
    let (r, actor) = (
        ev["reason"].as_str().unwrap(),
        ev["actor"].as_str().unwrap(),
    );
    assert_eq!(r, "first line\\nsecond line \\u{1b}[2J\\u{7}");
    assert!(actor.contains("ev\\u{1b}il\\nuser"), "{actor}");
    assert!(!r.chars().chain(actor.chars()).any(char::is_control));
}
