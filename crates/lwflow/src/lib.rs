//! # lwflow — likelihood-weighted normalizing flows for amortized Bayesian inference
//!
//! Given a prior π(θ) and a likelihood L(x|θ) that can be evaluated, lwflow trains one
//! conditional normalizing flow q(θ|x) that approximates the posterior p(θ|x) for any x,
//! without posterior samples:
//!
//! 1. draw θ_i from a proposal r (the prior at first) and observations x_j (simulated);
//! 2. log-weights log w_ij = log L(x_j|θ_i) + log π(θ_i) − log r(θ_i|x_j), self-normalised
//!    over i for each j ([`weights`]);
//! 3. minimise −(1/J) Σ_j Σ_i w̃_ij log q(θ_i|x_j) ([`train`]), which equals
//!    E_x KL(p(θ|x) ‖ q(θ|x)) up to a constant.
//!
//! The flow ([`flow::Flow`]) maps θ through a fixed bijection of the prior's support and a
//! standardisation, then through conditional coupling layers, to a base distribution
//! ([`base`]): a standard normal or a Gaussian mixture, whose components can each take one
//! posterior mode and so avoid the probability "bridges" a unimodal base leaves between
//! disconnected modes (arXiv:2512.04954).
//!
//! Kernels are hand-differentiated, allocation-free and generic over [`Real`] (f32/f64);
//! every one is tested against central finite differences.
//!
//! ```no_run
//! use lwflow::flow::{BaseConfig, FlowConfig};
//! use lwflow::train::{fit, TrainConfig};
//!
//! let model = lwflow::tasks::by_name("square2d")?;
//! let flow_cfg = FlowConfig::new(2, 2, BaseConfig::Cgmm { components: 4 });
//! let (flow, meta) = fit(model.as_ref(), flow_cfg, TrainConfig::default(), &mut |_| {})?;
//! let samples = flow.sample(&[1.0, 2.0], 10_000, 1)?; // θ ~ q(θ | x = (1, 2))
//! lwflow::io::save_flow("model.lwf".as_ref(), &flow, &meta)?;
//! # Ok::<(), lwflow::Error>(())
//! ```
//!
//! Modules: [`model`] and [`tasks`] (what a user provides, and the built-in examples),
//! [`weights`] (self-normalised likelihood weights, ESS, batch layouts), [`flow`] and [`base`]
//! (the density), [`nn`] (hand-differentiated MLP kernels, Adam), [`train`] (the loss, the loop,
//! initialisation), [`reference`](mod@reference), [`metrics`], [`eval`] and [`experiment`] (judging a flow),
//! [`diagnostics`] (calibration checks without a reference: SBC, coverage, TARP, ESS),
//! [`io`] (model and sample files), [`settings`] (the user-facing settings that config files,
//! flags and keywords overlay, resolved into the flow and training configurations).

#![warn(missing_docs)]

pub mod base;
pub mod benchmark;
pub mod diagnostics;
pub mod embed;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod finite;
pub mod flow;
pub mod importance;
pub mod io;
pub mod limits;
pub mod linalg;
pub mod mat;
pub mod metrics;
pub mod model;
pub mod modes;
pub mod nn;
pub mod ode;
pub mod real;
pub mod reference;
pub mod rng;
pub mod settings;
pub mod special;
pub mod speed;
pub mod tasks;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod train;
pub mod weights;

/// The `rand` crate lwflow's [`rng::Rng`] implements, re-exported so a [`Model`] written in a
/// user's own crate calls `rng.gen()` (`use lwflow::rand::Rng as _;`) with exactly lwflow's version,
/// without pinning `rand` in its own `Cargo.toml`.
pub use rand;
/// The `rand_distr` crate (`StandardNormal`, `Normal`, `Distribution`, …) at the version that
/// draws from [`rng::Rng`], re-exported for a [`Model`]'s simulator for the same reason as [`rand`].
pub use rand_distr;

pub use error::{Error, Result};
pub use mat::{Mat, MatMut, MatRef};
pub use model::{Model, Prior};
pub use real::Real;
