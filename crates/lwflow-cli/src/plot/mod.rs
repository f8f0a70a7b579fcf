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
//!
//! One file per figure ([`heatmap`], [`corner`], [`pairs`], [`curves`], [`sbc_ecdf`], [`coverage`],
//! [`ppc`], [`scaling`]); what they share is the colour scale and colour bar (`scales`), tick labels (`axes`),
//! the line charts' setup (`chart`), sample binning (`histogram`) and the output path (`output`). This file holds the [`Figure`] contract and the house style.

mod axes;
mod chart;
mod corner;
mod coverage;
mod curves;
mod heatmap;
mod histogram;
mod output;
mod pairs;
mod ppc;
mod sbc_ecdf;
mod scales;
mod scaling;
#[cfg(test)]
mod test_support;

pub use corner::corner;
pub use coverage::coverage;
pub use curves::training_curves;
pub use heatmap::{heatmaps, Heatmap};
pub use pairs::pair_marginals;
pub use ppc::ppc;
pub use sbc_ecdf::sbc_ecdf;
pub use scaling::theta_scaling;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 22;
const LABEL_SIZE: u32 = 17;
const TICK_SIZE: u32 = 12;
const SAMPLE_COLOR: RGBColor = RGBColor(49, 104, 142);
const OVERLAY_COLOR: RGBColor = RGBColor(220, 50, 32);

type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A figure of fixed pixel size that can draw itself on any plotters backend.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Bold panel-title font. Built with its style from the start: plotters' `FontDesc::style` only
/// relabels an already loaded font, so bitmaps would still show the regular face.
fn title_font() -> FontDesc<'static> {
    (FONT, f64::from(LABEL_SIZE + 2), FontStyle::Bold).into_font()
}
