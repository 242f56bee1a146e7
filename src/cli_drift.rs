//! `staytrack drift`: compare current data with the production model's training profile (or a
//! reference CSV), print the per-column table and the verdict, and store the report.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::config::Config;
use crate::data::profile::PREDICTION_COLUMN;
use crate::data::{self, DatasetSpec, Frame, Labels};
use crate::drift::{self, Column, DriftReport, Options, Test};
use crate::tracking::{DriftRow, Store};
use crate::util::{format_ms, render_table, thousands};

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Current data: a CSV with the dataset's columns [default: the workspace's data/test_data.csv]
    #[arg(long, value_name = "FILE", conflicts_with = "window")]
    pub current: Option<PathBuf>,
    /// Current data from the prediction log, cut into windows of time (30m, 1h, 1d) or rows
    /// (10000rows); the last window gets the full table
    #[arg(long, value_name = "SPEC")]
    pub window: Option<String>,
    /// With --window: only predictions from the last DURATION (30m, 6h, 7d)
    #[arg(long, value_name = "DURATION", requires = "window")]
    pub since: Option<String>,
    /// Reference CSV instead of the model's training profile
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// The alias whose model supplies the reference profile and scores the current data
    #[arg(long, default_value = "production")]
    pub alias: String,
    /// Use PSI for every column
    #[arg(long)]
    pub psi: bool,
    /// Test for one column: COLUMN=ks|chisquare|z|wasserstein|jensenshannon|psi
    #[arg(long = "test", value_name = "COLUMN=TEST")]
    pub tests: Vec<String>,
    /// Threshold for one column: COLUMN=VALUE
    #[arg(long = "threshold", value_name = "COLUMN=VALUE")]
    pub thresholds: Vec<String>,
    /// Share of drifted columns at which the dataset drifts
    #[arg(long, default_value_t = drift::DEFAULT_SHARE)]
    pub share: f64,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

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
}

enum WindowSpec {
    Time(i64),
    Rows(usize),
}

fn parse_duration(s: &str) -> Option<i64> {
    crate::util::parse_duration_ms(s)
}

fn parse_window(s: &str) -> anyhow::Result<WindowSpec> {
    if let Some(n) = s.strip_suffix("rows") {
        let n: usize =
            n.parse().ok().filter(|n| *n > 0).with_context(|| {
                format!("--window '{s}': rows need a positive count (10000rows)")
            })?;
        return Ok(WindowSpec::Rows(n));
    }
    parse_duration(s).map(WindowSpec::Time).with_context(|| {
        format!("--window '{s}': use a duration (30m, 1h, 1d) or a row count (10000rows)")
    })
}

