//! sbibm `slcp_distractors` (Lueckmann et al. 2021, arXiv:2101.04653; sbibm
//! `sbibm/tasks/slcp/task.py` with `distractors=True`): [`super::slcp`]'s θ, prior and four 2-D
//! points, with 92 distractors appended and the 100 entries shuffled by a fixed permutation P:
//!
//!   v = (s, z) ∈ ℝ¹⁰⁰,  s ∈ ℝ⁸ the slcp points, z ∈ ℝ⁹² a distractor draw,  x_i = v_{P(i)}.
//!
//! The distractors z ~ p_D, independent of θ: an equal-weight mixture of 20 multivariate
//! Student-t distributions with ν = 2 in 92 dimensions, location μ_c and scale factor L_c (lower
//! triangular),
//!
//!   log t_ν(z; μ, L) = log Γ((ν+d)/2) − log Γ(ν/2) − (d/2) log(νπ) − Σ_i log|L_ii|
//!                      − ((ν+d)/2) log(1 + ‖L⁻¹(z − μ)‖²/ν),   d = 92.
//!
//! sbibm generated μ, L and P once with numpy: `np.random.seed(42)`; μ_c = 15·`normal(92)` for
//! c = 1..20; then per c, L_c = 3·(tril(`normal((92, 92))`) + diag(exp(`normal(92)`))); then
//! P = `permutation(100)` (`tasks/numpy_mt19937.rs` rebuilds them; the permutation is checked against
//! sbibm's observation files in the tests, μ and L against its `gmm.torch` in
//! `results/tasks20/notes.md`). tril keeps the diagonal, so some L_ii are negative: the
//! distribution sbibm samples, μ + L w/√(χ²_ν/ν), depends on L only through L Lᵀ, and its density
//! has |det L| = Π|L_ii| (torch's `log_prob` would take the log of a negative diagonal, but
//! sbibm never evaluates it).
//!
//! log L(x|θ) = log L_slcp(s|θ) + log p_D(z): the exact density of x. The second term does not
//! depend on θ, so it cancels in the posterior (identical to slcp's at s, and sbibm ships slcp's
//! reference samples for this task) and in the per-x self-normalised weights; it is kept so that
//! log L is the density the simulator samples. It costs ~20·92²/2 operations per x, so it is
//! computed once per observation in [`Model::log_likelihood_at`] and once per run of equal rows
//! in [`Model::log_likelihood`].

use rand::Rng as _;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use statrs::function::gamma::ln_gamma;

use crate::embed::EmbeddingConfig;
use crate::error::Result;
use crate::flow::{BaseConfig, FlowConfig};
use crate::mat::{MatMut, MatRef};
use crate::model::{Model, Prior};
use crate::rng::Rng;
use crate::special::log_sum_exp;
use crate::tasks::entry::{Published, TaskEntry, TaskReference};
use crate::tasks::numpy_mt19937::NumpyLegacyRng;
use crate::tasks::rows::{RowModel, RowShapes};
use crate::tasks::slcp::{self, Slcp};
use crate::train::{ProposalKind, Toggle, TrainConfig};

/// Length of x.
pub const X_DIM: usize = 100;
/// Entries of x that carry the slcp points.
pub const N_INFORMATIVE: usize = 8;
/// Distractor dimension d.
pub const N_DISTRACTORS: usize = X_DIM - N_INFORMATIVE;
/// Mixture components of the distractor density.
pub const N_COMPONENTS: usize = 20;
/// Degrees of freedom ν of each Student-t component.
pub const STUDENT_DF: f64 = 2.0;
/// numpy seed of sbibm's distractor parameters and permutation.
pub const DISTRACTOR_SEED: u32 = 42;

const SHAPES: RowShapes = RowShapes {
    task: "slcp_distractors",
    x_what: "slcp_distractors x",
    theta_what: "slcp_distractors theta",
    x_dim: X_DIM,
    theta_dim: 5,
};

/// The catalogue entry of `slcp_distractors` ([`crate::tasks::CATALOG`]).
pub const ENTRY: TaskEntry = TaskEntry {
    name: "slcp_distractors",
    build: || Ok(Box::new(SlcpDistractors::new())),
    reference: TaskReference::Smc,
    // slcp's four sign modes.
    base: BaseConfig::Cgmm { components: 4 },
    adjust: Some(adjust_settings),
    sign_symmetric: &slcp::SIGN_SYMMETRIC,
    sbibm: Some(Published { npe: [None, None, Some(0.863)], best: [None, None, Some((0.766, "SNRE"))] }),
};

