//! Ordinary differential equations for the tasks whose simulator is an ODE (`sir`,
//! `lotka_volterra`): an adaptive Dormand–Prince 5(4) solver that reports the solution at given
//! times ([`solve_at`]), and a cache that lets one solve per θ serve every observation a training
//! step pairs it with ([`TrajectoryCache`]).
//!
//! Hand-written rather than a crate: the crates that fit (`ode_solvers`, `diffsol`) bring
//! nalgebra or a sparse-matrix stack for what is here ~100 lines on fixed-size arrays, and the
//! tasks need neither stiffness handling nor dense output (their observation times are hit
//! exactly by shortening a step).

mod cache;
mod dopri5;

pub use cache::TrajectoryCache;
pub use dopri5::{solve_at, OdeError, Tolerances};
