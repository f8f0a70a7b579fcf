//! Figures: density heat maps, corner plots, pairwise marginals and training curves, written as
//! PNG or SVG (chosen by the path's extension). Presentation only: the numbers are binned and
//! normalised for display, never estimated here.
//!
//! Text needs no system fonts: plotters' `ab_glyph` backend rasterises (and, for SVG, measures)
//! text with DejaVu Sans, embedded in the binary by the `dejavu` crate and registered once as
//! `sans-serif`. SVG files name `sans-serif`, so viewers substitute their own sans face.
//!
//! Every file is rendered in memory first, then written through [`lwflow::io::write_atomic`]
//! (temp file beside the target, then rename), so a failed plot never leaves a partial file.

use std::io::{self, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail, Context, Result};
use lwflow::{Mat, MatRef};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::{register_font, FontStyle};

/// One density panel: `values` is an n_y × n_x grid of densities (not logs). Row `i`, column `j`
/// covers the cell x ∈ [x_lo + j·Δx, x_lo + (j+1)·Δx], y ∈ [y_lo + i·Δy, ...], so row 0 is the
/// bottom of the picture and the ranges are the outer cell edges.
pub struct Heatmap {
    pub title: String,
    pub values: Mat<f64>,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
}

/// How densities map to colour: t = f(v / v_max) in [0, 1] on the viridis colormap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorScale {
    /// t = v / v_max.
    Linear,
    /// t = √(v / v_max): lifts low mass gently.
    Sqrt,
    /// t = 1 + log10(v / v_max) / LOG_DECADES, clipped at 0: shows LOG_DECADES orders of
    /// magnitude, so thin low-mass bridges between modes stay visible.
    Log,
}

/// Options of [`heatmaps_with`].
#[derive(Debug, Clone, Copy)]
pub struct HeatmapOptions {
    pub scale: ColorScale,
    /// One colour scale (v_max over all panels) with one colour bar, instead of one per panel.
    pub shared_scale: bool,
}

/// Orders of magnitude below the maximum that [`ColorScale::Log`] resolves.
const LOG_DECADES: f64 = 4.0;
/// Bins per axis of sample histograms (corner diagonal and 2-D panels).
const N_BINS_1D: usize = 40;
const N_BINS_2D: usize = 50;
/// Most overlay points scattered in one corner panel.
const MAX_OVERLAY_POINTS: usize = 300;
/// Largest dimension a corner plot draws (d² panels).
const MAX_CORNER_DIM: usize = 6;
/// Sample quantiles bounding a corner plot's axes, so a few outliers cannot squash the picture.
const AXIS_QUANTILES: (f64, f64) = (0.002, 0.998);

const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 22;
const LABEL_SIZE: u32 = 17;
const TICK_SIZE: u32 = 12;
const SAMPLE_COLOR: RGBColor = RGBColor(49, 104, 142);
const OVERLAY_COLOR: RGBColor = RGBColor(220, 50, 32);

type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Side-by-side density heat maps with axes θ₁ (x) and θ₂ (y), each panel with its own colour
/// scale and colour bar; `log_scale` picks [`ColorScale::Log`], otherwise [`ColorScale::Linear`].
pub fn heatmaps(path: &Path, panels: &[Heatmap], log_scale: bool) -> Result<()> {
    let scale = if log_scale { ColorScale::Log } else { ColorScale::Linear };
    heatmaps_with(path, panels, HeatmapOptions { scale, shared_scale: false })
}

/// [`heatmaps`] with a choice of colour scale and of per-panel or shared colour normalisation.
pub fn heatmaps_with(path: &Path, panels: &[Heatmap], options: HeatmapOptions) -> Result<()> {
    let format = Format::of(path)?;
    if panels.is_empty() {
        bail!("{}: no heat map panels to draw", path.display());
    }
    let mut maxima = Vec::with_capacity(panels.len());
    for p in panels {
        maxima.push(check_heatmap(p).with_context(|| format!("{}: panel '{}'", path.display(), p.title))?);
    }
    if options.shared_scale {
        let top = maxima.iter().copied().fold(0.0, f64::max);
        maxima.iter_mut().for_each(|m| *m = top);
    }
    let fig = HeatmapFigure { panels, maxima, options };
    save(path, format, &fig)
}

/// Corner plot of posterior samples (rows are draws, d = 1..=6 columns): 1-D histograms on the
/// diagonal, 2-D binned densities below it. `overlay` (e.g. reference draws) is drawn as a red
/// histogram outline on the diagonal and a red scatter of a subsample below. `labels` name the
/// columns (empty: θ₁..θ_d).
pub fn corner(
    path: &Path,
    samples: MatRef<f64>,
    overlay: Option<MatRef<f64>>,
    labels: &[String],
    title: &str,
) -> Result<()> {
    let format = Format::of(path)?;
    let dim = samples.cols();
    let at = || path.display();
    if dim == 0 || dim > MAX_CORNER_DIM {
        bail!("{}: corner plot needs 1..={MAX_CORNER_DIM} columns, got {dim}", at());
    }
    if samples.rows() == 0 {
        bail!("{}: no samples to plot", at());
    }
    if let Some(o) = overlay {
        if o.cols() != dim {
            bail!("{}: overlay has {} columns, samples have {dim}", at(), o.cols());
        }
    }
    if !labels.is_empty() && labels.len() != dim {
        bail!("{}: {} labels for {dim} columns", at(), labels.len());
    }
    let labels = if labels.is_empty() { default_labels(dim) } else { labels.to_vec() };
    let ranges = (0..dim)
        .map(|c| axis_range(samples, overlay, c))
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("{}: corner plot", at()))?;
    let fig = CornerFigure { samples, overlay, labels, title, ranges };
    save(path, format, &fig)
}

