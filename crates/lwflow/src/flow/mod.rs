//! Conditional coupling flows.

mod layer;

pub use layer::Layer;
