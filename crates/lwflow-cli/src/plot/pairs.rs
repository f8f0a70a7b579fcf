//! Pairwise 2-D marginals of several sample sets side by side: one column per set, one row per
//! pair of coordinates.

use std::path::Path;

use anyhow::{bail, Result};
use lwflow::MatRef;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::{default_labels, format_tick};
use super::histogram::{histogram_2d, N_BINS_2D};
use super::output::{save, Format};
use super::scales::{fill_grid, ColorScale, Zeros};
use super::{title_font, DrawResult, Figure, FONT, LABEL_SIZE, TICK_SIZE};

/// Pairwise 2-D marginals of several sample sets side by side: one column per set, one row per
/// pair of columns (for 3-D: (1,2), (1,3), (2,3)). `ranges[c]` bounds column c in every panel;
/// all sets need `ranges.len()` ∈ 2..=4 columns.
pub fn pair_marginals(path: &Path, sets: &[(String, MatRef<f64>)], ranges: &[(f64, f64)]) -> Result<()> {
    let format = Format::of(path)?;
    let dim = ranges.len();
    let at = || path.display();
    if !(2..=4).contains(&dim) {
        bail!("{}: pair marginals need 2..=4 ranges, got {dim}", at());
    }
    if sets.is_empty() {
        bail!("{}: no sample sets to plot", at());
    }
    for (name, set) in sets {
        if set.cols() != dim {
            bail!("{}: sample set '{name}' has {} columns, expected {dim}", at(), set.cols());
        }
    }
    for (c, &(lo, hi)) in ranges.iter().enumerate() {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            bail!("{}: range of column {} is [{lo}, {hi}], expected finite lo < hi", at(), c + 1);
        }
    }
    let pairs = (0..dim).flat_map(|a| (a + 1..dim).map(move |b| (a, b))).collect();
    let fig = PairFigure { sets, ranges, pairs, labels: default_labels(dim) };
    save(path, format, &fig)
}

struct PairFigure<'a> {
    sets: &'a [(String, MatRef<'a, f64>)],
    ranges: &'a [(f64, f64)],
    pairs: Vec<(usize, usize)>,
    labels: Vec<String>,
}

const PAIR_CELL: (u32, u32) = (290, 270);

impl Figure for PairFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (self.sets.len() as u32 * PAIR_CELL.0 + 10, self.pairs.len() as u32 * PAIR_CELL.1 + 36)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (w, _) = root.dim_in_pixel();
        let body = root.margin(36, 0, 0, 10);
        let columns = body.split_evenly((self.pairs.len(), self.sets.len()));
        for (c, (name, _)) in self.sets.iter().enumerate() {
            let x = c as u32 * PAIR_CELL.0 + (PAIR_CELL.0 + 44) / 2;
            let style = TextStyle::from(title_font()).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ));
            root.draw_text(name, &style, (x.min(w) as i32, 8))?;
        }
        for (k, area) in columns.iter().enumerate() {
            let (row, col) = (k / self.sets.len(), k % self.sets.len());
            let (a, b) = self.pairs[row];
            let (rx, ry) = (self.ranges[a], self.ranges[b]);
            let mut chart = ChartBuilder::on(area)
                .margin(4)
                .x_label_area_size(44)
                .y_label_area_size(50)
                .build_cartesian_2d(rx.0..rx.1, ry.0..ry.1)?;
            let counts = histogram_2d(self.sets[col].1, (a, b), (rx, ry), N_BINS_2D);
            let top = counts.as_slice().iter().copied().fold(0.0, f64::max);
            fill_grid(&mut chart, &counts, (top, ColorScale::Sqrt, Zeros::Blank), (rx, ry))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(5)
                .y_labels(5)
                .x_desc(&self.labels[a])
                .y_desc(&self.labels[b])
                .axis_desc_style((FONT, LABEL_SIZE))
                .label_style((FONT, TICK_SIZE))
                .x_label_formatter(&|v| format_tick(*v))
                .y_label_formatter(&|v| format_tick(*v))
                .draw()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, mixture_samples, scratch_dir};

    #[test]
    fn pair_marginals_write_png_and_svg() {
        let dir_guard = scratch_dir("pairs");
        let dir = dir_guard.path();
        let a = mixture_samples(5000, 3, 4, 0.35);
        let b = mixture_samples(5000, 3, 5, 0.6);
        let sets = vec![("reference".to_string(), a.as_ref()), ("flow".to_string(), b.as_ref())];
        let ranges = [(-3.0, 3.0); 3];
        check_outputs(dir, "pairs", |p| pair_marginals(p, &sets, &ranges));
        assert!(pair_marginals(&dir.join("x.png"), &sets, &ranges[..2]).is_err());
    }
}
