//! `lwflow reference`: samples from a built-in task's reference posterior for one observation, to
//! CSV or .npy (the format of `lwflow sample`), e.g. to compare with another tool's reference.

use anyhow::{Context, Result};
use lwflow::benchmark::{reference_samples, ReferenceKind};
use lwflow::io::{parse_obs, write_samples};

use crate::args::{MethodArg, ReferenceArgs};
use crate::cmd::sample::theta_header;

pub fn run(a: &ReferenceArgs) -> Result<()> {
    super::check_outputs(&[&a.out], None, &[])?;
    let model = lwflow::tasks::by_name(&a.task).context("--task")?;
    let x = parse_obs(&a.obs, model.x_dim()).context("--obs")?;
    lwflow::limits::check_sample_values("samples (--num)", a.num, model.theta_dim())?;
    let kind = match a.method {
        Some(MethodArg::Exact) => ReferenceKind::Exact,
        Some(MethodArg::Grid) => ReferenceKind::Grid,
        Some(MethodArg::Smc) => ReferenceKind::Smc,
        None => ReferenceKind::of_task(&a.task)?,
    };
    let (samples, seconds) =
        reference_samples(&a.task, kind, &x, a.num, a.seed).with_context(|| format!("--method {}", kind.name()))?;
    write_samples(&a.out, &theta_header(model.theta_dim()), samples.as_ref())
        .with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "{}: {} samples from the {} reference in {seconds:.2} s -> {}",
        a.task,
        samples.rows(),
        kind.name(),
        a.out.display()
    );
    Ok(())
}
