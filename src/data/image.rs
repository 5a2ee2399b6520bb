//! 2-D densities drawn by a picture (JKO-iFlow's rose and fractal tree): a
//! pixel is chosen with probability proportional to its darkness, then a point
//! uniformly inside that pixel's square cell.
//!
//! Darkness is `1 − luminance`, with luminance from Rec. 601 weights
//! (0.299 R + 0.587 G + 0.114 B, what PIL's `convert('L')` uses), multiplied by
//! the alpha channel where there is one: the picture as it looks over a white
//! background, so fully transparent pixels get no mass.
//!
//! Geometry: pixels are square cells of side `8 / max(width, height)`, so the
//! longer side of the image spans [−4, 4] and the shorter one is centred in it
//! (no stretching). Image columns run left to right along the first coordinate
//! and image rows top to bottom along the second coordinate from high to low,
//! so a scatter plot of the samples shows the picture upright.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::{Path, PathBuf};

use crate::io::LoadLimits;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result};

/// Half the side of the square the image is mapped onto.
pub const HALF_EXTENT: f64 = 4.0;

/// A density on the plane defined by a PNG image.
#[derive(Clone)]
pub struct ImageDensity {
    path: PathBuf,
    height: usize,
    width: usize,
    /// Normalized per-pixel probabilities, row-major, row 0 at the top.
    mass: Vec<f64>,
    /// Running sums of `mass` (the last one is 1), searched to draw pixels.
    cumulative: Vec<f64>,
}

