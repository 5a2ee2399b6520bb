//! Array files as tensors: NumPy `.npy` (memory-mapped), numeric CSV (plain
//! or gzipped) and IDX (the MNIST format), plus an atomic `.npy` writer.
//!
//! Every reader checks the file against what its header promises before it
//! sizes anything from it, converts to f64 once, and refuses NaN and infinity
//! with the place they were found: a damaged or unexpected file is an error
//! that names it, never a panic or a silently wrong tensor.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use byteorder::{BigEndian, ByteOrder, LittleEndian};
use memmap2::Mmap;

use crate::tensor::{DType, Float, Tensor};
use crate::{Error, Result};

fn format_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Format { path: path.to_path_buf(), message: message.into() }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Where a non-finite value sits: `row` (and `col` for 2-D data), counted from 0.
fn non_finite(path: &Path, value: f64, row: usize, col: Option<usize>) -> Error {
    let at = match col {
        Some(c) => format!("row {row}, column {c}"),
        None => format!("index {row}"),
    };
    Error::NonFinite(format!("{}: value {value} at {at} (data must be finite)", path.display()))
}

/// Converts f64 values to a tensor of `dims`, refusing non-finite ones.
/// `cols` is the row length used to report positions (`None`: flat index).
fn finite_tensor<T: Float>(path: &Path, values: Vec<f64>, dims: Vec<usize>, cols: Option<usize>) -> Result<Tensor<T>> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(match cols {
            Some(c) if c > 0 => non_finite(path, values[i], i / c, Some(i % c)),
            _ => non_finite(path, values[i], i, None),
        });
    }
    Tensor::from_vec(values.into_iter().map(T::from_f64).collect(), dims)
}

/// Maps a file read-only. Files too short to hold any header are refused
/// before mapping (an empty file cannot be mapped everywhere).
fn map_file(path: &Path, min_len: u64, what: &str) -> Result<Mmap> {
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len < min_len {
        return Err(format_err(path, format!("{len} bytes is too short for a {what} file (truncated or empty)")));
    }
    // SAFETY: the mapping is read-only and private to this call; it is read
    // once into owned values and dropped. Another process truncating the file
    // meanwhile is outside what any reader can guard against.
    unsafe { Mmap::map(&file) }.map_err(io_err(path))
}

// ----- .npy -------------------------------------------------------------

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// The element types [`load_npy`] reads (little-endian, or byte-sized).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NpyDtype {
    F4,
    F8,
    I4,
    I8,
    U1,
    U2,
}

impl NpyDtype {
    fn parse(descr: &str) -> Option<Self> {
        Some(match descr {
            "<f4" => NpyDtype::F4,
            "<f8" => NpyDtype::F8,
            "<i4" => NpyDtype::I4,
            "<i8" => NpyDtype::I8,
            "|u1" | "<u1" => NpyDtype::U1,
            "<u2" => NpyDtype::U2,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            NpyDtype::U1 => 1,
            NpyDtype::U2 => 2,
            NpyDtype::F4 | NpyDtype::I4 => 4,
            NpyDtype::F8 | NpyDtype::I8 => 8,
        }
    }
    fn read(self, b: &[u8]) -> f64 {
        match self {
            NpyDtype::F4 => LittleEndian::read_f32(b) as f64,
            NpyDtype::F8 => LittleEndian::read_f64(b),
            NpyDtype::I4 => LittleEndian::read_i32(b) as f64,
            NpyDtype::I8 => LittleEndian::read_i64(b) as f64,
            NpyDtype::U1 => b[0] as f64,
            NpyDtype::U2 => LittleEndian::read_u16(b) as f64,
        }
    }
}

/// What an `.npy` header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The dtype string, e.g. `<f4`.
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Byte offset of the data.
    pub data_offset: usize,
}

