//! Vectorizable math and SIMD maps: accuracy of the `vmath` functions against
//! the f64 standard library over dense sweeps and random samples, their
//! special values, and `simd` maps and sums giving the same bits as plain
//! loops for every length, ISA and thread count.
//!
//! `cargo test --release --test vmath -- --nocapture` prints the measured errors.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rayon::{ThreadPool, ThreadPoolBuilder};
use wasserflow::Float;
use wasserflow::backend::cpu::{simd, vmath};

// ---------------------------------------------------------------------------
// Accuracy

/// `|got - want|` in units of the f32 spacing at `want` (2^-149 below the
/// normal range, where the spacing is fixed).
fn ulp_err(got: f32, want: f64) -> f64 {
    let a = want.abs();
    let exp = if a < f32::MIN_POSITIVE as f64 { -149 } else { ((a.to_bits() >> 52) as i32 - 1023) - 23 };
    (got as f64 - want).abs() / 2f64.powi(exp)
}

#[derive(Default, Debug)]
struct Errors {
    /// Over normal-range results.
    max_ulp: f64,
    max_rel: f64,
    worst_x: f32,
    /// Over subnormal results, in units of 2^-149.
    max_sub_ulp: f64,
    /// Over results that round to zero or overflow in f32: the bound on the
    /// absolute (or, near overflow, relative) error is checked separately.
    count: usize,
    /// Sum of the ulp errors of normal-range results (for their mean).
    sum_ulp: f64,
    normal: usize,
}

impl Errors {
    fn add(&mut self, x: f32, got: f32, want: f64) {
        if !want.is_finite() || want.abs() > f32::MAX as f64 {
            return;
        }
        assert!(got.is_finite() || want.abs() >= f32::MAX as f64 * (1.0 - 1e-7), "x = {x:e}: got {got}, want {want:e}");
        self.count += 1;
        let u = ulp_err(got, want);
        if want.abs() < f32::MIN_POSITIVE as f64 {
            self.max_sub_ulp = self.max_sub_ulp.max(u);
            return;
        }
        if u > self.max_ulp {
            self.max_ulp = u;
            self.worst_x = x;
        }
        self.max_rel = self.max_rel.max((got as f64 - want).abs() / want.abs());
        self.sum_ulp += u;
        self.normal += 1;
    }

    fn merge(mut self, o: Errors) -> Errors {
        if o.max_ulp > self.max_ulp {
            self.max_ulp = o.max_ulp;
            self.worst_x = o.worst_x;
        }
        self.max_rel = self.max_rel.max(o.max_rel);
        self.max_sub_ulp = self.max_sub_ulp.max(o.max_sub_ulp);
        self.count += o.count;
        self.sum_ulp += o.sum_ulp;
        self.normal += o.normal;
        self
    }
}

/// `n` points spaced evenly in bit pattern between `a` and `b` (same sign):
/// every binade gets its share.
fn bit_sweep(a: f32, b: f32, n: u32) -> impl Iterator<Item = f32> {
    let (lo, hi) = (a.to_bits().min(b.to_bits()), a.to_bits().max(b.to_bits()));
    let step = ((hi - lo) / n).max(1);
    (lo..=hi).step_by(step as usize).map(f32::from_bits)
}

/// `n` points evenly spaced in value on `[a, b]`.
fn linear_sweep(a: f32, b: f32, n: u32) -> impl Iterator<Item = f32> {
    (0..=n).map(move |i| (a as f64 + (b as f64 - a as f64) * i as f64 / n as f64) as f32)
}

/// Random values: half uniform in value, half uniform in bit pattern.
fn random(a: f32, b: f32, n: u32, seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if i % 2 == 0 {
            out.push((a as f64 + (b as f64 - a as f64) * u) as f32);
        } else {
            // A random float between a and b by bit pattern, on either side of 0.
            let (lo, hi) =
                if a < 0.0 && b > 0.0 { if rng.next_u32() & 1 == 0 { (0.0, b) } else { (a, -0.0) } } else { (a, b) };
            let (l, h) = (lo.to_bits().min(hi.to_bits()), lo.to_bits().max(hi.to_bits()));
            out.push(f32::from_bits(l + (u * (h - l) as f64) as u32));
        }
    }
    out
}

