//! `staytrack score`: a CSV through the model behind an alias.

use std::path::PathBuf;

use clap::Args;

use super::ensure_data;
use crate::config::Config;
use crate::tracking::registry::PRODUCTION;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// CSV or Parquet file to score [default: the workspace's data/test_data.csv]
    pub file: Option<PathBuf>,
    /// Where to write the predictions [default: predictions/<file>.v<version>.csv, or the next
    /// free name (`-2`, `-3`, ...) when an earlier output is there]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the --out file if it exists
    #[arg(long, requires = "out")]
    pub force: bool,
    /// The alias whose model scores
    #[arg(long, default_value = PRODUCTION)]
    pub alias: String,
    /// Probability at or above which a stay is predicted long
    #[arg(long, default_value_t = crate::score::THRESHOLD)]
    pub threshold: f64,
    /// Add the scored rows to the prediction log, for `staytrack monitor` and `feedback`
    #[arg(long)]
    pub log: bool,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn score(cfg: &Config, a: ScoreArgs) -> anyhow::Result<i32> {
    let input = match a.file {
        Some(f) => f,
        None => {
            ensure_data(cfg)?;
            cfg.test_file()
        }
    };
    let never = std::sync::atomic::AtomicBool::new(false);
    // A progress line on a terminal, redrawn in place; nothing when stderr is a file or a pipe.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = |stage: crate::score::Stage| {
        if !tty {
            return;
        }
        let bar = |ratio: f64| {
            let filled = (ratio * 30.0).round() as usize;
            format!(
                "[{}{}]",
                "█".repeat(filled),
                " ".repeat(30 - filled.min(30))
            )
        };
        let line = match stage {
            crate::score::Stage::Reading => "scoring: reading the model…".to_string(),
            crate::score::Stage::Scoring { done, total } => format!(
                "scoring {} {:>3.0} % ({} of {} MB)",
                bar(stage.ratio()),
                100.0 * done as f64 / total.max(1) as f64,
                done / 1_000_000,
                total / 1_000_000
            ),
            crate::score::Stage::Writing => "scoring: writing…".to_string(),
        };
        eprint!("\r\x1b[2K{line}");
    };
    let s = crate::score::score_file(
        cfg,
        &input,
        match a.out.as_deref() {
            Some(path) => crate::score::Output::File {
                path,
                replace: a.force,
            },
            None => crate::score::Output::Default,
        },
        crate::score::ScoreOptions {
            alias: &a.alias,
            threshold: a.threshold,
            log: a.log,
        },
        &progress,
        &never,
    );
    if tty {
        eprint!("\r\x1b[2K");
    }
    let s = s?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", crate::score::describe(&s));
    }
    Ok(0)
}
