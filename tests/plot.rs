//! Tests of the PNG figures: each figure function writes a file that decodes
//! to the expected size with data drawn where it belongs (a point under its
//! pixel, a heatmap brightest at the density's peak, an image grid holding
//! the input pixels), text leaves ink, and bad input is an error that
//! leaves no file. `preview_figures` (ignored) renders every figure on
//! realistic data to /tmp/plot-preview for looking at.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasserflow::Error;
use wasserflow::Rng;
use wasserflow::plot::axes;
use wasserflow::plot::canvas::{Align, Canvas, Rect, TextStyle, WHITE};
use wasserflow::plot::colormap::{self, Colormap};
use wasserflow::plot::{self, Extent, Style, font};

/// A fresh empty directory under the system temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("wasserflow-plot-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A decoded RGBA image.
struct Image {
    width: usize,
    height: usize,
    rgba: Vec<u8>,
}

impl Image {
    fn at(&self, x: usize, y: usize) -> [u8; 4] {
        let i = (y * self.width + x) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }

    fn is_white(&self, x: usize, y: usize) -> bool {
        self.at(x, y) == WHITE
    }
}

fn decode(path: &Path) -> Image {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    Image { width: info.width as usize, height: info.height as usize, rgba: buf }
}

/// Files in `dir` (to check that failed writes leave nothing behind).
fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}

/// Pixels whose colour is exactly `color`.
fn find_color(img: &Image, color: [u8; 4]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for y in 0..img.height {
        for x in 0..img.width {
            if img.at(x, y) == color {
                out.push((x, y));
            }
        }
    }
    out
}

/// Panel frames as (x0, y0, x1, y1), the outline's own pixels: the
/// top-left corners of frame-coloured runs at least 60 pixels long both to
/// the right and downwards. The panel's drawing area lies strictly inside.
fn panel_frames(img: &Image) -> Vec<(usize, usize, usize, usize)> {
    let f = axes::FRAME_COLOR;
    let mut frames = Vec::new();
    for y in 0..img.height {
        let mut x = 0;
        while x < img.width {
            if img.at(x, y) == f && (x == 0 || img.at(x - 1, y) != f) {
                let mut x1 = x;
                while x1 + 1 < img.width && img.at(x1 + 1, y) == f {
                    x1 += 1;
                }
                let mut y1 = y;
                while y1 + 1 < img.height && img.at(x, y1 + 1) == f {
                    y1 += 1;
                }
                if x1 - x >= 60 && y1 - y >= 60 && (y == 0 || img.at(x + 5, y - 1) != f) {
                    frames.push((x, y, x1, y1));
                }
                x = x1 + 1;
            } else {
                x += 1;
            }
        }
    }
    frames
}

/// Pixel position of the data point (x, y) in the panel drawn inside
/// `frame`, showing `extent`; worked out here, independently of the
/// library's transform: x grows to the right, y upwards.
fn data_to_px(frame: (usize, usize, usize, usize), extent: Extent, x: f64, y: f64) -> (f64, f64) {
    let (x0, y0, x1, y1) = frame;
    let (w, h) = ((x1 - x0 - 1) as f64, (y1 - y0 - 1) as f64);
    let px = (x0 + 1) as f64 + (x - extent.x_min) / (extent.x_max - extent.x_min) * w;
    let py = y1 as f64 - (y - extent.y_min) / (extent.y_max - extent.y_min) * h;
    (px, py)
}

#[test]
fn canvas_point_changes_the_pixel_under_it_only_nearby() {
    let mut c = Canvas::new(50, 40, WHITE).unwrap();
    c.fill_circle(20.5, 10.5, 1.5, [255, 0, 0, 255]);
    assert_eq!(c.pixel(20, 10).unwrap(), [255, 0, 0, 255]);
    assert_eq!(c.pixel(25, 10).unwrap(), WHITE);
    assert_eq!(c.pixel(20, 15).unwrap(), WHITE);
    // Half-transparent black over white is mid-grey.
    c.fill_rect(Rect::new(0.0, 30.0, 10.0, 10.0), [0, 0, 0, 128]);
    let p = c.pixel(5, 35).unwrap();
    assert!((p[0] as i32 - 127).abs() <= 1, "{p:?}");
    assert_eq!(p[3], 255);
}

