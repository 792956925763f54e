//! The `nodefusion` command as a function of its arguments: what the binary's `main` runs,
//! and what the Python package's `nodefusion` command runs in the user's own interpreter
//! (so that pipeline files' Python nodes import from the user's environment).

use std::ffi::OsString;

use clap::Parser;

use crate::cli;

/// Runs the command line `args` (the program's name first): parses them (printing the help
/// or a usage error and exiting, as any command does), runs the command on a runtime of its
/// own, and prints its error once on stderr. Returns the exit code: 0, or 1 on an error.
pub fn main<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = cli::Cli::parse_from(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return 1;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => 0,
        Err(error) if cli::is_closed_output(&error) => 0,
        Err(error) => {
            eprintln!("error: {}", cli::message(error));
            1
        }
    }
}
