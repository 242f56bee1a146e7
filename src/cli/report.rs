//! `staytrack report`: PNG charts of runs and of a drift report.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::drift::monitor::StoredDrift;
use crate::report::{self, run_charts};
use crate::tracking::{RunStatus, Store};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Runs to chart (id, name, or a unique start or end of the id); repeat for several
    /// [default: the finished runs, newest first, at most 8]
    #[arg(long = "run", value_name = "ID")]
    pub runs: Vec<String>,
    /// A stored drift report id, or `latest` [default: the latest, when there is one]
    #[arg(long, value_name = "ID")]
    pub drift: Option<String>,
    /// Only the drift charts
    #[arg(long, conflicts_with = "runs")]
    pub drift_only: bool,
    /// A sweep of `staytrack tune` (its name): a parallel-coordinates chart of its trials
    /// per family, and nothing else
    #[arg(long, value_name = "NAME", conflicts_with_all = ["runs", "drift", "drift_only"])]
    pub sweep: Option<String>,
    /// Only `monitor.png`: the prediction log in windows of this size (1d, 1h, 10000rows), with
    /// estimated and realized ROC AUC, drift share, data quality and alerts
    #[arg(long, value_name = "WINDOW", conflicts_with_all = ["runs", "drift", "drift_only", "sweep"])]
    pub monitor: Option<String>,
    /// With --monitor: only this replica's predictions (a server's `--replica`)
    #[arg(long, value_name = "ID", requires = "monitor")]
    pub replica: Option<String>,
    /// With --monitor: only this model's predictions (its name in capture keys)
    #[arg(long, value_name = "NAME", requires = "monitor")]
    pub model: Option<String>,
    /// Output folder [default: the workspace's reports/]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// SHAP charts of the production model: how many of --shap-file's first rows to explain
    /// (at most 100,000; 0 draws none)
    #[arg(long, value_name = "N", default_value_t = report::shap::DEFAULT_ROWS,
          value_parser = shap_rows)]
    pub shap_rows: usize,
    /// The file whose first rows the SHAP charts explain [default: the workspace's test file]
    #[arg(long, value_name = "FILE")]
    pub shap_file: Option<PathBuf>,
    /// The most seconds explaining the SHAP sample may take (a forest row costs ~87 ms); the
    /// rows explained by then are charted
    #[arg(long, value_name = "S", default_value_t = report::shap::DEFAULT_BUDGET.as_secs_f64(),
          value_parser = shap_seconds)]
    pub shap_seconds: f64,
}

/// The most rows a SHAP sample takes: they are read and kept at once.
const MAX_SHAP_ROWS: usize = 100_000;

fn shap_rows(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n <= MAX_SHAP_ROWS => Ok(n),
        _ => Err(format!("give a whole number from 0 to {MAX_SHAP_ROWS}")),
    }
}

fn shap_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err("give a number of seconds above 0 (at most a day)".into()),
    }
}

/// `shap_summary.png` and `shap_dependence.png` of the production model on the first rows of
/// the SHAP file. With the defaults, a report without them (no production model, no test
/// file, a bundle too old to explain) says why on stderr and goes on; a file named with
/// --shap-file must be explained.
fn shap_charts(
    cfg: &Config,
    a: &ReportArgs,
    out: &std::path::Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let input = a.shap_file.clone().unwrap_or_else(|| cfg.test_file());
    let budget = std::time::Duration::from_secs_f64(a.shap_seconds);
    let res = report::shap_sample(
        cfg,
        crate::tracking::registry::PRODUCTION,
        &input,
        a.shap_rows,
        budget,
    )
    .and_then(|d| {
        let spec = crate::data::DatasetSpec::of_workspace(cfg)?;
        let files = report::render_shap(&d, &spec.target.description, out)?;
        eprintln!(
            "SHAP charts: {} rows of {} explained by version {}{}",
            crate::util::thousands(d.rows),
            input.display(),
            d.model_version,
            if d.stopped_by_time {
                format!(
                    " (the {} s budget ran out; --shap-seconds gives more)",
                    a.shap_seconds
                )
            } else {
                String::new()
            }
        );
        Ok(files)
    });
    match res {
        Ok(files) => Ok(files),
        Err(e) if a.shap_file.is_none() => {
            eprintln!("no SHAP charts: {e:#}");
            Ok(Vec::new())
        }
        Err(e) => Err(e.context("the SHAP charts")),
    }
}

