//! Drift monitoring: the current data (a CSV, or the prediction log cut into windows) against
//! the reference (the served model's training profile, or a CSV), stored as a report. The CLI,
//! the TUI and reports all go through `monitor`.

use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Column, DriftReport, Options};
use crate::bundle::Bundle;
use crate::config::Config;
use crate::data::profile::PREDICTION_COLUMN;
use crate::data::{self, DatasetSpec, Frame, Labels};
use crate::drift;
use crate::tracking::{DriftRow, Store};
use crate::util::{format_ms, thousands};

/// What is stored for one `staytrack drift`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDrift {
    pub reference: String,
    pub current: String,
    pub model_version: Option<i64>,
    pub report: DriftReport,
    /// Per window, oldest first (empty for a CSV).
    pub windows: Vec<WindowSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowSummary {
    pub label: String,
    pub start_ms: i64,
    pub rows: usize,
    pub drifted: usize,
    pub share: f64,
    pub dataset_drift: bool,
    pub prediction_statistic: Option<f64>,
    /// Each column's statistic, in report order.
    pub statistics: Vec<(String, f64, bool)>,
    /// The window held fewer rows than a drift verdict needs: no test was run on it.
    #[serde(default)]
    pub too_few: bool,
}

/// The fewest rows a window needs for a drift verdict, unless `[drift] min_rows` says otherwise:
/// below it, a two-sample test flags almost every column on noise alone.
pub const DEFAULT_MIN_ROWS: usize = 100;

/// `[drift] min_rows` from the workspace's settings file, or `DEFAULT_MIN_ROWS`.
pub fn min_rows_setting(cfg: &Config) -> anyhow::Result<usize> {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct DriftSettings {
        min_rows: Option<usize>,
    }
    Ok(cfg
        .section::<DriftSettings>("drift")?
        .min_rows
        .unwrap_or(DEFAULT_MIN_ROWS))
}

/// How the prediction log is cut into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// Milliseconds of log per window.
    Time(i64),
    /// Predictions per window.
    Rows(usize),
}

impl WindowSpec {
    /// `30m`, `1h`, `1d` or `10000rows`.
    pub fn parse(s: &str) -> anyhow::Result<WindowSpec> {
        if let Some(n) = s.strip_suffix("rows") {
            let n: usize = n.parse().ok().filter(|n| *n > 0).with_context(|| {
                format!("--window '{s}': rows need a positive count (10000rows)")
            })?;
            return Ok(WindowSpec::Rows(n));
        }
        crate::util::parse_duration_ms(s)
            .map(WindowSpec::Time)
            .with_context(|| {
                format!("--window '{s}': use a duration (30m, 1h, 1d) or a row count (10000rows)")
            })
    }
}

/// Where the current data comes from.
#[derive(Debug, Clone)]
pub enum Current {
    /// A CSV with the dataset's columns.
    File(PathBuf),
    /// The prediction log logged since `since_ms`, cut into windows.
    Log {
        window: WindowSpec,
        since_ms: i64,
        /// How the window was asked for (`1h`), for the report.
        label: String,
    },
}

/// What a drift check compares.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// The alias whose model supplies the reference profile and scores the current data.
    pub alias: String,
    /// A reference CSV instead of the model's training profile.
    pub reference: Option<PathBuf>,
    pub current: Current,
    pub drift: Options,
    /// Windows of the prediction log with fewer rows are reported as too few, not tested.
    pub min_rows: usize,
}

