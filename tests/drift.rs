//! Drift statistics against scipy on fixed inputs (`tests/fixtures/make_drift_fixture.py` wrote
//! the expected values), and the drift rules on hand-made columns.

mod common;

use common::floats;
use serde_json::Value;
use staytrack::drift::{self, stats, Column, Options, Test, Values};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/drift_scipy.json")).unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn kolmogorov_smirnov_matches_scipy() {
    for case in fixture()["ks"].as_array().unwrap() {
        let a = stats::weighted(floats(&case["a"]));
        let b = stats::weighted(floats(&case["b"]));
        let d = stats::ks_statistic(&a, &b);
        let want_d = case["d"].as_f64().unwrap();
        assert!(close(d, want_d, 1e-12), "D {d} vs {want_d}");
        let n1 = case["a"].as_array().unwrap().len() as u64;
        let n2 = case["b"].as_array().unwrap().len() as u64;
        let p = stats::ks_pvalue(d, n1, n2);
        let want = case["p"].as_f64().unwrap();
        // Exact regime: to 1e-9. Beyond 10,000 values scipy's kstwo.sf switches to an
        // asymptotic series for large n, good to about 1e-6; staytrack's matrix method is exact.
        let tol = if n1.max(n2) <= 10_000 { 1e-9 } else { 1e-6 };
        assert!(close(p, want, tol), "n {n1},{n2}: p {p} vs scipy {want}");
    }
    for case in fixture()["kstwo"].as_array().unwrap() {
        let (d, n) = (case["d"].as_f64().unwrap(), case["n"].as_u64().unwrap());
        let sf = stats::kolmogorov_sf(d, n);
        let want = case["sf"].as_f64().unwrap();
        let tol = if n <= 140 { 1e-9 } else { 1e-6 };
        assert!(close(sf, want, tol), "kstwo.sf({d}, {n}) {sf} vs {want}");
    }
}

#[test]
fn chi_square_and_z_match_scipy() {
    let f = fixture();
    for case in f["chi2"].as_array().unwrap() {
        let (_, p) = stats::chi_square(&floats(&case["obs"]), &floats(&case["exp"]));
        let want = case["p"].as_f64().unwrap();
        assert!(close(p, want, 1e-10), "chi2 p {p} vs {want}");
    }
    for case in f["z"].as_array().unwrap() {
        let g = |k: &str| case[k].as_f64().unwrap();
        let (_, p) = stats::z_test(g("k1"), g("n1"), g("k2"), g("n2"));
        // scipy's value is 2 (1 - cdf), which loses digits below 1e-16; erfc keeps them.
        assert!((p - g("p")).abs() < 1e-14, "z p {p} vs {}", g("p"));
    }
}

#[test]
fn distances_match_scipy() {
    let f = fixture();
    for case in f["wasserstein"].as_array().unwrap() {
        let a = stats::weighted(floats(&case["a"]));
        let b = stats::weighted(floats(&case["b"]));
        let w = stats::wasserstein(&a, &b);
        assert!(close(w, case["distance"].as_f64().unwrap(), 1e-10));
        let normed = w / stats::std(&a).max(0.001);
        assert!(close(normed, case["normed"].as_f64().unwrap(), 1e-10));
    }
    for case in f["js"].as_array().unwrap() {
        let d = stats::jensen_shannon(&floats(&case["p"]), &floats(&case["q"]));
        assert!(close(d, case["distance"].as_f64().unwrap(), 1e-12));
    }
    for case in f["psi"].as_array().unwrap() {
        let r = drift::numeric_column("x", floats(&case["a"]));
        let c = drift::numeric_column("x", floats(&case["b"]));
        let opts = Options {
            psi: true,
            ..Options::default()
        };
        let out = drift::column_drift(&r, &c, &opts).unwrap();
        assert_eq!(out.test, Test::Psi);
        let want = case["psi"].as_f64().unwrap();
        assert!(
            close(out.statistic, want, 1e-9),
            "psi {} vs {want}",
            out.statistic
        );
    }
}

fn cat(name: &str, counts: &[(&str, f64)]) -> Column {
    Column {
        name: name.into(),
        values: Values::Categorical(counts.iter().map(|(k, n)| (k.to_string(), *n)).collect()),
        missing: 0.0,
    }
}

