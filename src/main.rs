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
    #[cfg(not(feature = "mpi"))]
    if std::env::var("OMPI_COMM_WORLD_SIZE").or_else(|_| std::env::var("PMI_SIZE")).is_ok_and(|n| n != "1") {
        eprintln!(
            "warning: started by mpirun, but this binary was built without the `mpi` feature: \
             every process runs alone (build with `--features mpi` for data-parallel training)"
        );
    }
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
