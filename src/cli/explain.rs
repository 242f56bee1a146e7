//! `staytrack explain`: why each row of a file got its probability, with the model behind an
//! alias.

use std::path::PathBuf;

use clap::Args;

use super::ensure_data;
use crate::config::Config;
use crate::explain::{file, DEFAULT_TOP};
use crate::tracking::registry::PRODUCTION;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// CSV or Parquet file to explain [default: the workspace's data/test_data.csv]
    pub file: Option<PathBuf>,
    /// Where to write the explanations [default: predictions/<file>.v<version>.explained.csv,
    /// or the next free name when an earlier output is there]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the --out file if it exists
    #[arg(long, requires = "out")]
    pub force: bool,
    /// The alias whose model explains
    #[arg(long, default_value = PRODUCTION)]
    pub alias: String,
    /// Columns listed per row, largest contribution first (1 to 64)
    #[arg(long, value_name = "K", default_value_t = DEFAULT_TOP,
          value_parser = |s: &str| crate::explain::parse_top("--top", s))]
    pub top: usize,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// Instead: write the model's trees in shap's format and the file's encoded rows into DIR,
    /// for the benchmark against shap (bench/explain.sh)
    #[arg(long, hide = true, value_name = "DIR", conflicts_with_all = ["out", "force", "top"])]
    pub export_shap: Option<PathBuf>,
}

pub fn explain(cfg: &Config, a: ExplainArgs) -> anyhow::Result<i32> {
    let input = match a.file {
        Some(f) => f,
        None => {
            ensure_data(cfg)?;
            cfg.test_file()
        }
    };
    if let Some(dir) = &a.export_shap {
        let e = crate::explain::export::write_bench_export(cfg, &input, &a.alias, dir)?;
        println!("{}", serde_json::to_string(&e)?);
        return Ok(0);
    }
    let output = match a.out.as_deref() {
        Some(path) => crate::score::Output::File {
            path,
            replace: a.force,
        },
        None => crate::score::Output::Default,
    };
    let s = file::explain_file(cfg, &input, output, &a.alias, a.top)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", file::describe(&s));
    }
    Ok(0)
}
