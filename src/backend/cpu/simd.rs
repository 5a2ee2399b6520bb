//! Elementwise maps and deterministic sums over slices, compiled once per ISA
//! (AVX-512, AVX2+FMA, baseline) and picked at run time, split across rayon's
//! pool when the slice is long.
//!
//! The per-element function is an ordinary closure. Each loop lives in the
//! `#[inline(always)]` `run` method of a small kernel struct; that method is
//! inlined into three wrappers that differ only in their `#[target_feature]`
//! attribute, so the closure (and the `#[inline(always)]` math it calls, e.g.
//! [`super::vmath`]) is compiled three times, each copy vectorized for its
//! instruction set: 16 f32 lanes in zmm registers with AVX-512, 8 in ymm with
//! AVX2, 4 in xmm on the baseline.
//!
//! Results never depend on the number of threads: maps are elementwise, and
//! the sums cut the slice at fixed offsets and add the pieces in a fixed tree.
//! Nor do they depend on the ISA: LLVM neither reassociates nor contracts
//! floating-point arithmetic, and `vmath` uses no fused multiply-add.
//!
//! # Closures that vectorize
//!
//! The closure is called from three places (one per ISA), so LLVM inlines it
//! by its size heuristic rather than as a single-use function, and a closure
//! that is not inlined is called once per element with scalar code, 5–10×
//! slower. In practice:
//!
//! - Do not branch on a captured run-time value, such as an op enum matched
//!   inside the closure: the body then holds every arm and is never inlined.
//!   Make the choice outside (`match op { Exp => map1(x, y, |v| v.exp()), .. }`)
//!   or build the op inside the closure (`|v| UnaryOp::Exp.eval(v)`), capturing
//!   only payloads such as a scalar.
//! - A body of one or two `vmath` functions and some arithmetic is well within
//!   the budget (the `vmath` functions are straight-line code, which earns
//!   LLVM's single-block bonus). For heavier bodies, mark the closure
//!   `#[inline(always)] |v| ...` (allowed on a closure passed as an argument).
//! - `f32::mul_add` in a closure is a fused multiply-add on the AVX paths but a
//!   libm call (correct, slow, unvectorized) on the baseline one.

use std::cell::Cell;
use std::ops::Add;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

/// An instruction set a kernel can be compiled for, ordered from least to most capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Whatever the build target guarantees (SSE2 on x86-64, NEON on aarch64).
    Portable,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512 F/BW/DQ/VL with AVX2 and FMA.
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2+fma",
            Isa::Avx512 => "avx512",
        }
    }
}

/// 0 until the first detection; then `1 + Isa as u8`.
static DETECTED: AtomicU8 = AtomicU8::new(0);

thread_local! {
    static CAP: Cell<Option<Isa>> = const { Cell::new(None) };
}

