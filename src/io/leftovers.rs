//! What interrupted runs leave beside a target, found and cleared by the next run to it: a
//! staging directory (the run was killed before its commit) is removed; the previous output
//! moved aside (the run was killed inside its commit) is put back when the target is
//! missing, else removed. Only what a process that no longer runs left is touched.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The name of a new staging directory (or prefix) of this process for the target named
/// `name`.
pub fn staging_name(name: &str) -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    format!(".{name}.{STAGING}{}-{run}", std::process::id())
}

/// The name the previous output at the target named `name` is moved aside to.
pub fn replaced_name(name: &str) -> String {
    format!(".{name}.{REPLACED}{}", std::process::id())
}

/// What the name of a staging directory starts with after the target's name.
pub const STAGING: &str = "nodefusion-staging-";
const REPLACED: &str = "nodefusion-replaced-";

/// Clears what interrupted runs left beside `target` (in `parent`, its file name `name`)
/// and says what it did, a line each.
pub fn clear_leftovers(parent: &Path, name: &str, target: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries.flatten().map(|entry| entry.path()).collect();
    paths.sort();
    let prefix = format!(".{name}.");
    let mut done = Vec::new();
    for path in paths {
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(rest) = file_name.as_deref().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let (staging, pid) = if let Some(tail) = rest.strip_prefix(STAGING) {
            (true, tail.split('-').next().unwrap_or_default())
        } else if let Some(pid) = rest.strip_prefix(REPLACED) {
            (false, pid)
        } else {
            continue;
        };
        if !is_gone(pid) {
            continue;
        }
        let restore = !staging && !target.exists();
        let outcome = if restore {
            std::fs::rename(&path, target)
        } else if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        done.push(match outcome {
            Ok(()) if restore => format!(
                "put back {}, the previous output an interrupted run had moved aside",
                target.display()
            ),
            Ok(()) => format!("removed {} left by an interrupted run", path.display()),
            Err(error) => format!("could not clear {}: {error}", path.display()),
        });
    }
    done
}

/// Whether the process `pid` has ended (known only where `/proc` is; elsewhere nothing is
/// taken for gone).
pub fn is_gone(pid: &str) -> bool {
    let proc_dir = Path::new("/proc");
    pid.parse::<u32>().is_ok() && proc_dir.join("self").exists() && !proc_dir.join(pid).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_ended_runs_go_and_those_of_running_ones_stay() {
        let dir = std::env::temp_dir().join(format!("nodefusion-leftovers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.parquet");
        let ended = u32::MAX;
        std::fs::create_dir_all(dir.join(format!(".out.parquet.{STAGING}{ended}-0"))).unwrap();
        std::fs::write(
            dir.join(format!(".out.parquet.{REPLACED}{ended}")),
            b"previous",
        )
        .unwrap();
        let running = dir.join(staging_name("out.parquet"));
        std::fs::create_dir_all(&running).unwrap();
        let done = clear_leftovers(&dir, "out.parquet", &target);
        assert_eq!(done.len(), 2, "{done:?}");
        assert!(done[0].starts_with("put back"), "{done:?}");
        assert!(done[1].starts_with("removed"), "{done:?}");
        assert_eq!(std::fs::read(&target).unwrap(), b"previous");
        assert!(running.exists());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(left.len(), 2, "the target and the running run's staging");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
