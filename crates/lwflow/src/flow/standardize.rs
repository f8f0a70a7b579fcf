//! [`Standardizer`]: the fixed affine map ctx = (c(x) − mean) / std applied to the conditioners'
//! context, fitted once on prior-predictive simulations and stored in model files.

use crate::mat::MatRef;

/// Fixed affine standardisation of the conditioners' context c(x) (x, then the statistics of its
/// [`ObsFeatures`](super::ObsFeatures)): ctx = (c(x) − mean) / std.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Standardizer {
    /// Per-column mean of c(x) (prior-predictive estimate).
    pub mean: Vec<f64>,
    /// Per-column standard deviation of c(x) (positive).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Mean and std of the rows of `x` (std floored at 1e-12 of the mean's scale).
    pub fn fit(x: MatRef<f64>) -> Self {
        let (n, d) = (x.rows().max(1) as f64, x.cols());
        let mean: Vec<f64> = (0..d).map(|c| (0..x.rows()).map(|r| x.at(r, c)).sum::<f64>() / n).collect();
        let std = (0..d)
            .map(|c| {
                let v = (0..x.rows()).map(|r| (x.at(r, c) - mean[c]).powi(2)).sum::<f64>() / n;
                v.sqrt().max(1e-12 * (1.0 + mean[c].abs()))
            })
            .collect();
        Self { mean, std }
    }
}
