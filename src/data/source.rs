//! One name for any data set the command line accepts ([`DataSource::parse`]),
//! and one way to draw from it whether it is a generator (toys, images,
//! mixtures: fresh samples on every call) or a finite table of rows (digits,
//! MNIST, ECG windows, user files: rows drawn with replacement).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::image::ImageDensity;
use super::loaders::{load_csv, load_idx_with_dims, load_npy};
use super::mixture::GaussianMixture;
use super::real::{data_dir, digits, ecg, mnist};
use super::toy::Toy;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg};

/// Window length of `ecg` when the spec gives none (≈ 0.7 s at 360 Hz).
pub const DEFAULT_ECG_WINDOW: usize = 256;

/// What [`DataSource::parse`] accepts, for error messages and `--help`.
pub const ACCEPTED: &str = "a toy (swissroll, circles, rings, moons, 8gaussians, pinwheel, 2spirals, checkerboard), \
rose, tree, png:<path>, fig10-p, fig10-q, gmm-8gaussians, digits, mnist, ecg, ecg:<window>, \
or a file path ending in .npy, .csv, .csv.gz or .idx";

/// A data set, named as on the command line.
#[derive(Clone, Debug)]
pub enum DataSource {
    /// A 2-D toy generator.
    Toy(Toy),
    /// A density drawn by a picture.
    Image { name: String, density: ImageDensity },
    /// A Gaussian mixture (closed-form density).
    Mixture { name: String, mixture: GaussianMixture },
    /// A finite set of rows.
    Finite(FiniteData),
}

/// Rows of a finite data set; a train split shares the table and keeps only its row indices.
#[derive(Clone)]
pub struct FiniteData {
    name: String,
    dim: usize,
    table: Arc<Vec<f64>>,
    labels: Option<Arc<Vec<u8>>>,
    image_shape: Option<(usize, usize)>,
    /// `L` for data whose values are the integers `0..L` (pixel intensities).
    levels: Option<u32>,
    /// The rows of `table` this data set consists of.
    rows: Vec<usize>,
}

impl std::fmt::Debug for FiniteData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FiniteData({}, {} rows of {})", self.name, self.rows.len(), self.dim)
    }
}

impl FiniteData {
    fn new(name: String, x: Tensor<f64>, labels: Option<Vec<u8>>, image_shape: Option<(usize, usize)>) -> Result<Self> {
        let (n, dim) = match x.dims() {
            [n] => (*n, 1),
            [n, d] => (*n, *d),
            d => invalid_arg!("data set '{name}' has shape {d:?}; rows of points were expected"),
        };
        if n == 0 || dim == 0 {
            invalid_arg!("data set '{name}' is empty ({n} rows of {dim} values)");
        }
        Ok(FiniteData {
            name,
            dim,
            table: Arc::new(x.to_vec()?),
            labels: labels.map(Arc::new),
            image_shape,
            levels: None,
            rows: (0..n).collect(),
        })
    }

    fn gather<T: Float>(&self, rows: impl Iterator<Item = usize>) -> Result<Tensor<T>> {
        let d = self.dim;
        let mut out = Vec::new();
        let mut n = 0;
        for r in rows {
            for (c, &v) in self.table[r * d..(r + 1) * d].iter().enumerate() {
                let x = T::from_f64(v);
                // The table is finite in f64, which is wider than f32: 1e39 is not finite as f32.
                if !x.to_f64().is_finite() {
                    return Err(Error::NonFinite(format!(
                        "data set '{}': value {v} at row {r}, column {c} (counted from 0) is too large for {} \
                         (data must be finite)",
                        self.name,
                        if T::DTYPE == crate::DType::F32 { "f32" } else { "f64" }
                    )));
                }
                out.push(x);
            }
            n += 1;
        }
        Tensor::from_vec(out, [n, d])
    }
}