/// Every input: sweeps of both signs across the range, a linear sweep, random samples.
fn inputs(a: f32, b: f32) -> Vec<f32> {
    const N: u32 = 1 << 20;
    let mut v: Vec<f32> = Vec::new();
    if a < 0.0 {
        v.extend(bit_sweep(-0.0, a, N));
    }
    if b > 0.0 {
        v.extend(bit_sweep(0.0, b, N));
    }
    v.extend(linear_sweep(a, b, N));
    v.extend(random(a, b, N / 4, a.to_bits() as u64 ^ b.to_bits() as u64));
    v
}

fn measure(name: &str, f: fn(f32) -> f32, exact: fn(f64) -> f64, a: f32, b: f32) -> Errors {
    let mut e = Errors::default();
    for x in inputs(a, b) {
        e.add(x, f(x), exact(x as f64));
    }
    println!(
        "{name:9} on [{a:e}, {b:e}]: {:.3} ulp, {:.3e} relative (worst at x = {:e}), subnormal results {:.2} × 2^-149, {} points",
        e.max_ulp, e.max_rel, e.worst_x, e.max_sub_ulp, e.count
    );
    e
}

fn sigmoid_f64(x: f64) -> f64 {
    if x >= 0.0 { 1.0 / (1.0 + (-x).exp()) } else { x.exp() / (1.0 + x.exp()) }
}

fn softplus_f64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Checks the bounds the module documentation states.
fn check(e: &Errors, max_ulp: f64, max_rel: f64) {
    assert!(e.max_ulp <= max_ulp, "{e:?}: more than {max_ulp} ulp");
    assert!(e.max_rel <= max_rel, "{e:?}: more than {max_rel:e} relative");
    assert!(e.max_sub_ulp <= 1.0, "{e:?}: subnormal results off by more than 2^-149");
}

#[test]
fn exp_accuracy() {
    // The whole range where e^x is a nonzero finite f32, subnormals included.
    let e = measure("exp", vmath::exp_f32, f64::exp, -103.97, 88.72);
    check(&e, 1.5, 2e-7);
    let e = measure("exp", vmath::exp_f32, f64::exp, -1.0, 1.0);
    check(&e, 1.5, 2e-7);
}

#[test]
fn ln_accuracy() {
    // From the smallest subnormal to the largest finite float.
    let e = measure("ln", vmath::ln_f32, f64::ln, f32::from_bits(1), f32::MAX);
    check(&e, 1.5, 2e-7);
    let e = measure("ln", vmath::ln_f32, f64::ln, 0.5, 2.0);
    check(&e, 1.5, 2e-7);
}

#[test]
fn ln_1p_accuracy() {
    let e = measure("ln_1p", vmath::ln_1p_f32, f64::ln_1p, -0.999_999_94, f32::MAX);
    check(&e, 2.0, 2e-7);
    let e = measure("ln_1p", vmath::ln_1p_f32, f64::ln_1p, -1e-3, 1e-3);
    check(&e, 2.0, 2e-7);
}

#[test]
fn tanh_accuracy() {
    // Relative error throughout, including around the zero crossing (where
    // tanh x ≈ x is computed without cancellation).
    let e = measure("tanh", vmath::tanh_f32, f64::tanh, -12.0, 12.0);
    check(&e, 6.5, 4e-7);
    let e = measure("tanh", vmath::tanh_f32, f64::tanh, -0.7, 0.7);
    check(&e, 6.5, 4e-7);
}

#[test]
fn sigmoid_accuracy() {
    let e = measure("sigmoid", vmath::sigmoid_f32, sigmoid_f64, -104.0, 20.0);
    check(&e, 3.0, 3e-7);
    let e = measure("sigmoid", vmath::sigmoid_f32, sigmoid_f64, -5.0, 5.0);
    check(&e, 3.0, 3e-7);
}

