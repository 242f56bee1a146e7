//! A table of one's own, with ids of any kind (`MRN-` strings, UUIDs, whole numbers with
//! leading zeros): `data init` makes the spec, and train, compare, promote, score with logging,
//! feedback, monitor, report and serve all carry each id exactly as the file wrote it.

mod common;

use std::path::Path;

use common::{json, ok, run};
use serde_json::{json, Value};
use staytrack::data::rng::Rng;

/// How a table names its rows.
#[derive(Clone, Copy, Debug)]
enum Ids {
    Mrn,
    Uuid,
    /// Whole numbers written with leading zeros, which must survive as written.
    Padded,
}

impl Ids {
    fn id(self, i: usize, rng: &mut Rng) -> String {
        match self {
            Ids::Mrn => format!("MRN-{:06}", 100 + i),
            Ids::Uuid => format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                rng.below(u32::MAX as u64),
                rng.below(1 << 16),
                i % 4096,
                rng.below(1 << 12),
                rng.below(1 << 40) * 4096 + i as u64 % 4096
            ),
            Ids::Padded => format!("{:07}", 40 + i),
        }
    }
}

/// A table with `patient_ref` ids, four numeric and three categorical columns and a yes/no
/// target with a planted signal; returns each row's id.
fn table(path: &Path, ids: Ids, rows: usize, first: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut out = String::from("patient_ref,age,bmi,visits,cost,region,plan,smoker,readmitted\n");
    let mut refs = Vec::new();
    for i in first..first + rows {
        let id = ids.id(i, &mut rng);
        let age = 50.0 + 12.0 * rng.normal();
        let bmi = 27.0 + 4.0 * rng.normal();
        let visits = rng.below(12);
        let cost = 1000.0 + 300.0 * rng.f64();
        let region = ["north", "south", "east"][rng.below(3) as usize];
        let plan = ["basic", "plus"][rng.below(2) as usize];
        let smoker = ["y", "n"][rng.below(2) as usize];
        let z = 0.06 * (age - 50.0) + 0.25 * visits as f64 - 1.5
            + if smoker == "y" { 0.7 } else { 0.0 };
        let yes = rng.f64() < 1.0 / (1.0 + (-z).exp());
        out.push_str(&format!(
            "{id},{age:.1},{bmi:.2},{visits},{cost:.2},{region},{plan},{smoker},{}\n",
            if yes { "yes" } else { "no" }
        ));
        refs.push(id);
    }
    std::fs::write(path, out).unwrap();
    refs
}

/// Words about the hospital dataset that must not appear on another table.
const HOSPITAL_WORDS: [&str; 5] = ["stay", "stays", "hospital", "days", "long_stay"];

