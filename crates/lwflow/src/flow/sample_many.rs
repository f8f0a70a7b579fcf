//! Posterior samples for many observations at once: θ_jk ~ q(θ | x_j), k < n, for every row x_j
//! of a matrix of observations — the point of an amortized posterior.
//!
//! Observation j is sampled exactly as [`Flow::sample`] samples it alone with the seed
//! [`observation_seed`]`(seed, j)`, so its draws depend only on (seed, j, x_j, n), never on the
//! other observations or on the thread count. Work is split into (observation, chunk of
//! [`CHUNK_ROWS`] draws) pieces run in parallel end to end, each through the flow's batched
//! kernels with its own stream, so 10⁶ draws keep both cores busy even when there are few
//! observations or few draws per observation.
//! [`importance_resample_many`] does the same for importance-corrected draws, observation by
//! observation (each one's importance sampler is parallel inside).

use rand::Rng as _;
use rayon::prelude::*;

use super::{Flow, CHUNK_ROWS};
use crate::error::{Error, Result};
use crate::importance::{importance_resample, ImportanceConfig, ImportanceDiagnostics};
use crate::mat::{Mat, MatRef};
use crate::model::Model;
use crate::real::Real;
use crate::rng::{stream, Stream};

/// The seed observation `j` of a many-observation call is sampled with: `seed` itself for the
/// first (so a file of one observation gives what a single `x` gives), a value drawn from its
/// own stream (seed, [`Stream::Sample`], j) for the others, so observations get independent draws.
pub fn observation_seed(seed: u64, j: usize) -> u64 {
    if j == 0 {
        seed
    } else {
        // Step j ≥ 1 of the Sample purpose: single-observation sampling uses step 0 only.
        stream(seed, Stream::Sample, j as u64, u64::MAX).gen()
    }
}

/// Rows of an (n_obs·n) × d sample matrix, within the limit on values written
/// ([`crate::limits::check_sample_values`]).
fn sample_rows(n_obs: usize, n: usize, d: usize) -> Result<usize> {
    let total = n_obs.checked_mul(n).ok_or_else(|| Error::invalid("observations × samples", "overflows"))?;
    crate::limits::check_sample_values("samples (--num, times the observations)", total, d)?;
    Ok(total)
}

impl<T: Real> Flow<T> {
    /// `n` draws θ ~ q(·|x_j) for every row x_j of `x` (n_obs × x_dim), as an (n_obs·n) × d
    /// matrix: rows j·n .. (j+1)·n are observation j's, the same as
    /// `self.sample(x_j, n, observation_seed(seed, j))` (module docs).
    pub fn sample_many(&self, x: MatRef<f64>, n: usize, seed: u64) -> Result<Mat<f64>> {
        self.check_x(x)?;
        let d = self.theta_dim();
        let n_obs = x.rows();
        let total = sample_rows(n_obs, n, d)?;
        let width = self.context_width();
        let mut ctx = vec![T::zero(); n_obs * width];
        for (j, ctx_row) in ctx.chunks_exact_mut(width.max(1)).enumerate().take(n_obs) {
            self.context_into(x.row(j), ctx_row);
        }
        let mut out = Mat::zeros(total, d);
        if total == 0 {
            return Ok(out);
        }
        // One flat list of (observation, chunk) pieces: no parallelism nested inside another.
        let pieces = out.as_mut_slice().chunks_mut(n * d).enumerate().flat_map(|(j, obs_rows)| {
            obs_rows.chunks_mut(CHUNK_ROWS * d).enumerate().map(move |(c, rows)| (j, c, rows))
        });
        let pieces: Vec<(usize, usize, &mut [f64])> = pieces.collect();
        pieces.into_par_iter().for_each(|(j, c, rows)| {
            let ctx_row = &ctx[j * width..(j + 1) * width];
            let mut rng = stream(observation_seed(seed, j), Stream::Sample, 0, c as u64);
            self.sample_rows_into(ctx_row, &mut rng, rows);
        });
        for j in 0..n_obs {
            crate::finite::check_samples(self, x.row(j), out.as_ref().rows_range(j * n, n))?;
        }
        Ok(out)
    }
}

