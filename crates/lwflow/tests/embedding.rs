//! Learned observation embeddings inside a flow: the whole loss's gradient (embedding, couplings,
//! conditional base) against finite differences, one evaluation per observation giving the same
//! result as one per row, the set embedding's invariance to the members' order, model files with
//! an embedding (and without one, written before embeddings existed), and settings refused with
//! a message naming the key.

use lwflow::base::{Base, ConditionalMixture};
use lwflow::embed::EmbeddingConfig;
use lwflow::flow::{BaseConfig, CouplingConfig, Flow, FlowConfig, ObsFeatures, Standardizer};
use lwflow::io::{load_flow, save_flow};
use lwflow::mat::{Mat, MatMut, MatRef};
use lwflow::model::Prior;
use lwflow::nn::Activation;
use lwflow::rng::{stream, Stream};
use lwflow::settings::Settings;
use lwflow::testing::{assert_all_close, numerical_gradient, FD_REL_TOL};
use lwflow::train::FlowMeta;
use rand::Rng as _;

const X_DIM: usize = 8;

fn embeddings() -> [EmbeddingConfig; 3] {
    [
        EmbeddingConfig::Mlp { width: 6, depth: 1, out: 3 },
        EmbeddingConfig::Set { members: 4, width: 5, depth: 1, out: 3 },
        EmbeddingConfig::Conv1d { channels_in: 2, channels: 3, kernel: 3, blocks: 1, out: 3 },
    ]
}

fn config(theta_dim: usize, embedding: EmbeddingConfig, base: BaseConfig, coupling: CouplingConfig) -> FlowConfig {
    FlowConfig {
        embedding,
        n_layers: 3,
        hidden: vec![7],
        coupling,
        activation: Activation::Silu,
        ..FlowConfig::new(theta_dim, X_DIM, base)
    }
}

/// Observations x (rows) for the standardiser and the tests.
fn observations(n: usize, seed: u64) -> Mat<f64> {
    let mut rng = stream(seed, Stream::Simulate, 0, 0);
    Mat::from_fn(n, X_DIM, |_, c| rng.gen_range(-2.0..2.0) + c as f64 * 0.3)
}

/// A flow with random parameters everywhere (the default init starts couplings at the identity
/// and the conditional base independent of its context, where ∂/∂ctx vanishes).
fn random_flow<T: lwflow::real::Real>(cfg: FlowConfig) -> Flow<T> {
    let prior = Prior::uniform_box(cfg.theta_dim, -3.0, 3.0).unwrap();
    let norm = cfg.fit_standardizer(observations(64, 1).as_ref()).unwrap();
    let mut flow = Flow::<T>::new(cfg, &prior, norm, 3).unwrap();
    let mut rng = stream(9, Stream::Init, 0, 0);
    for p in flow.params_mut() {
        *p += T::lit(rng.gen_range(-0.3..0.3));
    }
    flow
}

/// Standardised features of `x` as each row's context.
fn contexts<T: lwflow::real::Real>(flow: &Flow<T>, x: &Mat<f64>) -> Mat<T> {
    let mut ctx = Mat::zeros(x.rows(), flow.context_width());
    for r in 0..x.rows() {
        flow.context_into(x.row(r), ctx.row_mut(r));
    }
    ctx
}

/// 9 rows: observation 0 three times, 1 twice, 0 again (a later run of an earlier x), 2 three times.
fn rows_of_observations(theta_dim: usize) -> (Mat<f64>, Mat<f64>, Vec<f64>) {
    let x = observations(3, 2);
    let which = [0, 0, 0, 1, 1, 0, 2, 2, 2];
    let xs = Mat::from_fn(which.len(), X_DIM, |r, c| x.row(which[r])[c]);
    let mut rng = stream(5, Stream::Theta, 0, 0);
    let u = Mat::from_fn(which.len(), theta_dim, |_, _| rng.gen_range(-2.0..2.0));
    let w: Vec<f64> = (0..which.len()).map(|_| rng.gen_range(0.1..1.0)).collect();
    (u, xs, w)
}

