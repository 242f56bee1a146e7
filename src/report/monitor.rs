//! `monitor.png`: estimated and realized ROC AUC over the windows of the prediction log, beside
//! the model's validation AUC; drift share and data quality below; alerts marked.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::style::*;
use crate::monitor::MonitorReport;

/// The monitor chart for a report; returns the file written.
pub fn render_monitor(m: &MonitorReport, dir: &Path) -> anyhow::Result<PathBuf> {
    png(dir, "monitor.png", (1400, 900), |root| {
        let (top, bottom) = root.split_vertically(520);
        let n = m.windows.len();
        let x_max = (n as f64 - 1.0).max(1.0);
        let labels: Vec<String> = m
            .windows
            .iter()
            .map(|w| match w.model_version {
                Some(v) => format!("{} · v{v}", w.label),
                None => w.label.clone(),
            })
            .collect();
        let step = n.div_ceil(6).max(1);
        let formatter = |x: &f64| {
            let i = x.round() as usize;
            if (x - x.round()).abs() < 1e-6 && i < labels.len() && i % step == 0 {
                labels[i].clone()
            } else {
                String::new()
            }
        };
        let aucs: Vec<f64> = m
            .windows
            .iter()
            .flat_map(|w| {
                [
                    w.estimated.and_then(|e| e.roc_auc),
                    w.realized.and_then(|r| r.roc_auc),
                ]
            })
            .flatten()
            .chain(m.versions.iter().filter_map(|v| v.validation_roc_auc))
            .collect();
        let lo = aucs.iter().copied().fold(1.0, f64::min);
        let hi = aucs.iter().copied().fold(0.5, f64::max);
        let mut chart = ChartBuilder::on(&top)
            .caption(
                format!(
                    "Performance per window of {} ({} predictions, {} labelled, {} alerts)",
                    m.window,
                    crate::util::thousands(m.predictions),
                    crate::util::thousands(m.labelled),
                    m.alerts.len()
                ),
                (FONT, 21),
            )
            .margin(18)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(
                -0.3f64..x_max + 0.3,
                (lo - 0.05).max(0.0)..(hi + 0.03).min(1.0),
            )
            .map_err(pe)?;
        chart
            .configure_mesh()
            .x_labels(n.min(50))
            .x_label_formatter(&formatter)
            .y_desc("ROC AUC")
            .house_style(15, 12)
            .draw()
            .map_err(pe)?;
        let series = |f: &dyn Fn(&crate::monitor::WindowReport) -> Option<f64>| {
            m.windows
                .iter()
                .enumerate()
                .filter_map(|(i, w)| Some((i as f64, f(w)?)))
                .collect::<Vec<_>>()
        };
        let est = series(&|w| w.estimated.and_then(|e| e.roc_auc));
        if !est.is_empty() {
            line(&mut chart, est, color(0), "estimated (CBPE)".into(), 4)?;
        }
        let real = series(&|w| w.realized.and_then(|r| r.roc_auc));
        if !real.is_empty() {
            line(
                &mut chart,
                real,
                color(1),
                "realized (labelled rows)".into(),
                4,
            )?;
        }
        for (k, v) in m.versions.iter().enumerate() {
            if let Some(a) = v.validation_roc_auc {
                dashed(
                    &mut chart,
                    (0.0, a),
                    (x_max, a),
                    color(7 + k).stroke_width(2),
                    format!("version {} on validation ({a:.4})", v.model_version),
                )?;
            }
        }
        legend(&mut chart, SeriesLabelPosition::LowerLeft)?;

        let mut chart = ChartBuilder::on(&bottom)
            .caption(
                "Drift share and data quality (worst column's share of rows); red: an alert",
                (FONT, 18),
            )
            .margin(18)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.3f64..x_max + 0.3, 0f64..1.05)
            .map_err(pe)?;
        chart
            .configure_mesh()
            .x_labels(n.min(50))
            .x_label_formatter(&formatter)
            .x_desc("Window (start in UTC, or rows of the log) · model version")
            .y_desc("Share")
            .house_style(15, 12)
            .draw()
            .map_err(pe)?;
        let drift = series(&|w| w.drift.as_ref().map(|d| d.share));
        if !drift.is_empty() {
            line(
                &mut chart,
                drift,
                color(4),
                "share of drifted columns".into(),
                4,
            )?;
        }
        let quality = series(&|w| {
            let q = &w.quality;
            Some(
                q.max_unseen_share
                    .max(q.max_missing_share)
                    .max(q.max_out_of_range_share),
            )
        });
        line(
            &mut chart,
            quality,
            color(2),
            "data quality findings".into(),
            3,
        )?;
        let alerted: Vec<Circle<(f64, f64), u32>> = m
            .windows
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                m.alerts
                    .iter()
                    .any(|a| a.start_ms == w.start_ms && a.model_version == w.model_version)
            })
            .map(|(i, _)| Circle::new((i as f64, 1.0), 7, RGBColor(214, 39, 40).filled()))
            .collect();
        chart.draw_series(alerted).map_err(pe)?;
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}
