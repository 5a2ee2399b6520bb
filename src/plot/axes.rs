//! A plotting panel: the map from data to pixels (linear, or logarithmic in
//! y), its frame, ticks at "nice" numbers with labels, axis labels and a
//! title; plus the data extent type and the grid layout of several panels.

use super::canvas::{Align, Canvas, Rect, TextStyle};
use super::font;
use crate::{Result, invalid_arg};

/// Font scale of all figure text (5×7 glyphs become 10×14 pixels).
pub const FONT_SCALE: usize = 2;
/// Colour of text.
pub const TEXT_COLOR: [u8; 4] = [34, 34, 34, 255];
/// Colour of panel frames and ticks.
pub const FRAME_COLOR: [u8; 4] = [60, 60, 60, 255];
/// Colour of grid lines behind curves.
pub const GRID_COLOR: [u8; 4] = [228, 228, 228, 255];
/// Length of tick marks, outside the frame.
pub const TICK_LENGTH: f64 = 5.0;
/// Space between a tick mark and its label.
const TICK_PAD: f64 = 4.0;
/// Space between tick labels and the axis label, and between a panel and its title.
const LABEL_PAD: f64 = 8.0;

/// Height in pixels of a line of figure text.
pub fn line_height() -> f64 {
    font::text_height(FONT_SCALE) as f64
}

/// Width in pixels of `text` in figure text.
pub fn text_width(text: &str) -> f64 {
    font::text_width(text, FONT_SCALE) as f64
}

/// The style of ordinary figure text.
pub fn text_style() -> TextStyle {
    TextStyle::new(FONT_SCALE, TEXT_COLOR)
}

/// The rectangle of data space a panel shows: [x_min, x_max] × [y_min, y_max].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Extent {
    pub x_min: f64,
    pub x_max: f64,
    pub y_min: f64,
    pub y_max: f64,
}

impl Extent {
    /// An extent; the bounds must be finite with each minimum below its maximum.
    pub fn new(x_min: f64, x_max: f64, y_min: f64, y_max: f64) -> Result<Self> {
        let all_finite = [x_min, x_max, y_min, y_max].iter().all(|v| v.is_finite());
        if !all_finite || x_min >= x_max || y_min >= y_max {
            invalid_arg!("extent [{x_min}, {x_max}] × [{y_min}, {y_max}] must be finite and non-empty");
        }
        Ok(Extent { x_min, x_max, y_min, y_max })
    }

    /// The square [−half, half]².
    pub fn square(half: f64) -> Result<Self> {
        Self::new(-half, half, -half, half)
    }

    /// The smallest square (centred on the bounding box) holding every finite
    /// point of `sets`, widened by 5% on each side. Equal scales on both axes
    /// keep shapes undistorted in square panels.
    pub fn around(sets: &[&[[f64; 2]]]) -> Result<Self> {
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for p in sets.iter().flat_map(|s| s.iter()).filter(|p| p[0].is_finite() && p[1].is_finite()) {
            b = [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])];
        }
        if !b[0].is_finite() {
            invalid_arg!("cannot fit an extent: no finite points");
        }
        let half = ((b[2] - b[0]).max(b[3] - b[1]) / 2.0 * 1.05).max(1e-9);
        let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
        Self::new(cx - half, cx + half, cy - half, cy + half)
    }

    /// Whether (x, y) lies inside (bounds included).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.x_min && x <= self.x_max && y >= self.y_min && y <= self.y_max
    }
}

/// How values map onto an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Base-10 logarithmic; the range must be positive.
    Log,
}

/// A panel: a pixel rectangle showing a data extent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Axes {
    pub rect: Rect,
    pub extent: Extent,
    pub y_scale: Scale,
}

impl Axes {
    /// A linear panel.
    pub fn new(rect: Rect, extent: Extent) -> Self {
        Axes { rect, extent, y_scale: Scale::Linear }
    }

    /// A panel whose y axis is logarithmic; its y range must be positive.
    pub fn log_y(rect: Rect, extent: Extent) -> Result<Self> {
        if extent.y_min <= 0.0 {
            invalid_arg!("a logarithmic axis needs a positive range, got [{}, {}]", extent.y_min, extent.y_max);
        }
        Ok(Axes { rect, extent, y_scale: Scale::Log })
    }

    /// Pixel x of data x.
    pub fn x_px(&self, x: f64) -> f64 {
        let e = &self.extent;
        self.rect.x + (x - e.x_min) / (e.x_max - e.x_min) * self.rect.w
    }

