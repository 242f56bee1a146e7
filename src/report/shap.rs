//! SHAP charts of a model on a bounded sample of rows: `shap_summary.png`, a beeswarm (a row per
//! column, the columns with the largest mean |SHAP| on top, a dot per sampled row at its
//! contribution, coloured by the row's value from low to high) and `shap_dependence.png` (for
//! the top columns, each row's value against its contribution). The numbers come from
//! `crate::explain` (`shap_data`), which the charts only draw.
//!
//! The sample is the first `max_rows` rows of a file, explained one after the other until the
//! rows or the time budget run out: a gbdt row costs under a millisecond, a forest row about
//! 87 ms, so a forest report is bounded by time and says how many rows it used.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use plotters::prelude::*;
use serde::Serialize;

use super::style::*;
use crate::config::Config;
use crate::data::frame::ColumnData;
use crate::data::{Frame, Labels};
use crate::explain::{Explainer, Margin};
use crate::features::Encoded;

/// Columns the beeswarm shows at most, largest mean |SHAP| first.
pub const SUMMARY_COLUMNS: usize = 12;
/// Columns with a dependence plot: the top six, in a 3 × 2 grid.
pub const DEPENDENCE_COLUMNS: usize = 6;
/// `shap_summary.png`'s size in pixels.
pub const SUMMARY_SIZE: (u32, u32) = (1300, 820);
/// `shap_dependence.png`'s size in pixels.
pub const DEPENDENCE_SIZE: (u32, u32) = (1500, 920);
/// Rows sampled when not told: enough for a beeswarm's shape, seconds for a forest.
pub const DEFAULT_ROWS: usize = 500;
/// The time explaining the sample may take when not told.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(20);

/// One column's part in the sampled rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapColumn {
    pub column: String,
    /// The mean |contribution| over the sampled rows: the column's global importance.
    pub mean_abs: f64,
    /// Each sampled row's contribution, in the sample's order.
    pub contributions: Vec<f64>,
    /// Each row's value as text (empty when missing).
    pub values: Vec<String>,
    /// Each row's place on the dependence plot's x axis (a number's value, a category's
    /// index in `categories`); None when missing.
    pub x: Vec<Option<f64>>,
    /// A categorical column's categories in x order (numbers by their leading number, then
    /// text); empty for a numeric column.
    pub categories: Vec<String>,
}

impl ShapColumn {
    /// Where each row's value falls between the column's lowest (0) and highest (1): the dot's
    /// colour. None when missing.
    pub fn shade(&self) -> Vec<Option<f64>> {
        let (lo, hi) = finite_range(self.x.iter().flatten().copied());
        self.x
            .iter()
            .map(|v| v.map(|v| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }))
            .collect()
    }
}

/// What the SHAP charts draw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapData {
    pub input: PathBuf,
    pub alias: String,
    pub model_version: i64,
    pub margin: Margin,
    pub expected_value: f64,
    /// Rows explained: at most the rows asked for, fewer when the file or the time ran out.
    pub rows: usize,
    /// The time budget ran out before the rows did.
    pub stopped_by_time: bool,
    /// Every column, largest mean |contribution| first.
    pub columns: Vec<ShapColumn>,
}

/// Explains the first `max_rows` rows of `input` with the model behind `alias`, until the rows
/// or `budget` run out.
pub fn shap_sample(
    cfg: &Config,
    alias: &str,
    input: &Path,
    max_rows: usize,
    budget: Duration,
) -> anyhow::Result<ShapData> {
    anyhow::ensure!(max_rows > 0, "the SHAP sample needs at least one row");
    let (target, bundle, explainer) = crate::explain::file::load(cfg, alias)?;
    let chunk = crate::data::chunks::CsvChunks::open(input, max_rows)?
        .next()
        .with_context(|| format!("{}: no rows", input.display()))??;
    let frame = chunk.parse(input, &bundle.spec, Labels::Optional)?;
    let x = bundle
        .pipeline
        .encode(&frame)
        .with_context(|| format!("{}: encoding its rows", input.display()))?;
    let (columns, rows, stopped_by_time) = shap_data(&explainer, &frame, &x, budget);
    anyhow::ensure!(rows > 0, "{}: no rows to explain", input.display());
    Ok(ShapData {
        input: input.to_path_buf(),
        alias: alias.to_string(),
        model_version: target.version,
        margin: explainer.margin(),
        expected_value: explainer.expected_value(),
        rows,
        stopped_by_time,
        columns,
    })
}

