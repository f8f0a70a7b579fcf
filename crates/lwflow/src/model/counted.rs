//! A [`Model`] that counts its calls and refuses those that would exceed a budget.
//!
//! Every likelihood pair L(x_r|θ_r) and every simulated x is one model call. A budgeted training
//! run ([`crate::train::TrainConfig::budget`]) sees its model only through this wrapper, so the
//! counts it reports are the calls that were made, not a tally kept beside them, and a call that
//! would take the run over its budget is refused with an error naming `train.budget` before
//! the wrapped model is asked. Counters are atomics: the trainer calls from several threads.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::mat::{MatMut, MatRef};
use crate::rng::Rng;

use super::{Model, Prior};

/// `inner` with counters of likelihood pairs and simulations, and an optional limit on their sum.
pub struct CountedModel<'a> {
    inner: &'a dyn Model,
    budget: Option<u64>,
    likelihood_evals: AtomicU64,
    simulations: AtomicU64,
}

impl<'a> CountedModel<'a> {
    /// Counts the calls to `inner`; with `budget`, refuses a call that would make
    /// likelihood evaluations + simulations exceed it.
    pub fn new(inner: &'a dyn Model, budget: Option<u64>) -> Self {
        Self { inner, budget, likelihood_evals: AtomicU64::new(0), simulations: AtomicU64::new(0) }
    }

    /// Likelihood pairs evaluated so far.
    pub fn likelihood_evals(&self) -> u64 {
        self.likelihood_evals.load(Ordering::SeqCst)
    }

    /// Observations simulated so far.
    pub fn simulations(&self) -> u64 {
        self.simulations.load(Ordering::SeqCst)
    }

    /// Likelihood evaluations + simulations so far.
    pub fn spent(&self) -> u64 {
        self.likelihood_evals() + self.simulations()
    }

    /// Calls left before the budget (`u64::MAX` without one).
    pub fn remaining(&self) -> u64 {
        self.budget.map_or(u64::MAX, |b| b.saturating_sub(self.spent()))
    }

    /// Books `n` calls on `counter` if the budget allows them all (the check and the booking
    /// are one atomic step per counter; the sum of both counters is re-checked after booking, and
    /// the booking undone if a concurrent call of the other kind took the room first).
    fn book(&self, counter: &AtomicU64, n: usize, what: &str) -> Result<()> {
        let n = n as u64;
        let Some(budget) = self.budget else {
            counter.fetch_add(n, Ordering::SeqCst);
            return Ok(());
        };
        let before = counter.fetch_add(n, Ordering::SeqCst);
        let other =
            if std::ptr::eq(counter, &self.likelihood_evals) { &self.simulations } else { &self.likelihood_evals };
        let total = before + n + other.load(Ordering::SeqCst);
        if total > budget {
            counter.fetch_sub(n, Ordering::SeqCst);
            return Err(Error::invalid(
                "train.budget",
                format!(
                    "{n} more {what} would make {} model calls, over the budget of {budget} \
                     ({} likelihood evaluations and {} simulations spent)",
                    total,
                    self.likelihood_evals(),
                    self.simulations()
                ),
            ));
        }
        Ok(())
    }
}

impl Model for CountedModel<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn theta_dim(&self) -> usize {
        self.inner.theta_dim()
    }
    fn x_dim(&self) -> usize {
        self.inner.x_dim()
    }
    fn prior(&self) -> &Prior {
        self.inner.prior()
    }
    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.book(&self.likelihood_evals, theta.rows(), "likelihood evaluations")?;
        self.inner.log_likelihood(x, theta, out)
    }
    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, x: MatMut<f64>) -> Result<()> {
        self.book(&self.simulations, theta.rows(), "simulations")?;
        self.inner.simulate(theta, rng, x)
    }
    fn log_likelihood_at(&self, x: &[f64], theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        // The wrapped model's own fast path, counted once here.
        self.book(&self.likelihood_evals, theta.rows(), "likelihood evaluations")?;
        self.inner.log_likelihood_at(x, theta, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;
    use crate::rng::{stream, Stream};

    #[test]
    fn counts_every_call_and_refuses_past_the_budget() {
        let task = crate::tasks::by_name("two_moons").expect("built-in");
        let model = CountedModel::new(task.as_ref(), Some(100));
        let mut rng = stream(1, Stream::Theta, 0, 0);
        let mut theta = Mat::zeros(30, 2);
        model.prior().sample(&mut rng, theta.as_mut());
        let mut x = Mat::zeros(30, 2);
        model.simulate(theta.as_ref(), &mut rng, x.as_mut()).expect("30 ≤ 100");
        let mut out = vec![0.0; 30];
        model.log_likelihood(x.as_ref(), theta.as_ref(), &mut out).expect("60 ≤ 100");
        model.log_likelihood_at(x.row(0), theta.as_ref().rows_range(0, 20), &mut out[..20]).expect("80 ≤ 100");
        assert_eq!((model.likelihood_evals(), model.simulations(), model.remaining()), (50, 30, 20));
        let err = model.log_likelihood(x.as_ref(), theta.as_ref(), &mut out).expect_err("110 > 100");
        assert!(err.to_string().contains("train.budget") && err.to_string().contains("110"), "{err}");
        // A refused call is not counted, and the wrapped model was not asked.
        assert_eq!(model.spent(), 80);
        model
            .simulate(theta.as_ref().rows_range(0, 20), &mut rng, x.as_mut().rows_range_mut(0, 20))
            .expect("exactly 100");
        assert_eq!(model.remaining(), 0);
        let free = CountedModel::new(task.as_ref(), None);
        free.log_likelihood(x.as_ref(), theta.as_ref(), &mut out).expect("no budget");
        assert_eq!((free.likelihood_evals(), free.remaining()), (30, u64::MAX));
    }
}
