//! The one chart setup every line plot shares (training curves, SBC ECDF, coverage, predictive
//! check): caption, margins, label areas, a light mesh, the house fonts and tick labels. A
//! figure says what differs (caption, axis names, ranges, panel size) in a [`Panel`].

use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::format_tick;
use super::{title_font, Chart2d, FONT, LABEL_SIZE, TICK_SIZE};

/// How much room a panel gets around its plot area.
#[derive(Clone, Copy)]
pub(super) enum PanelSize {
    /// A figure's main panel: bold caption, axis names, room for them.
    Large,
    /// One of a grid of small panels: small caption, no axis names, five ticks per axis.
    Small,
}

/// What one panel shows.
pub(super) struct Panel<'a> {
    pub caption: String,
    /// Axis names ("" = none).
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub x: Range<f64>,
    pub y: Range<f64>,
    pub size: PanelSize,
}

/// The chart of `panel` on `area`, mesh drawn.
pub(super) fn step_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    panel: Panel<'_>,
) -> Result<Chart2d<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut builder = ChartBuilder::on(area);
    match panel.size {
        PanelSize::Large => {
            builder.caption(panel.caption, title_font()).margin(12).x_label_area_size(44).y_label_area_size(60)
        }
        PanelSize::Small => {
            builder.caption(panel.caption, (FONT, TICK_SIZE + 3)).margin(8).x_label_area_size(28).y_label_area_size(44)
        }
    };
    let mut chart = builder.build_cartesian_2d(panel.x, panel.y)?;
    let x_tick = |v: &f64| format_tick(*v);
    // Ticks computed as multiples of a step land at ±1e-17 instead of 0.
    let y_tick = |v: &f64| format_tick(if v.abs() < 1e-9 { 0.0 } else { *v });
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(RGBColor(245, 245, 245))
        .axis_desc_style((FONT, LABEL_SIZE))
        .label_style((FONT, TICK_SIZE))
        .x_label_formatter(&x_tick)
        .y_label_formatter(&y_tick);
    if !panel.x_desc.is_empty() {
        mesh.x_desc(panel.x_desc);
    }
    if !panel.y_desc.is_empty() {
        mesh.y_desc(panel.y_desc);
    }
    if matches!(panel.size, PanelSize::Small) {
        mesh.x_labels(5).y_labels(5);
    }
    mesh.draw()?;
    Ok(chart)
}
