//! Conditional coupling flows.

mod affine;
mod layer;
mod permute;

pub use affine::{AffineCoupling, Split};
pub use layer::Layer;
pub use permute::Permutation;
