//! Dormand–Prince 5(4) with step-size control (Dormand & Prince 1980,
//! doi:10.1016/0771-050X(80)90013-3; Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4–5).
//!
//! One step from (t, y) with size h: seven stages k_i = f(t + c_i h, y + h Σ_j a_ij k_j), the
//! fifth-order solution y' = y + h Σ b_i k_i (the last stage is f(t + h, y'), reused as the next
//! step's first: "first same as last"), and the error estimate e = h Σ (b_i − b*_i) k_i against
//! the embedded fourth-order solution. The step is accepted when
//!
//!   ‖e‖ = √(1/n Σ_i (e_i / (atol + rtol · max(|y_i|, |y'_i|)))²) ≤ 1,
//!
//! and the next h is h · min(5, max(0.2, 0.9 ‖e‖^(−1/5))) (never growing after a rejection; a
//! non-finite estimate is a rejection with factor 0.2).
//! Output times are reached exactly by shortening the step that would pass them.

use thiserror::Error;

/// Error tolerances and the step limit of [`solve_at`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// Relative tolerance per component.
    pub rtol: f64,
    /// Absolute tolerance per component.
    pub atol: f64,
    /// Steps (accepted + rejected) after which the solve gives up.
    pub max_steps: usize,
}

/// Why [`solve_at`] stopped before the last output time.
#[derive(Clone, Copy, Debug, Error, PartialEq)]
pub enum OdeError {
    /// The step limit was reached at time `t`.
    #[error("ODE solve needed more than {max_steps} steps (stopped at t = {t})")]
    StepLimit {
        /// The limit ([`Tolerances::max_steps`]).
        max_steps: usize,
        /// Where the solve stopped.
        t: f64,
    },
    /// The state or the step size stopped being finite and positive at time `t`.
    #[error("ODE solve broke down at t = {t} (non-finite state or vanishing step)")]
    Breakdown {
        /// Where the solve stopped.
        t: f64,
    },
}

// Butcher tableau of Dormand–Prince 5(4).
const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
const A2: [f64; 1] = [1.0 / 5.0];
const A3: [f64; 2] = [3.0 / 40.0, 9.0 / 40.0];
const A4: [f64; 3] = [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0];
const A5: [f64; 4] = [19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0];
const A6: [f64; 5] = [9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0];
/// Fifth-order weights b (also the last stage's row of A).
const B: [f64; 6] = [35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0];
/// b − b*: the error weights of the seven stages.
const E: [f64; 7] =
    [71.0 / 57600.0, 0.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0];

/// y + h Σ_j a_j k_j.
fn stage_input<const N: usize>(y: &[f64; N], h: f64, a: &[f64], k: &[[f64; N]; 7]) -> [f64; N] {
    let mut out = *y;
    for (j, &aj) in a.iter().enumerate() {
        for (o, kj) in out.iter_mut().zip(&k[j]) {
            *o += h * aj * kj;
        }
    }
    out
}

