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
    ExitCode::from(nodefusion::command::main(std::env::args_os()))
}
