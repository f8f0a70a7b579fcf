//! Posterior predictive check plot: one panel per dimension of x, one row per observation. Each
//! row shows the predictive distribution of that dimension given q's draws — the central 95 %
//! interval (thin bar), the 50 % interval (thick bar) and the median (tick) — and the observed
//! value (dot; red when outside the flagging interval). The axis is the predictive's own scale,
//! piecewise linear so that the 95 % interval of every row spans [−1, 1] with the median at 0:
//! rows of very different spread stay comparable. Observed values beyond ±[`REACH`] sit at the
//! edge.

use std::path::Path;

use anyhow::Result;
use lwflow::diagnostics::PpcReport;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{step_chart, Panel, PanelSize};
use super::output::{save, Format};
use super::{DrawResult, Figure, OVERLAY_COLOR, SAMPLE_COLOR};

/// Panels per row.
const COLUMNS: usize = 4;
/// Panel width, and height per observation row (plus a fixed part for caption and ticks).
const PANEL_WIDTH: u32 = 300;
const ROW_HEIGHT: u32 = 14;
const PANEL_FIXED: u32 = 80;
/// The axis spans [−REACH, REACH] in units of the predictive's 95 % half-intervals.
const REACH: f64 = 2.5;

/// Writes the predictive check panels of `ppc` to `path` (.png or .svg).
pub fn ppc(path: &Path, ppc: &PpcReport) -> Result<()> {
    let format = Format::of(path)?;
    save(path, format, &PpcFigure { ppc })
}

struct PpcFigure<'a> {
    ppc: &'a PpcReport,
}

impl PpcFigure<'_> {
    fn x_dim(&self) -> usize {
        self.ppc.observations.first().map_or(1, |o| o.x.len()).max(1)
    }

    fn grid(&self) -> (usize, usize) {
        let n = self.x_dim();
        let cols = n.min(COLUMNS);
        (cols, n.div_ceil(cols))
    }
}

/// `v` on the row's predictive scale: median → 0, 2.5 % and 97.5 % quantiles → ∓1, clamped to
/// ±REACH. A side of zero width (discrete x) sends any value beyond the median to the edge.
fn scaled(v: f64, band: &[f64; 5]) -> f64 {
    let (low, median, high) = (band[0], band[2], band[4]);
    let s = if v >= median {
        if high > median {
            (v - median) / (high - median)
        } else if v > median {
            REACH
        } else {
            0.0
        }
    } else if median > low {
        (v - median) / (median - low)
    } else {
        -REACH
    };
    s.clamp(-REACH, REACH)
}

impl Figure for PpcFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let (cols, rows) = self.grid();
        let n_obs = self.ppc.observations.len().max(1) as u32;
        (PANEL_WIDTH * cols as u32, (PANEL_FIXED + ROW_HEIGHT * n_obs) * rows as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (cols, rows) = self.grid();
        let panels = root.split_evenly((rows, cols));
        let n_obs = self.ppc.observations.len();
        for (k, area) in (0..self.x_dim()).zip(panels.iter()) {
            let outside = self.ppc.observations.iter().filter(|o| o.outside.contains(&k)).count();
            let panel = Panel {
                caption: format!("x_{}  outside: {outside} of {n_obs}", k + 1),
                x_desc: "",
                y_desc: "",
                x: -REACH..REACH,
                y: -0.5..n_obs.max(1) as f64 - 0.5,
                size: PanelSize::Small,
            };
            let mut chart = step_chart(area, panel)?;
            chart.draw_series(LineSeries::new([(0.0, -0.5), (0.0, n_obs as f64 - 0.5)], BLACK.mix(0.3)))?;
            for (row, o) in self.ppc.observations.iter().enumerate() {
                let y = row as f64;
                let band = &o.bands[k];
                let at = |v: f64| (scaled(v, band), y);
                chart.draw_series(std::iter::once(PathElement::new(
                    [at(band[0]), at(band[4])],
                    SAMPLE_COLOR.mix(0.5).stroke_width(1),
                )))?;
                chart.draw_series(std::iter::once(PathElement::new(
                    [at(band[1]), at(band[3])],
                    SAMPLE_COLOR.stroke_width(4),
                )))?;
                let color = if o.outside.contains(&k) { OVERLAY_COLOR } else { BLACK };
                chart.draw_series(std::iter::once(Circle::new(at(o.x[k]), 3, color.filled())))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, scratch_dir};
    use lwflow::diagnostics::ppc::PpcObservation;

    #[test]
    fn the_scale_maps_the_interval_to_plus_minus_one() {
        let band = [-1.0, 0.5, 1.0, 2.0, 5.0];
        assert_eq!(scaled(1.0, &band), 0.0);
        assert_eq!(scaled(5.0, &band), 1.0);
        assert_eq!(scaled(-1.0, &band), -1.0);
        assert_eq!(scaled(100.0, &band), REACH);
        assert_eq!(scaled(3.0, &[3.0; 5]), 0.0);
        assert_eq!(scaled(4.0, &[3.0; 5]), REACH);
    }

    #[test]
    fn ppc_writes_png_and_svg() {
        let dir_guard = scratch_dir("ppc");
        let observations = (0..6)
            .map(|i| PpcObservation {
                index: i,
                x: vec![i as f64 * 0.5, -3.0],
                quantile: vec![0.5, 0.0],
                bands: vec![[-1.0, 0.5, 1.0, 2.0, 5.0], [0.0, 1.0, 1.0, 1.0, 2.0]],
                outside: vec![1],
            })
            .collect();
        let report = PpcReport {
            draws: 100,
            flag_tail: 0.0025,
            observations,
            flagged: (0..6).collect(),
            flagged_share: 1.0,
            max_flagged_share: 0.1,
            passed: false,
        };
        check_outputs(dir_guard.path(), "ppc", |p| ppc(p, &report));
    }
}