/// Pairwise 2-D marginals of several sample sets side by side: one column per set, one row per
/// pair of columns (for 3-D: (1,2), (1,3), (2,3)). `ranges[c]` bounds column c in every panel;
/// all sets need `ranges.len()` ∈ 2..=4 columns.
pub fn pair_marginals(path: &Path, sets: &[(String, MatRef<f64>)], ranges: &[(f64, f64)]) -> Result<()> {
    let format = Format::of(path)?;
    let dim = ranges.len();
    let at = || path.display();
    if !(2..=4).contains(&dim) {
        bail!("{}: pair marginals need 2..=4 ranges, got {dim}", at());
    }
    if sets.is_empty() {
        bail!("{}: no sample sets to plot", at());
    }
    for (name, set) in sets {
        if set.cols() != dim {
            bail!("{}: sample set '{name}' has {} columns, expected {dim}", at(), set.cols());
        }
    }
    for (c, &(lo, hi)) in ranges.iter().enumerate() {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            bail!("{}: range of column {} is [{lo}, {hi}], expected finite lo < hi", at(), c + 1);
        }
    }
    let pairs = (0..dim).flat_map(|a| (a + 1..dim).map(move |b| (a, b))).collect();
    let fig = PairFigure { sets, ranges, pairs, labels: default_labels(dim) };
    save(path, format, &fig)
}

/// Training curves: `history` rows (step, loss, validation loss) on the left panel, `ess`
/// rows (step, effective sample size) on the right. Non-finite values (e.g. NaN for "validation
/// loss not evaluated at this step") are skipped; the line joins the finite points.
pub fn training_curves(path: &Path, history: &[(usize, f64, f64)], ess: &[(usize, f64)]) -> Result<()> {
    let format = Format::of(path)?;
    save(path, format, &CurvesFigure { history, ess })
}

// ---------------------------------------------------------------------------------------------
// Output: format, fonts, rendering in memory, atomic write.

#[derive(Debug, Clone, Copy)]
enum Format {
    Png,
    Svg,
}

impl Format {
    fn of(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => bail!("{}: unsupported plot format, expected a .png or .svg path", path.display()),
        }
    }
}

/// A figure of fixed pixel size that can draw itself on any plotters backend.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Registers the embedded DejaVu Sans as plotters' `sans-serif` family, once per process.
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let regular = register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let bold = register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
        assert!(regular.is_ok() && bold.is_ok(), "the embedded DejaVu Sans fonts are valid TrueType files");
    });
}

/// Bold panel-title font. Built with its style from the start: plotters' `FontDesc::style` only
/// relabels an already loaded font, so bitmaps would still show the regular face.
fn title_font() -> FontDesc<'static> {
    (FONT, f64::from(LABEL_SIZE + 2), FontStyle::Bold).into_font()
}

fn save(path: &Path, format: Format, fig: &impl Figure) -> Result<()> {
    register_fonts();
    let (width, height) = fig.size();
    let draw_err = |e: String| anyhow!("{}: drawing failed: {e}", path.display());
    match format {
        Format::Png => {
            let mut rgb = vec![255u8; width as usize * height as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
                fig.draw(&root).map_err(|e| draw_err(e.to_string()))?;
                root.present().map_err(|e| draw_err(e.to_string()))?;
            }
            lwflow::io::write_atomic(path, |w| encode_png(w, &rgb, width, height))?;
        }
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
                fig.draw(&root).map_err(|e| draw_err(e.to_string()))?;
                root.present().map_err(|e| draw_err(e.to_string()))?;
            }
            lwflow::io::write_atomic(path, |w| w.write_all(svg.as_bytes()))?;
        }
    }
    Ok(())
}

fn encode_png(w: &mut dyn Write, rgb: &[u8], width: u32, height: u32) -> io::Result<()> {
    let mut encoder = png::Encoder::new(w, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(io::Error::other)?;
    writer.write_image_data(rgb).map_err(io::Error::other)?;
    writer.finish().map_err(io::Error::other)
}

// ---------------------------------------------------------------------------------------------
// Display helpers: colour mapping, binning, ranges, layout.

fn default_labels(dim: usize) -> Vec<String> {
    (1..=dim).map(|i| format!("θ{}", subscript(i))).collect()
}

fn subscript(i: usize) -> String {
    i.to_string().chars().map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c)).collect()
}

impl ColorScale {
    /// Display coordinate t ∈ [0, 1] of the relative density `r = v / v_max`.
    fn unit_of(self, r: f64) -> f64 {
        let t = match self {
            ColorScale::Linear => r,
            ColorScale::Sqrt => r.max(0.0).sqrt(),
            ColorScale::Log if r > 0.0 => 1.0 + r.log10() / LOG_DECADES,
            ColorScale::Log => 0.0,
        };
        t.clamp(0.0, 1.0)
    }
}

