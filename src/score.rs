//! Batch scoring: a CSV through the model behind an alias, predictions written beside the
//! workspace as one CSV (atomically), and a summary (rows, positive share, a histogram of
//! probabilities, and the metrics when the file carries `Stay`). Used by `staytrack score` and
//! the TUI's Score screen, which shows the progress this reports.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::bundle::Bundle;
use crate::config::Config;
use crate::data::frame::ColumnData;
use crate::data::quality::{Checker, QualitySummary, Tally};
use crate::data::{self, Labels};
use crate::tracking::{PredictionRow, Store};

/// Probability at or above which a stay is predicted long (the class is 1), unless told.
pub const THRESHOLD: f64 = 0.5;

/// Rows scored per step; the progress gauge moves once per chunk.
const CHUNK: usize = 16_384;
/// Bins of the probability histogram.
pub const BINS: usize = 10;

/// Where scoring is, for a progress gauge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage {
    Reading,
    Scoring { done: usize, total: usize },
    Writing,
}

impl Stage {
    /// The share of the work done, 0 to 1 (reading ≈ 10 %, writing the last 5 %).
    pub fn ratio(self) -> f64 {
        match self {
            Stage::Reading => 0.0,
            Stage::Scoring { done, total } => 0.1 + 0.85 * done as f64 / total.max(1) as f64,
            Stage::Writing => 0.95,
        }
    }
}

/// What a scoring pass produced.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScoreSummary {
    pub input: PathBuf,
    pub output: PathBuf,
    /// An earlier output at the default name, left in place (the new one took the next name).
    pub kept: Option<PathBuf>,
    pub alias: String,
    pub model_version: i64,
    pub run_id: String,
    pub rows: usize,
    pub threshold: f64,
    /// The positive class in words and the label column, from the model's spec.
    pub positive_class: String,
    pub target_column: String,
    pub positives: usize,
    pub positive_share: f64,
    pub mean_probability: f64,
    /// Counts of probabilities in [i/10, (i+1)/10), the last bin closed.
    pub histogram: Vec<usize>,
    /// Validation-style metrics when the file has the label column.
    pub roc_auc: Option<f64>,
    pub accuracy: Option<f64>,
    /// Missing, unseen and out-of-range cells against the model's training data.
    pub quality: QualitySummary,
    /// Rows added to the prediction log (`--log`), for `monitor` and `feedback`.
    pub logged: usize,
    pub seconds: f64,
}

/// The default output for `input` scored by `version`: `predictions/<stem>.v<version>.csv`.
pub fn default_output(cfg: &Config, input: &Path, version: i64) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or("scored".into(), |s| s.to_string_lossy().into_owned());
    cfg.workspace
        .join("predictions")
        .join(format!("{stem}.v{version}.csv"))
}

/// Where a scoring writes: a file named by the user, which replaces one already there only when
/// told to, or the default name, which never replaces an earlier output.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    Default,
    File { path: &'a Path, replace: bool },
}

/// Which model scores, where the class boundary is, and whether rows go to the prediction log.
#[derive(Debug, Clone, Copy)]
pub struct ScoreOptions<'a> {
    pub alias: &'a str,
    pub threshold: f64,
    pub log: bool,
}

