//! Plots of saved results (PNG and SVG) and a self-contained HTML report. Everything is drawn
//! from the files a run or a sweep wrote; nothing is simulated again.
//!
//! Text uses DejaVu Sans, compiled in (`assets/`, Bitstream Vera licence), so no system font
//! library is needed. Legends sit in a panel beside the chart, never over the data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::output::write_atomic;
use crate::store::Manifest;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (1100, 620);
const LEGEND_WIDTH: u32 = 250;

/// Why plotting failed.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{0}: holds neither a run (summary.csv) nor a sweep (sweep.json and points.csv)")]
    NotResults(PathBuf),
    #[error("drawing {path}: {message}")]
    Draw { path: PathBuf, message: String },
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse; a failure would only lose text.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Distinct colours, in order: the ten of Tableau's palette, then ten more of other hues and
/// lightness, so the largest shipped figure (sixteen mechanisms) repeats none.
fn colour(i: usize) -> RGBColor {
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
struct Est {
    mean: f64,
    low: f64,
    high: f64,
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or(f64::NAN)
}

fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), PlotError> {
    let err = |message: String| PlotError::Read { path: path.to_path_buf(), message };
    let mut r = csv::ReaderBuilder::new().from_path(path).map_err(|e| err(e.to_string()))?;
    let header = r.headers().map_err(|e| err(e.to_string()))?.iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.map(|x| x.iter().map(String::from).collect()).map_err(|e| err(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok((header, rows))
}

fn column(header: &[String], name: &str, path: &Path) -> Result<usize, PlotError> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| PlotError::Read { path: path.to_path_buf(), message: format!("no column `{name}`") })
}

/// A chart with a legend panel at its right: `series` names with their colours.
fn with_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &[(String, RGBColor)],
) -> Result<DrawingArea<DB, Shift>, String> {
    let (chart, legend) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    for (i, (name, c)) in series.iter().enumerate() {
        let y = 60 + i as i32 * 24;
        legend.draw(&Rectangle::new([(6, y - 6), (22, y + 6)], c.filled())).map_err(|e| e.to_string())?;
        legend
            .draw(&Text::new(name.clone(), (30, y - 8), ("sans-serif", 15).into_font()))
            .map_err(|e| e.to_string())?;
    }
    Ok(chart)
}

/// Named lines of `(x, estimate)` points.
type Lines = Vec<(String, Vec<(f64, Est)>)>;

