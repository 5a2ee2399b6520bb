//! Scalar f64 logarithm, sine and cosine written so that loops over them
//! vectorize: the functions of the Box–Muller transform, so that a batch of
//! normal deviates costs a few nanoseconds each instead of libm's ~40 ns per
//! pair, and so that [`crate::Rng`]'s scalar and batched draws are the same
//! code, bit for bit.
//!
//! The algorithms and coefficients are fdlibm's (FreeBSD msun `e_log.c`,
//! `k_sin.c`, `k_cos.c`, `e_rem_pio2.c`), with every branch replaced by a
//! select and the argument reduction's refinements done unconditionally. The
//! rules of [`super::vmath`] hold here too: `#[inline(always)]`, selects
//! instead of `if`, no fused multiply-add (the same bits on every ISA).
//!
//! Accuracy against the standard library (`tests/vmath.rs`, millions of
//! points): `ln_f64` within 1 ulp on all positive doubles, `sin_cos_f64`
//! within 1 ulp on `|x| ≤ 2^19·π/2`, the range its reduction is exact for.

// The constants are written as fdlibm publishes them (21 digits), so that
// they can be checked against its source; each rounds to the double it names.
#![allow(clippy::excessive_precision)]

/// See [`super::vmath`]: a select that stays a blend in vector code.
#[inline(always)]
fn select(c: bool, a: f64, b: f64) -> f64 {
    std::hint::select_unpredictable(c, a, b)
}

/// `ln 2` in two parts: `LN2_HI` has its low 32 bits zero, so `k·LN2_HI` is
/// exact for every exponent `k`.
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// fdlibm's minimax coefficients of `R(z) ≈ 2s·(…)` for `ln((1+s)/(1−s))`.
const LG1: f64 = 6.666_666_666_666_735_130e-1;
const LG2: f64 = 3.999_999_999_940_941_908e-1;
const LG3: f64 = 2.857_142_874_366_239_149e-1;
const LG4: f64 = 2.222_219_843_214_978_396e-1;
const LG5: f64 = 1.818_357_216_161_805_012e-1;
const LG6: f64 = 1.531_383_769_920_937_332e-1;
const LG7: f64 = 1.479_819_860_511_658_591e-1;
/// 2^54: scales a subnormal into the normal range.
const TWO54: f64 = 18_014_398_509_481_984.0;

/// Natural logarithm.
///
/// `ln(±0) = -inf`, `ln(x < 0) = NaN`, `ln(+inf) = +inf`, NaN passes
/// through; subnormal inputs are handled. Max error under 1 ulp.
#[inline(always)]
pub fn ln_f64(x: f64) -> f64 {
    let sub = x < f64::MIN_POSITIVE;
    let xs = select(sub, x * TWO54, x);
    let bits = xs.to_bits();
    let hx = (bits >> 32) as u32;
    // x = 2^k·m with m in [√2/2, √2): the mantissa's high word decides
    // whether m is the mantissa or half of it, without a compare.
    let mant = hx & 0x000f_ffff;
    let half = (mant.wrapping_add(0x95f64)) & 0x0010_0000;
    let k = ((hx >> 20) as i32 - 1023 + (half >> 20) as i32) as f64 + select(sub, -54.0, 0.0);
    let m = f64::from_bits((((mant | (half ^ 0x3ff0_0000)) as u64) << 32) | (bits & 0xffff_ffff));
    let f = m - 1.0;

    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    // fdlibm's two forms: with f²/2 split off where |f| is not small (m far
    // from 1), without it near 1.
    let hfsq = 0.5 * f * f;
    let far = k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f);
    let near = k * LN2_HI - ((s * (f - r) - k * LN2_LO) - f);
    let is_far = ((mant as i32 - 0x6147a) | (0x6b851 - mant as i32)) > 0;
    let y = select(is_far, far, near);

    let y = select(x == f64::INFINITY, x, y);
    let y = select(x == 0.0, f64::NEG_INFINITY, y);
    // Also catches NaN.
    select(x >= 0.0, y, f64::NAN)
}

