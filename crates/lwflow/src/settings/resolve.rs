//! Settings → the configurations the library trains with: the policy of which base, how many
//! components and which coupling parameters a partial set of settings means.

use super::{
    BaseFamily, BaseSettings, Components, CouplingFamily, EmbeddingFamily, FlowSettings, Fraction, LearningRate,
    NonNegativeF64, OpenFraction, Positive, PositiveF64, Settings, TailBound, TrainSettings,
};
use crate::embed::EmbeddingConfig;
use crate::error::{Error, Result};
use crate::flow::{BaseConfig, CouplingConfig, FlowConfig, ObsFeatures};
use crate::tasks::defaults::DEFAULT_COMPONENTS;
use crate::tasks::recommended;
use crate::train::TrainConfig;

/// The configurations [`Settings::resolve`] gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The flow's architecture. With [`Resolved::auto_components`], its mixture's number of
    /// components is a placeholder for [`crate::train::choose_components`]'s choice.
    pub flow: FlowConfig,
    /// The training run.
    pub train: TrainConfig,
    /// Whether the number of mixture components is to be chosen automatically: with
    /// `components = "auto"`, and by default for a built-in task. A user's own model keeps the
    /// fixed default unless asked: the choice runs an SMC sampler on its likelihood, whose cost
    /// lwflow cannot know in advance.
    pub auto_components: bool,
}

impl Settings {
    /// These settings laid over the recommended ones of the built-in task `task`
    /// ([`recommended`]; `None`, a user's own model, gets the generic defaults), for θ ∈
    /// ℝ^theta_dim and x ∈ ℝ^x_dim. A mixture `base.kind` without `components` keeps the
    /// task's number of components if its base is a mixture, and [`DEFAULT_COMPONENTS`]
    /// otherwise; `components` alone turns a Gaussian base into a mixture. Errors name the key.
    pub fn resolve(&self, task: Option<&str>, theta_dim: usize, x_dim: usize) -> Result<Resolved> {
        let (mut flow, mut train) = recommended(task.unwrap_or(""), theta_dim, x_dim);
        flow.base = self.base.apply(flow.base);
        self.flow.apply(&mut flow);
        self.flow.apply_embedding(&mut flow)?;
        self.train.apply(&mut train);
        if let Some(seed) = self.seed {
            train.seed = seed;
        }
        flow.x_features.validate(x_dim).map_err(|e| match e {
            Error::Invalid { reason, .. } => Error::invalid("flow.set_members", reason),
            other => other,
        })?;
        flow.embedding.validate(x_dim, flow.x_features == ObsFeatures::Raw)?;
        let auto_components = match self.base.components {
            Some(Components::Auto) => true,
            Some(Components::Count(_)) => false,
            None => task.is_some(),
        };
        Ok(Resolved { flow, train, auto_components })
    }
}

impl BaseSettings {
    /// The base these settings make of the recommended `base`.
    fn apply(&self, base: BaseConfig) -> BaseConfig {
        let components = match self.components {
            Some(Components::Count(k)) => k.get(),
            Some(Components::Auto) | None => match base {
                BaseConfig::Gaussian => DEFAULT_COMPONENTS,
                BaseConfig::Gmm { components } | BaseConfig::Cgmm { components } => components,
            },
        };
        match (self.kind, self.components) {
            (None, None) => base,
            // A count alone keeps a mixture's family and makes a Gaussian base a mixture.
            (None, Some(_)) => match BaseFamily::of(&base) {
                BaseFamily::Gaussian | BaseFamily::Gmm => BaseConfig::Gmm { components },
                BaseFamily::Cgmm => BaseConfig::Cgmm { components },
            },
            (Some(family), _) => family.with_components(components),
        }
    }
}

