//! `promote --best --metric M` and `runs list --sort M` rank by each metric in its own direction:
//! the fastest run for `fit_seconds`, the lowest for `log_loss` and `brier`, the highest for
//! the scores; a setting (`best_threshold`) is refused.

mod common;

use common::{json, ok, run, trained};
use staytrack::metrics::{Direction, Metric};

#[test]
fn every_metric_ranks_runs_in_its_own_direction() {
    let ws = trained("lr,tree,forest", 3000);
    let w = ws.path();
    let runs = json(&ok(w, &["runs", "list", "--json"]));
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for m in Metric::ALL {
        let values: Vec<(String, f64)> = runs
            .iter()
            .filter_map(|r| {
                Some((
                    r["id"].as_str()?.to_string(),
                    r["metrics"][m.key()].as_f64()?,
                ))
            })
            .collect();
        if m.direction() == Direction::Unranked {
            let o = run(w, &["promote", "--best", "--metric", m.key()]);
            assert_eq!(o.status.code(), Some(1), "{m}");
            continue;
        }
        assert_eq!(values.len(), 3, "{m} is recorded for every run");
        let best = values
            .iter()
            .min_by(|a, b| m.best_first(a.1, b.1))
            .unwrap()
            .clone();
        // Distinct values, so the expected run is unambiguous.
        if values.iter().filter(|v| v.1 == best.1).count() > 1 {
            continue;
        }
        let alias = format!("best-{}", m.key().replace('_', "-"));
        ok(
            w,
            &["promote", "--best", "--metric", m.key(), "--alias", &alias],
        );
        let reg = json(&ok(w, &["registry", "--json"]));
        let chosen = reg["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["alias"] == alias.as_str())
            .map(|a| a["run_id"].as_str().unwrap().to_string());
        assert_eq!(chosen.as_deref(), Some(best.0.as_str()), "{m}: {values:?}");
        let sorted = json(&ok(w, &["runs", "list", "--json", "--sort", m.key()]));
        assert_eq!(
            sorted[0]["id"].as_str(),
            Some(best.0.as_str()),
            "--sort {m}"
        );
    }
    // The one the CLI used to get backwards.
    let fast = json(&ok(w, &["runs", "list", "--json", "--sort", "fit_seconds"]));
    let secs: Vec<f64> = fast
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metrics"]["fit_seconds"].as_f64().unwrap())
        .collect();
    assert!(secs.windows(2).all(|p| p[0] <= p[1]), "{secs:?}");
    let o = run(w, &["runs", "list", "--sort", "auc"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("roc_auc"));
}
