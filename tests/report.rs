//! `staytrack report` through the real binary: every chart is a real PNG with content, written
//! atomically, for runs and for a drift report with windows.

use std::path::Path;
mod common;

use common::{csv_records, ok, run};

use serde_json::Value;

/// Share of pixels that are not white, and the number of distinct colours.
fn ink(path: &Path) -> (f64, usize) {
    let img = image::open(path).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    assert!(w >= 600 && h >= 400, "{}: {w}x{h}", path.display());
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0usize;
    for p in img.pixels() {
        colours.insert(p.0);
        if p.0 != [255, 255, 255] {
            inked += 1;
        }
    }
    (inked as f64 / (w * h) as f64, colours.len())
}

#[test]
fn runs_and_drift_render_to_png_files() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "4000", "--test-rows", "1500"],
    );
    ok(ws, &["train", "--model", "lr,tree"]);
    let runs: Vec<Value> =
        serde_json::from_slice(&ok(ws, &["runs", "list", "--json"]).stdout).unwrap();
    ok(ws, &["promote", runs[0]["id"].as_str().unwrap()]);

    // Runs only: no drift report yet.
    let out = ws.join("reports");
    let o = ok(ws, &["report", "--out", out.to_str().unwrap()]);
    let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let names = [
        "confusion_matrices.png",
        "roc_pr_curves.png",
        "metrics.png",
        "calibration.png",
        "feature_importance.png",
    ];
    assert_eq!(listed.len(), names.len(), "{listed:?}");
    for n in names {
        let p = out.join(n);
        let (share, colours) = ink(&p);
        // Charts, not blank canvases: lines, bars, anti-aliased text.
        assert!(share > 0.01, "{n}: {share}");
        assert!(colours > 20, "{n}: {colours} colours");
    }
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());

    // A drift report with windows from the prediction log.
    let mut store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    let now = staytrack::util::now_ms();
    let rows: Vec<staytrack::tracking::PredictionRow> = csv_records(&ws.join("data/test_data.csv"))
        .into_iter()
        .enumerate()
        .map(|(i, rec)| staytrack::tracking::PredictionRow {
            at: now - 3_600_000 + i as i64,
            model_version: Some(1),
            case_id: None,
            inputs: Value::Object(rec).to_string(),
            probability: 0.4,
            class: 0,
            source: "/predict".into(),
            quality: None,
            ..Default::default()
        })
        .collect();
    store.log_predictions(&rows).unwrap();
    ok(ws, &["drift", "--window", "500rows"]);
    let dout = ws.join("drift");
    let o = ok(
        ws,
        &[
            "report",
            "--drift",
            "latest",
            "--drift-only",
            "--out",
            dout.to_str().unwrap(),
        ],
    );
    let listed = String::from_utf8_lossy(&o.stdout).to_string();
    for n in [
        "drift_summary.png",
        "drift_distributions.png",
        "drift_windows.png",
    ] {
        assert!(listed.contains(n), "{listed}");
        let (share, colours) = ink(&dout.join(n));
        assert!(share > 0.01 && colours > 20, "{n}");
    }

    // Errors name what is wrong.
    let o = run(
        ws,
        &["report", "--run", "nope", "--out", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no run with the id or name 'nope'"));
    let o = run(ws, &["report", "--drift", "99", "--drift-only"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no drift report 99"));
}
