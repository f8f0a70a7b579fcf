//! Neural-network building blocks for the conditioners: activations, the MLP, the optimiser.
//! Nets know nothing of flows.

pub mod activation;
pub mod adam;
pub mod mlp;

pub use activation::Activation;
pub use adam::{clip_grad_norm, Adam};
pub use mlp::Mlp;
