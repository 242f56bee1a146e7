//! Watching models in production: the prediction log cut into windows, and for each window and
//! model version the predictions, the realized performance of those whose outcome arrived, the
//! performance CBPE expects before outcomes arrive, input drift against the version's training
//! profile, data quality, and the alerts `[monitor]` asks for. `staytrack monitor`, the TUI's
//! Monitor screen and `monitor.png` all come from `monitor()`.

pub mod cbpe;
pub mod settings;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::bundle::{Bundle, BundleError};
use crate::config::Config;
use crate::data::quality::{self, QualitySummary, Tally};
use crate::data::Frame;
use crate::drift::monitor::WindowSpec;
use crate::drift::{self, Column};
use crate::metrics::{self, Confusion};
use crate::tracking::{LogFilter, LoggedRow, Store, StoreError};
use crate::util::{format_ms, thousands};
use cbpe::{Calibration, Estimate};
pub use settings::{ThresholdError, Thresholds};

/// The probability at or above which the logged class is 1.
const THRESHOLD: f64 = crate::score::THRESHOLD;

/// What to watch.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    pub window: WindowSpec,
    /// How the window was asked for (`1d`, `10000rows`), for the report.
    pub window_label: String,
    /// Only predictions logged at or after this time.
    pub since_ms: i64,
    /// Only one replica's or one model's predictions [default: the whole fleet's].
    pub replica: Option<String>,
    pub model: Option<String>,
    pub thresholds: Thresholds,
    /// `[slices]`: each window's labelled rows are measured per slice.
    pub slices: crate::slices::SliceSettings,
}

impl MonitorOptions {
    /// Windows of `window` (`1d`, `10000rows`) over the log since `since` ago (`30d`; all of it
    /// when `None`), with the workspace's `[monitor]` thresholds.
    pub fn new(cfg: &Config, window: &str, since: Option<&str>) -> anyhow::Result<MonitorOptions> {
        use anyhow::Context;
        Ok(MonitorOptions {
            window: WindowSpec::parse(window)?,
            window_label: window.to_string(),
            since_ms: match since {
                Some(s) => crate::util::now_ms().saturating_sub(
                    crate::util::parse_duration_ms(s).with_context(|| {
                        format!("--since '{s}': use a duration such as 12h or 30d")
                    })?,
                ),
                None => 0,
            },
            replica: None,
            model: None,
            thresholds: Thresholds::load(cfg)?,
            slices: crate::slices::SliceSettings::load(
                cfg,
                &crate::data::DatasetSpec::of_workspace(cfg)?,
            )?,
        })
    }
}

/// Realized performance: the labelled predictions of a window, as scikit-learn scores them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Realized {
    pub rows: usize,
    pub positives: usize,
    /// `None` when the labelled rows hold one class only.
    pub roc_auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub accuracy: f64,
    pub f1: f64,
    pub log_loss: f64,
    pub brier: f64,
    /// Expected calibration error over 10 equal-width probability bins.
    pub calibration_error: f64,
}

/// Scores labelled predictions: `y` the outcomes, `p` the probabilities, `class` the classes the
/// model answered. Every figure equals scikit-learn's on the same rows.
pub fn realized(y: &[u8], p: &[f64], class: &[u8]) -> Option<Realized> {
    if y.is_empty() {
        return None;
    }
    let positives = y.iter().filter(|&&v| v == 1).count();
    let two = positives > 0 && positives < y.len();
    let mut c = Confusion::default();
    for (&t, &k) in y.iter().zip(class) {
        match (t, k) {
            (1, 1) => c.tp += 1,
            (0, 1) => c.fp += 1,
            (1, _) => c.fn_ += 1,
            _ => c.tn += 1,
        }
    }
    let calibration_error =
        metrics::expected_calibration_error(y, p, metrics::CALIBRATION_BINS).unwrap_or(f64::NAN);
    Some(Realized {
        rows: y.len(),
        positives,
        roc_auc: two.then(|| metrics::roc_auc(y, p).ok()).flatten(),
        pr_auc: two.then(|| metrics::average_precision(y, p).ok()).flatten(),
        accuracy: c.accuracy(),
        f1: c.f1(),
        log_loss: metrics::log_loss(y, p).unwrap_or(f64::NAN),
        brier: metrics::brier(y, p).unwrap_or(f64::NAN),
        calibration_error,
    })
}

