//! Built-in tasks, looked up by name, and their exact reference posteriors.
//!
//! Names are strings only here, at the boundary the CLI and config files use; inside the library
//! a task is its concrete type (e.g. [`Square`]).

pub mod square;

pub use square::Square;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::reference::Reference;

/// Every valid task name, in the order they are listed to users.
pub const NAMES: &[&str] = &["square2d", "square3d"];

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
    match square_by_name(name) {
        Some(task) => Ok(Box::new(task?)),
        None => Err(unknown(name)),
    }
}

/// The exact reference posterior p(θ|x) of task `name` at the observation `x`; `Ok(None)` for a
/// task without a known reference (none of the current ones). Errors for an unknown name or an
/// `x` of the wrong length.
pub fn reference_for(name: &str, x: &[f64]) -> Result<Option<Box<dyn Reference>>> {
    match square_by_name(name) {
        Some(task) => Ok(Some(Box::new(task?.reference(x)?))),
        None => Err(unknown(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_builds_a_task_and_a_reference() {
        for &name in NAMES {
            let task = by_name(name).expect("listed names are valid");
            assert_eq!(task.name(), name);
            let x = vec![1.0; task.x_dim()];
            let reference = reference_for(name, &x).expect("valid x").expect("square tasks have a reference");
            assert_eq!(reference.dim(), task.theta_dim());
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
