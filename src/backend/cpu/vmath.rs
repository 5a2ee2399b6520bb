//! Scalar f32 transcendental functions written so that loops over them vectorize.
//!
//! A call into libm inside a loop stops LLVM from vectorizing it, so every
//! function here is built only from arithmetic, bit manipulation and selects
//! (`select_unpredictable`, which reaches LLVM as a `select` and becomes a
//! blend or min/max instruction, never a branch). They are `#[inline(always)]`
//! so that each copy is compiled with the target features of the loop it
//! lands in (see [`super::simd`]).
//!
//! The polynomials of `exp`, `softplus` and `tanh` are evaluated by Estrin's
//! scheme, `(c0 + c1·x) + (c2 + c3·x)·x² + …`, a tree of independent pairs
//! (tanh's numerator combines its pairs by Horner in x², which kept its error
//! within 6.5 ulp), instead of Horner's chain `((c3·x + c2)·x + c1)·x + c0`
//! (still `ln`'s, off the hot paths). Without fused multiply-add every Horner
//! step is a multiply and then an add (6 cycles of latency on Zen 3), and
//! those chains, not the arithmetic units, bounded the loops (softplus's two
//! polynomials took about 50 cycles per 8 floats). Estrin cut softplus from
//! 2.4 to 2.05 ns per element on one Zen 3 core and its slope (through `exp`)
//! from 1.15 to 1.05; no maximum error grew by more than 0.06 ulp.
//!
//! No function uses fused multiply-add: LLVM never contracts `a * b + c` on
//! its own, so the same source gives the same bits on the AVX-512, AVX2 and
//! baseline paths, in the vector body and the scalar tail of a loop, and in
//! scalar code outside any loop. (`f32::mul_add` would be a libm call
//! wherever FMA is not enabled at compile time.)
//!
//! Accuracy, measured against the f64 standard library on every f32 input
//! (`cargo test --release --test vmath -- --ignored --nocapture`, a few
//! minutes; the default tests repeat it on 3.4 million points per range), in
//! units of the f32 ulp of the exact result (1 ulp is 6e-8 to
//! 1.2e-7 relative; a correctly rounded function would score 0.5):
//!
//! | function       | max error | max relative error | inputs checked        |
//! |----------------|-----------|--------------------|-----------------------|
//! | `exp_f32`      | 1.01 ulp  | 8.4e-8             | [-103.98, 88.72]      |
//! | `ln_f32`       | 0.83 ulp  | 8.1e-8             | all positive floats   |
//! | `ln_1p_f32`    | 0.90 ulp  | 8.3e-8             | (-1, f32::MAX]        |
//! | `tanh_f32`     | 6.23 ulp  | 4.0e-7             | all (±1 beyond ±9.02) |
//! | `sigmoid_f32`  | 2.40 ulp  | 1.8e-7             | [-104, 20] (0 / 1 out)|
//! | `softplus_f32` | 1.66 ulp  | 1.3e-7             | [-104, f32::MAX]      |
//!
//! tanh trades accuracy for speed: it is the activation of most velocity
//! fields, and a rational function evaluates 2.2 times as fast as the form
//! through `exp` that scored 1.33 ulp (its mean error is 0.05 ulp over all
//! floats, about 1 ulp on [0.1, 9]). Relative error holds everywhere the
//! result is a normal float, zero crossings included (tanh near 0 is
//! x·P(x²)/Q(x²), without cancellation). Subnormal results (exp, sigmoid
//! and softplus far left) are within 0.75 · 2^-149 of exact.

/// `log2(e)` rounded to f32.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split Cody–Waite style: `LN2_HI` has so few significant bits that
/// `n * LN2_HI` is exact for every exponent `n` that reaches the polynomial.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1.5 · 2^23`: adding it rounds to an integer (ties to even), and the integer
/// can then be read from the low mantissa bits, without any float→int
/// conversion (Rust's `as` saturates, which costs extra instructions).
const ROUND_MAGIC: f32 = 12_582_912.0;

/// 2^-24: below it, `x²` times anything under 1/2 is under half an ulp of `x`.
const TINY: f32 = 5.960_464_5e-8;

/// A select that LLVM keeps as a `select` instruction (a blend in vector
/// code): an `if` would reach LLVM as a branch, into which it sinks the work
/// of one arm. The loop vectorizer undoes that, but a branchy body costs the
/// function LLVM's single-basic-block inlining bonus, and the closures calling
/// these functions have to be inlined into the loops of `simd` to vectorize.
#[inline(always)]
fn select(c: bool, a: f32, b: f32) -> f32 {
    std::hint::select_unpredictable(c, a, b)
}

/// `e^x` for `x` in [-104, 89] or NaN.
#[inline(always)]
fn exp_unchecked(x: f32) -> f32 {
    let (y, ni) = exp_reduced(x);
    // 2^n as two normal factors, so that n = 128 (for results just below
    // f32::MAX) and n down to -150 (subnormal results) need no special case;
    // the first product is exact and the second rounds once. A NaN x makes y
    // NaN, whatever bits n decodes to (hence the wrapping integer ops: only
    // then can they be out of range).
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    y * pow2(n1) * pow2(n2)
}

