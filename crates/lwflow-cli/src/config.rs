//! `lwflow train --config run.toml`: the training settings as a TOML file. The file fills every
//! flag left unset on the command line (flags win), and may describe an external model:
//!
//! ```toml
//! seed = 1
//! out = "model.lwf"
//! task = "square2d"              # a built-in task, or a [model] table (not both):
//! [model]
//! kind = "external"
//! command = ["python3", "my_model.py"]   # run in the current directory
//! theta_dim = 2
//! x_dim = 2
//! timeout_seconds = 60
//! [prior]                        # required with [model]: uniform (low, high) or normal (mean, std), per dimension
//! kind = "uniform"
//! low = [-3.0, -3.0]
//! high = [3.0, 3.0]
//! [base]                         # kind = "gaussian" | "gmm" | "cgmm"; components = K or "auto"
//! [flow]                         # kind = "spline" | "affine"; layers, hidden, depth, bins, tail_bound, set_members
//! [train]                        # steps, obs_per_step, thetas_per_step, batch, lr, clip_norm, layout, mixture_init, time_limit,
//!                                # proposal = "auto" | "prior" | "adaptive", draws_per_obs, prior_share,
//!                                # temper = "auto" | "on" | "off", temper_target, temper_end, reverse_kl
//! ```
//! Enumerated values are spelled as on the command line (`layout = "top-weights"`). Every error
//! names the file, the line and column, and the key.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lwflow::model::{ExternalConfig, Marginal};
use lwflow::{Error, Prior};
use serde::Deserialize;
use toml::Spanned;

use crate::args::{BaseArg, ComponentsArg, FlowArg, InitArg, LayoutArg, ProposalArg, TemperArg, TrainArgs};

/// A parsed and checked config file.
#[derive(Debug)]
pub struct TrainFile {
    path: PathBuf,
    raw: RawFile,
    /// The `[model]` + `[prior]` tables, resolved.
    external: Option<ExternalConfig>,
}

