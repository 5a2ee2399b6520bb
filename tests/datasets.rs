//! The dataset layer against known answers: toy moments derived from their
//! definitions, image densities that reproduce their pictures, mixture
//! densities that integrate to one and match closed forms, loaders that
//! round-trip and refuse every damaged file with an error (never a panic),
//! the standardization log-determinant, and `DataSource` naming and splits.
//!
//! Statistical checks state their tolerance as a multiple of the Monte Carlo
//! standard error, so they fail on a wrong formula and not by bad luck.

use std::f64::consts::PI;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use wasserflow::data::loaders::{load_csv, load_idx, load_idx_with_dims, load_npy, save_npy};
use wasserflow::data::real::{ecg_adc_to_mv, ecg_windows};
use wasserflow::data::standardize::STD_FLOOR;
use wasserflow::data::{DataSource, GaussianMixture, ImageDensity, Standardizer, Toy, digits, mnist};
use wasserflow::{Error, Rng, Tensor};

// ----- helpers -----------------------------------------------------------

/// A fresh directory per test, under cargo's scratch space for integration tests.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("datasets").join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn shared(name: &str) -> Option<PathBuf> {
    let p = Path::new("../shared/datasets").join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipping: {} is not here", p.display());
        None
    }
}

fn installed(dir: &str, file: &str) -> bool {
    let p = Path::new("datasets").join(dir).join(file);
    let here = p.is_file();
    if !here {
        eprintln!("skipping: {} not installed (run datasets/install.sh)", p.display());
    }
    here
}

/// Asserts `r` is an error of the kind `want` names whose message mentions `needle`.
fn assert_err<T: std::fmt::Debug>(r: wasserflow::Result<T>, want: &str, needle: &str) {
    let e = r.expect_err(&format!("expected a {want} error mentioning '{needle}'"));
    let kind = match &e {
        Error::Format { .. } => "format",
        Error::Io { .. } => "io",
        Error::NonFinite(_) => "nonfinite",
        Error::InvalidArgument(_) => "invalid",
        Error::Shape(_) => "shape",
        Error::Device(_) => "device",
    };
    assert_eq!(kind, want, "{e}");
    assert!(e.to_string().contains(needle), "'{e}' does not mention '{needle}'");
}

/// Mean of `f` over the rows of a `[n, 2]` sample, and its standard error.
fn mean_se(x: &[f64], f: impl Fn(f64, f64) -> f64) -> (f64, f64) {
    let v: Vec<f64> = x.chunks(2).map(|p| f(p[0], p[1])).collect();
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// Composite Simpson rule on [a, b] with `n` (even) intervals.
fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
    let h = (b - a) / n as f64;
    let mut s = f(a) + f(b);
    for i in 1..n {
        s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0
}

// ----- toys ---------------------------------------------------------------

/// `[E x, E y, E x², E y², E xy]` of each toy from its definition (SPEC "Datasets").
fn toy_moments(toy: Toy) -> [f64; 5] {
    match toy {
        Toy::EightGaussians => {
            // Centres 4(cos θ, sin θ)/1.414 at θ = k·45°: E cos² = ½; sd 0.5/1.414.
            let s = 1.414f64 * 1.414;
            [0.0, 0.0, (16.0 * 0.5 + 0.25) / s, (16.0 * 0.5 + 0.25) / s, 0.0]
        }
        Toy::Checkerboard => {
            // x1 ~ U[−2, 2): var 4/3. x2 = U − 2B + c with c = ⌊x1⌋ mod 2 ~ Bernoulli(½):
            // mean 0, var 1/12 + 1 + 1/4 = 4/3; cov(x1, c) = ¼(−½) + ¼(3/2) = ¼. All × 2.
            [0.0, 0.0, 16.0 / 3.0, 16.0 / 3.0, 1.0]
        }
        Toy::Rings => {
            // Four equally filled rings (radii 0.75 … 3) on exact angle grids, noise sd 0.08.
            let r2: f64 = [0.75f64, 1.5, 2.25, 3.0].iter().map(|r| r * r).sum::<f64>() / 4.0;
            [0.0, 0.0, r2 / 2.0 + 0.0064, r2 / 2.0 + 0.0064, 0.0]
        }
        Toy::Circles => {
            // Half on radius 1, half on 0.5, noise 0.08, all × 3.
            let e = 9.0 * ((1.0 + 0.25) / 4.0 + 0.0064);
            [0.0, 0.0, e, e, 0.0]
        }
        Toy::Moons => {
            // Raw make_moons (a ~ U[0, π], halves): outer (cos a, sin a), inner (1 − cos a, ½ − sin a),
            // noise sd 0.1; then X = 2x − 1, Y = 2y − 0.2.
            let s = 2.0 / PI; // E sin a
            let (ex, ey) = (0.5, (s + 0.5 - s) / 2.0);
            let ex2 = 0.5 * 0.5 + 0.5 * 1.5 + 0.01; // outer E cos² = ½, inner E(1 − cos)² = 3/2
            let ey2 = (0.5 + (0.75 - s)) / 2.0 + 0.01;
            let exy = (0.0 + (0.5 - s)) / 2.0;
            [
                2.0 * ex - 1.0,
                2.0 * ey - 0.2,
                4.0 * ex2 - 4.0 * ex + 1.0,
                4.0 * ey2 - 0.8 * ey + 0.04,
                4.0 * exy - 0.4 * ex - 2.0 * ey + 0.2,
            ]
        }
        Toy::Swissroll => {
            // t ~ U[1.5π, 4.5π], (t cos t + ε, t sin t + ε)/5 with ε ~ N(0, 1).
            let (a, b) = (1.5 * PI, 4.5 * PI);
            let e = |g: &dyn Fn(f64) -> f64| simpson(g, a, b, 20000) / (b - a);
            [
                e(&|t| t * t.cos()) / 5.0,
                e(&|t| t * t.sin()) / 5.0,
                (e(&|t| (t * t.cos()).powi(2)) + 1.0) / 25.0,
                (e(&|t| (t * t.sin()).powi(2)) + 1.0) / 25.0,
                e(&|t| t * t * t.cos() * t.sin()) / 25.0,
            ]
        }
        Toy::Pinwheel => {
            // Five arms: the class rotations average the second moment to (tr/2) I and the
            // mean to 0; |x|² = 4(f0² + f1²), f0 ~ N(1, 0.3²), f1 ~ N(0, 0.1²): E|x|² = 4.4.
            [0.0, 0.0, 2.2, 2.2, 0.0]
        }
        Toy::TwoSpirals => {
            // r = 3π√U (density 2r/(3π)² on [0, 3π]); arm (−r cos r + V/2, r sin r + W/2), V, W ~ U[0, 1),
            // mirrored half, /3, + N(0, 0.1²).
            let e = |g: &dyn Fn(f64) -> f64| simpson(|r| g(r) * 2.0 * r / (9.0 * PI * PI), 0.0, 3.0 * PI, 20000);
            let (rc, rs) = (e(&|r| r * r.cos()), e(&|r| r * r.sin()));
            let ex2 = (e(&|r| (r * r.cos()).powi(2)) - 0.5 * rc + 1.0 / 12.0) / 9.0 + 0.01;
            let ey2 = (e(&|r| (r * r.sin()).powi(2)) + 0.5 * rs + 1.0 / 12.0) / 9.0 + 0.01;
            let exy = (-e(&|r| r * r * r.cos() * r.sin()) - 0.25 * rc + 0.25 * rs + 1.0 / 16.0) / 9.0;
            [0.0, 0.0, ex2, ey2, exy]
        }
    }
}

#[test]
fn toy_moments_match_their_definitions() {
    // Sanity of the integration rule on closed forms: E r² = 9π²/2 for the spirals' radius,
    // and E[t cos t] on the swissroll's range by its antiderivative t sin t + cos t.
    let er2 = simpson(|r| r * r * 2.0 * r / (9.0 * PI * PI), 0.0, 3.0 * PI, 20000);
    assert!((er2 - 4.5 * PI * PI).abs() < 1e-9, "{er2}");
    let (a, b) = (1.5 * PI, 4.5 * PI);
    let anti = |t: f64| t * t.sin() + t.cos();
    assert!((simpson(|t| t * t.cos(), a, b, 20000) - (anti(b) - anti(a))).abs() < 1e-9);

    let n = 200_000;
    let fs: [fn(f64, f64) -> f64; 5] = [|x, _| x, |_, y| y, |x, _| x * x, |_, y| y * y, |x, y| x * y];
    for toy in Toy::ALL {
        let x = toy.sample::<f64>(n, &mut Rng::seed(11)).unwrap().to_vec().unwrap();
        let want = toy_moments(toy);
        for (k, f) in fs.iter().enumerate() {
            let (m, se) = mean_se(&x, f);
            // 6 standard errors (of iid draws; the grid-based and mirrored toys are no noisier
            // than √2 times that), plus 1e-4 for the O(1/n) grid sums of circles/moons/rings.
            let tol = 6.0 * se + 1e-4;
            assert!((m - want[k]).abs() < tol, "{toy:?} moment {k}: sample {m}, expected {}, tolerance {tol}", want[k]);
        }
    }
}

#[test]
fn toys_are_reproducible_by_seed() {
    for toy in Toy::ALL {
        let a = toy.sample::<f32>(300, &mut Rng::seed(5)).unwrap().to_vec().unwrap();
        let b = toy.sample::<f32>(300, &mut Rng::seed(5)).unwrap().to_vec().unwrap();
        let c = toy.sample::<f32>(300, &mut Rng::seed(6)).unwrap().to_vec().unwrap();
        assert_eq!(a, b, "{toy:?}");
        assert_ne!(a, c, "{toy:?}");
    }
}

// ----- image densities -----------------------------------------------------

struct Png<'a> {
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &'a [u8],
    palette: Option<&'a [u8]>,
    trns: Option<&'a [u8]>,
}

