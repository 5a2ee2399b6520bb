//! Seeded randomness: every random choice in the crate draws from [`Rng`], a
//! xoshiro256++ generator, so the same seed gives the same numbers.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng as _, SeedableRng};

use super::{Float, Shape, Tensor};
use crate::Result;
use crate::backend::cpu::simd;
use crate::backend::cpu::vmath_f64::box_muller;

/// `out[2i], out[2i+1] = box_muller(u1[i], u2[i])`, compiled for the best ISA.
fn box_muller_batch(u1: &[f64], u2: &[f64], out: &mut [f64]) {
    assert!(u1.len() == u2.len() && out.len() == 2 * u1.len(), "Box–Muller batch lengths do not match");
    simd::vectorized(
        #[inline(always)]
        || {
            for ((o, &a), &b) in out.chunks_exact_mut(2).zip(u1).zip(u2) {
                let (c, s) = box_muller(a, b);
                o[0] = c;
                o[1] = s;
            }
        },
    );
}

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
        let (u1, u2) = self.box_muller_uniforms();
        let (c, s) = box_muller(u1, u2);
        self.spare_normal = Some(s);
        c
    }
    /// The two uniforms of one Box–Muller pair, `u1` in (0, 1] (its log is
    /// finite) and `u2` in [0, 1).
    fn box_muller_uniforms(&mut self) -> (f64, f64) {
        let u1 = 1.0 - self.uniform();
        (u1, self.uniform())
    }
    /// Fills `out` with the deviates `out.len()` calls of [`Rng::normal`]
    /// would return, bit for bit, leaving the generator in the same state;
    /// the transforms run in a vectorized batch.
    pub fn fill_normal(&mut self, out: &mut [f64]) {
        self.uniforms_and_normals(1, 0, out.len(), &mut [], out);
    }
    /// For each of `points` points, `extra` uniforms then `d` normals, in the
    /// order and with the bits of the scalar loop `for _ in 0..points {
    /// uniform() × extra; normal() × d }`, with the normals' transforms in
    /// one vectorized batch. `uniforms` gets `points·extra` values, `normals`
    /// `points·d`, both point by point.
    pub fn uniforms_and_normals(
        &mut self,
        points: usize,
        extra: usize,
        d: usize,
        uniforms: &mut [f64],
        normals: &mut [f64],
    ) {
        assert!(uniforms.len() == points * extra && normals.len() == points * d, "output lengths do not match");
        // Draw in the scalar loop's order, recording each pair's uniforms;
        // the deviates come out of the pairs in order, so the normals are the
        // pending spare (if any) followed by c₀, s₀, c₁, s₁, …
        let spare = self.spare_normal.take();
        let mut have_spare = spare.is_some();
        let pairs_needed = (points * d).saturating_sub(usize::from(have_spare)).div_ceil(2);
        let (mut u1, mut u2) = (Vec::with_capacity(pairs_needed), Vec::with_capacity(pairs_needed));
        for p in 0..points {
            for u in &mut uniforms[p * extra..(p + 1) * extra] {
                *u = self.uniform();
            }
            let mut wanted = d;
            if have_spare && wanted > 0 {
                have_spare = false;
                wanted -= 1;
            }
            while wanted > 0 {
                let (a, b) = self.box_muller_uniforms();
                u1.push(a);
                u2.push(b);
                if wanted == 1 {
                    have_spare = true;
                    wanted = 0;
                } else {
                    wanted -= 2;
                }
            }
        }
        let mut deviates = vec![0.0; 2 * u1.len()];
        box_muller_batch(&u1, &u2, &mut deviates);
        let mut all = spare.into_iter().chain(deviates.iter().copied());
        for z in normals.iter_mut() {
            *z = all.next().expect("one deviate per normal");
        }
        self.spare_normal = all.next();
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
        let mut z = vec![0.0; shape.numel()];
        rng.fill_normal(&mut z);
        Tensor::from_vec(z.into_iter().map(T::from_f64).collect(), shape)
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

    /// The batched draws against the scalar loop they stand for: the same
    /// bits, and the generators left in the same state (spare included).
    #[test]
    fn batched_normals_are_the_scalar_draws() {
        for (points, extra, d, start_with_spare) in
            [(7, 1, 2, false), (7, 1, 3, false), (5, 1, 3, true), (4, 2, 1, true), (9, 0, 5, false), (3, 1, 0, true)]
        {
            let mut a = Rng::seed(11);
            if start_with_spare {
                a.normal();
            }
            let mut b = a.clone();
            let (mut u, mut z) = (vec![0.0; points * extra], vec![0.0; points * d]);
            a.uniforms_and_normals(points, extra, d, &mut u, &mut z);
            for p in 0..points {
                for e in 0..extra {
                    assert_eq!(u[p * extra + e].to_bits(), b.uniform().to_bits());
                }
                for k in 0..d {
                    assert_eq!(z[p * d + k].to_bits(), b.normal().to_bits(), "point {p}, normal {k}");
                }
            }
            for _ in 0..3 {
                assert_eq!(a.normal().to_bits(), b.normal().to_bits());
            }
        }
        let (mut a, mut b) = (Rng::seed(5), Rng::seed(5));
        let mut z = vec![0.0; 1001];
        a.fill_normal(&mut z);
        assert!(z.iter().all(|&v| v.to_bits() == b.normal().to_bits()));
        assert_eq!(a.normal().to_bits(), b.normal().to_bits());
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut r = Rng::seed(3);
        let mut p = r.permutation(100);
        p.sort();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
