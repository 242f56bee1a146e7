//! `staytrack score`: a CSV through the model behind an alias.

use std::path::PathBuf;

use clap::Args;

use super::ensure_data;
use crate::config::Config;
use crate::tracking::registry::PRODUCTION;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// CSV to score [default: the workspace's data/test_data.csv]
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