/// Viridis colour of quantised level ∈ 0..=255 (t = level / 255); 256 levels are finer than the
/// eye resolves and let equal neighbours merge into one rectangle.
fn viridis(level: u8) -> RGBColor {
    ViridisRGB::get_color(f32::from(level) / 255.0)
}

/// Quantised level of the display coordinate t ∈ [0, 1].
fn level_of(t: f64) -> u8 {
    // t is clamped to [0, 1], so the product lies in [0, 255].
    (t * 255.0).round() as u8
}

/// Largest value of the grid after checking it is non-empty, finite and non-negative.
fn check_heatmap(p: &Heatmap) -> Result<f64> {
    let (n_y, n_x) = (p.values.rows(), p.values.cols());
    if n_y == 0 || n_x == 0 {
        bail!("empty {n_y} × {n_x} grid");
    }
    for (name, (lo, hi)) in [("x_range", p.x_range), ("y_range", p.y_range)] {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            bail!("{name} is [{lo}, {hi}], expected finite lo < hi");
        }
    }
    let mut top = 0.0f64;
    for (k, &v) in p.values.as_slice().iter().enumerate() {
        if !(v.is_finite() && v >= 0.0) {
            bail!("density at row {}, column {} is {v}, expected finite and ≥ 0", k / n_x, k % n_x);
        }
        top = top.max(v);
    }
    Ok(top)
}

/// Axis range of column `c`: the AXIS_QUANTILES of samples and overlay together, padded by 5 %.
fn axis_range(samples: MatRef<f64>, overlay: Option<MatRef<f64>>, c: usize) -> Result<(f64, f64)> {
    let mut values: Vec<f64> = (0..samples.rows()).map(|r| samples.at(r, c)).collect();
    if let Some(o) = overlay {
        values.extend((0..o.rows()).map(|r| o.at(r, c)));
    }
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        bail!("column {} has no finite values", c + 1);
    }
    values.sort_by(f64::total_cmp);
    let pick = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (pick(AXIS_QUANTILES.0), pick(AXIS_QUANTILES.1));
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
    Ok((lo - pad, hi + pad))
}

/// Bin index of `v` among `n_bins` equal bins of [lo, hi), or None outside.
fn bin_of(v: f64, (lo, hi): (f64, f64), n_bins: usize) -> Option<usize> {
    let k = ((v - lo) / (hi - lo) * n_bins as f64).floor();
    (k >= 0.0 && k < n_bins as f64).then_some(k as usize)
}

/// Histogram of column `c` normalised to a density (integrates to the in-range fraction).
fn histogram_1d(set: MatRef<f64>, c: usize, range: (f64, f64), n_bins: usize) -> Vec<f64> {
    let mut counts = vec![0.0; n_bins];
    for r in 0..set.rows() {
        if let Some(k) = bin_of(set.at(r, c), range, n_bins) {
            counts[k] += 1.0;
        }
    }
    let scale = 1.0 / (set.rows().max(1) as f64 * (range.1 - range.0) / n_bins as f64);
    counts.iter_mut().for_each(|v| *v *= scale);
    counts
}

/// n_bins × n_bins counts of (column cx, column cy): row = y bin (0 at the bottom), col = x bin.
fn histogram_2d(
    set: MatRef<f64>,
    (cx, cy): (usize, usize),
    ranges: ((f64, f64), (f64, f64)),
    n_bins: usize,
) -> Mat<f64> {
    let mut counts = Mat::zeros(n_bins, n_bins);
    for r in 0..set.rows() {
        if let (Some(i), Some(j)) = (bin_of(set.at(r, cy), ranges.1, n_bins), bin_of(set.at(r, cx), ranges.0, n_bins)) {
            counts.row_mut(i)[j] += 1.0;
        }
    }
    counts
}

/// How [`fill_grid`] shows cells holding exactly zero.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Zeros {
    /// The lowest colour, like any small density (continuous heat maps).
    Colored,
    /// Not drawn, so the background shows (empty histogram bins, as in corner.py).
    Blank,
}

/// Fills the grid `values` (row 0 at the bottom) into a chart spanning `x` × `y`, one rectangle
/// per run of equal colour levels along a row, so SVG output stays small.
fn fill_grid<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    values: &Mat<f64>,
    (v_max, scale, zeros): (f64, ColorScale, Zeros),
    (x, y): ((f64, f64), (f64, f64)),
) -> DrawResult<DB> {
    let (n_y, n_x) = (values.rows(), values.cols());
    let dx = (x.1 - x.0) / n_x as f64;
    let dy = (y.1 - y.0) / n_y as f64;
    let inv_max = if v_max > 0.0 { 1.0 / v_max } else { 0.0 };
    let mut rects = Vec::new();
    for i in 0..n_y {
        let levels: Vec<Option<u8>> = values
            .row(i)
            .iter()
            .map(|&v| (v != 0.0 || zeros == Zeros::Colored).then(|| level_of(scale.unit_of(v * inv_max))))
            .collect();
        let mut start = 0;
        while start < n_x {
            let mut end = start + 1;
            while end < n_x && levels[end] == levels[start] {
                end += 1;
            }
            if let Some(level) = levels[start] {
                let x0 = x.0 + start as f64 * dx;
                let x1 = x.0 + end as f64 * dx;
                let y0 = y.0 + i as f64 * dy;
                rects.push(Rectangle::new([(x0, y0), (x1, y0 + dy)], viridis(level).filled()));
            }
            start = end;
        }
    }
    chart.draw_series(rects)?;
    Ok(())
}