/// slcp's proposal, tempering, learning rate, reverse-KL weight and budget
/// ([`slcp::adjust_settings`]: 16,000 steps of 256 observations × 8 draws); x is read as it is
/// (100 entries, no set moments: the points are scattered among the distractors), through an
/// MLP embedding (2 × 64 → 16). Measured on the benchmark's 5 observations (C2ST, 10,000
/// samples, seed 1): at this budget 0.620 ± 0.036 (0.749, 0.641, 0.566, 0.548, 0.595; 4.5·10⁸
/// likelihood evaluations); at the generic one (4000 steps of 64 × 16) with the embedding 0.765,
/// without 0.790 (`docs/embeddings.md`).
pub fn adjust_settings(flow: &mut FlowConfig, train: &mut TrainConfig) {
    flow.embedding = EmbeddingConfig::Mlp { width: 64, depth: 2, out: 16 };
    train.proposal.kind = ProposalKind::Adaptive;
    train.temper.mode = Toggle::On;
    train.lr = 2e-3;
    train.reverse_kl = 5.0;
    train.steps = 16_000;
    train.obs_per_step = 256;
    train.proposal.draws_per_obs = 8;
}

/// The distractor density p_D (module docs).
#[derive(Clone, Debug)]
struct Distractors {
    /// μ_c, N_COMPONENTS × d row-major.
    loc: Vec<f64>,
    /// L_c, N_COMPONENTS × d × d row-major (lower triangle used).
    scale_tril: Vec<f64>,
    /// log(1/20) + log Γ((ν+d)/2) − log Γ(ν/2) − (d/2) log(νπ) − Σ_i log|L_c,ii| per component.
    log_norm: Vec<f64>,
}

impl Distractors {
    /// sbibm's mixture and permutation from numpy's seed-42 stream (module docs).
    fn sbibm() -> (Self, Vec<usize>) {
        let d = N_DISTRACTORS;
        let mut rng = NumpyLegacyRng::new(DISTRACTOR_SEED);
        let loc: Vec<f64> = (0..N_COMPONENTS * d).map(|_| 15.0 * rng.next_gauss()).collect();
        let mut scale_tril = vec![0.0; N_COMPONENTS * d * d];
        for l in scale_tril.chunks_exact_mut(d * d) {
            for (i, row) in l.chunks_exact_mut(d).enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    let z = rng.next_gauss();
                    *v = if j <= i { 3.0 * z } else { 0.0 };
                }
            }
            for i in 0..d {
                l[i * d + i] += 3.0 * rng.next_gauss().exp();
            }
        }
        let permutation = rng.permutation(X_DIM as u32);
        let (nu, dim) = (STUDENT_DF, d as f64);
        let constant = ln_gamma(0.5 * (nu + dim))
            - ln_gamma(0.5 * nu)
            - 0.5 * dim * (nu * std::f64::consts::PI).ln()
            - (N_COMPONENTS as f64).ln();
        let log_norm = scale_tril
            .chunks_exact(d * d)
            .map(|l| constant - (0..d).map(|i| l[i * d + i].abs().ln()).sum::<f64>())
            .collect();
        (Self { loc, scale_tril, log_norm }, permutation)
    }

    /// log p_D(z).
    fn log_density(&self, z: &[f64]) -> f64 {
        let d = N_DISTRACTORS;
        let mut terms = [0.0; N_COMPONENTS];
        let mut w = [0.0; N_DISTRACTORS];
        for (c, term) in terms.iter_mut().enumerate() {
            let (mu, l) = (&self.loc[c * d..(c + 1) * d], &self.scale_tril[c * d * d..(c + 1) * d * d]);
            // w = L⁻¹(z − μ) by forward substitution.
            for i in 0..d {
                let row = &l[i * d..i * d + i];
                let s: f64 = row.iter().zip(&w[..i]).map(|(a, b)| a * b).sum();
                w[i] = (z[i] - mu[i] - s) / l[i * d + i];
            }
            let maha: f64 = w.iter().map(|v| v * v).sum();
            *term = self.log_norm[c] - 0.5 * (STUDENT_DF + d as f64) * (maha / STUDENT_DF).ln_1p();
        }
        log_sum_exp(&terms)
    }

    /// One draw z ~ p_D: a uniform component c, then μ_c + L_c w / √(χ²_ν/ν), w ~ N(0, I).
    fn sample(&self, rng: &mut Rng, z: &mut [f64]) {
        let d = N_DISTRACTORS;
        let c = rng.gen_range(0..N_COMPONENTS);
        let chi2: f64 = ChiSquared::new(STUDENT_DF).expect("ν > 0").sample(rng);
        let scale = (STUDENT_DF / chi2).sqrt();
        let mut w = [0.0; N_DISTRACTORS];
        for v in w.iter_mut() {
            *v = StandardNormal.sample(rng);
        }
        let (mu, l) = (&self.loc[c * d..(c + 1) * d], &self.scale_tril[c * d * d..(c + 1) * d * d]);
        for (i, zi) in z.iter_mut().enumerate() {
            let lw: f64 = l[i * d..i * d + i + 1].iter().zip(&w).map(|(a, b)| a * b).sum();
            *zi = mu[i] + scale * lw;
        }
    }
}

