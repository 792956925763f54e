//! `nodefusion`: the command line. `run` and `explain` take pipeline files, `sql` runs
//! queries (or a shell), `functions` lists every function, `gen-docs` makes sample data.
//! An error is printed once, on stderr, and the exit code is non-zero. The command itself
//! is in the library ([`nodefusion::command`]), which the Python package runs too.

use std::process::ExitCode;

/// mimalloc: the model's large intermediate tensors are allocated and freed on every batch,
/// which glibc's malloc serves with fresh, page-faulting mappings each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // No transparent huge pages for this process: mimalloc asks for them on its arena, and
    // where the kernel has no free huge page at hand each first touch of 2 MB waits for memory
    // compaction (measured: a 100,000-row text pipeline took 0.40 s instead of 0.22 s beside
    // other busy processes; `embed` is as fast without them). A `MIMALLOC_ALLOW_THP` setting in
    // the environment is the user's choice and is left alone.
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and touches no memory of ours.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
    ExitCode::from(nodefusion::command::main(std::env::args_os()))
}
