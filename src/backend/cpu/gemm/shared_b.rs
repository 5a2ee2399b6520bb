//! Row-split parallel GEMM with B packed once, by all threads together.
//!
//! When the threads split C by rows, every one of them needs the whole packed
//! B. Packed per thread (as [`super::sequential`] does), that work and its
//! memory traffic are repeated by each thread: about 3.5% of a 2-thread 1024³
//! sgemm. Here packed B lives in one buffer that the tasks fill together. A
//! task about to use a block claims that block's unpacked pieces one at a time
//! from an atomic counter and packs them, then waits for the pieces others
//! claimed. A piece is only ever waited on after it was claimed, and its
//! claimant packs it before doing anything else, so no wait depends on a
//! thread that has not started: the team may run every task on the caller.
//!
//! C is cut into more row tasks than there are threads, so that a helper that
//! starts late delays one small task rather than half the product.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{BBlock, Blocking, GemmScalar, Kernel, Problem, blocked, chunk, workspace};

/// Largest packed B (bytes) worth keeping per thread between calls; bigger
/// products pack per thread instead.
const MAX_SHARED_BYTES: usize = 32 << 20;

/// Packed B up to this size (one core's L2 on the Zen 4 development machine)
/// is packed per thread: each copy then stays in its own core's L2, and
/// reading pieces that the other core packed cost more than packing them
/// twice (512³ sgemm at 2 threads: 2% slower shared; 1024³: 2-4% faster).
const PER_THREAD_MAX_BYTES: usize = 1 << 20;

/// Row tasks per thread: two even out a late start; more made each thread
/// cycle through the k blocks of B once per task, which on a 512³ product
/// evicted them from L2 (7% slower with four).
const TASKS_PER_THREAD: usize = 2;

/// Columns per piece of a packed B block, in `nr`-wide panels.
const PANELS_PER_PIECE: usize = 4;

/// Whether `p`, run on `threads` threads, takes this path: A is packed (n is
/// wide enough), there are rows for every task, and packed B is past one
/// core's L2 but within the cap.
pub(super) fn applies<T>(ker: &Kernel<T>, p: &Problem<T>, threads: usize) -> bool {
    let bytes = packed_len(ker, p) * std::mem::size_of::<T>();
    threads > 1
        && p.n > ker.direct_max_n
        && p.m.div_ceil(ker.mr) >= threads * TASKS_PER_THREAD
        && (PER_THREAD_MAX_BYTES + 1..=MAX_SHARED_BYTES).contains(&bytes)
}

/// Elements of the whole packed B: every `kc × nc` block at full size.
fn packed_len<T>(ker: &Kernel<T>, p: &Problem<T>) -> usize {
    let Blocking { kblocks, kc_max, nc_max, .. } = Blocking::of(ker, p);
    kblocks * p.n.div_ceil(nc_max) * kc_max * nc_max
}

/// The packed B of one product, filled piece by piece by whichever task needs
/// a block first.
struct SharedB<'a, T: 'static> {
    ker: &'a Kernel<T>,
    p: &'a Problem<T>,
    buf: *mut T,
    kc_max: usize,
    nc_max: usize,
    nblocks: usize,
    pieces: usize,
    /// Per block: the next piece to claim.
    claimed: Vec<AtomicUsize>,
    /// Per block: pieces packed.
    packed: Vec<AtomicUsize>,
    /// A packing task panicked: its piece will never be ready.
    poisoned: AtomicBool,
}

// SAFETY: tasks write disjoint pieces of `buf` (each claimed by exactly one of
// them) and read a block only after all its pieces are published.
unsafe impl<T: Sync + 'static> Sync for SharedB<'_, T> {}

/// Sets `poisoned` if dropped during a panic, so waiters fail instead of hanging.
struct PoisonOnUnwind<'a>(&'a AtomicBool);
impl Drop for PoisonOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

