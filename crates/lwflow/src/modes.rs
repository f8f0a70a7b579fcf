//! Counting the modes of a weighted point cloud ([`count_modes`]): weighted EM fits of
//! K = 1, 2, … diagonal Gaussians ([`em_weighted_mixture`]), the K with the lowest BIC ([`bic`]),
//! then the modes of that mixture, smoothed ([`mixture_modes`]); all in the cloud's
//! per-dimension standardised units, which change no density ratio. Geometry only: nothing here
//! knows about models, flows or training ([`crate::train::auto_k`] counts a posterior's modes
//! with it to choose a mixture base's number of components).
//!
//! # Components are not modes
//!
//! BIC picks how many *Gaussians* describe a cloud well, and with N in the thousands it picks
//! several per mode whenever a mode is not Gaussian: a curved crescent (two_moons: 5–8 per
//! crescent) or a skewed, flat or correlated mode (slcp: 9–16 for 4 modes) needs several
//! diagonal Gaussians. So the fitted mixture's modes are counted instead, in three steps.
//!
//! 1. **Smooth.** Diagonal Gaussians tiling a thin curved ridge are round blobs in a row, and the
//!    density between two neighbours can fall to a fraction of their peaks (measured on
//!    two_moons: ridges split into 3–8 "modes" with dips down to < ½). The fit is therefore
//!    convolved with a Gaussian kernel, σ_k² → σ_k² + h², h = Silverman's rule-of-thumb
//!    bandwidth in the standardised units ([`silverman_bandwidth`]; 0.28 for N = 2000 in 2-D,
//!    0.42 in 5-D): the modes of a kernel density estimate at its own resolution (Gaussian scale
//!    space: Carreira-Perpiñán & Williams 2003, "On the number of modes of a Gaussian mixture").
//!    Ripples along a ridge are narrower than h and vanish; modes further apart than ≈ 2h stay.
//! 2. **Climb.** Each component's mean climbs the smoothed density p to a local maximum by the
//!    fixed-point iteration (modal EM: Li, Ray & Lindsay 2007, JMLR 8)
//!
//!      y_j ← Σ_k γ_k(y) μ_kj / σ_kj² / Σ_k γ_k(y) / σ_kj²,  γ_k(y) ∝ π_k N(y; μ_k, σ_k²)
//!
//!    (∇p(y) = 0 solved for y with γ frozen). Why: a small component in the valley between two
//!    modes would otherwise "connect" to both (the density falls monotonically from each mode to
//!    it); its mean climbs to one of the two peaks, or stays a small peak with a dip on both sides.
//! 3. **Join maxima with no dip between them.** Two maxima a, b are one mode when some path
//!    between them keeps p ≥ [`DIP_RATIO`] · min(p(a), p(b)). Paths run through the cloud
//!    itself, along the edges of the [`KNN`]-nearest-neighbour graph of the points and maxima
//!    (an edge's level is p at its ends and midpoint), so a curved ridge is followed rather than
//!    cut by a straight segment; the best path's bottleneck for every pair comes from one
//!    maximum spanning tree (level-set / cluster-tree connectivity: Chaudhuri & Dasgupta 2010;
//!    the ridgeline saddle test of Ray & Lindsay 2005, Ann. Stat. 33(5), along data paths).
//!    Joining is transitive, and a mode is counted if its components hold at least
//!    [`MIN_MODE_MASS`] of the weight.
//!
//! Why a dip ratio of ½: two equal Gaussians d sds apart are unimodal for d ≤ 2, and their
//! midpoint/peak density ratio is 0.64 at d = 3 and 0.27 at d = 4, so ½ counts two modes as one
//! when they are within ≈ 3.3 sds (of the smoothed density), where one base component can cover
//! both anyway. After smoothing, one tiled mode has no dip at all on the tests' crescent and
//! boxes, and the separated modes of square, slcp and two_moons have ratio < 10⁻³ for most x;
//! the ratios between 0.1 and 0.5 that do occur (`strongest split` in the results) belong to x
//! whose modes are merging (square: x_k → 0), where the count is genuinely ambiguous.
//!
//! BIC uses the Kish effective size n = (Σ w)² / Σ w² (N for SMC's equally weighted particles):
//! BIC(K) = −2 n ℓ̄ + (K − 1 + 2 K d) ln n, ℓ̄ the weighted mean log-likelihood. The search over
//! K stops after [`BIC_PATIENCE`] values of K without a new minimum, or at K_max.
//!
//! [`em_weighted_mixture`]: crate::base::em_weighted_mixture