#[test]
fn softplus_accuracy() {
    let e = measure("softplus", vmath::softplus_f32, softplus_f64, -104.0, 1e30);
    check(&e, 3.0, 3e-7);
    let e = measure("softplus", vmath::softplus_f32, softplus_f64, -5.0, 5.0);
    check(&e, 3.0, 3e-7);
}

/// Every f32 in `[a, b]`, in parallel: the numbers of the table in the
/// `vmath` module documentation.
fn measure_every_float(name: &str, f: fn(f32) -> f32, exact: fn(f64) -> f64, a: f32, b: f32) -> Errors {
    use rayon::prelude::*;
    const CHUNK: u64 = 1 << 22;
    let e = (0..(1u64 << 32) / CHUNK)
        .into_par_iter()
        .map(|c| {
            let mut e = Errors::default();
            for bits in c * CHUNK..(c + 1) * CHUNK {
                let x = f32::from_bits(bits as u32);
                if x >= a && x <= b {
                    e.add(x, f(x), exact(x as f64));
                }
            }
            e
        })
        .reduce(Errors::default, Errors::merge);
    println!(
        "{name:9} every float in [{a:e}, {b:e}]: {:.3} ulp (at x = {:e}), {:.3e} relative, mean {:.3} ulp, subnormal results {:.2} × 2^-149, {} points",
        e.max_ulp,
        e.worst_x,
        e.max_rel,
        e.sum_ulp / e.normal as f64,
        e.max_sub_ulp,
        e.count
    );
    e
}

/// The module documentation's table, over every float (about 5 minutes on 2
/// cores): `cargo test --release --test vmath -- --ignored --nocapture`.
#[test]
#[ignore = "exhaustive: minutes"]
fn every_float() {
    check(&measure_every_float("exp", vmath::exp_f32, f64::exp, -103.98, 88.73), 1.5, 2e-7);
    check(&measure_every_float("ln", vmath::ln_f32, f64::ln, f32::from_bits(1), f32::MAX), 1.5, 2e-7);
    check(&measure_every_float("ln_1p", vmath::ln_1p_f32, f64::ln_1p, -0.999_999_94, f32::MAX), 2.0, 2e-7);
    check(&measure_every_float("tanh", vmath::tanh_f32, f64::tanh, f32::MIN, f32::MAX), 6.5, 4e-7);
    check(&measure_every_float("sigmoid", vmath::sigmoid_f32, sigmoid_f64, -104.0, 20.0), 3.0, 3e-7);
    check(&measure_every_float("softplus", vmath::softplus_f32, softplus_f64, -104.0, f32::MAX), 3.0, 3e-7);
}

/// The saturating ends: inputs whose results round to 0, 1 or overflow.
#[test]
fn saturation_is_clean() {
    for x in linear_sweep(-1e4, 1e4, 200_000).chain([f32::MAX, f32::MIN, 1e30, -1e30]) {
        let s = vmath::sigmoid_f32(x);
        assert!((0.0..=1.0).contains(&s), "sigmoid({x}) = {s}");
        let t = vmath::tanh_f32(x);
        assert!((-1.0..=1.0).contains(&t), "tanh({x}) = {t}");
        let p = vmath::softplus_f32(x);
        assert!(p >= 0.0 && p >= x && !p.is_nan(), "softplus({x}) = {p}");
        let e = vmath::exp_f32(x);
        assert!(e >= 0.0 && !e.is_nan(), "exp({x}) = {e}");
    }
    // tanh is exactly ±1 where the exact value rounds to ±1, and below 1
    // where the exact value is more than its error bound (6.5 ulp) below 1.
    // (Between x ≈ 7.9 and 9.02 the result may round either way.)
    assert_eq!(vmath::tanh_f32(9.02), 1.0);
    assert_eq!(vmath::tanh_f32(-20.0), -1.0);
    assert!(vmath::tanh_f32(7.5) < 1.0);
    assert!(vmath::tanh_f32(-7.5) > -1.0);
    // Overflow threshold of exp: ln(f32::MAX) = 88.7228.
    assert!(vmath::exp_f32(88.72).is_finite());
    assert_eq!(vmath::exp_f32(88.73), f32::INFINITY);
    assert_eq!(vmath::exp_f32(-103.98), 0.0);
    assert!(vmath::exp_f32(-103.9) > 0.0);
    assert_eq!(vmath::sigmoid_f32(17.0), 1.0);
    assert!(vmath::sigmoid_f32(-100.0) > 0.0);
    assert_eq!(vmath::softplus_f32(100.0), 100.0);
}

