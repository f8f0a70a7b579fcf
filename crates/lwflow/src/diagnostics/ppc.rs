//! Posterior predictive check at chosen observations: for an observed x_o, draw θ_j ~ q(·|x_o),
//! j = 1 … L, simulate x_j ~ p(x|θ_j), and report per dimension k the quantile of the observed
//! value among the predictive draws (mid-rank, so discrete x with ties sits at the middle):
//!
//!   u_k = (#{j : x_jk < x_ok} + ½ #{j : x_jk = x_ok}) / L.
//!
//! u_k near 0 or 1 says the simulator, fed q's θ, does not reproduce what was observed: q is in
//! the wrong place for this x (or, for real data, the model is misspecified). An observation is
//! *flagged* when some u_k lies outside [a, 1 − a] with a = α / (2 · x_dim): outside the central
//! 1 − α/x_dim predictive interval of a dimension (Bonferroni over dimensions).
//!
//! The u_k are **not** uniform over observations when q is the posterior: x_o helped choose θ,
//! so posterior predictive p-values concentrate near ½ (Meng 1994, Ann. Statist. 22:1142;
//! Gelman et al., BDA3 §6.3). For gaussian_linear (θ ~ N(0, 0.1 I), x ~ N(θ, 0.1 I), posterior
//! N(x/2, 0.05 I), predictive N(x_o/2, 0.15 I)) u_k = Φ(x_ok / (2√0.15)) = Φ(Z/√3), Z ~ N(0, 1).
//! Hence a flag rate above α means trouble, one below it proves nothing: calibration is what
//! [`super::sbc`] and [`super::coverage`] test; this check shows *where* and *in which
//! dimension of x* q fails to explain the data.

use rand::Rng as _;

use crate::error::{Error, Result};
use crate::mat::{Mat, MatRef};
use crate::model::Model;
use crate::rng::{stream, Stream};

use super::Posterior;

/// Levels of the predictive quantiles kept per dimension (for the plot and the JSON): the
/// central 95 % and 50 % intervals and the median.
pub const BAND_LEVELS: [f64; 5] = [0.025, 0.25, 0.5, 0.75, 0.975];

/// Settings of [`posterior_predictive`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PpcConfig {
    /// Posterior draws L per observation, each simulated once.
    pub n_draws: usize,
    /// Level α: a dimension is outside when its u_k < α/(2 x_dim) or > 1 − α/(2 x_dim).
    pub alpha: f64,
    /// The check passes when at most this share of observations is flagged.
    pub max_flagged_share: f64,
    /// Seed of the posterior draws and the simulations.
    pub seed: u64,
}

impl Default for PpcConfig {
    fn default() -> Self {
        Self { n_draws: 1000, alpha: 0.01, max_flagged_share: 0.1, seed: 1 }
    }
}

/// One observation's check.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PpcObservation {
    /// Row of the observations given (with [`super::check`]: the pair's index).
    pub index: usize,
    /// The observed x.
    pub x: Vec<f64>,
    /// u_k per dimension of x.
    pub quantile: Vec<f64>,
    /// `bands[k][b]`: the predictive quantile of dimension k at [`BAND_LEVELS`]`[b]`.
    pub bands: Vec<[f64; 5]>,
    /// Dimensions (0-based) whose u_k is outside [a, 1 − a].
    pub outside: Vec<usize>,
}

/// The check over every observation given.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PpcReport {
    /// Predictive draws L per observation.
    pub draws: usize,
    /// a = α / (2 x_dim): the tail beyond which a dimension is outside.
    pub flag_tail: f64,
    /// Per observation, in order.
    pub observations: Vec<PpcObservation>,
    /// Indices of the flagged observations (some dimension outside).
    pub flagged: Vec<usize>,
    /// Flagged share of the observations.
    pub flagged_share: f64,
    /// The check passes when at most this share is flagged.
    pub max_flagged_share: f64,
    /// `flagged_share ≤ max_flagged_share`.
    pub passed: bool,
}

impl PpcReport {
    /// Every u_k of every observation, observation-major (for histograms and tests).
    pub fn all_quantiles(&self) -> Vec<f64> {
        self.observations.iter().flat_map(|o| o.quantile.iter().copied()).collect()
    }
}

/// The quantile of `observed` among `draws` (mid-rank for ties): (#below + ½ #equal) / L.
pub fn predictive_quantile(draws: impl Iterator<Item = f64>, observed: f64) -> f64 {
    let (mut below, mut equal, mut n) = (0usize, 0usize, 0usize);
    for v in draws {
        n += 1;
        if v < observed {
            below += 1;
        } else if v == observed {
            equal += 1;
        }
    }
    (below as f64 + 0.5 * equal as f64) / n as f64
}

