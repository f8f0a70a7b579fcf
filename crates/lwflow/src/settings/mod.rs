//! The user-facing flow and training settings, one type for every source: a config file's
//! `[base]`, `[flow]` and `[train]` tables and its `seed`, the command-line flags, and (next)
//! Python keywords all become a [`Settings`], whose fields are all optional (`None`: this source
//! does not say).
//!
//! recommended(task) ← file ← flags: [`Settings::overlay`] keeps, per key, the last source that
//! gives it, and [`Settings::resolve`] lays the result over the task's recommended configuration
//! ([`crate::tasks::recommended`]) to give the [`FlowConfig`] and [`TrainConfig`] to train with.
//! Values are checked while they are read ([`values`]), so a file's error carries the value's
//! line and column and a flag's error names the flag; enumerated values are spelled as in
//! [`choice`].
//!
//! | key | flag | type | default |
//! |---|---|---|---|
//! | `seed` | `--seed` | integer ≥ 0 | 1 |
//! | `[base] kind` | `--base` | [`BaseFamily`] | the task's |
//! | `[base] components` | `--components` | [`Components`] | the task's; `auto` for a built-in task |
//! | `[flow] kind` | `--flow` | [`CouplingFamily`] | spline |
//! | `[flow] layers`, `hidden`, `depth` | `--layers` … | [`Positive`] | 6, 128, 2 |
//! | `[flow] bins`, `tail_bound` | `--bins` … | [`Positive`], [`TailBound`] (≤ 10³) | 8, 5 |
//! | `[flow] set_members` | `--set-members` | [`Positive`] | 1 (slcp: 4) |
//! | `[flow] embedding` | `--embedding` | [`EmbeddingFamily`] | none |
//! | `[flow] embedding_width`, `embedding_depth`, `embedding_out` | `--embedding-width` … | [`Positive`] | 64, 2, 16 |
//! | `[flow] embedding_members` | `--embedding-members` | [`Positive`] | set_members (set only) |
//! | `[flow] embedding_channels`, `embedding_kernel` | `--embedding-channels` … | [`Positive`] | 1, 5 (conv1d only) |
//! | `[train] steps`, `obs_per_step`, `thetas_per_step`, `batch`, `draws_per_obs` | `--steps` … | [`Positive`] | [`TrainConfig::default`] |
//! | `[train] lr` | `--lr` | [`LearningRate`] (≤ 1) | 10⁻³ |
//! | `[train] clip_norm`, `time_limit` | `--clip-norm` … | [`PositiveF64`] | 10, none |
//! | `[train] layout`, `mixture_init`, `proposal`, `temper` | `--layout` … | [`Choice`] | resample, separated, auto, auto |
//! | `[train] prior_share`, `temper_end` | `--prior-share` … | [`Fraction`] | 0.25, 0.5 |
//! | `[train] temper_target` | `--temper-target` | [`OpenFraction`] | 0.5 |
//! | `[train] reverse_kl` | `--reverse-kl` | [`NonNegativeF64`] | 0 (slcp: 5) |
//! | `[train] budget` | `--budget` | [`PositiveCount`] | none (fresh draws, no limit) |
//! | `[train] rounds` | `--rounds` | [`Positive`] | 4 (budgeted runs only) |
//! | `[train] exact_draws` | `--exact-draws` | `true`/`false` | true (budgeted runs only) |
//! | `[train] likelihood_rounds` | `--likelihood-rounds` | whole number < rounds | 0 (budgeted runs only) |
//! | `[train] round_steps` | `--round-steps` | [`Positive`] | 20,000 (budgeted runs only) |
//!
//! A flag is the key's name with `-` for `_`, except `[base] kind` and `[flow] kind`, which are
//! `--base` and `--flow`.

pub mod choice;
mod keywords;
mod resolve;
pub mod values;

