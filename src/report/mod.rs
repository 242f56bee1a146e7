//! PNG reports with plotters: confusion matrices, ROC and PR curves, metric bars, calibration,
//! feature importance, and drift (statistic against threshold, reference-versus-current
//! histograms, drift across windows).
//!
//! Text is drawn with DejaVu Sans embedded in the binary (the `dejavu` crate), so reports render
//! the same on a machine with no font packages. Every file is drawn to a temporary name in the
//! output folder and renamed into place, so a reader never sees half a PNG.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, Context};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::drift::monitor::StoredDrift;
use crate::drift::ColumnDrift;
use crate::metrics::{Confusion, Curve};

const FONT: &str = "sans-serif";

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
}

/// Tableau's ten colours: distinct, and readable for most colour-blind readers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Registers the embedded font once per process.
fn fonts() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the embedded DejaVu Sans font could not be read".to_string())?;
        plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
            .map_err(|_| "the embedded DejaVu Sans Bold font could not be read".to_string())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

fn pe<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Draws into `dir/name` through a temporary file and a rename.
fn png(
    dir: &Path,
    name: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<PathBuf> {
    fonts()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.partial.png"));
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let res = draw(&root);
        if let Err(e) = res {
            drop(root);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        root.present()
            .map_err(|e| anyhow!("writing {}: {e:?}", path.display()))?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The label of slot `i` for an axis tick at `v`: slots are unit-wide and labelled at their
/// centres (`i + 0.5`), so bars and rows read against their names. `from_top` counts slots
/// from the top of a vertical axis.
fn centre_label(labels: &[String], v: f64, from_top: bool) -> Option<&String> {
    let i = v.floor() as usize;
    if (v.fract() - 0.5).abs() >= 0.01 || i >= labels.len() {
        return None;
    }
    labels.get(if from_top { labels.len() - 1 - i } else { i })
}

/// Black text of `size` anchored at `h` horizontally and centred vertically.
fn anchored(size: u32, h: plotters::style::text_anchor::HPos) -> TextStyle<'static> {
    (FONT, size)
        .into_font()
        .color(&BLACK)
        .pos(plotters::style::text_anchor::Pos::new(
            h,
            plotters::style::text_anchor::VPos::Center,
        ))
}

/// The look every chart's mesh shares: axis titles and tick labels in the embedded font at the
/// given sizes, light grey minor lines.
trait HouseStyle {
    fn house_style(&mut self, desc: u32, label: u32) -> &mut Self;
}

impl<X: Ranged, Y: Ranged, DB: DrawingBackend> HouseStyle
    for plotters::chart::MeshStyle<'_, '_, X, Y, DB>
{
    fn house_style(&mut self, desc: u32, label: u32) -> &mut Self {
        self.axis_desc_style((FONT, desc))
            .label_style((FONT, label))
            .light_line_style(RGBColor(235, 235, 235))
    }
}

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The legend box every chart uses.
fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(pe)
}

/// A grey dashed y = x line, with its legend entry.
fn diagonal<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, label: &str) -> anyhow::Result<()> {
    let grey = RGBColor(150, 150, 150);
    dashed(
        chart,
        (0.0, 0.0),
        (1.0, 1.0),
        grey.into(),
        label.to_string(),
    )
}

/// A labelled line of `col` through `pts`, with a dot of `dot` pixels at each point (0: none).
fn line<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    pts: Vec<(f64, f64)>,
    col: RGBColor,
    label: String,
    dot: u32,
) -> anyhow::Result<()> {
    let dots: Vec<Circle<(f64, f64), u32>> = if dot > 0 {
        pts.iter()
            .map(|p| Circle::new(*p, dot, col.filled()))
            .collect()
    } else {
        Vec::new()
    };
    chart
        .draw_series(LineSeries::new(pts, col.stroke_width(2)))
        .map_err(pe)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], col.stroke_width(3)));
    chart.draw_series(dots).map_err(pe)?;
    Ok(())
}

