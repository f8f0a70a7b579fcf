//! Command-line definitions (clap derive): parse and validate only, no work. Doc comments are the
//! help text. Anything with a library default is an `Option`, so defaults live in one place (the
//! library); `None` means "use the library's default". Validation errors name the flag.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use lwflow::settings::{
    parse_choice, BaseFamily, BaseSettings, Choice, Components, CouplingFamily, EmbeddingFamily, FlowSettings,
    Fraction, LearningRate, NonNegativeF64, OpenFraction, Positive, PositiveCount, PositiveF64, Settings, TailBound,
    TrainSettings, ValueError,
};
use lwflow::train::{MixtureInit, ProposalKind, Toggle};
use lwflow::weights::BatchLayout;

/// Amortized Bayesian posterior estimation with likelihood-weighted conditional normalizing flows.
#[derive(Debug, Parser)]
#[command(name = "lwflow", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a conditional flow q(θ|x) on a task and save it as a model file.
    Train(Box<TrainArgs>),
    /// Draw posterior samples θ ~ q(θ|x) for one observation.
    Sample(SampleArgs),
    /// Evaluate log q(θ|x) for every θ row of a CSV file.
    LogProb(LogProbArgs),
    /// Print a model file's architecture, training settings and size.
    Info(InfoArgs),
    /// Train on a small built-in task and report how close the posterior is to the reference.
    Demo(DemoArgs),
    /// Measure speed.
    Bench(BenchArgs),
    /// Compare a model's posterior with the task's reference posterior (C2ST and friends).
    Eval(EvalArgs),
    /// Run a built-in experiment and write its tables and figures.
    Experiment(ExperimentArgs),
    /// Corner plot of posterior samples for one observation (PNG or SVG).
    Plot(PlotArgs),
    /// Train on each task with its recommended settings and compare with the reference posterior
    /// on fixed observations (C2ST and friends); writes tables and samples.
    Benchmark(BenchmarkArgs),
    /// Show the number of mixture components `--components auto` picks on a task, per seed.
    Components(ComponentsArgs),
    /// Draw samples from a built-in task's reference posterior p(θ|x) for one observation.
    Reference(ReferenceArgs),
    /// Compare two sample files (CSV with a header row, or .npy): C2ST, MMD², sliced and exact W2.
    Compare(CompareArgs),
    /// Check a trained model's calibration without a reference: SBC, coverage, TARP, importance ESS.
    Check(CheckArgs),
    /// Refine a trained model for one observation: train on it alone, with draws from the flow itself.
    Refine(RefineArgs),
}

