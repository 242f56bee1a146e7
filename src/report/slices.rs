//! `slices.png`: ROC AUC per slice, a row per slice and a bar per run, with each run's
//! equalized odds difference per column in the legend, so a model that is worse for one group
//! shows at a glance.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::style::*;
use crate::slices::SliceReport;

/// Rows drawn at most: a report of many columns is cut, the first columns kept.
const MAX_ROWS: usize = 60;

/// Draws `slices.png` from each run's report (`label`, report); `None` when no run has slices.
pub fn render_slices(
    runs: &[(String, SliceReport)],
    dir: &Path,
) -> anyhow::Result<Option<PathBuf>> {
    // The rows: every (column, slice) of any run, in the first run's order, then the others'.
    let mut rows: Vec<(String, String)> = Vec::new();
    for (_, r) in runs {
        for c in &r.columns {
            for s in &c.slices {
                let key = (c.column.clone(), s.value.clone());
                if !rows.contains(&key) && rows.len() < MAX_ROWS {
                    rows.push(key);
                }
            }
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let labels: Vec<String> = rows.iter().map(|(c, v)| format!("{c} = {v}")).collect();
    let n = rows.len();
    let lo = runs
        .iter()
        .flat_map(|(_, r)| r.columns.iter().flat_map(|c| &c.slices))
        .filter_map(|s| s.roc_auc)
        .fold(1.0f64, f64::min);
    let x0 = ((lo - 0.05).max(0.0) * 10.0).floor() / 10.0;
    // The legend goes under the chart, a line per run, so it never covers a bar.
    let legend_h = 20 + 22 * runs.len() as u32;
    let height = (160 + n * (10 + 12 * runs.len())).min(4000) as u32 + legend_h;
    let path = png(dir, "slices.png", (1200, height), |root| {
        let (top, bottom) = root.split_vertically(height - legend_h);
        let mut chart = ChartBuilder::on(&top)
            .caption(
                "ROC AUC per slice by run (validation rows; † fewer than min_rows)",
                (FONT, 22),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(300)
            .build_cartesian_2d(x0..1f64, 0f64..n as f64)
            .map_err(pe)?;
        let marked: Vec<String> = labels
            .iter()
            .zip(&rows)
            .map(|(l, (c, v))| {
                let small = runs
                    .iter()
                    .filter_map(|(_, r)| r.slice(c, v))
                    .any(|s| !s.judged);
                if small {
                    format!("{l} †")
                } else {
                    l.clone()
                }
            })
            .collect();
        let fmt = row_label(&marked);
        chart
            .configure_mesh()
            .labelled_rows(n, &fmt)
            .x_desc("ROC AUC")
            .house_style(15, 13)
            .draw()
            .map_err(pe)?;
        let band = 0.8 / runs.len() as f64;
        for (k, (label, r)) in runs.iter().enumerate() {
            let col = color(k);
            let bars: Vec<_> = rows
                .iter()
                .enumerate()
                .filter_map(|(i, (c, v))| {
                    let auc = r.slice(c, v)?.roc_auc?;
                    let y = (n - 1 - i) as f64 + 0.9 - (k + 1) as f64 * band;
                    Some(Rectangle::new(
                        [(x0, y), (auc, y + band * 0.9)],
                        col.filled(),
                    ))
                })
                .collect();
            let odds: Vec<String> = r
                .columns
                .iter()
                .filter_map(|c| Some(format!("{} {:.3}", c.column, c.equalized_odds_difference?)))
                .collect();
            let name = if odds.is_empty() {
                label.clone()
            } else {
                format!("{label} · equalized odds: {}", odds.join(", "))
            };
            chart.draw_series(bars).map_err(pe)?;
            let y = 10 + 22 * k as i32;
            bottom
                .draw(&Rectangle::new([(316, y + 4), (330, y + 16)], col.filled()))
                .map_err(pe)?;
            bottom
                .draw(&Text::new(
                    name,
                    (338, y + 10),
                    anchored(14, plotters::style::text_anchor::HPos::Left),
                ))
                .map_err(pe)?;
        }
        Ok(())
    })?;
    Ok(Some(path))
}
