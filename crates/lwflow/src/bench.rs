//! The reference training step, the workload lwflow's speed is measured on, reproducing
//! `bench/torch_step.py` (its PyTorch peer) exactly: parameter dim D = 3, context dim C = 3,
//! 8 affine couplings with contiguous alternating masks (even layers condition on column 0 and
//! transform 1..3 = [`Split::Lower`], n_cond 1; odd layers condition on column 2 and transform
//! 0..2 = [`Split::Upper`], n_cond 1), conditioner MLP [1 + 3] → 128 → 128 → 4, log-scale
//! s = tanh(raw) (scale bound 1), standard normal base, weighted NLL −Σ w·log q / Σ w over a
//! batch of B = 1024, f32, Adam with lr 1e-3.
//!
//! Weights and data come from the same splitmix64 stream and formulas as the Python script
//! (same order of draws; PyTorch's w is [in, out] for `x @ w`, which is our flat layout), so the
//! loss trajectory matches PyTorch's up to f32 rounding.
//!
//! The step runs rows in fixed chunks of [`CHUNK_ROWS`] with rayon (chunk size independent of
//! the thread count), each chunk with its own preallocated workspace and gradient; gradients are
//! reduced in chunk order, then Adam. Nothing is allocated per step after setup except the
//! packing buffer matrixmultiply allocates inside each `sgemm` call (`tests/step_alloc.rs`).
//!
//! Where the time goes (perf, one thread, SiLU): ≈ 42 % matrixmultiply's AVX-512 sgemm kernel
//! and ≈ 9 % its packing (three 256×128×128 products per layer and chunk: h₁W₂, h₁ᵀ∂z₂, ∂z₂W₂ᵀ);
//! ≈ 16 % the forward elementwise work (bias + SiLU with its division, the 4→128 and 128→4 row
//! loops); ≈ 16 % backward elementwise work, mostly bound by reading the stored activations and
//! derivatives back (≈ 4 MB of workspace per chunk, more than L2); ≈ 5 % memset/memcpy
//! (gradient zeroing, the backward stack scratch). Rayon overhead is not visible.

use crate::flow::{AffineCoupling, Layer, Split};
use crate::mat::{MatMut, MatRef};
use crate::nn::{Activation, Adam};
use rayon::prelude::*;
use std::time::Instant;

const DIM: usize = 3;
const CTX_DIM: usize = 3;
const N_LAYERS: usize = 8;
const HIDDEN: usize = 128;
const N_BATCH: usize = 1024;
const LR: f64 = 1e-3;
const PARAM_SEED: u64 = 42;
const DATA_SEED: u64 = 7;
/// Rows per parallel chunk (fixed: results do not depend on the thread count).
pub const CHUNK_ROWS: usize = 256;

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
fn torch_init_params(layers: &[AffineCoupling], seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    let (n_in, n_out) = (DIM / 2 + CTX_DIM, 2 * (DIM - DIM / 2));
    let mut p = Vec::new();
    let mut draw = |p: &mut Vec<f32>, n: usize, fan_in: usize, scale: f64| {
        let k = scale / (fan_in as f64).sqrt();
        p.extend((0..n).map(|_| (rng.sym() * k) as f32));
    };
    for _ in layers {
        draw(&mut p, n_in * HIDDEN, n_in, 1.0);
        draw(&mut p, HIDDEN, n_in, 1.0);
        draw(&mut p, HIDDEN * HIDDEN, HIDDEN, 1.0);
        draw(&mut p, HIDDEN, HIDDEN, 1.0);
        draw(&mut p, HIDDEN * n_out, HIDDEN, 0.3);
        draw(&mut p, n_out, HIDDEN, 0.3);
    }
    let total: usize = layers.iter().map(Layer::<f32>::n_params).sum();
    assert_eq!(p.len(), total, "torch layout must match the couplings' flat layout");
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

/// Preallocated buffers of one row chunk.
struct Chunk {
    start: usize,
    rows: usize,
    /// Layer outputs z_1 … z_L (rows × DIM each).
    z: Vec<f32>,
    /// One workspace per layer.
    ws: Vec<f32>,
    ws_len: usize,
    log_det: Vec<f32>,
    d_log_det: Vec<f32>,
    d_a: Vec<f32>,
    d_b: Vec<f32>,
    grad: Vec<f32>,
    loss: f64,
}

impl Chunk {
    fn new(start: usize, rows: usize, layers: &[AffineCoupling], n_params: usize) -> Self {
        let ws_len = Layer::<f32>::workspace_len(&layers[0], rows);
        Self {
            start,
            rows,
            z: vec![0.0; N_LAYERS * rows * DIM],
            ws: vec![0.0; N_LAYERS * ws_len],
            ws_len,
            log_det: vec![0.0; rows],
            d_log_det: vec![0.0; rows],
            d_a: vec![0.0; rows * DIM],
            d_b: vec![0.0; rows * DIM],
            grad: vec![0.0; n_params],
            loss: 0.0,
        }
    }

    /// Forward, weighted NLL and backward of this chunk's rows; gradient into `self.grad`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        layers: &[AffineCoupling],
        offsets: &[usize],
        p: &[f32],
        x: &[f32],
        ctx: &[f32],
        w: &[f32],
        w_sum: f64,
    ) {
        let (n, r0) = (self.rows, self.start);
        let x = MatRef::new(&x[r0 * DIM..(r0 + n) * DIM], n, DIM);
        let ctx = MatRef::new(&ctx[r0 * CTX_DIM..(r0 + n) * CTX_DIM], n, CTX_DIM);
        let w = &w[r0..r0 + n];
        let param = |l: usize| &p[offsets[l]..offsets[l + 1]];
        self.log_det.fill(0.0);
        for (l, layer) in layers.iter().enumerate() {
            let (done, rest) = self.z.split_at_mut(l * n * DIM);
            let u = if l == 0 { x } else { MatRef::new(&done[(l - 1) * n * DIM..], n, DIM) };
            let v = MatMut::new(&mut rest[..n * DIM], n, DIM);
            let ws = &mut self.ws[l * self.ws_len..(l + 1) * self.ws_len];
            layer.forward(param(l), u, ctx, v, &mut self.log_det, ws);
        }
        // Standard normal base: log q = −½|z|² − (D/2)·ln 2π + log_det; loss = −Σ w log q / Σ w.
        let log_norm = -0.5 * DIM as f64 * (2.0 * std::f64::consts::PI).ln();
        let z = &self.z[(N_LAYERS - 1) * n * DIM..];
        let inv_w_sum = (1.0 / w_sum) as f32;
        self.loss = 0.0;
        for r in 0..n {
            let z_r = &z[r * DIM..(r + 1) * DIM];
            let sq: f32 = z_r.iter().map(|v| v * v).sum();
            let log_q = -0.5 * sq as f64 + log_norm + self.log_det[r] as f64;
            self.loss -= w[r] as f64 * log_q / w_sum;
            // ∂loss/∂z = w z / Σw, ∂loss/∂log_det = −w / Σw.
            let c = w[r] * inv_w_sum;
            for (d, &zv) in self.d_a[r * DIM..(r + 1) * DIM].iter_mut().zip(z_r) {
                *d = c * zv;
            }
            self.d_log_det[r] = -c;
        }
        self.grad.fill(0.0);
        let (mut d_v, mut d_u) = (&mut self.d_a, &mut self.d_b);
        for (l, layer) in layers.iter().enumerate().rev() {
            let ws = &self.ws[l * self.ws_len..(l + 1) * self.ws_len];
            let d_p = &mut self.grad[offsets[l]..offsets[l + 1]];
            layer.backward(param(l), ws, MatRef::new(d_v, n, DIM), &self.d_log_det, MatMut::new(d_u, n, DIM), d_p);
            std::mem::swap(&mut d_v, &mut d_u);
        }
    }
}

