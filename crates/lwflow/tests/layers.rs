//! Every flow layer through the shared property checks (`lwflow::testing::check_layer`):
//! round trip, log-det vs numerical Jacobian, forward + inverse log-det = 0, backward vs central
//! differences for inputs and every raw parameter, and f32 vs f64 agreement. A new layer is one
//! line in `cases()`.

use lwflow::flow::{AffineCoupling, Layer, Permutation, SplineCoupling, Split};
use lwflow::nn::Activation;
use lwflow::testing::{check_layer, check_layer_f32};

/// A layer usable in both precisions.
trait BothPrecisions: Layer<f64> + Layer<f32> {
    fn as_f64(&self) -> &dyn Layer<f64>;
    fn as_f32(&self) -> &dyn Layer<f32>;
}
impl<L: Layer<f64> + Layer<f32>> BothPrecisions for L {
    fn as_f64(&self) -> &dyn Layer<f64> {
        self
    }
    fn as_f32(&self) -> &dyn Layer<f32> {
        self
    }
}

struct Case {
    name: &'static str,
    layer: Box<dyn BothPrecisions>,
    dim: usize,
    ctx_dim: usize,
}

fn affine(
    dim: usize,
    n_cond: usize,
    split: Split,
    ctx_dim: usize,
    act: Activation,
    bound: f64,
) -> Box<dyn BothPrecisions> {
    Box::new(AffineCoupling::new(dim, n_cond, split, ctx_dim, &[8, 7], act, bound))
}

/// Spline couplings use B = 3: `check_layer`'s inputs are U(−2, 2) (inside) plus rows scaled to
/// ±25 and ±60 (tails), and its random raw parameters make the spline far from the identity.
fn spline(
    dim: usize,
    n_cond: usize,
    split: Split,
    ctx_dim: usize,
    act: Activation,
    n_bins: usize,
) -> Box<dyn BothPrecisions> {
    Box::new(SplineCoupling::new(dim, n_cond, split, ctx_dim, &[8, 7], act, n_bins, 3.0))
}

fn cases() -> Vec<Case> {
    use Activation::{Relu, Silu};
    use Split::{Lower, Upper};
    let case = |name, layer, dim, ctx_dim| Case { name, layer, dim, ctx_dim };
    vec![
        case("affine_lower_dim2_ctx0_silu", affine(2, 1, Lower, 0, Silu, 2.0), 2, 0),
        case("affine_upper_dim2_ctx3_silu", affine(2, 1, Upper, 3, Silu, 2.0), 2, 3),
        case("affine_lower_dim3_ctx3_silu_bound1", affine(3, 1, Lower, 3, Silu, 1.0), 3, 3),
        case("affine_upper_dim3_ctx3_relu_bound1", affine(3, 1, Upper, 3, Relu, 1.0), 3, 3),
        case("affine_lower_dim5_ctx2_relu", affine(5, 2, Lower, 2, Relu, 3.0), 5, 2),
        case("affine_upper_dim5_ctx0_silu", affine(5, 3, Upper, 0, Silu, 3.0), 5, 0),
        case("affine_lower_dim3_ncond0_ctx4_silu", affine(3, 0, Lower, 4, Silu, 2.0), 3, 4),
        case("affine_no_hidden_dim3_ctx1", Box::new(AffineCoupling::new(3, 2, Split::Lower, 1, &[], Silu, 2.0)), 3, 1),
        case("spline_lower_dim2_ctx0_bins4", spline(2, 1, Lower, 0, Silu, 4), 2, 0),
        case("spline_upper_dim2_ctx3_bins8", spline(2, 1, Upper, 3, Silu, 8), 2, 3),
        case("spline_lower_dim3_ctx2_bins8_relu", spline(3, 1, Lower, 2, Relu, 8), 3, 2),
        case("spline_upper_dim3_ctx0_bins4", spline(3, 2, Upper, 0, Silu, 4), 3, 0),
        case("spline_lower_dim5_ctx3_bins4", spline(5, 2, Lower, 3, Silu, 4), 5, 3),
        case("spline_upper_dim5_ctx1_bins8", spline(5, 3, Upper, 1, Relu, 8), 5, 1),
        case("spline_lower_dim3_ncond0_ctx2_bins4", spline(3, 0, Lower, 2, Silu, 4), 3, 2),
        case("permutation_reverse_dim3", Box::new(Permutation::reverse(3)), 3, 0),
        case("permutation_cycle_dim5_ctx2", Box::new(Permutation::new(vec![2, 4, 0, 1, 3])), 5, 2),
    ]
}

