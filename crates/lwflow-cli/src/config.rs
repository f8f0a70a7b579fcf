//! `lwflow train --config run.toml`: the training settings as a TOML file. The file fills every
//! flag left unset on the command line (flags win), and may describe an external model:
//!
//! ```toml
//! seed = 1
//! out = "model.lwf"
//! task = "square2d"              # a built-in task, or a [model] table (not both):
//! [model]
//! kind = "external"
//! command = ["python3", "my_model.py"]   # run in this file's directory
//! theta_dim = 2
//! x_dim = 2
//! timeout_seconds = 60
//! workers = 1                    # copies of the program; each call's rows are spread over them
//! [prior]                        # required with [model]: uniform (low, high) or normal (mean, std), per dimension
//! kind = "uniform"
//! low = [-3.0, -3.0]
//! high = [3.0, 3.0]
//! names = ["freq", "phase"]      # optional: sample-file columns and plot axes (default theta_1, theta_2)
//! periodic = [false, true]       # optional: a uniform dimension whose ends are one point (an angle, a phase)
//! [base]                         # kind = "gaussian" | "gmm" | "cgmm"; components = K or "auto"
//! [flow]                         # kind = "spline" | "affine"; layers, hidden, depth, bins, tail_bound, set_members,
//!                                # embedding = "none" | "mlp" | "set" | "conv1d", embedding_width, embedding_depth,
//!                                # embedding_out, embedding_members, embedding_channels, embedding_kernel
//! [train]                        # steps, obs_per_step, thetas_per_step, batch, lr, clip_norm, layout, mixture_init, time_limit,
//!                                # proposal = "auto" | "prior" | "adaptive", draws_per_obs, prior_share,
//!                                # temper = "auto" | "on" | "off", temper_target, temper_end, reverse_kl
//! ```
//! The `seed`, `[base]`, `[flow]` and `[train]` keys are the library's [`Settings`] (every key,
//! its flag and default: [`lwflow::settings`]); enumerated values are spelled as on the command line
//! (`layout = "top-weights"`). Every error names the file, the line and column, and the key.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use lwflow::model::{ExternalConfig, ExternalModel, Marginal, Model};
use lwflow::settings::{BaseSettings, FlowSettings, Positive, PositiveF64, Settings, TrainSettings};
use lwflow::{Error, Prior};
use serde::Deserialize;
use toml::Spanned;

/// A parsed and checked config file.
#[derive(Debug)]
pub struct TrainFile {
    path: PathBuf,
    task: Option<String>,
    out: Option<PathBuf>,
    settings: Settings,
    /// The `[model]` + `[prior]` tables, resolved.
    external: Option<ExternalConfig>,
    /// Copies of the external model to run (`[model] workers`, default 1).
    workers: usize,
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
                let theta_dim = model.theta_dim.get_ref().get();
                let prior = prior_table.resolve(theta_dim).map_err(|(span, key, reason)| at(span, key, reason))?;
                if model.command.get_ref().is_empty() {
                    return Err(at(
                        model.command.span(),
                        "[model] command",
                        "is empty; expected a program and its arguments".into(),
                    ));
                }
                let mut config =
                    ExternalConfig::new(model.command.get_ref().clone(), theta_dim, model.x_dim.get(), prior);
                if let Some(t) = model.timeout_seconds {
                    config.timeout = ExternalConfig::timeout_from_secs(t.get())
                        .map_err(|e| at(model.kind.span(), "[model] timeout_seconds", e.to_string()))?;
                }
                Some(config)
            }
        };
        // Relative paths in the file are taken from the file's directory, not the working directory.
        let dir = std::path::absolute(path).ok().and_then(|p| p.parent().map(Path::to_path_buf));
        let external = external.map(|config| ExternalConfig { dir: dir.clone(), ..config });
        let out = match (raw.out, &dir) {
            (Some(out), Some(dir)) if out.is_relative() => Some(dir.join(out)),
            (out, _) => out,
        };
        let workers = match raw.model.as_ref().and_then(|m| m.workers.as_ref()) {
            Some(w) => {
                let n = w.get_ref().get();
                ExternalModel::check_workers(n).map_err(|e| at(w.span(), "[model] workers", e.to_string()))?;
                n
            }
            None => 1,
        };
        let settings = Settings { seed: raw.seed, base: raw.base, flow: raw.flow, train: raw.train };
        let task = raw.task.map(Spanned::into_inner);
        Ok(Self { path: path.to_path_buf(), task, out, settings, external, workers })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The built-in task the file names, if any.
    pub fn task(&self) -> Option<&str> {
        self.task.as_deref()
    }

    /// The model file the file names, if any (a relative `out` taken from the file's directory).
    pub fn out(&self) -> Option<&Path> {
        self.out.as_deref()
    }

    /// The file's `seed`, `[base]`, `[flow]` and `[train]` settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The external model described by `[model]` and `[prior]`, if any.
    pub fn external(&self) -> Option<&ExternalConfig> {
        self.external.as_ref()
    }

    /// Copies of the external model to run (`[model] workers`; 1 when absent).
    pub fn workers(&self) -> usize {
        self.workers
    }
}

