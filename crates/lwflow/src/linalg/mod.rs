//! Dense linear algebra on small row-major f64 matrices (d × d, d the dimension of θ): the
//! kernels the priors and the reference samplers share, each written once.
//!
//! Shape misuse is a bug (an assert naming the caller); data-dependent failure is a typed error
//! carrying where it happened ([`NonPositivePivot`]), and what to do about it (add jitter, fall
//! back to another matrix, report) is the caller's policy.

pub mod cholesky;

pub use cholesky::{cholesky, NonPositivePivot};
