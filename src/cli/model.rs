//! `nodefusion model pull NAME` and `nodefusion model list`.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nodefusion_model::PullProgress;

/// Installs the model `name`, with a progress bar of its downloads on stderr, and returns
/// its directory.
pub async fn install(name: &str) -> anyhow::Result<PathBuf> {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes}") {
        bar.set_style(style);
    }
    let show = |progress: PullProgress| match progress {
        PullProgress::Source(source) => bar.println(format!("trying {source}")),
        PullProgress::Download { file, done, total } => {
            bar.set_message(file);
            bar.set_length(total.unwrap_or(done));
            bar.set_position(done);
        }
    };
    let installed = nodefusion_model::pull(name, &show).await;
    bar.finish_and_clear();
    Ok(installed?)
}

/// The directory of the model `name`, installed first (saying so on stderr) when it is
/// a hub name (`organisation/name`) that is not installed yet, as `embed` needs it.
pub async fn installed_or_pulled(name: &str) -> anyhow::Result<PathBuf> {
    match nodefusion_model::resolve(name) {
        Ok(directory) => Ok(directory),
        Err(_) if name.contains('/') => {
            eprintln!("installing model {name}");
            install(name).await
        }
        Err(error) => Err(error.into()),
    }
}

/// `nodefusion model pull NAME`: installs the model and prints where.
pub async fn pull(name: &str) -> anyhow::Result<()> {
    out!("{name}: {}", install(name).await?.display())?;
    Ok(())
}

/// Prints every installed model and its directory.
pub fn list() -> anyhow::Result<()> {
    let installed = nodefusion_model::installed();
    if installed.is_empty() {
        out!("no models in {}", nodefusion_model::models_dir().display())?;
    }
    for (name, directory) in installed {
        out!("{name}\t{}", directory.display())?;
    }
    Ok(())
}