pub use choice::{parse_choice, BaseFamily, Choice, CouplingFamily, EmbeddingFamily};
pub use keywords::Keyword;
pub use resolve::Resolved;
pub use values::{
    Components, Fraction, LearningRate, NonNegativeF64, OpenFraction, Positive, PositiveCount, PositiveF64, TailBound,
    ValueError,
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::train::{MixtureInit, ProposalKind, Toggle};
use crate::weights::BatchLayout;
#[cfg(doc)]
use crate::{flow::FlowConfig, train::TrainConfig};

/// Settings from one source, or several laid over each other; `None` leaves a key to the sources
/// below (at the bottom, the task's recommended settings).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Seed of every random stream.
    pub seed: Option<u64>,
    /// The `[base]` table.
    #[serde(default)]
    pub base: BaseSettings,
    /// The `[flow]` table.
    #[serde(default)]
    pub flow: FlowSettings,
    /// The `[train]` table.
    #[serde(default)]
    pub train: TrainSettings,
}

/// The base distribution.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSettings {
    /// Gaussian, or a mixture.
    pub kind: Option<BaseFamily>,
    /// Components of a mixture base; alone, it turns a Gaussian base into a mixture.
    pub components: Option<Components>,
}

/// The flow's architecture.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    /// Coupling layer type (a change of type starts from that type's default parameters).
    pub kind: Option<CouplingFamily>,
    /// Number of coupling layers.
    pub layers: Option<Positive>,
    /// x is this many exchangeable draws; the conditioners also get their moments (1: x alone).
    pub set_members: Option<Positive>,
    /// Width of each hidden layer of the conditioners.
    pub hidden: Option<Positive>,
    /// Hidden layers per conditioner.
    pub depth: Option<Positive>,
    /// Spline bins (spline couplings only).
    pub bins: Option<Positive>,
    /// Splines act on [−B, B] (spline couplings only).
    pub tail_bound: Option<TailBound>,
    /// A learned embedding of x as the conditioners' context.
    pub embedding: Option<EmbeddingFamily>,
    /// Hidden units per layer of the embedding (conv1d: filters per convolution).
    pub embedding_width: Option<Positive>,
    /// Hidden layers of the MLP embedding or of the set embedding's φ; conv1d: blocks.
    pub embedding_depth: Option<Positive>,
    /// Dimension of the embedding e.
    pub embedding_out: Option<Positive>,
    /// Exchangeable members in one x (set embedding).
    pub embedding_members: Option<Positive>,
    /// Series (input channels) in one x (conv1d embedding).
    pub embedding_channels: Option<Positive>,
    /// Filter width, odd (conv1d embedding).
    pub embedding_kernel: Option<Positive>,
}

/// The training run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSettings {
    /// Optimiser steps.
    pub steps: Option<Positive>,
    /// Observations x per step (J).
    pub obs_per_step: Option<Positive>,
    /// Prior draws θ per step, shared by the step's observations (N).
    pub thetas_per_step: Option<Positive>,
    /// Rows per step with the prior proposal: J × pairs per observation.
    pub batch: Option<Positive>,
    /// Peak Adam learning rate.
    pub lr: Option<LearningRate>,
    /// Global gradient-norm clip.
    pub clip_norm: Option<PositiveF64>,
    /// Which (θ, x) pairs of the weight matrix the flow is trained on.
    pub layout: Option<BatchLayout>,
    /// Initialisation of a mixture base.
    pub mixture_init: Option<MixtureInit>,
    /// Wall-clock limit in seconds.
    pub time_limit: Option<PositiveF64>,
    /// Where the training draws come from.
    pub proposal: Option<ProposalKind>,
    /// Draws per observation per step of the adaptive proposal (M).
    pub draws_per_obs: Option<Positive>,
    /// Prior share of the adaptive proposal.
    pub prior_share: Option<Fraction>,
    /// Likelihood tempering of the early steps.
    pub temper: Option<Toggle>,
    /// Median ESS kept while tempering, as a fraction of the draws.
    pub temper_target: Option<OpenFraction>,
    /// Fraction of the steps by which tempering reaches β = 1.
    pub temper_end: Option<Fraction>,
    /// Weight λ of the reverse-KL term of the adaptive steps.
    pub reverse_kl: Option<NonNegativeF64>,
    /// Model calls (likelihood evaluations + simulations) the training may make; set, training
    /// runs in budgeted rounds on a stored set of draws.
    pub budget: Option<PositiveCount>,
    /// Rounds of a budgeted run.
    pub rounds: Option<Positive>,
    /// Whether a budgeted run also trains on each simulated θ, an exact posterior draw.
    pub exact_draws: Option<bool>,
    /// Last rounds of a budgeted run that also evaluate the likelihood (0: simulations only).
    pub likelihood_rounds: Option<usize>,
    /// Gradient steps per round of a budgeted run at most.
    pub round_steps: Option<Positive>,
}