/// Drift of one window's inputs against the version's training profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowDrift {
    pub share: f64,
    pub drifted: usize,
    pub columns: usize,
    /// The drifted columns, most drifted first.
    pub drifted_columns: Vec<String>,
    /// Rows tested (an even sample when the window is larger than `[monitor] drift_rows`).
    pub rows: usize,
}

/// One window, one model version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowReport {
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub model_version: Option<i64>,
    pub predictions: usize,
    pub labelled: usize,
    pub realized: Option<Realized>,
    pub estimated: Option<Estimate>,
    /// Why the estimate should be read with care (too few rows, no calibration data).
    pub estimate_note: Option<String>,
    pub drift: Option<WindowDrift>,
    /// Why there is no drift figure.
    pub drift_note: Option<String>,
    pub quality: QualitySummary,
    /// The labelled rows per slice, when `[slices]` names columns.
    pub slices: Option<crate::slices::SliceReport>,
}

/// A threshold a window crossed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub window: String,
    pub start_ms: i64,
    pub model_version: Option<i64>,
    /// The `[monitor]` key that raised it.
    pub rule: String,
    pub measured: f64,
    pub limit: f64,
    pub message: String,
}

/// What a model version brings to monitoring.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionInfo {
    pub model_version: i64,
    pub run_id: String,
    /// ROC AUC on its validation rows: the baseline drops are measured from.
    pub validation_roc_auc: Option<f64>,
    /// Whether CBPE calibrates its probabilities (NannyML's rule on the validation rows).
    pub calibrated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorReport {
    pub generated_at: i64,
    pub window: String,
    pub since_ms: i64,
    pub predictions: usize,
    pub labelled: usize,
    pub versions: Vec<VersionInfo>,
    /// Oldest first; within a window, by model version.
    pub windows: Vec<WindowReport>,
    pub alerts: Vec<Alert>,
    /// What could not be used and why (a model whose bundle is gone, unreadable inputs).
    pub notes: Vec<String>,
    pub thresholds: Thresholds,
}

/// Everything a version needs to be watched, loaded once.
struct Watched {
    info: VersionInfo,
    reference: Vec<Column>,
    spec: crate::data::DatasetSpec,
    calibration: Option<Calibration>,
}

/// Why a version's windows get no estimate or drift: the report's note names the version.
#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("model version {version} is not in the registry")]
    NotRegistered { version: i64 },
    #[error("model version {version}: {bundle}")]
    Bundle { version: i64, bundle: BundleError },
}

fn watched(cfg: &Config, store: &Store, version: i64) -> Result<Watched, WatchError> {
    let target = store
        .version_target(version)?
        .ok_or(WatchError::NotRegistered { version })?;
    let bundle =
        Bundle::load_registered(&cfg.artifacts_dir, &target.sha256, target.path.as_deref())
            .map_err(|bundle| WatchError::Bundle { version, bundle })?;
    let (calibration, auc) = match &bundle.validation {
        Some(v) if !v.labels.is_empty() => (
            Some(Calibration::fit(&v.probabilities, &v.labels)),
            metrics::roc_auc(&v.labels, &v.probabilities).ok(),
        ),
        _ => (None, None),
    };
    Ok(Watched {
        info: VersionInfo {
            model_version: version,
            run_id: bundle.run_id.clone(),
            validation_roc_auc: auc,
            calibrated: calibration.as_ref().is_some_and(|c| c.isotonic.is_some()),
        },
        reference: drift::from_profile(&bundle.profile),
        spec: bundle.spec.clone(),
        calibration,
    })
}

/// One window of one version, as rows arrive.
#[derive(Default)]
struct Acc {
    /// The window's name: its start (time windows) or its rows (row windows).
    label: String,
    start: i64,
    end: i64,
    probs: Vec<f64>,
    y: Vec<u8>,
    yp: Vec<f64>,
    yc: Vec<u8>,
    tally: Tally,
    /// Inputs kept for drift: every k-th row so the sample spans the window.
    sample: Vec<String>,
    seen: usize,
    /// The labelled rows' slice values.
    slices: crate::slices::Collector,
}

