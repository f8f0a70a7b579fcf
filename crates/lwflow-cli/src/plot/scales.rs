//! Colour: how a density maps to the viridis colormap ([`ColorScale`]), filling a grid of
//! densities into a chart, and the colour bar that reads it back.

use lwflow::Mat;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use super::{Chart2d, DrawResult, FONT, TICK_SIZE};

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

/// Orders of magnitude below the maximum that [`ColorScale::Log`] resolves.
const LOG_DECADES: f64 = 4.0;

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

/// How [`fill_grid`] shows cells holding exactly zero.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Zeros {
    /// The lowest colour, like any small density (continuous heat maps).
    Colored,
    /// Not drawn, so the background shows (empty histogram bins, as in corner.py).
    Blank,
}

/// Fills the grid `values` (row 0 at the bottom) into a chart spanning `x` × `y`, one rectangle
/// per run of equal colour levels along a row, so SVG output stays small.
pub(super) fn fill_grid<DB: DrawingBackend>(
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
pub(super) fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    v_max: f64,
    scale: ColorScale,
) -> DrawResult<DB> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
