//! Property tests for the base distributions: gradients vs central differences (f64), density
//! normalisation on a grid, sample moments, stability for huge |z|, f32 vs f64, the generic
//! mixture initialisation's separation, and zero allocations in `log_prob` / `backward`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lwflow::base::{
    Base, ConditionalMixture, GaussianMixture, StandardNormal, INIT_RADIUS, INIT_SEPARATION, LOG_SCALE_BOUND,
};
use lwflow::nn::Activation;
use lwflow::rng::{stream, Rng, Stream};
use lwflow::testing::{assert_all_close, numerical_gradient, FD_REL_TOL};
use lwflow::{Mat, MatMut, MatRef, Real};
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal as StdNormalDist};

/// Tolerance of a grid integral of a density (midpoint rule; the box tails are < 1e-12).
const INTEGRAL_TOL: f64 = 1e-3;
/// Sample-moment checks allow this many standard errors.
const MOMENT_SE: f64 = 5.0;
/// f32 results must match f64 within this many f32 epsilons (relative to the value's scale).
const F32_EPS_FACTOR: f64 = 64.0;

// ---- a thread-local counting allocator (tests in this binary run on several threads) ----

struct CountingAlloc;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocs_on_this_thread() -> usize {
    ALLOCS.with(|c| c.get())
}

// ---- helpers ----

fn rng(tag: u64) -> Rng {
    stream(tag, Stream::Metric, 0, 0)
}

fn normal(rng: &mut Rng) -> f64 {
    StdNormalDist.sample(rng)
}

fn cast<T: Real>(xs: &[f64]) -> Vec<T> {
    xs.iter().map(|&v| T::lit(v)).collect()
}

fn to_f64<T: Real>(xs: &[T]) -> Vec<f64> {
    xs.iter().map(|v| v.to_f64_lossless()).collect()
}

/// log q for each row of `z` (n_batch × dim, row-major).
fn log_q_of<T: Real>(base: &dyn Base<T>, p: &[T], z: &[T]) -> Vec<T> {
    let n_batch = z.len() / base.dim();
    let mut log_q = vec![T::zero(); n_batch];
    let mut ws = vec![T::nan(); base.workspace_len(n_batch)];
    base.log_prob(p, MatRef::new(z, n_batch, base.dim()), MatRef::empty(n_batch), &mut log_q, &mut ws);
    log_q
}

/// (log q, d_z, d_p) for the probe loss Σ_r c_r · log q_r.
fn probe_gradients<T: Real>(base: &dyn Base<T>, p: &[T], z: &[T], c: &[T]) -> (Vec<T>, Vec<T>, Vec<T>) {
    let n_batch = z.len() / base.dim();
    let mut log_q = vec![T::zero(); n_batch];
    let mut ws = vec![T::nan(); base.workspace_len(n_batch)];
    base.log_prob(p, MatRef::new(z, n_batch, base.dim()), MatRef::empty(n_batch), &mut log_q, &mut ws);
    let mut d_z = vec![T::nan(); z.len()];
    let mut d_p = vec![T::zero(); p.len()];
    base.backward(p, &ws, c, MatMut::new(&mut d_z, n_batch, base.dim()), None, &mut d_p);
    (log_q, d_z, d_p)
}

/// Random, non-trivial mixture parameters: spread means, log-scales in [−1, 1] with one raw value
/// far into the soft bound, unequal weights.
fn random_mixture_params(gm: &GaussianMixture, rng: &mut Rng) -> Vec<f64> {
    let mut p = vec![0.0; Base::<f64>::n_params(gm)];
    for v in &mut p[gm.means_range()] {
        *v = 2.0 * normal(rng);
    }
    for v in &mut p[gm.raw_log_scales_range()] {
        *v = rng.gen_range(-1.0..1.0);
    }
    p[gm.raw_log_scales_range().start] = 1.2 * LOG_SCALE_BOUND;
    for v in &mut p[gm.raw_logits_range()] {
        *v = normal(rng);
    }
    p
}

/// Rows near the components, plus rows far from all of them (responsibilities ≈ 0/1).
fn probe_points(dim: usize, rng: &mut Rng) -> Vec<f64> {
    let mut z = Vec::new();
    for _ in 0..5 {
        z.extend((0..dim).map(|_| 1.5 * normal(rng)));
    }
    for far in [12.0, 40.0] {
        let dir: Vec<f64> = (0..dim).map(|_| normal(rng)).collect();
        let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
        z.extend(dir.iter().map(|v| far * v / norm));
    }
    z
}

fn check_gradients(base: &dyn Base<f64>, p: &[f64], z: &[f64], rng: &mut Rng, what: &str) {
    let n_batch = z.len() / base.dim();
    let c: Vec<f64> = (0..n_batch).map(|_| normal(rng)).collect();
    let loss = |p: &[f64], z: &[f64]| log_q_of(base, p, z).iter().zip(&c).map(|(l, c)| l * c).sum::<f64>();
    let (_, d_z, d_p) = probe_gradients(base, p, z, &c);
    assert_all_close(&format!("{what}: d_z"), &d_z, &numerical_gradient(|z| loss(p, z), z), FD_REL_TOL);
    if !p.is_empty() {
        assert_all_close(&format!("{what}: d_p"), &d_p, &numerical_gradient(|p| loss(p, z), p), FD_REL_TOL);
    }
}

// ---- gradients ----

#[test]
fn normal_gradients_match_finite_differences() {
    let mut rng = rng(1);
    for dim in [1, 2, 5] {
        let z = probe_points(dim, &mut rng);
        check_gradients(&StandardNormal::new(dim), &[], &z, &mut rng, &format!("normal d={dim}"));
    }
}