fn parse_pairs<T>(
    items: &[String],
    flag: &str,
    value: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, T>> {
    let mut out = std::collections::BTreeMap::new();
    for item in items {
        let (col, v) = item
            .rsplit_once('=')
            .with_context(|| format!("{flag} '{item}': use COLUMN=VALUE"))?;
        let parsed =
            value(v).with_context(|| format!("{flag} '{item}': '{v}' is not {expected}"))?;
        out.insert(col.to_string(), parsed);
    }
    Ok(out)
}

pub fn run(cfg: &Config, a: DriftArgs) -> anyhow::Result<i32> {
    let (stored, id) = compute(cfg, &a)?;
    if a.json {
        let mut v = serde_json::to_value(&stored)?;
        v["id"] = serde_json::json!(id);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_report(&stored, id);
    }
    Ok(0)
}

/// Computes the report `a` asks for and stores it; returns it with its id.
pub fn compute(cfg: &Config, a: &DriftArgs) -> anyhow::Result<(StoredDrift, i64)> {
    let spec = DatasetSpec::hospital();
    let opts = Options {
        tests: parse_pairs(
            &a.tests,
            "--test",
            Test::parse,
            "one of ks, chisquare, z, wasserstein, jensenshannon, psi",
        )?,
        thresholds: parse_pairs(
            &a.thresholds,
            "--threshold",
            |v| v.parse::<f64>().ok().filter(|x| x.is_finite()),
            "a number",
        )?,
        psi: a.psi,
        share: Some(a.share),
    };
    for col in opts.tests.keys().chain(opts.thresholds.keys()) {
        anyhow::ensure!(
            spec.features().any(|c| &c.name == col),
            "--test/--threshold: '{col}' is not a model input column"
        );
    }
    let window = a.window.as_deref().map(parse_window).transpose()?;
    let since = match &a.since {
        Some(s) => crate::util::now_ms().saturating_sub(
            parse_duration(s)
                .with_context(|| format!("--since '{s}': use a duration such as 30m, 6h or 7d"))?,
        ),
        None => 0,
    };
    let mut store = Store::open(&cfg.db_path)?;
    let target = store.alias_target(&a.alias)?;
    let bundle = match &target {
        Some(t) => Some(
            Bundle::load_registered(&cfg.artifacts_dir, &t.sha256, t.path.as_deref())
                .map_err(|e| anyhow::anyhow!("the '{}' model: {e}", a.alias))?,
        ),
        None => None,
    };
    let (reference, reference_name) = match (&a.reference, &bundle) {
        (Some(path), _) => {
            let frame = data::load_csv(path, &spec, Labels::Optional)?;
            (drift::from_frame(&frame), path.display().to_string())
        }
        (None, Some(b)) => (
            drift::from_profile(&b.profile),
            format!(
                "training profile of '{}' (version {}, run {})",
                a.alias,
                target.as_ref().map_or(0, |t| t.version),
                b.run_id
            ),
        ),
        (None, None) => anyhow::bail!(
            "no model is promoted to '{}', so there is no training profile to compare with; \
             promote a run (`staytrack promote RUN`) or give --reference FILE",
            a.alias
        ),
    };
    let prediction_ref = bundle
        .as_ref()
        .and_then(|b| b.prediction_profile.as_ref())
        .map(drift::profile_column);

    let stored = match window {
        None => {
            let path = a.current.clone().unwrap_or_else(|| cfg.test_file());
            let frame = data::load_csv(&path, &spec, Labels::Optional)?;
            let current = drift::from_frame(&frame);
            let mut report = drift::compare(&reference, &current, &opts)?;
            if let (Some(b), Some(pr)) = (&bundle, &prediction_ref) {
                let probs = b.predict(&frame)?;
                let pc = drift::numeric_column(PREDICTION_COLUMN, probs);
                report.prediction = Some(drift::column_drift(pr, &pc, &Options::default())?);
            }
            StoredDrift {
                reference: reference_name,
                current: format!("{} ({} rows)", path.display(), thousands(frame.n_rows())),
                model_version: target.as_ref().map(|t| t.version),
                report,
                windows: Vec::new(),
            }
        }
        Some(spec_w) => windowed(
            &store,
            &spec,
            &reference,
            prediction_ref.as_ref(),
            &opts,
            spec_w,
            since,
            a.window.as_deref().unwrap_or_default(),
            reference_name,
            target.as_ref().map(|t| t.version),
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
) -> anyhow::Result<StoredDrift> {
    let rows = store.recent_predictions(since, usize::MAX >> 1)?;
    anyhow::ensure!(
        !rows.is_empty(),
        "the prediction log in {} has no predictions{}; serve some first (`staytrack serve`)",
        store.path().display(),
        if since > 0 { " in that period" } else { "" }
    );
    let mut groups: Vec<(i64, Vec<&crate::tracking::PredictionRow>)> = Vec::new();
    match w {
        WindowSpec::Rows(n) => {
            for chunk in rows.chunks(n) {
                groups.push((chunk[0].at, chunk.iter().collect()));
            }
        }
        WindowSpec::Time(ms) => {
            for r in &rows {
                let start = r.at.saturating_sub(r.at.rem_euclid(ms));
                match groups.last_mut() {
                    Some((s, g)) if *s == start => g.push(r),
                    _ => groups.push((start, vec![r])),
                }
            }
        }
    }
    let mut windows = Vec::new();
    let mut last = None;
    for (start, group) in &groups {
        let records: Vec<serde_json::Map<String, serde_json::Value>> = group
            .iter()
            .filter_map(|r| serde_json::from_str(&r.inputs).ok())
            .collect();
        let frame = Frame::from_records(spec, &records)
            .map_err(|e| anyhow::anyhow!("a logged prediction's inputs: {e}"))?;
        let current = drift::from_frame(&frame);
        let mut report = match drift::compare(reference, &current, opts) {
            Ok(r) => r,
            // A window too small to hold every column is skipped, not fatal.
            Err(drift::DriftError::Empty(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        if let Some(pr) = prediction_ref {
            let pc = drift::numeric_column(PREDICTION_COLUMN, group.iter().map(|r| r.probability));
            report.prediction = drift::column_drift(pr, &pc, &Options::default()).ok();
        }
        windows.push(WindowSummary {
            label: format_ms(*start),
            start_ms: *start,
            rows: group.len(),
            drifted: report.drifted,
            share: report.share,
            dataset_drift: report.dataset_drift,
            prediction_statistic: report.prediction.as_ref().map(|p| p.statistic),
            statistics: report
                .columns
                .iter()
                .map(|c| (c.column.clone(), c.statistic, c.drifted))
                .collect(),
        });
        last = Some(report);
    }
    let report = last.context("no window had values in every column")?;
    Ok(StoredDrift {
        reference: reference_name,
        current: format!(
            "prediction log, {} rows in {} window(s) of {label}",
            thousands(rows.len()),
            windows.len()
        ),
        model_version: version,
        report,
        windows,
    })
}

fn print_report(s: &StoredDrift, id: i64) {
    println!("reference: {}", s.reference);
    println!("current:   {}", s.current);
    if !s.windows.is_empty() {
        let rows: Vec<Vec<String>> = s
            .windows
            .iter()
            .map(|w| {
                vec![
                    w.label.clone(),
                    thousands(w.rows),
                    format!("{} of {}", w.drifted, w.statistics.len()),
                    if w.dataset_drift { "DRIFT" } else { "no" }.to_string(),
                    w.prediction_statistic
                        .map_or("-".into(), |p| format!("{p:.3}")),
                ]
            })
            .collect();
        println!();
        print!(
            "{}",
            render_table(
                &["WINDOW (UTC)", "ROWS", "DRIFTED", "DATASET", "PREDICTION W"],
                &rows
            )
        );
        println!("\nlast window:");
    }
    println!();
    let r = &s.report;
    let mut rows: Vec<Vec<String>> = r
        .columns
        .iter()
        .chain(r.prediction.iter())
        .map(|c| {
            vec![
                c.column.clone(),
                c.kind.clone(),
                c.test.name().to_string(),
                format!("{:.4}", c.statistic),
                format!("{}", c.threshold),
                if c.drifted { "DRIFT" } else { "no" }.to_string(),
            ]
        })
        .collect();
    if r.prediction.is_some() {
        let last = rows.len() - 1;
        rows[last][1] = "prediction".into();
    }
    print!(
        "{}",
        render_table(
            &["COLUMN", "KIND", "TEST", "STATISTIC", "THRESHOLD", "DRIFT"],
            &rows
        )
    );
    println!(
        "\n{}: {} of {} columns drifted (share {:.2}, threshold {}){}; report {id} stored",
        if r.dataset_drift {
            "DATASET DRIFT"
        } else {
            "no dataset drift"
        },
        r.drifted,
        r.columns.len(),
        r.share,
        r.share_threshold,
        match &r.prediction {
            Some(p) if p.drifted => ", prediction drift",
            Some(_) => ", no prediction drift",
            None => "",
        }
    );
}
