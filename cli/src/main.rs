//! The `quiver` binary: the command line of [`quiver_cli`].

fn main() -> std::process::ExitCode {
    quiver_cli::main_with(std::env::args_os())
}