/// The best ISA this CPU supports (detected once, then cached).
pub fn detected_isa() -> Isa {
    match DETECTED.load(Ordering::Relaxed) {
        1 => Isa::Portable,
        2 => Isa::Avx2,
        3 => Isa::Avx512,
        _ => {
            let isa = detect();
            DETECTED.store(1 + isa as u8, Ordering::Relaxed);
            isa
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
    {
        Isa::Avx512
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Isa::Avx2
    } else {
        Isa::Portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Portable
}

/// The ISA the functions of this module use on this thread: the detected one,
/// lowered by an enclosing [`with_isa`].
pub fn isa() -> Isa {
    let best = detected_isa();
    CAP.with(|c| c.get()).map_or(best, |cap| cap.min(best))
}

/// Runs `f` with this module's kernels limited to `cap` (or the detected ISA,
/// if lower) on the calling thread, including the parts of the work it hands
/// to rayon. For tests and benchmarks that compare the code paths.
pub fn with_isa<R>(cap: Isa, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Isa>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CAP.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CAP.with(|c| c.replace(Some(cap))));
    f()
}

/// A loop to be compiled once per ISA. `run` must be `#[inline(always)]`, so
/// that its body (and the closures it calls) are compiled inside each wrapper.
trait Kernel {
    type Out;
    fn run(self) -> Self::Out;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,fma,avx2")]
fn run_avx512<K: Kernel>(k: K) -> K::Out {
    k.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2<K: Kernel>(k: K) -> K::Out {
    k.run()
}

fn run_portable<K: Kernel>(k: K) -> K::Out {
    k.run()
}

#[inline]
fn dispatch<K: Kernel>(isa: Isa, k: K) -> K::Out {
    match isa {
        // SAFETY: `isa` never exceeds `detected_isa()` (see `isa()`), so the
        // features these wrappers were compiled for are present.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { run_avx512(k) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { run_avx2(k) },
        _ => run_portable(k),
    }
}

/// Elements per rayon task when a map is split. Where the slice is cut never
/// affects the results (maps are elementwise); 8 Ki elements keep a task
/// (≥ 1 µs even for an add) well above rayon's per-task cost.
pub const CHUNK: usize = 8 * 1024;

/// Below this length a map or sum always stays on the calling thread.
pub const PAR_MIN_LEN: usize = 16 * 1024;

/// Leading elements a long map runs, timed, on the calling thread before it
/// decides whether to split the rest.
const PROBE: usize = 4 * 1024;

/// Projected single-thread time (ns) of the rest of a long call above which
/// the rest is split across the pool.
///
/// The cost per element of a closure is unknown here and spans 10× (an add
/// at 0.1 ns, softplus at 1 ns with AVX-512; more on the other paths), so
/// instead of a length threshold per kind of op each long call times its own
/// first 4,096 elements. A split whose pieces all stay on the calling
/// thread costs under 0.3 µs, but one the second worker takes part in costs
/// its hand-over. With rayon that was a worker's wake-up, a few µs on an
/// idle machine and past 10 µs on a busy one (measured on the 2-core Zen 4
/// host); the spinning [`super::team`] takes a job in about a microsecond
/// while it is warm, so splitting pays once a call has ~5 µs of work left.
pub const PAR_MIN_NS: f64 = 5_000.0;

/// Runs `run(offset, piece)` over `y` cut into pieces, each given with its
/// offset so that inputs can be sliced alike: all of `y` on this thread when
/// it is short or cheap, else a timed probe here and the rest in [`CHUNK`]s
/// on the pool.
fn drive<T: Send>(y: &mut [T], run: impl Fn(usize, &mut [T]) + Sync) {
    if y.len() < PAR_MIN_LEN || super::team::threads() == 1 {
        run(0, y);
        return;
    }
    let (head, rest) = y.split_at_mut(PROBE);
    let start = Instant::now();
    run(0, head);
    let ns_per_elem = start.elapsed().as_nanos() as f64 / PROBE as f64;
    if ns_per_elem * (rest.len() as f64) < PAR_MIN_NS {
        run(PROBE, rest);
    } else {
        super::team::for_each_chunk_mut(rest, CHUNK, |i, piece| run(PROBE + i * CHUNK, piece));
    }
}

struct Map1<'a, T, F> {
    x: &'a [T],
    y: &'a mut [T],
    f: F,
}
impl<T: Copy, F: Fn(T) -> T> Kernel for Map1<'_, T, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for (y, &x) in self.y.iter_mut().zip(self.x) {
            *y = (self.f)(x);
        }
    }
}

struct Map1InPlace<'a, T, F> {
    y: &'a mut [T],
    f: F,
}
impl<T: Copy, F: Fn(T) -> T> Kernel for Map1InPlace<'_, T, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for y in self.y.iter_mut() {
            *y = (self.f)(*y);
        }
    }
}

struct Map2<'a, T, F> {
    a: &'a [T],
    b: &'a [T],
    y: &'a mut [T],
    f: F,
}
impl<T: Copy, F: Fn(T, T) -> T> Kernel for Map2<'_, T, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for ((y, &a), &b) in self.y.iter_mut().zip(self.a).zip(self.b) {
            *y = (self.f)(a, b);
        }
    }
}

struct Map3<'a, T, F> {
    a: &'a [T],
    b: &'a [T],
    c: &'a [T],
    y: &'a mut [T],
    f: F,
}
impl<T: Copy, F: Fn(T, T, T) -> T> Kernel for Map3<'_, T, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for (((y, &a), &b), &c) in self.y.iter_mut().zip(self.a).zip(self.b).zip(self.c) {
            *y = (self.f)(a, b, c);
        }
    }
}