// ---------------------------------------------------------------------------
// Special values

fn same(got: f32, want: f32) -> bool {
    (got.is_nan() && want.is_nan()) || got.to_bits() == want.to_bits()
}

fn expect(name: &str, f: fn(f32) -> f32, cases: &[(f32, f32)]) {
    for &(x, want) in cases {
        let got = f(x);
        assert!(same(got, want), "{name}({x:e}) = {got:e} ({:#x}), want {want:e}", got.to_bits());
    }
}

const INF: f32 = f32::INFINITY;
const NAN: f32 = f32::NAN;
/// The smallest positive subnormal.
const DENORM: f32 = f32::from_bits(1);

#[test]
fn exp_special_values() {
    expect(
        "exp",
        vmath::exp_f32,
        &[
            (0.0, 1.0),
            (-0.0, 1.0),
            (INF, INF),
            (-INF, 0.0),
            (NAN, NAN),
            (-NAN, NAN),
            (1e30, INF),
            (f32::MAX, INF),
            (-1e30, 0.0),
            (f32::MIN, 0.0),
            (DENORM, 1.0),
            (-DENORM, 1.0),
            (1e-10, 1.0),
            (1.0, std::f32::consts::E),
        ],
    );
    // e^-103.3 ≈ 1.6e-45: the smallest subnormals come out as such.
    let s = vmath::exp_f32(-103.3);
    assert!(s > 0.0 && s < f32::MIN_POSITIVE, "{s:e}");
    assert_eq!(vmath::exp_f32(88.0), 88f64.exp() as f32);
}

#[test]
fn ln_special_values() {
    expect(
        "ln",
        vmath::ln_f32,
        &[
            (1.0, 0.0),
            (0.0, -INF),
            (-0.0, -INF),
            (-1.0, NAN),
            (-DENORM, NAN),
            (-INF, NAN),
            (INF, INF),
            (NAN, NAN),
            (std::f32::consts::E, 1.0),
            (2.0, std::f32::consts::LN_2),
        ],
    );
    for x in [DENORM, f32::MIN_POSITIVE, f32::MIN_POSITIVE / 3.0, f32::MAX, 1e-30, 1e30] {
        let (got, want) = (vmath::ln_f32(x), (x as f64).ln());
        assert!(ulp_err(got, want) <= 1.0, "ln({x:e}) = {got}, want {want}");
    }
}

#[test]
fn ln_1p_special_values() {
    expect(
        "ln_1p",
        vmath::ln_1p_f32,
        &[
            (0.0, 0.0),
            (-0.0, -0.0),
            (-1.0, -INF),
            (-1.5, NAN),
            (-INF, NAN),
            (INF, INF),
            (NAN, NAN),
            (DENORM, DENORM),
            (-DENORM, -DENORM),
            (1e-30, 1e-30),
            (-1e-30, -1e-30),
            (1e-8, 1e-8),
        ],
    );
    for x in [f32::MAX, 1e30, -0.999_999_94, 3e-8, -3e-8] {
        let (got, want) = (vmath::ln_1p_f32(x), (x as f64).ln_1p());
        assert!(ulp_err(got, want) <= 1.0, "ln_1p({x:e}) = {got}, want {want}");
    }
}

