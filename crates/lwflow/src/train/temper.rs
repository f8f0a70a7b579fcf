//! Likelihood tempering: early steps train on the tempered posterior
//! p_β(θ|x) ∝ L(x|θ)^β π(θ), β ∈ (0, 1], so the weights of the draws are spread over many
//! draws instead of one.
//!
//! With log-weights log w_i = β ℓ_i + o_i (ℓ_i = log L(x|θ_i), o_i = log π(θ_i) − log r(θ_i|x),
//! zero for prior draws) the per-observation ESS(β) = (Σ w_i)² / Σ w_i² falls from the number
//! of draws at β = 0 towards its β = 1 value. Each step, β is raised to the largest value whose
//! median ESS over the step's observations is still at least `target_ess_fraction` of the draws
//! per observation (found by bisection on the step's own weights), and never lowered. A deadline makes sure β reaches 1: it is at least
//! the geometric schedule β_min^(1 − t/T) with T = `end` · steps, so the last `1 − end` of the
//! steps train on β = 1 only and the returned flow targets the posterior itself.
//!
//! # Not for separated modes
//!
//! A tempered posterior is broader than the posterior, and for small β its modes join: the flow
//! first learns one connected blob, then has to tear it apart as β rises, and what it keeps of
//! the connection is bridge mass. Measured on square3d (8 separated modes, adaptive proposal,
//! 5 observations): KL(p‖q) 0.25 and 5.9 % bridge mass without tempering against 0.57–0.71 and
//! 15–23 % with it, whatever the ESS target (0.2 or 0.5) or how early β reached 1; the damage is
//! done while β is small. On slcp (whose four sign modes meet where θ₃ or θ₄ is near 0) tempering
//! helped: C2ST 0.772 against 0.805. So `Auto` tempers only a unimodal base (Gaussian, or a
//! mixture of one component), and per-task defaults record where a measurement said otherwise.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::special::exp_poly;
use crate::weights::{median, LOG_WEIGHT_FLOOR};

/// Whether a training feature is used; `Auto` decides from the prior's weights on the validation batch
/// (see [`crate::train::AUTO_ESS_THRESHOLD`]), and for tempering also from the base (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Toggle {
    /// On when the prior's weights degenerate (tempering: and the base is unimodal), off otherwise.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// Settings of the tempering schedule; off trains on β = 1 throughout.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemperConfig {
    /// Whether to temper.
    pub mode: Toggle,
    /// The median per-observation ESS that β is chosen to keep, as a fraction of the draws each
    /// observation is weighted against (N for prior draws, M for the adaptive proposal).
    pub target_ess_fraction: f64,
    /// β at step 0 of the deadline schedule (and the smallest β ever used).
    pub beta_min: f64,
    /// Fraction of the steps by which β must have reached 1.
    pub end: f64,
}

impl Default for TemperConfig {
    fn default() -> Self {
        Self { mode: Toggle::Auto, target_ess_fraction: 0.5, beta_min: 1e-3, end: 0.5 }
    }
}

impl TemperConfig {
    /// No tempering (β = 1 from the first step): how model files written before tempering
    /// existed were trained.
    pub fn off() -> Self {
        Self { mode: Toggle::Off, ..Self::default() }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.target_ess_fraction > 0.0 && self.target_ess_fraction < 1.0) {
            return Err(Error::invalid("train.temper.target_ess_fraction", "must be in (0, 1)"));
        }
        if !(self.beta_min > 0.0 && self.beta_min <= 1.0) {
            return Err(Error::invalid("train.temper.beta_min", "must be in (0, 1]"));
        }
        if !(self.end > 0.0 && self.end <= 1.0) {
            return Err(Error::invalid("train.temper.end", "must be a fraction of the steps in (0, 1]"));
        }
        Ok(())
    }

    /// The deadline β_min^(1 − t/T), T = `end` · steps, and 1 from step T on.
    pub fn deadline(&self, step: usize, steps: usize) -> f64 {
        let t_end = (self.end * steps as f64).max(1.0);
        let t = step as f64 / t_end;
        if t >= 1.0 {
            1.0
        } else {
            self.beta_min.powf(1.0 - t)
        }
    }
}