/// Vertical colour bar for `scale`, ticked in density units: decades for [`ColorScale::Log`],
/// round steps of v_max / 5 otherwise.
fn draw_colorbar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, v_max: f64, scale: ColorScale) -> DrawResult<DB> {
    // x ∈ [0, 1] is the bar, x ∈ (1, 3] holds the tick labels; no plotters axes.
    let mut chart = ChartBuilder::on(area)
        .margin_top(10)
        .margin_bottom(52)
        .margin_right(2)
        .build_cartesian_2d(0.0..3.0, 0.0..1.0)?;
    let n_steps = 128;
    chart.draw_series((0..n_steps).map(|k| {
        let t0 = k as f64 / n_steps as f64;
        let t1 = (k + 1) as f64 / n_steps as f64;
        Rectangle::new([(0.0, t0), (1.0, t1)], viridis(level_of(0.5 * (t0 + t1))).filled())
    }))?;
    chart.draw_series(std::iter::once(Rectangle::new([(0.0, 0.0), (1.0, 1.0)], BLACK.stroke_width(1))))?;
    let style = TextStyle::from((FONT, TICK_SIZE).into_font()).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ));
    for v in colorbar_ticks(v_max, scale) {
        let t = scale.unit_of(v / v_max);
        chart.draw_series(std::iter::once(PathElement::new([(1.0, t), (1.25, t)], BLACK.stroke_width(1))))?;
        chart.draw_series(std::iter::once(Text::new(format_density(v), (1.35, t), style.clone())))?;
    }
    Ok(())
}

/// Densities to label on a colour bar whose top is `v_max` (none when v_max is 0).
fn colorbar_ticks(v_max: f64, scale: ColorScale) -> Vec<f64> {
    if v_max <= 0.0 {
        return vec![0.0];
    }
    match scale {
        ColorScale::Log => {
            let lo = (v_max.log10() - LOG_DECADES).ceil() as i32;
            let hi = v_max.log10().floor() as i32;
            (lo..=hi).map(|k| 10f64.powi(k)).collect()
        }
        ColorScale::Linear | ColorScale::Sqrt => {
            let raw = v_max / 5.0;
            let magnitude = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&s| s >= raw).unwrap_or(raw);
            (0..).map(|k| k as f64 * step).take_while(|&v| v <= v_max * (1.0 + 1e-9)).collect()
        }
    }
}

fn format_density(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if (0.01..1000.0).contains(&v.abs()) {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

/// Tick label with at most 3 significant digits and no trailing zeros.
fn format_tick(v: f64) -> String {
    if v == 0.0 || (0.01..10000.0).contains(&v.abs()) {
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    } else {
        format!("{v:.1e}")
    }
}

/// Equal plotting rectangles on a grid of `n_rows` × `n_cols` cells, with `left` and `bottom`
/// pixel margins reserved for the outer axis labels. Cell (r, c) returns the area *including*
/// the margin on its outer edges, plus how much of that margin it has (left, bottom), so a chart
/// built with those label-area sizes has exactly the same plotting rectangle as its neighbours.
struct Grid {
    n_rows: usize,
    n_cols: usize,
    left: u32,
    bottom: u32,
    cell_w: u32,
    cell_h: u32,
}

impl Grid {
    fn new<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        (n_rows, n_cols): (usize, usize),
        left: u32,
        bottom: u32,
    ) -> Self {
        let (w, h) = area.dim_in_pixel();
        let cell_w = w.saturating_sub(left) / n_cols as u32;
        let cell_h = h.saturating_sub(bottom) / n_rows as u32;
        Grid { n_rows, n_cols, left, bottom, cell_w, cell_h }
    }

    fn cell<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        r: usize,
        c: usize,
    ) -> (DrawingArea<DB, Shift>, u32, u32) {
        let left = if c == 0 { self.left } else { 0 };
        let bottom = if r + 1 == self.n_rows { self.bottom } else { 0 };
        let x0 = self.left + c as u32 * self.cell_w - left;
        let y0 = r as u32 * self.cell_h;
        debug_assert!(c < self.n_cols);
        let sub = area.clone().shrink((x0, y0), (self.cell_w + left, self.cell_h + bottom));
        (sub, left, bottom)
    }
}

// ---------------------------------------------------------------------------------------------
// Figures.

struct HeatmapFigure<'a> {
    panels: &'a [Heatmap],
    maxima: Vec<f64>,
    options: HeatmapOptions,
}

const HEATMAP_PANEL: (u32, u32) = (400, 430);
const COLORBAR_W: u32 = 84;