#[test]
fn tanh_special_values() {
    expect(
        "tanh",
        vmath::tanh_f32,
        &[
            (0.0, 0.0),
            (-0.0, -0.0),
            (INF, 1.0),
            (-INF, -1.0),
            (NAN, NAN),
            (1e30, 1.0),
            (-1e30, -1.0),
            (f32::MAX, 1.0),
            (DENORM, DENORM),
            (-DENORM, -DENORM),
            (1e-20, 1e-20),
            (-1e-20, -1e-20),
        ],
    );
}

#[test]
fn sigmoid_special_values() {
    expect(
        "sigmoid",
        vmath::sigmoid_f32,
        &[
            (0.0, 0.5),
            (-0.0, 0.5),
            (INF, 1.0),
            (-INF, 0.0),
            (NAN, NAN),
            (1e30, 1.0),
            (-1e30, 0.0),
            (f32::MAX, 1.0),
            (f32::MIN, 0.0),
            (DENORM, 0.5),
        ],
    );
    // Deep in the left tail the result is e^x, subnormals included.
    assert_eq!(vmath::sigmoid_f32(-100.0), vmath::exp_f32(-100.0));
}

#[test]
fn softplus_special_values() {
    expect(
        "softplus",
        vmath::softplus_f32,
        &[
            (0.0, std::f32::consts::LN_2),
            (-0.0, std::f32::consts::LN_2),
            (INF, INF),
            (-INF, 0.0),
            (NAN, NAN),
            (1e30, 1e30),
            (-1e30, 0.0),
            (f32::MAX, f32::MAX),
            (f32::MIN, 0.0),
            (50.0, 50.0),
        ],
    );
    assert_eq!(vmath::softplus_f32(-100.0), vmath::exp_f32(-100.0));
}

// ---------------------------------------------------------------------------
// SIMD maps and sums

fn pool(threads: usize) -> ThreadPool {
    ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// Every ISA this CPU can run.
fn isas() -> Vec<simd::Isa> {
    [simd::Isa::Portable, simd::Isa::Avx2, simd::Isa::Avx512]
        .into_iter()
        .filter(|&i| i <= simd::detected_isa())
        .collect()
}

/// 0..=70 (every tail of every vector width), then lengths around the
/// parallel chunking.
fn lengths() -> Vec<usize> {
    let mut v: Vec<usize> = (0..=70).collect();
    v.extend([127, 128, 129, 1000, 4097, simd::CHUNK - 1, simd::CHUNK, simd::CHUNK + 1]);
    v.extend([simd::PAR_MIN_LEN - 1, simd::PAR_MIN_LEN, simd::PAR_MIN_LEN + 3, 3 * simd::CHUNK + 17]);
    v.extend([65_536, 100_003, 256_000]);
    v
}

fn data<T: Float>(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<T> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n).map(|_| T::from_f64(lo + (hi - lo) * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64))).collect()
}

fn assert_bits_eq<T: Float>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len());
    let gb: &[u8] = bytemuck::cast_slice(got);
    let wb: &[u8] = bytemuck::cast_slice(want);
    if gb != wb {
        let i = got.iter().zip(want).position(|(g, w)| g.to_f64().to_bits() != w.to_f64().to_bits()).unwrap();
        panic!("{what}: element {i} of {} differs: {:?} vs {:?}", got.len(), got[i], want[i]);
    }
}

/// The closures exercise the vectorized math (for f32) and arithmetic.
fn f1<T: Float>(v: T) -> T {
    v.tanh() + v.softplus() * T::from_f64(0.25) - v.sigmoid() + v.exp() * T::from_f64(1e-3)
}
fn f2<T: Float>(a: T, b: T) -> T {
    a * b + a.abs().ln_1p() - b.sigmoid()
}
fn f3<T: Float>(a: T, b: T, c: T) -> T {
    (a - b) * c.tanh() + (b.abs() + T::ONE).ln()
}

