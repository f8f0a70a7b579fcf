//! Training-step speed: the reference step lwflow's speed is measured on (`lwflow bench step`,
//! `cargo bench --bench step`), reproducing `torch_step.py` (its PyTorch peer, in the shared
//! bench directory) exactly: parameter dim D = 3, context dim C = 3, 8 affine couplings with
//! contiguous alternating masks (even layers condition on column 0 and transform 1..3 =
//! [`Split::Lower`], n_cond 1; odd layers condition on column 2 and transform 0..2 =
//! [`Split::Upper`], n_cond 1), conditioner MLP [1 + 3] → 128 → 128 → 4, log-scale
//! s = tanh(raw) (scale bound 1), standard normal base, weighted NLL −Σ w·log q / Σ w over a
//! batch of B = 1024, f32, Adam with lr 1e-3.
//!
//! Weights and data come from the same splitmix64 stream and formulas as the Python script
//! (same order of draws; PyTorch's w is [in, out] for `x @ w`, which is our flat layout), so the
//! loss trajectory matches PyTorch's up to f32 rounding.
//!
//! The flow is a [`Flow`] and the step is the trainer's own: the chunked forward and backward
//! passes of [`crate::train`] (fixed chunks of [`crate::flow::CHUNK_ROWS`] rows, gradients
//! reduced in chunk order), then Adam — so what is timed here is what training runs. Nothing is
//! allocated per step after setup except the packing buffer matrixmultiply allocates inside each
//! `sgemm` call (`tests/step_alloc.rs`).

use std::time::Instant;

use crate::flow::{AffineCoupling, BaseConfig, CouplingConfig, Flow, FlowConfig, LayerKind, Split, Standardizer};
use crate::mat::Mat;
use crate::model::{Marginal, Prior};
use crate::nn::{Activation, Adam};
use crate::train::chunks::{backward_chunks, forward_chunks, Chunk};

const DIM: usize = 3;
const CTX_DIM: usize = 3;
const N_LAYERS: usize = 8;
const HIDDEN: usize = 128;
const N_BATCH: usize = 1024;
const LR: f64 = 1e-3;
const PARAM_SEED: u64 = 42;
const DATA_SEED: u64 = 7;

/// Timing and loss trajectory of [`reference_step`].
#[derive(Clone, Debug)]
pub struct StepBench {
    /// Median wall time of one timed step, milliseconds.
    pub median_ms: f64,
    /// Fastest timed step, milliseconds.
    pub min_ms: f64,
    /// Slowest timed step, milliseconds.
    pub max_ms: f64,
    /// Timed steps (after warm-up).
    pub steps: usize,
    /// Loss of every step, warm-up included (`losses[0]` is the loss at the initial parameters).
    pub losses: Vec<f64>,
}

impl StepBench {
    /// One line in torch_step.py's format plus `median_ms=… min_ms=… max_ms=…`.
    pub fn summary(&self, label: &str) -> String {
        let l = &self.losses;
        format!(
            "RESULT {label}: steps={} median={:.3} ms  min={:.3}  max={:.3}  | loss[0]={:.6} loss[5]={:.6} loss[last]={:.6}  median_ms={:.4} min_ms={:.4} max_ms={:.4}",
            self.steps,
            self.median_ms,
            self.min_ms,
            self.max_ms,
            l[0],
            l[5.min(l.len() - 1)],
            l[l.len() - 1],
            self.median_ms,
            self.min_ms,
            self.max_ms
        )
    }
}

