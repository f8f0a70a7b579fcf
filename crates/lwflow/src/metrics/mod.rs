//! Metrics comparing samples (and densities evaluated at them) with a reference posterior.
//! Samples in, numbers out: nothing here knows about flows.

pub mod c2st;
pub mod kl;
pub mod mmd;
pub mod modes;
pub mod wasserstein;

pub use c2st::{c2st, C2stConfig};
pub use kl::{kl_p_q, kl_q_p, zero_density_fraction};
pub use mmd::mmd2_unbiased;
pub use modes::{bridge_mass, mode_shares};

/// A Monte Carlo estimate with its standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The Monte Carlo mean.
    pub value: f64,
    /// Its standard error, sample std / √n.
    pub std_err: f64,
}