fn maps_match_loops<T: Float>() {
    let pools = [pool(1), pool(2)];
    for n in lengths() {
        let a: Vec<T> = data(n, 1, -4.0, 4.0);
        let b: Vec<T> = data(n, 2, -4.0, 4.0);
        let c: Vec<T> = data(n, 3, -4.0, 4.0);
        let want1: Vec<T> = a.iter().map(|&v| f1(v)).collect();
        let want2: Vec<T> = a.iter().zip(&b).map(|(&a, &b)| f2(a, b)).collect();
        let want3: Vec<T> = a.iter().zip(&b).zip(&c).map(|((&a, &b), &c)| f3(a, b, c)).collect();
        // update1 / update2 start from c.
        let want_u1: Vec<T> = c.iter().zip(&a).map(|(&y, &x)| f2(y, x)).collect();
        let want_u2: Vec<T> = c.iter().zip(&a).zip(&b).map(|((&y, &a), &b)| f3(y, a, b)).collect();
        for pool in &pools {
            for isa in isas() {
                let what = |op: &str| {
                    format!("{op} {} n={n} {} threads {}", T::DTYPE.name(), pool.current_num_threads(), isa.name())
                };
                pool.install(|| {
                    simd::with_isa(isa, || {
                        let mut y = vec![T::ZERO; n];
                        simd::map1(&a, &mut y, |v| f1(v));
                        assert_bits_eq(&y, &want1, &what("map1"));

                        let mut y = a.clone();
                        simd::map1_inplace(&mut y, |v| f1(v));
                        assert_bits_eq(&y, &want1, &what("map1_inplace"));

                        let mut y = vec![T::ZERO; n];
                        simd::map2(&a, &b, &mut y, |a, b| f2(a, b));
                        assert_bits_eq(&y, &want2, &what("map2"));

                        let mut y = vec![T::ZERO; n];
                        simd::map3(&a, &b, &c, &mut y, |a, b, c| f3(a, b, c));
                        assert_bits_eq(&y, &want3, &what("map3"));

                        let mut y = c.clone();
                        simd::update1(&mut y, &a, |y, x| f2(y, x));
                        assert_bits_eq(&y, &want_u1, &what("update1"));

                        let mut y = c.clone();
                        simd::update2(&mut y, &a, &b, |y, a, b| f3(y, a, b));
                        assert_bits_eq(&y, &want_u2, &what("update2"));
                    })
                });
            }
        }
    }
}

#[test]
fn maps_match_plain_loops_f32() {
    maps_match_loops::<f32>();
}

#[test]
fn maps_match_plain_loops_f64() {
    maps_match_loops::<f64>();
}

/// Each vmath function passed straight to `map1`, the way most call sites use them.
#[test]
fn map1_with_each_vmath_function() {
    let x: Vec<f32> = data(10_007, 9, -30.0, 30.0);
    let check = |name: &str, f: fn(f32) -> f32, run: &dyn Fn(&[f32], &mut [f32])| {
        let mut y = vec![0.0; x.len()];
        run(&x, &mut y);
        for (i, (&g, &v)) in y.iter().zip(&x).enumerate() {
            // NaN (ln of negatives) compares as NaN.
            assert!(same(g, f(v)), "{name}: element {i}: {g} vs {}", f(v));
        }
    };
    check("exp", vmath::exp_f32, &|x, y| simd::map1(x, y, vmath::exp_f32));
    check("ln", vmath::ln_f32, &|x, y| simd::map1(x, y, vmath::ln_f32));
    check("ln_1p", vmath::ln_1p_f32, &|x, y| simd::map1(x, y, vmath::ln_1p_f32));
    check("tanh", vmath::tanh_f32, &|x, y| simd::map1(x, y, vmath::tanh_f32));
    check("sigmoid", vmath::sigmoid_f32, &|x, y| simd::map1(x, y, vmath::sigmoid_f32));
    check("softplus", vmath::softplus_f32, &|x, y| simd::map1(x, y, vmath::softplus_f32));
}