#[test]
fn lines_cover_their_path_and_respect_the_clip() {
    let mut c = Canvas::new(100, 100, WHITE).unwrap();
    c.set_clip(Some(Rect::new(0.0, 0.0, 50.0, 100.0)));
    c.line((10.0, 50.5), (90.0, 50.5), 1.0, [0, 0, 255, 255]);
    assert_eq!(c.pixel(30, 50).unwrap(), [0, 0, 255, 255]);
    assert_eq!(c.pixel(30, 52).unwrap(), WHITE);
    assert_eq!(c.pixel(70, 50).unwrap(), WHITE, "outside the clip");
    c.set_clip(None);
    // A diagonal: every pixel on the diagonal is inked.
    c.line((5.5, 5.5), (45.5, 45.5), 1.5, [0, 0, 0, 255]);
    for k in 5..=45 {
        assert!(c.pixel(k, k).unwrap()[0] < 80, "pixel ({k}, {k})");
    }
    // Translucent polyline joints are blended once, not twice.
    let mut d = Canvas::new(60, 20, WHITE).unwrap();
    d.polyline(&[(5.0, 10.5), (30.0, 10.5), (55.0, 10.5)], 1.0, [0, 0, 0, 128]);
    assert_eq!(d.pixel(30, 10), d.pixel(20, 10));
}

#[test]
fn text_leaves_ink_within_its_measured_box() {
    for scale in [1, 2, 3] {
        let text = "W2 = 0.137, KL";
        let (w, h) = (font::text_width(text, scale), font::text_height(scale));
        assert_eq!(h, 9 * scale);
        let mut c = Canvas::new(w + 20, h + 20, WHITE).unwrap();
        c.text(10.0, 10.0, text, TextStyle::new(scale, [0, 0, 0, 255]));
        let mut inked = 0;
        for y in 0..c.height() {
            for x in 0..c.width() {
                if c.pixel(x, y).unwrap() != WHITE {
                    inked += 1;
                    assert!(
                        (10..10 + w).contains(&x) && (10..10 + h).contains(&y),
                        "ink at ({x}, {y}) outside the box"
                    );
                }
            }
        }
        assert!(inked > w * h / 8, "scale {scale}: only {inked} inked pixels");
        // Each glyph is distinct: "1" and "7" differ.
        assert_ne!(font::render("1", scale).coverage, font::render("7", scale).coverage);
    }
    // Vertical text occupies a box of the transposed size.
    let mut c = Canvas::new(40, 80, WHITE).unwrap();
    c.text_vertical(20.0, 40.0, "loss", TextStyle::new(2, [0, 0, 0, 255]).align(Align::Center, Align::Center));
    let ink: Vec<(usize, usize)> =
        (0..80).flat_map(|y| (0..40).map(move |x| (x, y))).filter(|&(x, y)| c.pixel(x, y).unwrap() != WHITE).collect();
    let (ys, xs): (Vec<usize>, Vec<usize>) = (ink.iter().map(|p| p.1).collect(), ink.iter().map(|p| p.0).collect());
    let tall = ys.iter().max().unwrap() - ys.iter().min().unwrap();
    let wide = xs.iter().max().unwrap() - xs.iter().min().unwrap();
    assert!(tall > 2 * wide, "vertical text is {wide} wide and {tall} tall");
}