#[test]
fn mixture_gradients_match_finite_differences() {
    let mut rng = rng(2);
    for (dim, n_comp) in [(1, 1), (1, 3), (2, 4), (3, 5), (4, 2)] {
        let gm = GaussianMixture::new(dim, n_comp);
        let p = random_mixture_params(&gm, &mut rng);
        let z = probe_points(dim, &mut rng);
        check_gradients(&gm, &p, &z, &mut rng, &format!("mixture d={dim} K={n_comp}"));
    }
}

#[test]
fn mixture_gradients_match_finite_differences_at_init() {
    let mut rng = rng(3);
    for (dim, n_comp) in [(2, 4), (3, 8)] {
        let gm = GaussianMixture::new(dim, n_comp);
        let mut p = vec![0.0; Base::<f64>::n_params(&gm)];
        gm.init_params(&mut p, &mut rng);
        let z = probe_points(dim, &mut rng);
        check_gradients(&gm, &p, &z, &mut rng, &format!("mixture init d={dim} K={n_comp}"));
    }
}

#[test]
fn backward_adds_into_d_p_and_overwrites_d_z() {
    let mut rng = rng(4);
    let gm = GaussianMixture::new(2, 3);
    let p = random_mixture_params(&gm, &mut rng);
    let z = probe_points(2, &mut rng);
    let n_batch = z.len() / 2;
    let c: Vec<f64> = (0..n_batch).map(|_| normal(&mut rng)).collect();
    let (_, d_z, d_p) = probe_gradients(&gm, &p, &z, &c);

    let mut ws = vec![0.0; Base::<f64>::workspace_len(&gm, n_batch)];
    let mut log_q = vec![0.0; n_batch];
    gm.log_prob(&p, MatRef::new(&z, n_batch, 2), MatRef::empty(n_batch), &mut log_q, &mut ws);
    let mut d_z2 = vec![7.0; z.len()];
    let mut d_p2 = vec![1.0; p.len()];
    gm.backward(&p, &ws, &c, MatMut::new(&mut d_z2, n_batch, 2), None, &mut d_p2);
    assert_eq!(d_z2, d_z);
    let shifted: Vec<f64> = d_p.iter().map(|g| g + 1.0).collect();
    assert_all_close("d_p accumulates", &d_p2, &shifted, 1e-12);
}

// ---- values and normalisation ----

/// ∫ q over [−half_width, half_width]² by the midpoint rule with `n_cells` cells per side.
fn grid_integral(base: &dyn Base<f64>, p: &[f64], half_width: f64, n_cells: usize) -> f64 {
    let h = 2.0 * half_width / n_cells as f64;
    let mut total = 0.0;
    let mut z = vec![0.0; n_cells * 2];
    for i in 0..n_cells {
        for (j, row) in z.chunks_exact_mut(2).enumerate() {
            row[0] = -half_width + (i as f64 + 0.5) * h;
            row[1] = -half_width + (j as f64 + 0.5) * h;
        }
        total += log_q_of(base, p, &z).iter().map(|l| l.exp()).sum::<f64>();
    }
    total * h * h
}

#[test]
fn normal_density_integrates_to_one() {
    let integral = grid_integral(&StandardNormal::new(2), &[], 9.0, 600);
    assert!((integral - 1.0).abs() < INTEGRAL_TOL, "∫ N(0, I) = {integral}");
}

#[test]
fn mixture_density_integrates_to_one() {
    let mut rng = rng(5);
    let gm = GaussianMixture::new(2, 4);
    let mut p = random_mixture_params(&gm, &mut rng);
    // Keep every σ ≤ e (the random params put one at the soft bound, ~e^4.2, too wide for a box).
    p[gm.raw_log_scales_range().start] = -0.7;
    let (means, scales, _) = gm.unpack(&p);
    let reach = means.iter().zip(&scales).map(|(m, s)| m.abs() + 9.0 * s).fold(0.0, f64::max);
    let integral = grid_integral(&gm, &p, reach, 1200);
    assert!((integral - 1.0).abs() < INTEGRAL_TOL, "∫ q = {integral} over ±{reach:.1}");
    // The initial layout too.
    let gm = GaussianMixture::new(2, 8);
    let mut p = vec![0.0; Base::<f64>::n_params(&gm)];
    gm.init_params(&mut p, &mut rng);
    let integral = grid_integral(&gm, &p, INIT_RADIUS + 8.0, 800);
    assert!((integral - 1.0).abs() < INTEGRAL_TOL, "∫ q(init) = {integral}");
}

#[test]
fn mixture_log_prob_matches_direct_density() {
    let mut rng = rng(6);
    let gm = GaussianMixture::new(3, 4);
    let p = random_mixture_params(&gm, &mut rng);
    let (means, scales, weights) = gm.unpack(&p);
    let z: Vec<f64> = (0..30).map(|_| 2.0 * normal(&mut rng)).collect();
    let got = log_q_of(&gm, &p, &z);
    let want: Vec<f64> = z
        .chunks_exact(3)
        .map(|z_r| {
            let density: f64 = (0..4)
                .map(|k| {
                    let pdf: f64 = (0..3)
                        .map(|j| {
                            let (m, s) = (means[k * 3 + j], scales[k * 3 + j]);
                            (-0.5 * ((z_r[j] - m) / s).powi(2)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt())
                        })
                        .product();
                    weights[k] * pdf
                })
                .sum();
            density.ln()
        })
        .collect();
    assert_all_close("log q vs direct", &got, &want, 1e-12);
    let sum_w: f64 = weights.iter().sum();
    assert!((sum_w - 1.0).abs() < 1e-14);
}