/// A labelled dashed line from `from` to `to` (thresholds, the diagonal).
fn dashed<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    from: (f64, f64),
    to: (f64, f64),
    style: ShapeStyle,
    label: String,
) -> anyhow::Result<()> {
    let legend_style = ShapeStyle {
        stroke_width: 1,
        ..style
    };
    chart
        .draw_series(DashedLineSeries::new(vec![from, to], 6, 4, style))
        .map_err(pe)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], legend_style));
    Ok(())
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
        head.titled(
            "Confusion matrices on the validation rows (threshold 0.5)",
            (FONT, 26).into_font().style(FontStyle::Bold),
        )
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
                    x if (x - 0.5).abs() < 1e-9 => "≤ 30 days".into(),
                    x if (x - 1.5).abs() < 1e-9 => "> 30 days".into(),
                    _ => String::new(),
                })
                .y_label_formatter(&|y| match y {
                    y if (y - 1.5).abs() < 1e-9 => "≤ 30 days".into(),
                    y if (y - 0.5).abs() < 1e-9 => "> 30 days".into(),
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
                    "False positive rate"
                } else {
                    "Recall (share of long stays found)"
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

const BAR_METRICS: [(&str, &str); 6] = [
    ("roc_auc", "ROC AUC"),
    ("pr_auc", "PR AUC"),
    ("f1", "F1"),
    ("accuracy", "Accuracy"),
    ("precision", "Precision"),
    ("recall", "Recall"),
];

fn metric_bars(runs: &[RunChart], dir: &Path) -> anyhow::Result<PathBuf> {
    let names: Vec<String> = BAR_METRICS.iter().map(|(_, n)| n.to_string()).collect();
    png(dir, "metrics.png", (1400, 640), |root| {
        let groups = BAR_METRICS.len() as f64;
        let lo = runs
            .iter()
            .flat_map(|r| BAR_METRICS.iter().filter_map(|(k, _)| r.metrics.get(*k)))
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
                .filter_map(|(g, (k, _))| {
                    let v = *r.metrics.get(*k)?;
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
            .x_desc("Mean predicted probability of a stay over 30 days")
            .y_desc("Observed share of stays over 30 days")
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
                r.metrics.get("brier").copied().unwrap_or(f64::NAN)
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
                chart
                    .configure_mesh()
                    .disable_y_mesh()
                    .y_labels(n * 2 + 1)
                    .y_label_formatter(&|y| {
                        centre_label(&labels, *y, true).cloned().unwrap_or_default()
                    })
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

/// Every drift chart for a stored report; returns the files written.
pub fn render_drift(d: &StoredDrift, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = vec![drift_summary(d, dir)?, drift_columns(d, dir)?];
    if d.windows.len() > 1 {
        out.push(drift_windows(d, dir)?);
    }
    Ok(out)
}

fn drift_summary(d: &StoredDrift, dir: &Path) -> anyhow::Result<PathBuf> {
    let r = &d.report;
    let cols: Vec<&ColumnDrift> = r.columns.iter().chain(r.prediction.iter()).collect();
    let n = cols.len().max(1);
    png(
        dir,
        "drift_summary.png",
        (1300, 140 + 34 * n as u32),
        |root| {
            let max = cols
                .iter()
                .map(|c| c.statistic.max(c.threshold))
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max)
                * 1.15;
            let labels: Vec<String> = cols
                .iter()
                .map(|c| format!("{} · {}", c.column, c.test.name()))
                .collect();
            let verdict = if r.dataset_drift {
                format!(
                    "DATASET DRIFT: {} of {} columns drifted",
                    r.drifted,
                    r.columns.len()
                )
            } else {
                format!(
                    "No dataset drift: {} of {} columns drifted",
                    r.drifted,
                    r.columns.len()
                )
            };
            let mut chart = ChartBuilder::on(root)
                .caption(
                    format!(
                        "Drift per column, statistic against its threshold (black tick). {verdict}"
                    ),
                    (FONT, 19),
                )
                .margin(16)
                .x_label_area_size(44)
                .y_label_area_size(380)
                .build_cartesian_2d(0f64..max.max(1e-6), 0f64..n as f64)
                .map_err(pe)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n * 2 + 1)
                .y_label_formatter(&|y| {
                    centre_label(&labels, *y, true).cloned().unwrap_or_default()
                })
                .x_desc("Statistic (distances drift at or above the tick; p-values drift below it)")
                .house_style(14, 13)
                .draw()
                .map_err(pe)?;
            for (i, c) in cols.iter().enumerate() {
                let y = (n - 1 - i) as f64;
                let fill = if c.drifted {
                    RGBColor(214, 39, 40)
                } else {
                    RGBColor(31, 119, 180)
                };
                let v = if c.statistic.is_finite() {
                    c.statistic
                } else {
                    max
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.0, y + 0.2), (v, y + 0.8)],
                        fill.filled(),
                    )))
                    .map_err(pe)?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(c.threshold, y + 0.05), (c.threshold, y + 0.95)],
                        BLACK.stroke_width(3),
                    )))
                    .map_err(pe)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{:.4}", c.statistic),
                        (v, y + 0.5),
                        anchored(12, plotters::style::text_anchor::HPos::Left),
                    )))
                    .map_err(pe)?;
            }
            Ok(())
        },
    )
}