/// ESS of one observation's weights exp(β ℓ_i + o_i); `offset = None` means o = 0.
pub fn ess_at(log_lik: &[f64], offset: Option<&[f64]>, beta: f64) -> f64 {
    let a = |i: usize| beta * log_lik[i] + offset.map_or(0.0, |o| o[i]);
    let m = (0..log_lik.len()).map(a).fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return 0.0;
    }
    let (mut s1, mut s2) = (0.0, 0.0);
    for i in 0..log_lik.len() {
        let d = a(i) - m;
        let w = if d > LOG_WEIGHT_FLOOR { exp_poly(d) } else { 0.0 };
        s1 += w;
        s2 += w * w;
    }
    s1 * s1 / s2
}

/// Median over the rows (observations) of [`ess_at`]. The median, not the mean: a few
/// observations with broad posteriors have ESS in the thousands and would hold the mean above any
/// target while most observations sit at ESS ≈ 1 (measured on slcp: mean 30, median 2).
pub fn median_ess(log_lik: &Mat<f64>, offset: Option<&Mat<f64>>, beta: f64) -> f64 {
    median_ess_with(log_lik, offset, beta, &mut Vec::new())
}

/// [`median_ess`] with `ess` as scratch for the per-observation values (allocation-free once
/// it has held as many).
fn median_ess_with(log_lik: &Mat<f64>, offset: Option<&Mat<f64>>, beta: f64, ess: &mut Vec<f64>) -> f64 {
    let n = log_lik.cols();
    ess.resize(log_lik.rows(), 0.0);
    ess.par_iter_mut()
        .zip(log_lik.as_slice().par_chunks(n.max(1)))
        .enumerate()
        .for_each(|(j, (e, row))| *e = ess_at(row, offset.map(|o| o.row(j)), beta));
    median(ess)
}

/// Bisection steps: the bracket shrinks to 2⁻¹⁴ of its width, far finer than β needs.
const BISECTION_STEPS: usize = 14;

/// The largest β in [lo, 1] with median ESS ≥ `target`, assuming ESS falls with β (it does for
/// prior draws: raising β sharpens the weights); `lo` when even `lo` misses the target.
pub fn beta_for_target_ess(log_lik: &Mat<f64>, offset: Option<&Mat<f64>>, lo: f64, target: f64) -> f64 {
    beta_for_target_ess_with(log_lik, offset, lo, target, &mut Vec::new())
}

/// [`beta_for_target_ess`] with `ess` as scratch (see [`median_ess_with`]).
fn beta_for_target_ess_with(
    log_lik: &Mat<f64>,
    offset: Option<&Mat<f64>>,
    lo: f64,
    target: f64,
    ess: &mut Vec<f64>,
) -> f64 {
    if median_ess_with(log_lik, offset, 1.0, ess) >= target {
        return 1.0;
    }
    if median_ess_with(log_lik, offset, lo, ess) < target {
        return lo;
    }
    let (mut a, mut b) = (lo, 1.0);
    for _ in 0..BISECTION_STEPS {
        let mid = 0.5 * (a + b);
        if median_ess_with(log_lik, offset, mid, ess) >= target {
            a = mid;
        } else {
            b = mid;
        }
    }
    a
}

/// The β of the current step: monotone, at least the deadline, as large as the ESS target allows.
#[derive(Clone, Debug)]
pub struct Tempering {
    beta: f64,
    /// Per-observation ESS scratch of the bisection.
    ess: Vec<f64>,
}

impl Default for Tempering {
    fn default() -> Self {
        Self { beta: 0.0, ess: Vec::new() }
    }
}

