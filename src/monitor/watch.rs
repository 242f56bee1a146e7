//! The fleet's watch job: `staytrack monitor --every 5m [--pull] [--listen ADDR]` pulls the
//! bucket's captures, monitors them, and keeps the latest result at `/metrics`, so Prometheus
//! (and the Grafana dashboard over it) show the fleet's realized and estimated performance and
//! drift with no step by hand. A failed round is counted and the last good figures stay.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{monitor, MonitorOptions, MonitorReport};
use crate::config::Config;

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub every: Duration,
    pub listen: Option<SocketAddr>,
    pub pull: bool,
    pub webhook: bool,
}

/// One `sync pull` with the workspace's settings, captures from `since_ms` on (what the monitor
/// will read); the exit code `staytrack sync pull` would give (1 when objects were skipped,
/// after naming them on stderr).
pub fn pull_once(cfg: &Config, since_ms: i64) -> anyhow::Result<i32> {
    let s = crate::sync::SyncSettings::load(cfg)?;
    let rt = crate::sync::runtime()?;
    let sum = rt.block_on(async {
        let r = crate::sync::Remote::connect(&s).await?;
        crate::sync::pull(cfg, &r, Some(since_ms)).await
    })?;
    eprintln!(
        "staytrack monitor: pulled {} run(s), {} capture segment(s) ({} predictions, {} outcomes)",
        sum.runs, sum.captures.segments, sum.captures.predictions, sum.captures.outcomes
    );
    for r in &sum.rejected {
        eprintln!("  skipped {r}");
    }
    Ok(if sum.rejected.is_empty() { 0 } else { 1 })
}

/// What `/metrics` shows: the counts of rounds and the figures of the last good one.
#[derive(Default)]
struct Shown {
    ok: u64,
    errors: u64,
    last_run_s: f64,
    figures: String,
}

/// Runs rounds forever (until SIGTERM or Ctrl-C).
pub fn run(cfg: &Config, o: &MonitorOptions, w: &WatchOptions) -> anyhow::Result<i32> {
    let shown = Arc::new(Mutex::new(Shown::default()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    if let Some(addr) = w.listen {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        println!(
            "staytrack monitor: serving the latest result at http://{}/metrics",
            listener.local_addr()?
        );
        let shown = shown.clone();
        let app = axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let text = render(&shown.lock().unwrap_or_else(|p| p.into_inner()));
                    async move { ([("content-type", "text/plain; version=0.0.4")], text) }
                }),
            )
            .route("/health", axum::routing::get(|| async { "ok\n" }));
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::Relaxed) {
        let round = (|| -> anyhow::Result<MonitorReport> {
            if w.pull {
                pull_once(cfg, o.since_ms)?;
            }
            monitor(cfg, o)
        })();
        {
            let mut s = shown.lock().unwrap_or_else(|p| p.into_inner());
            s.last_run_s = crate::util::now_ms() as f64 / 1000.0;
            match &round {
                Ok(r) => {
                    s.ok += 1;
                    s.figures = figures(r);
                }
                Err(_) => s.errors += 1,
            }
        }
        match round {
            Ok(r) => {
                println!(
                    "staytrack monitor: {} predictions ({} labelled), {} window(s), {} alert(s)",
                    r.predictions,
                    r.labelled,
                    r.windows.len(),
                    r.alerts.len()
                );
                if let (false, true, Some(url)) =
                    (r.alerts.is_empty(), w.webhook, &o.thresholds.webhook)
                {
                    if let Err(e) = super::post_webhook(url, o.thresholds.webhook_timeout_secs, &r)
                    {
                        eprintln!("warning: {e:#}");
                    }
                }
            }
            Err(e) => eprintln!("staytrack monitor: this round failed: {e:#}"),
        }
        let until = std::time::Instant::now() + w.every;
        while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(0)
}

fn render(s: &Shown) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP staytrack_monitor_runs_total Monitor rounds, by result.\n\
         # TYPE staytrack_monitor_runs_total counter\n\
         staytrack_monitor_runs_total{{result=\"ok\"}} {}\n\
         staytrack_monitor_runs_total{{result=\"error\"}} {}\n\
         # HELP staytrack_monitor_last_run_timestamp_seconds When the last round ended.\n\
         # TYPE staytrack_monitor_last_run_timestamp_seconds gauge\n\
         staytrack_monitor_last_run_timestamp_seconds {}",
        s.ok, s.errors, s.last_run_s
    );
    out.push_str(&s.figures);
    out
}

/// The latest figures per model version: each from the newest window that has it.
fn figures(r: &MonitorReport) -> String {
    let mut out = String::new();
    let gauge = |out: &mut String, name: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    };
    let mut versions: Vec<Option<i64>> = r.windows.iter().map(|w| w.model_version).collect();
    versions.sort();
    versions.dedup();
    let label = |v: Option<i64>| v.map_or("none".to_string(), |v| v.to_string());
    let newest = |v: Option<i64>, f: &dyn Fn(&super::WindowReport) -> Option<f64>| {
        r.windows
            .iter()
            .rev()
            .filter(|w| w.model_version == v)
            .find_map(f)
    };
    gauge(
        &mut out,
        "staytrack_monitor_roc_auc",
        "ROC AUC of the newest window that has it: realized (outcomes) or estimated (CBPE).",
    );
    for v in &versions {
        for (kind, f) in [
            (
                "realized",
                &(|w: &super::WindowReport| w.realized.and_then(|x| x.roc_auc))
                    as &dyn Fn(&super::WindowReport) -> Option<f64>,
            ),
            ("estimated", &|w: &super::WindowReport| {
                w.estimated.and_then(|x| x.roc_auc)
            }),
        ] {
            if let Some(x) = newest(*v, f) {
                let _ = writeln!(
                    out,
                    "staytrack_monitor_roc_auc{{kind=\"{kind}\",model_version=\"{}\"}} {x}",
                    label(*v)
                );
            }
        }
    }
    gauge(
        &mut out,
        "staytrack_monitor_drift_share",
        "Share of drifted input columns in the newest window with a drift verdict.",
    );
    for v in &versions {
        if let Some(x) = newest(*v, &|w| w.drift.as_ref().map(|d| d.share)) {
            let _ = writeln!(
                out,
                "staytrack_monitor_drift_share{{model_version=\"{}\"}} {x}",
                label(*v)
            );
        }
    }
    for (name, help, pick) in [
        (
            "staytrack_monitor_predictions",
            "Predictions in the newest window.",
            (|w: &super::WindowReport| w.predictions) as fn(&super::WindowReport) -> usize,
        ),
        (
            "staytrack_monitor_labelled",
            "Predictions with an outcome in the newest window.",
            |w: &super::WindowReport| w.labelled,
        ),
    ] {
        gauge(&mut out, name, help);
        for v in &versions {
            if let Some(w) = r.windows.iter().rev().find(|w| w.model_version == *v) {
                let _ = writeln!(out, "{name}{{model_version=\"{}\"}} {}", label(*v), pick(w));
            }
        }
    }
    gauge(
        &mut out,
        "staytrack_monitor_alerts",
        "Alerts the last round raised.",
    );
    let _ = writeln!(out, "staytrack_monitor_alerts {}", r.alerts.len());
    out
}