/// The posterior predictive check of q at each row of `x_obs` (`n_obs × x_dim`), with
/// `model` simulating. `progress(done, total)` is called before the first and after each
/// observation. `first_index` numbers the rows in the report (the pair index of row 0).
pub fn posterior_predictive(
    q: &dyn Posterior,
    model: &dyn Model,
    x_obs: MatRef<f64>,
    first_index: usize,
    cfg: &PpcConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<PpcReport> {
    if cfg.n_draws == 0 {
        return Err(Error::invalid("ppc n_draws", "must be at least 1"));
    }
    if !(cfg.alpha > 0.0 && cfg.alpha < 1.0) {
        return Err(Error::invalid("ppc alpha", format!("{}: expected a level in (0, 1)", cfg.alpha)));
    }
    if !(0.0..=1.0).contains(&cfg.max_flagged_share) {
        return Err(Error::invalid("ppc max_flagged_share", "expected a share in [0, 1]"));
    }
    let x_dim = model.x_dim();
    if (q.theta_dim(), q.x_dim()) != (model.theta_dim(), x_dim) {
        return Err(Error::invalid(
            "ppc model",
            format!(
                "has θ of dimension {} and x of dimension {x_dim}; the posterior has {} and {}",
                model.theta_dim(),
                q.theta_dim(),
                q.x_dim()
            ),
        ));
    }
    if x_obs.cols() != x_dim {
        return Err(Error::Shape { what: "ppc observations", expected: x_dim, got: x_obs.cols() });
    }
    let flag_tail = cfg.alpha / (2.0 * x_dim as f64);
    let n_obs = x_obs.rows();
    let mut observations = Vec::with_capacity(n_obs);
    let mut simulated = Mat::zeros(cfg.n_draws, x_dim);
    let mut column = vec![0.0; cfg.n_draws];
    progress(0, n_obs);
    for i in 0..n_obs {
        let index = first_index + i;
        let x = x_obs.row(i);
        let q_seed: u64 = stream(cfg.seed, Stream::Metric, super::STEP_PPC_DRAWS, index as u64).gen();
        let theta = q.sample(x, cfg.n_draws, q_seed)?;
        simulated.as_mut().fill(0.0);
        let mut rng = stream(cfg.seed, Stream::Metric, super::STEP_PPC_SIMULATE, index as u64);
        model.simulate(theta.as_ref(), &mut rng, simulated.as_mut())?;
        let (mut quantile, mut bands, mut outside) = (Vec::with_capacity(x_dim), Vec::with_capacity(x_dim), vec![]);
        for (k, &observed) in x.iter().enumerate() {
            for (c, r) in column.iter_mut().zip(0..cfg.n_draws) {
                *c = simulated.row(r)[k];
            }
            if let Some(r) = column.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    "ppc simulation",
                    format!("observation {index}: x_{} of the draw from θ row {r} is {}", k + 1, column[r]),
                ));
            }
            let u = predictive_quantile(column.iter().copied(), observed);
            column.sort_by(f64::total_cmp);
            bands.push(BAND_LEVELS.map(|p| sorted_quantile(&column, p)));
            if u < flag_tail || u > 1.0 - flag_tail {
                outside.push(k);
            }
            quantile.push(u);
        }
        observations.push(PpcObservation { index, x: x.to_vec(), quantile, bands, outside });
        progress(i + 1, n_obs);
    }
    let flagged: Vec<usize> = observations.iter().filter(|o| !o.outside.is_empty()).map(|o| o.index).collect();
    let flagged_share = flagged.len() as f64 / n_obs.max(1) as f64;
    Ok(PpcReport {
        draws: cfg.n_draws,
        flag_tail,
        observations,
        flagged,
        flagged_share,
        max_flagged_share: cfg.max_flagged_share,
        passed: flagged_share <= cfg.max_flagged_share,
    })
}

/// The p-quantile of sorted `v` by linear interpolation between order statistics.
fn sorted_quantile(v: &[f64], p: f64) -> f64 {
    let at = p * (v.len() - 1) as f64;
    let (lo, frac) = (at.floor() as usize, at - at.floor());
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + frac * (v[hi] - v[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_count_ties_as_half() {
        let draws = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(predictive_quantile(draws.iter().copied(), 2.0), 0.5);
        assert_eq!(predictive_quantile(draws.iter().copied(), 0.0), 0.0);
        assert_eq!(predictive_quantile(draws.iter().copied(), 2.5), 0.75);
        assert_eq!(predictive_quantile(draws.iter().copied(), 9.0), 1.0);
    }

    #[test]
    fn sorted_quantiles_interpolate() {
        let v = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(sorted_quantile(&v, 0.5), 2.0);
        assert_eq!(sorted_quantile(&v, 0.125), 0.5);
        assert_eq!(sorted_quantile(&v, 1.0), 4.0);
    }
}