/// Reads and checks an `.npy` header (format versions 1, 2 and 3).
fn parse_npy_header(bytes: &[u8], path: &Path) -> Result<NpyHeader> {
    if bytes.len() < 10 || &bytes[..6] != NPY_MAGIC {
        return Err(format_err(path, "not a .npy file (no \\x93NUMPY magic)"));
    }
    let (len, start) = match bytes[6] {
        1 => (LittleEndian::read_u16(&bytes[8..10]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (LittleEndian::read_u32(&bytes[8..12]) as usize, 12),
        v => return Err(format_err(path, format!(".npy format version {v} is not supported (1, 2 or 3 are)"))),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| format_err(path, format!(".npy header of {len} bytes runs past the end of the file")))?;
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| format_err(path, ".npy header is not text"))?;
    let entries =
        header_dict::parse(text).map_err(|m| format_err(path, format!("unreadable .npy header {text:?}: {m}")))?;
    let mut descr = None;
    let mut fortran_order = None;
    let mut shape = None;
    for (key, value) in entries {
        match (key.as_str(), value) {
            ("descr", header_dict::Value::Str(s)) => descr = Some(s),
            ("fortran_order", header_dict::Value::Bool(b)) => fortran_order = Some(b),
            ("shape", header_dict::Value::Tuple(t)) => shape = Some(t),
            (k, v) => return Err(format_err(path, format!(".npy header has unexpected entry '{k}': {v:?}"))),
        }
    }
    match (descr, fortran_order, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => {
            Ok(NpyHeader { descr, fortran_order, shape, data_offset: end })
        }
        _ => Err(format_err(path, ".npy header lacks 'descr', 'fortran_order' or 'shape'")),
    }
}

/// The header of an `.npy` file, without reading its data.
pub fn npy_header(path: impl AsRef<Path>) -> Result<NpyHeader> {
    let path = path.as_ref();
    let map = map_file(path, 10, ".npy")?;
    parse_npy_header(&map, path)
}

/// Loads a 1-D or 2-D C-ordered `.npy` array (dtypes `<f4 <f8 <i4 <i8 |u1 <u2`)
/// as a tensor of the same shape. The file is memory-mapped and converted in
/// one pass; values must be finite.
pub fn load_npy<T: Float>(path: impl AsRef<Path>) -> Result<Tensor<T>> {
    let path = path.as_ref();
    let map = map_file(path, 10, ".npy")?;
    let header = parse_npy_header(&map, path)?;
    let dtype = NpyDtype::parse(&header.descr).ok_or_else(|| {
        format_err(path, format!("dtype '{}' is not supported (<f4, <f8, <i4, <i8, |u1, <u2 are)", header.descr))
    })?;
    if header.fortran_order {
        return Err(format_err(path, "array is in Fortran order; save it C-ordered (np.ascontiguousarray)"));
    }
    if !(1..=2).contains(&header.shape.len()) {
        return Err(format_err(path, format!("array of shape {:?}: only 1-D and 2-D arrays are read", header.shape)));
    }
    let numel = header.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let need = numel.and_then(|n| n.checked_mul(dtype.size()));
    let have = map.len() - header.data_offset;
    if need != Some(have) {
        return Err(format_err(
            path,
            format!(
                "shape {:?} of {} needs {} data bytes but the file holds {have} (truncated or damaged)",
                header.shape,
                header.descr,
                need.map_or("too many".to_string(), |n| n.to_string())
            ),
        ));
    }
    let values: Vec<f64> = map[header.data_offset..].chunks_exact(dtype.size()).map(|b| dtype.read(b)).collect();
    let cols = (header.shape.len() == 2).then(|| header.shape[1]);
    finite_tensor(path, values, header.shape, cols)
}

/// Writes `x` as a C-ordered `.npy` (`<f4` or `<f8` by `T`), atomically: a
/// temporary file in the same directory, synced, then renamed over `path`.
pub fn save_npy<T: Float>(path: impl AsRef<Path>, x: &Tensor<T>) -> Result<()> {
    let path = path.as_ref();
    let descr = match T::DTYPE {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
    };
    let dims = x.dims();
    let shape = match dims.len() {
        0 => "()".to_string(),
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // NumPy pads the header with spaces and a newline so the data starts on a 64-byte boundary.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let values = x.to_vec()?;
    let mut bytes = Vec::with_capacity(10 + header.len() + values.len() * T::DTYPE.size_bytes());
    bytes.extend_from_slice(NPY_MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        match T::DTYPE {
            DType::F32 => bytes.extend_from_slice(&(v.to_f64() as f32).to_le_bytes()),
            DType::F64 => bytes.extend_from_slice(&v.to_f64().to_le_bytes()),
        }
    }
    crate::io::write_bytes_atomically(path, &bytes)
}

/// The Python-literal dict of an `.npy` header: string keys; string, boolean
/// or integer-tuple values (all the format uses for plain arrays).
mod header_dict {
    #[derive(Debug, PartialEq)]
    pub enum Value {
        Str(String),
        Bool(bool),
        Tuple(Vec<usize>),
    }

    pub fn parse(text: &str) -> Result<Vec<(String, Value)>, String> {
        let mut p = P { s: text.as_bytes(), i: 0 };
        p.expect(b'{')?;
        let mut out = Vec::new();
        loop {
            p.ws();
            if p.eat(b'}') {
                break;
            }
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            let value = p.value()?;
            out.push((key, value));
            p.ws();
            if !p.eat(b',') {
                p.ws();
                p.expect(b'}')?;
                break;
            }
        }
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("unexpected text after the dict at byte {}", p.i));
        }
        Ok(out)
    }

    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> bool {
            let hit = self.s.get(self.i) == Some(&c);
            if hit {
                self.i += 1;
            }
            hit
        }
        fn expect(&mut self, c: u8) -> Result<(), String> {
            if self.eat(c) { Ok(()) } else { Err(format!("expected '{}' at byte {}", c as char, self.i)) }
        }
        fn string(&mut self) -> Result<String, String> {
            let quote = match self.s.get(self.i) {
                Some(&q @ (b'\'' | b'"')) => q,
                _ => return Err(format!("expected a string at byte {}", self.i)),
            };
            self.i += 1;
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != quote {
                self.i += 1;
            }
            if self.i == self.s.len() {
                return Err("unterminated string".into());
            }
            let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            self.i += 1;
            Ok(s)
        }
        fn value(&mut self) -> Result<Value, String> {
            let rest = &self.s[self.i..];
            if rest.starts_with(b"True") {
                self.i += 4;
                return Ok(Value::Bool(true));
            }
            if rest.starts_with(b"False") {
                self.i += 5;
                return Ok(Value::Bool(false));
            }
            if self.eat(b'(') {
                let mut dims = Vec::new();
                loop {
                    self.ws();
                    if self.eat(b')') {
                        return Ok(Value::Tuple(dims));
                    }
                    let start = self.i;
                    while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                        self.i += 1;
                    }
                    let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                    dims.push(digits.parse::<usize>().map_err(|_| format!("expected a dimension at byte {start}"))?);
                    self.ws();
                    if !self.eat(b',') {
                        self.ws();
                        self.expect(b')')?;
                        return Ok(Value::Tuple(dims));
                    }
                }
            }
            self.string().map(Value::Str).map_err(|_| format!("unsupported value at byte {}", self.i))
        }
    }
}