/// Scores `input` with the model behind `how.alias`, writing `output`.
/// `progress` is called as the work moves on; `cancel` stops between chunks.
///
/// Read, predict, write atomically and summarise, in order.
pub fn score_file(
    cfg: &Config,
    input: &Path,
    output: Output,
    how: ScoreOptions,
    progress: &dyn Fn(Stage),
    cancel: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<ScoreSummary> {
    let ScoreOptions {
        alias,
        threshold,
        log,
    } = how;
    anyhow::ensure!(
        (0.0..=1.0).contains(&threshold),
        "--threshold must be between 0 and 1 (got {threshold})"
    );
    if let Output::File { path, replace } = output {
        crate::util::ensure_free(path, replace)?;
    }
    let t = std::time::Instant::now();
    let store = Store::open(&cfg.db_path)?;
    let target = store.alias_target(alias)?.with_context(|| {
        format!(
            "no model is promoted to '{alias}'; promote a run first (`staytrack promote RUN`, \
             or p on the TUI's Runs screen)"
        )
    })?;
    drop(store);
    let bundle =
        Bundle::load_registered(&cfg.artifacts_dir, &target.sha256, target.path.as_deref())
            .map_err(|e| {
                anyhow::anyhow!("the '{alias}' model (version {}): {e}", target.version)
            })?;
    progress(Stage::Reading);
    // The file is read by the spec the model was trained with.
    let frame = data::load_csv(input, &bundle.spec, Labels::Optional)?;
    let n = frame.n_rows();
    anyhow::ensure!(n > 0, "{}: no rows to score", input.display());
    let mut probs = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            anyhow::bail!("scoring {} cancelled; nothing was written", input.display());
        }
        let end = (start + CHUNK).min(n);
        // A file that fits in one chunk is scored as it is, without a copy.
        let chunk;
        let part = if start == 0 && end == n {
            &frame
        } else {
            chunk = frame.take(&(start..end).collect::<Vec<_>>());
            &chunk
        };
        probs.extend(bundle.predict(part).with_context(|| {
            format!("{}: scoring rows {}..{}", input.display(), start + 1, end)
        })?);
        start = end;
        progress(Stage::Scoring {
            done: start,
            total: n,
        });
    }
    progress(Stage::Writing);
    let (output, kept) = match output {
        Output::File { path, .. } => (path.to_path_buf(), None),
        Output::Default => {
            let default = default_output(cfg, input, target.version);
            let free = crate::util::unused_path(&default);
            let kept = (free != default).then_some(default);
            (free, kept)
        }
    };
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the folder {}", dir.display()))?;
    }
    // The spec's id columns, so a scored row can be joined back to its source.
    let spec = &bundle.spec;
    let id_names: Vec<&str> = spec.id_columns().map(|c| c.name.as_str()).collect();
    let id_values: Vec<Option<&Vec<i64>>> = id_names
        .iter()
        .map(|name| match frame.column(name) {
            Some(ColumnData::Id(v)) => Some(v),
            _ => None,
        })
        .collect();
    let mut csv = String::with_capacity(n * 40);
    for name in &id_names {
        csv.push_str(&crate::util::csv_field(name));
        csv.push(',');
    }
    let _ = writeln!(
        csv,
        "probability,{},model_version",
        crate::util::csv_field(spec.class_column())
    );
    let mut positives = 0;
    let mut histogram = vec![0usize; BINS];
    for (i, &p) in probs.iter().enumerate() {
        let yes = p >= threshold;
        positives += usize::from(yes);
        histogram[((p * BINS as f64) as usize).min(BINS - 1)] += 1;
        for c in &id_values {
            if let Some(v) = c {
                let _ = write!(csv, "{}", v[i]);
            }
            csv.push(',');
        }
        let _ = writeln!(csv, "{p:.6},{},{}", u8::from(yes), target.version);
    }
    crate::util::atomic_write(&output, csv.as_bytes())?;
    let issues = Checker::new(&bundle.spec, &bundle.profile).frame(&frame);
    let mut tally = Tally::default();
    for row in &issues {
        tally.add_row(row);
    }
    let logged = if log {
        log_rows(cfg, &frame, &probs, threshold, target.version, &issues)?
    } else {
        0
    };
    let (roc_auc, accuracy) = match &frame.target {
        Some(y) => match crate::metrics::evaluate(y, &probs) {
            Ok(e) => (Some(e.roc_auc), Some(e.accuracy)),
            Err(_) => (None, None),
        },
        None => (None, None),
    };
    Ok(ScoreSummary {
        input: input.to_path_buf(),
        output,
        kept,
        alias: alias.to_string(),
        model_version: target.version,
        run_id: target.run_id,
        rows: n,
        threshold,
        positive_class: bundle.spec.target.description.clone(),
        target_column: bundle.spec.target.column.clone(),
        positives,
        positive_share: positives as f64 / n as f64,
        mean_probability: probs.iter().sum::<f64>() / n as f64,
        histogram,
        roc_auc,
        accuracy,
        quality: tally.summary(),
        logged,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// Appends the scored rows to the prediction log, in one transaction, each with its inputs as a
/// JSON record (what a request to the server would have sent) and its data-quality findings.
fn log_rows(
    cfg: &Config,
    frame: &crate::data::Frame,
    probs: &[f64],
    threshold: f64,
    version: i64,
    issues: &[Vec<crate::data::quality::Issue>],
) -> anyhow::Result<usize> {
    let at = crate::util::now_ms();
    let id_col = frame.spec.id_columns().next().map(|c| c.name.clone());
    let ids = id_col.as_deref().and_then(|n| match frame.column(n) {
        Some(ColumnData::Id(v)) => Some(v),
        _ => None,
    });
    let rows = (0..frame.n_rows()).map(|i| PredictionRow {
        at,
        model_version: Some(version),
        case_id: ids.map(|v| v[i]),
        inputs: serde_json::Value::Object(frame.record(i)).to_string(),
        probability: probs[i],
        class: i64::from(probs[i] >= threshold),
        source: "score".into(),
        quality: crate::data::quality::to_stored(&issues[i]),
    });
    let mut store = Store::open(&cfg.db_path)?;
    Ok(store.log_prediction_stream(rows)?)
}

/// The summary as the CLI prints it.
pub fn describe(s: &ScoreSummary) -> String {
    let mut out = format!(
        "scored {} rows of {} with '{}' (version {}, run {}) in {:.2} s\n\
         {} (p ≥ {}): {} rows, {:.1} %; mean probability {:.4}\n",
        crate::util::thousands(s.rows),
        s.input.display(),
        s.alias,
        s.model_version,
        s.run_id,
        s.seconds,
        s.positive_class,
        s.threshold,
        crate::util::thousands(s.positives),
        100.0 * s.positive_share,
        s.mean_probability
    );
    if let (Some(auc), Some(acc)) = (s.roc_auc, s.accuracy) {
        let _ = writeln!(
            out,
            "the file has {}: ROC AUC {auc:.4}, accuracy {acc:.4}",
            s.target_column
        );
    }
    let max = s.histogram.iter().copied().max().unwrap_or(1).max(1);
    for (i, &c) in s.histogram.iter().enumerate() {
        let bar = "█".repeat((40 * c).div_ceil(max));
        let _ = writeln!(
            out,
            "{:.1}-{:.1} {:>9} {bar}",
            i as f64 / BINS as f64,
            (i + 1) as f64 / BINS as f64,
            crate::util::thousands(c)
        );
    }
    let _ = writeln!(out, "data quality: {}", s.quality.line());
    if s.logged > 0 {
        let _ = writeln!(
            out,
            "{} predictions added to the log (`staytrack monitor`)",
            crate::util::thousands(s.logged)
        );
    }
    if let Some(k) = &s.kept {
        let _ = writeln!(
            out,
            "{} is kept; these predictions get a new name",
            k.display()
        );
    }
    let _ = writeln!(out, "predictions written to {}", s.output.display());
    out
}