fn write_png(path: &Path, p: Png) {
    let file = fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), p.width, p.height);
    enc.set_color(p.color);
    enc.set_depth(p.depth);
    if let Some(pal) = p.palette {
        enc.set_palette(pal.to_vec());
    }
    if let Some(t) = p.trns {
        enc.set_trns(t.to_vec());
    }
    let mut w = enc.write_header().unwrap();
    w.write_image_data(p.data).unwrap();
    w.finish().unwrap();
}

fn gray8(path: &Path, width: u32, height: u32, data: &[u8]) {
    let (color, depth) = (png::ColorType::Grayscale, png::BitDepth::Eight);
    write_png(path, Png { width, height, color, depth, data, palette: None, trns: None });
}

fn assert_mass(d: &ImageDensity, darkness: &[f64]) {
    let total: f64 = darkness.iter().sum();
    assert_eq!(d.mass().len(), darkness.len());
    for (i, (m, v)) in d.mass().iter().zip(darkness).enumerate() {
        assert!((m - v / total).abs() < 1e-12, "pixel {i}: mass {m}, expected {}", v / total);
    }
}

#[test]
fn image_darkness_by_color_type() {
    let dir = scratch("image_color_types");
    // 8-bit gray: darkness 1 − v/255.
    let p = dir.join("gray.png");
    gray8(&p, 2, 2, &[0, 128, 255, 64]);
    let d = ImageDensity::open(&p).unwrap();
    assert_eq!(d.dims(), (2, 2));
    assert_mass(&d, &[1.0, 1.0 - 128.0 / 255.0, 0.0, 1.0 - 64.0 / 255.0]);

    // RGBA: Rec. 601 luminance, times alpha; a transparent black pixel weighs nothing.
    let p = dir.join("rgba.png");
    let data = [255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 128, 0, 255, 0, 255, 10, 20, 30, 255, 255, 255, 255, 255];
    let (color, depth) = (png::ColorType::Rgba, png::BitDepth::Eight);
    write_png(&p, Png { width: 3, height: 2, color, depth, data: &data, palette: None, trns: None });
    let d = ImageDensity::open(&p).unwrap();
    assert_eq!(d.dims(), (2, 3));
    let lum = |r: f64, g: f64, b: f64| (0.299 * r + 0.587 * g + 0.114 * b) / 255.0;
    assert_mass(&d, &[1.0 - 0.299, 0.0, 128.0 / 255.0, 1.0 - 0.587, 1.0 - lum(10.0, 20.0, 30.0), 0.0]);

    // 16-bit gray (big-endian samples).
    let p = dir.join("gray16.png");
    let data = [0x80, 0x00, 0x00, 0x00, 0xff, 0xff];
    let (color, depth) = (png::ColorType::Grayscale, png::BitDepth::Sixteen);
    write_png(&p, Png { width: 3, height: 1, color, depth, data: &data, palette: None, trns: None });
    assert_mass(&ImageDensity::open(&p).unwrap(), &[1.0 - 32768.0 / 65535.0, 1.0, 0.0]);

    // RGB 8-bit.
    let p = dir.join("rgb.png");
    let data = [0, 0, 255, 255, 255, 255];
    let (color, depth) = (png::ColorType::Rgb, png::BitDepth::Eight);
    write_png(&p, Png { width: 2, height: 1, color, depth, data: &data, palette: None, trns: None });
    assert_mass(&ImageDensity::open(&p).unwrap(), &[1.0 - 0.114, 0.0]);

    // Palette with a tRNS entry (the rose is a palette image): index 1 is black but transparent.
    let p = dir.join("palette.png");
    let palette = [0, 0, 0, 0, 0, 0, 255, 255, 255, 100, 100, 100];
    let (color, depth) = (png::ColorType::Indexed, png::BitDepth::Eight);
    let pal =
        Png { width: 4, height: 1, color, depth, data: &[0, 1, 2, 3], palette: Some(&palette), trns: Some(&[255, 0]) };
    write_png(&p, pal);
    assert_mass(&ImageDensity::open(&p).unwrap(), &[1.0, 0.0, 0.0, 1.0 - 100.0 / 255.0]);
}

