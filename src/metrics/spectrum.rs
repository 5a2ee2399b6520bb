//! Average power spectra of fixed-length signal windows, and distances
//! between two of them (how close generated ECG windows are to real ones in
//! frequency content).
//!
//! The power spectrum of a window `x` of length `n` is the periodogram
//! `P_k = |Σ_j x_j e^{−2πijk/n}|² / n` for `k = 0 … ⌊n/2⌋` (the mean is not
//! removed, so `P_0` carries the baseline); the average spectrum is the mean
//! of the windows' periodograms.

use crate::{Result, invalid_arg};

/// The mean periodogram of the rows of `windows` (`n` columns each).
pub fn average_power_spectrum(windows: &[f64], n: usize) -> Result<Vec<f64>> {
    if n == 0 || windows.is_empty() || !windows.len().is_multiple_of(n) {
        invalid_arg!("power spectrum: {} values do not form windows of {n}", windows.len());
    }
    let bins = n / 2 + 1;
    let (cos, sin): (Vec<f64>, Vec<f64>) = (0..n)
        .map(|m| {
            let a = 2.0 * std::f64::consts::PI * m as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .unzip();
    let count = windows.len() / n;
    let mut power = vec![0.0; bins];
    for w in windows.chunks(n) {
        for (k, p) in power.iter_mut().enumerate() {
            let (mut re, mut im) = (0.0, 0.0);
            for (j, &x) in w.iter().enumerate() {
                let m = (j * k) % n;
                re += x * cos[m];
                im -= x * sin[m];
            }
            *p += (re * re + im * im) / n as f64 / count as f64;
        }
    }
    Ok(power)
}

/// How two average spectra differ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpectrumDistance {
    /// `‖P_a − P_b‖₂ / ‖P_a‖₂`.
    pub relative_l2: f64,
    /// Root mean square of `10·log₁₀(P_b/P_a)` over the bins (dB).
    pub log_spectral_db: f64,
}

/// Distances of spectrum `b` from the reference `a`.
pub fn spectrum_distance(a: &[f64], b: &[f64]) -> Result<SpectrumDistance> {
    if a.len() != b.len() || a.is_empty() {
        invalid_arg!("spectra of different lengths ({} and {})", a.len(), b.len());
    }
    let norm = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let diff = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
    let tiny = 1e-300;
    let msq =
        a.iter().zip(b).map(|(x, y)| (10.0 * ((y + tiny) / (x + tiny)).log10()).powi(2)).sum::<f64>() / a.len() as f64;
    Ok(SpectrumDistance { relative_l2: diff / norm.max(tiny), log_spectral_db: msq.sqrt() })
}
