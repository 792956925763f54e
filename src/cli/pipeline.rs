//! `nodefusion run` and `nodefusion explain`.

use anyhow::anyhow;
use nodefusion::config::{Overrides, PipelineSpec, load};
use nodefusion::{CompiledPipeline, new_context};

use super::PipelineArgs;
use super::progress::Progress;

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
        if nodefusion_model::resolve(&model).is_err() && model.contains('/') {
            eprintln!("installing model {model}");
            super::model::install(&model).await?;
        }
    }
    let compiled = spec.pipeline.compile(&ctx, &input).await?;
    Ok((spec, compiled))
}

/// Runs the pipeline into its output, with a progress bar, and prints the summary.
pub async fn run(args: PipelineArgs) -> anyhow::Result<()> {
    let (spec, compiled) = compile(&args).await?;
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
    let write = compiled.write_observed_on(&output, |rows| progress.set(rows), remote.as_ref());
    let summary = tokio::select! {
        summary = write => summary,
        _ = tokio::signal::ctrl_c() => {
            progress.finish();
            let target = output.path();
            return Err(match target.exists() {
                true => anyhow!("interrupted; {} was left as it was", target.display()),
                false => anyhow!("interrupted; nothing was written to {}", target.display()),
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