fn drift_columns(d: &StoredDrift, dir: &Path) -> anyhow::Result<PathBuf> {
    let cols: Vec<&ColumnDrift> = d
        .report
        .columns
        .iter()
        .chain(d.report.prediction.iter())
        .collect();
    let per_row = 4;
    let rows = cols.len().div_ceil(per_row).max(1);
    png(
        dir,
        "drift_distributions.png",
        (1800, 80 + 360 * rows as u32),
        |root| {
            let (head, body) = root.split_vertically(70);
            head.titled(
                "Reference (blue) against current (orange): share of rows per value or bin",
                (FONT, 24),
            )
            .map_err(pe)?;
            let panels = body.split_evenly((rows, per_row));
            for (c, area) in cols.iter().zip(panels.iter()) {
                let n = c.bins.len().max(1);
                let top = c
                    .reference_shares
                    .iter()
                    .chain(&c.current_shares)
                    .fold(0.0f64, |a, b| a.max(*b))
                    * 1.15;
                let labels = c.bins.clone();
                let step = n.div_ceil(8);
                let mut chart = ChartBuilder::on(area)
                    .caption(
                        format!(
                            "{}{}: {:.3}",
                            c.column,
                            if c.drifted { " (DRIFT)" } else { "" },
                            c.statistic
                        ),
                        (FONT, 15).into_font().color(if c.drifted {
                            &RGBColor(214, 39, 40)
                        } else {
                            &BLACK
                        }),
                    )
                    .margin(10)
                    .x_label_area_size(40)
                    .y_label_area_size(50)
                    .build_cartesian_2d(0f64..n as f64, 0f64..top.max(1e-6))
                    .map_err(pe)?;
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(n * 2 + 1)
                    .x_label_formatter(&|x| match centre_label(&labels, *x, false) {
                        // Every `step`-th bin, so the labels never overlap.
                        Some(l) if (x.floor() as usize) % step == 0 => l.chars().take(12).collect(),
                        _ => String::new(),
                    })
                    .y_label_formatter(&|y| format!("{:.0} %", y * 100.0))
                    .label_style((FONT, 11))
                    .light_line_style(RGBColor(240, 240, 240))
                    .draw()
                    .map_err(pe)?;
                for (k, (shares, col)) in [
                    (&c.reference_shares, RGBColor(31, 119, 180)),
                    (&c.current_shares, RGBColor(255, 127, 14)),
                ]
                .into_iter()
                .enumerate()
                {
                    chart
                        .draw_series(shares.iter().enumerate().map(|(i, s)| {
                            let x0 = i as f64 + 0.1 + 0.4 * k as f64;
                            Rectangle::new([(x0, 0.0), (x0 + 0.38, *s)], col.filled())
                        }))
                        .map_err(pe)?;
                }
            }
            Ok(())
        },
    )
}