/// The model to train on: the built-in `task`, or else the config file's external model
/// (started here).
pub fn open_model(task: Option<&str>, file: Option<&TrainFile>) -> Result<Box<dyn Model>> {
    match (task, file) {
        (Some(task), _) => Ok(lwflow::tasks::by_name(task)?),
        (None, Some(file)) => match file.external() {
            Some(external) => Ok(Box::new(
                ExternalModel::spawn(external.clone(), file.workers())
                    .with_context(|| format!("starting the external model of {}", file.path().display()))?,
            )),
            None => bail!("{}: give a task (or --task) or a [model] table", file.path().display()),
        },
        (None, None) => bail!("give --task, or --config with a task or a [model] table"),
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
    #[serde(default)]
    base: BaseSettings,
    #[serde(default)]
    flow: FlowSettings,
    #[serde(default)]
    train: TrainSettings,
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
    workers: Option<Spanned<Positive>>,
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
    names: Option<Spanned<Vec<String>>>,
    periodic: Option<Spanned<Vec<bool>>>,
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
        let prior = Prior::new(marginals).map_err(|e| (arrays[0].span(), keys[0], e.to_string()))?;
        let prior = match &self.names {
            Some(names) => {
                prior.with_names(names.get_ref().clone()).map_err(|e| (names.span(), "[prior] names", e.to_string()))?
            }
            None => prior,
        };
        match &self.periodic {
            Some(periodic) => prior
                .with_periodic(periodic.get_ref().clone())
                .map_err(|e| (periodic.span(), "[prior] periodic", e.to_string())),
            None => Ok(prior),
        }
    }
}

