//! Whole-flow properties: the chained forward/backward passes against finite differences, the
//! sampling direction against the density direction (samples follow the density `log_prob`
//! evaluates), and normalisation of q(θ|x).

use lwflow::flow::{BaseConfig, CouplingConfig, Flow, FlowConfig, ObsFeatures, Standardizer};
use lwflow::io::{load_flow, save_flow};
use lwflow::mat::Mat;
use lwflow::model::{Marginal, Prior};
use lwflow::nn::Activation;
use lwflow::rng::{stream, Stream};
use lwflow::testing::{assert_all_close, numerical_gradient, FD_REL_TOL};
use lwflow::train::FlowMeta;
use rand::Rng as _;

fn small_flow_with(theta_dim: usize, base: BaseConfig, coupling: CouplingConfig) -> Flow<f64> {
    let config = FlowConfig {
        theta_dim,
        ctx_dim: 2,
        x_features: ObsFeatures::Raw,
        embedding: lwflow::embed::EmbeddingConfig::None,
        n_layers: 4,
        hidden: vec![8, 8],
        activation: Activation::Silu,
        coupling,
        base,
    };
    let prior = Prior::uniform_box(theta_dim, -3.0, 3.0).unwrap();
    let norm = Standardizer { mean: vec![1.0, 2.0], std: vec![2.0, 0.5] };
    let mut flow = Flow::<f64>::new(config, &prior, norm, 3).unwrap();
    // Random parameters everywhere (the default init starts the couplings at the identity).
    let mut rng = stream(9, Stream::Init, 0, 0);
    for p in flow.params_mut() {
        *p += rng.gen_range(-0.3..0.3);
    }
    flow
}

fn small_flow(theta_dim: usize, base: BaseConfig) -> Flow<f64> {
    small_flow_with(theta_dim, base, CouplingConfig::default_spline())
}

fn inputs(n: usize, theta_dim: usize) -> (Mat<f64>, Mat<f64>, Vec<f64>) {
    let mut rng = stream(5, Stream::Theta, 0, 0);
    let u = Mat::from_fn(n, theta_dim, |_, _| rng.gen_range(-2.0..2.0));
    let ctx = Mat::from_fn(n, 2, |_, _| rng.gen_range(-1.5..1.5));
    let w: Vec<f64> = (0..n).map(|_| rng.gen_range(0.1..1.0)).collect();
    (u, ctx, w)
}

#[test]
fn chained_gradient_matches_finite_differences() {
    let cases = [
        (2, BaseConfig::Gmm { components: 3 }, CouplingConfig::default_spline()),
        (2, BaseConfig::Cgmm { components: 2 }, CouplingConfig::default_affine()),
        (3, BaseConfig::Gaussian, CouplingConfig::default_affine()),
        (3, BaseConfig::Gmm { components: 2 }, CouplingConfig::Spline { bins: 4, tail_bound: 2.5 }),
        (3, BaseConfig::Cgmm { components: 3 }, CouplingConfig::default_spline()),
    ];
    for (d, base, coupling) in cases {
        let flow = small_flow_with(d, base, coupling);
        let (u, ctx, w) = inputs(7, d);
        let loss = |p: &[f64]| {
            let mut ws = flow.workspace(7);
            flow.forward_chunk(p, u.as_ref(), ctx.as_ref(), &mut ws);
            -ws.log_q.iter().zip(&w).map(|(q, w)| q * w).sum::<f64>()
        };
        let mut ws = flow.workspace(7);
        flow.forward_chunk(flow.params(), u.as_ref(), ctx.as_ref(), &mut ws);
        let d_log_q: Vec<f64> = w.iter().map(|w| -w).collect();
        flow.backward_chunk(flow.params(), &d_log_q, &mut ws);
        let num = numerical_gradient(loss, flow.params());
        assert_all_close(&format!("flow d={d} {base:?} {coupling:?}"), &ws.grad, &num, FD_REL_TOL);
    }
}

#[test]
fn density_integrates_to_one_in_theta_space() {
    // ∫ q(θ|x) dθ over the prior box, by the change of variables θ = support⁻¹(u):
    // ∫ q(θ(u)|x) |dθ/du| du on a u-grid. (A θ-grid would miss the integrable spikes q may
    // have at the box edges, where the support map stretches.)
    let flow = small_flow(2, BaseConfig::Gmm { components: 2 });
    let (n, lo, hi) = (600, -9.0, 9.0);
    let h = (hi - lo) / n as f64;
    let mut theta = Mat::zeros(n * n, 2);
    let mut log_jac = vec![0.0; n * n];
    for (r, lj) in log_jac.iter_mut().enumerate() {
        let u = [lo + h * (0.5 + (r / n) as f64), lo + h * (0.5 + (r % n) as f64)];
        *lj = flow.support().inverse(&u, theta.row_mut(r));
    }
    let x = [1.5, 2.0];
    let log_q = flow.log_prob(theta.as_ref(), lwflow::MatRef::new(&x, 1, 2)).unwrap();
    let total: f64 = log_q.iter().zip(&log_jac).map(|(l, j)| (l + j).exp() * h * h).sum();
    assert!((total - 1.0).abs() < 2e-3, "∫q = {total}");
}

