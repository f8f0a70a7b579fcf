//! Sequential Monte Carlo reference posterior for any [`Model`]: likelihood tempering from the
//! prior to the posterior, for multi-modal posteriors in dimensions a grid cannot reach (d > 3).
//!
//! The targets are π_β(θ) ∝ π(θ) L(x|θ)^β for 0 = β_0 < β_1 < … < β_T = 1 (Del Moral, Doucet &
//! Jasra 2006, doi:10.1111/j.1467-9868.2006.00553.x). N particles θ_i with normalised weights W_i
//! start as prior draws (W_i = 1/N, β = 0). Each stage t:
//!
//! 1. **Tempering rule.** With ℓ_i = log L(x|θ_i) and incremental weights w_i = exp(Δβ ℓ_i), the
//!    conditional ESS (Zhou, Johansen & Aston 2016, doi:10.1080/10618600.2015.1060885)
//!    CESS(Δβ) = N (Σ_i W_i w_i)² / Σ_i W_i w_i² decreases in Δβ; Δβ is the largest value in (0, 1 − β] with CESS ≥ `target_ess_fraction`·N,
//!    found by bisection on the log-space formula (no overflow). With W_i = 1/N, CESS is the
//!    ordinary ESS of the new weights.
//! 2. **Evidence.** log Z += log Σ_i W_i w_i, so log Z = Σ_t log(mean incremental weight) is an
//!    unbiased-in-Z estimate of log ∫ π(θ) L(x|θ) dθ.
//! 3. **Reweight, resample.** W_i ∝ W_i w_i; systematic resampling when ESS = 1/Σ W² < N/2, and
//!    always at the last stage, so the output is equally weighted.
//! 4. **Move.** Random-walk Metropolis targeting π_β, θ' = θ + s·L_c ε, ε ~ N(0, I), with
//!    L_c L_cᵀ = Σ̂_c the covariance of the particle's cluster c and s = c·2.38/√d (Roberts,
//!    Gelman & Gilks 1997). Clusters come from divisive 2-means that splits only at clear gaps
//!    ([`SPLIT_RATIO`]), so a unimodal cloud stays one cluster and separated modes get their own
//!    covariance (why: `split_clusters`). The scale factor c adapts after every sweep,
//!    log c += [`SCALE_GAIN`]·(ā − 0.3) with ā the sweep's mean acceptance, and carries over to the
//!    next stage. A stage runs `moves_per_stage` sweeps and then more (up to [`MAX_MOVE_FACTOR`]×)
//!    until the expected number of accepted moves per particle Σ ā reaches [`MIN_ACCEPTED_MOVES`].
//!    A proposal outside the prior support has π = 0 and is rejected without calling the
//!    likelihood.
//!
//! Why this gets mode masses right: the relative mass of separated modes is carried by the
//! particle weights from stage to stage, not by MCMC mixing between them, which a single chain
//! (or a flow trained on its output) rarely achieves. It fails when a mode holds no particle by
//! the time it separates from the others (a mode of prior mass ≪ 1/N) and when the stages are too
//! coarse. Mode masses are Monte Carlo estimates, not exact: on a 5-D posterior with 4 equal
//! modes (test `four_modes_in_5d_each_hold_a_quarter_of_the_mass`) one mode's share varies by an
//! RMS 0.013 between seeds at N = 20 000 and the default settings (0.010 at target 0.9, 3× the
//! cost), against 0.003 for N independent draws; the error shrinks as 1/√N.
//!
//! Validation (tests below): 10-D Gaussian-linear moments and log evidence against the analytic
//! posterior; 4-mode shares, within-mode moments and evidence in 5-D; bit-identical results on 1
//! and 3 threads.
//!
//! # What an SMC reference supports
//!
//! Samples only. The output is N equally weighted particles (some may be duplicates when a move
//! was rejected); there is no normalised density, so `log_density` and `max_log_density` return
//! NaN and `modes` returns `None`. Density-based metrics (KL, bridge mass) need a density
//! reference ([`super::GridPosterior`], or a task's exact one); use C2ST, Wasserstein and
//! MMD with an SMC reference. `sample` draws particles without replacement when the request fits
//! in N, with replacement beyond: a classifier test on duplicates is still valid (both sample
//! sets come from the same distribution) but two reference draws share particles, so a
//! reference-vs-reference "floor" computed from two draws is optimistic.
//!
//! Determinism: particles are processed in fixed chunks of [`PARTICLES_PER_CHUNK`] with one RNG
//! stream per (stage, sweep, chunk), and every reduction runs in chunk order, so a seed gives the
//! same bits on any number of threads.

mod clusters;
mod moves;
mod particles;
mod posterior;
mod proposal;
mod tempering;
#[cfg(test)]
mod tests;

pub use clusters::{MAX_CLUSTERS, MIN_CLUSTER_SIZE, SPLIT_RATIO};
pub use moves::{MAX_MOVE_FACTOR, MIN_ACCEPTED_MOVES, SCALE_GAIN, TARGET_ACCEPTANCE};
pub use particles::PARTICLES_PER_CHUNK;
pub use posterior::{SmcDiagnostics, SmcPosterior};

use rand::Rng as _;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::rng::{stream, Stream};
use crate::special::log_sum_exp;
use crate::weights::normalise_weights;
use moves::run_moves;
use particles::Particles;
use proposal::Proposal;
use tempering::{next_delta, tempered};

