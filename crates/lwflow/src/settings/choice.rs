//! The names users type for each enumerated setting (`--layout top-weights`, `layout =
//! "top-weights"`, `layout="top-weights"`): one list per enum, with a line of help each, so a
//! command-line parser can list them and needs no enum of its own. The names are the ones serde
//! reads and writes (model files, TOML), which a test checks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::values::ValueError;
use crate::embed::EmbeddingConfig;
use crate::flow::{BaseConfig, CouplingConfig};
use crate::train::{MixtureInit, ProposalKind, Toggle};
use crate::weights::BatchLayout;

/// An enumerated setting: every value, and for each its name and a line of help.
pub trait Choice: Copy + Sized + 'static {
    /// Every value, in the order help texts list them.
    const ALL: &'static [Self];
    /// The name users type.
    fn name(self) -> &'static str;
    /// One line for help texts.
    fn help(self) -> &'static str;
}

/// The value of `T` called `name` (surrounding blanks ignored), or an error listing the names.
pub fn parse_choice<T: Choice>(name: &str) -> Result<T, ValueError> {
    let name = name.trim();
    T::ALL.iter().copied().find(|c| c.name() == name).ok_or_else(|| {
        let names: Vec<_> = T::ALL.iter().map(|c| c.name()).collect();
        ValueError(format!("unknown value '{name}'; expected one of: {}", names.join(", ")))
    })
}

/// Implements [`Choice`], `FromStr` and `Display` from one table of variant => name: help.
/// The `match`es are exhaustive, so a new variant fails to compile until it has a name.
macro_rules! choices {
    ($($ty:ident { $($variant:ident => $name:literal: $help:literal,)+ })+) => {$(
        impl Choice for $ty {
            const ALL: &'static [Self] = &[$($ty::$variant),+];
            fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
            fn help(self) -> &'static str {
                match self { $($ty::$variant => $help),+ }
            }
        }

        impl FromStr for $ty {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                parse_choice(s)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    )+};
}

/// The family of the flow's base distribution: [`BaseConfig`] without its number of components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseFamily {
    /// [`BaseConfig::Gaussian`].
    Gaussian,
    /// [`BaseConfig::Gmm`].
    Gmm,
    /// [`BaseConfig::Cgmm`].
    Cgmm,
}

impl BaseFamily {
    /// The family of `base`.
    pub fn of(base: &BaseConfig) -> Self {
        match base {
            BaseConfig::Gaussian => BaseFamily::Gaussian,
            BaseConfig::Gmm { .. } => BaseFamily::Gmm,
            BaseConfig::Cgmm { .. } => BaseFamily::Cgmm,
        }
    }

    /// The base of this family with `components` components (ignored by the Gaussian).
    pub fn with_components(self, components: usize) -> BaseConfig {
        match self {
            BaseFamily::Gaussian => BaseConfig::Gaussian,
            BaseFamily::Gmm => BaseConfig::Gmm { components },
            BaseFamily::Cgmm => BaseConfig::Cgmm { components },
        }
    }
}

/// The family of the coupling layers: [`CouplingConfig`] without its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CouplingFamily {
    /// [`CouplingConfig::Affine`].
    Affine,
    /// [`CouplingConfig::Spline`].
    Spline,
}

impl CouplingFamily {
    /// The family of `coupling`.
    pub fn of(coupling: &CouplingConfig) -> Self {
        match coupling {
            CouplingConfig::Affine { .. } => CouplingFamily::Affine,
            CouplingConfig::Spline { .. } => CouplingFamily::Spline,
        }
    }

    /// This family's default parameters.
    pub fn default_config(self) -> CouplingConfig {
        match self {
            CouplingFamily::Affine => CouplingConfig::default_affine(),
            CouplingFamily::Spline => CouplingConfig::default_spline(),
        }
    }
}

/// The kind of learned observation embedding: [`EmbeddingConfig`] without its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmbeddingFamily {
    /// [`EmbeddingConfig::None`].
    None,
    /// [`EmbeddingConfig::Mlp`].
    Mlp,
    /// [`EmbeddingConfig::Set`].
    Set,
    /// [`EmbeddingConfig::Conv1d`].
    Conv1d,
}

