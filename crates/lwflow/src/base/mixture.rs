/// Gaussian mixture base.
#[derive(Clone, Debug)]
pub struct GaussianMixture;