impl Figure for HeatmapFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let n = self.panels.len() as u32;
        let bars = if self.options.shared_scale { 1 } else { n };
        (n * HEATMAP_PANEL.0 + bars * COLORBAR_W, HEATMAP_PANEL.1)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let shared = self.options.shared_scale;
        let panel_w = HEATMAP_PANEL.0 + if shared { 0 } else { COLORBAR_W };
        let labels = default_labels(2);
        for (k, (p, &v_max)) in self.panels.iter().zip(&self.maxima).enumerate() {
            let area = root.clone().shrink((k as u32 * panel_w, 0), (panel_w, HEATMAP_PANEL.1));
            let (plot_area, bar_area) = if shared {
                (area, None)
            } else {
                let (a, b) = area.split_horizontally(HEATMAP_PANEL.0);
                (a, Some(b))
            };
            let mut chart = ChartBuilder::on(&plot_area)
                .caption(&p.title, title_font())
                .margin(10)
                .x_label_area_size(44)
                .y_label_area_size(52)
                .build_cartesian_2d(p.x_range.0..p.x_range.1, p.y_range.0..p.y_range.1)?;
            fill_grid(&mut chart, &p.values, (v_max, self.options.scale, Zeros::Colored), (p.x_range, p.y_range))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(&labels[0])
                .y_desc(&labels[1])
                .axis_desc_style((FONT, LABEL_SIZE))
                .label_style((FONT, TICK_SIZE))
                .x_label_formatter(&|v| format_tick(*v))
                .y_label_formatter(&|v| format_tick(*v))
                .draw()?;
            if let Some(bar) = bar_area {
                draw_colorbar(&bar.margin(40, 0, 0, 0), v_max, self.options.scale)?;
            }
        }
        if shared {
            let n = self.panels.len() as u32;
            let bar = root.clone().shrink((n * HEATMAP_PANEL.0, 40), (COLORBAR_W, HEATMAP_PANEL.1 - 40));
            draw_colorbar(&bar, self.maxima[0], self.options.scale)?;
        }
        Ok(())
    }
}

struct CornerFigure<'a> {
    samples: MatRef<'a, f64>,
    overlay: Option<MatRef<'a, f64>>,
    labels: Vec<String>,
    title: &'a str,
    ranges: Vec<(f64, f64)>,
}

const CORNER_CELL: u32 = 210;
/// Blank pixels on each side of a corner panel, so edge tick labels of neighbours do not touch.
const CELL_GAP: u32 = 7;
const AXIS_LEFT: u32 = 62;
const AXIS_BOTTOM: u32 = 56;

impl Figure for CornerFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let d = self.labels.len() as u32;
        (AXIS_LEFT + d * CORNER_CELL + 16, 48 + AXIS_BOTTOM + d * CORNER_CELL)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let dim = self.labels.len();
        let body = root.titled(self.title, (FONT, TITLE_SIZE))?.margin(4, 0, 0, 16);
        let grid = Grid::new(&body, (dim, dim), AXIS_LEFT, AXIS_BOTTOM);
        for r in 0..dim {
            for c in 0..=r {
                let (area, left, bottom) = grid.cell(&body, r, c);
                let area = area.margin(CELL_GAP, CELL_GAP, CELL_GAP, CELL_GAP);
                if r == c {
                    self.draw_marginal(&area, c, left, bottom)?;
                } else {
                    self.draw_joint(&area, (c, r), left, bottom)?;
                }
            }
        }
        if self.overlay.is_some() && dim > 1 {
            // The upper triangle is empty: the legend goes in its top-right cell.
            let (area, _, _) = grid.cell(&body, 0, dim - 1);
            let style = TextStyle::from((FONT, LABEL_SIZE).into_font());
            area.draw(&Rectangle::new([(40, 60), (64, 74)], SAMPLE_COLOR.mix(0.75).filled()))?;
            area.draw(&Text::new("samples", (74, 58), style.clone()))?;
            area.draw(&PathElement::new([(40, 100), (64, 100)], OVERLAY_COLOR.stroke_width(2)))?;
            area.draw(&Circle::new((52, 100), 2, OVERLAY_COLOR.filled()))?;
            area.draw(&Text::new("overlay", (74, 91), style))?;
        }
        Ok(())
    }
}