#[test]
fn every_layer_passes_the_property_checks_in_f64() {
    for (i, c) in cases().into_iter().enumerate() {
        eprintln!("check_layer: {}", c.name);
        let n_params = Layer::<f64>::n_params(c.layer.as_f64());
        check_layer(c.layer.as_f64(), n_params, c.dim, c.ctx_dim, 100 + i as u64);
    }
}

#[test]
fn every_layer_agrees_in_f32_and_f64() {
    for (i, c) in cases().into_iter().enumerate() {
        eprintln!("check_layer_f32: {}", c.name);
        check_layer_f32(c.layer.as_f64(), c.layer.as_f32(), c.dim, c.ctx_dim, 100 + i as u64);
    }
}

#[test]
fn affine_coupling_starts_at_the_identity() {
    let layer = AffineCoupling::new(3, 1, Split::Upper, 2, &[16], Activation::Silu, 1.0);
    let mut p = vec![0.0f64; Layer::<f64>::n_params(&layer)];
    layer.init_params(&mut p, &mut <lwflow::rng::Rng as rand::SeedableRng>::seed_from_u64(0));
    let u = lwflow::Mat::from_fn(4, 3, |r, c| r as f64 - 1.3 * c as f64);
    let ctx = lwflow::Mat::from_fn(4, 2, |r, c| (r * c) as f64 * 0.1);
    let mut v = lwflow::Mat::zeros(4, 3);
    let mut log_det = vec![0.0; 4];
    let mut ws = vec![0.0; Layer::<f64>::workspace_len(&layer, 4)];
    layer.forward(&p, u.as_ref(), ctx.as_ref(), v.as_mut(), &mut log_det, &mut ws);
    assert_eq!(v, u);
    assert!(log_det.iter().all(|&l| l == 0.0));
}

#[test]
fn spline_coupling_starts_at_the_identity() {
    // Inside and outside [−B, B] = [−2, 2]; identity up to rounding (see `flow::spline`).
    const TOL: f64 = 1e-14;
    let layer = SplineCoupling::new(3, 1, Split::Lower, 2, &[16], Activation::Silu, 8, 2.0);
    let mut p = vec![0.0f64; Layer::<f64>::n_params(&layer)];
    layer.init_params(&mut p, &mut <lwflow::rng::Rng as rand::SeedableRng>::seed_from_u64(0));
    let u = lwflow::Mat::from_fn(5, 3, |r, c| r as f64 - 1.3 * c as f64);
    let ctx = lwflow::Mat::from_fn(5, 2, |r, c| (r * c) as f64 * 0.1);
    let mut v = lwflow::Mat::zeros(5, 3);
    let mut log_det = vec![0.0; 5];
    let mut ws = vec![0.0; Layer::<f64>::workspace_len(&layer, 5)];
    layer.forward(&p, u.as_ref(), ctx.as_ref(), v.as_mut(), &mut log_det, &mut ws);
    for (a, b) in v.as_slice().iter().zip(u.as_slice()) {
        assert!((a - b).abs() <= TOL * b.abs().max(1.0), "v {a} vs u {b}");
    }
    assert!(log_det.iter().all(|l| l.abs() <= TOL), "{log_det:?}");
}