/// Compares the current data with the reference, stores the report and returns it with its id.
pub fn monitor(cfg: &Config, o: &MonitorOptions) -> anyhow::Result<(StoredDrift, i64)> {
    let opts = &o.drift;
    let mut store = Store::open(&cfg.db_path)?;
    let target = store.alias_target(&o.alias)?;
    let bundle = match &target {
        Some(t) => Some(
            Bundle::load_registered(&cfg.artifacts_dir, &t.sha256, t.path.as_deref())
                .map_err(|e| anyhow::anyhow!("the '{}' model: {e}", o.alias))?,
        ),
        None => None,
    };
    // The model's own spec when there is a model; the workspace's otherwise.
    let spec = match &bundle {
        Some(b) => b.spec.clone(),
        None => DatasetSpec::of_workspace(cfg)?,
    };
    let (reference, reference_name) = match (&o.reference, &bundle) {
        (Some(path), _) => (
            from_file(path, &spec, None)?.columns,
            path.display().to_string(),
        ),
        (None, Some(b)) => (
            drift::from_profile(&b.profile),
            format!(
                "training profile of '{}' (version {}, run {})",
                o.alias,
                target.as_ref().map_or(0, |t| t.version),
                b.run_id
            ),
        ),
        (None, None) => anyhow::bail!(
            "no model is promoted to '{}', so there is no training profile to compare with; \
             promote a run (`staytrack promote RUN`) or give --reference FILE",
            o.alias
        ),
    };
    let prediction_ref = bundle
        .as_ref()
        .and_then(|b| b.prediction_profile.as_ref())
        .map(drift::profile_column);

    let stored = match &o.current {
        Current::File(path) => {
            let scorer = bundle.as_ref().filter(|_| prediction_ref.is_some());
            let FileColumns {
                columns: current,
                probabilities,
                rows,
            } = from_file(path, &spec, scorer)?;
            let mut report = drift::compare(&reference, &current, opts)?;
            if let (Some(probs), Some(pr)) = (probabilities, &prediction_ref) {
                let pc = drift::numeric_column(PREDICTION_COLUMN, probs);
                report.prediction = Some(drift::column_drift(pr, &pc, &Options::default())?);
            }
            StoredDrift {
                reference: reference_name,
                current: format!("{} ({} rows)", path.display(), thousands(rows)),
                model_version: target.as_ref().map(|t| t.version),
                report,
                windows: Vec::new(),
            }
        }
        Current::Log {
            window,
            since_ms,
            label,
        } => windowed(
            &store,
            &spec,
            &reference,
            prediction_ref.as_ref(),
            opts,
            *window,
            *since_ms,
            label,
            reference_name,
            target.as_ref().map(|t| t.version),
            o.min_rows,
        )?,
    };
    let rows = stored.windows.last().map_or(
        stored
            .report
            .columns
            .first()
            .map_or(0, |c| c.current_rows as usize),
        |w| w.rows,
    );
    let id = store.save_drift_report(&DriftRow {
        id: 0,
        created_at: crate::util::now_ms(),
        model_version: stored.model_version,
        reference: stored.reference.clone(),
        current: stored.current.clone(),
        rows: rows as i64,
        drifted_share: stored.report.share,
        dataset_drift: stored.report.dataset_drift,
        report: serde_json::to_string(&stored)?,
    })?;
    Ok((stored, id))
}

/// Rows read per chunk when profiling a file.
const CHUNK: usize = 16_384;

