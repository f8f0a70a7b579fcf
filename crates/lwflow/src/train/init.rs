//! Data-driven initialisation of a flow's mixture base from the model, before training.
//!
//! Procedure ([`init_mixture_from_model`]):
//! 1. simulate J observations x_j ~ p(x) (prior draw, then the simulator) and draw N proposal
//!    θ_i ~ π from the prior;
//! 2. likelihood weights w̃_ij ∝ L(x_j|θ_i), self-normalised per observation
//!    ([`crate::weights::normalise_weights`]; the prior is the proposal, so π/r = 1);
//! 3. map every θ_i to the flow's support space, u_i = support(θ_i). The couplings start at the
//!    identity, so at initialisation z = u and the base sees u directly;
//! 4. **normalise per observation** ([`Pooling`]): centre, y_ij = u_i − m_j with
//!    m_j = Σ_i w̃_ij u_i the weighted posterior mean of x_j in u-space, and by default also
//!    scale each dimension by that observation's weighted sd s_jk = (Σ_i w̃_ij (u_ik − m_jk)²)^½;
//! 5. pool all (y_ij, w̃_ij) (each used observation carries total weight 1; draws below
//!    [`WEIGHT_PRUNE_REL`] of that observation's largest weight are dropped) and fit K diagonal
//!    Gaussians by weighted EM with the spreading rule ([`crate::base::fit_weighted_mixture`]);
//!    write them into the base ([`GaussianMixture::set_params`], or
//!    [`ConditionalMixture::set_bias_layout`] whose zero last layer makes them x-free at init).
//!
//! Why centre: without it, the pooled cloud is the prior-predictive mixture of all posteriors,
//! i.e. the prior itself, N(0, I) in u, and EM would split that single blob arbitrarily. Each
//! centred cloud shows the *shape* of one posterior — its modes relative to its own centre — and
//! pooling shows where a typical posterior's modes sit, which is what one fixed base component
//! per mode needs; the conditional couplings then learn the x-dependent location. No global
//! offset is added back: by the tower property E_x m(x) = E_π u = 0 (the support map
//! standardises the prior), so the average posterior centre is already the origin.
//!
//! Why also scale (the default, [`Pooling::Standardise`]): centring alone keeps each posterior's
//! mode *separation*, and when that varies with x the pooled modes smear into one blob. On
//! square2d it is exact: given x the modes are (±a, ±b) in u with a = Φ⁻¹(½ + √x₁/6), and since
//! √x₁ ≈ |θ₁| is uniform on (0, 3), a is half-normal, so the centred pooled cloud is ≈ N(0, I) —
//! no quadrant structure at all (measured, test `fitted_init_on_square2d_…`: centring alone
//! gives means with u₁ ≈ 0 and weights 0.72/0.25/0.02/0.005; standardising gives one mean per
//! quadrant at ≈ (±0.95, ±0.97), σ ≈ 0.26–0.33, weights 0.24–0.27). Dividing by s_j maps every split dimension's modes to ≈ ±1, so the
//! 2^d modes line up across x and EM finds one component per mode. Standardising does not change
//! a unimodal posterior's shape (it becomes ≈ N(0, 1) per dimension).
//!
//! Limits: the base is unconditional (or starts x-free), so modes whose relative *arrangement*
//! (not just scale) varies with x are still pooled into blurred blobs; observations where modes
//! merge contribute points between them (a unimodal dimension standardises to N(0, 1)); the fit
//! captures an average shape, and the couplings must learn the per-x location and scale from
//! there (the base is in standardised units, not the posterior's absolute width). Modes that
//! appear only for some x get components with small weights. Few effective draws per x
//! (ESS ≪ K) make the clouds and the per-x sd noisy: raise n_theta.
//!
//! [`GaussianMixture::set_params`]: crate::base::GaussianMixture::set_params
//! [`ConditionalMixture::set_bias_layout`]: crate::base::ConditionalMixture::set_bias_layout

use rand_distr::{Distribution, StandardNormal};

