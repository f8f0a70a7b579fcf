//! Side-by-side density heat maps over (θ₁, θ₂), each with its colour bar or one shared bar.

use std::path::Path;

use anyhow::{bail, Context, Result};
use lwflow::Mat;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::{default_labels, format_tick};
use super::output::{save, Format};
use super::scales::{draw_colorbar, fill_grid, ColorScale, Zeros};
use super::{title_font, DrawResult, Figure, FONT, LABEL_SIZE, TICK_SIZE};

/// One density panel: `values` is an n_y × n_x grid of densities (not logs). Row `i`, column `j`
/// covers the cell x ∈ [x_lo + j·Δx, x_lo + (j+1)·Δx], y ∈ [y_lo + i·Δy, ...], so row 0 is the
/// bottom of the picture and the ranges are the outer cell edges.
pub struct Heatmap {
    pub title: String,
    pub values: Mat<f64>,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
}

/// Options of [`heatmaps_with`].
#[derive(Debug, Clone, Copy)]
pub struct HeatmapOptions {
    pub scale: ColorScale,
    /// One colour scale (v_max over all panels) with one colour bar, instead of one per panel.
    pub shared_scale: bool,
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, scratch_dir, MODES};

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
}
