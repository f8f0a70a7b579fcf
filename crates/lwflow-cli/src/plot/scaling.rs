//! The θ-scaling figure: milliseconds per training step (and its likelihood and flow-gradient
//! parts) against the dimension of θ on the left, KL(p‖q) per dimension on the right.

use std::path::Path;

use anyhow::Result;
use lwflow::experiment::ScalingRow;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{step_chart, Panel, PanelSize};
use super::output::{save, Format};
use super::{DrawResult, Figure, FONT, OVERLAY_COLOR, SAMPLE_COLOR, TICK_SIZE};

/// Writes the figure of `rows` to `path` (.png or .svg).
pub fn theta_scaling(path: &Path, rows: &[ScalingRow]) -> Result<()> {
    let format = Format::of(path)?;
    save(path, format, &ScalingFigure { rows })
}

/// A timed part of a step: its legend label, colour and value in milliseconds.
type TimedPart = (&'static str, RGBColor, fn(&ScalingRow) -> f64);

struct ScalingFigure<'a> {
    rows: &'a [ScalingRow],
}

/// [0, 1.1 · max] of the finite values (at least [0, 1]).
fn upper(values: impl Iterator<Item = f64>) -> f64 {
    1.1 * values.filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-9)
}

impl Figure for ScalingFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (960, 470)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let halves = root.split_evenly((1, 2));
        let d_max = 1.05 * self.rows.iter().map(|r| r.dim).max().unwrap_or(1) as f64;
        let grey = RGBColor(120, 120, 120);
        let times: [TimedPart; 3] = [
            ("step", SAMPLE_COLOR, |r| r.step_ms),
            ("likelihood", grey, |r| r.likelihood_ms),
            ("flow gradient", OVERLAY_COLOR, |r| r.gradient_ms),
        ];
        let y_ms = upper(self.rows.iter().flat_map(|r| times.iter().map(move |t| (t.2)(r))));
        let panel = Panel {
            caption: "cost of a training step".into(),
            x_desc: "dimension of θ",
            y_desc: "milliseconds",
            x: 0.0..d_max,
            y: 0.0..y_ms,
            size: PanelSize::Large,
        };
        let mut chart = step_chart(&halves[0], panel)?;
        for (label, color, value) in times {
            let points: Vec<(f64, f64)> = self.rows.iter().map(|r| (r.dim as f64, value(r))).collect();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, TICK_SIZE + 2))
            .border_style(BLACK.mix(0.3))
            .background_style(WHITE.mix(0.9))
            .draw()?;

        let per_dim = |r: &ScalingRow| r.kl.mean / r.dim as f64;
        let panel = Panel {
            caption: "KL(p‖q) per dimension".into(),
            x_desc: "dimension of θ",
            y_desc: "nats per dimension",
            x: 0.0..d_max,
            y: 0.0..upper(self.rows.iter().map(per_dim)),
            size: PanelSize::Large,
        };
        let mut chart = step_chart(&halves[1], panel)?;
        let points: Vec<(f64, f64)> = self.rows.iter().map(|r| (r.dim as f64, per_dim(r))).collect();
        chart.draw_series(LineSeries::new(points.iter().copied(), SAMPLE_COLOR.stroke_width(2)))?;
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, SAMPLE_COLOR.filled())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, scratch_dir};
    use lwflow::experiment::MeanStd;

    #[test]
    fn theta_scaling_writes_png_and_svg() {
        let dir_guard = scratch_dir("scaling");
        let row = |dim: usize, ms: f64| ScalingRow {
            dim,
            params: 100 * dim,
            steps: 10,
            train_seconds: ms * 1e-2,
            likelihood_evals: 1000,
            adaptive: false,
            kl: MeanStd { mean: 0.01 * dim as f64, std: 0.001 },
            c2st: None,
            step_ms: ms,
            likelihood_ms: 0.1 * ms,
            gradient_ms: 0.6 * ms,
        };
        let rows = [row(2, 5.0), row(8, 9.0), row(32, 30.0)];
        check_outputs(dir_guard.path(), "scaling", |p| theta_scaling(p, &rows));
    }
}