use rayon::prelude::*;

use crate::base::{em_weighted_mixture, EmStop, MixtureFit};
use crate::error::{Error, Result};
use crate::mat::{Mat, MatRef};
use crate::special::{log_sum_exp, HALF_LOG_2PI};

/// The BIC search stops after this many K without a new minimum.
pub const BIC_PATIENCE: usize = 3;
/// Two density maxima are one mode unless the density between them dips below this fraction of
/// the lower maximum (module docs: why ½).
pub const DIP_RATIO: f64 = 0.5;
/// A mode is counted if its components hold at least this share of the weight.
pub const MIN_MODE_MASS: f64 = 0.03;
/// Neighbours per node of the graph whose paths the dip test follows.
pub const KNN: usize = 10;
/// EM stopping rule of the BIC search: looser than [`EmStop::DEFAULT`], since BIC differences
/// that matter are many nats and the modes do not move once ℓ has settled to 1e-7.
pub const EM_STOP: EmStop = EmStop { max_iterations: 100, rel_tol: 1e-6 };
/// Largest number of hill-climbing steps per component mean.
const CLIMB_MAX_ITERATIONS: usize = 5000;
/// A climb stops when a step moves less than this (in the units of the points).
const CLIMB_TOL: f64 = 1e-9;

/// Modes of a fitted diagonal Gaussian mixture ([`mixture_modes`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureModes {
    /// Group of each component; groups are numbered by decreasing mass.
    pub component_group: Vec<usize>,
    /// Mass Σ π_k of each group, decreasing.
    pub group_masses: Vec<f64>,
    /// The local maximum each component's mean climbed to (K × d, row-major).
    pub peaks: Vec<f64>,
    /// Groups with mass ≥ the minimum: the mode count.
    pub n_modes: usize,
    /// Largest dip ratio r_ab between two counted modes (0 with one mode): how near the
    /// closest pair of modes came to being merged (merged at r ≥ the dip ratio).
    pub strongest_split: f64,
}

/// A cloud's BIC fit and its modes ([`count_modes`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CloudModes {
    /// BIC(K) for K = 1, 2, … as far as the search went.
    pub bics: Vec<f64>,
    /// The EM fit with the lowest BIC, in standardised units.
    pub fit: MixtureFit,
    /// The smoothing bandwidth h ([`silverman_bandwidth`]), in standardised units.
    pub bandwidth: f64,
    /// The modes of the fit smoothed by h.
    pub modes: MixtureModes,
}

/// Silverman's rule-of-thumb bandwidth for n points in d standardised dimensions,
/// h = (4 / ((d + 2) n))^{1/(d + 4)} (Silverman 1986, eq. 4.14).
pub fn silverman_bandwidth(n_eff: f64, dim: usize) -> f64 {
    (4.0 / ((dim as f64 + 2.0) * n_eff.max(1.0))).powf(1.0 / (dim as f64 + 4.0))
}

/// BIC of a diagonal Gaussian mixture with `n_comp` components in `dim` dimensions whose mean
/// log-likelihood per unit weight is `mean_log_lik` on data of effective size `n_eff`:
/// −2 n ℓ̄ + (K − 1 + 2Kd) ln n (Schwarz 1978).
pub fn bic(mean_log_lik: f64, n_comp: usize, dim: usize, n_eff: f64) -> f64 {
    let n_free = (n_comp - 1 + 2 * n_comp * dim) as f64;
    -2.0 * n_eff * mean_log_lik + n_free * n_eff.ln()
}

