//! The house style every chart shares: the embedded font, the palette, the mesh, legends, lines,
//! and drawing through a temporary file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, Context};
use plotters::prelude::*;
use plotters::style::FontStyle;

pub(crate) const FONT: &str = "sans-serif";

/// Tableau's ten colours: distinct, and readable for most colour-blind readers.
pub(crate) const PALETTE: [RGBColor; 10] = [
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

pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Registers the embedded font once per process.
pub(crate) fn fonts() -> anyhow::Result<()> {
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

pub(crate) fn pe<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Draws into `dir/name` through a temporary file and a rename.
pub(crate) fn png(
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
/// The tick formatter of a chart whose rows are `labels`, first at the top.
pub(crate) fn row_label(labels: &[String]) -> impl Fn(&f64) -> String + '_ {
    move |y| centre_label(labels, *y, true).cloned().unwrap_or_default()
}

pub(crate) fn centre_label(labels: &[String], v: f64, from_top: bool) -> Option<&String> {
    let i = v.floor() as usize;
    if (v.fract() - 0.5).abs() >= 0.01 || i >= labels.len() {
        return None;
    }
    labels.get(if from_top { labels.len() - 1 - i } else { i })
}

/// Black text of `size` anchored at `h` horizontally and centred vertically.
pub(crate) fn anchored(size: u32, h: plotters::style::text_anchor::HPos) -> TextStyle<'static> {
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
pub(crate) trait HouseStyle {
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

/// A chart whose rows are labels: no horizontal grid, one tick per row, the labels as ticks.
pub(crate) trait LabelledRows<'b> {
    fn labelled_rows(&mut self, n: usize, fmt: &'b dyn Fn(&f64) -> String) -> &mut Self;
}

impl<'b, X: Ranged, Y: Ranged<ValueType = f64>, DB: DrawingBackend> LabelledRows<'b>
    for plotters::chart::MeshStyle<'_, 'b, X, Y, DB>
{
    fn labelled_rows(&mut self, n: usize, fmt: &'b dyn Fn(&f64) -> String) -> &mut Self {
        self.disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(fmt)
    }
}

pub(crate) type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The legend box every chart uses.
pub(crate) fn legend<'a, 'b: 'a>(
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
pub(crate) fn diagonal<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, label: &str) -> anyhow::Result<()> {
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
pub(crate) fn line<'a, 'b: 'a>(
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
pub(crate) fn dashed<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    from: (f64, f64),
    to: (f64, f64),
    style: ShapeStyle,
    label: String,
) -> anyhow::Result<()> {
    let legend_style = ShapeStyle {
        stroke_width: 2,
        ..style
    };
    // The legend's sample is dashed like the line: three dashes.
    chart
        .draw_series(DashedLineSeries::new(vec![from, to], 6, 4, style))
        .map_err(pe)?
        .label(label)
        .legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (5, 0)], legend_style)
                + PathElement::new(vec![(9, 0), (14, 0)], legend_style)
                + PathElement::new(vec![(18, 0), (23, 0)], legend_style)
        });
    Ok(())
}