#[test]
fn set_params_round_trips_through_unpack() {
    let gm = GaussianMixture::new(2, 3);
    let means = [0.5, -1.0, 2.0, 3.0, -4.0, 0.25];
    let scales = [0.1, 1.0, 2.5, 0.03, 0.7, 40.0];
    let weights = [2.0, 1.0, 1.0];
    let mut p = vec![0f32; Base::<f32>::n_params(&gm)];
    gm.set_params(&mut p, &means, &scales, &weights);
    let (m, s, w) = gm.unpack(&p);
    let tol = F32_EPS_FACTOR * f32::EPSILON as f64;
    assert_all_close("means", &m, &means, tol);
    assert_all_close("scales", &s, &scales, tol * LOG_SCALE_BOUND);
    assert_all_close("weights", &w, &[0.5, 0.25, 0.25], tol);
}

// ---- sampling ----

/// Checks sample mean and covariance of `n` draws against `mean`, `cov` within MOMENT_SE
/// standard errors (standard errors estimated from the samples themselves).
fn check_moments(base: &dyn Base<f64>, p: &[f64], mean: &[f64], cov: &[f64], what: &str) {
    let dim = base.dim();
    let n = 200_000;
    let mut z = Mat::zeros(n, dim);
    let mut rng = stream(7, Stream::Sample, 0, 0);
    base.sample(p, MatRef::empty(n), &mut rng, z.as_mut());
    for j in 0..dim {
        let xs: Vec<f64> = (0..n).map(|r| z.row(r)[j]).collect();
        let (m, se) = mean_and_se(&xs);
        assert!((m - mean[j]).abs() < MOMENT_SE * se, "{what}: mean[{j}] = {m}, expected {} (se {se:.2e})", mean[j]);
        for l in 0..dim {
            let prods: Vec<f64> = (0..n).map(|r| (z.row(r)[j] - mean[j]) * (z.row(r)[l] - mean[l])).collect();
            let (c, se) = mean_and_se(&prods);
            let want = cov[j * dim + l];
            assert!((c - want).abs() < MOMENT_SE * se, "{what}: cov[{j},{l}] = {c}, expected {want} (se {se:.2e})");
        }
    }
}

fn mean_and_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

#[test]
fn normal_sample_moments_match() {
    let dim = 3;
    let cov: Vec<f64> = (0..dim * dim).map(|i| if i % (dim + 1) == 0 { 1.0 } else { 0.0 }).collect();
    check_moments(&StandardNormal::new(dim), &[], &[0.0; 3], &cov, "normal");
}

#[test]
fn mixture_sample_moments_match_mixture_mean_and_covariance() {
    let mut rng = rng(8);
    let (dim, n_comp) = (2, 3);
    let gm = GaussianMixture::new(dim, n_comp);
    let p = random_mixture_params(&gm, &mut rng);
    let (means, scales, weights) = gm.unpack(&p);
    // E z = Σ π_k μ_k;  Cov z = Σ π_k (diag σ_k² + μ_k μ_kᵀ) − E z E zᵀ.
    let mut mean = vec![0.0; dim];
    let mut cov = vec![0.0; dim * dim];
    for k in 0..n_comp {
        let (mu, sd) = (&means[k * dim..(k + 1) * dim], &scales[k * dim..(k + 1) * dim]);
        for j in 0..dim {
            mean[j] += weights[k] * mu[j];
            cov[j * dim + j] += weights[k] * sd[j] * sd[j];
            for l in 0..dim {
                cov[j * dim + l] += weights[k] * mu[j] * mu[l];
            }
        }
    }
    for j in 0..dim {
        for l in 0..dim {
            cov[j * dim + l] -= mean[j] * mean[l];
        }
    }
    check_moments(&gm, &p, &mean, &cov, "mixture");
}

// ---- stability and precision ----

fn assert_finite_with_finite_gradients<T: Real>(base: &dyn Base<T>, p: &[T], z: &[f64], what: &str) {
    let z: Vec<T> = cast(z);
    let c = vec![T::one(); z.len() / base.dim()];
    let (log_q, d_z, d_p) = probe_gradients(base, p, &z, &c);
    for (r, l) in log_q.iter().enumerate() {
        assert!(l.is_finite() && *l < T::zero(), "{what} ({}): log q[{r}] = {l}", T::NAME);
    }
    assert!(d_z.iter().chain(&d_p).all(|g| g.is_finite()), "{what} ({}): non-finite gradient", T::NAME);
}

#[test]
fn log_prob_is_finite_for_huge_z() {
    let mut rng = rng(9);
    let gm = GaussianMixture::new(2, 3);
    let p = random_mixture_params(&gm, &mut rng);
    let huge = [1e3, 1e8, 1e12, -1e12, 3e15, -7e15];
    let z: Vec<f64> = huge.iter().flat_map(|&a| [a, -0.5 * a]).collect();
    assert_finite_with_finite_gradients::<f64>(&gm, &p, &z, "mixture");
    assert_finite_with_finite_gradients::<f32>(&gm, &cast(&p), &z, "mixture");
    assert_finite_with_finite_gradients::<f64>(&StandardNormal::new(2), &[], &z, "normal");
    assert_finite_with_finite_gradients::<f32>(&StandardNormal::new(2), &[], &z, "normal");
    let z64: Vec<f64> = [1e100, -1e150].iter().flat_map(|&a| [a, a]).collect();
    assert_finite_with_finite_gradients::<f64>(&gm, &p, &z64, "mixture");
}

#[test]
fn log_prob_overflow_gives_neg_infinity_without_nan() {
    // ½‖u‖² overflows f32 here: log q = −inf (correctly rounded), γ = 0, gradients 0, never NaN.
    let mut rng = rng(10);
    let gm = GaussianMixture::new(2, 3);
    let p: Vec<f32> = cast(&random_mixture_params(&gm, &mut rng));
    let z = [3e25f32, 1.0, -1.0, 2e30];
    let (log_q, d_z, d_p) = probe_gradients::<f32>(&gm, &p, &z, &[1.0, 1.0]);
    assert!(log_q.iter().all(|l| *l == f32::NEG_INFINITY), "{log_q:?}");
    assert!(d_z.iter().chain(&d_p).all(|g| !g.is_nan()), "{d_z:?} {d_p:?}");
}