/// log p(y) of the mixture in `fit` (K × `dim`); `scratch` holds K values.
fn mixture_log_density(fit: &MixtureFit, dim: usize, y: &[f64], scratch: &mut [f64]) -> f64 {
    for (c, a) in scratch.iter_mut().enumerate() {
        let span = c * dim..(c + 1) * dim;
        let mut v = fit.weights[c].ln() - dim as f64 * HALF_LOG_2PI;
        for ((&yj, &m), &s) in y.iter().zip(&fit.means[span.clone()]).zip(&fit.scales[span]) {
            let z = (yj - m) / s;
            v -= 0.5 * z * z + s.ln();
        }
        *a = v;
    }
    log_sum_exp(scratch)
}

/// Climbs the mixture density from `y` to a local maximum (module docs), in place.
fn climb(fit: &MixtureFit, dim: usize, y: &mut [f64], scratch: &mut [f64]) {
    let mut num = vec![0.0; dim];
    let mut den = vec![0.0; dim];
    for _ in 0..CLIMB_MAX_ITERATIONS {
        let log_p = mixture_log_density(fit, dim, y, scratch);
        if log_p == f64::NEG_INFINITY {
            return;
        }
        num.fill(0.0);
        den.fill(0.0);
        for (c, &log_joint) in scratch.iter().enumerate() {
            let g = (log_joint - log_p).exp();
            let span = c * dim..(c + 1) * dim;
            for (((n, d), &m), &s) in
                num.iter_mut().zip(den.iter_mut()).zip(&fit.means[span.clone()]).zip(&fit.scales[span])
            {
                let prec = g / (s * s);
                *n += prec * m;
                *d += prec;
            }
        }
        let mut step = 0.0f64;
        for ((yj, n), d) in y.iter_mut().zip(&num).zip(&den) {
            let next = n / d;
            step = step.max((next - *yj).abs());
            *yj = next;
        }
        if step < CLIMB_TOL {
            return;
        }
    }
}

/// Groups the components of `fit` (K × d) into modes, using the cloud `points` (n × d) it was
/// fitted to as the paths between them: climb each mean to a local maximum of the mixture
/// density p, join two maxima when a path through the cloud connects them without p dropping
/// below `dip_ratio` × the lower maximum (transitively), and count the groups holding at least
/// `min_mode_mass` (module docs). Paths run along the edges of the [`KNN`]-nearest-neighbour
/// graph of points and maxima; an edge's level is min(p(ends), p(midpoint)).
pub fn mixture_modes(fit: &MixtureFit, points: MatRef<f64>, dip_ratio: f64, min_mode_mass: f64) -> MixtureModes {
    let dim = points.cols();
    let n_comp = fit.weights.len();
    let mut scratch = vec![0.0; n_comp];
    let mut peaks = fit.means.clone();
    for c in 0..n_comp {
        climb(fit, dim, &mut peaks[c * dim..(c + 1) * dim], &mut scratch);
    }
    let log_r = level_set_ratios(fit, points, &peaks);
    // Union-find over components.
    let mut parent: Vec<usize> = (0..n_comp).collect();
    fn root(parent: &mut [usize], mut a: usize) -> usize {
        while parent[a] != a {
            parent[a] = parent[parent[a]];
            a = parent[a];
        }
        a
    }
    let log_dip = dip_ratio.ln();
    for a in 0..n_comp {
        for b in a + 1..n_comp {
            if log_r[a * n_comp + b] >= log_dip {
                let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                parent[ra] = rb;
            }
        }
    }
    let roots: Vec<usize> = (0..n_comp).map(|c| root(&mut parent, c)).collect();
    let mut mass_of_root = vec![0.0; n_comp];
    for (c, &r) in roots.iter().enumerate() {
        mass_of_root[r] += fit.weights[c];
    }
    let mut groups: Vec<usize> = (0..n_comp).filter(|&r| roots.contains(&r)).collect();
    groups.sort_by(|&a, &b| mass_of_root[b].total_cmp(&mass_of_root[a]).then(a.cmp(&b)));
    let component_group: Vec<usize> =
        roots.iter().map(|r| groups.iter().position(|g| g == r).expect("every root is a group")).collect();
    let group_masses: Vec<f64> = groups.iter().map(|&r| mass_of_root[r]).collect();
    let n_modes = group_masses.iter().filter(|&&m| m >= min_mode_mass).count();
    let counted = |c: usize| group_masses[component_group[c]] >= min_mode_mass;
    let mut strongest_split = 0.0f64;
    for a in 0..n_comp {
        for b in a + 1..n_comp {
            if component_group[a] != component_group[b] && counted(a) && counted(b) {
                strongest_split = strongest_split.max(log_r[a * n_comp + b].exp());
            }
        }
    }
    MixtureModes { component_group, group_masses, peaks, n_modes, strongest_split }
}