// ----- CSV ---------------------------------------------------------------

/// Loads a numeric table as `[rows, columns]`. Cells are separated by commas
/// (on lines that have one) or else by whitespace; blank lines and lines
/// starting with `#` are skipped. The first line is taken as a header when
/// none of its cells is a number. A path ending in `.gz` is decompressed.
/// Ragged rows, non-numeric cells and NaN/infinite values are errors that
/// give the line (counted from 1) and column (from 1).
pub fn load_csv<T: Float>(path: impl AsRef<Path>) -> Result<Tensor<T>> {
    let path = path.as_ref();
    let raw = fs::read(path).map_err(io_err(path))?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") { gunzip(&raw, path)? } else { raw };
    parse_csv(&bytes, path)
}

pub(crate) fn gunzip(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| format_err(path, format!("not a readable gzip file: {e}")))?;
    Ok(out)
}

/// Parses CSV text (see [`load_csv`]); `path` only names the source in errors.
pub(crate) fn parse_csv<T: Float>(bytes: &[u8], path: &Path) -> Result<Tensor<T>> {
    let text = std::str::from_utf8(bytes).map_err(|e| format_err(path, format!("not UTF-8 text: {e}")))?;
    let mut values = Vec::new();
    let mut cols = None;
    let mut rows = 0;
    let mut first = true;
    for (line_no, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = if line.contains(',') {
            line.split(',').map(str::trim).collect()
        } else {
            line.split_whitespace().collect()
        };
        let parsed: Vec<Option<f64>> = cells.iter().map(|c| c.parse::<f64>().ok()).collect();
        if std::mem::take(&mut first) && parsed.iter().all(Option::is_none) {
            continue; // a header line
        }
        match cols {
            None => cols = Some(cells.len()),
            Some(c) if c != cells.len() => {
                return Err(format_err(
                    path,
                    format!("line {line_no} has {} cells but the rows before it have {c} (ragged table)", cells.len()),
                ));
            }
            _ => {}
        }
        for (j, (cell, v)) in cells.iter().zip(parsed).enumerate() {
            match v {
                Some(v) if v.is_finite() => values.push(v),
                Some(v) => {
                    return Err(Error::NonFinite(format!(
                        "{}: value {v} at line {line_no}, column {} (data must be finite)",
                        path.display(),
                        j + 1
                    )));
                }
                None => {
                    return Err(format_err(
                        path,
                        format!("line {line_no}, column {}: '{cell}' is not a number", j + 1),
                    ));
                }
            }
        }
        rows += 1;
    }
    let Some(cols) = cols else {
        return Err(format_err(path, "no data rows"));
    };
    Tensor::from_vec(values.into_iter().map(T::from_f64).collect(), [rows, cols])
}

