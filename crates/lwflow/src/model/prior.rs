//! Priors with independent marginals (uniform on an interval, normal or log-normal), or one correlated
//! Gaussian N(μ, P⁻¹) given by its precision P (sbibm's `bernoulli_glm` smoothness prior).
//!
//! A correlated Gaussian keeps its exact normal marginals N(μ_k, (P⁻¹)_kk) in
//! [`Prior::marginals`] (what the flow's support map standardises with) while
//! [`Prior::log_density`] and [`Prior::sample`] use the joint: with P = R Rᵀ (Cholesky, R lower),
//! log π(θ) = −½ ‖Rᵀ(θ − μ)‖² + Σ_k log R_kk − (d/2) log 2π, and θ = μ + R⁻ᵀ z, z ~ N(0, I), has
//! covariance R⁻ᵀ R⁻¹ = P⁻¹.

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Error, Result};
use crate::linalg::cholesky;
use crate::mat::{MatMut, MatRef};
use crate::rng::Rng;
use crate::special::log_normal;

/// One dimension of a factorised prior.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Marginal {
    /// U(low, high).
    Uniform {
        /// Lower end a of the interval.
        low: f64,
        /// Upper end b > a.
        high: f64,
    },
    /// N(mean, std²).
    Normal {
        /// Mean μ.
        mean: f64,
        /// Standard deviation σ > 0.
        std: f64,
    },
    /// LogNormal(log_mean, log_std²): log θ ~ N(log_mean, log_std²), θ > 0 (sbibm's `sir` and
    /// `lotka_volterra` priors). log π(θ) = log φ((log θ − μ)/σ) − log σ − log θ.
    #[serde(rename = "lognormal")]
    LogNormal {
        /// Mean μ of log θ.
        log_mean: f64,
        /// Standard deviation σ > 0 of log θ.
        log_std: f64,
    },
}

/// A prior π(θ) = Π_k π_k(θ_k), or a correlated Gaussian (module docs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prior {
    marginals: Vec<Marginal>,
    /// The joint density when the dimensions are correlated; `None` for a product prior.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    joint: Option<JointGaussian>,
    /// Names of the dimensions (`[prior] names`): sample-file columns and plot axes. Absent
    /// from model files written before names existed, and from those of unnamed priors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    names: Option<Vec<String>>,
    /// Which dimensions are periodic (`[prior] periodic`): a uniform U(a, b) whose ends are one
    /// point, a ≡ b (an angle, a phase). Absent from model files written before periodic
    /// parameters existed, and from those of priors without any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    periodic: Option<Vec<bool>>,
}

/// N(μ, P⁻¹) through the Cholesky factor R of the precision P = R Rᵀ.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct JointGaussian {
    mean: Vec<f64>,
    /// R, lower triangular, row-major d × d.
    precision_chol: Vec<f64>,
    /// Σ_k log R_kk − (d/2) log 2π.
    log_norm: f64,
}

impl JointGaussian {
    fn log_density(&self, theta: &[f64]) -> f64 {
        let dim = self.mean.len();
        // (Rᵀ δ)_j = Σ_{i ≥ j} R_ij δ_i.
        let mut q = 0.0;
        for j in 0..dim {
            let v: f64 = (j..dim).map(|i| self.precision_chol[i * dim + j] * (theta[i] - self.mean[i])).sum();
            q += v * v;
        }
        self.log_norm - 0.5 * q
    }

    /// θ = μ + y with Rᵀ y = z, by back substitution.
    fn sample(&self, rng: &mut Rng, theta: &mut [f64]) {
        let dim = self.mean.len();
        for t in theta.iter_mut() {
            *t = StandardNormal.sample(rng);
        }
        for j in (0..dim).rev() {
            let s: f64 = (j + 1..dim).map(|i| self.precision_chol[i * dim + j] * theta[i]).sum();
            theta[j] = (theta[j] - s) / self.precision_chol[j * dim + j];
        }
        for (t, m) in theta.iter_mut().zip(&self.mean) {
            *t += m;
        }
    }
}

