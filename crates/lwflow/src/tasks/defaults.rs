//! Recommended flow and training settings per built-in task: the one place `lwflow train --task`,
//! `lwflow benchmark` and library users start from.
//!
//! The rule for now: the generic defaults (spline couplings of [`FlowConfig::new`], a Gaussian
//! mixture base with [`DEFAULT_COMPONENTS`] components, [`TrainConfig::default`]), except where
//! the posterior's shape obviously asks for something else:
//!
//! | task | base | why |
//! |---|---|---|
//! | `square2d`, `square3d` | gmm, 2^d components | 2^d disconnected modes |
//! | `two_moons` | gmm, 2 | two crescents |
//! | `slcp` | cgmm, 4 | four modes (the signs of θ₃ and θ₄) whose places and widths move with x |
//! | `gaussian_mixture` | gmm, 4 | unimodal but a scale mixture; generic default kept |
//! | `gaussian_linear`, `gaussian_linear_uniform`, `bernoulli_glm` | Gaussian | unimodal, near-Gaussian |
//!
//! The mixture counts are the fallback of a library user who calls [`recommended`] and
//! [`crate::train::fit`] directly: `lwflow train --task` and [`crate::benchmark`] replace them
//! by the automatic choice ([`crate::train::choose_components`]), which picks these same counts
//! except 1 for `gaussian_mixture` (`results/auto-k`).
//!
//! Training settings are [`TrainConfig::default`] (4000 steps; automatic proposal and
//! tempering: adaptive when the prior's pilot median ESS < 5, tempered only if also the base is
//! unimodal) except where a measurement said otherwise (5 benchmark observations, C2ST against
//! the reference):
//!
//! | task | proposal | why |
//! |---|---|---|
//! | `slcp` | adaptive, tempered; J = 256 observations × M = 8 draws per step, 16000 steps, lr 2·10⁻³, reverse-KL weight λ = 5; the conditioners also get the moments of x's four draws ([`ObsFeatures::SetMoments`]) | C2ST 0.554, training seeds 2 and 3 0.545 and 0.546 (4.5·10⁸ likelihood evaluations, 27 min on 2 cores); 0.635 on x alone, 0.656 on x alone without the reverse-KL term, 0.695 with gmm and lr 10⁻³; at the generic 64 × 16 and 4000 steps 0.772, untempered 0.805, prior weights 0.817 (2.1·10⁹ evaluations; pilot median ESS 8.2 would keep the prior) |
//!
//! The automatic rule gives bernoulli_glm (pilot 3.5, Gaussian base) the adaptive proposal with
//! tempering; its likelihood costs ~3 µs per pair, so prior weights would cost 1.7 CPU-hours.
//! square3d (pilot 2.0, 8 modes) gets the automatic rule's adaptive proposal without tempering:
//! KL(p‖q) 0.25, C2ST 0.557, bridge mass 5.9 % against 0.35, 0.541, 10.5 % with prior weights
//! and 0.57, 0.649, 17 % adaptive and tempered.

use crate::flow::{BaseConfig, FlowConfig, ObsFeatures};
use crate::train::{ProposalKind, Toggle, TrainConfig};

/// Mixture components of the generic default base (tasks not listed in [`recommended`], and
/// external models).
pub const DEFAULT_COMPONENTS: usize = 4;

/// The recommended flow architecture and training settings for the task called `task`, with
/// θ ∈ ℝ^theta_dim and x ∈ ℝ^x_dim (table in the module docs). Any other name (an external model)
/// gets the generic defaults: spline couplings, a Gaussian mixture base with
/// [`DEFAULT_COMPONENTS`] components and [`TrainConfig::default`].
pub fn recommended(task: &str, theta_dim: usize, x_dim: usize) -> (FlowConfig, TrainConfig) {
    let gmm = |components| BaseConfig::Gmm { components };
    let base = match task {
        "square2d" => gmm(4),
        "square3d" => gmm(8),
        "two_moons" => gmm(2),
        "slcp" => BaseConfig::Cgmm { components: 4 },
        "gaussian_linear" | "gaussian_linear_uniform" | "bernoulli_glm" => BaseConfig::Gaussian,
        _ => gmm(DEFAULT_COMPONENTS),
    };
    let mut flow = FlowConfig::new(theta_dim, x_dim, base);
    let mut train = TrainConfig::default();
    // Proposal and tempering: the automatic rule unless a measurement on the task said
    // otherwise (module docs).
    let (proposal, temper) = match task {
        "slcp" => (ProposalKind::Adaptive, Toggle::On),
        _ => (ProposalKind::Auto, Toggle::Auto),
    };
    train.proposal.kind = proposal;
    train.temper.mode = temper;
    if task == "slcp" {
        // Measured budget (module docs): more observations per step and more steps.
        train.steps = 16_000;
        train.obs_per_step = 256;
        train.proposal.draws_per_obs = 8;
        // Measured at 4000 steps: lr 5·10⁻⁴ / 10⁻³ / 2·10⁻³ / 4·10⁻³ gave 0.822 / 0.769 / 0.738 / 0.745.
        train.lr = 2e-3;
        // Measured at 4000 steps: λ = 0 / 0.5 / 2 / 5 / 10 gave 0.733 / 0.720 / 0.711 / 0.711 / 0.710.
        train.reverse_kl = 5.0;
        // x is four i.i.d. 2-d draws whose mean and covariance the posterior depends on; at 4000
        // steps the conditioners given these moments too reached C2ST 0.614 against 0.711.
        flow.x_features = ObsFeatures::SetMoments { members: 4 };
    }
    (flow, train)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_gets_settings_of_its_dimensions() {
        for &name in crate::tasks::NAMES {
            let model = crate::tasks::by_name(name).expect("listed names are valid");
            let (flow, train) = recommended(name, model.theta_dim(), model.x_dim());
            assert_eq!((flow.theta_dim, flow.ctx_dim), (model.theta_dim(), model.x_dim()), "{name}");
            flow.x_features.validate(model.x_dim()).expect("the context fits the task's x");
            if name != "slcp" {
                assert_eq!((train.steps, train.obs_per_step), (TrainConfig::default().steps, 64), "{name}");
            }
        }
        assert_eq!(recommended("square3d", 3, 3).0.base, BaseConfig::Gmm { components: 8 });
        assert_eq!(recommended("gaussian_linear", 10, 10).0.base, BaseConfig::Gaussian);
        let slcp = recommended("slcp", 5, 8).1;
        assert_eq!((slcp.steps, slcp.obs_per_step, slcp.proposal.draws_per_obs), (16_000, 256, 8));
        assert_eq!(slcp.reverse_kl, 5.0);
        assert_eq!(recommended("slcp", 5, 8).0.x_features, ObsFeatures::SetMoments { members: 4 });
        assert_eq!(recommended("two_moons", 2, 2).0.x_features, ObsFeatures::Raw);
    }

    #[test]
    fn unknown_names_get_the_generic_defaults() {
        let (flow, train) = recommended("my_external_model", 2, 5);
        assert_eq!(flow, FlowConfig::new(2, 5, BaseConfig::Gmm { components: DEFAULT_COMPONENTS }));
        assert_eq!(train, TrainConfig::default());
    }
}
