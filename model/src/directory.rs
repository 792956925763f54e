//! Where models are found. A model is a directory in the Hugging Face layout
//! (`config.json`, `tokenizer.json`, `model.safetensors`, ...). A name resolves, in order, to:
//!
//! 1. the directory itself, when the name is a path to one;
//! 2. `<models directory>/<name>`: `NODEFUSION_MODELS`, else `nodefusion/models` in the user
//!    cache directory (`$XDG_CACHE_HOME`, else `~/.cache`); a bare name such as
//!    `all-MiniLM-L6-v2` also matches `<models directory>/<organisation>/all-MiniLM-L6-v2`;
//! 3. the Hugging Face cache (`$HF_HOME/hub`, else `~/.cache/huggingface/hub`).
//!
//! [`crate::pull`] installs a model into the models directory; [`installed`] lists what is
//! there.

use std::path::{Path, PathBuf};

use crate::{ModelError, Result};

/// The model functions use when none is named.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn cache_home() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
}

/// The directory nodefusion installs models into.
pub fn models_dir() -> PathBuf {
    std::env::var_os("NODEFUSION_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_home().join("nodefusion").join("models"))
}

fn hugging_face_hub() -> PathBuf {
    std::env::var_os("HF_HOME")
        .map(|home| PathBuf::from(home).join("hub"))
        .unwrap_or_else(|| cache_home().join("huggingface").join("hub"))
}

pub(crate) fn is_model(directory: &Path) -> bool {
    directory.join("config.json").is_file() || directory.join("tokenizer.json").is_file()
}

/// The newest snapshot of `name` (`organisation/model`) in the Hugging Face cache.
fn hugging_face_snapshot(name: &str) -> Option<PathBuf> {
    let snapshots = hugging_face_hub()
        .join(format!("models--{}", name.replace('/', "--")))
        .join("snapshots");
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(snapshots)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let modified = entry.metadata().ok()?.modified().ok()?;
            Some((modified, entry.path()))
        })
        .filter(|(_, path)| is_model(path))
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, path)| path)
}

/// The directory of the model `name` (a path or a model name).
pub fn resolve(name: &str) -> Result<PathBuf> {
    let path = Path::new(name);
    if path.is_dir() && is_model(path) {
        return Ok(path.to_path_buf());
    }
    let models = models_dir();
    let direct = models.join(name);
    if is_model(&direct) {
        return Ok(direct);
    }
    if !name.contains('/')
        && let Ok(organisations) = std::fs::read_dir(&models)
    {
        for organisation in organisations.flatten() {
            let candidate = organisation.path().join(name);
            if is_model(&candidate) {
                return Ok(candidate);
            }
        }
    }
    if let Some(snapshot) = hugging_face_snapshot(name) {
        return Ok(snapshot);
    }
    Err(ModelError::NotFound {
        name: name.to_string(),
        models_dir: models,
        hub_cache: hugging_face_hub(),
    })
}

/// Every model in the models directory (`organisation/name` or `name`) with its directory.
pub fn installed() -> Vec<(String, PathBuf)> {
    let root = models_dir();
    let mut models = Vec::new();
    let visible = |entry: &std::fs::DirEntry| !entry.file_name().to_string_lossy().starts_with('.');
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if !visible(&entry) {
            continue;
        }
        let path = entry.path();
        if is_model(&path) {
            models.push((entry.file_name().to_string_lossy().into_owned(), path));
        } else if path.is_dir() {
            for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                if is_model(&inner.path()) {
                    let name = format!(
                        "{}/{}",
                        entry.file_name().to_string_lossy(),
                        inner.file_name().to_string_lossy()
                    );
                    models.push((name, inner.path()));
                }
            }
        }
    }
    models.sort();
    models
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_path_is_its_own_model_and_a_missing_model_says_how_to_get_it() {
        let dir = std::env::temp_dir().join(format!("nodefusion-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), "{}").unwrap();
        assert_eq!(resolve(dir.to_str().unwrap()).unwrap(), dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let error = resolve("no-such-org/no-such-model")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("model 'no-such-org/no-such-model' not found"),
            "{error}"
        );
        assert!(
            error.contains("nodefusion model pull no-such-org/no-such-model"),
            "{error}"
        );
    }
}