#[test]
fn image_samples_are_upright_and_in_their_pixel() {
    let dir = scratch("image_upright");
    // One black pixel at the top left of a 2×2 image: every sample in the upper-left quadrant.
    let p = dir.join("topleft.png");
    gray8(&p, 2, 2, &[0, 255, 255, 255]);
    let d = ImageDensity::open(&p).unwrap();
    let x = d.sample::<f64>(5000, &mut Rng::seed(1)).unwrap().to_vec().unwrap();
    assert!(x.chunks(2).all(|q| (-4.0..0.0).contains(&q[0]) && q[1] > 0.0 && q[1] <= 4.0));
    // Uniform jitter over the cell: the mean is the cell centre (−2, 2), the variance 4²/12.
    let (mx, sx) = mean_se(&x, |a, _| a);
    let (my, sy) = mean_se(&x, |_, b| b);
    assert!((mx + 2.0).abs() < 6.0 * sx && (my - 2.0).abs() < 6.0 * sy, "{mx} {my}");
    let (vx, svx) = mean_se(&x, |a, _| (a + 2.0) * (a + 2.0));
    assert!((vx - 16.0 / 12.0).abs() < 6.0 * svx, "{vx}");

    // A 4-wide, 2-high image keeps square pixels of side 2: the bottom-right pixel is [2, 4) × [−2, 0).
    let p = dir.join("wide.png");
    gray8(&p, 4, 2, &[255, 255, 255, 255, 255, 255, 255, 0]);
    let d = ImageDensity::open(&p).unwrap();
    assert_eq!(d.cell(), 2.0);
    let x = d.sample::<f64>(2000, &mut Rng::seed(2)).unwrap().to_vec().unwrap();
    // Cells are [left, right) × (bottom, top], the convention `pixel_of` inverts.
    assert!(x.chunks(2).all(|q| (2.0..4.0).contains(&q[0]) && q[1] > -2.0 && q[1] <= 0.0));
    assert!(x.chunks(2).all(|q| d.pixel_of(q[0], q[1]) == Some((1, 3))));
    assert_eq!(d.pixel_of(3.0, -1.0), Some((1, 3)));
    assert_eq!(d.pixel_of(-3.9, 1.9), Some((0, 0)));
    assert_eq!(d.pixel_of(0.0, 2.5), None);

    // Pixel frequencies of a graded image follow the mass (binomial, 6 standard errors).
    let p = dir.join("graded.png");
    gray8(&p, 3, 2, &[0, 85, 170, 255, 30, 200]);
    let d = ImageDensity::open(&p).unwrap();
    let n = 60_000;
    let x = d.sample::<f64>(n, &mut Rng::seed(3)).unwrap().to_vec().unwrap();
    let mut count = [0usize; 6];
    for q in x.chunks(2) {
        let (r, c) = d.pixel_of(q[0], q[1]).expect("sample outside the image");
        count[r * 3 + c] += 1;
    }
    for (k, (&c, &m)) in count.iter().zip(d.mass()).enumerate() {
        let se = (m * (1.0 - m) / n as f64).sqrt();
        assert!((c as f64 / n as f64 - m).abs() <= 6.0 * se, "pixel {k}: {c} of {n}, mass {m}");
    }
    assert_eq!(count[3], 0, "a white pixel was sampled");
}

/// Total-variation distance between the 16×16-cell histogram of `n` samples
/// and the image mass aggregated to the same cells.
fn coarse_tv(d: &ImageDensity, n: usize, seed: u64) -> f64 {
    let (h, w) = d.dims();
    let cell_of = |r: usize, c: usize| (r * 16 / h) * 16 + c * 16 / w;
    let mut want = [0.0f64; 256];
    for r in 0..h {
        for c in 0..w {
            want[cell_of(r, c)] += d.mass()[r * w + c];
        }
    }
    let x = d.sample::<f64>(n, &mut Rng::seed(seed)).unwrap().to_vec().unwrap();
    let mut got = [0.0f64; 256];
    for q in x.chunks(2) {
        assert!(q[0].abs() <= 4.0 && q[1].abs() <= 4.0, "{q:?} outside [−4, 4]²");
        let (r, c) = d.pixel_of(q[0], q[1]).expect("sample outside the image");
        assert!(d.mass()[r * w + c] > 0.0, "sample in a pixel without mass");
        got[cell_of(r, c)] += 1.0 / n as f64;
    }
    0.5 * got.iter().zip(&want).map(|(a, b)| (a - b).abs()).sum::<f64>()
}

#[test]
fn rose_and_tree_samples_reproduce_the_pictures() {
    // Expected TV of a 256-cell multinomial histogram of 200k draws is below
    // ½·√(2·256/(π·200000)) ≈ 0.014; a flipped or misplaced image is far above 0.03.
    for (name, dims) in [("rose.png", (227, 222)), ("tree.png", (450, 530))] {
        let Some(path) = shared(name) else { continue };
        let d = ImageDensity::open(&path).unwrap();
        assert_eq!(d.dims(), dims, "{name}");
        assert!((d.mass().iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let tv = coarse_tv(&d, 200_000, 7);
        assert!(tv < 0.03, "{name}: total variation {tv}");
        // The same check can fail: the picture upside down is far off.
        let (h, w) = d.dims();
        let flipped: Vec<f64> = (0..h).flat_map(|r| d.mass()[(h - 1 - r) * w..(h - r) * w].to_vec()).collect();
        let cell_of = |r: usize, c: usize| (r * 16 / h) * 16 + c * 16 / w;
        let (mut a, mut b) = ([0.0f64; 256], [0.0f64; 256]);
        for r in 0..h {
            for c in 0..w {
                a[cell_of(r, c)] += d.mass()[r * w + c];
                b[cell_of(r, c)] += flipped[r * w + c];
            }
        }
        let tv_flip = 0.5 * a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>();
        assert!(tv_flip > 0.1, "{name}: flipping changes the coarse mass by only {tv_flip}");
    }
}

#[test]
fn image_bad_inputs_are_errors() {
    let dir = scratch("image_bad");
    assert_err(ImageDensity::open(dir.join("missing.png")), "io", "missing.png");
    let text = dir.join("text.png");
    fs::write(&text, "not a picture").unwrap();
    assert_err(ImageDensity::open(&text), "format", "text.png");
    let white = dir.join("white.png");
    gray8(&white, 3, 3, &[255; 9]);
    assert_err(ImageDensity::open(&white), "format", "no dark pixels");
    let clear = dir.join("clear.png");
    let (color, depth) = (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight);
    write_png(&clear, Png { width: 2, height: 1, color, depth, data: &[0, 0, 0, 0], palette: None, trns: None });
    assert_err(ImageDensity::open(&clear), "format", "no dark pixels");
    let good = dir.join("good.png");
    gray8(&good, 8, 8, &[7; 64]);
    let bytes = fs::read(&good).unwrap();
    for cut in [8, 20, 40, bytes.len() - 13] {
        let t = dir.join(format!("cut{cut}.png"));
        fs::write(&t, &bytes[..cut]).unwrap();
        assert_err(ImageDensity::open(&t), "format", &format!("cut{cut}.png"));
    }
}

// ----- mixtures ------------------------------------------------------------

fn grid_mass(g: &GaussianMixture, lo: f64, hi: f64, steps: usize) -> f64 {
    let h = (hi - lo) / steps as f64;
    let mut pts = Vec::with_capacity(2 * steps * steps);
    for i in 0..steps {
        for j in 0..steps {
            pts.push(lo + h * (i as f64 + 0.5));
            pts.push(lo + h * (j as f64 + 0.5));
        }
    }
    let x = Tensor::<f64>::from_vec(pts, [steps * steps, 2]).unwrap();
    g.log_prob(&x).unwrap().iter().map(|l| l.exp() * h * h).sum()
}

#[test]
fn fig10_pair_has_the_tutorial_parameters() {
    let p = GaussianMixture::fig10_p();
    let q = GaussianMixture::fig10_q();
    assert_eq!(p.means(), &[vec![-2.0, 2.0], vec![-1.5, 1.5], vec![-1.0, 1.0]]);
    assert_eq!(q.means(), &[vec![0.75, -1.5], vec![-2.0, -3.0]]);
    for (g, vars, w) in [(&p, vec![0.75, 0.25, 0.75], 1.0 / 3.0), (&q, vec![0.5, 0.5], 0.5)] {
        for (k, v) in vars.iter().enumerate() {
            let c = g.covariance(k);
            assert!((c[0] - v).abs() < 1e-14 && (c[3] - v).abs() < 1e-14 && c[1] == 0.0 && c[2] == 0.0);
            assert!((g.weights()[k] - w).abs() < 1e-15);
        }
    }
    // log p at one point by hand: Σ_k ⅓ exp(−|x − μ_k|²/(2v_k)) / (2π v_k).
    let x = [0.3, -0.4];
    let by_hand: f64 = [([-2.0, 2.0], 0.75), ([-1.5, 1.5], 0.25), ([-1.0, 1.0], 0.75)]
        .iter()
        .map(|(m, v): &([f64; 2], f64)| {
            let r2 = (x[0] - m[0]).powi(2) + (x[1] - m[1]).powi(2);
            (-r2 / (2.0 * v)).exp() / (2.0 * PI * v) / 3.0
        })
        .sum();
    let got = p.log_prob(&Tensor::<f64>::from_vec(x.to_vec(), [1, 2]).unwrap()).unwrap()[0];
    assert!((got - by_hand.ln()).abs() < 1e-12, "{got} vs {}", by_hand.ln());
}

#[test]
fn mixture_densities_integrate_to_one_in_2d() {
    let corr = GaussianMixture::with_covariances(
        vec![0.2, 0.8],
        vec![vec![1.0, -0.5], vec![-0.5, 0.5]],
        vec![vec![0.5, 0.35, 0.35, 0.4], vec![0.3, -0.1, -0.1, 0.2]],
    )
    .unwrap();
    // Midpoint rule on 400² cells of [−8, 8]²: error far below 1e-4 for these smooth densities,
    // tails outside the box below 1e-10.
    for (name, g) in [("fig10-p", GaussianMixture::fig10_p()), ("fig10-q", GaussianMixture::fig10_q()), ("corr", corr)]
    {
        let m = grid_mass(&g, -8.0, 8.0, 400);
        assert!((m - 1.0).abs() < 1e-4, "{name}: mass {m}");
    }
}

/// `log N(x; μ, Σ)` by Gaussian elimination with partial pivoting (independent of Cholesky).
fn gaussian_log_density(x: &[f64], mu: &[f64], cov: &[f64]) -> f64 {
    let d = x.len();
    let mut a: Vec<Vec<f64>> = (0..d).map(|i| cov[i * d..(i + 1) * d].to_vec()).collect();
    let mut b: Vec<f64> = x.iter().zip(mu).map(|(p, m)| p - m).collect();
    let r = b.clone();
    let mut log_det = 0.0;
    for col in 0..d {
        let piv = (col..d).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).unwrap();
        a.swap(col, piv);
        b.swap(col, piv);
        log_det += a[col][col].abs().ln();
        let (done, rest) = a.split_at_mut(col + 1);
        let pivot = &done[col];
        for (row, r) in rest.iter_mut().enumerate().map(|(i, r)| (col + 1 + i, r)) {
            let f = r[col] / pivot[col];
            r[col..].iter_mut().zip(&pivot[col..]).for_each(|(x, p)| *x -= f * p);
            b[row] -= f * b[col];
        }
    }
    let mut sol = vec![0.0; d];
    for i in (0..d).rev() {
        let s: f64 = (i + 1..d).map(|k| a[i][k] * sol[k]).sum();
        sol[i] = (b[i] - s) / a[i][i];
    }
    let maha: f64 = r.iter().zip(&sol).map(|(p, q)| p * q).sum();
    -0.5 * (d as f64 * (2.0 * PI).ln() + log_det + maha)
}

/// A random symmetric positive-definite matrix `A Aᵀ + 0.5 I`.
fn random_spd(d: usize, rng: &mut Rng) -> Vec<f64> {
    let a: Vec<f64> = (0..d * d).map(|_| rng.normal()).collect();
    let mut c = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            c[i * d + j] = (0..d).map(|k| a[i * d + k] * a[j * d + k]).sum::<f64>() + if i == j { 0.5 } else { 0.0 };
        }
    }
    c
}