use crate::base::{fit_weighted_mixture, MixtureFit};
use crate::error::{Error, Result};
use crate::flow::Flow;
use crate::mat::Mat;
use crate::model::{log_likelihood_matrix, Model};
use crate::real::Real;
use crate::rng::{stream, Stream};
use crate::weights::normalise_weights;

/// Observations simulated by [`apply_mixture_init`] for [`MixtureInit::Fitted`].
pub const DEFAULT_INIT_OBS: usize = 64;
/// Prior draws per observation used by [`apply_mixture_init`] for [`MixtureInit::Fitted`].
pub const DEFAULT_INIT_THETA: usize = 20_000;
/// A draw enters the pooled cloud if its weight is ≥ this times its observation's largest
/// weight: the dropped mass is < n_theta · 1e-8 · max w̃ (≤ 2·10⁻⁴ at the defaults).
pub const WEIGHT_PRUNE_REL: f64 = 1e-8;
/// Fitted weights are floored at this before being written (a component must keep π > 0).
pub const MIN_COMPONENT_WEIGHT: f64 = 1e-4;

/// Stream steps (under [`Stream::Init`]) of this module's draws, apart from the flow's own (step 0).
const OBS_STEP: u64 = 0x696e_6974_0001;
const THETA_STEP: u64 = 0x696e_6974_0002;
const RANDOM_STEP: u64 = 0x696e_6974_0003;

/// How a mixture base is initialised before training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MixtureInit {
    /// The task-independent separated layout [`crate::base::GaussianMixture::init_layout`]
    /// (what [`Flow::new`] already writes).
    Separated,
    /// Means μ_k ~ N(0, I), unit scales, equal weights (seeded): the ablation baseline.
    Random,
    /// Fitted to the model's centred weighted posterior draws ([`init_mixture_from_model`]).
    Fitted,
}

/// What a mixture initialisation wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureInitReport {
    /// The initialisation that was asked for.
    pub init: MixtureInit,
    /// False for a Gaussian base (nothing to initialise; the other fields are empty).
    pub applied: bool,
    /// μ (K × d), σ (K × d) and π (K) as passed to the base.
    pub means: Vec<f64>,
    /// σ, K × d row-major.
    pub scales: Vec<f64>,
    /// π, K mixture weights summing to 1.
    pub weights: Vec<f64>,
    /// For [`MixtureInit::Fitted`]: the EM fit and the data it saw.
    pub fitted: Option<FitDetails>,
}

/// The data behind a [`MixtureInit::Fitted`] initialisation.
#[derive(Clone, Debug, PartialEq)]
pub struct FitDetails {
    /// The weighted EM fit (means, scales, weights, log-likelihood trace).
    pub fit: MixtureFit,
    /// Observations with at least one non-zero weight (the others are skipped).
    pub n_obs_used: usize,
    /// Points in the pooled cloud after pruning.
    pub n_points: usize,
    /// Mean effective sample size 1/Σ_i w̃_ij² over the used observations.
    pub mean_ess: f64,
}

fn not_applied(init: MixtureInit) -> MixtureInitReport {
    MixtureInitReport { init, applied: false, means: vec![], scales: vec![], weights: vec![], fitted: None }
}

/// How each observation's weighted cloud is normalised before pooling (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// y_ij = u_i − m_j: keeps each posterior's scale, removes its location.
    Centre,
    /// y_ijk = (u_ik − m_jk) / s_jk, s_jk the weighted sd of dimension k: removes location and
    /// scale per dimension, so posteriors of different widths and mode separations line up.
    Standardise,
}

/// [`init_mixture_with_pooling`] with [`Pooling::Standardise`], the default (module docs say why).
pub fn init_mixture_from_model<T: Real>(
    flow: &mut Flow<T>,
    model: &dyn Model,
    n_obs: usize,
    n_theta: usize,
    seed: u64,
) -> Result<MixtureInitReport> {
    init_mixture_with_pooling(flow, model, n_obs, n_theta, Pooling::Standardise, seed)
}

