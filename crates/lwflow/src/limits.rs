//! Stated limits for every size lwflow allocates or loops over from user input: flags, config
//! keys, model files, the external-model protocol. Each limit sits far above any run the
//! method needs and far below what would abort the process (a failed multi-terabyte allocation,
//! a `capacity overflow` panic, a loop of 10¹² iterations). The library's validate functions
//! ([`check_flow`], [`check_train`], [`check_count`]) enforce them, so the CLI, config files and
//! other front ends share one set; errors ([`Error::Limit`]) name the flag or key and the limit.

use crate::error::{Error, Result};
use crate::flow::{CouplingConfig, FlowConfig};
use crate::train::TrainConfig;

/// Dimension of θ or of x.
pub const MAX_DIM: usize = 4096;
/// Coupling layers of a flow.
pub const MAX_LAYERS: usize = 256;
/// Width of one hidden layer of a conditioner.
pub const MAX_HIDDEN: usize = 8192;
/// Hidden layers per conditioner.
pub const MAX_DEPTH: usize = 16;
/// Mixture components of the base. Spreading the initial means costs O(K²) per repulsion step
/// (3000 steps): 128 components take about a second, 1000 would take minutes.
pub const MAX_COMPONENTS: usize = 128;
/// Trainable parameters of a flow (1 GiB of f32).
pub const MAX_PARAMS: usize = 1 << 28;
/// Samples drawn (or density rows evaluated) in one call, times θ's dimension: 2²⁸ f64 = 2 GiB.
pub const MAX_SAMPLE_VALUES: usize = 1 << 28;
/// Observations simulated per training step (J).
pub const MAX_OBS_PER_STEP: usize = 1 << 16;
/// Proposal draws per training step (N).
pub const MAX_THETAS_PER_STEP: usize = 1 << 22;
/// Pairs per observation per step (m).
pub const MAX_PAIRS_PER_OBS: usize = 1 << 16;
/// Likelihood evaluations per step, J·N (the weight matrix: 2²⁸ f64 = 2 GiB).
pub const MAX_WEIGHTS_PER_STEP: usize = 1 << 28;
/// Rows the flow is evaluated on per step, J·m.
pub const MAX_BATCH_ROWS: usize = 1 << 24;
/// Held-out validation observations.
pub const MAX_VAL_OBS: usize = 1 << 16;
/// Worker threads of a benchmark.
pub const MAX_THREADS: usize = 1024;
/// Size of a model file read from disk.
pub const MAX_MODEL_FILE_BYTES: u64 = 1 << 32;
/// Bytes of an external model's stderr kept for error messages (the tail; older bytes are dropped).
pub const MAX_STDERR_TAIL: usize = 64 * 1024;
/// Largest Adam learning rate (`--lr`, key `[train] lr`). Adam moves each weight by about the
/// learning rate per step; beyond 1 the first steps throw the weights far outside the range the
/// network works in, and q becomes NaN at step 0 for rates near the float range.
pub const MAX_LEARNING_RATE: f64 = 1.0;
/// Largest spline tail bound B (`--tail-bound`, key `[flow] tail_bound`). θ reaches the splines
/// standardised (unit scale), so [−B, B] with B in the tens already covers it; beyond 10³ the
/// knots, placed in f32 on an interval 2B wide, lose the resolution unit-scale detail needs, and
/// near the float range 2B overflows.
pub const MAX_TAIL_BOUND: f64 = 1000.0;
/// SMC particles per observation (`lwflow components --particles`, and two per requested sample
/// of an SMC reference): the particles, their copies and likelihoods stay within a few GiB.
pub const MAX_SMC_PARTICLES: usize = 1 << 24;
/// Longest external-model timeout, in seconds (a week; `Duration` overflows far above).
pub const MAX_TIMEOUT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// Copies of an external model's process (key `[model] workers`): each is a process with its
/// own pipes and three threads; far more than the cores of any machine gains nothing.
pub const MAX_EXTERNAL_WORKERS: usize = 256;