    /// Pixel y of data y (larger y is higher up); NaN for y ≤ 0 on a log axis.
    pub fn y_px(&self, y: f64) -> f64 {
        let e = &self.extent;
        let frac = match self.y_scale {
            Scale::Linear => (y - e.y_min) / (e.y_max - e.y_min),
            Scale::Log if y > 0.0 => (y.log10() - e.y_min.log10()) / (e.y_max.log10() - e.y_min.log10()),
            Scale::Log => f64::NAN,
        };
        self.rect.bottom() - frac * self.rect.h
    }

    /// Pixel position of a data point.
    pub fn to_px(&self, x: f64, y: f64) -> (f64, f64) {
        (self.x_px(x), self.y_px(y))
    }

    /// Restricts drawing on `canvas` to this panel.
    pub fn clip(&self, canvas: &mut Canvas) {
        canvas.set_clip(Some(self.rect));
    }

    /// The x tick positions (data values): as many nice ticks as fit with
    /// their labels clear of each other.
    pub fn x_ticks(&self) -> Vec<f64> {
        let (lo, hi) = (self.extent.x_min, self.extent.x_max);
        fitted_ticks(lo, hi, self.rect.w, 70.0, |ticks| {
            format_ticks(ticks).iter().map(|t| text_width(t)).fold(0.0, f64::max) + 2.0 * line_height()
        })
    }

    /// The y tick positions (data values) and which of them get labels.
    pub fn y_ticks(&self) -> Vec<(f64, bool)> {
        let (lo, hi) = (self.extent.y_min, self.extent.y_max);
        let e = &self.extent;
        // A square panel on a square extent (point clouds, fields) gets the
        // same step on both axes.
        let same_as_x = self.rect.w == self.rect.h && (e.x_max - e.x_min) == (hi - lo);
        match self.y_scale {
            Scale::Linear if same_as_x => {
                let step = |t: &[f64]| if t.len() > 1 { t[1] - t[0] } else { hi - lo };
                let x_step = step(&self.x_ticks());
                let ticks = ticks_with_step(lo, hi, x_step);
                ticks.into_iter().map(|t| (t, true)).collect()
            }
            Scale::Linear => fitted_ticks(lo, hi, self.rect.h, 60.0, |_| 2.3 * line_height())
                .into_iter()
                .map(|t| (t, true))
                .collect(),
            Scale::Log => log_ticks(lo, hi),
        }
    }

    /// Light lines across the panel at the major ticks.
    pub fn grid(&self, canvas: &mut Canvas) {
        self.grid_at(canvas, &self.x_ticks());
    }

    /// Light lines across the panel at `x_ticks` and the major y ticks.
    pub fn grid_at(&self, canvas: &mut Canvas, x_ticks: &[f64]) {
        canvas.set_clip(None);
        let r = self.rect;
        for &t in x_ticks {
            let x = self.x_px(t).floor();
            canvas.fill_rect(Rect::new(x, r.y, 1.0, r.h), GRID_COLOR);
        }
        for (t, labelled) in self.y_ticks() {
            if labelled {
                let y = self.y_px(t).floor();
                canvas.fill_rect(Rect::new(r.x, y, r.w, 1.0), GRID_COLOR);
            }
        }
    }

    /// The frame around the panel.
    pub fn frame(&self, canvas: &mut Canvas) {
        canvas.set_clip(None);
        let r = self.rect;
        canvas.stroke_rect(Rect::new(r.x - 1.0, r.y - 1.0, r.w + 2.0, r.h + 2.0), 1.0, FRAME_COLOR);
    }

    /// Tick marks below the panel, labelled with `labels`.
    pub fn x_axis(&self, canvas: &mut Canvas, labels: bool) {
        let ticks = self.x_ticks();
        self.x_axis_at(canvas, &ticks, labels);
    }

    /// Tick marks below the panel at `ticks`, labelled if `labels`.
    pub fn x_axis_at(&self, canvas: &mut Canvas, ticks: &[f64], labels: bool) {
        canvas.set_clip(None);
        let r = self.rect;
        let texts = format_ticks(ticks);
        for (&t, text) in ticks.iter().zip(&texts) {
            let x = self.x_px(t).floor();
            if x < r.x - 0.5 || x > r.right() + 0.5 {
                continue;
            }
            canvas.fill_rect(Rect::new(x, r.bottom() + 1.0, 1.0, TICK_LENGTH), FRAME_COLOR);
            if labels {
                let style = text_style().align(Align::Center, Align::Start);
                canvas.text(x + 0.5, r.bottom() + 1.0 + TICK_LENGTH + TICK_PAD, text, style);
            }
        }
    }

