//! General matrix multiply on the CPU: `C ← α·op(A)·op(B) + β·C`.
//!
//! The structure is the BLIS one, mirrored for row-major C (A is the broadcast
//! operand, B the vector one):
//!
//! ```text
//! for ic in 0..m step MC                     a block of rows
//!   for pc in 0..k step KC                   a block of the reduction
//!     pack A[ic.., pc..] as MR-row slivers   (read in place when n is small)
//!     for jc in 0..n step NC                 a block of columns
//!       pack B[pc.., jc..] as NR-wide panels (read in place when n is small
//!                                        and B's rows are contiguous)
//!       for ir in 0..MC step MR              the A sliver stays in L1 while
//!         for jr in 0..NC step NR            the B panels stream past it
//!           micro-kernel: MR×NR tile of C in registers
//! ```
//!
//! A is packed once per `MC × KC` block whatever n is, B once per block of C
//! rows. Products with n ≤ 4 (a GEMV in disguise) take a dot-product path
//! instead when the kernel family has one.
//!
//! Transposes are free: packing reads through arbitrary strides. The micro-kernel
//! is chosen once per process (AVX-512F, AVX2+FMA, or portable Rust). Threads get
//! disjoint rectangles of C (rows of C sharing one packed B when B is large:
//! `shared_b.rs`) and the k blocking depends on k alone, so every
//! element of C sees the same sequence of floating-point operations whatever the
//! number of threads: results are bit-identical across pool sizes.

mod kernel_generic;
mod pack;
#[cfg(target_arch = "x86_64")]
mod pack_avx512;
mod shared_b;
mod split_k;
mod workspace;

#[cfg(target_arch = "x86_64")]
mod kernel_avx2;
#[cfg(target_arch = "x86_64")]
mod kernel_avx512;

use std::sync::OnceLock;

/// Whether an operand is used as stored or transposed. Transposes are never
/// materialized: they only swap the strides the packing routines read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transpose {
    No,
    Yes,
}

/// Element types the GEMM supports: `f32` and `f64` only (the trait is sealed;
/// its hidden supertrait carries the per-type kernel tables).
pub trait GemmScalar:
    Copy + Send + Sync + 'static + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + PartialEq + sealed::Sealed
{
    const GEMM_ZERO: Self;
}
impl GemmScalar for f32 {
    const GEMM_ZERO: Self = 0.0;
}
impl GemmScalar for f64 {
    const GEMM_ZERO: Self = 0.0;
}

mod sealed {
    use super::{Kernel, KernelKind};

    /// Per-type kernel tables; private so that only `f32` and `f64` can be GEMM scalars.
    pub trait Sealed: Sized + 'static {
        const GEMM_ONE: Self;
        fn kernel(kind: KernelKind) -> &'static Kernel<Self>;
    }

    impl Sealed for f32 {
        const GEMM_ONE: Self = 1.0;
        fn kernel(kind: KernelKind) -> &'static Kernel<f32> {
            match kind {
                #[cfg(target_arch = "x86_64")]
                KernelKind::Avx512 => &super::kernel_avx512::F32,
                #[cfg(target_arch = "x86_64")]
                KernelKind::Avx2 => &super::kernel_avx2::F32,
                _ => &super::kernel_generic::F32,
            }
        }
    }

    impl Sealed for f64 {
        const GEMM_ONE: Self = 1.0;
        fn kernel(kind: KernelKind) -> &'static Kernel<f64> {
            match kind {
                #[cfg(target_arch = "x86_64")]
                KernelKind::Avx512 => &super::kernel_avx512::F64,
                #[cfg(target_arch = "x86_64")]
                KernelKind::Avx2 => &super::kernel_avx2::F64,
                _ => &super::kernel_generic::F64,
            }
        }
    }
}

/// Micro-kernel families. Exposed only so tests and benches can force one.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    Avx512,
    Avx2,
    Generic,
}