impl FlowSettings {
    fn apply(&self, flow: &mut FlowConfig) {
        if let Some(family) = self.kind {
            // A change of family starts from its defaults; the same family keeps the recommended parameters.
            if CouplingFamily::of(&flow.coupling) != family {
                flow.coupling = family.default_config();
            }
        }
        match &mut flow.coupling {
            CouplingConfig::Spline { bins, tail_bound } => {
                *bins = self.bins.map_or(*bins, Positive::get);
                *tail_bound = self.tail_bound.map_or(*tail_bound, TailBound::get);
            }
            CouplingConfig::Affine { .. } => {}
        }
        if let Some(layers) = self.layers {
            flow.n_layers = layers.get();
        }
        if let Some(members) = self.set_members {
            flow.x_features = match members.get() {
                1 => ObsFeatures::Raw,
                members => ObsFeatures::SetMoments { members },
            };
        }
        if self.hidden.is_some() || self.depth.is_some() {
            let width = self.hidden.map_or(flow.hidden[0], Positive::get);
            flow.hidden = vec![width; self.depth.map_or(flow.hidden.len(), Positive::get)];
        }
    }
}

/// Sizes of an embedding when neither the settings nor the task's recommendation give them:
/// hidden width (conv1d: filters), depth (conv1d: blocks), output dimension, series, filter width.
const EMBEDDING_DEFAULTS: (usize, usize, usize, usize, usize) = (64, 2, 16, 1, 5);

impl FlowSettings {
    /// The embedding these settings make of the recommended one: its family (`embedding`, else
    /// the recommended family) with the recommended sizes when the family is unchanged, else
    /// [`EMBEDDING_DEFAULTS`], each overridden by its key. Keys of another family are ignored
    /// (as `bins` with affine couplings); any size key without an embedding is an error naming
    /// it. The set embedding takes x's members from `embedding_members`, else from the set
    /// moments' member count. The set and conv1d embeddings read x's own layout, so they replace
    /// recommended set moments (x alone is their input) unless `set_members` asks for them.
    fn apply_embedding(&self, flow: &mut FlowConfig) -> Result<()> {
        let sizes = [
            ("embedding_width", self.embedding_width),
            ("embedding_depth", self.embedding_depth),
            ("embedding_out", self.embedding_out),
            ("embedding_members", self.embedding_members),
            ("embedding_channels", self.embedding_channels),
            ("embedding_kernel", self.embedding_kernel),
        ];
        let family = self.embedding.unwrap_or(EmbeddingFamily::of(&flow.embedding));
        if family == EmbeddingFamily::None {
            if let Some((key, _)) = sizes.iter().find(|(_, v)| v.is_some()) {
                return Err(Error::invalid(
                    format!("flow.{key}"),
                    "sizes an embedding, but flow.embedding is none (set it to mlp, set or conv1d)",
                ));
            }
            flow.embedding = EmbeddingConfig::None;
            return Ok(());
        }
        let (mut width, mut depth, mut out, mut channels_in, mut kernel) = EMBEDDING_DEFAULTS;
        let mut members = match flow.x_features {
            ObsFeatures::SetMoments { members } => Some(members),
            ObsFeatures::Raw => None,
        };
        if EmbeddingFamily::of(&flow.embedding) == family {
            match flow.embedding {
                EmbeddingConfig::None => {}
                EmbeddingConfig::Mlp { width: w, depth: d, out: o } => (width, depth, out) = (w, d, o),
                EmbeddingConfig::Set { members: m, width: w, depth: d, out: o } => {
                    (members, width, depth, out) = (Some(m), w, d, o)
                }
                EmbeddingConfig::Conv1d { channels_in: c, channels: w, kernel: k, blocks: d, out: o } => {
                    (channels_in, width, kernel, depth, out) = (c, w, k, d, o)
                }
            }
        }
        let set = |to: &mut usize, from: Option<Positive>| *to = from.map_or(*to, Positive::get);
        set(&mut width, self.embedding_width);
        set(&mut depth, self.embedding_depth);
        set(&mut out, self.embedding_out);
        set(&mut channels_in, self.embedding_channels);
        set(&mut kernel, self.embedding_kernel);
        flow.embedding = match family {
            EmbeddingFamily::None => unreachable!("returned above"),
            EmbeddingFamily::Mlp => EmbeddingConfig::Mlp { width, depth, out },
            EmbeddingFamily::Set => {
                let members = self.embedding_members.map(Positive::get).or(members).ok_or_else(|| {
                    Error::invalid("flow.embedding_members", "the set embedding needs the number of members in one x")
                })?;
                EmbeddingConfig::Set { members, width, depth, out }
            }
            EmbeddingFamily::Conv1d => {
                EmbeddingConfig::Conv1d { channels_in, channels: width, kernel, blocks: depth, out }
            }
        };
        if family != EmbeddingFamily::Mlp && self.set_members.is_none() {
            flow.x_features = ObsFeatures::Raw;
        }
        Ok(())
    }
}

