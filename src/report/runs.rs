//! Run charts: confusion matrices, ROC and PR curves, metric bars, calibration and importance,
//! and the chart data read from the store.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::style::*;
use crate::metrics::Metric;
use crate::metrics::{Confusion, Curve};
use crate::tracking::CurveKind;

/// One run as the charts need it.
#[derive(Debug, Clone)]
pub struct RunChart {
    pub label: String,
    pub metrics: std::collections::BTreeMap<String, f64>,
    pub roc: Curve,
    pub pr: Curve,
    pub calibration: Curve,
    pub confusion: Confusion,
    pub importance: Vec<(String, f64)>,
    /// What the dataset's spec calls the target's classes.
    pub classes: Classes,
}

/// The words for a dataset's target, from its spec: every chart says them, never another
/// dataset's.
#[derive(Debug, Clone, Default)]
pub struct Classes {
    /// The 1, in a few words (`> 30 days`, `readmitted: yes`).
    pub positive: String,
    pub negative: String,
    /// The positive class described (`stay of more than 30 days`).
    pub description: String,
}

impl Classes {
    pub fn of(spec: &crate::data::DatasetSpec) -> Classes {
        Classes {
            positive: spec.target.positive_name(),
            negative: spec.target.negative_name(),
            description: spec.target.description.clone(),
        }
    }
}

/// Every run chart for `runs`; returns the files written.
pub fn render_runs(runs: &[RunChart], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(!runs.is_empty(), "no runs to report on");
    Ok(vec![
        confusion_matrices(runs, dir)?,
        roc_pr(runs, dir)?,
        metric_bars(runs, dir)?,
        calibration(runs, dir)?,
        importance(runs, dir)?,
    ])
}

fn confusion_matrices(runs: &[RunChart], dir: &Path) -> anyhow::Result<PathBuf> {
    let n = runs.len();
    let cols = n.min(4);
    let rows = n.div_ceil(cols);
    let size = (420 * cols as u32, 80 + 420 * rows as u32);
    png(dir, "confusion_matrices.png", size, |root| {
        let (head, body) = root.split_vertically(70);
        // One panel is 420 pixels wide: a title that fits it.
        let (title, size) = if cols == 1 {
            ("Confusion matrix (validation, threshold 0.5)", 18)
        } else {
            (
                "Confusion matrices on the validation rows (threshold 0.5)",
                26,
            )
        };
        head.titled(title, (FONT, size).into_font().style(FontStyle::Bold))
            .map_err(pe)?;
        let panels = body.split_evenly((rows, cols));
        for (run, area) in runs.iter().zip(panels.iter()) {
            let c = run.confusion;
            let mut chart = ChartBuilder::on(area)
                .caption(&run.label, (FONT, 17))
                .margin(12)
                .x_label_area_size(50)
                .y_label_area_size(90)
                .build_cartesian_2d(0f64..2f64, 0f64..2f64)
                .map_err(pe)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(5)
                .y_labels(5)
                .x_label_formatter(&|x| match x {
                    x if (x - 0.5).abs() < 1e-9 => run.classes.negative.clone(),
                    x if (x - 1.5).abs() < 1e-9 => run.classes.positive.clone(),
                    _ => String::new(),
                })
                .y_label_formatter(&|y| match y {
                    y if (y - 1.5).abs() < 1e-9 => run.classes.negative.clone(),
                    y if (y - 0.5).abs() < 1e-9 => run.classes.positive.clone(),
                    _ => String::new(),
                })
                .label_style((FONT, 13))
                .x_desc("Predicted")
                .y_desc("Actual")
                .axis_desc_style((FONT, 15))
                .draw()
                .map_err(pe)?;
            // (predicted, actual, count, share of the actual class)
            let neg = (c.tn + c.fp).max(1) as f64;
            let pos = (c.fn_ + c.tp).max(1) as f64;
            let cells = [
                (0, 1, "TN", c.tn, c.tn as f64 / neg),
                (1, 1, "FP", c.fp, c.fp as f64 / neg),
                (0, 0, "FN", c.fn_, c.fn_ as f64 / pos),
                (1, 0, "TP", c.tp, c.tp as f64 / pos),
            ];
            for (x, y, name, count, rate) in cells {
                let shade = (255.0 - 190.0 * rate) as u8;
                let fill = RGBColor(shade, (shade as f64 * 0.9 + 20.0) as u8, 255);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x as f64, y as f64), (x as f64 + 1.0, y as f64 + 1.0)],
                        fill.filled(),
                    )))
                    .map_err(pe)?;
                let ink = if rate > 0.55 { WHITE } else { BLACK };
                for (i, line) in [
                    name.to_string(),
                    crate::util::thousands(count as usize),
                    format!("{:.1} % of actual", rate * 100.0),
                ]
                .iter()
                .enumerate()
                {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            line.clone(),
                            (x as f64 + 0.5, y as f64 + 0.72 - 0.2 * i as f64),
                            anchored(
                                if i == 1 { 20 } else { 14 },
                                plotters::style::text_anchor::HPos::Center,
                            )
                            .color(&ink),
                        )))
                        .map_err(pe)?;
                }
            }
        }
        Ok(())
    })
}