/// Importance-corrected draws for many observations: `n` for each row x_j of `x`, from
/// [`importance_resample`] with the seed [`observation_seed`]`(seed, j)`, as an (n_obs·n) × d
/// matrix (rows j·n .. (j+1)·n are observation j's) with each observation's diagnostics.
/// Observations run one after another: each sampler is parallel inside, and a model whose
/// likelihood is a single process or interpreter gains nothing from more at once.
pub fn importance_resample_many<T: Real>(
    model: &dyn Model,
    flow: &Flow<T>,
    x: MatRef<f64>,
    n: usize,
    cfg: &ImportanceConfig,
    seed: u64,
) -> Result<(Mat<f64>, Vec<ImportanceDiagnostics>)> {
    flow.check_x(x)?;
    let d = flow.theta_dim();
    let total = sample_rows(x.rows(), n, d)?;
    let mut out = Mat::zeros(total, d);
    let mut diagnostics = Vec::with_capacity(x.rows());
    for j in 0..x.rows() {
        let corrected = importance_resample(model, flow, x.row(j), n, cfg, observation_seed(seed, j))?;
        out.as_mut().rows_range_mut(j * n, n).copy_from(corrected.samples.as_ref());
        diagnostics.push(corrected.diagnostics);
    }
    Ok((out, diagnostics))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{BaseConfig, FlowConfig, Standardizer};
    use crate::model::Prior;

    /// A flow with random (not identity) parameters, so draws depend on x.
    fn random_flow() -> Flow<f32> {
        let prior = Prior::uniform_box(2, -3.0, 3.0).expect("valid box");
        let cfg = FlowConfig::new(2, 2, BaseConfig::Cgmm { components: 3 });
        let norm = Standardizer { mean: vec![0.5, 0.5], std: vec![1.5, 1.5] };
        let mut flow = Flow::<f32>::new(cfg, &prior, norm, 1).expect("valid config");
        let mut rng = stream(9, Stream::Init, 0, 0);
        for p in flow.params_mut() {
            *p = rng.gen_range(-0.3f32..0.3);
        }
        flow
    }

    fn observations(n_obs: usize) -> Mat<f64> {
        Mat::from_fn(n_obs, 2, |j, k| 0.3 * j as f64 - 0.5 * k as f64)
    }

    #[test]
    fn each_observation_is_its_single_sample_with_its_seed() {
        let flow = random_flow();
        let x = observations(4);
        // 600 draws: three chunks per observation, the last one short.
        let many = flow.sample_many(x.as_ref(), 600, 5).expect("samples");
        assert_eq!((many.rows(), many.cols()), (4 * 600, 2));
        for j in 0..4 {
            let alone = flow.sample(x.row(j), 600, observation_seed(5, j)).expect("samples");
            assert_eq!(many.as_ref().rows_range(j * 600, 600).to_owned().as_slice(), alone.as_slice(), "obs {j}");
        }
        assert_eq!(observation_seed(5, 0), 5);
    }

    #[test]
    fn observations_get_independent_draws() {
        let flow = random_flow();
        let same = Mat::from_fn(2, 2, |_, k| k as f64);
        let many = flow.sample_many(same.as_ref(), 50, 1).expect("samples");
        assert_ne!(many.row(0), many.row(50), "the same x twice must not repeat its draws");
    }

    #[test]
    fn draws_do_not_depend_on_the_thread_count() {
        let flow = random_flow();
        let x = observations(7);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            pool.install(|| flow.sample_many(x.as_ref(), 300, 3).expect("samples"))
        };
        assert_eq!(on(1).as_slice(), on(3).as_slice());
    }

    #[test]
    fn bad_observations_are_errors_naming_them() {
        let flow = random_flow();
        let wrong_width = Mat::zeros(3, 3);
        assert!(matches!(
            flow.sample_many(wrong_width.as_ref(), 10, 1),
            Err(Error::Shape { what: "observation", expected: 2, got: 3 })
        ));
        let mut nan = observations(3);
        nan.row_mut(2)[1] = f64::NAN;
        let message = flow.sample_many(nan.as_ref(), 10, 1).expect_err("NaN x").to_string();
        assert!(message.contains("observation row 2"), "{message}");
        let none = flow.sample_many(Mat::zeros(0, 2).as_ref(), 10, 1).expect("no observations, no draws");
        assert_eq!(none.rows(), 0);
    }
}
