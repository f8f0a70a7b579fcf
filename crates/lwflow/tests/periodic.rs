//! Flows with periodic parameters: the chained gradient on the circle, normalisation over the
//! torus × box, continuity of q across the seam φ = a ≡ b, samples against the density, model
//! files, and the settings that are refused.

use std::f64::consts::TAU;

use lwflow::flow::{BaseConfig, CouplingConfig, Flow, FlowConfig, ObsFeatures, Standardizer};
use lwflow::io::{load_flow, save_flow};
use lwflow::mat::{Mat, MatRef};
use lwflow::model::{Marginal, Prior};
use lwflow::nn::Activation;
use lwflow::rng::{stream, Stream};
use lwflow::testing::{assert_all_close, numerical_gradient, FD_REL_TOL};
use lwflow::train::FlowMeta;
use rand::Rng as _;

/// θ = (f, φ[, g]): f ~ U(0, 1), φ ~ U(0, 2π) periodic when `periodic`, g ~ U(−1, 1).
fn prior(dim: usize, periodic: bool) -> Prior {
    let mut marginals = vec![Marginal::Uniform { low: 0.0, high: 1.0 }, Marginal::Uniform { low: 0.0, high: TAU }];
    let mut flags = vec![false, periodic];
    if dim == 3 {
        marginals.push(Marginal::Uniform { low: -1.0, high: 1.0 });
        flags.push(false);
    }
    Prior::new(marginals).unwrap().with_periodic(flags).unwrap()
}

fn config(dim: usize, base: BaseConfig) -> FlowConfig {
    FlowConfig {
        theta_dim: dim,
        ctx_dim: 2,
        x_features: ObsFeatures::Raw,
        n_layers: 4,
        hidden: vec![8, 8],
        activation: Activation::Silu,
        coupling: CouplingConfig::Spline { bins: 5, tail_bound: 4.0 },
        base,
        embedding: Default::default(),
    }
}

fn norm() -> Standardizer {
    Standardizer { mean: vec![1.0, 2.0], std: vec![2.0, 0.5] }
}

/// A flow with random parameters everywhere (the default init starts at the identity).
fn random_flow(dim: usize, periodic: bool, base: BaseConfig) -> Flow<f64> {
    let mut flow = Flow::<f64>::new(config(dim, base), &prior(dim, periodic), norm(), 3).unwrap();
    let mut rng = stream(9, Stream::Init, 0, 0);
    for p in flow.params_mut() {
        *p += rng.gen_range(-0.4..0.4);
    }
    flow
}

#[test]
fn periodic_flow_brackets_torus_couplings_with_the_angle_maps() {
    let flow = random_flow(3, true, BaseConfig::Gaussian);
    let names: Vec<String> = flow.param_names().into_iter().map(|(n, _)| n).collect();
    // ToAngle (no parameters), four torus couplings and one permutation, FromAngle.
    assert_eq!(
        names,
        ["layers.1.torus_spline", "layers.2.torus_spline", "layers.4.torus_spline", "layers.5.torus_spline"]
    );
    let plain = random_flow(3, false, BaseConfig::Gaussian);
    assert!(plain.param_names().iter().all(|(n, _)| n.ends_with(".spline")));
}

#[test]
fn chained_gradient_matches_finite_differences_on_the_circle() {
    for (dim, base) in [(2, BaseConfig::Gmm { components: 2 }), (3, BaseConfig::Cgmm { components: 2 })] {
        let flow = random_flow(dim, true, base);
        let n = 7;
        let mut rng = stream(5, Stream::Theta, 0, 0);
        let u = Mat::from_fn(n, dim, |_, _| rng.gen_range(-2.5..2.5));
        let ctx = Mat::from_fn(n, 2, |_, _| rng.gen_range(-1.5..1.5));
        let w: Vec<f64> = (0..n).map(|_| rng.gen_range(0.1..1.0)).collect();
        let loss = |p: &[f64]| {
            let mut ws = flow.workspace(n);
            flow.forward_chunk(p, u.as_ref(), ctx.as_ref(), &mut ws);
            -ws.log_q.iter().zip(&w).map(|(q, w)| q * w).sum::<f64>()
        };
        let mut ws = flow.workspace(n);
        flow.forward_chunk(flow.params(), u.as_ref(), ctx.as_ref(), &mut ws);
        let d_log_q: Vec<f64> = w.iter().map(|w| -w).collect();
        flow.backward_chunk(flow.params(), &d_log_q, &mut ws);
        let num = numerical_gradient(loss, flow.params());
        assert_all_close(&format!("periodic flow d={dim} {base:?}"), &ws.grad, &num, FD_REL_TOL);
    }
}