/// Solves y' = f(t, y), y(t0) = y0 and writes y(`times[i]`) into `out[i]`; `times` must be
/// non-decreasing and ≥ t0. Returns the number of steps taken. `f(t, y, dy)` writes dy/dt.
///
/// # Panics
/// If `out` and `times` differ in length or `times` is not sorted from t0 (a caller bug).
pub fn solve_at<const N: usize>(
    f: impl Fn(f64, &[f64; N], &mut [f64; N]),
    t0: f64,
    y0: [f64; N],
    times: &[f64],
    tol: &Tolerances,
    out: &mut [[f64; N]],
) -> Result<usize, OdeError> {
    assert_eq!(times.len(), out.len(), "solve_at: one output row per time");
    assert!(
        times.first().is_none_or(|&t| t >= t0) && times.windows(2).all(|w| w[0] <= w[1]),
        "solve_at: times must be sorted and ≥ t0"
    );
    let scale = |a: f64, b: f64| tol.atol + tol.rtol * a.abs().max(b.abs());
    let (mut t, mut y) = (t0, y0);
    let mut k = [[0.0; N]; 7];
    f(t, &y, &mut k[0]);
    // Initial step (Hairer et al. II.4): h = 0.01 ‖y₀‖ / ‖f(t₀, y₀)‖ in the scaled norm.
    let norm = |v: &[f64; N], y: &[f64; N]| {
        (v.iter().zip(y).map(|(v, y)| (v / scale(*y, *y)).powi(2)).sum::<f64>() / N as f64).sqrt()
    };
    let (d0, d1) = (norm(&y, &y), norm(&k[0], &y));
    let span = times.last().map_or(0.0, |&t_end| t_end - t0);
    let mut h = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * d0 / d1 }.min(span.max(f64::MIN_POSITIVE));
    let mut steps = 0;
    for (&t_out, row) in times.iter().zip(out.iter_mut()) {
        while t < t_out {
            if steps == tol.max_steps {
                return Err(OdeError::StepLimit { max_steps: tol.max_steps, t });
            }
            steps += 1;
            // Shorten the step that would pass the output time; remember the planned size.
            let planned = h;
            let last = t + h >= t_out;
            let h_step = if last { t_out - t } else { h };
            let mut ks = k;
            let stages: [&[f64]; 5] = [&A2, &A3, &A4, &A5, &A6];
            for (i, a) in stages.iter().enumerate() {
                let yi = stage_input(&y, h_step, a, &ks);
                f(t + C[i + 1] * h_step, &yi, &mut ks[i + 1]);
            }
            let y_new = stage_input(&y, h_step, &B, &ks);
            f(t + h_step, &y_new, &mut ks[6]);
            let mut err_sq = 0.0;
            for i in 0..N {
                let e: f64 = h_step * (0..7).map(|j| E[j] * ks[j][i]).sum::<f64>();
                err_sq += (e / scale(y[i], y_new[i])).powi(2);
            }
            // A trial step too long for the state (e.g. exp overflowing in f) gives a non-finite
            // estimate: rejected like any large error, with the smallest step factor.
            let err = (err_sq / N as f64).sqrt();
            let factor = if err.is_finite() { (0.9 * err.powf(-0.2)).clamp(0.2, 5.0) } else { 0.2 };
            if err <= 1.0 {
                t = if last { t_out } else { t + h_step };
                y = y_new;
                k[0] = ks[6];
                h = (h_step * factor).max(if last { planned } else { 0.0 });
            } else {
                h = h_step * factor.min(1.0);
            }
            if h.is_nan() || h <= f64::EPSILON * t.abs().max(1.0) {
                return Err(OdeError::Breakdown { t });
            }
        }
        *row = y;
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIGHT: Tolerances = Tolerances { rtol: 1e-10, atol: 1e-12, max_steps: 100_000 };

    #[test]
    fn exponential_decay_matches_the_closed_form() {
        let times = [0.0, 0.5, 1.0, 3.0, 10.0];
        let mut out = [[0.0]; 5];
        solve_at(|_, y: &[f64; 1], dy| dy[0] = -0.7 * y[0], 0.0, [2.0], &times, &TIGHT, &mut out).expect("solves");
        for (t, y) in times.iter().zip(&out) {
            let want = 2.0 * (-0.7 * t).exp();
            assert!((y[0] - want).abs() < 1e-9 * want.max(1e-3), "t = {t}: {} vs {want}", y[0]);
        }
    }

    #[test]
    fn harmonic_oscillator_keeps_phase_over_ten_periods() {
        // y'' = −ω² y: (y, v) = (cos ωt, −ω sin ωt).
        let omega = 2.0;
        let times: Vec<f64> = (0..=20).map(|i| i as f64 * std::f64::consts::PI / 2.0).collect();
        let mut out = vec![[0.0; 2]; times.len()];
        let rhs = |_: f64, y: &[f64; 2], dy: &mut [f64; 2]| *dy = [y[1], -omega * omega * y[0]];
        solve_at(rhs, 0.0, [1.0, 0.0], &times, &TIGHT, &mut out).expect("solves");
        for (t, y) in times.iter().zip(&out) {
            assert!((y[0] - (omega * t).cos()).abs() < 1e-8, "t = {t}: {} vs {}", y[0], (omega * t).cos());
            assert!((y[1] + omega * (omega * t).sin()).abs() < 2e-8, "t = {t}");
        }
    }

    #[test]
    fn error_shrinks_with_the_tolerance_and_the_time_dependent_rhs_is_right() {
        // y' = cos t · y, y(0) = 1: y = exp(sin t).
        let times = [7.3];
        let error = |rtol: f64| {
            let mut out = [[0.0]];
            let tol = Tolerances { rtol, atol: rtol * 1e-2, max_steps: 100_000 };
            solve_at(|t, y: &[f64; 1], dy| dy[0] = t.cos() * y[0], 0.0, [1.0], &times, &tol, &mut out).expect("solves");
            (out[0][0] - 7.3f64.sin().exp()).abs()
        };
        let (coarse, fine) = (error(1e-4), error(1e-9));
        assert!(fine < 1e-8 && coarse > 10.0 * fine, "coarse {coarse}, fine {fine}");
    }

    #[test]
    fn output_at_the_start_time_is_the_initial_value_and_repeated_times_are_allowed() {
        let times = [0.0, 1.0, 1.0];
        let mut out = [[0.0]; 3];
        solve_at(|_, y: &[f64; 1], dy| dy[0] = y[0], 0.0, [3.0], &times, &TIGHT, &mut out).expect("solves");
        assert_eq!(out[0], [3.0]);
        assert_eq!(out[1], out[2]);
        assert!((out[1][0] - 3.0 * 1f64.exp()).abs() < 1e-8);
    }

    #[test]
    fn a_trial_step_that_overflows_is_rejected_not_fatal() {
        let loose = Tolerances { rtol: 1e-6, atol: 1e-6, max_steps: 100_000 };
        // The Lotka–Volterra case that first failed: exp of a stage state overflowed.
        let (a, b, g, d) = (1.8748149539772887, 0.04124385392408739, 1.5450261196841786, 0.046199846798568034);
        let lv = |_: f64, y: &[f64; 2], dy: &mut [f64; 2]| *dy = [a - b * y[1].exp(), -g + d * y[0].exp()];
        let times: Vec<f64> = (0..10).map(|k| 2.1 * k as f64).collect();
        let mut out = vec![[0.0; 2]; 10];
        solve_at(lv, 0.0, [30f64.ln(), 0.0], &times, &loose, &mut out).expect("solves");
        // scipy's RK45 at the same tolerances: log prey 0.17 at t = 2.1 and 5.21 at t = 12.6.
        assert!((out[1][0] - 0.17).abs() < 0.01 && (out[6][0] - 5.21).abs() < 0.01, "{:?}", out);
    }

    #[test]
    fn blow_up_and_step_limit_are_errors() {
        // y' = y², y(0) = 1: y = 1/(1 − t) blows up at t = 1.
        let mut out = [[0.0]];
        let err = solve_at(|_, y: &[f64; 1], dy| dy[0] = y[0] * y[0], 0.0, [1.0], &[2.0], &TIGHT, &mut out);
        assert!(matches!(err, Err(OdeError::StepLimit { .. } | OdeError::Breakdown { .. })), "{err:?}");
        let few = Tolerances { max_steps: 3, ..TIGHT };
        let err = solve_at(|_, y: &[f64; 1], dy| dy[0] = -y[0], 0.0, [1.0], &[50.0], &few, &mut out).unwrap_err();
        assert!(matches!(err, OdeError::StepLimit { max_steps: 3, t } if t < 50.0), "{err:?}");
        assert!(err.to_string().contains("more than 3 steps"), "{err}");
    }
}
