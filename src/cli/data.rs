//! `staytrack data synth | check`: the synthetic twin, and a CSV checked against the spec.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use super::EXIT_ERROR;
use crate::config::Config;
use crate::data::DEFAULT_SEED;
use crate::data::{self, infer, synth, DatasetSpec, Labels};
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
            let spec = DatasetSpec::of_workspace(cfg)?;
            anyhow::ensure!(
                out.is_some() || spec.name == DatasetSpec::hospital().name,
                "this workspace's dataset is '{}' ({}); the synthetic data is the hospital \
                 dataset's twin, so it is not written into it (give --out DIR to write it elsewhere)",
                spec.name,
                cfg.settings_file().display()
            );
            let out = out.unwrap_or_else(|| cfg.data_dir.clone());
            data_synth(rows, test_rows, seed, drift, &out)
        }
        DataCommand::Init {
            file,
            target,
            positive,
            ids,
            name,
            slices,
            force,
        } => data_init(
            cfg,
            &file,
            &infer::InitOptions {
                target,
                positive,
                ids,
                name,
            },
            &slices,
            force,
        ),
        DataCommand::Check { file, json } => {
            data_check(&file, &DatasetSpec::of_workspace(cfg)?, json)
        }
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
    /// Write the workspace's dataset spec (`[dataset]` in staytrack.toml), inferred from a CSV
    /// or Parquet file
    Init {
        file: PathBuf,
        /// The label column the binary target comes from
        #[arg(long)]
        target: String,
        /// The labels that make the target 1 [default: the rarer of two labels]
        #[arg(long, value_delimiter = ',')]
        positive: Vec<String>,
        /// An id column (any text of at most 256 characters, kept as written; never a model
        /// input); repeat for several
        #[arg(long = "id", value_name = "COLUMN")]
        ids: Vec<String>,
        /// The dataset's name [default: the file's name]
        #[arg(long)]
        name: Option<String>,
        /// Also write `[slices]` for these columns (numeric ones cut at their quartiles), to
        /// measure every run and monitor window per slice [default: no slices]
        #[arg(long, value_delimiter = ',', value_name = "COLUMN,...")]
        slices: Vec<String>,
        /// Replace a spec the workspace already has
        #[arg(long)]
        force: bool,
    },
    /// Validate a CSV or Parquet file against the workspace's dataset spec and summarise it
    Check {
        file: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

fn data_init(
    cfg: &Config,
    file: &Path,
    o: &infer::InitOptions,
    slices: &[String],
    force: bool,
) -> anyhow::Result<i32> {
    let path = cfg.settings_file();
    let existing = cfg.read_settings()?.unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Has {
        dataset: Option<toml::Value>,
        data: Option<toml::Value>,
    }
    let has =
        toml::from_str::<Has>(&existing).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    anyhow::ensure!(
        has.dataset.is_none() || force,
        "{} already has a [dataset] spec; --force replaces it (runs trained on it keep theirs)",
        path.display()
    );
    let (spec, notes) = infer::infer_spec(file, o)?;
    let mut text = infer::replace_dataset(&existing, &infer::to_toml(&spec));
    if !slices.is_empty() {
        text = format!("{text}\n{}", init_slices(&existing, file, &spec, slices)?);
    }
    // The file becomes the workspace's training file, so `train` needs no `--data`; a `[data]`
    // table the user wrote is theirs and stays.
    let train = train_entry(cfg, file);
    let named_train = has.data.is_none();
    if named_train {
        // A JSON string is a TOML basic string: quotes, backslashes and controls escaped.
        let quoted = serde_json::to_string(&train)?;
        text.push_str(&format!("\n[data]\ntrain = {quoted}\n"));
    }
    crate::util::atomic_write(&path, text.as_bytes())?;
    // What was written must read back as the same spec.
    let back = DatasetSpec::of_workspace(cfg)?;
    anyhow::ensure!(
        back == spec,
        "{}: the written spec reads back differently",
        path.display()
    );
    let role = |r: data::Role| format!("{r:?}").to_lowercase();
    let rows: Vec<Vec<String>> = spec
        .columns
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                role(c.role),
                c.value.describe().to_string(),
                if c.nullable {
                    "yes".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    print!(
        "{}",
        render_table(&["COLUMN", "ROLE", "VALUES", "NULLABLE"], &rows)
    );
    println!(
        "target: {} is 1 when it is {} (labels: {})",
        spec.target.column,
        spec.target.positive.join(" or "),
        spec.target.labels.join(", ")
    );
    for n in &notes {
        println!("note: {n}");
    }
    println!(
        "wrote the '{}' spec to {}; every command now reads files by it (`staytrack data check FILE`)",
        spec.name,
        path.display()
    );
    if named_train {
        println!("runs train on {train} ([data] train); `staytrack train` needs no --data");
    } else {
        println!(
            "[data] was kept as it was; runs train on {}",
            cfg.train_file().display()
        );
    }
    Ok(0)
}

/// How `[data] train` names `file`: relative to the workspace when it lies inside it (the
/// workspace can move), else absolute.
fn train_entry(cfg: &Config, file: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (f, ws) = (abs(file), abs(&cfg.workspace));
    f.strip_prefix(&ws)
        .map(Path::to_path_buf)
        .unwrap_or(f)
        .display()
        .to_string()
}

/// The `[slices]` table for `columns`, refused when the file already has one.
fn init_slices(
    existing: &str,
    file: &Path,
    spec: &DatasetSpec,
    columns: &[String],
) -> anyhow::Result<String> {
    let has = existing
        .parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("slices"));
    anyhow::ensure!(
        !has,
        "--slices: the settings file already has [slices]; edit it there"
    );
    let frame = crate::data::load_csv(file, spec, Labels::Required)?;
    let s = crate::slices::init::settings_for(spec, columns, &frame)
        .map_err(|e| anyhow::anyhow!("--slices: {e}"))?;
    Ok(crate::slices::init::to_toml(&s))
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

fn data_check(file: &Path, spec: &DatasetSpec, json: bool) -> anyhow::Result<i32> {
    let frame = match data::load_csv(file, spec, Labels::Optional) {
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
        println!("{}: {}", spec.target.column, parts.join(" · "));
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
