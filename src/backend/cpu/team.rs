//! A fork-join team of spinning threads for the hot kernels.
//!
//! Why not rayon here: the kernels of a narrow MLP take tens of microseconds,
//! and an idle rayon worker goes to sleep within about as long; waking it
//! (a futex, and on a virtual machine an inter-processor interrupt) costs
//! more than the work it would take over. Measured on the 2-core development
//! VM: a 1024×64×64 GEMM split over rayon's two threads took 92 µs against
//! 81 µs on one. The team's helpers instead spin on an atomic for a short
//! window after each job (OpenMP's "active wait", which is also what makes
//! PyTorch's threads cheap to reuse) and only then park.
//!
//! The team has as many threads as rayon's pool (`RAYON_NUM_THREADS`), the
//! caller being one of them. A job is `n` independent tasks; callers write
//! disjoint outputs per task, so results do not depend on which thread ran
//! which task. Concurrent or nested jobs run inline on their caller.
//!
//! Each thread owns a contiguous share of a job's tasks, the same share of
//! every job with as many tasks (OpenMP's static schedule), and takes
//! over the unclaimed rest of other shares once its own is done. The shares
//! keep data where it was made: the GEMM that writes rows `0..m/2` of a
//! layer's output on the caller is followed by one that reads them there.
//! With tasks claimed first come first served instead, the halves of a
//! 1024×64×64 product swapped cores from call to call, and two threads ran it
//! only 1.35× faster than one. Taking over keeps a thread that the host has
//! descheduled from holding up the job.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a helper spins waiting for the next job before parking. Long
/// enough to bridge the gaps between the ops of a training iteration.
const SPIN: Duration = Duration::from_millis(2);

struct Job {
    /// The task body, type-erased; valid while `done` is below the number of
    /// tasks (the dispatcher waits for all of them before returning and
    /// invalidating it).
    f: *const (dyn Fn(usize) + Sync),
    /// One share of the tasks per thread, the caller's first.
    shares: Vec<Share>,
    done: AtomicUsize,
    /// A task panicked; the dispatcher re-raises once all tasks are done.
    panicked: AtomicBool,
}

// SAFETY: `f` points to a `Sync` closure and is only called while the
// dispatching thread keeps it alive (see `Job::f`).
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

/// Tasks `next..end` of a job not claimed yet (on its own cache line: the
/// threads claim from different shares at the same time).
#[repr(align(64))]
struct Share {
    next: AtomicUsize,
    end: usize,
}

impl Job {
    fn new(f: *const (dyn Fn(usize) + Sync), n: usize, threads: usize) -> Self {
        let bound = |p: usize| n * p / threads;
        let shares = (0..threads).map(|p| Share { next: AtomicUsize::new(bound(p)), end: bound(p + 1) }).collect();
        Job { f, shares, done: AtomicUsize::new(0), panicked: AtomicBool::new(false) }
    }

    /// Runs the tasks of share `me`, then whatever is left of the others,
    /// until no task is left.
    fn work(&self, me: usize) {
        let threads = self.shares.len();
        for s in (0..threads).map(|i| &self.shares[(me + i) % threads]) {
            self.work_share(s);
        }
    }

    fn work_share(&self, share: &Share) {
        loop {
            let t = share.next.fetch_add(1, Ordering::Relaxed);
            if t >= share.end {
                return;
            }
            // SAFETY: a task was claimed, so not all tasks are done until it
            // finishes: the dispatcher is still waiting and `f` alive. A panic
            // is caught so that `done` still reaches the task count (the
            // dispatcher must not unwind while others may still call `f`).
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*self.f)(t) }));
            if r.is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

struct Team {
    /// Incremented for each new job.
    epoch: AtomicU64,
    current: Mutex<Option<Arc<Job>>>,
    /// Serializes dispatchers; a busy team runs new jobs inline.
    busy: AtomicBool,
    helpers: Vec<Helper>,
}

struct Helper {
    thread: Thread,
    parked: Arc<AtomicBool>,
}

static TEAM: OnceLock<Team> = OnceLock::new();

fn team() -> &'static Team {
    TEAM.get_or_init(|| {
        let n = rayon::current_num_threads().saturating_sub(1);
        let mut helpers = Vec::with_capacity(n);
        for i in 0..n {
            let parked = Arc::new(AtomicBool::new(false));
            let p = parked.clone();
            let handle = thread::Builder::new()
                .name(format!("wasserflow-team-{i}"))
                .spawn(move || helper_loop(i + 1, p))
                .expect("spawning a team thread");
            helpers.push(Helper { thread: handle.thread().clone(), parked });
        }
        Team { epoch: AtomicU64::new(0), current: Mutex::new(None), busy: AtomicBool::new(false), helpers }
    })
}