#[test]
fn flow_loss_gradient_with_each_embedding_matches_central_differences() {
    // Every parameter: the embedding's (reached through every coupling's conditioner and the
    // conditional base), the couplings' and the base's.
    for embedding in embeddings() {
        for (d, base, coupling) in [
            (2, BaseConfig::Cgmm { components: 2 }, CouplingConfig::default_spline()),
            (3, BaseConfig::Gaussian, CouplingConfig::default_affine()),
        ] {
            let flow = random_flow::<f64>(config(d, embedding, base, coupling));
            let (u, x, w) = rows_of_observations(d);
            let ctx = contexts(&flow, &x);
            let n = u.rows();
            let loss = |p: &[f64]| {
                let mut ws = flow.workspace(n);
                flow.forward_chunk(p, u.as_ref(), ctx.as_ref(), &mut ws);
                -ws.log_q.iter().zip(&w).map(|(q, w)| q * w).sum::<f64>()
            };
            let mut ws = flow.workspace(n);
            flow.forward_chunk(flow.params(), u.as_ref(), ctx.as_ref(), &mut ws);
            let d_log_q: Vec<f64> = w.iter().map(|w| -w).collect();
            flow.backward_chunk(flow.params(), &d_log_q, &mut ws);
            let what = format!("{embedding:?} d={d} {base:?}");
            assert_all_close(&what, &ws.grad, &numerical_gradient(loss, flow.params()), FD_REL_TOL);
            let (name, range) = flow.param_names().pop().expect("parts");
            assert!(name.starts_with("embedding.") && !range.is_empty(), "{what}: {name}");
            assert!(ws.grad[range].iter().any(|g| g.abs() > 1e-6), "{what}: the embedding gets no gradient");
        }
    }
}

#[test]
fn one_evaluation_per_observation_equals_one_per_row() {
    // The same rows grouped by observation (3 runs) and interleaved (every row its own run):
    // the same log q per row, and the same gradient up to the order of summation.
    for embedding in embeddings() {
        let flow = random_flow::<f64>(config(
            2,
            embedding,
            BaseConfig::Cgmm { components: 2 },
            CouplingConfig::default_spline(),
        ));
        let (u, x, w) = rows_of_observations(2);
        let order = [0, 3, 6, 1, 4, 7, 2, 8, 5];
        let permute = |m: &Mat<f64>| Mat::from_fn(m.rows(), m.cols(), |r, c| m.row(order[r])[c]);
        let run = |u: &Mat<f64>, x: &Mat<f64>, w: &[f64]| {
            let ctx = contexts(&flow, x);
            let mut ws = flow.workspace(u.rows());
            flow.forward_chunk(flow.params(), u.as_ref(), ctx.as_ref(), &mut ws);
            let d: Vec<f64> = w.iter().map(|w| -w).collect();
            let log_q = ws.log_q[..u.rows()].to_vec();
            flow.backward_chunk(flow.params(), &d, &mut ws);
            (log_q, ws.grad.clone())
        };
        let (q_grouped, g_grouped) = run(&u, &x, &w);
        let w_perm: Vec<f64> = order.iter().map(|&r| w[r]).collect();
        let (q_mixed, g_mixed) = run(&permute(&u), &permute(&x), &w_perm);
        for (k, &r) in order.iter().enumerate() {
            assert_eq!(q_mixed[k], q_grouped[r], "{embedding:?} row {r}");
        }
        assert_all_close(&format!("{embedding:?} gradient"), &g_mixed, &g_grouped, 1e-12);
    }
}

#[test]
fn set_embedding_flow_is_invariant_to_the_order_of_members() {
    // x = 4 members of 2 values. With the pooled standardisation, q(θ|x) is the same for every
    // order of the members, to rounding; without an embedding (x read directly) it is not.
    let set = EmbeddingConfig::Set { members: 4, width: 16, depth: 2, out: 4 };
    let flow = random_flow::<f64>(config(2, set, BaseConfig::Cgmm { components: 2 }, CouplingConfig::default_spline()));
    let raw =
        random_flow::<f64>(config(2, EmbeddingConfig::None, BaseConfig::Gaussian, CouplingConfig::default_spline()));
    let x = observations(1, 7);
    let theta = Mat::from_fn(5, 2, |r, c| -2.0 + 0.8 * r as f64 + 0.5 * c as f64);
    let reordered = {
        let m = [2, 0, 3, 1];
        Mat::from_fn(1, X_DIM, |_, c| x.row(0)[2 * m[c / 2] + c % 2])
    };
    let q = flow.log_prob(theta.as_ref(), x.as_ref()).unwrap();
    let q2 = flow.log_prob(theta.as_ref(), reordered.as_ref()).unwrap();
    for (a, b) in q.iter().zip(&q2) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let r = raw.log_prob(theta.as_ref(), x.as_ref()).unwrap();
    let r2 = raw.log_prob(theta.as_ref(), reordered.as_ref()).unwrap();
    assert!(r.iter().zip(&r2).any(|(a, b)| (a - b).abs() > 1e-6), "the raw flow should depend on the order");
    // The pooled standardisation treats every member alike.
    let norm = flow.ctx_standardizer();
    for m in 1..4 {
        assert_eq!(norm.mean[..2], norm.mean[2 * m..2 * m + 2]);
        assert_eq!(norm.std[..2], norm.std[2 * m..2 * m + 2]);
    }
}

