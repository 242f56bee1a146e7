//! `staytrack data synth | check`: the synthetic twin, and a CSV checked against the spec.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use super::EXIT_ERROR;
use crate::config::Config;
use crate::data::DEFAULT_SEED;
use crate::data::{self, synth, DatasetSpec, Labels};
use crate::util::{render_table, thousands};

pub fn run(cfg: &Config, cmd: DataCommand) -> anyhow::Result<i32> {
    match cmd {
        DataCommand::Synth {
            rows,
            test_rows,
            seed,
            drift,
            out,
        } => {
            let out = out.unwrap_or_else(|| cfg.data_dir.clone());
            data_synth(rows, test_rows, seed, drift, &out)
        }
        DataCommand::Check { file, json } => data_check(&file, json),
    }
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
        #[arg(long, default_value_t = DEFAULT_SEED)]
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