/// log r_ab for every pair of maxima (K × K, row-major, ≤ 0): the highest level ℓ such that a
/// path from maximum a to maximum b along the kNN graph of `points` and `peaks` stays at
/// log p ≥ ℓ (the bottleneck of the widest path), minus min(log p(a), log p(b)).
///
/// Widest paths by Kruskal's maximum spanning forest: edges are added by decreasing level, and
/// when an edge first joins the sets holding a and b, its level is their bottleneck (Hu 1961).
fn level_set_ratios(fit: &MixtureFit, points: MatRef<f64>, peaks: &[f64]) -> Vec<f64> {
    let dim = points.cols();
    let n_comp = fit.weights.len();
    let n_nodes = points.rows() + n_comp;
    let node = |i: usize| -> &[f64] {
        if i < points.rows() {
            points.row(i)
        } else {
            let c = i - points.rows();
            &peaks[c * dim..(c + 1) * dim]
        }
    };
    let mut scratch = vec![0.0; n_comp];
    let log_p: Vec<f64> = (0..n_nodes).map(|i| mixture_log_density(fit, dim, node(i), &mut scratch)).collect();
    let knn = KNN.min(n_nodes - 1);
    // Edges (level, i, j) of the symmetric kNN graph, in fixed-size chunks of nodes.
    let mut edges: Vec<(f64, usize, usize)> = (0..n_nodes)
        .into_par_iter()
        .flat_map_iter(|i| {
            let mut scratch = vec![0.0; n_comp];
            let mut dist: Vec<(f64, usize)> = (0..n_nodes)
                .filter(|&j| j != i)
                .map(|j| (node(i).iter().zip(node(j)).map(|(a, b)| (a - b) * (a - b)).sum::<f64>(), j))
                .collect();
            if knn < dist.len() {
                dist.select_nth_unstable_by(knn, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                dist.truncate(knn);
            }
            let mut mid = vec![0.0; dim];
            dist.into_iter()
                .map(|(_, j)| {
                    for ((m, &a), &b) in mid.iter_mut().zip(node(i)).zip(node(j)) {
                        *m = 0.5 * (a + b);
                    }
                    let level = log_p[i].min(log_p[j]).min(mixture_log_density(fit, dim, &mid, &mut scratch));
                    (level, i.min(j), i.max(j))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    edges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    edges.dedup_by(|a, b| a.1 == b.1 && a.2 == b.2);
    // Kruskal, tracking which maxima each set holds.
    let mut parent: Vec<usize> = (0..n_nodes).collect();
    let mut held: Vec<Vec<usize>> =
        (0..n_nodes).map(|i| if i >= points.rows() { vec![i - points.rows()] } else { Vec::new() }).collect();
    let find = |parent: &mut Vec<usize>, mut a: usize| {
        while parent[a] != a {
            parent[a] = parent[parent[a]];
            a = parent[a];
        }
        a
    };
    let mut log_r = vec![f64::NEG_INFINITY; n_comp * n_comp];
    for (level, i, j) in edges {
        let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
        if ri == rj {
            continue;
        }
        let moved = std::mem::take(&mut held[ri]);
        for &a in &moved {
            for &b in &held[rj] {
                let lower = log_p[points.rows() + a].min(log_p[points.rows() + b]);
                let r = (level - lower).min(0.0);
                log_r[a * n_comp + b] = r;
                log_r[b * n_comp + a] = r;
            }
        }
        held[rj].extend(moved);
        parent[ri] = rj;
    }
    for c in 0..n_comp {
        log_r[c * n_comp + c] = 0.0;
    }
    log_r
}

/// Counts the modes of the weighted cloud `points` (n × d, weights ≥ 0), standardised per
/// dimension first (the returned fit and peaks are in those units): EM fits for K = 1, 2, …,
/// `k_max` (stopping after [`BIC_PATIENCE`] K without a new BIC minimum), the fit with the
/// lowest [`bic`], smoothed by [`silverman_bandwidth`], then [`mixture_modes`]. Errors as [`em_weighted_mixture`]; a K with fewer
/// distinct points than components ends the search.
pub fn count_modes(
    points: MatRef<f64>,
    weights: &[f64],
    k_max: usize,
    dip_ratio: f64,
    min_mode_mass: f64,
    seed: u64,
) -> Result<CloudModes> {
    if k_max == 0 {
        return Err(Error::invalid("count_modes k_max", "need at least 1"));
    }
    let dim = points.cols();
    if weights.len() != points.rows() {
        return Err(Error::Shape { what: "count_modes weights", expected: points.rows(), got: weights.len() });
    }
    let total: f64 = weights.iter().sum();
    let sum_sq: f64 = weights.iter().map(|w| w * w).sum();
    let n_eff = if sum_sq > 0.0 { total * total / sum_sq } else { 0.0 };
    // Standardise each dimension (weighted mean 0, sd 1): density ratios are unchanged by this
    // affine map, and the kNN graph of the dip test then weighs every dimension alike.
    let mut std_points = Mat::zeros(points.rows(), dim);
    if total > 0.0 {
        for k in 0..dim {
            let mean = (0..points.rows()).map(|n| weights[n] * points.row(n)[k]).sum::<f64>() / total;
            let var = (0..points.rows()).map(|n| weights[n] * (points.row(n)[k] - mean).powi(2)).sum::<f64>() / total;
            let inv_sd = if var > 0.0 { 1.0 / var.sqrt() } else { 1.0 };
            for n in 0..points.rows() {
                std_points.row_mut(n)[k] = (points.row(n)[k] - mean) * inv_sd;
            }
        }
    }
    let points = std_points.as_ref();
    let mut bics = Vec::new();
    let mut best: Option<(f64, MixtureFit)> = None;
    let mut since_best = 0;
    for n_comp in 1..=k_max {
        let fit = match em_weighted_mixture(points, weights, n_comp, seed.wrapping_add(n_comp as u64), EM_STOP) {
            Ok(fit) => fit,
            // K = 1 passed every other check, so a later failure means too few distinct points.
            Err(_) if n_comp > 1 => break,
            Err(e) => return Err(e),
        };
        let b = bic(fit.log_likelihood, n_comp, dim, n_eff);
        bics.push(b);
        if best.as_ref().is_none_or(|(bb, _)| b < *bb) {
            best = Some((b, fit));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= BIC_PATIENCE {
                break;
            }
        }
    }
    let (_, fit) = best.expect("K = 1 always fits");
    // Smooth by a Gaussian kernel of Silverman's bandwidth: σ_k² → σ_k² + h² (module docs).
    let bandwidth = silverman_bandwidth(n_eff, dim);
    let mut smoothed = fit.clone();
    smoothed.scales.iter_mut().for_each(|s| *s = (*s * *s + bandwidth * bandwidth).sqrt());
    let modes = mixture_modes(&smoothed, points, dip_ratio, min_mode_mass);
    Ok(CloudModes { bics, fit, bandwidth, modes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};
    use rand::Rng as _;
    use rand_distr::{Distribution, StandardNormal};

    const N_POINTS: usize = 2000;
    /// The largest K the tests' BIC searches try.
    const K_MAX: usize = 16;

    fn gauss(rng: &mut crate::rng::Rng) -> f64 {
        StandardNormal.sample(rng)
    }

    fn count(points: &Mat<f64>) -> CloudModes {
        let w = vec![1.0; points.rows()];
        count_modes(points.as_ref(), &w, K_MAX, DIP_RATIO, MIN_MODE_MASS, 3).expect("fits")
    }

    fn cloud(
        n_points: usize,
        dim: usize,
        seed: u64,
        mut draw: impl FnMut(&mut crate::rng::Rng, &mut [f64]),
    ) -> Mat<f64> {
        let mut rng = stream(seed, Stream::Metric, 0, 0);
        let mut m = Mat::zeros(n_points, dim);
        for n in 0..n_points {
            draw(&mut rng, m.row_mut(n));
        }
        m
    }

    #[test]
    fn two_separated_gaussians_are_two_modes() {
        let pts = cloud(N_POINTS, 2, 1, |rng, y| {
            let side = if rng.gen::<bool>() { 2.0 } else { -2.0 };
            y[0] = side + 0.4 * gauss(rng);
            y[1] = 0.7 * gauss(rng);
        });
        let c = count(&pts);
        assert_eq!(c.modes.n_modes, 2, "{:?}", c.modes);
        assert!(c.modes.strongest_split < 1e-3, "{:?}", c.modes);
    }

    #[test]
    fn one_gaussian_is_one_mode_and_bic_prefers_one_component() {
        let pts = cloud(N_POINTS, 3, 2, |rng, y| y.iter_mut().for_each(|v| *v = gauss(rng)));
        let c = count(&pts);
        assert_eq!((c.modes.n_modes, c.fit.weights.len()), (1, 1), "bics {:?}", c.bics);
    }

    #[test]
    fn a_dense_crescent_is_one_mode_though_bic_tiles_it_with_several_gaussians() {
        // Half ring of radius 1 and radial sd 0.05 (two_moons' shape: width/radius = 0.05–0.1).
        let pts = cloud(N_POINTS, 2, 3, |rng, y| {
            let a = std::f64::consts::PI * (rng.gen::<f64>() - 0.5);
            let r = 1.0 + 0.05 * gauss(rng);
            y[0] = r * a.cos();
            y[1] = r * a.sin();
        });
        let c = count(&pts);
        assert!(c.fit.weights.len() >= 4, "BIC chose {} Gaussians", c.fit.weights.len());
        assert_eq!(c.modes.n_modes, 1, "{:?}", c.modes);
    }

    #[test]
    fn four_box_modes_are_four_modes() {
        // Uniform boxes of side 1 centred at (±2, ±2): flat-topped, each needs several Gaussians.
        let pts = cloud(N_POINTS, 2, 4, |rng, y| {
            for v in y.iter_mut() {
                let side = if rng.gen::<bool>() { 2.0 } else { -2.0 };
                *v = side + rng.gen::<f64>() - 0.5;
            }
        });
        let c = count(&pts);
        assert_eq!(c.modes.n_modes, 4, "{:?}", c.modes);
        assert!(c.modes.group_masses.iter().all(|m| (m - 0.25).abs() < 0.05), "{:?}", c.modes.group_masses);
    }

    #[test]
    fn a_valley_component_does_not_join_two_modes() {
        // Two modes and a 2 % component midway between them.
        let fit = MixtureFit {
            means: vec![-3.0, 0.0, 3.0],
            scales: vec![0.5, 0.8, 0.5],
            weights: vec![0.49, 0.02, 0.49],
            log_likelihood: 0.0,
            iterations: 0,
            log_likelihood_trace: vec![],
            n_pushed: 0,
        };
        let pts = Mat::from_vec(61, 1, (0..61).map(|i| -3.0 + 0.1 * i as f64).collect());
        let m = mixture_modes(&fit, pts.as_ref(), DIP_RATIO, MIN_MODE_MASS);
        assert_eq!(m.n_modes, 2, "{m:?}");
        // The valley component is a small peak of its own (mass 0.02 < MIN_MODE_MASS), not a bridge.
        assert_ne!(m.component_group[0], m.component_group[2], "{m:?}");
    }
}