impl TrainFile {
    /// Reads and checks `path`. Errors name the file, line, column and key.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        Ok(Self::parse(path, &text)?)
    }

    /// [`TrainFile::read`] of text already in memory; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let at = |span: Range<usize>, key: &str, reason: String| {
            let (line, column) = line_column(text, span.start);
            Error::Parse {
                path: path.display().to_string(),
                line,
                column: Some(column),
                reason: format!("{key}: {reason}"),
            }
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            // `Positive` parses through i64; say what a user would write.
            let message = e.message().replace("expected i64", "expected a whole number");
            at(span.clone(), &key_at(text, span.start), message)
        })?;
        if let (Some(task), Some(model)) = (&raw.task, &raw.model) {
            let reason = format!(
                "given together with a [model] table (line {}); keep one",
                line_column(text, model.kind.span().start).0
            );
            return Err(at(task.span(), "task", reason));
        }
        let external = match &raw.model {
            None => {
                if let Some(prior) = &raw.prior {
                    let reason = "applies only to a [model] of kind \"external\"; built-in tasks have their own prior";
                    return Err(at(prior.kind.span(), "[prior] kind", reason.into()));
                }
                None
            }
            Some(model) => {
                let Some(prior_table) = &raw.prior else {
                    let reason = "an external model needs a [prior] table (kind, and low/high or mean/std)".to_string();
                    return Err(at(model.kind.span(), "[model] kind", reason));
                };
                let theta_dim = model.theta_dim.get_ref().0;
                let prior = prior_table.resolve(theta_dim).map_err(|(span, key, reason)| at(span, key, reason))?;
                if model.command.get_ref().is_empty() {
                    return Err(at(
                        model.command.span(),
                        "[model] command",
                        "is empty; expected a program and its arguments".into(),
                    ));
                }
                let mut config = ExternalConfig::new(model.command.get_ref().clone(), theta_dim, model.x_dim.0, prior);
                if let Some(t) = model.timeout_seconds {
                    config.timeout = ExternalConfig::timeout_from_secs(t.0)
                        .map_err(|e| at(model.kind.span(), "[model] timeout_seconds", e.to_string()))?;
                }
                Some(config)
            }
        };
        Ok(Self { path: path.to_path_buf(), raw, external })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The external model described by `[model]` and `[prior]`, if any.
    pub fn external(&self) -> Option<&ExternalConfig> {
        self.external.as_ref()
    }

    /// `args` with every unset flag filled from the file: flags override the file.
    pub fn apply_to(&self, args: &TrainArgs) -> TrainArgs {
        let f = &self.raw;
        let (base, flow, train) = (f.base.as_ref(), f.flow.as_ref(), f.train.as_ref());
        let pos = |v: Option<Positive>| v.map(|p| p.0);
        let posf = |v: Option<PositiveF64>| v.map(|p| p.0);
        TrainArgs {
            config: args.config.clone(),
            task: args.task.clone().or_else(|| f.task.as_ref().map(|t| t.get_ref().clone())),
            base: args.base.or(base.and_then(|b| b.kind)),
            components: args.components.or(base.and_then(|b| b.components).map(|c| c.0)),
            seed: args.seed.or(f.seed),
            out: args.out.clone().or_else(|| f.out.clone()),
            flow: args.flow.or(flow.and_then(|t| t.kind)),
            bins: args.bins.or(pos(flow.and_then(|t| t.bins))),
            tail_bound: args.tail_bound.or(posf(flow.and_then(|t| t.tail_bound))),
            layers: args.layers.or(pos(flow.and_then(|t| t.layers))),
            set_members: args.set_members.or(pos(flow.and_then(|t| t.set_members))),
            mixture_init: args.mixture_init.or(train.and_then(|t| t.mixture_init)),
            layout: args.layout.or(train.and_then(|t| t.layout)),
            plot_dir: args.plot_dir.clone(),
            hidden: args.hidden.or(pos(flow.and_then(|t| t.hidden))),
            depth: args.depth.or(pos(flow.and_then(|t| t.depth))),
            steps: args.steps.or(pos(train.and_then(|t| t.steps))),
            time_limit: args.time_limit.or(posf(train.and_then(|t| t.time_limit))),
            batch: args.batch.or(pos(train.and_then(|t| t.batch))),
            obs_per_step: args.obs_per_step.or(pos(train.and_then(|t| t.obs_per_step))),
            thetas_per_step: args.thetas_per_step.or(pos(train.and_then(|t| t.thetas_per_step))),
            lr: args.lr.or(posf(train.and_then(|t| t.lr))),
            clip_norm: args.clip_norm.or(posf(train.and_then(|t| t.clip_norm))),
            proposal: args.proposal.or(train.and_then(|t| t.proposal)),
            draws_per_obs: args.draws_per_obs.or(pos(train.and_then(|t| t.draws_per_obs))),
            prior_share: args.prior_share.or(posf(train.and_then(|t| t.prior_share))),
            temper: args.temper.or(train.and_then(|t| t.temper)),
            temper_target: args.temper_target.or(posf(train.and_then(|t| t.temper_target))),
            temper_end: args.temper_end.or(posf(train.and_then(|t| t.temper_end))),
            reverse_kl: args.reverse_kl.or(train.and_then(|t| t.reverse_kl).map(|v| v.0)),
            quiet: args.quiet,
        }
    }
}

