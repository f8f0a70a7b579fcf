//! Learned observation embeddings e = E(x): a network of the standardised observation whose
//! output, instead of x itself, is the context of every coupling conditioner and of a
//! conditional mixture base, trained jointly with the flow.
//!
//! Why: a conditioner reading a long x (a spectrum, a series, a set of draws, many entries of
//! it noise) must learn the same summary of x once per coupling layer, with first-layer weights
//! for every entry. An embedding learns it once, in a network shaped for x's structure
//! ([`MlpEmbedding`]: none; [`SetEmbedding`]: exchangeable members, DeepSets ρ(mean φ(x_m)),
//! Zaheer et al. 2017, arXiv:1703.06114; [`Conv1dEmbedding`]: a series, local and
//! translation-equivariant), and hands every conditioner the same few numbers. Radev et al.
//! 2020 (BayesFlow, arXiv:2003.06281) train such summary networks jointly with the flow.
//!
//! One file per kernel, each implementing the contract [`Embedding`] (hand-differentiated,
//! allocation-free with caller scratch, tested against central differences); this file holds the
//! contract and the closed set: [`EmbeddingConfig`] (the serialisable choice, stored in model
//! files) and [`EmbeddingKind`] (the built network a flow owns). Nets know nothing of flows:
//! rows in, rows out; the flow evaluates E once per observation and sums its adjoint over that
//! observation's rows.

mod conv1d;
mod mlp;
mod set;

pub use conv1d::Conv1dEmbedding;
pub use mlp::MlpEmbedding;
pub use set::SetEmbedding;

use crate::error::{Error, Result};
use crate::limits::{check_count, MAX_DEPTH, MAX_DIM, MAX_HIDDEN};
use crate::mat::{MatMut, MatRef};
use crate::nn::Activation;
use crate::real::Real;
use crate::rng::Rng;

/// A hand-differentiated network e = E(x) of one row at a time, parameters in a flat slice.
pub trait Embedding<T: Real>: Send + Sync {
    /// Values of x per row.
    fn n_in(&self) -> usize;
    /// Values of e per row.
    fn n_out(&self) -> usize;
    /// Number of trainable parameters.
    fn n_params(&self) -> usize;
    /// Scratch length for `n_batch` rows: what `forward` keeps for `backward`, then `backward`'s
    /// own scratch.
    fn workspace_len(&self, n_batch: usize) -> usize;
    /// Writes initial parameters (PyTorch's default uniform initialisation of each layer).
    fn init_params(&self, p: &mut [T], rng: &mut Rng);
    /// e = E(x) row-wise (`x`: n × n_in, `e`: n × n_out); keeps in `ws` what `backward` needs.
    fn forward(&self, p: &[T], x: MatRef<T>, e: MatMut<T>, ws: &mut [T]);
    /// Given the adjoint of e, *adds* the parameter adjoint into `d_p`. `x` and `ws` are those
    /// of the matching `forward`; `ws` is mutable because backward uses its scratch part (x is
    /// data, so its adjoint is not formed).
    fn backward(&self, p: &[T], ws: &mut [T], x: MatRef<T>, d_e: MatRef<T>, d_p: &mut [T]);
}

