//! A sweep's parallel-coordinates chart: one vertical axis per searched parameter and one for
//! ROC AUC, one line per trial, darker and wider the better the trial, dashed when it was
//! stopped early.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

use super::style::*;
use crate::tune::{SweepSummary, Trial};
use crate::util::short_number;

/// One PNG per family of the sweep; returns the files written.
pub fn render_sweep(s: &SweepSummary, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (family, trials, importance) in &s.families {
        // Axes: the parameters by importance (the strongest next to ROC AUC), then ROC AUC.
        let mut keys: Vec<String> = importance.iter().rev().map(|(k, _, _)| k.clone()).collect();
        if keys.is_empty() {
            continue;
        }
        keys.push("roc_auc".into());
        let name = format!("sweep-{}-{family}.png", s.sweep);
        out.push(parallel(
            &name,
            &s.sweep,
            &family.to_string(),
            &keys,
            trials,
            dir,
        )?);
    }
    anyhow::ensure!(
        !out.is_empty(),
        "sweep {}: its trials do not differ in any parameter; nothing to chart",
        s.sweep
    );
    Ok(out)
}

/// A trial's value on an axis.
fn value(t: &Trial, key: &str) -> f64 {
    if key == "roc_auc" {
        t.roc_auc
    } else {
        t.params.get(key).copied().unwrap_or(f64::NAN)
    }
}

/// An axis's range and whether it is logarithmic (positive values over two decades or more).
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn of(values: impl Iterator<Item = f64>) -> Axis {
        let v: Vec<f64> = values.filter(|v| v.is_finite()).collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Axis {
            lo,
            hi,
            log: lo > 0.0 && hi / lo >= 100.0,
        }
    }

    /// `v` on the axis, 0 at the bottom and 1 at the top.
    fn place(&self, v: f64) -> f64 {
        let (a, b, x) = if self.log {
            (self.lo.ln(), self.hi.ln(), v.ln())
        } else {
            (self.lo, self.hi, v)
        };
        if b > a {
            (x - a) / (b - a)
        } else {
            0.5
        }
    }
}

fn parallel(
    name: &str,
    sweep: &str,
    family: &str,
    keys: &[String],
    trials: &[Trial],
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let axes: Vec<Axis> = keys
        .iter()
        .map(|k| Axis::of(trials.iter().map(|t| value(t, k))))
        .collect();
    let k = keys.len() as f64;
    png(dir, name, (1400, 700), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Sweep {sweep}: {} {family} trials (darker is a higher ROC AUC)",
                    trials.len()
                ),
                (FONT, 24),
            )
            .margin(30)
            .margin_top(20)
            .x_label_area_size(40)
            .build_cartesian_2d(-0.3f64..(k - 0.7), -0.08f64..1.08f64)
            .map_err(pe)?;
        let auc = &axes[axes.len() - 1];
        // Worst first, so the best lines are drawn on top.
        let mut order: Vec<&Trial> = trials.iter().collect();
        order.sort_by(|a, b| a.roc_auc.total_cmp(&b.roc_auc));
        for t in order {
            let q = auc.place(t.roc_auc).clamp(0.0, 1.0);
            let shade = (210.0 - 190.0 * q) as u8;
            let col = RGBColor(
                shade,
                (shade as f64 * 0.9) as u8,
                255u8.saturating_sub((q * 60.0) as u8),
            );
            let points: Vec<(f64, f64)> = keys
                .iter()
                .zip(&axes)
                .enumerate()
                .map(|(i, (key, a))| (i as f64, a.place(value(t, key))))
                .filter(|(_, y)| y.is_finite())
                .collect();
            let style = ShapeStyle::from(&col).stroke_width(if q > 0.9 { 3 } else { 1 });
            if t.early_stopped || t.budget_stopped {
                chart
                    .draw_series(DashedLineSeries::new(points, 6, 4, style))
                    .map_err(pe)?;
            } else {
                chart
                    .draw_series(LineSeries::new(points, style))
                    .map_err(pe)?;
            }
        }
        for (i, (key, a)) in keys.iter().zip(&axes).enumerate() {
            let x = i as f64;
            chart
                .draw_series(LineSeries::new([(x, 0.0), (x, 1.0)], BLACK.stroke_width(2)))
                .map_err(pe)?;
            let label = |v: f64| {
                if key == "roc_auc" {
                    format!("{v:.4}")
                } else {
                    short_number(v)
                }
            };
            let small = anchored(14, HPos::Center);
            chart
                .draw_series([
                    Text::new(
                        format!("{key}{}", if a.log { " (log)" } else { "" }),
                        (x, 1.06),
                        anchored(16, HPos::Center),
                    ),
                    Text::new(label(a.hi), (x, 1.02), small.clone()),
                    Text::new(label(a.lo), (x, -0.03), small),
                ])
                .map_err(pe)?;
        }
        Ok(())
    })
}