/// Every column's contributions over the rows of `frame` (encoded as `x`), explained in order
/// until `budget` runs out (at least one row is); returns the columns, largest mean |SHAP|
/// first, the rows explained and whether time ran out first.
pub fn shap_data(
    explainer: &Explainer,
    frame: &Frame,
    x: &Encoded,
    budget: Duration,
) -> (Vec<ShapColumn>, usize, bool) {
    let start = Instant::now();
    let n = x.n_rows().min(frame.n_rows());
    let width = explainer.columns().len();
    let mut by_row: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut ws = explainer.workspace();
    let mut phi = vec![0.0; explainer.n_features()];
    let mut stopped = false;
    for i in 0..n {
        if i > 0 && start.elapsed() > budget {
            stopped = true;
            break;
        }
        let dense = x.dense(i..i + 1);
        let row: Vec<f64> = dense.iter().copied().collect();
        let mut by = vec![0.0; width];
        explainer.explain_row(&row, &mut ws, &mut phi);
        explainer.by_column(&phi, &mut by);
        by_row.push(by);
    }
    let rows = by_row.len();
    let mut columns: Vec<ShapColumn> = explainer
        .columns()
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let contributions: Vec<f64> = by_row.iter().map(|r| r[c]).collect();
            let mean_abs = contributions.iter().map(|v| v.abs()).sum::<f64>() / rows.max(1) as f64;
            let (values, x, categories) = positions(frame, name, rows);
            ShapColumn {
                column: name.clone(),
                mean_abs,
                contributions,
                values,
                x,
                categories,
            }
        })
        .collect();
    columns.sort_by(|a, b| b.mean_abs.total_cmp(&a.mean_abs));
    (columns, rows, stopped)
}

/// The first `rows` values of `column` as text, their places on an x axis, and a categorical
/// column's categories in that order.
fn positions(
    frame: &Frame,
    column: &str,
    rows: usize,
) -> (Vec<String>, Vec<Option<f64>>, Vec<String>) {
    let values: Vec<String> = (0..rows)
        .map(|i| crate::explain::file::cell_text(frame, column, i))
        .collect();
    match frame.column(column) {
        Some(ColumnData::Numeric(v)) => {
            let x = v
                .iter()
                .take(rows)
                .map(|&v| Some(v).filter(|v| v.is_finite()))
                .collect();
            (values, x, Vec::new())
        }
        _ => {
            let mut categories: Vec<String> =
                values.iter().filter(|v| !v.is_empty()).cloned().collect();
            categories.sort_by(|a, b| category_order(a, b));
            categories.dedup();
            let x = values
                .iter()
                .map(|v| {
                    categories
                        .binary_search_by(|c| category_order(c, v))
                        .ok()
                        .map(|i| i as f64)
                })
                .collect();
            (values, x, categories)
        }
    }
}

/// Categories by their leading number when both have one (`11-20` after `0-10`), else as text.
fn category_order(a: &str, b: &str) -> std::cmp::Ordering {
    let lead = |s: &str| -> Option<f64> {
        let end = s
            .char_indices()
            .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && *c == '-')))
            .map_or(s.len(), |(i, _)| i);
        s[..end].parse().ok()
    };
    match (lead(a), lead(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

fn finite_range(v: impl Iterator<Item = f64>) -> (f64, f64) {
    v.filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        })
}

