//! Array files as tensors: NumPy `.npy` (memory-mapped), numeric CSV (plain
//! or gzipped) and IDX (the MNIST format), plus an atomic `.npy` writer.
//!
//! Every reader checks the file against what its header promises, and that
//! promise against a [`LoadLimits`], before it sizes anything from it; it
//! converts each value once, straight to the tensor's type, and refuses NaN,
//! infinity and values too large for that type with the place they were
//! found: a damaged or unexpected file is an error that names it, never a
//! panic, a huge allocation or a silently wrong tensor.
//!
//! The `*_within` forms take an explicit limit; the others read it from
//! `WASSERFLOW_MAX_LOAD_BYTES` ([`LoadLimits::from_env`]). The `*_from_bytes`
//! forms decode bytes already in memory (`path` then only names them).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use byteorder::{BigEndian, ByteOrder, LittleEndian};
use memmap2::Mmap;

use crate::io::LoadLimits;
use crate::tensor::{DType, Float, Tensor};
use crate::{Error, Result};

fn format_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Format { path: path.to_path_buf(), message: message.into() }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Where a value that is not finite in `T` sits: `row` (and `col` for 2-D
/// data), counted from 0. A finite value that overflows `T` (1e300 read as
/// f32) is named as such.
fn non_finite<T: Float>(path: &Path, value: f64, row: usize, col: Option<usize>) -> Error {
    let at = match col {
        Some(c) => format!("row {row}, column {c}"),
        None => format!("index {row}"),
    };
    let why = if value.is_finite() {
        format!("is too large for {} (data must be finite)", type_name::<T>())
    } else {
        "(data must be finite)".to_string()
    };
    Error::NonFinite(format!("{}: value {value} at {at} {why}", path.display()))
}

fn type_name<T: Float>() -> &'static str {
    match T::DTYPE {
        DType::F32 => "f32",
        DType::F64 => "f64",
    }
}

/// Converts `numel` values to a tensor of `dims`, refusing those not finite
/// in `T`. `cols` is the row length used to report positions (`None`: flat index).
fn finite_tensor<T: Float>(
    path: &Path,
    values: impl Iterator<Item = f64>,
    numel: usize,
    dims: Vec<usize>,
    cols: Option<usize>,
) -> Result<Tensor<T>> {
    let mut out = Vec::with_capacity(numel);
    for (i, v) in values.enumerate() {
        let x = T::from_f64(v);
        if !x.to_f64().is_finite() {
            return Err(match cols {
                Some(c) if c > 0 => non_finite::<T>(path, v, i / c, Some(i % c)),
                _ => non_finite::<T>(path, v, i, None),
            });
        }
        out.push(x);
    }
    Tensor::from_vec(out, dims)
}

/// The memory a tensor of `numel` elements of `T` takes, if it fits in 64 bits.
fn tensor_bytes<T: Float>(numel: Option<usize>) -> Option<u64> {
    numel.and_then(|n| (n as u64).checked_mul(T::DTYPE.size_bytes() as u64))
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
/// one pass; values must be finite in `T`.
pub fn load_npy<T: Float>(path: impl AsRef<Path>) -> Result<Tensor<T>> {
    load_npy_within(path, &LoadLimits::from_env()?)
}

/// [`load_npy`] with an explicit memory limit.
pub fn load_npy_within<T: Float>(path: impl AsRef<Path>, limits: &LoadLimits) -> Result<Tensor<T>> {
    let path = path.as_ref();
    let map = map_file(path, 10, ".npy")?;
    npy_from_bytes(&map, path, limits)
}

/// [`load_npy`] of a file's bytes already in memory; `path` names it in errors.
pub fn npy_from_bytes<T: Float>(bytes: &[u8], path: &Path, limits: &LoadLimits) -> Result<Tensor<T>> {
    let header = parse_npy_header(bytes, path)?;
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
    let have = bytes.len() - header.data_offset;
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
    // A header that agrees with the file can still promise more than may be held.
    let what = format!("an array of shape {:?} as {}", header.shape, type_name::<T>());
    limits.check(path, &what, tensor_bytes::<T>(numel))?;
    let values = bytes[header.data_offset..].chunks_exact(dtype.size()).map(|b| dtype.read(b));
    let cols = (header.shape.len() == 2).then(|| header.shape[1]);
    finite_tensor(path, values, have / dtype.size(), header.shape, cols)
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
/// Ragged rows, non-numeric cells and values not finite in `T` are errors
/// that give the line (counted from 1) and column (from 1).
pub fn load_csv<T: Float>(path: impl AsRef<Path>) -> Result<Tensor<T>> {
    load_csv_within(path, &LoadLimits::from_env()?)
}

/// [`load_csv`] with an explicit memory limit: on the file, on its
/// decompressed text, and on the text and the values together.
pub fn load_csv_within<T: Float>(path: impl AsRef<Path>, limits: &LoadLimits) -> Result<Tensor<T>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    limits.check_file_len(path, len)?;
    let mut raw = Vec::new();
    // Bounded by the length checked above, should the file grow meanwhile.
    file.take(len).read_to_end(&mut raw).map_err(io_err(path))?;
    csv_from_bytes(&raw, path, limits)
}

/// [`load_csv`] of a file's bytes already in memory; `path` names it in errors
/// and, when it ends in `.gz`, says that the bytes are gzipped.
pub fn csv_from_bytes<T: Float>(bytes: &[u8], path: &Path, limits: &LoadLimits) -> Result<Tensor<T>> {
    if path.extension().is_some_and(|e| e == "gz") {
        parse_csv(&gunzip(bytes, path, limits)?, path, limits)
    } else {
        parse_csv(bytes, path, limits)
    }
}

/// Decompresses a gzip stream, refusing one that inflates past the limit
/// (a few kilobytes of gzip can hold gigabytes of zeros).
#[cfg(feature = "formats")]
pub(crate) fn gunzip(bytes: &[u8], path: &Path, limits: &LoadLimits) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limits.max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format_err(path, format!("not a readable gzip file: {e}")))?;
    if out.len() as u64 > limits.max_bytes {
        return Err(limits.exceeded(path, "the decompressed text"));
    }
    Ok(out)
}

