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
use crate::data::chunks::CsvChunks;
use crate::data::frame::{ColumnData, IdColumn};
use crate::data::quality::{Checker, QualitySummary, Tally};
use crate::data::Labels;
use crate::tracking::{PredictionRow, PredictionSink, Store};

/// The threshold every path classifies at; the spec owns it (`DatasetSpec::threshold`).
pub use crate::data::spec::THRESHOLD;

/// Rows read, scored and written per chunk: small enough that a chunk per core stays well
/// under 100 MB, large enough that the per-chunk work is noise.
pub const CHUNK: usize = 16_384;
/// Bins of the probability histogram.
pub const BINS: usize = 10;

/// Where scoring is, for a progress gauge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage {
    Reading,
    /// Bytes of the file scored so far, of all of them.
    Scoring {
        done: u64,
        total: u64,
    },
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
    output_named(cfg, input, version, "scored", "csv")
}

/// `predictions/<stem>.v<version>.<ending>` in the workspace: where every file made from an
/// input file by a model version goes (`fallback` when the input has no stem).
pub fn output_named(
    cfg: &Config,
    input: &Path,
    version: i64,
    fallback: &str,
    ending: &str,
) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or(fallback.into(), |s| s.to_string_lossy().into_owned());
    cfg.workspace
        .join("predictions")
        .join(format!("{stem}.v{version}.{ending}"))
}

/// Where a scoring writes: a file named by the user, which replaces one already there only when
/// told to, or the default name, which never replaces an earlier output.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    Default,
    File { path: &'a Path, replace: bool },
}

impl Output<'_> {
    /// The file to write and, when the default name was taken by an earlier output, that name
    /// (kept, not replaced); the file's folder is made.
    pub fn resolve(self, default: PathBuf) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
        let (output, kept) = match self {
            Output::File { path, .. } => (path.to_path_buf(), None),
            Output::Default => {
                let free = crate::util::unused_path(&default);
                let kept = (free != default).then_some(default);
                (free, kept)
            }
        };
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the folder {}", dir.display()))?;
        }
        Ok((output, kept))
    }
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
/// The file is read a chunk of rows at a time, each chunk validated, scored and checked on a core
/// of its own, and written in file order to a temporary file that is renamed into place at the
/// end, so memory stays flat whatever the file's size and an interrupted run leaves nothing
/// behind. With `how.log` every row goes to the prediction log in one transaction, committed
/// only once the output is in place.
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
    let mut store = Store::open(&cfg.db_path)?;
    let target = store.alias_target(alias)?.with_context(|| {
        format!(
            "no model is promoted to '{alias}'; promote a run first (`staytrack promote RUN`, \
             or p on the TUI's Runs screen)"
        )
    })?;
    let bundle =
        Bundle::load_registered(&cfg.artifacts_dir, &target.sha256, target.path.as_deref())
            .map_err(|e| {
                anyhow::anyhow!("the '{alias}' model (version {}): {e}", target.version)
            })?;
    progress(Stage::Reading);
    let chunks = CsvChunks::open(input, CHUNK)?;
    let total = chunks.len();
    let (output, kept) = output.resolve(default_output(cfg, input, target.version))?;
    let job = Job {
        input,
        bundle: &bundle,
        checker: Checker::new(&bundle.spec, &bundle.profile),
        threshold,
        version: target.version,
        log,
        at: crate::util::now_ms(),
        origin: if log {
            (
                store.workspace_replica()?,
                crate::capture::CaptureSettings::load(cfg)?
                    .model_name(&crate::data::DatasetSpec::of_workspace(cfg)?),
                alias.to_string(),
                bundle.run_id.clone(),
            )
        } else {
            Default::default()
        },
    };
    let pass = |sink: Option<&mut PredictionSink<'_>>| -> anyhow::Result<Totals> {
        let tmp = crate::util::TempFile::beside(&output)
            .with_context(|| format!("writing {}", output.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.file()?);
        let totals = job.run(
            chunks,
            &mut w,
            sink,
            &|read| progress(Stage::Scoring { done: read, total }),
            cancel,
        )?;
        progress(Stage::Writing);
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .and_then(|()| tmp.persist(&output))
            .with_context(|| format!("writing {}", output.display()))?;
        Ok(totals)
    };
    let totals = if log {
        store.log_in_one_transaction(|sink| pass(Some(sink)))?
    } else {
        pass(None)?
    };
    let n = totals.rows;
    let (roc_auc, accuracy) = match crate::metrics::evaluate(&totals.y, &totals.p) {
        Ok(e) if !totals.y.is_empty() => (Some(e.roc_auc), Some(e.accuracy)),
        _ => (None, None),
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
        positives: totals.positives,
        positive_share: totals.positives as f64 / n.max(1) as f64,
        mean_probability: totals.sum / n.max(1) as f64,
        histogram: totals.histogram,
        roc_auc,
        accuracy,
        quality: totals.tally.summary(),
        logged: totals.logged,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// What a scoring pass needs to score one chunk.
struct Job<'a> {
    input: &'a Path,
    bundle: &'a Bundle,
    checker: Checker,
    threshold: f64,
    version: i64,
    log: bool,
    at: i64,
    /// What logged rows say of who scored them: (replica, model name, alias, run id).
    origin: (String, String, String, String),
}

