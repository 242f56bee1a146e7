//! The scoring chart: the probability histogram with the threshold marked.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::style::*;

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
                    "{} rows of {} scored by '{}' (version {}): {:.1} % {}",
                    crate::util::thousands(s.rows),
                    s.input
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                    s.alias,
                    s.model_version,
                    100.0 * s.positive_share,
                    s.positive_class
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
            .x_desc(format!("Predicted probability: {}", s.positive_class))
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