#[test]
fn the_rules_pick_evidently_s_tests() {
    let none = Options::default();
    // Large reference: numeric ⇒ Wasserstein, categorical ⇒ Jensen-Shannon.
    let big: Vec<f64> = (0..2000).map(|i| (i % 97) as f64).collect();
    let r = drift::numeric_column("n", big.clone());
    let out = drift::column_drift(&r, &r.clone(), &none).unwrap();
    assert_eq!(
        (out.test, out.statistic, out.drifted),
        (Test::Wasserstein, 0.0, false)
    );
    let shifted = drift::numeric_column("n", big.iter().map(|x| x + 30.0));
    let out = drift::column_drift(&r, &shifted, &none).unwrap();
    assert!(out.drifted && out.statistic > 1.0, "{out:?}");
    let rc = cat("c", &[("a", 900.0), ("b", 600.0), ("c", 500.0)]);
    let out = drift::column_drift(&rc, &rc.clone(), &none).unwrap();
    assert_eq!(
        (out.test, out.statistic, out.drifted),
        (Test::JensenShannon, 0.0, false)
    );
    // Small reference: numeric ⇒ KS, 3+ values ⇒ chi-square, 2 values ⇒ Z.
    let small = drift::numeric_column("s", (0..100).map(|i| i as f64));
    assert_eq!(
        drift::column_drift(&small, &small.clone(), &none)
            .unwrap()
            .test,
        Test::Ks
    );
    let three = cat("t", &[("a", 10.0), ("b", 20.0), ("c", 30.0)]);
    let out = drift::column_drift(&three, &three.clone(), &none).unwrap();
    assert_eq!(out.test, Test::ChiSquare);
    assert!((out.statistic - 1.0).abs() < 1e-12 && !out.drifted);
    let two = cat("z", &[("y", 40.0), ("n", 60.0)]);
    let moved = cat("z", &[("y", 80.0), ("n", 20.0)]);
    let out = drift::column_drift(&two, &moved, &none).unwrap();
    assert_eq!(out.test, Test::ZTest);
    assert!(out.drifted && out.statistic < 1e-6);
    // A numeric column with at most 5 distinct values (over both samples) is treated as categorical.
    let few = drift::numeric_column("f", (0..3000).map(|i| (i % 4) as f64));
    assert_eq!(
        drift::column_drift(&few, &few.clone(), &none).unwrap().test,
        Test::JensenShannon
    );
    // Overrides.
    let mut opts = Options::default();
    opts.tests.insert("n".into(), Test::Psi);
    opts.thresholds.insert("n".into(), 5.0);
    let out = drift::column_drift(&r, &shifted, &opts).unwrap();
    assert_eq!((out.test, out.threshold), (Test::Psi, 5.0));
    opts.tests.insert("c".into(), Test::Ks);
    assert!(drift::column_drift(&rc, &rc.clone(), &opts).is_err());
}

#[test]
fn the_dataset_drifts_when_half_the_columns_do() {
    let a = cat("a", &[("x", 1000.0), ("y", 1000.0)]);
    let b = cat("b", &[("x", 1000.0), ("y", 1000.0)]);
    let a_moved = cat("a", &[("x", 1900.0), ("y", 100.0)]);
    let r = drift::compare(
        &[a.clone(), b.clone()],
        &[a_moved.clone(), b.clone()],
        &Options::default(),
    )
    .unwrap();
    assert_eq!((r.drifted, r.share, r.dataset_drift), (1, 0.5, true));
    let r = drift::compare(
        &[a.clone(), b.clone()],
        &[a.clone(), b.clone()],
        &Options::default(),
    )
    .unwrap();
    assert_eq!((r.drifted, r.dataset_drift), (0, false));
    let err = drift::compare(&[a.clone(), b], &[a_moved], &Options::default()).unwrap_err();
    assert!(err.to_string().contains("'b'"), "{err}");
}

#[test]
fn a_histogram_profile_stays_close_to_the_raw_column() {
    use staytrack::data::profile::{ColumnProfile, Profile};
    // 60,000 distinct values: the profile keeps 1000 equal-frequency bins, not the values.
    let raw: Vec<f64> = (0..60_000)
        .map(|i| ((i * 7919) % 60_000) as f64 / 7.0)
        .collect();
    let profile = Profile {
        rows: raw.len() as u64,
        columns: vec![ColumnProfile::numeric("x", &raw)],
    };
    let binned = drift::from_profile(&profile).remove(0);
    match &binned.values {
        Values::Numeric(p) => assert!(p.len() <= 1000, "{} points", p.len()),
        other => panic!("{other:?}"),
    }
    let exact = drift::numeric_column("x", raw.iter().copied());
    for shift in [0.0, 100.0, 900.0] {
        let current = drift::numeric_column("x", raw.iter().step_by(3).map(|v| v * 1.01 + shift));
        let a = drift::column_drift(&binned, &current, &Options::default()).unwrap();
        let b = drift::column_drift(&exact, &current, &Options::default()).unwrap();
        // The documented tolerance: 0.002 of a standard deviation.
        assert!(
            (a.statistic - b.statistic).abs() < 0.002,
            "shift {shift}: {} from the profile, {} from the raw values",
            a.statistic,
            b.statistic
        );
        assert_eq!(a.drifted, b.drifted);
    }
}