#[test]
fn full_covariance_log_prob_matches_closed_form_in_5d() {
    let d = 5;
    let mut rng = Rng::seed(21);
    let covs: Vec<Vec<f64>> = (0..3).map(|_| random_spd(d, &mut rng)).collect();
    let means: Vec<Vec<f64>> = (0..3).map(|_| (0..d).map(|_| 2.0 * rng.normal()).collect()).collect();
    let weights = vec![0.5, 0.3, 0.2];
    let g = GaussianMixture::with_covariances(weights.clone(), means.clone(), covs.clone()).unwrap();
    let x = Tensor::<f64>::randn([50, d], &mut rng).unwrap().scale(2.0).unwrap();
    let got = g.log_prob(&x).unwrap();
    for (i, p) in x.to_vec().unwrap().chunks(d).enumerate() {
        let want: f64 =
            (0..3).map(|k| weights[k] * gaussian_log_density(p, &means[k], &covs[k]).exp()).sum::<f64>().ln();
        assert!((got[i] - want).abs() < 1e-9 * want.abs().max(1.0), "row {i}: {} vs {want}", got[i]);
    }
    // An isotropic covariance given in full agrees with the isotropic constructor.
    let iso = GaussianMixture::new(vec![1.0, 2.0], vec![vec![0.0; d], vec![1.0; d]], vec![0.7, 1.3]).unwrap();
    let eye = |v: f64| (0..d * d).map(|i| if i % (d + 1) == 0 { v } else { 0.0 }).collect::<Vec<_>>();
    let full =
        GaussianMixture::with_covariances(vec![1.0, 2.0], vec![vec![0.0; d], vec![1.0; d]], vec![eye(0.49), eye(1.69)])
            .unwrap();
    for (a, b) in iso.log_prob(&x).unwrap().iter().zip(full.log_prob(&x).unwrap()) {
        assert!((a - b).abs() < 1e-10);
    }
}

#[test]
fn full_covariance_samples_have_the_mixture_moments() {
    let (d, n) = (3, 200_000);
    let mut rng = Rng::seed(31);
    let covs: Vec<Vec<f64>> = (0..2).map(|_| random_spd(d, &mut rng)).collect();
    let means = vec![vec![1.0, -1.0, 0.5], vec![-2.0, 0.0, 1.0]];
    let w = [0.3, 0.7];
    let g = GaussianMixture::with_covariances(w.to_vec(), means.clone(), covs.clone()).unwrap();
    let x = g.sample::<f64>(n, &mut Rng::seed(32)).unwrap().to_vec().unwrap();
    let mean: Vec<f64> = (0..d).map(|i| w[0] * means[0][i] + w[1] * means[1][i]).collect();
    for i in 0..d {
        for j in 0..d {
            // E[x_i x_j] = Σ_k w_k (Σ_k,ij + μ_k,i μ_k,j)
            let want: f64 = (0..2).map(|k| w[k] * (covs[k][i * d + j] + means[k][i] * means[k][j])).sum();
            let v: Vec<f64> = x.chunks(d).map(|p| p[i] * p[j]).collect();
            let m = v.iter().sum::<f64>() / n as f64;
            let se = (v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n * n) as f64).sqrt();
            assert!((m - want).abs() < 6.0 * se, "E[x{i} x{j}] = {m}, expected {want} ± {}", 6.0 * se);
        }
        let v: Vec<f64> = x.chunks(d).map(|p| p[i]).collect();
        let m = v.iter().sum::<f64>() / n as f64;
        let se = (v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n * n) as f64).sqrt();
        assert!((m - mean[i]).abs() < 6.0 * se, "E[x{i}] = {m}, expected {}", mean[i]);
    }
}