impl Acc {
    fn add(&mut self, r: LoggedRow, keep_every: usize) {
        if self.probs.is_empty() {
            self.start = r.at;
        }
        self.end = r.at;
        self.probs.push(r.probability);
        if let Some(y) = r.outcome {
            self.y.push(y);
            self.yp.push(r.probability);
            self.yc.push(u8::from(r.class == 1));
            self.slices.push(&r.inputs);
        }
        let issues = quality::from_stored(r.quality.as_deref());
        self.tally.add_row(&issues);
        if self.seen % keep_every.max(1) == 0 {
            self.sample.push(r.inputs);
        }
        self.seen += 1;
    }
}

/// The window a logged row falls in: by its place in the log (row windows) or its time (time
/// windows, numbered from the epoch). The one rule drift and monitor cut the log by.
pub fn window_key(w: WindowSpec, at: i64, n: usize) -> i64 {
    match w {
        WindowSpec::Rows(k) => (n / k.max(1)) as i64,
        WindowSpec::Time(ms) => at.div_euclid(ms.max(1)),
    }
}

/// Streams the log's rows that `filter` keeps, oldest first, each with its window: the one
/// windowing path of `monitor` and `drift --window`. Memory does not grow with the log.
pub fn scan_windows(
    store: &Store,
    filter: &LogFilter,
    w: WindowSpec,
    f: &mut dyn FnMut(i64, LoggedRow),
) -> Result<usize, crate::tracking::StoreError> {
    let mut n = 0usize;
    store.scan_predictions(filter, &mut |r| {
        let k = window_key(w, r.at, n);
        n += 1;
        f(k, r)
    })
}

