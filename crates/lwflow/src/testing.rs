//! Shared checkers for tests: central finite differences in f64 and tolerance assertions.
//! Compiled with the `testing` feature (on for this crate's own tests).

/// Relative tolerance for f64 gradients against central differences (issue 2: < 1e-5).
pub const FD_REL_TOL: f64 = 1e-5;

/// Central-difference gradient of `f` at `x`: (f(x + h e_i) − f(x − h e_i)) / 2h, with a step
/// scaled to |x_i| so large and small coordinates both get ~8 correct digits.
pub fn numerical_gradient(mut f: impl FnMut(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let h = 1e-6 * x[i].abs().max(1.0);
            xp[i] = x[i] + h;
            let fp = f(&xp);
            xp[i] = x[i] - h;
            let fm = f(&xp);
            xp[i] = x[i];
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

/// Relative error |a − b| / max(|a|, |b|, floor); `floor` keeps near-zero entries from
/// dominating (their absolute error is what matters).
pub fn rel_err(a: f64, b: f64, floor: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(floor)
}

/// Asserts every entry of `got` matches `want` to `rel_tol` (relative, with floor 1e-3 of
/// the largest |want|), naming the first entry that does not.
#[track_caller]
pub fn assert_all_close(what: &str, got: &[f64], want: &[f64], rel_tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = rel_err(g, w, 1e-3 * scale);
        assert!(e < rel_tol && g.is_finite(), "{what}[{i}]: got {g}, expected {w} (rel err {e:.2e} ≥ {rel_tol:.0e})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerical_gradient_of_a_cubic_is_accurate() {
        let f = |x: &[f64]| x[0].powi(3) + 2.0 * x[0] * x[1];
        let g = numerical_gradient(f, &[1.5, -2.0]);
        assert_all_close("cubic", &g, &[3.0 * 2.25 - 4.0, 3.0], 1e-8);
    }
}
