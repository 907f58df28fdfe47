//! Figures as data (`Figure`) and their drawing, the same on the bitmap and SVG backends; legends
//! in a panel beside the chart.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::error::{DrawError, PlotError};
use crate::output::write_atomic;

pub(super) const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

pub(super) const SIZE: (u32, u32) = (1100, 620);

pub(super) const LEGEND_WIDTH: u32 = 250;

pub(super) fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse; a failure would only lose text.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Distinct colours, in order: the ten of Tableau's palette, then ten more of other hues and
/// lightness, so the largest shipped figure (sixteen mechanisms) repeats none.
pub(super) fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 20] = [
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
        RGBColor(0, 0, 0),
        RGBColor(0, 0, 128),
        RGBColor(128, 0, 0),
        RGBColor(0, 128, 128),
        RGBColor(255, 215, 0),
        RGBColor(128, 128, 0),
        RGBColor(255, 160, 160),
        RGBColor(80, 220, 100),
        RGBColor(106, 61, 154),
        RGBColor(180, 180, 255),
    ];
    C[i % C.len()]
}

/// One estimate read back from a CSV.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Est {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// Named lines of `(x, estimate)` points.
pub(super) type Lines = Vec<(String, Vec<(f64, Est)>)>;

/// A chart with a legend panel at its right: `series` names with their colours.
pub(super) fn with_legend<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    series: &[(String, RGBColor)],
) -> Result<DrawingArea<DB, Shift>, DrawError> {
    let (chart, legend) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    for (i, (name, c)) in series.iter().enumerate() {
        let y = 60 + i as i32 * 24;
        legend.draw(&Rectangle::new([(6, y - 6), (22, y + 6)], c.filled()))?;
        legend.draw(&Text::new(name.clone(), (30, y - 8), ("sans-serif", 15).into_font()))?;
    }
    Ok(chart)
}

/// A figure's data, drawn the same way on every backend.
pub(super) enum Figure {
    CostVsPass {
        title: String,
        names: Vec<String>,
        cost: Vec<Est>,
        pass: Vec<Est>,
    },
    Lines {
        title: String,
        x_desc: String,
        y_desc: String,
        series: Lines,
    },
    Bars {
        title: String,
        x_desc: String,
        y_desc: String,
        groups: Vec<String>,
        series: Vec<(String, Vec<f64>)>,
    },
    /// Grouped bars of estimates with their 95% intervals, on an axis through zero (values
    /// of either sign).
    IntervalBars {
        title: String,
        x_desc: String,
        y_desc: String,
        groups: Vec<String>,
        series: Vec<(String, Vec<Est>)>,
    },
    Stacked {
        title: String,
        groups: Vec<String>,
        agents: Vec<String>,
        panels: Vec<(String, Vec<Vec<f64>>)>,
    },
    /// One panel of lines per group (e.g. per mechanism), the same series (e.g. agents) in each.
    LinePanels {
        title: String,
        x_desc: String,
        y_desc: String,
        series: Vec<String>,
        panels: Vec<(String, Lines)>,
    },
    /// Accuracy against the share of strong-agent calls: curves and single points, with the
    /// line of random mixtures between the weak and the strong agent.
    Routing {
        title: String,
        strong: String,
        series: Vec<(String, Vec<(f64, f64)>)>,
        mixture: [(f64, f64); 2],
    },
}

pub(super) fn render<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    figure: &Figure,
) -> Result<(), DrawError> {
    match figure {
        Figure::CostVsPass { title, names, cost, pass } => cost_vs_pass(root, title, names, cost, pass),
        Figure::Lines { title, x_desc, y_desc, series } => lines_with_bands(root, title, x_desc, y_desc, series),
        Figure::Bars { title, x_desc, y_desc, groups, series } => {
            grouped_bars(root, title, x_desc, y_desc, groups, series)
        }
        Figure::IntervalBars { title, x_desc, y_desc, groups, series } => {
            interval_bars(root, title, x_desc, y_desc, groups, series)
        }
        Figure::Stacked { title, groups, agents, panels } => stacked_panels(root, title, groups, agents, panels),
        Figure::LinePanels { title, x_desc, y_desc, series, panels } => {
            line_panels(root, title, x_desc, y_desc, series, panels)
        }
        Figure::Routing { title, strong, series, mixture } => routing_curves(root, title, strong, series, *mixture),
    }
}

