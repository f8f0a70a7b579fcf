//! Output: the format a path asks for, the embedded fonts, rendering in memory, atomic write.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::{Figure, FONT};

/// File format of a figure, from the path's extension.
#[derive(Debug, Clone, Copy)]
pub(super) enum Format {
    Png,
    Svg,
}

impl Format {
    /// The format `path`'s extension names; errors naming the path for anything but png or svg.
    pub(super) fn of(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => bail!("{}: unsupported plot format, expected a .png or .svg path", path.display()),
        }
    }
}

/// Registers the embedded DejaVu Sans as plotters' `sans-serif` family, once per process.
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let regular = register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let bold = register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
        assert!(regular.is_ok() && bold.is_ok(), "the embedded DejaVu Sans fonts are valid TrueType files");
    });
}

/// Renders `fig` in memory in `format`, then writes it to `path` atomically.
pub(super) fn save(path: &Path, format: Format, fig: &impl Figure) -> Result<()> {
    register_fonts();
    let (width, height) = fig.size();
    let draw_err = |e: String| anyhow!("{}: drawing failed: {e}", path.display());
    match format {
        Format::Png => {
            let mut rgb = vec![255u8; width as usize * height as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
                fig.draw(&root).map_err(|e| draw_err(e.to_string()))?;
                root.present().map_err(|e| draw_err(e.to_string()))?;
            }
            lwflow::io::write_atomic(path, |w| encode_png(w, &rgb, width, height))?;
        }
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
                fig.draw(&root).map_err(|e| draw_err(e.to_string()))?;
                root.present().map_err(|e| draw_err(e.to_string()))?;
            }
            lwflow::io::write_atomic(path, |w| w.write_all(svg.as_bytes()))?;
        }
    }
    Ok(())
}

fn encode_png(w: &mut dyn Write, rgb: &[u8], width: u32, height: u32) -> io::Result<()> {
    let mut encoder = png::Encoder::new(w, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(io::Error::other)?;
    writer.write_image_data(rgb).map_err(io::Error::other)?;
    writer.finish().map_err(io::Error::other)
}