/// Reads the prediction log since `o.since_ms` and reports every window and model version.
pub fn monitor(cfg: &Config, o: &MonitorOptions) -> anyhow::Result<MonitorReport> {
    let t = &o.thresholds;
    let store = Store::open(&cfg.db_path)?;
    let drift_min = crate::drift::monitor::min_rows_setting(cfg)?;
    // One pass to learn each window's size, so the drift sample can be spread evenly over it.
    let mut sizes: HashMap<(i64, Option<i64>), usize> = HashMap::new();
    let mut row_no = 0usize;
    let key_of = |at: i64, n: usize| window_key(o.window, at, n);
    let filter = LogFilter {
        since_ms: o.since_ms,
        replica: o.replica.clone(),
        model: o.model.clone(),
    };
    store.scan_predictions_light(&filter, &mut |at, v| {
        *sizes.entry((key_of(at, row_no), v)).or_default() += 1;
        row_no += 1;
    })?;
    anyhow::ensure!(
        row_no > 0,
        "the prediction log in {} has no predictions{}; serve some (`staytrack serve`) or log a \
         batch (`staytrack score FILE --log`) first",
        store.path().display(),
        if o.since_ms > 0 {
            " in that period"
        } else {
            ""
        }
    );

    let mut models: HashMap<i64, Option<Arc<Watched>>> = HashMap::new();
    let mut notes: Vec<String> = Vec::new();
    let mut open: HashMap<(i64, Option<i64>), Acc> = HashMap::new();
    // Closed windows wait here until there is one per core, then are finished side by side and
    // dropped: memory holds a few windows, never the whole log.
    let mut pending: Vec<(Option<i64>, Acc)> = Vec::new();
    let batch = rayon::current_num_threads().max(1);
    let mut windows: Vec<(WindowReport, Vec<String>)> = Vec::new();
    let finish_all = |pending: &mut Vec<(Option<i64>, Acc)>,
                      models: &HashMap<i64, Option<Arc<Watched>>>,
                      windows: &mut Vec<(WindowReport, Vec<String>)>| {
        use rayon::prelude::*;
        let done: Vec<(WindowReport, Vec<String>)> = std::mem::take(pending)
            .into_par_iter()
            .map(|(v, acc)| {
                let model = v.and_then(|v| models.get(&v).cloned().flatten());
                finish(acc, v, model.as_deref(), o, drift_min)
            })
            .collect();
        windows.extend(done);
    };
    let close = |open: &mut HashMap<(i64, Option<i64>), Acc>,
                 pending: &mut Vec<(Option<i64>, Acc)>| {
        let mut done: Vec<_> = open.drain().collect();
        done.sort_by_key(|((_, v), _)| *v);
        pending.extend(done.into_iter().map(|((_, v), acc)| (v, acc)));
    };
    let mut current_key: Option<i64> = None;
    let (mut predictions, mut labelled) = (0usize, 0usize);
    let mut unreadable = 0usize;
    scan_windows(&store, &filter, o.window, &mut |k, r| {
        // A row no staytrack wrote (a probability outside [0, 1], a class that is not one) is
        // left out and counted, never allowed to poison a window.
        if !(0.0..=1.0).contains(&r.probability) || !(0..=1).contains(&r.class) {
            unreadable += 1;
            return;
        }
        if current_key != Some(k) {
            close(&mut open, &mut pending);
            if pending.len() >= batch {
                finish_all(&mut pending, &models, &mut windows);
            }
            current_key = Some(k);
        }
        if let Some(v) = r.model_version {
            models
                .entry(v)
                .or_insert_with(|| match watched(cfg, &store, v) {
                    Ok(w) => Some(Arc::new(w)),
                    Err(e) => {
                        notes.push(format!("{e}: no estimate or drift for its windows"));
                        None
                    }
                });
        }
        predictions += 1;
        labelled += usize::from(r.outcome.is_some());
        let key = (k, r.model_version);
        let size = sizes.get(&key).copied().unwrap_or(1);
        let every = size.div_ceil(t.drift_rows.max(1));
        open.entry(key)
            .or_insert_with(|| Acc {
                label: match o.window {
                    WindowSpec::Rows(size) => {
                        let first = k as usize * size;
                        format!(
                            "rows {}–{}",
                            thousands(first + 1),
                            thousands((first + size).min(row_no))
                        )
                    }
                    WindowSpec::Time(ms) => format_ms(k.saturating_mul(ms)),
                },
                slices: crate::slices::Collector::new(&o.slices),
                ..Acc::default()
            })
            .add(r, every);
    })?;
    close(&mut open, &mut pending);
    finish_all(&mut pending, &models, &mut windows);
    if unreadable > 0 {
        notes.push(format!(
            "{} logged prediction(s) with a probability outside [0, 1] or a class other than \
             0 or 1 were left out",
            thousands(unreadable)
        ));
    }
    let mut versions: Vec<VersionInfo> =
        models.values().flatten().map(|w| w.info.clone()).collect();
    versions.sort_by_key(|v| v.model_version);
    let mut reports = Vec::with_capacity(windows.len());
    for (w, mut more) in windows {
        notes.append(&mut more);
        reports.push(w);
    }
    notes.dedup();
    let alerts = reports
        .iter()
        .flat_map(|w| {
            let baseline = w
                .model_version
                .and_then(|v| versions.iter().find(|i| i.model_version == v))
                .and_then(|i| i.validation_roc_auc);
            alerts_of(w, baseline, t)
        })
        .collect();
    Ok(MonitorReport {
        generated_at: crate::util::now_ms(),
        window: o.window_label.clone(),
        since_ms: o.since_ms,
        predictions,
        labelled,
        versions,
        windows: reports,
        alerts,
        notes,
        thresholds: t.clone(),
    })
}

fn finish(
    acc: Acc,
    version: Option<i64>,
    model: Option<&Watched>,
    o: &MonitorOptions,
    drift_min: usize,
) -> (WindowReport, Vec<String>) {
    let t = &o.thresholds;
    let mut notes = Vec::new();
    let label = acc.label.clone();
    let estimated = model
        .and_then(|m| m.calibration.as_ref())
        .and_then(|c| cbpe::estimate(c, &acc.probs, THRESHOLD));
    let estimate_note = match (model, &estimated) {
        (None, _) => Some("no model bundle to estimate with".to_string()),
        (Some(_), None) => Some("the model's bundle keeps no validation predictions".to_string()),
        (Some(_), Some(_)) if acc.probs.len() < t.min_rows => Some(format!(
            "{} predictions, fewer than the {} an estimate needs to be read without care",
            thousands(acc.probs.len()),
            thousands(t.min_rows)
        )),
        _ => None,
    };
    let (drift, drift_note) = match model {
        None => (None, Some("no model bundle".to_string())),
        Some(m) => window_drift(m, &acc.sample, drift_min, &mut notes),
    };
    let report = WindowReport {
        label,
        start_ms: acc.start,
        end_ms: acc.end,
        model_version: version,
        predictions: acc.probs.len(),
        labelled: acc.y.len(),
        realized: realized(&acc.y, &acc.yp, &acc.yc),
        estimated,
        estimate_note,
        drift,
        drift_note,
        quality: acc.tally.summary(),
        slices: acc
            .slices
            .measure(&acc.y, &acc.yp, THRESHOLD)
            .and_then(Result::ok),
    };
    (report, notes)
}

