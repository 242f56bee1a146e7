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
        // The promoted run explained on the test file's first rows.
        "shap_summary.png",
        "shap_dependence.png",
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

/// Reads a PNG the report wrote: its size, and whether it is a chart rather than a blank.
fn png_of(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{}",
        path.display()
    );
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
    let (share, colours) = ink(path);
    assert!(
        share > 0.01 && colours > 20,
        "{}: {share} {colours}",
        path.display()
    );
    (img.width(), img.height())
}

#[test]
fn shap_charts_plot_the_production_model_s_contributions_on_the_first_rows() {
    use staytrack::report::shap::{DEPENDENCE_SIZE, SUMMARY_SIZE};
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "3000", "--test-rows", "300"],
    );
    ok(ws, &["train", "--model", "gbdt"]);
    let runs: Vec<Value> =
        serde_json::from_slice(&ok(ws, &["runs", "list", "--json"]).stdout).unwrap();
    ok(ws, &["promote", runs[0]["id"].as_str().unwrap()]);
    let out = ws.join("reports");
    let o = ok(
        ws,
        &[
            "report",
            "--out",
            out.to_str().unwrap(),
            "--shap-rows",
            "120",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SHAP charts: 120 rows of"), "{err}");
    assert_eq!(png_of(&out.join("shap_summary.png")), SUMMARY_SIZE);
    assert_eq!(png_of(&out.join("shap_dependence.png")), DEPENDENCE_SIZE);

    // What the charts plot is crate::explain's values for those rows.
    let cfg = staytrack::config::Config::resolve(Some(ws));
    let test = ws.join("data/test_data.csv");
    let d = staytrack::report::shap_sample(
        &cfg,
        "production",
        &test,
        120,
        std::time::Duration::from_secs(600),
    )
    .unwrap();
    assert_eq!((d.rows, d.stopped_by_time), (120, false));
    assert!(d.columns.windows(2).all(|w| w[0].mean_abs >= w[1].mean_abs));
    let store = staytrack::tracking::Store::open(&cfg.db_path).unwrap();
    let t = store.alias_target("production").unwrap().unwrap();
    let bundle =
        staytrack::bundle::Bundle::load_registered(&cfg.artifacts_dir, &t.sha256, None).unwrap();
    let explainer = staytrack::explain::Explainer::new(&bundle).unwrap();
    assert_eq!(d.expected_value, explainer.expected_value());
    let frame =
        staytrack::data::load::load_csv(&test, &bundle.spec, staytrack::data::Labels::Optional)
            .unwrap()
            .take(&(0..120).collect::<Vec<_>>());
    let want = staytrack::explain::explain_frame(
        &explainer,
        &bundle.pipeline,
        &frame,
        staytrack::explain::MAX_TOP,
    )
    .unwrap();
    assert_eq!(d.columns.len(), explainer.columns().len());
    for c in &d.columns {
        assert_eq!(c.contributions.len(), 120);
        let mut abs = 0.0;
        for (i, row) in want.iter().enumerate() {
            let v = row
                .top
                .iter()
                .find(|t| t.column == c.column)
                .map_or(0.0, |t| t.contribution);
            assert!(
                (c.contributions[i] - v).abs() < 1e-12,
                "{} row {i}",
                c.column
            );
            abs += v.abs();
            assert_eq!(
                c.values[i],
                staytrack::explain::file::cell_text(&frame, &c.column, i)
            );
        }
        assert!((c.mean_abs - abs / 120.0).abs() < 1e-12, "{}", c.column);
    }
    // The columns that moved the rows most lead, so the summary's top rows are real.
    assert!(d.columns[0].mean_abs > 0.0);

    // No SHAP charts when told so; bad bounds and a missing file are refused by name.
    let plain = ws.join("plain");
    let o = ok(
        ws,
        &[
            "report",
            "--out",
            plain.to_str().unwrap(),
            "--shap-rows",
            "0",
        ],
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("shap_"));
    for (args, says) in [
        (&["--shap-rows", "many"][..], "--shap-rows"),
        (&["--shap-rows", "100001"][..], "--shap-rows"),
        (&["--shap-seconds", "0"][..], "--shap-seconds"),
        (&["--shap-seconds", "NaN"][..], "--shap-seconds"),
        (&["--shap-file", "missing.csv"][..], "missing.csv"),
    ] {
        let mut all = vec!["report", "--out", plain.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = run(ws, &all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