fn drift_windows(d: &StoredDrift, dir: &Path) -> anyhow::Result<PathBuf> {
    png(dir, "drift_windows.png", (1400, 620), |root| {
        let n = d.windows.len();
        let labels: Vec<String> = d.windows.iter().map(|w| w.label.clone()).collect();
        let top = d
            .windows
            .iter()
            .map(|w| w.share)
            .chain(d.windows.iter().filter_map(|w| w.prediction_statistic))
            .fold(d.report.share_threshold, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(root)
            .caption("Drift across windows of the prediction log", (FONT, 22))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..(n as f64 - 1.0).max(1.0), 0f64..top.max(0.01))
            .map_err(pe)?;
        let step = n.div_ceil(8).max(1);
        chart
            .configure_mesh()
            .x_labels(n.min(50))
            .x_label_formatter(&|x| {
                let i = x.round() as usize;
                if (x - x.round()).abs() < 1e-6 && i < labels.len() && i % step == 0 {
                    labels[i].clone()
                } else {
                    String::new()
                }
            })
            .x_desc("Window start (UTC)")
            .y_desc("Share of drifted columns / prediction Wasserstein")
            .house_style(15, 12)
            .draw()
            .map_err(pe)?;
        let shares: Vec<(f64, f64)> = d
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| (i as f64, w.share))
            .collect();
        line(
            &mut chart,
            shares,
            color(0),
            "share of drifted columns".into(),
            4,
        )?;
        let preds: Vec<(f64, f64)> = d
            .windows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((i as f64, w.prediction_statistic?)))
            .collect();
        if !preds.is_empty() {
            let label = "prediction drift (Wasserstein, normed)".to_string();
            line(&mut chart, preds, color(1), label, 0)?;
        }
        let t = d.report.share_threshold;
        dashed(
            &mut chart,
            (0.0, t),
            ((n as f64 - 1.0).max(1.0), t),
            RGBColor(214, 39, 40).stroke_width(2),
            format!("dataset drift at a share of {t}"),
        )?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// The probability histogram of a scoring pass, with the threshold marked.
pub fn render_score(s: &crate::score::ScoreSummary, dir: &Path) -> anyhow::Result<PathBuf> {
    let stem = s
        .output
        .file_stem()
        .map_or("scored".into(), |n| n.to_string_lossy().into_owned());
    png(dir, &format!("score-{stem}.png"), (1200, 600), |root| {
        let top = s.histogram.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "{} rows of {} scored by '{}' (version {}): {:.1} % long stays",
                    crate::util::thousands(s.rows),
                    s.input
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                    s.alias,
                    s.model_version,
                    100.0 * s.positive_share
                ),
                (FONT, 22),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..1f64, 0f64..top)
            .map_err(pe)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(11)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&|y| crate::util::thousands(*y as usize))
            .x_desc("Predicted probability of a stay over 30 days")
            .y_desc("Rows")
            .house_style(16, 15)
            .draw()
            .map_err(pe)?;
        let w = 1.0 / s.histogram.len().max(1) as f64;
        chart
            .draw_series(s.histogram.iter().enumerate().map(|(i, &c)| {
                let x0 = i as f64 * w;
                let col = if x0 + w / 2.0 >= s.threshold {
                    color(3)
                } else {
                    color(0)
                };
                Rectangle::new(
                    [(x0 + w * 0.04, 0.0), (x0 + w * 0.96, c as f64)],
                    col.filled(),
                )
            }))
            .map_err(pe)?;
        dashed(
            &mut chart,
            (s.threshold, 0.0),
            (s.threshold, top),
            BLACK.into(),
            format!("threshold {}", s.threshold),
        )?;
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// A stored curve (or matrix, or list) of `kind`, or its empty value when missing or unreadable.
pub fn curve<T: serde::de::DeserializeOwned + Default>(
    curves: &std::collections::BTreeMap<String, String>,
    kind: &str,
) -> T {
    curves
        .get(kind)
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}

/// The chart data of finished runs, read from the store.
pub fn run_charts(
    store: &crate::tracking::Store,
    runs: &[crate::tracking::RunSummary],
) -> anyhow::Result<Vec<RunChart>> {
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
                roc: curve(&curves, "roc"),
                pr: curve(&curves, "pr"),
                calibration: curve(&curves, "calibration"),
                confusion: curve(&curves, "confusion"),
                importance: curve(&curves, "importance"),
            })
        })
        .collect()
}