/// log dθ_φ/du of the support map at u_φ = 0 (U(0, 2π): log 2π − ½ log 2π), to leave only f's
/// part of [`lwflow::flow::Support::inverse`]'s log-det.
fn phi_log_det_at_zero() -> f64 {
    0.5 * TAU.ln()
}

/// ∫ q(θ|x) dθ over (0, 1) × (0, 2π): f through the support map's u (as tests/flow.rs does: the
/// map stretches near the box edges), φ on a plain grid (the density is smooth on the circle).
fn total_mass(flow: &Flow<f64>, x: &[f64]) -> f64 {
    let (n_u, n_phi, lo, hi) = (600, 600, -9.0, 9.0);
    let (h_u, h_phi) = ((hi - lo) / n_u as f64, TAU / n_phi as f64);
    let mut theta = Mat::zeros(n_u * n_phi, 2);
    let mut log_jac = vec![0.0; n_u * n_phi];
    for (r, lj) in log_jac.iter_mut().enumerate() {
        let mut t = [0.0; 2];
        *lj = flow.support().inverse(&[lo + h_u * (0.5 + (r / n_phi) as f64), 0.0], &mut t) - phi_log_det_at_zero();
        theta.row_mut(r).copy_from_slice(&[t[0], h_phi * (0.5 + (r % n_phi) as f64)]);
    }
    let log_q = flow.log_prob(theta.as_ref(), MatRef::new(x, 1, 2)).unwrap();
    log_q.iter().zip(&log_jac).map(|(l, j)| (l + j).exp() * h_u * h_phi).sum()
}

#[test]
fn density_integrates_to_one_over_the_torus_box() {
    for base in [BaseConfig::Gaussian, BaseConfig::Gmm { components: 3 }] {
        let flow = random_flow(2, true, base);
        for x in [[1.5, 2.0], [-1.0, 2.7]] {
            let total = total_mass(&flow, &x);
            assert!((total - 1.0).abs() < 2e-3, "{base:?} x={x:?}: ∫q = {total}");
        }
    }
}

#[test]
fn density_is_continuous_across_the_seam_only_when_periodic() {
    let x = [0.7, 1.9];
    let gap = |flow: &Flow<f64>| {
        let theta = Mat::from_vec(
            6,
            2,
            vec![0.2, 1e-7, 0.2, TAU - 1e-7, 0.5, 1e-7, 0.5, TAU - 1e-7, 0.8, 1e-7, 0.8, TAU - 1e-7],
        );
        let lq = flow.log_prob(theta.as_ref(), MatRef::new(&x, 1, 2)).unwrap();
        lq.chunks(2).map(|p| (p[0] - p[1]).abs()).fold(0.0, f64::max)
    };
    let periodic = gap(&random_flow(2, true, BaseConfig::Gmm { components: 2 }));
    assert!(periodic < 1e-4, "periodic: log q jumps by {periodic} across φ = 0 ≡ 2π");
    // The same check fails for a flow that cuts the circle: its two edges are unrelated.
    let cut = gap(&random_flow(2, false, BaseConfig::Gmm { components: 2 }));
    assert!(cut > 0.1, "non-periodic: log q differs by only {cut} across the edges");
}