fn kind_name(kind: PriorKind) -> &'static str {
    match kind {
        PriorKind::Uniform => "uniform",
        PriorKind::Normal => "normal",
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
    use crate::args::{Cli, Command};
    use lwflow::settings::{BaseFamily, Components, CouplingFamily, Fraction, NonNegativeF64};
    use lwflow::train::{ProposalKind, Toggle};
    use lwflow::weights::BatchLayout;

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

    /// The settings of `lwflow train --config run.toml` with `flags`.
    fn flags(flags: &str) -> Settings {
        let line = format!("lwflow train --config run.toml {flags}");
        let cli = Cli::try_parse_validated(line.split_whitespace()).expect("valid flags");
        let Command::Train(t) = cli.command else { panic!("expected train") };
        t.settings()
    }

    fn file(text: &str) -> TrainFile {
        TrainFile::parse(Path::new("run.toml"), text).expect("valid")
    }

    /// `file`'s settings with `line`'s flags laid over them.
    fn merged(file: &TrainFile, line: &str) -> Settings {
        Settings::overlay([file.settings().clone(), flags(line)])
    }

    fn count(k: usize) -> Option<Components> {
        Some(Components::Count(Positive::new(k as i64).expect("a count")))
    }

    #[test]
    fn valid_file_fills_unset_flags_and_flags_win() {
        let file = file(GOOD);
        let ext = file.external().expect("external model");
        assert_eq!((ext.theta_dim, ext.x_dim, ext.timeout), (2, 3, std::time::Duration::from_secs(5)));
        assert_eq!(ext.command, vec!["python3", "m.py"]);
        let here = std::env::current_dir().expect("a working directory");
        assert_eq!((file.out(), file.task()), (Some(here.join("m.lwf").as_path()), None));
        assert_eq!(ext.dir.as_deref(), Some(here.as_path()));
        let elsewhere = TrainFile::parse(Path::new("/configs/run.toml"), GOOD).expect("valid");
        assert_eq!(elsewhere.out(), Some(Path::new("/configs/m.lwf")));
        assert_eq!(elsewhere.external().and_then(|e| e.dir.as_deref()), Some(Path::new("/configs")));
        let m = merged(&file, "");
        assert_eq!((m.seed, m.base.kind, m.base.components), (Some(7), Some(BaseFamily::Gmm), count(6)));
        let f = &m.flow;
        assert_eq!(
            (f.kind, f.layers.map(Positive::get), f.hidden.map(Positive::get)),
            (Some(CouplingFamily::Affine), Some(3), Some(32))
        );
        assert_eq!(f.set_members.map(Positive::get), Some(3));
        let t = &m.train;
        assert_eq!(
            (t.steps.map(Positive::get), t.layout, t.lr.map(lwflow::settings::LearningRate::get)),
            (Some(20), Some(BatchLayout::TopWeights), Some(0.002))
        );
        let m = merged(&file, "--seed 1 --steps 5 --base cgmm");
        assert_eq!(
            (m.seed, m.train.steps.map(Positive::get), m.base.kind, m.base.components),
            (Some(1), Some(5), Some(BaseFamily::Cgmm), count(6))
        );
        let auto = self::file("[base]\ncomponents = \"auto\"\n");
        assert_eq!(merged(&auto, "").base.components, Some(Components::Auto));
        let text = "[train]\nproposal = \"adaptive\"\ntemper = \"off\"\ndraws_per_obs = 32\nprior_share = 0.5\ntemper_end = 0.25\nreverse_kl = 2.0\n";
        let t = merged(&self::file(text), "").train;
        assert_eq!(
            (t.proposal, t.temper, t.draws_per_obs.map(Positive::get)),
            (Some(ProposalKind::Adaptive), Some(Toggle::Off), Some(32))
        );
        assert_eq!(
            (t.prior_share.map(Fraction::get), t.temper_end.map(Fraction::get), t.reverse_kl.map(NonNegativeF64::get)),
            (Some(0.5), Some(0.25), Some(2.0))
        );
    }

    /// Each setting as a flag and as a file key, set to a value other than its default.
    const EVERY_SETTING: &[(&str, &str)] = &[
        ("--seed 9", "seed = 9"),
        ("--base cgmm", "[base]\nkind = \"cgmm\""),
        ("--components 3", "[base]\ncomponents = 3"),
        ("--components auto", "[base]\ncomponents = \"auto\""),
        ("--flow affine", "[flow]\nkind = \"affine\""),
        ("--bins 5", "[flow]\nbins = 5"),
        ("--tail-bound 2.5", "[flow]\ntail_bound = 2.5"),
        ("--layers 3", "[flow]\nlayers = 3"),
        ("--set-members 2", "[flow]\nset_members = 2"),
        ("--embedding mlp", "[flow]\nembedding = \"mlp\""),
        ("--embedding mlp --embedding-width 8", "[flow]\nembedding = \"mlp\"\nembedding_width = 8"),
        ("--embedding mlp --embedding-depth 1", "[flow]\nembedding = \"mlp\"\nembedding_depth = 1"),
        ("--embedding mlp --embedding-out 3", "[flow]\nembedding = \"mlp\"\nembedding_out = 3"),
        (
            "--embedding set --embedding-members 2 --embedding-width 8",
            "[flow]\nembedding = \"set\"\nembedding_members = 2\nembedding_width = 8",
        ),
        (
            "--embedding conv1d --embedding-channels 2 --embedding-depth 1",
            "[flow]\nembedding = \"conv1d\"\nembedding_channels = 2\nembedding_depth = 1",
        ),
        (
            "--embedding conv1d --embedding-kernel 1 --embedding-depth 1",
            "[flow]\nembedding = \"conv1d\"\nembedding_kernel = 1\nembedding_depth = 1",
        ),
        ("--hidden 16", "[flow]\nhidden = 16"),
        ("--depth 3", "[flow]\ndepth = 3"),
        ("--steps 7", "[train]\nsteps = 7"),
        ("--obs-per-step 8", "[train]\nobs_per_step = 8"),
        ("--thetas-per-step 100", "[train]\nthetas_per_step = 100"),
        ("--batch 256", "[train]\nbatch = 256"),
        ("--lr 0.5", "[train]\nlr = 0.5"),
        ("--clip-norm 2", "[train]\nclip_norm = 2.0"),
        ("--layout top-weights", "[train]\nlayout = \"top-weights\""),
        ("--mixture-init fitted", "[train]\nmixture_init = \"fitted\""),
        ("--time-limit 60", "[train]\ntime_limit = 60.0"),
        ("--proposal adaptive", "[train]\nproposal = \"adaptive\""),
        ("--draws-per-obs 4", "[train]\ndraws_per_obs = 4"),
        ("--prior-share 0.5", "[train]\nprior_share = 0.5"),
        ("--temper on", "[train]\ntemper = \"on\""),
        ("--temper-target 0.25", "[train]\ntemper_target = 0.25"),
        ("--temper-end 0.75", "[train]\ntemper_end = 0.75"),
        ("--reverse-kl 1.5", "[train]\nreverse_kl = 1.5"),
        ("--budget 5000", "[train]\nbudget = 5000"),
        ("--rounds 3", "[train]\nrounds = 3"),
        ("--exact-draws false", "[train]\nexact_draws = false"),
        ("--likelihood-rounds 2", "[train]\nlikelihood_rounds = 2"),
        ("--round-steps 500", "[train]\nround_steps = 500"),
    ];

    #[test]
    fn every_setting_is_reachable_from_file_and_flag_with_the_same_result() {
        // A user's own model (task None): the generic defaults, with K fixed unless asked; x has 4
        // values so that a conv1d embedding of 2 series can pool them once.
        let resolve = |s: &Settings| s.resolve(None, 2, 4).expect("resolves");
        let default = resolve(&Settings::default());
        for (flag, key) in EVERY_SETTING {
            let from_flag = resolve(&flags(flag));
            assert_eq!(resolve(file(key).settings()), from_flag, "{flag} vs {key:?}");
            assert_ne!(from_flag, default, "{flag} changes nothing");
            // Flags win over the file.
            let file_then_flag = Settings::overlay([file(key).settings().clone(), flags(flag)]);
            assert_eq!(resolve(&file_then_flag), from_flag, "{flag}");
        }
        // The table names every setting: laid together, no key is left unset.
        let all = Settings::overlay(EVERY_SETTING.iter().map(|(flag, _)| flags(flag)));
        let json = serde_json::to_value(&all).expect("plain data");
        let unset: Vec<_> = ["base", "flow", "train"]
            .iter()
            .flat_map(|table| json[table].as_object().expect("a table").iter().map(move |(k, v)| (table, k, v)))
            .filter(|(_, _, v)| v.is_null())
            .map(|(table, k, _)| format!("[{table}] {k}"))
            .collect();
        assert!(unset.is_empty() && all.seed.is_some(), "not in EVERY_SETTING: {unset:?}");
    }

    #[test]
    fn task_file_and_flags_overlay_in_order() {
        // slcp recommends 16000 steps and lr 2·10⁻³; the file changes both, the flag one.
        let file = file("[train]\nsteps = 50\nlr = 0.01\n");
        let t = |s: Settings| s.resolve(Some("slcp"), 5, 8).expect("resolves").train;
        let (task, from_file, from_both) =
            (t(Settings::default()), t(file.settings().clone()), t(merged(&file, "--steps 5")));
        assert_eq!((task.steps, task.lr, task.reverse_kl), (16_000, 2e-3, 5.0));
        assert_eq!((from_file.steps, from_file.lr, from_file.reverse_kl), (50, 0.01, 5.0));
        assert_eq!((from_both.steps, from_both.lr, from_both.reverse_kl), (5, 0.01, 5.0));
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
    fn prior_names_are_kept_and_checked() {
        let named = GOOD.replace("high = [3.0, 3.0]", "high = [3.0, 3.0]\nnames = [\"freq\", \"phase\"]");
        let prior = file(&named).external().expect("external model").prior.clone();
        assert_eq!(prior.names(), ["freq", "phase"]);
        let msg = error(&GOOD.replace("high = [3.0, 3.0]", "high = [3.0, 3.0]\nnames = [\"a\", \"a\"]"));
        assert!(msg.starts_with("run.toml line 15, column 9: [prior] names") && msg.contains("prior.names"), "{msg}");
        assert_eq!(file(GOOD).external().expect("external model").prior.given_names(), None);
    }

    #[test]
    fn prior_periodic_flags_are_kept_and_checked() {
        let periodic = GOOD.replace("high = [3.0, 3.0]", "high = [3.0, 3.0]\nperiodic = [false, true]");
        let prior = file(&periodic).external().expect("external model").prior.clone();
        assert_eq!(prior.periodic(), [false, true]);
        assert!(!file(GOOD).external().expect("external model").prior.has_periodic());
        let msg = error(&GOOD.replace("high = [3.0, 3.0]", "high = [3.0, 3.0]\nperiodic = [true]"));
        assert!(
            msg.starts_with("run.toml line 15, column 12: [prior] periodic") && msg.contains("has 1 flags"),
            "{msg}"
        );
        let normal = GOOD.replace("kind = \"uniform\"", "kind = \"normal\"").replace(
            "low = [-3.0, -3.0]\nhigh = [3.0, 3.0]",
            "mean = [0.0, 0.0]\nstd = [1.0, 1.0]\nperiodic = [true, false]",
        );
        let msg = error(&normal);
        assert!(msg.contains("[prior] periodic") && msg.contains("dimension 1") && msg.contains("uniform"), "{msg}");
    }

    #[test]
    fn workers_default_to_one_and_are_checked() {
        assert_eq!(file(GOOD).workers(), 1);
        let four = GOOD.replace("timeout_seconds = 5", "timeout_seconds = 5\nworkers = 4");
        assert_eq!(file(&four).workers(), 4);
        let msg = error(&GOOD.replace("timeout_seconds = 5", "timeout_seconds = 5\nworkers = 0"));
        assert!(msg.starts_with("run.toml line 10, column 11: [model] workers") && msg.contains("at least 1"), "{msg}");
        let msg = error(&GOOD.replace("timeout_seconds = 5", "timeout_seconds = 5\nworkers = 100000"));
        assert!(
            msg.starts_with("run.toml line 10, column 11: [model] workers") && msg.contains("model.workers = 100000"),
            "{msg}"
        );
        assert!(msg.contains(&lwflow::limits::MAX_EXTERNAL_WORKERS.to_string()), "{msg}");
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let path: PathBuf =
            [env!("CARGO_MANIFEST_DIR"), "..", "lwflow", "examples", "square2d_external.toml"].iter().collect();
        let text = std::fs::read_to_string(&path).expect("example exists");
        let file = TrainFile::parse(&path, &text).expect("valid");
        assert_eq!(file.external().expect("external model").theta_dim, 2);
        file.settings().resolve(None, 2, 2).expect("resolves");
    }

    #[test]
    fn key_at_finds_the_table_and_key() {
        let text = "seed = 1\n[train]\nsteps = 2\n[flow]\n";
        assert_eq!(key_at(text, 0), "seed");
        assert_eq!(key_at(text, text.find("2").unwrap()), "[train] steps");
        assert_eq!(key_at(text, text.find("[flow]").unwrap()), "[flow]");
    }
}