#[cfg(not(feature = "formats"))]
pub(crate) fn gunzip(_: &[u8], _: &Path, _: &LoadLimits) -> Result<Vec<u8>> {
    Err(crate::error::feature_missing("formats", "reading gzip-compressed data"))
}

/// Parses CSV text (see [`load_csv`]); `path` only names the source in errors.
pub(crate) fn parse_csv<T: Float>(bytes: &[u8], path: &Path, limits: &LoadLimits) -> Result<Tensor<T>> {
    let text = std::str::from_utf8(bytes).map_err(|e| format_err(path, format!("not UTF-8 text: {e}")))?;
    let mut values: Vec<T> = Vec::new();
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
                Some(v) if T::from_f64(v).to_f64().is_finite() => values.push(T::from_f64(v)),
                Some(v) => {
                    let why = if v.is_finite() {
                        format!("is too large for {} (data must be finite)", type_name::<T>())
                    } else {
                        "(data must be finite)".to_string()
                    };
                    return Err(Error::NonFinite(format!(
                        "{}: value {v} at line {line_no}, column {} {why}",
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
        let held = (bytes.len() as u64).saturating_add(tensor_bytes::<T>(Some(values.len())).unwrap_or(u64::MAX));
        if held > limits.max_bytes {
            limits.check(
                path,
                &format!("the text and the {} values read by line {line_no}", values.len()),
                Some(held),
            )?;
        }
    }
    let Some(cols) = cols else {
        return Err(format_err(path, "no data rows"));
    };
    Tensor::from_vec(values, [rows, cols])
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
    load_idx_within(path, &LoadLimits::from_env()?)
}

/// [`load_idx_with_dims`] with an explicit memory limit.
pub fn load_idx_within<T: Float>(path: impl AsRef<Path>, limits: &LoadLimits) -> Result<(Tensor<T>, Vec<usize>)> {
    let path = path.as_ref();
    let map = map_file(path, 4, "IDX")?;
    idx_from_bytes(&map, path, limits)
}

/// [`load_idx_with_dims`] of a file's bytes already in memory; `path` names it in errors.
pub fn idx_from_bytes<T: Float>(bytes: &[u8], path: &Path, limits: &LoadLimits) -> Result<(Tensor<T>, Vec<usize>)> {
    if bytes.len() < 4 {
        return Err(format_err(
            path,
            format!("{} bytes is too short for an IDX file (truncated or empty)", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format_err(path, "not an IDX file (magic must start with two zero bytes)"));
    }
    let (size, read): (usize, fn(&[u8]) -> f64) = match bytes[2] {
        0x08 => (1, |b| b[0] as f64),
        0x09 => (1, |b| b[0] as i8 as f64),
        0x0B => (2, |b| BigEndian::read_i16(b) as f64),
        0x0C => (4, |b| BigEndian::read_i32(b) as f64),
        0x0D => (4, |b| BigEndian::read_f32(b) as f64),
        0x0E => (8, |b| BigEndian::read_f64(b)),
        t => return Err(format_err(path, format!("not an IDX file (unknown element type 0x{t:02x})"))),
    };
    let rank = bytes[3] as usize;
    if rank == 0 {
        return Err(format_err(path, "IDX file declares rank 0"));
    }
    let data_start = 4 + 4 * rank;
    if bytes.len() < data_start {
        return Err(format_err(path, format!("truncated: {} bytes cannot hold the {rank} dimensions", bytes.len())));
    }
    let dims: Vec<usize> = (0..rank).map(|i| BigEndian::read_u32(&bytes[4 + 4 * i..]) as usize).collect();
    let numel = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let need = numel.and_then(|n| n.checked_mul(size));
    let have = bytes.len() - data_start;
    if need != Some(have) {
        return Err(format_err(
            path,
            format!(
                "dimensions {dims:?} need {} data bytes but the file holds {have} (truncated or damaged)",
                need.map_or("too many".to_string(), |n| n.to_string())
            ),
        ));
    }
    // A header that agrees with the file can still promise more than may be held.
    limits.check(path, &format!("dimensions {dims:?} as {}", type_name::<T>()), tensor_bytes::<T>(numel))?;
    let values = bytes[data_start..].chunks_exact(size).map(read);
    // With a zero first dimension the size checks above pass whatever the others are, and their
    // product may overflow (found by fuzz/fuzz_targets/idx.rs).
    let shape = if rank <= 2 {
        dims.clone()
    } else {
        let trailing = dims[1..].iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| {
            format_err(path, format!("dimensions {dims:?}: the trailing ones multiply past this machine's sizes"))
        })?;
        vec![dims[0], trailing]
    };
    let cols = (shape.len() == 2).then(|| shape[1]);
    Ok((finite_tensor(path, values, have / size, shape, cols)?, dims))
}
