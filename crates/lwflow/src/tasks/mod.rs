//! Built-in tasks, looked up by name, and their exact reference posteriors.
//!
//! Names are strings only here, at the boundary the CLI and config files use; inside the library
//! a task is its concrete type (e.g. [`Square`]).

pub mod bernoulli_glm;
pub mod defaults;
pub mod gaussian_linear;
pub mod gaussian_linear_uniform;
pub mod gaussian_mixture;
mod numpy_mt19937;
mod rows;
pub mod slcp;
pub mod square;
pub mod two_moons;

pub use bernoulli_glm::BernoulliGlm;
pub use defaults::recommended;
pub use gaussian_linear::GaussianLinear;
pub use gaussian_linear_uniform::GaussianLinearUniform;
pub use gaussian_mixture::GaussianMixture;
pub use slcp::Slcp;
pub use square::Square;
pub use two_moons::TwoMoons;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::reference::{grid_reference, Reference};

/// Every valid task name, in the order they are listed to users.
pub const NAMES: &[&str] = &[
    "square2d",
    "square3d",
    "two_moons",
    "gaussian_mixture",
    "slcp",
    "gaussian_linear",
    "gaussian_linear_uniform",
    "bernoulli_glm",
];

/// The square task with `dim` dimensions and the default noise, for the names that denote one.
fn square_by_name(name: &str) -> Option<Result<Square>> {
    match name {
        "square2d" => Some(Square::new(2, Square::DEFAULT_NOISE)),
        "square3d" => Some(Square::new(3, Square::DEFAULT_NOISE)),
        _ => None,
    }
}

fn unknown(name: &str) -> Error {
    Error::invalid(format!("task {name:?}"), format!("unknown task; expected one of: {}", NAMES.join(", ")))
}

/// The built-in task called `name` (one of [`NAMES`]).
pub fn by_name(name: &str) -> Result<Box<dyn Model>> {
    if let Some(task) = square_by_name(name) {
        return Ok(Box::new(task?));
    }
    match name {
        "two_moons" => Ok(Box::new(TwoMoons::new())),
        "gaussian_mixture" => Ok(Box::new(GaussianMixture::new())),
        "slcp" => Ok(Box::new(Slcp::new())),
        "bernoulli_glm" => Ok(Box::new(BernoulliGlm::new())),
        "gaussian_linear" => Ok(Box::new(GaussianLinear::new())),
        "gaussian_linear_uniform" => Ok(Box::new(GaussianLinearUniform::new())),
        _ => Err(unknown(name)),
    }
}

/// `Ok(())` when `x` has `expected` entries: tasks without a reference still check their input.
fn check_x_len(what: &'static str, expected: usize, x: &[f64]) -> Result<()> {
    if x.len() == expected {
        Ok(())
    } else {
        Err(Error::Shape { what, expected, got: x.len() })
    }
}

/// The reference posterior p(θ|x) of task `name` at the observation `x`; `Ok(None)` for a task
/// without one here. Exact for `square*`, `gaussian_mixture`, `gaussian_linear` and
/// `gaussian_linear_uniform`; a fine grid ([`grid_reference`]) for `two_moons`; none for `slcp` and
/// `bernoulli_glm`, whose reference is a sampler run ([`crate::benchmark::build_reference`]).
/// Errors for an unknown name or an `x` of the wrong length.
pub fn reference_for(name: &str, x: &[f64]) -> Result<Option<Box<dyn Reference>>> {
    if let Some(task) = square_by_name(name) {
        return Ok(Some(Box::new(task?.reference(x)?)));
    }
    match name {
        "two_moons" => Ok(Some(Box::new(grid_reference(&TwoMoons::new(), x, Some(two_moons::GRID_CELLS_PER_DIM))?))),
        "gaussian_mixture" => Ok(Some(Box::new(GaussianMixture::new().reference(x)?))),
        "slcp" => {
            check_x_len("slcp observation x", Slcp::new().x_dim(), x)?;
            Ok(None)
        }
        "bernoulli_glm" => {
            check_x_len("bernoulli_glm observation x", bernoulli_glm::DIM, x)?;
            Ok(None)
        }
        "gaussian_linear" => Ok(Some(Box::new(GaussianLinear::new().reference(x)?))),
        "gaussian_linear_uniform" => Ok(Some(Box::new(GaussianLinearUniform::new().reference(x)?))),
        _ => Err(unknown(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tasks whose reference is an SMC run in `benchmark` (`reference_for` gives `Ok(None)`).
    const WITHOUT_REFERENCE: &[&str] = &["slcp", "bernoulli_glm"];

    #[test]
    fn every_listed_name_builds_a_task_and_a_reference() {
        use crate::mat::Mat;
        use crate::rng::{stream, Stream};
        for &name in NAMES {
            let task = by_name(name).expect("listed names are valid");
            assert_eq!(task.name(), name);
            // An observation the task can produce: simulated at a prior draw.
            let mut theta = Mat::zeros(1, task.theta_dim());
            task.prior().sample(&mut stream(1, Stream::Theta, 0, 0), theta.as_mut());
            let mut x = Mat::zeros(1, task.x_dim());
            task.simulate(theta.as_ref(), &mut stream(1, Stream::Simulate, 0, 0), x.as_mut()).expect("shapes");
            let reference = reference_for(name, x.row(0)).expect("valid x");
            match reference {
                Some(reference) => assert_eq!(reference.dim(), task.theta_dim()),
                None => assert!(WITHOUT_REFERENCE.contains(&name), "{name} has no reference"),
            }
        }
    }

    #[test]
    fn unknown_name_error_lists_valid_names() {
        let msg = by_name("square4d").err().expect("unknown name is an error").to_string();
        assert!(msg.contains("square4d") && msg.contains("square2d, square3d"), "{msg}");
        assert!(reference_for("nope", &[1.0]).is_err());
    }

    #[test]
    fn reference_with_wrong_x_length_is_an_error() {
        let msg = reference_for("square3d", &[1.0, 2.0]).err().expect("x has 2 entries, not 3").to_string();
        assert!(msg.contains("expected 3"), "{msg}");
    }
}