#[test]
fn f32_agrees_with_f64() {
    let mut rng = rng(11);
    let gm = GaussianMixture::new(3, 4);
    let p64 = random_mixture_params(&gm, &mut rng);
    let p32: Vec<f32> = cast(&p64);
    // Compare at the f32-rounded parameters and inputs, so only arithmetic differs.
    let p64 = to_f64(&p32);
    let z64 = to_f64(&cast::<f32>(&probe_points(3, &mut rng)));
    let z32: Vec<f32> = cast(&z64);
    let c64: Vec<f64> = to_f64(&cast::<f32>(&(0..z64.len() / 3).map(|_| normal(&mut rng)).collect::<Vec<_>>()));
    let c32: Vec<f32> = cast(&c64);
    let tol = F32_EPS_FACTOR * f32::EPSILON as f64;
    for (name, base32, base64) in [
        ("mixture", &gm as &dyn Base<f32>, &gm as &dyn Base<f64>),
        ("normal", &StandardNormal::new(3) as &dyn Base<f32>, &StandardNormal::new(3) as &dyn Base<f64>),
    ] {
        let (p32, p64): (&[f32], &[f64]) = if name == "mixture" { (&p32, &p64) } else { (&[], &[]) };
        let (lq32, dz32, dp32) = probe_gradients(base32, p32, &z32, &c32);
        let (lq64, dz64, dp64) = probe_gradients(base64, p64, &z64, &c64);
        // log q: error ~ eps · (|log q| + 1), since its terms are of size |log q|.
        for (a, b) in to_f64(&lq32).iter().zip(&lq64) {
            assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{name}: log q f32 {a} vs f64 {b}");
        }
        assert_all_close(&format!("{name}: d_z f32"), &to_f64(&dz32), &dz64, tol);
        // Parameter gradients sum over rows whose terms can cancel: compare to their largest scale.
        let scale = dp64.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in to_f64(&dp32).iter().zip(&dp64).enumerate() {
            assert!((a - b).abs() <= tol * scale, "{name}: d_p[{i}] f32 {a} vs f64 {b}");
        }
    }
}

// ---- initialisation ----

/// Largest possible smallest distance between K points at radius r in R^d, where known exactly
/// (d = 1: a segment, d = 2: regular polygon, K ≤ d + 1: simplex, K ≤ 2d: cross-polytope
/// subset, Rankin), else the Tammes optimum for d = 3 (K = 7: 77.87°, K = 8: 74.86°).
fn best_min_distance(dim: usize, n_comp: usize, radius: f64) -> f64 {
    let k = n_comp as f64;
    let unit = match (dim, n_comp) {
        (1, _) => 2.0 / (k - 1.0),
        (2, _) => 2.0 * (std::f64::consts::PI / k).sin(),
        (_, n) if n <= dim + 1 => (2.0 * k / (k - 1.0)).sqrt(),
        (_, n) if n <= 2 * dim => 2f64.sqrt(),
        (3, 7) => 2.0 * (77.8695f64.to_radians() / 2.0).sin(),
        (3, 8) => 2.0 * (74.8585f64.to_radians() / 2.0).sin(),
        _ => panic!("no reference for d={dim} K={n_comp}"),
    };
    unit * radius
}

fn pairwise_min(points: &[f64], dim: usize) -> f64 {
    let mut best = f64::INFINITY;
    for (i, a) in points.chunks_exact(dim).enumerate() {
        for b in points.chunks_exact(dim).skip(i + 1) {
            best = best.min(a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt());
        }
    }
    best
}

#[test]
fn init_layout_is_well_separated() {
    // Minimum pairwise mean distance over max σ must reach INIT_SEPARATION (σ = d_min / 4, capped
    // at 1), and the means must be spread near the best possible arrangement on the sphere.
    const NEAR_OPTIMAL: f64 = 0.97;
    let mut rng = rng(12);
    for dim in 1..=4 {
        for n_comp in 1..=8 {
            let gm = GaussianMixture::new(dim, n_comp);
            let mut p = vec![0.0; Base::<f64>::n_params(&gm)];
            gm.init_params(&mut p, &mut rng);
            let (means, scales, weights) = gm.unpack(&p);
            let max_sigma = scales.iter().fold(0.0, |m: f64, s| m.max(*s));
            assert!(weights.iter().all(|w| (w - 1.0 / n_comp as f64).abs() < 1e-12), "weights {weights:?}");
            if n_comp == 1 {
                assert!(means.iter().all(|m| *m == 0.0) && (max_sigma - 1.0).abs() < 1e-12);
                continue;
            }
            let d_min = pairwise_min(&means, dim);
            let ratio = d_min / max_sigma;
            let best = best_min_distance(dim, n_comp, INIT_RADIUS);
            eprintln!(
                "d={dim} K={n_comp}: d_min={d_min:.4} (best {best:.4}), max σ={max_sigma:.4}, d_min/σ={ratio:.3}"
            );
            assert!(ratio >= INIT_SEPARATION * (1.0 - 1e-9), "d={dim} K={n_comp}: d_min/σ = {ratio}");
            assert!(d_min >= NEAR_OPTIMAL * best, "d={dim} K={n_comp}: d_min {d_min} < {NEAR_OPTIMAL}·{best}");
            for m in means.chunks_exact(dim) {
                let radius = m.iter().map(|v| v * v).sum::<f64>().sqrt();
                assert!(radius <= INIT_RADIUS * (1.0 + 1e-9), "d={dim} K={n_comp}: |μ| = {radius}");
            }
        }
    }
    // The named cases of the brief.
    for (dim, n_comp, at_least) in [(2, 4, 4.0), (3, 8, 4.0)] {
        let (means, scales, _) = GaussianMixture::new(dim, n_comp).init_layout();
        let ratio = pairwise_min(&means, dim) / scales.iter().fold(0.0, |m: f64, s| m.max(*s));
        assert!(ratio >= at_least * (1.0 - 1e-9), "d={dim} K={n_comp}: {ratio}");
    }
}

