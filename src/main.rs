//! The `wasserflow` command line (see [`wasserflow::cli`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    // Under `mpirun` (with the `mpi` feature) MPI stays initialized until this returns.
    #[cfg(feature = "mpi")]
    let _mpi = match wasserflow::dist::mpi::init() {
        Ok(session) => session,
        Err(e) => {
            eprintln!("error: cannot start MPI: {e}");
            return ExitCode::FAILURE;
        }
    };
    match wasserflow::cli::run(std::env::args_os()) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code.clamp(1, 255) as u8),
        Err(e) => {
            let world = wasserflow::dist::world();
            if world.size() > 1 {
                // The other ranks may be waiting in a collective for this one: end them all.
                eprintln!("error (rank {} of {}): {e}", world.rank(), world.size());
                world.abort(1);
            }
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
