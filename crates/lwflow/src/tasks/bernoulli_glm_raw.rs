//! sbibm `bernoulli_glm_raw` (Lueckmann et al. 2021, arXiv:2101.04653; sbibm
//! `sbibm/tasks/bernoulli_glm/task.py` with `summary="raw"`): the Bernoulli GLM of
//! [`super::bernoulli_glm`] with the same prior, stimulus and design X, observed as the raw spike
//! train x = y ∈ {0, 1}¹⁰⁰ (bin t = 0..99 in order) instead of its sufficient statistics Xᵀy.
//!
//! log L(y|θ) = Σ_t [y_t log σ(ψ_t) + (1 − y_t) log(1 − σ(ψ_t))] = θᵀ(Xᵀy) − Σ_t softplus(ψ_t),
//! ψ = Xθ: the exact log-probability of the train (no dropped constant), which is the
//! statistics' likelihood of `bernoulli_glm` evaluated at Xᵀy. The posterior is therefore the
//! same as `bernoulli_glm`'s at the statistics of the same train, and sbibm ships the same
//! reference samples for both; what changes is what the flow is conditioned on: 100 binary
//! entries whose information sits in ten linear combinations. At a non-binary x the formula is
//! the natural extension (it is only a probability on {0, 1}¹⁰⁰).
//!
//! Reference: SMC, as for `bernoulli_glm` (log-concave, unimodal posterior).

use rand::Rng as _;

use crate::flow::BaseConfig;
use crate::model::Prior;
use crate::rng::Rng;
use crate::special::sigmoid;
use crate::tasks::bernoulli_glm::{BernoulliGlm, DIM, N_STEPS};
use crate::tasks::entry::{Published, TaskEntry, TaskReference};
use crate::tasks::rows::{RowModel, RowShapes};

const SHAPES: RowShapes = RowShapes {
    task: "bernoulli_glm_raw",
    x_what: "bernoulli_glm_raw x",
    theta_what: "bernoulli_glm_raw theta",
    x_dim: N_STEPS,
    theta_dim: DIM,
};

/// The catalogue entry of `bernoulli_glm_raw` ([`crate::tasks::CATALOG`]).
pub const ENTRY: TaskEntry = TaskEntry {
    name: "bernoulli_glm_raw",
    build: || Ok(Box::new(BernoulliGlmRaw::new())),
    reference: TaskReference::Smc,
    // Unimodal and near-Gaussian, like bernoulli_glm.
    base: BaseConfig::Gaussian,
    adjust: None,
    sign_symmetric: &[],
    sbibm: Some(Published { npe: [None, None, Some(0.607)], best: [None, None, Some((0.552, "SNRE"))] }),
};

/// The `bernoulli_glm_raw` task (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct BernoulliGlmRaw {
    glm: BernoulliGlm,
}

impl BernoulliGlmRaw {
    /// sbibm's task: [`BernoulliGlm`]'s prior and design, x the 100-bin spike train.
    pub fn new() -> Self {
        Self { glm: BernoulliGlm::new() }
    }

    /// Xᵀy, the statistics `bernoulli_glm` observes.
    pub fn statistics(&self, y: &[f64]) -> [f64; DIM] {
        let mut s = [0.0; DIM];
        for (row, &yt) in self.glm.design().chunks_exact(DIM).zip(y) {
            for (sk, a) in s.iter_mut().zip(row) {
                *sk += yt * a;
            }
        }
        s
    }
}

impl RowModel for BernoulliGlmRaw {
    const SHAPES: RowShapes = SHAPES;

    fn task_prior(&self) -> &Prior {
        crate::model::Model::prior(&self.glm)
    }

    fn row_log_likelihood(&self, x: &[f64], theta: &[f64]) -> f64 {
        self.glm.log_likelihood_row(&self.statistics(x), theta)
    }

    fn row_simulate(&self, theta: &[f64], rng: &mut Rng, x: &mut [f64]) {
        for (row, y) in self.glm.design().chunks_exact(DIM).zip(x.iter_mut()) {
            let psi: f64 = row.iter().zip(theta).map(|(a, t)| a * t).sum();
            *y = if rng.gen::<f64>() < sigmoid(psi) { 1.0 } else { 0.0 };
        }
    }
}
