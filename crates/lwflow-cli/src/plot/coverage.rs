//! Coverage plot: the expected coverage of q's highest-density regions (left) and TARP's
//! expected coverage probability (right) against the credibility level, with the diagonal and
//! the simultaneous band. Below the diagonal q is over-confident, above it under-confident.

use std::path::Path;

use anyhow::Result;
use lwflow::diagnostics::CoverageCurve;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{step_chart, Panel, PanelSize};
use super::output::{save, Format};
use super::sbc_ecdf::format_p;
use super::{DrawResult, Figure, OVERLAY_COLOR, SAMPLE_COLOR};

/// Writes the HPD coverage and TARP panels to `path` (.png or .svg).
pub fn coverage(path: &Path, hpd: &CoverageCurve, tarp: &CoverageCurve) -> Result<()> {
    let format = Format::of(path)?;
    save(path, format, &CoverageFigure { panels: [("HPD coverage", hpd), ("TARP coverage", tarp)] })
}

struct CoverageFigure<'a> {
    panels: [(&'static str, &'a CoverageCurve); 2],
}

impl Figure for CoverageFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (960, 470)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let halves = root.split_evenly((1, 2));
        for ((title, curve), area) in self.panels.iter().zip(halves.iter()) {
            let t = &curve.test;
            let caption = format!("{title}  (p = {})", format_p(t.p_value));
            let panel = Panel {
                caption,
                x_desc: "credibility level",
                y_desc: "empirical coverage",
                x: 0.0..1.0,
                y: 0.0..1.0,
                size: PanelSize::Large,
            };
            let mut chart = step_chart(area, panel)?;
            // The band spans the levels; pin its ends to the corners (0, 0) and (1, 1).
            let band: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
                .chain(t.z.iter().copied().zip(t.band_low.iter().copied()))
                .chain(std::iter::once((1.0, 1.0)))
                .chain(t.z.iter().copied().zip(t.band_high.iter().copied()).rev())
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(band, SAMPLE_COLOR.mix(0.18))))?;
            chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.5)))?;
            let color = if curve.passed { SAMPLE_COLOR } else { OVERLAY_COLOR };
            let points: Vec<(f64, f64)> = t.z.iter().copied().zip(t.ecdf.iter().copied()).collect();
            chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?;
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::sbc_ecdf::tests::result;
    use crate::plot::test_support::{check_outputs, scratch_dir};

    #[test]
    fn coverage_writes_png_and_svg() {
        let dir_guard = scratch_dir("coverage");
        let hpd = CoverageCurve { test: result(-0.6), mean_deviation: -0.1, passed: false };
        let tarp = CoverageCurve { test: result(0.0), mean_deviation: 0.0, passed: true };
        check_outputs(dir_guard.path(), "coverage", |p| coverage(p, &hpd, &tarp));
    }
}
