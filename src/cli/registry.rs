//! `staytrack promote` and `staytrack registry`: moving aliases and reading the registry.

use anyhow::Context;
use clap::Args;
use serde_json::json;

use crate::config::Config;
use crate::metrics::Metric;
use crate::promote::{self, Evidence, PromoteError, Request, Target};
use crate::tracking::registry::PRODUCTION;
use crate::tracking::{AliasMove, Store};
use crate::util::{format_ms, render_table};

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Run whose model to promote (id, name, or a unique start or end of the id)
    #[arg(required_unless_present_any = ["version", "rollback", "best"])]
    pub run: Option<String>,
    /// Promote the finished run with the best validation ROC AUC (or --metric)
    #[arg(long, conflicts_with_all = ["run", "version", "rollback"])]
    pub best: bool,
    /// With --best: the metric to rank by, in its own direction (log_loss, brier and the
    /// timings rank lowest first)
    #[arg(long, default_value = "roc_auc", requires = "best")]
    pub metric: String,
    /// The alias to move (production, staging, or any name of your own)
    #[arg(long, short = 'a', default_value = PRODUCTION)]
    pub alias: String,
    /// Point the alias at an existing registry version instead of a run
    #[arg(long, conflicts_with = "run")]
    pub version: Option<i64>,
    /// Undo the alias's last move
    #[arg(long, conflicts_with_all = ["run", "version"])]
    pub rollback: bool,
    /// Why, for the audit log
    #[arg(long)]
    pub reason: Option<String>,
    /// Promote even when a `[promote]` rule fails; needs --reason, and the override is audited
    #[arg(long, requires = "reason", conflicts_with = "rollback")]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn promote(cfg: &Config, args: PromoteArgs) -> anyhow::Result<i32> {
    let mut store = Store::open(&cfg.db_path)?;
    let actor = crate::tracking::registry::actor();
    if args.rollback {
        // A rollback restores a model that already served: never weighed by the policy.
        let before = store.alias_target(&args.alias)?.map(|b| b.run_id);
        let mv = store.rollback_alias(&args.alias, &actor, args.reason.as_deref())?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&mv)?);
            return Ok(0);
        }
        print_move(&store, &mv, before)?;
        return Ok(0);
    }
    let target = if let Some(v) = args.version {
        Target::Version(v)
    } else if args.best {
        Target::Best(Metric::parse(&args.metric).with_context(|| {
            format!(
                "--best: no finished run has the metric '{}' (the metrics are {})",
                args.metric,
                Metric::ALL.map(Metric::key).join(", ")
            )
        })?)
    } else {
        Target::Run(args.run.clone().unwrap_or_default())
    };
    let req = Request {
        target,
        alias: args.alias.clone(),
        actor,
        reason: args.reason.clone(),
        force: args.force,
    };
    let done = match promote::promote(&mut store, cfg, &req) {
        Ok(done) => done,
        Err(PromoteError::Refused(e)) if args.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "refused": true, "evidence": e }))?
            );
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
        return Ok(0);
    }
    print_move(&store, &done.alias_move, done.before_run.clone())?;
    if let Some(e) = &done.evidence {
        println!(
            "[promote] {}{}",
            e.summary(),
            if e.forced {
                "; the override and this evidence are in the audit log"
            } else {
                ""
            }
        );
        for l in e.lines() {
            println!("  {l}");
        }
    }
    Ok(0)
}

/// One line for the move, and the validation metrics against the model it replaced.
fn print_move(store: &Store, mv: &AliasMove, before_run: Option<String>) -> anyhow::Result<()> {
    let run = store.get_run(&mv.run_id)?;
    if !mv.changed {
        println!(
            "{} already points at version {} (run {} '{}'); nothing changed",
            mv.alias, mv.to_version, run.id, run.name
        );
        return Ok(());
    }
    println!(
        "{}: {} → version {} (run {} '{}', {})",
        mv.alias,
        mv.from_version
            .map_or("none".to_string(), |v| format!("version {v}")),
        mv.to_version,
        run.id,
        run.name,
        run.family
    );
    let old = match before_run {
        Some(id) => Some(store.get_run(&id)?),
        None => None,
    };
    for m in Metric::HEADLINE {
        let key = m.key();
        let Some(new) = run.metrics.get(key) else {
            continue;
        };
        match old.as_ref().and_then(|o| o.metrics.get(key)) {
            Some(prev) => println!(
                "  {key:<9} {new:.4}  ({:+.4} against {prev:.4})",
                new - prev
            ),
            None => println!("  {key:<9} {new:.4}"),
        }
    }
    Ok(())
}

pub fn registry(cfg: &Config, json: bool) -> anyhow::Result<i32> {
    let store = Store::open(&cfg.db_path)?;
    let versions = store.model_versions()?;
    let events = store.alias_events(None, 20)?;
    if json {
        let aliases = store.aliases()?;
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "versions": versions, "aliases": aliases, "events": events,
            }))?
        );
        return Ok(0);
    }
    if versions.is_empty() {
        println!("no model versions yet: `staytrack promote RUN` registers a run's model");
        return Ok(0);
    }
    let runs = store.list_runs()?;
    let auc = |id: &str| {
        runs.iter()
            .find(|r| r.id == id)
            .and_then(|r| r.metrics.get(Metric::RocAuc.key()))
            .map_or("-".into(), |v| format!("{v:.4}"))
    };
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            vec![
                v.version.to_string(),
                v.aliases.join(","),
                v.run_id.clone(),
                v.run_name.clone(),
                v.family.clone(),
                auc(&v.run_id),
                format_ms(v.created_at),
            ]
        })
        .collect();
    print!(
        "{}",
        render_table(
            &[
                "VERSION",
                "ALIASES",
                "RUN",
                "NAME",
                "FAMILY",
                "ROC AUC",
                "REGISTERED (UTC)"
            ],
            &rows
        )
    );
    println!();
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let mut row = e.audit_row().to_vec();
            row.push(Evidence::cell(e));
            row
        })
        .collect();
    print!(
        "{}",
        render_table(
            &["WHEN (UTC)", "ALIAS", "MOVE", "BY", "REASON", "EVIDENCE"],
            &rows
        )
    );
    // The newest weighed moves, rule by rule (all of it: `registry --json`).
    for e in events
        .iter()
        .filter_map(|e| Some((e, Evidence::of_event(e)?)))
        .take(3)
    {
        let row = e.0.audit_row();
        println!(
            "\n{} {} {}: [promote] {}",
            row[0],
            row[1],
            row[2],
            e.1.summary()
        );
        for l in e.1.lines() {
            println!("  {l}");
        }
    }
    Ok(0)
}