/// A figure's data, drawn the same way on every backend.
enum Figure {
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
    Stacked {
        title: String,
        groups: Vec<String>,
        agents: Vec<String>,
        panels: Vec<(String, Vec<Vec<f64>>)>,
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

fn render<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure) -> Result<(), String> {
    match figure {
        Figure::CostVsPass { title, names, cost, pass } => cost_vs_pass(root, title, names, cost, pass),
        Figure::Lines { title, x_desc, y_desc, series } => lines_with_bands(root, title, x_desc, y_desc, series),
        Figure::Bars { title, x_desc, y_desc, groups, series } => {
            grouped_bars(root, title, x_desc, y_desc, groups, series)
        }
        Figure::Stacked { title, groups, agents, panels } => stacked_panels(root, title, groups, agents, panels),
        Figure::Routing { title, strong, series, mixture } => routing_curves(root, title, strong, series, *mixture),
    }
}

/// Draw `figure` to `stem.png` and `stem.svg` in `dir`.
fn both(dir: &Path, stem: &str, figure: &Figure) -> Result<Vec<PathBuf>, PlotError> {
    fonts();
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let fail = |path: &Path, message: String| PlotError::Draw { path: path.to_path_buf(), message };
    // Draw to temporary names, then rename: a reader never sees half a plot.
    let tmp_png = dir.join(format!(".{stem}.tmp.png"));
    let tmp_svg = dir.join(format!(".{stem}.tmp.svg"));
    {
        let root = BitMapBackend::new(&tmp_png, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&png, e.to_string()))?;
        render(&root, figure).map_err(|m| fail(&png, m))?;
        root.present().map_err(|e| fail(&png, e.to_string()))?;
    }
    {
        let root = SVGBackend::new(&tmp_svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&svg, e.to_string()))?;
        render(&root, figure).map_err(|m| fail(&svg, m))?;
        root.present().map_err(|e| fail(&svg, e.to_string()))?;
    }
    std::fs::rename(&tmp_png, &png).map_err(|e| fail(&png, e.to_string()))?;
    std::fs::rename(&tmp_svg, &svg).map_err(|e| fail(&svg, e.to_string()))?;
    Ok(vec![png, svg])
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
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
fn cost_vs_pass<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    names: &[String],
    cost: &[Est],
    pass: &[Est],
) -> Result<(), String> {
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
        .build_cartesian_2d(x0.max(0.0)..x1, y0.max(0.0)..y1.min(100.0))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("cost ($ per million tokens)")
        .y_desc("pass@1 (%)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| e.to_string())?;
    let pts: Vec<(f64, f64)> = cost.iter().zip(pass).map(|(c, p)| (c.mean, p.mean * 100.0)).collect();
    let front = pareto(&pts);
    chart
        .draw_series(LineSeries::new(front.iter().map(|&i| pts[i]), BLACK.mix(0.5).stroke_width(2)))
        .map_err(|e| e.to_string())?;
    for (i, (c, p)) in cost.iter().zip(pass).enumerate() {
        if !(c.mean.is_finite() && p.mean.is_finite()) {
            continue;
        }
        let col = colour(i);
        let (x, y) = (c.mean, p.mean * 100.0);
        if c.low.is_finite() {
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(c.low, y), (c.high, y)], col.stroke_width(2))))
                .map_err(|e| e.to_string())?;
        }
        if p.low.is_finite() {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, p.low * 100.0), (x, p.high * 100.0)],
                    col.stroke_width(2),
                )))
                .map_err(|e| e.to_string())?;
        }
        chart.draw_series(std::iter::once(Circle::new((x, y), 6, col.filled()))).map_err(|e| e.to_string())?;
        let label =
            EmptyElement::at((x, y)) + Text::new(format!("{}", i + 1), (7, -18), ("sans-serif", 14).into_font());
        chart.draw_series(std::iter::once(label)).map_err(|e| e.to_string())?;
    }
    area.draw(&Text::new(
        "grey line: Pareto frontier (cheaper and better)",
        (80, SIZE.1 as i32 - 22),
        ("sans-serif", 13).into_font(),
    ))
    .map_err(|e| e.to_string())?;
    Ok(())
}

fn routing_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    strong: &str,
    series: &[(String, Vec<(f64, f64)>)],
    mixture: [(f64, f64); 2],
) -> Result<(), String> {
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
        .build_cartesian_2d(-2.0..102.0, y0.max(0.0)..y1.min(100.0))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(format!("calls to {strong} (%)"))
        .y_desc("accuracy (%)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(DashedLineSeries::new(mixture, 6, 5, BLACK.mix(0.45).stroke_width(2)))
        .map_err(|e| e.to_string())?;
    for (i, (_, points)) in series.iter().enumerate() {
        let col = colour(i);
        let mut pts: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        if pts.len() > 1 {
            chart.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2))).map_err(|e| e.to_string())?;
        }
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, col.filled()))).map_err(|e| e.to_string())?;
    }
    for (i, line) in ["dashed: random mixtures of", "the weak and the strong", "agent (APGR 0.5)"].iter().enumerate() {
        root.draw(&Text::new(
            *line,
            (SIZE.0 as i32 - 250, SIZE.1 as i32 - 80 + 18 * i as i32),
            ("sans-serif", 14).into_font(),
        ))
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The routing figure from `routing.csv`, when the run wrote one.
fn routing_figure(dir: &Path) -> Result<Option<Figure>, PlotError> {
    let path = dir.join("routing.csv");
    if !path.exists() {
        return Ok(None);
    }
    let (header, rows) = read_csv(&path)?;
    let (m, c, x, y, role) = (
        column(&header, "mechanism", &path)?,
        column(&header, "curve", &path)?,
        column(&header, "strong_share", &path)?,
        column(&header, "accuracy", &path)?,
        column(&header, "role", &path)?,
    );
    let strong = rows
        .iter()
        .find(|r| r[role] == "strong")
        .map_or("the strong agent".to_string(), |r| r[m].strip_suffix(" alone").unwrap_or(&r[m]).to_string());
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut mixture = [(0.0, f64::NAN), (100.0, f64::NAN)];
    for row in rows.iter().filter(|r| r[c] != "APGR") {
        if row[x].is_empty() {
            continue;
        }
        let point = (num(&row[x]) * 100.0, num(&row[y]) * 100.0);
        // Random mixtures run from the weak agent alone to the strong one alone.
        match row[role].as_str() {
            "weak" => mixture[0] = point,
            "strong" => mixture[1] = point,
            _ => {}
        }
        let name = if row[c].is_empty() { row[m].clone() } else { row[c].clone() };
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, pts)) => pts.push(point),
            None => series.push((name, vec![point])),
        }
    }
    Ok(Some(Figure::Routing {
        title: format!("Accuracy against the share of calls to {strong}"),
        strong,
        series,
        mixture,
    }))
}

