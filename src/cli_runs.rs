//! The `train` and `runs show|compare|diff` commands: argument handling and text output around
//! `train` and `tracking`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;

use crate::cli::{ensure_data, TrainArgs, EXIT_ERROR};
use crate::config::Config;
use crate::models::{Family, Params};
use crate::tracking::{RunSummary, Store};
use crate::train::{self, Event, Job};
use crate::util::{format_ms, render_table, thousands};

/// Exit status of a batch stopped with Ctrl-C, as shells report SIGINT.
const EXIT_CANCELLED: i32 = 130;

/// Marks runs of dead processes as failed and says so.
pub fn report_recovered(store: &mut Store) -> anyhow::Result<()> {
    for id in store.recover_interrupted()? {
        eprintln!("staytrack: run {id} was interrupted (its process ended); marked failed");
    }
    Ok(())
}

fn selected_families(models: &[String]) -> anyhow::Result<Vec<Family>> {
    let mut out = Vec::new();
    for m in models {
        let m = m.trim();
        if m == "all" {
            out.extend(Family::ALL);
            continue;
        }
        let f = Family::parse(m)
            .with_context(|| format!("unknown model '{m}' (use lr, tree, forest, gbdt or all)"))?;
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
    let data_path = match &args.data {
        Some(p) => p.clone(),
        None => {
            ensure_data(cfg)?;
            cfg.train_file()
        }
    };
    let mut store = Store::open(&cfg.db_path)?;
    report_recovered(&mut store)?;
    let cancel = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&cancel))
        .context("installing the Ctrl-C handler")?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&cancel))
        .context("installing the SIGTERM handler")?;

    let t = std::time::Instant::now();
    let data = train::prepare(&data_path, args.seed, args.valid_fraction)?;
    eprintln!(
        "{}: {} rows ({} train, {} validation, seed {}), {} features, ready in {:.1} s; {} run(s) to train",
        data.path.display(),
        thousands(data.rows),
        thousands(data.y_train.len()),
        thousands(data.y_valid.len()),
        data.seed,
        data.x_train.ncols(),
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
        crate::cli_sync::auto_push(cfg, &ids);
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

fn open(cfg: &Config) -> anyhow::Result<Store> {
    let mut store = Store::open(&cfg.db_path)?;
    report_recovered(&mut store)?;
    Ok(store)
}

/// Metrics shown in tables, and whether higher is better.
const METRICS: [(&str, bool); 12] = [
    ("roc_auc", true),
    ("pr_auc", true),
    ("log_loss", false),
    ("brier", false),
    ("f1", true),
    ("accuracy", true),
    ("precision", true),
    ("recall", true),
    ("best_f1", true),
    ("best_threshold", true),
    ("fit_seconds", false),
    ("predict_seconds", false),
];

fn fmt_metric(v: Option<&f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into())
}

