//! Tasks written one (x, θ) row at a time: a task implements [`RowModel`] (its shapes, prior,
//! row likelihood and row simulator) and is a [`Model`] through the blanket impl below, which
//! checks shapes at the public boundary and applies the row kernels to
//! [`Model::log_likelihood`], [`Model::log_likelihood_at`] and [`Model::simulate`].

use crate::error::{Error, Result};
use crate::mat::{MatMut, MatRef};
use crate::model::{Model, Prior};
use crate::rng::Rng;

/// A task given by its per-row kernels; every `RowModel` is a [`Model`].
pub(crate) trait RowModel: Send + Sync {
    /// Name and dimensions.
    const SHAPES: RowShapes;
    /// This instance's shapes: [`RowModel::SHAPES`], unless the task's dimension is a setting.
    fn shapes(&self) -> RowShapes {
        Self::SHAPES
    }
    /// This instance's [`Model::name`]: the task's name, unless its dimension is a setting.
    fn task_name(&self) -> String {
        Self::SHAPES.task.into()
    }
    /// The prior π(θ).
    fn task_prior(&self) -> &Prior;
    /// log L(x|θ) for one row.
    fn row_log_likelihood(&self, x: &[f64], theta: &[f64]) -> f64;
    /// Writes one x ~ p(x|θ) into `x`.
    fn row_simulate(&self, theta: &[f64], rng: &mut Rng, x: &mut [f64]);
}

impl<T: RowModel> Model for T {
    fn name(&self) -> String {
        self.task_name()
    }

    fn theta_dim(&self) -> usize {
        self.shapes().theta_dim
    }

    fn x_dim(&self) -> usize {
        self.shapes().x_dim
    }

    fn prior(&self) -> &Prior {
        self.task_prior()
    }

    fn log_likelihood(&self, x: MatRef<f64>, theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.shapes().log_likelihood(x, theta, out, |x, t| self.row_log_likelihood(x, t))
    }

    fn log_likelihood_at(&self, x: &[f64], theta: MatRef<f64>, out: &mut [f64]) -> Result<()> {
        self.shapes().log_likelihood_at(x, theta, out, |x, t| self.row_log_likelihood(x, t))
    }

    fn simulate(&self, theta: MatRef<f64>, rng: &mut Rng, x: MatMut<f64>) -> Result<()> {
        self.shapes().simulate(theta, rng, x, |t, rng, x| self.row_simulate(t, rng, x))
    }
}

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
    pub(crate) fn log_likelihood(
        &self,
        x: MatRef<f64>,
        theta: MatRef<f64>,
        out: &mut [f64],
        mut row: impl FnMut(&[f64], &[f64]) -> f64,
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

    /// The shapes [`RowShapes::log_likelihood_at`] needs: x and θ columns, one output per θ row.
    pub(crate) fn check_at(&self, x: &[f64], theta: MatRef<f64>, out: &[f64]) -> Result<()> {
        self.check_cols(x.len(), theta.cols())?;
        if out.len() != theta.rows() {
            return Err(Error::invalid(
                format!("{} log_likelihood_at rows", self.task),
                format!("theta has {}, out {}; need equal", theta.rows(), out.len()),
            ));
        }
        Ok(())
    }

    /// `out[r] = row(x, θ_r)`: one observation against every θ row (no copy of x).
    pub(crate) fn log_likelihood_at(
        &self,
        x: &[f64],
        theta: MatRef<f64>,
        out: &mut [f64],
        mut row: impl FnMut(&[f64], &[f64]) -> f64,
    ) -> Result<()> {
        self.check_at(x, theta, out)?;
        for (r, o) in out.iter_mut().enumerate() {
            *o = row(x, theta.row(r));
        }
        Ok(())
    }

    /// `row(θ_r, rng, x_r)` for every row, after checking columns and equal row counts.
    pub(crate) fn simulate(
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

    /// [`RowShapes::log_likelihood`] of a task that solves an ODE per θ (sir, lotka_volterra):
    /// each x is checked and prepared by `observe` (its error is returned), each θ solved by
    /// `solve` (`None`: the solve failed), and `row(x, observed, solution)` is log L(x|θ).
    pub(crate) fn ode_log_likelihood<O, S>(
        &self,
        x: MatRef<f64>,
        theta: MatRef<f64>,
        out: &mut [f64],
        observe: impl Fn(&[f64]) -> Result<O>,
        solve: impl Fn(&[f64]) -> Option<S>,
        row: impl Fn(&[f64], &O, Option<&S>) -> f64,
    ) -> Result<()> {
        let mut bad = None;
        self.log_likelihood(x, theta, out, |x, t| match observe(x) {
            Ok(observed) => row(x, &observed, solve(t).as_ref()),
            Err(e) => {
                bad.get_or_insert(e);
                f64::NAN
            }
        })?;
        bad.map_or(Ok(()), Err)
    }

    /// [`RowShapes::simulate`] of a task that solves an ODE per θ: `draw(solution, rng, x_r)`; a
    /// failed solve is an error naming the first θ it failed at.
    pub(crate) fn ode_simulate<S>(
        &self,
        theta: MatRef<f64>,
        rng: &mut Rng,
        x: MatMut<f64>,
        solve: impl Fn(&[f64]) -> Option<S>,
        draw: impl Fn(&S, &mut Rng, &mut [f64]),
    ) -> Result<()> {
        let mut failed = None;
        self.simulate(theta, rng, x, |t, rng, x| match solve(t) {
            Some(solution) => draw(&solution, rng, x),
            None => {
                failed.get_or_insert_with(|| t.to_vec());
                x.fill(f64::NAN);
            }
        })?;
        match failed {
            None => Ok(()),
            Some(t) => {
                Err(Error::invalid(format!("{} simulate", self.task), format!("the ODE solve failed at theta {t:?}")))
            }
        }
    }
}
