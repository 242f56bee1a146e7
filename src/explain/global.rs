//! A run's global importance as each spec column's mean |SHAP| over a bounded sample, beside the
//! gain training records. Computed when asked (a run's details, `runs show`), never at
//! training, and bounded by rows and by time: a gbdt row costs under a millisecond but a forest
//! row about 87 ms, so the sample stops at whichever bound comes first and says how many rows
//! it used.
//!
//! The sample is the first rows of the workspace's test file: the bundle keeps its validation
//! rows' ids, labels and probabilities, not their features.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::{Explainer, Margin};
use crate::bundle::Bundle;
use crate::data::Labels;

/// Rows a run's details explain at most.
pub const DETAIL_ROWS: usize = 200;
/// The time a run's details spend explaining at most (at least one row is explained).
pub const DETAIL_BUDGET: Duration = Duration::from_millis(1500);

/// One spec column's importance both ways.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnImportance {
    pub column: String,
    /// The mean |contribution| over the sampled rows, in the model's margin.
    pub mean_abs_shap: f64,
    /// The gain training recorded, summed over the column's encoded features (NaN when the
    /// bundle's gains do not line up with its features).
    pub gain: f64,
}

/// Mean |SHAP| per column over a sample, largest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalImportance {
    pub input: PathBuf,
    /// Rows explained.
    pub rows: usize,
    /// The time bound ended the sample before the row bound did.
    pub stopped_by_time: bool,
    pub margin: Margin,
    pub columns: Vec<ColumnImportance>,
}

impl GlobalImportance {
    /// What the sample was, in a line: `mean |SHAP| over the first 200 rows of test_data.csv`.
    pub fn describe(&self) -> String {
        let file = self.input.file_name().map_or_else(
            || self.input.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        format!(
            "mean |SHAP| ({}) over the first {} rows of {file}{}",
            self.margin.name().replace('_', "-"),
            crate::util::thousands(self.rows),
            if self.stopped_by_time {
                " (the time bound came first)"
            } else {
                ""
            }
        )
    }
}

/// The global importance of the run `run_id` (its bundle in the store) on the first rows of
/// `input`, at most `max_rows` of them and at most `budget` spent explaining; None for a run
/// without a bundle (one logged through the MLflow API).
pub fn of_run(
    cfg: &crate::config::Config,
    store: &crate::tracking::Store,
    run_id: &str,
    input: &Path,
    max_rows: usize,
    budget: Duration,
) -> anyhow::Result<Option<GlobalImportance>> {
    let Some(a) = store
        .artifacts(run_id)?
        .into_iter()
        .find(|a| a.name == "bundle")
    else {
        return Ok(None);
    };
    let bundle = Bundle::load_registered(&cfg.artifacts_dir, &a.sha256, Some(&a.path))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    of_bundle(&bundle, input, max_rows, budget).map(Some)
}

/// `of_run` for a loaded bundle.
pub fn of_bundle(
    bundle: &Bundle,
    input: &Path,
    max_rows: usize,
    budget: Duration,
) -> anyhow::Result<GlobalImportance> {
    anyhow::ensure!(max_rows > 0, "the sample needs at least one row");
    let explainer = Explainer::new(bundle)?;
    let chunk = crate::data::chunks::CsvChunks::open(input, max_rows)?
        .next()
        .with_context(|| format!("{}: no rows", input.display()))??;
    let frame = chunk.parse(input, &bundle.spec, Labels::Optional)?;
    let x = bundle
        .pipeline
        .encode(&frame)
        .with_context(|| format!("{}: encoding its rows", input.display()))?;
    let start = Instant::now();
    let mut ws = explainer.workspace();
    let mut phi = vec![0.0; explainer.n_features()];
    let mut by = vec![0.0; explainer.columns().len()];
    let mut sums = vec![0.0; by.len()];
    let mut rows = 0;
    let mut stopped_by_time = false;
    for i in 0..x.n_rows() {
        if i > 0 && start.elapsed() > budget {
            stopped_by_time = true;
            break;
        }
        let row: Vec<f64> = x.dense(i..i + 1).iter().copied().collect();
        explainer.explain_row(&row, &mut ws, &mut phi);
        explainer.by_column(&phi, &mut by);
        for (s, b) in sums.iter_mut().zip(&by) {
            *s += b.abs();
        }
        rows += 1;
    }
    anyhow::ensure!(rows > 0, "{}: no rows to explain", input.display());
    // Gains are per encoded feature, in the pipeline's order: summed per column like SHAP.
    let feature_columns = bundle.pipeline.feature_columns();
    let aligned = bundle.importance.len() == feature_columns.len();
    let mut columns: Vec<ColumnImportance> = explainer
        .columns()
        .iter()
        .zip(&sums)
        .map(|(c, s)| ColumnImportance {
            column: c.clone(),
            mean_abs_shap: s / rows as f64,
            gain: if aligned {
                feature_columns
                    .iter()
                    .zip(&bundle.importance)
                    .filter(|(f, _)| *f == c)
                    .map(|(_, g)| g)
                    .sum()
            } else {
                f64::NAN
            },
        })
        .collect();
    columns.sort_by(|a, b| b.mean_abs_shap.total_cmp(&a.mean_abs_shap));
    Ok(GlobalImportance {
        input: input.to_path_buf(),
        rows,
        stopped_by_time,
        margin: explainer.margin(),
        columns,
    })
}