/// One line per series over a numeric x, with a confidence band.
fn lines_with_bands<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &Lines,
) -> Result<(), String> {
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
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| e.to_string())?;
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
            chart
                .draw_series(std::iter::once(Polygon::new(band, col.mix(0.18).filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(LineSeries::new(pts.iter().map(|(x, e)| (*x, e.mean)), col.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        // Markers only where they can be told apart.
        if pts.len() <= 40 {
            chart
                .draw_series(pts.iter().map(|(x, e)| Circle::new((*x, e.mean), 4, col.filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Grouped bars: for each group (x), one bar per series.
fn grouped_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<(), String> {
    let legend: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(i, (n, _))| (n.clone(), colour(i))).collect();
    let area = with_legend(root, &legend)?;
    let n = series.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(60)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..groups.len() as f64, 0.0..105.0)
        .map_err(|e| e.to_string())?;
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
        .draw()
        .map_err(|e| e.to_string())?;
    for (s, (_, values)) in series.iter().enumerate() {
        let col = colour(s);
        chart
            .draw_series(values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(g, v)| {
                let left = g as f64 + 0.1 + 0.8 * s as f64 / n;
                Rectangle::new([(left, 0.0), (left + 0.8 / n, *v)], col.filled())
            }))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Stacked bars of shares, one small panel per mechanism.
fn stacked_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    groups: &[String],
    agents: &[String],
    panels: &[(String, Vec<Vec<f64>>)],
) -> Result<(), String> {
    let legend: Vec<(String, RGBColor)> = agents.iter().enumerate().map(|(i, n)| (n.clone(), colour(i))).collect();
    let area = with_legend(root, &legend)?;
    let area = area.titled(title, ("sans-serif", 22)).map_err(|e| e.to_string())?;
    let cols = 3usize.min(panels.len().max(1));
    let rows = panels.len().div_ceil(cols).max(1);
    for (cell, (name, shares)) in area.split_evenly((rows, cols)).iter().zip(panels) {
        let mut chart = ChartBuilder::on(cell)
            .caption(name, ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(18)
            .y_label_area_size(36)
            .build_cartesian_2d(0.0..groups.len() as f64, 0.0..100.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(3)
            .y_desc("% of tasks")
            .label_style(("sans-serif", 10))
            .axis_desc_style(("sans-serif", 10))
            .draw()
            .map_err(|e| e.to_string())?;
        for (g, per_agent) in shares.iter().enumerate() {
            let mut base = 0.0;
            for (a, v) in per_agent.iter().enumerate() {
                let v = if v.is_finite() { v * 100.0 } else { 0.0 };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(g as f64 + 0.1, base), (g as f64 + 0.9, base + v)],
                        colour(a).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                base += v;
            }
        }
    }
    let note = format!("bars, left to right: {}", groups.join(" · "));
    root.draw(&Text::new(note, (12, SIZE.1 as i32 - 18), ("sans-serif", 12).into_font())).map_err(|e| e.to_string())?;
    Ok(())
}

/// A run's saved results: the summary and what the per-task file says about learning.
struct RunData {
    mechanisms: Vec<String>,
    agents: Vec<String>,
    /// `(scope, metric) -> per mechanism`.
    estimates: BTreeMap<(String, String), BTreeMap<String, Est>>,
    bins: Vec<String>,
}

impl RunData {
    fn load(dir: &Path) -> Result<Self, PlotError> {
        let path = dir.join("summary.csv");
        let (header, rows) = read_csv(&path)?;
        let [m, s, k, mean, lo, hi] =
            ["mechanism", "scope", "metric", "mean", "ci_low", "ci_high"].map(|c| column(&header, c, &path));
        let (m, s, k, mean, lo, hi) = (m?, s?, k?, mean?, lo?, hi?);
        let mut mechanisms: Vec<String> = Vec::new();
        let mut agents: Vec<String> = Vec::new();
        let mut bins: Vec<String> = Vec::new();
        let mut estimates: BTreeMap<(String, String), BTreeMap<String, Est>> = BTreeMap::new();
        for r in &rows {
            if !mechanisms.contains(&r[m]) {
                mechanisms.push(r[m].clone());
            }
            if let Some(a) = r[k].strip_prefix("share:")
                && !agents.iter().any(|x| x == a)
            {
                agents.push(a.to_string());
            }
            if r[s].contains("/tau<=") && !bins.contains(&r[s]) {
                bins.push(r[s].clone());
            }
            estimates
                .entry((r[s].clone(), r[k].clone()))
                .or_default()
                .insert(r[m].clone(), Est { mean: num(&r[mean]), low: num(&r[lo]), high: num(&r[hi]) });
        }
        Ok(Self { mechanisms, agents, estimates, bins })
    }

    fn get(&self, scope: &str, metric: &str, mechanism: &str) -> Est {
        self.estimates
            .get(&(scope.to_string(), metric.to_string()))
            .and_then(|m| m.get(mechanism))
            .copied()
            .unwrap_or(Est { mean: f64::NAN, low: f64::NAN, high: f64::NAN })
    }
}

/// "DS = deep_search, C = coding": what the short domain names stand for.
fn domain_key(bins: &[String]) -> String {
    let mut domains: Vec<&str> = bins.iter().filter_map(|b| b.split_once("/tau<=").map(|(d, _)| d)).collect();
    domains.dedup();
    domains.iter().map(|d| format!("{} = {d}", crate::table::short(d))).collect::<Vec<_>>().join(", ")
}

/// The smallest agent's cumulative share of wins along the stream, averaged over episodes,
/// for every mechanism whose name starts with "SALE".
fn learning_curves(dir: &Path, smallest: &str) -> Result<Lines, PlotError> {
    // Per-task rows as written (`tasks.csv`), compressed (`tasks.csv.gz`), or not at all.
    let (plain, gz) = (dir.join("tasks.csv"), dir.join("tasks.csv.gz"));
    let path = if plain.exists() { plain } else { gz };
    let err = |message: String| PlotError::Read { path: path.clone(), message };
    let reader: Box<dyn std::io::Read> = match std::fs::File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lines::new()),
        Err(e) => return Err(err(e.to_string())),
        Ok(f) if path.extension().is_some_and(|e| e == "gz") => Box::new(flate2::read::GzDecoder::new(f)),
        Ok(f) => Box::new(f),
    };
    let mut r = csv::Reader::from_reader(reader);
    let header: Vec<String> = r.headers().map_err(|e| err(e.to_string()))?.iter().map(String::from).collect();
    let (e, m, st, w) = (
        column(&header, "episode", &path)?,
        column(&header, "mechanism", &path)?,
        column(&header, "step", &path)?,
        column(&header, "winner", &path)?,
    );
    // (mechanism) -> step -> (sum over episodes of cumulative share, episodes)
    let mut wins: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut sums: BTreeMap<String, Vec<(f64, usize)>> = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.map_err(|x| err(x.to_string()))?;
        let mech = &rec[m];
        if !mech.starts_with("SALE") {
            continue;
        }
        let key = (mech.to_string(), rec[e].to_string());
        let entry = wins.entry(key).or_insert((0, 0));
        entry.0 += usize::from(&rec[w] == smallest);
        entry.1 += 1;
        let step: usize = rec[st].parse().unwrap_or(0);
        let share = entry.0 as f64 / entry.1 as f64;
        let v = sums.entry(mech.to_string()).or_default();
        if v.len() <= step {
            v.resize(step + 1, (0.0, 0));
        }
        v[step].0 += share;
        v[step].1 += 1;
    }
    Ok(sums
        .into_iter()
        .map(|(mech, v)| {
            let pts = v
                .iter()
                .enumerate()
                .filter(|(_, (_, n))| *n > 0)
                .map(|(i, (s, n))| {
                    let mean = s / *n as f64 * 100.0;
                    ((i + 1) as f64, Est { mean, low: f64::NAN, high: f64::NAN })
                })
                .collect();
            (mech, pts)
        })
        .collect())
}

/// The cheapest agent by output price, from the run's saved scenario.
fn smallest_agent(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("scenario.ron")).ok()?;
    let s = tender_engine::Scenario::parse(&text, "scenario.ron").ok()?;
    s.agents.iter().min_by(|a, b| a.price.total_cmp(&b.price)).map(|a| a.name.clone())
}

/// Draw every plot the results in `dir` support and write `report.html`. Returns the files.
pub fn plot_dir(dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    if dir.join("summary.csv").exists() {
        plot_run(dir)
    } else if dir.join("sweep.json").exists() && dir.join("points.csv").exists() {
        plot_sweep(dir)
    } else {
        Err(PlotError::NotResults(dir.to_path_buf()))
    }
}

fn plot_run(dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let data = RunData::load(dir)?;
    let mut files = Vec::new();
    let cost: Vec<Est> = data.mechanisms.iter().map(|m| data.get("all", "usd_per_mtok", m)).collect();
    let pass: Vec<Est> = data.mechanisms.iter().map(|m| data.get("all", "pass_at_1", m)).collect();
    let title = "Cost and pass@1 per mechanism (mean, 95% CI)".to_string();
    files.extend(both(dir, "cost_vs_pass", &Figure::CostVsPass { title, names: data.mechanisms.clone(), cost, pass })?);
    // "deep_search/tau<=0.1" reads "DS τ≤0.1", as in the terminal table.
    let groups: Vec<String> = data
        .bins
        .iter()
        .map(|b| match b.split_once("/tau<=") {
            Some((domain, tau)) => format!("{} τ≤{tau}", crate::table::short(domain)),
            None => b.clone(),
        })
        .collect();
    let series: Vec<(String, Vec<f64>)> = data
        .mechanisms
        .iter()
        .map(|m| (m.clone(), data.bins.iter().map(|b| data.get(b, "pass_at_1", m).mean * 100.0).collect()))
        .collect();
    files.extend(both(
        dir,
        "pass_by_bin",
        &Figure::Bars {
            title: "pass@1 per domain and complexity bin".into(),
            x_desc: format!("bin (τ = human solving time, minutes; {})", domain_key(&data.bins)),
            y_desc: "pass@1 (%)".into(),
            groups: groups.clone(),
            series,
        },
    )?);
    let panels: Vec<(String, Vec<Vec<f64>>)> = data
        .mechanisms
        .iter()
        .filter(|m| !m.ends_with(" alone"))
        .map(|m| {
            let shares = data
                .bins
                .iter()
                .map(|b| data.agents.iter().map(|a| data.get(b, &format!("share:{a}"), m).mean).collect())
                .collect();
            (m.clone(), shares)
        })
        .collect();
    files.extend(both(
        dir,
        "shares_by_bin",
        &Figure::Stacked {
            title: "Share of tasks per agent, per complexity bin".into(),
            groups,
            agents: data.agents.clone(),
            panels,
        },
    )?);
    if let Some(smallest) = smallest_agent(dir) {
        let curves = learning_curves(dir, &smallest)?;
        if !curves.is_empty() {
            files.extend(both(
                dir,
                "learning_curve",
                &Figure::Lines {
                    title: format!("Learning curve: {smallest}'s cumulative share of wins"),
                    x_desc: "tasks arrived".into(),
                    y_desc: format!("{smallest} share of wins so far (%)"),
                    series: curves,
                },
            )?);
        }
    }
    if let Some(figure) = routing_figure(dir)? {
        files.extend(both(dir, "accuracy_vs_strong_share", &figure)?);
    }
    let tables = run_tables(&data);
    report(dir, &files, &tables, &[])?;
    files.push(dir.join("report.html"));
    Ok(files)
}

/// Points `(x, estimate)` grouped into up to eight bins of equal count along `x`: each bin's mean
/// x, and the mean of its points' means with a 95% interval over them.
fn partial_dependence(points: &[(f64, Est)]) -> Vec<(f64, Est)> {
    let mut pts: Vec<(f64, f64)> =
        points.iter().filter(|(x, e)| x.is_finite() && e.mean.is_finite()).map(|(x, e)| (*x, e.mean)).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bins = pts.len().clamp(1, 8);
    let size = pts.len().div_ceil(bins).max(1);
    pts.chunks(size)
        .map(|chunk| {
            let n = chunk.len() as f64;
            let x = chunk.iter().map(|p| p.0).sum::<f64>() / n;
            let e = crate::stats::Estimate::of(chunk.iter().map(|p| p.1));
            let (low, high) = if e.low.is_finite() { (e.low, e.high) } else { (e.mean, e.mean) };
            (x, Est { mean: e.mean, low, high })
        })
        .collect()
}

fn plot_sweep(dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let manifest_path = dir.join("sweep.json");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| PlotError::Read { path: manifest_path.clone(), message: e.to_string() })?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| PlotError::Read { path: manifest_path, message: e.to_string() })?;
    let path = dir.join("points.csv");
    let (header, rows) = read_csv(&path)?;
    let (pc, mc, kc, mean, lo, hi) = (
        column(&header, "point", &path)?,
        column(&header, "mechanism", &path)?,
        column(&header, "metric", &path)?,
        column(&header, "mean", &path)?,
        column(&header, "ci_low", &path)?,
        column(&header, "ci_high", &path)?,
    );
    let mut est: BTreeMap<(usize, String, String), Est> = BTreeMap::new();
    for r in &rows {
        est.insert(
            (r[pc].parse().unwrap_or(0), r[mc].clone(), r[kc].clone()),
            Est { mean: num(&r[mean]), low: num(&r[lo]), high: num(&r[hi]) },
        );
    }
    let get = |p: usize, m: &str, k: &str| est.get(&(p, m.to_string(), k.to_string())).copied().unwrap_or_default();
    let mut files = Vec::new();
    let params: Vec<String> =
        manifest.points.first().map(|p| p.assignments.iter().map(|a| a.0.clone()).collect()).unwrap_or_default();
    for (d, param) in params.iter().enumerate() {
        // The slice of points where every other parameter takes its first point's value.
        let first = &manifest.points[0];
        let slice: Vec<usize> = manifest
            .points
            .iter()
            .filter(|p| p.assignments.iter().enumerate().all(|(j, a)| j == d || a.1 == first.assignments[j].1))
            .map(|p| p.index)
            .collect();
        let slug: String = param.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let x = |p: usize| manifest.points[p].assignments[d].1.as_f64().unwrap_or(p as f64);
        // A grid has a slice along each parameter; random and Latin-hypercube designs do not, so
        // they get partial dependence: points binned along the parameter, the metric averaged
        // over the others, with a 95% band over the points in each bin.
        let partial = params.len() > 1 && slice.len() < 3;
        let x_desc = if !partial && params.len() > 1 {
            format!("{param} (other parameters at their first value)")
        } else if partial {
            format!("{param} (binned; averaged over the other parameters)")
        } else {
            param.clone()
        };
        for (metric, label, stem) in [
            ("welfare_usd", "welfare per episode ($)", "welfare_vs_"),
            ("usd_per_mtok", "cost ($ per million tokens)", "cost_vs_"),
        ] {
            let series: Lines = manifest
                .mechanisms
                .iter()
                .map(|m| {
                    let pts = if partial {
                        partial_dependence(
                            &manifest.points.iter().map(|p| (x(p.index), get(p.index, m, metric))).collect::<Vec<_>>(),
                        )
                    } else {
                        slice.iter().map(|&p| (x(p), get(p, m, metric))).collect()
                    };
                    (m.clone(), pts)
                })
                .collect();
            let title = format!("{} vs {param}", label.split(" (").next().unwrap_or(label));
            let figure = Figure::Lines { title, x_desc: x_desc.clone(), y_desc: label.to_string(), series };
            files.extend(both(dir, &format!("{stem}{slug}"), &figure)?);
        }
    }
    // Cost against pass@1: every mechanism at every point.
    let mut names = Vec::new();
    let (mut cost, mut pass) = (Vec::new(), Vec::new());
    for m in &manifest.mechanisms {
        let n = manifest.points.len() as f64;
        let avg = |k: &str| {
            let v: Vec<Est> = manifest.points.iter().map(|p| get(p.index, m, k)).collect();
            Est {
                mean: v.iter().map(|e| e.mean).sum::<f64>() / n,
                low: v.iter().map(|e| e.mean).fold(f64::INFINITY, f64::min),
                high: v.iter().map(|e| e.mean).fold(f64::NEG_INFINITY, f64::max),
            }
        };
        names.push(m.clone());
        cost.push(avg("usd_per_mtok"));
        pass.push(avg("pass_at_1"));
    }
    let title = "Cost and pass@1 per mechanism (mean over points; whiskers: range over points)".to_string();
    files.extend(both(dir, "cost_vs_pass", &Figure::CostVsPass { title, names, cost, pass })?);
    // Figures first: a sweep's table runs to a row per point.
    let table = sweep_table(&manifest, &get);
    report(dir, &files, &[], &[table])?;
    files.push(dir.join("report.html"));
    Ok(files)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn fmt_est(e: Est, scale: f64, decimals: usize) -> String {
    if !e.mean.is_finite() {
        return "—".into();
    }
    if e.low.is_finite() {
        format!("{:.*} ± {:.*}", decimals, e.mean * scale, decimals, (e.high - e.low) / 2.0 * scale)
    } else {
        format!("{:.*}", decimals, e.mean * scale)
    }
}

fn run_tables(data: &RunData) -> Vec<String> {
    let cols: [(&str, &str, f64, usize); 6] = [
        ("pass@1 %", "pass_at_1", 100.0, 1),
        ("$ / M tok", "usd_per_mtok", 1.0, 3),
        ("$ / episode", "cost_usd", 1.0, 2),
        ("welfare $", "welfare_usd", 1.0, 1),
        ("$ / solved task", "cost_of_pass_usd", 1.0, 4),
        ("gap to oracle pp", "oracle_gap", 100.0, 1),
    ];
    let mut t = String::from("<table><tr><th>mechanism</th>");
    for (h, ..) in cols {
        t.push_str(&format!("<th>{}</th>", html_escape(h)));
    }
    t.push_str("</tr>");
    for m in &data.mechanisms {
        t.push_str(&format!("<tr><td>{}</td>", html_escape(m)));
        for (_, k, scale, d) in cols {
            t.push_str(&format!("<td>{}</td>", fmt_est(data.get("all", k, m), scale, d)));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    vec![t]
}

fn sweep_table(manifest: &Manifest, get: &dyn Fn(usize, &str, &str) -> Est) -> String {
    let mut t = String::from("<table><tr><th>point</th>");
    if let Some(p) = manifest.points.first() {
        for (k, _) in &p.assignments {
            t.push_str(&format!("<th>{}</th>", html_escape(k)));
        }
    }
    t.push_str("<th>mechanism</th><th>pass@1 %</th><th>$ / M tok</th><th>welfare $</th></tr>");
    for p in &manifest.points {
        for m in &manifest.mechanisms {
            t.push_str(&format!("<tr><td>{}</td>", p.index));
            for (_, v) in &p.assignments {
                t.push_str(&format!("<td>{}</td>", html_escape(&v.to_string())));
            }
            t.push_str(&format!(
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape(m),
                fmt_est(get(p.index, m, "pass_at_1"), 100.0, 1),
                fmt_est(get(p.index, m, "usd_per_mtok"), 1.0, 3),
                fmt_est(get(p.index, m, "welfare_usd"), 1.0, 1)
            ));
        }
    }
    t.push_str("</table>");
    t
}

/// `report.html`: the tables and every SVG inlined, one self-contained page.
/// What a figure shows, from its file's stem.
fn caption(stem: &str) -> String {
    let fixed = [
        ("cost_vs_pass", "Cost against pass@1 for every mechanism (95% whiskers; grey line: Pareto frontier)"),
        ("pass_by_bin", "pass@1 per complexity bin"),
        ("shares_by_bin", "Who executes, per complexity bin"),
        ("learning_curve", "Learning curve: the smallest agent's cumulative share of SALE's wins along the stream"),
        ("accuracy_vs_strong_share", "Accuracy against the share of calls to the strongest agent (routing view)"),
    ];
    if let Some((_, c)) = fixed.iter().find(|(s, _)| *s == stem) {
        return (*c).to_string();
    }
    for (prefix, what) in [("welfare_vs_", "Welfare per episode"), ("cost_vs_", "Cost ($ per million tokens)")] {
        if let Some(param) = stem.strip_prefix(prefix) {
            return format!("{what} against {param}, mean and 95% band per mechanism");
        }
    }
    stem.to_string()
}

/// `report.html`: `before` tables, every figure with its caption, then `after` tables.
fn report(dir: &Path, files: &[PathBuf], before: &[String], after: &[String]) -> Result<(), PlotError> {
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Tender report</title><style>\
         body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
         figure{margin:2em 0}</style></head><body><h1>Tender report</h1>",
    );
    html.push_str(&format!(
        "<p>Results in <code>{}</code>; means with 95% confidence intervals across episodes.</p>",
        html_escape(&dir.display().to_string())
    ));
    for t in before {
        html.push_str(t);
    }
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "svg")) {
        let svg =
            std::fs::read_to_string(f).map_err(|e| PlotError::Read { path: f.clone(), message: e.to_string() })?;
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let stem = f.file_stem().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        // The XML declaration is not allowed inside HTML; the <svg> element is.
        let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        html.push_str(&format!(
            "<figure id=\"{}\">{body}<figcaption>{}</figcaption></figure>",
            html_escape(&name),
            html_escape(&caption(&stem))
        ));
    }
    for t in after {
        html.push_str(t);
    }
    html.push_str("</body></html>\n");
    write_atomic(&dir.join("report.html"), |w| w.write_all(html.as_bytes()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_keeps_only_undominated_points() {
        let pts = [(0.1, 0.5), (0.2, 0.6), (0.15, 0.4), (0.3, 0.6), (0.05, 0.3)];
        assert_eq!(pareto(&pts), [4, 0, 1]);
    }

    #[test]
    fn random_mixtures_run_from_the_weak_agent_to_the_strong_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // A middle agent alone also makes no strong calls, and comes after the weak one.
        let csv = "mechanism,curve,strong_share,strong_share_low,strong_share_high,accuracy,accuracy_low,accuracy_high,usd_per_task,pgr,role\n\
                   small alone,,0,0,0,0.4,0.39,0.41,0.01,0,weak\n\
                   big alone,,1,1,1,0.6,0.59,0.61,0.1,1,strong\n\
                   \"mid, alone\",,0,0,0,0.5,0.49,0.51,0.03,0.5,\n\
                   kNN,kNN,,,,,,,,0.6,\n";
        std::fs::write(dir.path().join("routing.csv"), csv).unwrap_or_else(|e| panic!("{e}"));
        let Ok(Some(Figure::Routing { strong, mixture, .. })) = routing_figure(dir.path()) else {
            panic!("no routing figure");
        };
        assert_eq!(strong, "big");
        assert_eq!(mixture, [(0.0, 40.0), (100.0, 60.0)]);
    }
}
