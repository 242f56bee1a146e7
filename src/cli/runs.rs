//! `staytrack runs list | show | compare | diff`: the store's runs as tables or JSON.

use std::collections::{BTreeMap, BTreeSet};

use clap::Subcommand;

use super::open_store;
use crate::config::Config;
use crate::metrics::Metric;
use crate::tracking::{CurveKind, RunSummary, Store};
use crate::util::{format_ms, render_table, thousands};

pub fn run(cfg: &Config, cmd: RunsCommand) -> anyhow::Result<i32> {
    match cmd {
        RunsCommand::List {
            status,
            family,
            sort,
            limit,
            json,
        } => runs_list(
            cfg,
            &ListFilter {
                status,
                family,
                sort,
                limit,
            },
            json,
        ),
        RunsCommand::Show { id, json } => show(cfg, &id, json),
        RunsCommand::Compare {
            ids,
            baseline,
            json,
        } => compare(cfg, &ids, baseline.as_deref(), json),
        RunsCommand::Predictions { id, out, force } => predictions(cfg, &id, out, force),
        RunsCommand::Diff { a, b, all, json } => diff(cfg, &a, &b, all, json),
    }
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first
    List {
        /// Only runs with this status (queued, running, finished, failed, cancelled)
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this family (lr, tree, forest, gbdt)
        #[arg(long)]
        family: Option<String>,
        /// Order by a metric, best first (log_loss, brier and the timings rank lowest first)
        /// instead of newest first
        #[arg(long, value_name = "METRIC")]
        sort: Option<String>,
        /// At most this many runs
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show one run in full
    Show {
        /// Run id, its name, or a unique start or end of the id
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Compare runs side by side (the best value of each metric is marked *), and each against
    /// a baseline on the validation rows they share: DeLong's test for ROC AUC, paired bootstrap
    /// intervals for the other scores, McNemar's exact test for accuracy
    Compare {
        #[arg(required = true, num_args = 1..)]
        ids: Vec<String>,
        /// The run the others are tested against [default: the first one given]
        #[arg(long, value_name = "RUN")]
        baseline: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A run's validation predictions as CSV (id, label, probability), as it scored them when
    /// it was trained
    Predictions {
        /// Run id, its name, or a unique start or end of the id
        id: String,
        /// Write to this file [default: standard output]
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// Replace the --out file if it exists
        #[arg(long, requires = "out")]
        force: bool,
    },
    /// The params that differ between two runs, and the metric deltas (second minus first)
    Diff {
        a: String,
        b: String,
        /// Show every param, not only those that differ
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

/// Which runs `runs list` shows, and in which order.
pub struct ListFilter {
    pub status: Option<String>,
    pub family: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<usize>,
}

fn runs_list(cfg: &Config, filter: &ListFilter, json: bool) -> anyhow::Result<i32> {
    if let Some(s) = &filter.status {
        anyhow::ensure!(
            crate::tracking::RunStatus::parse(s).is_some(),
            "--status '{s}': use queued, running, finished, failed or cancelled"
        );
    }
    if let Some(f) = &filter.family {
        anyhow::ensure!(
            crate::models::Family::from_stored(f).is_some(),
            "--family '{f}': use lr, tree, forest, gbdt, or external (runs logged through the MLflow API)"
        );
    }
    let sort = filter
        .sort
        .as_deref()
        .map(|k| Metric::parse_or_list(k, "--sort"))
        .transpose()?;
    let store = open_store(cfg)?;
    let mut runs = store.list_runs()?;
    runs.retain(|r| {
        filter
            .status
            .as_deref()
            .is_none_or(|s| r.status.as_str() == s)
            && filter
                .family
                .as_deref()
                .is_none_or(|f| r.family.name() == f)
    });
    if let Some(m) = sort {
        // Best first; runs without the metric go last.
        runs.sort_by(
            |a, b| match (a.metrics.get(m.key()), b.metrics.get(m.key())) {
                (Some(x), Some(y)) => m.best_first(*x, *y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
        );
    }
    if let Some(n) = filter.limit {
        runs.truncate(n);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(0);
    }
    if runs.is_empty() {
        println!("no runs yet in {}", cfg.db_path.display());
        return Ok(0);
    }
    let now = crate::util::now_ms();
    let metric = |r: &crate::tracking::RunSummary, m: Metric| fmt_metric(m, r.metrics.get(m.key()));
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.name.clone(),
                r.family.to_string(),
                r.status.as_str().to_string(),
                metric(r, Metric::RocAuc),
                metric(r, Metric::F1),
                r.duration_ms(now)
                    .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                    .unwrap_or_else(|| "-".into()),
                format_ms(r.created_at),
            ]
        })
        .collect();
    print!(
        "{}",
        render_table(
            &[
                "ID",
                "NAME",
                "FAMILY",
                "STATUS",
                "ROC AUC",
                "F1",
                "TIME",
                "CREATED (UTC)"
            ],
            &rows
        )
    );
    Ok(0)
}

fn fmt_metric(m: Metric, v: Option<&f64>) -> String {
    v.map(|v| m.format(*v)).unwrap_or_else(|| "-".into())
}

/// One printed page, section by section.
pub fn show(cfg: &Config, id: &str, json: bool) -> anyhow::Result<i32> {
    let store = open_store(cfg)?;
    let run = store.get_run(id)?;
    let curves = store.curves(&run.id)?;
    let artifacts = store.artifacts(&run.id)?;
    if json {
        // Each validation row's slice is for paired tests, not for reading: `slices` says it all.
        let curves: BTreeMap<String, serde_json::Value> = curves
            .iter()
            .filter(|(k, _)| k.as_str() != crate::slices::ROWS_CURVE)
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::from_str(v).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        let slices = curves.get(crate::slices::REPORT_CURVE).cloned();
        let out = serde_json::json!({ "run": run, "curves": curves, "artifacts": artifacts, "slices": slices });
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
    // The words for the classes are the workspace's dataset's; a workspace without a readable
    // spec shows plain ones.
    let classes = crate::data::DatasetSpec::of_workspace(cfg)
        .map(|s| crate::report::Classes::of(&s))
        .unwrap_or_else(|_| crate::report::Classes {
            positive: "1".into(),
            negative: "0".into(),
            description: String::new(),
        });
    let threshold_title = format!("at threshold {}", crate::score::THRESHOLD);
    for (kind, title) in [
        (CurveKind::Confusion, threshold_title.as_str()),
        (CurveKind::ConfusionBest, "at the F1-best threshold"),
    ] {
        if let Some(c) = curves
            .get(kind.key())
            .and_then(|j| serde_json::from_str::<crate::metrics::Confusion>(j).ok())
        {
            println!();
            let t = if kind == CurveKind::ConfusionBest {
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
            let (p_name, n_name) = (classes.positive.as_str(), classes.negative.as_str());
            print!(
                "{}",
                render_table(
                    &[
                        "",
                        &format!("predicted {n_name}"),
                        &format!("predicted {p_name}"),
                    ],
                    &[
                        vec![format!("actual {n_name}"), cell(c.tn, neg), cell(c.fp, neg),],
                        vec![
                            format!("actual {p_name}"),
                            cell(c.fn_, pos),
                            cell(c.tp, pos),
                        ],
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
    if run.status == crate::tracking::RunStatus::Finished {
        shap_importance(cfg, &store, &run.id);
    }
    match crate::slices::compare::report_of(&store, &run) {
        Ok(Some(r)) => {
            println!();
            super::slices::print_report(&r);
        }
        Ok(None) => {}
        // Unreadable slices (a store row from elsewhere) leave the rest of the page standing.
        Err(e) => eprintln!("slices left out: {e}"),
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

/// Each column's mean |SHAP| beside its gain, on a sample bounded by rows and time (computed
/// now, not at training); a run that cannot be explained gets a line saying why.
fn shap_importance(cfg: &Config, store: &Store, run_id: &str) {
    use crate::explain::global;
    let res = global::of_run(
        cfg,
        store,
        run_id,
        &cfg.test_file(),
        global::DETAIL_ROWS,
        global::DETAIL_BUDGET,
    );
    match res {
        Ok(None) => {}
        Ok(Some(g)) => {
            println!();
            println!("{}, beside the gain training recorded:", g.describe());
            let rows: Vec<Vec<String>> = g
                .columns
                .iter()
                .take(10)
                .map(|c| {
                    vec![
                        c.column.clone(),
                        format!("{:.4}", c.mean_abs_shap),
                        if c.gain.is_finite() {
                            format!("{:.3}", c.gain)
                        } else {
                            "–".into()
                        },
                    ]
                })
                .collect();
            print!(
                "{}",
                render_table(&["TOP COLUMNS", "MEAN |SHAP|", "GAIN"], &rows)
            );
        }
        Err(e) => println!("\nmean |SHAP|: not computed: {e:#}"),
    }
}

fn load_runs(store: &Store, ids: &[String]) -> anyhow::Result<Vec<RunSummary>> {
    ids.iter()
        .map(|i| store.get_run(i).map_err(Into::into))
        .collect()
}

pub fn predictions(
    cfg: &Config,
    id: &str,
    out: Option<std::path::PathBuf>,
    force: bool,
) -> anyhow::Result<i32> {
    let store = open_store(cfg)?;
    let run = store.get_run(id)?;
    let (_, v) = crate::compare::validation_of(&store, &cfg.artifacts_dir, &run)?;
    let csv = v.to_csv();
    match out {
        // A reader that stops early (`| head`) is not an error.
        None => {
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(csv.as_bytes());
        }
        Some(path) => {
            crate::util::ensure_free(&path, force)?;
            crate::util::atomic_write(&path, csv.as_bytes())?;
            eprintln!(
                "wrote {} validation predictions of {} to {}",
                crate::util::thousands(v.ids.len()),
                run.name,
                path.display()
            );
        }
    }
    Ok(0)
}

pub fn compare(
    cfg: &Config,
    ids: &[String],
    baseline: Option<&str>,
    json: bool,
) -> anyhow::Result<i32> {
    let store = open_store(cfg)?;
    let runs = load_runs(&store, ids)?;
    let base = match baseline {
        Some(b) => store.get_run(b)?,
        None => runs[0].clone(),
    };
    let others: Vec<RunSummary> = runs.iter().filter(|r| r.id != base.id).cloned().collect();
    // A baseline without validation predictions leaves the table, with the reason said.
    let paired = crate::compare::compare(
        &store,
        &cfg.artifacts_dir,
        &base,
        &others,
        crate::score::THRESHOLD,
    );
    // Each run's worst slice against the same slice of the baseline (runs without slices are
    // left out).
    let mut slices = Vec::new();
    for r in &others {
        match crate::slices::compare::worst_against(&store, &cfg.artifacts_dir, &base, r) {
            Ok(worst) => slices.extend(worst.map(|w| (r, w))),
            // One run's unreadable slices leave the rest of the comparison standing.
            Err(e) => eprintln!("{}: slices left out: {e}", r.name),
        }
    }
    if json {
        let out = serde_json::json!({
            "runs": runs,
            "baseline": base.id,
            "paired": match &paired {
                Ok(p) => serde_json::to_value(p)?,
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            },
            "worst_slices": slices
                .iter()
                .map(|(r, w)| serde_json::json!({ "run_id": r.id, "worst": w }))
                .collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    let mut headers: Vec<String> = vec!["".into()];
    headers.extend(
        runs.iter()
            .map(|r| format!("{} ({})", r.name, crate::util::short_id(&r.id, 6))),
    );
    let mut rows = Vec::new();
    for m in Metric::ALL {
        let vals: Vec<Option<f64>> = runs
            .iter()
            .map(|r| r.metrics.get(m.key()).copied())
            .collect();
        if vals.iter().all(Option::is_none) {
            continue;
        }
        let best = m.best(vals.iter().flatten().copied());
        let mut row = vec![m.key().to_string()];
        for v in &vals {
            let mark = if runs.len() > 1 && v.is_some() && *v == best {
                " *"
            } else {
                ""
            };
            row.push(format!("{}{mark}", fmt_metric(m, v.as_ref())));
        }
        rows.push(row);
    }
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    rows.push(vec![String::new(); runs.len() + 1]);
    rows.push(
        std::iter::once("family".to_string())
            .chain(runs.iter().map(|r| r.family.to_string()))
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
    if !others.is_empty() {
        print_paired(&base, &others, &paired);
    }
    if !slices.is_empty() {
        println!();
        println!("worst slice by ROC AUC against {} (same slice):", base.name);
        for (r, w) in &slices {
            println!("  {}", super::slices::drop_line(&r.name, w));
        }
    }
    Ok(0)
}

/// The paired tests as a table: each run's difference from the baseline per metric, its 95 %
/// interval and test, `●` where the interval leaves out zero.
fn print_paired(
    base: &RunSummary,
    others: &[RunSummary],
    paired: &Result<Vec<crate::compare::Outcome>, crate::compare::CompareError>,
) {
    use crate::compare::Outcome;
    println!(
        "\npaired against {} ({}) on the validation rows both were scored on, 95 % intervals:",
        base.name,
        crate::util::short_id(&base.id, 6)
    );
    let outcomes = match paired {
        Ok(o) => o,
        Err(e) => {
            println!("  no paired comparison: {e}");
            return;
        }
    };
    let name = |id: &str| {
        others
            .iter()
            .find(|r| r.id == id)
            .map_or(id.to_string(), |r| {
                format!("{} ({})", r.name, crate::util::short_id(&r.id, 6))
            })
    };
    let mark = |lo: f64, hi: f64| if lo > 0.0 || hi < 0.0 { " ●" } else { "" };
    let p_text = |p: f64| crate::metrics::paired::format_p(p);
    let mut rows = Vec::new();
    for o in outcomes {
        match o {
            Outcome::NotComparable { run_id, why } => {
                rows.push(vec![
                    name(run_id),
                    "-".into(),
                    "not comparable".into(),
                    String::new(),
                    why.clone(),
                ]);
            }
            Outcome::Paired(p) => {
                let d = &p.roc_auc;
                rows.push(vec![
                    name(&p.run_id),
                    "roc_auc".into(),
                    format!("{:+.4}{}", d.diff, mark(d.ci.0, d.ci.1)),
                    format!("[{:+.4}, {:+.4}]", d.ci.0, d.ci.1),
                    format!("DeLong {}", p_text(d.p_value)),
                ]);
                for (key, b) in &p.bootstrap {
                    let test = if key == Metric::Accuracy.key() {
                        format!(
                            "bootstrap; McNemar {} ({} vs {} rows right by one only)",
                            p_text(p.accuracy.p_value),
                            p.accuracy.only_b,
                            p.accuracy.only_a
                        )
                    } else {
                        format!("bootstrap ({} resamples)", b.resamples)
                    };
                    rows.push(vec![
                        String::new(),
                        key.clone(),
                        format!("{:+.4}{}", b.diff, mark(b.ci.0, b.ci.1)),
                        format!("[{:+.4}, {:+.4}]", b.ci.0, b.ci.1),
                        test,
                    ]);
                }
            }
        }
    }
    print!(
        "{}",
        render_table(
            &["RUN", "METRIC", "DIFFERENCE", "95 % INTERVAL", "TEST"],
            &rows
        )
    );
    println!("● the interval leaves out no difference; differences are run minus baseline");
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
    let store = open_store(cfg)?;
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
            rows.push(vec![
                "family".into(),
                ra.family.to_string(),
                rb.family.to_string(),
            ]);
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
                fmt_metric(Metric::parse(k).unwrap_or(Metric::RocAuc), x.as_ref()),
                fmt_metric(Metric::parse(k).unwrap_or(Metric::RocAuc), y.as_ref()),
                x.zip(*y)
                    .map(|(x, y)| format!("{:+.4}", y - x))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print!("{}", render_table(&["METRIC", "A", "B", "B − A"], &rows));
    Ok(0)
}