impl Marginal {
    fn validate(&self, k: usize) -> Result<()> {
        let ok = match *self {
            Marginal::Uniform { low, high } => low < high && (high - low).is_finite(),
            Marginal::Normal { mean, std } => mean.is_finite() && std.is_finite() && std > 0.0,
            Marginal::LogNormal { log_mean, log_std } => log_mean.is_finite() && log_std.is_finite() && log_std > 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                format!("prior dimension {k}"),
                format!("{self:?}: need finite low < high with a finite width high − low, or finite mean (log_mean) and std (log_std) > 0"),
            ))
        }
    }

    /// log π_k(t); −inf outside the support.
    pub fn log_density(&self, t: f64) -> f64 {
        match *self {
            Marginal::Uniform { low, high } => {
                if t > low && t < high {
                    -(high - low).ln()
                } else {
                    f64::NEG_INFINITY
                }
            }
            Marginal::Normal { mean, std } => log_normal(t, mean, std),
            Marginal::LogNormal { log_mean, log_std } => {
                if t > 0.0 {
                    let log_t = t.ln();
                    log_normal(log_t, log_mean, log_std) - log_t
                } else {
                    f64::NEG_INFINITY
                }
            }
        }
    }

    /// One draw.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        match *self {
            Marginal::Uniform { low, high } => rng.gen_range(low..high),
            Marginal::Normal { mean, std } => {
                let z: f64 = StandardNormal.sample(rng);
                mean + std * z
            }
            Marginal::LogNormal { log_mean, log_std } => {
                let z: f64 = StandardNormal.sample(rng);
                (log_mean + log_std * z).exp()
            }
        }
    }

    /// (low, high) of a bounded support, `None` for an unbounded one.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        match *self {
            Marginal::Uniform { low, high } => Some((low, high)),
            Marginal::Normal { .. } | Marginal::LogNormal { .. } => None,
        }
    }

    /// Mean and standard deviation.
    pub fn moments(&self) -> (f64, f64) {
        match *self {
            Marginal::Uniform { low, high } => (0.5 * (low + high), (high - low) / 12f64.sqrt()),
            Marginal::Normal { mean, std } => (mean, std),
            // E θ = e^{μ + σ²/2}, Var θ = (e^{σ²} − 1) e^{2μ + σ²}.
            Marginal::LogNormal { log_mean, log_std } => {
                let mean = (log_mean + 0.5 * log_std * log_std).exp();
                (mean, mean * (log_std * log_std).exp_m1().sqrt())
            }
        }
    }
}

/// `names` has one entry per dimension, each non-empty, without a comma or line break, all
/// different; errors name `prior.names` and the offending entry.
fn check_names(names: &[String], dim: usize) -> Result<()> {
    if names.len() != dim {
        return Err(Error::invalid("prior.names", format!("has {} names; θ has {dim} dimensions", names.len())));
    }
    for (k, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(Error::invalid("prior.names", format!("name {} is empty", k + 1)));
        }
        if let Some(c) = name.chars().find(|c| matches!(c, ',' | '\n' | '\r')) {
            return Err(Error::invalid(
                "prior.names",
                format!("name {} ({name:?}) contains {c:?}; names become CSV columns: no commas or line breaks", k + 1),
            ));
        }
        if let Some(first) = names[..k].iter().position(|n| n == name) {
            return Err(Error::invalid(
                "prior.names",
                format!("names {} and {} are both {name:?}; each dimension needs its own", first + 1, k + 1),
            ));
        }
    }
    Ok(())
}

impl Prior {
    /// A prior from its marginals; each is validated.
    pub fn new(marginals: Vec<Marginal>) -> Result<Self> {
        if marginals.is_empty() {
            return Err(Error::invalid("prior", "needs at least one dimension"));
        }
        for (k, m) in marginals.iter().enumerate() {
            m.validate(k)?;
        }
        Ok(Self { marginals, joint: None, names: None, periodic: None })
    }

