//! Hostile CSV: one reader and one set of rules for every way a table comes in (`data check`,
//! `score`, `feedback`, and `/invocations` as `text/csv` and `dataframe_split`). A column name
//! twice is refused naming both positions; quoted line breaks are read; blank lines are skipped;
//! `\r\n`, a lone `\r` and a byte-order mark read as `\n` does; a stray quote inside a field is
//! a character of it, and never moves where a file is cut into chunks.
//!
//! Hostile files (empty, binary, NUL bytes, invalid UTF-8, an open quote, megabyte cells and
//! names, 10,000 columns, ragged rows, wrong types, UTF-16 and UTF-32 marks, devices, a header
//! alone) are refused by `data check`, `score`, `drift` and `feedback` in an error of a few
//! lines naming the file and the row and column; hostile outcome rows (a megabyte label, more
//! fields than the header) are each skipped and named in a line, and the counts add up.
//!
//! Distinct hostile inputs: 59 (10 in the first four tests, 3 stray quotes, 30 files, 16
//! outcome rows).

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

/// The rows of a table, each as its file line and its cells.
fn rows_of(t: &staytrack::data::csv::Table) -> Vec<(usize, Vec<Option<String>>)> {
    (0..t.rows())
        .map(|r| {
            let cells = t.columns.iter().map(|c| c[r].as_deref().map(String::from));
            (t.lines[r], cells.collect())
        })
        .collect()
}

#[test]
fn a_stray_quote_is_a_character_on_every_path_and_never_moves_a_chunk_cut() {
    use staytrack::data::chunks::CsvChunks;
    use staytrack::data::csv;
    let dir = common::copy_workspace(template());
    let ws = dir.path();
    let (header, base) = test_lines(ws, 30);
    let names: Vec<&str> = header.split(',').collect();
    let col = |n: &str| names.iter().position(|h| *h == n).unwrap();
    let (dept, ward) = (col("Department"), col("Ward_Type"));
    // (row from 1, column, the cell as written, the same cell as RFC 4180 writes it): a quote
    // inside an unquoted field; a quote in the text after a closing one; a stray quote before
    // a quoted line break on the same row. A reader that counts quotes takes the first two for
    // an open field and the third for a closed one.
    let stray = |row, col| (row, col, "ab\"c".to_string(), "\"ab\"\"c\"".to_string());
    let after = |row| {
        let cell = "\"gyne\"cology\"".to_string();
        (row, dept, cell, "\"gynecology\"\"\"".to_string())
    };
    let broken = |row| {
        let ward_cell = "\"Q\nR\"".to_string();
        [stray(row, dept), (row, ward, ward_cell.clone(), ward_cell)]
    };
    // `rows` rows of the test file over and over, with `cells` written in; (lenient, strict).
    let text_of = |rows: usize, cells: &[(usize, usize, String, String)]| {
        let (mut lenient, mut strict) = (format!("{header}\n"), format!("{header}\n"));
        for r in 1..=rows {
            let mut a: Vec<String> = base[(r - 1) % base.len()]
                .split(',')
                .map(String::from)
                .collect();
            let mut b = a.clone();
            for (row, c, loose, quoted) in cells {
                if *row == r {
                    a[*c] = loose.clone();
                    b[*c] = quoted.clone();
                }
            }
            lenient.push_str(&(a.join(",") + "\n"));
            strict.push_str(&(b.join(",") + "\n"));
        }
        (lenient, strict)
    };

    // Small chunks: every cut falls where the whole-file reader ends a record, and each chunk
    // reads as those rows of the whole file.
    let mut cells = vec![stray(2, dept), after(4), stray(5, ward), after(6)];
    cells.extend(broken(8));
    cells.extend([stray(9, dept), stray(10, ward)]);
    cells.extend(broken(11));
    let (small, small_strict) = text_of(13, &cells);
    let whole = csv::parse(&small).unwrap();
    assert_eq!(
        rows_of(&whole),
        rows_of(&csv::parse(&small_strict).unwrap())
    );
    assert_eq!(whole.rows(), 13);
    assert_eq!(whole.columns[dept][1].as_deref(), Some("ab\"c"));
    assert_eq!(whole.columns[dept][3].as_deref(), Some("gynecology\""));
    let file = ws.join("stray_small.csv");
    std::fs::write(&file, &small).unwrap();
    for size in 1..=4 {
        let mut read = Vec::new();
        for chunk in CsvChunks::open(&file, size).unwrap() {
            let chunk = chunk.unwrap();
            let t = csv::parse(csv::text(&chunk.bytes).unwrap()).unwrap();
            assert!(
                t.rows() <= size,
                "chunks of {size}: a chunk of {} rows",
                t.rows()
            );
            assert_eq!(chunk.first_row, read.len(), "chunks of {size}");
            assert_eq!(
                chunk.first_line,
                whole.lines[read.len()],
                "chunks of {size}"
            );
            // Lines in a chunk count from its header's; the rows' cells are the file's.
            read.extend(rows_of(&t).into_iter().map(|(_, c)| c));
        }
        let want: Vec<_> = rows_of(&whole).into_iter().map(|(_, c)| c).collect();
        assert_eq!(read, want, "chunks of {size}");
    }

    // The commands: a row broken across a cut of both `score`'s chunks and `data check`'s,
    // rows before it whose quotes come in even numbers (so a reader that counts quotes would
    // cut inside that row's field) and odd ones after it.
    let (score_cut, check_cut) = (
        staytrack::score::CHUNK,
        staytrack::data::load::LOAD_CHUNK_ROWS,
    );
    assert_eq!(check_cut % score_cut, 0, "one row on both cuts");
    let n = check_cut + 40;
    let mut cells = vec![stray(3, dept), stray(3, ward), after(10), stray(10, ward)];
    cells.extend(broken(check_cut));
    cells.extend([stray(check_cut + 5, dept), after(check_cut + 6)]);
    let (lenient, strict) = text_of(n, &cells);
    let (a, b) = (ws.join("stray.csv"), ws.join("stray_strict.csv"));
    std::fs::write(&a, &lenient).unwrap();
    std::fs::write(&b, &strict).unwrap();
    assert_eq!(check(ws, &a), Ok(n as u64));
    assert_eq!(check(ws, &b), Ok(n as u64));
    let want = score(ws, &b).unwrap();
    assert_eq!(want.len(), n);
    assert_eq!(score(ws, &a).as_ref(), Ok(&want));
}

