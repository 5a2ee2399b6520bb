//! Data sets with class labels, for classifiers and the risks built on them:
//! two-class versions of the moons and circles toys (the toys of
//! [`super::toy`] with the label of the component each point came from, as
//! scikit-learn's `make_moons` and `make_circles` return it), digits and MNIST
//! with their digit labels, and any point file with a file of labels.

use std::path::Path;

use super::loaders::{load_csv, load_npy};
use super::source::DataSource;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg};

/// What [`LabeledSet::load`] accepts, for messages and `--help`.
pub const LABELED: &str =
    "moons or circles (two classes; points drawn), digits or mnist (every row), or a .npy/.csv file with --labels";

/// Points with one class label each.
#[derive(Clone, Debug)]
pub struct LabeledSet {
    /// `[n, d]`, data units.
    pub x: Tensor<f64>,
    /// `n` labels in `0..classes`.
    pub labels: Vec<usize>,
    pub classes: usize,
    /// `(h, w)` of one image for image data.
    pub image_shape: Option<(usize, usize)>,
}

impl LabeledSet {
    fn new(x: Tensor<f64>, labels: Vec<usize>, image_shape: Option<(usize, usize)>, name: &str) -> Result<Self> {
        let n = x.dims()[0];
        if labels.len() != n {
            invalid_arg!("'{name}': {} labels for {n} points", labels.len());
        }
        if n == 0 {
            invalid_arg!("'{name}' has no points");
        }
        if !x.all_finite()? {
            return Err(Error::NonFinite(format!("'{name}' holds non-finite values")));
        }
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        if classes < 2 {
            invalid_arg!("'{name}' has a single class; a classifier needs at least two");
        }
        Ok(LabeledSet { x, labels, classes, image_shape })
    }