    /// Tick marks left of the panel, with labels if `labels`.
    pub fn y_axis(&self, canvas: &mut Canvas, labels: bool) {
        canvas.set_clip(None);
        let r = self.rect;
        let ticks = self.y_ticks();
        let texts = self.y_tick_labels(&ticks);
        for ((t, labelled), text) in ticks.iter().zip(&texts) {
            let y = self.y_px(*t).floor();
            if !(y >= r.y - 0.5 && y <= r.bottom() + 0.5) {
                continue;
            }
            let len = if *labelled { TICK_LENGTH } else { TICK_LENGTH * 0.6 };
            canvas.fill_rect(Rect::new(r.x - 1.0 - len, y, len, 1.0), FRAME_COLOR);
            if labels && *labelled {
                let style = text_style().align(Align::End, Align::Center);
                canvas.text(r.x - 1.0 - TICK_LENGTH - TICK_PAD, y + 0.5, text, style);
            }
        }
    }

    fn y_tick_labels(&self, ticks: &[(f64, bool)]) -> Vec<String> {
        let labelled: Vec<f64> = ticks.iter().filter(|t| t.1).map(|t| t.0).collect();
        let mut texts = match self.y_scale {
            Scale::Linear => format_ticks(&labelled),
            Scale::Log => labelled.iter().map(|&v| format_log_tick(v)).collect(),
        }
        .into_iter();
        ticks.iter().map(|t| if t.1 { texts.next().unwrap_or_default() } else { String::new() }).collect()
    }

    /// Width in pixels that the y tick labels take.
    pub fn y_label_width(&self) -> f64 {
        let ticks = self.y_ticks();
        self.y_tick_labels(&ticks).iter().map(|t| text_width(t)).fold(0.0, f64::max)
    }

    /// Room needed left of the panel for tick marks and labels.
    pub fn y_axis_room(&self) -> f64 {
        1.0 + TICK_LENGTH + TICK_PAD + self.y_label_width()
    }

    /// A title centred above the panel.
    pub fn title(&self, canvas: &mut Canvas, text: &str) {
        canvas.set_clip(None);
        let style = text_style().bold().align(Align::Center, Align::End);
        canvas.text(self.rect.x + self.rect.w / 2.0, self.rect.y - 1.0 - LABEL_PAD, text, style);
    }

    /// A label centred below the x tick labels.
    pub fn x_label(&self, canvas: &mut Canvas, text: &str) {
        canvas.set_clip(None);
        let y = self.rect.bottom() + x_axis_room() + LABEL_PAD / 2.0;
        canvas.text(self.rect.x + self.rect.w / 2.0, y, text, text_style().align(Align::Center, Align::Start));
    }

    /// A label reading upwards, left of the y tick labels.
    pub fn y_label(&self, canvas: &mut Canvas, text: &str) {
        canvas.set_clip(None);
        let x = self.rect.x - self.y_axis_room() - LABEL_PAD;
        canvas.text_vertical(x, self.rect.y + self.rect.h / 2.0, text, text_style().align(Align::End, Align::Center));
    }
}

/// Room needed below a panel for x tick marks and labels.
pub fn x_axis_room() -> f64 {
    1.0 + TICK_LENGTH + TICK_PAD + line_height()
}

/// Room needed below a panel for ticks, labels and an axis label.
pub fn x_axis_room_labelled() -> f64 {
    x_axis_room() + LABEL_PAD / 2.0 + line_height()
}

/// Room above a panel for its title.
pub fn title_room() -> f64 {
    line_height() + LABEL_PAD + 1.0
}

/// Room left of the y tick labels for a y-axis label.
pub fn y_label_room() -> f64 {
    LABEL_PAD + line_height()
}

/// Nice ticks on [lo, hi] for an axis `length` pixels long: about one per
/// `per` pixels, fewer while neighbours are closer than `room(ticks)` pixels.
fn fitted_ticks(lo: f64, hi: f64, length: f64, per: f64, room: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut target = ((length / per).round() as usize).clamp(2, 10);
    loop {
        let ticks = nice_ticks(lo, hi, target);
        let spacing = if ticks.len() > 1 { (ticks[1] - ticks[0]) / (hi - lo) * length } else { f64::INFINITY };
        if target <= 1 || spacing >= room(&ticks) {
            return ticks;
        }
        target -= 1;
    }
}

/// Ticks at a "nice" step (1, 2 or 5 times a power of ten) covering
/// [lo, hi] with about `target` of them; only values inside the range.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Vec::new();
    }
    let step = nice_step((hi - lo) / target.max(1) as f64);
    ticks_with_step(lo, hi, step)
}