/// The observation embedding of a flow; stored in model files (the flow configuration's
/// `embedding`, absent in files written before embeddings existed, which read as `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EmbeddingConfig {
    /// The conditioners read the standardised x (and its [`crate::flow::ObsFeatures`]) directly.
    #[default]
    None,
    /// e = MLP(x): `depth` hidden layers of `width` units, `out` outputs.
    Mlp {
        /// Units per hidden layer.
        width: usize,
        /// Hidden layers.
        depth: usize,
        /// Dimension of e.
        out: usize,
    },
    /// x is `members` exchangeable draws of x_dim / members values each, one after the other:
    /// e = ρ(mean_m φ(x_m)), φ with `depth` hidden layers of `width` units and `width` outputs,
    /// ρ with one hidden layer of `width` units and `out` outputs. Invariant to the members' order.
    Set {
        /// Number of exchangeable draws in one x (at least 2).
        members: usize,
        /// Units per hidden layer of φ and ρ, and the pooled dimension.
        width: usize,
        /// Hidden layers of φ.
        depth: usize,
        /// Dimension of e.
        out: usize,
    },
    /// x is `channels_in` series of equal length, one after the other: `blocks` blocks of
    /// (convolution with `channels` filters of odd width `kernel`, zero-padded to keep the
    /// length; activation; average pooling by 2), then a linear map to `out` values.
    Conv1d {
        /// Series (input channels) in one x; x_dim / channels_in is the series length.
        channels_in: usize,
        /// Filters per convolution.
        channels: usize,
        /// Filter width (odd).
        kernel: usize,
        /// Convolution + pooling blocks; the length must stay ≥ 1 after halving this many times.
        blocks: usize,
        /// Dimension of e.
        out: usize,
    },
}

impl EmbeddingConfig {
    /// Whether the conditioners read x directly.
    pub fn is_none(&self) -> bool {
        *self == EmbeddingConfig::None
    }