/// The loop of helper `me` (the caller of a job is thread 0).
fn helper_loop(me: usize, parked: Arc<AtomicBool>) {
    // Wait for the team to be fully built before touching it.
    let team = loop {
        if let Some(t) = TEAM.get() {
            break t;
        }
        thread::park_timeout(Duration::from_micros(100));
    };
    let mut seen = 0u64;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let e = team.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            std::hint::spin_loop();
            spins += 1;
            // Yield now and then: on an oversubscribed machine a spinning
            // thread would otherwise sit on a core others need.
            if spins.is_multiple_of(256) {
                thread::yield_now();
            }
            if spins.is_multiple_of(1024) && start.elapsed() > SPIN {
                // Announce the nap, then re-check so a job published in
                // between is not missed; the dispatcher unparks nappers.
                parked.store(true, Ordering::SeqCst);
                if team.epoch.load(Ordering::SeqCst) == seen {
                    thread::park_timeout(Duration::from_millis(50));
                }
                parked.store(false, Ordering::SeqCst);
            }
        }
        let job = team.current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(job) = job {
            job.work(me);
        }
    }
}

/// Number of threads a job can use (the caller included).
pub fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Runs `f(0..n)` across the team, the calling thread included; returns when
/// all tasks are done. Tasks must be independent.
pub fn run(n: usize, f: &(dyn Fn(usize) + Sync)) {
    if n == 0 {
        return;
    }
    if n == 1 || threads() == 1 {
        run_inline(n, f);
        return;
    }
    let team = team();
    if team.helpers.is_empty() || team.busy.swap(true, Ordering::Acquire) {
        run_inline(n, f);
        return;
    }
    // SAFETY: the lifetime is erased; `job.f` is only called while `done < n`
    // and this function does not return before `done == n`.
    let f: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
    let job = Arc::new(Job::new(f, n, team.helpers.len() + 1));
    *team.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(job.clone());
    team.epoch.fetch_add(1, Ordering::SeqCst);
    for h in &team.helpers {
        if h.parked.load(Ordering::SeqCst) {
            h.thread.unpark();
        }
    }
    job.work(0);
    let mut spins = 0u32;
    while job.done.load(Ordering::Acquire) < n {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(256) {
            thread::yield_now();
        }
    }
    *team.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    team.busy.store(false, Ordering::Release);
    if job.panicked.load(Ordering::Relaxed) {
        panic!("a task of a parallel kernel panicked");
    }
}

/// All `n` tasks on the calling thread, with the team's panic contract: every
/// task runs even if one panics, and the panic is raised after the last.
fn run_inline(n: usize, f: &(dyn Fn(usize) + Sync)) {
    let mut panicked = None;
    for t in 0..n {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(t))) {
            panicked.get_or_insert(p);
        }
    }
    if let Some(p) = panicked {
        std::panic::resume_unwind(p);
    }
}

/// A raw pointer that tasks may share to write disjoint parts of one buffer.
pub struct SharedMut<T>(pub *mut T);
impl<T> Clone for SharedMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedMut<T> {}
// SAFETY: users only write disjoint elements from different tasks.
unsafe impl<T> Send for SharedMut<T> {}
unsafe impl<T> Sync for SharedMut<T> {}

/// Runs `f(i, piece)` over `y` cut into pieces of `chunk` elements (the last
/// may be shorter), across the team.
pub fn for_each_chunk_mut<T: Send>(y: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let len = y.len();
    let chunk = chunk.max(1);
    let ptr = SharedMut(y.as_mut_ptr());
    run(len.div_ceil(chunk), &|i| {
        let start = i * chunk;
        let n = chunk.min(len - start);
        // SAFETY: pieces `[i·chunk, i·chunk + n)` are disjoint and inside `y`,
        // which outlives the job.
        let piece = unsafe { std::slice::from_raw_parts_mut({ ptr }.0.add(start), n) };
        f(i, piece);
    });
}

/// `[f(0), …, f(n−1)]`, computed across the team.
pub fn map_collect<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    for_each_chunk_mut(&mut out, 1, |i, slot| slot[0] = Some(f(i)));
    out.into_iter().map(|r| r.expect("every task ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once() {
        for n in [0, 1, 2, 3, 17, 1000] {
            let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            run(n, &|t| {
                hits[t].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn a_panicking_task_is_reported_after_all_finish() {
        let finished = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(8, &|t| {
                if t == 3 {
                    panic!("boom");
                }
                finished.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(r.is_err());
        assert_eq!(finished.load(Ordering::Relaxed), 7);
        // The team still works afterwards.
        let n = AtomicUsize::new(0);
        run(5, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn nested_and_concurrent_jobs_complete() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..200 {
                        run(4, &|_| {
                            run(3, &|_| {
                                total.fetch_add(1, Ordering::Relaxed);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * 200 * 12);
    }
}
