//! Built-in tasks and their catalogue: every task is one file here (its [`Model`], its reference
//! posterior, its [`TaskEntry`]) and one line of [`CATALOG`], from which task names, lookup,
//! references, recommended settings and the benchmark's choices derive.
//!
//! Names are strings only here, at the boundary the CLI and config files use; inside the library
//! a task is its concrete type (e.g. [`Square`]) or its [`TaskEntry`].

pub mod bernoulli_glm;
pub mod bernoulli_glm_raw;
pub mod defaults;
pub mod entry;
pub mod gaussian_linear;
pub mod gaussian_linear_uniform;
pub mod gaussian_mixture;
pub mod lotka_volterra;
mod numpy_mt19937;
mod rows;
pub mod sinusoid;
pub mod sir;
pub mod slcp;
pub mod slcp_distractors;
pub mod square;
pub mod two_moons;

pub use bernoulli_glm::BernoulliGlm;
pub use bernoulli_glm_raw::BernoulliGlmRaw;
pub use defaults::recommended;
pub use entry::{Published, TaskEntry, TaskReference};
pub use gaussian_linear::GaussianLinear;
pub use gaussian_linear_uniform::GaussianLinearUniform;
pub use gaussian_mixture::GaussianMixture;
pub use lotka_volterra::LotkaVolterra;
pub use sinusoid::Sinusoid;
pub use sir::Sir;
pub use slcp::Slcp;
pub use slcp_distractors::SlcpDistractors;
pub use square::{Square, SquarePosterior};
pub use two_moons::TwoMoons;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::reference::Reference;

/// The built-in tasks, in the order they are listed to users. A new task: its file, its `mod`
/// line above, and its entry here.
pub const CATALOG: &[TaskEntry] = &[
    square::SQUARE2D,
    square::SQUARE3D,
    two_moons::ENTRY,
    gaussian_mixture::ENTRY,
    slcp::ENTRY,
    gaussian_linear::ENTRY,
    gaussian_linear_uniform::ENTRY,
    bernoulli_glm::ENTRY,
    slcp_distractors::ENTRY,
    bernoulli_glm_raw::ENTRY,
    sir::ENTRY,
    lotka_volterra::ENTRY,
    sinusoid::ENTRY,
];

/// Every valid task name, in catalogue order.
pub const NAMES: &[&str] = &{
    let mut names = [""; CATALOG.len()];
    let mut i = 0;
    while i < CATALOG.len() {
        names[i] = CATALOG[i].name;
        i += 1;
    }
    names
};

/// The catalogue entry of the task called `name`; `None` for any other name (an external model).
pub fn find(name: &str) -> Option<&'static TaskEntry> {
    CATALOG.iter().find(|entry| entry.name == name)
}

/// The catalogue entry of the task called `name` (one of [`NAMES`]); an error listing the valid
/// names otherwise.
pub fn entry(name: &str) -> Result<&'static TaskEntry> {
    find(name).ok_or_else(|| {
        Error::invalid(format!("task {name:?}"), format!("unknown task; expected one of: {}", NAMES.join(", ")))
    })
}

/// The built-in task called `name` (one of [`NAMES`]).
pub fn by_name(name: &str) -> Result<Box<dyn Model>> {
    entry(name)?.model()
}

/// The reference posterior p(θ|x) of task `name` at the observation `x`
/// ([`TaskEntry::reference_at`]); `Ok(None)` for a task whose reference is an SMC run
/// ([`crate::benchmark::build_reference`]). Errors for an unknown name or an `x` of the wrong
/// length.
pub fn reference_for(name: &str, x: &[f64]) -> Result<Option<Box<dyn Reference>>> {
    entry(name)?.reference_at(x)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            match (reference, entry(name).expect("listed").reference) {
                (Some(reference), TaskReference::Exact(_) | TaskReference::Grid(_)) => {
                    assert_eq!(reference.dim(), task.theta_dim())
                }
                (None, TaskReference::Smc) => {}
                (reference, _) => panic!("{name}: reference built: {}", reference.is_some()),
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
        let msg = reference_for("slcp", &[1.0; 7]).err().expect("x has 7 entries, not 8").to_string();
        assert!(msg.contains("slcp observation x") && msg.contains("expected 8"), "{msg}");
    }

    #[test]
    fn catalogue_names_are_unique_and_match_the_models() {
        for (i, entry) in CATALOG.iter().enumerate() {
            assert_eq!(NAMES[i], entry.name);
            assert_eq!(entry.model().expect("builds").name(), entry.name);
            assert!(!NAMES[..i].contains(&entry.name), "{} listed twice", entry.name);
            let dim = entry.model().expect("builds").theta_dim();
            assert!(entry.sign_symmetric.iter().all(|&k| k < dim), "{}: symmetric coordinate out of range", entry.name);
        }
        assert_eq!(find("slcp").expect("listed").sign_symmetric, &[2, 3]);
        assert!(find("nope").is_none());
    }
}
