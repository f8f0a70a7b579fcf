//! Row drivers shared by the sbibm tasks: shape checks at the public boundary, then a per-row
//! kernel. Each task writes its likelihood and simulator once, for one (x, θ) row, and these
//! drivers apply it to [`Model::log_likelihood`], [`Model::log_likelihood_at`] and
//! [`Model::simulate`].
//!
//! [`Model::log_likelihood`]: crate::model::Model::log_likelihood
//! [`Model::log_likelihood_at`]: crate::model::Model::log_likelihood_at
//! [`Model::simulate`]: crate::model::Model::simulate

use crate::error::{Error, Result};
use crate::mat::{MatMut, MatRef};
use crate::rng::Rng;

/// A task's dimensions and the names its shape errors use.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowShapes {
    /// Task name, for row-count errors.
    pub task: &'static str,
    /// Names of x and θ in column-count errors (e.g. "two_moons x").
    pub x_what: &'static str,
    pub theta_what: &'static str,
    pub x_dim: usize,
    pub theta_dim: usize,
}

impl RowShapes {
    fn check_cols(&self, x_cols: usize, theta_cols: usize) -> Result<()> {
        if x_cols != self.x_dim {
            return Err(Error::Shape { what: self.x_what, expected: self.x_dim, got: x_cols });
        }
        if theta_cols != self.theta_dim {
            return Err(Error::Shape { what: self.theta_what, expected: self.theta_dim, got: theta_cols });
        }
        Ok(())
    }

    /// `out[r] = row(x_r, θ_r)` after checking columns and that x, θ and `out` have equal rows.
    pub fn log_likelihood(
        &self,
        x: MatRef<f64>,
        theta: MatRef<f64>,
        out: &mut [f64],
        row: impl Fn(&[f64], &[f64]) -> f64,
    ) -> Result<()> {
        self.check_cols(x.cols(), theta.cols())?;
        if x.rows() != theta.rows() || out.len() != theta.rows() {
            return Err(Error::invalid(
                format!("{} log_likelihood rows", self.task),
                format!("x has {}, theta {}, out {}; need all equal", x.rows(), theta.rows(), out.len()),
            ));
        }
        for (r, o) in out.iter_mut().enumerate() {
            *o = row(x.row(r), theta.row(r));
        }
        Ok(())
    }

    /// `out[r] = row(x, θ_r)`: one observation against every θ row (no copy of x).
    pub fn log_likelihood_at(
        &self,
        x: &[f64],
        theta: MatRef<f64>,
        out: &mut [f64],
        row: impl Fn(&[f64], &[f64]) -> f64,
    ) -> Result<()> {
        self.check_cols(x.len(), theta.cols())?;
        if out.len() != theta.rows() {
            return Err(Error::invalid(
                format!("{} log_likelihood_at rows", self.task),
                format!("theta has {}, out {}; need equal", theta.rows(), out.len()),
            ));
        }
        for (r, o) in out.iter_mut().enumerate() {
            *o = row(x, theta.row(r));
        }
        Ok(())
    }

    /// `row(θ_r, rng, x_r)` for every row, after checking columns and equal row counts.
    pub fn simulate(
        &self,
        theta: MatRef<f64>,
        rng: &mut Rng,
        mut x: MatMut<f64>,
        mut row: impl FnMut(&[f64], &mut Rng, &mut [f64]),
    ) -> Result<()> {
        self.check_cols(x.cols(), theta.cols())?;
        if x.rows() != theta.rows() {
            return Err(Error::invalid(
                format!("{} simulate rows", self.task),
                format!("theta has {}, x {}; need equal", theta.rows(), x.rows()),
            ));
        }
        for r in 0..theta.rows() {
            row(theta.row(r), rng, x.row_mut(r));
        }
        Ok(())
    }
}