/// What a command must make of a hostile file.
#[derive(Clone, Copy, Debug)]
enum Made {
    /// Refused (exit 1), in an error naming the file that holds this.
    Refused(&'static str),
    /// Read (exit 0), with output of bounded size.
    Read,
}

/// No command may panic (exit 101) or hang, and none may say more than a few lines about a
/// bad file, however big what is wrong in it.
fn refused_or_read(o: &std::process::Output, what: &str, path: &Path, want: Made) {
    let err = String::from_utf8_lossy(&o.stderr);
    let head: String = err.chars().take(400).collect();
    assert_ne!(o.status.code(), Some(101), "{what} panicked: {head}");
    match want {
        Made::Refused(says) => {
            assert_eq!(o.status.code(), Some(1), "{what}: {head}");
            assert!(
                err.contains(&path.display().to_string()),
                "{what}: the error does not name the file: {head}"
            );
            assert!(err.contains(says), "{what}: '{says}' is not in: {head}");
            assert!(err.len() < 4096, "{what}: an error of {} bytes", err.len());
        }
        Made::Read => {
            assert_eq!(o.status.code(), Some(0), "{what}: {head}");
            assert!(
                o.stdout.len() < 64 * 1024,
                "{what}: {} bytes out",
                o.stdout.len()
            );
        }
    }
}

#[test]
fn hostile_files_are_refused_by_every_command_naming_what_is_wrong_and_nothing_is_written_outside()
{
    use Made::*;
    let limit = Duration::from_secs(60);
    let sandbox = tempfile::tempdir().unwrap();
    let ws = sandbox.path().join("ws");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(template())
        .arg(&ws)
        .status()
        .unwrap();
    assert!(st.success());
    let (header, rows) = test_lines(&ws, 3);
    let names: Vec<&str> = header.split(',').collect();
    let cells: Vec<&str> = rows[0].split(',').collect();
    let col = |n: &str| names.iter().position(|h| *h == n).unwrap();
    let with_cell = |i: usize, v: &str| {
        let mut c = cells.clone();
        c[i] = v;
        format!("{header}\n{}\n{}\n", c.join(","), rows[1]).into_bytes()
    };
    let plain = format!("{header}\n{}\n", rows.join("\n"));
    let utf16 = |big: bool| -> Vec<u8> {
        let units = "\u{feff}".encode_utf16().chain(plain.encode_utf16());
        units
            .flat_map(|u| {
                if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    };
    let rooms = col("Available Extra Rooms in Hospital");
    let deposit = col("Admission_Deposit");
    // (name, bytes, what data check, score and drift make of it, what feedback makes of it)
    let files: Vec<(&str, Vec<u8>, Made, Option<Made>)> = vec![
        (
            "empty",
            vec![],
            Refused("the file is empty"),
            Some(Refused("the file is empty")),
        ),
        (
            "blank lines only",
            b"\r\n\r\n, ,\n".to_vec(),
            Refused("the file is empty"),
            Some(Refused("the file is empty")),
        ),
        (
            "a header alone",
            format!("{header}\n").into_bytes(),
            Refused("a header but no data rows"),
            None,
        ),
        (
            "an outcomes header alone",
            b"case_id,Stay\n".to_vec(),
            Refused("missing column(s): 'Hospital_code'"),
            Some(Refused("a header but no data rows")),
        ),
        (
            "binary junk",
            (0..=255u8).cycle().take(3000).collect(),
            Refused("not UTF-8 (byte 128)"),
            Some(Refused("not UTF-8")),
        ),
        (
            "a NUL in an integer cell",
            with_cell(rooms, "2\0"),
            Refused("row 1 (line 2), column 'Available Extra Rooms in Hospital'"),
            None,
        ),
        (
            "invalid UTF-8 in a cell",
            with_cell(col("Department"), "anes\u{1}")
                .into_iter()
                .map(|b| if b == 1 { 0xFF } else { b })
                .collect(),
            Refused("not UTF-8"),
            Some(Refused("not UTF-8")),
        ),
        (
            "a quote never closed",
            with_cell(col("Department"), "\"anesthesia"),
            Refused("line 2: a quoted field is never closed"),
            Some(Refused("never closed")),
        ),
        (
            "a 1 MB number",
            with_cell(deposit, &"9".repeat(1_000_000)),
            Refused("column 'Admission_Deposit': expected a number"),
            None,
        ),
        (
            "a 1 MB word in a number column",
            with_cell(deposit, &"x".repeat(1_000_000)),
            Refused("column 'Admission_Deposit': expected a number"),
            None,
        ),
        (
            "a 1 MB category",
            with_cell(col("Department"), &"w".repeat(1_000_000)),
            Read,
            None,
        ),
        (
            "a 1 MB column name",
            format!("{header},{}\n{},1\n", "N".repeat(1_000_000), rows[0]).into_bytes(),
            Refused("unexpected column(s): 'NNNN"),
            None,
        ),
        (
            "a 1 MB column name alone",
            format!("{}\n1\n", "N".repeat(1_000_000)).into_bytes(),
            Refused("missing column(s): 'case_id'"),
            Some(Refused("no column 'case_id' (the columns are 'NNNN")),
        ),
        (
            "a 1 MB column name twice",
            format!("{n},{n}\n1,2\n", n = "N".repeat(1_000_000)).into_bytes(),
            Refused("appears more than once in the header (positions 1 and 2)"),
            Some(Refused(
                "appears more than once in the header (positions 1 and 2)",
            )),
        ),
        (
            "10,000 more columns",
            format!(
                "{header},{}\n{},{}\n",
                (0..10_000)
                    .map(|i| format!("c{i}"))
                    .collect::<Vec<_>>()
                    .join(","),
                rows[0],
                vec!["1"; 10_000].join(",")
            )
            .into_bytes(),
            Refused("… and 9,980 more columns"),
            None,
        ),
        (
            "10,000 other columns",
            format!(
                "{}\n{}\n",
                (0..10_000)
                    .map(|i| format!("c{i}"))
                    .collect::<Vec<_>>()
                    .join(","),
                vec!["1"; 10_000].join(",")
            )
            .into_bytes(),
            Refused("missing column(s): 'case_id'"),
            Some(Refused("'c19' … and 9,980 more columns")),
        ),
        (
            "a row too long",
            format!("{header}\n{}\n{},extra\n", rows[0], rows[1]).into_bytes(),
            Refused("row 2 (line 3) has 18 field(s) but the header has 17"),
            None,
        ),
        (
            "a row too short",
            format!("{header}\n{}\n{}\n", rows[0], cells[..5].join(",")).into_bytes(),
            Refused("row 2 (line 3) has 5 field(s) but the header has 17"),
            None,
        ),
        (
            "a word in an integer column",
            with_cell(rooms, "many"),
            Refused(
                "column 'Available Extra Rooms in Hospital': expected an integer, found 'many'",
            ),
            None,
        ),
        (
            "a fraction in an integer column",
            with_cell(rooms, "2.5"),
            Refused("expected an integer, found '2.5'"),
            None,
        ),
        (
            "UTF-16 LE with its mark",
            utf16(false),
            Refused("not UTF-8"),
            Some(Refused("not UTF-8")),
        ),
        (
            "UTF-16 BE with its mark",
            utf16(true),
            Refused("not UTF-8"),
            None,
        ),
        (
            "UTF-32 LE with its mark",
            [
                &b"\xFF\xFE\x00\x00"[..],
                &plain
                    .chars()
                    .flat_map(|c| (c as u32).to_le_bytes())
                    .collect::<Vec<u8>>(),
            ]
            .concat(),
            Refused("not UTF-8"),
            None,
        ),
        (
            "a mark in the middle",
            format!("{header}\n{}\n\u{feff}{}\n", rows[0], rows[1]).into_bytes(),
            Refused("row 2 (line 3), column 'case_id': expected an integer"),
            None,
        ),
        (
            "two marks",
            format!("\u{feff}\u{feff}{plain}").into_bytes(),
            Read,
            None,
        ),
        (
            "semicolons",
            plain.replace(',', ";").into_bytes(),
            Refused("hint: the header has a single column and looks separated by semicolons"),
            None,
        ),
        (
            "a name with a line break",
            plain.replacen("Age", "\"A\nge\"", 1).into_bytes(),
            Refused("unexpected column(s): 'A\\nge'"),
            None,
        ),
    ];
    let dir = sandbox.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    let mut paths = Vec::new();
    for (i, (name, bytes, data, feedback)) in files.iter().enumerate() {
        let p = dir.join(format!("{i:02}.csv"));
        std::fs::write(&p, bytes).unwrap();
        paths.push((name.to_string(), p, *data, *feedback));
    }
    // Things that are not files at all.
    let never = Refused("a character device, not a file");
    paths.push((
        "/dev/zero".into(),
        "/dev/zero".into(),
        never,
        Some(Refused("a character device")),
    ));
    paths.push((
        "a folder".into(),
        dir.clone(),
        Refused("Is a directory"),
        Some(Refused("Is a directory")),
    ));
    paths.push((
        "no file".into(),
        dir.join("missing.csv"),
        Refused("No such file"),
        Some(Refused("No such file")),
    ));
    let before = common::listing(sandbox.path(), &ws);
    for (name, path, want, feedback) in &paths {
        let p = path.to_str().unwrap();
        let out = ws.join("scored").join("out.csv");
        let o = common::run_within(&ws, &["data", "check", p], limit);
        refused_or_read(&o, &format!("data check, {name}"), path, *want);
        let o = common::run_within(
            &ws,
            &["score", p, "--out", out.to_str().unwrap(), "--force"],
            limit,
        );
        refused_or_read(&o, &format!("score, {name}"), path, *want);
        assert_eq!(out.exists(), matches!(want, Read), "score, {name}");
        let _ = std::fs::remove_file(&out);
        let o = common::run_within(&ws, &["drift", "--current", p], limit);
        refused_or_read(&o, &format!("drift, {name}"), path, *want);
        if let Some(f) = feedback {
            let o = common::run_within(&ws, &["feedback", p, "--json"], limit);
            refused_or_read(&o, &format!("feedback, {name}"), path, *f);
        }
        assert_eq!(
            common::listing(sandbox.path(), &ws),
            before,
            "{name}: something was written outside the workspace"
        );
    }
    // Nothing refused reached the store: no outcome was loaded.
    let store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    assert_eq!(store.count_outcomes().unwrap(), 0);
}

#[test]
fn hostile_outcome_rows_are_each_skipped_and_named_and_the_counts_add_up() {
    let dir = common::copy_workspace(template());
    let ws = dir.path();
    // (row, why it is refused; None when it is taken)
    let rows: Vec<(String, Option<&str>)> = vec![
        (
            "abc,0-10".into(),
            Some("'case_id' is 'abc', not a whole number"),
        ),
        (
            "\0,0-10".into(),
            Some("'case_id' is '\\0', not a whole number"),
        ),
        (
            "9223372036854775808,0-10".into(),
            Some("not a whole number"),
        ),
        ("0x10,0-10".into(), Some("'0x10', not a whole number")),
        ("1e3,0-10".into(), Some("'1e3', not a whole number")),
        ("1.5,0-10".into(), Some("'1.5', not a whole number")),
        (",0-10".into(), Some("no 'case_id'")),
        ("11,".into(), Some("'' is not a label of 'Stay'")),
        (
            "12,forever".into(),
            Some("'forever' is not a label of 'Stay'"),
        ),
        ("14".into(), Some("'' is not a label of 'Stay'")),
        ("15,\u{1b}[2J".into(), Some("'\\u{1b}[2J' is not a label")),
        // A megabyte of label is refused too, in a reason of a line.
        (
            format!("16,{}", "L".repeat(1_000_000)),
            Some("is not a label of 'Stay'"),
        ),
        ("-9223372036854775808,0-10".into(), None),
        (" 18 ,0-10".into(), None),
        ("19,0-10".into(), None),
        ("19,0-10".into(), None),
        // More fields than the header: which is the label is a guess, so the row is skipped.
        (
            "2,21-30,extra".into(),
            Some("row 17 (line 18) has 3 field(s) but the header has 2"),
        ),
    ];
    let text: String = std::iter::once("case_id,Stay".to_string())
        .chain(rows.iter().map(|r| r.0.clone()))
        .map(|l| l + "\n")
        .collect();
    let file = ws.join("outcomes.csv");
    std::fs::write(&file, text).unwrap();
    let o = common::run_within(
        ws,
        &["feedback", file.to_str().unwrap(), "--json"],
        Duration::from_secs(60),
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = json(&o);
    assert_eq!(s["rows"], rows.len());
    let rejected: Vec<(u64, String)> = s["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_str().unwrap().to_string()))
        .collect();
    for (i, (row, why)) in rows.iter().enumerate() {
        let found = rejected.iter().find(|r| r.0 == i as u64 + 1);
        let short: String = row.chars().take(40).collect();
        match (why, found) {
            (Some(w), Some((_, r))) => {
                assert!(r.contains(w), "row {}: '{w}' not in {r:.200}", i + 1);
                assert!(
                    r.len() < 1024,
                    "row {}: a reason of {} bytes",
                    i + 1,
                    r.len()
                );
            }
            (None, None) => {}
            _ => panic!(
                "row {} ({short:?}): expected {why:?}, found {found:.200?}",
                i + 1
            ),
        }
    }
    // Every row is counted once.
    let taken: u64 = ["new", "unchanged", "changed", "repeated"]
        .iter()
        .map(|k| s[*k].as_u64().unwrap())
        .sum();
    assert!(s["conflicting"].as_array().unwrap().is_empty(), "{s:.300}");
    assert_eq!(taken + rejected.len() as u64, rows.len() as u64);
    assert_eq!(
        (s["new"].as_u64(), s["repeated"].as_u64()),
        (Some(3), Some(1))
    );
    let store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    assert_eq!(store.count_outcomes().unwrap(), 3);
}
