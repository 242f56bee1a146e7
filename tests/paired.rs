//! Paired comparisons against references: DeLong's test against the fast algorithm of Sun & Xu
//! written from the paper in `tests/fixtures/make_paired_fixture.py`, McNemar's exact test
//! against scipy's `binomtest`, all to 1e-9; and on trained models, two identical runs differ by
//! nothing while logistic regression against boosted trees is far beyond noise.

mod common;

use serde_json::Value;
use staytrack::metrics::paired::{bootstrap, delong, mcnemar, Score, RESAMPLES};

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "{what}: {a} vs the reference {b}"
    );
}

#[test]
fn delong_and_mcnemar_match_the_references() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/paired_reference.json")).unwrap();
    for c in fixture["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let y: Vec<u8> = c["y"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        let f = |k: &str| common::floats(&c[k]);
        let (a, b) = (f("a"), f("b"));
        let d = delong(&y, &a, &b, 0.95).unwrap();
        for (got, key) in [
            (d.auc_a, "auc_a"),
            (d.auc_b, "auc_b"),
            (d.diff, "diff"),
            (d.variance, "variance"),
            (d.z, "z"),
            (d.p_value, "p_value"),
            (d.ci.0, "ci0"),
            (d.ci.1, "ci1"),
        ] {
            let want = match key {
                "ci0" => c["ci"][0].as_f64().unwrap(),
                "ci1" => c["ci"][1].as_f64().unwrap(),
                k => c[k].as_f64().unwrap(),
            };
            close(got, want, &format!("{name}: {key}"));
        }
        // The DeLong AUCs are the AUCs the rest of staytrack reports.
        close(
            d.auc_a,
            staytrack::metrics::roc_auc(&y, &a).unwrap(),
            &format!("{name}: roc_auc"),
        );
        let m = mcnemar(&y, &a, &b, 0.5).unwrap();
        assert_eq!(m.only_a, c["mcnemar_only_a"].as_u64().unwrap(), "{name}");
        assert_eq!(m.only_b, c["mcnemar_only_b"].as_u64().unwrap(), "{name}");
        close(
            m.p_value,
            c["mcnemar_p"].as_f64().unwrap(),
            &format!("{name}: McNemar"),
        );
    }
}

#[test]
fn identical_runs_differ_by_nothing_and_lr_against_gbdt_is_far_beyond_noise() {
    use staytrack::bundle::Bundle;
    let ws = common::trained("lr,gbdt", 6000);
    let ws = ws.path();
    // Both models on the same validation rows, from their bundles and the prepared split.
    let prepared = staytrack::train::prepare(
        &ws.join("data/train_data.csv"),
        &staytrack::data::DatasetSpec::hospital(),
        staytrack::data::DEFAULT_SEED,
        0.2,
    )
    .unwrap();
    let probs = |family: &str| {
        let id = common::run_of(ws, family);
        let run = common::json(&common::ok(ws, &["runs", "show", &id, "--json"]));
        let path = run["artifacts"][0]["path"].as_str().unwrap().to_string();
        Bundle::load(std::path::Path::new(&path))
            .unwrap()
            .model
            .predict_encoded(&prepared.x_valid)
    };
    let (lr, gbdt) = (probs("lr"), probs("gbdt"));
    let y = &prepared.y_valid;
    let same = delong(y, &lr, &lr, 0.95).unwrap();
    assert_eq!((same.diff, same.p_value), (0.0, 1.0));
    let d = delong(y, &lr, &gbdt, 0.95).unwrap();
    assert!(d.diff > 0.0 && d.p_value < 1e-6, "{d:?}");
    assert!(d.ci.0 > 0.0, "the interval excludes no difference: {d:?}");
    let b = bootstrap(y, &lr, &gbdt, Score::RocAuc, RESAMPLES / 10, 42, 0.95).unwrap();
    assert!(b.ci.0 > 0.0 && (b.diff - d.diff).abs() < 1e-12, "{b:?}");
    // Every draw favours gbdt: the p-value is as small as the draws can tell, never 0.
    let draws = (RESAMPLES / 10) as f64;
    assert_eq!(b.p_value, 2.0 / (draws + 1.0), "{b:?}");
    let same = bootstrap(y, &lr, &lr, Score::PrAuc, RESAMPLES / 10, 42, 0.95).unwrap();
    assert_eq!(same.p_value, 1.0);
}

#[test]
fn runs_compare_pairs_runs_on_shared_rows_and_says_when_it_cannot() {
    let ws = common::trained("lr,gbdt", 3000);
    let ws = ws.path();
    // The same family and seed again: the same probabilities, so no difference at all.
    common::ok(ws, &["train", "--model", "lr", "--name", "lr-again"]);
    // Another seed: another split, not comparable.
    common::ok(
        ws,
        &[
            "train", "--model", "lr", "--name", "lr-seed7", "--seed", "7",
        ],
    );
    let v = common::json(&common::ok(
        ws,
        &[
            "runs", "compare", "lr", "gbdt", "lr-again", "lr-seed7", "--json",
        ],
    ));
    assert_eq!(v["runs"].as_array().unwrap().len(), 4);
    assert_eq!(v["baseline"], common::run_of_name(ws, "lr"));
    let paired = v["paired"].as_array().unwrap();
    assert_eq!(paired.len(), 3);
    let gbdt = &paired[0];
    assert!(gbdt["roc_auc"]["diff"].as_f64().unwrap() > 0.0, "{gbdt}");
    let keys: Vec<&str> = gbdt["bootstrap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[0].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["pr_auc", "f1", "accuracy", "log_loss", "brier"]);
    let again = &paired[1];
    assert_eq!(again["roc_auc"]["diff"], 0.0);
    assert_eq!(again["roc_auc"]["p_value"], 1.0);
    assert_eq!(again["accuracy"]["p_value"], 1.0);
    let seed7 = &paired[2];
    assert!(
        seed7["why"]
            .as_str()
            .unwrap()
            .contains("split differently (seed 42"),
        "{seed7}"
    );
    // The text table marks the difference and names the test.
    let o = common::ok(ws, &["runs", "compare", "lr", "gbdt", "--baseline", "lr"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("paired against lr") && text.contains("DeLong"),
        "{text}"
    );

    // The validation predictions, as CSV; an existing file is replaced only with --force.
    let out = ws.join("lr-valid.csv");
    common::ok(
        ws,
        &["runs", "predictions", "lr", "--out", out.to_str().unwrap()],
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("case_id,label,probability"));
    assert_eq!(lines.count(), 600, "a fifth of 3,000 rows");
    let o = common::run(
        ws,
        &["runs", "predictions", "lr", "--out", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists; pass --force"));
}
