//! Shared checkers for tests: central finite differences in f64 and tolerance assertions.
//! Compiled with the `testing` feature (on for this crate's own tests).

use crate::flow::Layer;
use crate::mat::{Mat, MatRef};
use crate::real::Real;
use rand::{Rng as _, SeedableRng};
use rand_distr::Distribution as _;

/// Relative tolerance for f64 gradients against central differences (issue 2: < 1e-5).
pub const FD_REL_TOL: f64 = 1e-5;

/// inverse(forward(u)) must return u to this tolerance, relative to max(1, |u|), in f64.
pub const ROUND_TRIP_TOL: f64 = 1e-10;
/// Forward log-det vs log|det| of the central-difference Jacobian, relative to 1 + |log det|
/// (the Jacobian entries carry ~1e-9 relative truncation/rounding error).
pub const LOG_DET_TOL: f64 = 1e-6;
/// f32 results vs the same layer in f64: 2⁻¹³ ≈ 1000·ε_f32, relative to max(|x|, 1e-2·max|x|).
pub const F32_AGREE_TOL: f64 = 1.0 / 8192.0;

/// Rows `check_layer` runs: moderate values plus rows with large |u| (±25, ±60).
const CHECK_ROWS: usize = 6;

fn uniform_vec(len: usize, lo: f64, hi: f64, rng: &mut crate::rng::Rng) -> Vec<f64> {
    (0..len).map(|_| lo + (hi - lo) * rng.gen::<f64>()).collect()
}

/// Parameters, inputs and context `check_layer` uses: p ~ U(−0.8, 0.8) (random, not the
/// identity init), u ~ U(−2, 2) with row 3 scaled by 12.5 and row 4 by 30, ctx ~ U(−1.5, 1.5).
fn layer_inputs(n_params: usize, dim: usize, ctx_dim: usize, seed: u64) -> (Vec<f64>, Mat<f64>, Mat<f64>) {
    let mut rng = crate::rng::Rng::seed_from_u64(seed);
    let p = uniform_vec(n_params, -0.8, 0.8, &mut rng);
    let mut u = Mat::from_vec(CHECK_ROWS, dim, uniform_vec(CHECK_ROWS * dim, -2.0, 2.0, &mut rng));
    u.row_mut(3).iter_mut().for_each(|x| *x *= 12.5);
    u.row_mut(4).iter_mut().for_each(|x| *x *= 30.0);
    let ctx = Mat::from_vec(CHECK_ROWS, ctx_dim, uniform_vec(CHECK_ROWS * ctx_dim, -1.5, 1.5, &mut rng));
    (p, u, ctx)
}

/// Runs `layer.forward` on fresh NaN-filled workspace; returns (v, log_det, ws).
fn run_forward<T: Real>(layer: &dyn Layer<T>, p: &[T], u: MatRef<T>, ctx: MatRef<T>) -> (Mat<T>, Vec<T>, Vec<T>) {
    let n = u.rows();
    let mut v = Mat::from_fn(n, u.cols(), |_, _| T::nan());
    let mut log_det = vec![T::zero(); n];
    let mut ws = vec![T::nan(); layer.workspace_len(n)];
    layer.forward(p, u, ctx, v.as_mut(), &mut log_det, &mut ws);
    (v, log_det, ws)
}

/// log|det A| of a row-major n × n matrix by LU with partial pivoting.
fn log_abs_det(mut a: Vec<f64>, n: usize) -> f64 {
    let mut log_det = 0.0;
    for k in 0..n {
        let piv = (k..n).max_by(|&i, &j| a[i * n + k].abs().total_cmp(&a[j * n + k].abs())).expect("k < n");
        for c in 0..n {
            a.swap(k * n + c, piv * n + c);
        }
        let d = a[k * n + k];
        log_det += d.abs().ln();
        for i in k + 1..n {
            let f = a[i * n + k] / d;
            for c in k..n {
                a[i * n + c] -= f * a[k * n + c];
            }
        }
    }
    log_det
}

