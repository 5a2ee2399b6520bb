//! A 5×7 bitmap font for printable ASCII (with two rows below the baseline
//! for descenders), so that figures carry titles, tick labels and legends
//! without font files. Text is set proportionally (each
//! glyph as wide as its ink plus one column) and, when enlarged, smoothed with
//! the Scale2x/Scale3x pixel-art rules and then box-filtered, which rounds the
//! diagonals and gives anti-aliased edges instead of blocky staircases.

/// Glyph height in font pixels (before scaling), descenders included.
pub const GLYPH_HEIGHT: usize = 9;
/// Height of capitals and digits in font pixels; the baseline is under it.
pub const CAP_HEIGHT: usize = 7;
/// Advance of a space, in font pixels.
const SPACE_ADVANCE: usize = 3;

/// Columns of the glyphs for ' ' (32) to '~' (126), five per glyph, left to
/// right; bit 0 of a column is the top row, bits 7 and 8 are below the baseline.
const GLYPHS: [[u16; 5]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00],    // ' '
    [0x00, 0x00, 0x5F, 0x00, 0x00],    // !
    [0x00, 0x07, 0x00, 0x07, 0x00],    // "
    [0x14, 0x7F, 0x14, 0x7F, 0x14],    // #
    [0x24, 0x2A, 0x7F, 0x2A, 0x12],    // $
    [0x23, 0x13, 0x08, 0x64, 0x62],    // %
    [0x36, 0x49, 0x55, 0x22, 0x50],    // &
    [0x00, 0x05, 0x03, 0x00, 0x00],    // '
    [0x00, 0x1C, 0x22, 0x41, 0x00],    // (
    [0x00, 0x41, 0x22, 0x1C, 0x00],    // )
    [0x14, 0x08, 0x3E, 0x08, 0x14],    // *
    [0x08, 0x08, 0x3E, 0x08, 0x08],    // +
    [0x160, 0xE0, 0x00, 0x00, 0x00],   // ,
    [0x08, 0x08, 0x08, 0x08, 0x08],    // -
    [0x00, 0x60, 0x60, 0x00, 0x00],    // .
    [0x20, 0x10, 0x08, 0x04, 0x02],    // /
    [0x3E, 0x51, 0x49, 0x45, 0x3E],    // 0
    [0x00, 0x42, 0x7F, 0x40, 0x00],    // 1
    [0x42, 0x61, 0x51, 0x49, 0x46],    // 2
    [0x21, 0x41, 0x45, 0x4B, 0x31],    // 3
    [0x18, 0x14, 0x12, 0x7F, 0x10],    // 4
    [0x27, 0x45, 0x45, 0x45, 0x39],    // 5
    [0x3C, 0x4A, 0x49, 0x49, 0x30],    // 6
    [0x01, 0x71, 0x09, 0x05, 0x03],    // 7
    [0x36, 0x49, 0x49, 0x49, 0x36],    // 8
    [0x06, 0x49, 0x49, 0x29, 0x1E],    // 9
    [0x00, 0x36, 0x36, 0x00, 0x00],    // :
    [0x16C, 0xEC, 0x00, 0x00, 0x00],   // ;
    [0x08, 0x14, 0x22, 0x41, 0x00],    // <
    [0x14, 0x14, 0x14, 0x14, 0x14],    // =
    [0x00, 0x41, 0x22, 0x14, 0x08],    // >
    [0x02, 0x01, 0x51, 0x09, 0x06],    // ?
    [0x32, 0x49, 0x79, 0x41, 0x3E],    // @
    [0x7E, 0x11, 0x11, 0x11, 0x7E],    // A
    [0x7F, 0x49, 0x49, 0x49, 0x36],    // B
    [0x3E, 0x41, 0x41, 0x41, 0x22],    // C
    [0x7F, 0x41, 0x41, 0x22, 0x1C],    // D
    [0x7F, 0x49, 0x49, 0x49, 0x41],    // E
    [0x7F, 0x09, 0x09, 0x09, 0x01],    // F
    [0x3E, 0x41, 0x49, 0x49, 0x7A],    // G
    [0x7F, 0x08, 0x08, 0x08, 0x7F],    // H
    [0x00, 0x41, 0x7F, 0x41, 0x00],    // I
    [0x20, 0x40, 0x41, 0x3F, 0x01],    // J
    [0x7F, 0x08, 0x14, 0x22, 0x41],    // K
    [0x7F, 0x40, 0x40, 0x40, 0x40],    // L
    [0x7F, 0x02, 0x0C, 0x02, 0x7F],    // M
    [0x7F, 0x04, 0x08, 0x10, 0x7F],    // N
    [0x3E, 0x41, 0x41, 0x41, 0x3E],    // O
    [0x7F, 0x09, 0x09, 0x09, 0x06],    // P
    [0x3E, 0x41, 0x51, 0x21, 0x5E],    // Q
    [0x7F, 0x09, 0x19, 0x29, 0x46],    // R
    [0x46, 0x49, 0x49, 0x49, 0x31],    // S
    [0x01, 0x01, 0x7F, 0x01, 0x01],    // T
    [0x3F, 0x40, 0x40, 0x40, 0x3F],    // U
    [0x1F, 0x20, 0x40, 0x20, 0x1F],    // V
    [0x3F, 0x40, 0x38, 0x40, 0x3F],    // W
    [0x63, 0x14, 0x08, 0x14, 0x63],    // X
    [0x07, 0x08, 0x70, 0x08, 0x07],    // Y
    [0x61, 0x51, 0x49, 0x45, 0x43],    // Z
    [0x00, 0x7F, 0x41, 0x41, 0x00],    // [
    [0x02, 0x04, 0x08, 0x10, 0x20],    // backslash
    [0x00, 0x41, 0x41, 0x7F, 0x00],    // ]
    [0x04, 0x02, 0x01, 0x02, 0x04],    // ^
    [0x40, 0x40, 0x40, 0x40, 0x40],    // _
    [0x00, 0x01, 0x02, 0x04, 0x00],    // `
    [0x20, 0x54, 0x54, 0x54, 0x78],    // a
    [0x7F, 0x48, 0x44, 0x44, 0x38],    // b
    [0x38, 0x44, 0x44, 0x44, 0x20],    // c
    [0x38, 0x44, 0x44, 0x48, 0x7F],    // d
    [0x38, 0x54, 0x54, 0x54, 0x18],    // e
    [0x08, 0x7E, 0x09, 0x01, 0x02],    // f
    [0x38, 0x144, 0x144, 0x144, 0xFC], // g
    [0x7F, 0x08, 0x04, 0x04, 0x78],    // h
    [0x00, 0x44, 0x7D, 0x40, 0x00],    // i
    [0x80, 0x100, 0x104, 0xFD, 0x00],  // j
    [0x7F, 0x10, 0x28, 0x44, 0x00],    // k
    [0x00, 0x41, 0x7F, 0x40, 0x00],    // l
    [0x7C, 0x04, 0x18, 0x04, 0x78],    // m
    [0x7C, 0x08, 0x04, 0x04, 0x78],    // n
    [0x38, 0x44, 0x44, 0x44, 0x38],    // o
    [0x1FC, 0x44, 0x44, 0x44, 0x38],   // p
    [0x38, 0x44, 0x44, 0x44, 0x1FC],   // q
    [0x7C, 0x08, 0x04, 0x04, 0x08],    // r
    [0x48, 0x54, 0x54, 0x54, 0x20],    // s
    [0x04, 0x3F, 0x44, 0x40, 0x20],    // t
    [0x3C, 0x40, 0x40, 0x20, 0x7C],    // u
    [0x1C, 0x20, 0x40, 0x20, 0x1C],    // v
    [0x3C, 0x40, 0x30, 0x40, 0x3C],    // w
    [0x44, 0x28, 0x10, 0x28, 0x44],    // x
    [0x3C, 0x140, 0x140, 0x140, 0xFC], // y
    [0x44, 0x64, 0x54, 0x4C, 0x44],    // z
    [0x00, 0x08, 0x36, 0x41, 0x00],    // {
    [0x00, 0x00, 0x7F, 0x00, 0x00],    // |
    [0x00, 0x41, 0x36, 0x08, 0x00],    // }
    [0x08, 0x04, 0x08, 0x10, 0x08],    // ~
];