/// `2^n` for `n` in [-126, 127] (other `n` give meaningless bits).
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) << 23) as u32)
}

/// `(e^r, n)` with `x = n·ln2 + r`, `|r| <= ln2/2`: `e^x = e^r · 2^n`.
#[inline(always)]
fn exp_reduced(x: f32) -> (f32, i32) {
    let t = x * LOG2_E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;

    // Cephes expf minimax polynomial for e^r on [-ln2/2, ln2/2], evaluated
    // on 0 below |r| = 2^-24 (where p·r² is under half an ulp of r, so the
    // sum is the same): r² would otherwise be subnormal from |r| < 1e-19, a
    // microcode assist each (softplus's slope e^{-βy} meets such r whenever
    // βx < -44).
    let rp = select(r.abs() < TINY, 0.0, r);
    let r2 = rp * rp;
    let p01 = 0.166_666_66 * rp + 0.5;
    let p23 = 8.333_452e-3 * rp + 4.166_579_6e-2;
    let p45 = 1.987_569_1e-4 * rp + 1.398_199_9e-3;
    let p = p01 + p23 * r2 + p45 * (r2 * r2);
    let y = p * r2 + r + 1.0;
    (y, (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32))
}

/// `ln x + e_adj·ln2 + tail` for `x` positive, normal and finite (anything
/// else gives a meaningless finite number), with `tail` a small correction
/// added before the final rounding (pass -0.0, the additive identity LLVM
/// folds away, for none).
#[inline(always)]
fn ln_unchecked(x: f32, e_adj: f32, tail: f32) -> f32 {
    // x = 2^e · m with m in [sqrt(1/2), sqrt(2)): offsetting the bits by those
    // of sqrt(1/2) before splitting puts the polynomial argument f = m - 1 in
    // [-0.29, 0.41], where it is most accurate, without a compare. (The
    // callers' selects discard what negative or NaN bits wrap to.)
    const SQRT_HALF_BITS: i32 = 0x3f35_04f3;
    let b = (x.to_bits() as i32).wrapping_sub(SQRT_HALF_BITS);
    let e = (b >> 23) as f32 + e_adj;
    let m = f32::from_bits(((b & 0x007f_ffff) + SQRT_HALF_BITS) as u32);
    let f = m - 1.0;

    // Cephes logf: ln(1+f) = f - f²/2 + f³·P(f).
    let z = f * f;
    let mut p = 7.037_683_6e-2;
    p = p * f - 0.115_146_1;
    p = p * f + 0.116_769_984;
    p = p * f - 0.124_201_41;
    p = p * f + 0.142_493_23;
    p = p * f - 0.166_680_57;
    p = p * f + 0.200_007_14;
    p = p * f - 0.249_999_94;
    p = p * f + 0.333_333_3;
    let mut y = p * f * z;
    // Small terms first, so that they are not lost against f and e·ln2.
    y += e * LN2_LO;
    y -= 0.5 * z;
    y += tail;
    f + y + e * LN2_HI
}

/// `e^x`.
///
/// Overflows to `+inf` above 88.72, underflows through the subnormals to `+0`
/// below -103.97, and passes NaN through. Max error 1.01 ulp.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // The clamp keeps NaN (every comparison with it is false). Its bounds sit
    // just past where the result is +inf or 0, so the exponent arithmetic
    // cannot wrap.
    let x = select(x > 89.0, 89.0, x);
    let x = select(x < -104.0, -104.0, x);
    exp_unchecked(x)
}

/// Natural logarithm.
///
/// `ln(±0) = -inf`, `ln(x < 0) = NaN`, `ln(+inf) = +inf`, NaN passes through;
/// subnormal inputs are handled. Max error 0.83 ulp.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    // Subnormals have no implicit leading bit; scaling them into the normal
    // range lets the exponent/mantissa split treat every input alike.
    let sub = x < f32::MIN_POSITIVE;
    let xs = select(sub, x * 33_554_432.0, x);
    let r = ln_unchecked(xs, select(sub, -25.0, 0.0), -0.0);

    let r = select(x == f32::INFINITY, x, r);
    let r = select(x == 0.0, f32::NEG_INFINITY, r);
    // Also catches NaN, whose bits would otherwise decode as a finite number.
    select(x >= 0.0, r, f32::NAN)
}

/// `ln(1 + x)`, accurate for tiny `x`.
///
/// `ln_1p(-1) = -inf`, `x < -1` gives NaN, `±0` is returned unchanged.
/// Max error 0.90 ulp.
#[inline(always)]
pub fn ln_1p_f32(x: f32) -> f32 {
    // u = 1 + x is rounded, so ln(u) is the log of a slightly wrong number:
    // off by about ((1 + x) - u) / u, and that rounding error is exactly
    // x - (u - 1). u is never subnormal (the smallest positive u is 2^-24).
    let u = 1.0 + x;
    let c = (x - (u - 1.0)) / u;
    let r = ln_unchecked(u, 0.0, c);

    let r = select(u == f32::INFINITY, u, r);
    let r = select(u == 0.0, f32::NEG_INFINITY, r);
    let r = select(u >= 0.0, r, f32::NAN);
    // Keeps the sign of -0 (ln(1) + (-0) would round to +0).
    select(x == 0.0, x, r)
}