// ----- loaders: npy -------------------------------------------------------

/// A version-1 `.npy` file with the given header dict and raw data.
fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

fn dict(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

#[test]
fn npy_round_trips_and_reads_every_dtype() {
    let dir = scratch("npy_round_trip");
    let x = Tensor::<f32>::from_vec((0..12).map(|i| i as f32 * 0.37 - 2.0).collect(), [4, 3]).unwrap();
    let p = dir.join("x32.npy");
    save_npy(&p, &x).unwrap();
    let y = load_npy::<f32>(&p).unwrap();
    assert_eq!(y.dims(), &[4, 3]);
    assert_eq!(y.to_vec().unwrap(), x.to_vec().unwrap());
    let bytes = fs::read(&p).unwrap();
    assert_eq!(bytes.len(), 128 + 48, "header padded to 64 bytes, then 12 f32");
    let x64 = Tensor::<f64>::from_vec(vec![1.0 / 3.0, -1e300, 5e-324, 7.0], [4]).unwrap();
    let p = dir.join("x64.npy");
    save_npy(&p, &x64).unwrap();
    save_npy(&p, &x64).unwrap(); // overwrites in place
    let y = load_npy::<f64>(&p).unwrap();
    assert_eq!(y.dims(), &[4]);
    assert_eq!(y.to_vec().unwrap(), x64.to_vec().unwrap());
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let want: [f64; 4] = [-3.0, 0.0, 250.0, 7.0];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("<f4", want.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect()),
        ("<f8", want.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ("<i4", want.iter().flat_map(|v| (*v as i32).to_le_bytes()).collect()),
        ("<i8", want.iter().flat_map(|v| (*v as i64).to_le_bytes()).collect()),
    ];
    for (descr, data) in cases {
        let p = dir.join(format!("{}.npy", &descr[1..]));
        fs::write(&p, npy_bytes(&dict(descr, "(2, 2)"), &data)).unwrap();
        let y = load_npy::<f64>(&p).unwrap();
        assert_eq!(y.dims(), &[2, 2], "{descr}");
        assert_eq!(y.to_vec().unwrap(), want, "{descr}");
    }
    let p = dir.join("u1.npy");
    fs::write(&p, npy_bytes(&dict("|u1", "(3,)"), &[0, 128, 255])).unwrap();
    assert_eq!(load_npy::<f32>(&p).unwrap().to_vec().unwrap(), vec![0.0, 128.0, 255.0]);
    let p = dir.join("u2.npy");
    let data: Vec<u8> = [1u16, 1024, 65535].iter().flat_map(|v| v.to_le_bytes()).collect();
    fs::write(&p, npy_bytes(&dict("<u2", "(1, 3)"), &data)).unwrap();
    assert_eq!(load_npy::<f64>(&p).unwrap().to_vec().unwrap(), vec![1.0, 1024.0, 65535.0]);
    // Format version 2 (4-byte header length).
    let p = dir.join("v2.npy");
    let h = dict("<f8", "(2,)") + "\n";
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&(h.len() as u32).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.extend(1.5f64.to_le_bytes().iter().chain(&2.5f64.to_le_bytes()));
    fs::write(&p, b).unwrap();
    assert_eq!(load_npy::<f64>(&p).unwrap().to_vec().unwrap(), vec![1.5, 2.5]);
}

#[test]
fn npy_bad_inputs_are_errors() {
    let dir = scratch("npy_bad");
    let f8 = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    assert_err(load_npy::<f32>(dir.join("missing.npy")), "io", "missing.npy");
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("empty.npy", vec![], "format", "too short"),
        ("magic.npy", b"PK\x03\x04 this is a zip, not an npy file".to_vec(), "format", "magic"),
        ("short.npy", npy_bytes(&dict("<f8", "(3, 2)"), &f8(&[1.0; 5])), "format", "truncated"),
        ("long.npy", npy_bytes(&dict("<f8", "(2,)"), &f8(&[1.0; 3])), "format", "holds"),
        (
            "fortran.npy",
            npy_bytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", &f8(&[1.0; 4])),
            "format",
            "Fortran",
        ),
        ("bigendian.npy", npy_bytes(&dict(">f4", "(2,)"), &[0; 8]), "format", ">f4"),
        ("f2.npy", npy_bytes(&dict("<f2", "(2,)"), &[0; 4]), "format", "<f2"),
        ("rank3.npy", npy_bytes(&dict("<f8", "(1, 1, 2)"), &f8(&[1.0; 2])), "format", "1-D and 2-D"),
        ("scalar.npy", npy_bytes(&dict("<f8", "()"), &f8(&[1.0])), "format", "1-D and 2-D"),
        ("garbled.npy", npy_bytes("{'descr': '<f8', 'shape': (2,", &f8(&[1.0; 2])), "format", "header"),
        ("nokeys.npy", npy_bytes("{'descr': '<f8'}", &f8(&[1.0])), "format", "lacks"),
        (
            "structured.npy",
            npy_bytes("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", &f8(&[1.0])),
            "format",
            "header",
        ),
        ("huge.npy", npy_bytes(&dict("<f8", "(18446744073709551615, 4)"), &f8(&[1.0])), "format", "too many"),
        (
            "nan.npy",
            npy_bytes(&dict("<f8", "(2, 3)"), &f8(&[0.0, 1.0, 2.0, 3.0, f64::NAN, 5.0])),
            "nonfinite",
            "row 1, column 1",
        ),
        ("inf.npy", npy_bytes(&dict("<f8", "(3,)"), &f8(&[0.0, 1.0, f64::INFINITY])), "nonfinite", "index 2"),
    ];
    for (name, bytes, kind, needle) in cases {
        let p = dir.join(name);
        fs::write(&p, &bytes).unwrap();
        assert_err(load_npy::<f32>(&p), kind, needle);
        assert_err(load_npy::<f32>(&p), kind, name);
    }
    // A header length that points past the end of the file.
    let p = dir.join("headerlen.npy");
    fs::write(&p, b"\x93NUMPY\x01\x00\xff\x7f{'descr'").unwrap();
    assert_err(load_npy::<f64>(&p), "format", "runs past the end");
}

// ----- loaders: IDX ---------------------------------------------------------

