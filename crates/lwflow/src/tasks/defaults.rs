//! Recommended flow and training settings: the one place `lwflow train --task`, `lwflow benchmark`
//! and library users start from.
//!
//! The rule for now: the generic defaults (spline couplings of [`FlowConfig::new`], a Gaussian
//! mixture base with [`DEFAULT_COMPONENTS`] components, [`TrainConfig::default`]), except where
//! the posterior's shape obviously asks for something else. Each built-in task's
//! [`TaskEntry`](super::TaskEntry) records its base and why, and any other setting a measurement
//! changed ([`TaskEntry::adjust`](super::TaskEntry::adjust)):
//!
//! | task | base | why |
//! |---|---|---|
//! | `square2d` | gmm, 4 | 4 disconnected modes |
//! | `square3d` | cgmm, 8 | 8 disconnected modes at ±√x_k (cgmm measured better) |
//! | `two_moons` | cgmm, 2 | two crescents whose places move with x |
//! | `slcp` | cgmm, 4 | four modes (the signs of θ₃ and θ₄) whose places and widths move with x |
//! | `gaussian_mixture` | gmm, 4 | unimodal but a scale mixture; generic default kept |
//! | `gaussian_linear`, `gaussian_linear_uniform`, `bernoulli_glm` | Gaussian | unimodal, near-Gaussian |
//! | `slcp_distractors` | cgmm, 4 | slcp's posterior |
//! | `bernoulli_glm_raw`, `sir`, `lotka_volterra` | Gaussian | unimodal |
//! | `sinusoid` | Gaussian | two alias modes, but measured better than gmm 2 with the periodic phase |
//!
//! The mixture counts are the fallback of a library user who calls [`recommended`] and
//! [`crate::train::fit`] directly: `lwflow train --task` and [`crate::benchmark`] replace them
//! by the automatic choice ([`crate::train::choose_components`]), which picks these same counts
//! except 1 for `gaussian_mixture` (`results/auto-k`).
//!
//! Training settings are [`TrainConfig::default`] (4000 steps; automatic proposal and
//! tempering: adaptive when the prior's pilot median ESS < 10, tempered only if also the base is
//! unimodal) except for `slcp` ([`super::slcp::adjust_settings`], with its measurements),
//! `square3d` (16000 steps and the reverse-KL term, [`super::square::adjust_square3d`]),
//! `two_moons` (the adaptive proposal, 16000 steps and the reverse-KL term,
//! [`super::two_moons::adjust_settings`]),
//! `slcp_distractors` (slcp's proposal, tempering, learning rate, reverse-KL weight and budget,
//! and an MLP embedding of x, [`super::slcp_distractors::adjust_settings`]),
//! `sir` (the adaptive proposal, 16000 steps and the reverse-KL term, [`super::sir::adjust_settings`])
//! and `bernoulli_glm` (16000 steps, [`super::bernoulli_glm::adjust_settings`]).

use crate::flow::{BaseConfig, FlowConfig};
use crate::train::TrainConfig;

/// Mixture components of the generic default base (external models, and tasks whose entry keeps
/// it).
pub const DEFAULT_COMPONENTS: usize = 4;

/// The generic settings of a model with θ ∈ ℝ^theta_dim and x ∈ ℝ^x_dim that is not a built-in
/// task: spline couplings, a Gaussian mixture base with [`DEFAULT_COMPONENTS`] components and
/// [`TrainConfig::default`].
pub fn generic(theta_dim: usize, x_dim: usize) -> (FlowConfig, TrainConfig) {
    (FlowConfig::new(theta_dim, x_dim, BaseConfig::Gmm { components: DEFAULT_COMPONENTS }), TrainConfig::default())
}

/// The recommended flow architecture and training settings for the task called `task`, with
/// θ ∈ ℝ^theta_dim and x ∈ ℝ^x_dim: its catalogue entry's ([`super::TaskEntry::recommended`]).
/// Any other name (an external model) gets the [`generic`] defaults.
pub fn recommended(task: &str, theta_dim: usize, x_dim: usize) -> (FlowConfig, TrainConfig) {
    match super::find(task) {
        Some(entry) => entry.recommended(theta_dim, x_dim),
        None => generic(theta_dim, x_dim),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::EmbeddingConfig;
    use crate::flow::ObsFeatures;
    use crate::train::ProposalKind;

    #[test]
    fn every_task_gets_settings_of_its_dimensions() {
        for &name in crate::tasks::NAMES {
            let model = crate::tasks::by_name(name).expect("listed names are valid");
            let (flow, train) = recommended(name, model.theta_dim(), model.x_dim());
            assert_eq!((flow.theta_dim, flow.ctx_dim), (model.theta_dim(), model.x_dim()), "{name}");
            flow.x_features.validate(model.x_dim()).expect("the context fits the task's x");
            if !["slcp", "slcp_distractors", "square3d", "two_moons", "sir", "bernoulli_glm"].contains(&name) {
                assert_eq!((train.steps, train.obs_per_step), (TrainConfig::default().steps, 64), "{name}");
            }
        }
        let (square3d_flow, square3d_train) = recommended("square3d", 3, 3);
        assert_eq!(square3d_flow.base, BaseConfig::Cgmm { components: 8 });
        assert_eq!((square3d_train.steps, square3d_train.reverse_kl), (16_000, 5.0));
        assert_eq!(recommended("gaussian_linear", 10, 10).0.base, BaseConfig::Gaussian);
        let slcp = recommended("slcp", 5, 8).1;
        assert_eq!((slcp.steps, slcp.obs_per_step, slcp.proposal.draws_per_obs), (16_000, 256, 8));
        assert_eq!(slcp.reverse_kl, 5.0);
        assert_eq!(recommended("slcp", 5, 8).0.x_features, ObsFeatures::SetMoments { members: 4 });
        assert_eq!(recommended("two_moons", 2, 2).0.x_features, ObsFeatures::Raw);
        let (distractors_flow, distractors_train) = recommended("slcp_distractors", 5, 100);
        assert_eq!(distractors_flow.embedding, EmbeddingConfig::Mlp { width: 64, depth: 2, out: 16 });
        assert_eq!(distractors_train.proposal.kind, ProposalKind::Adaptive);
        let budget = |t: &TrainConfig| (t.steps, t.obs_per_step, t.proposal.draws_per_obs, t.reverse_kl);
        assert_eq!(budget(&distractors_train), budget(&slcp));
        let two_moons = recommended("two_moons", 2, 2).1;
        assert_eq!(
            (two_moons.proposal.kind, two_moons.steps, two_moons.reverse_kl),
            (ProposalKind::Adaptive, 16_000, 5.0)
        );
        assert_eq!(recommended("bernoulli_glm", 10, 10).1.steps, 16_000);
        let sir = recommended("sir", 2, 10).1;
        assert_eq!((sir.proposal.kind, sir.steps, sir.reverse_kl), (ProposalKind::Adaptive, 16_000, 5.0));
    }

    #[test]
    fn unknown_names_get_the_generic_defaults() {
        let (flow, train) = recommended("my_external_model", 2, 5);
        assert_eq!(flow, FlowConfig::new(2, 5, BaseConfig::Gmm { components: DEFAULT_COMPONENTS }));
        assert_eq!(train, TrainConfig::default());
    }
}
