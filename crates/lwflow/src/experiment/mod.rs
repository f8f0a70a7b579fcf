//! Built-in experiments: each trains several flows under one controlled change and reports what
//! the change does.
//!
//! - [`base_topology`]: the paper's claim, a mixture base against a Gaussian one on the
//!   disconnected modes of square2d/square3d.
//! - [`theta_scaling`]: how training time, accuracy and the cost of a step grow with the
//!   dimension of θ.

mod base_topology;
mod theta_scaling;

pub use base_topology::*;
pub use theta_scaling::*;
