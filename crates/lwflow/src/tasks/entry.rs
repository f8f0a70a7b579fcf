//! One row of the task catalogue ([`super::CATALOG`]): everything the library knows about a
//! built-in task beyond its [`Model`] — its name, its reference posterior, the flow and training
//! settings recommended for it, and the symmetries of its posterior. Names, lookup, references,
//! recommended settings and the benchmark's choices all read these fields; nothing else names a
//! task.

use crate::error::{Error, Result};
use crate::flow::{BaseConfig, FlowConfig};
use crate::model::Model;
use crate::reference::{Reference, ReferenceKind};
use crate::train::TrainConfig;

/// Builds the task's reference posterior at the observation `x`; errors for an `x` of the wrong
/// length.
pub type ReferenceBuilder = fn(x: &[f64]) -> Result<Box<dyn Reference>>;

/// Adjusts the generic settings (a [`TaskEntry::base`] base, [`TrainConfig::default`]) where a
/// measurement on the task said otherwise.
pub type SettingsAdjustment = fn(flow: &mut FlowConfig, train: &mut TrainConfig);

/// Where a built-in task's reference posterior comes from.
#[derive(Clone, Copy)]
pub enum TaskReference {
    /// An exact density and sampler.
    Exact(ReferenceBuilder),
    /// A normalised grid at the task's own resolution.
    Grid(ReferenceBuilder),
    /// No closed form: an SMC run ([`crate::benchmark::build_reference`]), with the task's
    /// [`TaskEntry::sign_symmetric`] coordinates symmetrised.
    Smc,
}

impl TaskReference {
    /// The kind of reference this is.
    pub fn kind(self) -> ReferenceKind {
        match self {
            TaskReference::Exact(_) => ReferenceKind::Exact,
            TaskReference::Grid(_) => ReferenceKind::Grid,
            TaskReference::Smc => ReferenceKind::Smc,
        }
    }
}

/// A built-in task: one line of [`super::CATALOG`].
#[derive(Clone, Copy)]
pub struct TaskEntry {
    /// The name users give (`--task`, `task = …`); equal to the model's [`Model::name`].
    pub name: &'static str,
    /// Builds the task's model.
    pub build: fn() -> Result<Box<dyn Model>>,
    /// The task's own reference posterior.
    pub reference: TaskReference,
    /// The recommended base distribution (the rule: [`super::defaults`]).
    pub base: BaseConfig,
    /// Task-specific changes to the other recommended settings; `None` keeps the generic ones.
    pub adjust: Option<SettingsAdjustment>,
    /// Coordinates θ_k whose sign the posterior cannot tell (the likelihood sees only θ_k², the
    /// prior is symmetric): its sign modes have equal mass, which a sampled reference enforces
    /// ([`crate::reference::SignSymmetrized`]). Empty for most tasks.
    pub sign_symmetric: &'static [usize],
    /// sbibm's published results for the task, to compare against; `None` for tasks sbibm does
    /// not have.
    pub sbibm: Option<Published>,
}

/// Mean C2ST over sbibm's 10 observations as published (Lueckmann et al. 2021,
/// arXiv:2101.04653) at 10³, 10⁴ and 10⁵ simulations: NPE (amortized, like lwflow) and the best
/// method with its name. `None` where we have not transcribed the number.
#[derive(Clone, Copy, Debug)]
pub struct Published {
    /// NPE at 10³, 10⁴, 10⁵ simulations.
    pub npe: [Option<f64>; 3],
    /// The best method's C2ST and name at 10³, 10⁴, 10⁵ simulations.
    pub best: [Option<(f64, &'static str)>; 3],
}

impl Published {
    /// NPE's C2ST at `simulations` ∈ {10³, 10⁴, 10⁵}; `None` for other counts or untranscribed.
    pub fn npe_at(&self, simulations: u64) -> Option<f64> {
        self.npe[Self::column(simulations)?]
    }

    /// The best method's C2ST and name at `simulations` ∈ {10³, 10⁴, 10⁵}.
    pub fn best_at(&self, simulations: u64) -> Option<(f64, &'static str)> {
        self.best[Self::column(simulations)?]
    }

    fn column(simulations: u64) -> Option<usize> {
        [1_000, 10_000, 100_000].iter().position(|&n| n == simulations)
    }
}

impl TaskEntry {
    /// The task's model.
    pub fn model(&self) -> Result<Box<dyn Model>> {
        (self.build)()
    }

    /// The reference posterior at the observation `x` when the task has one in closed form or on
    /// a grid; `Ok(None)` for a task whose reference is an SMC run. Errors for an `x` of the
    /// wrong length.
    pub fn reference_at(&self, x: &[f64]) -> Result<Option<Box<dyn Reference>>> {
        match self.reference {
            TaskReference::Exact(build) | TaskReference::Grid(build) => build(x).map(Some),
            TaskReference::Smc => {
                // Tasks without a reference here still check their input.
                let expected = self.model()?.x_dim();
                if x.len() == expected {
                    Ok(None)
                } else {
                    Err(Error::invalid(
                        format!("{} observation x", self.name),
                        format!("expected {expected} entries, got {}", x.len()),
                    ))
                }
            }
        }
    }

    /// The recommended flow architecture and training settings for this task with θ ∈ ℝ^theta_dim
    /// and x ∈ ℝ^x_dim: [`FlowConfig::new`] with [`TaskEntry::base`] and [`TrainConfig::default`],
    /// then [`TaskEntry::adjust`].
    pub fn recommended(&self, theta_dim: usize, x_dim: usize) -> (FlowConfig, TrainConfig) {
        let mut flow = FlowConfig::new(theta_dim, x_dim, self.base);
        let mut train = TrainConfig::default();
        if let Some(adjust) = self.adjust {
            adjust(&mut flow, &mut train);
        }
        (flow, train)
    }
}

impl ReferenceKind {
    /// The reference of the built-in task `task` (one of [`super::NAMES`]); errors for an unknown
    /// name.
    pub fn of_task(task: &str) -> Result<Self> {
        Ok(super::entry(task)?.reference.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_numbers_are_read_at_their_simulation_count() {
        let p = Published { npe: [Some(0.9), None, Some(0.6)], best: [None, Some((0.7, "SNLE")), None] };
        assert_eq!((p.npe_at(1_000), p.npe_at(10_000), p.npe_at(100_000)), (Some(0.9), None, Some(0.6)));
        assert_eq!(p.best_at(10_000), Some((0.7, "SNLE")));
        assert_eq!((p.npe_at(5_000), p.best_at(1_000_000)), (None, None));
    }
}