/// Pearson's χ² of `samples` against q(·|x) on unit cells of the probit space u ∈ [−4, 4]²
/// (where the density test above integrates), with its degrees of freedom. P_c = ∫_c q_u du by
/// the midpoint rule on a 0.05 grid; cells expecting fewer than 5 samples, and all mass outside
/// the square (1 − Σ P_c), are pooled into one cell.
fn chi_square_against_density(flow: &Flow<f64>, x: &[f64], samples: &Mat<f64>) -> (f64, usize) {
    const HALF_WIDTH: usize = 4; // cells per half-axis; cell c covers [c − 4, c − 3)
    const SUB: usize = 20; // midpoint-rule points per cell side
    let (cells, h) = (2 * HALF_WIDTH, 1.0 / SUB as f64);
    let side = cells * SUB;
    let mut theta = Mat::zeros(side * side, 2);
    let mut log_jac = vec![0.0; side * side];
    for (r, lj) in log_jac.iter_mut().enumerate() {
        let u = [h * (0.5 + (r / side) as f64) - HALF_WIDTH as f64, h * (0.5 + (r % side) as f64) - HALF_WIDTH as f64];
        *lj = flow.support().inverse(&u, theta.row_mut(r));
    }
    let log_q = flow.log_prob(theta.as_ref(), lwflow::MatRef::new(x, 1, 2)).unwrap();
    let cell_of = |u: &[f64]| -> Option<usize> {
        let k = |v: f64| (v + HALF_WIDTH as f64).floor();
        let (a, b) = (k(u[0]), k(u[1]));
        let inside = |k: f64| (0.0..cells as f64).contains(&k);
        (inside(a) && inside(b)).then(|| a as usize * cells + b as usize)
    };
    let mut prob = vec![0.0; cells * cells];
    for r in 0..side * side {
        let cell = (r / side / SUB) * cells + (r % side) / SUB;
        prob[cell] += (log_q[r] + log_jac[r]).exp() * h * h;
    }
    let mut observed = vec![0usize; cells * cells];
    let mut observed_outside = 0;
    let mut u = [0.0; 2];
    for r in 0..samples.rows() {
        flow.support().forward(samples.row(r), &mut u);
        match cell_of(&u) {
            Some(c) => observed[c] += 1,
            None => observed_outside += 1,
        }
    }
    let n = samples.rows() as f64;
    let (mut chi2, mut dof) = (0.0, 0);
    let (mut pooled_p, mut pooled_o) = ((1.0 - prob.iter().sum::<f64>()).max(0.0), observed_outside as f64);
    for (p, o) in prob.iter().zip(&observed) {
        if n * p >= 5.0 {
            chi2 += (*o as f64 - n * p).powi(2) / (n * p);
            dof += 1;
        } else {
            pooled_p += p;
            pooled_o += *o as f64;
        }
    }
    // The pooled cell's expectation is floored at 5 (it may be ~0 for a tight q): conservative.
    let pooled_e = (n * pooled_p).max(5.0);
    chi2 += (pooled_o - pooled_e).powi(2) / pooled_e;
    // dof + 1 cells, less one for the constraint that the counts sum to n.
    (chi2, dof)
}