impl EmbeddingFamily {
    /// The family of `embedding`.
    pub fn of(embedding: &EmbeddingConfig) -> Self {
        match embedding {
            EmbeddingConfig::None => EmbeddingFamily::None,
            EmbeddingConfig::Mlp { .. } => EmbeddingFamily::Mlp,
            EmbeddingConfig::Set { .. } => EmbeddingFamily::Set,
            EmbeddingConfig::Conv1d { .. } => EmbeddingFamily::Conv1d,
        }
    }
}

choices! {
    EmbeddingFamily {
        None => "none": "The conditioners read the standardised x (and its set moments) directly",
        Mlp => "mlp": "e = MLP(x), learned with the flow and read by every conditioner",
        Set => "set": "Permutation-invariant e = ρ(mean φ(x_m)) over x's exchangeable members (DeepSets)",
        Conv1d => "conv1d": "Convolutions and pooling along x's series, then a linear map",
    }
    BaseFamily {
        Gaussian => "gaussian": "Standard normal",
        Gmm => "gmm": "Gaussian mixture with learned components, one per posterior mode",
        Cgmm => "cgmm": "Conditional Gaussian mixture: means, scales and weights computed from x by an MLP",
    }
    CouplingFamily {
        Affine => "affine": "Affine (RealNVP) couplings",
        Spline => "spline": "Rational-quadratic spline couplings (Neural Spline Flows)",
    }
    MixtureInit {
        Separated => "separated": "Components spread apart on a sphere (task-independent)",
        Random => "random": "Means drawn from N(0, I), unit scales",
        Fitted => "fitted": "Weighted EM fit to likelihood-weighted prior draws, centred and scaled per observation",
    }
    BatchLayout {
        Resample => "resample": "Systematic resampling of pairs by weight (unbiased, equal weights)",
        TopWeights => "top-weights": "The largest weights per observation, renormalised",
    }
    ProposalKind {
        Auto => "auto": "Adaptive when the prior weights degenerate (pilot median ESS < 10), prior otherwise",
        Prior => "prior": "Prior draws shared by all observations of a step",
        Adaptive => "adaptive": "After a warm-up, per-observation draws from prior_share·prior + (1 − prior_share)·q(θ|x)",
    }
    Toggle {
        Auto => "auto": "When the prior weights degenerate (pilot median ESS < 10)",
        On => "on": "Always",
        Off => "off": "Never",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name parses back to its value, prints as itself and is the name serde uses.
    fn check_names<T: Choice + fmt::Debug + PartialEq + FromStr<Err = ValueError> + fmt::Display + Serialize>() {
        for &c in T::ALL {
            assert_eq!(c.name().parse::<T>().as_ref(), Ok(&c));
            assert_eq!(c.to_string(), c.name());
            assert_eq!(serde_json::to_value(c).expect("serialises"), serde_json::json!(c.name()), "{c:?}");
            assert!(!c.help().is_empty());
        }
    }

    #[test]
    fn names_are_the_serde_names_and_parse_back() {
        check_names::<BaseFamily>();
        check_names::<CouplingFamily>();
        check_names::<MixtureInit>();
        check_names::<BatchLayout>();
        check_names::<ProposalKind>();
        check_names::<Toggle>();
        check_names::<EmbeddingFamily>();
        let e = "flat".parse::<BaseFamily>().expect_err("unknown").to_string();
        assert_eq!(e, "unknown value 'flat'; expected one of: gaussian, gmm, cgmm");
    }

    /// The help of the automatic choices spells the threshold out as a literal (the macro takes
    /// `&'static str`); it must be the one the trainer uses.
    #[test]
    fn automatic_choices_name_the_trainers_threshold() {
        let threshold = format!("pilot median ESS < {}", crate::train::AUTO_ESS_THRESHOLD);
        assert!(ProposalKind::Auto.help().contains(&threshold), "{}", ProposalKind::Auto.help());
        assert!(Toggle::Auto.help().contains(&threshold), "{}", Toggle::Auto.help());
    }

    #[test]
    fn families_round_trip_through_configs() {
        for &f in BaseFamily::ALL {
            assert_eq!(BaseFamily::of(&f.with_components(3)), f);
        }
        for &f in CouplingFamily::ALL {
            assert_eq!(CouplingFamily::of(&f.default_config()), f);
        }
    }
}
