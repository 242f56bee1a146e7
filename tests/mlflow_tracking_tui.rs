//! The TUI in a real pseudo-terminal (tmux): a run logged through the MLflow API by the real
//! client beside a run staytrack trained, on the Runs and Compare screens.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::server::Server;

use common::tmux::Tmux;

#[test]
fn an_mlflow_run_sits_beside_a_staytrack_run_on_compare() {
    let ws = common::trained("lr", 2000);
    let ws = ws.path();
    let srv = Server::start_with(ws, None, &["tracking"], &[]);
    let python = std::env::var("STAYTRACK_TEST_CLIENTS").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([
            "-c",
            "import mlflow,sys; mlflow.set_tracking_uri(sys.argv[1]); \
             mlflow.set_experiment('sklearn'); mlflow.start_run(run_name='sk-forest'); \
             mlflow.log_param('n_estimators', '200'); \
             [mlflow.log_metric('roc_auc', 0.70 + s / 100, step=s) for s in range(5)]; \
             mlflow.log_metric('accuracy', 0.8125); mlflow.end_run()",
            srv.base.as_str(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    srv.terminate();

    let t = Tmux::new("mlflow");
    t.start(ws, 200, 50, &[]);
    let s = t.wait_for("2 of 2 runs", 30);
    assert!(s.contains("sk-forest") && s.contains("external"), "{s}");
    // Both runs selected (the newest, the MLflow one, is first), then Compare.
    t.keys(&["Space", "j", "Space", "2"]);
    let s = t.wait_for("n_estimators", 10);
    assert!(s.contains("sk-forest") && s.contains("lr"), "{s}");
    assert!(s.contains("0.7400"), "the MLflow run's latest ROC AUC: {s}");
    assert!(s.contains("0.8125"), "its accuracy, read by name: {s}");
    // Beside the ROC curves, the metric the MLflow run logged over steps.
    assert!(
        s.contains("ROC curves")
            && s.contains("roc_auc by step")
            && s.contains("none: logged through the MLflow API"),
        "{s}"
    );
    // Against a baseline, the MLflow run says why there is no paired test.
    t.keys(&["b"]);
    let s = t.wait_for("without validation predictions", 20);
    assert!(s.contains("not paired with the baseline"), "{s}");
    // Its details show each metric's steps.
    t.keys(&["1", "g"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("per step", 10);
    assert!(s.contains("5 steps: 0.70000 → 0.74000"), "{s}");
    // Apart: an Escape with a key right behind it reads as Alt and that key.
    t.keys(&["Escape"]);
    let end = Instant::now() + Duration::from_secs(10);
    while t.screen().contains("per step") {
        assert!(Instant::now() < end, "the details did not close");
        std::thread::sleep(Duration::from_millis(100));
    }
    t.keys(&["q"]);
    t.wait_for("staytrack exited with 0", 10);
}