/// Draw `figure` to `stem.png` and `stem.svg` in `dir`.
pub(super) fn both(dir: &Path, stem: &str, figure: &Figure) -> Result<Vec<PathBuf>, PlotError> {
    fonts();
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let fail = |path: &Path, source: DrawError| PlotError::Draw { path: path.to_path_buf(), source };
    // The bitmap backend encodes to a file only: it draws to a scratch file that is then written
    // through the one atomic writer, so a reader never sees half a plot.
    let scratch = tempfile::Builder::new().prefix(&format!(".{stem}")).suffix(".png").tempfile_in(dir);
    let scratch = scratch.map_err(|e| fail(&png, e.into()))?;
    {
        let root = BitMapBackend::new(scratch.path(), SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&png, e.into()))?;
        render(&root, figure).map_err(|m| fail(&png, m))?;
        root.present().map_err(|e| fail(&png, e.into()))?;
    }
    let bytes = std::fs::read(scratch.path()).map_err(|e| fail(&png, e.into()))?;
    write_atomic(&png, |w| w.write_all(&bytes))?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&svg, e.into()))?;
        render(&root, figure).map_err(|m| fail(&svg, m))?;
        root.present().map_err(|e| fail(&svg, e.into()))?;
    }
    write_atomic(&svg, |w| w.write_all(text.as_bytes()))?;
    Ok(vec![png, svg])
}

pub(super) fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let span = (hi - lo).abs().max(1e-9);
    (lo - 0.08 * span, hi + 0.08 * span)
}

/// Indices of the points on the cost–quality Pareto frontier (no other point is at least as
/// cheap and at least as good, and strictly better in one), sorted by cost.
#[must_use]
pub fn pareto(points: &[(f64, f64)]) -> Vec<usize> {
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let (c, p) = points[i];
            c.is_finite() && p.is_finite() && !points.iter().any(|&(c2, p2)| c2 <= c && p2 >= p && (c2 < c || p2 > p))
        })
        .collect();
    front.sort_by(|&a, &b| points[a].0.total_cmp(&points[b].0));
    front
}

/// Cost ($ per million tokens) against pass@1, with 95% whiskers and the Pareto frontier.
pub(super) fn cost_vs_pass<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    names: &[String],
    cost: &[Est],
    pass: &[Est],
) -> Result<(), DrawError> {
    // Colours repeat beyond ten series, so every point carries its legend number too.
    let series: Vec<(String, RGBColor)> =
        names.iter().enumerate().map(|(i, n)| (format!("{} {n}", i + 1), colour(i))).collect();
    let area = with_legend(root, &series)?;
    let fin = |v: &[Est], f: fn(&Est) -> f64| v.iter().map(f).filter(|x| x.is_finite()).collect::<Vec<_>>();
    let xs = fin(cost, |e| if e.high.is_finite() { e.high } else { e.mean });
    let xl = fin(cost, |e| if e.low.is_finite() { e.low } else { e.mean });
    let ys = fin(pass, |e| if e.high.is_finite() { e.high } else { e.mean });
    let yl = fin(pass, |e| if e.low.is_finite() { e.low } else { e.mean });
    let (x0, x1) =
        padded(xl.iter().copied().fold(f64::INFINITY, f64::min), xs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let (y0, y1) = padded(
        yl.iter().copied().fold(f64::INFINITY, f64::min) * 100.0,
        ys.iter().copied().fold(f64::NEG_INFINITY, f64::max) * 100.0,
    );
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(64)
        .build_cartesian_2d(x0.max(0.0)..x1, y0.max(0.0)..y1.min(100.0))?;
    chart
        .configure_mesh()
        .x_desc("cost ($ per million tokens)")
        .y_desc("pass@1 (%)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    let pts: Vec<(f64, f64)> = cost.iter().zip(pass).map(|(c, p)| (c.mean, p.mean * 100.0)).collect();
    let front = pareto(&pts);
    chart.draw_series(LineSeries::new(front.iter().map(|&i| pts[i]), BLACK.mix(0.5).stroke_width(2)))?;
    for (i, (c, p)) in cost.iter().zip(pass).enumerate() {
        if !(c.mean.is_finite() && p.mean.is_finite()) {
            continue;
        }
        let col = colour(i);
        let (x, y) = (c.mean, p.mean * 100.0);
        if c.low.is_finite() {
            chart.draw_series(std::iter::once(PathElement::new(vec![(c.low, y), (c.high, y)], col.stroke_width(2))))?;
        }
        if p.low.is_finite() {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, p.low * 100.0), (x, p.high * 100.0)],
                col.stroke_width(2),
            )))?;
        }
        chart.draw_series(std::iter::once(Circle::new((x, y), 6, col.filled())))?;
        let label =
            EmptyElement::at((x, y)) + Text::new(format!("{}", i + 1), (7, -18), ("sans-serif", 14).into_font());
        chart.draw_series(std::iter::once(label))?;
    }
    area.draw(&Text::new(
        "grey line: Pareto frontier (cheaper and better)",
        (80, SIZE.1 as i32 - 22),
        ("sans-serif", 13).into_font(),
    ))?;
    Ok(())
}

