//! `explain FILE`: a CSV or Parquet file streamed through the model behind an alias, as `score`
//! streams it (a chunk of rows per core, written in file order to a temporary file renamed into
//! place, owner-only, never over an earlier output unless told), each row written with its ids,
//! its probability and its top columns with their values and contributions. Memory stays flat:
//! a chunk is encoded, made dense a block of rows at a time and explained row by row.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use super::{top_k, Explainer, MAX_TOP};
use crate::bundle::Bundle;
use crate::config::Config;
use crate::data::chunks::CsvChunks;
use crate::data::frame::{ColumnData, IdColumn};
use crate::data::{Frame, Labels};
use crate::score::Output;
use crate::tracking::Store;

/// Rows read and explained per chunk: an explained row costs hundreds of scored ones, so
/// chunks are an eighth of `score`'s and every core stays busy to the end of the file.
const CHUNK_ROWS: usize = 2048;
/// Rows made dense at a time within a chunk: a block stays in the cache while it is explained.
const DENSE_ROWS: usize = 256;

/// What an explaining pass produced.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExplainSummary {
    pub input: PathBuf,
    pub output: PathBuf,
    /// An earlier output at the default name, left in place (the new one took the next name).
    pub kept: Option<PathBuf>,
    pub alias: String,
    pub model_version: i64,
    pub run_id: String,
    pub family: String,
    pub rows: usize,
    pub top: usize,
    /// The scale contributions add up in (`probability` or `log_odds`).
    pub margin: &'static str,
    /// What every row's contributions start from.
    pub expected_value: f64,
    /// Each spec column's mean |contribution| over the rows, largest first: global importance.
    pub mean_abs: Vec<(String, f64)>,
    pub seconds: f64,
}

/// The default output for `input` explained by `version`:
/// `predictions/<stem>.v<version>.explained.csv`.
pub fn default_output(cfg: &Config, input: &Path, version: i64) -> PathBuf {
    crate::score::output_named(cfg, input, version, "explained", "explained.csv")
}