/// Low values blue, high values red, through purple (shap's colours); missing grey.
fn shade_colour(t: Option<f64>) -> RGBColor {
    match t {
        None => RGBColor(170, 170, 170),
        Some(t) => {
            let t = t.clamp(0.0, 1.0);
            let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
            RGBColor(mix(0, 255), mix(138, 0), mix(230, 82))
        }
    }
}

/// The margin's words on an axis.
fn scale(d: &ShapData) -> &'static str {
    match d.margin {
        Margin::Probability => "probability",
        Margin::LogOdds => "log-odds",
    }
}

/// Draws `shap_summary.png` and `shap_dependence.png` into `dir`; `positive` names the
/// positive class in the spec's words.
pub fn render_shap(d: &ShapData, positive: &str, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(
        !d.columns.is_empty() && d.rows > 0,
        "nothing to chart: no column or no row was explained"
    );
    let file = d.input.file_name().map_or_else(
        || d.input.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let what = format!(
        "'{}' (version {}) on {} rows of {file}{}",
        d.alias,
        d.model_version,
        crate::util::thousands(d.rows),
        if d.stopped_by_time {
            " (time budget)"
        } else {
            ""
        }
    );
    Ok(vec![
        summary(d, positive, &what, dir)?,
        dependence(d, &what, dir)?,
    ])
}

/// The beeswarm: a row per column, top first; dots stacked where they crowd.
fn summary(d: &ShapData, positive: &str, what: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let cols: Vec<&ShapColumn> = d.columns.iter().take(SUMMARY_COLUMNS).collect();
    let n = cols.len();
    let labels: Vec<String> = cols
        .iter()
        .map(|c| format!("{} ({:.3})", c.column, c.mean_abs))
        .collect();
    let (lo, hi) = finite_range(cols.iter().flat_map(|c| c.contributions.iter().copied()));
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let (x0, x1) = (lo.min(0.0) - pad, hi.max(0.0) + pad);
    png(dir, "shap_summary.png", SUMMARY_SIZE, |root| {
        let (plot, bar) = root.split_horizontally(SUMMARY_SIZE.0 - 110);
        let mut chart = ChartBuilder::on(&plot)
            .caption(format!("SHAP values of {what}"), (FONT, 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(320)
            .build_cartesian_2d(x0..x1, 0f64..n as f64)
            .map_err(pe)?;
        let fmt = row_label(&labels);
        chart
            .configure_mesh()
            .labelled_rows(n, &fmt)
            .x_desc(format!(
                "contribution to the {} of {positive} (column: mean |SHAP|)",
                scale(d)
            ))
            .house_style(15, 13)
            .draw()
            .map_err(pe)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (0.0, n as f64)],
                RGBColor(120, 120, 120).stroke_width(1),
            )))
            .map_err(pe)?;
        let bins = 160usize;
        for (k, c) in cols.iter().enumerate() {
            let centre = (n - 1 - k) as f64 + 0.5;
            let shades = c.shade();
            // Each dot's offset from the row's centre: alternately above and below, further
            // out the more dots share its bin.
            let mut counts = vec![0usize; bins];
            let slot = |v: f64| (((v - x0) / (x1 - x0)) * bins as f64) as usize;
            let most = c
                .contributions
                .iter()
                .fold(vec![0usize; bins], |mut acc, &v| {
                    acc[slot(v).min(bins - 1)] += 1;
                    acc
                })
                .into_iter()
                .max()
                .unwrap_or(1)
                .max(1);
            let step = (0.4 / most as f64 * 2.0).min(0.04);
            let dots: Vec<Circle<(f64, f64), u32>> = c
                .contributions
                .iter()
                .zip(&shades)
                .map(|(&v, &s)| {
                    let b = slot(v).min(bins - 1);
                    let i = counts[b];
                    counts[b] += 1;
                    let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                    let y = centre + sign * step * i.div_ceil(2) as f64;
                    Circle::new((v, y), 3, shade_colour(s).filled())
                })
                .collect();
            chart.draw_series(dots).map_err(pe)?;
        }
        // The colour bar: a column's lowest value at the bottom, its highest at the top.
        let (top, bottom) = (80i32, SUMMARY_SIZE.1 as i32 - 100);
        for y in top..bottom {
            let t = 1.0 - (y - top) as f64 / (bottom - top) as f64;
            bar.draw(&Rectangle::new(
                [(30, y), (50, y + 1)],
                shade_colour(Some(t)).filled(),
            ))
            .map_err(pe)?;
        }
        let left = anchored(14, plotters::style::text_anchor::HPos::Left);
        for (text, y) in [
            ("high", top),
            ("low", bottom),
            ("value", (top + bottom) / 2),
            ("missing", bottom + 30),
        ] {
            bar.draw(&Text::new(text, (56, y), left.clone()))
                .map_err(pe)?;
        }
        bar.draw(&Rectangle::new(
            [(30, bottom + 24), (50, bottom + 36)],
            shade_colour(None).filled(),
        ))
        .map_err(pe)?;
        Ok(())
    })
}

