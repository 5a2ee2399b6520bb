//! An RGBA raster with the few primitives figures need: alpha-blended
//! anti-aliased discs, lines and polylines, rectangles, text from the
//! built-in bitmap font, and PNG output written atomically.
//!
//! Coordinates are pixels as `f64`, x to the right and y down; pixel (i, j)
//! covers [i, i+1) × [j, j+1), so its centre is (i + 0.5, j + 0.5).

use std::path::Path;

use super::font;
use crate::{Result, invalid_arg};

/// Opaque white.
pub const WHITE: [u8; 4] = [255, 255, 255, 255];
/// Opaque black.
pub const BLACK: [u8; 4] = [0, 0, 0, 255];

/// `color` with its alpha replaced by `alpha` in [0, 1].
pub fn with_alpha(color: [u8; 4], alpha: f64) -> [u8; 4] {
    [color[0], color[1], color[2], (alpha.clamp(0.0, 1.0) * 255.0).round() as u8]
}

/// A line segment from one pixel position to another, with its colour.
pub type Segment = ((f64, f64), (f64, f64), [u8; 4]);

/// An axis-aligned rectangle in pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn new(x: f64, y: f64, w: f64, h: f64) -> Self {
        Rect { x, y, w, h }
    }

    pub fn right(&self) -> f64 {
        self.x + self.w
    }

    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
}

/// Where a piece of text sits relative to its anchor point, per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// The anchor is at the left (or top) edge of the text.
    Start,
    Center,
    /// The anchor is at the right (or bottom) edge of the text.
    End,
}

/// How text is drawn: font scale (each font pixel becomes `scale`×`scale`
/// pixels), colour, and alignment to the anchor point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextStyle {
    pub scale: usize,
    pub color: [u8; 4],
    pub h: Align,
    pub v: Align,
    /// Strokes one pixel wider, for titles.
    pub bold: bool,
}

impl TextStyle {
    /// Text with its top-left corner at the anchor.
    pub fn new(scale: usize, color: [u8; 4]) -> Self {
        TextStyle { scale, color, h: Align::Start, v: Align::Start, bold: false }
    }

    /// The same style in bold.
    pub fn bold(self) -> Self {
        TextStyle { bold: true, ..self }
    }

    /// The same style aligned by `h` horizontally and `v` vertically.
    pub fn align(self, h: Align, v: Align) -> Self {
        TextStyle { h, v, ..self }
    }
}

impl Align {
    fn offset(self, extent: usize) -> f64 {
        match self {
            Align::Start => 0.0,
            Align::Center => extent as f64 / 2.0,
            Align::End => extent as f64,
        }
    }
}

/// An RGBA image, 8 bits per channel, row-major from the top-left corner.
#[derive(Clone, Debug)]
pub struct Canvas {
    width: usize,
    height: usize,
    rgba: Vec<u8>,
    /// Drawing is confined to [x0, x1) × [y0, y1).
    clip: [usize; 4],
}

impl Canvas {
    /// The largest width or height accepted, which bounds memory use when a
    /// figure's size follows from its data (image grids, stacked traces).
    pub const MAX_SIDE: usize = 16_384;

