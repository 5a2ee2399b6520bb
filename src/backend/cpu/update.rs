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

/// One Adam(W) step in place (decoupled weight decay).
pub fn adam<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: AdamCoefficients<T>) {
    let one = T::ONE;
    for i in 0..p.len() {
        let gi = g[i];
        let mi = c.beta1 * m[i] + (one - c.beta1) * gi;
        let vi = c.beta2 * v[i] + (one - c.beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        let mhat = mi / c.bc1;
        let vhat = vi / c.bc2;
        p[i] = p[i] - c.lr * c.weight_decay * p[i] - c.lr * mhat / (vhat.sqrt() + c.eps);
    }
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