#[test]
fn samples_follow_the_density_on_the_torus() {
    // Pearson's χ² of 20,000 samples against q's own cell probabilities on 8 × 8 cells of
    // (u_f, φ) ∈ [−4, 4] × [0, 2π) (u_f the support map's coordinate of f): χ²(dof) for
    // correct samples; bound dof + 6 sd.
    let flow = random_flow(2, true, BaseConfig::Gmm { components: 3 });
    let x = [0.3, 2.5];
    let samples = flow.sample(&x, 20_000, 4).unwrap();
    assert!(samples.as_slice().chunks(2).all(|t| (0.0..1.0).contains(&t[0]) && (0.0..TAU).contains(&t[1])));
    let (cells, sub) = (8usize, 25usize);
    let side = cells * sub;
    let (h_u, h_phi) = (8.0 / side as f64, TAU / side as f64);
    let mut theta = Mat::zeros(side * side, 2);
    let mut log_jac = vec![0.0; side * side];
    for (r, lj) in log_jac.iter_mut().enumerate() {
        let u = [-4.0 + h_u * (0.5 + (r / side) as f64), 0.0];
        let mut t = [0.0; 2];
        *lj = flow.support().inverse(&u, &mut t) - phi_log_det_at_zero();
        theta.row_mut(r).copy_from_slice(&[t[0], h_phi * (0.5 + (r % side) as f64)]);
    }
    let log_q = flow.log_prob(theta.as_ref(), MatRef::new(&x, 1, 2)).unwrap();
    let mut prob = vec![0.0; cells * cells];
    for (r, (l, j)) in log_q.iter().zip(&log_jac).enumerate() {
        prob[(r / side / sub) * cells + (r % side) / sub] += (l + j).exp();
    }
    let inside: f64 = prob.iter().sum();
    let mut observed = vec![0usize; cells * cells];
    let mut outside = 0usize;
    for t in samples.as_slice().chunks(2) {
        let mut u = [0.0; 2];
        flow.support().forward(t, &mut u);
        let a = ((u[0] + 4.0) / 1.0).floor();
        if (0.0..cells as f64).contains(&a) {
            observed[a as usize * cells + ((t[1] / TAU * cells as f64) as usize).min(cells - 1)] += 1;
        } else {
            outside += 1;
        }
    }
    let n = samples.rows() as f64;
    // The cells' share of q's mass: the rest lies at |u_f| > 4, where `outside` samples went.
    let share_inside = 1.0 - outside as f64 / n;
    let (mut chi2, mut dof) = (0.0, 0usize);
    for (p, &o) in prob.iter().zip(&observed) {
        let e = n * share_inside * p / inside;
        if e >= 5.0 {
            chi2 += (o as f64 - e).powi(2) / e;
            dof += 1;
        }
    }
    let bound = dof as f64 + 6.0 * (2.0 * dof as f64).sqrt();
    assert!(dof >= 20, "only {dof} cells expect 5 samples");
    assert!(chi2 < bound, "χ² = {chi2:.1} on {dof} cells, bound {bound:.1}");
    assert!(outside as f64 / n < 0.05, "{outside} samples beyond |u_f| = 4");
}

#[test]
fn model_files_record_the_periodic_flags() {
    let flow = random_flow(2, true, BaseConfig::Gmm { components: 2 });
    let flow32 = {
        let mut f = Flow::<f32>::new(config(2, BaseConfig::Gmm { components: 2 }), &prior(2, true), norm(), 3).unwrap();
        for (a, b) in f.params_mut().iter_mut().zip(flow.params()) {
            *a = *b as f32;
        }
        f
    };
    let dir = tempfile::Builder::new().prefix("lwflow-periodic-").tempdir().unwrap();
    let path = dir.path().join("periodic.lwf");
    let meta = FlowMeta::untrained("test", prior(2, true), flow32.config().clone(), norm());
    save_flow(&path, &flow32, &meta).unwrap();
    let (loaded, loaded_meta) = load_flow(&path).unwrap();
    assert_eq!(loaded_meta.prior.periodic(), [false, true]);
    let theta = Mat::from_vec(3, 2, vec![0.1, 0.05, 0.5, 3.0, 0.9, 6.2]);
    let x = MatRef::new(&[0.4, 1.0], 1, 2);
    assert_eq!(loaded.log_prob(theta.as_ref(), x).unwrap(), flow32.log_prob(theta.as_ref(), x).unwrap());
    // f32 and f64 flows agree (the angle maps run in f64 inside).
    let (l32, l64) = (flow32.log_prob(theta.as_ref(), x).unwrap(), flow.log_prob(theta.as_ref(), x).unwrap());
    for (a, b) in l32.iter().zip(&l64) {
        assert!((a - b).abs() < 1e-3, "f32 {a} vs f64 {b}");
    }
}

#[test]
fn affine_couplings_on_a_periodic_prior_are_refused() {
    let cfg = FlowConfig { coupling: CouplingConfig::default_affine(), ..config(2, BaseConfig::Gaussian) };
    let msg = Flow::<f32>::new(cfg, &prior(2, true), norm(), 1).unwrap_err().to_string();
    assert!(msg.contains("affine") && msg.contains("periodic"), "{msg}");
}
