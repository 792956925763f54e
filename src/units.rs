//! A run in units of input files: over several input files (local, or in an object store)
//! into a directory, each file runs on its own and its output is kept in a
//! [`UnitsDirectory`]; when every file is done, all are put in place in one commit. So a
//! killed run leaves the previous output (or nothing) at the target, and
//! `nodefusion run --resume` keeps the files it had finished and runs the rest: the rows of
//! an uninterrupted run, none twice, none missing.

use std::sync::Arc;
use std::time::Instant;

use crate::compile::CompiledPipeline;
use crate::error::{Error, Result};
use crate::io::{FileUnit, Output, UnitsDirectory, WriteMode, file_units};
use crate::run::RunSummary;

impl CompiledPipeline {
    /// Whether a run here into `output` goes in units of input files (several input files
    /// into a directory), so that an interrupted one can be resumed.
    pub async fn writes_in_units(&self, output: &Output) -> Result<bool> {
        Ok(self.units_of(output).await?.is_some())
    }

    /// The input files a run into `output` goes through one by one, if it goes in units.
    pub(crate) async fn units_of(&self, output: &Output) -> Result<Option<Vec<FileUnit>>> {
        if output.is_single_file() {
            return Ok(None);
        }
        let units = file_units(self.input(), self.session_state()).await?;
        Ok((units.len() > 1).then_some(units))
    }

    /// Like [`Self::write_observed`], continuing the run into `output` that was
    /// interrupted: the input files it had finished are kept, the others run. Over one
    /// input file or into one file there is nothing to continue: that is an error.
    pub async fn resume_observed(
        &self,
        output: &Output,
        observe: impl FnMut(usize),
    ) -> Result<RunSummary> {
        let Some(units) = self.units_of(output).await? else {
            return Err(Error::Config {
                origin: "--resume".into(),
                message: format!(
                    "continues a run over several input files into a directory; this run \
                     reads {} into {}",
                    self.input(),
                    output.path().display()
                ),
            });
        };
        self.write_units(output, units, true, observe).await
    }

    /// Runs each input file of `units` into the units directory of `output`, the ones
    /// already there skipped when `resume`, then commits them all.
    pub(crate) async fn write_units(
        &self,
        output: &Output,
        units: Vec<FileUnit>,
        resume: bool,
        mut observe: impl FnMut(usize),
    ) -> Result<RunSummary> {
        let started = Instant::now();
        output.check_target()?;
        self.check_partition_columns(output)?;
        let fingerprint = fingerprint(self, output, &units);
        let (directory, notes) = UnitsDirectory::open(&output.location()?, &fingerprint, resume)?;
        let partitioned = !output.partition_columns().is_empty();
        let mut summary = RunSummary {
            pipeline: self.graph().name.clone(),
            rows_in: 0,
            rows_out: 0,
            wall_time: started.elapsed(),
            nodes: Vec::new(),
            files: Vec::new(),
            cleared: notes,
            cluster: None,
        };
        for (index, unit) in units.iter().enumerate() {
            let path = directory.unit_path(index, partitioned);
            if path.exists() {
                continue;
            }
            let done = summary.rows_out;
            // Each file with the whole input's columns: one may lack a column others have.
            let unit = unit
                .input
                .clone()
                .with_schema(Arc::clone(self.input_schema()));
            let compiled = self.with_input(&unit).await?;
            let unit_output = output.relocated(path).mode(WriteMode::Overwrite);
            summary += compiled
                .write_whole(&unit_output, |rows| observe(done + rows), None)
                .await?;
        }
        let runtime = Arc::clone(self.session_state().runtime_env());
        summary.files = directory.commit(output.write_mode(), runtime).await?;
        summary.wall_time = started.elapsed();
        Ok(summary)
    }
}

/// What a run's units depend on: the pipeline's resolved nodes, the output's settings, and
/// each input file's path, length and modification time.
fn fingerprint(compiled: &CompiledPipeline, output: &Output, units: &[FileUnit]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(
        format!(
            "{:?}\n{:?}\n",
            compiled.graph(),
            output.relocated(".".into())
        )
        .as_bytes(),
    );
    for unit in units {
        hasher.update(format!("{}\n", unit.identity).as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}
