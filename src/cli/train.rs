//! `staytrack train`: one run per family (or per sweep point), live progress, a results table.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::{ensure_data, open_store, EXIT_ERROR};
use crate::config::Config;
use crate::data::DEFAULT_SEED;
use crate::models::{Family, Params};
use crate::train::{self, Event, Job};
use crate::util::{render_table, thousands};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Families to train: lr, tree, forest, gbdt, linfa-lr, linfa-tree, or all (staytrack's
    /// four engines) (comma-separated or repeated)
    #[arg(
        long = "model",
        short = 'm',
        value_delimiter = ',',
        default_value = "all"
    )]
    pub models: Vec<String>,
    /// Override a parameter: key=value applies to every selected family that has the key;
    /// family.key=value to one family
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// A TOML sweep file: one table per family, lists of values are crossed
    #[arg(long, value_name = "FILE", conflicts_with_all = ["models", "params"])]
    pub sweep: Option<PathBuf>,
    #[command(flatten)]
    pub split: SplitArgs,
    /// Name prefix for the runs [default: the family]
    #[arg(long)]
    pub name: Option<String>,
    /// Print the results as JSON
    #[arg(long)]
    pub json: bool,
}

/// The training file and how it is split: what `train` and `tune` read.
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// Training CSV or Parquet file [default: the workspace's data/train_data.csv]
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Seed for the split, the models (and the sampled parameters of `tune`)
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Share of rows held out for validation (stratified)
    #[arg(long, default_value_t = crate::train::DEFAULT_VALID_FRACTION)]
    pub valid_fraction: f64,
}

impl SplitArgs {
    /// The file to train on: `--data`, else the workspace's training file (generated on
    /// first use).
    pub fn path(&self, cfg: &Config) -> anyhow::Result<PathBuf> {
        match &self.data {
            Some(p) => Ok(p.clone()),
            None => {
                ensure_data(cfg)?;
                let f = cfg.train_file();
                anyhow::ensure!(
                    f.exists(),
                    "no training file at {}: put one there or give --data FILE",
                    f.display()
                );
                Ok(f)
            }
        }
    }
}

/// Exit status of a batch stopped with Ctrl-C, as shells report SIGINT.
const EXIT_CANCELLED: i32 = 130;

pub(crate) fn selected_families(models: &[String]) -> anyhow::Result<Vec<Family>> {
    let mut out = Vec::new();
    for m in models {
        let m = m.trim();
        if m == "all" {
            out.extend(Family::ENGINES);
            continue;
        }
        let f = Family::parse(m).with_context(|| {
            format!("unknown model '{m}' (use lr, tree, forest, gbdt, linfa-lr, linfa-tree or all)")
        })?;
        out.push(f);
    }
    let mut seen = BTreeSet::new();
    out.retain(|f| seen.insert(*f));
    Ok(out)
}

