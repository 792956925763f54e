//! `nodefusion run` and `nodefusion explain`.

use std::path::Path;

use anyhow::anyhow;
use nodefusion::config::{Overrides, PipelineSpec, load};
use nodefusion::{CompiledPipeline, new_context};

use super::progress::Progress;
use super::{PipelineArgs, RunArgs};

/// What the command line changes in the pipeline file.
fn overrides(args: &PipelineArgs) -> Overrides {
    Overrides {
        set: args.set.clone(),
        input: args.input.clone(),
        output: args.output.clone(),
    }
}

async fn compile(args: &PipelineArgs) -> anyhow::Result<(PipelineSpec, CompiledPipeline)> {
    let spec = load(&args.pipeline, &overrides(args))?;
    let input = spec.input.clone().ok_or_else(|| {
        anyhow!(
            "{}: no input; add an [input] path or pass --input",
            args.pipeline.display()
        )
    })?;
    let ctx = new_context()?;
    for model in spec.pipeline.models(&ctx) {
        if model.contains('/') {
            super::model::installed_or_pulled(&model).await?;
        }
    }
    let compiled = spec.pipeline.compile(&ctx, &input).await?;
    Ok((spec, compiled))
}

/// Runs the pipeline into its output, with a progress bar, and prints the summary.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // Ctrl-C is ours from the start, so that none kills the process while it sets up.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let RunArgs {
        pipeline: args,
        resume,
    } = args;
    let (spec, compiled) = tokio::select! {
        compiled = compile(&args) => compiled?,
        _ = interrupt.recv() => {
            return Err(anyhow!("interrupted before the run started; nothing was written"));
        }
    };
    let output = spec.output.ok_or_else(|| {
        anyhow!(
            "{}: no output; add an [output] path or pass --output",
            args.pipeline.display()
        )
    })?;
    let progress = Progress::new(compiled.expected_rows(), args.quiet);
    let remote = match &args.cluster {
        Some(url) => Some(nodefusion::cluster::cluster_runner(url, &compiled).await?),
        None => None,
    };
    if resume && remote.is_some() {
        return Err(anyhow!("--resume continues a run here, not with --cluster"));
    }
    let observe = |rows| progress.set(rows);
    let write = async {
        match resume {
            true => compiled.resume_observed(&output, observe).await,
            false => {
                compiled
                    .write_observed_on(&output, observe, remote.as_ref())
                    .await
            }
        }
    };
    let summary = tokio::select! {
        summary = write => summary,
        _ = interrupt.recv() => {
            progress.finish();
            if remote.is_some() {
                nodefusion::cluster::cancel_waited_jobs().await;
            }
            let target = output.path();
            let resumable = remote.is_none() && compiled.writes_in_units(&output).await.unwrap_or(false);
            let local = output.location().ok().and_then(|at| at.local_path().map(Path::to_path_buf));
            let left = match local.map(|path| path.exists()) {
                Some(false) => format!("interrupted; nothing was written to {}", target.display()),
                _ => format!("interrupted; {} was left as it was", target.display()),
            };
            return Err(match resumable {
                true => anyhow!("{left}; the input files it finished are kept: run again with --resume to continue"),
                false => anyhow!(left),
            });
        }
    };
    progress.finish();
    out!("{}", summary?)?;
    Ok(())
}

/// Prints the DAG and the plans.
pub async fn explain(args: PipelineArgs) -> anyhow::Result<()> {
    let (_, compiled) = compile(&args).await?;
    out!("{}", nodefusion::explain::explain(&compiled))?;
    Ok(())
}
