//! The `wasserflow` command line (see [`wasserflow::cli`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    match wasserflow::cli::run(std::env::args_os()) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code.clamp(1, 255) as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
