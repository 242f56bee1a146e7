//! The command line: clap types, dispatch to one file per command group, exit codes. Commands
//! parse their arguments into a service's options, call the service and print the result; no
//! module outside `cli/` uses anything here.
//!
//! Exit codes: 0 success, 1 error, 2 usage error, 3 a monitor alert, 130 interrupted.

pub mod data;
pub mod drift;
pub mod explain;
pub mod feedback;
pub mod monitor;
pub mod registry;
pub mod report;
pub mod runs;
pub mod score;
pub mod serve;
pub mod slices;
pub mod sync;
pub mod tracking;
pub mod train;
pub mod tune;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::metrics::Metric;
use crate::tracking::Store;

pub const EXIT_ERROR: i32 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "staytrack",
    version,
    about = "Train, track, compare, promote, serve and monitor yes/no models on a table from one terminal",
    long_about = "Train, track, compare, promote, serve and monitor models that predict a yes/no \
                  target from a table: your own (`staytrack data init FILE`) or, by default, the \
                  built-in one (whether a hospital stay lasts more than 30 days). With no \
                  command, opens the terminal UI on the workspace, generating the built-in \
                  dataset's synthetic twin on first use when the workspace has no table of its \
                  own."
)]
pub struct Cli {
    /// Workspace folder holding staytrack.db, artifacts/ and data/ [default: current folder]
    #[arg(long, global = true, env = "STAYTRACK_HOME", value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Run the HTTP prediction server (same as `staytrack serve`)
    #[arg(long)]
    pub serve: bool,

