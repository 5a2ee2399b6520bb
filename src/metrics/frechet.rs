//! The Fréchet distance between two point sets, through the Gaussians with
//! their means and covariances:
//! `FD = |μ_a − μ_b|² + tr(Σ_a + Σ_b − 2 (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2})`,
//! the squared 2-Wasserstein distance between those Gaussians (computed by
//! [`fitted_gaussian_w2`], symmetric eigen-decompositions for the square roots).
//!
//! Computed in a feature space this is the recipe of the FID; with our own
//! small in-engine classifier as the feature map ([`classifier_features`]) it
//! is *not* the Inception FID and its values are not comparable with
//! published FIDs.

use super::wasserstein::fitted_gaussian_w2;
use crate::Result;
use crate::nn::Classifier;
use crate::tensor::{Float, Tensor};

/// The Fréchet distance between the fitted Gaussians of the rows of `x` and `y`.
pub fn frechet_distance<T: Float>(x: &Tensor<T>, y: &Tensor<T>) -> Result<f64> {
    Ok(fitted_gaussian_w2(x, y)?.squared)
}

/// The last hidden layer's activations of an MLP classifier, `[n, width]`:
/// the feature space of the Fréchet distance and MMD of generated images.
pub fn classifier_features<T: Float>(c: &Classifier<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
    let shift: Vec<T> = c.spec.input_shift.iter().map(|&v| T::from_f64(v)).collect();
    let shift = Tensor::from_vec(shift, [1, c.spec.dim])?;
    let mut h = x.sub(&shift)?.scale(1.0 / c.spec.input_scale)?;
    let layers = &c.mlp.layers;
    for l in &layers[..layers.len() - 1] {
        h = h.matmul(c.store.get(l.w))?.bias_act(c.store.get(l.b), c.mlp.act)?;
    }
    Ok(h)
}