/// Fails with [`Error::Limit`] when `value > limit`; `what` names the flag or key.
pub fn check_count(what: &str, value: usize, limit: usize, reason: &'static str) -> Result<()> {
    if value > limit {
        return Err(Error::Limit { what: what.to_string(), value: value as u64, limit: limit as u64, reason });
    }
    Ok(())
}

/// Fails with [`Error::Invalid`] unless `value` is a finite number in (0, `max`]; `what` names the
/// flag and key.
pub fn check_positive_at_most(what: &str, value: f64, max: f64) -> Result<()> {
    if !(value > 0.0 && value <= max) {
        return Err(Error::invalid(what, format!("{value:?} is outside (0, {max}]")));
    }
    Ok(())
}

/// `n_rows × dim` values of one sampling or density call within [`MAX_SAMPLE_VALUES`].
pub fn check_sample_values(what: &str, n_rows: usize, dim: usize) -> Result<()> {
    let limit = MAX_SAMPLE_VALUES / dim.max(1);
    check_count(what, n_rows, limit, "rows × dimension of θ must stay within 2²⁸ values (2 GiB)")
}

/// Every size of a flow architecture within its limit; checked before anything is allocated.
pub fn check_flow(cfg: &FlowConfig) -> Result<()> {
    check_count("dimension of θ", cfg.theta_dim, MAX_DIM, "flows beyond this are out of scope")?;
    check_count("dimension of x", cfg.ctx_dim, MAX_DIM, "flows beyond this are out of scope")?;
    check_count("coupling layers (--layers, key `layers`)", cfg.n_layers, MAX_LAYERS, "deeper flows do not train")?;
    check_count(
        "hidden layers (--depth, key `hidden`)",
        cfg.hidden.len(),
        MAX_DEPTH,
        "deeper conditioners do not train",
    )?;
    for &h in &cfg.hidden {
        check_count(
            "hidden width (--hidden, key `hidden`)",
            h,
            MAX_HIDDEN,
            "one conditioner layer would exceed 2²⁶ weights",
        )?;
    }
    check_count(
        "mixture components (--components, key `components`)",
        cfg.base.components(),
        MAX_COMPONENTS,
        "spreading the initial means is O(K²) per step",
    )?;
    if let CouplingConfig::Spline { tail_bound, .. } = cfg.coupling {
        check_positive_at_most(
            "spline tail bound (--tail-bound, key `[flow] tail_bound`)",
            tail_bound,
            MAX_TAIL_BOUND,
        )?;
    }
    let n_params = param_lower_bound(cfg);
    check_count("trainable parameters of the flow", n_params, MAX_PARAMS, "2²⁸ parameters, 1 GiB in f32")
}

/// A lower bound on the flow's parameter count from its config alone (weights between
/// consecutive hidden layers, from the context into the first, and the biases, per coupling;
/// the embedding's exact count), so that an absurd architecture is refused before anything is
/// built. Saturates.
pub fn param_lower_bound(cfg: &FlowConfig) -> usize {
    let width = cfg.conditioner_width();
    let mut per_coupling = width.saturating_mul(cfg.hidden.first().copied().unwrap_or(0));
    for pair in cfg.hidden.windows(2) {
        per_coupling = per_coupling.saturating_add(pair[0].saturating_mul(pair[1]));
    }
    per_coupling = per_coupling.saturating_add(cfg.hidden.iter().fold(0usize, |a, &h| a.saturating_add(h)));
    if let CouplingConfig::Spline { bins, .. } = cfg.coupling {
        // The last hidden layer feeds at least 3·bins − 1 raw spline values of one coordinate.
        per_coupling =
            per_coupling.saturating_add(cfg.hidden.last().copied().unwrap_or(0).saturating_mul(3 * bins.max(1) - 1));
    }
    per_coupling.saturating_mul(cfg.n_layers).saturating_add(cfg.embedding.n_params(cfg.context_width()))
}