#[derive(Debug, Args)]
pub struct RefineArgs {
    /// Model file written by `lwflow train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Observation x as comma-separated numbers, e.g. "1.0,0.5".
    #[arg(long, value_parser = obs_syntax, allow_hyphen_values = true)]
    pub obs: String,
    /// Refined model file to write (safetensors); its samples are meant for --obs only.
    #[arg(long)]
    pub out: PathBuf,
    /// Optimiser steps [default: 1000].
    #[arg(long, value_parser = positive_usize)]
    pub steps: Option<usize>,
    /// Draws θ per step from prior_share·prior + (1 − prior_share)·q(θ|x), all weighted by the
    /// likelihood of --obs [default: 256].
    #[arg(long, value_parser = positive_usize)]
    pub draws: Option<usize>,
    /// Prior share of the proposal, in (0, 1] [default: 0.1].
    #[arg(long)]
    pub prior_share: Option<f64>,
    /// Adam learning rate [default: 2e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight λ ≥ 0 of the reverse-KL term KL(q‖p) [default: 0].
    #[arg(long)]
    pub reverse_kl: Option<f64>,
    /// Whether the first half of the steps is tempered (β raised to 1 keeping half of the ESS),
    /// as `train --temper` [default: on].
    #[arg(long, value_parser = ["on", "off"])]
    pub temper: Option<String>,
    /// Seed of the draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Built-in task whose likelihood to use instead of the model file's own.
    #[arg(long)]
    pub task: Option<String>,
    /// TOML file of `lwflow train` whose model (a task or a [model] table) to use instead of the
    /// one the model file records; --task overrides it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

impl RefineArgs {
    /// The library's settings with the flags given here.
    pub fn refine_config(&self) -> lwflow::train::RefineConfig {
        let d = lwflow::train::RefineConfig::default();
        lwflow::train::RefineConfig {
            steps: self.steps.unwrap_or(d.steps),
            draws: self.draws.unwrap_or(d.draws),
            prior_share: self.prior_share.unwrap_or(d.prior_share),
            lr: self.lr.unwrap_or(d.lr),
            reverse_kl: self.reverse_kl.unwrap_or(d.reverse_kl),
            temper: self.temper.as_deref().map_or(d.temper, |t| t == "on"),
            seed: self.seed,
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Model file written by `lwflow train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Built-in task whose prior, simulator and likelihood to use instead of the model file's own.
    #[arg(long)]
    pub task: Option<String>,
    /// TOML file of `lwflow train` whose model (a task or a [model] table) to use instead of the
    /// one the model file records; --task overrides it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Pairs (θ*, x) drawn from the prior predictive.
    #[arg(long, default_value_t = 1000, value_parser = positive_usize)]
    pub simulations: usize,
    /// Pairs to use instead of simulating: CSV (header row) or .npy, θ columns then x columns.
    #[arg(long, value_name = "PATH", conflicts_with = "simulations")]
    pub pairs: Option<PathBuf>,
    /// Posterior draws L per pair (L + 1 a multiple of 20 makes the coverage levels exact).
    #[arg(long, default_value_t = 99, value_parser = positive_usize)]
    pub draws: usize,
    /// Level α of every test.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Importance draws per observation for the ESS check.
    #[arg(long, default_value_t = 1000, value_parser = positive_usize)]
    pub ess_draws: usize,
    /// Observations (the first ones) whose importance ESS is computed [default: all; 0 skips it].
    #[arg(long)]
    pub ess_obs: Option<usize>,
    /// Posterior predictive check at the first K pairs' x (0 skips it).
    #[arg(long, value_name = "K", default_value_t = 20)]
    pub ppc: usize,
    /// Posterior predictive check at these observed x instead (e.g. your data): repeat the flag
    /// or separate with ';', e.g. "0,0;0.5,-0.2".
    #[arg(long, value_delimiter = ';', value_parser = obs_syntax, allow_hyphen_values = true)]
    pub ppc_obs: Vec<String>,
    /// Predictive draws per observation of the posterior predictive check.
    #[arg(long, default_value_t = 1000, value_parser = positive_usize)]
    pub ppc_draws: usize,
    /// Seed of the pairs, the posterior draws and the tests' simulations.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory for check.json and the figures sbc_ecdf.png, coverage.png and ppc.png.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the whole report as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress on stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// Built-in task (e.g. slcp).
    #[arg(long, value_parser = task_name)]
    pub task: String,
    /// Observation x as comma-separated numbers, e.g. "1.0,0.5".
    #[arg(long, value_parser = obs_syntax, allow_hyphen_values = true)]
    pub obs: String,
    /// Number of samples.
    #[arg(long, default_value_t = lwflow::benchmark::DEFAULT_SAMPLES, value_parser = positive_usize)]
    pub num: usize,
    /// How the reference is built [default: the task's own, as in `lwflow benchmark`].
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// Seed of the reference (the SMC run) and of the draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file: .npy for NumPy, anything else for CSV with a header row.
    #[arg(long)]
    pub out: PathBuf,
}

/// How `lwflow reference` builds the reference posterior.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// The task's exact posterior (tasks with an exact reference only).
    Exact,
    /// A normalised grid over the prior box (bounded priors, up to 3 parameters).
    Grid,
    /// Adaptive-tempering SMC with the benchmark's settings (two particles per sample, at least
    /// 1000; `lwflow::benchmark::reference_smc_config`); any task.
    Smc,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Reference samples: CSV with a header row (e.g. sbibm's, after bunzip2) or .npy. C2ST
    /// standardises both sets with this one's mean and sd, as sbibm does.
    pub a: PathBuf,
    /// Samples to compare with A, same format choices and the same number of columns.
    pub b: PathBuf,
    /// Seed of the C2ST classifiers and the sliced-W2 directions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchmarkArgs {
    /// Tasks, comma-separated (e.g. two_moons,gaussian_linear), each at most once.
    #[arg(long, required = true, value_delimiter = ',', value_parser = task_name)]
    pub tasks: Vec<String>,
    /// Observations per task (simulated from fixed seeds, the same in every run; sbibm averages 10).
    #[arg(long, default_value_t = lwflow::benchmark::DEFAULT_OBSERVATIONS, value_parser = positive_usize)]
    pub observations: usize,
    /// Samples per observation from the flow and from the reference.
    #[arg(long, default_value_t = lwflow::benchmark::DEFAULT_SAMPLES, value_parser = at_least_ten)]
    pub samples: usize,
    /// Training seed (also seeds the flow's samples and the metrics).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Training steps, overriding each task's recommended budget (for quick runs).
    #[arg(long, value_parser = positive_usize)]
    pub steps: Option<usize>,
    /// Output directory (created if missing): results.md, results.csv, and per task the model,
    /// observations and samples.
    #[arg(long)]
    pub out: PathBuf,
    /// Also judge the flow's samples corrected by the likelihood (as `sample --importance` gives them).
    #[arg(long)]
    pub importance: bool,
    /// Model-call budgets, comma-separated (e.g. 1000,10000,100000): per task, one training per
    /// budget (`train --budget`), all judged on the same observations and references.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..))]
    pub budget: Vec<u64>,
    /// Skip the sample distances (W2 and its floor, sliced W2, MMD²), which cost seconds per
    /// observation; C2ST, KL and bridge mass are always computed.
    #[arg(long)]
    pub no_distances: bool,
    /// Refine the trained flow for each observation for this many steps before judging it
    /// (`lwflow refine`'s other settings at their defaults, --refine-draws draws per step).
    #[arg(long, value_name = "STEPS", value_parser = positive_usize)]
    pub refine: Option<usize>,
    /// Draws per refinement step [default: 256].
    #[arg(long, value_name = "N", requires = "refine", value_parser = positive_usize)]
    pub refine_draws: Option<usize>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

impl BenchmarkArgs {
    /// The refinement settings of --refine and --refine-draws.
    pub fn refine_config(&self) -> Option<lwflow::train::RefineConfig> {
        let d = lwflow::train::RefineConfig::default();
        self.refine.map(|steps| lwflow::train::RefineConfig { steps, draws: self.refine_draws.unwrap_or(d.draws), ..d })
    }
}

#[derive(Debug, Args)]
pub struct ComponentsArgs {
    /// Built-in task (e.g. square2d); required unless --config or --model gives the model.
    #[arg(long, required_unless_present_any = ["config", "model"])]
    pub task: Option<String>,
    /// Model file written by `lwflow train` whose model to use (a built-in task, or its external
    /// command started again); --task and --config override it.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// TOML file of `lwflow train` whose model (a task or a [model] table) to use; --task overrides it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Seeds 1..=N, one selection each.
    #[arg(long, default_value_t = 3, value_parser = positive_usize)]
    pub seeds: usize,
    /// Observations whose modes are counted per seed [default: library default, 16].
    #[arg(long, value_parser = positive_usize)]
    pub obs: Option<usize>,
    /// SMC particles per observation [default: library default, 2000].
    #[arg(long, value_parser = positive_usize)]
    pub particles: Option<usize>,
    /// Largest number of Gaussians the BIC search tries [default: library default, 16].
    #[arg(long, value_parser = positive_usize)]
    pub k_max: Option<usize>,
    /// Print each selection as one JSON line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Model file written by `lwflow train`.
    #[arg(long)]
    pub model: PathBuf,
    /// The observation, comma-separated, e.g. "1.0,0.5".
    #[arg(long, allow_hyphen_values = true)]
    pub obs: String,
    /// Posterior samples to draw.
    #[arg(long, default_value_t = 20000, value_parser = positive_usize)]
    pub num: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output figure: .png or .svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Reference samples (CSV with a header row) drawn as an overlay.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Figure title (default: the model's name, or its file's for a long one, and the observation).
    #[arg(long)]
    pub title: Option<String>,
    /// Axis labels, comma-separated, one per dimension of θ (default: the prior's names, `[prior]
    /// names`, else θ1, θ2, …).
    #[arg(long, allow_hyphen_values = true)]
    pub labels: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExperimentArgs {
    #[command(subcommand)]
    pub command: ExperimentCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Gaussian vs mixture vs conditional-mixture base on square2d/square3d (the paper's claim).
    BaseTopology(BaseTopologyArgs),
    /// gaussian_linear in several dimensions: training time, KL(p‖q) and the cost of a step.
    ThetaScaling(ThetaScalingArgs),
}

#[derive(Debug, Args)]
pub struct ThetaScalingArgs {
    /// Dimensions of θ (and x), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,8,32,64", value_parser = positive_usize)]
    pub dims: Vec<usize>,
    /// Training steps for every dimension (default: the task's recommended budget).
    #[arg(long, value_parser = positive_usize)]
    pub steps: Option<usize>,
    /// Benchmark observations per dimension.
    #[arg(long, default_value_t = 5, value_parser = positive_usize)]
    pub observations: usize,
    /// Samples per observation from q and from the exact posterior.
    #[arg(long, default_value_t = 10_000, value_parser = at_least_ten)]
    pub samples: usize,
    /// Also the classifier two-sample test (slow in high dimension).
    #[arg(long)]
    pub c2st: bool,
    /// Training seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (created if missing): results.md, results.json, scaling.png.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct BaseTopologyArgs {
    /// square2d or square3d.
    #[arg(long, default_value = "square2d")]
    pub task: String,
    /// Seeds per base (1..=N).
    #[arg(long, default_value_t = 3, value_parser = positive_usize)]
    pub seeds: usize,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Training steps per run (default: `lwflow train`'s budget).
    #[arg(long, value_parser = positive_usize)]
    pub steps: Option<usize>,
    /// Samples per observation for the metrics.
    #[arg(long, default_value_t = 2000, value_parser = positive_usize)]
    pub num: usize,
    /// Coupling layers of every run (default: the library default, spline).
    #[arg(long, value_parser = choice::<CouplingFamily>())]
    pub flow: Option<CouplingFamily>,
    /// Only these variants (comma-separated keys: gaussian, gmm-random, gmm-separated, gmm-fitted,
    /// cgmm-separated, cgmm-fitted, cgmm-control); default all.
    #[arg(long, value_delimiter = ',')]
    pub variants: Vec<String>,
}

/// Hidden-layer activation of the conditioner networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ActArg {
    Silu,
    Relu,
}

/// `lwflow train`'s flags. A setting's flag is its config key with `-` for `_` (`--obs-per-step`,
/// `[train] obs_per_step`), except `--base` and `--flow` (`[base] kind`, `[flow] kind`); values are
/// the library's checked types ([`lwflow::settings`]), so a flag and a file key pass one rule.
/// `None` leaves the setting to the config file, then to the task's recommended settings.
#[derive(Clone, Debug, Args)]
pub struct TrainArgs {
    /// TOML file of settings (model, prior, base, flow, train); flags given here override it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Built-in task to train on (e.g. square2d); required unless --config gives a task or a [model].
    #[arg(long)]
    pub task: Option<String>,
    /// Base distribution [default: library default].
    #[arg(long, value_parser = choice::<BaseFamily>())]
    pub base: Option<BaseFamily>,
    /// Number of mixture components of a `gmm` or `cgmm` base, or `auto` to count the
    /// posterior's modes on simulated observations; an error with `--base gaussian` [default: 4].
    #[arg(long, value_name = "K|auto")]
    pub components: Option<Components>,
    /// Seed of every random stream; the same seed gives the same model [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Model file to write (safetensors) [default: model.lwf].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Coupling layer type.
    #[arg(long, value_parser = choice::<CouplingFamily>())]
    pub flow: Option<CouplingFamily>,
    /// Spline bins (with --flow spline).
    #[arg(long)]
    pub bins: Option<Positive>,
    /// Splines act on [-B, B] and are the identity outside (with --flow spline); B ≤ 1000.
    #[arg(long)]
    pub tail_bound: Option<TailBound>,
    /// Number of coupling layers.
    #[arg(long)]
    pub layers: Option<Positive>,
    /// x is this many exchangeable draws (e.g. 4 for slcp): the conditioners also get their mean, log standard deviations and correlations; 1 = x alone.
    #[arg(long, value_name = "N")]
    pub set_members: Option<Positive>,
    /// Learned embedding of x, computed once per observation and read by every conditioner and
    /// the cgmm base in place of x, trained with the flow [default: none].
    #[arg(long, value_parser = choice::<EmbeddingFamily>())]
    pub embedding: Option<EmbeddingFamily>,
    /// Hidden units per layer of the embedding; conv1d: filters per convolution [default: 64].
    #[arg(long, value_name = "W")]
    pub embedding_width: Option<Positive>,
    /// Hidden layers of the mlp embedding or of the set embedding's φ; conv1d: convolution + pooling blocks [default: 2].
    #[arg(long, value_name = "N")]
    pub embedding_depth: Option<Positive>,
    /// Dimension of the embedding, the conditioners' context [default: 16].
    #[arg(long, value_name = "N")]
    pub embedding_out: Option<Positive>,
    /// Exchangeable members in one x for the set embedding [default: --set-members].
    #[arg(long, value_name = "N")]
    pub embedding_members: Option<Positive>,
    /// Series (input channels) in one x for the conv1d embedding, one after the other [default: 1].
    #[arg(long, value_name = "N")]
    pub embedding_channels: Option<Positive>,
    /// Filter width (odd) of the conv1d embedding [default: 5].
    #[arg(long, value_name = "K")]
    pub embedding_kernel: Option<Positive>,
    /// Initialisation of a mixture base: separated layout, random, or fitted to likelihood-weighted prior draws.
    #[arg(long, value_parser = choice::<MixtureInit>())]
    pub mixture_init: Option<MixtureInit>,
    /// Write training curves (loss, validation loss, ESS) as PNG and SVG into this directory.
    #[arg(long)]
    pub plot_dir: Option<PathBuf>,
    /// Which (theta, x) pairs of the weight matrix the flow is trained on each step.
    #[arg(long, value_parser = choice::<BatchLayout>())]
    pub layout: Option<BatchLayout>,
    /// Width of each hidden layer of the conditioners.
    #[arg(long)]
    pub hidden: Option<Positive>,
    /// Hidden layers per conditioner [default: 2].
    #[arg(long)]
    pub depth: Option<Positive>,
    /// Training budget in optimiser steps.
    #[arg(long)]
    pub steps: Option<Positive>,
    /// Stop training after this many seconds (whichever of --steps and --time-limit comes first).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub time_limit: Option<PositiveF64>,
    /// Rows the flow is trained on per step with the prior proposal (observations × pairs per
    /// observation, resampled by weight from the shared prior draws).
    #[arg(long)]
    pub batch: Option<Positive>,
    /// Observations x per optimiser step.
    #[arg(long)]
    pub obs_per_step: Option<Positive>,
    /// Prior draws θ per step, shared by all observations of the step (prior proposal).
    #[arg(long)]
    pub thetas_per_step: Option<Positive>,
    /// Adam learning rate, in (0, 1].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<LearningRate>,
    /// Global gradient-norm clip applied before each Adam step [default: 10].
    #[arg(long, allow_negative_numbers = true)]
    pub clip_norm: Option<PositiveF64>,
    /// Proposal of the training draws [default: auto].
    #[arg(long, value_parser = choice::<ProposalKind>())]
    pub proposal: Option<ProposalKind>,
    /// Draws per observation per step of the adaptive proposal (the flow is trained on all of them).
    #[arg(long)]
    pub draws_per_obs: Option<Positive>,
    /// Prior share of the adaptive (defensive mixture) proposal, in (0, 1].
    #[arg(long, allow_negative_numbers = true)]
    pub prior_share: Option<Fraction>,
    /// Likelihood tempering of the early steps (β raised to 1 keeping a target ESS) [default: auto].
    #[arg(long, value_parser = choice::<Toggle>())]
    pub temper: Option<Toggle>,
    /// While tempering, β is the largest value that keeps the median per-observation ESS at this
    /// fraction of the draws, in (0, 1) [default: 0.5].
    #[arg(long, allow_negative_numbers = true)]
    pub temper_target: Option<OpenFraction>,
    /// Fraction of the steps by which tempering must have reached β = 1, in (0, 1] [default: 0.5].
    #[arg(long, allow_negative_numbers = true)]
    pub temper_end: Option<Fraction>,
    /// Weight λ ≥ 0 of the reverse-KL term KL(q‖p) added to the adaptive steps' loss, which
    /// pushes down q's mass where the posterior has none (0: forward KL only) [default: task's].
    #[arg(long, allow_negative_numbers = true)]
    pub reverse_kl: Option<NonNegativeF64>,
    /// Model calls (likelihood evaluations + simulations) training may make, never exceeded:
    /// trains in rounds on a stored set of draws (docs/config.md) [default: no limit].
    #[arg(long, value_name = "CALLS")]
    pub budget: Option<PositiveCount>,
    /// Rounds of a budgeted run (--budget): each spends its share of the calls left, then
    /// trains on everything stored [default: 4].
    #[arg(long)]
    pub rounds: Option<Positive>,
    /// Whether a budgeted run also trains on each simulated θ, an exact posterior draw
    /// [default: true].
    #[arg(long, value_name = "BOOL")]
    pub exact_draws: Option<bool>,
    /// Of a budgeted run's rounds, the last this many also evaluate the likelihood at
    /// --draws-per-obs draws per new observation from the flow so far; the others spend every
    /// call on simulations [default: 0].
    #[arg(long, value_name = "ROUNDS")]
    pub likelihood_rounds: Option<usize>,
    /// Gradient steps per round of a budgeted run at most [default: 20000].
    #[arg(long)]
    pub round_steps: Option<Positive>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

impl TrainArgs {
    /// The settings these flags give, to lay over the config file's.
    pub fn settings(&self) -> Settings {
        Settings {
            seed: self.seed,
            base: BaseSettings { kind: self.base, components: self.components },
            flow: FlowSettings {
                kind: self.flow,
                layers: self.layers,
                set_members: self.set_members,
                hidden: self.hidden,
                depth: self.depth,
                bins: self.bins,
                tail_bound: self.tail_bound,
                embedding: self.embedding,
                embedding_width: self.embedding_width,
                embedding_depth: self.embedding_depth,
                embedding_out: self.embedding_out,
                embedding_members: self.embedding_members,
                embedding_channels: self.embedding_channels,
                embedding_kernel: self.embedding_kernel,
            },
            train: TrainSettings {
                steps: self.steps,
                obs_per_step: self.obs_per_step,
                thetas_per_step: self.thetas_per_step,
                batch: self.batch,
                lr: self.lr,
                clip_norm: self.clip_norm,
                layout: self.layout,
                mixture_init: self.mixture_init,
                time_limit: self.time_limit,
                proposal: self.proposal,
                draws_per_obs: self.draws_per_obs,
                prior_share: self.prior_share,
                temper: self.temper,
                temper_target: self.temper_target,
                temper_end: self.temper_end,
                reverse_kl: self.reverse_kl,
                budget: self.budget,
                rounds: self.rounds,
                exact_draws: self.exact_draws,
                likelihood_rounds: self.likelihood_rounds,
                round_steps: self.round_steps,
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Model file written by `lwflow train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Observation x as comma-separated numbers, e.g. "1.0,0.5".
    #[arg(long, value_parser = obs_syntax, allow_hyphen_values = true, required_unless_present = "obs_file")]
    pub obs: Option<String>,
    /// Observations, one per row: CSV with a header row, or a 2-D .npy. Writes --num draws for
    /// each: .npy of shape (observations, num, dim θ), or a CSV whose first column `obs` is the
    /// observation's 0-based row. Observation 0 gets the draws --obs would give it.
    #[arg(long, value_name = "PATH", conflicts_with = "obs")]
    pub obs_file: Option<PathBuf>,
    /// Number of samples (per observation).
    #[arg(long, default_value_t = 1000, value_parser = positive_usize)]
    pub num: usize,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file: .npy for NumPy (with a JSON sidecar F.npy.json naming the columns), anything
    /// else for CSV with a header row.
    #[arg(long, default_value = "samples.csv")]
    pub out: PathBuf,
    /// Correct the flow's error with the likelihood: importance-weight draws from
    /// 0.1·prior + 0.9·q(θ|x) and resample (prints ESS and log evidence, per observation with
    /// --obs-file; any model).
    #[arg(long)]
    pub importance: bool,
    /// Built-in task whose likelihood `--importance` uses instead of the model file's own.
    #[arg(long, requires = "importance")]
    pub task: Option<String>,
    /// TOML file of `lwflow train` whose model (a task or a [model] table) `--importance` uses
    /// instead of the one the model file records; --task overrides it.
    #[arg(long, value_name = "PATH", requires = "importance")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogProbArgs {
    /// Model file written by `lwflow train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Observation x as comma-separated numbers, e.g. "1.0,0.5".
    #[arg(long, value_parser = obs_syntax, allow_hyphen_values = true)]
    pub obs: String,
    /// CSV of θ rows (header row required), one column per parameter.
    #[arg(long)]
    pub input: PathBuf,
    /// Output CSV: one column log_q, log q(θ|x) of each input row in order.
    #[arg(long, default_value = "log_prob.csv")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Model file to describe.
    #[arg(long)]
    pub model: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of every random stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// No progress on stderr; each base's result and the comparison still go to stdout.
    #[arg(long)]
    pub quiet: bool,
    /// Training budget in optimiser steps [default: the demo's own budget].
    #[arg(long, value_parser = positive_usize)]
    pub steps: Option<usize>,
    /// Directory for the three trained models (`<base>.lwf`) and their corner plots.
    #[arg(long, default_value = "lwflow-demo")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time one training step (forward + backward + Adam) of the default flow.
    Step(BenchStepArgs),
}

#[derive(Debug, Args)]
pub struct BenchStepArgs {
    /// Untimed steps before measuring.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 60, value_parser = positive_usize)]
    pub steps: usize,
    /// Hidden-layer activation [default: library default].
    #[arg(long, value_enum)]
    pub act: Option<ActArg>,
    /// Also run this PyTorch script (torch_step.py) with the same settings and report the ratio.
    #[arg(long, value_name = "PATH")]
    pub torch: Option<PathBuf>,
    /// Rayon worker threads [default: all cores].
    #[arg(long, value_parser = positive_usize)]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model file written by `lwflow train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Observations to evaluate at: repeat the flag or separate with ';', e.g. "0,0;0.5,-0.2".
    #[arg(long, required = true, value_delimiter = ';', value_parser = obs_syntax, allow_hyphen_values = true)]
    pub obs: Vec<String>,
    /// Posterior samples per observation.
    #[arg(long, default_value_t = 2000, value_parser = positive_usize)]
    pub num: usize,
    /// Seed of the sampler and the metrics.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Reference posterior: the task's exact one, or a normalised grid over the prior box
    /// (any bounded model with up to 3 parameters).
    #[arg(long, value_enum, default_value_t = ReferenceArg::Exact)]
    pub reference: ReferenceArg,
    /// Built-in task whose reference to use instead of the model file's own (e.g. `square2d` for
    /// a model trained on an external version of it); its θ and x dimensions must match.
    #[arg(long)]
    pub task: Option<String>,
    /// TOML file of `lwflow train` whose model (a task or a [model] table) to use instead of the
    /// one the model file records (an external model is started from it); --task overrides it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Evaluate the importance-corrected samples of `lwflow sample --importance` instead of the
    /// flow's own draws (the KL columns, properties of q's density, are left out).
    #[arg(long)]
    pub importance: bool,
}

/// Which reference posterior `eval` compares against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReferenceArg {
    /// The task's exact posterior (or its fine grid, for two_moons).
    Exact,
    /// A normalised grid over the prior box (bounded models with up to 3 parameters).
    Grid,
    /// Adaptive-tempering SMC particles (any built-in task; samples only, so no KL).
    Smc,
}

impl Cli {
    /// Parses `std::env::args` and runs the cross-flag checks; prints usage and exits on error.
    pub fn parse_validated() -> Self {
        let cli = Self::parse();
        if let Err(e) = cli.validate() {
            e.exit();
        }
        cli
    }

    /// [`Cli::parse_validated`] for an explicit argument list, returning the error.
    #[cfg(test)]
    pub fn try_parse_validated<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Self::try_parse_from(args)?;
        cli.validate()?;
        Ok(cli)
    }

    /// Checks that single-flag parsers cannot express.
    pub fn validate(&self) -> Result<(), clap::Error> {
        if let Command::Benchmark(b) = &self.command {
            if let Some((i, t)) = b.tasks.iter().enumerate().find(|(i, t)| b.tasks[..*i].contains(t)) {
                return Err(Self::command().error(
                    ErrorKind::ValueValidation,
                    format!(
                        "--tasks: {t} is listed twice (positions {} and {})",
                        b.tasks[..i].iter().position(|u| u == t).expect("listed before") + 1,
                        i + 1
                    ),
                ));
            }
            if let Some(b) = b.budget.iter().enumerate().find_map(|(i, v)| b.budget[..i].contains(v).then_some(v)) {
                return Err(Self::command().error(
                    ErrorKind::ValueValidation,
                    format!("--budget: {b} is listed twice; list each budget once"),
                ));
            }
        }
        if let Command::Train(t) = &self.command {
            if t.task.is_none() && t.config.is_none() {
                return Err(Self::command().error(
                    ErrorKind::MissingRequiredArgument,
                    "train needs --task, or --config with a task or a [model] table",
                ));
            }
            if t.components.is_some() && t.base == Some(BaseFamily::Gaussian) {
                return Err(Self::command().error(
                    ErrorKind::ArgumentConflict,
                    "--components applies only to a mixture base, not --base gaussian",
                ));
            }
        }
        Ok(())
    }
}

/// An integer ≥ 1 (the rule of every count setting, [`Positive`]).
fn positive_usize(s: &str) -> Result<usize, ValueError> {
    s.parse().map(Positive::get)
}

/// One of `T`'s names; `--help` lists them with their help lines.
fn choice<T: Choice + Send + Sync>() -> impl TypedValueParser<Value = T> {
    let values = T::ALL.iter().map(|c| PossibleValue::new(c.name()).help(c.help()));
    PossibleValuesParser::new(values).map(|name| parse_choice(&name).expect("clap passes only listed names"))
}

/// An integer ≥ 10 (C2ST needs a few samples in each of its 5 folds).
fn at_least_ten(s: &str) -> Result<usize, String> {
    let v: usize = s.parse().map_err(|_| format!("'{s}' is not a whole number"))?;
    if v < 10 {
        return Err("must be at least 10".into());
    }
    Ok(v)
}

/// The name of a built-in task.
fn task_name(s: &str) -> Result<String, String> {
    if lwflow::tasks::NAMES.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("unknown task '{s}'; expected one of: {}", lwflow::tasks::NAMES.join(", ")))
    }
}

/// Comma-separated finite numbers; the dimension is checked later, against the model.
fn obs_syntax(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("expected comma-separated numbers, e.g. \"1.0,0.5\"".into());
    }
    for (i, f) in s.split(',').map(str::trim).enumerate() {
        if !f.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(format!("value {} ('{f}') is not a finite number", i + 1));
        }
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_validated(line.split_whitespace())
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn train_parses_flags_and_leaves_library_defaults_unset() {
        let cli =
            parse("lwflow train --task two_moons --base gmm --components 6 --steps 500 --lr 1e-3 --quiet").unwrap();
        let Command::Train(t) = cli.command else { panic!("expected train") };
        assert_eq!(t.task.as_deref(), Some("two_moons"));
        assert_eq!(t.base, Some(BaseFamily::Gmm));
        assert_eq!(t.components, Some(Components::Count(Positive::new(6).unwrap())));
        assert_eq!(t.steps.map(Positive::get), Some(500));
        assert_eq!(t.lr.map(LearningRate::get), Some(1e-3));
        assert!(t.quiet);
        assert_eq!((t.seed, t.out, t.config), (None, None, None));
        let cli = parse("lwflow train --config run.toml --seed 5").unwrap();
        let Command::Train(t) = cli.command else { panic!("expected train") };
        assert_eq!(t.settings(), Settings { seed: Some(5), ..Settings::default() });
        assert_eq!((t.config, t.task, t.seed), (Some(PathBuf::from("run.toml")), None, Some(5)));
        assert_eq!((t.layers, t.hidden, t.depth, t.time_limit, t.batch), (None, None, None, None, None));
    }

    #[test]
    fn sample_and_eval_parse_observations() {
        let cli = parse("lwflow sample --model m.lwf --obs -1.0,0.5 --out s.npy").unwrap();
        let Command::Sample(s) = cli.command else { panic!("expected sample") };
        assert_eq!((s.obs.as_deref(), s.num, s.seed), (Some("-1.0,0.5"), 1000, 1));
        assert_eq!(s.out, PathBuf::from("s.npy"));
        let cli = parse("lwflow sample --model m.lwf --obs-file obs.csv").unwrap();
        let Command::Sample(s) = cli.command else { panic!("expected sample") };
        assert_eq!((s.obs, s.obs_file), (None, Some(PathBuf::from("obs.csv"))));
        assert!(parse("lwflow sample --model m.lwf").is_err(), "--obs or --obs-file is required");
        assert!(parse("lwflow sample --model m.lwf --obs 1,2 --obs-file obs.csv").is_err(), "not both");

        let cli = parse("lwflow eval --model m.lwf --obs 0,0;1,2 --obs 3,4 --json").unwrap();
        let Command::Eval(e) = cli.command else { panic!("expected eval") };
        assert_eq!(e.obs, vec!["0,0", "1,2", "3,4"]);
        assert_eq!(e.num, 2000);
        assert!(e.json);
    }

    #[test]
    fn bench_step_parses_nested_subcommand() {
        let cli = parse("lwflow bench step --act relu --torch bench/torch_step.py --threads 1").unwrap();
        let Command::Bench(BenchArgs { command: BenchCommand::Step(b) }) = cli.command else {
            panic!("expected bench")
        };
        assert_eq!((b.warmup, b.steps, b.act, b.threads), (10, 60, Some(ActArg::Relu), Some(1)));
        assert_eq!(b.torch, Some(PathBuf::from("bench/torch_step.py")));
        assert!(parse("lwflow log-prob --model m --obs 1 --input t.csv").is_ok());
        assert!(parse("lwflow info --model m").is_ok());
        assert!(parse("lwflow demo --steps 10").is_ok());
        let cli = parse("lwflow train --task slcp --base cgmm --components auto").unwrap();
        let Command::Train(t) = cli.command else { panic!("expected train") };
        assert_eq!(t.components, Some(Components::Auto));
        let cli = parse("lwflow components --task slcp --seeds 2 --obs 8").unwrap();
        let Command::Components(c) = cli.command else { panic!("expected components") };
        assert_eq!((c.task.as_deref(), c.seeds, c.obs, c.particles), (Some("slcp"), 2, Some(8), None));
        let cli = parse("lwflow components --config run.toml").unwrap();
        let Command::Components(c) = cli.command else { panic!("expected components") };
        assert_eq!((c.task, c.config), (None, Some(PathBuf::from("run.toml"))));
    }

    #[test]
    fn reference_and_compare_parse_with_defaults() {
        let cli = parse("lwflow reference --task slcp --obs -1,2,3,4,5,6,7,8 --out r.npy").unwrap();
        let Command::Reference(r) = cli.command else { panic!("expected reference") };
        assert_eq!((r.task.as_str(), r.num, r.method, r.seed), ("slcp", 10_000, None, 1));
        let cli = parse("lwflow reference --task two_moons --obs 0,0 --method grid --num 5 --seed 4 --out r").unwrap();
        let Command::Reference(r) = cli.command else { panic!("expected reference") };
        assert_eq!((r.num, r.method, r.seed), (5, Some(MethodArg::Grid), 4));
        let cli = parse("lwflow compare a.csv b.npy --json").unwrap();
        let Command::Compare(c) = cli.command else { panic!("expected compare") };
        assert_eq!((c.a, c.b, c.seed, c.json), (PathBuf::from("a.csv"), PathBuf::from("b.npy"), 1, true));
    }

    #[test]
    fn benchmark_parses_task_list_and_defaults() {
        let cli = parse("lwflow benchmark --tasks two_moons,gaussian_linear --observations 5 --out r").unwrap();
        let Command::Benchmark(b) = cli.command else { panic!("expected benchmark") };
        assert_eq!(b.tasks, vec!["two_moons", "gaussian_linear"]);
        assert_eq!((b.observations, b.samples, b.seed, b.steps), (5, 10_000, 1, None));
        assert!(!b.quiet && !b.importance);
    }

    #[test]
    fn validation_errors_name_the_flag() {
        for (line, flag) in [
            ("lwflow train --task t --layers 0", "--layers"),
            ("lwflow train --task t --lr -1", "--lr"),
            ("lwflow train --task t --time-limit inf", "--time-limit"),
            ("lwflow train --task t --base gaussian --components 3", "--components"),
            ("lwflow train --task t --components many", "--components"),
            ("lwflow train --task t --components 0", "--components"),
            ("lwflow train --task t --base flat", "--base"),
            ("lwflow train --task t --prior-share 1.5", "--prior-share"),
            ("lwflow train --task t --temper-target 1", "--temper-target"),
            ("lwflow train --task t --temper-end 0", "--temper-end"),
            ("lwflow train --task t --reverse-kl -1", "--reverse-kl"),
            ("lwflow train --task t --clip-norm 0", "--clip-norm"),
            ("lwflow train --task t --layout top", "top-weights"),
            ("lwflow components", "--task"),
            ("lwflow sample --model m --obs 1,abc", "--obs"),
            ("lwflow eval --model m --obs 1,2;", "--obs"),
            ("lwflow sample --model m --obs 1 --num 0", "--num"),
            ("lwflow train", "--task"),
            ("lwflow benchmark --tasks two_moons,nope --observations 1 --out d", "--tasks"),
            ("lwflow benchmark --tasks two_moons,slcp,two_moons --observations 1 --out d", "--tasks"),
            ("lwflow benchmark --tasks two_moons --observations 0 --out d", "--observations"),
            ("lwflow benchmark --tasks two_moons --observations 1 --samples 5 --out d", "--samples"),
            ("lwflow benchmark --tasks two_moons --observations 1 --steps 0 --out d", "--steps"),
            ("lwflow reference --task nope --obs 1 --out r.csv", "--task"),
            ("lwflow reference --task slcp --obs 1 --method mcmc --out r.csv", "--method"),
            ("lwflow reference --task slcp --obs 1 --num 0 --out r.csv", "--num"),
            ("lwflow reference --task slcp --obs 1", "--out"),
            ("lwflow compare a.csv b.csv --seed x", "--seed"),
        ] {
            let err = parse(line).expect_err(line).to_string();
            assert!(err.contains(flag), "{line}: {err}");
        }
    }
}
