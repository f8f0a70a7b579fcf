//! Writes lwflow's square3d log-likelihood and log-prior at fixed (x, θ) to
//! results/budget/square3d_loglik_check.csv, which dynesty_square3d.py checks its NumPy
//! reimplementation against (to 1e-9) before it runs. To regenerate: copy this file to
//! crates/lwflow/tests/, run `cargo test --release -p lwflow --test square3d_loglik_check`, delete it.

use lwflow::mat::Mat;
use lwflow::model::Model;
use lwflow::rng::{stream, Stream};
use lwflow::rand::Rng as _;

#[test]
fn write_square3d_loglik_check() {
    let model = lwflow::tasks::by_name("square3d").expect("built-in task");
    let mut rng = stream(42, Stream::Simulate, 0, 0);
    let n_rows = 200;
    // θ over and just beyond the prior box (−3, 3)³; x from the simulator at other prior draws,
    // plus a few far-off values.
    let theta = Mat::from_fn(n_rows, 3, |_, _| rng.gen_range(-3.2..3.2));
    let mut x = Mat::zeros(n_rows, 3);
    let mut theta_sim = Mat::zeros(n_rows, 3);
    model.prior().sample(&mut rng, theta_sim.as_mut());
    model.simulate(theta_sim.as_ref(), &mut rng, x.as_mut()).expect("simulates");
    for r in 0..10 {
        x.row_mut(r).copy_from_slice(&[-0.5 + r as f64, 12.0 - r as f64, 0.05 * r as f64]);
    }
    let mut log_l = vec![0.0; n_rows];
    model.log_likelihood(x.as_ref(), theta.as_ref(), &mut log_l).expect("shapes match");
    let mut out = String::from("x_1,x_2,x_3,theta_1,theta_2,theta_3,log_likelihood,log_prior\n");
    for r in 0..n_rows {
        let (xr, tr) = (x.row(r), theta.row(r));
        let log_prior = model.prior().log_density(tr);
        out += &format!(
            "{:e},{:e},{:e},{:e},{:e},{:e},{:e},{:e}\n",
            xr[0], xr[1], xr[2], tr[0], tr[1], tr[2], log_l[r], log_prior
        );
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../results/budget/square3d_loglik_check.csv");
    std::fs::write(path, out).expect("writable");
}