fn window_drift(
    m: &Watched,
    sample: &[String],
    min_rows: usize,
    notes: &mut Vec<String>,
) -> (Option<WindowDrift>, Option<String>) {
    if sample.len() < min_rows.max(1) {
        return (
            None,
            Some(format!(
                "{} rows, fewer than the {} a drift verdict needs",
                sample.len(),
                min_rows
            )),
        );
    }
    let records: Vec<serde_json::Map<String, serde_json::Value>> = sample
        .iter()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect();
    let frame = match Frame::from_records(&m.spec, &records) {
        Ok(f) => f,
        // A logged record the model's spec no longer reads is left out, not fatal.
        Err(_) => {
            let good: Vec<_> = records
                .into_iter()
                .filter(|r| Frame::from_records(&m.spec, std::slice::from_ref(r)).is_ok())
                .collect();
            match Frame::from_records(&m.spec, &good) {
                Ok(f) => f,
                Err(e) => return (None, Some(format!("logged inputs unreadable: {e}"))),
            }
        }
    };
    if frame.n_rows() < sample.len() {
        notes.push(format!(
            "model version {}: {} logged input(s) could not be read and were left out of drift",
            m.info.model_version,
            sample.len() - frame.n_rows()
        ));
    }
    let current = drift::from_frame(&frame);
    match drift::compare(&m.reference, &current, &drift::Options::default()) {
        Ok(r) => {
            let mut cols: Vec<&drift::ColumnDrift> =
                r.columns.iter().filter(|c| c.drifted).collect();
            cols.sort_by(|a, b| b.statistic.total_cmp(&a.statistic));
            (
                Some(WindowDrift {
                    share: r.share,
                    drifted: r.drifted,
                    columns: r.columns.len(),
                    drifted_columns: cols.iter().map(|c| c.column.clone()).collect(),
                    rows: frame.n_rows(),
                }),
                None,
            )
        }
        Err(e) => (None, Some(e.to_string())),
    }
}

fn alerts_of(w: &WindowReport, baseline: Option<f64>, t: &Thresholds) -> Vec<Alert> {
    let mut out = Vec::new();
    if w.predictions < t.min_rows {
        return out;
    }
    let mut alert = |rule: &str, measured: f64, limit: f64, message: String| {
        out.push(Alert {
            window: w.label.clone(),
            start_ms: w.start_ms,
            model_version: w.model_version,
            rule: rule.to_string(),
            measured,
            limit,
            message,
        })
    };
    let version = w
        .model_version
        .map_or("unversioned".to_string(), |v| format!("version {v}"));
    if let Some(auc) = w.estimated.and_then(|e| e.roc_auc) {
        if let Some(b) = baseline {
            if auc < b - t.max_estimated_drop {
                alert(
                    "max_estimated_drop",
                    b - auc,
                    t.max_estimated_drop,
                    format!(
                        "{version}: estimated ROC AUC {auc:.4} is {:.4} below validation ({b:.4})",
                        b - auc
                    ),
                );
            }
        }
        if let Some(min) = t.min_estimated_roc_auc.filter(|m| auc < *m) {
            alert(
                "min_estimated_roc_auc",
                auc,
                min,
                format!("{version}: estimated ROC AUC {auc:.4} is under {min}"),
            );
        }
    }
    if let Some(r) = w.realized.filter(|r| r.rows >= t.min_labelled) {
        if let Some(auc) = r.roc_auc {
            if let Some(b) = baseline {
                if auc < b - t.max_realized_drop {
                    alert(
                        "max_realized_drop",
                        b - auc,
                        t.max_realized_drop,
                        format!(
                            "{version}: realized ROC AUC {auc:.4} on {} labelled is {:.4} below \
                             validation ({b:.4})",
                            thousands(r.rows),
                            b - auc
                        ),
                    );
                }
            }
            if let Some(min) = t.min_realized_roc_auc.filter(|m| auc < *m) {
                alert(
                    "min_realized_roc_auc",
                    auc,
                    min,
                    format!("{version}: realized ROC AUC {auc:.4} is under {min}"),
                );
            }
        }
    }
    if let Some(d) = &w.drift {
        if d.share > t.max_drift_share {
            alert(
                "max_drift_share",
                d.share,
                t.max_drift_share,
                format!(
                    "{version}: {} of {} columns drifted ({})",
                    d.drifted,
                    d.columns,
                    d.drifted_columns.join(", ")
                ),
            );
        }
    }
    let q = &w.quality;
    for (rule, measured, limit, what) in [
        (
            "max_unseen_share",
            q.max_unseen_share,
            t.max_unseen_share,
            "an unseen category",
        ),
        (
            "max_missing_share",
            q.max_missing_share,
            t.max_missing_share,
            "a missing value",
        ),
        (
            "max_out_of_range_share",
            q.max_out_of_range_share,
            t.max_out_of_range_share,
            "a number outside the training range",
        ),
    ] {
        if measured > limit {
            alert(
                rule,
                measured,
                limit,
                format!(
                    "{version}: {:.1} % of rows have {what} in one column ({})",
                    100.0 * measured,
                    q.line()
                ),
            );
        }
    }
    out
}