/// The columns of `c`'s glyph; characters outside printable ASCII show as '?'.
fn glyph(c: char) -> &'static [u16; 5] {
    let code = c as usize;
    if (32..=126).contains(&code) { &GLYPHS[code - 32] } else { &GLYPHS[('?' as usize) - 32] }
}

/// The inked columns of a glyph as (first, count); `None` for blank glyphs.
fn ink_columns(columns: &[u16; 5]) -> Option<(usize, usize)> {
    let first = columns.iter().position(|&c| c != 0)?;
    let last = columns.iter().rposition(|&c| c != 0)?;
    Some((first, last - first + 1))
}

/// Width of `text` in font pixels at scale 1 (no trailing gap).
fn unscaled_width(text: &str) -> usize {
    let advance: usize = text
        .chars()
        .map(|c| match ink_columns(glyph(c)) {
            Some((_, n)) => n + 1,
            None => SPACE_ADVANCE,
        })
        .sum();
    advance.saturating_sub(1)
}

/// Width in pixels of `text` set at `scale` (each font pixel `scale` pixels wide).
pub fn text_width(text: &str, scale: usize) -> usize {
    unscaled_width(text) * scale.max(1)
}

/// Height in pixels of a line of text set at `scale`.
pub fn text_height(scale: usize) -> usize {
    GLYPH_HEIGHT * scale.max(1)
}

