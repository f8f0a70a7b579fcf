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
//! | `slcp` | gmm, 4 | four modes (the signs of θ₃ and θ₄) |
//! | `gaussian_mixture` | gmm, 4 | unimodal but a scale mixture; generic default kept |
//! | `gaussian_linear`, `gaussian_linear_uniform`, `bernoulli_glm` | Gaussian | unimodal, near-Gaussian |
//!
//! Training settings are [`TrainConfig::default`] for every task; they are not tuned yet.

use crate::flow::{BaseConfig, FlowConfig};
use crate::train::TrainConfig;

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
        "slcp" => gmm(4),
        "gaussian_linear" | "gaussian_linear_uniform" | "bernoulli_glm" => BaseConfig::Gaussian,
        _ => gmm(DEFAULT_COMPONENTS),
    };
    (FlowConfig::new(theta_dim, x_dim, base), TrainConfig::default())
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
            assert_eq!(train, TrainConfig::default(), "{name}");
        }
        assert_eq!(recommended("square3d", 3, 3).0.base, BaseConfig::Gmm { components: 8 });
        assert_eq!(recommended("gaussian_linear", 10, 10).0.base, BaseConfig::Gaussian);
    }

    #[test]
    fn unknown_names_get_the_generic_defaults() {
        let (flow, train) = recommended("my_external_model", 2, 5);
        assert_eq!(flow, FlowConfig::new(2, 5, BaseConfig::Gmm { components: DEFAULT_COMPONENTS }));
        assert_eq!(train, TrainConfig::default());
    }
}
