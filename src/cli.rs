//! Command-line parsing and dispatch. Exit codes: 0 success, 1 error, 2 usage error,
//! 130 interrupted.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::data::{self, synth, DatasetSpec, Labels};
use crate::tracking::Store;
use crate::util::{format_ms, render_table, thousands};

pub const EXIT_ERROR: i32 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "staytrack",
    version,
    about = "Train, track, compare, promote, serve and monitor length-of-stay models from one terminal",
    long_about = "Train, track, compare, promote, serve and monitor models that predict whether a \
                  hospital stay lasts more than 30 days. With no command, opens the terminal UI \
                  on the workspace, generating the synthetic dataset on first use."
)]
pub struct Cli {
    /// Workspace folder holding staytrack.db, artifacts/ and data/ [default: current folder]
    #[arg(long, global = true, env = "STAYTRACK_HOME", value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Run the HTTP prediction server (same as `staytrack serve`)
    #[arg(long)]
    pub serve: bool,

    #[command(flatten, next_help_heading = "Server options (with --serve)")]
    pub serve_args: ServeArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the interactive terminal UI (the default)
    Tui,
    /// Train models and record the runs
    Train(TrainArgs),
    /// List, show, compare and diff runs
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Move a model alias (production, staging, ...) to a run's model, or roll it back
    Promote(crate::cli_registry::PromoteArgs),
    /// Model versions, aliases and the audit log of alias moves
    Registry {
        #[arg(long)]
        json: bool,
    },
    /// Score a CSV file with the production model
    Score(ScoreArgs),
    /// Serve predictions over HTTP, following an alias as it moves
    Serve(ServeArgs),
    /// Check data drift against the production model's training profile
    Drift(crate::cli_drift::DriftArgs),
    /// Render PNG reports of runs and drift
    Report(crate::cli_report::ReportArgs),
    /// Share runs and models through an S3 bucket
    #[command(subcommand)]
    Sync(crate::cli_sync::SyncCommand),
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
    Data(DataCommand),
    /// Look after the prediction log
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Delete logged predictions older than a duration (the server does this by itself with
    /// --log-retention)
    Prune {
        /// Keep this much of the log (30d, 12h, 90m)
        #[arg(long, default_value = "30d", value_name = "DURATION")]
        older_than: String,
    },
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Families to train: lr, tree, forest, gbdt, or all (comma-separated or repeated)
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
    /// Training CSV [default: the workspace's data/train_data.csv]
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Name prefix for the runs [default: the family]
    #[arg(long)]
    pub name: Option<String>,
    /// Seed for the split and the models
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of rows held out for validation (stratified)
    #[arg(long, default_value_t = 0.2)]
    pub valid_fraction: f64,
    /// Print the results as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on; loopback unless told otherwise
    #[arg(long, env = "STAYTRACK_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Serve the model behind this alias, and follow the alias when it moves
    #[arg(long, env = "STAYTRACK_ALIAS", default_value = "production")]
    pub alias: String,
    /// Largest request body, in bytes (larger ones get 413)
    #[arg(long, default_value_t = 10 * 1024 * 1024, value_name = "BYTES")]
    pub max_body: usize,
    /// Most rows in one request (more get 413); batch files go through `staytrack score`
    #[arg(long, default_value_t = 10_000, value_name = "ROWS")]
    pub max_rows: usize,
    /// Request bodies read or scored at once, in bytes; more wait, then get 503
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_name = "BYTES")]
    pub max_inflight: usize,
    /// Prediction-log queue size in rows; when it is full, rows are dropped and counted
    #[arg(long, default_value_t = 65536, value_name = "ROWS")]
    pub log_queue: usize,
    /// Prediction-log queue size in bytes, beside the row bound
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_name = "BYTES")]
    pub log_queue_bytes: usize,
    /// Delete logged predictions older than this (30d, 12h); `forever` keeps them
    #[arg(long, default_value = "30d", value_name = "DURATION")]
    pub log_retention: String,
    /// Seconds a client has to send a request's headers (an idle keep-alive connection closes
    /// after this too)
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub header_timeout: u64,
    /// Seconds a shutdown waits for requests in flight before it closes their connections
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub shutdown_timeout: u64,
    /// Seconds a whole request (its body included) may take before it is answered 408
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub request_timeout: u64,
    /// Do not write predictions to the store
    #[arg(long)]
    pub no_log: bool,
    /// How often to check whether the alias moved, in milliseconds
    #[arg(long, default_value_t = 250, value_name = "MS")]
    pub poll_ms: u64,
    /// Worker threads answering requests [default: one per core]
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub workers: usize,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// CSV to score [default: the workspace's data/test_data.csv]
    pub file: Option<PathBuf>,
    /// Where to write the predictions [default: predictions/<file>.v<version>.csv]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The alias whose model scores
    #[arg(long, default_value = "production")]
    pub alias: String,
    /// Probability at or above which a stay is predicted long
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
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
        /// Order by a metric, best first (roc_auc, pr_auc, f1, accuracy: higher is better;
        /// log_loss, brier: lower is better) instead of newest first
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
        /// Run id, or a unique prefix or suffix of it
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Compare runs side by side (the best value of each metric is marked *)
    Compare {
        #[arg(required = true, num_args = 1..)]
        ids: Vec<String>,
        #[arg(long)]
        json: bool,
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

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Write a synthetic train_data.csv and test_data.csv with the real files' schema
    Synth {
        /// Training rows [default: as many as the real file]
        #[arg(long, default_value_t = synth::REAL_TRAIN_ROWS)]
        rows: usize,
        /// Test rows [default: as many as the real file]
        #[arg(long, default_value_t = synth::REAL_TEST_ROWS)]
        test_rows: usize,
        /// Seed; the same seed writes byte-identical files
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Shift distributions in the test file
        #[arg(long, value_enum, default_value_t = synth::Drift::None)]
        drift: synth::Drift,
        /// Output folder [default: the workspace's data/]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Validate a CSV file and summarise it
    Check {
        file: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
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
        return serve(&cfg, cli.serve_args);
    }
    match cli.command {
        None => main_job(&cfg),
        Some(Command::Tui) => crate::tui::run(&cfg),
        Some(Command::Train(args)) => crate::cli_runs::train(&cfg, args),
        Some(Command::Promote(args)) => crate::cli_registry::promote(&cfg, args),
        Some(Command::Registry { json }) => crate::cli_registry::registry(&cfg, json),
        Some(Command::Score(a)) => score(&cfg, a),
        Some(Command::Serve(args)) => serve(&cfg, args),
        Some(Command::Drift(args)) => crate::cli_drift::run(&cfg, args),
        Some(Command::Report(args)) => crate::cli_report::run(&cfg, args),
        Some(Command::Sync(cmd)) => crate::cli_sync::run(&cfg, cmd),
        Some(Command::Health { url, timeout }) => health(&url, timeout),
        Some(Command::Runs(RunsCommand::List {
            status,
            family,
            sort,
            limit,
            json,
        })) => runs_list(
            &cfg,
            &ListFilter {
                status,
                family,
                sort,
                limit,
            },
            json,
        ),
        Some(Command::Runs(RunsCommand::Show { id, json })) => {
            crate::cli_runs::show(&cfg, &id, json)
        }
        Some(Command::Runs(RunsCommand::Compare { ids, json })) => {
            crate::cli_runs::compare(&cfg, &ids, json)
        }
        Some(Command::Runs(RunsCommand::Diff { a, b, all, json })) => {
            crate::cli_runs::diff(&cfg, &a, &b, all, json)
        }
        Some(Command::Data(DataCommand::Synth {
            rows,
            test_rows,
            seed,
            drift,
            out,
        })) => {
            let out = out.unwrap_or_else(|| cfg.data_dir.clone());
            data_synth(rows, test_rows, seed, drift, &out)
        }
        Some(Command::Data(DataCommand::Check { file, json })) => data_check(&file, json),
        Some(Command::Log(LogCommand::Prune { older_than })) => prune_log(&cfg, &older_than),
    }
}

/// GET `url` over plain HTTP/1.1 with std only, so the slim image needs no curl.
fn health(url: &str, timeout: u64) -> anyhow::Result<i32> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--url '{url}': only http:// URLs are supported"))?;
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let limit = std::time::Duration::from_secs(timeout.max(1));
    let sock = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .with_context(|| format!("{url}: cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("{url}: no address for {addr}"))?;
    let mut conn = std::net::TcpStream::connect_timeout(&sock, limit)
        .with_context(|| format!("{url}: cannot connect"))?;
    conn.set_read_timeout(Some(limit))?;
    conn.set_write_timeout(Some(limit))?;
    write!(
        conn,
        "GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    conn.take(64 * 1024)
        .read_to_end(&mut answer)
        .with_context(|| format!("{url}: no answer within {timeout} s"))?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        println!("{url}: {status}");
        Ok(0)
    } else {
        eprintln!("{url}: unhealthy: {status}");
        Ok(EXIT_ERROR)
    }
}

fn score(cfg: &Config, a: ScoreArgs) -> anyhow::Result<i32> {
    let input = match a.file {
        Some(f) => f,
        None => {
            ensure_data(cfg)?;
            cfg.test_file()
        }
    };
    let never = std::sync::atomic::AtomicBool::new(false);
    let s = crate::score::score_file(
        cfg,
        &input,
        a.out.as_deref(),
        &a.alias,
        a.threshold,
        &|_| {},
        &never,
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", crate::score::describe(&s));
    }
    Ok(0)
}

fn prune_log(cfg: &Config, older_than: &str) -> anyhow::Result<i32> {
    let keep = crate::util::parse_duration_ms(older_than).with_context(|| {
        format!("--older-than '{older_than}': use a duration such as 30d, 12h or 90m")
    })?;
    let mut store = Store::open(&cfg.db_path)?;
    let before = crate::util::now_ms().saturating_sub(keep);
    let n = store.prune_predictions(before)?;
    println!(
        "deleted {} logged prediction(s) from before {} UTC; {} remain",
        crate::util::thousands(n),
        crate::util::format_ms(before),
        crate::util::thousands(store.count_predictions()?)
    );
    Ok(0)
}

fn serve(cfg: &Config, a: ServeArgs) -> anyhow::Result<i32> {
    use std::time::Duration;
    anyhow::ensure!(a.poll_ms >= 10, "--poll-ms must be at least 10");
    anyhow::ensure!(a.max_rows >= 1, "--max-rows must be at least 1");
    anyhow::ensure!(
        a.header_timeout >= 1 && a.shutdown_timeout <= 3600,
        "--header-timeout must be at least 1 s and --shutdown-timeout at most 3600 s"
    );
    let log_retention = match a.log_retention.as_str() {
        "forever" | "off" | "never" => None,
        d => Some(Duration::from_millis(
            crate::util::parse_duration_ms(d).with_context(|| {
                format!("--log-retention '{d}': use a duration such as 30d or 12h, or `forever`")
            })? as u64,
        )),
    };
    let opts = crate::serve::ServeOptions {
        addr: a.addr,
        alias: a.alias,
        // The token comes from the environment only, so it never shows in `ps`.
        token: std::env::var("STAYTRACK_TOKEN").ok(),
        max_body: a.max_body,
        max_rows: a.max_rows,
        request_timeout: Duration::from_secs(a.request_timeout.max(1)),
        max_inflight: a.max_inflight,
        log_queue: a.log_queue,
        log_queue_bytes: a.log_queue_bytes,
        log_retention,
        log: !a.no_log,
        poll: Duration::from_millis(a.poll_ms),
        workers: a.workers,
        conn: crate::serve::conn::ConnLimits {
            header_timeout: Duration::from_secs(a.header_timeout),
            shutdown_timeout: Duration::from_secs(a.shutdown_timeout),
        },
    };
    let mut store = Store::open(&cfg.db_path)?;
    crate::cli_runs::report_recovered(&mut store)?;
    drop(store);
    crate::serve::run(cfg, opts)
}

/// Generates the default data when it is missing, and says so in one line.
pub fn ensure_data(cfg: &Config) -> anyhow::Result<()> {
    let e = data::ensure_default_data(&cfg.data_dir)?;
    if e.train_created {
        let what = if e.test_created {
            "train_data.csv and test_data.csv"
        } else {
            "train_data.csv"
        };
        eprintln!(
            "staytrack: no {} found; generated the synthetic {what} there (seed 42). \
             Put the real Kaggle files in {} to use them instead.",
            cfg.train_file().display(),
            cfg.data_dir.display()
        );
    }
    Ok(())
}

/// With a terminal, the TUI; without one (a pipe, a script), the workspace status in text.
fn main_job(cfg: &Config) -> anyhow::Result<i32> {
    ensure_data(cfg)?;
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return crate::tui::run(cfg);
    }
    let mut store = Store::open(&cfg.db_path)?;
    crate::cli_runs::report_recovered(&mut store)?;
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
        .filter(|r| r.metrics.contains_key("roc_auc"))
        .max_by(|a, b| a.metrics["roc_auc"].total_cmp(&b.metrics["roc_auc"]));
    match best {
        Some(r) => println!(
            "best: {} ({}, run {}), validation ROC AUC {:.4}",
            r.name, r.family, r.id, r.metrics["roc_auc"]
        ),
        None => println!("next: `staytrack train` trains all four model families"),
    }
    println!(
        "The terminal UI opens when staytrack runs in a terminal; `staytrack --help` lists the \
         commands."
    );
    Ok(0)
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
            crate::models::Family::parse(f).is_some(),
            "--family '{f}': use lr, tree, forest or gbdt"
        );
    }
    let lower_is_better = match filter.sort.as_deref() {
        None => false,
        Some("roc_auc" | "pr_auc" | "f1" | "accuracy" | "precision" | "recall" | "best_f1") => {
            false
        }
        Some("log_loss" | "brier" | "fit_seconds" | "predict_seconds") => true,
        Some(other) => anyhow::bail!(
            "--sort '{other}': use roc_auc, pr_auc, f1, accuracy, precision, recall, best_f1, \
             log_loss, brier, fit_seconds or predict_seconds"
        ),
    };
    let mut store = Store::open(&cfg.db_path)?;
    crate::cli_runs::report_recovered(&mut store)?;
    let mut runs = store.list_runs()?;
    runs.retain(|r| {
        filter
            .status
            .as_deref()
            .is_none_or(|s| r.status.as_str() == s)
            && filter.family.as_deref().is_none_or(|f| r.family == f)
    });
    if let Some(key) = &filter.sort {
        // Runs without the metric go last.
        runs.sort_by(|a, b| {
            let (x, y) = (a.metrics.get(key), b.metrics.get(key));
            match (x, y) {
                (Some(x), Some(y)) if lower_is_better => x.total_cmp(y),
                (Some(x), Some(y)) => y.total_cmp(x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
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
    let metric = |r: &crate::tracking::RunSummary, k: &str| {
        r.metrics
            .get(k)
            .map(|v| format!("{v:.4}"))
            .unwrap_or_else(|| "-".into())
    };
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.name.clone(),
                r.family.clone(),
                r.status.as_str().to_string(),
                metric(r, "roc_auc"),
                metric(r, "f1"),
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

fn data_synth(
    rows: usize,
    test_rows: usize,
    seed: u64,
    drift: synth::Drift,
    out: &Path,
) -> anyhow::Result<i32> {
    anyhow::ensure!(rows >= 10, "--rows must be at least 10 (got {rows})");
    anyhow::ensure!(test_rows >= 1, "--test-rows must be at least 1");
    let opts = synth::SynthOptions {
        train_rows: rows,
        test_rows,
        seed,
        drift,
    };
    let w = synth::write_files(&opts, out)?;
    println!(
        "wrote {} ({} rows) and {} ({} rows), seed {seed}, drift {drift:?}",
        w.train.display(),
        thousands(rows),
        w.test.display(),
        thousands(test_rows)
    );
    Ok(0)
}

fn data_check(file: &Path, json: bool) -> anyhow::Result<i32> {
    let spec = DatasetSpec::hospital();
    let frame = match data::load_csv(file, &spec, Labels::Optional) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("invalid: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let s = data::summary::summarise(&frame);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).context("encoding the summary")?
        );
        return Ok(0);
    }
    println!("{}: valid, {} rows", s.source, thousands(s.rows));
    let rows: Vec<Vec<String>> = s
        .columns
        .iter()
        .map(|c| {
            let values = if c.kind == "categorical" {
                let mut t: Vec<String> = c
                    .top
                    .iter()
                    .take(4)
                    .map(|(l, n)| format!("{l} ({})", thousands(*n)))
                    .collect();
                if c.top.len() > 4 {
                    t.push("…".into());
                }
                t.join(", ")
            } else {
                match (c.min, c.max, c.mean) {
                    (Some(a), Some(b), Some(m)) => format!("{a} .. {b}, mean {m:.2}"),
                    _ => "-".into(),
                }
            };
            vec![
                c.name.clone(),
                c.kind.to_string(),
                thousands(c.missing),
                thousands(c.distinct),
                values,
            ]
        })
        .collect();
    print!(
        "{}",
        render_table(&["COLUMN", "KIND", "MISSING", "DISTINCT", "VALUES"], &rows)
    );
    if let (Some(labels), Some(pos)) = (&s.labels, s.positive) {
        let parts: Vec<String> = labels
            .iter()
            .map(|(l, n)| format!("{l}: {}", thousands(*n)))
            .collect();
        println!("Stay: {}", parts.join(" · "));
        println!(
            "target ({}): {} positive ({:.2} %), {} negative",
            spec.target.description,
            thousands(pos),
            100.0 * pos as f64 / s.rows as f64,
            thousands(s.rows - pos)
        );
    } else {
        println!("no target column: a file to score");
    }
    Ok(0)
}
