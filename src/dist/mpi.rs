//! The [`Communicator`] over MPI (the rsmpi `mpi` crate on the system's MPI,
//! Open MPI on Debian): what `mpirun -n K wasserflow train …` runs on.
//!
//! MPI is initialized only when a launcher started the process (it sets
//! `OMPI_COMM_WORLD_SIZE`, `PMI_SIZE` or `PMIX_RANK`); a plain `wasserflow`
//! run of a binary built with the feature stays a single process and never
//! touches MPI. The thread level asked for is `MPI_THREAD_FUNNELED`: every
//! collective is called from the thread that initialized MPI (the trainers'
//! loop runs there; the worker threads only compute), and a call from
//! another thread is refused with an error rather than left undefined.

use std::thread::ThreadId;

use mpi::Threading;
use mpi::collective::SystemOperation;
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives as _, Root as _};

use super::Communicator;
use crate::{Error, Result};

/// Keeps MPI initialized; dropping it calls `MPI_Finalize`.
pub struct MpiSession {
    _universe: Universe,
}

/// `MPI_COMM_WORLD`, usable from the thread that initialized MPI.
pub struct MpiWorld {
    comm: SimpleCommunicator,
    owner: ThreadId,
    local_ranks: usize,
}

// SAFETY: the communicator handle is only used from `owner`, the thread that
// initialized MPI with MPI_THREAD_FUNNELED (`on_owner` checks it before every
// MPI call); other threads can only read the plain fields.
unsafe impl Send for MpiWorld {}
unsafe impl Sync for MpiWorld {}

/// Whether an MPI launcher started this process.
pub fn launched_by_mpirun() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| std::env::var_os(v).is_some())
}

/// Initializes MPI when launched by `mpirun` and makes `MPI_COMM_WORLD` the
/// process's world ([`super::world`]); `None` (single process) otherwise.
pub fn init() -> Result<Option<MpiSession>> {
    if !launched_by_mpirun() {
        return Ok(None);
    }
    let Some((universe, level)) = mpi::initialize_with_threading(Threading::Funneled) else {
        return Err(Error::InvalidArgument("MPI was already initialized".into()));
    };
    if level < Threading::Funneled {
        return Err(Error::InvalidArgument(format!("the MPI library offers thread support {level:?}, below funneled")));
    }
    let comm = universe.world();
    let local_ranks = comm.split_shared(0).size().max(1) as usize;
    super::set_world(Box::new(MpiWorld { comm, owner: std::thread::current().id(), local_ranks }))?;
    Ok(Some(MpiSession { _universe: universe }))
}

/// Open MPI refuses a send buffer equal to the receive buffer, and empty
/// slices may share one dangling address: empty sends point here instead
/// (empty receive buffers point to the caller's stack).
static EMPTY: [u8; 1] = [0];

fn send_buffer(send: &[u8]) -> &[u8] {
    if send.is_empty() { &EMPTY[..0] } else { send }
}

/// Byte counts and their displacements as MPI's `int`s.
fn counts_and_displs(counts: &[usize]) -> Result<(Vec<mpi::Count>, Vec<mpi::Count>)> {
    let too_big = || Error::InvalidArgument("a message of more than 2 GiB cannot go through one MPI call".into());
    let mut displs = Vec::with_capacity(counts.len());
    let mut at: usize = 0;
    for &c in counts {
        displs.push(mpi::Count::try_from(at).map_err(|_| too_big())?);
        at += c;
    }
    mpi::Count::try_from(at).map_err(|_| too_big())?;
    let counts = counts.iter().map(|&c| c as mpi::Count).collect();
    Ok((counts, displs))
}

impl MpiWorld {
    fn on_owner(&self) -> Result<()> {
        if std::thread::current().id() != self.owner {
            return Err(Error::InvalidArgument(
                "an MPI collective was called off the thread that initialized MPI".into(),
            ));
        }
        Ok(())
    }
}

impl Communicator for MpiWorld {
    fn rank(&self) -> usize {
        self.comm.rank() as usize
    }
    fn size(&self) -> usize {
        self.comm.size() as usize
    }
    fn ranks_on_this_machine(&self) -> usize {
        self.local_ranks
    }
    fn all_gather_bytes(&self, local: &[u8], counts: &[usize], out: &mut [u8]) -> Result<()> {
        self.on_owner()?;
        let total: usize = counts.iter().sum();
        if counts.len() != self.size() || counts[self.rank()] != local.len() || out.len() != total {
            return Err(Error::Shape(format!("all-gather of {} bytes with counts {counts:?}", local.len())));
        }
        let (c, d) = counts_and_displs(counts)?;
        let mut pad = [0u8; 1];
        let out = if out.is_empty() { &mut pad[..0] } else { out };
        let mut part = PartitionMut::new(out, c, d);
        self.comm.all_gather_varcount_into(send_buffer(local), &mut part);
        Ok(())
    }
    fn all_to_all_bytes(
        &self,
        send: &[u8],
        send_counts: &[usize],
        out: &mut [u8],
        recv_counts: &[usize],
    ) -> Result<()> {
        self.on_owner()?;
        let k = self.size();
        let sent: usize = send_counts.iter().sum();
        if send_counts.len() != k
            || recv_counts.len() != k
            || sent != send.len()
            || out.len() != recv_counts.iter().sum::<usize>()
        {
            return Err(Error::Shape(format!("all-to-all of {} bytes with counts {send_counts:?}", send.len())));
        }
        let (sc, sd) = counts_and_displs(send_counts)?;
        let (rc, rd) = counts_and_displs(recv_counts)?;
        let mut pad = [0u8; 1];
        let out = if out.is_empty() { &mut pad[..0] } else { out };
        let part = Partition::new(send_buffer(send), sc, sd);
        let mut recv = PartitionMut::new(out, rc, rd);
        self.comm.all_to_all_varcount_into(&part, &mut recv);
        Ok(())
    }
    fn broadcast_bytes(&self, root: usize, buf: &mut [u8]) -> Result<()> {
        self.on_owner()?;
        if root >= self.size() {
            return Err(Error::InvalidArgument(format!("broadcast from rank {root} of {}", self.size())));
        }
        self.comm.process_at_rank(root as mpi::Rank).broadcast_into(buf);
        Ok(())
    }
    fn barrier(&self) {
        if self.on_owner().is_ok() {
            self.comm.barrier();
        }
    }
    fn native_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.on_owner()?;
        let send = buf.to_vec();
        self.comm.all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        self.comm.abort(code)
    }
}