/// Like [`nice_ticks`] but with whole-number steps (block indices, counts).
pub fn integer_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Vec::new();
    }
    let step = nice_step((hi - lo) / target.max(1) as f64).max(1.0).round();
    ticks_with_step(lo, hi, step)
}

fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn ticks_with_step(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Snap values like 0.6000000000000001 to what the label says.
    let unit = 10f64.powi(step_decimals(step) as i32);
    (first..=last).map(|k| (k as f64 * step * unit).round() / unit + 0.0).collect()
}

/// Decade ticks 10^k inside [lo, hi] (labelled), with unlabelled ticks at
/// 2–9 × 10^k when the range spans few decades; a range inside one decade
/// gets linear nice ticks instead.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<(f64, bool)> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let (k0, k1) = ((lo.log10() - 1e-9).ceil() as i32, (hi.log10() + 1e-9).floor() as i32);
    if k1 - k0 < 1 {
        return nice_ticks(lo, hi, 4).into_iter().filter(|&v| v > 0.0).map(|v| (v, true)).collect();
    }
    let every = ((k1 - k0) / 6 + 1).max(1);
    let mut ticks = Vec::new();
    for k in (k0 - 1)..=k1 {
        let decade = 10f64.powi(k);
        if k >= k0 && (k - k0) % every == 0 {
            ticks.push((decade, true));
        }
        if k1 - k0 <= 6 {
            for m in 2..10 {
                let v = decade * m as f64;
                if v >= lo && v <= hi {
                    ticks.push((v, false));
                }
            }
        }
    }
    ticks
}

/// Labels for evenly spaced ticks, with as many decimals as the step needs;
/// thousands as "k" for large round values, exponent notation for very large
/// or very small steps.
pub fn format_ticks(ticks: &[f64]) -> Vec<String> {
    if ticks.is_empty() {
        return Vec::new();
    }
    let step = if ticks.len() > 1 { (ticks[1] - ticks[0]).abs() } else { ticks[0].abs().max(1.0) };
    let largest = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let decimals = step_decimals;
    if largest >= 1e7 || (step < 1e-4 && step > 0.0) {
        return ticks.iter().map(|&v| format_exponent(v)).collect();
    }
    if largest >= 1e4 && step >= 1000.0 {
        return ticks.iter().map(|&v| format!("{:.*}k", decimals(step / 1000.0), v / 1000.0)).collect();
    }
    ticks.iter().map(|&v| format!("{:.*}", decimals(step), v)).collect()
}

/// Decimals needed to write multiples of `step` (1, 2 or 5 × 10^k) exactly.
fn step_decimals(step: f64) -> usize {
    ((-step.log10() - 1e-9).ceil().max(0.0) as usize).min(12)
}

fn format_exponent(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let k = v.abs().log10().floor() as i32;
    let mantissa = v / 10f64.powi(k);
    let m = format!("{mantissa:.2}");
    let m = m.trim_end_matches('0').trim_end_matches('.');
    format!("{m}e{k}")
}

/// A label for a tick on a log axis.
fn format_log_tick(v: f64) -> String {
    let k = v.log10();
    if (k - k.round()).abs() < 1e-9 {
        let k = k.round() as i32;
        if (-3..=4).contains(&k) { format!("{:.*}", (-k).max(0) as usize, v) } else { format!("1e{k}") }
    } else {
        format_ticks(&[v]).pop().unwrap_or_default()
    }
}

/// Panels of one size on a grid, with margins around and gaps between.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub panel_w: f64,
    pub panel_h: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub h_gap: f64,
    pub v_gap: f64,
}

impl Layout {
    /// Canvas width and height in whole pixels.
    pub fn size(&self) -> (usize, usize) {
        let cols = self.cols as f64;
        let rows = self.rows as f64;
        let w = self.left + self.right + cols * self.panel_w + (cols - 1.0).max(0.0) * self.h_gap;
        let h = self.top + self.bottom + rows * self.panel_h + (rows - 1.0).max(0.0) * self.v_gap;
        (w.ceil() as usize, h.ceil() as usize)
    }

    /// The pixel rectangle of the panel at (row, col), on whole pixels.
    pub fn panel(&self, row: usize, col: usize) -> Rect {
        let x = self.left + col as f64 * (self.panel_w + self.h_gap);
        let y = self.top + row as f64 * (self.panel_h + self.v_gap);
        Rect::new(x.round(), y.round(), self.panel_w.round(), self.panel_h.round())
    }
}