    /// Short name used in files and tables: "none", "mlp", "set", "conv1d".
    pub fn name(&self) -> &'static str {
        match self {
            EmbeddingConfig::None => "none",
            EmbeddingConfig::Mlp { .. } => "mlp",
            EmbeddingConfig::Set { .. } => "set",
            EmbeddingConfig::Conv1d { .. } => "conv1d",
        }
    }

    /// Width of the conditioners' context for an embedding input of `in_width` values: e's
    /// dimension, or `in_width` without an embedding.
    pub fn out_width(&self, in_width: usize) -> usize {
        match *self {
            EmbeddingConfig::None => in_width,
            EmbeddingConfig::Mlp { out, .. }
            | EmbeddingConfig::Set { out, .. }
            | EmbeddingConfig::Conv1d { out, .. } => out,
        }
    }

    /// Checks the shapes against observations of `x_dim` values; `raw_x` says whether the
    /// embedding's input is x alone, not x and its statistics (the set and convolutional
    /// embeddings need x's own layout). Errors name the settings key
    /// (`flow.embedding_members`, …) and what was expected; sizes stay within [`crate::limits`].
    pub fn validate(&self, x_dim: usize, raw_x: bool) -> Result<()> {
        let positive = |key: &str, v: usize| {
            if v == 0 {
                Err(Error::invalid(format!("flow.{key}"), "must be at least 1"))
            } else {
                Ok(())
            }
        };
        let limit = |key: &str, v: usize, max: usize| {
            check_count(
                &format!("embedding size (key `[flow] {key}`)"),
                v,
                max,
                "embeddings beyond this are out of scope",
            )
        };
        let (width, depth, out) = match *self {
            EmbeddingConfig::None => return Ok(()),
            EmbeddingConfig::Mlp { width, depth, out } => (width, depth, out),
            EmbeddingConfig::Set { width, depth, out, .. } => (width, depth, out),
            EmbeddingConfig::Conv1d { channels, blocks, out, .. } => (channels, blocks, out),
        };
        positive("embedding_width", width)?;
        positive("embedding_depth", depth)?;
        positive("embedding_out", out)?;
        limit("embedding_width", width, MAX_HIDDEN)?;
        limit("embedding_depth", depth, MAX_DEPTH)?;
        limit("embedding_out", out, MAX_DIM)?;
        let needs_raw = |kind: &str| {
            if raw_x {
                Ok(())
            } else {
                Err(Error::invalid(
                    "flow.set_members",
                    format!(
                        "the {kind} embedding reads x's own layout; it cannot take x's set moments (set_members = 1)"
                    ),
                ))
            }
        };
        match *self {
            EmbeddingConfig::None | EmbeddingConfig::Mlp { .. } => Ok(()),
            EmbeddingConfig::Set { members, .. } => {
                needs_raw("set")?;
                if members < 2 || !x_dim.is_multiple_of(members) {
                    return Err(Error::invalid(
                        "flow.embedding_members",
                        format!("{members} must be at least 2 and divide the observation's dimension {x_dim}"),
                    ));
                }
                Ok(())
            }
            EmbeddingConfig::Conv1d { channels_in, kernel, blocks, .. } => {
                needs_raw("conv1d")?;
                if channels_in == 0 || !x_dim.is_multiple_of(channels_in) {
                    return Err(Error::invalid(
                        "flow.embedding_channels",
                        format!("{channels_in} must be at least 1 and divide the observation's dimension {x_dim}"),
                    ));
                }
                let len = x_dim / channels_in;
                if kernel.is_multiple_of(2) || kernel > 2 * len + 1 {
                    return Err(Error::invalid(
                        "flow.embedding_kernel",
                        format!(
                            "{kernel} must be odd and at most 2·length + 1 = {} for series of length {len}",
                            2 * len + 1
                        ),
                    ));
                }
                if blocks >= usize::BITS as usize || len >> blocks == 0 {
                    return Err(Error::invalid(
                        "flow.embedding_depth",
                        format!("{blocks} blocks halve a series of length {len} to nothing; at most {}", len.ilog2()),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The network on inputs of `in_width` values with hidden activation `act`; `None` without
    /// an embedding. The configuration must have passed [`EmbeddingConfig::validate`].
    pub fn build(&self, in_width: usize, act: Activation) -> Option<EmbeddingKind> {
        Some(match *self {
            EmbeddingConfig::None => return None,
            EmbeddingConfig::Mlp { width, depth, out } => {
                EmbeddingKind::Mlp(MlpEmbedding::new(in_width, &vec![width; depth], out, act))
            }
            EmbeddingConfig::Set { members, width, depth, out } => {
                EmbeddingKind::Set(SetEmbedding::new(members, in_width / members, width, depth, out, act))
            }
            EmbeddingConfig::Conv1d { channels_in, channels, kernel, blocks, out } => EmbeddingKind::Conv1d(
                Conv1dEmbedding::new(channels_in, in_width / channels_in, channels, kernel, blocks, out, act),
            ),
        })
    }

    /// Number of parameters of the built network, without building it (saturating; for limits).
    pub fn n_params(&self, in_width: usize) -> usize {
        let mlp = |sizes: &[usize]| -> usize {
            sizes.windows(2).fold(0usize, |acc, w| acc.saturating_add(w[0].saturating_add(1).saturating_mul(w[1])))
        };
        match *self {
            EmbeddingConfig::None => 0,
            EmbeddingConfig::Mlp { width, depth, out } => {
                let mut sizes = vec![in_width];
                sizes.extend(std::iter::repeat_n(width, depth.min(MAX_DEPTH + 1)));
                sizes.push(out);
                mlp(&sizes)
            }
            EmbeddingConfig::Set { members, width, depth, out } => {
                let mut phi = vec![in_width / members.max(1)];
                phi.extend(std::iter::repeat_n(width, depth.min(MAX_DEPTH + 1) + 1));
                mlp(&phi).saturating_add(mlp(&[width, width, out]))
            }
            EmbeddingConfig::Conv1d { channels_in, channels, kernel, blocks, out } => {
                let len = in_width / channels_in.max(1);
                let first = channels.saturating_mul(channels_in.saturating_mul(kernel).saturating_add(1));
                let rest = channels.saturating_mul(channels.saturating_mul(kernel).saturating_add(1));
                let last_len = len.checked_shr(blocks as u32).unwrap_or(0);
                first
                    .saturating_add(rest.saturating_mul(blocks.saturating_sub(1)))
                    .saturating_add(mlp(&[channels.saturating_mul(last_len), out]))
            }
        }
    }
}

/// A built embedding network.
#[derive(Clone, Debug, PartialEq)]
pub enum EmbeddingKind {
    /// [`EmbeddingConfig::Mlp`].
    Mlp(MlpEmbedding),
    /// [`EmbeddingConfig::Set`].
    Set(SetEmbedding),
    /// [`EmbeddingConfig::Conv1d`].
    Conv1d(Conv1dEmbedding),
}

impl EmbeddingKind {
    /// Name of the network's parameter tensor in model files (`embedding.{name}`).
    pub fn param_name(&self) -> &'static str {
        match self {
            EmbeddingKind::Mlp(_) => "mlp",
            EmbeddingKind::Set(_) => "set",
            EmbeddingKind::Conv1d(_) => "conv1d",
        }
    }
}

macro_rules! dispatch_embedding {
    ($self:ident, $e:ident => $body:expr) => {
        match $self {
            EmbeddingKind::Mlp($e) => $body,
            EmbeddingKind::Set($e) => $body,
            EmbeddingKind::Conv1d($e) => $body,
        }
    };
}

impl<T: Real> Embedding<T> for EmbeddingKind {
    fn n_in(&self) -> usize {
        dispatch_embedding!(self, e => Embedding::<T>::n_in(e))
    }
    fn n_out(&self) -> usize {
        dispatch_embedding!(self, e => Embedding::<T>::n_out(e))
    }
    fn n_params(&self) -> usize {
        dispatch_embedding!(self, e => Embedding::<T>::n_params(e))
    }
    fn workspace_len(&self, n_batch: usize) -> usize {
        dispatch_embedding!(self, e => Embedding::<T>::workspace_len(e, n_batch))
    }
    fn init_params(&self, p: &mut [T], rng: &mut Rng) {
        dispatch_embedding!(self, e => e.init_params(p, rng))
    }
    fn forward(&self, p: &[T], x: MatRef<T>, e_out: MatMut<T>, ws: &mut [T]) {
        dispatch_embedding!(self, e => e.forward(p, x, e_out, ws))
    }
    fn backward(&self, p: &[T], ws: &mut [T], x: MatRef<T>, d_e: MatRef<T>, d_p: &mut [T]) {
        dispatch_embedding!(self, e => e.backward(p, ws, x, d_e, d_p))
    }
}

/// Shared checks for the kernels' tests: backward against central differences of the probe
/// loss Σ r ⊙ E(x) for every parameter, on random parameters and inputs, in f64.
#[cfg(test)]
pub(crate) mod check {
    use super::Embedding;
    use crate::mat::{Mat, MatRef};
    use crate::testing::{assert_all_close, numerical_gradient, FD_REL_TOL};
    use rand::{Rng as _, SeedableRng};

    /// Random values in (−scale, scale).
    pub fn random(len: usize, scale: f64, rng: &mut crate::rng::Rng) -> Vec<f64> {
        (0..len).map(|_| scale * (2.0 * rng.gen::<f64>() - 1.0)).collect()
    }

    /// e = E(x) on fresh NaN-filled scratch.
    pub fn embed(net: &dyn Embedding<f64>, p: &[f64], x: &Mat<f64>) -> Mat<f64> {
        let mut e = Mat::from_fn(x.rows(), net.n_out(), |_, _| f64::NAN);
        let mut ws = vec![f64::NAN; net.workspace_len(x.rows())];
        net.forward(p, x.as_ref(), e.as_mut(), &mut ws);
        e
    }

    /// Backward (added into a random offset) vs central differences, `n_batch` rows.
    #[track_caller]
    pub fn check_embedding_gradient(net: &dyn Embedding<f64>, n_batch: usize, seed: u64) {
        let mut rng = crate::rng::Rng::seed_from_u64(seed);
        let p = random(net.n_params(), 0.6, &mut rng);
        let x = Mat::from_vec(n_batch, net.n_in(), random(n_batch * net.n_in(), 1.5, &mut rng));
        let r = random(n_batch * net.n_out(), 1.0, &mut rng);
        let probe = |p: &[f64]| -> f64 { embed(net, p, &x).as_slice().iter().zip(&r).map(|(e, r)| e * r).sum() };
        let mut ws = vec![f64::NAN; net.workspace_len(n_batch)];
        let mut e = Mat::zeros(n_batch, net.n_out());
        net.forward(&p, x.as_ref(), e.as_mut(), &mut ws);
        let offset = random(net.n_params(), 1.0, &mut rng);
        let mut d_p = offset.clone();
        net.backward(&p, &mut ws, x.as_ref(), MatRef::new(&r, n_batch, net.n_out()), &mut d_p);
        let got: Vec<f64> = d_p.iter().zip(&offset).map(|(d, o)| d - o).collect();
        assert_all_close("embedding d_p", &got, &numerical_gradient(probe, &p), FD_REL_TOL);
        // Rows are independent: a batch equals its rows one at a time.
        for row in 0..n_batch {
            let one = Mat::from_vec(1, net.n_in(), x.row(row).to_vec());
            assert_all_close("row alone", embed(net, &p, &one).row(0), e.row(row), 1e-12);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_embedding_agrees_with_its_config() {
        let configs = [
            (EmbeddingConfig::Mlp { width: 8, depth: 2, out: 3 }, 12),
            (EmbeddingConfig::Set { members: 4, width: 8, depth: 2, out: 3 }, 12),
            (EmbeddingConfig::Conv1d { channels_in: 2, channels: 4, kernel: 3, blocks: 2, out: 3 }, 12),
        ];
        for (cfg, width) in configs {
            cfg.validate(width, true).expect("valid");
            let net = cfg.build(width, Activation::Silu).expect("an embedding");
            assert_eq!(net.param_name(), cfg.name());
            assert_eq!(Embedding::<f64>::n_params(&net), cfg.n_params(width), "{cfg:?}");
            assert_eq!((Embedding::<f64>::n_in(&net), Embedding::<f64>::n_out(&net)), (width, 3));
            assert_eq!(cfg.out_width(width), 3);
        }
        assert!(EmbeddingConfig::None.build(5, Activation::Silu).is_none());
        assert_eq!(EmbeddingConfig::None.out_width(5), 5);
    }

    #[test]
    fn bad_shapes_are_refused_naming_the_key() {
        let err =
            |cfg: EmbeddingConfig, x_dim: usize, raw: bool| cfg.validate(x_dim, raw).expect_err("invalid").to_string();
        let set = |members| EmbeddingConfig::Set { members, width: 8, depth: 1, out: 2 };
        assert!(err(set(3), 8, true).contains("flow.embedding_members"));
        assert!(err(set(1), 8, true).contains("flow.embedding_members"));
        assert!(err(set(4), 8, false).contains("flow.set_members"));
        let conv =
            |channels_in, kernel, blocks| EmbeddingConfig::Conv1d { channels_in, channels: 4, kernel, blocks, out: 2 };
        assert!(err(conv(3, 3, 1), 10, true).contains("flow.embedding_channels"));
        assert!(err(conv(1, 4, 1), 10, true).contains("flow.embedding_kernel"));
        assert!(err(conv(1, 3, 4), 10, true).contains("flow.embedding_depth"));
        conv(1, 3, 3).validate(10, true).expect("10 → 5 → 2 → 1");
        let e = err(EmbeddingConfig::Mlp { width: 0, depth: 1, out: 2 }, 4, true);
        assert!(e.contains("flow.embedding_width"), "{e}");
        let e = err(EmbeddingConfig::Mlp { width: MAX_HIDDEN + 1, depth: 1, out: 2 }, 4, true);
        assert!(e.contains("embedding_width"), "{e}");
    }
}