fn roc_pr(runs: &[RunChart], dir: &Path) -> anyhow::Result<PathBuf> {
    let classes = runs.first().map(|r| r.classes.clone()).unwrap_or_default();
    png(dir, "roc_pr_curves.png", (1500, 680), |root| {
        let (left, right) = root.split_horizontally(750);
        for (area, roc) in [(left, true), (right, false)] {
            let mut chart = ChartBuilder::on(&area)
                .caption(
                    if roc {
                        "ROC curves (validation rows)"
                    } else {
                        "Precision-recall curves (validation rows)"
                    },
                    (FONT, 22),
                )
                .margin(18)
                .x_label_area_size(50)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)
                .map_err(pe)?;
            chart
                .configure_mesh()
                .x_desc(if roc {
                    "False positive rate".to_string()
                } else {
                    format!("Recall (share of {} found)", classes.positive)
                })
                .y_desc(if roc {
                    "True positive rate"
                } else {
                    "Precision"
                })
                .house_style(16, 13)
                .draw()
                .map_err(pe)?;
            if roc {
                diagonal(&mut chart, "chance")?;
            }
            for (i, r) in runs.iter().enumerate() {
                let curve = if roc { &r.roc } else { &r.pr };
                let (key, name) = if roc {
                    ("roc_auc", "AUC")
                } else {
                    ("pr_auc", "AP")
                };
                let col = color(i);
                // A PR curve's (0, 0) is the empty prediction set, not a point on the curve.
                let pts: Vec<(f64, f64)> = curve
                    .x
                    .iter()
                    .zip(&curve.y)
                    .map(|(x, y)| (*x, *y))
                    .filter(|p| roc || *p != (0.0, 0.0))
                    .collect();
                let label = format!(
                    "{} ({name} {:.4})",
                    r.label,
                    r.metrics.get(key).copied().unwrap_or(f64::NAN)
                );
                line(&mut chart, pts, col, label, 0)?;
            }
            legend(
                &mut chart,
                if roc {
                    SeriesLabelPosition::LowerRight
                } else {
                    SeriesLabelPosition::LowerLeft
                },
            )?;
        }
        Ok(())
    })
}

const BAR_METRICS: [Metric; 6] = Metric::SCORES;