/// Each top column's value against its contribution, in a 3 × 2 grid.
fn dependence(d: &ShapData, what: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let cols: Vec<&ShapColumn> = d.columns.iter().take(DEPENDENCE_COLUMNS).collect();
    png(dir, "shap_dependence.png", DEPENDENCE_SIZE, |root| {
        let root = root
            .titled(&format!("SHAP dependence: {what}"), (FONT, 20))
            .map_err(pe)?;
        let panels = root.split_evenly((2, 3));
        for (c, panel) in cols.iter().zip(panels.iter()) {
            let pts: Vec<(f64, f64)> =
                c.x.iter()
                    .zip(&c.contributions)
                    .filter_map(|(x, &y)| x.map(|x| (x, y)))
                    .collect();
            let missing = c.x.len() - pts.len();
            let (xl, xh) = if c.categories.is_empty() {
                let (lo, hi) = finite_range(pts.iter().map(|p| p.0));
                let pad = ((hi - lo) * 0.05).max(0.5);
                (lo - pad, hi + pad)
            } else {
                (-0.5, c.categories.len() as f64 - 0.5)
            };
            let (yl, yh) = finite_range(c.contributions.iter().copied());
            let pad = ((yh - yl) * 0.08).max(1e-6);
            let (xl, xh) = if xl.is_finite() { (xl, xh) } else { (0.0, 1.0) };
            let mut chart = ChartBuilder::on(panel)
                .caption(
                    if missing > 0 {
                        format!("{} ({missing} missing not shown)", c.column)
                    } else {
                        c.column.clone()
                    },
                    (FONT, 16),
                )
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(60)
                .build_cartesian_2d(xl..xh, (yl - pad)..(yh + pad))
                .map_err(pe)?;
            let cats = &c.categories;
            let ticks = |v: &f64| -> String {
                if cats.is_empty() {
                    crate::data::frame::canonical_number((v * 1000.0).round() / 1000.0)
                } else {
                    let i = v.round();
                    if (v - i).abs() < 0.01 && i >= 0.0 {
                        cats.get(i as usize)
                            .map(|s| crate::util::clip(s, 12).into_owned())
                            .unwrap_or_default()
                    } else {
                        String::new()
                    }
                }
            };
            let mut mesh = chart.configure_mesh();
            mesh.x_label_formatter(&ticks)
                .y_desc(format!("SHAP ({})", scale(d)))
                .house_style(13, 11);
            if !cats.is_empty() {
                mesh.x_labels(cats.len().min(12) * 2 + 1);
            }
            mesh.draw().map_err(pe)?;
            let col = color(0);
            chart
                .draw_series(
                    pts.iter()
                        .map(|&p| Circle::new(p, 3, col.mix(0.6).filled())),
                )
                .map_err(pe)?;
        }
        Ok(())
    })
}