pub(super) fn routing_curves<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    strong: &str,
    series: &[(String, Vec<(f64, f64)>)],
    mixture: [(f64, f64); 2],
) -> Result<(), DrawError> {
    let legend: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(i, (n, _))| (n.clone(), colour(i))).collect();
    let area = with_legend(root, &legend)?;
    let ys: Vec<f64> = series.iter().flat_map(|(_, v)| v.iter().map(|p| p.1)).filter(|y| y.is_finite()).collect();
    let (y0, y1) =
        padded(ys.iter().copied().fold(f64::INFINITY, f64::min), ys.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(64)
        .build_cartesian_2d(-2.0..102.0, y0.max(0.0)..y1.min(100.0))?;
    chart
        .configure_mesh()
        .x_desc(format!("calls to {strong} (%)"))
        .y_desc("accuracy (%)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    chart.draw_series(DashedLineSeries::new(mixture, 6, 5, BLACK.mix(0.45).stroke_width(2)))?;
    for (i, (_, points)) in series.iter().enumerate() {
        let col = colour(i);
        let mut pts: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        if pts.len() > 1 {
            chart.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))?;
        }
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, col.filled())))?;
    }
    for (i, line) in ["dashed: random mixtures of", "the weak and the strong", "agent (APGR 0.5)"].iter().enumerate() {
        root.draw(&Text::new(
            *line,
            (SIZE.0 as i32 - 250, SIZE.1 as i32 - 80 + 18 * i as i32),
            ("sans-serif", 14).into_font(),
        ))?;
    }
    Ok(())
}

/// One line per series over a numeric x, with a confidence band.
pub(super) fn lines_with_bands<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &Lines,
) -> Result<(), DrawError> {
    let legend: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(i, (n, _))| (n.clone(), colour(i))).collect();
    let area = with_legend(root, &legend)?;
    let all: Vec<(f64, Est)> =
        series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|(_, e)| e.mean.is_finite()).collect();
    let (x0, x1) = padded(
        all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
        all.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
    );
    let lo = all.iter().map(|p| if p.1.low.is_finite() { p.1.low } else { p.1.mean }).fold(f64::INFINITY, f64::min);
    let hi =
        all.iter().map(|p| if p.1.high.is_finite() { p.1.high } else { p.1.mean }).fold(f64::NEG_INFINITY, f64::max);
    let (y0, y1) = padded(lo, hi);
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (i, (_, points)) in series.iter().enumerate() {
        let col = colour(i);
        let mut pts: Vec<(f64, Est)> = points.iter().copied().filter(|(_, e)| e.mean.is_finite()).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let band: Vec<(f64, f64)> = pts
            .iter()
            .map(|(x, e)| (*x, if e.high.is_finite() { e.high } else { e.mean }))
            .chain(pts.iter().rev().map(|(x, e)| (*x, if e.low.is_finite() { e.low } else { e.mean })))
            .collect();
        if band.len() > 2 {
            chart.draw_series(std::iter::once(Polygon::new(band, col.mix(0.18).filled())))?;
        }
        chart.draw_series(LineSeries::new(pts.iter().map(|(x, e)| (*x, e.mean)), col.stroke_width(2)))?;
        // Markers only where they can be told apart.
        if pts.len() <= 40 {
            chart.draw_series(pts.iter().map(|(x, e)| Circle::new((*x, e.mean), 4, col.filled())))?;
        }
    }
    Ok(())
}