    /// The labeled data set `spec` (see [`LABELED`]): `n` fresh points of
    /// a two-class toy (drawn with `rng`), every row of digits or MNIST, or
    /// the rows of a `.npy`/`.csv` file with labels (whole numbers ≥ 0, one
    /// per row) from `labels` (a `.npy` or `.csv` file).
    pub fn load(spec: &str, n: usize, labels: Option<&Path>, rng: &mut Rng) -> Result<Self> {
        let spec = spec.trim();
        match spec {
            "moons" | "circles" => {
                if labels.is_some() {
                    invalid_arg!("'{spec}' comes with its labels; --labels is for point files");
                }
                if n == 0 {
                    invalid_arg!("cannot draw 0 points of '{spec}'");
                }
                let (x, l) = if spec == "moons" { two_class_moons(n, rng)? } else { two_class_circles(n, rng)? };
                return Self::new(x, l, None, spec);
            }
            "digits" | "mnist" => {
                if labels.is_some() {
                    invalid_arg!("'{spec}' comes with its labels; --labels is for point files");
                }
                let source = DataSource::parse(spec)?;
                let x = source.rows::<f64>().expect("a finite data set has rows")?;
                let l = source.labels().expect("digits and MNIST are labeled").iter().map(|&v| v as usize).collect();
                return Self::new(x, l, source.image_shape(), spec);
            }
            _ => {}
        }
        let lower = spec.to_ascii_lowercase();
        if !(lower.ends_with(".npy") || lower.ends_with(".csv") || lower.ends_with(".csv.gz")) {
            invalid_arg!("'{spec}' is not a labeled data set; expected {LABELED}");
        }
        let Some(label_path) = labels else {
            invalid_arg!("the points of '{spec}' need their labels: pass --labels FILE (.npy or .csv, one per row)");
        };
        let x = read_table(Path::new(spec))?;
        let x = if x.rank() == 1 { x.reshape([x.dims()[0], 1])? } else { x };
        if x.rank() != 2 {
            return Err(Error::Format {
                path: spec.into(),
                message: format!("points must be a [n, d] table, found shape {}", x.shape()),
            });
        }
        let raw = read_table(label_path)?.to_vec()?;
        let l = raw
            .iter()
            .map(|&v| {
                if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1e6 {
                    Ok(v as usize)
                } else {
                    Err(Error::Format {
                        path: label_path.to_path_buf(),
                        message: format!("label {v} is not a class number (a whole number ≥ 0)"),
                    })
                }
            })
            .collect::<Result<Vec<usize>>>()?;
        if l.len() != x.dims()[0] {
            return Err(Error::Format {
                path: label_path.to_path_buf(),
                message: format!("{} labels for the {} points of {spec}", l.len(), x.dims()[0]),
            });
        }
        Self::new(x, l, None, spec)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn dim(&self) -> usize {
        self.x.dims()[1]
    }

    /// The rows `rows`, in that order.
    pub fn subset(&self, rows: &[usize]) -> Result<Self> {
        Ok(LabeledSet {
            x: self.x.gather_rows(rows)?,
            labels: rows.iter().map(|&r| self.labels[r]).collect(),
            classes: self.classes,
            image_shape: self.image_shape,
        })
    }

    /// `(train, test)`: `n_test` rows chosen by `rng` for the test part, the
    /// others (in a random order) for training. Both must be non-empty.
    pub fn split(&self, n_test: usize, rng: &mut Rng) -> Result<(Self, Self)> {
        if n_test == 0 || n_test >= self.len() {
            invalid_arg!("cannot hold out {n_test} of {} labeled points: both parts must be non-empty", self.len());
        }
        let perm = rng.permutation(self.len());
        Ok((self.subset(&perm[n_test..])?, self.subset(&perm[..n_test])?))
    }
}

fn read_table(path: &Path) -> Result<Tensor<f64>> {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    if lower.ends_with(".npy") {
        load_npy::<f64>(path)
    } else if lower.ends_with(".csv") || lower.ends_with(".csv.gz") {
        load_csv::<f64>(path)
    } else {
        invalid_arg!("'{}' must be a .npy or .csv file", path.display())
    }
}

/// Shuffles points and labels together.
fn shuffled(points: Vec<[f64; 2]>, labels: Vec<usize>, rng: &mut Rng) -> (Vec<[f64; 2]>, Vec<usize>) {
    let perm = rng.permutation(points.len());
    (perm.iter().map(|&i| points[i]).collect(), perm.iter().map(|&i| labels[i]).collect())
}

fn to_tensor<T: Float>(points: &[[f64; 2]]) -> Result<Tensor<T>> {
    Tensor::from_vec(points.iter().flat_map(|p| [T::from_f64(p[0]), T::from_f64(p[1])]).collect(), [points.len(), 2])
}

/// The moons toy with labels: `make_moons(noise = 0.1)` × 2 + (−1, −0.2);
/// label 0 for the upper moon, 1 for the lower.
pub fn two_class_moons<T: Float>(n: usize, rng: &mut Rng) -> Result<(Tensor<T>, Vec<usize>)> {
    use std::f64::consts::PI;
    let n_out = n / 2;
    let n_in = n - n_out;
    let lin = |i: usize, m: usize| if m > 1 { PI * i as f64 / (m - 1) as f64 } else { 0.0 };
    let mut v = Vec::with_capacity(n);
    let mut l = Vec::with_capacity(n);
    for i in 0..n_out {
        let a = lin(i, n_out);
        v.push([a.cos(), a.sin()]);
        l.push(0);
    }
    for i in 0..n_in {
        let a = lin(i, n_in);
        v.push([1.0 - a.cos(), 1.0 - a.sin() - 0.5]);
        l.push(1);
    }
    let (v, l) = shuffled(v, l, rng);
    let pts: Vec<[f64; 2]> =
        v.iter().map(|p| [2.0 * (p[0] + 0.1 * rng.normal()) - 1.0, 2.0 * (p[1] + 0.1 * rng.normal()) - 0.2]).collect();
    Ok((to_tensor(&pts)?, l))
}

/// The circles toy with labels: `make_circles(factor = .5, noise = .08)` × 3;
/// label 0 for the outer circle, 1 for the inner.
pub fn two_class_circles<T: Float>(n: usize, rng: &mut Rng) -> Result<(Tensor<T>, Vec<usize>)> {
    use std::f64::consts::PI;
    let n_out = n / 2;
    let n_in = n - n_out;
    let mut v = Vec::with_capacity(n);
    let mut l = Vec::with_capacity(n);
    for i in 0..n_out {
        let a = 2.0 * PI * i as f64 / n_out as f64;
        v.push([a.cos(), a.sin()]);
        l.push(0);
    }
    for i in 0..n_in {
        let a = 2.0 * PI * i as f64 / n_in as f64;
        v.push([0.5 * a.cos(), 0.5 * a.sin()]);
        l.push(1);
    }
    let (v, l) = shuffled(v, l, rng);
    let pts: Vec<[f64; 2]> =
        v.iter().map(|p| [3.0 * (p[0] + 0.08 * rng.normal()), 3.0 * (p[1] + 0.08 * rng.normal())]).collect();
    Ok((to_tensor(&pts)?, l))
}
