//! Drift charts: statistic against threshold per column, reference-versus-current distributions,
//! and drift across windows of the prediction log.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::style::*;
use crate::drift::monitor::StoredDrift;
use crate::drift::ColumnDrift;

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
            let rows = row_label(&labels);
            chart
                .configure_mesh()
                .labelled_rows(n, &rows)
                .x_desc("Statistic (distances drift at or above the tick; p-values drift below it)")
                .house_style(14, 13)
                .draw()
                .map_err(pe)?;
            // Data units per pixel, to keep a value's label clear of its threshold tick.
            let per_px = max.max(1e-6) / chart.plotting_area().dim_in_pixel().0.max(1) as f64;
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
                // A label that would run into the tick starts just past it instead.
                let label_end = v + 56.0 * per_px;
                let x = if c.threshold >= v - 3.0 * per_px && c.threshold <= label_end {
                    c.threshold + 5.0 * per_px
                } else {
                    v + 3.0 * per_px
                };
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{:.4}", c.statistic),
                        (x, y + 0.5),
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