/// The layer property checks every flow layer must pass (f64):
/// 1. inverse(forward(u)) = u to [`ROUND_TRIP_TOL`]; forward and inverse log-dets sum to 0;
///    forward *adds* to `log_det` (it starts non-zero);
/// 2. forward log-det = log|det| of the central-difference Jacobian ∂v/∂u per row ([`LOG_DET_TOL`]);
/// 3. backward of the probe loss L = Σ r⊙v + Σ ρ·log_det (random r, ρ) matches central
///    differences for every input u and every raw parameter ([`FD_REL_TOL`]); backward
///    overwrites `d_u` (starts NaN) and *adds* into `d_p` (starts at a random offset).
///
/// Parameters are random (not the identity init); rows include |u| up to 60.
#[track_caller]
pub fn check_layer(layer: &dyn Layer<f64>, n_params: usize, dim: usize, ctx_dim: usize, seed: u64) {
    assert_eq!(layer.n_params(), n_params, "check_layer: n_params");
    let (p, u, ctx) = layer_inputs(n_params, dim, ctx_dim, seed);
    let n = u.rows();
    let mut rng = crate::rng::Rng::seed_from_u64(seed ^ 0x5eed);

    // 1. Round trip and log-det bookkeeping.
    let offset = uniform_vec(n, -1.0, 1.0, &mut rng);
    let mut log_det = offset.clone();
    let mut v = Mat::from_fn(n, dim, |_, _| f64::NAN);
    let mut ws = vec![f64::NAN; layer.workspace_len(n)];
    layer.forward(&p, u.as_ref(), ctx.as_ref(), v.as_mut(), &mut log_det, &mut ws);
    let log_det: Vec<f64> = log_det.iter().zip(&offset).map(|(l, o)| l - o).collect();
    let mut u_back = Mat::from_fn(n, dim, |_, _| f64::NAN);
    let mut log_det_inv = vec![0.0; n];
    let mut ws_inv = vec![f64::NAN; layer.workspace_len(n)];
    layer.inverse(&p, v.as_ref(), ctx.as_ref(), u_back.as_mut(), &mut log_det_inv, &mut ws_inv);
    for (i, (&a, &b)) in u_back.as_slice().iter().zip(u.as_slice()).enumerate() {
        assert!((a - b).abs() <= ROUND_TRIP_TOL * b.abs().max(1.0), "round trip u[{i}]: {a} vs {b}");
    }
    for r in 0..n {
        let sum = log_det[r] + log_det_inv[r];
        assert!(sum.abs() <= ROUND_TRIP_TOL * (1.0 + log_det[r].abs()), "row {r}: log-dets sum to {sum}");
    }

    // 2. Log-det against the numerical Jacobian, row by row.
    for (r, &got) in log_det.iter().enumerate() {
        let ctx_r = ctx.as_ref().rows_range(r, 1);
        let mut jac = vec![0.0; dim * dim];
        for c in 0..dim {
            let x = u.row(r)[c];
            let h = 1e-6 * x.abs().max(1.0);
            let mut shifted = u.row(r).to_vec();
            shifted[c] = x + h;
            let (vp, _, _) = run_forward(layer, &p, MatRef::new(&shifted, 1, dim), ctx_r);
            shifted[c] = x - h;
            let (vm, _, _) = run_forward(layer, &p, MatRef::new(&shifted, 1, dim), ctx_r);
            for k in 0..dim {
                jac[k * dim + c] = (vp.row(0)[k] - vm.row(0)[k]) / (2.0 * h);
            }
        }
        let want = log_abs_det(jac, dim);
        let err = (got - want).abs() / (1.0 + want.abs());
        assert!(err < LOG_DET_TOL, "row {r}: log_det {got} vs numerical {want} (err {err:.2e})");
    }

    // 3. Backward against central differences of the probe loss.
    let probe_r = uniform_vec(n * dim, -1.0, 1.0, &mut rng);
    let rho = uniform_vec(n, -1.0, 1.0, &mut rng);
    let loss = |p: &[f64], u: &[f64]| -> f64 {
        let (v, ld, _) = run_forward(layer, p, MatRef::new(u, n, dim), ctx.as_ref());
        let fit: f64 = v.as_slice().iter().zip(&probe_r).map(|(v, r)| v * r).sum();
        fit + ld.iter().zip(&rho).map(|(l, r)| l * r).sum::<f64>()
    };
    let d_p_offset = uniform_vec(n_params, -1.0, 1.0, &mut rng);
    let mut d_p = d_p_offset.clone();
    let mut d_u = Mat::from_fn(n, dim, |_, _| f64::NAN);
    let d_ctx_offset = uniform_vec(n * ctx_dim, -1.0, 1.0, &mut rng);
    let mut d_ctx = Mat::from_vec(n, ctx_dim, d_ctx_offset.clone());
    layer.backward(&p, &ws, MatRef::new(&probe_r, n, dim), &rho, d_u.as_mut(), Some(d_ctx.as_mut()), &mut d_p);
    let want_u = numerical_gradient(|x| loss(&p, x), u.as_slice());
    assert_all_close("d_u", d_u.as_slice(), &want_u, FD_REL_TOL);
    let got_p: Vec<f64> = d_p.iter().zip(&d_p_offset).map(|(d, o)| d - o).collect();
    let want_p = numerical_gradient(|q| loss(q, u.as_slice()), &p);
    assert_all_close("d_p", &got_p, &want_p, FD_REL_TOL);
    // 4. The context's adjoint is *added* into d_ctx (it started at a random offset).
    let ctx_loss = |c: &[f64]| -> f64 {
        let (v, ld, _) = run_forward(layer, &p, u.as_ref(), MatRef::new(c, n, ctx_dim));
        let fit: f64 = v.as_slice().iter().zip(&probe_r).map(|(v, r)| v * r).sum();
        fit + ld.iter().zip(&rho).map(|(l, r)| l * r).sum::<f64>()
    };
    let got_ctx: Vec<f64> = d_ctx.as_slice().iter().zip(&d_ctx_offset).map(|(d, o)| d - o).collect();
    let want_ctx = numerical_gradient(ctx_loss, ctx.as_slice());
    assert_all_close("d_ctx", &got_ctx, &want_ctx, FD_REL_TOL);
}