#[test]
fn init_layout_is_deterministic_and_ignores_the_rng() {
    let gm = GaussianMixture::new(3, 6);
    let (mut a, mut b) = (vec![0.0; Base::<f64>::n_params(&gm)], vec![1.0; Base::<f64>::n_params(&gm)]);
    gm.init_params(&mut a, &mut rng(13));
    gm.init_params(&mut b, &mut rng(14));
    assert_eq!(a, b);
}

// ---- allocation ----

#[test]
fn log_prob_and_backward_do_not_allocate() {
    let mut rng = rng(15);
    let gm = GaussianMixture::new(3, 5);
    let p = random_mixture_params(&gm, &mut rng);
    let normal_base = StandardNormal::new(3);
    let z = probe_points(3, &mut rng);
    let n_batch = z.len() / 3;
    let c = vec![1.0; n_batch];
    let mut log_q = vec![0.0; n_batch];
    let mut d_z = vec![0.0; z.len()];
    let mut d_p = vec![0.0; p.len()];
    for (base, p) in [(&gm as &dyn Base<f64>, &p[..]), (&normal_base as &dyn Base<f64>, &[][..])] {
        let mut ws = vec![0.0; base.workspace_len(n_batch)];
        let before = allocs_on_this_thread();
        base.log_prob(p, MatRef::new(&z, n_batch, 3), MatRef::empty(n_batch), &mut log_q, &mut ws);
        base.backward(p, &ws, &c, MatMut::new(&mut d_z, n_batch, 3), None, &mut d_p[..p.len()]);
        assert_eq!(allocs_on_this_thread(), before, "allocations in log_prob/backward");
    }
}

// ---- conditional mixture ----

/// log q(z_r | ctx_r) for each row (z: n_batch × dim, ctx: n_batch × ctx_dim, row-major).
fn log_q_ctx<T: Real>(base: &dyn Base<T>, p: &[T], z: &[T], ctx: &[T], ctx_dim: usize) -> Vec<T> {
    let n_batch = z.len() / base.dim();
    let mut log_q = vec![T::zero(); n_batch];
    let mut ws = vec![T::nan(); base.workspace_len(n_batch)];
    let ctx = MatRef::new(ctx, n_batch, ctx_dim);
    base.log_prob(p, MatRef::new(z, n_batch, base.dim()), ctx, &mut log_q, &mut ws);
    log_q
}

/// (log q, d_z, d_p) for the probe loss Σ_r c_r · log q(z_r | ctx_r). `d_z` starts NaN (backward
/// must overwrite it) and `d_p` at a random offset that is subtracted again (backward must add).
fn probe_gradients_ctx<T: Real>(
    base: &dyn Base<T>,
    p: &[T],
    z: &[T],
    ctx: &[T],
    ctx_dim: usize,
    c: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let n_batch = z.len() / base.dim();
    let mut log_q = vec![T::zero(); n_batch];
    let mut ws = vec![T::nan(); base.workspace_len(n_batch)];
    let ctx = MatRef::new(ctx, n_batch, ctx_dim);
    base.log_prob(p, MatRef::new(z, n_batch, base.dim()), ctx, &mut log_q, &mut ws);
    let mut d_z = vec![T::nan(); z.len()];
    let offset: Vec<T> = (0..p.len()).map(|i| T::lit(0.25 * (i % 7) as f64 - 0.75)).collect();
    let mut d_p = offset.clone();
    base.backward(p, &ws, c, MatMut::new(&mut d_z, n_batch, base.dim()), None, &mut d_p);
    let d_p = d_p.iter().zip(&offset).map(|(&d, &o)| d - o).collect();
    (log_q, d_z, d_p)
}

/// Random, non-trivial parameters: every MLP parameter ~ U(−0.8, 0.8), last-layer weights (fan_in
/// `last_fan_in`) scaled by `last_weight_scale`, last-layer bias = a random mixture row (spread
/// means, one log-scale deep in the soft bound, unequal weights) from `random_mixture_params`.
/// For K = 1 that deep log-scale is reset to −0.5: a lone σ ≈ e^4 component makes every ∂/∂z
/// ~1e−4, below what central differences on the summed loss resolve to `FD_REL_TOL`.
fn random_conditional_params(
    cm: &ConditionalMixture,
    last_fan_in: usize,
    last_weight_scale: f64,
    rng: &mut Rng,
) -> Vec<f64> {
    let mut p: Vec<f64> = (0..Base::<f64>::n_params(cm)).map(|_| rng.gen_range(-0.8..0.8)).collect();
    let bias = cm.output_bias_range();
    let last_w = bias.start - last_fan_in * bias.len()..bias.start;
    p[last_w].iter_mut().for_each(|w| *w *= last_weight_scale);
    let gm = cm.row_mixture();
    let mut row = random_mixture_params(gm, rng);
    if gm.n_components() == 1 {
        row[gm.raw_log_scales_range().start] = -0.5;
    }
    p[bias].copy_from_slice(&row);
    p
}

fn random_ctx(n_batch: usize, ctx_dim: usize, rng: &mut Rng) -> Vec<f64> {
    (0..n_batch * ctx_dim).map(|_| rng.gen_range(-1.5..1.5)).collect()
}