struct Update1<'a, T, F> {
    y: &'a mut [T],
    x: &'a [T],
    f: F,
}
impl<T: Copy, F: Fn(T, T) -> T> Kernel for Update1<'_, T, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for (y, &x) in self.y.iter_mut().zip(self.x) {
            *y = (self.f)(*y, x);
        }
    }
}

struct Update2<'a, T, F> {
    y: &'a mut [T],
    a: &'a [T],
    b: &'a [T],
    f: F,
}
impl<T: Copy, F: Fn(T, T, T) -> T> Kernel for Update2<'_, T, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for ((y, &a), &b) in self.y.iter_mut().zip(self.a).zip(self.b) {
            *y = (self.f)(*y, a, b);
        }
    }
}

/// Runs `f` compiled for the best available ISA: for kernels that are not a
/// plain map (several outputs, row-wise work). Mark the closure
/// `#[inline(always)]` so its body, and what it inlines, lands in the
/// ISA-specific wrapper; work inside must not depend on the thread count.
pub fn vectorized<R, F: FnOnce() -> R>(f: F) -> R {
    dispatch(isa(), Once(f))
}

struct Once<F>(F);
impl<R, F: FnOnce() -> R> Kernel for Once<F> {
    type Out = R;
    #[inline(always)]
    fn run(self) -> R {
        (self.0)()
    }
}

/// `y[i] = f(x[i])`.
pub fn map1<T: Copy + Send + Sync, F: Fn(T) -> T + Copy + Sync + Send>(x: &[T], y: &mut [T], f: F) {
    assert_eq!(x.len(), y.len(), "map1: x and y lengths differ");
    let isa = isa();
    drive(y, |o, y| dispatch(isa, Map1 { x: &x[o..o + y.len()], y, f }));
}

/// `y[i] = f(y[i])`, in place.
pub fn map1_inplace<T: Copy + Send + Sync, F: Fn(T) -> T + Copy + Sync + Send>(y: &mut [T], f: F) {
    let isa = isa();
    drive(y, |_, y| dispatch(isa, Map1InPlace { y, f }));
}

/// `y[i] = f(a[i], b[i])`.
pub fn map2<T: Copy + Send + Sync, F: Fn(T, T) -> T + Copy + Sync + Send>(a: &[T], b: &[T], y: &mut [T], f: F) {
    assert_eq!(a.len(), y.len(), "map2: a and y lengths differ");
    assert_eq!(b.len(), y.len(), "map2: b and y lengths differ");
    let isa = isa();
    drive(y, |o, y| {
        let r = o..o + y.len();
        dispatch(isa, Map2 { a: &a[r.clone()], b: &b[r], y, f })
    });
}

/// `y[i] = f(a[i], b[i], c[i])`.
pub fn map3<T: Copy + Send + Sync, F: Fn(T, T, T) -> T + Copy + Sync + Send>(
    a: &[T],
    b: &[T],
    c: &[T],
    y: &mut [T],
    f: F,
) {
    assert_eq!(a.len(), y.len(), "map3: a and y lengths differ");
    assert_eq!(b.len(), y.len(), "map3: b and y lengths differ");
    assert_eq!(c.len(), y.len(), "map3: c and y lengths differ");
    let isa = isa();
    drive(y, |o, y| {
        let r = o..o + y.len();
        dispatch(isa, Map3 { a: &a[r.clone()], b: &b[r.clone()], c: &c[r], y, f })
    });
}

/// `y[i] = f(y[i], x[i])`, in place.
pub fn update1<T: Copy + Send + Sync, F: Fn(T, T) -> T + Copy + Sync + Send>(y: &mut [T], x: &[T], f: F) {
    assert_eq!(x.len(), y.len(), "update1: x and y lengths differ");
    let isa = isa();
    drive(y, |o, y| dispatch(isa, Update1 { x: &x[o..o + y.len()], y, f }));
}

