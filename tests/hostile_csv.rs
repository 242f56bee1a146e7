//! Hostile CSV: one reader and one set of rules for every way a table comes in (`data check`,
//! `score`, `feedback`, and `/invocations` as `text/csv` and `dataframe_split`). A column name
//! twice is refused naming both positions; quoted line breaks are read; blank lines are skipped;
//! `\r\n`, a lone `\r` and a byte-order mark read as `\n` does.

mod common;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use common::server::Server;
use common::{json, ok, run};
use serde_json::{json, Value};

/// A workspace with logistic regression on production, built once and copied.
fn template() -> &'static Path {
    static T: OnceLock<tempfile::TempDir> = OnceLock::new();
    T.get_or_init(|| {
        let dir = common::trained("lr", 2000);
        ok(dir.path(), &["promote", "lr"]);
        dir
    })
    .path()
}

/// The header and first `n` rows of the workspace's test file, as lines.
fn test_lines(ws: &Path, n: usize) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let mut lines = text.lines().map(String::from);
    let header = lines.next().unwrap();
    (header, lines.take(n).collect())
}

/// (status, JSON body) of a POST to the server.
fn post(server: &Server, path: &str, ctype: &str, body: &[u8]) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut resp = agent
        .post(&format!("{}{path}", server.base))
        .header("Content-Type", ctype)
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The classes `staytrack score` gives the rows of `file`, or its error.
fn score(ws: &Path, file: &Path) -> Result<Vec<Value>, String> {
    let out = file.with_extension("scored.csv");
    let o = run(
        ws,
        &[
            "score",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
        ],
    );
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let text = std::fs::read_to_string(&out).unwrap();
    let t = staytrack::data::csv::parse(&text).unwrap();
    // The class column follows the probability.
    let at = t.header.iter().position(|h| h == "probability").unwrap() + 1;
    Ok(t.columns[at]
        .iter()
        .map(|c| json!(c.as_deref().unwrap().parse::<i64>().unwrap()))
        .collect())
}

/// `data check`'s rows, or its error.
fn check(ws: &Path, file: &Path) -> Result<u64, String> {
    let o = run(ws, &["data", "check", file.to_str().unwrap(), "--json"]);
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(json(&o)["rows"].as_u64().unwrap())
}

#[test]
fn a_column_name_twice_is_refused_everywhere_naming_both_positions() {
    let dir = common::copy_workspace(template());
    let ws = dir.path();
    let (header, rows) = test_lines(ws, 3);
    let names: Vec<&str> = header.split(',').collect();
    let age = names.iter().position(|h| *h == "Age").unwrap();
    // `Age` again at the end, with another value: which one a reader took would be a guess.
    let text: String = std::iter::once(format!("{header},Age\n"))
        .chain(rows.iter().map(|r| format!("{r},0-10\n")))
        .collect();
    let file = ws.join("dup.csv");
    std::fs::write(&file, &text).unwrap();
    let positions = format!("positions {} and {}", age + 1, names.len() + 1);
    let named = |e: &str| e.contains("column 'Age'") && e.contains(&positions);
    let e = check(ws, &file).unwrap_err();
    assert!(named(&e), "data check: {e}");
    let e = score(ws, &file).unwrap_err();
    assert!(named(&e), "score: {e}");

    // Outcomes: the first or the last `Stay` would be a guess too.
    let outcomes = ws.join("outcomes.csv");
    std::fs::write(&outcomes, "case_id,Stay,Stay\n1,0-10,More than 100 Days\n").unwrap();
    let o = run(ws, &["feedback", outcomes.to_str().unwrap()]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "feedback took a file with 'Stay' twice"
    );
    assert!(
        e.contains("column 'Stay'") && e.contains("positions 2 and 3"),
        "feedback: {e}"
    );
    let store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    assert_eq!(store.count_outcomes().unwrap(), 0);
    drop(store);

    let server = Server::start(ws, None, &[]);
    let (s, v) = post(&server, "/invocations", "text/csv", text.as_bytes());
    assert_eq!(s, 422, "{v}");
    assert!(named(v["error"].as_str().unwrap()), "{v}");
    let data: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| {
            let mut cells: Vec<Value> = r.split(',').map(|c| json!(c)).collect();
            cells.push(json!("0-10"));
            cells
        })
        .collect();
    let mut columns = names.clone();
    columns.push("Age");
    let body = json!({"dataframe_split": {"columns": columns, "data": data}});
    let (s, v) = post(
        &server,
        "/invocations",
        "application/json",
        body.to_string().as_bytes(),
    );
    assert_eq!(s, 422, "{v}");
    assert!(named(v["error"].as_str().unwrap()), "{v}");
    // The same rows without the second `Age` are scored.
    let text: String = std::iter::once(format!("{header}\n"))
        .chain(rows.iter().map(|r| format!("{r}\n")))
        .collect();
    let (s, v) = post(&server, "/invocations", "text/csv", text.as_bytes());
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["predictions"].as_array().unwrap().len(), 3);
}