fn sums_are_deterministic<T: Float>() {
    let pools = [pool(1), pool(2), pool(3)];
    for n in lengths().into_iter().chain([1_000_003]) {
        let x: Vec<T> = data(n, 5, -1.0, 1.0);
        let exact: f64 = x.iter().map(|v| v.to_f64()).sum();
        let exact_sq: f64 = x.iter().map(|v| v.to_f64() * v.to_f64()).sum();
        let mut first: Option<(T, T)> = None;
        for pool in &pools {
            for isa in isas() {
                let (s, sq) = pool.install(|| simd::with_isa(isa, || (simd::sum(&x), simd::map_sum(&x, |v| v * v))));
                match first {
                    None => first = Some((s, sq)),
                    Some((s0, sq0)) => {
                        let ctx =
                            format!("{} n={n} {} threads {}", T::DTYPE.name(), pool.current_num_threads(), isa.name());
                        assert_eq!(s.to_f64().to_bits(), s0.to_f64().to_bits(), "sum {ctx}");
                        assert_eq!(sq.to_f64().to_bits(), sq0.to_f64().to_bits(), "map_sum {ctx}");
                    }
                }
                // Pairwise/lane-wise summation: error ~ eps·log(n)·Σ|x|.
                let tol = T::EPSILON.to_f64() * 8.0 * (n as f64 + 1.0).log2() * (n as f64 + 1.0);
                assert!((s.to_f64() - exact).abs() <= tol, "sum n={n}: {s} vs {exact}");
                assert!((sq.to_f64() - exact_sq).abs() <= tol, "map_sum n={n}: {sq} vs {exact_sq}");
            }
        }
    }
}

#[test]
fn sum_is_deterministic_and_accurate_f32() {
    sums_are_deterministic::<f32>();
}

#[test]
fn sum_is_deterministic_and_accurate_f64() {
    sums_are_deterministic::<f64>();
}

#[test]
fn sum_of_integers_is_exact() {
    for n in lengths() {
        let x: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
        let want: i64 = (0..n).map(|i| (i % 7) as i64 - 3).sum();
        assert_eq!(simd::sum(&x), want as f32, "n={n}");
    }
    assert_eq!(simd::sum::<f64>(&[]), 0.0);
}