    /// The correlated Gaussian N(μ, P⁻¹) with mean `mean` (length d) and precision `precision`
    /// (d × d, row-major, symmetric positive definite; only its lower triangle is read).
    pub fn gaussian(mean: Vec<f64>, precision: &[f64]) -> Result<Self> {
        let dim = mean.len();
        if dim == 0 {
            return Err(Error::invalid("prior", "needs at least one dimension"));
        }
        if precision.len() != dim * dim {
            return Err(Error::Shape {
                what: "Gaussian prior precision (d × d entries)",
                expected: dim * dim,
                got: precision.len(),
            });
        }
        if let Some(k) = mean.iter().position(|m| !m.is_finite()) {
            return Err(Error::invalid(format!("prior dimension {k}"), "Gaussian prior mean must be finite"));
        }
        let chol = cholesky(precision, dim).map_err(|e| Error::invalid("Gaussian prior precision", e.to_string()))?;
        // Marginal variances (P⁻¹)_kk = ‖column k of R⁻¹‖²; R⁻¹ by forward substitution.
        let mut inv = vec![0.0; dim * dim];
        for k in 0..dim {
            for i in k..dim {
                let s: f64 = (k..i).map(|j| chol[i * dim + j] * inv[j * dim + k]).sum();
                inv[i * dim + k] = (if i == k { 1.0 } else { 0.0 } - s) / chol[i * dim + i];
            }
        }
        let marginals = (0..dim)
            .map(|k| {
                let var: f64 = (k..dim).map(|i| inv[i * dim + k] * inv[i * dim + k]).sum();
                Marginal::Normal { mean: mean[k], std: var.sqrt() }
            })
            .collect();
        let log_det_half: f64 = (0..dim).map(|k| chol[k * dim + k].ln()).sum();
        let log_norm = log_det_half - 0.5 * dim as f64 * (2.0 * std::f64::consts::PI).ln();
        Ok(Self {
            marginals,
            joint: Some(JointGaussian { mean, precision_chol: chol, log_norm }),
            names: None,
            periodic: None,
        })
    }

    /// Checks what [`Prior::new`] and [`Prior::gaussian`] check, for a prior read from a file:
    /// valid marginals, and for a correlated Gaussian a finite mean and a finite lower-triangular
    /// factor with a positive diagonal.
    pub fn validate(&self) -> Result<()> {
        if self.marginals.is_empty() {
            return Err(Error::invalid("prior", "needs at least one dimension"));
        }
        for (k, m) in self.marginals.iter().enumerate() {
            m.validate(k)?;
        }
        if let Some(j) = &self.joint {
            let dim = self.marginals.len();
            let ok = j.mean.len() == dim
                && j.mean.iter().all(|m| m.is_finite())
                && j.precision_chol.len() == dim * dim
                && j.precision_chol.iter().all(|v| v.is_finite())
                && (0..dim).all(|k| j.precision_chol[k * dim + k] > 0.0)
                && j.log_norm.is_finite();
            if !ok {
                return Err(Error::invalid(
                    "Gaussian prior",
                    "mean and Cholesky factor of the precision must be finite, of dimension d, with a positive diagonal",
                ));
            }
        }
        if let Some(names) = &self.names {
            check_names(names, self.dim())?;
        }
        if let Some(periodic) = &self.periodic {
            self.check_periodic(periodic)?;
        }
        Ok(())
    }