    /// A `width × height` canvas filled with `background`.
    pub fn new(width: usize, height: usize, background: [u8; 4]) -> Result<Self> {
        if width == 0 || height == 0 || width > Self::MAX_SIDE || height > Self::MAX_SIDE {
            invalid_arg!("canvas size {width}×{height} must be between 1 and {} on each side", Self::MAX_SIDE);
        }
        let rgba = background.iter().copied().cycle().take(width * height * 4).collect();
        Ok(Canvas { width, height, rgba, clip: [0, 0, width, height] })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, 4 bytes each, row-major.
    pub fn rgba(&self) -> &[u8] {
        &self.rgba
    }

    /// The pixel at (x, y), or `None` outside the canvas.
    pub fn pixel(&self, x: usize, y: usize) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y * self.width + x) * 4;
        Some([self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]])
    }

    /// Confines later drawing to `rect` (rounded to whole pixels), or lifts
    /// the confinement with `None`.
    pub fn set_clip(&mut self, rect: Option<Rect>) {
        self.clip = match rect {
            None => [0, 0, self.width, self.height],
            Some(r) => {
                let to_px = |v: f64, max: usize| (v.round().max(0.0) as usize).min(max);
                let x0 = to_px(r.x, self.width);
                let y0 = to_px(r.y, self.height);
                [x0, y0, to_px(r.right(), self.width).max(x0), to_px(r.bottom(), self.height).max(y0)]
            }
        };
    }

    /// Blends `color` over pixel (x, y) with `coverage` in [0, 1] scaling its
    /// alpha (source-over); pixels outside the clip are left alone.
    pub fn blend(&mut self, x: isize, y: isize, color: [u8; 4], coverage: f32) {
        let [cx0, cy0, cx1, cy1] = self.clip;
        if x < cx0 as isize || y < cy0 as isize || x >= cx1 as isize || y >= cy1 as isize || coverage <= 0.0 {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 4;
        let a = color[3] as f32 / 255.0 * coverage.min(1.0);
        if a >= 1.0 {
            self.rgba[i..i + 4].copy_from_slice(&color);
            return;
        }
        let dst_a = self.rgba[i + 3] as f32 / 255.0;
        let out_a = a + dst_a * (1.0 - a);
        if out_a <= 0.0 {
            return;
        }
        for (c, &src) in color.iter().enumerate().take(3) {
            let v = (src as f32 * a + self.rgba[i + c] as f32 * dst_a * (1.0 - a)) / out_a;
            self.rgba[i + c] = v.round().clamp(0.0, 255.0) as u8;
        }
        self.rgba[i + 3] = (out_a * 255.0).round() as u8;
    }

    /// Fills `rect`; pixels it covers partly get partial coverage.
    pub fn fill_rect(&mut self, rect: Rect, color: [u8; 4]) {
        if !(rect.w > 0.0 && rect.h > 0.0) {
            return;
        }
        let (x0, x1, y0, y1) = (rect.x, rect.right(), rect.y, rect.bottom());
        let (cx0, cy0, cx1, cy1) = (self.clip[0] as f64, self.clip[1] as f64, self.clip[2] as f64, self.clip[3] as f64);
        let (px0, px1) = (x0.max(cx0).floor() as isize, x1.min(cx1).ceil() as isize);
        let (py0, py1) = (y0.max(cy0).floor() as isize, y1.min(cy1).ceil() as isize);
        for py in py0..py1 {
            let cy = (y1.min(py as f64 + 1.0) - y0.max(py as f64)).clamp(0.0, 1.0);
            for px in px0..px1 {
                let cx = (x1.min(px as f64 + 1.0) - x0.max(px as f64)).clamp(0.0, 1.0);
                self.blend(px, py, color, (cx * cy) as f32);
            }
        }
    }

    /// Outlines `rect` with a border `width` pixels wide, drawn inside it.
    pub fn stroke_rect(&mut self, rect: Rect, width: f64, color: [u8; 4]) {
        let w = width.min(rect.w / 2.0).min(rect.h / 2.0);
        self.fill_rect(Rect::new(rect.x, rect.y, rect.w, w), color);
        self.fill_rect(Rect::new(rect.x, rect.bottom() - w, rect.w, w), color);
        self.fill_rect(Rect::new(rect.x, rect.y + w, w, rect.h - 2.0 * w), color);
        self.fill_rect(Rect::new(rect.right() - w, rect.y + w, w, rect.h - 2.0 * w), color);
    }

    /// Fills the disc of radius `r` around (cx, cy), anti-aliased.
    pub fn fill_circle(&mut self, cx: f64, cy: f64, r: f64, color: [u8; 4]) {
        if !(cx.is_finite() && cy.is_finite() && r > 0.0) {
            return;
        }
        // A disc smaller than a pixel keeps its area (and so its weight in a
        // dense cloud) by fading instead of shrinking.
        let (reff, gain) = if r < 0.5 { (0.5, (r / 0.5) * (r / 0.5)) } else { (r, 1.0) };
        let (px0, px1) = ((cx - reff - 1.0).floor() as isize, (cx + reff + 1.0).ceil() as isize);
        let (py0, py1) = ((cy - reff - 1.0).floor() as isize, (cy + reff + 1.0).ceil() as isize);
        for py in py0..py1 {
            for px in px0..px1 {
                let d = ((px as f64 + 0.5 - cx).powi(2) + (py as f64 + 0.5 - cy).powi(2)).sqrt();
                let cov = (reff + 0.5 - d).clamp(0.0, 1.0) * gain;
                self.blend(px, py, color, cov as f32);
            }
        }
    }

    /// A straight line of `width` pixels with round ends.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), width: f64, color: [u8; 4]) {
        self.stroke_segments(&[(from, to, color)], width);
    }

    /// Connected line segments through `points`, blended once so that
    /// translucent lines do not darken where segments meet. Points with a
    /// non-finite coordinate break the line.
    pub fn polyline(&mut self, points: &[(f64, f64)], width: f64, color: [u8; 4]) {
        let segments: Vec<_> = points.windows(2).map(|w| (w[0], w[1], color)).collect();
        self.stroke_segments(&segments, width);
    }

    /// Line segments, each with its own colour, blended in one pass: where
    /// segments overlap a pixel takes the largest coverage (and that
    /// segment's colour), so joints of a translucent path are not doubled.
    pub fn stroke_segments(&mut self, segments: &[Segment], width: f64) {
        let finite = |p: (f64, f64)| p.0.is_finite() && p.1.is_finite();
        let segments: Vec<_> = segments.iter().filter(|(a, b, _)| finite(*a) && finite(*b)).collect();
        if segments.is_empty() || width.is_nan() || width <= 0.0 {
            return;
        }
        // Lines thinner than a pixel are drawn one pixel wide and fainter.
        let r = width.max(1.0) / 2.0;
        let gain = width.min(1.0) as f32;
        let reach = r + 1.0;
        let [cx0, cy0, cx1, cy1] = self.clip.map(|v| v as f64);
        let mut bounds = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for (a, b, _) in &segments {
            bounds[0] = bounds[0].min(a.0.min(b.0) - reach);
            bounds[1] = bounds[1].min(a.1.min(b.1) - reach);
            bounds[2] = bounds[2].max(a.0.max(b.0) + reach);
            bounds[3] = bounds[3].max(a.1.max(b.1) + reach);
        }
        let bx0 = bounds[0].max(cx0).floor();
        let by0 = bounds[1].max(cy0).floor();
        let bx1 = bounds[2].min(cx1).ceil();
        let by1 = bounds[3].min(cy1).ceil();
        if bx1 <= bx0 || by1 <= by0 {
            return;
        }
        let (mw, mh) = ((bx1 - bx0) as usize, (by1 - by0) as usize);
        let mut coverage = vec![0.0f32; mw * mh];
        let mut colors = vec![[0u8; 4]; mw * mh];
        for &&(a, b, color) in &segments {
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len2 = dx * dx + dy * dy;
            let row0 = ((a.1.min(b.1) - reach).floor().max(by0)) as isize;
            let row1 = ((a.1.max(b.1) + reach).ceil().min(by1)) as isize;
            for py in row0..row1 {
                let yc = py as f64 + 0.5;
                // Only the part of the segment within `reach` of this row can
                // touch it, which keeps long diagonal segments cheap.
                let (xa, xb) = if dy.abs() < 1e-12 {
                    (a.0.min(b.0), a.0.max(b.0))
                } else {
                    let t0 = ((yc - reach - a.1) / dy).clamp(0.0, 1.0);
                    let t1 = ((yc + reach - a.1) / dy).clamp(0.0, 1.0);
                    let (u, v) = (a.0 + t0 * dx, a.0 + t1 * dx);
                    (u.min(v), u.max(v))
                };
                let col0 = ((xa - reach).floor().max(bx0)) as isize;
                let col1 = ((xb + reach).ceil().min(bx1)) as isize;
                for px in col0..col1 {
                    let xc = px as f64 + 0.5;
                    let t = if len2 > 0.0 { (((xc - a.0) * dx + (yc - a.1) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
                    let d = ((xc - a.0 - t * dx).powi(2) + (yc - a.1 - t * dy).powi(2)).sqrt();
                    let cov = (r + 0.5 - d).clamp(0.0, 1.0) as f32 * gain;
                    let i = (py - by0 as isize) as usize * mw + (px - bx0 as isize) as usize;
                    if cov > coverage[i] {
                        coverage[i] = cov;
                        colors[i] = color;
                    }
                }
            }
        }
        for my in 0..mh {
            for mx in 0..mw {
                let i = my * mw + mx;
                if coverage[i] > 0.0 {
                    self.blend(bx0 as isize + mx as isize, by0 as isize + my as isize, colors[i], coverage[i]);
                }
            }
        }
    }

    /// Writes `text` anchored at (x, y) as `style` says.
    pub fn text(&mut self, x: f64, y: f64, text: &str, style: TextStyle) {
        let (color, bitmap) = (style.color, glyphs(text, style));
        let x0 = (x - style.h.offset(bitmap.width)).round() as isize;
        // Centring uses the height of capitals and digits, so that labels
        // sit level with ticks whatever descenders they have.
        let v_extent = if style.v == Align::Center { font::CAP_HEIGHT * style.scale.max(1) } else { bitmap.height };
        let y0 = (y - style.v.offset(v_extent)).round() as isize;
        for j in 0..bitmap.height {
            for i in 0..bitmap.width {
                let c = bitmap.coverage[j * bitmap.width + i];
                if c > 0.0 {
                    self.blend(x0 + i as isize, y0 + j as isize, color, c);
                }
            }
        }
    }

    /// Writes `text` turned a quarter counter-clockwise (reading upwards), as
    /// for a y-axis label; the style's alignment applies to its on-page box.
    pub fn text_vertical(&mut self, x: f64, y: f64, text: &str, style: TextStyle) {
        let (color, bitmap) = (style.color, glyphs(text, style));
        let (page_w, page_h) = (bitmap.height, bitmap.width);
        let x0 = (x - style.h.offset(page_w)).round() as isize;
        let y0 = (y - style.v.offset(page_h)).round() as isize;
        for j in 0..bitmap.height {
            for i in 0..bitmap.width {
                let c = bitmap.coverage[j * bitmap.width + i];
                if c > 0.0 {
                    self.blend(x0 + j as isize, y0 + (bitmap.width - 1 - i) as isize, color, c);
                }
            }
        }
    }

    /// The canvas as PNG bytes (8-bit RGBA).
    #[cfg(not(feature = "formats"))]
    pub fn encode_png(&self) -> Result<Vec<u8>> {
        Err(crate::error::feature_missing("formats", "writing PNG images"))
    }

    /// The canvas as PNG bytes (8-bit RGBA).
    #[cfg(feature = "formats")]
    pub fn encode_png(&self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let format_err = |e: png::EncodingError| crate::Error::Format { path: "<png>".into(), message: e.to_string() };
        {
            let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Rgba);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(format_err)?;
            writer.write_image_data(&self.rgba).map_err(format_err)?;
            writer.finish().map_err(format_err)?;
        }
        Ok(bytes)
    }

    /// Saves the canvas as a PNG file. The file is written under a temporary
    /// name in the same directory and renamed into place, so `path` holds
    /// either its old contents or the complete image; on error nothing new
    /// is left behind.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let bytes = self.encode_png()?;
        crate::io::write_bytes_atomically(path, &bytes)
    }
}

/// The coverage of `text` in `style`; bold widens every stroke by a pixel
/// to the right (a pixel takes the larger coverage of itself and its left
/// neighbour).
fn glyphs(text: &str, style: TextStyle) -> font::TextBitmap {
    let plain = font::render(text, style.scale);
    if !style.bold || plain.width == 0 {
        return plain;
    }
    let (w, h) = (plain.width + 1, plain.height);
    let mut coverage = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let own = if x < plain.width { plain.coverage[y * plain.width + x] } else { 0.0 };
            let left = if x > 0 { plain.coverage[y * plain.width + x - 1] } else { 0.0 };
            coverage[y * w + x] = own.max(left);
        }
    }
    font::TextBitmap { width: w, height: h, coverage }
}
