//! `lwflow compare A B`: sample-based metrics between two sample files (CSV with a header row, or
//! .npy), e.g. our reference against sbibm's published reference samples.

use anyhow::{bail, Context, Result};
use lwflow::eval::compare_samples;
use lwflow::io::read_samples;

use crate::args::CompareArgs;

/// Largest |value| `compare` accepts: squared distances between samples, summed over columns,
/// must stay finite in f64 (max ≈ 1.8·10³⁰⁸), with room for the metrics' sums over rows.
const MAX_COMPARE_ABS: f64 = 1e150;

pub fn run(a: &CompareArgs) -> Result<()> {
    let read = |path: &std::path::Path| read_samples(path).with_context(|| format!("reading {}", path.display()));
    let (p, q) = (read(&a.a)?, read(&a.b)?);
    if p.cols() != q.cols() {
        bail!(
            "{} has {} columns but {} has {}: both sample files must have the same dimension",
            a.a.display(),
            p.cols(),
            a.b.display(),
            q.cols()
        );
    }
    for (path, m) in [(&a.a, &p), (&a.b, &q)] {
        let largest = m.as_slice().iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
        if largest > MAX_COMPARE_ABS {
            bail!(
                "{}: values up to {largest:e}; the metrics' squared distances overflow beyond {MAX_COMPARE_ABS:e}: \
                 rescale the samples",
                path.display()
            );
        }
    }
    let c = compare_samples(p.as_ref(), q.as_ref(), a.seed)
        .with_context(|| format!("comparing {} with {}", a.a.display(), a.b.display()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        println!("A: {} ({} × {})", a.a.display(), c.n_p, c.dim);
        println!("B: {} ({} × {})", a.b.display(), c.n_q, c.dim);
        println!("C2ST       {:.4}  (0.5: indistinguishable)", c.c2st);
        println!("MMD²       {:.3e}  (first {} rows)", c.mmd2, c.w2_rows);
        println!("sliced W2  {:.4}", c.sliced_w2);
        println!("W2         {:.4}  (exact, first {} rows)", c.w2, c.w2_rows);
    }
    Ok(())
}