pub fn run(cfg: &Config, mut a: ReportArgs) -> anyhow::Result<i32> {
    let store = Store::open(&cfg.db_path)?;
    // The workspace's folder, wherever the command runs from (the TUI's exports go there too).
    let out = a
        .out
        .take()
        .unwrap_or_else(|| cfg.workspace.join("reports"));
    let mut written = Vec::new();
    if let Some(sweep) = &a.sweep {
        let summary = crate::tune::sweep_summary(&store, sweep)?.with_context(|| {
            format!(
                "no finished trial belongs to a sweep named '{sweep}' (`staytrack tune` names it)"
            )
        })?;
        for p in report::render_sweep(&summary, &out)? {
            println!("{}", p.display());
        }
        return Ok(0);
    }
    if let Some(window) = &a.monitor {
        let mut o = crate::monitor::MonitorOptions::new(cfg, window, None)?;
        o.replica = a.replica.clone();
        o.model = a.model.clone();
        let m = crate::monitor::monitor(cfg, &o)?;
        println!("{}", report::render_monitor(&m, &out)?.display());
        return Ok(0);
    }
    if !a.drift_only {
        let runs = if a.runs.is_empty() {
            let mut all = store.list_runs()?;
            all.retain(|r| r.status == RunStatus::Finished);
            all.truncate(8);
            all
        } else {
            a.runs
                .iter()
                .map(|id| store.get_run(id))
                .collect::<Result<Vec<_>, _>>()?
        };
        for r in &runs {
            anyhow::ensure!(
                r.status == RunStatus::Finished,
                "run {} is {}; only finished runs have curves to chart",
                r.id,
                r.status.as_str()
            );
        }
        if runs.is_empty() && a.drift.is_none() {
            anyhow::bail!("no finished runs to report on; train some first (`staytrack train`)");
        }
        if !runs.is_empty() {
            let charts = run_charts(&store, &runs, &crate::data::DatasetSpec::of_workspace(cfg)?)?;
            written.extend(report::render_runs(&charts, &out)?);
            // The runs trained with `[slices]`, with the labels the other charts give them.
            let mut sliced = Vec::new();
            for (r, c) in runs.iter().zip(&charts) {
                match crate::slices::compare::report_of(&store, r) {
                    Ok(Some(s)) => sliced.push((c.label.clone(), s)),
                    Ok(None) => {}
                    Err(e) => eprintln!("slices.png leaves it out: {e}"),
                }
            }
            written.extend(report::render_slices(&sliced, &out)?);
        }
        if a.shap_rows > 0 && (!runs.is_empty() || a.shap_file.is_some()) {
            written.extend(shap_charts(cfg, &a, &out)?);
        }
    }
    let drift_id =
        match a.drift.as_deref() {
            None | Some("latest") => None,
            Some(id) => Some(id.parse::<i64>().ok().with_context(|| {
                format!("--drift '{id}': give a report id (a number) or latest")
            })?),
        };
    match store.drift_report(drift_id)? {
        Some(row) => {
            let stored: StoredDrift = serde_json::from_str(&row.report)
                .with_context(|| format!("drift report {} cannot be read", row.id))?;
            written.extend(report::render_drift(&stored, &out)?);
        }
        None if drift_id.is_some() || a.drift_only || a.drift.is_some() => {
            anyhow::bail!(
                "no drift report {}in {}; run `staytrack drift` first",
                drift_id.map_or(String::new(), |i| format!("{i} ")),
                cfg.db_path.display()
            )
        }
        None => {}
    }
    for p in &written {
        println!("{}", p.display());
    }
    Ok(0)
}