/// Every size of a training run within its limit (the config keys and flags that set them).
pub fn check_train(cfg: &TrainConfig) -> Result<()> {
    check_positive_at_most("learning rate (--lr, key `[train] lr`)", cfg.lr, MAX_LEARNING_RATE)?;
    check_count(
        "observations per step (--obs-per-step, key `obs_per_step`)",
        cfg.obs_per_step,
        MAX_OBS_PER_STEP,
        "more do not fit one step's memory",
    )?;
    check_count(
        "proposal draws per step (--thetas-per-step, key `thetas_per_step`)",
        cfg.thetas_per_step,
        MAX_THETAS_PER_STEP,
        "more do not fit one step's memory",
    )?;
    check_count(
        "pairs per observation (--batch, key `pairs_per_obs`)",
        cfg.pairs_per_obs,
        MAX_PAIRS_PER_OBS,
        "more do not fit one step's memory",
    )?;
    check_count(
        "validation observations (key `val_obs`)",
        cfg.val_obs,
        MAX_VAL_OBS,
        "more do not fit one validation's memory",
    )?;
    check_count(
        "observations × proposal draws per step (--obs-per-step × --thetas-per-step)",
        cfg.obs_per_step.saturating_mul(cfg.thetas_per_step),
        MAX_WEIGHTS_PER_STEP,
        "the weight matrix of one step is 2²⁸ values at most (2 GiB)",
    )?;
    check_count(
        "observations × pairs per step (--obs-per-step × --batch)",
        cfg.obs_per_step.saturating_mul(cfg.pairs_per_obs),
        MAX_BATCH_ROWS,
        "one step evaluates the flow on 2²⁴ rows at most",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::BaseConfig;

    #[test]
    fn default_settings_are_within_every_limit() {
        check_flow(&FlowConfig::new(10, 100, BaseConfig::Cgmm { components: 16 })).unwrap();
        check_train(&TrainConfig::default()).unwrap();
    }

    #[test]
    fn each_limit_names_its_flag_and_value() {
        let mut cfg = FlowConfig::new(2, 2, BaseConfig::Gaussian);
        cfg.hidden = vec![100_000, 100_000];
        let err = check_flow(&cfg).unwrap_err().to_string();
        assert!(err.contains("--hidden") && err.contains("100000") && err.contains("8192"), "{err}");
        let cfg = FlowConfig::new(2, 2, BaseConfig::Gmm { components: 1000 });
        let err = check_flow(&cfg).unwrap_err().to_string();
        assert!(err.contains("--components") && err.contains("1000") && err.contains("128"), "{err}");
        let train = TrainConfig { thetas_per_step: 1 << 30, ..TrainConfig::default() };
        let err = check_train(&train).unwrap_err().to_string();
        assert!(err.contains("--thetas-per-step") && err.contains(&(1usize << 30).to_string()), "{err}");
    }

    #[test]
    fn the_parameter_bound_is_below_the_real_count() {
        use crate::flow::{Flow, Standardizer};
        use crate::model::Prior;
        for base in [BaseConfig::Gaussian, BaseConfig::Cgmm { components: 3 }] {
            for coupling in [CouplingConfig::default_affine(), CouplingConfig::default_spline()] {
                let mut cfg = FlowConfig::new(3, 5, base);
                cfg.coupling = coupling;
                let prior = Prior::uniform_box(3, -1.0, 1.0).unwrap();
                let norm = Standardizer { mean: vec![0.0; 5], std: vec![1.0; 5] };
                let flow = Flow::<f32>::architecture(cfg.clone(), &prior, norm).unwrap();
                let bound = param_lower_bound(&cfg);
                assert!(bound <= flow.n_params() && bound * 2 > flow.n_params(), "{bound} vs {}", flow.n_params());
            }
        }
    }
}