impl Tempering {
    /// Chooses β for `step` from that step's draws; β = 1 when `enabled` is false.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        cfg: &TemperConfig,
        enabled: bool,
        step: usize,
        steps: usize,
        log_lik: &Mat<f64>,
        offset: Option<&Mat<f64>>,
    ) -> f64 {
        if !enabled {
            self.beta = 1.0;
            return 1.0;
        }
        let lo = self.beta.max(cfg.deadline(step, steps));
        let target = cfg.target_ess_fraction * log_lik.cols() as f64;
        self.beta = if lo >= 1.0 { 1.0 } else { beta_for_target_ess_with(log_lik, offset, lo, target, &mut self.ess) };
        self.beta
    }

    /// The β chosen last.
    pub fn beta(&self) -> f64 {
        self.beta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ℓ_i = −z_i²/2 on an even grid z ∈ [−6, 6] (spacing h): at temperature β the weights are
    /// a Gaussian of sd 1/√β in z, and ESS → (√(2π/β)/h)² / (√(π/β)/h) = 2√(π/β)/h.
    fn grid(n: usize) -> Vec<f64> {
        (0..n).map(|i| -0.5 * (-6.0 + 12.0 * i as f64 / (n - 1) as f64).powi(2)).collect()
    }

    fn ess_direct(l: &[f64], beta: f64) -> f64 {
        let w: Vec<f64> = l.iter().map(|v| (beta * v).exp()).collect();
        w.iter().sum::<f64>().powi(2) / w.iter().map(|v| v * v).sum::<f64>()
    }

    #[test]
    fn ess_matches_the_definition_and_falls_with_beta() {
        let l = grid(2001);
        let mut last = f64::INFINITY;
        for beta in [1e-3, 0.01, 0.1, 0.5, 1.0, 4.0] {
            let e = ess_at(&l, None, beta);
            assert!((e - ess_direct(&l, beta)).abs() < 1e-9 * e, "beta {beta}: {e}");
            assert!(e < last);
            last = e;
        }
        // In the continuum limit ESS = 2√(π/β)/h with h = 12/2000: at β = 1, 590.8.
        assert!((ess_at(&l, None, 1.0) - 2.0 * std::f64::consts::PI.sqrt() / 0.006).abs() < 0.5);
    }

    #[test]
    fn bisection_hits_the_target_ess() {
        let rows = 3;
        let l = Mat::from_fn(rows, 2001, |j, i| grid(2001)[i] * (1.0 + j as f64));
        let target = 1500.0;
        let beta = beta_for_target_ess(&l, None, 1e-4, target);
        let e = median_ess(&l, None, beta);
        assert!(beta > 1e-4 && beta < 1.0);
        assert!(e >= target && e < target * 1.01, "beta {beta} ESS {e}");
        // The offset enters like a fixed log-weight: an offset equal to ℓ doubles the exponent's slope.
        let off = l.clone();
        // Median row: exponent 2(β + 1), ESS ≈ 2√(π/(2(β+1)))/h falls from 418 to 295 over β ∈ [0, 1].
        let beta_off = beta_for_target_ess(&l, Some(&off), 1e-4, 350.0);
        assert!((beta_off - 0.425).abs() < 0.01, "{beta_off}");
        assert!((median_ess(&l, Some(&off), beta_off) - 350.0).abs() < 0.5);
        assert_eq!(beta_for_target_ess(&l, None, 1e-4, 1.0), 1.0, "ESS ≥ 1 always");
        assert_eq!(beta_for_target_ess(&l, None, 0.5, 1e9), 0.5, "unreachable target keeps lo");
    }

    #[test]
    fn schedule_is_monotone_and_ends_at_one() {
        let cfg = TemperConfig { end: 0.5, ..TemperConfig::default() };
        let l = Mat::from_fn(2, 501, |_, i| grid(501)[i] * 1e4);
        let mut t = Tempering::default();
        let mut last = 0.0;
        for step in 0..100 {
            let b = t.update(&cfg, true, step, 100, &l, None);
            assert!(b >= last && b >= cfg.deadline(step, 100) && b <= 1.0);
            last = b;
            if step >= 50 {
                assert_eq!(b, 1.0);
            }
        }
        assert!((cfg.deadline(0, 100) - cfg.beta_min).abs() < 1e-15);
        assert!((cfg.deadline(25, 100) - cfg.beta_min.sqrt()).abs() < 1e-12);
        let mut off = Tempering::default();
        assert_eq!(off.update(&TemperConfig::off(), false, 0, 100, &l, None), 1.0);
    }
}