/// A value computed from many slices of different lengths in one pool must
/// not depend on which thread ran which chunk: run the same work on pools of
/// 1 and 2 threads while other work competes for the workers.
#[test]
fn nested_parallel_calls_are_deterministic() {
    use rayon::prelude::*;
    let x: Vec<f32> = data(300_001, 11, -3.0, 3.0);
    let run = |threads: usize| {
        pool(threads).install(|| {
            (0..4usize)
                .into_par_iter()
                .map(|k| {
                    let mut y = vec![0.0f32; x.len() - k * 1000];
                    simd::map1(&x[k * 1000..], &mut y, |v| vmath::softplus_f32(v) * vmath::tanh_f32(v));
                    simd::sum(&y)
                })
                .collect::<Vec<f32>>()
        })
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(
        one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        two.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
#[should_panic(expected = "lengths differ")]
fn map2_rejects_mismatched_lengths() {
    let mut y = vec![0.0f32; 4];
    simd::map2(&[1.0; 4], &[1.0; 3], &mut y, |a, b| a + b);
}

#[test]
fn with_isa_restores_and_never_exceeds_the_cpu() {
    let best = simd::detected_isa();
    assert_eq!(simd::isa(), best);
    simd::with_isa(simd::Isa::Portable, || {
        assert_eq!(simd::isa(), simd::Isa::Portable);
        simd::with_isa(simd::Isa::Avx512, || assert_eq!(simd::isa(), best));
        assert_eq!(simd::isa(), simd::Isa::Portable);
    });
    assert_eq!(simd::isa(), best);
}

// ---------------------------------------------------------------------------
// f64: the Box–Muller functions, against the standard library (libm, itself
// within about half an ulp of exact).

mod f64_functions {
    use super::*;
    use wasserflow::backend::cpu::vmath_f64::{box_muller, ln_f64, sin_cos_f64};

    /// `|got − want|` in units of the f64 spacing at `want`.
    fn ulp64(got: f64, want: f64) -> f64 {
        if got == want {
            return 0.0;
        }
        let a = want.abs().max(f64::MIN_POSITIVE);
        let exp = ((a.to_bits() >> 52) as i32 - 1023) - 52;
        (got - want).abs() / 2f64.powi(exp)
    }

    fn random64(n: usize, seed: u64) -> impl Iterator<Item = f64> {
        let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n).map(move |_| (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    #[test]
    fn ln_f64_within_one_ulp_of_std() {
        // Every binade, subnormals included, by bit pattern; then dense
        // around 1, where the two forms of the algorithm meet.
        let (lo, hi) = (1u64, f64::MAX.to_bits());
        let by_bits = (0..2_000_000u64).map(|i| f64::from_bits(lo + (hi - lo) / 2_000_000 * i));
        let near_one = random64(1_000_000, 3).map(|u| 0.5 + 1.5 * u);
        let mut worst = (0.0, 0.0);
        for x in by_bits.chain(near_one) {
            let e = ulp64(ln_f64(x), x.ln());
            if e > worst.0 {
                worst = (e, x);
            }
        }
        println!("ln_f64: max {:.3} ulp from std at {:e}", worst.0, worst.1);
        assert!(worst.0 <= 1.0, "ln_f64 is {} ulp from std at {:e}", worst.0, worst.1);
    }

    #[test]
    fn sin_cos_f64_within_one_ulp_of_std() {
        let pio2 = std::f64::consts::FRAC_PI_2;
        let box_muller_range = random64(1_000_000, 5).map(|u| 2.0 * std::f64::consts::PI * u);
        let wide = random64(1_000_000, 7).map(|u| (2.0 * u - 1.0) * 524_288.0 * pio2);
        // Near multiples of π/2, where the reduction cancels: the doubles
        // closest to n·π/2 and their neighbours.
        let near = (1..4000i64).flat_map(|n| {
            let c = n as f64 * pio2;
            (-3i64..=3).map(move |k| f64::from_bits((c.to_bits() as i64 + k) as u64))
        });
        let mut worst = (0.0, 0.0);
        for x in box_muller_range.chain(wide).chain(near) {
            let (s, c) = sin_cos_f64(x);
            for e in [ulp64(s, x.sin()), ulp64(c, x.cos())] {
                if e > worst.0 {
                    worst = (e, x);
                }
            }
        }
        println!("sin_cos_f64: max {:.3} ulp from std at {:e}", worst.0, worst.1);
        assert!(worst.0 <= 1.0, "sin_cos_f64 is {} ulp from std at {:e}", worst.0, worst.1);
    }

    #[test]
    fn f64_special_values() {
        assert_eq!(ln_f64(1.0), 0.0);
        assert_eq!(ln_f64(0.0), f64::NEG_INFINITY);
        assert_eq!(ln_f64(-0.0), f64::NEG_INFINITY);
        assert_eq!(ln_f64(f64::INFINITY), f64::INFINITY);
        assert!(ln_f64(-1.0).is_nan() && ln_f64(f64::NAN).is_nan() && ln_f64(f64::NEG_INFINITY).is_nan());
        assert_eq!(ln_f64(f64::MIN_POSITIVE / 4.0), (f64::MIN_POSITIVE / 4.0).ln());
        assert_eq!(sin_cos_f64(0.0), (0.0, 1.0));
        let (s, c) = sin_cos_f64(f64::NAN);
        assert!(s.is_nan() && c.is_nan());
        // Box–Muller at the ends of its uniforms: u1 = 1 gives radius 0, the
        // smallest u1 the radius √(2·53 ln 2) ≈ 8.57.
        assert_eq!(box_muller(1.0, 0.3), (0.0, 0.0));
        let (c, s) = box_muller(f64::EPSILON / 2.0, 0.0);
        assert!((c - (2.0 * 53.0 * std::f64::consts::LN_2).sqrt()).abs() < 1e-12 && s == 0.0);
    }
}