/// The same layer in f32 agrees with f64 (forward v and log-det, inverse, backward d_u and d_p)
/// to [`F32_AGREE_TOL`], on `check_layer`'s parameters and inputs. The inverse's bound adds
/// F32_AGREE_TOL·Σ_j |∂u_i/∂v_j|·|v_j| (its condition number for f32 rounding of v).
#[track_caller]
pub fn check_layer_f32(layer64: &dyn Layer<f64>, layer32: &dyn Layer<f32>, dim: usize, ctx_dim: usize, seed: u64) {
    let n_params = layer64.n_params();
    assert_eq!(layer32.n_params(), n_params, "check_layer_f32: n_params");
    let (p, u, ctx) = layer_inputs(n_params, dim, ctx_dim, seed);
    let n = u.rows();
    let to32 = |x: &[f64]| x.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let (p32, u32_, ctx32) = (to32(&p), to32(u.as_slice()), to32(ctx.as_slice()));
    let mut rng = crate::rng::Rng::seed_from_u64(seed ^ 0xf32);
    let probe_r = uniform_vec(n * dim, -1.0, 1.0, &mut rng);
    let rho = uniform_vec(n, -1.0, 1.0, &mut rng);

    let (v64, ld64, ws64) = run_forward(layer64, &p, u.as_ref(), ctx.as_ref());
    let mut d_u64 = Mat::zeros(n, dim);
    let mut d_p64 = vec![0.0; n_params];
    layer64.backward(&p, &ws64, MatRef::new(&probe_r, n, dim), &rho, d_u64.as_mut(), None, &mut d_p64);
    let mut u_inv64 = Mat::zeros(n, dim);
    let mut ws = vec![0.0; layer64.workspace_len(n)];
    layer64.inverse(&p, v64.as_ref(), ctx.as_ref(), u_inv64.as_mut(), &mut vec![0.0; n], &mut ws);

    let (u_ref, ctx_ref) = (MatRef::new(&u32_, n, dim), MatRef::new(&ctx32, n, ctx_dim));
    let (v32, ld32, ws32) = run_forward(layer32, &p32, u_ref, ctx_ref);
    let mut d_u32 = Mat::zeros(n, dim);
    let mut d_p32 = vec![0.0f32; n_params];
    layer32.backward(&p32, &ws32, MatRef::new(&to32(&probe_r), n, dim), &to32(&rho), d_u32.as_mut(), None, &mut d_p32);
    let mut u_inv32 = Mat::zeros(n, dim);
    let mut ws = vec![0.0f32; layer32.workspace_len(n)];
    let v32_in = to32(v64.as_slice());
    layer32.inverse(&p32, MatRef::new(&v32_in, n, dim), ctx_ref, u_inv32.as_mut(), &mut vec![0.0; n], &mut ws);

    let close = |what: &str, got: &[f32], want: &[f64]| {
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let err = rel_err(g as f64, w, (1e-2 * scale).max(1e-30));
            assert!(err < F32_AGREE_TOL, "f32 {what}[{i}]: {g} vs f64 {w} (rel err {err:.2e})");
        }
    };
    close("v", v32.as_slice(), v64.as_slice());
    close("log_det", &ld32, &ld64);
    // The inverse is compared with an error bound that carries its conditioning: v enters in
    // f32, and its rounding reaches u_i amplified by Σ_j |∂u_i/∂v_j|·|v_j| (up to 1e4 for a
    // spline bin with slope 1e-4, where no f32 inverse can agree to F32_AGREE_TOL alone).
    let sensitivity = inverse_sensitivity(layer64, &p, v64.as_ref(), ctx.as_ref());
    let scale = u_inv64.as_slice().iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, ((&g, &w), &sens)) in u_inv32.as_slice().iter().zip(u_inv64.as_slice()).zip(&sensitivity).enumerate() {
        let bound = F32_AGREE_TOL * (w.abs().max(1e-2 * scale) + sens);
        let err = (g as f64 - w).abs();
        assert!(err < bound, "f32 inverse u[{i}]: {g} vs f64 {w} (abs err {err:.2e}, bound {bound:.2e})");
    }
    close("d_u", d_u32.as_slice(), d_u64.as_slice());
    close("d_p", &d_p32, &d_p64);
}