/// `2/π` (fdlibm's `invpio2`, the same double).
const INV_PIO2: f64 = std::f64::consts::FRAC_2_PI;
/// `π/2` in 33-bit pieces and their tails (Cody–Waite): `n·PIO2_k` is exact
/// for `|n| < 2^20`.
const PIO2_1: f64 = 1.570_796_326_734_125_614_17;
const PIO2_1T: f64 = 6.077_100_506_506_192_249_32e-11;
const PIO2_2: f64 = 6.077_100_506_303_965_976_60e-11;
const PIO2_2T: f64 = 2.022_266_248_795_950_631_54e-21;
const PIO2_3: f64 = 2.022_266_248_711_166_455_80e-21;
const PIO2_3T: f64 = 8.478_427_660_368_899_569_97e-32;
/// `1.5·2^52`: adding it rounds to an integer (ties to even) that can then be
/// read from the low mantissa bits.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// `sin(x + y)` for `|x| ≤ π/4`, `y` the tail of the reduced argument.
#[inline(always)]
fn kernel_sin(x: f64, y: f64) -> f64 {
    const S1: f64 = -1.666_666_666_666_663_243_48e-1;
    const S2: f64 = 8.333_333_333_322_489_461_24e-3;
    const S3: f64 = -1.984_126_982_985_794_931_34e-4;
    const S4: f64 = 2.755_731_370_707_006_767_89e-6;
    const S5: f64 = -2.505_076_025_340_686_341_95e-8;
    const S6: f64 = 1.589_690_995_211_550_102_21e-10;
    let z = x * x;
    let w = z * z;
    let r = S2 + z * (S3 + z * S4) + z * w * (S5 + z * S6);
    let v = z * x;
    x - ((z * (0.5 * y - v * r) - y) - v * S1)
}

/// `cos(x + y)` for `|x| ≤ π/4`, `y` the tail of the reduced argument.
#[inline(always)]
fn kernel_cos(x: f64, y: f64) -> f64 {
    const C1: f64 = 4.166_666_666_666_660_190_37e-2;
    const C2: f64 = -1.388_888_888_887_410_957_49e-3;
    const C3: f64 = 2.480_158_728_947_672_941_78e-5;
    const C4: f64 = -2.755_731_435_139_066_330_35e-7;
    const C5: f64 = 2.087_572_321_298_174_827_90e-9;
    const C6: f64 = -1.135_964_755_778_819_482_65e-11;
    let z = x * x;
    let w = z * z;
    let r = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    w + (((1.0 - w) - hz) + (z * r - x * y))
}

/// `(sin x, cos x)` for `|x| ≤ 2^19·π/2`; beyond that the reduction is not
/// exact and the result meaningless. NaN passes through. Max error under 1
/// ulp.
#[inline(always)]
pub fn sin_cos_f64(x: f64) -> (f64, f64) {
    // x = n·π/2 + (y0 + y1), |y0| ≤ π/4: fdlibm's medium-size reduction.
    // Each refinement takes the next 33 bits of π/2 and is kept where the
    // previous one cancelled more than fdlibm's bound of the bits it knew
    // (16, then 49 bits below x's exponent): computed always, then selected.
    let t = x * INV_PIO2 + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let quadrant = t.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    let exponent = |v: f64| ((v.to_bits() >> 52) & 0x7ff) as i32;
    let r1 = x - n * PIO2_1;
    let w1 = n * PIO2_1T;
    let y1 = r1 - w1;
    let w = n * PIO2_2;
    let r2 = r1 - w;
    let w2 = n * PIO2_2T - ((r1 - r2) - w);
    let y2 = r2 - w2;
    let w = n * PIO2_3;
    let r3 = r2 - w;
    let w3 = n * PIO2_3T - ((r2 - r3) - w);
    let y3 = r3 - w3;
    let third = exponent(x) - exponent(y2) > 49;
    let second = exponent(x) - exponent(y1) > 16;
    let (r, w, y0) = (select(third, r3, r2), select(third, w3, w2), select(third, y3, y2));
    let (r, w, y0) = (select(second, r, r1), select(second, w, w1), select(second, y0, y1));
    let tail = (r - y0) - w;

    let s = kernel_sin(y0, tail);
    let c = kernel_cos(y0, tail);
    let odd = quadrant & 1 == 1;
    let (sin, cos) = (select(odd, c, s), select(odd, s, c));
    let sin = select(quadrant & 2 == 2, -sin, sin);
    let cos = select(quadrant.wrapping_add(1) & 2 == 2, -cos, cos);
    (sin, cos)
}

/// The Box–Muller pair `(r·cos θ, r·sin θ)` with `r = √(−2 ln u1)` and
/// `θ = 2π·u2`: two independent standard normals from `u1` in (0, 1] and
/// `u2` in [0, 1).
#[inline(always)]
pub fn box_muller(u1: f64, u2: f64) -> (f64, f64) {
    let r = (-2.0 * ln_f64(u1)).sqrt();
    let (s, c) = sin_cos_f64(2.0 * std::f64::consts::PI * u2);
    (r * c, r * s)
}
