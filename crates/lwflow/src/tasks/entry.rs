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