/// Explains every row of `input` with the model behind `alias`, listing `top` columns a row.
pub fn explain_file(
    cfg: &Config,
    input: &Path,
    output: Output,
    alias: &str,
    top: usize,
) -> anyhow::Result<ExplainSummary> {
    anyhow::ensure!(
        (1..=MAX_TOP).contains(&top),
        "--top must be a whole number from 1 to {MAX_TOP} (got {top})"
    );
    if let Output::File { path, replace } = output {
        crate::util::ensure_free(path, replace)?;
    }
    let t = std::time::Instant::now();
    let (target, bundle, explainer) = load(cfg, alias)?;
    let chunks = CsvChunks::open(input, CHUNK_ROWS)?;
    let (output, kept) = output.resolve(default_output(cfg, input, target.version))?;
    let job = Job {
        input,
        bundle: &bundle,
        explainer: &explainer,
        top,
    };
    let tmp = crate::util::TempFile::beside(&output)
        .with_context(|| format!("writing {}", output.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.file()?);
    let (rows, abs_sums) = job.run(chunks, &mut w)?;
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .and_then(|()| tmp.persist(&output))
        .with_context(|| format!("writing {}", output.display()))?;
    let mut mean_abs: Vec<(String, f64)> = explainer
        .columns()
        .iter()
        .zip(&abs_sums)
        .map(|(c, s)| (c.clone(), s / rows.max(1) as f64))
        .collect();
    mean_abs.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(ExplainSummary {
        input: input.to_path_buf(),
        output,
        kept,
        alias: alias.to_string(),
        model_version: target.version,
        run_id: target.run_id,
        family: bundle.model.family().name().to_string(),
        rows,
        top,
        margin: explainer.margin().name(),
        expected_value: explainer.expected_value(),
        mean_abs,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// The model behind `alias`: its registry entry, its bundle and its explainer.
/// The model behind `alias` and its explainer; errors name the alias and the version.
pub(crate) fn load(
    cfg: &Config,
    alias: &str,
) -> anyhow::Result<(crate::tracking::registry::AliasTarget, Bundle, Explainer)> {
    let store = Store::open(&cfg.db_path)?;
    let target = store.alias_target(alias)?.with_context(|| {
        format!("no model is promoted to '{alias}'; promote a run first (`staytrack promote RUN`)")
    })?;
    let bundle =
        Bundle::load_registered(&cfg.artifacts_dir, &target.sha256, target.path.as_deref())
            .map_err(|e| {
                anyhow::anyhow!("the '{alias}' model (version {}): {e}", target.version)
            })?;
    let explainer = Explainer::new(&bundle).map_err(|e| {
        anyhow::anyhow!(
            "the '{alias}' model (version {}) cannot be explained: {e}",
            target.version
        )
    })?;
    Ok((target, bundle, explainer))
}

/// What explaining one chunk needs.
struct Job<'a> {
    input: &'a Path,
    bundle: &'a Bundle,
    explainer: &'a Explainer,
    top: usize,
}

/// One chunk, explained: its lines of output and each column's sum of |contribution|.
struct Explained {
    csv: String,
    rows: usize,
    abs_sums: Vec<f64>,
}

impl Job<'_> {
    /// Explains the chunks in file order, a batch of one chunk per core at a time; returns the
    /// rows and each column's sum of |contribution|.
    fn run(
        &self,
        chunks: CsvChunks,
        w: &mut impl std::io::Write,
    ) -> anyhow::Result<(usize, Vec<f64>)> {
        let spec = &self.bundle.spec;
        let mut head = String::new();
        for c in spec.id_columns() {
            head.push_str(&crate::util::csv_field(&c.name));
            head.push(',');
        }
        head.push_str("probability");
        for k in 1..=self.top {
            let _ = write!(head, ",top{k}_column,top{k}_value,top{k}_contribution");
        }
        head.push('\n');
        w.write_all(head.as_bytes())?;
        let mut rows = 0;
        let mut abs_sums = vec![0.0; self.explainer.columns().len()];
        chunks.in_batches(
            |c| self.chunk(c),
            |e: Explained, _read| {
                w.write_all(e.csv.as_bytes())?;
                rows += e.rows;
                for (a, b) in abs_sums.iter_mut().zip(&e.abs_sums) {
                    *a += b;
                }
                Ok(())
            },
        )?;
        anyhow::ensure!(rows > 0, "{}: no rows to explain", self.input.display());
        Ok((rows, abs_sums))
    }

    fn chunk(&self, c: crate::data::chunks::Chunk) -> anyhow::Result<Explained> {
        let first = c.first_row;
        let frame = c.parse(self.input, &self.bundle.spec, Labels::Optional)?;
        let n = frame.n_rows();
        let context = || {
            format!(
                "{}: explaining rows {}..{}",
                self.input.display(),
                first + 1,
                first + n
            )
        };
        let x = self.bundle.pipeline.encode(&frame).with_context(context)?;
        let probs = self
            .bundle
            .model
            .predict_encoded_with(&x, self.bundle.prepare());
        let e = self.explainer;
        let ids: Vec<Option<&IdColumn>> = self
            .bundle
            .spec
            .id_columns()
            .map(|c| match frame.column(&c.name) {
                Some(ColumnData::Id(v)) => Some(v),
                _ => None,
            })
            .collect();
        let mut ws = e.workspace();
        let mut phi = vec![0.0; e.n_features()];
        let mut by = vec![0.0; e.columns().len()];
        let mut abs_sums = vec![0.0; by.len()];
        let mut csv = String::with_capacity(n * (24 + 40 * self.top));
        for start in (0..n).step_by(DENSE_ROWS) {
            let end = (start + DENSE_ROWS).min(n);
            let dense = x.dense(start..end);
            for (k, row) in dense.rows().into_iter().enumerate() {
                let i = start + k;
                let row = row.as_slice().context("a dense row is contiguous")?;
                e.explain_row(row, &mut ws, &mut phi);
                e.by_column(&phi, &mut by);
                for (a, b) in abs_sums.iter_mut().zip(&by) {
                    *a += b.abs();
                }
                for c in &ids {
                    if let Some(v) = c {
                        csv.push_str(&crate::util::csv_field(v.get(i)));
                    }
                    csv.push(',');
                }
                let _ = write!(csv, "{:.6}", probs[i]);
                let picked = top_k(&by, self.top);
                for k in 0..self.top {
                    match picked.get(k) {
                        Some(&c) => {
                            let name = &e.columns()[c];
                            let _ = write!(
                                csv,
                                ",{},{},{}",
                                crate::util::csv_field(name),
                                crate::util::csv_field(&cell_text(&frame, name, i)),
                                by[c]
                            );
                        }
                        None => csv.push_str(",,,"),
                    }
                }
                csv.push('\n');
            }
        }
        Ok(Explained {
            csv,
            rows: n,
            abs_sums,
        })
    }
}

/// A row's value of a spec column as a CSV writes it: empty when missing.
pub fn cell_text(frame: &Frame, column: &str, row: usize) -> String {
    match super::cell_value(frame, column, row) {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n
            .as_f64()
            .map_or_else(|| n.to_string(), crate::data::frame::canonical_number),
        other => other.to_string(),
    }
}

/// The summary as the CLI prints it.
pub fn describe(s: &ExplainSummary) -> String {
    let mut out = format!(
        "explained {} rows of {} with '{}' (version {}, {}, run {}) in {:.2} s\n\
         contributions in {} from an expected value of {:.6}; top {} columns a row\n\
         mean |contribution| per column:\n",
        crate::util::thousands(s.rows),
        s.input.display(),
        s.alias,
        s.model_version,
        s.family,
        s.run_id,
        s.seconds,
        s.margin.replace('_', "-"),
        s.expected_value,
        s.top
    );
    let max = s.mean_abs.first().map_or(0.0, |m| m.1);
    for (c, v) in s.mean_abs.iter().take(10) {
        let bar = if max > 0.0 {
            "█".repeat((30.0 * v / max).round() as usize)
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {:<34} {v:>9.5} {bar}", crate::util::clip(c, 34));
    }
    if let Some(k) = &s.kept {
        let _ = writeln!(out, "{} is kept; this output gets a new name", k.display());
    }
    let _ = writeln!(out, "explanations written to {}", s.output.display());
    out
}