#[test]
fn a_quoted_line_break_is_read_over_http_as_score_reads_it() {
    let dir = common::copy_workspace(template());
    let ws = dir.path();
    let (header, mut rows) = test_lines(ws, 6);
    let names: Vec<&str> = header.split(',').collect();
    let dept = names.iter().position(|h| *h == "Department").unwrap();
    // A categorical value that holds a line break, quoted as RFC 4180 has it.
    let mut cells: Vec<String> = rows[2].split(',').map(String::from).collect();
    cells[dept] = format!("\"{}\nward\"", cells[dept]);
    rows[2] = cells.join(",");
    let text = format!("{header}\n{}\n", rows.join("\n"));
    let file = ws.join("quoted.csv");
    std::fs::write(&file, &text).unwrap();
    assert_eq!(check(ws, &file), Ok(6));
    let classes = score(ws, &file).unwrap();
    assert_eq!(classes.len(), 6);
    let server = Server::start(ws, None, &[]);
    let (s, v) = post(&server, "/invocations", "text/csv", text.as_bytes());
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["predictions"], json!(classes));
}

/// Scores `cases` (name, bytes) with `data check`, `score` and `/invocations`, each expected to
/// read as the first 8 rows of the test file written with `\n` line ends.
fn reads_as_lf(ws: &Path, cases: Vec<(&str, Vec<u8>)>) {
    let (header, rows) = test_lines(ws, 8);
    let lf = ws.join("lf.csv");
    std::fs::write(&lf, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    let want = score(ws, &lf).unwrap();
    assert_eq!(want.len(), 8);
    let server = Server::start(ws, None, &[]);
    for (name, bytes) in cases {
        let file = ws.join(format!("{}.csv", name.replace(' ', "_")));
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(check(ws, &file), Ok(8), "data check, {name}");
        assert_eq!(score(ws, &file).as_ref(), Ok(&want), "score, {name}");
        let (s, v) = post(&server, "/invocations", "text/csv", &bytes);
        assert_eq!(s, 200, "/invocations, {name}: {v}");
        assert_eq!(v["predictions"], json!(want), "/invocations, {name}");
    }
}

#[test]
fn cr_only_crlf_and_a_byte_order_mark_read_as_lf_everywhere() {
    let dir = common::copy_workspace(template());
    let ws = dir.path();
    let (header, rows) = test_lines(ws, 8);
    let plain = format!("{header}\n{}\n", rows.join("\n"));
    let cr = plain.replace('\n', "\r");
    let bom = |t: &str| [&b"\xEF\xBB\xBF"[..], t.as_bytes()].concat();
    reads_as_lf(
        ws,
        vec![
            ("CR only", cr.clone().into_bytes()),
            ("CRLF", plain.replace('\n', "\r\n").into_bytes()),
            ("BOM", bom(&plain)),
            ("BOM and CR only", bom(&cr)),
        ],
    );
}

#[test]
fn blank_lines_are_skipped_the_same_way_everywhere() {
    let dir = common::copy_workspace(template());
    let ws = dir.path();
    let (header, rows) = test_lines(ws, 8);
    // Blank lines (empty, commas, spaces, tabs) before the header and between rows, each with
    // another line end.
    let mut text = String::from("\r\n, ,\n");
    text.push_str(&header);
    for (i, r) in rows.iter().enumerate() {
        text.push_str(["\r", "\n", "\r\n"][i % 3]);
        text.push_str(["", " ", ",,,", "\t"][i % 4]);
        text.push_str(["\n", "\r\n", "\r"][i % 3]);
        text.push_str(r);
    }
    text.push_str("\r\n\r\n");
    reads_as_lf(ws, vec![("blank lines", text.into_bytes())]);
    // The same blank lines with `\n` alone, which every reader took before.
    let mut text = String::from("\n, ,\n");
    text.push_str(&header);
    for (i, r) in rows.iter().enumerate() {
        text.push_str(&format!("\n{}\n{r}", ["", " ", ",,,", "\t"][i % 4]));
    }
    reads_as_lf(ws, vec![("blank lines, LF", text.into_bytes())]);
}
