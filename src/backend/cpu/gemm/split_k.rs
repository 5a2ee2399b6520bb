//! Products with a long reduction and a small C, such as a weight gradient
//! `Xᵀ·G` summed over a batch: k is cut into fixed chunks, each chunk's
//! product is one task written to scratch, and the partial products are then
//! added in chunk order.
//!
//! Split over rows of C instead, every task reads all of A and all of B: both
//! threads of a 64×64×3072 weight gradient streamed the whole 1.5 MiB of X
//! and G, and two threads ran it only 1.5× faster than one. A chunk reads its
//! own rows of X and G, which in a training step are the rows that thread
//! wrote in the layer before (see `team`). Measured on the 2-core development
//! VM, two threads: 64×64×3072 in 175–193 µs against 214–226 µs, 64×64×1024
//! in 55 µs against 66 µs; one thread is no slower (shorter chains also stay
//! in cache better).
//!
//! The chunks depend on k alone and the partials are added in a fixed order,
//! so results do not depend on the number of threads. They do differ in
//! rounding from a single chain of multiply-adds over k, which is why only
//! long reductions ([`applies`]) take this path.

use super::{GemmScalar, Kernel, Problem, chunk, sequential, uses_narrow, workspace};

/// Depth of one chunk of k (a multiple of every kernel's k blocks).
pub(super) const CHUNK: usize = 256;

/// Largest C (elements) split this way: the partial products are
/// `chunks · m · n` elements of scratch.
const MAX_C: usize = 128 * 128;

/// Whether `p` takes this path: at least two chunks, a small C, and enough
/// work to be worth splitting. Depends on the shape only (never on the
/// thread count), so every thread count computes the same sums.
pub(super) fn applies<T>(ker: &Kernel<T>, p: &Problem<T>, min_work: usize) -> bool {
    p.k >= 2 * CHUNK && p.m * p.n <= MAX_C && 2 * p.m * p.n * p.k >= min_work && !uses_narrow(ker, p)
}

/// Runs `p` as `chunks × parts` tasks (`parts` row parts of C per chunk, as
/// many as keep every thread busy), then adds the partials into C.
///
/// # Safety
/// `p` must satisfy the contract of [`super::gemm_strided`], with `p.kc` set,
/// and [`applies`] must hold.
pub(super) unsafe fn run<T: GemmScalar>(ker: &Kernel<T>, p: &Problem<T>, threads: usize) {
    let chunks = p.k.div_ceil(CHUNK);
    let parts = threads.div_ceil(chunks).min(p.m.div_ceil(ker.mr));
    let mn = p.m * p.n;
    workspace::with_shared(|ws| {
        let (_, partials) = ws.buffers::<T>(0, chunks * mn);
        let addr = partials as usize;
        let task = |t: usize| {
            let (c, part) = (t / parts, t % parts);
            let (i0, i1) = chunk(p.m, ker.mr, parts, part);
            let k0 = c * CHUNK;
            if i0 < i1 {
                // SAFETY: chunk `c` of k lies inside A and B; its partial is
                // block `c` of the scratch (`chunks · m · n` elements), of which
                // this task writes rows `i0..i1` only.
                unsafe {
                    let sub = Problem {
                        m: i1 - i0,
                        k: CHUNK.min(p.k - k0),
                        alpha: T::GEMM_ONE,
                        beta: T::GEMM_ZERO,
                        a: p.a.offset(i0 as isize * p.rsa + k0 as isize * p.csa),
                        b: p.b.offset(k0 as isize * p.rsb),
                        c: (addr as *mut T).add(c * mn + i0 * p.n),
                        rsc: p.n as isize,
                        csc: 1,
                        ..*p
                    };
                    workspace::with(|ws| sequential(ker, &sub, ws));
                }
            }
        };
        if threads > 1 {
            super::super::team::run(chunks * parts, &task);
        } else {
            (0..chunks * parts).for_each(task);
        }
        // SAFETY: every partial was written above; C is the caller's.
        unsafe { add_partials(p, std::slice::from_raw_parts_mut(partials, chunks * mn)) };
    });
}

/// `C ← α·(P₀ + P₁ + …) + β·C`, the partials added in chunk order (into P₀).
///
/// # Safety
/// C as in [`super::gemm_strided`].
unsafe fn add_partials<T: GemmScalar>(p: &Problem<T>, partials: &mut [T]) {
    let mn = p.m * p.n;
    let (sum, rest) = partials.split_at_mut(mn);
    for part in rest.chunks_exact(mn) {
        for (s, &v) in sum.iter_mut().zip(part) {
            *s = *s + v;
        }
    }
    for i in 0..p.m {
        for j in 0..p.n {
            let v = p.alpha * sum[i * p.n + j];
            // SAFETY: (i, j) is inside C.
            unsafe {
                let cij = p.c.offset(i as isize * p.rsc + j as isize * p.csc);
                *cij = if p.beta == T::GEMM_ZERO { v } else { v + p.beta * *cij };
            }
        }
    }
}
