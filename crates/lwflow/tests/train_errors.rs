//! Training (and importance sampling) stops with a message naming the culprit: a model's NaN
//! log-likelihood names the θ row and observation, a diverging run names the step; and a seed
//! fixes the result.

use lwflow::flow::{BaseConfig, CouplingConfig, Flow, FlowConfig};
use lwflow::mat::{MatMut, MatRef};
use lwflow::model::{Model, Prior};
use lwflow::rng::Rng;
use lwflow::train::{fit, prior_predictive_standardizer, train, TrainConfig};

/// square2d, except that one θ region returns NaN.
struct Broken {
    inner: Box<dyn Model>,
}

impl Model for Broken {
    fn name(&self) -> String {
        "broken".into()
    }
    fn theta_dim(&self) -> usize {
        2
    }
    fn x_dim(&self) -> usize {
        2
    }
    fn prior(&self) -> &Prior {
        self.inner.prior()
    }
    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> lwflow::Result<()> {
        self.inner.log_likelihood(x, theta, out)?;
        for (r, o) in out.iter_mut().enumerate() {
            if theta.at(r, 0) > 2.9 {
                *o = f64::NAN;
            }
        }
        Ok(())
    }
    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, x: MatMut<f64>) -> lwflow::Result<()> {
        self.inner.simulate(theta, rng, x)
    }
}

fn tiny_flow_config() -> FlowConfig {
    let mut c = FlowConfig::new(2, 2, BaseConfig::Gmm { components: 2 });
    c.hidden = vec![8];
    c.n_layers = 2;
    c.coupling = CouplingConfig::default_affine();
    c
}

fn tiny_train_config(seed: u64) -> TrainConfig {
    TrainConfig { steps: 30, thetas_per_step: 256, val_obs: 16, val_every: 10, seed, ..TrainConfig::default() }
}

#[test]
fn nan_log_likelihood_is_an_error_naming_the_row() {
    let model = Broken { inner: lwflow::tasks::by_name("square2d").unwrap() };
    let err = fit(&model, tiny_flow_config(), tiny_train_config(1), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("log-likelihood is NaN for theta row") && err.contains("x row"), "{err}");
}

#[test]
fn nan_log_likelihood_stops_importance_sampling_naming_the_row() {
    let model = Broken { inner: lwflow::tasks::by_name("square2d").unwrap() };
    let norm = prior_predictive_standardizer(&model, &tiny_flow_config(), 1000, 1).unwrap();
    let flow = Flow::<f32>::new(tiny_flow_config(), model.prior(), norm, 1).unwrap();
    let cfg = lwflow::importance::ImportanceConfig::default();
    let err = lwflow::importance::importance_resample(&model, &flow, &[1.0, 1.0], 200, &cfg, 1).unwrap_err();
    assert!(err.to_string().contains("log-likelihood is NaN for theta row"), "{err}");
}

#[test]
fn divergence_stops_with_the_step() {
    let model = lwflow::tasks::by_name("square2d").unwrap();
    let norm = prior_predictive_standardizer(model.as_ref(), &tiny_flow_config(), 1000, 1).unwrap();
    let mut flow = Flow::<f32>::new(tiny_flow_config(), model.prior(), norm, 1).unwrap();
    // Parameters at the edge of f32's range (finite, so accepted) overflow in the first
    // forward pass; learning rates large enough to diverge are refused up front (limits.rs).
    flow.params_mut().iter_mut().for_each(|p| *p = 3e38);
    let cfg = TrainConfig { lr: 1.0, warmup_steps: 0, ..tiny_train_config(1) };
    let err = train(model.as_ref(), &mut flow, &cfg, &mut |_| {}).unwrap_err().to_string();
    assert!(err.starts_with("training step ") && err.contains("not finite"), "{err}");
}

#[test]
fn same_seed_same_model_on_any_thread_count() {
    let model = lwflow::tasks::by_name("square2d").unwrap();
    let run = |threads: usize, seed: u64| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| fit(model.as_ref(), tiny_flow_config(), tiny_train_config(seed), &mut |_| {}).unwrap().0)
    };
    let (a, b, c) = (run(1, 4), run(3, 4), run(2, 5));
    assert_eq!(a.params(), b.params(), "thread count changed the result");
    assert_ne!(a.params(), c.params(), "the seed had no effect");
}

#[test]
fn a_run_stopped_by_its_time_limit_still_validates_and_saves() {
    let model = lwflow::tasks::by_name("square2d").unwrap();
    // A limit shorter than one step: the run stops after its first step, before any scheduled
    // validation (every 10 steps), and must still report a finite validation loss.
    let cfg = TrainConfig { time_limit: Some(1e-9), ..tiny_train_config(4) };
    let (flow, meta) = fit(model.as_ref(), tiny_flow_config(), cfg, &mut |_| {}).expect("trains");
    let summary = meta.summary.as_ref().expect("summary");
    assert!(summary.stopped_early && summary.steps_run == 1, "{summary:?}");
    assert_eq!(summary.history.len(), 1);
    assert!(summary.best_val_loss.is_finite() && summary.best_step == 1, "{summary:?}");
    // Non-finite numbers would be written as JSON null and make the file unreadable.
    let dir = tempfile::Builder::new().prefix("lwflow-time-limit-").tempdir().unwrap();
    let path = dir.path().join("model.lwf");
    lwflow::io::save_flow(&path, &flow, &meta).expect("saves");
    let (_, back) = lwflow::io::load_flow(&path).expect("loads back");
    assert_eq!(back.summary.expect("summary").best_step, 1);
}
