//! [`cache_directory`]: where nodefusion keeps what it caches on this machine: the result
//! cache, and the finished parts of interrupted runs into object stores.

use std::path::PathBuf;

/// `NODEFUSION_CACHE`, else `$XDG_CACHE_HOME/nodefusion`, else `~/.cache/nodefusion`;
/// `None` with none of those variables set.
pub fn cache_directory() -> Option<PathBuf> {
    if let Some(directory) = std::env::var_os("NODEFUSION_CACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(directory));
    }
    if let Some(base) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(base).join("nodefusion"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("nodefusion"))
}