/// Resample when the ESS falls below this fraction of N.
pub const RESAMPLE_FRACTION: f64 = 0.5;
/// Smallest number of particles accepted by [`smc_reference`].
const MIN_PARTICLES: usize = 100;

/// Settings of [`smc_reference`].
#[derive(Clone, Debug, PartialEq)]
pub struct SmcConfig {
    /// Number of particles N (at least 100).
    pub n_particles: usize,
    /// Each stage's Δβ keeps the conditional ESS at this fraction of N, in (0, 1).
    pub target_ess_fraction: f64,
    /// Minimum Metropolis sweeps over all particles per stage (at least 1).
    pub moves_per_stage: usize,
    /// Error if β has not reached 1 after this many stages.
    pub max_stages: usize,
    /// Seed of every random stream.
    pub seed: u64,
}

impl Default for SmcConfig {
    fn default() -> Self {
        Self { n_particles: 20_000, target_ess_fraction: 0.5, moves_per_stage: 10, max_stages: 500, seed: 0 }
    }
}

/// Runs adaptive-tempering SMC for the posterior of `model` at observation `x`.
/// Errors: `x` of the wrong length; invalid settings (N < 100 or above
/// [`crate::limits::MAX_SMC_PARTICLES`], a target fraction outside (0, 1),
/// zero moves or stages); a NaN or +inf log-likelihood ([`Error::BadLogLikelihood`], `row` = the
/// particle); zero likelihood on every prior draw ([`Error::DegenerateWeights`]); β short of 1
/// after `max_stages`.
pub fn smc_reference(model: &dyn Model, x: &[f64], cfg: &SmcConfig) -> Result<SmcPosterior> {
    if x.len() != model.x_dim() {
        return Err(Error::Shape { what: "smc reference observation x", expected: model.x_dim(), got: x.len() });
    }
    if cfg.n_particles < MIN_PARTICLES {
        return Err(Error::invalid("smc n_particles", format!("{}: need at least {MIN_PARTICLES}", cfg.n_particles)));
    }
    crate::limits::check_count(
        "SMC particles (--particles; an SMC reference uses two per sample of --num)",
        cfg.n_particles,
        crate::limits::MAX_SMC_PARTICLES,
        "the particles of one SMC run must fit a few GiB",
    )?;
    if !(cfg.target_ess_fraction > 0.0 && cfg.target_ess_fraction < 1.0) {
        return Err(Error::invalid("smc target_ess_fraction", format!("{}: need 0 < f < 1", cfg.target_ess_fraction)));
    }
    if cfg.moves_per_stage == 0 || cfg.max_stages == 0 {
        return Err(Error::invalid("smc moves_per_stage / max_stages", "need at least 1 each"));
    }
    let mut state = Particles::from_prior(model, x, cfg)?;
    let mut diag = SmcDiagnostics { betas: vec![0.0], ..SmcDiagnostics::default() };
    let mut log_w = vec![-(cfg.n_particles as f64).ln(); cfg.n_particles];
    let mut scale = 1.0;
    let mut beta = 0.0;
    let mut sweep_index = 0u64;
    for stage in 1..=cfg.max_stages {
        let delta = next_delta(&log_w, &state.log_lik, 1.0 - beta, cfg.target_ess_fraction);
        beta = if delta >= 1.0 - beta { 1.0 } else { beta + delta };
        // Incremental weights, evidence, new normalised weights.
        let mut log_inc: Vec<f64> =
            log_w.iter().zip(&state.log_lik).map(|(&lw, &ll)| lw + tempered(ll, delta)).collect();
        let log_mean_inc = log_sum_exp(&log_inc);
        if log_mean_inc == f64::NEG_INFINITY {
            return Err(Error::DegenerateWeights { obs: 0 });
        }
        diag.log_evidence += log_mean_inc;
        for v in log_inc.iter_mut() {
            *v -= log_mean_inc;
        }
        let mut w = log_inc.clone();
        let ess = normalise_weights(&mut w, 0)?;
        log_w = log_inc;
        let resample = ess < RESAMPLE_FRACTION * cfg.n_particles as f64 || beta == 1.0;
        if resample {
            let u: f64 = stream(cfg.seed, Stream::Resample, stage as u64, 0).gen();
            state.resample(&w, u);
            log_w.fill(-(cfg.n_particles as f64).ln());
            w.fill(1.0 / cfg.n_particles as f64);
        }
        let proposal = Proposal::new(state.theta.as_ref());
        let (sweeps, accepted) = run_moves(&mut state, model, x, beta, &proposal, cfg, &mut scale, &mut sweep_index)?;
        diag.betas.push(beta);
        diag.ess.push(ess);
        diag.resampled.push(resample);
        diag.sweeps.push(sweeps);
        diag.acceptance.push(accepted / sweeps as f64);
        diag.scale.push(scale);
        diag.clusters.push(proposal.chol.len());
        if beta == 1.0 {
            return Ok(SmcPosterior { particles: state.theta, diagnostics: diag });
        }
    }
    Err(Error::invalid(
        "smc reference",
        format!("β = {beta:.3e} after max_stages = {}; increase max_stages or target_ess_fraction", cfg.max_stages),
    ))
}