fn no_hospital_words(what: &str, text: &str) {
    let lower = text.to_lowercase();
    for word in lower.split(|c: char| !c.is_alphanumeric() && c != '_') {
        assert!(
            !HOSPITAL_WORDS.contains(&word),
            "{what} says '{word}' on a table that is not the hospital's:\n{text}"
        );
    }
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn pipeline(ids: Ids) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let train = ws.join("visits.csv");
    let test = ws.join("incoming.csv");
    table(&train, ids, 1500, 0, 1);
    let want = table(&test, ids, 300, 5000, 2);
    let t = train.to_str().unwrap();
    let o = ok(
        ws,
        &[
            "data",
            "init",
            t,
            "--target",
            "readmitted",
            "--positive",
            "yes",
        ],
    );
    let out = text(&o);
    assert!(
        out.contains("'patient_ref' read as an id"),
        "{ids:?}: {out}"
    );
    let o = ok(ws, &["data", "check", t]);
    no_hospital_words("data check", &text(&o));

    // `data init` named the file as the workspace's training file: no `--data` needed.
    assert!(
        out.contains("runs train on visits.csv ([data] train)"),
        "{ids:?}: {out}"
    );
    // Train two families, compare them, promote one: the id is never a feature.
    let o = ok(ws, &["train", "--model", "lr,gbdt"]);
    no_hospital_words("train", &text(&o));
    let runs = json(&ok(ws, &["runs", "list", "--json"]));
    let runs: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(runs.len(), 2);
    let shown = ok(ws, &["runs", "show", runs[0], "--json"]);
    assert!(
        !String::from_utf8_lossy(&shown.stdout).contains("patient_ref="),
        "{ids:?}: the id became a feature"
    );
    let o = ok(ws, &["runs", "compare", runs[0], runs[1]]);
    no_hospital_words("runs compare", &text(&o));
    ok(ws, &["promote", "--best"]);

    // Score with logging: the scored file carries every id exactly as the input had it.
    let o = ok(ws, &["score", test.to_str().unwrap(), "--log"]);
    no_hospital_words("score", &text(&o));
    let scored = std::fs::read_dir(ws.join("predictions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .expect("a scored file");
    let scored = std::fs::read_to_string(scored).unwrap();
    let mut lines = scored.lines();
    let head = lines.next().unwrap();
    assert!(head.starts_with("patient_ref,probability,"), "{head}");
    no_hospital_words("the scored file's header", head);
    let got: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(got, want, "{ids:?}: the scored file's ids");

    // Outcomes join the logged predictions by those ids.
    let mut outcomes = String::from("patient_ref,readmitted\n");
    for id in want.iter().take(120) {
        outcomes.push_str(&format!("{id},yes\n"));
    }
    let f = ws.join("outcomes.csv");
    std::fs::write(&f, outcomes).unwrap();
    let fb = json(&ok(ws, &["feedback", f.to_str().unwrap(), "--json"]));
    assert_eq!(fb["new"], 120, "{ids:?}: {fb}");
    assert_eq!(
        fb["unknown_ids"], 0,
        "{ids:?}: every id joins a logged prediction: {fb}"
    );

    // Monitor sees the labelled rows; the report draws without hospital words.
    let m = json(&run(ws, &["monitor", "--window", "10000rows", "--json"]));
    let labelled: u64 = m["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["labelled"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(labelled, 120, "{ids:?}: {m}");
    let o = ok(ws, &["report"]);
    no_hospital_words("report", &text(&o));

    // The server answers with the id under the spec's name for it, and logs it unchanged.
    let srv = common::server::Server::start(ws, None, &[]);
    let rec = common::csv_records(&test)[0].clone();
    let body = Value::Object(rec.clone()).to_string();
    let head = format!(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (code, answer) = common::exchange(&srv.addr, &head, body.as_bytes());
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["patient_ref"], json!(want[0]), "{ids:?}: {answer}");
    assert!(answer.get("case_id").is_none(), "{answer}");
}

#[test]
fn mrn_ids_go_through_the_whole_pipeline_unchanged() {
    pipeline(Ids::Mrn);
}

#[test]
fn uuid_ids_go_through_the_whole_pipeline_unchanged() {
    pipeline(Ids::Uuid);
}

#[test]
fn whole_number_ids_keep_their_leading_zeros() {
    pipeline(Ids::Padded);
}

#[test]
fn an_id_past_its_bound_or_with_a_control_character_is_refused_naming_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let train = ws.join("visits.csv");
    table(&train, Ids::Mrn, 300, 0, 3);
    ok(
        ws,
        &[
            "data",
            "init",
            train.to_str().unwrap(),
            "--target",
            "readmitted",
        ],
    );
    let header = "patient_ref,age,bmi,visits,cost,region,plan,smoker,readmitted\n";
    let rest = ",50.0,27.00,3,1000.00,north,basic,n,no\n";
    for (id, why) in [
        ("x".repeat(257), "row 2"),
        ("MRN\u{7}1".to_string(), "row 2"),
    ] {
        let bad = ws.join("bad.csv");
        std::fs::write(&bad, format!("{header}MRN-1{rest}{id}{rest}")).unwrap();
        let o = run(ws, &["data", "check", bad.to_str().unwrap()]);
        let err = text(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(why) && err.contains("patient_ref"), "{err}");
        assert!(err.contains("at most 256 characters"), "{err}");
    }
    // Exactly at the bound it is an id like any other.
    let at = ws.join("at.csv");
    std::fs::write(&at, format!("{header}{}{rest}", "é".repeat(256))).unwrap();
    ok(ws, &["data", "check", at.to_str().unwrap()]);
}

#[test]
fn a_data_table_with_an_unknown_key_is_refused_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    std::fs::write(
        ws.join("staytrack.toml"),
        "[data]\ntrian = \"visits.csv\"\n",
    )
    .unwrap();
    let o = run(ws, &["train", "--model", "lr"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("staytrack.toml [data]") && err.contains("trian"),
        "{err}"
    );
}