impl CornerFigure<'_> {
    fn draw_marginal<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        c: usize,
        left: u32,
        bottom: u32,
    ) -> DrawResult<DB> {
        let range = self.ranges[c];
        let hist = histogram_1d(self.samples, c, range, N_BINS_1D);
        let over = self.overlay.map(|o| histogram_1d(o, c, range, N_BINS_1D));
        let top = hist.iter().chain(over.iter().flatten()).copied().fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let mut chart = ChartBuilder::on(area)
            .x_label_area_size(bottom)
            .y_label_area_size(left)
            .build_cartesian_2d(range.0..range.1, 0.0..1.08 * top)?;
        let width = (range.1 - range.0) / N_BINS_1D as f64;
        let bar = |k: usize| range.0 + k as f64 * width;
        chart.draw_series(
            hist.iter()
                .enumerate()
                .map(|(k, &h)| Rectangle::new([(bar(k), 0.0), (bar(k + 1), h)], SAMPLE_COLOR.mix(0.75).filled())),
        )?;
        if let Some(over) = &over {
            let steps = over.iter().enumerate().flat_map(|(k, &h)| [(bar(k), h), (bar(k + 1), h)]);
            let outline = std::iter::once((range.0, 0.0)).chain(steps).chain(std::iter::once((range.1, 0.0)));
            chart.draw_series(LineSeries::new(outline, OVERLAY_COLOR.stroke_width(2)))?;
        }
        self.axes(&mut chart, c, None, left, bottom)
    }

    fn draw_joint<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        (cx, cy): (usize, usize),
        left: u32,
        bottom: u32,
    ) -> DrawResult<DB> {
        let (rx, ry) = (self.ranges[cx], self.ranges[cy]);
        let mut chart = ChartBuilder::on(area)
            .x_label_area_size(bottom)
            .y_label_area_size(left)
            .build_cartesian_2d(rx.0..rx.1, ry.0..ry.1)?;
        let counts = histogram_2d(self.samples, (cx, cy), (rx, ry), N_BINS_2D);
        let top = counts.as_slice().iter().copied().fold(0.0, f64::max);
        fill_grid(&mut chart, &counts, (top, ColorScale::Sqrt, Zeros::Blank), (rx, ry))?;
        if let Some(o) = self.overlay {
            let stride = o.rows().div_ceil(MAX_OVERLAY_POINTS).max(1);
            let points = (0..o.rows()).step_by(stride).map(|r| (o.at(r, cx), o.at(r, cy)));
            let inside = points.filter(|&(x, y)| x >= rx.0 && x <= rx.1 && y >= ry.0 && y <= ry.1);
            chart.draw_series(inside.map(|p| Circle::new(p, 2, OVERLAY_COLOR.mix(0.6).filled())))?;
        }
        self.axes(&mut chart, cx, Some(cy), left, bottom)
    }

    /// Ticks and descriptions only on the outer edges (bottom row, left column), as in corner.py.
    fn axes<DB: DrawingBackend>(
        &self,
        chart: &mut Chart2d<'_, DB>,
        cx: usize,
        cy: Option<usize>,
        left: u32,
        bottom: u32,
    ) -> DrawResult<DB> {
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh().label_style((FONT, TICK_SIZE)).axis_desc_style((FONT, LABEL_SIZE)).x_labels(4).y_labels(4);
        mesh.x_label_formatter(&|v| format_tick(*v)).y_label_formatter(&|v| format_tick(*v));
        if bottom > 0 {
            mesh.x_desc(&self.labels[cx]);
        } else {
            mesh.x_labels(0);
        }
        match cy {
            Some(cy) if left > 0 => {
                mesh.y_desc(&self.labels[cy]);
            }
            _ => {
                mesh.y_labels(0);
            }
        }
        mesh.draw()
    }
}

struct PairFigure<'a> {
    sets: &'a [(String, MatRef<'a, f64>)],
    ranges: &'a [(f64, f64)],
    pairs: Vec<(usize, usize)>,
    labels: Vec<String>,
}

const PAIR_CELL: (u32, u32) = (290, 270);

impl Figure for PairFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (self.sets.len() as u32 * PAIR_CELL.0 + 10, self.pairs.len() as u32 * PAIR_CELL.1 + 36)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (w, _) = root.dim_in_pixel();
        let body = root.margin(36, 0, 0, 10);
        let columns = body.split_evenly((self.pairs.len(), self.sets.len()));
        for (c, (name, _)) in self.sets.iter().enumerate() {
            let x = c as u32 * PAIR_CELL.0 + (PAIR_CELL.0 + 44) / 2;
            let style = TextStyle::from(title_font()).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ));
            root.draw_text(name, &style, (x.min(w) as i32, 8))?;
        }
        for (k, area) in columns.iter().enumerate() {
            let (row, col) = (k / self.sets.len(), k % self.sets.len());
            let (a, b) = self.pairs[row];
            let (rx, ry) = (self.ranges[a], self.ranges[b]);
            let mut chart = ChartBuilder::on(area)
                .margin(4)
                .x_label_area_size(44)
                .y_label_area_size(50)
                .build_cartesian_2d(rx.0..rx.1, ry.0..ry.1)?;
            let counts = histogram_2d(self.sets[col].1, (a, b), (rx, ry), N_BINS_2D);
            let top = counts.as_slice().iter().copied().fold(0.0, f64::max);
            fill_grid(&mut chart, &counts, (top, ColorScale::Sqrt, Zeros::Blank), (rx, ry))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(5)
                .y_labels(5)
                .x_desc(&self.labels[a])
                .y_desc(&self.labels[b])
                .axis_desc_style((FONT, LABEL_SIZE))
                .label_style((FONT, TICK_SIZE))
                .x_label_formatter(&|v| format_tick(*v))
                .y_label_formatter(&|v| format_tick(*v))
                .draw()?;
        }
        Ok(())
    }
}

struct CurvesFigure<'a> {
    history: &'a [(usize, f64, f64)],
    ess: &'a [(usize, f64)],
}

/// Range of the finite values, padded by 5 %, or [0, 1] when there are none.
fn value_range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
    lo - pad..hi + pad
}