/// The couplings of the reference flow.
fn reference_layers(act: Activation) -> Vec<AffineCoupling> {
    (0..N_LAYERS)
        .map(|l| {
            let split = if l % 2 == 0 { Split::Lower } else { Split::Upper };
            AffineCoupling::new(DIM, DIM / 2, split, CTX_DIM, &[HIDDEN, HIDDEN], act, 1.0)
        })
        .collect()
}

/// The reference problem set up for training: flow, parameters, data, per-chunk buffers, Adam.
/// Everything is allocated in [`ReferenceStep::new`]; [`ReferenceStep::step`] allocates nothing.
pub struct ReferenceStep {
    layers: Vec<AffineCoupling>,
    offsets: Vec<usize>,
    p: Vec<f32>,
    x: Vec<f32>,
    ctx: Vec<f32>,
    w: Vec<f32>,
    w_sum: f64,
    chunks: Vec<Chunk>,
    grad: Vec<f32>,
    adam: Adam<f32>,
}

impl ReferenceStep {
    /// torch_step.py's flow, parameters (seed 42) and data (seed 7) with hidden activation `act`.
    pub fn new(act: Activation) -> Self {
        let layers = reference_layers(act);
        let mut offsets = vec![0];
        for layer in &layers {
            offsets.push(offsets.last().expect("starts with 0") + Layer::<f32>::n_params(layer));
        }
        let n_params = offsets[N_LAYERS];
        let p = torch_init_params(&layers, PARAM_SEED);
        let (x, ctx, w) = torch_make_data(N_BATCH, DATA_SEED);
        let w_sum: f64 = w.iter().map(|&w| w as f64).sum();
        let chunks = (0..N_BATCH)
            .step_by(CHUNK_ROWS)
            .map(|start| Chunk::new(start, CHUNK_ROWS.min(N_BATCH - start), &layers, n_params))
            .collect();
        Self { layers, offsets, p, x, ctx, w, w_sum, chunks, grad: vec![0.0; n_params], adam: Adam::new(n_params, LR) }
    }

    /// One training step (chunks in parallel, gradients reduced in chunk order, Adam); returns
    /// the loss at the parameters before the update.
    pub fn step(&mut self) -> f64 {
        let Self { layers, offsets, p, x, ctx, w, w_sum, chunks, grad, adam } = self;
        chunks.par_iter_mut().for_each(|c| c.run(layers, offsets, p, x, ctx, w, *w_sum));
        grad.copy_from_slice(&chunks[0].grad);
        for c in &chunks[1..] {
            grad.iter_mut().zip(&c.grad).for_each(|(g, &d)| *g += d);
        }
        adam.step(p, grad);
        chunks.iter().map(|c| c.loss).sum()
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