/// Coverage of a rendered line of text: `coverage[y * width + x]` in [0, 1].
#[derive(Clone, Debug)]
pub struct TextBitmap {
    pub width: usize,
    pub height: usize,
    pub coverage: Vec<f32>,
}

/// A binary image used while enlarging glyphs.
struct Bits {
    width: usize,
    height: usize,
    on: Vec<bool>,
}

impl Bits {
    /// Pixel at (x, y); outside the image counts as background.
    fn at(&self, x: isize, y: isize) -> bool {
        if x < 0 || y < 0 || x >= self.width as isize || y >= self.height as isize {
            false
        } else {
            self.on[y as usize * self.width + x as usize]
        }
    }

    /// Scale2x (EPX): doubles the image, filling a corner of a pixel where
    /// two neighbours meet diagonally, which rounds staircases.
    fn scale2x(&self) -> Bits {
        let (w, h) = (self.width * 2, self.height * 2);
        let mut on = vec![false; w * h];
        for y in 0..self.height as isize {
            for x in 0..self.width as isize {
                let p = self.at(x, y);
                let (a, b, c, d) = (self.at(x, y - 1), self.at(x + 1, y), self.at(x - 1, y), self.at(x, y + 1));
                let e0 = if c == a && c != d && a != b { a } else { p };
                let e1 = if a == b && a != c && b != d { b } else { p };
                let e2 = if d == c && d != b && c != a { c } else { p };
                let e3 = if b == d && b != a && d != c { d } else { p };
                let (ox, oy) = (x as usize * 2, y as usize * 2);
                on[oy * w + ox] = e0;
                on[oy * w + ox + 1] = e1;
                on[(oy + 1) * w + ox] = e2;
                on[(oy + 1) * w + ox + 1] = e3;
            }
        }
        Bits { width: w, height: h, on }
    }

