//! The model behind a model file, for every tool that needs its prior or likelihood
//! (`sample --importance`, `eval`, `components --model`, `check`): `--task NAME` (a built-in
//! task), else `--config FILE` (its task or `[model]` table, started), else what the file
//! records — a built-in task's name, or an external model started again from its
//! [`ExternalRecord`] (command as a list, absolute directory, timeout, copies; written by
//! `lwflow train` since the record exists), whatever the current directory. A file written
//! before names only `external(<command joined by spaces>)`: that command is split at spaces
//! and started in the current directory with the default timeout, as it always was.

use std::path::Path;

use anyhow::{bail, Context, Result};
use lwflow::model::{ExternalConfig, ExternalModel, ExternalRecord, Model};
use lwflow::train::FlowMeta;

use crate::config::{open_model, TrainFile};

/// What `lwflow train` records about the model it trains on ([`FlowMeta::external`]): the
/// config file's external model, unless `--task` chose a built-in task.
pub fn external_record(task: Option<&str>, file: Option<&TrainFile>) -> Result<Option<ExternalRecord>> {
    match (task, file.and_then(|f| f.external().map(|e| (f, e)))) {
        (None, Some((file, external))) => Ok(Some(
            ExternalRecord::of(external, file.workers())
                .with_context(|| format!("recording the external model of {}", file.path().display()))?,
        )),
        _ => Ok(None),
    }
}

/// How a model file names an external model: `external(<command joined by spaces>)`
/// ([`ExternalModel`]'s name).
const EXTERNAL_PREFIX: &str = "external(";

/// The model for the file at `path` (module docs), checked against the flow's dimensions
/// `theta_dim` and `x_dim`.
pub fn model_of_file(
    task: Option<&str>,
    config: Option<&Path>,
    meta: &FlowMeta,
    theta_dim: usize,
    x_dim: usize,
    path: &Path,
) -> Result<Box<dyn Model>> {
    let (model, who) = match (task, config) {
        (Some(task), _) => (lwflow::tasks::by_name(task).context("--task")?, format!("--task {task}")),
        (None, Some(config)) => {
            let file = TrainFile::read(config)?;
            (open_model(file.task(), Some(&file))?, format!("the model of --config {}", config.display()))
        }
        (None, None) => {
            (recorded_model(meta, theta_dim, x_dim, path)?, format!("the model file's model {}", meta.model))
        }
    };
    if (model.theta_dim(), model.x_dim()) != (theta_dim, x_dim) {
        bail!(
            "{who} has θ of dimension {} and x of dimension {}; the model in {} has {theta_dim} and {x_dim}",
            model.theta_dim(),
            model.x_dim(),
            path.display(),
        );
    }
    Ok(model)
}

/// The model the file records: a built-in task, or its external model started again.
fn recorded_model(meta: &FlowMeta, theta_dim: usize, x_dim: usize, path: &Path) -> Result<Box<dyn Model>> {
    let name = meta.model.as_str();
    if lwflow::tasks::find(name).is_some() {
        return Ok(lwflow::tasks::by_name(name)?);
    }
    if let Some(record) = &meta.external {
        return start_recorded(record, meta, theta_dim, x_dim, path);
    }
    let Some(command) = external_command(name) else {
        bail!(
            "the model file's model '{name}' is neither a built-in task nor an external command; give --task NAME \
             or --config FILE"
        );
    };
    let config = ExternalConfig::new(command, theta_dim, x_dim, meta.prior.clone());
    let model = ExternalModel::spawn(config, 1).with_context(|| {
        format!(
            "starting the external model recorded in {} again ({name}, in the current directory: the file predates \
             recorded directories); run from the directory it was trained in, or give --config with its [model] table",
            path.display()
        )
    })?;
    Ok(Box::new(model))
}

/// The external model of `record` started again: in its directory, with its timeout and copies.
fn start_recorded(
    record: &ExternalRecord,
    meta: &FlowMeta,
    theta_dim: usize,
    x_dim: usize,
    path: &Path,
) -> Result<Box<dyn Model>> {
    let again = || {
        format!(
            "starting the external model recorded in {} again (command {:?} in {})",
            path.display(),
            record.command,
            record.dir.display()
        )
    };
    if !record.dir.is_dir() {
        bail!(
            "{}: the directory no longer exists; give --config with the model's [model] table (or --task NAME)",
            again()
        );
    }
    let config = record.config(theta_dim, x_dim, meta.prior.clone()).with_context(again)?;
    let model = ExternalModel::spawn(config, record.workers)
        .with_context(|| format!("{}; if the model moved, give --config with its [model] table", again()))?;
    Ok(Box::new(model))
}

/// The command of `external(<command>)`, split at whitespace (the file joined it with spaces,
/// so an argument that itself holds a space needs `--config`).
fn external_command(name: &str) -> Option<Vec<String>> {
    let inner = name.strip_prefix(EXTERNAL_PREFIX)?.strip_suffix(')')?;
    let command: Vec<String> = inner.split_whitespace().map(str::to_string).collect();
    (!command.is_empty()).then_some(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_names_give_back_their_command() {
        assert_eq!(
            external_command("external(python3 crates/lwflow/examples/square2d_model.py)"),
            Some(vec!["python3".to_string(), "crates/lwflow/examples/square2d_model.py".to_string()])
        );
        assert_eq!(external_command("external()"), None);
        assert_eq!(external_command("square2d"), None);
    }
}
