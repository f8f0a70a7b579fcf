//! Classifier two-sample test (C2ST), as in the sbibm benchmark (Lueckmann et al. 2021,
//! arXiv:2101.04653): both sample sets are z-scored with the *reference's* mean and std, an MLP
//! classifier (two hidden layers of 10·d ReLU units, Adam, minibatches of 200, L2 penalty 1e-4,
//! stop when the epoch loss has not improved by 1e-4 for 10 epochs — scikit-learn's
//! `MLPClassifier` defaults that sbibm uses) is trained to tell them apart, and the score is
//! its 5-fold cross-validated accuracy. 0.5: indistinguishable; 1.0: fully separable.

use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mat::{Mat, MatRef};
use crate::nn::{Activation, Adam, Mlp};
use crate::rng::{stream, Stream};
use crate::special::{sigmoid, softplus};

/// Settings of [`c2st`]; `Default` follows sbibm.
#[derive(Clone, Debug)]
pub struct C2stConfig {
    /// Cross-validation folds; the accuracy is the mean over held-out folds.
    pub folds: usize,
    /// Minibatch size of the classifier's Adam steps.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 penalty on the classifier's weights.
    pub l2: f64,
    /// Upper bound on training epochs per fold.
    pub max_epochs: usize,
    /// Smallest decrease of the training loss that counts as improvement.
    pub tol: f64,
    /// Epochs without improvement before a fold stops.
    pub patience: usize,
    /// Seed of the fold split, initialisation and minibatch order.
    pub seed: u64,
}

impl Default for C2stConfig {
    fn default() -> Self {
        Self { folds: 5, batch: 200, lr: 1e-3, l2: 1e-4, max_epochs: 500, tol: 1e-4, patience: 10, seed: 1 }
    }
}

/// C2ST accuracy between samples `p` (the reference) and `q`.
pub fn c2st(p: MatRef<f64>, q: MatRef<f64>, cfg: &C2stConfig) -> Result<f64> {
    let d = p.cols();
    if q.cols() != d {
        return Err(Error::Shape { what: "c2st samples", expected: d, got: q.cols() });
    }
    if p.rows() < cfg.folds || q.rows() < cfg.folds {
        return Err(Error::invalid("c2st samples", format!("need at least {} rows in each set", cfg.folds)));
    }
    // z-score with the reference's statistics.
    let n_p = p.rows() as f64;
    let mean: Vec<f64> = (0..d).map(|c| (0..p.rows()).map(|r| p.at(r, c)).sum::<f64>() / n_p).collect();
    let std: Vec<f64> = (0..d)
        .map(|c| ((0..p.rows()).map(|r| (p.at(r, c) - mean[c]).powi(2)).sum::<f64>() / n_p).sqrt().max(1e-12))
        .collect();
    let n = p.rows() + q.rows();
    let x = Mat::from_fn(n, d, |r, c| {
        let v = if r < p.rows() { p.at(r, c) } else { q.at(r - p.rows(), c) };
        ((v - mean[c]) / std[c]) as f32
    });
    let y: Vec<f32> = (0..n).map(|r| if r < p.rows() { 0.0 } else { 1.0 }).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut stream(cfg.seed, Stream::Metric, 0, 0));
    let accs: Vec<f64> = (0..cfg.folds)
        .into_par_iter()
        .map(|f| {
            let (lo, hi) = (f * n / cfg.folds, (f + 1) * n / cfg.folds);
            let test = &order[lo..hi];
            let train: Vec<usize> = order[..lo].iter().chain(&order[hi..]).copied().collect();
            let clf = Classifier::fit(&x, &y, train, cfg, f as u64);
            clf.accuracy(&x, &y, test)
        })
        .collect();
    Ok(accs.iter().sum::<f64>() / accs.len() as f64)
}

struct Classifier {
    mlp: Mlp,
    params: Vec<f32>,
}

