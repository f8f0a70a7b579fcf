//! Corner plot: 1-D histograms on the diagonal, 2-D binned densities below it, an optional
//! overlay (e.g. reference draws) as outlines and a scatter.

use std::path::Path;

use anyhow::{bail, Context, Result};
use lwflow::MatRef;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::{default_labels, format_tick};
use super::histogram::{histogram_1d, histogram_2d, N_BINS_2D};
use super::output::{save, Format};
use super::scales::{fill_grid, ColorScale, Zeros};
use super::{Chart2d, DrawResult, Figure, FONT, LABEL_SIZE, OVERLAY_COLOR, SAMPLE_COLOR, TICK_SIZE, TITLE_SIZE};

/// Bins per axis of the diagonal's 1-D histograms.
const N_BINS_1D: usize = 40;
/// Most overlay points scattered in one corner panel.
const MAX_OVERLAY_POINTS: usize = 300;
/// Largest dimension a corner plot draws (d² panels).
const MAX_CORNER_DIM: usize = 6;
/// Sample quantiles bounding a corner plot's axes, so a few outliers cannot squash the picture.
const AXIS_QUANTILES: (f64, f64) = (0.002, 0.998);

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
        .map(|c| axis_range(samples, overlay, c).with_context(|| format!("{} (column {})", labels[c], c + 1)))
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("{}: corner plot", at()))?;
    let fig = CornerFigure { samples, overlay, labels, title, ranges };
    save(path, format, &fig)
}

/// Axis range of column `c`: the AXIS_QUANTILES of samples and overlay together, padded by 5 %.
/// Errors say which set holds the non-finite values, or that the values are too far apart to draw.
fn axis_range(samples: MatRef<f64>, overlay: Option<MatRef<f64>>, c: usize) -> Result<(f64, f64)> {
    let mut values: Vec<f64> = (0..samples.rows()).map(|r| samples.at(r, c)).collect();
    if let Some(o) = overlay {
        values.extend((0..o.rows()).map(|r| o.at(r, c)));
    }
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        let of_overlay = overlay.map_or(String::new(), |o| format!(" and none of the {} reference draws", o.rows()));
        bail!(
            "none of the {} samples{of_overlay} is a finite number (all NaN or ±inf), so there is nothing to draw",
            samples.rows()
        );
    }
    values.sort_by(f64::total_cmp);
    let pick = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (pick(AXIS_QUANTILES.0), pick(AXIS_QUANTILES.1));
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
    let range = (lo - pad, hi + pad);
    if !(range.0.is_finite() && range.1.is_finite()) {
        bail!("the values span [{lo:e}, {hi:e}], too wide for an axis (its width overflows a float)");
    }
    Ok(range)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, mixture_samples, scratch_dir};
    use lwflow::Mat;

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
        // A column without a finite value, or too wide to draw, is named with what is wrong.
        let mut bad = mixture_samples(50, 2, 4, 0.45);
        (0..50).for_each(|r| bad.row_mut(r)[1] = f64::NAN);
        let msg = format!("{:#}", corner(&dir.join("nan.png"), bad.as_ref(), None, &[], "").unwrap_err());
        assert!(msg.contains("(column 2)") && msg.contains("none of the 50 samples is a finite number"), "{msg}");
        (0..50).for_each(|r| bad.row_mut(r)[1] = if r % 2 == 0 { 1e308 } else { -1e308 });
        let msg = format!("{:#}", corner(&dir.join("wide.png"), bad.as_ref(), None, &[], "").unwrap_err());
        assert!(msg.contains("(column 2)") && msg.contains("too wide for an axis"), "{msg}");
    }
}