#[test]
fn conditional_mixture_gradients_match_finite_differences() {
    // Every MLP parameter and every z entry, d ∈ {1, 2, 3} × K ∈ {1, 2, 4}, plus a first layer wide
    // enough for the MLP's GEMM path and a net without hidden layers.
    let mut rng = rng(20);
    let mut cases: Vec<(usize, usize, usize, Vec<usize>)> = Vec::new();
    for dim in [1, 2, 3] {
        for n_comp in [1, 2, 4] {
            cases.push((dim, n_comp, 3, vec![6, 5]));
        }
    }
    cases.push((2, 3, 20, vec![7]));
    cases.push((2, 2, 4, vec![]));
    for (dim, n_comp, ctx_dim, hidden) in cases {
        let what = format!("conditional mixture d={dim} K={n_comp} ctx={ctx_dim} hidden={hidden:?}");
        let cm = ConditionalMixture::new(dim, n_comp, ctx_dim, &hidden, Activation::Silu);
        let last_fan_in = hidden.last().copied().unwrap_or(ctx_dim);
        let p = random_conditional_params(&cm, last_fan_in, 0.5, &mut rng);
        let z = probe_points(dim, &mut rng);
        let n_batch = z.len() / dim;
        let ctx = random_ctx(n_batch, ctx_dim, &mut rng);
        // The mixture really changes with ctx (else the MLP weights would be untested).
        let raw = cm.raw_mixture_params(&p, MatRef::new(&ctx, n_batch, ctx_dim));
        let spread = (0..raw.cols()).map(|j| (raw.row(0)[j] - raw.row(1)[j]).abs()).fold(0.0, f64::max);
        if ctx_dim > 0 {
            assert!(spread > 0.05, "{what}: raw params barely depend on ctx ({spread})");
        }
        let c: Vec<f64> = (0..n_batch).map(|_| normal(&mut rng)).collect();
        let loss = |p: &[f64], z: &[f64]| -> f64 {
            log_q_ctx(&cm, p, z, &ctx, ctx_dim).iter().zip(&c).map(|(l, c)| l * c).sum()
        };
        let (_, d_z, d_p) = probe_gradients_ctx(&cm, &p, &z, &ctx, ctx_dim, &c);
        assert_all_close(&format!("{what}: d_z"), &d_z, &numerical_gradient(|z| loss(&p, z), &z), FD_REL_TOL);
        assert_all_close(&format!("{what}: d_p"), &d_p, &numerical_gradient(|q| loss(q, &z), &p), FD_REL_TOL);
    }
}

#[test]
fn conditional_mixture_log_prob_equals_the_row_mixture() {
    // Row r of the MLP output, read as GaussianMixture parameters, gives the same log q(z_r).
    let mut rng = rng(21);
    let (dim, n_comp, ctx_dim) = (3, 4, 2);
    let cm = ConditionalMixture::new(dim, n_comp, ctx_dim, &[8], Activation::Silu);
    let p = random_conditional_params(&cm, 8, 0.5, &mut rng);
    let z = probe_points(dim, &mut rng);
    let n_batch = z.len() / dim;
    let ctx = random_ctx(n_batch, ctx_dim, &mut rng);
    let got = log_q_ctx(&cm, &p, &z, &ctx, ctx_dim);
    let raw = cm.raw_mixture_params(&p, MatRef::new(&ctx, n_batch, ctx_dim));
    for r in 0..n_batch {
        let want = log_q_of(cm.row_mixture(), raw.row(r), &z[r * dim..(r + 1) * dim])[0];
        assert!((got[r] - want).abs() <= 1e-12 * (1.0 + want.abs()), "row {r}: {} vs {want}", got[r]);
    }
}

#[test]
fn conditional_mixture_backward_is_the_same_across_row_tiles() {
    // Width 300 makes the backward tile 32 rows, so 70 rows span three tiles: each tile must read
    // its own rows of ws. Batched backward = sum of one-row backwards.
    let mut rng = rng(22);
    let (dim, n_comp, ctx_dim, n_batch) = (3, 4, 3, 70);
    let cm = ConditionalMixture::new(dim, n_comp, ctx_dim, &[300], Activation::Silu);
    let p = random_conditional_params(&cm, 300, 0.1, &mut rng);
    let z: Vec<f64> = (0..n_batch * dim).map(|_| 2.0 * normal(&mut rng)).collect();
    let ctx = random_ctx(n_batch, ctx_dim, &mut rng);
    let c: Vec<f64> = (0..n_batch).map(|_| normal(&mut rng)).collect();
    let (_, d_z, d_p) = probe_gradients_ctx(&cm, &p, &z, &ctx, ctx_dim, &c);
    let mut d_p_rows = vec![0.0; p.len()];
    for r in 0..n_batch {
        let (z_r, ctx_r) = (&z[r * dim..(r + 1) * dim], &ctx[r * ctx_dim..(r + 1) * ctx_dim]);
        let (_, d_z_r, d_p_r) = probe_gradients_ctx(&cm, &p, z_r, ctx_r, ctx_dim, &c[r..r + 1]);
        assert_all_close(&format!("row {r} d_z"), &d_z[r * dim..(r + 1) * dim], &d_z_r, 1e-12);
        d_p_rows.iter_mut().zip(&d_p_r).for_each(|(a, b)| *a += b);
    }
    assert_all_close("tiled d_p", &d_p, &d_p_rows, 1e-10);
}

/// ∫ q(· | ctx_row) over [−half_width, half_width]² by the midpoint rule, `n_cells` per side.
fn grid_integral_ctx(base: &dyn Base<f64>, p: &[f64], ctx_row: &[f64], half_width: f64, n_cells: usize) -> f64 {
    let h = 2.0 * half_width / n_cells as f64;
    let ctx: Vec<f64> = (0..n_cells).flat_map(|_| ctx_row.iter().copied()).collect();
    let mut total = 0.0;
    let mut z = vec![0.0; n_cells * 2];
    for i in 0..n_cells {
        for (j, row) in z.chunks_exact_mut(2).enumerate() {
            row[0] = -half_width + (i as f64 + 0.5) * h;
            row[1] = -half_width + (j as f64 + 0.5) * h;
        }
        total += log_q_ctx(base, p, &z, &ctx, ctx_row.len()).iter().map(|l| l.exp()).sum::<f64>();
    }
    total * h * h
}

