//! Per-thread packing buffers, kept across calls so steady-state GEMMs do not allocate.

use std::cell::RefCell;

/// One cache line; the unit of allocation, which makes the buffers 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

const LINE: usize = std::mem::size_of::<Line>();

/// Growable, 64-byte-aligned scratch memory.
pub(super) struct Workspace {
    lines: Vec<Line>,
}

impl Workspace {
    const fn new() -> Self {
        Workspace { lines: Vec::new() }
    }

    /// Two disjoint aligned buffers of `a_len` and `b_len` elements of `T`. Their
    /// contents are unspecified (the packing routines overwrite what they use).
    pub(super) fn buffers<T: Copy>(&mut self, a_len: usize, b_len: usize) -> (*mut T, *mut T) {
        let size = std::mem::size_of::<T>();
        let a_lines = (a_len * size).div_ceil(LINE);
        // One spare line past B: kernels may prefetch just beyond a panel.
        let total = a_lines + (b_len * size).div_ceil(LINE) + 1;
        if self.lines.len() < total {
            self.lines = vec![Line([0; 64]); total];
        }
        let base = self.lines.as_mut_ptr();
        // SAFETY: `a_lines ≤ total ≤ len`, so the offset stays inside the allocation.
        (base.cast(), unsafe { base.add(a_lines) }.cast())
    }
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = const { RefCell::new(Workspace::new()) };
    /// The packed B that a parallel product's tasks share (`shared_b`), owned
    /// by the thread that dispatched them; apart from `WORKSPACE` because that
    /// thread also runs tasks, which pack A into their own workspace.
    static SHARED: RefCell<Workspace> = const { RefCell::new(Workspace::new()) };
}

/// Runs `f` with this thread's workspace. Re-entrant use (only possible if `f`
/// itself ends up in another GEMM on this thread) gets a temporary one instead.
pub(super) fn with<R>(f: impl FnOnce(&mut Workspace) -> R) -> R {
    borrow(&WORKSPACE, f)
}

/// Runs `f` with this thread's buffer for a shared packed B (same re-entrancy rule).
pub(super) fn with_shared<R>(f: impl FnOnce(&mut Workspace) -> R) -> R {
    borrow(&SHARED, f)
}

fn borrow<R>(key: &'static std::thread::LocalKey<RefCell<Workspace>>, f: impl FnOnce(&mut Workspace) -> R) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut ws) => f(&mut ws),
        Err(_) => f(&mut Workspace::new()),
    })
}