/// Small multiples' layout: a legend of `series` in their colours, the title, and `n` panel
/// cells, three to a row.
fn panel_cells<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[String],
    n: usize,
) -> Result<Vec<DrawingArea<DB, Shift>>, DrawError> {
    let legend: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(i, s)| (s.clone(), colour(i))).collect();
    let area = with_legend(root, &legend)?.titled(title, ("sans-serif", 22))?;
    let cols = 3usize.min(n.max(1));
    Ok(area.split_evenly((n.div_ceil(cols).max(1), cols)))
}

/// Small multiples: one panel per group, each series a line in its colour; panels share the
/// y range (0 to the highest value) and each spans its own x range.
pub(super) fn line_panels<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[String],
    panels: &[(String, Lines)],
) -> Result<(), DrawError> {
    let finite = |l: &Lines| {
        l.iter().flat_map(|(_, v)| v.iter().map(|p| p.1.mean)).filter(|y| y.is_finite()).collect::<Vec<_>>()
    };
    let top = panels.iter().flat_map(|(_, l)| finite(l)).fold(0.0_f64, f64::max).max(1e-9) * 1.05;
    for (cell, (name, lines)) in panel_cells(root, title, series, panels.len())?.iter().zip(panels) {
        let x1 = lines.iter().flat_map(|(_, v)| v.iter().map(|p| p.0)).fold(0.0_f64, f64::max).max(1e-9);
        let mut chart = ChartBuilder::on(cell)
            .caption(name, ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..x1, 0.0..top)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(4)
            .y_labels(4)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(("sans-serif", 10))
            .axis_desc_style(("sans-serif", 10))
            .draw()?;
        for (i, (_, points)) in lines.iter().enumerate() {
            let pts = points.iter().filter(|p| p.1.mean.is_finite()).map(|p| (p.0, p.1.mean));
            chart.draw_series(LineSeries::new(pts, colour(i).stroke_width(2)))?;
        }
    }
    Ok(())
}

/// Grouped bars: for each group (x), one bar per series.
pub(super) fn grouped_bars<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<(), DrawError> {
    let legend: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(i, (n, _))| (n.clone(), colour(i))).collect();
    let area = with_legend(root, &legend)?;
    let n = series.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(60)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..groups.len() as f64, 0.0..105.0)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = (x - 0.5).round();
            if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                groups.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (s, (_, values)) in series.iter().enumerate() {
        let col = colour(s);
        chart.draw_series(values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(g, v)| {
            let left = g as f64 + 0.1 + 0.8 * s as f64 / n;
            Rectangle::new([(left, 0.0), (left + 0.8 / n, *v)], col.filled())
        }))?;
    }
    Ok(())
}