/// A 2-D conditional mixture with moderate x-dependence around the separated initial layout,
/// and two ctx rows whose mixtures differ.
fn moderate_conditional_mixture(rng: &mut Rng) -> (ConditionalMixture, Vec<f64>, [Vec<f64>; 2]) {
    let cm = ConditionalMixture::new(2, 3, 2, &[8], Activation::Silu);
    let mut p = random_conditional_params(&cm, 8, 0.3, rng);
    let (means, scales, _) = cm.row_mixture().init_layout();
    cm.set_bias_layout(&mut p, &means, &scales, &[0.5, 0.3, 0.2]);
    (cm, p, [vec![-1.2, 0.7], vec![1.5, -0.4]])
}

#[test]
fn conditional_mixture_density_integrates_to_one_for_each_ctx() {
    let mut rng = rng(23);
    let (cm, p, ctx_rows) = moderate_conditional_mixture(&mut rng);
    let rows: Vec<Vec<f64>> =
        ctx_rows.iter().map(|c| cm.raw_mixture_params(&p, MatRef::new(c, 1, 2)).into_vec()).collect();
    let diff = rows[0].iter().zip(&rows[1]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(diff > 0.2, "the two ctx rows give nearly the same mixture (max raw diff {diff})");
    let n_cells = 1000;
    for (ctx_row, raw) in ctx_rows.iter().zip(&rows) {
        let (means, scales, _) = cm.row_mixture().unpack(raw);
        let reach = means.iter().zip(&scales).map(|(m, s)| m.abs() + 9.0 * s).fold(0.0, f64::max);
        let min_sigma = scales.iter().fold(f64::INFINITY, |m, s| m.min(*s));
        assert!(2.0 * reach / n_cells as f64 <= min_sigma / 5.0, "grid too coarse for σ = {min_sigma}");
        let integral = grid_integral_ctx(&cm, &p, ctx_row, reach, n_cells);
        assert!((integral - 1.0).abs() < INTEGRAL_TOL, "ctx {ctx_row:?}: ∫ q = {integral} over ±{reach:.1}");
    }
}

#[test]
fn conditional_mixture_at_init_equals_the_unconditional_init_for_any_ctx() {
    // Last-layer weights start at 0 and the bias at GaussianMixture's init layout, so the MLP output
    // is exactly that layout whatever ctx is (even far outside the standardised range).
    let mut rng = rng(24);
    for (dim, n_comp, ctx_dim, hidden) in [(2, 4, 3, vec![16, 16]), (3, 8, 20, vec![32]), (1, 1, 2, vec![])] {
        let cm = ConditionalMixture::new(dim, n_comp, ctx_dim, &hidden, Activation::Silu);
        let gm = GaussianMixture::new(dim, n_comp);
        let mut p = vec![f64::NAN; Base::<f64>::n_params(&cm)];
        cm.init_params(&mut p, &mut rng);
        let mut p_gm = vec![0.0; Base::<f64>::n_params(&gm)];
        gm.init_params(&mut p_gm, &mut rng);
        if !hidden.is_empty() {
            assert!(p[..p.len() - cm.output_bias_range().len()].iter().any(|&w| w != 0.0), "hidden layers all 0");
        }
        let z = probe_points(dim, &mut rng);
        let n_batch = z.len() / dim;
        let ctx: Vec<f64> = (0..n_batch * ctx_dim).map(|_| 5.0 * normal(&mut rng)).collect();
        let raw = cm.raw_mixture_params(&p, MatRef::new(&ctx, n_batch, ctx_dim));
        for r in 0..n_batch {
            assert_eq!(raw.row(r), &p_gm[..], "d={dim} K={n_comp}: row {r} is not the init layout");
        }
        let got = log_q_ctx(&cm, &p, &z, &ctx, ctx_dim);
        let want = log_q_of(&gm, &p_gm, &z);
        assert_all_close(&format!("d={dim} K={n_comp}: log q at init"), &got, &want, 1e-12);
    }
}

#[test]
fn conditional_mixture_sample_moments_match_the_row_mixture() {
    // One batch alternates the two ctx rows (and spans many sampling blocks), so each draw must use
    // its own row's mixture: the even and odd draws are checked against their row's moments.
    let mut rng = rng(25);
    let (cm, p, ctx_rows) = moderate_conditional_mixture(&mut rng);
    let (dim, n_comp, n_per_ctx) = (2, 3, 200_000);
    let ctx: Vec<f64> = (0..n_per_ctx).flat_map(|_| ctx_rows.iter().flatten().copied()).collect();
    let n = 2 * n_per_ctx;
    let mut z = Mat::zeros(n, dim);
    cm.sample(&p, MatRef::new(&ctx, n, 2), &mut stream(26, Stream::Sample, 0, 0), z.as_mut());
    for (i, ctx_row) in ctx_rows.iter().enumerate() {
        let raw = cm.raw_mixture_params(&p, MatRef::new(ctx_row, 1, 2)).into_vec();
        let (means, scales, weights) = cm.row_mixture().unpack(&raw);
        // E z = Σ π_k μ_k;  Cov z = Σ π_k (diag σ_k² + μ_k μ_kᵀ) − E z E zᵀ.
        let mut mean = vec![0.0; dim];
        let mut cov = vec![0.0; dim * dim];
        for k in 0..n_comp {
            let (mu, sd) = (&means[k * dim..(k + 1) * dim], &scales[k * dim..(k + 1) * dim]);
            for j in 0..dim {
                mean[j] += weights[k] * mu[j];
                cov[j * dim + j] += weights[k] * sd[j] * sd[j];
                for l in 0..dim {
                    cov[j * dim + l] += weights[k] * mu[j] * mu[l];
                }
            }
        }
        for j in 0..dim {
            for l in 0..dim {
                cov[j * dim + l] -= mean[j] * mean[l];
            }
        }
        let rows: Vec<&[f64]> = (i..n).step_by(2).map(|r| z.row(r)).collect();
        for j in 0..dim {
            let xs: Vec<f64> = rows.iter().map(|z_r| z_r[j]).collect();
            let (m, se) = mean_and_se(&xs);
            assert!((m - mean[j]).abs() < MOMENT_SE * se, "ctx {i}: mean[{j}] = {m}, expected {}", mean[j]);
            for l in 0..dim {
                let prods: Vec<f64> = rows.iter().map(|z_r| (z_r[j] - mean[j]) * (z_r[l] - mean[l])).collect();
                let (c, se) = mean_and_se(&prods);
                let want = cov[j * dim + l];
                assert!((c - want).abs() < MOMENT_SE * se, "ctx {i}: cov[{j},{l}] = {c}, expected {want}");
            }
        }
    }
}

#[test]
fn conditional_mixture_f32_agrees_with_f64() {
    let mut rng = rng(27);
    let (dim, n_comp, ctx_dim) = (3, 4, 3);
    let cm = ConditionalMixture::new(dim, n_comp, ctx_dim, &[16], Activation::Silu);
    // Compare at the f32-rounded parameters and inputs, so only arithmetic differs.
    let p64 = to_f64(&cast::<f32>(&random_conditional_params(&cm, 16, 0.5, &mut rng)));
    let z64 = to_f64(&cast::<f32>(&probe_points(dim, &mut rng)));
    let n_batch = z64.len() / dim;
    let ctx64 = to_f64(&cast::<f32>(&random_ctx(n_batch, ctx_dim, &mut rng)));
    let c64 = to_f64(&cast::<f32>(&(0..n_batch).map(|_| normal(&mut rng)).collect::<Vec<_>>()));
    let (lq64, dz64, dp64) = probe_gradients_ctx::<f64>(&cm, &p64, &z64, &ctx64, ctx_dim, &c64);
    let (lq32, dz32, dp32) =
        probe_gradients_ctx::<f32>(&cm, &cast(&p64), &cast(&z64), &cast(&ctx64), ctx_dim, &cast(&c64));
    let tol = F32_EPS_FACTOR * f32::EPSILON as f64;
    for (a, b) in to_f64(&lq32).iter().zip(&lq64) {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "log q f32 {a} vs f64 {b}");
    }
    assert_all_close("d_z f32", &to_f64(&dz32), &dz64, tol);
    let scale = dp64.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in to_f64(&dp32).iter().zip(&dp64).enumerate() {
        assert!((a - b).abs() <= tol * scale, "d_p[{i}] f32 {a} vs f64 {b}");
    }
}