impl Settings {
    /// `sources` laid over each other in order: each key takes its value from the last source
    /// that gives it. Generic over the keys (through their serde form), so a new key needs no
    /// line here.
    pub fn overlay(sources: impl IntoIterator<Item = Settings>) -> Settings {
        let mut merged = Value::Object(Map::new());
        for source in sources {
            lay_over(&mut merged, serde_json::to_value(source).expect("settings are plain data"));
        }
        serde_json::from_value(merged).expect("values valid in their own source are valid together")
    }
}

/// `over`'s keys replace `under`'s, table by table; `null` (an unset key) replaces nothing.
fn lay_over(under: &mut Value, over: Value) {
    match (under, over) {
        (_, Value::Null) => {}
        (Value::Object(under), Value::Object(over)) => {
            for (key, value) in over {
                lay_over(under.entry(key).or_insert(Value::Null), value);
            }
        }
        (under, over) => *under = over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: Value) -> Settings {
        serde_json::from_value(json).expect("valid settings")
    }

    #[test]
    fn later_sources_win_key_by_key() {
        let file = settings(serde_json::json!({
            "seed": 7,
            "base": { "kind": "gmm", "components": 6 },
            "train": { "steps": 20, "layout": "top-weights", "lr": 0.002 }
        }));
        let flags = settings(serde_json::json!({ "base": { "kind": "cgmm" }, "train": { "steps": 5 } }));
        let merged = Settings::overlay([file.clone(), flags.clone()]);
        assert_eq!(merged.seed, Some(7));
        assert_eq!(merged.base.kind, Some(BaseFamily::Cgmm));
        assert_eq!(merged.base.components, Some(Components::Count(Positive::new(6).expect("valid"))));
        assert_eq!(merged.train.steps.map(Positive::get), Some(5));
        assert_eq!(merged.train.layout, Some(BatchLayout::TopWeights));
        assert_eq!(merged.train.lr.map(LearningRate::get), Some(0.002));
        // The other order: the file wins where both speak.
        let merged = Settings::overlay([flags, file.clone()]);
        assert_eq!((merged.base.kind, merged.train.steps.map(Positive::get)), (Some(BaseFamily::Gmm), Some(20)));
        assert_eq!(Settings::overlay([Settings::default(), file.clone(), Settings::default()]), file);
        assert_eq!(Settings::overlay([]), Settings::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let err = |json: Value| serde_json::from_value::<Settings>(json).expect_err("invalid").to_string();
        assert!(err(serde_json::json!({ "train": { "stepz": 2 } })).contains("stepz"));
        assert!(err(serde_json::json!({ "flow": { "layers": 0 } })).contains("at least 1"));
        assert!(err(serde_json::json!({ "train": { "prior_share": 1.5 } })).contains("(0, 1]"));
        assert!(err(serde_json::json!({ "train": { "lr": 1e308 } })).contains("learning-rate range"));
        assert!(err(serde_json::json!({ "flow": { "tail_bound": 1e308 } })).contains("tail-bound range"));
        assert!(err(serde_json::json!({ "train": { "layout": "top" } })).contains("top-weights"));
    }
}
