//! Scalar transcendental functions for f32 written so that loops over them
//! vectorize (no branches, no calls into libm).
//!
//! PLACEHOLDER: std versions, to be replaced by the vectorizable approximations.

#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    x.exp()
}
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    x.ln()
}
#[inline(always)]
pub fn ln_1p_f32(x: f32) -> f32 {
    x.ln_1p()
}
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    x.tanh()
}
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
#[inline(always)]
pub fn softplus_f32(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}
