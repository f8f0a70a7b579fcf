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

    /// The statistics of `members` equal blocks of columns (exchangeable draws, one after the
    /// other) pooled per position: column a of every block gets the mean m̄_a = (1/M) Σ_m m_{m,a}
    /// and the standard deviation of the pooled draws, √((1/M) Σ_m (s²_{m,a} + (m_{m,a} − m̄_a)²)).
    pub fn pooled(&self, members: usize) -> Self {
        let k = self.mean.len() / members;
        fn block(v: &[f64], members: usize, k: usize, a: usize) -> impl Iterator<Item = f64> + '_ {
            (0..members).map(move |m| v[m * k + a])
        }
        let n = members as f64;
        let mean: Vec<f64> = (0..k).map(|a| block(&self.mean, members, k, a).sum::<f64>() / n).collect();
        let std: Vec<f64> = (0..k)
            .map(|a| {
                let var = block(&self.std, members, k, a)
                    .zip(block(&self.mean, members, k, a))
                    .map(|(s, m)| s * s + (m - mean[a]).powi(2));
                (var.sum::<f64>() / n).sqrt()
            })
            .collect();
        Self { mean: mean.repeat(members), std: std.repeat(members) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_statistics_are_those_of_all_members_together() {
        // Two members of 2 values, 3 draws: member 0 = (1, 10), (3, 10), (2, 13); member 1 = (0, 9), (4, 11), (5, 12).
        let rows = [1.0, 10.0, 0.0, 9.0, 3.0, 10.0, 4.0, 11.0, 2.0, 13.0, 5.0, 12.0];
        let pooled = Standardizer::fit(MatRef::new(&rows, 3, 4)).pooled(2);
        let first: Vec<f64> = rows.chunks(2).map(|p| p[0]).collect();
        let m = first.iter().sum::<f64>() / 6.0;
        let s = (first.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 6.0).sqrt();
        assert!((pooled.mean[0] - m).abs() < 1e-12 && (pooled.mean[2] - m).abs() < 1e-12);
        assert!((pooled.std[0] - s).abs() < 1e-12 && (pooled.std[2] - s).abs() < 1e-12);
        assert_eq!((pooled.mean[1], pooled.std[1]), (pooled.mean[3], pooled.std[3]));
    }
}