/// torch_step.py's `Rng`: splitmix64 with uniform = (next >> 11) / 2⁵³, Box–Muller normals.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn sym(&mut self) -> f64 {
        2.0 * self.uniform() - 1.0
    }
    fn gauss(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// torch_step.py's `init_params`: per layer w1 (n_in × h), b1, w2 (h × h), b2 (scale 1) and
/// w3 (h × n_out), b3 (scale 0.3), each entry sym()·scale/√fan_in, rounded to f32.
fn torch_init_params(flow: &Flow<f32>, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    let (n_in, n_out) = (DIM / 2 + CTX_DIM, 2 * (DIM - DIM / 2));
    let mut p = Vec::new();
    let mut draw = |p: &mut Vec<f32>, n: usize, fan_in: usize, scale: f64| {
        let k = scale / (fan_in as f64).sqrt();
        p.extend((0..n).map(|_| (rng.sym() * k) as f32));
    };
    for _ in 0..N_LAYERS {
        draw(&mut p, n_in * HIDDEN, n_in, 1.0);
        draw(&mut p, HIDDEN, n_in, 1.0);
        draw(&mut p, HIDDEN * HIDDEN, HIDDEN, 1.0);
        draw(&mut p, HIDDEN, HIDDEN, 1.0);
        draw(&mut p, HIDDEN * n_out, HIDDEN, 0.3);
        draw(&mut p, n_out, HIDDEN, 0.3);
    }
    assert_eq!(p.len(), flow.n_params(), "torch layout must match the couplings' flat layout");
    p
}

/// torch_step.py's `make_data`: ctx ~ U(−1, 1)³ (rounded to f32), x_k = 0.8c + 0.3c² + 0.4·N(0, 1)
/// with c = ctx[k mod C], weights 0.25 + U(0, 1).
fn torch_make_data(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64(seed);
    let (mut x, mut ctx, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let row: Vec<f64> = (0..CTX_DIM).map(|_| rng.sym() as f32 as f64).collect();
        ctx.extend(row.iter().map(|&c| c as f32));
        for k in 0..DIM {
            let c = row[k % CTX_DIM];
            x.push((0.8 * c + 0.3 * c * c + 0.4 * rng.gauss()) as f32);
        }
        w.push((0.25 + rng.uniform()) as f32);
    }
    (x, ctx, w)
}

/// The reference flow: [`N_LAYERS`] affine couplings with contiguous alternating halves (even
/// layers condition on column 0, odd layers on column 2, each transforming the other two), no
/// permutations, standard normal base, context taken as given (zero mean, unit scale).
fn reference_flow(act: Activation) -> Flow<f32> {
    let layers = (0..N_LAYERS)
        .map(|l| {
            let split = if l % 2 == 0 { Split::Lower } else { Split::Upper };
            LayerKind::Affine(AffineCoupling::new(DIM, DIM / 2, split, CTX_DIM, &[HIDDEN, HIDDEN], act, 1.0))
        })
        .collect();
    let config = FlowConfig {
        n_layers: N_LAYERS,
        hidden: vec![HIDDEN, HIDDEN],
        activation: act,
        coupling: CouplingConfig::Affine { scale_bound: 1.0 },
        ..FlowConfig::new(DIM, CTX_DIM, BaseConfig::Gaussian)
    };
    let prior = Prior::new(vec![Marginal::Normal { mean: 0.0, std: 1.0 }; DIM]).expect("N(0, 1) is a valid marginal");
    let identity = Standardizer { mean: vec![0.0; CTX_DIM], std: vec![1.0; CTX_DIM] };
    Flow::from_layers(config, &prior, identity, layers).expect("the reference flow's shapes agree")
}

/// The reference problem set up for training: flow, parameters, data, the trainer's per-chunk
/// buffers ([`crate::train`]'s chunked passes), Adam. Everything is allocated in
/// [`ReferenceStep::new`]; [`ReferenceStep::step`] allocates nothing of its own.
pub struct ReferenceStep {
    flow: Flow<f32>,
    params: Vec<f32>,
    x: Mat<f32>,
    ctx: Mat<f32>,
    /// Loss weights w / Σw, so the weighted NLL −Σ w log q is torch_step.py's −Σ w log q / Σ w.
    w: Vec<f32>,
    chunks: Vec<Chunk<f32>>,
    grad: Vec<f32>,
    adam: Adam<f32>,
}

impl ReferenceStep {
    /// torch_step.py's flow, parameters (seed 42) and data (seed 7) with hidden activation `act`.
    pub fn new(act: Activation) -> Self {
        let flow = reference_flow(act);
        let params = torch_init_params(&flow, PARAM_SEED);
        let (x, ctx, w) = torch_make_data(N_BATCH, DATA_SEED);
        let w_sum: f64 = w.iter().map(|&w| w as f64).sum();
        let w = w.iter().map(|&w| (w as f64 / w_sum) as f32).collect();
        let (x, ctx) = (Mat::from_vec(N_BATCH, DIM, x), Mat::from_vec(N_BATCH, CTX_DIM, ctx));
        let n_params = params.len();
        Self {
            chunks: Chunk::for_rows(&flow, N_BATCH),
            flow,
            params,
            x,
            ctx,
            w,
            grad: vec![0.0; n_params],
            adam: Adam::new(n_params, LR),
        }
    }

    /// One training step (chunks in parallel, gradients reduced in chunk order, Adam); returns
    /// the loss at the parameters before the update.
    pub fn step(&mut self) -> f64 {
        let Self { flow, params, x, ctx, w, chunks, grad, adam } = self;
        forward_chunks(flow, params, x, ctx, chunks);
        let loss = backward_chunks(flow, params, w, chunks, Some(grad));
        adam.step(params, grad);
        loss
    }
}

/// Runs `warmup + steps` training steps of the reference problem and times the last `steps`
/// (each: zero gradients, forward, loss, backward, chunk-ordered reduction, Adam).
pub fn reference_step(warmup: usize, steps: usize, act: Activation) -> StepBench {
    let mut problem = ReferenceStep::new(act);
    let mut times = Vec::with_capacity(steps);
    let mut losses = Vec::with_capacity(warmup + steps);
    for it in 0..warmup + steps {
        let t0 = Instant::now();
        let loss = problem.step();
        let dt = t0.elapsed().as_secs_f64() * 1e3;
        losses.push(loss);
        if it >= warmup {
            times.push(dt);
        }
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let median_ms = if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        times[n / 2]
    } else {
        0.5 * (times[n / 2 - 1] + times[n / 2])
    };
    StepBench {
        median_ms,
        min_ms: times.first().copied().unwrap_or(f64::NAN),
        max_ms: times.last().copied().unwrap_or(f64::NAN),
        steps: n,
        losses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_python_stream() {
        // First outputs of splitmix64 seeded with 0 (reference values of the algorithm).
        let mut r = SplitMix64(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn losses_are_bitwise_identical_on_any_thread_count() {
        let run = |threads: usize| -> Vec<f64> {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
            pool.install(|| {
                let mut problem = ReferenceStep::new(Activation::Silu);
                (0..3).map(|_| problem.step()).collect()
            })
        };
        let (one, three) = (run(1), run(3));
        assert_eq!(
            one.iter().map(|l| l.to_bits()).collect::<Vec<_>>(),
            three.iter().map(|l| l.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn first_loss_matches_pytorch() {
        // torch_step.py (torch 2.15, f32) prints loss[0]=3.292956 for SiLU, 3.238662 for ReLU.
        let silu = reference_step(0, 1, Activation::Silu);
        assert!((silu.losses[0] - 3.292956).abs() < 1e-4, "silu loss[0] = {}", silu.losses[0]);
        let relu = reference_step(0, 1, Activation::Relu);
        assert!((relu.losses[0] - 3.238662).abs() < 1e-4, "relu loss[0] = {}", relu.losses[0]);
    }
}