impl KernelKind {
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Avx512 => "avx512f",
            KernelKind::Avx2 => "avx2+fma",
            KernelKind::Generic => "generic",
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
            }
            KernelKind::Generic => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The kernel `gemm` dispatches to on this CPU (detected once, then cached).
    pub fn selected() -> KernelKind {
        static SELECTED: OnceLock<KernelKind> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            [KernelKind::Avx512, KernelKind::Avx2].into_iter().find(|k| k.is_available()).unwrap_or(KernelKind::Generic)
        })
    }

    /// Every kernel this CPU can run, the dispatched one first.
    pub fn all_available() -> Vec<KernelKind> {
        let mut v = vec![KernelKind::selected()];
        for k in [KernelKind::Avx512, KernelKind::Avx2, KernelKind::Generic] {
            if k.is_available() && !v.contains(&k) {
                v.push(k);
            }
        }
        v
    }
}

use kernel_table::Kernel;

/// Holds [`Kernel`] so that the type is nominally public (it appears in the
/// sealed trait's signature) yet unreachable from outside the crate.
mod kernel_table {
    use super::{Panel, Problem, workspace};

    /// One micro-kernel family for element type `T`, with the blocking it was tuned for.
    pub struct Kernel<T: 'static> {
        /// Rows of C per register tile (the broadcast operand, from A).
        pub(super) mr: usize,
        /// Columns of C per register tile (the vector operand, from packed B).
        pub(super) nr: usize,
        /// Depth of one reduction block: the `mr × kc` A sliver is reused from L1
        /// across a whole B block; deeper blocks mean fewer passes over C.
        pub(super) kc: usize,
        /// `kc` for a transposed A read in place (`rsa == 1`: a weight gradient
        /// `Xᵀ·G` with n ≤ `direct_max_n`) of more than one row tile. Each k
        /// step then reads `mr` consecutive elements of one row of the stored
        /// A, a cache line of which it uses a fraction, so the sliver occupies
        /// `kc` lines of L1 instead of `mr·kc` elements: a shallower block
        /// keeps it there while the B panels stream past. (With a single row
        /// tile it measured no gain, only the extra passes over C.)
        pub(super) kc_strided_a: usize,
        /// Width of one packed B block, whose panels stream (from L2, or L3 with
        /// the hardware prefetchers keeping up) past each A sliver; wider blocks
        /// reuse each sliver more.
        pub(super) nc: usize,
        /// Height of one packed A block (`mc × kc`, in L3): A is packed once per
        /// `mc × kc` block and reused across all B blocks.
        pub(super) mc: usize,
        /// Largest n for which A, and B with unit column stride and whole
        /// panels, are read in place instead of packed: packing A pays off only
        /// when a sliver is reused across many B panels, and packing B only
        /// when its rows are far apart (a block then spans many pages).
        pub(super) direct_max_n: usize,
        /// Computes `rows × ncols` of C from an A sliver and a packed B block.
        pub(super) row_panel: unsafe fn(&Panel<T>),
        /// Packs a `rows × kc` sliver of A, `mr`-interleaved.
        pub(super) pack_a: unsafe fn(usize, usize, *const T, isize, isize, *mut T),
        /// Packs a `kc × nc` block of B into `nr`-wide zero-padded panels.
        pub(super) pack_b: unsafe fn(usize, usize, *const T, isize, isize, *mut T),
        /// Whole-problem path for `n ≤ NARROW_N` with contiguous rows of A.
        pub(super) narrow: Option<unsafe fn(&Problem<T>, &mut workspace::Workspace)>,
    }
}

/// Widest C handled by a kernel's `narrow` path.
const NARROW_N: usize = 4;

/// Arguments of one row-panel call: `C[rows × ncols] ← α·A·Bp + β·C`.
pub(crate) struct Panel<T> {
    rows: usize,
    k: usize,
    ncols: usize,
    alpha: T,
    beta: T,
    /// A sliver, `rows × k`, with `rsa == 1` or `csa == 1`.
    a: *const T,
    rsa: isize,
    csa: isize,
    /// B block: `ceil(ncols / nr)` panels of `k × nr`, `b_panel` apart, each
    /// with its rows `rsb` apart (packed: `k·nr` and `nr`; read in place: `nr`
    /// and B's row stride).
    b: *const T,
    rsb: isize,
    b_panel: isize,
    c: *mut T,
    rsc: isize,
    csc: isize,
}

