//! `staytrack tune`: a Hyperband sweep within a time budget, its trials as runs, and the best
//! trial of each family against the family's default run.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::open_store;
use crate::compare::Outcome;
use crate::config::Config;
use crate::metrics::paired::format_p;
use crate::tune::{self, TuneEvent, TuneOptions};
use crate::util::{render_table, thousands};

#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Families to tune: lr, tree, forest, gbdt, linfa-lr, linfa-tree, or all (staytrack's
    /// four engines) (comma-separated or repeated)
    #[arg(
        long = "model",
        short = 'm',
        value_delimiter = ',',
        default_value = "gbdt"
    )]
    pub models: Vec<String>,
    /// Wall-clock budget for the whole sweep: 90s, 5m, 1h
    #[arg(long, default_value = "5m")]
    pub budget: String,
    /// A TOML file of search spaces, one table per family (over `[tune.<family>]` of
    /// staytrack.toml and the defaults), e.g. `[gbdt] learning_rate = { min = 0.02, max = 0.2,
    /// log = true }`, `max_leaves = [15, 31, 63]`, `n_rounds = 2000`
    #[arg(long, value_name = "FILE")]
    pub space: Option<PathBuf>,
    #[command(flatten)]
    pub split: super::train::SplitArgs,
    /// The sweep's name (its trials are named NAME-FAMILY-NN) [default: tune-<time>]
    #[arg(long)]
    pub name: Option<String>,
    /// Each rung keeps the best 1/ETA of its trials, on ETA times more rows
    #[arg(long, default_value_t = 3)]
    pub eta: usize,
    /// The fewest training rows a trial's first fit uses; rungs below it are not run
    #[arg(long, default_value_t = tune::MIN_RUNG_ROWS)]
    pub min_rung_rows: usize,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn tune(cfg: &Config, args: TuneArgs) -> anyhow::Result<i32> {
    let families = super::train::selected_families(&args.models)?;
    let budget = crate::util::parse_duration_ms(&args.budget)
        .with_context(|| format!("--budget '{}': use 90s, 5m or 1h", args.budget))?;
    let data = args.split.path(cfg)?;
    let mut store = open_store(cfg)?;
    let opts = TuneOptions {
        families,
        budget: Duration::from_millis(budget as u64),
        space: args.space.clone(),
        data,
        seed: args.split.seed,
        valid_fraction: args.split.valid_fraction,
        eta: args.eta,
        min_rung_rows: args.min_rung_rows,
        name: args.name.clone(),
    };
    let quiet = args.json;
    let events = |e: TuneEvent| {
        if quiet {
            return;
        }
        match e {
            TuneEvent::Bracket {
                family,
                trials,
                rungs,
            } => eprintln!("{family}: a bracket of {trials} trial(s) over {rungs} rung(s)"),
            TuneEvent::Evaluated {
                family,
                trial,
                rung,
                rows,
                roc_auc,
            } => eprintln!(
                "  {family} trial {trial:>3}  rung {rung}  {:>9} rows  ROC AUC {roc_auc:.4}",
                thousands(rows)
            ),
            TuneEvent::Recorded { .. } => {}
        }
    };
    let report = tune::tune(&mut store, cfg, &opts, &events)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    let early = report.trials.iter().filter(|t| t.early_stopped).count();
    println!(
        "sweep {}: {} trial(s) in {:.0} s of a {:.0} s budget ({} stopped early by better trials)",
        report.sweep,
        report.trials.len(),
        report.elapsed_seconds,
        report.budget_seconds,
        early
    );
    let mut trials: Vec<&tune::Trial> = report.trials.iter().collect();
    trials.sort_by(|a, b| b.roc_auc.total_cmp(&a.roc_auc));
    let rows: Vec<Vec<String>> = trials
        .iter()
        .take(10)
        .map(|t| {
            vec![
                t.name.clone(),
                t.family.to_string(),
                thousands(t.train_rows),
                format!("{:.4}", t.roc_auc),
                if t.early_stopped {
                    "early".into()
                } else if t.budget_stopped {
                    "budget".into()
                } else {
                    "-".into()
                },
                crate::util::short_id(&t.run_id, 6).to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        render_table(
            &["TRIAL", "FAMILY", "ROWS", "ROC AUC", "STOPPED", "RUN"],
            &rows
        )
    );
    for f in &report.families {
        println!();
        let Some(best) = &f.best else {
            println!("{}: no trial finished within the budget", f.family);
            continue;
        };
        // What the search changed: the parameters that differ from the family's defaults.
        let defaults = crate::models::Params::defaults(f.family);
        let params: Vec<String> = best
            .params
            .iter()
            .filter(|(k, v)| defaults.values.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}={}", crate::util::short_number(*v)))
            .collect();
        println!(
            "{} best: {} ROC AUC {:.4} ({})",
            f.family,
            best.name,
            best.roc_auc,
            params.join(" ")
        );
        match &f.against_default {
            Some(Outcome::Paired(p)) => {
                let d = &p.roc_auc;
                println!(
                    "  against the default run: {:+.4} ROC AUC [{:+.4}, {:+.4}], DeLong {}",
                    d.diff,
                    d.ci.0,
                    d.ci.1,
                    format_p(d.p_value)
                );
            }
            Some(Outcome::NotComparable { why, .. }) => {
                println!("  against the default run: not comparable: {why}")
            }
            None => println!("  no default run to compare with"),
        }
        if !f.importance.is_empty() {
            let imp: Vec<String> = f
                .importance
                .iter()
                .map(|(k, rho, _)| format!("{k} {rho:+.2}"))
                .collect();
            println!(
                "  parameter importance (Spearman's ρ with ROC AUC over {} fits): {}",
                f.importance[0].2,
                imp.join(", ")
            );
        }
    }
    println!(
        "\nthe trials are runs: `staytrack runs list`, `staytrack report --sweep {}`",
        report.sweep
    );
    Ok(0)
}
