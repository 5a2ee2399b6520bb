//! Seeded randomness: every random choice in the crate draws from [`Rng`], a
//! xoshiro256++ generator, so the same seed gives the same numbers.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng as _, SeedableRng};

use super::{Float, Shape, Tensor};
use crate::Result;

/// The crate's random number generator.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: Xoshiro256PlusPlus,
    /// A second normal deviate left over from the last Box–Muller pair.
    spare_normal: Option<f64>,
}

impl Rng {
    pub fn seed(seed: u64) -> Self {
        Rng { inner: Xoshiro256PlusPlus::seed_from_u64(seed), spare_normal: None }
    }
    /// An independent stream: a copy of this generator advanced by 2^128 draws,
    /// with this one advanced too, so the two never overlap.
    pub fn split(&mut self) -> Rng {
        let mut child = self.inner.clone();
        child.jump();
        self.inner.jump();
        self.inner.jump();
        Rng { inner: child, spare_normal: None }
    }
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    /// Uniform on [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform on [lo, hi).
    pub fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    /// Standard normal (Box–Muller; both deviates of a pair are used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: log is finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        self.spare_normal = Some(r * s);
        r * c
    }
    /// Uniform integer in `0..n` (unbiased, by rejection).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }
    /// ±1 with equal probability.
    pub fn rademacher(&mut self) -> f64 {
        if self.next_u64() >> 63 == 0 { 1.0 } else { -1.0 }
    }
    /// A uniformly random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            p.swap(i, j);
        }
        p
    }
}

impl<T: Float> Tensor<T> {
    /// Standard normal entries.
    pub fn randn(shape: impl Into<Shape>, rng: &mut Rng) -> Result<Self> {
        let shape = shape.into();
        let v: Vec<T> = (0..shape.numel()).map(|_| T::from_f64(rng.normal())).collect();
        Tensor::from_vec(v, shape)
    }
    /// Uniform entries on [lo, hi).
    pub fn rand_uniform(shape: impl Into<Shape>, lo: f64, hi: f64, rng: &mut Rng) -> Result<Self> {
        let shape = shape.into();
        let v: Vec<T> = (0..shape.numel()).map(|_| T::from_f64(rng.uniform_in(lo, hi))).collect();
        Tensor::from_vec(v, shape)
    }
    /// ±1 entries.
    pub fn rademacher(shape: impl Into<Shape>, rng: &mut Rng) -> Result<Self> {
        let shape = shape.into();
        let v: Vec<T> = (0..shape.numel()).map(|_| T::from_f64(rng.rademacher())).collect();
        Tensor::from_vec(v, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers() {
        let mut a = Rng::seed(7);
        let mut b = Rng::seed(7);
        for _ in 0..10 {
            assert_eq!(a.normal().to_bits(), b.normal().to_bits());
        }
    }

    #[test]
    fn normal_moments() {
        let mut r = Rng::seed(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // 5 standard errors.
        assert!(mean.abs() < 5.0 / (n as f64).sqrt());
        assert!((var - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt());
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut r = Rng::seed(3);
        let mut p = r.permutation(100);
        p.sort();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
