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
