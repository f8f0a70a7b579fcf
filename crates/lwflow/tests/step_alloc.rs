//! The training step allocates nothing of its own after the first step of each kind (counting
//! global allocator; its own test binary with a single test, so nothing else allocates while it
//! counts).
//!
//! Some allocations are not ours: matrixmultiply allocates (and frees) a packing buffer inside
//! every GEMM call, so each count below must equal the GEMM calls made in the same span
//! (`lwflow::mat::gemm_calls`). All steps run inside one rayon pool (`install`): started
//! from outside a pool, every parallel pass pushes a job onto rayon's global queue, which
//! allocates a block each time 63 slots have filled; and a pool's threads allocate as they shut
//! down, so a second pool would have to outlive the first one's teardown.

use lwflow::embed::EmbeddingConfig;
use lwflow::flow::{BaseConfig, Flow, FlowConfig};
use lwflow::mat::gemm_calls;
use lwflow::nn::Activation;
use lwflow::speed::ReferenceStep;
use lwflow::train::{
    prior_predictive_standardizer, ProposalConfig, ProposalKind, TemperConfig, Toggle, TrainConfig, Trainer,
};
use lwflow::weights::BatchLayout;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, GEMM calls) during `f`.
fn count<R>(f: impl FnOnce() -> R) -> (usize, usize, R) {
    let (a0, g0) = (ALLOCATIONS.load(Ordering::Relaxed), gemm_calls());
    let r = f();
    (ALLOCATIONS.load(Ordering::Relaxed) - a0, gemm_calls() - g0, r)
}

/// The speed benchmark's reference step (`lwflow::speed`), after one step.
fn reference_step(act: Activation) {
    let mut problem = ReferenceStep::new(act);
    problem.step();
    let (allocs, gemms, loss) = count(|| (0..3).map(|_| problem.step()).last().expect("three steps"));
    assert!(loss.is_finite());
    assert!(gemms > 0, "{act:?}: no GEMM counted");
    assert_eq!(allocs, gemms, "{act:?}: {allocs} allocations in 3 steps, {gemms} of them GEMM packing buffers");
}

/// A small run on square2d with pairs picked by `layout`: 4 spline couplings with 16-unit conditioners, a 2-component
/// mixture base, 8 observations per step, validation every 4 steps, tempering on.
fn small_run(
    proposal: ProposalConfig,
    layout: BatchLayout,
    embedding: EmbeddingConfig,
) -> (Box<dyn lwflow::Model>, Flow<f32>, TrainConfig) {
    let model = lwflow::tasks::by_name("square2d").expect("built-in task");
    let flow_cfg = FlowConfig {
        embedding,
        n_layers: 4,
        hidden: vec![16, 16],
        ..FlowConfig::new(model.theta_dim(), model.x_dim(), BaseConfig::Gmm { components: 2 })
    };
    let norm = prior_predictive_standardizer(model.as_ref(), &flow_cfg, 1000, 1).expect("standardizer");
    let flow = Flow::<f32>::new(flow_cfg, model.prior(), norm, 1).expect("flow");
    let cfg = TrainConfig {
        steps: 16,
        obs_per_step: 8,
        thetas_per_step: 256,
        pairs_per_obs: 16,
        layout,
        val_every: 4,
        val_obs: 8,
        proposal,
        temper: TemperConfig { mode: Toggle::On, ..TemperConfig::default() },
        ..TrainConfig::default()
    };
    (model, flow, cfg)
}

/// Steps `first` (allocating their buffers) uncounted, then counts steps up to 12: two
/// validations (steps 8 and 12) fall inside the counted span. Returns (allocations, GEMM
/// calls, adaptive steps) of the counted span.
fn count_steps(
    proposal: ProposalConfig,
    layout: BatchLayout,
    first: usize,
    embedding: EmbeddingConfig,
) -> (usize, usize, usize) {
    let (model, mut flow, cfg) = small_run(proposal, layout, embedding);
    let mut trainer = Trainer::new(model.as_ref(), &mut flow, &cfg).expect("valid settings");
    for _ in 0..first {
        trainer.step().expect("step");
    }
    let (allocs, gemms, adaptive) = count(|| {
        let mut adaptive = 0;
        while trainer.steps_run() < 12 {
            adaptive += usize::from(trainer.step().expect("step").adaptive);
        }
        adaptive
    });
    assert_eq!(trainer.finish().steps_run, 12);
    (allocs, gemms, adaptive)
}

#[test]
fn training_steps_allocate_only_gemm_packing_buffers() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("thread pool");
    pool.install(|| {
        reference_step(Activation::Silu);
        reference_step(Activation::Relu);

        for layout in [BatchLayout::Resample, BatchLayout::TopWeights] {
            let (allocs, gemms, adaptive) = count_steps(ProposalConfig::prior(), layout, 1, EmbeddingConfig::None);
            assert_eq!(adaptive, 0);
            assert!(gemms > 0, "prior proposal, {layout:?}: no GEMM counted");
            assert_eq!(
                allocs, gemms,
                "prior proposal, {layout:?}: {allocs} allocations in 11 steps, {gemms} of them GEMM packing buffers"
            );
        }

        // Adaptive from step 5 (warm-up 0.25 of 16 steps); steps 1–5 set up both kinds of buffers.
        let proposal = ProposalConfig {
            kind: ProposalKind::Adaptive,
            warmup: 0.25,
            draws_per_obs: 32,
            ..ProposalConfig::default()
        };
        let (allocs, gemms, adaptive) = count_steps(proposal.clone(), BatchLayout::Resample, 5, EmbeddingConfig::None);
        assert_eq!(adaptive, 7, "steps 6–12 draw from the adaptive proposal");
        assert!(gemms > 0, "adaptive proposal: no GEMM counted");
        assert_eq!(
            allocs, gemms,
            "adaptive proposal: {allocs} allocations in 7 steps, {gemms} of them GEMM packing buffers"
        );
        // A learned embedding of x (evaluated per observation, in training and in the proposal's
        // sampling) allocates nothing either.
        let mlp = EmbeddingConfig::Mlp { width: 16, depth: 1, out: 4 };
        let (allocs, gemms, adaptive) = count_steps(proposal, BatchLayout::Resample, 5, mlp);
        assert_eq!(adaptive, 7);
        assert_eq!(
            allocs, gemms,
            "mlp embedding: {allocs} allocations in 7 steps, {gemms} of them GEMM packing buffers"
        );
    });
}