/// A problem in pointer-and-stride form (strides in elements).
#[derive(Clone, Copy)]
pub(crate) struct Problem<T> {
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
    /// Depth of the k blocks: chosen once by [`run`] for the whole problem
    /// (0 until then), so that every part of a split problem, whatever the
    /// number of threads, sums its products in the same blocks.
    kc: usize,
}

// SAFETY: a `Problem` is only shared between the tasks of one GEMM call, which
// read A and B and write pairwise disjoint rectangles of C.
unsafe impl<T: Send> Send for Problem<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Problem<T> {}

impl<T: GemmScalar> Problem<T> {
    /// `Cᵀ = Bᵀ·Aᵀ`: same elements, roles of rows and columns swapped.
    fn transposed(self) -> Self {
        Problem {
            m: self.n,
            n: self.m,
            a: self.b,
            rsa: self.csb,
            csa: self.rsb,
            b: self.a,
            rsb: self.csa,
            csb: self.rsa,
            rsc: self.csc,
            csc: self.rsc,
            ..self
        }
    }

    /// The sub-problem producing `C[i0..i0+m, j0..j0+n]`.
    ///
    /// # Safety
    /// The rectangle must lie inside the problem.
    unsafe fn sub(&self, i0: usize, m: usize, j0: usize, n: usize) -> Self {
        let (i0, j0) = (i0 as isize, j0 as isize);
        // SAFETY: the offsets stay inside the operands by the caller's contract.
        unsafe {
            Problem {
                m,
                n,
                a: self.a.offset(i0 * self.rsa),
                b: self.b.offset(j0 * self.csb),
                c: self.c.offset(i0 * self.rsc + j0 * self.csc),
                ..*self
            }
        }
    }
}

