//! The reference training step allocates nothing of its own after setup (counting global
//! allocator; its own test binary so no other test shares the allocator).
//!
//! The one allocation left is inside matrixmultiply: every `sgemm` call allocates (and frees) its
//! packing buffer. Per step that is one GEMM per (layer, chunk) in forward and two per backward
//! row tile: 8 layers × 4 chunks × (1 + 2 × 2 tiles) = 160. Anything else allocating per step
//! pushes the count above that.

use lwflow::bench::ReferenceStep;
use lwflow::nn::Activation;
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

/// matrixmultiply packing buffers per reference step (see the module doc).
const GEMM_CALLS_PER_STEP: usize = 160;

#[test]
fn reference_step_allocates_nothing_after_setup() {
    for act in [Activation::Silu, Activation::Relu] {
        let mut problem = ReferenceStep::new(act);
        problem.step(); // first use starts rayon's pool and matrixmultiply's thread-locals
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let mut loss = 0.0;
        for _ in 0..3 {
            loss = problem.step();
        }
        let count = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert!(loss.is_finite());
        assert!(count <= 3 * GEMM_CALLS_PER_STEP, "{act:?}: {count} allocations in 3 steps");
    }
}