#[test]
fn samples_follow_the_density_of_the_other_direction() {
    // Sampling runs z ~ base through the layers' inverses (z → θ), log_prob the layers forward
    // (θ → z). If one were not the other's inverse (a layer order, a permutation, a sign), the
    // samples would follow another density than the one log_prob evaluates. Pearson's χ² of
    // 20,000 samples against q's own cell probabilities ~ χ²(dof): mean dof, sd √(2·dof); a bound
    // of dof + 6 sd holds with probability > 1 − 10⁻⁶ for correct samples.
    let flow = small_flow(2, BaseConfig::Gmm { components: 3 });
    let x = [0.3, 2.5];
    let bound = |dof: usize| dof as f64 + 6.0 * (2.0 * dof as f64).sqrt();
    let s = flow.sample(&x, 20_000, 4).unwrap();
    let (chi2, dof) = chi_square_against_density(&flow, &x, &s);
    assert!(dof >= 20, "only {dof} cells expect 5 samples: the check has no resolution");
    assert!(chi2 < bound(dof), "samples vs q(θ|x): χ² = {chi2:.1} on {dof} dof, bound {:.1}", bound(dof));
    // The check can fail: samples of q(·|x') for another observation are far from q(·|x).
    let other = flow.sample(&[2.5, 0.3], 20_000, 4).unwrap();
    let (chi2_other, dof_other) = chi_square_against_density(&flow, &x, &other);
    assert!(
        chi2_other > 10.0 * bound(dof_other),
        "q(·|x') vs q(θ|x): χ² = {chi2_other:.1} on {dof_other} dof should be far above {:.1}",
        bound(dof_other)
    );
    // Samples lie inside the prior box; same seed, same samples; another seed, other samples.
    assert!(s.as_slice().iter().all(|v| v.abs() < 3.0));
    assert_eq!(s, flow.sample(&x, 20_000, 4).unwrap());
    assert_ne!(s, flow.sample(&x, 20_000, 5).unwrap());
}

#[test]
fn out_of_support_theta_has_zero_density() {
    let flow = small_flow(2, BaseConfig::Gaussian);
    let theta = Mat::from_vec(2, 2, vec![3.5, 0.0, 0.0, 0.0]);
    let lq = flow.log_prob(theta.as_ref(), lwflow::MatRef::new(&[1.0, 1.0], 1, 2)).unwrap();
    assert_eq!(lq[0], f64::NEG_INFINITY);
    assert!(lq[1].is_finite());
    let _ = Marginal::Uniform { low: 0.0, high: 1.0 };
}

#[test]
fn set_moments_reach_the_conditioners_and_survive_the_model_file() {
    // x = two 2-d draws; the conditioners get x, the draws' mean, log sds and correlation (9 values).
    let features = ObsFeatures::SetMoments { members: 2 };
    let config = FlowConfig { x_features: features, ..FlowConfig::new(2, 4, BaseConfig::Cgmm { components: 2 }) };
    let prior = Prior::uniform_box(2, -3.0, 3.0).unwrap();
    let mut rng = stream(4, Stream::Theta, 0, 0);
    let xs = Mat::from_fn(50, 4, |_, _| rng.gen_range(-2.0..2.0));
    let norm = Standardizer::fit(features.rows(xs.as_ref()).as_ref());
    let raw_norm = Standardizer { mean: vec![0.0; 4], std: vec![1.0; 4] };
    assert!(Flow::<f32>::new(config.clone(), &prior, raw_norm, 1).is_err(), "standardisation of x, not of its summary");
    let mut flow = Flow::<f32>::new(config, &prior, norm.clone(), 1).unwrap();
    for p in flow.params_mut() {
        *p += rng.gen_range(-0.2f32..0.2);
    }
    assert_eq!((flow.ctx_dim(), flow.context_width()), (4, 9));

    let x = [0.5, -1.0, 1.5, 0.25];
    let mut ctx = vec![0.0f32; 9];
    flow.context_into(&x, &mut ctx);
    let want = features.rows(lwflow::MatRef::new(&x, 1, 4));
    for (i, (c, w)) in ctx.iter().zip(want.row(0)).enumerate() {
        assert!((f64::from(*c) - (w - norm.mean[i]) / norm.std[i]).abs() < 1e-5, "context value {i}");
    }

    let theta = flow.sample(&x, 200, 3).unwrap();
    let log_q = flow.log_prob(theta.as_ref(), lwflow::MatRef::new(&x, 1, 4)).unwrap();
    assert!(log_q.iter().all(|v| v.is_finite()));
    // The context changes what q sees: another ordering of the same draws changes only x's raw
    // part of the context, and q with it (the moments are shared).
    let swapped = [1.5, 0.25, 0.5, -1.0];
    let log_q_swapped = flow.log_prob(theta.as_ref(), lwflow::MatRef::new(&swapped, 1, 4)).unwrap();
    assert!(log_q.iter().zip(&log_q_swapped).any(|(a, b)| (a - b).abs() > 1e-6));

    let dir = tempfile::Builder::new().prefix("lwflow-flow-set-moments-").tempdir().unwrap();
    let path = dir.path().join("set.lwf");
    let meta = FlowMeta::untrained("test", prior.clone(), flow.config().clone(), norm);
    save_flow(&path, &flow, &meta).unwrap();
    let (loaded, loaded_meta) = load_flow(&path).unwrap();
    assert_eq!(loaded_meta.flow.x_features, features);
    assert_eq!(loaded.log_prob(theta.as_ref(), lwflow::MatRef::new(&x, 1, 4)).unwrap(), log_q);
}