/// The drift columns of a CSV file (and the model's probabilities for its rows, when a model is
/// given) and its row count, read a chunk at a time: the columns are exactly those of the whole
/// file, while memory holds a chunk per core, never the file or its feature matrix.
pub fn from_file(
    path: &std::path::Path,
    spec: &DatasetSpec,
    scorer: Option<&Bundle>,
) -> anyhow::Result<FileColumns> {
    let mut columns: Option<Vec<Column>> = None;
    let mut probs = scorer.map(|_| Vec::new());
    let mut rows = 0;
    data::chunks::CsvChunks::open(path, CHUNK)?.in_batches(
        |c| {
            let frame = c.parse(path, spec, Labels::Optional)?;
            Ok::<_, anyhow::Error>(FileColumns {
                probabilities: scorer.map(|b| b.predict(&frame)).transpose()?,
                columns: drift::from_frame(&frame),
                rows: frame.n_rows(),
            })
        },
        |part, _| {
            rows += part.rows;
            if let (Some(all), Some(p)) = (probs.as_mut(), part.probabilities) {
                all.extend(p);
            }
            match columns.as_mut() {
                None => columns = Some(part.columns),
                Some(have) => {
                    for (a, b) in have.iter_mut().zip(part.columns) {
                        a.absorb(b);
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(FileColumns {
        columns: columns.unwrap_or_default(),
        probabilities: probs,
        rows,
    })
}

/// A file's drift columns, the model's probabilities for its rows (when asked), its rows.
pub struct FileColumns {
    pub columns: Vec<Column>,
    pub probabilities: Option<Vec<f64>>,
    pub rows: usize,
}

/// One window's drift columns as its rows stream in: inputs parsed a chunk at a time and their
/// columns merged, so a window costs a chunk of records and its probabilities, not its inputs.
#[derive(Default)]
struct WindowColumns {
    start: i64,
    rows: usize,
    columns: Option<Vec<Column>>,
    pending: Vec<serde_json::Map<String, serde_json::Value>>,
    probabilities: Vec<f64>,
    /// Logged inputs the spec could not read, left out of the columns.
    unreadable: usize,
}

impl WindowColumns {
    fn add(&mut self, spec: &DatasetSpec, inputs: &str, probability: f64) {
        match serde_json::from_str(inputs) {
            Ok(r) => self.pending.push(r),
            Err(_) => self.unreadable += 1,
        }
        self.probabilities.push(probability);
        self.rows += 1;
        if self.pending.len() >= CHUNK {
            self.flush(spec);
        }
    }

    /// Folds the waiting records into the columns; a record the spec cannot read is counted
    /// and left out, never fatal.
    fn flush(&mut self, spec: &DatasetSpec) {
        let records = std::mem::take(&mut self.pending);
        if records.is_empty() {
            return;
        }
        let n = records.len();
        let frame = match Frame::from_records(spec, &records) {
            Ok(f) => f,
            Err(_) => {
                let good: Vec<_> = records
                    .into_iter()
                    .filter(|r| Frame::from_records(spec, std::slice::from_ref(r)).is_ok())
                    .collect();
                match Frame::from_records(spec, &good) {
                    Ok(f) => f,
                    Err(_) => return,
                }
            }
        };
        self.unreadable += n - frame.n_rows();
        let cols = drift::from_frame(&frame);
        match self.columns.as_mut() {
            None => self.columns = Some(cols),
            Some(have) => {
                for (a, b) in have.iter_mut().zip(cols) {
                    a.absorb(b);
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn windowed(
    store: &Store,
    spec: &DatasetSpec,
    reference: &[Column],
    prediction_ref: Option<&Column>,
    opts: &Options,
    w: WindowSpec,
    since: i64,
    label: &str,
    reference_name: String,
    version: Option<i64>,
    min_rows: usize,
) -> anyhow::Result<StoredDrift> {
    let mut windows = Vec::new();
    let mut last = None;
    let mut sizes = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut unreadable = 0usize;
    let mut close = |acc: WindowColumns, windows: &mut Vec<WindowSummary>| -> anyhow::Result<()> {
        sizes.push(acc.rows);
        let mut acc = acc;
        if acc.rows < min_rows.max(1) {
            windows.push(WindowSummary {
                label: format_ms(acc.start),
                start_ms: acc.start,
                rows: acc.rows,
                drifted: 0,
                share: 0.0,
                dataset_drift: false,
                prediction_statistic: None,
                statistics: Vec::new(),
                too_few: true,
            });
            return Ok(());
        }
        acc.flush(spec);
        unreadable += acc.unreadable;
        let Some(current) = acc.columns.take() else {
            return Ok(());
        };
        let mut report = match drift::compare(reference, &current, opts) {
            Ok(r) => r,
            // A window too small to hold every column is skipped, not fatal.
            Err(drift::DriftError::Empty(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if let Some(pr) = prediction_ref {
            let pc = drift::numeric_column(PREDICTION_COLUMN, acc.probabilities.iter().copied());
            report.prediction = drift::column_drift(pr, &pc, &Options::default()).ok();
        }
        windows.push(WindowSummary {
            label: format_ms(acc.start),
            start_ms: acc.start,
            rows: acc.rows,
            drifted: report.drifted,
            share: report.share,
            dataset_drift: report.dataset_drift,
            prediction_statistic: report.prediction.as_ref().map(|p| p.statistic),
            statistics: report
                .columns
                .iter()
                .map(|c| (c.column.clone(), c.statistic, c.drifted))
                .collect(),
            too_few: false,
        });
        last = Some(report);
        Ok(())
    };
    let mut open: Option<(i64, WindowColumns)> = None;
    let total = crate::monitor::scan_windows(
        store,
        &crate::tracking::LogFilter::since(since),
        w,
        &mut |k, r| {
            if failure.is_some() {
                return;
            }
            if open.as_ref().is_some_and(|(key, _)| *key != k) {
                if let Some((_, acc)) = open.take() {
                    if let Err(e) = close(acc, &mut windows) {
                        failure = Some(e);
                        return;
                    }
                }
            }
            let (_, acc) = open.get_or_insert_with(|| {
                (
                    k,
                    WindowColumns {
                        start: match w {
                            WindowSpec::Time(ms) => k.saturating_mul(ms),
                            WindowSpec::Rows(_) => r.at,
                        },
                        ..WindowColumns::default()
                    },
                )
            });
            acc.add(spec, &r.inputs, r.probability);
        },
    )?;
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some((_, acc)) = open.take() {
        close(acc, &mut windows)?;
    }
    anyhow::ensure!(
        total > 0,
        "the prediction log in {} has no predictions{}; serve some first (`staytrack serve`)",
        store.path().display(),
        if since > 0 { " in that period" } else { "" }
    );
    let Some(report) = last else {
        let most = sizes.iter().copied().max().unwrap_or(0);
        anyhow::bail!(
            "too few rows for a drift verdict: the largest of the {} window(s) holds {} row(s), \
             fewer than the {} a window needs (--min-rows, or `[drift] min_rows` in \
             staytrack.toml); use longer windows or wait for more predictions",
            sizes.len(),
            most,
            min_rows
        );
    };
    Ok(StoredDrift {
        reference: reference_name,
        current: format!(
            "prediction log, {} rows in {} window(s) of {label}{}",
            thousands(total),
            windows.len(),
            if unreadable > 0 {
                format!(
                    "; {} logged input(s) unreadable by the spec, left out",
                    thousands(unreadable)
                )
            } else {
                String::new()
            }
        ),
        model_version: version,
        report,
        windows,
    })
}