/// Fits the flow's mixture base to `model`'s likelihood-weighted prior draws, normalised per
/// observation by `pooling` (module docs), from `n_obs` simulated observations and `n_theta`
/// prior draws, and writes it into the base (Gaussian base: no-op, `applied = false`).
/// Deterministic given `seed`. Errors if the model's θ dimension differs from the flow's, n_obs
/// or n_theta is 0, the model fails or returns NaN/+inf, or every observation has zero
/// likelihood at every draw.
pub fn init_mixture_with_pooling<T: Real>(
    flow: &mut Flow<T>,
    model: &dyn Model,
    n_obs: usize,
    n_theta: usize,
    pooling: Pooling,
    seed: u64,
) -> Result<MixtureInitReport> {
    let dim = flow.theta_dim();
    if model.theta_dim() != dim {
        return Err(Error::Shape { what: "mixture initialisation model θ", expected: dim, got: model.theta_dim() });
    }
    if n_obs == 0 || n_theta == 0 {
        return Err(Error::invalid(
            "mixture initialisation",
            format!("n_obs {n_obs} and n_theta {n_theta} must be ≥ 1"),
        ));
    }
    let Some((_, n_comp)) = flow.base().mixture_shape() else {
        return Ok(not_applied(MixtureInit::Fitted));
    };

    let (_, x) = crate::model::simulate_pairs(model, n_obs, seed, Stream::Init, OBS_STEP)?;

    let mut theta = Mat::zeros(n_theta, dim);
    model.prior().sample(&mut stream(seed, Stream::Init, THETA_STEP, 0), theta.as_mut());
    let mut u = Mat::zeros(n_theta, dim);
    for i in 0..n_theta {
        flow.support().forward(theta.row(i), u.row_mut(i));
    }

    let mut log_w = Mat::zeros(n_obs, n_theta);
    log_likelihood_matrix(model, x.as_ref(), theta.as_ref(), &mut log_w)?;

    let (mut points, mut point_w) = (Vec::new(), Vec::new());
    let (mut n_obs_used, mut ess_sum) = (0usize, 0.0);
    let mut centre = vec![0.0; dim];
    let mut inv_sd = vec![1.0; dim];
    for j in 0..n_obs {
        let w = log_w.row_mut(j);
        let ess = match normalise_weights(w, j) {
            Ok(ess) => ess,
            Err(Error::DegenerateWeights { .. }) => continue,
            Err(e) => return Err(e),
        };
        n_obs_used += 1;
        ess_sum += ess;
        centre.fill(0.0);
        for (i, &wi) in w.iter().enumerate() {
            for (c, &ui) in centre.iter_mut().zip(u.row(i)) {
                *c += wi * ui;
            }
        }
        inv_sd.fill(1.0);
        if pooling == Pooling::Standardise {
            let mut var = vec![0.0; dim];
            for (i, &wi) in w.iter().enumerate() {
                for ((v, &ui), &c) in var.iter_mut().zip(u.row(i)).zip(&centre) {
                    *v += wi * (ui - c) * (ui - c);
                }
            }
            // A zero sd (one effective draw) leaves the single point at the origin anyway.
            for (s, v) in inv_sd.iter_mut().zip(&var) {
                *s = if *v > 0.0 { 1.0 / v.sqrt() } else { 1.0 };
            }
        }
        let w_max = w.iter().fold(0.0f64, |m, &v| m.max(v));
        for (i, &wi) in w.iter().enumerate() {
            if wi >= WEIGHT_PRUNE_REL * w_max && wi > 0.0 {
                points.extend(u.row(i).iter().zip(&centre).zip(&inv_sd).map(|((a, c), s)| (a - c) * s));
                point_w.push(wi);
            }
        }
    }
    if n_obs_used == 0 {
        return Err(Error::invalid(
            "mixture initialisation",
            format!("all {n_obs} simulated observations have zero likelihood at all {n_theta} prior draws"),
        ));
    }
    // Each used observation carries total weight 1; EM normalises the pooled weights.
    let n_points = point_w.len();
    let cloud = Mat::from_vec(n_points, dim, points);
    let fit = fit_weighted_mixture(cloud.as_ref(), &point_w, n_comp, seed)?;
    let weights: Vec<f64> = fit.weights.iter().map(|w| w.max(MIN_COMPONENT_WEIGHT)).collect();
    flow.set_base_mixture_layout(&fit.means, &fit.scales, &weights);
    Ok(MixtureInitReport {
        init: MixtureInit::Fitted,
        applied: true,
        means: fit.means.clone(),
        scales: fit.scales.clone(),
        weights,
        fitted: Some(FitDetails { fit, n_obs_used, n_points, mean_ess: ess_sum / n_obs_used as f64 }),
    })
}