impl Classifier {
    fn fit(x: &Mat<f32>, y: &[f32], mut train: Vec<usize>, cfg: &C2stConfig, fold: u64) -> Self {
        let d = x.cols();
        let mlp = Mlp::new(d, &[10 * d, 10 * d], 1, Activation::Relu);
        let mut rng = stream(cfg.seed, Stream::Metric, 1 + fold, 0);
        let mut params = vec![0f32; mlp.n_params()];
        mlp.init_params(&mut params, &mut rng, 1.0);
        let mut adam = Adam::<f32>::new(params.len(), cfg.lr);
        let b = cfg.batch.min(train.len());
        let mut ws = vec![0f32; mlp.workspace_len(b)];
        let mut xb = Mat::<f32>::zeros(b, d);
        let mut out = Mat::<f32>::zeros(b, 1);
        let mut d_out = Mat::<f32>::zeros(b, 1);
        let mut grad = vec![0f32; params.len()];
        let (mut best, mut stale) = (f64::INFINITY, 0);
        for _epoch in 0..cfg.max_epochs {
            train.shuffle(&mut rng);
            let mut epoch_loss = 0.0;
            for idx in train.chunks(b) {
                let rows = idx.len();
                xb.resize_rows(rows);
                out.resize_rows(rows);
                d_out.resize_rows(rows);
                for (r, &i) in idx.iter().enumerate() {
                    xb.row_mut(r).copy_from_slice(x.row(i));
                }
                mlp.forward(&params, xb.as_ref(), MatRef::empty(rows), out.as_mut(), &mut ws);
                // Binary cross-entropy with logits: ℓ = softplus(a) − y·a, dℓ/da = σ(a) − y.
                for (r, &i) in idx.iter().enumerate() {
                    let a = out.row(r)[0];
                    epoch_loss += f64::from(softplus(a) - y[i] * a);
                    d_out.row_mut(r)[0] = (sigmoid(a) - y[i]) / rows as f32;
                }
                grad.fill(0.0);
                mlp.backward(&params, &ws, xb.as_ref(), MatRef::empty(rows), d_out.as_ref(), None, None, &mut grad);
                for (g, &p) in grad.iter_mut().zip(&params) {
                    *g += cfg.l2 as f32 * p;
                }
                adam.step(&mut params, &grad);
            }
            let epoch_loss = epoch_loss / train.len() as f64;
            if epoch_loss < best - cfg.tol {
                best = epoch_loss;
                stale = 0;
            } else {
                stale += 1;
                if stale >= cfg.patience {
                    break;
                }
            }
        }
        Self { mlp, params }
    }

    fn accuracy(&self, x: &Mat<f32>, y: &[f32], test: &[usize]) -> f64 {
        let rows = test.len();
        let xt = Mat::from_fn(rows, x.cols(), |r, c| x.row(test[r])[c]);
        let mut out = Mat::<f32>::zeros(rows, 1);
        let mut ws = vec![0f32; self.mlp.workspace_len(rows)];
        self.mlp.forward(&self.params, xt.as_ref(), MatRef::empty(rows), out.as_mut(), &mut ws);
        let correct = (0..rows).filter(|&r| (out.row(r)[0] > 0.0) == (y[test[r]] > 0.5)).count();
        correct as f64 / rows as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    fn gaussian(n: usize, d: usize, shift: f64, seed: u64) -> Mat<f64> {
        let mut rng = stream(seed, Stream::Metric, 99, 0);
        Mat::from_fn(n, d, |_, _| {
            let z: f64 = StandardNormal.sample(&mut rng);
            z + shift
        })
    }

    #[test]
    fn c2st_is_half_for_one_distribution() {
        let (p, q) = (gaussian(2000, 2, 0.0, 1), gaussian(2000, 2, 0.0, 2));
        let acc = c2st(p.as_ref(), q.as_ref(), &C2stConfig::default()).unwrap();
        assert!((0.47..=0.53).contains(&acc), "{acc}");
    }

    #[test]
    fn c2st_is_one_for_separated_distributions() {
        let (p, q) = (gaussian(1000, 2, 0.0, 1), gaussian(1000, 2, 8.0, 2));
        let acc = c2st(p.as_ref(), q.as_ref(), &C2stConfig::default()).unwrap();
        assert!(acc > 0.99, "{acc}");
    }

    #[test]
    fn c2st_detects_a_moderate_shift() {
        // N(0,1) vs N(1,1) in 1-D: the Bayes classifier's accuracy is Φ(1/2) ≈ 0.691.
        let (p, q) = (gaussian(3000, 1, 0.0, 3), gaussian(3000, 1, 1.0, 4));
        let acc = c2st(p.as_ref(), q.as_ref(), &C2stConfig::default()).unwrap();
        assert!((acc - 0.691).abs() < 0.03, "{acc}");
    }
}