fn idx_bytes(type_code: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

#[test]
fn idx_reads_every_type_and_flattens_images() {
    let dir = scratch("idx_types");
    // Two 2×3 ubyte images → [2, 6].
    let p = dir.join("images.idx");
    let pixels: Vec<u8> = (0..12).map(|i| i * 20).collect();
    fs::write(&p, idx_bytes(0x08, &[2, 2, 3], &pixels)).unwrap();
    let (x, dims) = load_idx_with_dims::<f32>(&p).unwrap();
    assert_eq!(dims, vec![2, 2, 3]);
    assert_eq!(x.dims(), &[2, 6]);
    assert_eq!(x.to_vec().unwrap(), pixels.iter().map(|&v| v as f32).collect::<Vec<_>>());
    let p = dir.join("labels.idx");
    fs::write(&p, idx_bytes(0x08, &[4], &[3, 1, 4, 1])).unwrap();
    assert_eq!(load_idx::<f64>(&p).unwrap().dims(), &[4]);
    let want: [f64; 4] = [-2.5, 0.0, 1e3, 7.0];
    let cases: Vec<(u8, Vec<u8>, Vec<f64>)> = vec![
        (0x0D, want.iter().flat_map(|v| (*v as f32).to_be_bytes()).collect(), want.to_vec()),
        (0x0E, want.iter().flat_map(|v| v.to_be_bytes()).collect(), want.to_vec()),
        (0x0C, [-7i32, 0, 70000, 1].iter().flat_map(|v| v.to_be_bytes()).collect(), vec![-7.0, 0.0, 70000.0, 1.0]),
        (0x0B, [-300i16, 2, 3, 4].iter().flat_map(|v| v.to_be_bytes()).collect(), vec![-300.0, 2.0, 3.0, 4.0]),
        (0x09, vec![0xff, 1, 0x80, 0x7f], vec![-1.0, 1.0, -128.0, 127.0]),
    ];
    for (code, data, expect) in cases {
        let p = dir.join(format!("t{code:02x}.idx"));
        fs::write(&p, idx_bytes(code, &[2, 2], &data)).unwrap();
        let x = load_idx::<f64>(&p).unwrap();
        assert_eq!(x.dims(), &[2, 2], "type {code:#x}");
        assert_eq!(x.to_vec().unwrap(), expect, "type {code:#x}");
    }
    // Rank 4 flattens the trailing dimensions.
    let p = dir.join("rank4.idx");
    fs::write(&p, idx_bytes(0x08, &[2, 1, 2, 2], &[1; 8])).unwrap();
    assert_eq!(load_idx::<f32>(&p).unwrap().dims(), &[2, 4]);
}

#[test]
fn idx_bad_inputs_are_errors() {
    let dir = scratch("idx_bad");
    assert_err(load_idx::<f32>(dir.join("missing.idx")), "io", "missing.idx");
    let nan: Vec<u8> = [1.0f32, f32::NAN].iter().flat_map(|v| v.to_be_bytes()).collect();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("empty.idx", vec![], "format", "too short"),
        ("magic.idx", vec![1, 2, 8, 1, 0, 0, 0, 1, 5], "format", "magic"),
        ("type.idx", idx_bytes(0x0A, &[1], &[0]), "format", "element type"),
        ("rank0.idx", vec![0, 0, 8, 0], "format", "rank 0"),
        ("dims.idx", vec![0, 0, 8, 3, 0, 0, 0, 2], "format", "truncated"),
        ("short.idx", idx_bytes(0x08, &[2, 28, 28], &[0; 1000]), "format", "truncated"),
        ("long.idx", idx_bytes(0x08, &[2], &[0; 3]), "format", "holds 3"),
        ("huge.idx", idx_bytes(0x0E, &[u32::MAX, u32::MAX, u32::MAX], &[0; 8]), "format", "too many"),
        ("nan.idx", idx_bytes(0x0D, &[1, 2], &nan), "nonfinite", "row 0, column 1"),
    ];
    for (name, bytes, kind, needle) in cases {
        let p = dir.join(name);
        fs::write(&p, &bytes).unwrap();
        assert_err(load_idx::<f32>(&p), kind, needle);
        assert_err(load_idx::<f32>(&p), kind, name);
    }
}

// ----- loaders: CSV ---------------------------------------------------------

