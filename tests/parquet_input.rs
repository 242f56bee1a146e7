//! Parquet input (issue #32): every command that reads a CSV reads the same table as Parquet,
//! through the same spec, with the same results, and a damaged or unreadable Parquet file is a
//! clear error naming the file (and the row group, row and column when one is at fault), never
//! a panic. The Parquet files are pyarrow's, written from the CSVs by
//! `tests/fixtures/make_parquet.py` with the clients' Python (`STAYTRACK_TEST_CLIENTS`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{json, ok, run};
use serde_json::Value;

/// A workspace with the synthetic table (3,000 training rows, 500 test rows), outcomes of the
/// first 300 training rows, and their Parquet twins in `data/pq/`.
fn workspace() -> tempfile::TempDir {
    let python = std::env::var("STAYTRACK_TEST_CLIENTS").unwrap_or_else(|_| {
        panic!(
            "STAYTRACK_TEST_CLIENTS must name the clients' Python, which has pyarrow to write \
             the Parquet files (`make test` sets it; `make clients` makes it)"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "3000", "--test-rows", "500"],
    );
    let data = ws.join("data");
    let train = std::fs::read_to_string(data.join("train_data.csv")).unwrap();
    let mut outcomes = String::from("case_id,Stay\n");
    for line in train.lines().skip(1).take(300) {
        let f: Vec<&str> = line.split(',').collect();
        outcomes.push_str(&format!("{},{}\n", f[0], f[f.len() - 1]));
    }
    std::fs::write(data.join("outcomes.csv"), outcomes).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_parquet.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(&data)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e}); run `make clients`"));
    assert!(
        out.status.success(),
        "make_parquet.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn pq(ws: &Path, name: &str) -> PathBuf {
    ws.join("data/pq").join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A JSON document without the keys that name files, runs or times, which differ between two
/// reads of one table.
fn without(mut v: Value, keys: &[&str]) -> Value {
    match &mut v {
        Value::Object(m) => {
            for k in keys {
                m.remove(*k);
            }
            for (_, x) in m.iter_mut() {
                *x = without(x.take(), keys);
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = without(x.take(), keys);
            }
        }
        _ => {}
    }
    v
}

/// The peak resident memory of `staytrack ARGS` on `ws`, in KiB: its `VmHWM`, read until it
/// exits (the peak is the working parts', held throughout).
fn peak_kib(ws: &Path, args: &[&str]) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args(args)
        .env("STAYTRACK_HOME", ws)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        peak = peak.max(hwm.unwrap_or(0));
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "{args:?} failed");
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// A command that failed as a refused file does: exit 1, the message on stderr, no panic.
fn refused(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn check_train_score_and_drift_read_parquet_as_they_read_the_csv() {
    let dir = workspace();
    let ws = dir.path();
    let (csv, test_csv) = (
        ws.join("data/train_data.csv"),
        ws.join("data/test_data.csv"),
    );

    // `data check`: the same summary from the CSV and from four Parquet writings of it
    // (Snappy with dictionaries in five row groups; zstd, v2 pages, several pages a chunk;
    // gzip; narrower and unsigned integers, required columns).
    let check = |f: &Path| {
        without(
            json(&ok(ws, &["data", "check", s(f), "--json"])),
            &["source"],
        )
    };
    let want = check(&csv);
    assert_eq!(want["rows"], 3000, "{want}");
    for name in [
        "train_data.parquet",
        "train_zstd.parquet",
        "train_gzip.parquet",
        "train_types.parquet",
    ] {
        assert_eq!(check(&pq(ws, name)), want, "{name}");
    }
    let text =
        String::from_utf8(ok(ws, &["data", "check", s(&pq(ws, "train_data.parquet"))]).stdout)
            .unwrap();
    assert!(
        text.contains("train_data.parquet: valid, 3,000 rows"),
        "{text}"
    );

    // `train`: the same split, model and metrics.
    let train = |f: &Path, name: &str| {
        let o = ok(
            ws,
            &[
                "train",
                "--model",
                "lr",
                "--data",
                s(f),
                "--name",
                name,
                "--json",
            ],
        );
        // The model's own file differs only by the run it records.
        without(json(&o), &["bundle", "fit_seconds", "id", "run_id", "name"])
    };
    let from_csv = train(&csv, "from-csv");
    let from_parquet = train(&pq(ws, "train_data.parquet"), "from-parquet");
    assert_eq!(from_parquet, from_csv);
    let runs = json(&ok(ws, &["runs", "list", "--json"]));
    let auc = |name: &str| {
        runs.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["metrics"]["roc_auc"].clone())
            .unwrap()
    };
    assert!(auc("from-csv").is_f64(), "{runs}");
    assert_eq!(auc("from-parquet"), auc("from-csv"));

    // `score`: the same predictions file, with labels and without.
    ok(ws, &["promote", "from-csv"]);
    for (csv_file, parquet_file) in [
        (test_csv.clone(), pq(ws, "test_data.parquet")),
        (csv.clone(), pq(ws, "train_types.parquet")),
    ] {
        let (a, b) = (ws.join("a.csv"), ws.join("b.csv"));
        let sa = json(&ok(
            ws,
            &["score", s(&csv_file), "--out", s(&a), "--force", "--json"],
        ));
        let sb = json(&ok(
            ws,
            &[
                "score",
                s(&parquet_file),
                "--out",
                s(&b),
                "--force",
                "--json",
            ],
        ));
        let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        assert!(
            a == b,
            "{} and {} score differently",
            csv_file.display(),
            parquet_file.display()
        );
        let keys = ["input", "output", "seconds"];
        assert_eq!(without(sa, &keys), without(sb, &keys));
    }

    // A Parquet file is scored a part at a time: twice the rows (240,000), no more memory
    // than the working parts and the probabilities kept for the summary.
    let peak = |f: &Path| {
        peak_kib(
            ws,
            &["score", s(f), "--out", s(&ws.join("c.csv")), "--force"],
        )
    };
    let (half, big) = (peak(&pq(ws, "half.parquet")), peak(&pq(ws, "big.parquet")));
    assert!(
        big < half + 16 * 1024,
        "scoring 240,000 rows peaked at {big} KiB, 120,000 rows at {half} KiB"
    );

    // `drift`: the same report for the current data, and for a reference file.
    let drift = |current: &Path, reference: &Path| {
        let o = run(
            ws,
            &[
                "drift",
                "--current",
                s(current),
                "--reference",
                s(reference),
                "--json",
            ],
        );
        assert!(
            matches!(o.status.code(), Some(0 | 2)),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        without(
            json(&o),
            &["id", "current", "reference", "created_at", "report_id"],
        )
    };
    let want = drift(&test_csv, &csv);
    assert!(want.to_string().contains("Admission_Deposit"), "{want}");
    assert_eq!(
        drift(&pq(ws, "test_data.parquet"), &pq(ws, "train_zstd.parquet")),
        want
    );
}

#[test]
fn data_init_and_feedback_read_parquet_as_they_read_the_csv() {
    let dir = workspace();
    let ws = dir.path();
    // `data init` in two fresh workspaces: the same spec from the CSV and from its Parquet,
    // named after the file.
    let spec_of = |f: &Path| {
        let fresh = tempfile::tempdir().unwrap();
        let o = ok(
            fresh.path(),
            &[
                "data",
                "init",
                s(f),
                "--target",
                "Stay",
                "--positive",
                "31-40,41-50,51-60,61-70,71-80,81-90,91-100,More than 100 Days",
            ],
        );
        let text = String::from_utf8(o.stdout).unwrap();
        // The spec alike; `[data] train` names each its own file.
        let settings = std::fs::read_to_string(fresh.path().join("staytrack.toml")).unwrap();
        let (spec, data) = settings.split_once("\n[data]\n").unwrap();
        assert_eq!(data, format!("train = {:?}\n", s(f)));
        (
            spec.to_string(),
            text.lines()
                .filter(|l| !l.contains("wrote") && !l.contains("runs train on"))
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
    };
    let want = spec_of(&ws.join("data/train_data.csv"));
    assert!(want.0.contains("case_id"), "{}", want.0);
    assert_eq!(spec_of(&pq(ws, "train_data.parquet")), want);

    // `feedback`: outcomes of logged predictions, the same summary from either file.
    ok(ws, &["train", "--model", "lr"]);
    ok(ws, &["promote", "lr"]);
    ok(
        ws,
        &[
            "score",
            "--log",
            s(&ws.join("data/train_data.csv")),
            "--out",
            s(&ws.join("scored.csv")),
        ],
    );
    let other = common::copy_workspace(ws);
    let feedback = |ws: &Path, f: &Path| {
        without(
            json(&ok(ws, &["feedback", s(f), "--json"])),
            &["file", "path", "seconds"],
        )
    };
    let from_csv = feedback(other.path(), &other.path().join("data/outcomes.csv"));
    assert_eq!(from_csv["rows"], 300, "{from_csv}");
    assert_eq!(feedback(ws, &pq(ws, "outcomes.parquet")), from_csv);
}

#[test]
fn damaged_and_unreadable_parquet_files_are_clear_errors() {
    let dir = workspace();
    let ws = dir.path();
    let good = std::fs::read(pq(ws, "train_data.parquet")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = pq(ws, name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut magic = good.clone();
    magic[..4].copy_from_slice(b"PAR2");
    let mut footer = good.clone();
    let n = footer.len();
    footer[n - 8..n - 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (write("truncated.parquet", &good[..good.len() / 2]), vec!["does not end with the Parquet magic bytes", "cut short"]),
        (write("magic.parquet", &magic), vec!["does not start with the Parquet magic bytes PAR1"]),
        (write("footer.parquet", &footer), vec!["its footer claims 2147483632 bytes"]),
        (write("empty.parquet", b""), vec!["the file is empty"]),
        (write("text.parquet", b"case_id,Stay\n1,0-10\n"), vec!["does not start with the Parquet magic bytes"]),
        (pq(ws, "nested.parquet"), vec!["column 'visits'", "nested"]),
        (
            pq(ws, "train_lz4.parquet"),
            vec!["row group 1 of 2: column 'case_id': it is compressed with LZ4"],
        ),
        (pq(ws, "wrong_type.parquet"), vec!["row 2001 (row group 3 of 5), column 'Admission_Deposit': expected a number, found 'lots'"]),
    ];
    for (file, says) in &cases {
        let err = refused(&run(ws, &["data", "check", s(file)]));
        assert!(err.contains(s(file)), "{err}");
        for w in says {
            assert!(err.contains(w), "{}: {err}", file.display());
        }
    }
    // Missing columns are said as for the CSV.
    let columns = |f: &Path| refused(&run(ws, &["data", "check", s(f)])).replacen(s(f), "FILE", 1);
    let want = columns(&ws.join("data/outcomes.csv"));
    assert!(
        want.contains("missing column(s): 'Hospital_code'"),
        "{want}"
    );
    assert_eq!(columns(&pq(ws, "outcomes.parquet")), want);

    // The CSV with the same bad value names the same row and column.
    let mut lines: Vec<String> = std::fs::read_to_string(ws.join("data/train_data.csv"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut f: Vec<String> = lines[2001].split(',').map(str::to_string).collect();
    f[16] = "lots".into();
    lines[2001] = f.join(",");
    let bad_csv = ws.join("bad.csv");
    std::fs::write(&bad_csv, lines.join("\n") + "\n").unwrap();
    let err = refused(&run(ws, &["data", "check", s(&bad_csv)]));
    assert!(
        err.contains(
            "row 2001 (line 2002), column 'Admission_Deposit': expected a number, found 'lots'"
        ),
        "{err}"
    );

    // Every other command refuses them the same way.
    ok(ws, &["train", "--model", "lr"]);
    ok(ws, &["promote", "lr"]);
    for (file, says) in &cases {
        let f = s(file);
        for args in [
            vec!["train", "--model", "lr", "--data", f],
            vec!["score", f, "--out", s(&ws.join("never.csv"))],
            vec!["drift", "--current", f],
            vec!["feedback", f],
        ] {
            // `feedback` reads only the columns it needs, so a bad deposit is no error there.
            if args[0] == "feedback" && file.ends_with("wrong_type.parquet") {
                continue;
            }
            let err = refused(&run(ws, &args));
            assert!(err.contains(says[0]), "{args:?}: {err}");
        }
    }
    assert!(!ws.join("never.csv").exists());
}
