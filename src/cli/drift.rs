//! `staytrack drift`: compare current data with the production model's training profile (or a
//! reference CSV), print the per-column table and the verdict, and store the report.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::data::DatasetSpec;
use crate::drift::monitor::{monitor, Current, MonitorOptions, StoredDrift, WindowSpec};
use crate::drift::{self, Options, Test};
use crate::tracking::registry::PRODUCTION;
use crate::util::{render_table, thousands};

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Current data: a CSV or Parquet file with the dataset's columns [default: the workspace's
    /// data/test_data.csv]
    #[arg(long, value_name = "FILE", conflicts_with = "window")]
    pub current: Option<PathBuf>,
    /// Current data from the prediction log, cut into windows of time (30m, 1h, 1d) or rows
    /// (10000rows); the last window gets the full table
    #[arg(long, value_name = "SPEC")]
    pub window: Option<String>,
    /// With --window: a window with fewer predictions is reported as too few rows, not tested
    /// [default: `[drift] min_rows` in staytrack.toml, else 100]
    #[arg(long, value_name = "ROWS", requires = "window")]
    pub min_rows: Option<usize>,
    /// With --window: only predictions from the last DURATION (30m, 6h, 7d)
    #[arg(long, value_name = "DURATION", requires = "window")]
    pub since: Option<String>,
    /// Reference CSV or Parquet file instead of the model's training profile
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// The alias whose model supplies the reference profile and scores the current data
    #[arg(long, default_value = PRODUCTION)]
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
    let (stored, id) = monitor(cfg, &options(cfg, &a)?)?;
    if a.json {
        let mut v = serde_json::to_value(&stored)?;
        v["id"] = serde_json::json!(id);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_report(&stored, id);
    }
    Ok(0)
}

/// The service's options from the flags, every value checked.
fn options(cfg: &Config, a: &DriftArgs) -> anyhow::Result<MonitorOptions> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.share),
        "--share must be between 0 and 1 (got {})",
        a.share
    );
    let spec = DatasetSpec::of_workspace(cfg)?;
    let drift = Options {
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
    for col in drift.tests.keys().chain(drift.thresholds.keys()) {
        anyhow::ensure!(
            spec.features().any(|c| &c.name == col),
            "--test/--threshold: '{col}' is not a model input column"
        );
    }
    let current = match a.window.as_deref() {
        None => Current::File(a.current.clone().unwrap_or_else(|| cfg.test_file())),
        Some(w) => Current::Log {
            window: WindowSpec::parse(w)?,
            since_ms: match &a.since {
                Some(s) => crate::util::now_ms().saturating_sub(
                    crate::util::parse_duration_ms(s).with_context(|| {
                        format!("--since '{s}': use a duration such as 30m, 6h or 7d")
                    })?,
                ),
                None => 0,
            },
            label: w.to_string(),
        },
    };
    Ok(MonitorOptions {
        alias: a.alias.clone(),
        reference: a.reference.clone(),
        current,
        drift,
        min_rows: match a.min_rows {
            Some(n) => n,
            None => crate::drift::monitor::min_rows_setting(cfg)?,
        },
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
                if w.too_few {
                    return vec![
                        w.label.clone(),
                        thousands(w.rows),
                        "-".into(),
                        "too few rows".into(),
                        "-".into(),
                    ];
                }
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