#[test]
fn model_file_with_an_embedding_round_trips_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("lwflow-embedding-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for embedding in embeddings() {
        let cfg = config(2, embedding, BaseConfig::Cgmm { components: 2 }, CouplingConfig::default_spline());
        let flow = random_flow::<f32>(cfg.clone());
        let meta = FlowMeta::untrained(
            "test",
            Prior::uniform_box(2, -3.0, 3.0).unwrap(),
            cfg,
            flow.ctx_standardizer().clone(),
        );
        let path = dir.join(format!("{}.lwf", embedding.name()));
        save_flow(&path, &flow, &meta).unwrap();
        let (back, back_meta) = load_flow(&path).unwrap();
        assert_eq!(back_meta.flow.embedding, embedding);
        assert_eq!(back.params(), flow.params());
        let x = observations(3, 4);
        let theta = Mat::from_fn(3, 2, |r, c| 0.4 * r as f64 - 0.7 * c as f64);
        let (a, b) =
            (flow.log_prob(theta.as_ref(), x.as_ref()).unwrap(), back.log_prob(theta.as_ref(), x.as_ref()).unwrap());
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let (s1, s2) = (flow.sample(x.row(0), 50, 3).unwrap(), back.sample(x.row(0), 50, 3).unwrap());
        assert_eq!(s1.as_slice(), s2.as_slice());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn files_written_before_embeddings_load_without_one() {
    for file in ["slcp_027be82.lwf", "square2d_external_5de9d01.lwf"] {
        let path = format!("{}/../lwflow-cli/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
        let (flow, meta) = load_flow(path.as_ref()).unwrap();
        assert_eq!(meta.flow.embedding, EmbeddingConfig::None, "{file}");
        assert!(flow.param_names().iter().all(|(name, _)| !name.starts_with("embedding")), "{file}");
        // And a flow without an embedding writes no `embedding` key (files stay as they were).
        let json = serde_json::to_string(&meta.flow).unwrap();
        assert!(!json.contains("embedding"), "{file}: {json}");
    }
}

#[test]
fn conditional_base_context_adjoint_matches_central_differences() {
    // The cgmm base adds ∂(Σ c_r log q_r)/∂ctx into d_ctx (it started at an offset).
    let (dim, n_comp, ctx_dim, n) = (2, 3, 4, 5);
    let cm = ConditionalMixture::new(dim, n_comp, ctx_dim, &[6], Activation::Silu);
    let mut rng = stream(11, Stream::Init, 0, 0);
    let p: Vec<f64> = (0..Base::<f64>::n_params(&cm)).map(|_| rng.gen_range(-0.8..0.8)).collect();
    let z: Vec<f64> = (0..n * dim).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let ctx: Vec<f64> = (0..n * ctx_dim).map(|_| rng.gen_range(-1.5..1.5)).collect();
    let c: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let loss = |ctx: &[f64]| {
        let mut log_q = vec![0.0; n];
        let mut ws = vec![0.0; Base::<f64>::workspace_len(&cm, n)];
        cm.log_prob(&p, MatRef::new(&z, n, dim), MatRef::new(ctx, n, ctx_dim), &mut log_q, &mut ws);
        log_q.iter().zip(&c).map(|(l, c)| l * c).sum::<f64>()
    };
    let mut log_q = vec![0.0; n];
    let mut ws = vec![0.0; Base::<f64>::workspace_len(&cm, n)];
    cm.log_prob(&p, MatRef::new(&z, n, dim), MatRef::new(&ctx, n, ctx_dim), &mut log_q, &mut ws);
    let offset: Vec<f64> = (0..n * ctx_dim).map(|i| 0.1 * i as f64).collect();
    let mut d_ctx = offset.clone();
    let (mut d_z, mut d_p) = (vec![0.0; n * dim], vec![0.0; p.len()]);
    let d_ctx_mat = MatMut::new(&mut d_ctx, n, ctx_dim);
    cm.backward(&p, &ws, &c, MatMut::new(&mut d_z, n, dim), Some(d_ctx_mat), &mut d_p);
    let got: Vec<f64> = d_ctx.iter().zip(&offset).map(|(d, o)| d - o).collect();
    assert_all_close("cgmm d_ctx", &got, &numerical_gradient(loss, &ctx), FD_REL_TOL);
}

fn resolve_error(json: serde_json::Value, task: &str, theta_dim: usize, x_dim: usize) -> String {
    let settings: Settings = serde_json::from_value(json).expect("each value valid on its own");
    settings.resolve(Some(task), theta_dim, x_dim).expect_err("refused").to_string()
}

#[test]
fn bad_embedding_settings_are_refused_naming_the_key() {
    let cases = [
        (serde_json::json!({ "flow": { "embedding": "set", "embedding_members": 3 } }), "flow.embedding_members"),
        (serde_json::json!({ "flow": { "embedding_width": 32 } }), "flow.embedding_width"),
        (serde_json::json!({ "flow": { "embedding": "none", "embedding_out": 4 } }), "flow.embedding_out"),
        (serde_json::json!({ "flow": { "embedding": "conv1d", "embedding_kernel": 4 } }), "flow.embedding_kernel"),
        (serde_json::json!({ "flow": { "embedding": "conv1d", "embedding_channels": 3 } }), "flow.embedding_channels"),
        (serde_json::json!({ "flow": { "embedding": "conv1d", "embedding_depth": 4 } }), "flow.embedding_depth"),
        (serde_json::json!({ "flow": { "embedding": "set", "set_members": 4 } }), "flow.set_members"),
    ];
    for (json, key) in cases {
        let e = resolve_error(json.clone(), "slcp", 5, 8);
        assert!(e.contains(key), "{json}: {e}");
    }
    // A task without set moments gives the set embedding no member count.
    let e = resolve_error(serde_json::json!({ "flow": { "embedding": "set" } }), "two_moons", 2, 2);
    assert!(e.contains("flow.embedding_members"), "{e}");
    // Unknown names and zero sizes are refused while the value is read.
    let e = serde_json::from_value::<Settings>(serde_json::json!({ "flow": { "embedding": "cnn" } })).unwrap_err();
    assert!(e.to_string().contains("conv1d"), "{e}");
    let e = serde_json::from_value::<Settings>(serde_json::json!({ "flow": { "embedding_out": 0 } })).unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");
}

#[test]
fn set_embedding_on_slcp_replaces_the_moments_and_takes_their_member_count() {
    let settings: Settings = serde_json::from_value(serde_json::json!({ "flow": { "embedding": "set" } })).unwrap();
    let flow = settings.resolve(Some("slcp"), 5, 8).unwrap().flow;
    assert_eq!(flow.x_features, ObsFeatures::Raw);
    assert_eq!(flow.embedding, EmbeddingConfig::Set { members: 4, width: 64, depth: 2, out: 16 });
    assert_eq!((flow.context_width(), flow.conditioner_width()), (8, 16));
    // The MLP embedding keeps the moments as part of its input.
    let settings: Settings =
        serde_json::from_value(serde_json::json!({ "flow": { "embedding": "mlp", "embedding_out": 5 } })).unwrap();
    let flow = settings.resolve(Some("slcp"), 5, 8).unwrap().flow;
    assert_eq!(flow.x_features, ObsFeatures::SetMoments { members: 4 });
    assert_eq!((flow.context_width(), flow.conditioner_width()), (8 + 4 + 1, 5));
    // Without an embedding nothing changes: the standardisation is the unpooled one.
    let none = FlowConfig::new(2, X_DIM, BaseConfig::Gaussian);
    let x = observations(64, 1);
    assert_eq!(none.fit_standardizer(x.as_ref()).unwrap(), Standardizer::fit(x.as_ref()));
}
