//! Hostile input through the command line and the anonymous routes: wide values in every table,
//! free text past its bound from every way in, and what a caller without the token may see.
//! Every command ends with a status (never 101, a panic) and says what it refused.

mod common;

use common::server::Server;
use common::{ok, run, run_of, trained};
use serde_json::Value;

const TOKEN: &str = "0123456789abcdef0123456789abcdef-test";

/// No command may panic: a panic exits 101.
fn no_panic(o: &std::process::Output, what: &str) {
    assert_ne!(
        o.status.code(),
        Some(101),
        "{what} panicked: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn call(addr: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (code, answer) = common::exchange(addr, &head, body);
    (code, serde_json::from_slice(&answer).unwrap_or(Value::Null))
}

#[test]
fn a_reason_past_its_bound_is_refused_from_every_way_in_and_tables_stay_bounded() {
    let dir = trained("lr,tree", 1500);
    let ws = dir.path();
    let (lr, tree) = (run_of(ws, "lr"), run_of(ws, "tree"));
    // One character past the bound: refused, naming it, nothing moved.
    let long = "r".repeat(1001);
    let o = run(ws, &["promote", &lr, "--reason", &long]);
    no_panic(&o, "promote");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the reason is 1001 characters long; at most 1000 are kept"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&ok(ws, &["registry"]).stdout).contains("lr"));
    // At the bound: kept whole, and `registry` cuts it in its table.
    let at_bound = "é".repeat(1000);
    ok(ws, &["promote", &lr, "--reason", &at_bound]);
    let o = run(ws, &["registry"]);
    no_panic(&o, "registry");
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains('…'), "{text}");
    assert!(
        text.lines().all(|l| l.chars().count() < 1000),
        "a table line passed its bound"
    );
    let json = common::json(&ok(ws, &["registry", "--json"]));
    assert!(
        json.to_string().contains(&at_bound),
        "the reason is kept whole"
    );

    // The admin route takes the same bound: 5 MB of reason is a 422, not a stored move.
    let srv = Server::start(ws, Some(TOKEN), &[]);
    let body = serde_json::json!({"run_id": tree, "reason": "x".repeat(5_000_000)}).to_string();
    let (code, v) = call(
        &srv.addr,
        "POST",
        "/v1/models/promote",
        Some(TOKEN),
        body.as_bytes(),
    );
    assert_eq!(code, 422, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("at most 1000 are kept"),
        "{v}"
    );

    // Anonymous callers see no paths and no free text; the token shows them.
    let (code, anon) = call(&srv.addr, "GET", "/v1/models", None, b"");
    assert_eq!(code, 200);
    let text = anon.to_string();
    assert!(!text.contains(&ws.display().to_string()), "{text}");
    assert!(!text.contains("é"), "a reason reached an anonymous caller");
    assert!(anon["events"][0].get("actor").is_none());
    assert!(anon["aliases"][0].get("path").is_none());
    assert_eq!(anon["aliases"][0]["version"], 1);
    let (_, admin) = call(&srv.addr, "GET", "/v1/models", Some(TOKEN), b"");
    assert_eq!(
        admin["events"][0]["reason"].as_str(),
        Some(at_bound.as_str())
    );
    assert!(srv.terminate().success());
}

#[test]
fn a_value_wider_than_any_formatter_width_never_panics_a_table() {
    let dir = trained("lr", 1200);
    let ws = dir.path();
    // A CSV whose first data row holds a 70,000-character category.
    let csv = ws.join("data/test_data.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = header.iter().position(|h| *h == "Department").unwrap();
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    cells[col] = "w".repeat(70_000);
    lines[1] = cells.join(",");
    let wide = ws.join("wide.csv");
    std::fs::write(&wide, lines.join("\n") + "\n").unwrap();
    // It panicked "Formatting argument out of range" after printing "valid".
    {
        let args = ["data", "check", wide.to_str().unwrap()];
        let o = run(ws, &args);
        no_panic(&o, &args.join(" "));
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains('…'),
            "{}: nothing was cut:\n{out}",
            args.join(" ")
        );
        assert!(
            out.lines().all(|l| l.chars().count() < 2000),
            "{}: a line of {} characters",
            args.join(" "),
            out.lines().map(|l| l.chars().count()).max().unwrap_or(0)
        );
    }
}

