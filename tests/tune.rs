//! `staytrack tune` through the real binary: Hyperband within the budget, trials as runs of one
//! sweep with early-stopped ones marked, the best against the default run with a paired test,
//! parameter importance, and the parallel-coordinates chart.

mod common;

use common::{json, ok, run};
use serde_json::Value;

#[test]
fn a_sweep_halves_its_trials_within_the_budget_and_records_each_as_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "6000", "--test-rows", "30"],
    );
    let space = ws.join("space.toml");
    // A small space so the debug build fits quickly: few rounds, few leaves.
    std::fs::write(
        &space,
        "[gbdt]\nn_rounds = 40\nmax_leaves = [4, 8, 16]\nlearning_rate = { min = 0.05, max = 0.5, log = true }\n",
    )
    .unwrap();
    let budget = 25.0;
    let o = ok(
        ws,
        &[
            "tune",
            "--model",
            "gbdt",
            "--budget",
            "25s",
            "--space",
            space.to_str().unwrap(),
            "--min-rung-rows",
            "500",
            "--name",
            "sw",
            "--json",
        ],
    );
    let r = json(&o);
    assert_eq!(r["sweep"], "sw");
    let elapsed = r["elapsed_seconds"].as_f64().unwrap();
    // The budget stops a fit in flight; recording what was fitted takes a moment more.
    assert!(
        elapsed <= budget + 10.0,
        "took {elapsed} s of a {budget} s budget"
    );
    let trials = r["trials"].as_array().unwrap();
    assert!(trials.len() >= 9, "{} trials", trials.len());
    assert!(
        trials.iter().any(|t| t["early_stopped"] == true),
        "none stopped early"
    );
    // Every sampled value stays in its space.
    for t in trials {
        let p = &t["params"];
        assert_eq!(p["n_rounds"], 40.0);
        assert!(
            [4.0, 8.0, 16.0].contains(&p["max_leaves"].as_f64().unwrap()),
            "{p}"
        );
        let lr = p["learning_rate"].as_f64().unwrap();
        assert!((0.05..=0.5).contains(&lr), "{lr}");
    }
    // Each trial is a run of the sweep, marked as it ended.
    let runs: Vec<Value> =
        serde_json::from_slice(&ok(ws, &["runs", "list", "--json"]).stdout).unwrap();
    for t in trials {
        let run = runs
            .iter()
            .find(|x| x["id"] == t["run_id"])
            .expect("a run per trial");
        assert_eq!(run["params"]["sweep"], "sw");
        let stopped = run["params"]["stopped"].as_str().unwrap();
        assert_eq!(stopped == "early", t["early_stopped"] == true, "{run}");
        assert_eq!(run["status"], "finished");
    }
    // A default run was trained first (none was in the store) and the best trial is paired
    // against it on the same validation rows.
    let fam = &r["families"][0];
    let default = fam["default_run"].as_str().unwrap();
    let d = runs.iter().find(|x| x["id"] == default).unwrap();
    assert_eq!(d["params"]["stopped"], "default");
    let best = &fam["best"];
    let top = trials
        .iter()
        .map(|t| t["roc_auc"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(best["roc_auc"].as_f64().unwrap(), top);
    let paired = &fam["against_default"]["roc_auc"];
    let diff = paired["diff"].as_f64().unwrap();
    let auc_default = d["metrics"]["roc_auc"].as_f64().unwrap();
    assert!((diff - (top - auc_default)).abs() < 1e-9, "{paired}");
    assert!((0.0..=1.0).contains(&paired["p_value"].as_f64().unwrap()));
    // Importance: the searched parameters, each with a ρ in [-1, 1].
    let imp = fam["importance"].as_array().unwrap();
    let keys: Vec<&str> = imp.iter().map(|i| i[0].as_str().unwrap()).collect();
    assert!(
        keys.contains(&"learning_rate") && keys.contains(&"max_leaves"),
        "{keys:?}"
    );
    assert!(
        !keys.contains(&"n_rounds"),
        "a fixed parameter is not searched"
    );
    for i in imp {
        let rho = i[1].as_f64().unwrap();
        assert!(
            rho.is_nan() || (-1.0..=1.0).contains(&rho) || i[1].is_null(),
            "{i}"
        );
    }
    // The chart.
    let out = ws.join("charts");
    let o = ok(
        ws,
        &["report", "--sweep", "sw", "--out", out.to_str().unwrap()],
    );
    let file = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(file.ends_with("sweep-sw-gbdt.png"), "{file}");
    assert!(std::fs::read(&file).unwrap().starts_with(b"\x89PNG"));
    // A second sweep finds the default run instead of training it again.
    let again = json(&ok(
        ws,
        &[
            "tune",
            "--model",
            "gbdt",
            "--budget",
            "5s",
            "--space",
            space.to_str().unwrap(),
            "--min-rung-rows",
            "500",
            "--name",
            "sw2",
            "--json",
        ],
    ));
    assert_eq!(again["families"][0]["default_run"].as_str(), Some(default));
}

#[test]
fn a_bad_space_or_budget_is_refused_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(
        ws,
        &["data", "synth", "--rows", "2000", "--test-rows", "30"],
    );
    for (text, want) in [
        (
            "[gbdt]\nlearning_rate = { min = 0.5, max = 0.1 }\n",
            "gbdt.learning_rate",
        ),
        ("[gbdt]\nnope = 3\n", "no parameter 'nope'"),
        ("[gbdt]\nmax_leaves = []\n", "empty list"),
        (
            "[gbdt]\nlambda = { min = 0, max = 1, log = true }\n",
            "log range",
        ),
        ("[forests]\nn_trees = 3\n", "not a family"),
    ] {
        let space = ws.join("space.toml");
        std::fs::write(&space, text).unwrap();
        let o = run(
            ws,
            &["tune", "--budget", "5s", "--space", space.to_str().unwrap()],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{text}: {err}");
        assert!(
            err.contains("space.toml") && err.contains(want),
            "{text}: {err}"
        );
    }
    let o = run(ws, &["tune", "--budget", "soon"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--budget 'soon'"));
    assert!(json(&ok(ws, &["runs", "list", "--json"]))
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn spearman_matches_scipy() {
    let r: Value = serde_json::from_str(include_str!("fixtures/spearman_reference.json")).unwrap();
    for c in r["cases"].as_array().unwrap() {
        let v = |k: &str| -> Vec<f64> {
            c[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let rho = staytrack::metrics::spearman(&v("x"), &v("y"));
        let want = c["rho"].as_f64().unwrap();
        assert!((rho - want).abs() < 1e-12, "{}: {rho} vs {want}", c["name"]);
    }
    assert_eq!(
        staytrack::metrics::spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]),
        -1.0
    );
    assert!(staytrack::metrics::spearman(&[1.0, 1.0, 1.0], &[3.0, 2.0, 1.0]).is_nan());
}
