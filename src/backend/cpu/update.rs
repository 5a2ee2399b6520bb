//! In-place parameter updates and norms used by the optimizers.

use crate::tensor::Float;

/// Adam(W) coefficients for one step; `bc1`, `bc2` are the bias corrections
/// `1 − β1^t` and `1 − β2^t`.
#[derive(Clone, Copy)]
pub struct AdamCoefficients<T> {
    pub lr: T,
    pub beta1: T,
    pub beta2: T,
    pub eps: T,
    pub weight_decay: T,
    pub bc1: T,
    pub bc2: T,
}

/// Elements of a parameter updated per chunk before the chunk is streamed out.
const ADAM_CHUNK: usize = 64;

/// One Adam(W) step in place (decoupled weight decay).
///
/// The new parameters are computed a chunk at a time into a local buffer
/// and written back with non-temporal stores. Every worker thread read the
/// parameters during the forward pass, so each of their cache lines is
/// shared with another core, and an ordinary store first has to invalidate
/// the other copy: one cross-core round trip per line, which the store
/// buffer serializes (9 ns per f32 parameter measured on the 2-core VM,
/// against 1 ns when no other core holds the lines). Streaming stores
/// skip the ownership request. The arithmetic is unchanged lane by lane
/// (division and square root are exact): the same bits.
pub fn adam<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: AdamCoefficients<T>) {
    assert!(g.len() == p.len() && m.len() == p.len() && v.len() == p.len(), "Adam on slices of different lengths");
    let one = T::ONE;
    let mut next = [T::ZERO; ADAM_CHUNK];
    let chunks =
        p.chunks_mut(ADAM_CHUNK).zip(g.chunks(ADAM_CHUNK)).zip(m.chunks_mut(ADAM_CHUNK).zip(v.chunks_mut(ADAM_CHUNK)));
    for ((pc, gc), (mc, vc)) in chunks {
        let out = &mut next[..pc.len()];
        for ((((o, &pi), &gi), mi), vi) in out.iter_mut().zip(&*pc).zip(gc).zip(mc.iter_mut()).zip(vc.iter_mut()) {
            let mn = c.beta1 * *mi + (one - c.beta1) * gi;
            let vn = c.beta2 * *vi + (one - c.beta2) * gi * gi;
            *mi = mn;
            *vi = vn;
            let mhat = mn / c.bc1;
            let vhat = vn / c.bc2;
            *o = pi - c.lr * c.weight_decay * pi - c.lr * mhat / (vhat.sqrt() + c.eps);
        }
        stream_copy(pc, out);
    }
    stream_fence();
}

/// `dst.copy_from_slice(src)` with non-temporal stores for the 16-byte
/// aligned middle (x86-64); plain stores elsewhere. Needs [`stream_fence`]
/// before other threads read `dst`.
fn stream_copy<T: Copy>(dst: &mut [T], src: &[T]) {
    debug_assert_eq!(dst.len(), src.len());
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        let size = std::mem::size_of::<T>();
        if size > 0 && 16 % size == 0 {
            let per = 16 / size;
            let head = (dst.as_ptr() as usize).wrapping_neg() % 16 / size;
            if (dst.as_ptr() as usize).is_multiple_of(size) && head < dst.len() {
                let body = (dst.len() - head) / per * per;
                dst[..head].copy_from_slice(&src[..head]);
                for k in (head..head + body).step_by(per) {
                    // SAFETY: `k + per ≤ dst.len()`, `dst[k..]` is 16-byte
                    // aligned (`head` elements past an address ≡ −head·size
                    // mod 16), and the source load is unaligned.
                    unsafe {
                        let x = _mm_loadu_si128(src.as_ptr().add(k) as *const __m128i);
                        _mm_stream_si128(dst.as_mut_ptr().add(k) as *mut __m128i, x);
                    }
                }
                dst[head + body..].copy_from_slice(&src[head + body..]);
                return;
            }
        }
    }
    dst.copy_from_slice(src);
}

/// Orders the non-temporal stores of [`stream_copy`] before later stores
/// (the release that hands the parameters to other threads).
fn stream_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a fence has no memory operands.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// `Σ x²` accumulated in f64 in a fixed order.
pub fn sum_squares<T: Float>(x: &[T]) -> f64 {
    x.iter()
        .map(|v| {
            let f = v.to_f64();
            f * f
        })
        .sum()
}