#[test]
fn a_broken_bundle_is_never_promoted_to_any_alias() {
    let dir = trained("lr", 1200);
    let ws = dir.path();
    let lr = run_of(ws, "lr");
    // Served before its file went bad.
    ok(ws, &["promote", &lr]);
    // Flip a byte of every bundle in the workspace.
    let mut broken = 0;
    for d in std::fs::read_dir(ws.join("artifacts")).unwrap().flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "bundle") {
                let mut b = std::fs::read(&p).unwrap();
                let last = b.len() - 2;
                b[last] ^= 0x20;
                std::fs::write(&p, b).unwrap();
                broken += 1;
            }
        }
    }
    assert!(broken > 0);
    // An alias no server follows is checked as the production one is.
    for alias in ["staging", "production"] {
        let o = run(ws, &["promote", &lr, "--alias", alias]);
        no_panic(&o, "promote");
        assert_eq!(o.status.code(), Some(1), "{alias}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("the alias was not moved"), "{err}");
    }
    let reg = common::json(&ok(ws, &["registry", "--json"]));
    assert!(
        !reg.to_string().contains("staging"),
        "an alias moved to a broken bundle: {reg}"
    );
    // A server that cannot load it says which version and what is wrong, not where the file is.
    let srv = Server::start(ws, None, &[]);
    let (code, v) = call(&srv.addr, "GET", "/ready", None, b"");
    assert_eq!(code, 503, "{v}");
    let err = v["error"].as_str().unwrap();
    assert!(err.contains("version 1") && err.contains("digest"), "{err}");
    assert!(!err.contains(&ws.display().to_string()), "{err}");
    assert!(srv.terminate().success());
}

#[test]
fn feedback_accounts_for_every_row_and_stores_no_conflict() {
    let dir = trained("lr", 1200);
    let ws = dir.path();
    let file = ws.join("outcomes.csv");
    std::fs::write(
        &file,
        "case_id,Stay\n\
         1,31-40\n\
         2,0-10\n\
         1,31-40\n\
         3,0-10\n\
         3,41-50\n\
         ,21-30\n\
         4,true\n\
         5,More than 100 Days\n",
    )
    .unwrap();
    let o = run(ws, &["feedback", file.to_str().unwrap(), "--json"]);
    no_panic(&o, "feedback");
    assert_eq!(o.status.code(), Some(1), "conflicts and skips exit 1");
    let s = common::json(&o);
    assert_eq!(s["rows"], 8);
    // 1, 2 and 5 are new; 1's second row repeats it; 3's two rows disagree; two rows skipped.
    assert_eq!(
        (s["new"].as_u64(), s["repeated"].as_u64()),
        (Some(3), Some(1))
    );
    let conflicting: Vec<u64> = s["conflicting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_u64().unwrap())
        .collect();
    assert_eq!(conflicting, [4, 5]);
    assert!(s["conflicting"][0][1]
        .as_str()
        .unwrap()
        .contains("'0-10' in row 4, '41-50' in row 5"));
    assert_eq!(s["rejected"].as_array().unwrap().len(), 2);
    let sum = ["new", "unchanged", "changed", "repeated"]
        .iter()
        .map(|k| s[*k].as_u64().unwrap())
        .sum::<u64>()
        + 2
        + 2;
    assert_eq!(sum, 8, "the counts add up to the rows read: {s}");
    // Loading it again: the same three are unchanged, nothing conflicting was stored meanwhile.
    let s = common::json(&run(ws, &["feedback", file.to_str().unwrap(), "--json"]));
    assert_eq!(
        (s["new"].as_u64(), s["unchanged"].as_u64()),
        (Some(0), Some(3))
    );

    // Over HTTP, a JSON boolean is never a label.
    let srv = Server::start(ws, Some(TOKEN), &[]);
    let body = serde_json::json!([
        {"case_id": 9, "Stay": true},
        {"case_id": 10, "Stay": "0-10"},
    ])
    .to_string();
    let (code, v) = call(
        &srv.addr,
        "POST",
        "/v1/feedback",
        Some(TOKEN),
        body.as_bytes(),
    );
    assert!(code == 200 || code == 422, "{code} {v}");
    let v = if v.get("rows").is_some() {
        v
    } else {
        v["summary"].clone()
    };
    assert_eq!(v["rows"], 2, "{v}");
    assert_eq!(v["new"], 1, "{v}");
    assert!(v["rejected"][0][1]
        .as_str()
        .unwrap()
        .contains("JSON boolean"));
    assert!(srv.terminate().success());
}