/// `accuracy` ⇒ `Accuracy`, for chart labels.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn metric_bars(runs: &[RunChart], dir: &Path) -> anyhow::Result<PathBuf> {
    let names: Vec<String> = BAR_METRICS.iter().map(|m| capitalised(m.label())).collect();
    png(dir, "metrics.png", (1400, 640), |root| {
        let groups = BAR_METRICS.len() as f64;
        let lo = runs
            .iter()
            .flat_map(|r| BAR_METRICS.iter().filter_map(|m| r.metrics.get(m.key())))
            .fold(1.0f64, |a, b| a.min(*b));
        let y0 = ((lo - 0.1).max(0.0) * 10.0).floor() / 10.0;
        let mut chart = ChartBuilder::on(root)
            .caption("Validation metrics by run (higher is better)", (FONT, 24))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..groups, y0..1f64)
            .map_err(pe)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(BAR_METRICS.len() * 2 + 1)
            .x_label_formatter(&|x| centre_label(&names, *x, false).cloned().unwrap_or_default())
            .y_desc("Score")
            .house_style(16, 15)
            .draw()
            .map_err(pe)?;
        let n = runs.len() as f64;
        let width = 0.8 / n;
        for (i, r) in runs.iter().enumerate() {
            let col = color(i);
            let bars: Vec<_> = BAR_METRICS
                .iter()
                .enumerate()
                .filter_map(|(g, m)| {
                    let v = *r.metrics.get(m.key())?;
                    let x0 = g as f64 + 0.1 + i as f64 * width;
                    Some(Rectangle::new(
                        [(x0, y0), (x0 + width * 0.92, v)],
                        col.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(pe)?
                .label(r.label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], col.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

fn calibration(runs: &[RunChart], dir: &Path) -> anyhow::Result<PathBuf> {
    let classes = runs.first().map(|r| r.classes.clone()).unwrap_or_default();
    png(dir, "calibration.png", (800, 760), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Calibration: predicted against observed", (FONT, 22))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(pe)?;
        chart
            .configure_mesh()
            .x_desc(format!(
                "Mean predicted probability: {}",
                classes.description
            ))
            .y_desc(format!("Observed share: {}", classes.positive))
            .house_style(15, 13)
            .draw()
            .map_err(pe)?;
        diagonal(&mut chart, "perfectly calibrated")?;
        for (i, r) in runs.iter().enumerate() {
            let col = color(i);
            let pts: Vec<(f64, f64)> = r
                .calibration
                .x
                .iter()
                .zip(&r.calibration.y)
                .map(|(x, y)| (*x, *y))
                .collect();
            let label = format!(
                "{} (Brier {:.4})",
                r.label,
                r.metrics
                    .get(Metric::Brier.key())
                    .copied()
                    .unwrap_or(f64::NAN)
            );
            line(&mut chart, pts, col, label, 3)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

fn importance(runs: &[RunChart], dir: &Path) -> anyhow::Result<PathBuf> {
    let shown: Vec<&RunChart> = runs.iter().take(4).collect();
    let top = 15;
    let cols = shown.len().min(2);
    let rows = shown.len().div_ceil(cols);
    png(
        dir,
        "feature_importance.png",
        (900 * cols as u32, 560 * rows as u32),
        |root| {
            let panels = root.split_evenly((rows, cols));
            for (k, (r, area)) in shown.iter().zip(panels.iter()).enumerate() {
                let total: f64 = r
                    .importance
                    .iter()
                    .map(|(_, v)| v.abs())
                    .sum::<f64>()
                    .max(1e-300);
                let items: Vec<(String, f64)> = r
                    .importance
                    .iter()
                    .take(top)
                    .map(|(n, v)| (n.clone(), v.abs() / total))
                    .collect();
                let max = items.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.1;
                let n = items.len().max(1);
                let labels: Vec<String> = items.iter().map(|p| p.0.clone()).collect();
                let mut chart = ChartBuilder::on(area)
                    .caption(format!("Top features: {}", r.label), (FONT, 18))
                    .margin(14)
                    .x_label_area_size(44)
                    .y_label_area_size(250)
                    .build_cartesian_2d(0f64..max, 0f64..n as f64)
                    .map_err(pe)?;
                let rows = row_label(&labels);
                chart
                    .configure_mesh()
                    .labelled_rows(n, &rows)
                    .x_label_formatter(&|x| {
                        if max < 0.05 {
                            format!("{:.1} %", x * 100.0)
                        } else {
                            format!("{:.0} %", x * 100.0)
                        }
                    })
                    .x_desc("Share of the model's total importance")
                    .house_style(14, 12)
                    .draw()
                    .map_err(pe)?;
                let col = color(k);
                chart
                    .draw_series(items.iter().enumerate().map(|(i, (_, v))| {
                        let y = (n - 1 - i) as f64;
                        Rectangle::new([(0.0, y + 0.15), (*v, y + 0.85)], col.filled())
                    }))
                    .map_err(pe)?;
            }
            Ok(())
        },
    )
}

/// A stored curve (or matrix, or list) of `kind`, or its empty value when missing or unreadable.
pub fn curve<T: serde::de::DeserializeOwned + Default>(
    curves: &std::collections::BTreeMap<String, String>,
    kind: CurveKind,
) -> T {
    curves
        .get(kind.key())
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}

/// The chart data of finished runs, read from the store.
pub fn run_charts(
    store: &crate::tracking::Store,
    runs: &[crate::tracking::RunSummary],
    spec: &crate::data::DatasetSpec,
) -> anyhow::Result<Vec<RunChart>> {
    let classes = Classes::of(spec);
    runs.iter()
        .map(|r| {
            let curves = store.curves(&r.id)?;
            Ok(RunChart {
                label: format!(
                    "{} ({}, …{})",
                    r.name,
                    r.family,
                    crate::util::short_id(&r.id, 6)
                ),
                metrics: r.metrics.clone(),
                roc: curve(&curves, CurveKind::Roc),
                pr: curve(&curves, CurveKind::Pr),
                calibration: curve(&curves, CurveKind::Calibration),
                confusion: curve(&curves, CurveKind::Confusion),
                importance: curve(&curves, CurveKind::Importance),
                classes: classes.clone(),
            })
        })
        .collect()
}