/// Posts the alerts to the webhook as one JSON document; the error names the address.
pub fn post_webhook(url: &str, timeout_secs: u64, report: &MonitorReport) -> anyhow::Result<u16> {
    let body = serde_json::json!({
        "source": "staytrack",
        "text": format!(
            "staytrack monitor: {} alert(s) over {} window(s)",
            report.alerts.len(),
            report.windows.len()
        ),
        "generated_at": report.generated_at,
        "alerts": report.alerts,
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(timeout_secs)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let resp = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body.to_string())
        .map_err(|e| anyhow::anyhow!("webhook {url}: {e}"))?;
    let status = resp.status().as_u16();
    anyhow::ensure!(
        (200..300).contains(&status),
        "webhook {url}: answered HTTP {status}"
    );
    Ok(status)
}

impl MonitorReport {
    /// The report as `staytrack monitor` prints it.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "{} predictions ({} labelled) in {} window(s) of {}\n",
            thousands(self.predictions),
            thousands(self.labelled),
            self.windows.len(),
            self.window
        );
        for v in &self.versions {
            let _ = writeln!(
                out,
                "version {} (run {}): validation ROC AUC {}, CBPE {}",
                v.model_version,
                v.run_id,
                v.validation_roc_auc
                    .map_or("–".into(), |a| format!("{a:.4}")),
                if v.calibrated {
                    "calibrates (isotonic)"
                } else {
                    "uses the probabilities as they are"
                }
            );
        }
        let _ = writeln!(
            out,
            "\n{:<21} {:>3} {:>9} {:>8} {:>9} {:>9} {:>7}  quality",
            "window", "ver", "preds", "labelled", "real AUC", "est AUC", "drift"
        );
        let f = |v: Option<f64>| v.map_or("–".to_string(), |a| format!("{a:.4}"));
        for w in &self.windows {
            let _ = writeln!(
                out,
                "{:<21} {:>3} {:>9} {:>8} {:>9} {:>8}{} {:>7}  {}",
                w.label,
                w.model_version.map_or("–".into(), |v| v.to_string()),
                thousands(w.predictions),
                thousands(w.labelled),
                f(w.realized.and_then(|r| r.roc_auc)),
                f(w.estimated.and_then(|e| e.roc_auc)),
                if w.estimate_note.is_some() && w.estimated.is_some() {
                    "*"
                } else {
                    " "
                },
                w.drift
                    .as_ref()
                    .map_or("–".into(), |d| format!("{}/{}", d.drifted, d.columns)),
                w.quality.line()
            );
        }
        if self
            .windows
            .iter()
            .any(|w| w.estimate_note.is_some() && w.estimated.is_some())
        {
            let _ = writeln!(
                out,
                "* fewer than {} predictions: read the estimate with care",
                self.thresholds.min_rows
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        if self.alerts.is_empty() {
            let _ = writeln!(out, "\nno alerts");
        } else {
            let _ = writeln!(out, "\n{} alert(s):", self.alerts.len());
            for a in &self.alerts {
                let _ = writeln!(out, "  ✗ {} [{}] {}", a.window, a.rule, a.message);
            }
        }
        out
    }
}
