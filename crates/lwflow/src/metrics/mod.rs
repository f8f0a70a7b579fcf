//! (in progress)
pub mod wasserstein;