    #[command(flatten, next_help_heading = "Server options (with --serve)")]
    pub serve_args: serve::ServeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the interactive terminal UI (the default)
    Tui,
    /// Train models and record the runs
    Train(train::TrainArgs),
    /// Search each family's parameters within a time budget (Hyperband); trials are runs
    Tune(tune::TuneArgs),
    /// Load real outcomes (an id and a label per row) and join them to logged predictions
    Feedback(feedback::FeedbackArgs),
    /// Watch served models: realized and estimated performance, drift, data quality and alerts
    /// per window (exit 3 on an alert)
    Monitor(monitor::MonitorArgs),
    /// List, show, compare and diff runs
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Move a model alias (production, staging, ...) to a run's model, or roll it back
    Promote(registry::PromoteArgs),
    /// Model versions, aliases and the audit log of alias moves
    Registry {
        #[arg(long)]
        json: bool,
    },
    /// Score a CSV or Parquet file with the production model
    Score(score::ScoreArgs),
    /// Explain each row's probability: its top columns and their exact SHAP contributions
    Explain(explain::ExplainArgs),
    /// Serve predictions over HTTP, following an alias as it moves
    Serve(serve::ServeArgs),
    /// Serve MLflow's tracking API over this store, so MLflow scripts log here unchanged
    /// (MLFLOW_TRACKING_URI=http://127.0.0.1:5000)
    Tracking(tracking::TrackingArgs),
    /// Check data drift against the production model's training profile
    Drift(drift::DriftArgs),
    /// Render PNG reports of runs and drift
    Report(report::ReportArgs),
    /// Share runs and models through an S3 bucket
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Check that a server answers /health (for container health checks; exit 0 or 1)
    Health {
        /// The URL to GET (plain HTTP)
        #[arg(long, default_value = "http://127.0.0.1:8080/health")]
        url: String,
        /// Seconds to wait for the answer
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Generate and check datasets
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Look after the prediction log
    #[command(subcommand)]
    Log(serve::LogCommand),
}

/// Parses arguments, runs, and returns the exit code.
pub fn main() -> i32 {
    // Everything staytrack creates is owner-only: the store and the logs hold patient data.
    // SAFETY: umask only swaps the process's file-mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_ERROR
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let cfg = Config::resolve(cli.workspace.as_deref());
    if cli.serve {
        return serve::serve(&cfg, cli.serve_args);
    }
    match cli.command {
        None => main_job(&cfg, false),
        Some(Command::Tui) => main_job(&cfg, true),
        Some(Command::Train(args)) => train::train(&cfg, args),
        Some(Command::Tune(args)) => tune::tune(&cfg, args),
        Some(Command::Feedback(args)) => feedback::run(&cfg, args),
        Some(Command::Monitor(args)) => monitor::run(&cfg, args),
        Some(Command::Promote(args)) => registry::promote(&cfg, args),
        Some(Command::Registry { json }) => registry::registry(&cfg, json),
        Some(Command::Score(a)) => score::score(&cfg, a),
        Some(Command::Explain(a)) => explain::explain(&cfg, a),
        Some(Command::Serve(args)) => serve::serve(&cfg, args),
        Some(Command::Tracking(args)) => tracking::run(&cfg, args),
        Some(Command::Drift(args)) => drift::run(&cfg, args),
        Some(Command::Report(args)) => report::run(&cfg, args),
        Some(Command::Sync(cmd)) => sync::run(&cfg, cmd),
        Some(Command::Health { url, timeout }) => serve::health(&url, timeout),
        Some(Command::Runs(cmd)) => runs::run(&cfg, cmd),
        Some(Command::Data(cmd)) => data::run(&cfg, cmd),
        Some(Command::Log(cmd)) => serve::log(&cfg, cmd),
    }
}

/// Generates the default data when it is missing, saying so before (it takes a moment) and
/// after in one line each; returns the second line when data was generated.
pub fn ensure_data(cfg: &Config) -> anyhow::Result<Option<String>> {
    // A `[data]` table that does not parse is said here, before any file is looked for.
    cfg.data_files()?;
    // The synthetic twin is the hospital dataset's: another dataset's workspace gets its own
    // files or none.
    let spec = crate::data::DatasetSpec::of_workspace(cfg)?;
    if spec.name != crate::data::DatasetSpec::hospital().name {
        return Ok(None);
    }
    if !cfg.train_file().exists() {
        eprintln!(
            "staytrack: first start: generating the synthetic data in {} …",
            cfg.data_dir.display()
        );
    }
    let e = crate::data::ensure_default_data(&cfg.data_dir)?;
    if !e.train_created {
        return Ok(None);
    }
    let what = if e.test_created {
        "train_data.csv and test_data.csv"
    } else {
        "train_data.csv"
    };
    let said = format!(
        "generated the synthetic {what} in {} (seed {}); put the real Kaggle files there to \
         use them instead",
        cfg.data_dir.display(),
        crate::data::DEFAULT_SEED,
    );
    eprintln!("staytrack: {said}");
    Ok(Some(said))
}

/// With a terminal, the TUI; without one (a pipe, a script), the workspace status in text.
/// `asked` is true for `staytrack tui`, which then says why no UI opens.
fn main_job(cfg: &Config, asked: bool) -> anyhow::Result<i32> {
    let generated = ensure_data(cfg)?;
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return crate::tui::run(cfg, generated);
    }
    if asked {
        eprintln!(
            "staytrack tui: no terminal here (standard input or output is not one), so no \
             UI opens; the workspace status follows"
        );
    }
    let store = open_store(cfg)?;
    let runs = store.list_runs()?;
    println!(
        "staytrack {} · workspace {} · store {}",
        env!("CARGO_PKG_VERSION"),
        cfg.workspace.display(),
        cfg.db_path.display()
    );
    for f in [cfg.train_file(), cfg.test_file()] {
        match std::fs::metadata(&f) {
            Ok(m) => println!("data: {} ({:.1} MB)", f.display(), m.len() as f64 / 1e6),
            Err(_) => println!("data: {} (missing)", f.display()),
        }
    }
    let mut by_status: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &runs {
        *by_status.entry(r.status.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!(
        "runs: {}{}",
        runs.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        }
    );
    let best = runs
        .iter()
        .filter(|r| r.metrics.contains_key(Metric::RocAuc.key()))
        .max_by(|a, b| a.metrics[Metric::RocAuc.key()].total_cmp(&b.metrics[Metric::RocAuc.key()]));
    match best {
        Some(r) => println!(
            "best: {} ({}, run {}), validation ROC AUC {:.4}",
            r.name,
            r.family,
            r.id,
            r.metrics[Metric::RocAuc.key()]
        ),
        None => println!("next: `staytrack train` trains all four model families"),
    }
    println!(
        "The terminal UI opens when staytrack runs in a terminal; `staytrack --help` lists the \
         commands."
    );
    Ok(0)
}

/// Marks runs of dead processes as failed and says so.
/// Opens the store, marking runs whose process ended without finishing as failed, and says so.
pub fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let mut store = Store::open(&cfg.db_path)?;
    for id in store.recover_interrupted()? {
        eprintln!("staytrack: run {id} was interrupted (its process ended); marked failed");
    }
    Ok(store)
}
