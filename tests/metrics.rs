//! staytrack's metrics against scikit-learn's on a fixture of 3,000 predictions with many ties
//! (made by tests/fixtures/make_metrics_fixture.py).

mod common;

use common::floats;
use serde_json::Value;
use staytrack::metrics::{self, Confusion};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/metrics_sklearn.json")).unwrap()
}

fn assert_close(name: &str, ours: f64, theirs: f64) {
    assert!(
        (ours - theirs).abs() <= 1e-9,
        "{name}: staytrack {ours}, scikit-learn {theirs}"
    );
}

#[test]
fn every_metric_agrees_with_scikit_learn() {
    let f = fixture();
    let y: Vec<u8> = f["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    let p = floats(&f["p"]);
    let e = metrics::evaluate(&y, &p).unwrap();
    for (name, ours) in [
        ("accuracy", e.accuracy),
        ("precision", e.precision),
        ("recall", e.recall),
        ("f1", e.f1),
        ("roc_auc", e.roc_auc),
        ("average_precision", e.pr_auc),
        ("log_loss", e.log_loss),
        ("brier", e.brier),
        ("best_threshold", e.best_threshold),
        ("best_f1", e.best_f1),
    ] {
        assert_close(name, ours, f[name].as_f64().unwrap());
    }
    let c = floats(&f["confusion"]);
    assert_eq!(
        e.confusion,
        Confusion {
            tn: c[0] as u64,
            fp: c[1] as u64,
            fn_: c[2] as u64,
            tp: c[3] as u64
        }
    );
    let roc = metrics::roc_curve(&y, &p).unwrap();
    let (fpr, tpr) = (floats(&f["roc_fpr"]), floats(&f["roc_tpr"]));
    assert_eq!(roc.x.len(), fpr.len());
    for i in 0..fpr.len() {
        assert_close("roc fpr", roc.x[i], fpr[i]);
        assert_close("roc tpr", roc.y[i], tpr[i]);
    }
    let cal = &e.calibration;
    let (truth, pred) = (
        floats(&f["calibration_prob_true"]),
        floats(&f["calibration_prob_pred"]),
    );
    assert_eq!(cal.x.len(), pred.len());
    for i in 0..pred.len() {
        assert_close("calibration predicted", cal.x[i], pred[i]);
        assert_close("calibration observed", cal.y[i], truth[i]);
    }
}