impl DataSource {
    /// Resolves a data-set name (see [`ACCEPTED`]). Finite data sets are loaded
    /// now, so a missing or malformed file is reported here.
    pub fn parse(spec: &str) -> Result<DataSource> {
        let spec = spec.trim();
        if let Ok(toy) = Toy::from_name(spec) {
            return Ok(DataSource::Toy(toy));
        }
        let mixture = |m: GaussianMixture| Ok(DataSource::Mixture { name: spec.to_string(), mixture: m });
        match spec {
            "rose" | "tree" => {
                let path = shared_datasets_dir(spec)?.join(format!("{spec}.png"));
                return Ok(DataSource::Image { name: spec.to_string(), density: ImageDensity::open(path)? });
            }
            "fig10-p" => return mixture(GaussianMixture::fig10_p()),
            "fig10-q" => return mixture(GaussianMixture::fig10_q()),
            "gmm-8gaussians" => return mixture(GaussianMixture::eight_gaussians()),
            "digits" => {
                let d = digits::<f64>()?;
                let f = FiniteData::new(spec.into(), d.x, Some(d.labels), Some(d.image_shape))?;
                return Ok(DataSource::Finite(FiniteData { levels: Some(17), ..f }));
            }
            "mnist" => {
                let d = mnist::<f64>(data_dir().join("mnist"))?;
                let f = FiniteData::new(spec.into(), d.x, Some(d.labels), Some(d.image_shape))?;
                return Ok(DataSource::Finite(FiniteData { levels: Some(256), ..f }));
            }
            "ecg" => return Self::ecg(DEFAULT_ECG_WINDOW),
            _ => {}
        }
        if let Some(path) = spec.strip_prefix("png:") {
            return Ok(DataSource::Image { name: spec.to_string(), density: ImageDensity::open(path)? });
        }
        if let Some(w) = spec.strip_prefix("ecg:") {
            return match w.parse::<usize>() {
                Ok(w) if w > 0 => Self::ecg(w),
                _ => invalid_arg!("'{spec}': the ECG window must be a positive whole number of samples"),
            };
        }
        let lower = spec.to_ascii_lowercase();
        let path = Path::new(spec);
        if lower.ends_with(".npy") {
            return Ok(DataSource::Finite(FiniteData::new(spec.into(), load_npy::<f64>(path)?, None, None)?));
        }
        if lower.ends_with(".csv") || lower.ends_with(".csv.gz") {
            return Ok(DataSource::Finite(FiniteData::new(spec.into(), load_csv::<f64>(path)?, None, None)?));
        }
        if lower.ends_with(".idx") || lower.ends_with("-ubyte") {
            let (x, dims) = load_idx_with_dims::<f64>(path)?;
            let image_shape = (dims.len() == 3).then(|| (dims[1], dims[2]));
            return Ok(DataSource::Finite(FiniteData::new(spec.into(), x, None, image_shape)?));
        }
        invalid_arg!("unknown data set '{spec}'; expected {ACCEPTED}")
    }

    fn ecg(window: usize) -> Result<DataSource> {
        let x = ecg::<f64>(data_dir().join("ecg"), window)?;
        Ok(DataSource::Finite(FiniteData::new(format!("ecg:{window}"), x, None, None)?))
    }

    /// The name it was parsed from (`ecg` is spelled with its window: `ecg:256`).
    pub fn name(&self) -> &str {
        match self {
            DataSource::Toy(t) => t.name(),
            DataSource::Image { name, .. } | DataSource::Mixture { name, .. } => name,
            DataSource::Finite(f) => &f.name,
        }
    }

    /// The dimension of one point.
    pub fn dim(&self) -> Result<usize> {
        Ok(match self {
            DataSource::Toy(_) | DataSource::Image { .. } => 2,
            DataSource::Mixture { mixture, .. } => mixture.dim(),
            DataSource::Finite(f) => f.dim,
        })
    }

    /// Whether this is a finite set of rows (rather than a generator).
    pub fn is_finite(&self) -> bool {
        matches!(self, DataSource::Finite(_))
    }

    /// The number of rows of a finite data set.
    pub fn n_rows(&self) -> Option<usize> {
        match self {
            DataSource::Finite(f) => Some(f.rows.len()),
            _ => None,
        }
    }

    /// `(h, w)` of one image for image data sets (digits, MNIST, rank-3 IDX files).
    pub fn image_shape(&self) -> Option<(usize, usize)> {
        match self {
            DataSource::Finite(f) => f.image_shape,
            _ => None,
        }
    }

