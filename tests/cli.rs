//! The real binary, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

fn staytrack(workspace: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args(args)
        .env("STAYTRACK_HOME", workspace)
        .output()
        .expect("runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn help_lists_every_command_of_the_product() {
    let dir = tempfile::tempdir().unwrap();
    let o = staytrack(dir.path(), &["--help"]);
    assert!(o.status.success());
    let (out, _) = text(&o);
    for cmd in [
        "tui", "train", "runs", "promote", "score", "serve", "drift", "report", "sync", "data",
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing from:\n{out}"
        );
    }
    assert!(out.contains("--serve") && out.contains("--workspace"));
}

#[test]
fn data_synth_is_deterministic_and_check_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let synth = |out: &str, seed: &str| {
        let o = staytrack(
            ws,
            &[
                "data",
                "synth",
                "--rows",
                "3000",
                "--test-rows",
                "500",
                "--seed",
                seed,
                "--out",
                out,
            ],
        );
        assert!(o.status.success(), "{:?}", text(&o));
    };
    let a = ws.join("a");
    let b = ws.join("b");
    synth(a.to_str().unwrap(), "9");
    synth(b.to_str().unwrap(), "9");
    for f in ["train_data.csv", "test_data.csv"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let o = staytrack(
        ws,
        &["data", "check", a.join("train_data.csv").to_str().unwrap()],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("valid, 3,000 rows"), "{out}");
    assert!(out.contains("1,218 positive (40.60 %)"), "{out}");
    let o = staytrack(
        ws,
        &[
            "data",
            "check",
            "--json",
            a.join("test_data.csv").to_str().unwrap(),
        ],
    );
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"], 500);
    assert!(v["labels"].is_null());
    let bed = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Bed Grade")
        .unwrap();
    assert_eq!(bed["kind"], "numeric");
}

#[test]
fn data_check_of_a_bad_file_exits_1_naming_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let o = staytrack(
        ws,
        &[
            "data",
            "synth",
            "--rows",
            "100",
            "--test-rows",
            "10",
            "--out",
            ws.to_str().unwrap(),
        ],
    );
    assert!(o.status.success());
    let p = ws.join("train_data.csv");
    let content = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = content.lines().map(String::from).collect();
    lines[5] = lines[5]
        .replacen(",Trauma,", ",17,", 1)
        .replacen(",Emergency,", ",17,", 1)
        .replacen(",Urgent,", ",17,", 1);
    let fields: Vec<&str> = lines[5].split(',').collect();
    let mut fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    fields[14] = "many".into(); // Visitors with Patient
    lines[5] = fields.join(",");
    std::fs::write(&p, lines.join("\n")).unwrap();
    let o = staytrack(ws, &["data", "check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains("row 5 (line 6), column 'Visitors with Patient'"),
        "{err}"
    );
    let o = staytrack(
        ws,
        &["data", "check", ws.join("nope.csv").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("nope.csv: cannot read the file"));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = staytrack(dir.path(), &["data", "synth", "--drift", "huge"]);
    assert_eq!(o.status.code(), Some(2));
    let o = staytrack(dir.path(), &["data", "synth", "--rows", "5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("--rows must be at least 10"));
    assert!(
        !dir.path().join("data").exists(),
        "nothing is written on bad input"
    );
}

#[test]
fn runs_list_on_a_new_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let o = staytrack(dir.path(), &["runs", "list"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("no runs yet"));
    let o = staytrack(dir.path(), &["runs", "list", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        serde_json::json!([])
    );
    assert!(dir.path().join("staytrack.db").exists());
}

#[test]
fn processes_opening_a_new_store_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_staytrack"))
                .args(["runs", "list", "--json"])
                .env("STAYTRACK_HOME", dir.path())
                .output()
        })
        .collect();
    for c in children {
        let o = c.unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn first_run_generates_the_data_once_and_never_touches_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let o = staytrack(ws, &[]);
    assert!(o.status.success());
    let (out, err) = text(&o);
    assert!(
        err.lines()
            .filter(|l| l.contains("generated the synthetic"))
            .count()
            == 1,
        "{err}"
    );
    assert!(
        out.contains("runs: 0") && out.contains("next: `staytrack train`"),
        "{out}"
    );
    let train = ws.join("data/train_data.csv");
    assert_eq!(
        std::fs::read_to_string(&train).unwrap().lines().count(),
        318_439
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("data/test_data.csv"))
            .unwrap()
            .lines()
            .count(),
        137_058
    );
    let o = staytrack(ws, &[]);
    assert!(
        !text(&o).1.contains("generated"),
        "second start generates nothing"
    );
    // A user's own file (such as the real Kaggle one) is used as it is.
    let mine = "case_id,Hospital_code\n1,2\n";
    std::fs::write(&train, mine).unwrap();
    staytrack(ws, &[]);
    assert_eq!(std::fs::read_to_string(&train).unwrap(), mine);
}

#[test]
fn tui_without_a_terminal_says_so_and_prints_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    std::fs::create_dir_all(ws.join("data")).unwrap();
    let o = staytrack(ws, &["data", "synth", "--rows", "200", "--test-rows", "20"]);
    assert!(o.status.success(), "{:?}", text(&o));
    // Output captured: standard output is not a terminal.
    let o = staytrack(ws, &["tui"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("no terminal here"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    assert!(
        out.contains("workspace") && out.contains("train_data.csv"),
        "{out}"
    );
}