/// Past this |x| tanh rounds to ±1 in f32 (from 9.011), and the rational
/// approximation below was fitted up to here.
const TANH_CLAMP: f32 = 9.02;

/// Hyperbolic tangent.
///
/// Exactly ±1 from |x| ≈ 9.02 on (where tanh rounds to ±1; from |x| ≈ 7.9,
/// within the error bound of 1, it may already), keeps the sign of ±0, NaN
/// passes through. Max error 6.23 ulp, mean 0.05.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    // tanh x = x·P(x²)/Q(x²) on [-9.02, 9.02], P of degree 7 and Q of degree
    // 3: a relative-error minimax fit (error 6e-8 before the rounding of the
    // coefficients; the rest of the error is the f32 evaluation's). One
    // division and 28 other operations, against an exponential, a division
    // and a second polynomial for the form 1 - 2/(e^{2x} + 1), which takes 2.2
    // times as long. The quotient is odd, so ±0 and the sign come for free.
    let xc = select(x > TANH_CLAMP, TANH_CLAMP, x);
    let xc = select(xc < -TANH_CLAMP, -TANH_CLAMP, xc);
    let z = xc * xc;
    let z2 = z * z;
    let p01 = 0.124_321_11 * z + 1.0;
    let p23 = 2.854_697e-6 * z + 2.362_915e-3;
    let p45 = -2.063_060_6e-10 * z + 1.928_709_6e-8;
    let p67 = -2.863_605_6e-15 * z + 1.154_778_5e-12;
    let p = p01 + (p23 + (p45 + p67 * z2) * z2) * z2;
    let q = 0.457_653_9 * z + 1.0 + (1.439_260_4e-4 * z + 2.158_168_7e-2) * z2;
    let t = xc * p / q;
    // The rounding errors can carry the quotient an ulp or two past ±1 for
    // |x| near the clamp.
    let t = select(t > 1.0, 1.0, t);
    select(t < -1.0, -1.0, t)
}

/// `e^{-|x|}`, the one exponential sigmoid and softplus need: at most 1, so
/// it needs no upper clamp.
#[inline(always)]
fn exp_neg_abs(x: f32) -> f32 {
    let t = -x.abs();
    exp_unchecked(select(t < -104.0, -104.0, t))
}

/// Logistic function `1 / (1 + e^{-x})`.
///
/// Never NaN for finite or infinite input: → 0 as x → -inf (through the
/// subnormals), → 1 as x → +inf. Max error 2.40 ulp.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    // With e = e^{-|x|} <= 1 the denominator never overflows; for x < 0 the
    // form e/(1+e) keeps full relative accuracy down to the subnormals,
    // where 1/(1+e^{-x}) would have hit e^{-x} = inf early.
    let e = exp_neg_abs(x);
    select(x < 0.0, e, 1.0) / (1.0 + e)
}

/// `ln(1 + e^x)`, stable for any `x`.
///
/// Equals `x` (to rounding) for large `x` and `e^x` for very negative `x`;
/// `softplus(+inf) = +inf`, `softplus(-inf) = 0`. Max error 1.66 ulp.
#[inline(always)]
pub fn softplus_f32(x: f32) -> f32 {
    // ln(1 + e^x) = max(x, 0) + ln(1 + e^{-|x|}): the exponential e is at
    // most 1, so nothing overflows and both terms are non-negative.
    let e = exp_neg_abs(x);
    // ln(1 + e) without ln_1p's exponent split, correction and division,
    // which cost a quarter of the time: with f = e for e < 1/2, and
    // f = (e - 1)/2 (exact) plus ln 2 for e >= 1/2, f stays in [-1/4, 1/2).
    let hi = e >= 0.5;
    let f = select(hi, e * 0.5 - 0.5, e);
    // ln(1+f) = f - f²/2 + f³·Q(f), Q a relative-error minimax fit on
    // [-1/4, 1/2] (error 5e-9 before rounding of the coefficients).
    // Below |f| = 2^-24 the terms past f are under half an ulp of f, so they
    // are computed from 0 instead: the same result, without the subnormal f²
    // and f³ that |x| > 29 would produce, each a microcode assist costing as
    // much as the whole function (softplus with β = 20 ran 2.5× slower).
    let fp = select(f.abs() < TINY, 0.0, f);
    let z = fp * fp;
    let q01 = -0.250_001 * fp + 0.333_334_5;
    let q23 = -0.166_470_68 * fp + 0.199_908_27;
    let q45 = -0.131_634_12 * fp + 0.144_783_42;
    let q67 = -4.510_851e-2 * fp + 0.104_680_605;
    let q = q01 + q23 * z + (q45 + q67 * z) * (z * z);
    // ln 2 in two parts as in ln_unchecked, small terms first.
    let l = q * fp * z + select(hi, LN2_LO, 0.0) - 0.5 * z + f + select(hi, LN2_HI, 0.0);
    select(x > 0.0, x, 0.0) + l
}
