//! Training curves: loss and validation loss beside the effective sample size, per step.

use std::ops::Range;
use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{step_chart, Panel, PanelSize};
use super::output::{save, Format};
use super::{DrawResult, Figure, FONT, SAMPLE_COLOR, TICK_SIZE};

/// Training curves: `history` rows (step, loss, validation loss) on the left panel, `ess`
/// rows (step, effective sample size) on the right. Non-finite values (e.g. NaN for "validation
/// loss not evaluated at this step") are skipped; the line joins the finite points.
pub fn training_curves(path: &Path, history: &[(usize, f64, f64)], ess: &[(usize, f64)]) -> Result<()> {
    let format = Format::of(path)?;
    save(path, format, &CurvesFigure { history, ess })
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
        let panel = Panel { caption: "loss".into(), x_desc: "step", y_desc: "loss", x, y, size: PanelSize::Large };
        let mut chart = step_chart(&left, panel)?;
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
        let panel = Panel {
            caption: "effective sample size".into(),
            x_desc: "step",
            y_desc: "ESS",
            x,
            y,
            size: PanelSize::Large,
        };
        let mut chart = step_chart(&right, panel)?;
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
    use crate::plot::test_support::{check_outputs, scratch_dir};

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
}