fn step_range(steps: impl Iterator<Item = usize>) -> Range<f64> {
    let (lo, hi) = steps.fold((usize::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
    if lo >= hi {
        lo.min(hi) as f64..lo.min(hi) as f64 + 1.0
    } else {
        lo as f64..hi as f64
    }
}

/// The points whose value is finite (a NaN validation loss means "not evaluated at this step").
fn finite_points(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    points.filter(|p| p.1.is_finite()).collect()
}

impl Figure for CurvesFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (1100, 440)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (left, right) = root.split_horizontally(560);
        let loss_color = SAMPLE_COLOR;
        let val_color = RGBColor(230, 120, 20);
        let x = step_range(self.history.iter().map(|h| h.0));
        let y = value_range(self.history.iter().flat_map(|h| [h.1, h.2]));
        let mut chart = ChartBuilder::on(&left)
            .caption("loss", title_font())
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(245, 245, 245))
            .x_desc("step")
            .y_desc("loss")
            .axis_desc_style((FONT, LABEL_SIZE))
            .label_style((FONT, TICK_SIZE))
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&|v| format_tick(*v))
            .draw()?;
        let series = [
            ("training", loss_color, finite_points(self.history.iter().map(|h| (h.0 as f64, h.1)))),
            ("validation", val_color, finite_points(self.history.iter().map(|h| (h.0 as f64, h.2)))),
        ];
        for (name, color, points) in series {
            // Validation loss is often evaluated every few steps only: markers show where.
            let markers = points.len() < 60;
            let drawn = chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?;
            drawn.label(name).legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            if markers {
                chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
            }
        }
        if !self.history.is_empty() {
            chart
                .configure_series_labels()
                .label_font((FONT, TICK_SIZE + 2))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }

        let x = step_range(self.ess.iter().map(|e| e.0));
        let y = value_range(self.ess.iter().map(|e| e.1).chain([0.0]));
        let mut chart = ChartBuilder::on(&right)
            .caption("effective sample size", title_font())
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(245, 245, 245))
            .x_desc("step")
            .y_desc("ESS")
            .axis_desc_style((FONT, LABEL_SIZE))
            .label_style((FONT, TICK_SIZE))
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&|v| format_tick(*v))
            .draw()?;
        let points = finite_points(self.ess.iter().map(|e| (e.0 as f64, e.1)));
        chart.draw_series(LineSeries::new(points.iter().copied(), SAMPLE_COLOR.stroke_width(2)))?;
        if points.len() < 60 {
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, SAMPLE_COLOR.filled())))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh empty directory under the system temp dir, removed when the guard is dropped.
    fn scratch_dir(test: &str) -> tempfile::TempDir {
        tempfile::Builder::new().prefix(&format!("lwflow-plot-{test}-")).tempdir().expect("temp dir is writable")
    }

    /// Deterministic uniform in [0, 1) (SplitMix64), so the tests need no RNG crate.
    struct Uniform(u64);
    impl Uniform {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.next().max(1e-300), self.next());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    const MODES: [(f64, f64); 4] = [(-1.5, -1.5), (-1.5, 1.5), (1.5, -1.5), (1.5, 1.5)];

    /// Four-mode mixture density on a grid, with a faint bridge along y = x between two modes.
    fn mixture_grid(sigma: f64, bridge: f64) -> Heatmap {
        let n_grid = 120;
        let range = (-3.5, 3.5);
        let step = (range.1 - range.0) / n_grid as f64;
        let values = Mat::from_fn(n_grid, n_grid, |i, j| {
            let (x, y) = (range.0 + (j as f64 + 0.5) * step, range.0 + (i as f64 + 0.5) * step);
            let modes: f64 = MODES
                .iter()
                .map(|&(mx, my)| (-((x - mx).powi(2) + (y - my).powi(2)) / (2.0 * sigma * sigma)).exp())
                .sum();
            let along = (x + y) / 2.0;
            let bridge_v = if along.abs() < 1.5 { bridge * (-(x - y).powi(2) / 0.05).exp() } else { 0.0 };
            modes + bridge_v
        });
        Heatmap { title: format!("σ = {sigma}"), values, x_range: range, y_range: range }
    }

    /// `n_rows` draws from the four-mode mixture in `dim` dimensions (extra dims are N(0, 1)).
    fn mixture_samples(n_rows: usize, dim: usize, seed: u64, sigma: f64) -> Mat<f64> {
        let mut u = Uniform(seed);
        let mut data = Vec::with_capacity(n_rows * dim);
        for _ in 0..n_rows {
            let mode = MODES[((u.next() * 4.0) as usize).min(3)];
            for c in 0..dim {
                let centre = match c {
                    0 => mode.0,
                    1 => mode.1,
                    _ => 0.5 * mode.0,
                };
                data.push(centre + sigma * u.normal());
            }
        }
        Mat::from_vec(n_rows, dim, data)
    }

    fn check_outputs(dir: &Path, stem: &str, mut plot: impl FnMut(&Path) -> Result<()>) {
        let png = dir.join(format!("{stem}.png"));
        let svg = dir.join(format!("{stem}.svg"));
        plot(&png).expect("png renders");
        plot(&svg).expect("svg renders");
        let png_bytes = std::fs::read(&png).expect("png exists");
        assert!(png_bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", png.display());
        let svg_text = std::fs::read_to_string(&svg).expect("svg exists");
        assert!(svg_text.contains("<svg"), "{} is not an SVG", svg.display());
        let bad = dir.join(format!("{stem}.jpg"));
        let err = plot(&bad).expect_err("jpg is refused");
        assert!(err.to_string().contains(&bad.display().to_string()), "error names the path: {err}");
        assert!(!bad.exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir)
            .expect("dir readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }

    #[test]
    fn heatmaps_write_png_and_svg() {
        let dir_guard = scratch_dir("heatmaps");
        let dir = dir_guard.path();
        let panels = vec![mixture_grid(0.4, 0.002), mixture_grid(0.6, 0.0), mixture_grid(0.9, 0.0)];
        check_outputs(dir, "heatmaps", |p| heatmaps(p, &panels, true));
        let shared = HeatmapOptions { scale: ColorScale::Sqrt, shared_scale: true };
        check_outputs(dir, "heatmaps_shared", |p| heatmaps_with(p, &panels, shared));
        check_outputs(dir, "heatmaps_linear", |p| heatmaps(p, &panels[..1], false));
    }

    #[test]
    fn heatmaps_reject_negative_density() {
        let dir_guard = scratch_dir("heatmaps-negative");
        let dir = dir_guard.path();
        let mut panel = mixture_grid(0.5, 0.0);
        panel.values.row_mut(3)[7] = -1.0;
        let err = heatmaps(&dir.join("bad.png"), &[panel], false).expect_err("negative density");
        assert!(format!("{err:#}").contains("row 3, column 7"), "{err:#}");
    }

    #[test]
    fn corner_writes_png_and_svg_for_each_dim() {
        let dir_guard = scratch_dir("corner");
        let dir = dir_guard.path();
        for dim in [1, 2, 4] {
            let samples = mixture_samples(4000, dim, 1, 0.45);
            let reference = mixture_samples(3000, dim, 2, 0.35);
            let title = format!("{dim}-D four-mode mixture");
            check_outputs(dir, &format!("corner{dim}"), |p| {
                corner(p, samples.as_ref(), Some(reference.as_ref()), &[], &title)
            });
        }
        let samples = mixture_samples(500, 6, 3, 0.45);
        let labels: Vec<String> = (1..=6).map(|i| format!("theta_{i}")).collect();
        check_outputs(dir, "corner6", |p| corner(p, samples.as_ref(), None, &labels, "6-D, no overlay"));
        let too_wide = Mat::<f64>::zeros(10, 7);
        assert!(corner(&dir.join("wide.png"), too_wide.as_ref(), None, &[], "").is_err());
    }

    #[test]
    fn pair_marginals_write_png_and_svg() {
        let dir_guard = scratch_dir("pairs");
        let dir = dir_guard.path();
        let a = mixture_samples(5000, 3, 4, 0.35);
        let b = mixture_samples(5000, 3, 5, 0.6);
        let sets = vec![("reference".to_string(), a.as_ref()), ("flow".to_string(), b.as_ref())];
        let ranges = [(-3.0, 3.0); 3];
        check_outputs(dir, "pairs", |p| pair_marginals(p, &sets, &ranges));
        assert!(pair_marginals(&dir.join("x.png"), &sets, &ranges[..2]).is_err());
    }

    #[test]
    fn training_curves_write_png_and_svg() {
        let dir_guard = scratch_dir("curves");
        let dir = dir_guard.path();
        let history: Vec<(usize, f64, f64)> = (0..200)
            .map(|s| {
                let base = 3.0 * (-(s as f64) / 40.0).exp() + 1.2;
                let val = if s % 10 == 0 { base + 0.1 } else { f64::NAN };
                (s * 10, base + 0.05 * ((s as f64) * 0.7).sin(), val)
            })
            .collect();
        let ess: Vec<(usize, f64)> = (0..20).map(|s| (s * 100, 500.0 * (1.0 - (-(s as f64) / 5.0).exp()))).collect();
        check_outputs(dir, "curves", |p| training_curves(p, &history, &ess));
        check_outputs(dir, "curves_empty", |p| training_curves(p, &[], &[]));
    }

    #[test]
    fn color_scale_maps_relative_density_onto_unit_interval() {
        for scale in [ColorScale::Linear, ColorScale::Sqrt, ColorScale::Log] {
            assert_eq!(scale.unit_of(0.0), 0.0, "{scale:?}");
            assert_eq!(scale.unit_of(1.0), 1.0, "{scale:?}");
            let ts: Vec<f64> = [1e-3, 0.01, 0.1, 0.5].iter().map(|&r| scale.unit_of(r)).collect();
            assert!(ts.windows(2).all(|w| w[0] < w[1]), "{scale:?} is increasing: {ts:?}");
        }
        assert_eq!(ColorScale::Log.unit_of(10f64.powf(-LOG_DECADES)), 0.0);
        assert!((ColorScale::Log.unit_of(0.1) - (1.0 - 1.0 / LOG_DECADES)).abs() < 1e-12);
        assert_eq!(colorbar_ticks(3.0, ColorScale::Log), vec![1e-3, 1e-2, 1e-1, 1.0]);
        let linear = colorbar_ticks(0.9, ColorScale::Linear);
        let expected = [0.0, 0.2, 0.4, 0.6, 0.8];
        assert_eq!(linear.len(), expected.len(), "{linear:?}");
        assert!(linear.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12), "{linear:?}");
    }
}