    /// `periodic` has one flag per dimension and marks only uniform marginals of a product
    /// prior; errors name `prior.periodic` and the offending dimension.
    fn check_periodic(&self, periodic: &[bool]) -> Result<()> {
        if periodic.len() != self.dim() {
            return Err(Error::invalid(
                "prior.periodic",
                format!("has {} flags; θ has {} dimensions", periodic.len(), self.dim()),
            ));
        }
        for (k, (&p, m)) in periodic.iter().zip(&self.marginals).enumerate() {
            if p && (self.joint.is_some() || !matches!(m, Marginal::Uniform { .. })) {
                return Err(Error::invalid(
                    "prior.periodic",
                    format!(
                        "dimension {} is periodic but its prior is {m:?}; only a uniform U(a, b) can be (a ≡ b)",
                        k + 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// This prior with the dimensions flagged in `periodic` (key `[prior] periodic`, one flag per
    /// dimension) periodic: U(a, b) with a ≡ b, so the flow treats the dimension as an angle
    /// ([`crate::flow::Support`]). Only uniform marginals of a product prior can be periodic;
    /// errors name `prior.periodic`. All flags false gives the prior without any (model files
    /// stay as before).
    pub fn with_periodic(self, periodic: Vec<bool>) -> Result<Prior> {
        self.check_periodic(&periodic)?;
        let periodic = periodic.contains(&true).then_some(periodic);
        Ok(Prior { periodic, ..self })
    }

    /// One flag per dimension: whether it is periodic ([`Prior::with_periodic`]).
    pub fn periodic(&self) -> Vec<bool> {
        self.periodic.clone().unwrap_or_else(|| vec![false; self.dim()])
    }

    /// Whether any dimension is periodic.
    pub fn has_periodic(&self) -> bool {
        self.periodic.as_ref().is_some_and(|p| p.contains(&true))
    }

    /// This prior with its dimensions named `names` (key `[prior] names`): one per dimension,
    /// each non-empty, without commas or line breaks (they become CSV column names), all
    /// different. Errors name `prior.names`.
    pub fn with_names(self, names: Vec<String>) -> Result<Prior> {
        check_names(&names, self.dim())?;
        Ok(Prior { names: Some(names), ..self })
    }

    /// The names of the dimensions: those given ([`Prior::with_names`]), else
    /// [`Prior::default_names`].
    pub fn names(&self) -> Vec<String> {
        self.names.clone().unwrap_or_else(|| Self::default_names(self.dim()))
    }

    /// The names given with [`Prior::with_names`], if any.
    pub fn given_names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// `theta_1`, …, `theta_dim`: the columns of sample files of an unnamed prior.
    pub fn default_names(dim: usize) -> Vec<String> {
        (1..=dim).map(|k| format!("theta_{k}")).collect()
    }

    /// Whether the dimensions are correlated (a joint Gaussian), so that the marginals alone do
    /// not give the density.
    pub fn is_correlated(&self) -> bool {
        self.joint.is_some()
    }

    /// U(low, high)^dim.
    pub fn uniform_box(dim: usize, low: f64, high: f64) -> Result<Self> {
        Self::new(vec![Marginal::Uniform { low, high }; dim])
    }

    /// Dimension of θ (number of marginals).
    pub fn dim(&self) -> usize {
        self.marginals.len()
    }

    /// The marginals π_k; for a correlated Gaussian its exact normal marginals (module docs).
    pub fn marginals(&self) -> &[Marginal] {
        &self.marginals
    }

    /// log π(θ) of one row.
    pub fn log_density(&self, theta: &[f64]) -> f64 {
        if let Some(joint) = &self.joint {
            return joint.log_density(theta);
        }
        self.marginals.iter().zip(theta).map(|(m, &t)| m.log_density(t)).sum()
    }

    /// log π(θ_r) for every row.
    pub fn log_density_rows(&self, theta: MatRef<f64>, out: &mut [f64]) {
        for (r, o) in out.iter_mut().enumerate().take(theta.rows()) {
            *o = self.log_density(theta.row(r));
        }
    }

    /// Fills every row of `theta` with a prior draw.
    pub fn sample(&self, rng: &mut Rng, mut theta: MatMut<f64>) {
        if let Some(joint) = &self.joint {
            for r in 0..theta.rows() {
                joint.sample(rng, theta.row_mut(r));
            }
            return;
        }
        for r in 0..theta.rows() {
            for (t, m) in theta.row_mut(r).iter_mut().zip(&self.marginals) {
                *t = m.sample(rng);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn names_default_to_theta_k_and_are_kept_through_serde() {
        let prior = Prior::uniform_box(2, -1.0, 1.0).unwrap();
        assert_eq!(prior.names(), ["theta_1", "theta_2"]);
        assert_eq!(prior.given_names(), None);
        // Unnamed priors serialise as before names existed (model files stay byte-identical).
        let json = serde_json::to_string(&prior).unwrap();
        assert!(!json.contains("names"), "{json}");
        let named = prior.with_names(strings(&["freq", "phase"])).unwrap();
        assert_eq!(named.names(), ["freq", "phase"]);
        let back: Prior = serde_json::from_str(&serde_json::to_string(&named).unwrap()).unwrap();
        assert_eq!(back, named);
        back.validate().unwrap();
        let old: Prior = serde_json::from_str(&json).unwrap();
        assert_eq!(old.names(), ["theta_1", "theta_2"]);
    }

    #[test]
    fn bad_names_are_errors_naming_prior_names() {
        let prior = || Prior::uniform_box(2, -1.0, 1.0).unwrap();
        for (names, needle) in [
            (vec!["a"], "has 1 names; θ has 2"),
            (vec!["a", "b", "c"], "has 3 names"),
            (vec!["a", " "], "name 2 is empty"),
            (vec!["a,b", "c"], "contains ','"),
            (vec!["a", "b\nc"], "line breaks"),
            (vec!["a", "a"], "names 1 and 2 are both \"a\""),
        ] {
            let msg = prior().with_names(strings(&names)).unwrap_err().to_string();
            assert!(msg.contains("prior.names") && msg.contains(needle), "{names:?}: {msg}");
        }
        // A model file whose names do not fit its prior is refused when read.
        let json = r#"{"marginals":[{"kind":"uniform","low":0.0,"high":1.0}],"names":["a","b"]}"#;
        let read: Prior = serde_json::from_str(json).unwrap();
        assert!(read.validate().unwrap_err().to_string().contains("prior.names"));
    }

    #[test]
    fn periodic_flags_are_kept_through_serde_and_refused_on_other_marginals() {
        let prior =
            Prior::new(vec![Marginal::Uniform { low: 0.0, high: 1.0 }, Marginal::Normal { mean: 0.0, std: 1.0 }])
                .unwrap();
        assert_eq!(prior.periodic(), [false, false]);
        let json = serde_json::to_string(&prior).unwrap();
        assert!(!json.contains("periodic"), "{json}");
        let msg = prior.clone().with_periodic(vec![false, true]).unwrap_err().to_string();
        assert!(msg.contains("prior.periodic") && msg.contains("dimension 2") && msg.contains("Normal"), "{msg}");
        let msg = prior.clone().with_periodic(vec![true]).unwrap_err().to_string();
        assert!(msg.contains("prior.periodic") && msg.contains("has 1 flags"), "{msg}");
        let periodic = prior.clone().with_periodic(vec![true, false]).unwrap();
        assert!(periodic.has_periodic() && !prior.has_periodic());
        let back: Prior = serde_json::from_str(&serde_json::to_string(&periodic).unwrap()).unwrap();
        assert_eq!(back.periodic(), [true, false]);
        // All false is no periodic dimension: serialised as before.
        assert_eq!(prior.clone().with_periodic(vec![false, false]).unwrap(), prior);
        let bad = r#"{"marginals":[{"kind":"normal","mean":0.0,"std":1.0}],"periodic":[true]}"#;
        let read: Prior = serde_json::from_str(bad).unwrap();
        assert!(read.validate().unwrap_err().to_string().contains("prior.periodic"));
        let corr = Prior::gaussian(vec![0.0; 2], &[1.0, 0.0, 0.0, 1.0]).unwrap();
        assert!(corr.with_periodic(vec![true, false]).is_err());
    }

    #[test]
    fn uniform_density_integrates_to_one() {
        let m = Marginal::Uniform { low: -3.0, high: 3.0 };
        let n = 10_000;
        let h = 8.0 / n as f64;
        let s: f64 = (0..n).map(|i| m.log_density(-4.0 + (i as f64 + 0.5) * h).exp() * h).sum();
        assert!((s - 1.0).abs() < 1e-3, "{s}");
    }

    #[test]
    fn normal_density_integrates_to_one() {
        let m = Marginal::Normal { mean: 1.0, std: 0.5 };
        let n = 10_000;
        let h = 10.0 / n as f64;
        let s: f64 = (0..n).map(|i| m.log_density(-4.0 + (i as f64 + 0.5) * h).exp() * h).sum();
        assert!((s - 1.0).abs() < 1e-9, "{s}");
    }

    /// A 3-D precision with strong correlations: P = A Aᵀ + I for a fixed A.
    fn correlated_precision() -> Vec<f64> {
        let a = [1.0, 0.5, -0.3, 0.2, 2.0, 0.7, -1.0, 0.4, 1.5];
        let mut p = vec![0.0; 9];
        for i in 0..3 {
            for j in 0..3 {
                p[i * 3 + j] =
                    (0..3).map(|k| a[i * 3 + k] * a[j * 3 + k]).sum::<f64>() + if i == j { 1.0 } else { 0.0 };
            }
        }
        p
    }

    #[test]
    fn gaussian_prior_density_matches_the_precision_form() {
        let p = correlated_precision();
        let prior = Prior::gaussian(vec![0.5, -1.0, 2.0], &p).expect("positive definite");
        let theta = [0.1, 0.3, 1.2];
        let d = [theta[0] - 0.5, theta[1] + 1.0, theta[2] - 2.0];
        let q: f64 = (0..3).flat_map(|i| (0..3).map(move |j| (i, j))).map(|(i, j)| d[i] * p[i * 3 + j] * d[j]).sum();
        // det P by cofactors.
        let det = p[0] * (p[4] * p[8] - p[5] * p[7]) - p[1] * (p[3] * p[8] - p[5] * p[6])
            + p[2] * (p[3] * p[7] - p[4] * p[6]);
        let want = -0.5 * q + 0.5 * det.ln() - 1.5 * (2.0 * std::f64::consts::PI).ln();
        assert!((prior.log_density(&theta) - want).abs() < 1e-12, "{} vs {want}", prior.log_density(&theta));
        assert!(prior.is_correlated());
        assert!(Prior::gaussian(vec![0.0; 2], &[1.0, 2.0, 2.0, 1.0]).unwrap_err().to_string().contains("pivot 1"));
        assert!(Prior::gaussian(vec![0.0; 2], &[1.0; 3]).is_err());
    }

    #[test]
    fn gaussian_prior_samples_have_the_inverse_precision_as_covariance() {
        let p = correlated_precision();
        let prior = Prior::gaussian(vec![0.5, -1.0, 2.0], &p).expect("positive definite");
        let n_draws = 200_000;
        let mut theta = crate::mat::Mat::zeros(n_draws, 3);
        prior.sample(&mut crate::rng::stream(9, crate::rng::Stream::Theta, 0, 0), theta.as_mut());
        // Σ P should be I: E[(θ − μ)(θ − μ)ᵀ] P = I.
        let mean = [0.5, -1.0, 2.0];
        let mut cov = [0.0; 9];
        for r in 0..n_draws {
            let t = theta.row(r);
            for i in 0..3 {
                for j in 0..3 {
                    cov[i * 3 + j] += (t[i] - mean[i]) * (t[j] - mean[j]) / n_draws as f64;
                }
            }
        }
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| cov[i * 3 + k] * p[k * 3 + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 0.02, "(ΣP)[{i}][{j}] = {v}");
            }
            // The stored marginal sd is √Σ_ii.
            let Marginal::Normal { std, .. } = prior.marginals()[i] else { panic!("normal marginal") };
            assert!((std * std / cov[i * 3 + i] - 1.0).abs() < 0.02, "dim {i}");
        }
    }

    #[test]
    fn invalid_marginal_is_rejected_with_its_dimension() {
        let e = Prior::new(vec![Marginal::Uniform { low: 0.0, high: 1.0 }, Marginal::Uniform { low: 1.0, high: 1.0 }]);
        assert!(e.unwrap_err().to_string().contains("prior dimension 1"));
    }
}