#[test]
fn csv_reads_headers_separators_and_gzip() {
    let dir = scratch("csv_read");
    let p = dir.join("header.csv");
    fs::write(&p, "x,y,z\r\n1,2,3\r\n\r\n# a comment\r\n4.5, -6e2 ,7\r\n").unwrap();
    let x = load_csv::<f64>(&p).unwrap();
    assert_eq!(x.dims(), &[2, 3]);
    assert_eq!(x.to_vec().unwrap(), vec![1.0, 2.0, 3.0, 4.5, -600.0, 7.0]);
    let p = dir.join("plain.txt.csv");
    fs::write(&p, "1 2\n3\t4\n  5   6  \n").unwrap();
    let x = load_csv::<f32>(&p).unwrap();
    assert_eq!(x.dims(), &[3, 2]);
    assert_eq!(x.to_vec().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let p = dir.join("data.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"a b\n0.25 8\n").unwrap();
    fs::write(&p, gz.finish().unwrap()).unwrap();
    assert_eq!(load_csv::<f64>(&p).unwrap().to_vec().unwrap(), vec![0.25, 8.0]);
}

#[test]
fn csv_bad_inputs_are_errors() {
    let dir = scratch("csv_bad");
    assert_err(load_csv::<f32>(dir.join("missing.csv")), "io", "missing.csv");
    let cases: [(&str, &[u8], &str, &str); 9] = [
        ("empty.csv", b"", "format", "no data rows"),
        ("header_only.csv", b"a,b,c\n", "format", "no data rows"),
        ("ragged.csv", b"a,b\n1,2\n3,4\n5\n", "format", "line 4 has 1 cells"),
        ("text.csv", b"1,2\n3,four\n", "format", "line 2, column 2: 'four'"),
        ("blank_cell.csv", b"1,2\n3,\n", "format", "line 2, column 2"),
        ("nan.csv", b"x,y\n1,2\n3,NaN\n", "nonfinite", "line 3, column 2"),
        ("inf.csv", b"1 inf\n", "nonfinite", "line 1, column 2"),
        ("binary.csv", b"\xff\xfe\x00\x01", "format", "UTF-8"),
        ("bad.csv.gz", b"not gzip at all", "format", "gzip"),
    ];
    for (name, bytes, kind, needle) in cases {
        let p = dir.join(name);
        fs::write(&p, bytes).unwrap();
        assert_err(load_csv::<f32>(&p), kind, needle);
        assert_err(load_csv::<f32>(&p), kind, name);
    }
}

// ----- standardization -------------------------------------------------------

/// NLL (nats per row) of `x` under `N(μ, diag σ²)`.
fn gaussian_nll(x: &[f64], mu: &[f64], sd: &[f64]) -> f64 {
    let d = mu.len();
    let n = x.len() / d;
    x.chunks(d)
        .map(|p| {
            (0..d).map(|i| 0.5 * (2.0 * PI).ln() + sd[i].ln() + 0.5 * ((p[i] - mu[i]) / sd[i]).powi(2)).sum::<f64>()
        })
        .sum::<f64>()
        / n as f64
}

#[test]
fn standardization_log_det_carries_nll_between_units() {
    let (mu, sd) = ([3.0, -20.0, 0.5], [2.0, 40.0, 0.01]);
    let mut rng = Rng::seed(41);
    let n = 2000;
    let v: Vec<f64> = (0..n).flat_map(|_| (0..3).map(|i| mu[i] + sd[i] * rng.normal()).collect::<Vec<_>>()).collect();
    let x = Tensor::<f64>::from_vec(v.clone(), [n, 3]).unwrap();
    let s = Standardizer::fit(&x).unwrap();
    let z = s.apply(&x).unwrap();
    let zv = z.to_vec().unwrap();
    for i in 0..3 {
        let col: Vec<f64> = zv.chunks(3).map(|p| p[i]).collect();
        let m = col.iter().sum::<f64>() / n as f64;
        let var = col.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 1e-12 && (var - 1.0).abs() < 1e-12, "column {i}: mean {m}, var {var}");
    }
    for (a, b) in s.invert(&z).unwrap().to_vec().unwrap().iter().zip(&v) {
        assert!((a - b).abs() < 1e-12 * b.abs().max(1.0));
    }
    // The same Gaussian in standardized units is N((μ − m)/s, (σ/s)²): its NLL plus
    // log_det is the NLL in the original units, exactly.
    let nll_x = gaussian_nll(&v, &mu, &sd);
    let mu_z: Vec<f64> = (0..3).map(|i| (mu[i] - s.mean[i]) / s.std[i]).collect();
    let sd_z: Vec<f64> = (0..3).map(|i| sd[i] / s.std[i]).collect();
    let nll_z = gaussian_nll(&zv, &mu_z, &sd_z);
    let log_det: f64 = s.std.iter().map(|v| v.ln()).sum();
    assert!((s.log_det() - log_det).abs() < 1e-15);
    assert!((nll_x - (nll_z + s.log_det())).abs() < 1e-9, "{nll_x} vs {nll_z} + {}", s.log_det());
    // log_det is near Σ log σ_i = log(2 · 40 · 0.01) (sample stds within a few % of σ), far
    // from 0, so the check above would catch the opposite sign.
    assert!((s.log_det() - 0.8f64.ln()).abs() < 0.1, "{}", s.log_det());
}

#[test]
fn standardization_constant_columns_and_bad_inputs() {
    let x = Tensor::<f32>::from_vec(vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0], [3, 2]).unwrap();
    let s = Standardizer::fit(&x).unwrap();
    assert_eq!(s.std[1], STD_FLOOR);
    assert!((s.std[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    let z = s.apply(&x).unwrap().to_vec().unwrap();
    assert!(z.iter().all(|v| v.is_finite()) && z[1] == 0.0 && z[3] == 0.0);
    assert!((s.log_det() - ((2.0f64 / 3.0).sqrt().ln() + STD_FLOOR.ln())).abs() < 1e-12);
    let nan = Tensor::<f64>::from_vec(vec![1.0, f64::NAN], [1, 2]).unwrap();
    assert_err(Standardizer::fit(&nan), "nonfinite", "row 0, column 1");
    assert_err(Standardizer::fit(&Tensor::<f64>::zeros([0, 2])), "shape", "non-empty");
    assert_err(s.apply(&Tensor::<f32>::zeros([2, 3])), "shape", "2 columns");
    assert_err(Standardizer::new(vec![0.0], vec![0.0]), "invalid", "positive");
}

// ----- real data ---------------------------------------------------------------

#[test]
fn digits_are_scikit_learns() {
    let d = digits::<f32>().unwrap();
    assert_eq!(d.x.dims(), &[1797, 64]);
    assert_eq!(d.image_shape, (8, 8));
    let x = d.x.to_vec().unwrap();
    assert!(x.iter().all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0));
    // sklearn.datasets.load_digits(): images[0][0] and the class counts.
    assert_eq!(&x[..8], &[0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
    let mut counts = [0usize; 10];
    d.labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    assert_eq!(&d.labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn ecg_windows_cut_the_signal() {
    let s: Vec<f64> = (0..11).map(|i| i as f64).collect();
    let w = ecg_windows::<f64>(&s, 3).unwrap();
    assert_eq!(w.dims(), &[3, 3]);
    assert_eq!(w.to_vec().unwrap(), (0..9).map(|i| i as f64).collect::<Vec<_>>());
    assert_eq!(ecg_windows::<f32>(&s, 11).unwrap().dims(), &[1, 11]);
    assert_err(ecg_windows::<f32>(&s, 0), "invalid", "positive");
    assert_err(ecg_windows::<f32>(&s, 12), "invalid", "longer");
    assert_eq!(ecg_adc_to_mv(1024.0), 0.0);
    assert_eq!(ecg_adc_to_mv(1224.0), 1.0);
}

#[test]
fn installed_ecg_and_mnist_have_their_shapes() {
    if installed("ecg", "ecg.npy") {
        let raw = load_npy::<f64>("datasets/ecg/ecg.npy").unwrap();
        assert_eq!(raw.dims(), &[108000]);
        let e = wasserflow::data::ecg::<f32>("datasets/ecg", 256).unwrap();
        assert_eq!(e.dims(), &[421, 256]); // 108000 / 256 = 421.9: the partial window is dropped
        let v = e.to_vec().unwrap();
        let first = raw.to_vec().unwrap()[0];
        assert!((v[0] as f64 - (first - 1024.0) / 200.0).abs() < 1e-6);
        assert!(v.iter().all(|x| x.abs() < 6.0), "ECG beyond ±6 mV");
    }
    if installed("mnist", "images.idx") {
        let m = mnist::<f32>("datasets/mnist").unwrap();
        assert_eq!(m.x.dims(), &[10000, 784]);
        assert_eq!(m.image_shape, (28, 28));
        let mut counts = [0usize; 10];
        m.labels.iter().for_each(|&l| counts[l as usize] += 1);
        assert_eq!(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
        let mean = m.x.to_vec().unwrap().iter().map(|&v| v as f64).sum::<f64>() / 7_840_000.0 / 255.0;
        assert!((mean - 0.1311).abs() < 1e-3, "mean pixel {mean}");
    }
}

#[test]
fn mnist_reader_on_small_files_and_its_errors() {
    let dir = scratch("mnist_small");
    assert_err(mnist::<f32>(&dir), "io", "install.sh");
    fs::write(dir.join("images.idx"), idx_bytes(0x08, &[3, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])).unwrap();
    fs::write(dir.join("labels.idx"), idx_bytes(0x08, &[3], &[7, 0, 9])).unwrap();
    let m = mnist::<f64>(&dir).unwrap();
    assert_eq!(m.x.dims(), &[3, 4]);
    assert_eq!(m.labels, vec![7, 0, 9]);
    assert_eq!(m.image_shape, (2, 2));
    fs::write(dir.join("labels.idx"), idx_bytes(0x08, &[2], &[7, 0])).unwrap();
    assert_err(mnist::<f64>(&dir), "format", "labels.idx");
    fs::write(dir.join("labels.idx"), idx_bytes(0x08, &[3], &[7, 0, 12])).unwrap();
    assert_err(mnist::<f64>(&dir), "format", "not a digit");
}

// ----- DataSource ------------------------------------------------------------------

fn same<T: PartialEq + std::fmt::Debug>(a: T, b: T, what: &str) {
    assert_eq!(a, b, "{what}");
}

fn write_files(dir: &Path) -> Vec<String> {
    let csv = dir.join("rows.csv");
    let mut text = String::from("a,b\n");
    for i in 0..40 {
        text += &format!("{i},{}\n", 2 * i);
    }
    fs::write(&csv, text).unwrap();
    let npy = dir.join("rows.npy");
    save_npy(&npy, &Tensor::<f64>::from_vec((0..30).map(|i| i as f64).collect(), [30]).unwrap()).unwrap();
    let idx = dir.join("rows.idx");
    fs::write(&idx, idx_bytes(0x08, &[5, 2, 3], &(0..30).collect::<Vec<u8>>())).unwrap();
    let png = dir.join("pic.png");
    gray8(&png, 3, 2, &[0, 40, 255, 90, 255, 200]);
    vec![csv, npy, idx].into_iter().map(|p| p.display().to_string()).chain([format!("png:{}", png.display())]).collect()
}

#[test]
fn every_offline_source_is_reproducible_by_seed() {
    let dir = scratch("source_seeds");
    let mut specs: Vec<String> = Toy::ALL.iter().map(|t| t.name().to_string()).collect();
    specs.extend(["fig10-p", "fig10-q", "gmm-8gaussians", "digits"].map(String::from));
    specs.extend(write_files(&dir));
    if shared("rose.png").is_some() {
        specs.extend(["rose", "tree"].map(String::from));
    }
    if installed("mnist", "images.idx") {
        specs.push("mnist".into());
    }
    if installed("ecg", "ecg.npy") {
        specs.extend(["ecg", "ecg:100"].map(String::from));
    }
    for spec in &specs {
        let s = DataSource::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let d = s.dim().unwrap();
        let a = s.sample::<f64>(64, &mut Rng::seed(1)).unwrap();
        assert_eq!(a.dims(), &[64, d], "{spec}");
        same(a.to_vec().unwrap(), s.sample::<f64>(64, &mut Rng::seed(1)).unwrap().to_vec().unwrap(), spec);
        assert_ne!(a.to_vec().unwrap(), s.sample::<f64>(64, &mut Rng::seed(2)).unwrap().to_vec().unwrap(), "{spec}");
        let (_, t1) = s.train_test::<f32>(4, &mut Rng::seed(3)).unwrap();
        let (_, t2) = s.train_test::<f32>(4, &mut Rng::seed(3)).unwrap();
        let (_, t3) = s.train_test::<f32>(4, &mut Rng::seed(4)).unwrap();
        assert_eq!(t1.dims(), &[4, d], "{spec}");
        same(t1.to_vec().unwrap(), t2.to_vec().unwrap(), spec);
        assert_ne!(t1.to_vec().unwrap(), t3.to_vec().unwrap(), "{spec}");
    }
}

#[test]
fn source_names_dims_and_densities() {
    for toy in Toy::ALL {
        let s = DataSource::parse(toy.name()).unwrap();
        assert_eq!((s.name(), s.dim().unwrap(), s.is_finite()), (toy.name(), 2, false));
        assert_eq!(s.log_prob(&Tensor::<f64>::zeros([1, 2])).is_some(), toy == Toy::EightGaussians);
    }
    let x = GaussianMixture::fig10_q().sample::<f64>(10, &mut Rng::seed(0)).unwrap();
    for (spec, m) in [
        ("fig10-p", GaussianMixture::fig10_p()),
        ("fig10-q", GaussianMixture::fig10_q()),
        ("gmm-8gaussians", GaussianMixture::eight_gaussians()),
        ("8gaussians", GaussianMixture::eight_gaussians()),
    ] {
        let s = DataSource::parse(spec).unwrap();
        assert_eq!(s.name(), spec);
        assert_eq!(s.log_prob(&x).unwrap().unwrap(), m.log_prob(&x).unwrap(), "{spec}");
        assert_err(s.log_prob(&Tensor::<f64>::zeros([1, 3])).unwrap(), "shape", "2 dimensions");
    }
    let dg = DataSource::parse("digits").unwrap();
    assert_eq!(
        (dg.dim().unwrap(), dg.is_finite(), dg.n_rows(), dg.image_shape()),
        (64, true, Some(1797), Some((8, 8)))
    );
    assert!(dg.log_prob(&Tensor::<f64>::zeros([1, 64])).is_none());
    assert_eq!(dg.labels().unwrap().len(), 1797);

    let dir = scratch("source_files");
    let files = write_files(&dir);
    let csv = DataSource::parse(&files[0]).unwrap();
    assert_eq!((csv.dim().unwrap(), csv.n_rows(), csv.image_shape()), (2, Some(40), None));
    let npy = DataSource::parse(&files[1]).unwrap();
    assert_eq!((npy.dim().unwrap(), npy.n_rows()), (1, Some(30)), "a 1-D array is a column of points");
    let idx = DataSource::parse(&files[2]).unwrap();
    assert_eq!((idx.dim().unwrap(), idx.n_rows(), idx.image_shape()), (6, Some(5), Some((2, 3))));
    let png = DataSource::parse(&files[3]).unwrap();
    assert_eq!((png.name(), png.dim().unwrap(), png.is_finite()), (files[3].as_str(), 2, false));
    if shared("rose.png").is_some() {
        assert_eq!(DataSource::parse("rose").unwrap().name(), "rose");
    }
}

#[test]
fn source_bad_names_and_files_are_errors() {
    assert_err(DataSource::parse("checkerbored"), "invalid", "checkerboard");
    assert_err(DataSource::parse("mnist2"), "invalid", "png:<path>");
    assert_err(DataSource::parse("data.parquet"), "invalid", ".npy");
    assert_err(DataSource::parse("ecg:0"), "invalid", "window");
    assert_err(DataSource::parse("ecg:abc"), "invalid", "window");
    assert_err(DataSource::parse("png:/nonexistent/x.png"), "io", "x.png");
    assert_err(DataSource::parse("/nonexistent/x.npy"), "io", "x.npy");
    let dir = scratch("source_bad");
    let nan = dir.join("nan.npy");
    save_npy(&nan, &Tensor::<f32>::from_vec(vec![1.0, f32::NAN], [1, 2]).unwrap()).unwrap();
    assert_err(DataSource::parse(&nan.display().to_string()), "nonfinite", "nan.npy");
    let csv = dir.join("ragged.csv");
    fs::write(&csv, "1,2\n3\n").unwrap();
    assert_err(DataSource::parse(&csv.display().to_string()), "format", "ragged.csv");
    let empty = dir.join("empty.npy");
    save_npy(&empty, &Tensor::<f64>::zeros([0, 3])).unwrap();
    assert_err(DataSource::parse(&empty.display().to_string()), "invalid", "empty");
}

#[test]
fn finite_train_test_split_is_disjoint_and_sampling_stays_in_train() {
    let dir = scratch("source_split");
    let files = write_files(&dir);
    let s = DataSource::parse(&files[0]).unwrap(); // rows (i, 2i), i = 0..40
    let (train, test) = s.train_test::<f64>(10, &mut Rng::seed(8)).unwrap();
    assert_eq!(train.n_rows(), Some(30));
    let id = |t: &Tensor<f64>| t.to_vec().unwrap().chunks(2).map(|p| p[0] as usize).collect::<Vec<_>>();
    let test_ids = id(&test);
    let mut all = [test_ids.clone(), id(&train.rows::<f64>().unwrap().unwrap())].concat();
    all.sort();
    assert_eq!(all, (0..40).collect::<Vec<_>>(), "train and test partition the rows");
    let drawn = id(&train.sample::<f64>(2000, &mut Rng::seed(9)).unwrap());
    assert!(drawn.iter().all(|i| !test_ids.contains(i)), "a test row was drawn for training");
    let mut seen: Vec<usize> = drawn.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30, "2000 draws with replacement reach all 30 train rows");
    assert_err(s.train_test::<f64>(40, &mut Rng::seed(1)), "invalid", "none would be left");

    // Labels follow their rows through the split.
    let dg = DataSource::parse("digits").unwrap();
    let (train, _) = dg.train_test::<f32>(797, &mut Rng::seed(2)).unwrap();
    let full = digits::<f32>().unwrap();
    let rows = train.rows::<f32>().unwrap().unwrap().to_vec().unwrap();
    let labels = train.labels().unwrap();
    assert_eq!(labels.len(), 1000);
    let fx = full.x.to_vec().unwrap();
    for (row, &l) in rows.chunks(64).zip(&labels).take(50) {
        let k = fx.chunks(64).position(|r| r == row).unwrap();
        assert_eq!(full.labels[k], l);
    }

    // A generator's test set is fresh samples and its train source is itself.
    let g = DataSource::parse("fig10-p").unwrap();
    let (train, test) = g.train_test::<f64>(7, &mut Rng::seed(5)).unwrap();
    assert_eq!(train.name(), "fig10-p");
    assert_eq!(test.to_vec().unwrap(), g.sample::<f64>(7, &mut Rng::seed(5)).unwrap().to_vec().unwrap());
}