/// Allocations on this thread while running `f`.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = allocs_on_this_thread();
    f();
    allocs_on_this_thread() - before
}

#[test]
fn conditional_mixture_log_prob_and_backward_do_not_allocate() {
    // The mixture part allocates nothing. matrixmultiply's GEMM allocates its packing buffers per
    // call, so a net with GEMM layers is allowed exactly the allocations of its bare MLP
    // forward + backward on the same batch; a net without GEMMs (no hidden layer, ctx_dim ≤ 16)
    // must allocate nothing at all.
    let mut rng = rng(28);
    let cases = [(3, 5, 4, vec![]), (1, 4, 3, vec![16]), (3, 5, 4, vec![16, 16]), (2, 3, 20, vec![32])];
    for (dim, n_comp, ctx_dim, hidden) in cases {
        let cm = ConditionalMixture::new(dim, n_comp, ctx_dim, &hidden, Activation::Silu);
        let p = random_conditional_params(&cm, hidden.last().copied().unwrap_or(ctx_dim), 0.5, &mut rng);
        let z = probe_points(dim, &mut rng);
        let n_batch = z.len() / dim;
        let ctx = random_ctx(n_batch, ctx_dim, &mut rng);
        let (z_ref, ctx_ref) = (MatRef::new(&z, n_batch, dim), MatRef::new(&ctx, n_batch, ctx_dim));
        let c = vec![1.0; n_batch];
        let mut log_q = vec![0.0; n_batch];
        let mut d_z = vec![0.0; z.len()];
        let mut d_p = vec![0.0; p.len()];
        let mut ws = vec![0.0; Base::<f64>::workspace_len(&cm, n_batch)];
        let used = allocations_in(|| {
            cm.log_prob(&p, z_ref, ctx_ref, &mut log_q, &mut ws);
            cm.backward(&p, &ws, &c, MatMut::new(&mut d_z, n_batch, dim), None, &mut d_p);
        });
        let mlp = cm.mlp();
        let mut out = Mat::zeros(n_batch, mlp.n_out());
        let d_out = Mat::zeros(n_batch, mlp.n_out());
        let mut mlp_ws = vec![0.0; mlp.workspace_len(n_batch)];
        let gemm_allocs = allocations_in(|| {
            mlp.forward(&p, ctx_ref, MatRef::empty(n_batch), out.as_mut(), &mut mlp_ws);
            mlp.backward(&p, &mlp_ws, ctx_ref, MatRef::empty(n_batch), d_out.as_ref(), None, None, &mut d_p);
        });
        if hidden.is_empty() {
            assert_eq!(gemm_allocs, 0, "the GEMM-free net allocated");
        }
        assert_eq!(used, gemm_allocs, "hidden {hidden:?}: allocations beyond the MLP's GEMMs");
    }
}
