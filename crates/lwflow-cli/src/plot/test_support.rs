//! Fixtures shared by the figures' tests: a scratch directory, seeded four-mode samples, and
//! the checks every written figure must pass.

use std::path::Path;

use anyhow::Result;
use lwflow::Mat;

/// A fresh empty directory under the system temp dir, removed when the guard is dropped.
pub(super) fn scratch_dir(test: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("lwflow-plot-{test}-")).tempdir().expect("temp dir is writable")
}

/// Deterministic uniform in [0, 1) (SplitMix64), so the tests need no RNG crate.
struct Uniform(u64);
impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

pub(super) const MODES: [(f64, f64); 4] = [(-1.5, -1.5), (-1.5, 1.5), (1.5, -1.5), (1.5, 1.5)];

/// `n_rows` draws from the four-mode mixture in `dim` dimensions (extra dims are N(0, 1)).
pub(super) fn mixture_samples(n_rows: usize, dim: usize, seed: u64, sigma: f64) -> Mat<f64> {
    let mut u = Uniform(seed);
    let mut data = Vec::with_capacity(n_rows * dim);
    for _ in 0..n_rows {
        let mode = MODES[((u.next() * 4.0) as usize).min(3)];
        for c in 0..dim {
            let centre = match c {
                0 => mode.0,
                1 => mode.1,
                _ => 0.5 * mode.0,
            };
            data.push(centre + sigma * u.normal());
        }
    }
    Mat::from_vec(n_rows, dim, data)
}

pub(super) fn check_outputs(dir: &Path, stem: &str, mut plot: impl FnMut(&Path) -> Result<()>) {
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    plot(&png).expect("png renders");
    plot(&svg).expect("svg renders");
    let png_bytes = std::fs::read(&png).expect("png exists");
    assert!(png_bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", png.display());
    let svg_text = std::fs::read_to_string(&svg).expect("svg exists");
    assert!(svg_text.contains("<svg"), "{} is not an SVG", svg.display());
    let bad = dir.join(format!("{stem}.jpg"));
    let err = plot(&bad).expect_err("jpg is refused");
    assert!(err.to_string().contains(&bad.display().to_string()), "error names the path: {err}");
    assert!(!bad.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .expect("dir readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}
