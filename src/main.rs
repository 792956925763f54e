//! `nodefusion`: the command line. `run` and `explain` take pipeline files, `sql` runs
//! queries (or a shell), `functions` lists every function, `gen-docs` makes sample data.
//! An error is printed once, on stderr, and the exit code is non-zero.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the model's large intermediate tensors are allocated and freed on every batch,
/// which glibc's malloc serves with fresh, page-faulting mappings each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if cli::is_closed_output(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", cli::message(error));
            ExitCode::FAILURE
        }
    }
}
