//! staytrack's explanations against shap 0.54 on the same models and rows, to 1e-9.
//!
//! `tests/fixtures/shap_export.json` holds models staytrack fitted (as its bundles store them),
//! the same trees in shap's TreeExplainer dict format, the rows to explain and, for the linear
//! families, the training rows shap takes the means from; `make_shap_fixture.py` runs shap on
//! it and writes `shap_reference.json`. Both are committed, so this test needs no Python.
//! To remake the export (after a change to how models are fitted or exported):
//!
//!     STAYTRACK_WRITE_SHAP_EXPORT=1 cargo test --test explain_shap
//!     ~/.cache/staytrack/refs/bin/python tests/fixtures/make_shap_fixture.py

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde_json::{json, Value};
use staytrack::data::synth::{self, Drift, SynthOptions};
use staytrack::explain::{export, feature_means, Explainer};
use staytrack::features::FeaturePipeline;
use staytrack::models::{self, Family, FitContext, Model, Params};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Small models of every family, fitted on generated rows: what the export holds.
fn write_export() {
    let dir = tempfile::tempdir().unwrap();
    let w = synth::write_files(
        &SynthOptions {
            train_rows: 900,
            test_rows: 10,
            seed: 33,
            drift: Drift::None,
        },
        dir.path(),
    )
    .unwrap();
    let data =
        staytrack::train::prepare(&w.train, &staytrack::data::DatasetSpec::hospital(), 42, 0.2)
            .unwrap();
    let cancel = AtomicBool::new(false);
    let progress = |_| {};
    let ctx = FitContext {
        seed: 7,
        cancel: &cancel,
        progress: &progress,
    };
    let x_valid = data.x_valid.dense(0..40);
    let rows: Vec<Vec<f64>> = x_valid.rows().into_iter().map(|r| r.to_vec()).collect();
    // Tree rows also carry missing values (NaN), which every walk sends right.
    let mut nan_rows = rows.clone();
    for (i, r) in nan_rows.iter_mut().enumerate().take(12) {
        for j in (i % 7..r.len()).step_by(5) {
            r[j] = f64::NAN;
        }
    }
    let background = data.x_train.dense(0..200);
    let means = feature_means(&data.x_train.take(&(0..200).collect::<Vec<_>>()));
    let mut models = Vec::new();
    for (family, set) in [
        (Family::Tree, vec![("max_leaves", "48")]),
        (Family::Forest, vec![("n_trees", "8")]),
        (Family::Gbdt, vec![("n_rounds", "15")]),
        (Family::LinfaTree, vec![("max_depth", "6")]),
        (Family::Lr, vec![]),
        (Family::LinfaLr, vec![]),
    ] {
        let mut p = Params::defaults(family);
        for (k, v) in set {
            p.set(k, v).unwrap();
        }
        let fitted = models::fit(&p, &data.x_train, &data.y_train, &ctx).unwrap();
        let shap = export::to_shap(&fitted.model).unwrap();
        let linear = shap.is_none();
        models.push(json!({
            "name": family.name(),
            "model": fitted.model,
            "shap": shap,
            "rows": if linear { &rows } else { &nan_rows },
            "feature_means": if linear { Some(&means) } else { None },
        }));
    }
    let out = json!({
        "note": "written by STAYTRACK_WRITE_SHAP_EXPORT=1 cargo test --test explain_shap",
        "pipeline": data.pipeline,
        "background": background.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        "models": models,
    });
    // JSON has no NaN: missing values are written as null and read back as NaN.
    std::fs::write(
        fixture("shap_export.json"),
        serde_json::to_string(&out).unwrap(),
    )
    .unwrap();
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn values_match_shap_for_every_family() {
    if std::env::var_os("STAYTRACK_WRITE_SHAP_EXPORT").is_some() {
        write_export();
    }
    let export: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("shap_export.json")).unwrap())
            .unwrap();
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("shap_reference.json")).unwrap())
            .unwrap();
    let pipeline: FeaturePipeline = serde_json::from_value(export["pipeline"].clone()).unwrap();
    let models = export["models"].as_array().unwrap();
    assert_eq!(models.len(), 6, "every family is in the export");
    let mut families = Vec::new();
    for m in models {
        let name = m["name"].as_str().unwrap();
        let model: Model = serde_json::from_value(m["model"].clone()).unwrap();
        model.validate(pipeline.n_features()).unwrap();
        families.push(model.family());
        // The export of this model is the one the fixture was made from.
        let shap = serde_json::to_value(export::to_shap(&model).unwrap()).unwrap();
        assert_eq!(
            shap, m["shap"],
            "{name}: the export to shap's format changed"
        );
        let means: Option<Vec<f64>> = m["feature_means"]
            .as_array()
            .map(|_| floats(&m["feature_means"]));
        let e = Explainer::of_model(&model, means.as_deref(), &pipeline).unwrap();
        let want = &reference["models"][name];
        let expected = want["expected_value"].as_f64().unwrap();
        assert!(
            (e.expected_value() - expected).abs() < 1e-9,
            "{name}: expected value {} against shap's {expected}",
            e.expected_value()
        );
        let rows = m["rows"].as_array().unwrap();
        let values = want["shap_values"].as_array().unwrap();
        assert_eq!(rows.len(), values.len(), "{name}");
        let mut ws = e.workspace();
        let mut phi = vec![0.0; e.n_features()];
        let mut worst = 0.0f64;
        for (r, (row, v)) in rows.iter().zip(values).enumerate() {
            let x = floats(row);
            let out = e.explain_row(&x, &mut ws, &mut phi);
            for (j, (a, b)) in phi.iter().zip(floats(v)).enumerate() {
                assert!(
                    (a - b).abs() < 1e-9,
                    "{name}, row {r}, feature {j}: {a} against shap's {b}"
                );
                worst = worst.max((a - b).abs());
            }
            let sum = e.expected_value() + phi.iter().sum::<f64>();
            assert!(
                (sum - out).abs() < 1e-9,
                "{name}, row {r}: {sum} against {out}"
            );
            // shap's own prediction of the margin is the explainer's.
            let margin = want["margins"][r].as_f64().unwrap();
            assert!(
                (margin - out).abs() < 1e-9,
                "{name}, row {r}: {out} against {margin}"
            );
            // The margin is the model's: its probability is what staytrack predicts.
            let dense = ndarray::Array2::from_shape_vec((1, x.len()), x.clone()).unwrap();
            let p = model.predict_proba(dense.view())[0];
            let from_margin = match e.margin() {
                staytrack::explain::Margin::LogOdds => staytrack::models::sigmoid(out),
                staytrack::explain::Margin::Probability => out.clamp(0.0, 1.0),
            };
            assert!((p - from_margin).abs() < 1e-12, "{name}, row {r}");
        }
        eprintln!("{name}: largest difference from shap {worst:e}");
    }
    for f in Family::ALL {
        assert!(families.contains(&f), "{} is not checked", f.name());
    }
}