/// One chunk, scored: its lines of output, its findings, and the rows to log.
struct Scored {
    csv: String,
    probs: Vec<f64>,
    target: Option<Vec<u8>>,
    issues: Vec<Vec<crate::data::quality::Issue>>,
    logged: Vec<PredictionRow>,
}

/// What the whole file added up to.
struct Totals {
    rows: usize,
    positives: usize,
    sum: f64,
    histogram: Vec<usize>,
    tally: Tally,
    /// Labels and probabilities when the file has the label column (9 bytes a row).
    y: Vec<u8>,
    p: Vec<f64>,
    logged: usize,
}

impl Job<'_> {
    /// Scores the chunks in file order, a batch of one chunk per core at a time.
    fn run(
        &self,
        chunks: CsvChunks,
        w: &mut impl std::io::Write,
        mut sink: Option<&mut PredictionSink<'_>>,
        progress: &dyn Fn(u64),
        cancel: &std::sync::atomic::AtomicBool,
    ) -> anyhow::Result<Totals> {
        let spec = &self.bundle.spec;
        let mut head = String::new();
        for c in spec.id_columns() {
            head.push_str(&crate::util::csv_field(&c.name));
            head.push(',');
        }
        let _ = writeln!(
            head,
            "probability,{},model_version",
            crate::util::csv_field(spec.class_column())
        );
        w.write_all(head.as_bytes())?;
        let mut totals = Totals {
            rows: 0,
            positives: 0,
            sum: 0.0,
            histogram: vec![0; BINS],
            tally: Tally::default(),
            y: Vec::new(),
            p: Vec::new(),
            logged: 0,
        };
        chunks.in_batches(
            |c| self.chunk(c),
            |s, read| {
                if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                    anyhow::bail!(
                        "scoring {} cancelled; nothing was written",
                        self.input.display()
                    );
                }
                w.write_all(s.csv.as_bytes())?;
                for &p in &s.probs {
                    totals.positives += usize::from(p >= self.threshold);
                    totals.sum += p;
                    totals.histogram[((p * BINS as f64) as usize).min(BINS - 1)] += 1;
                }
                for found in &s.issues {
                    totals.tally.add_row(found);
                }
                if let Some(y) = s.target {
                    totals.y.extend(y);
                    totals.p.extend(&s.probs);
                }
                totals.rows += s.probs.len();
                if let Some(sink) = sink.as_deref_mut() {
                    sink.push(&s.logged)?;
                    totals.logged = sink.written();
                }
                progress(read);
                Ok(())
            },
        )?;
        anyhow::ensure!(
            totals.rows > 0,
            "{}: no rows to score",
            self.input.display()
        );
        Ok(totals)
    }

    fn chunk(&self, c: crate::data::chunks::Chunk) -> anyhow::Result<Scored> {
        let first = c.first_row;
        let frame = c.parse(self.input, &self.bundle.spec, Labels::Optional)?;
        let n = frame.n_rows();
        let probs = self.bundle.predict(&frame).with_context(|| {
            format!(
                "{}: scoring rows {}..{}",
                self.input.display(),
                first + 1,
                first + n
            )
        })?;
        let spec = &self.bundle.spec;
        let ids: Vec<Option<&IdColumn>> = spec
            .id_columns()
            .map(|c| match frame.column(&c.name) {
                Some(ColumnData::Id(v)) => Some(v),
                _ => None,
            })
            .collect();
        let case_ids = spec.case_id().and_then(|c| match frame.column(&c.name) {
            Some(ColumnData::Id(v)) => Some(v),
            _ => None,
        });
        let mut csv = String::with_capacity(n * 40);
        let tail = format!(",{}\n", self.version);
        for (i, &p) in probs.iter().enumerate() {
            for c in &ids {
                if let Some(v) = c {
                    csv.push_str(&crate::util::csv_field(v.get(i)));
                }
                csv.push(',');
            }
            push_fixed6(&mut csv, p);
            csv.push_str(if p >= self.threshold { ",1" } else { ",0" });
            csv.push_str(&tail);
        }
        let issues = self.checker.frame(&frame);
        let logged = if self.log {
            (0..n)
                .map(|i| PredictionRow {
                    at: self.at,
                    model_version: Some(self.version),
                    case_id: case_ids.and_then(|v| v.id(i)).map(str::to_string),
                    inputs: serde_json::Value::Object(frame.record(i)).to_string(),
                    probability: probs[i],
                    class: i64::from(probs[i] >= self.threshold),
                    source: "score".into(),
                    quality: crate::data::quality::to_stored(&issues[i]),
                    prediction_id: Some(crate::util::new_run_id()),
                    request_id: None,
                    replica: Some(self.origin.0.clone()),
                    model_name: Some(self.origin.1.clone()),
                    alias: Some(self.origin.2.clone()),
                    run_id: Some(self.origin.3.clone()),
                    threshold: Some(self.threshold),
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Scored {
            csv,
            target: frame.target.clone(),
            probs,
            issues,
            logged,
        })
    }
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

/// Appends a probability as `{:.6}` writes it. The product `p × 10^6` is within 2^-32 of the
/// exact one, so unless it lies within 10^-6 of a half, rounding it rounds the exact value the
/// same way; near a half, and outside 0..=1, the general formatter decides.
fn push_fixed6(out: &mut String, p: f64) {
    // `-0.0` keeps its sign in the formatter's hands.
    if p.is_sign_positive() && p <= 1.0 {
        let scaled = p * 1e6;
        if (scaled - scaled.floor() - 0.5).abs() > 1e-6 {
            let n = scaled.round() as u32;
            out.push(char::from(b'0' + (n / 1_000_000) as u8));
            out.push('.');
            let mut f = n % 1_000_000;
            let mut digits = [b'0'; 6];
            for d in digits.iter_mut().rev() {
                *d = b'0' + (f % 10) as u8;
                f /= 10;
            }
            for d in digits {
                out.push(char::from(d));
            }
            return;
        }
    }
    let _ = write!(out, "{p:.6}");
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_the_formatter_writes_them() {
        let mut rng = crate::data::rng::Rng::new(5);
        let mut probabilities = vec![
            0.0,
            1.0,
            -0.0,
            0.5,
            1e-7,
            4.9999999e-7,
            5e-7,
            0.0000015,
            0.9999995,
            0.99999949999,
            1.5,
            -0.25,
            f64::NAN,
        ];
        for _ in 0..200_000 {
            probabilities.push(rng.f64());
        }
        for k in 0..10_000 {
            // Halves of the sixth decimal, and their neighbours.
            let half = (k as f64 + 0.5) / 1e6;
            probabilities.extend([
                half,
                f64::from_bits(half.to_bits() + 1),
                f64::from_bits(half.to_bits() - 1),
            ]);
        }
        for p in probabilities {
            let mut got = String::new();
            push_fixed6(&mut got, p);
            assert_eq!(got, format!("{p:.6}"), "{p:e}");
        }
    }
}