    /// Scale3x (AdvMAME3x): the three-fold analogue of [`Bits::scale2x`].
    fn scale3x(&self) -> Bits {
        let (w, h) = (self.width * 3, self.height * 3);
        let mut on = vec![false; w * h];
        for y in 0..self.height as isize {
            for x in 0..self.width as isize {
                let a = self.at(x - 1, y - 1);
                let b = self.at(x, y - 1);
                let c = self.at(x + 1, y - 1);
                let d = self.at(x - 1, y);
                let e = self.at(x, y);
                let f = self.at(x + 1, y);
                let g = self.at(x - 1, y + 1);
                let hh = self.at(x, y + 1);
                let i = self.at(x + 1, y + 1);
                let out = if b != hh && d != f {
                    [
                        if d == b { d } else { e },
                        if (d == b && e != c) || (b == f && e != a) { b } else { e },
                        if b == f { f } else { e },
                        if (d == b && e != g) || (d == hh && e != a) { d } else { e },
                        e,
                        if (b == f && e != i) || (hh == f && e != c) { f } else { e },
                        if d == hh { d } else { e },
                        if (d == hh && e != i) || (hh == f && e != g) { hh } else { e },
                        if hh == f { f } else { e },
                    ]
                } else {
                    [e; 9]
                };
                let (ox, oy) = (x as usize * 3, y as usize * 3);
                for (k, &v) in out.iter().enumerate() {
                    on[(oy + k / 3) * w + ox + k % 3] = v;
                }
            }
        }
        Bits { width: w, height: h, on }
    }

    /// Plain pixel replication by `factor`.
    fn replicate(&self, factor: usize) -> Bits {
        let (w, h) = (self.width * factor, self.height * factor);
        let mut on = vec![false; w * h];
        for y in 0..h {
            for x in 0..w {
                on[y * w + x] = self.on[(y / factor) * self.width + x / factor];
            }
        }
        Bits { width: w, height: h, on }
    }
}

/// Renders `text` at `scale` (≥ 1) as a coverage map `text_width × text_height`.
///
/// At scale 1 the glyphs are the raw bitmap; above, the line is enlarged to
/// twice the target size with the smoothing rules and box-filtered by 2×2.
pub fn render(text: &str, scale: usize) -> TextBitmap {
    let scale = scale.max(1);
    let width1 = unscaled_width(text);
    let mut bits = Bits { width: width1, height: GLYPH_HEIGHT, on: vec![false; width1 * GLYPH_HEIGHT] };
    let mut x0 = 0;
    for c in text.chars() {
        let columns = glyph(c);
        match ink_columns(columns) {
            Some((first, n)) => {
                for (dx, &col) in columns[first..first + n].iter().enumerate() {
                    for row in 0..GLYPH_HEIGHT {
                        if col >> row & 1 == 1 {
                            bits.on[row * width1 + x0 + dx] = true;
                        }
                    }
                }
                x0 += n + 1;
            }
            None => x0 += SPACE_ADVANCE,
        }
    }
    if scale == 1 {
        let coverage = bits.on.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        return TextBitmap { width: width1, height: GLYPH_HEIGHT, coverage };
    }
    let mut factor = 2 * scale;
    while factor.is_multiple_of(2) {
        bits = bits.scale2x();
        factor /= 2;
    }
    while factor.is_multiple_of(3) {
        bits = bits.scale3x();
        factor /= 3;
    }
    if factor > 1 {
        bits = bits.replicate(factor);
    }
    let (width, height) = (width1 * scale, GLYPH_HEIGHT * scale);
    let mut coverage = vec![0.0f32; width * height];
    for y in 0..height {
        for x in 0..width {
            let mut ink = 0;
            for (sx, sy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                ink += bits.on[(2 * y + sy) * bits.width + 2 * x + sx] as u32;
            }
            coverage[y * width + x] = ink as f32 / 4.0;
        }
    }
    TextBitmap { width, height, coverage }
}
