//! Datasets: 2-D toy densities, image-defined densities, Gaussian mixtures
//! with closed-form density, real data (digits, MNIST, ECG), array-file
//! loaders, standardization, and [`DataSource`], the one name the CLI uses
//! for any of them.

pub mod image;
pub mod labeled;
pub mod loaders;
pub mod mixture;
pub mod real;
pub mod source;
pub mod standardize;
pub mod toy;

pub use image::ImageDensity;
pub use labeled::LabeledSet;
pub use loaders::{
    csv_from_bytes, idx_from_bytes, load_csv, load_csv_within, load_idx, load_idx_with_dims, load_idx_within, load_npy,
    load_npy_within, npy_from_bytes, npy_header, save_npy,
};
pub use mixture::GaussianMixture;
pub use real::{Labeled, data_dir, digits, ecg, ecg_windows, mnist};
pub use source::DataSource;
pub use standardize::Standardizer;
pub use toy::Toy;