/// Initialises the flow's mixture base by `init` (Gaussian base: no-op, `applied = false`);
/// [`MixtureInit::Fitted`] uses [`DEFAULT_INIT_OBS`] observations and [`DEFAULT_INIT_THETA`]
/// draws. Deterministic given `seed`.
pub fn apply_mixture_init<T: Real>(
    flow: &mut Flow<T>,
    init: MixtureInit,
    model: &dyn Model,
    seed: u64,
) -> Result<MixtureInitReport> {
    let Some((dim, n_comp)) = flow.base().mixture_shape() else {
        return Ok(not_applied(init));
    };
    let (means, scales, weights) = match init {
        MixtureInit::Fitted => return init_mixture_from_model(flow, model, DEFAULT_INIT_OBS, DEFAULT_INIT_THETA, seed),
        MixtureInit::Separated => crate::base::GaussianMixture::new(dim, n_comp).init_layout(),
        MixtureInit::Random => {
            let mut rng = stream(seed, Stream::Init, RANDOM_STEP, 0);
            let means: Vec<f64> = (0..n_comp * dim).map(|_| StandardNormal.sample(&mut rng)).collect();
            (means, vec![1.0; n_comp * dim], vec![1.0 / n_comp as f64; n_comp])
        }
    };
    flow.set_base_mixture_layout(&means, &scales, &weights);
    Ok(MixtureInitReport { init, applied: true, means, scales, weights, fitted: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::fit::SPREAD_SEPARATION;
    use crate::flow::{BaseConfig, BaseKind, FlowConfig};
    use crate::tasks::Square;
    use crate::train::prior_predictive_standardizer;

    /// f32 storage of the parameters loses ~1e-7 relative; the separation check allows 1e-4.
    const F32_SLACK: f64 = 1e-4;

    fn square2d_flow(base: BaseConfig) -> (Square, Flow<f32>) {
        let task = Square::new(2, Square::DEFAULT_NOISE).expect("valid");
        let config = FlowConfig::new(2, 2, base);
        let norm = prior_predictive_standardizer(&task, &config, 2000, 5).expect("simulates");
        let flow = Flow::<f32>::new(config, task.prior(), norm, 5).expect("valid");
        (task, flow)
    }

    fn rms(scales: &[f64], c: usize, dim: usize) -> f64 {
        (scales[c * dim..(c + 1) * dim].iter().map(|s| s * s).sum::<f64>() / dim as f64).sqrt()
    }

    #[test]
    fn fitted_init_on_square2d_gives_four_separated_components_one_per_quadrant() {
        let (task, mut flow) = square2d_flow(BaseConfig::Gmm { components: 4 });
        // Diagnostic only: centring alone gives a structureless blob on square2d (module docs).
        let centred =
            init_mixture_with_pooling(&mut flow, &task, DEFAULT_INIT_OBS, DEFAULT_INIT_THETA, Pooling::Centre, 11)
                .expect("fits");
        eprintln!("centre only: means {:?}\nscales {:?}\nweights {:?}", centred.means, centred.scales, centred.weights);
        let report = init_mixture_from_model(&mut flow, &task, DEFAULT_INIT_OBS, DEFAULT_INIT_THETA, 11).expect("fits");
        let details = report.fitted.as_ref().expect("fitted");
        eprintln!(
            "means {:?}\nscales {:?}\nweights {:?}\nobs used {}, points {}, mean ESS {:.1}, EM iterations {}, pushed {}",
            report.means,
            report.scales,
            report.weights,
            details.n_obs_used,
            details.n_points,
            details.mean_ess,
            details.fit.iterations,
            details.fit.n_pushed
        );
        let BaseKind::Mixture(g) = flow.base().clone() else { panic!("gmm base") };
        let (means, scales, weights) = g.unpack(flow.base_params());
        assert_eq!(weights.len(), 4);
        for a in 0..4 {
            for b in a + 1..4 {
                let dist =
                    ((means[2 * a] - means[2 * b]).powi(2) + (means[2 * a + 1] - means[2 * b + 1]).powi(2)).sqrt();
                let need = SPREAD_SEPARATION * rms(&scales, a, 2).max(rms(&scales, b, 2));
                assert!(dist >= need * (1.0 - F32_SLACK), "components {a}, {b}: distance {dist} < {need}");
            }
        }
        // Square2d's centred posteriors have modes (±a, ±b): one component per quadrant.
        let mut quadrants: Vec<usize> =
            (0..4).map(|c| 2 * usize::from(means[2 * c] > 0.0) + usize::from(means[2 * c + 1] > 0.0)).collect();
        quadrants.sort_unstable();
        assert_eq!(quadrants, vec![0, 1, 2, 3], "means {means:?}");
        assert!(weights.iter().all(|w| (w - 0.25).abs() < 0.1), "weights {weights:?}");
    }

    #[test]
    fn fitted_init_writes_the_bias_of_a_conditional_mixture_and_skips_a_gaussian_base() {
        let (task, mut flow) = square2d_flow(BaseConfig::Cgmm { components: 4 });
        let report = init_mixture_from_model(&mut flow, &task, 16, 4000, 2).expect("fits");
        assert!(report.applied);
        let BaseKind::ConditionalMixture(c) = flow.base().clone() else { panic!("cgmm base") };
        // Last-layer weights are 0 at init, so every ctx gets the bias layout.
        let ctx = Mat::from_vec(2, 2, vec![0.3f32, -1.0, 2.0, 0.5]);
        let raw = c.raw_mixture_params(flow.base_params(), ctx.as_ref());
        for r in 0..2 {
            let (means, _, _) = c.row_mixture().unpack(raw.row(r));
            for (m, want) in means.iter().zip(&report.means) {
                assert!((m - want).abs() < 1e-5 * (1.0 + want.abs()), "{means:?} vs {:?}", report.means);
            }
        }
        let (task, mut flow) = square2d_flow(BaseConfig::Gaussian);
        let before = flow.params().to_vec();
        let report = apply_mixture_init(&mut flow, MixtureInit::Fitted, &task, 2).expect("no-op");
        assert!(!report.applied);
        assert_eq!(flow.params(), &before[..]);
    }

    #[test]
    fn random_and_separated_inits_are_seeded_and_follow_their_rules() {
        let (task, mut flow) = square2d_flow(BaseConfig::Gmm { components: 3 });
        let a = apply_mixture_init(&mut flow, MixtureInit::Random, &task, 9).expect("random");
        let b = apply_mixture_init(&mut flow, MixtureInit::Random, &task, 9).expect("random");
        let c = apply_mixture_init(&mut flow, MixtureInit::Random, &task, 10).expect("random");
        assert_eq!(a, b);
        assert_ne!(a.means, c.means);
        assert!(a.scales.iter().all(|&s| s == 1.0));
        let BaseKind::Mixture(g) = flow.base().clone() else { panic!("gmm base") };
        let (means, scales, _) = g.unpack(flow.base_params());
        for (m, want) in means.iter().zip(&c.means) {
            assert!((m - want).abs() < 1e-6);
        }
        assert!(scales.iter().all(|s| (s - 1.0).abs() < 1e-6));
        let sep = apply_mixture_init(&mut flow, MixtureInit::Separated, &task, 9).expect("separated");
        assert_eq!((sep.means.clone(), sep.scales.clone(), sep.weights.clone()), g.init_layout());
    }

    #[test]
    fn init_rejects_a_model_of_another_dimension() {
        let (_, mut flow) = square2d_flow(BaseConfig::Gmm { components: 2 });
        let task3 = Square::new(3, 0.1).expect("valid");
        assert!(init_mixture_from_model(&mut flow, &task3, 4, 100, 0).is_err());
    }
}