    /// `L` for data sets of integer values `0..L` (digits: 17, MNIST: 256),
    /// which a continuous density models after dequantization.
    pub fn levels(&self) -> Option<u32> {
        match self {
            DataSource::Finite(f) => f.levels,
            _ => None,
        }
    }

    /// The labels of a finite labelled data set's rows, in row order.
    pub fn labels(&self) -> Option<Vec<u8>> {
        match self {
            DataSource::Finite(FiniteData { labels: Some(l), rows, .. }) => Some(rows.iter().map(|&r| l[r]).collect()),
            _ => None,
        }
    }

    /// The closed-form mixture, where there is one.
    pub fn mixture(&self) -> Option<GaussianMixture> {
        match self {
            DataSource::Toy(t) => t.mixture(),
            DataSource::Mixture { mixture, .. } => Some(mixture.clone()),
            _ => None,
        }
    }

    /// `n` points as `[n, dim]`: fresh samples from a generator, or rows drawn
    /// uniformly with replacement from a finite data set (from just the train
    /// rows when `self` is the train part of [`DataSource::train_test`]).
    pub fn sample<T: Float>(&self, n: usize, rng: &mut Rng) -> Result<Tensor<T>> {
        match self {
            DataSource::Toy(t) => t.sample(n, rng),
            DataSource::Image { density, .. } => density.sample(n, rng),
            DataSource::Mixture { mixture, .. } => mixture.sample(n, rng),
            DataSource::Finite(f) => f.gather((0..n).map(|_| f.rows[rng.below(f.rows.len())])),
        }
    }

    /// All rows of a finite data set, in order.
    pub fn rows<T: Float>(&self) -> Option<Result<Tensor<T>>> {
        match self {
            DataSource::Finite(f) => Some(f.gather(f.rows.iter().copied())),
            _ => None,
        }
    }

    /// Splits off a test set of `n_test` points and returns `(train, test)`.
    ///
    /// Finite data: a permutation drawn from `rng` (so the seed fixes the split)
    /// sends `n_test` rows to the test tensor; the returned train source holds
    /// the other rows, and its [`DataSource::sample`] draws only from them. At
    /// least one row must stay for training.
    ///
    /// Generators: the test tensor is `n_test` fresh samples and the train
    /// source is the generator itself (its samples are as fresh).
    pub fn train_test<T: Float>(&self, n_test: usize, rng: &mut Rng) -> Result<(DataSource, Tensor<T>)> {
        match self {
            DataSource::Finite(f) => {
                let n = f.rows.len();
                if n_test >= n {
                    invalid_arg!(
                        "cannot hold out {n_test} test rows of '{}', which has {n}: none would be left to train on",
                        f.name
                    );
                }
                let perm = rng.permutation(n);
                let test = f.gather(perm[..n_test].iter().map(|&i| f.rows[i]))?;
                let train = FiniteData { rows: perm[n_test..].iter().map(|&i| f.rows[i]).collect(), ..f.clone() };
                Ok((DataSource::Finite(train), test))
            }
            _ => Ok((self.clone(), self.sample(n_test, rng)?)),
        }
    }

    /// `log p(x)` per row where the density is known in closed form
    /// (mixtures and the 8gaussians toy); `None` otherwise.
    pub fn log_prob<T: Float>(&self, x: &Tensor<T>) -> Option<Result<Vec<f64>>> {
        self.mixture().map(|m| m.log_prob(x))
    }
}

/// Where `rose.png` and `tree.png` are: `$WASSERFLOW_SHARED_DATASETS` if set,
/// else `../shared/datasets` relative to the current directory.
fn shared_datasets_dir(name: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("WASSERFLOW_SHARED_DATASETS") {
        return Ok(PathBuf::from(dir));
    }
    let dir = PathBuf::from("../shared/datasets");
    if dir.is_dir() {
        return Ok(dir);
    }
    Err(Error::InvalidArgument(format!(
        "'{name}' is read from the shared datasets folder, which is not at ../shared/datasets here and \
         WASSERFLOW_SHARED_DATASETS is not set; set it, or pass png:<path to {name}.png>"
    )))
}