impl ImageDensity {
    /// Reads a PNG (grayscale, RGB, palette, with or without alpha, any bit
    /// depth), within the load limit of `WASSERFLOW_MAX_LOAD_BYTES`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_within(path, &LoadLimits::from_env()?)
    }

    /// [`ImageDensity::open`] with an explicit memory limit, which the image
    /// size its header declares must fit before anything is decoded.
    pub fn open_within(path: impl AsRef<Path>, limits: &LoadLimits) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::decode(BufReader::new(file), path, limits)
    }

    /// [`ImageDensity::open`] of a PNG file's bytes already in memory; `path` names it in errors.
    pub fn from_png_bytes(bytes: &[u8], path: &Path, limits: &LoadLimits) -> Result<Self> {
        Self::decode(std::io::Cursor::new(bytes), path, limits)
    }

    #[cfg(not(feature = "formats"))]
    fn decode(_: impl BufRead + Seek, _: &Path, _: &LoadLimits) -> Result<Self> {
        Err(crate::error::feature_missing("formats", "reading PNG images"))
    }

    #[cfg(feature = "formats")]
    fn decode(source: impl BufRead + Seek, path: &Path, limits: &LoadLimits) -> Result<Self> {
        let format_err = |message: String| Error::Format { path: path.to_path_buf(), message };
        // The decoder's own buffers (chunks, one row) keep its default cap unless ours is lower.
        let own =
            png::Limits { bytes: png::Limits::default().bytes.min(limits.max_bytes.try_into().unwrap_or(usize::MAX)) };
        let mut decoder = png::Decoder::new_with_limits(source, own);
        // Palettes and sub-byte depths become 8-bit channels, tRNS becomes alpha; 16-bit stays 16-bit.
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().map_err(|e| format_err(format!("not a readable PNG image: {e}")))?;
        // png 0.18 expands palettes without checking their length and panics on one that is not
        // whole RGB triples (found by fuzz/fuzz_targets/png_density.rs): refused here first.
        if let Some(p) = reader.info().palette.as_deref()
            && (p.len() % 3 != 0 || p.len() > 3 * 256)
        {
            return Err(format_err(format!(
                "damaged PNG palette: {} bytes is not a whole number of RGB entries, at most 256",
                p.len()
            )));
        }
        // The header's width × height sizes the decoded image and three f64 tables per pixel: both
        // are checked before anything is allocated for them.
        let (w, h) = (reader.info().width as u64, reader.info().height as u64);
        let size = reader.output_buffer_size();
        let need = size.and_then(|s| w.checked_mul(h)?.checked_mul(24)?.checked_add(s as u64));
        limits.check(path, &format!("a {w}×{h} image"), need)?;
        let size = size.ok_or_else(|| format_err("PNG image too large to decode".into()))?;
        let mut buf = vec![0u8; size];
        let info = reader.next_frame(&mut buf).map_err(|e| format_err(format!("damaged PNG image data: {e}")))?;
        let (width, height) = (info.width as usize, info.height as usize);
        let channels = info.color_type.samples();
        let bytes_per_sample = match info.bit_depth {
            png::BitDepth::Eight => 1,
            png::BitDepth::Sixteen => 2,
            other => return Err(format_err(format!("unexpected bit depth {other:?} after expansion"))),
        };
        let max = if bytes_per_sample == 1 { 255.0 } else { 65535.0 };
        let sample_at = |row: &[u8], i: usize| -> f64 {
            if bytes_per_sample == 1 {
                row[i] as f64 / max
            } else {
                u16::from_be_bytes([row[2 * i], row[2 * i + 1]]) as f64 / max
            }
        };
        let mut darkness = Vec::with_capacity(width * height);
        for r in 0..height {
            let row = &buf[r * info.line_size..(r + 1) * info.line_size];
            for c in 0..width {
                let s = |k: usize| sample_at(row, c * channels + k);
                let (lum, alpha) = match info.color_type {
                    png::ColorType::Grayscale => (s(0), 1.0),
                    png::ColorType::GrayscaleAlpha => (s(0), s(1)),
                    png::ColorType::Rgb => (luminance(s(0), s(1), s(2)), 1.0),
                    png::ColorType::Rgba => (luminance(s(0), s(1), s(2)), s(3)),
                    png::ColorType::Indexed => return Err(format_err("palette was not expanded".into())),
                };
                darkness.push(((1.0 - lum) * alpha).max(0.0));
            }
        }
        Self::from_darkness(path, height, width, darkness)
    }

    #[cfg_attr(not(feature = "formats"), allow(dead_code))]
    /// A density from per-pixel darkness values (row-major, `height × width`, row 0 on top).
    fn from_darkness(path: &Path, height: usize, width: usize, darkness: Vec<f64>) -> Result<Self> {
        let total: f64 = darkness.iter().sum();
        if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::Format {
                path: path.to_path_buf(),
                message: "the image has no dark pixels (all white or transparent), so it defines no density".into(),
            });
        }
        let mass: Vec<f64> = darkness.iter().map(|v| v / total).collect();
        let mut acc = 0.0;
        let mut cumulative: Vec<f64> = mass
            .iter()
            .map(|m| {
                acc += m;
                acc
            })
            .collect();
        // Rounding may leave the last sum a hair below 1, and a draw u ∈ [0, 1) must find a
        // pixel with mass: from the last such pixel on, the sums become +∞ (still sorted).
        if let Some(last) = mass.iter().rposition(|&m| m > 0.0) {
            cumulative[last..].iter_mut().for_each(|c| *c = f64::INFINITY);
        }
        Ok(ImageDensity { path: path.to_path_buf(), height, width, mass, cumulative })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `(height, width)`: rows and columns of pixels.
    pub fn dims(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// The normalized per-pixel probabilities, `height × width` row-major, row 0 at the top.
    pub fn mass(&self) -> &[f64] {
        &self.mass
    }

    /// The side of a pixel's square cell in plane units.
    pub fn cell(&self) -> f64 {
        2.0 * HALF_EXTENT / self.height.max(self.width) as f64
    }

    /// The plane coordinates of the top-left corner of pixel (0, 0).
    fn top_left(&self) -> (f64, f64) {
        let cell = self.cell();
        (-0.5 * cell * self.width as f64, 0.5 * cell * self.height as f64)
    }

    /// The pixel `(row, col)` whose cell contains the point, if any.
    pub fn pixel_of(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let (x0, y0) = self.top_left();
        let cell = self.cell();
        let (c, r) = ((x - x0) / cell, (y0 - y) / cell);
        if !(c >= 0.0 && r >= 0.0) {
            return None;
        }
        let (r, c) = (r.floor() as usize, c.floor() as usize);
        (r < self.height && c < self.width).then_some((r, c))
    }

    /// `n` samples as `[n, 2]`.
    pub fn sample<T: Float>(&self, n: usize, rng: &mut Rng) -> Result<Tensor<T>> {
        let (x0, y0) = self.top_left();
        let cell = self.cell();
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let u = rng.uniform();
            let k = self.cumulative.partition_point(|&c| c <= u);
            let (r, c) = (k / self.width, k % self.width);
            out.push(T::from_f64(x0 + cell * (c as f64 + rng.uniform())));
            out.push(T::from_f64(y0 - cell * (r as f64 + rng.uniform())));
        }
        Tensor::from_vec(out, [n, 2])
    }
}

impl std::fmt::Debug for ImageDensity {
    // The per-pixel tables run to hundreds of thousands of numbers: name the picture instead.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImageDensity({}, {}×{} pixels)", self.path.display(), self.height, self.width)
    }
}

#[cfg_attr(not(feature = "formats"), allow(dead_code))]
fn luminance(r: f64, g: f64, b: f64) -> f64 {
    0.299 * r + 0.587 * g + 0.114 * b
}