/// Per entry of u = f⁻¹(v), Σ_j |∂u_i/∂v_j|·|v_j| (central differences of the f64 inverse, all
/// rows at once since rows are independent): how much a relative rounding of v moves u_i.
fn inverse_sensitivity(layer: &dyn Layer<f64>, p: &[f64], v: MatRef<f64>, ctx: MatRef<f64>) -> Vec<f64> {
    let (n, dim) = (v.rows(), v.cols());
    let mut ws = vec![0.0; layer.workspace_len(n)];
    let mut inverse = |v: &Mat<f64>| {
        let mut u = Mat::zeros(n, dim);
        layer.inverse(p, v.as_ref(), ctx, u.as_mut(), &mut vec![0.0; n], &mut ws);
        u
    };
    let mut sens = vec![0.0; n * dim];
    let mut vp = Mat::from_fn(n, dim, |r, c| v.at(r, c));
    for c in 0..dim {
        let h: Vec<f64> = (0..n).map(|r| 1e-6 * v.at(r, c).abs().max(1.0)).collect();
        (0..n).for_each(|r| vp.row_mut(r)[c] = v.at(r, c) + h[r]);
        let up = inverse(&vp);
        (0..n).for_each(|r| vp.row_mut(r)[c] = v.at(r, c) - h[r]);
        let um = inverse(&vp);
        (0..n).for_each(|r| vp.row_mut(r)[c] = v.at(r, c));
        for r in 0..n {
            for i in 0..dim {
                let d = (up.row(r)[i] - um.row(r)[i]) / (2.0 * h[r]);
                sens[r * dim + i] += d.abs() * v.at(r, c).abs();
            }
        }
    }
    sens
}

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

/// θ ~ U(−3, 3)², x = θ + N(0, s² I): for x well inside the box the posterior is N(x, s² I), the
/// closed form the end-to-end training tests check against.
pub struct Shift {
    prior: crate::model::Prior,
    /// Noise sd, the posterior's sd in each coordinate.
    pub s: f64,
}

impl Shift {
    /// The model with noise sd `s`.
    pub fn new(s: f64) -> Self {
        Self { prior: crate::model::Prior::uniform_box(2, -3.0, 3.0).expect("a valid box"), s }
    }

    /// log N(v; mean, s²): one coordinate's log-likelihood, and its posterior's log density.
    pub fn log_normal(&self, v: f64, mean: f64) -> f64 {
        let z = (v - mean) / self.s;
        -0.5 * z * z - self.s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    }
}

impl crate::model::Model for Shift {
    fn name(&self) -> String {
        "shift".into()
    }
    fn theta_dim(&self) -> usize {
        2
    }
    fn x_dim(&self) -> usize {
        2
    }
    fn prior(&self) -> &crate::model::Prior {
        &self.prior
    }
    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> crate::Result<()> {
        for (r, o) in out.iter_mut().enumerate() {
            *o = (0..2).map(|k| self.log_normal(x.at(r, k), theta.at(r, k))).sum();
        }
        Ok(())
    }
    fn simulate(
        &self,
        theta: MatRef<f64>,
        rng: &mut crate::rng::Rng,
        mut x: crate::mat::MatMut<f64>,
    ) -> crate::Result<()> {
        for r in 0..theta.rows() {
            for k in 0..2 {
                let e: f64 = rand_distr::StandardNormal.sample(rng);
                x.set(r, k, theta.at(r, k) + self.s * e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_abs_det_of_a_known_matrix() {
        // det [[0, 2], [3, 1]] = −6 (needs a pivot swap).
        assert!((log_abs_det(vec![0.0, 2.0, 3.0, 1.0], 2) - 6f64.ln()).abs() < 1e-14);
    }

    #[test]
    fn numerical_gradient_of_a_cubic_is_accurate() {
        let f = |x: &[f64]| x[0].powi(3) + 2.0 * x[0] * x[1];
        let g = numerical_gradient(f, &[1.5, -2.0]);
        assert_all_close("cubic", &g, &[3.0 * 2.25 - 4.0, 3.0], 1e-8);
    }
}