/// `y[i] = f(y[i], a[i], b[i])`, in place (e.g. `y += α·a·b`, optimizer moments).
pub fn update2<T: Copy + Send + Sync, F: Fn(T, T, T) -> T + Copy + Sync + Send>(y: &mut [T], a: &[T], b: &[T], f: F) {
    assert_eq!(a.len(), y.len(), "update2: a and y lengths differ");
    assert_eq!(b.len(), y.len(), "update2: b and y lengths differ");
    let isa = isa();
    drive(y, |o, y| {
        let r = o..o + y.len();
        dispatch(isa, Update2 { a: &a[r.clone()], b: &b[r], y, f })
    });
}

/// Independent accumulators per sum chunk: element `i` of a chunk goes to
/// lane `i % SUM_LANES`. 32 lanes are two zmm registers of f32 (four of f64),
/// enough independent add chains to hide the add latency.
const SUM_LANES: usize = 32;

/// Elements per partial sum; the partials are then added pairwise. Fixed, so
/// the association order is a function of the length alone.
pub const SUM_CHUNK: usize = 4 * 1024;

struct MapSum<'a, T, F> {
    x: &'a [T],
    f: F,
}
impl<T: Copy + Default + Add<Output = T>, F: Fn(T) -> T> Kernel for MapSum<'_, T, F> {
    type Out = T;
    #[inline(always)]
    fn run(self) -> T {
        let mut acc = [T::default(); SUM_LANES];
        let mut blocks = self.x.chunks_exact(SUM_LANES);
        for block in &mut blocks {
            for (a, &v) in acc.iter_mut().zip(block) {
                *a = *a + (self.f)(v);
            }
        }
        for (a, &v) in acc.iter_mut().zip(blocks.remainder()) {
            *a = *a + (self.f)(v);
        }
        let mut width = SUM_LANES / 2;
        while width > 0 {
            for j in 0..width {
                acc[j] = acc[j] + acc[j + width];
            }
            width /= 2;
        }
        acc[0]
    }
}

/// Pairwise sum of the chunk partials, split at the midpoint.
fn pairwise<T: Copy + Default + Add<Output = T>>(p: &[T]) -> T {
    match p.len() {
        0 => T::default(),
        1 => p[0],
        n => pairwise(&p[..n / 2]) + pairwise(&p[n / 2..]),
    }
}

/// `Σ f(x[i])`, with the same bits whatever the thread count or ISA.
///
/// Order: chunks of [`SUM_CHUNK`] elements, each summed into 32 interleaved
/// lanes that are then folded in halves, and the chunk sums added pairwise;
/// the error grows like log(n), not n. Long inputs are split across the pool
/// by chunk, by the same timed rule as the maps (see [`PAR_MIN_NS`]).
pub fn map_sum<T: Copy + Default + Add<Output = T> + Send + Sync, F: Fn(T) -> T + Copy + Sync + Send>(
    x: &[T],
    f: F,
) -> T {
    let isa = isa();
    let partial = |x: &[T]| dispatch(isa, MapSum { x, f });
    if x.len() <= SUM_CHUNK {
        return partial(x);
    }
    let mut partials: Vec<T> = Vec::with_capacity(x.len().div_ceil(SUM_CHUNK));
    let mut rest = x;
    if x.len() >= PAR_MIN_LEN && super::team::threads() > 1 {
        let (head, tail) = x.split_at(SUM_CHUNK);
        let start = Instant::now();
        partials.push(partial(head));
        let ns_per_elem = start.elapsed().as_nanos() as f64 / SUM_CHUNK as f64;
        rest = tail;
        if ns_per_elem * (tail.len() as f64) >= PAR_MIN_NS {
            let n = tail.len().div_ceil(SUM_CHUNK);
            partials.extend(super::team::map_collect(n, |i| {
                partial(&tail[i * SUM_CHUNK..((i + 1) * SUM_CHUNK).min(tail.len())])
            }));
            rest = &[];
        }
    }
    partials.extend(rest.chunks(SUM_CHUNK).map(&partial));
    pairwise(&partials)
}

/// `Σ x[i]`, deterministic (see [`map_sum`]).
pub fn sum<T: Copy + Default + Add<Output = T> + Send + Sync>(x: &[T]) -> T {
    map_sum(x, |v| v)
}
