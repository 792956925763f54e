//! The local files an input location names, in the order they are read.

use std::path::{Path, PathBuf};

/// `location` itself if it is a file; if it is a directory, every file below it ending in
/// `.{extension}`, sorted, hidden entries (staging directories) skipped; nothing for a glob,
/// a URL or a missing path.
pub fn local_files(location: &str, extension: &str) -> Vec<PathBuf> {
    let path = Path::new(location);
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|found| found == extension) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
