//! SBC ECDF-difference plot (Säilynoja et al. 2022): per quantity (θ dimensions, then log q),
//! ECDF(z) − z of the ranks against the level z, inside the simultaneous band (shaded). A curve
//! that leaves the band fails the uniformity test; ∪ = q too narrow, ∩ = too wide, one-signed =
//! biased.

use std::path::Path;

use anyhow::Result;
use lwflow::diagnostics::SbcReport;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{step_chart, Panel, PanelSize};
use super::output::{save, Format};
use super::{DrawResult, Figure, OVERLAY_COLOR, SAMPLE_COLOR};

/// Panels per row.
const COLUMNS: usize = 4;
const PANEL: (u32, u32) = (300, 250);

/// Writes the ECDF-difference panels of `sbc` to `path` (.png or .svg).
pub fn sbc_ecdf(path: &Path, sbc: &SbcReport) -> Result<()> {
    let format = Format::of(path)?;
    save(path, format, &EcdfFigure { sbc })
}

struct EcdfFigure<'a> {
    sbc: &'a SbcReport,
}

impl EcdfFigure<'_> {
    fn grid(&self) -> (usize, usize) {
        let n = self.sbc.dimensions.len().max(1);
        let cols = n.min(COLUMNS);
        (cols, n.div_ceil(cols))
    }
}

impl Figure for EcdfFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let (cols, rows) = self.grid();
        (PANEL.0 * cols as u32, PANEL.1 * rows as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (cols, rows) = self.grid();
        let panels = root.split_evenly((rows, cols));
        for (dim, area) in self.sbc.dimensions.iter().zip(panels.iter()) {
            let t = &dim.test;
            let diff = |v: &[f64]| -> Vec<(f64, f64)> { t.z.iter().zip(v).map(|(z, e)| (*z, e - z)).collect() };
            let (ecdf, low, high) = (diff(&t.ecdf), diff(&t.band_low), diff(&t.band_high));
            let reach = ecdf.iter().chain(&low).chain(&high).fold(0.01f64, |m, p| m.max(p.1.abs())) * 1.1;
            let caption = format!("{}  p = {}", dim.name, format_p(dim.p_value_holm));
            let panel =
                Panel { caption, x_desc: "", y_desc: "", x: 0.0..1.0, y: -reach..reach, size: PanelSize::Small };
            let mut chart = step_chart(area, panel)?;
            let band: Vec<(f64, f64)> = low.iter().copied().chain(high.iter().rev().copied()).collect();
            chart.draw_series(std::iter::once(Polygon::new(band, SAMPLE_COLOR.mix(0.18))))?;
            chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 0.0)], BLACK.mix(0.4)))?;
            let inside = t.ecdf.iter().zip(&t.band_low).zip(&t.band_high).all(|((e, l), h)| e >= l && e <= h);
            let color = if inside { SAMPLE_COLOR } else { OVERLAY_COLOR };
            chart.draw_series(LineSeries::new(ecdf, color.stroke_width(2)))?;
        }
        Ok(())
    }
}

/// A p-value in a caption: 3 significant digits, scientific below 0.001.
pub(super) fn format_p(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, scratch_dir};
    use lwflow::diagnostics::sbc::SbcDimension;
    use lwflow::diagnostics::uniformity::UniformityResult;

    /// A result whose ECDF bows by `bow` against a band of half-width 0.05.
    pub(in crate::plot) fn result(bow: f64) -> UniformityResult {
        let z: Vec<f64> = (1..20).map(|k| k as f64 / 20.0).collect();
        UniformityResult {
            statistic: 0.5,
            p_value: 0.5,
            ecdf: z.iter().map(|v| v + bow * v * (1.0 - v)).collect(),
            band_low: z.iter().map(|v| v - 0.05).collect(),
            band_high: z.iter().map(|v| v + 0.05).collect(),
            z,
        }
    }

    #[test]
    fn sbc_ecdf_writes_png_and_svg() {
        let dir_guard = scratch_dir("sbc-ecdf");
        let dimensions = [0.0, 0.5, -0.8]
            .iter()
            .enumerate()
            .map(|(k, &bow)| SbcDimension {
                name: format!("theta_{}", k + 1),
                test: result(bow),
                p_value_holm: 0.2,
                mean_rank_offset: 0.0,
            })
            .collect();
        let sbc = SbcReport { dimensions, p_value: 0.2, passed: true };
        check_outputs(dir_guard.path(), "sbc_ecdf", |p| sbc_ecdf(p, &sbc));
    }
}