pub fn show(cfg: &Config, id: &str, json: bool) -> anyhow::Result<i32> {
    let store = open(cfg)?;
    let run = store.get_run(id)?;
    let curves = store.curves(&run.id)?;
    let artifacts = store.artifacts(&run.id)?;
    if json {
        let curves: BTreeMap<String, serde_json::Value> = curves
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::from_str(v).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        let out = serde_json::json!({ "run": run, "curves": curves, "artifacts": artifacts });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    println!(
        "run {} · {} · {} · {}",
        run.id,
        run.name,
        run.family,
        run.status.as_str()
    );
    if let Some(r) = &run.status_reason {
        println!("reason: {r}");
    }
    println!(
        "created {} UTC{}{}",
        format_ms(run.created_at),
        run.started_at
            .map(|t| format!(", started {}", format_ms(t)))
            .unwrap_or_default(),
        run.duration_ms(crate::util::now_ms())
            .map(|d| format!(", took {:.1} s", d as f64 / 1000.0))
            .unwrap_or_default()
    );
    if let Some(rows) = run.data_rows {
        println!(
            "data: {} rows, seed {}",
            thousands(rows as usize),
            run.seed.unwrap_or(0)
        );
    }
    println!();
    let params: Vec<Vec<String>> = run
        .params
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    print!("{}", render_table(&["PARAM", "VALUE"], &params));
    println!();
    let metrics: Vec<Vec<String>> = run
        .metrics
        .iter()
        .map(|(k, v)| vec![k.clone(), format!("{v:.6}")])
        .collect();
    print!(
        "{}",
        render_table(&["METRIC (validation)", "VALUE"], &metrics)
    );
    for (kind, title) in [
        ("confusion", "at threshold 0.5"),
        ("confusion_best", "at the F1-best threshold"),
    ] {
        if let Some(c) = curves
            .get(kind)
            .and_then(|j| serde_json::from_str::<crate::metrics::Confusion>(j).ok())
        {
            println!();
            let t = if kind == "confusion_best" {
                format!(
                    " ({:.4})",
                    run.metrics
                        .get("best_threshold")
                        .copied()
                        .unwrap_or(f64::NAN)
                )
            } else {
                String::new()
            };
            println!("confusion matrix {title}{t}:");
            let neg = (c.tn + c.fp).max(1) as f64;
            let pos = (c.fn_ + c.tp).max(1) as f64;
            let cell = |n: u64, of: f64| {
                format!("{} ({:.1} %)", thousands(n as usize), 100.0 * n as f64 / of)
            };
            print!(
                "{}",
                render_table(
                    &["", "predicted ≤30 days", "predicted >30 days"],
                    &[
                        vec!["actual ≤30 days".into(), cell(c.tn, neg), cell(c.fp, neg)],
                        vec!["actual >30 days".into(), cell(c.fn_, pos), cell(c.tp, pos)],
                    ]
                )
            );
        }
    }
    if let Some(imp) = curves
        .get("importance")
        .and_then(|j| serde_json::from_str::<Vec<(String, f64)>>(j).ok())
    {
        println!();
        let rows: Vec<Vec<String>> = imp
            .iter()
            .take(10)
            .map(|(n, v)| vec![n.clone(), format!("{:.3}", v)])
            .collect();
        print!("{}", render_table(&["TOP FEATURES", "IMPORTANCE"], &rows));
    }
    for a in &artifacts {
        println!();
        println!(
            "{}: {} ({} bytes, sha256 {})",
            a.name,
            a.path,
            thousands(a.bytes as usize),
            a.sha256
        );
    }
    Ok(0)
}

fn load_runs(store: &Store, ids: &[String]) -> anyhow::Result<Vec<RunSummary>> {
    ids.iter()
        .map(|i| store.get_run(i).map_err(Into::into))
        .collect()
}

pub fn compare(cfg: &Config, ids: &[String], json: bool) -> anyhow::Result<i32> {
    let store = open(cfg)?;
    let runs = load_runs(&store, ids)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(0);
    }
    let mut headers: Vec<String> = vec!["".into()];
    headers.extend(
        runs.iter()
            .map(|r| format!("{} ({})", r.name, crate::util::short_id(&r.id, 6))),
    );
    let mut rows = Vec::new();
    for (key, higher) in METRICS {
        let vals: Vec<Option<f64>> = runs.iter().map(|r| r.metrics.get(key).copied()).collect();
        if vals.iter().all(Option::is_none) {
            continue;
        }
        let best = vals
            .iter()
            .flatten()
            .copied()
            .reduce(|a, b| if (b > a) == higher { b } else { a });
        let mut row = vec![key.to_string()];
        for v in &vals {
            let mark = if runs.len() > 1 && v.is_some() && *v == best && key != "best_threshold" {
                " *"
            } else {
                ""
            };
            row.push(format!("{}{mark}", fmt_metric(v.as_ref())));
        }
        rows.push(row);
    }
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    rows.push(vec![String::new(); runs.len() + 1]);
    rows.push(
        std::iter::once("family".to_string())
            .chain(runs.iter().map(|r| r.family.clone()))
            .collect(),
    );
    for k in keys {
        let mut row = vec![k.clone()];
        row.extend(
            runs.iter()
                .map(|r| r.params.get(k).cloned().unwrap_or_else(|| "-".into())),
        );
        rows.push(row);
    }
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    print!("{}", render_table(&h, &rows));
    println!("* best of the compared runs");
    Ok(0)
}

/// Every key of `a` or `b`, in order, with its value on each side.
fn pair_up<V: Clone>(
    a: &BTreeMap<String, V>,
    b: &BTreeMap<String, V>,
) -> Vec<(String, Option<V>, Option<V>)> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .map(|k| (k.clone(), a.get(k).cloned(), b.get(k).cloned()))
        .collect()
}

pub fn diff(cfg: &Config, a: &str, b: &str, all: bool, json: bool) -> anyhow::Result<i32> {
    let store = open(cfg)?;
    let (ra, rb) = (store.get_run(a)?, store.get_run(b)?);
    let mut params = pair_up(&ra.params, &rb.params);
    params.retain(|(_, x, y)| all || x != y);
    let metrics = pair_up(&ra.metrics, &rb.metrics);
    if json {
        let out = serde_json::json!({
            "a": ra.id, "b": rb.id,
            "family": [ra.family, rb.family],
            "params": params.iter().map(|(k, x, y)| serde_json::json!({"key": k, "a": x, "b": y})).collect::<Vec<_>>(),
            "metrics": metrics.iter().map(|(k, x, y)| serde_json::json!({
                "key": k, "a": x, "b": y, "delta": x.zip(*y).map(|(x, y)| y - x)
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    println!("a = {} ({}, {})", ra.id, ra.name, ra.family);
    println!("b = {} ({}, {})", rb.id, rb.name, rb.family);
    println!();
    if params.is_empty() && ra.family == rb.family {
        println!("same params");
    } else {
        let mut rows: Vec<Vec<String>> = Vec::new();
        if ra.family != rb.family {
            rows.push(vec!["family".into(), ra.family.clone(), rb.family.clone()]);
        }
        for (k, x, y) in &params {
            rows.push(vec![
                k.clone(),
                x.clone().unwrap_or_else(|| "-".into()),
                y.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        print!("{}", render_table(&["PARAM", "A", "B"], &rows));
    }
    println!();
    let rows: Vec<Vec<String>> = metrics
        .iter()
        .map(|(k, x, y)| {
            vec![
                k.clone(),
                fmt_metric(x.as_ref()),
                fmt_metric(y.as_ref()),
                x.zip(*y)
                    .map(|(x, y)| format!("{:+.4}", y - x))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print!("{}", render_table(&["METRIC", "A", "B", "B − A"], &rows));
    Ok(0)
}