// ----- IDX ---------------------------------------------------------------

/// Loads an IDX file (the MNIST format: big-endian, magic `0 0 type rank`,
/// types ubyte, sbyte, short, int, float, double). Ranks 1 and 2 keep their
/// shape; higher ranks flatten the trailing dimensions, so rank-3 images
/// `[n, h, w]` become `[n, h·w]`.
pub fn load_idx<T: Float>(path: impl AsRef<Path>) -> Result<Tensor<T>> {
    load_idx_with_dims(path).map(|(x, _)| x)
}

/// [`load_idx`], also returning the dimensions the file declares.
pub fn load_idx_with_dims<T: Float>(path: impl AsRef<Path>) -> Result<(Tensor<T>, Vec<usize>)> {
    let path = path.as_ref();
    let map = map_file(path, 4, "IDX")?;
    if map[0] != 0 || map[1] != 0 {
        return Err(format_err(path, "not an IDX file (magic must start with two zero bytes)"));
    }
    let (size, read): (usize, fn(&[u8]) -> f64) = match map[2] {
        0x08 => (1, |b| b[0] as f64),
        0x09 => (1, |b| b[0] as i8 as f64),
        0x0B => (2, |b| BigEndian::read_i16(b) as f64),
        0x0C => (4, |b| BigEndian::read_i32(b) as f64),
        0x0D => (4, |b| BigEndian::read_f32(b) as f64),
        0x0E => (8, |b| BigEndian::read_f64(b)),
        t => return Err(format_err(path, format!("not an IDX file (unknown element type 0x{t:02x})"))),
    };
    let rank = map[3] as usize;
    if rank == 0 {
        return Err(format_err(path, "IDX file declares rank 0"));
    }
    let data_start = 4 + 4 * rank;
    if map.len() < data_start {
        return Err(format_err(path, format!("truncated: {} bytes cannot hold the {rank} dimensions", map.len())));
    }
    let dims: Vec<usize> = (0..rank).map(|i| BigEndian::read_u32(&map[4 + 4 * i..]) as usize).collect();
    let need = dims.iter().try_fold(size, |a, &d| a.checked_mul(d));
    let have = map.len() - data_start;
    if need != Some(have) {
        return Err(format_err(
            path,
            format!(
                "dimensions {dims:?} need {} data bytes but the file holds {have} (truncated or damaged)",
                need.map_or("too many".to_string(), |n| n.to_string())
            ),
        ));
    }
    let values: Vec<f64> = map[data_start..].chunks_exact(size).map(read).collect();
    let shape = if rank <= 2 { dims.clone() } else { vec![dims[0], dims[1..].iter().product()] };
    let cols = (shape.len() == 2).then(|| shape[1]);
    Ok((finite_tensor(path, values, shape, cols)?, dims))
}