/// The `slcp_distractors` task (see the module docs).
#[derive(Clone, Debug)]
pub struct SlcpDistractors {
    slcp: Slcp,
    distractors: Distractors,
    /// P: x_i = v_{P(i)}, v = (slcp points, distractors).
    permutation: Vec<usize>,
    /// Where v's entries sit in x: x[position[k]] = v_k.
    position: Vec<usize>,
}

impl SlcpDistractors {
    /// sbibm's task, its distractor mixture and permutation rebuilt from numpy's stream.
    pub fn new() -> Self {
        let (distractors, permutation) = Distractors::sbibm();
        let mut position = vec![0; X_DIM];
        for (i, &k) in permutation.iter().enumerate() {
            position[k] = i;
        }
        Self { slcp: Slcp::new(), distractors, permutation, position }
    }

    /// sbibm's permutation P (x_i = v_{P(i)}).
    pub fn permutation(&self) -> &[usize] {
        &self.permutation
    }

    /// The entries of x holding the slcp points, in slcp's order (x₁ᵃ, x₁ᵇ, x₂ᵃ, …).
    pub fn informative_positions(&self) -> &[usize] {
        &self.position[..N_INFORMATIVE]
    }

    /// The slcp points s of x.
    pub fn points(&self, x: &[f64]) -> [f64; N_INFORMATIVE] {
        std::array::from_fn(|k| x[self.position[k]])
    }

    /// log p_D of x's distractors, the θ-independent part of log L(x|θ).
    pub fn distractor_log_density(&self, x: &[f64]) -> f64 {
        let z: [f64; N_DISTRACTORS] = std::array::from_fn(|m| x[self.position[N_INFORMATIVE + m]]);
        self.distractors.log_density(&z)
    }
}

impl Default for SlcpDistractors {
    fn default() -> Self {
        Self::new()
    }
}

impl Model for SlcpDistractors {
    fn name(&self) -> String {
        SHAPES.task.into()
    }

    fn theta_dim(&self) -> usize {
        SHAPES.theta_dim
    }

    fn x_dim(&self) -> usize {
        SHAPES.x_dim
    }

    fn prior(&self) -> &Prior {
        self.slcp.task_prior()
    }

    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        // Training repeats one x over a block of draws: its distractor density is computed once
        // per run of equal rows.
        let mut last: Option<([f64; X_DIM], f64)> = None;
        SHAPES.log_likelihood(x, theta, out, |x, t| {
            let log_p_d = match &last {
                Some((prev, v)) if prev[..] == *x => *v,
                _ => {
                    let v = self.distractor_log_density(x);
                    last = Some((x.try_into().expect("x has X_DIM entries (checked)"), v));
                    v
                }
            };
            slcp::log_likelihood_row(&self.points(x), t) + log_p_d
        })
    }

    fn log_likelihood_at(&self, x: &[f64], theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        let mut log_p_d = None;
        SHAPES.log_likelihood_at(x, theta, out, |x, t| {
            let log_p_d = *log_p_d.get_or_insert_with(|| self.distractor_log_density(x));
            slcp::log_likelihood_row(&self.points(x), t) + log_p_d
        })
    }

    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, x: MatMut<f64>) -> Result<()> {
        SHAPES.simulate(theta, rng, x, |t, rng, x| {
            let mut v = [0.0; X_DIM];
            self.slcp.row_simulate(t, rng, &mut v[..N_INFORMATIVE]);
            self.distractors.sample(rng, &mut v[N_INFORMATIVE..]);
            for (xi, &k) in x.iter_mut().zip(&self.permutation) {
                *xi = v[k];
            }
        })
    }
}