/// Builds one job per family from `--param` overrides.
pub fn jobs_from_args(
    families: &[Family],
    params: &[String],
    name: Option<&str>,
) -> anyhow::Result<Vec<Job>> {
    let mut per_family: BTreeMap<Family, Params> =
        families.iter().map(|&f| (f, Params::defaults(f))).collect();
    for p in params {
        let (key, value) = p
            .split_once('=')
            .with_context(|| format!("--param '{p}': expected key=value"))?;
        let (family, key) = match key.split_once('.') {
            Some((f, k)) => {
                let fam = Family::parse(f)
                    .with_context(|| format!("--param '{p}': unknown family '{f}'"))?;
                anyhow::ensure!(
                    per_family.contains_key(&fam),
                    "--param '{p}': {fam} is not among the models being trained"
                );
                (Some(fam), k)
            }
            None => (None, key),
        };
        let mut applied = false;
        for (fam, params) in per_family.iter_mut() {
            if family.is_some_and(|f| f != *fam) {
                continue;
            }
            let has = fam.specs().iter().any(|s| s.key == key);
            if has || family.is_some() {
                params.set(key, value)?;
                applied = true;
            }
        }
        if !applied {
            let known: Vec<String> = per_family
                .keys()
                .map(|f| {
                    format!(
                        "{f}: {}",
                        f.specs()
                            .iter()
                            .map(|s| s.key)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect();
            anyhow::bail!(
                "--param '{p}': no selected model has a parameter '{key}' ({})",
                known.join("; ")
            );
        }
    }
    Ok(per_family
        .into_values()
        .map(|params| Job {
            name: match name {
                Some(n) if families.len() > 1 => format!("{n}-{}", params.family),
                Some(n) => n.to_string(),
                None => params.family.name().to_string(),
            },
            params,
        })
        .collect())
}

/// Arguments, jobs, progress and the results table, in the order a user sees them.
pub fn train(cfg: &Config, args: TrainArgs) -> anyhow::Result<i32> {
    let jobs = match &args.sweep {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("{}: cannot read the sweep file", file.display()))?;
            train::sweep_jobs(&text, file, args.name.as_deref())?
        }
        None => jobs_from_args(
            &selected_families(&args.models)?,
            &args.params,
            args.name.as_deref(),
        )?,
    };
    // A name no pull would take (or a terminal would show as itself) is refused before any
    // training.
    for j in &jobs {
        use crate::tracking::documents::MAX_RUN_NAME;
        anyhow::ensure!(
            j.name.len() <= MAX_RUN_NAME && !j.name.chars().any(char::is_control),
            "run name '{}': use at most {MAX_RUN_NAME} bytes and no control characters",
            crate::util::shown(&j.name)
        );
    }
    let data_path = args.split.path(cfg)?;
    let mut store = open_store(cfg)?;
    let cancel = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&cancel))
        .context("installing the Ctrl-C handler")?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&cancel))
        .context("installing the SIGTERM handler")?;

    let t = std::time::Instant::now();
    let spec = crate::data::DatasetSpec::of_workspace(cfg)?;
    let data = train::prepare_sliced(
        &data_path,
        &spec,
        &crate::slices::SliceSettings::load(cfg, &spec)?,
        args.split.seed,
        args.split.valid_fraction,
    )?;
    eprintln!(
        "{}: {} rows ({} train, {} validation, seed {}), {} features, ready in {:.1} s; {} run(s) to train",
        data.path.display(),
        thousands(data.rows),
        thousands(data.y_train.len()),
        thousands(data.y_valid.len()),
        data.seed,
        data.x_train.n_features(),
        t.elapsed().as_secs_f64(),
        jobs.len()
    );
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("cancelled before training started; no run was recorded");
        return Ok(EXIT_CANCELLED);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let total = jobs.len();
    let printer = std::thread::spawn(move || print_progress(rx, total));
    let outcomes = train::run_jobs(&mut store, &cfg.artifacts_dir, &data, &jobs, &tx, &cancel);
    drop(tx);
    let (failed, cancelled) = printer.join().unwrap_or((0, 0));
    let outcomes = outcomes?;
    if !outcomes.is_empty() {
        let ids: Vec<String> = outcomes.iter().map(|o| o.run_id.clone()).collect();
        if let Some(p) = crate::sync::auto_push(cfg, &ids) {
            eprintln!("{}", p.line);
        }
    }
    if args.json {
        let rows: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| {
                serde_json::json!({
                    "run_id": o.run_id, "name": o.name, "family": o.family,
                    "roc_auc": o.evaluation.roc_auc, "pr_auc": o.evaluation.pr_auc,
                    "log_loss": o.evaluation.log_loss, "f1": o.evaluation.f1,
                    "accuracy": o.evaluation.accuracy, "fit_seconds": o.fit_seconds,
                    "bundle": o.bundle_path,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if !outcomes.is_empty() {
        let best = outcomes
            .iter()
            .map(|o| o.evaluation.roc_auc)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut sorted = outcomes.clone();
        sorted.sort_by(|a, b| b.evaluation.roc_auc.total_cmp(&a.evaluation.roc_auc));
        let rows: Vec<Vec<String>> = sorted
            .iter()
            .map(|o| {
                let e = &o.evaluation;
                vec![
                    o.run_id.clone(),
                    o.name.clone(),
                    o.family.name().to_string(),
                    format!(
                        "{:.4}{}",
                        e.roc_auc,
                        if e.roc_auc == best { " *" } else { "" }
                    ),
                    format!("{:.4}", e.pr_auc),
                    format!("{:.4}", e.log_loss),
                    format!("{:.4}", e.f1),
                    format!("{:.4}", e.accuracy),
                    format!("{:.1}", o.fit_seconds),
                ]
            })
            .collect();
        println!();
        print!(
            "{}",
            render_table(
                &[
                    "RUN", "NAME", "FAMILY", "ROC AUC", "PR AUC", "LOG LOSS", "F1", "ACCURACY",
                    "FIT s"
                ],
                &rows
            )
        );
    }
    Ok(if cancelled > 0 {
        EXIT_CANCELLED
    } else if failed > 0 {
        EXIT_ERROR
    } else {
        0
    })
}

/// Prints progress on stderr (a live line on a terminal); returns (failed, cancelled) counts.
fn print_progress(rx: std::sync::mpsc::Receiver<Event>, total: usize) -> (usize, usize) {
    let live = std::io::stderr().is_terminal();
    let mut names: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let (mut failed, mut cancelled) = (0, 0);
    let mut err = std::io::stderr();
    let mut last_draw = std::time::Instant::now();
    for ev in rx {
        match ev {
            Event::Queued { run_id, name, .. } => {
                let k = names.len() + 1;
                names.insert(run_id, (k, name));
            }
            Event::Started { run_id } => {
                let (k, name) = &names[&run_id];
                let _ = writeln!(err, "[{k}/{total}] {name}: training (run {run_id})");
            }
            Event::Progress { run_id, progress } => {
                if !live || last_draw.elapsed().as_millis() < 100 {
                    continue;
                }
                last_draw = std::time::Instant::now();
                let (k, name) = &names[&run_id];
                let width = 24;
                let filled = (progress.done * width) / progress.total.max(1);
                let bar: String = "█".repeat(filled) + &"·".repeat(width - filled);
                let metric = progress
                    .metric
                    .map(|(m, v)| format!("  {m} {v:.5}"))
                    .unwrap_or_default();
                let _ = write!(
                    err,
                    "\r\x1b[2K[{k}/{total}] {name} {bar} {}/{}{metric}",
                    progress.done, progress.total
                );
                let _ = err.flush();
            }
            Event::Finished { run_id, result } => {
                let (k, name) = &names[&run_id];
                if live {
                    let _ = write!(err, "\r\x1b[2K");
                }
                let _ = writeln!(
                    err,
                    "[{k}/{total}] {name}: finished, ROC AUC {:.4}, fit {:.1} s",
                    result.evaluation.roc_auc, result.fit_seconds
                );
            }
            Event::Failed { run_id, reason } => {
                failed += 1;
                let (k, name) = &names[&run_id];
                let _ = writeln!(err, "\r[{k}/{total}] {name}: failed: {reason}");
            }
            Event::Cancelled { run_id } => {
                cancelled += 1;
                let (k, name) = &names[&run_id];
                let _ = writeln!(err, "\r[{k}/{total}] {name}: cancelled");
            }
        }
    }
    (failed, cancelled)
}