/// Grouped bars of estimates from zero, each with its 95% interval as a whisker: upright, or
/// lying along the value axis when the groups' labels would not fit side by side.
pub(super) fn interval_bars<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    group_desc: &str,
    value_desc: &str,
    groups: &[String],
    series: &[(String, Vec<Est>)],
) -> Result<(), DrawError> {
    let legend: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(i, (n, _))| (n.clone(), colour(i))).collect();
    let area = with_legend(root, &legend)?;
    let n = series.len().max(1) as f64;
    let ends =
        series.iter().flat_map(|(_, v)| v.iter()).flat_map(|e| [e.mean, e.low, e.high]).filter(|x| x.is_finite());
    let (lo, hi) = ends.fold((0.0f64, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (v0, v1) = padded(lo, hi);
    let count = groups.len() as f64;
    // About 7 pixels a character at the labels' size.
    let longest = groups.iter().map(|g| g.chars().count()).max().unwrap_or(0) as f64 * 7.0;
    let lying = longest > f64::from(SIZE.0 - LEGEND_WIDTH - 100) / count.max(1.0);
    let label = |x: f64| {
        let i = (x - 0.5).round();
        if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
            groups.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    // Where series `s`'s bar for group `g` starts along the group axis.
    let start = |g: usize, s: usize| g as f64 + 0.1 + 0.8 * s as f64 / n;
    let whisker = |e: &Est| e.low.is_finite() && e.high.is_finite();
    if lying {
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size((longest as u32 + 16).min(420))
            .build_cartesian_2d(v0..v1, 0.0..count)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(groups.len() * 2 + 1)
            .y_label_formatter(&|y| label(count - y))
            .x_desc(value_desc)
            .y_desc(group_desc)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (0.0, count)], BLACK.stroke_width(1))))?;
        for (s, (_, values)) in series.iter().enumerate() {
            let col = colour(s);
            // The first group on top.
            let top = |g: usize| count - start(g, s);
            let shown = || values.iter().enumerate().filter(|(_, e)| e.mean.is_finite());
            chart.draw_series(
                shown().map(|(g, e)| Rectangle::new([(0.0, top(g)), (e.mean, top(g) - 0.8 / n)], col.filled())),
            )?;
            chart.draw_series(shown().filter(|(_, e)| whisker(e)).map(|(g, e)| {
                let mid = top(g) - 0.4 / n;
                PathElement::new(vec![(e.low, mid), (e.high, mid)], BLACK.stroke_width(2))
            }))?;
        }
        return Ok(());
    }
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..count, v0..v1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&|x| label(*x))
        .x_desc(group_desc)
        .y_desc(value_desc)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (count, 0.0)], BLACK.stroke_width(1))))?;
    for (s, (_, values)) in series.iter().enumerate() {
        let col = colour(s);
        let shown = || values.iter().enumerate().filter(|(_, e)| e.mean.is_finite());
        chart.draw_series(
            shown().map(|(g, e)| Rectangle::new([(start(g, s), 0.0), (start(g, s) + 0.8 / n, e.mean)], col.filled())),
        )?;
        chart.draw_series(shown().filter(|(_, e)| whisker(e)).map(|(g, e)| {
            let mid = start(g, s) + 0.4 / n;
            PathElement::new(vec![(mid, e.low), (mid, e.high)], BLACK.stroke_width(2))
        }))?;
    }
    Ok(())
}

/// Stacked bars of shares, one small panel per mechanism.
pub(super) fn stacked_panels<DB: DrawingBackend<ErrorType: 'static>>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    groups: &[String],
    agents: &[String],
    panels: &[(String, Vec<Vec<f64>>)],
) -> Result<(), DrawError> {
    for (cell, (name, shares)) in panel_cells(root, title, agents, panels.len())?.iter().zip(panels) {
        let mut chart = ChartBuilder::on(cell)
            .caption(name, ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(18)
            .y_label_area_size(36)
            .build_cartesian_2d(0.0..groups.len() as f64, 0.0..100.0)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(3)
            .y_desc("% of tasks")
            .label_style(("sans-serif", 10))
            .axis_desc_style(("sans-serif", 10))
            .draw()?;
        for (g, per_agent) in shares.iter().enumerate() {
            let mut base = 0.0;
            for (a, v) in per_agent.iter().enumerate() {
                let v = if v.is_finite() { v * 100.0 } else { 0.0 };
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(g as f64 + 0.1, base), (g as f64 + 0.9, base + v)],
                    colour(a).filled(),
                )))?;
                base += v;
            }
        }
    }
    let note = format!("bars, left to right: {}", groups.join(" · "));
    root.draw(&Text::new(note, (12, SIZE.1 as i32 - 18), ("sans-serif", 12).into_font()))?;
    Ok(())
}
