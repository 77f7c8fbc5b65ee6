//! `quiver-chaos` (see `quiver_chaos_tests::chaos`). Called as `quiver` (the link a run makes
//! to it), it is the `quiver` command line built with the chaos fault hooks, which is how the
//! run's cluster processes carry them.

use std::path::Path;

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let called = args.first().and_then(|a| Path::new(a).file_name());
    if called.is_some_and(|name| name == "quiver") {
        quiver_cli::main_with(args)
    } else {
        quiver_chaos_tests::chaos::main_with(args)
    }
}