impl TrainSettings {
    fn apply(&self, train: &mut TrainConfig) {
        let set_count = |to: &mut usize, from: Option<Positive>| *to = from.map_or(*to, Positive::get);
        set_count(&mut train.steps, self.steps);
        set_count(&mut train.obs_per_step, self.obs_per_step);
        set_count(&mut train.thetas_per_step, self.thetas_per_step);
        if let Some(batch) = self.batch {
            // After obs_per_step: the batch is split over the step's observations.
            train.pairs_per_obs = (batch.get() / train.obs_per_step).max(1);
        }
        set_count(&mut train.proposal.draws_per_obs, self.draws_per_obs);
        let set_number = |to: &mut f64, from: Option<f64>| *to = from.unwrap_or(*to);
        set_number(&mut train.lr, self.lr.map(LearningRate::get));
        set_number(&mut train.clip_norm, self.clip_norm.map(PositiveF64::get));
        set_number(&mut train.proposal.prior_share, self.prior_share.map(Fraction::get));
        set_number(&mut train.temper.target_ess_fraction, self.temper_target.map(OpenFraction::get));
        set_number(&mut train.temper.end, self.temper_end.map(Fraction::get));
        set_number(&mut train.reverse_kl, self.reverse_kl.map(NonNegativeF64::get));
        if let Some(limit) = self.time_limit {
            train.time_limit = Some(limit.get());
        }
        if let Some(budget) = self.budget {
            train.budget = Some(budget.get());
        }
        set_count(&mut train.rounds, self.rounds);
        set_count(&mut train.round_steps, self.round_steps);
        train.likelihood_rounds = self.likelihood_rounds.unwrap_or(train.likelihood_rounds);
        train.exact_draws = self.exact_draws.unwrap_or(train.exact_draws);
        train.layout = self.layout.unwrap_or(train.layout);
        train.mixture_init = self.mixture_init.unwrap_or(train.mixture_init);
        train.proposal.kind = self.proposal.unwrap_or(train.proposal.kind);
        train.temper.mode = self.temper.unwrap_or(train.temper.mode);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Positive;
    use crate::train::{ProposalKind, Toggle};

    fn resolved(json: serde_json::Value, task: Option<&str>, theta_dim: usize, x_dim: usize) -> Resolved {
        let settings: Settings = serde_json::from_value(json).expect("valid settings");
        settings.resolve(task, theta_dim, x_dim).expect("resolves")
    }

    fn base(json: serde_json::Value, task: Option<&str>, dim: usize) -> BaseConfig {
        resolved(json, task, dim, dim).flow.base
    }

    #[test]
    fn task_recommendations_are_the_starting_point_and_settings_override_them() {
        let none = serde_json::json!({});
        let r = resolved(none.clone(), Some("gaussian_linear"), 10, 10);
        assert_eq!((r.flow.base, r.train.steps), (BaseConfig::Gaussian, TrainConfig::default().steps));
        assert_eq!(base(none.clone(), Some("two_moons"), 2), BaseConfig::Cgmm { components: 2 });
        // A mixture base asked for keeps the task's components, or the generic default.
        let gmm = serde_json::json!({ "base": { "kind": "gmm" } });
        assert_eq!(base(gmm.clone(), Some("two_moons"), 2), BaseConfig::Gmm { components: 2 });
        assert_eq!(base(gmm, Some("gaussian_linear"), 10), BaseConfig::Gmm { components: DEFAULT_COMPONENTS });
        let six = serde_json::json!({ "base": { "components": 6 } });
        assert_eq!(base(six.clone(), Some("gaussian_linear"), 10), BaseConfig::Gmm { components: 6 });
        assert_eq!(resolved(six, Some("slcp"), 5, 8).flow.base, BaseConfig::Cgmm { components: 6 });
        let json = serde_json::json!({ "seed": 3, "base": { "kind": "gaussian" }, "train": { "steps": 7 } });
        let r = resolved(json, Some("square3d"), 3, 3);
        assert_eq!((r.flow.base, r.train.steps, r.train.seed), (BaseConfig::Gaussian, 7, 3));
        // No task (a user's own model): the generic defaults.
        assert_eq!(base(none, None, 2), BaseConfig::Gmm { components: DEFAULT_COMPONENTS });
        // `components = "auto"` alone asks for a mixture, whose count is then chosen.
        let auto = serde_json::json!({ "base": { "components": "auto" } });
        assert_eq!(base(auto, Some("gaussian_linear"), 10), BaseConfig::Gmm { components: DEFAULT_COMPONENTS });
    }

    #[test]
    fn components_are_automatic_for_tasks_unless_given() {
        let auto = |json: serde_json::Value, task: Option<&str>| resolved(json, task, 5, 8).auto_components;
        let none = serde_json::json!({});
        assert!(auto(none.clone(), Some("slcp")));
        assert!(auto(serde_json::json!({ "base": { "components": "auto" } }), Some("slcp")));
        assert!(!auto(serde_json::json!({ "base": { "components": 3 } }), Some("slcp")));
        assert!(!auto(none, None));
        assert!(auto(serde_json::json!({ "base": { "components": "auto" } }), None));
    }

    #[test]
    fn coupling_family_change_starts_from_its_defaults() {
        let affine = resolved(serde_json::json!({ "flow": { "kind": "affine", "bins": 4 } }), None, 2, 2);
        assert_eq!(affine.flow.coupling, CouplingConfig::default_affine());
        let spline = resolved(serde_json::json!({ "flow": { "bins": 4, "tail_bound": 3.0 } }), None, 2, 2);
        assert_eq!(spline.flow.coupling, CouplingConfig::Spline { bins: 4, tail_bound: 3.0 });
        let shape = resolved(serde_json::json!({ "flow": { "depth": 3 } }), None, 2, 2).flow.hidden;
        assert_eq!(shape, vec![128; 3]);
    }

    #[test]
    fn every_train_key_reaches_the_config() {
        let json = serde_json::json!({ "train": {
            "steps": 11, "obs_per_step": 8, "thetas_per_step": 100, "batch": 64, "lr": 0.5,
            "clip_norm": 2.0, "layout": "top-weights", "mixture_init": "fitted", "time_limit": 9.0,
            "proposal": "prior", "draws_per_obs": 3, "prior_share": 0.75, "temper": "off",
            "temper_target": 0.25, "temper_end": 0.125, "reverse_kl": 1.5, "budget": 123456,
            "rounds": 3, "exact_draws": false, "likelihood_rounds": 2, "round_steps": 77
        } });
        let t = resolved(json, Some("two_moons"), 2, 2).train;
        assert_eq!((t.steps, t.obs_per_step, t.thetas_per_step, t.pairs_per_obs), (11, 8, 100, 8));
        assert_eq!((t.lr, t.clip_norm, t.time_limit, t.reverse_kl), (0.5, 2.0, Some(9.0), 1.5));
        assert_eq!(
            (t.layout, t.mixture_init),
            (crate::weights::BatchLayout::TopWeights, crate::train::MixtureInit::Fitted)
        );
        assert_eq!((t.proposal.kind, t.proposal.draws_per_obs, t.proposal.prior_share), (ProposalKind::Prior, 3, 0.75));
        assert_eq!((t.temper.mode, t.temper.target_ess_fraction, t.temper.end), (Toggle::Off, 0.25, 0.125));
        assert_eq!((t.budget, t.rounds, t.exact_draws), (Some(123_456), 3, false));
        assert_eq!((t.likelihood_rounds, t.round_steps), (2, 77));
    }

    #[test]
    fn set_members_must_divide_x_and_the_error_names_the_key() {
        let members = |m: i64| Settings {
            flow: FlowSettings { set_members: Some(Positive::new(m).expect("valid")), ..Default::default() },
            ..Default::default()
        };
        let e = members(3).resolve(Some("slcp"), 5, 8).expect_err("3 does not divide 8").to_string();
        assert!(e.starts_with("invalid flow.set_members: ") && e.contains("dimension 8"), "{e}");
        assert_eq!(members(1).resolve(Some("slcp"), 5, 8).expect("valid").flow.x_features, ObsFeatures::Raw);
    }
}