#[test]
fn nice_ticks_and_labels() {
    assert_eq!(axes::nice_ticks(-4.0, 4.0, 4), vec![-4.0, -2.0, 0.0, 2.0, 4.0]);
    assert_eq!(axes::nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    assert_eq!(axes::format_ticks(&axes::nice_ticks(0.0, 1.0, 5)), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    assert_eq!(axes::format_ticks(&[0.0, 10000.0, 20000.0]), ["0k", "10k", "20k"]);
    assert_eq!(axes::format_ticks(&[-0.5, 0.0, 0.5]), ["-0.5", "0.0", "0.5"]);
    assert_eq!(axes::format_ticks(&[0.0, 2e-5, 4e-5]), ["0", "2e-5", "4e-5"]);
    // Every tick is a multiple of one nice step inside the range.
    for (lo, hi) in [(0.013, 0.97), (-3.3, 12.8), (1.0, 2000.0), (-1e-3, 2e-3)] {
        let t = axes::nice_ticks(lo, hi, 5);
        assert!(t.len() >= 3 && t.len() <= 11, "{lo}..{hi}: {t:?}");
        assert!(t.iter().all(|&v| v >= lo && v <= hi));
        let step = t[1] - t[0];
        let m = step / 10f64.powf(step.log10().floor());
        assert!([1.0, 2.0, 5.0].iter().any(|n| (m - n).abs() < 1e-6), "step {step}");
    }
    let log = axes::log_ticks(0.003, 20.0);
    let major: Vec<f64> = log.iter().filter(|t| t.1).map(|t| t.0).collect();
    assert_eq!(major, vec![0.01, 0.1, 1.0, 10.0]);
}

#[test]
fn colormaps_are_ordered_lookups() {
    assert_eq!(colormap::viridis(0.0), [68, 1, 84, 255]);
    assert_eq!(colormap::viridis(1.0), [253, 231, 37, 255]);
    // Viridis brightens monotonically (its lightness rises from end to end).
    let luma = |c: [u8; 4]| 0.299 * c[0] as f64 + 0.587 * c[1] as f64 + 0.114 * c[2] as f64;
    for k in 0..20 {
        assert!(luma(colormap::viridis(k as f64 / 20.0)) < luma(colormap::viridis((k + 1) as f64 / 20.0)));
    }
    let mid = Colormap::Diverging.color(0.5);
    assert!(mid[0] > 240 && mid[1] > 240 && mid[2] > 240, "{mid:?}");
    assert!(Colormap::Diverging.color(0.0)[2] > Colormap::Diverging.color(0.0)[0], "low end is blue");
    assert!(Colormap::Diverging.color(1.0)[0] > Colormap::Diverging.color(1.0)[2], "high end is red");
    assert_eq!(colormap::viridis(f64::NAN), colormap::viridis(0.0));
    assert_eq!(colormap::viridis(7.0), colormap::viridis(1.0));
}

#[test]
fn scatter_point_lands_under_its_pixel() {
    let dir = temp_dir("scatter");
    let path = dir.join("scatter.png");
    let extent = Extent::square(4.0).unwrap();
    // One point per panel at known spots; the second panel's point also has
    // NaN companions, which are skipped.
    let data = [[2.0, 2.0]];
    let samples = [[-3.0, -1.0], [f64::NAN, 0.0], [0.0, f64::INFINITY]];
    plot::samples_beside_data(&path, &data, &samples, extent, ["data", "samples"], Style::Scatter).unwrap();
    let img = decode(&path);
    let frames = panel_frames(&img);
    assert_eq!(frames.len(), 2, "{frames:?}");
    for (&frame, p) in frames.iter().zip([data[0], samples[0]]) {
        let (px, py) = data_to_px(frame, extent, p[0], p[1]);
        assert!(!img.is_white(px as usize, py as usize), "no ink under point {p:?} at ({px}, {py})");
        // Far from the point the panel is background.
        let (qx, qy) = data_to_px(frame, extent, -p[0], -p[1]);
        assert!(img.is_white(qx as usize, qy as usize));
    }
    // The two panels have equal size and sit side by side.
    assert_eq!(frames[0].2 - frames[0].0, frames[1].2 - frames[1].0);
    assert_eq!(frames[0].1, frames[1].1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn histogram_counts_show_as_viridis() {
    let dir = temp_dir("hist");
    let path = dir.join("hist.png");
    let extent = Extent::square(1.0).unwrap();
    // All points in the bin around (0.5, 0.5) of a 2×2 histogram: that
    // quarter is the brightest colour, the others the darkest.
    let pts = vec![[0.5, 0.5]; 50];
    plot::point_panels(&path, &[("", &pts)], extent, Style::Histogram { bins: 2 }).unwrap();
    let img = decode(&path);
    let (x0, y0, x1, y1) = panel_frames(&img)[0];
    let (qx, qy) = ((x1 - x0) / 4, (y1 - y0) / 4);
    assert_eq!(img.at(x1 - qx, y0 + qy), colormap::viridis(1.0), "upper right");
    assert_eq!(img.at(x0 + qx, y1 - qy), colormap::viridis(0.0), "lower left");
    assert_eq!(img.at(x0 + qx, y0 + qy), colormap::viridis(0.0), "upper left");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn heatmap_is_brightest_at_the_density_peak() {
    let dir = temp_dir("heat");
    let path = dir.join("density.png");
    let extent = Extent::new(-3.0, 3.0, -2.0, 4.0).unwrap();
    let (nx, ny) = (60, 50);
    let peak = [1.0, 2.5];
    let log_p: Vec<f64> = plot::grid_points(nx, ny, extent)
        .iter()
        .map(|p| -((p[0] - peak[0]).powi(2) + (p[1] - peak[1]).powi(2)) / (2.0 * 0.3f64.powi(2)))
        .collect();
    plot::density_heatmap(&path, &log_p, nx, ny, extent, "N((1, 2.5), 0.3^2)", true).unwrap();
    let img = decode(&path);
    let (x0, y0, x1, y1) = panel_frames(&img)[0];
    let luma = |c: [u8; 4]| c[0] as u32 + c[1] as u32 + c[2] as u32;
    let mut best = (0, 0, 0);
    for y in y0 + 1..y1 {
        for x in x0 + 1..x1 {
            let l = luma(img.at(x, y));
            if l > best.0 {
                best = (l, x, y);
            }
        }
    }
    let (px, py) = data_to_px((x0, y0, x1, y1), extent, peak[0], peak[1]);
    let dist = ((best.1 as f64 + 0.5 - px).powi(2) + (best.2 as f64 + 0.5 - py).powi(2)).sqrt();
    assert!(dist < 4.0, "brightest pixel ({}, {}) is {dist:.1} px from the peak ({px:.1}, {py:.1})", best.1, best.2);
    // Far from the peak the density is ~0: the darkest viridis colour.
    assert_eq!(img.at(x0 + 3, y1 - 3), colormap::viridis(0.0));
    // The colour bar, 16 pixels right of the panel, runs from yellow (top) to purple.
    let near = |a: [u8; 4], b: [u8; 4]| a.iter().zip(&b).all(|(x, y)| (*x as i32 - *y as i32).abs() <= 6);
    assert!(near(img.at(x1 + 23, y0 + 2), colormap::viridis(1.0)), "{:?}", img.at(x1 + 23, y0 + 2));
    assert!(near(img.at(x1 + 23, y1 - 2), colormap::viridis(0.0)), "{:?}", img.at(x1 + 23, y1 - 2));

    // Grid errors: wrong length, NaN, all −∞; none leaves a file.
    let bad = dir.join("bad.png");
    assert!(matches!(plot::density_heatmap(&bad, &log_p[1..], nx, ny, extent, "", false), Err(Error::Shape(_))));
    let mut with_nan = log_p.clone();
    with_nan[7] = f64::NAN;
    assert!(matches!(plot::density_heatmap(&bad, &with_nan, nx, ny, extent, "", false), Err(Error::NonFinite(_))));
    let zero = vec![f64::NEG_INFINITY; nx * ny];
    assert!(matches!(plot::density_heatmap(&bad, &zero, nx, ny, extent, "", false), Err(Error::NonFinite(_))));
    assert!(!bad.exists());
    // A diverging map puts negative values on the blue side.
    let signed: Vec<f64> = plot::grid_points(nx, ny, extent).iter().map(|p| p[0]).collect();
    plot::heatmap(&bad, &signed, nx, ny, extent, "x", Colormap::Diverging).unwrap();
    let img = decode(&bad);
    let (x0, y0, _, y1) = panel_frames(&img)[0];
    let left = img.at(x0 + 3, (y0 + y1) / 2);
    assert!(left[2] > left[0], "{left:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn trajectories_mark_start_and_end() {
    let dir = temp_dir("traj");
    let path = dir.join("traj.png");
    let extent = Extent::square(2.0).unwrap();
    let start = [-1.0, -1.0];
    let end = [1.0, 1.0];
    let snapshots: Vec<Vec<[f64; 2]>> = (0..=10)
        .map(|t| t as f64 / 10.0)
        .map(|s| vec![[start[0] + 2.0 * s, start[1] + 2.0 * s], [f64::NAN, s]])
        .collect();
    plot::trajectories(&path, &snapshots, extent, "forward").unwrap();
    let img = decode(&path);
    let frame = panel_frames(&img)[0];
    let (sx, sy) = data_to_px(frame, extent, start[0], start[1]);
    let (ex, ey) = data_to_px(frame, extent, end[0], end[1]);
    let (mx, my) = data_to_px(frame, extent, 0.0, 0.0);
    let s = img.at(sx as usize, sy as usize);
    let e = img.at(ex as usize, ey as usize);
    assert!(s[0] < 80 && s[1] < 80 && s[2] < 80, "start is dark: {s:?}");
    assert!(e[0] > 180 && e[1] < 120, "end is red: {e:?}");
    assert!(!img.is_white(mx as usize, my as usize), "the path passes the middle");
    let (ox, oy) = data_to_px(frame, extent, 1.0, -1.0);
    assert!(img.is_white(ox as usize, oy as usize));

    // Per-block panels: one frame per block.
    let blocks = vec![snapshots.clone(), snapshots.clone(), snapshots];
    plot::trajectory_panels(&path, &blocks, &["block 1", "block 2", "block 3"], extent).unwrap();
    assert_eq!(panel_frames(&decode(&path)).len(), 3);

    // Ragged snapshots are a shape error; all-NaN particles an error.
    let ragged = vec![vec![[0.0, 0.0]; 3], vec![[0.0, 0.0]; 2]];
    let bad = dir.join("bad.png");
    assert!(matches!(plot::trajectories(&bad, &ragged, extent, ""), Err(Error::Shape(_))));
    let nan = vec![vec![[f64::NAN, 0.0]]; 3];
    assert!(matches!(plot::trajectories(&bad, &nan, extent, ""), Err(Error::NonFinite(_))));
    assert!(matches!(plot::trajectories(&bad, &[], extent, ""), Err(Error::InvalidArgument(_))));
    assert!(!bad.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn loss_curves_draw_each_series_in_its_colour() {
    let dir = temp_dir("loss");
    let path = dir.join("loss.png");
    let a: Vec<f64> = (0..200).map(|i| 2.0 * (-(i as f64) / 50.0).exp() + 0.1).collect();
    let mut b: Vec<f64> = (0..150).map(|i| 1.5 - i as f64 / 200.0).collect();
    b[40] = f64::NAN;
    plot::loss_curves(&path, &[("train", &a), ("test", &b)], "loss", false, 0).unwrap();
    let img = decode(&path);
    let n_a = find_color(&img, colormap::series_color(0)).len();
    let n_b = find_color(&img, colormap::series_color(1)).len();
    assert!(n_a > 150 && n_b > 150, "series pixels: {n_a}, {n_b}");
    // The x axis spans the longer series: series a reaches the right edge.
    let (_, y0, x1, y1) = panel_frames(&img)[0];
    let right: Vec<_> = (y0..y1).filter(|&y| img.at(x1 - 2, y) == colormap::series_color(0)).collect();
    assert!(!right.is_empty(), "series a reaches the last iteration");

    // Log scale and smoothing still draw; non-positive values are skipped.
    let mut c = a.clone();
    c[3] = 0.0;
    c[4] = -1.0;
    plot::loss_curves(&path, &[("nll", &c)], "log", true, 20).unwrap();
    assert!(find_color(&decode(&path), colormap::series_color(0)).len() > 200);

    let bad = dir.join("bad.png");
    assert!(matches!(plot::loss_curves(&bad, &[], "", false, 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(plot::loss_curves(&bad, &[("x", &[])], "", false, 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(plot::loss_curves(&bad, &[("x", &[f64::NAN, -1.0])], "", true, 0), Err(Error::NonFinite(_))));
    assert!(!bad.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn image_grid_reproduces_the_input_pixels() {
    let dir = temp_dir("grid");
    let path = dir.join("grid.png");
    let (h, w, n, cols) = (5, 7, 7, 3);
    // Each pixel value is k/255 for a distinct k, so gray level k must come back.
    let images: Vec<Vec<f64>> =
        (0..n).map(|i| (0..h * w).map(|p| ((i * 31 + p * 7) % 256) as f64 / 255.0).collect()).collect();
    plot::image_grid(&path, &images, h, w, cols, "samples", None).unwrap();
    let g = plot::image_grid_geometry(n, h, w, cols, "samples").unwrap();
    let img = decode(&path);
    assert_eq!((img.width, img.height), (g.width, g.height));
    assert_eq!(g.cols, cols);
    for (k, image) in images.iter().enumerate() {
        for r in 0..h {
            for c in 0..w {
                let level = (image[r * w + c] * 255.0).round() as u8;
                // Both the first and the last pixel of each enlarged block.
                for (dx, dy) in [(0, 0), (g.scale - 1, g.scale - 1)] {
                    let x = g.origin.0 + (k % cols) * g.pitch.0 + c * g.scale + dx;
                    let y = g.origin.1 + (k / cols) * g.pitch.1 + r * g.scale + dy;
                    assert_eq!(img.at(x, y), [level, level, level, 255], "image {k} pixel ({r}, {c})");
                }
            }
        }
    }
    // A custom range maps its ends to black and white.
    let two = vec![vec![-1.0, 1.0]];
    plot::image_grid(&path, &two, 1, 2, 1, "", Some((-1.0, 1.0))).unwrap();
    let g = plot::image_grid_geometry(1, 1, 2, 1, "").unwrap();
    let img = decode(&path);
    assert_eq!(img.at(g.origin.0, g.origin.1), [0, 0, 0, 255]);
    assert_eq!(img.at(g.origin.0 + g.scale, g.origin.1), [255, 255, 255, 255]);

    let bad = dir.join("bad.png");
    assert!(matches!(plot::image_grid(&bad, &[vec![0.0; 3]], 2, 2, 1, "", None), Err(Error::Shape(_))));
    assert!(matches!(plot::image_grid(&bad, &[vec![f64::NAN; 4]], 2, 2, 1, "", None), Err(Error::NonFinite(_))));
    assert!(matches!(plot::image_grid(&bad, &[], 2, 2, 1, "", None), Err(Error::InvalidArgument(_))));
    assert!(!bad.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ecg_traces_stack_real_and_generated() {
    let dir = temp_dir("ecg");
    let path = dir.join("ecg.png");
    let fs = 360.0;
    let trace = |phase: f64| -> Vec<f64> { (0..720).map(|i| (i as f64 / fs * 6.0 + phase).sin()).collect() };
    plot::ecg_traces(&path, &[trace(0.0), trace(1.0)], &[trace(2.0), trace(3.0)], fs).unwrap();
    let img = decode(&path);
    let frames = panel_frames(&img);
    assert_eq!(frames.len(), 4, "{frames:?}");
    // Generated traces are blue, real ones near-black.
    assert!(find_color(&img, colormap::PALETTE[0]).len() > 200);
    assert!(find_color(&img, [30, 30, 30, 255]).len() > 200);
    let bad = dir.join("bad.png");
    assert!(matches!(plot::ecg_traces(&bad, &[vec![0.0, f64::NAN]], &[], fs), Err(Error::NonFinite(_))));
    assert!(matches!(plot::ecg_traces(&bad, &[], &[], fs), Err(Error::InvalidArgument(_))));
    assert!(matches!(plot::ecg_traces(&bad, &[trace(0.0)], &[], 0.0), Err(Error::InvalidArgument(_))));
    assert!(!bad.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn block_metrics_one_panel_per_metric_with_markers() {
    let dir = temp_dir("blocks");
    let path = dir.join("blocks.png");
    let metrics =
        vec![("W2 moved".to_string(), vec![1.0, 0.5, 0.25, 0.1]), ("KL".to_string(), vec![0.3, f64::NAN, 0.1, 0.05])];
    plot::block_metrics(&path, &metrics, "per-block diagnostics").unwrap();
    let img = decode(&path);
    let frames = panel_frames(&img);
    assert_eq!(frames.len(), 2);
    // A marker sits at block 1's value in the first panel.
    // The y range is the values' range widened by 5% each side.
    let extent = Extent::new(0.5, 4.5, 0.1 - 0.045, 1.0 + 0.045).unwrap();
    let (mx, my) = data_to_px(frames[0], extent, 1.0, 1.0);
    assert_eq!(img.at(mx as usize, my as usize), colormap::series_color(0));
    let bad = dir.join("bad.png");
    let empty = vec![("x".to_string(), vec![])];
    assert!(matches!(plot::block_metrics(&bad, &empty, ""), Err(Error::InvalidArgument(_))));
    let nan = vec![("x".to_string(), vec![f64::NAN])];
    assert!(matches!(plot::block_metrics(&bad, &nan, ""), Err(Error::NonFinite(_))));
    assert!(!bad.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn writing_into_a_missing_directory_is_an_error_and_leaves_nothing() {
    let dir = temp_dir("missing");
    let path = dir.join("no-such-dir").join("fig.png");
    let pts = [[0.0, 0.0]];
    let extent = Extent::square(1.0).unwrap();
    match plot::point_panels(&path, &[("a", &pts)], extent, Style::Scatter) {
        Err(Error::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(!path.exists());
    assert!(entries(&dir).is_empty(), "left behind: {:?}", entries(&dir));
    // Overwriting an existing figure replaces it whole, with no temp files left.
    let ok = dir.join("fig.png");
    std::fs::write(&ok, b"old").unwrap();
    plot::point_panels(&ok, &[("a", &pts)], extent, Style::Scatter).unwrap();
    assert!(decode(&ok).width > 100);
    assert_eq!(entries(&dir), vec![ok]);
    // A path naming a directory is an error too.
    assert!(plot::point_panels(&dir, &[("a", &pts)], extent, Style::Scatter).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_arguments_are_errors() {
    let dir = temp_dir("args");
    let path = dir.join("x.png");
    let pts = [[0.0, 0.0]];
    assert!(Extent::new(1.0, 1.0, 0.0, 1.0).is_err());
    assert!(Extent::new(0.0, f64::NAN, 0.0, 1.0).is_err());
    assert!(Extent::around(&[&[[f64::NAN, 1.0]]]).is_err());
    let e = Extent::around(&[&[[0.0, 0.0], [2.0, 1.0]]]).unwrap();
    assert!(e.contains(0.0, 0.0) && e.contains(2.0, 1.0));
    assert!((e.x_max - e.x_min - (e.y_max - e.y_min)).abs() < 1e-12, "square");
    let extent = Extent::square(1.0).unwrap();
    assert!(matches!(plot::point_panels(&path, &[], extent, Style::Scatter), Err(Error::InvalidArgument(_))));
    assert!(matches!(plot::point_panels(&path, &[("a", &[])], extent, Style::Scatter), Err(Error::InvalidArgument(_))));
    let nan = [[f64::NAN, 0.0]];
    assert!(matches!(plot::point_panels(&path, &[("a", &nan)], extent, Style::Scatter), Err(Error::NonFinite(_))));
    let hist0 = Style::Histogram { bins: 0 };
    assert!(matches!(plot::point_panels(&path, &[("a", &pts)], extent, hist0), Err(Error::InvalidArgument(_))));
    assert!(Canvas::new(0, 10, WHITE).is_err());
    assert!(Canvas::new(Canvas::MAX_SIDE + 1, 10, WHITE).is_err());
    assert!(matches!(
        plot::image_grid(&path, &vec![vec![0.0; 4]; 100_000], 2, 2, 1, "", None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(entries(&dir).is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------
// Preview: every figure on realistic data, for looking at.

fn toy_points(toy: wasserflow::data::Toy, n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut rng = Rng::seed(seed);
    let t = toy.sample::<f64>(n, &mut rng).unwrap();
    t.to_f64_vec().unwrap().chunks(2).map(|c| [c[0], c[1]]).collect()
}

/// A synthetic ECG beat train (P wave, QRS complex, T wave as Gaussians) in mV.
fn synthetic_ecg(seconds: f64, fs: f64, bpm: f64, rng: &mut Rng, noise: f64) -> Vec<f64> {
    let period = 60.0 / bpm;
    let waves = [(0.2, 0.15, 0.025), (0.36, -0.12, 0.008), (0.4, 1.3, 0.01), (0.44, -0.25, 0.01), (0.65, 0.3, 0.04)];
    (0..(seconds * fs) as usize)
        .map(|i| {
            let t = i as f64 / fs;
            let phase = t % period;
            let beat: f64 = waves.iter().map(|&(c, a, s)| a * (-(phase - c).powi(2) / (2.0 * s * s)).exp()).sum();
            beat - 0.1 + 0.05 * (t * 1.3).sin() + noise * rng.normal()
        })
        .collect()
}

/// A digit drawn with the figure font, centred in 28×28 and blurred, as a
/// stand-in for MNIST.
fn digit_image(d: usize, rng: &mut Rng) -> Vec<f64> {
    let bmp = font::render(&d.to_string(), 3);
    let mut img = vec![0.0; 28 * 28];
    let ink_h = font::CAP_HEIGHT * 3;
    let (ox, oy) = (14 - bmp.width / 2 + rng.below(3) - 1, 14 - ink_h / 2 + rng.below(3) - 1);
    for y in 0..ink_h {
        for x in 0..bmp.width {
            img[(oy + y) * 28 + ox + x] = bmp.coverage[y * bmp.width + x] as f64;
        }
    }
    let mut out = vec![0.0; 28 * 28];
    for y in 0..28usize {
        for x in 0..28usize {
            let mut s = 0.0;
            for (dy, dx) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)] {
                let (yy, xx) = (y as isize + dy, x as isize + dx);
                if (0..28).contains(&yy) && (0..28).contains(&xx) {
                    s += img[yy as usize * 28 + xx as usize];
                }
            }
            out[y * 28 + x] = (s / 2.5).min(1.0);
        }
    }
    out
}

#[test]
#[ignore = "writes preview figures to /tmp/plot-preview for inspection"]
fn preview_figures() {
    use wasserflow::data::Toy;
    let out = Path::new("/tmp/plot-preview");
    std::fs::create_dir_all(out).unwrap();
    let mut rng = Rng::seed(7);

    let data = toy_points(Toy::Pinwheel, 20_000, 1);
    let samples: Vec<[f64; 2]> = toy_points(Toy::Pinwheel, 20_000, 2)
        .iter()
        .map(|p| [p[0] * 1.05 + 0.12 * rng.normal(), p[1] * 1.05 + 0.12 * rng.normal()])
        .collect();
    let extent = Extent::square(4.0).unwrap();
    plot::samples_beside_data(
        &out.join("samples_scatter.png"),
        &data[..3000],
        &samples[..3000],
        extent,
        ["Data", "Samples"],
        Style::Scatter,
    )
    .unwrap();
    plot::samples_beside_data(
        &out.join("samples_hist.png"),
        &data,
        &samples,
        extent,
        ["Data", "Samples"],
        Style::Histogram { bins: 100 },
    )
    .unwrap();
    let sets: Vec<(&str, &[[f64; 2]])> =
        vec![("Data", &data[..2000]), ("CNF", &samples[..2000]), ("Flow matching", &samples[2000..4000])];
    plot::point_panels(&out.join("three_panels.png"), &sets, extent, Style::Scatter).unwrap();

    let mix = wasserflow::data::GaussianMixture::eight_gaussians();
    let (nx, ny) = (200, 200);
    let grid = plot::grid_points(nx, ny, extent);
    let flat: Vec<f64> = grid.iter().flat_map(|p| [p[0], p[1]]).collect();
    let log_p = mix.log_prob(&wasserflow::Tensor::<f64>::from_vec(flat, [nx * ny, 2]).unwrap()).unwrap();
    plot::density_heatmap(&out.join("density.png"), &log_p, nx, ny, extent, "Model density (8gaussians)", true)
        .unwrap();
    let ratio: Vec<f64> = grid.iter().map(|p| 0.6 * p[0] - 0.3 * p[1] + 0.4 * (p[0] * p[1]).sin()).collect();
    plot::heatmap(&out.join("log_ratio.png"), &ratio, nx, ny, extent, "log density ratio", Colormap::Diverging)
        .unwrap();

    // An OU flow from moons towards N(0, I), 150 particles, 25 steps.
    let x0 = toy_points(Toy::Moons, 150, 3);
    let z: Vec<[f64; 2]> = (0..150).map(|_| [rng.normal(), rng.normal()]).collect();
    let at = |t: f64| -> Vec<[f64; 2]> {
        let (a, b) = ((-t).exp(), (1.0 - (-2.0 * t).exp()).sqrt());
        x0.iter().zip(&z).map(|(x, z)| [a * x[0] + b * z[0], a * x[1] + b * z[1]]).collect()
    };
    let snaps: Vec<Vec<[f64; 2]>> = (0..=25).map(|k| at(2.0 * k as f64 / 25.0)).collect();
    plot::trajectories(&out.join("trajectories_forward.png"), &snaps, extent, "Forward: data to noise").unwrap();
    let reversed: Vec<_> = snaps.iter().rev().cloned().collect();
    plot::trajectories(&out.join("trajectories_reverse.png"), &reversed, extent, "Reverse: noise to data").unwrap();
    let blocks: Vec<plot::Snapshots> =
        (0..4).map(|b| (0..=8).map(|k| at(0.5 * b as f64 + 0.5 * k as f64 / 8.0)).collect()).collect();
    plot::trajectory_panels(
        &out.join("trajectory_blocks.png"),
        &blocks,
        &["Block 1", "Block 2", "Block 3", "Block 4"],
        extent,
    )
    .unwrap();

    let train: Vec<f64> = (0..3000)
        .map(|i| 2.5 * (-(i as f64) / 400.0).exp() + 1.2 + 0.15 * rng.normal() * (1.0 + (-(i as f64) / 800.0).exp()))
        .collect();
    let test: Vec<f64> = (0..3000).map(|i| 2.5 * (-(i as f64) / 450.0).exp() + 1.3 + 0.05 * rng.normal()).collect();
    plot::loss_curves(&out.join("loss.png"), &[("train NLL", &train), ("test NLL", &test)], "Training loss", false, 50)
        .unwrap();
    let fm: Vec<f64> =
        (0..5000).map(|i| 10.0 * (1.0 + i as f64 / 30.0).powf(-0.9) * (1.0 + 0.2 * rng.normal()).abs()).collect();
    plot::loss_curves(&out.join("loss_log.png"), &[("flow matching", &fm)], "FM loss (log scale)", true, 0).unwrap();

    let digits: Vec<Vec<f64>> = (0..40).map(|i| digit_image(i % 10, &mut rng)).collect();
    plot::image_grid(&out.join("digits.png"), &digits, 28, 28, 10, "Generated samples", None).unwrap();

    let fs = 360.0;
    let real: Vec<Vec<f64>> = (0..3).map(|k| synthetic_ecg(3.0, fs, 68.0 + 6.0 * k as f64, &mut rng, 0.02)).collect();
    let generated: Vec<Vec<f64>> =
        (0..3).map(|k| synthetic_ecg(3.0, fs, 72.0 + 4.0 * k as f64, &mut rng, 0.04)).collect();
    plot::ecg_traces(&out.join("ecg.png"), &real, &generated, fs).unwrap();

    let metrics = vec![
        ("W2 moved".to_string(), (0..10).map(|b| 1.6 * 0.7f64.powi(b)).collect()),
        ("KL estimate".to_string(), (0..10).map(|b| 0.9 * 0.6f64.powi(b) + 0.02).collect()),
        ("test NLL (nats)".to_string(), (0..10).map(|b| 2.8 + 1.5 * 0.55f64.powi(b)).collect()),
    ];
    plot::block_metrics(&out.join("blocks.png"), &metrics, "JKO-iFlow per-block diagnostics").unwrap();

    // The font, for checking glyphs.
    let lines =
        [" !\"#$%&'()*+,-./0123456789:;<=>?@", "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`", "abcdefghijklmnopqrstuvwxyz{|}~"];
    let mut c = Canvas::new(760, 200, WHITE).unwrap();
    for (i, l) in lines.iter().enumerate() {
        c.text(10.0, 10.0 + 30.0 * i as f64, l, TextStyle::new(2, [0, 0, 0, 255]));
        c.text(10.0, 110.0 + 14.0 * i as f64, l, TextStyle::new(1, [0, 0, 0, 255]));
    }
    c.text(10.0, 160.0, "Quick brown fox 3.14", TextStyle::new(3, [0, 0, 0, 255]));
    c.save_png(&out.join("font.png")).unwrap();
}