// ---- file layout ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    seed: Option<u64>,
    out: Option<PathBuf>,
    task: Option<Spanned<String>>,
    model: Option<ModelTable>,
    prior: Option<PriorTable>,
    base: Option<BaseTable>,
    flow: Option<FlowTable>,
    train: Option<TrainTable>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ModelKind {
    External,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelTable {
    kind: Spanned<ModelKind>,
    command: Spanned<Vec<String>>,
    theta_dim: Spanned<Positive>,
    x_dim: Positive,
    timeout_seconds: Option<PositiveF64>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum PriorKind {
    Uniform,
    Normal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorTable {
    kind: Spanned<PriorKind>,
    low: Option<Spanned<Vec<f64>>>,
    high: Option<Spanned<Vec<f64>>>,
    mean: Option<Spanned<Vec<f64>>>,
    std: Option<Spanned<Vec<f64>>>,
}

/// A config error before it is placed in the file: span, key, reason.
type Located = (Range<usize>, &'static str, String);

impl PriorTable {
    /// The prior, checked against `theta_dim`: the kind's two arrays present, the other kind's
    /// absent, each of length `theta_dim`, each marginal valid.
    fn resolve(&self, theta_dim: usize) -> Result<Prior, Located> {
        let kind = *self.kind.get_ref();
        let (names, keys, pair, other) = match kind {
            PriorKind::Uniform => (
                ["low", "high"],
                ["[prior] low", "[prior] high"],
                [&self.low, &self.high],
                [("[prior] mean", &self.mean), ("[prior] std", &self.std)],
            ),
            PriorKind::Normal => (
                ["mean", "std"],
                ["[prior] mean", "[prior] std"],
                [&self.mean, &self.std],
                [("[prior] low", &self.low), ("[prior] high", &self.high)],
            ),
        };
        for (key, v) in other {
            if let Some(v) = v {
                let reason =
                    format!("does not apply to kind {:?}; it takes {} and {}", kind_name(kind), names[0], names[1]);
                return Err((v.span(), key, reason));
            }
        }
        let mut arrays = Vec::with_capacity(2);
        for (k, v) in pair.iter().enumerate() {
            let Some(v) = v else {
                let reason = format!(
                    "missing: kind {:?} needs {} and {} (one value per dimension)",
                    kind_name(kind),
                    names[0],
                    names[1]
                );
                return Err((self.kind.span(), "[prior] kind", reason));
            };
            if v.get_ref().len() != theta_dim {
                let reason = format!("has {} values; [model] theta_dim is {theta_dim}", v.get_ref().len());
                return Err((v.span(), keys[k], reason));
            }
            arrays.push(v);
        }
        let marginals = arrays[0]
            .get_ref()
            .iter()
            .zip(arrays[1].get_ref())
            .map(|(&a, &b)| match kind {
                PriorKind::Uniform => Marginal::Uniform { low: a, high: b },
                PriorKind::Normal => Marginal::Normal { mean: a, std: b },
            })
            .collect();
        Prior::new(marginals).map_err(|e| (arrays[0].span(), keys[0], e.to_string()))
    }
}

fn kind_name(kind: PriorKind) -> &'static str {
    match kind {
        PriorKind::Uniform => "uniform",
        PriorKind::Normal => "normal",
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaseTable {
    kind: Option<BaseArg>,
    components: Option<Components>,
}

/// `components = K` (a whole number ≥ 1) or `components = "auto"`.
#[derive(Clone, Copy, Debug)]
struct Components(ComponentsArg);

impl<'de> Deserialize<'de> for Components {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Components;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number of at least 1 or \"auto\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Components, E> {
                Positive::try_from(v).map(|p| Components(ComponentsArg::Count(p.0))).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Components, E> {
                crate::args::components_value(v).map(Components).map_err(E::custom)
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowTable {
    kind: Option<FlowArg>,
    layers: Option<Positive>,
    set_members: Option<Positive>,
    hidden: Option<Positive>,
    depth: Option<Positive>,
    bins: Option<Positive>,
    tail_bound: Option<PositiveF64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainTable {
    steps: Option<Positive>,
    obs_per_step: Option<Positive>,
    thetas_per_step: Option<Positive>,
    batch: Option<Positive>,
    lr: Option<PositiveF64>,
    clip_norm: Option<PositiveF64>,
    layout: Option<LayoutArg>,
    mixture_init: Option<InitArg>,
    time_limit: Option<PositiveF64>,
    proposal: Option<ProposalArg>,
    draws_per_obs: Option<Positive>,
    prior_share: Option<PositiveF64>,
    temper: Option<TemperArg>,
    temper_target: Option<PositiveF64>,
    temper_end: Option<PositiveF64>,
    reverse_kl: Option<NonNegativeF64>,
}

/// An integer ≥ 1 (the file's twin of the flags' `positive_usize`); rejected while parsing, so the
/// error carries the value's position.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "i64")]
struct Positive(usize);

impl TryFrom<i64> for Positive {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        match usize::try_from(v) {
            Ok(u) if u >= 1 => Ok(Positive(u)),
            _ => Err(format!("{v} must be a whole number of at least 1")),
        }
    }
}

/// A finite number > 0.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "f64")]
struct PositiveF64(f64);

impl TryFrom<f64> for PositiveF64 {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if v.is_finite() && v > 0.0 {
            Ok(PositiveF64(v))
        } else {
            Err(format!("{v} must be a finite number greater than 0"))
        }
    }
}

/// A finite number ≥ 0 (the file's twin of the flags' `non_negative_f64`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "f64")]
struct NonNegativeF64(f64);

impl TryFrom<f64> for NonNegativeF64 {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if v.is_finite() && v >= 0.0 {
            Ok(NonNegativeF64(v))
        } else {
            Err(format!("{v} must be a finite number ≥ 0"))
        }
    }
}

// ---- positions -----------------------------------------------------------------------------------

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (u64, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The key whose value holds byte `offset`, as "[table] key" (or "key" at the top level, or
/// "[table]" for a table-level error): the nearest `key =` line at or above the offset, and the
/// table header above that. Good enough for the flat files this module reads.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let mut key = None;
    for line in text[..line_end].lines().rev() {
        let t = line.trim();
        if t.starts_with('[') && !t.contains('=') {
            let header = t.split(']').next().unwrap_or(t).to_string() + "]";
            return match key {
                Some(k) => format!("{header} {k}"),
                None => header,
            };
        }
        if key.is_none() {
            if let Some((k, _)) = t.split_once('=') {
                if !k.trim().is_empty() && !t.starts_with('#') {
                    key = Some(k.trim().to_string());
                }
            }
        }
    }
    key.unwrap_or_else(|| "file".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"seed = 7
out = "m.lwf"

[model]
kind = "external"
command = ["python3", "m.py"]
theta_dim = 2
x_dim = 3
timeout_seconds = 5

[prior]
kind = "uniform"
low = [-3.0, -3.0]
high = [3.0, 3.0]

[base]
kind = "gmm"
components = 6

[flow]
kind = "affine"
layers = 3
hidden = 32
set_members = 3

[train]
steps = 20
layout = "top-weights"
lr = 0.002
"#;

    fn error(text: &str) -> String {
        TrainFile::parse(Path::new("run.toml"), text).expect_err("invalid").to_string()
    }

    fn args() -> TrainArgs {
        TrainArgs {
            config: Some("run.toml".into()),
            task: None,
            base: None,
            components: None,
            seed: None,
            out: None,
            flow: None,
            bins: None,
            tail_bound: None,
            layers: None,
            set_members: None,
            mixture_init: None,
            layout: None,
            plot_dir: None,
            hidden: None,
            depth: None,
            steps: None,
            time_limit: None,
            batch: None,
            obs_per_step: None,
            thetas_per_step: None,
            lr: None,
            clip_norm: None,
            proposal: None,
            draws_per_obs: None,
            prior_share: None,
            temper: None,
            temper_target: None,
            temper_end: None,
            reverse_kl: None,
            quiet: false,
        }
    }

    #[test]
    fn valid_file_fills_unset_flags_and_flags_win() {
        let file = TrainFile::parse(Path::new("run.toml"), GOOD).expect("valid");
        let ext = file.external().expect("external model");
        assert_eq!((ext.theta_dim, ext.x_dim, ext.timeout), (2, 3, std::time::Duration::from_secs(5)));
        assert_eq!(ext.command, vec!["python3", "m.py"]);
        let merged = file.apply_to(&args());
        assert_eq!(
            (merged.seed, merged.base, merged.components),
            (Some(7), Some(BaseArg::Gmm), Some(ComponentsArg::Count(6)))
        );
        assert_eq!((merged.flow, merged.layers, merged.hidden), (Some(FlowArg::Affine), Some(3), Some(32)));
        assert_eq!(merged.set_members, Some(3));
        assert_eq!((merged.steps, merged.layout, merged.lr), (Some(20), Some(LayoutArg::TopWeights), Some(0.002)));
        let flags = TrainArgs { seed: Some(1), steps: Some(5), base: Some(BaseArg::Cgmm), ..args() };
        let merged = file.apply_to(&flags);
        assert_eq!(
            (merged.seed, merged.steps, merged.base, merged.components),
            (Some(1), Some(5), Some(BaseArg::Cgmm), Some(ComponentsArg::Count(6)))
        );
        let auto = TrainFile::parse(Path::new("run.toml"), "[base]\ncomponents = \"auto\"\n").expect("valid");
        assert_eq!(auto.apply_to(&args()).components, Some(ComponentsArg::Auto));
        let text = "[train]\nproposal = \"adaptive\"\ntemper = \"off\"\ndraws_per_obs = 32\nprior_share = 0.5\ntemper_end = 0.25\nreverse_kl = 2.0\n";
        let m = TrainFile::parse(Path::new("run.toml"), text).expect("valid").apply_to(&args());
        assert_eq!(
            (m.proposal, m.temper, m.draws_per_obs, m.prior_share, m.temper_end, m.reverse_kl),
            (Some(ProposalArg::Adaptive), Some(TemperArg::Off), Some(32), Some(0.5), Some(0.25), Some(2.0))
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("[train]\nsteps = 1\nstepz = 2\n", "run.toml line 3, column 1", &["stepz", "[train]"]),
            ("seed = 1\n[train]\nsteps = \"many\"\n", "run.toml line 3, column 9", &["[train] steps", "invalid type"]),
            ("[flow]\nlayers = 0\n", "run.toml line 2", &["[flow] layers", "at least 1"]),
            ("[base]\nkind = \"flat\"\n", "run.toml line 2", &["[base] kind", "flat"]),
            ("[base]\ncomponents = \"many\"\n", "run.toml line 2", &["[base] components", "'auto'"]),
            ("[base]\ncomponents = 0\n", "run.toml line 2", &["[base] components", "at least 1"]),
            ("[train]\nreverse_kl = -1.0\n", "run.toml line 2", &["[train] reverse_kl", "≥ 0"]),
            ("[train]\ntemper = true\n", "run.toml line 2", &["[train] temper"]),
            ("[base]\ncomponents = 2.5\n", "run.toml line 2", &["[base] components", "\"auto\""]),
            ("task = \"square2d\"\n[prior]\nkind = \"uniform\"\n", "run.toml line 3", &["[prior] kind", "external"]),
        ];
        for (text, place, needles) in cases {
            let msg = error(text);
            assert!(msg.starts_with(place), "{text:?}: {msg}");
            for n in *needles {
                assert!(msg.contains(n), "{text:?}: expected {n:?} in {msg}");
            }
        }
    }

    #[test]
    fn external_model_needs_a_prior_of_theta_dim() {
        let no_prior = GOOD.split("[prior]").next().expect("has a model part").to_string();
        let msg = error(&no_prior);
        assert!(msg.starts_with("run.toml line 5, column 8: [model] kind") && msg.contains("[prior]"), "{msg}");

        let short = GOOD.replace("high = [3.0, 3.0]", "high = [3.0]");
        let msg = error(&short);
        assert!(
            msg.starts_with("run.toml line 14, column 8: [prior] high: has 1 values; [model] theta_dim is 2"),
            "{msg}"
        );

        let mixed = GOOD.replace("high = [3.0, 3.0]", "high = [3.0, 3.0]\nstd = [1.0, 1.0]");
        let msg = error(&mixed);
        assert!(msg.starts_with("run.toml line 15") && msg.contains("[prior] std"), "{msg}");

        let bad = GOOD.replace("high = [3.0, 3.0]", "high = [3.0, -4.0]");
        let msg = error(&bad);
        assert!(msg.contains("line 13") && msg.contains("prior dimension 1"), "{msg}");

        let both = format!("task = \"square2d\"\n{GOOD}");
        assert!(error(&both).starts_with("run.toml line 1, column 8: task: given together with a [model]"));
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let path: PathBuf =
            [env!("CARGO_MANIFEST_DIR"), "..", "lwflow", "examples", "square2d_external.toml"].iter().collect();
        let text = std::fs::read_to_string(&path).expect("example exists");
        let file = TrainFile::parse(&path, &text).expect("valid");
        assert_eq!(file.external().expect("external model").theta_dim, 2);
    }

    #[test]
    fn key_at_finds_the_table_and_key() {
        let text = "seed = 1\n[train]\nsteps = 2\n[flow]\n";
        assert_eq!(key_at(text, 0), "seed");
        assert_eq!(key_at(text, text.find("2").unwrap()), "[train] steps");
        assert_eq!(key_at(text, text.find("[flow]").unwrap()), "[flow]");
    }
}