impl<T: GemmScalar> SharedB<'_, T> {
    /// The packed block `(kb, jb)` (reduction block `kb`, column block `jb`),
    /// packing unclaimed pieces of it first and then waiting for the rest.
    fn block(&self, kb: usize, jb: usize) -> *const T {
        let b = kb * self.nblocks + jb;
        let pc = kb * self.kc_max;
        let kc = self.kc_max.min(self.p.k - pc);
        let jc = jb * self.nc_max;
        let nc = self.nc_max.min(self.p.n - jc);
        // SAFETY: block `b` starts inside the buffer (`packed_len` counts it).
        let base = unsafe { self.buf.add(b * self.kc_max * self.nc_max) };
        let piece_cols = PANELS_PER_PIECE * self.ker.nr;
        loop {
            let piece = self.claimed[b].fetch_add(1, Ordering::Relaxed);
            if piece >= self.pieces {
                break;
            }
            let j0 = piece * piece_cols;
            if j0 < nc {
                let _guard = PoisonOnUnwind(&self.poisoned);
                let (pc, col) = (pc as isize, (jc + j0) as isize);
                // SAFETY: the piece lies inside B; panels `j0 / nr ..` of the
                // block start at `j0 · kc` in it, and this task alone claimed them.
                unsafe {
                    (self.ker.pack_b)(
                        kc,
                        piece_cols.min(nc - j0),
                        self.p.b.offset(pc * self.p.rsb + col * self.p.csb),
                        self.p.rsb,
                        self.p.csb,
                        base.add(j0 * kc),
                    )
                };
            }
            self.packed[b].fetch_add(1, Ordering::Release);
        }
        let mut spins = 0u32;
        while self.packed[b].load(Ordering::Acquire) < self.pieces {
            assert!(!self.poisoned.load(Ordering::Acquire), "gemm: a task packing B panicked");
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) {
                std::thread::yield_now();
            }
        }
        base
    }
}

/// Runs `p` as row tasks over the team, sharing one packed B.
///
/// # Safety
/// `p` must satisfy the contract of [`super::gemm_strided`], with `k > 0`, and
/// [`applies`] must hold.
pub(super) unsafe fn parallel<T: GemmScalar>(ker: &Kernel<T>, p: &Problem<T>, threads: usize) {
    let Blocking { kblocks, kc_max, nc_max, .. } = Blocking::of(ker, p);
    let nblocks = p.n.div_ceil(nc_max);
    let pieces = nc_max.div_ceil(PANELS_PER_PIECE * ker.nr);
    let tasks = (threads * TASKS_PER_THREAD).min(p.m.div_ceil(ker.mr));
    workspace::with_shared(|shared_ws| {
        let (_, buf) = shared_ws.buffers::<T>(0, packed_len(ker, p));
        let counters = || (0..kblocks * nblocks).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>();
        let shared = SharedB {
            ker,
            p,
            buf,
            kc_max,
            nc_max,
            nblocks,
            pieces,
            claimed: counters(),
            packed: counters(),
            poisoned: AtomicBool::new(false),
        };
        let task = |t: usize| {
            let (i0, i1) = chunk(p.m, ker.mr, tasks, t);
            if i0 < i1 {
                // SAFETY: the row ranges partition C, so tasks write disjoint
                // elements; the rest is the caller's contract.
                let sub = unsafe { p.sub(i0, i1 - i0, 0, p.n) };
                workspace::with(|ws| {
                    let (abuf, _) = ws.buffers::<T>(Blocking::of(ker, &sub).mc_max * kc_max, 0);
                    // SAFETY: as above; `block` hands out fully packed blocks.
                    unsafe {
                        blocked(ker, &sub, abuf, |kb, _, kc, jc, _| {
                            BBlock::packed(shared.block(kb, jc / nc_max), ker, kc)
                        })
                    };
                });
            }
        };
        super::super::team::run(tasks, &task);
    });
}