/// Row-major BLAS-style GEMM: `C[m×n] ← α·op(A)·op(B) + β·C`, where `op(A)` is
/// `m×k` and `op(B)` is `k×n`. `lda`, `ldb`, `ldc` are the row strides of the
/// stored matrices (A is stored `m×k` when `ta == No`, `k×m` when `Yes`).
/// When `β == 0`, C is write-only: whatever it held (NaN included) is ignored.
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: GemmScalar>(
    ta: Transpose,
    tb: Transpose,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    lda: usize,
    b: &[T],
    ldb: usize,
    beta: T,
    c: &mut [T],
    ldc: usize,
) {
    gemm_with_kernel(KernelKind::selected(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/// [`gemm`] with a forced micro-kernel family (for tests and benchmarks).
///
/// # Panics
/// If the CPU cannot run `kind`, or if a slice is too short for its dimensions.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn gemm_with_kernel<T: GemmScalar>(
    kind: KernelKind,
    ta: Transpose,
    tb: Transpose,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    lda: usize,
    b: &[T],
    ldb: usize,
    beta: T,
    c: &mut [T],
    ldc: usize,
) {
    assert!(kind.is_available(), "gemm: kernel {kind:?} is not supported by this CPU");
    let (ar, ac) = if ta == Transpose::No { (m, k) } else { (k, m) };
    let (br, bc) = if tb == Transpose::No { (k, n) } else { (n, k) };
    check_operand("A", a.len(), ar, ac, lda);
    check_operand("B", b.len(), br, bc, ldb);
    check_operand("C", c.len(), m, n, ldc);
    let (lda, ldb, ldc) = (lda as isize, ldb as isize, ldc as isize);
    let (rsa, csa) = if ta == Transpose::No { (lda, 1) } else { (1, lda) };
    let (rsb, csb) = if tb == Transpose::No { (ldb, 1) } else { (1, ldb) };
    let p = Problem {
        m,
        n,
        k,
        alpha,
        a: a.as_ptr(),
        rsa,
        csa,
        b: b.as_ptr(),
        rsb,
        csb,
        beta,
        c: c.as_mut_ptr(),
        rsc: ldc,
        csc: 1,
        kc: 0,
    };
    // SAFETY: `check_operand` proved every element the problem addresses is inside
    // its slice, and `ld ≥ cols` makes the rows of C disjoint; `&mut c` excludes
    // aliasing with A and B.
    unsafe { run(T::kernel(kind), p) }
}

/// Asserts that a `rows × cols` matrix with row stride `ld` fits in `len` elements.
fn check_operand(name: &str, len: usize, rows: usize, cols: usize, ld: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(ld >= cols || rows == 1, "gemm: ld{name} = {ld} < {cols} columns");
    let needed =
        (rows - 1).checked_mul(ld).and_then(|x| x.checked_add(cols)).expect("gemm: operand size overflows usize");
    assert!(len >= needed, "gemm: {name} has {len} elements, needs {needed}");
    assert!(needed <= isize::MAX as usize / 8, "gemm: operand {name} too large");
}

/// GEMM with arbitrary element strides: `C ← α·A·B + β·C` where element `(i, p)`
/// of A is `*a.offset(i·rsa + p·csa)`, `(p, j)` of B is `*b.offset(p·rsb + j·csb)`
/// and `(i, j)` of C is `*c.offset(i·rsc + j·csc)`. Strides may be negative.
/// When `β == 0`, C is write-only.
///
/// # Safety
/// Every element addressed by the three `m×k`, `k×n`, `m×n` matrices must be
/// valid (C for reads and writes); distinct `(i, j)` must address distinct
/// elements of C, and C must not overlap A or B. Nothing else may access C
/// during the call.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_strided<T: GemmScalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) {
    // SAFETY: forwarded caller contract.
    unsafe {
        gemm_strided_with_kernel(KernelKind::selected(), m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

/// [`gemm_strided`] with a forced micro-kernel family (for tests and benchmarks).
///
/// # Safety
/// As [`gemm_strided`].
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_strided_with_kernel<T: GemmScalar>(
    kind: KernelKind,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) {
    assert!(kind.is_available(), "gemm: kernel {kind:?} is not supported by this CPU");
    let p = Problem { m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc, kc: 0 };
    // SAFETY: forwarded caller contract.
    unsafe { run(T::kernel(kind), p) }
}

/// Below this much work (in flops, about 10 µs of one core) a call stays on the
/// calling thread: handing a task to another thread and joining it costs 2-3 µs
/// on an idle machine, more when the other core is busy. Measured on Zen 4 with
/// 2 threads: 2·128·128·64 flops run 1.3-1.5× faster split, 2·64³ about 1.2×.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// # Safety
/// `p` must satisfy the contract of [`gemm_strided`].
unsafe fn run<T: GemmScalar>(ker: &Kernel<T>, mut p: Problem<T>) {
    if p.m == 0 || p.n == 0 {
        return;
    }
    if p.k == 0 || p.alpha == T::GEMM_ZERO {
        // SAFETY: caller contract.
        unsafe { scale_c(&p) };
        return;
    }
    // The kernels store rows of C with unit stride; a column-major C is the
    // row-major C of the transposed product.
    if p.csc != 1 && p.rsc == 1 {
        p = p.transposed();
    }
    // A register tile is `nr` columns wide: a C of a few columns and many rows
    // (a weight gradient `Xᵀ·G` of a field's output layer) would leave most of
    // every tile padding, while its transpose fills them. The same bits: each
    // element is the same chain of multiply-adds over k either way
    // (`tests/gemm.rs::few_column_products_are_each_elements_fma_chain`).
    if p.n < ker.nr / 4 && p.m > p.n && !uses_narrow(ker, &p) {
        p = p.transposed();
    }
    p.kc = if p.rsa == 1 && p.csa != 1 && p.m > ker.mr && p.n <= ker.direct_max_n { ker.kc_strided_a } else { ker.kc };

    let flops = 2usize.saturating_mul(p.m).saturating_mul(p.n).saturating_mul(p.k);
    // Weigh in the per-tile overhead that dominates for tiny k, and the lower
    // flop rate of the narrow path.
    let mut work = flops.saturating_mul(p.k + 2) / p.k;
    if uses_narrow(ker, &p) {
        work = work.saturating_mul(2);
    }
    let threads = if work < PARALLEL_MIN_WORK { 1 } else { super::team::threads() };
    if split_k::applies(ker, &p, PARALLEL_MIN_WORK) {
        // SAFETY: caller contract; `applies` holds and `kc` is set.
        unsafe { split_k::run(ker, &p, threads) };
        return;
    }
    if shared_b::applies(ker, &p, threads) {
        // SAFETY: caller contract; `applies` holds.
        unsafe { shared_b::parallel(ker, &p, threads) };
        return;
    }
    let (tm, tn) = split_grid(ker, p.m, p.n, threads);
    let tm = if tn == 1 && Blocking::of(ker, &p).direct_b { finer_rows(ker, p.m, flops / tm, tm) } else { tm };
    if tm * tn == 1 {
        // SAFETY: caller contract.
        workspace::with(|ws| unsafe { sequential(ker, &p, ws) });
        return;
    }
    // SAFETY: caller contract.
    unsafe { parallel(ker, &p, tm, tn) };
}

/// Even k blocks of at most `p.kc`: `(count, size)`. Depends on k and the
/// whole problem's `kc` only, which is what keeps results independent of the
/// thread count.
fn k_blocking<T>(p: &Problem<T>) -> (usize, usize) {
    debug_assert!(p.kc > 0, "gemm: k blocking asked before `run` chose it");
    let blocks = p.k.div_ceil(p.kc);
    (blocks, p.k.div_ceil(blocks))
}

fn uses_narrow<T>(ker: &Kernel<T>, p: &Problem<T>) -> bool {
    ker.narrow.is_some() && p.n <= NARROW_N && p.csa == 1
}

/// Runs a `tm × tn` grid of tasks, task 0 on the calling thread.
///
/// # Safety
/// `p` must satisfy the contract of [`gemm_strided`], with `k > 0`.
unsafe fn parallel<T: GemmScalar>(ker: &Kernel<T>, p: &Problem<T>, tm: usize, tn: usize) {
    let task = |t: usize| {
        let (i0, i1) = chunk(p.m, ker.mr, tm, t / tn);
        let (j0, j1) = chunk(p.n, ker.nr, tn, t % tn);
        if i0 < i1 && j0 < j1 {
            // SAFETY: the rectangles of the grid partition C, so tasks write
            // disjoint elements; everything else is the caller's contract.
            workspace::with(|ws| unsafe { sequential(ker, &p.sub(i0, i1 - i0, j0, j1 - j0), ws) });
        }
    };
    // The team's helpers spin between jobs, so handing them a tile costs far
    // less than waking a sleeping rayon worker (see `team`).
    super::team::run(tm * tn, &task);
}

/// Most row tasks per thread in a row split.
const MAX_TASKS_PER_THREAD: usize = 4;

/// Least work (flops) worth a task of its own: about 5 µs of one core.
const MIN_TASK_FLOPS: usize = 1 << 19;

/// The number of row tasks for a split of C into `tm` row parts of
/// `part_flops` each: up to [`MAX_TASKS_PER_THREAD`] per part, while each
/// keeps [`MIN_TASK_FLOPS`] and at least one tile row. Only for B read in
/// place: each task packs its own B otherwise, and the extra packing cost
/// more than the balance won (a 1024×64×64 `G·Wᵀ` took 52 µs in 8 tasks
/// against 47 µs in 2).
///
/// Why more tasks than threads: on the development VM one vCPU at a time ran
/// FMAs about 30% slower for stretches (its host core busy with someone
/// else's thread), and with one task per thread the other thread then
/// waited: a 1024×64×64 product took 65 µs on two threads where each half
/// took 45 µs. With several tasks per thread, the fast one takes over the
/// slow one's last tasks (see `team`). The tasks write the same elements with
/// the same k blocking however many there are, so results do not change.
fn finer_rows<T>(ker: &Kernel<T>, m: usize, part_flops: usize, tm: usize) -> usize {
    let per_part = (part_flops / MIN_TASK_FLOPS).clamp(1, MAX_TASKS_PER_THREAD);
    (tm * per_part).min(m.div_ceil(ker.mr)).max(tm)
}

/// Range `part` of `len` split into `parts` ranges whose boundaries are
/// multiples of `unit`, as even as that allows.
fn chunk(len: usize, unit: usize, parts: usize, part: usize) -> (usize, usize) {
    let units = len.div_ceil(unit);
    let bound = |t: usize| (units * t / parts * unit).min(len);
    (bound(part), bound(part + 1))
}

/// Chooses a `tm × tn` grid of at most `threads` tasks that minimizes the
/// largest task: its multiply-adds (16 per cycle) plus its packing (about one
/// element per cycle: `rows·k` of A, `cols·k` of B), in tiles of `mr × nr`.
fn split_grid<T>(ker: &Kernel<T>, m: usize, n: usize, threads: usize) -> (usize, usize) {
    let mt = m.div_ceil(ker.mr);
    let nt = n.div_ceil(ker.nr);
    let mut best = (1, 1);
    let mut best_cost = usize::MAX;
    for tm in 1..=threads.min(mt) {
        let tn = (threads / tm).min(nt);
        let rows = (mt.div_ceil(tm) * ker.mr).min(m);
        let cols = (nt.div_ceil(tn) * ker.nr).min(n);
        let cost = rows * cols / 16 + rows + cols;
        // `<=`: on ties prefer more tasks along m, whose tasks share no packing.
        if cost <= best_cost {
            best_cost = cost;
            best = (tm, tn);
        }
    }
    best
}

/// `C ← β·C` (zeros when β == 0, NaN in C notwithstanding).
///
/// # Safety
/// C as in [`gemm_strided`].
unsafe fn scale_c<T: GemmScalar>(p: &Problem<T>) {
    if p.beta == T::GEMM_ONE {
        return;
    }
    for i in 0..p.m as isize {
        for j in 0..p.n as isize {
            // SAFETY: (i, j) is inside C.
            unsafe {
                let cij = p.c.offset(i * p.rsc + j * p.csc);
                *cij = if p.beta == T::GEMM_ZERO { T::GEMM_ZERO } else { p.beta * *cij };
            }
        }
    }
}

/// The single-threaded blocked algorithm on one rectangle of C.
///
/// # Safety
/// `p` must satisfy the contract of [`gemm_strided`], with `k > 0`.
unsafe fn sequential<T: GemmScalar>(ker: &Kernel<T>, p: &Problem<T>, ws: &mut workspace::Workspace) {
    if let Some(narrow) = ker.narrow
        && uses_narrow(ker, p)
    {
        // SAFETY: forwarded, with the conditions `narrow` requires.
        unsafe { narrow(p, ws) };
        return;
    }
    let bl = Blocking::of(ker, p);
    let a_len = if bl.direct_a { 0 } else { bl.mc_max * bl.kc_max };
    let b_len = if bl.direct_b { 0 } else { bl.kc_max * bl.nc_max };
    let (abuf, bbuf) = ws.buffers::<T>(a_len, b_len);
    // SAFETY: forwarded; each block is packed into `bbuf` (kc_max·nc_max) just
    // before its use, or read in place, inside B by `blocked`'s contract.
    unsafe {
        blocked(ker, p, abuf, |_, pc, kc, jc, nc| {
            let block = p.b.offset(pc as isize * p.rsb + jc as isize * p.csb);
            if bl.direct_b {
                BBlock { ptr: block, rsb: p.rsb, panel: ker.nr as isize }
            } else {
                (ker.pack_b)(kc, nc, block, p.rsb, p.csb, bbuf);
                BBlock::packed(bbuf, ker, kc)
            }
        })
    }
}

/// The blocking of one rectangle of C: the block sizes of the kernel clipped
/// to the problem, and which operands are read in place rather than packed.
struct Blocking {
    kblocks: usize,
    kc_max: usize,
    mc_max: usize,
    nc_max: usize,
    direct_a: bool,
    /// Only a choice of [`sequential`]: [`blocked`] reads B as `b_block` hands it.
    direct_b: bool,
}

impl Blocking {
    fn of<T>(ker: &Kernel<T>, p: &Problem<T>) -> Self {
        let (kblocks, kc_max) = k_blocking(p);
        Blocking {
            kblocks,
            kc_max,
            mc_max: ker.mc.min(p.m.div_ceil(ker.mr) * ker.mr),
            nc_max: ker.nc.min(p.n.div_ceil(ker.nr) * ker.nr),
            direct_a: (p.rsa == 1 || p.csa == 1) && p.n <= ker.direct_max_n,
            direct_b: p.csb == 1 && p.n.is_multiple_of(ker.nr) && p.n <= ker.direct_max_n,
        }
    }
}

/// Where `blocked` finds one `kc × nc` block of B (see [`Panel::b`]).
struct BBlock<T> {
    ptr: *const T,
    rsb: isize,
    panel: isize,
}

impl<T> BBlock<T> {
    /// A block laid out by `ker.pack_b` at `ptr`.
    fn packed(ptr: *const T, ker: &Kernel<T>, kc: usize) -> Self {
        BBlock { ptr, rsb: ker.nr as isize, panel: (kc * ker.nr) as isize }
    }
}

/// The blocked loops on one rectangle of C, with B blocks from
/// `b_block(kb, pc, kc, jc, nc)`: the `kc × nc` block at `B[pc.., jc..]`,
/// `kb`-th of the k blocking, packed as `pack_b` lays it out or read in place.
///
/// # Safety
/// `p` must satisfy the contract of [`gemm_strided`], with `k > 0`; `abuf` must
/// hold `min(mc, m rounded up to mr) · kc_max` elements unless A is read in
/// place; `b_block` must return the block it is asked for.
unsafe fn blocked<T: GemmScalar>(
    ker: &Kernel<T>,
    p: &Problem<T>,
    abuf: *mut T,
    mut b_block: impl FnMut(usize, usize, usize, usize, usize) -> BBlock<T>,
) {
    let mr = ker.mr;
    let Blocking { kblocks, kc_max, mc_max, nc_max, direct_a, .. } = Blocking::of(ker, p);

    for ic in (0..p.m).step_by(mc_max) {
        let mc = mc_max.min(p.m - ic);
        for kb in 0..kblocks {
            let pc = kb * kc_max;
            let kc = kc_max.min(p.k - pc);
            let beta = if kb == 0 { p.beta } else { T::GEMM_ONE };
            // SAFETY: the block lies inside A.
            let a_block = unsafe { p.a.offset(ic as isize * p.rsa + pc as isize * p.csa) };
            if !direct_a {
                for ir in (0..mc).step_by(mr) {
                    // SAFETY: the sliver lies inside A; the buffer holds mc_max·kc_max.
                    unsafe {
                        (ker.pack_a)(
                            mr.min(mc - ir),
                            kc,
                            a_block.offset(ir as isize * p.rsa),
                            p.rsa,
                            p.csa,
                            abuf.add(ir * kc),
                        )
                    };
                }
            }
            for jc in (0..p.n).step_by(nc_max) {
                let nc = nc_max.min(p.n - jc);
                let bb = b_block(kb, pc, kc, jc, nc);
                for ir in (0..mc).step_by(mr) {
                    let (a, rsa, csa) = if direct_a {
                        // SAFETY: the sliver lies inside A.
                        (unsafe { a_block.offset(ir as isize * p.rsa) }, p.rsa, p.csa)
                    } else {
                        // SAFETY: packed above, inside the buffer.
                        (unsafe { abuf.add(ir * kc) } as *const T, 1, mr as isize)
                    };
                    let panel = Panel {
                        rows: mr.min(mc - ir),
                        k: kc,
                        ncols: nc,
                        alpha: p.alpha,
                        beta,
                        a,
                        rsa,
                        csa,
                        b: bb.ptr,
                        rsb: bb.rsb,
                        b_panel: bb.panel,
                        // SAFETY: (ic + ir, jc) is inside C.
                        c: unsafe { p.c.offset((ic + ir) as isize * p.rsc + jc as isize * p.csc) },
                        rsc: p.rsc,
                        csc: p.csc,
                    };
                    // SAFETY: the panel describes valid memory, per the above.
                    unsafe { (ker.row_panel)(&panel) };
                }
            }
        }
    }
}

/// Scratch tile for edge tiles and non-unit column strides of C: the kernels
/// always write full `MR × NR` tiles with unit column stride.
#[repr(C, align(64))]
struct Scratch<T, const MR: usize, const NR: usize>([[T; NR]; MR]);

impl<T: GemmScalar, const MR: usize, const NR: usize> Scratch<T, MR, NR> {
    /// A scratch copy of `C[rows × cols]` (only read when β ≠ 0, so that NaN in a
    /// write-only C cannot leak).
    ///
    /// # Safety
    /// The `rows × cols` block at `c` must be readable.
    #[inline]
    unsafe fn load(rows: usize, cols: usize, beta: T, c: *const T, rsc: isize, csc: isize) -> Self {
        let mut s = Scratch([[T::GEMM_ZERO; NR]; MR]);
        if beta != T::GEMM_ZERO {
            for (i, row) in s.0.iter_mut().enumerate().take(rows) {
                for (j, x) in row.iter_mut().enumerate().take(cols) {
                    // SAFETY: (i, j) is inside the block.
                    *x = unsafe { *c.offset(i as isize * rsc + j as isize * csc) };
                }
            }
        }
        s
    }

    #[inline]
    fn ptr(&mut self) -> *mut T {
        self.0.as_mut_ptr().cast()
    }

    /// Writes `rows × cols` of the tile back to C.
    ///
    /// # Safety
    /// The `rows × cols` block at `c` must be writable.
    #[inline]
    unsafe fn store(&self, rows: usize, cols: usize, c: *mut T, rsc: isize, csc: isize) {
        for (i, row) in self.0.iter().enumerate().take(rows) {
            for (j, &x) in row.iter().enumerate().take(cols) {
                // SAFETY: (i, j) is inside the block.
                unsafe { *c.offset(i as isize * rsc + j as isize * csc) = x };
            }
        }
    }
}

/// Expands `$body` with the const `$rows` bound to `rows` (1..=$max), so that
/// every partial-height tile gets its own fully unrolled kernel.
macro_rules! dispatch_rows {
    ($rows:expr, $r:ident => $body:expr; $($n:literal)*) => {
        match $rows {
            $( $n => { const $r: usize = $n; $body } )*
            _ => unreachable!("gemm: bad tile height"),
        }
    };
}
use dispatch_rows;

/// The whole-problem half of a kernel family's dot-product path for
/// `n ≤ NARROW_N` (see `Kernel::narrow`): packs Bᵀ zero-padded to whole
/// vectors and runs the family's `narrow_rows::<R, N>` (which must be in
/// scope) over the rows, 4 at a time. Expanded inside each family's module,
/// so that every function is compiled for that family's instruction set.
macro_rules! narrow_path {
    ($t:ty, $lanes:literal, $features:literal) => {
        /// # Safety
        /// As [`narrow`]; `bt` holds `N·kpad` elements; the CPU must support
        #[doc = concat!("`", $features, "`.")]
        #[target_feature(enable = $features)]
        unsafe fn narrow_impl<const N: usize>(p: &Problem<$t>, bt: *mut $t, kpad: usize) {
            // SAFETY: B is k × N; bt holds N·kpad elements.
            unsafe {
                for j in 0..N {
                    let d = bt.add(j * kpad);
                    for q in 0..p.k {
                        *d.add(q) = *p.b.offset(q as isize * p.rsb + j as isize * p.csb);
                    }
                    for q in p.k..kpad {
                        *d.add(q) = 0.0;
                    }
                }
                let mut i = 0;
                while i + 4 <= p.m {
                    narrow_rows::<4, N>(p, i, bt, kpad);
                    i += 4;
                }
                while i < p.m {
                    narrow_rows::<1, N>(p, i, bt, kpad);
                    i += 1;
                }
            }
        }

        /// `C ← α·A·B + β·C` for `n ≤ NARROW_N` and `csa == 1`: with so few
        /// columns a register tile would be mostly padding, so compute dot
        /// products along the contiguous rows of A instead.
        ///
        /// # Safety
        /// `p` must satisfy the contract of `gemm_strided`, with `k > 0`,
        /// `1 ≤ n ≤ NARROW_N` and `csa == 1`; the CPU must support
        #[doc = concat!("`", $features, "`.")]
        pub(in super::super) unsafe fn narrow(p: &Problem<$t>, ws: &mut Workspace) {
            let kpad = p.k.div_ceil($lanes) * $lanes;
            let (_, bt) = ws.buffers::<$t>(0, NARROW_N * kpad);
            // SAFETY: forwarded; the dispatcher only installs this kernel when
            // the CPU has the features.
            unsafe {
                match p.n {
                    1 => narrow_impl::<1>(p, bt, kpad),
                    2 => narrow_impl::<2>(p, bt, kpad),
                    3 => narrow_impl::<3>(p, bt, kpad),
                    4 => narrow_impl::<4>(p, bt, kpad),
                    _ => unreachable!("gemm: narrow kernel called with n = {}", p.n),
                }
            }
        }
    };
}
use narrow_path;
