//! The safetensors format: named tensors behind a JSON header, as Hugging
//! Face's `safetensors` package (and so PyTorch, JAX, ...) writes and reads it.
//!
//! Layout: the header length `N` as an unsigned 64-bit little-endian integer,
//! `N` bytes of UTF-8 JSON, then the tensors' raw little-endian bytes. The
//! header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin,
//! end]}` (offsets relative to the start of the data) and may hold
//! `"__metadata__"`, a string → string map.
//!
//! Reading validates as strictly as the reference implementation: the tensors
//! tile the data section exactly (no overlap, no gap, no trailing bytes), and
//! each spans its element count × dtype size. Every number taken from the
//! header is checked before it sizes or indexes anything, so a damaged file
//! is an error, never a panic or a huge allocation.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::atomic::write_atomically;
use super::json::{Parser, quote};
use super::limits::LoadLimits;

use crate::nn::ParamStore;
use crate::tensor::{DType, Float, Shape, Tensor};
use crate::{Error, Result, invalid_arg};

/// Headers longer than this are refused, as by the reference implementation:
/// a larger length field means a damaged file or not a safetensors file.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The key of the string → string metadata map in the header.
const METADATA_KEY: &str = "__metadata__";

/// Element types the format defines with a whole number of bytes each. Only
/// F32 and F64 convert to tensors; the others are known so that a file holding
/// them still validates and `get` can say which dtype it met.
const DTYPES: &[(&str, usize)] = &[
    ("BOOL", 1),
    ("U8", 1),
    ("I8", 1),
    ("F8_E5M2", 1),
    ("F8_E4M3", 1),
    ("F8_E8M0", 1),
    ("I16", 2),
    ("U16", 2),
    ("F16", 2),
    ("BF16", 2),
    ("I32", 4),
    ("U32", 4),
    ("F32", 4),
    ("F64", 8),
    ("I64", 8),
    ("U64", 8),
];

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "F32",
        DType::F64 => "F64",
    }
}

/// One tensor's header entry, validated against the data section.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    dtype: &'static str,
    shape: Vec<usize>,
    /// Byte range within the data section.
    begin: usize,
    end: usize,
}

/// The contents of a safetensors file, validated; tensors are converted on
/// [`SafeTensors::get`].
#[derive(Clone, Debug)]
pub struct SafeTensors {
    /// The `__metadata__` map in header order (empty when there is none).
    pub metadata: Vec<(String, String)>,
    /// In header order.
    tensors: Vec<Entry>,
    /// Position in `tensors` by name.
    index: HashMap<String, usize>,
    /// The whole file; the data section starts at `data_start`.
    bytes: Vec<u8>,
    data_start: usize,
    path: PathBuf,
}

/// Reads and validates a safetensors file, within the load limit of
/// `WASSERFLOW_MAX_LOAD_BYTES`.
pub fn read_safetensors(path: &Path) -> Result<SafeTensors> {
    read_safetensors_within(path, &LoadLimits::from_env()?)
}

/// [`read_safetensors`] with an explicit memory limit, which the whole file
/// must fit (it is read into memory).
pub fn read_safetensors_within(path: &Path, limits: &LoadLimits) -> Result<SafeTensors> {
    let io_err = |source| Error::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    limits.check_file_len(path, len)?;
    // Reads are bounded by the length the file system reports (a device or
    // pipe reports 0 and is refused as too short rather than read forever).
    let mut bytes = Vec::new();
    (&mut file).take(len.min(8)).read_to_end(&mut bytes).map_err(io_err)?;
    // A length field past the limit marks a file that is not safetensors: it
    // is refused before its bulk is read.
    if let Some(field) = bytes.first_chunk::<8>()
        && u64::from_le_bytes(*field) <= MAX_HEADER_BYTES
    {
        file.take(len - 8).read_to_end(&mut bytes).map_err(io_err)?;
    }
    SafeTensors::parse(bytes, path)
}

impl SafeTensors {
    /// Validates the bytes of a safetensors file; `path` only names it in errors.
    pub fn parse(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        let fail = |message: String| Error::Format { path: path.to_path_buf(), message };
        let Some((len_field, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(fail(format!(
                "file is {} bytes, too short for the 8-byte header length of a safetensors file",
                bytes.len()
            )));
        };
        let n = u64::from_le_bytes(*len_field);
        if n > MAX_HEADER_BYTES {
            return Err(fail(format!(
                "header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes (damaged, or not a safetensors file)"
            )));
        }
        if n > rest.len() as u64 {
            return Err(fail(format!(
                "header length {n} runs past the end of the file ({} bytes follow the length field)",
                rest.len()
            )));
        }
        let n = n as usize;
        let data_len = rest.len() - n;
        let header = std::str::from_utf8(&rest[..n]).map_err(|e| fail(format!("header is not UTF-8: {e}")))?;
        if !header.starts_with('{') {
            return Err(fail("header does not start with '{' (damaged, or not a safetensors file)".into()));
        }
        let mut p = Parser::new(header);
        let mut seen_metadata = false;
        let mut metadata = Vec::new();
        let mut index = HashMap::new();
        let mut tensors = Vec::new();
        p.object(0, |p, key, depth| {
            // The reference implementation keeps the last of repeated keys;
            // which one was meant cannot be known, so neither is taken.
            let repeated = if key == METADATA_KEY {
                std::mem::replace(&mut seen_metadata, true)
            } else {
                index.insert(key.clone(), tensors.len()).is_some()
            };
            if repeated {
                return Err(format!("header names '{key}' twice"));
            }
            if key == METADATA_KEY {
                metadata = parse_metadata(p, depth)?;
            } else {
                tensors.push(parse_entry(p, key, depth, data_len)?);
            }
            Ok(())
        })
        .and_then(|()| p.finish())
        .map_err(fail)?;
        check_tiling(&tensors, data_len).map_err(fail)?;
        Ok(SafeTensors { metadata, tensors, index, bytes, data_start: 8 + n, path: path.to_path_buf() })
    }

    /// Tensor names in header order.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.iter().map(|e| e.name.as_str()).collect()
    }
    pub fn len(&self) -> usize {
        self.tensors.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
    pub fn contains(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }
    /// A tensor's shape as the header gives it.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entry(name).map(|e| e.shape.as_slice())
    }
    /// A tensor's dtype as the format spells it (`"F32"`, `"BF16"`, ...).
    pub fn dtype(&self, name: &str) -> Option<&'static str> {
        self.entry(name).map(|e| e.dtype)
    }
    /// A metadata value by key.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    /// The file this was read from (as given to [`read_safetensors`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A tensor converted to `T` (F32 and F64 files convert either way;
    /// F64 → f32 rounds to nearest).
    pub fn get<T: Float>(&self, name: &str) -> Result<Tensor<T>> {
        let Some(e) = self.entry(name) else {
            let mut known: Vec<&str> = self.names();
            let more = known.len().saturating_sub(10);
            known.truncate(10);
            return Err(self.format_err(format!(
                "no tensor named '{name}' (the file holds {}{})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") },
                if more > 0 { format!(" and {more} more") } else { String::new() }
            )));
        };
        let raw = &self.bytes[self.data_start + e.begin..self.data_start + e.end];
        let same = e.dtype == dtype_name(T::DTYPE);
        let values: Vec<T> = if same && cfg!(target_endian = "little") {
            let mut v = vec![T::ZERO; raw.len() / std::mem::size_of::<T>()];
            bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(raw);
            v
        } else {
            match e.dtype {
                "F32" => raw
                    .chunks_exact(4)
                    .map(|c| T::from_f64(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64))
                    .collect(),
                "F64" => raw
                    .chunks_exact(8)
                    .map(|c| T::from_f64(f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])))
                    .collect(),
                other => {
                    return Err(self.format_err(format!(
                        "tensor '{name}' has dtype {other}; only F32 and F64 tensors can be read"
                    )));
                }
            }
        };
        Tensor::from_vec(values, Shape::from(e.shape.clone()))
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    fn format_err(&self, message: String) -> Error {
        Error::Format { path: self.path.clone(), message }
    }
}

fn parse_metadata(p: &mut Parser, depth: usize) -> std::result::Result<Vec<(String, String)>, String> {
    // The reference implementation accepts a null map.
    if p.null() {
        return Ok(Vec::new());
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    p.object(depth, |p, k, _| {
        if !seen.insert(k.clone()) {
            return Err(format!("{METADATA_KEY} names '{k}' twice"));
        }
        let v = p.string().map_err(|e| format!("{METADATA_KEY} value of '{k}' is not a string ({e})"))?;
        out.push((k, v));
        Ok(())
    })
    .map_err(|e| if e.starts_with(METADATA_KEY) { e } else { format!("{METADATA_KEY} is not a JSON object ({e})") })?;
    Ok(out)
}

fn parse_entry(p: &mut Parser, name: String, depth: usize, data_len: usize) -> std::result::Result<Entry, String> {
    let (mut dtype, mut shape, mut offsets) = (None, None, None);
    if p.peek() != Some(b'{') {
        return Err(format!("header entry of tensor '{name}' is not a JSON object ({})", p.error("expected '{'")));
    }
    p.object(depth, |p, k, depth| {
        let repeated = match k.as_str() {
            "dtype" => {
                let v = p.string().map_err(|e| format!("dtype of tensor '{name}' is not a string ({e})"))?;
                dtype.replace(v).is_some()
            }
            "shape" => {
                let v = p.uint_array().map_err(|e| format!("shape of tensor '{name}' is not a list of sizes ({e})"))?;
                shape.replace(v).is_some()
            }
            "data_offsets" => {
                let v = p
                    .uint_array()
                    .map_err(|e| format!("data_offsets of tensor '{name}' is not a pair of offsets ({e})"))?;
                offsets.replace(v).is_some()
            }
            // Unknown fields are ignored, as by the reference implementation.
            _ => return p.skip_value(depth),
        };
        if repeated {
            return Err(format!("tensor '{name}' has '{k}' twice"));
        }
        Ok(())
    })?;
    let missing = |field: &str| format!("tensor '{name}' has no '{field}'");
    let dtype = dtype.ok_or_else(|| missing("dtype"))?;
    let Some(&(dtype, size)) = DTYPES.iter().find(|(d, _)| *d == dtype) else {
        return Err(format!("tensor '{name}' has unknown or unsupported dtype '{dtype}'"));
    };
    let shape = shape.ok_or_else(|| missing("shape"))?;
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("shape of tensor '{name}' has a size beyond this machine's address space"))?;
    let offsets = offsets.ok_or_else(|| missing("data_offsets"))?;
    let &[begin, end] = offsets.as_slice() else {
        return Err(format!("data_offsets of tensor '{name}' holds {} numbers, not 2", offsets.len()));
    };
    // Both are compared with data_len (a usize) before any use as an index.
    let (Ok(begin), Ok(end)) = (usize::try_from(begin), usize::try_from(end)) else {
        return Err(format!("tensor '{name}' has data_offsets [{begin}, {end}] past the end of the data section"));
    };
    let shape_str = Shape::from(shape.clone());
    if end < begin {
        return Err(format!("tensor '{name}' has data_offsets [{begin}, {end}], which run backwards"));
    }
    if end > data_len {
        return Err(format!(
            "tensor '{name}' has data_offsets [{begin}, {end}] past the end of the data section ({data_len} bytes)"
        ));
    }
    let nbytes = shape.iter().try_fold(size, |acc, &d| acc.checked_mul(d));
    if nbytes != Some(end - begin) {
        return Err(format!(
            "tensor '{name}' of shape {shape_str} and dtype {dtype} needs {} bytes, but its data_offsets [{begin}, {end}] span {}",
            nbytes.map_or_else(|| "more than usize::MAX".to_string(), |n| n.to_string()),
            end - begin
        ));
    }
    Ok(Entry { name, dtype, shape, begin, end })
}

/// The tensors must cover the data section exactly once, in some order.
fn check_tiling(tensors: &[Entry], data_len: usize) -> std::result::Result<(), String> {
    let mut order: Vec<&Entry> = tensors.iter().collect();
    order.sort_by_key(|e| (e.begin, e.end));
    let mut pos = 0;
    let mut prev: Option<&Entry> = None;
    for e in order {
        if e.begin < pos {
            let p = prev.map_or("", |p| p.name.as_str());
            return Err(format!(
                "tensor '{}' (bytes {}..{}) overlaps tensor '{p}' (which ends at {pos})",
                e.name, e.begin, e.end
            ));
        }
        if e.begin > pos {
            return Err(format!(
                "{} bytes of the data section before tensor '{}' (at {}) belong to no tensor",
                e.begin - pos,
                e.name,
                e.begin
            ));
        }
        pos = e.end;
        prev = Some(e);
    }
    if pos != data_len {
        return Err(format!(
            "the data section is {data_len} bytes but the tensors cover only {pos} (truncated header or extra data)"
        ));
    }
    Ok(())
}

/// Writes `tensors` (in this order) and `metadata` to `path` as safetensors,
/// atomically: readers see the old file or the complete new one, never a part.
pub fn write_safetensors<T: Float>(
    path: &Path,
    tensors: &[(&str, &Tensor<T>)],
    metadata: &[(&str, &str)],
) -> Result<()> {
    let mut names = HashSet::new();
    for (name, _) in tensors {
        if *name == METADATA_KEY {
            invalid_arg!("'{METADATA_KEY}' is reserved and cannot name a tensor");
        }
        if !names.insert(*name) {
            invalid_arg!("tensor name '{name}' is given twice");
        }
    }
    let mut keys = HashSet::new();
    if let Some((k, _)) = metadata.iter().find(|(k, _)| !keys.insert(*k)) {
        invalid_arg!("metadata key '{k}' is given twice");
    }

    let mut header = String::from("{");
    if !metadata.is_empty() {
        let entries: Vec<String> = metadata.iter().map(|(k, v)| format!("{}:{}", quote(k), quote(v))).collect();
        header.push_str(&format!("{}:{{{}}}", quote(METADATA_KEY), entries.join(",")));
    }
    let mut offset = 0usize;
    for (i, (name, t)) in tensors.iter().enumerate() {
        let nbytes = t.numel() * T::DTYPE.size_bytes();
        let dims: Vec<String> = t.dims().iter().map(|d| d.to_string()).collect();
        if i > 0 || !metadata.is_empty() {
            header.push(',');
        }
        header.push_str(&format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
            quote(name),
            dtype_name(T::DTYPE),
            dims.join(","),
            offset + nbytes
        ));
        offset += nbytes;
    }
    header.push('}');
    // Padding keeps the data 8-byte aligned in the file, as the reference writer does.
    while header.len() % 8 != 0 {
        header.push(' ');
    }

    write_atomically(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        for (_, t) in tensors {
            match t.as_slice() {
                Ok(values) => write_le(w, values)?,
                Err(_) => write_le(w, &t.to_vec().map_err(std::io::Error::other)?)?,
            }
        }
        Ok(())
    })
}

fn write_le<T: Float>(w: &mut impl Write, values: &[T]) -> std::io::Result<()> {
    if cfg!(target_endian = "little") {
        return w.write_all(bytemuck::cast_slice(values));
    }
    for v in values {
        match T::DTYPE {
            DType::F32 => w.write_all(&(v.to_f64() as f32).to_le_bytes())?,
            DType::F64 => w.write_all(&v.to_f64().to_le_bytes())?,
        }
    }
    Ok(())
}

/// Saves every parameter of `store` under its name.
pub fn save_params<T: Float>(path: &Path, store: &ParamStore<T>, metadata: &[(&str, &str)]) -> Result<()> {
    let tensors: Vec<(&str, &Tensor<T>)> = store.names().iter().map(String::as_str).zip(store.values()).collect();
    write_safetensors(path, &tensors, metadata)
}

/// Loads a checkpoint into `store`. The file must hold exactly the store's
/// parameters with the same shapes (F32 or F64, converted to `T`); otherwise
/// nothing is changed and the error lists what does not match.
pub fn load_params<T: Float>(path: &Path, store: &mut ParamStore<T>) -> Result<()> {
    let file = read_safetensors(path)?;
    let mut problems = Vec::new();
    let mut values = Vec::with_capacity(store.len());
    for id in store.ids() {
        let name = store.name(id);
        let want = store.get(id).shape();
        match file.shape(name) {
            None => problems.push(format!("parameter '{name}' is missing")),
            Some(s) if s != want.dims() => problems.push(format!(
                "parameter '{name}' has shape {want} in the model but {} in the file",
                Shape::from(s.to_vec())
            )),
            Some(_) => values.push((id, file.get::<T>(name)?)),
        }
    }
    for name in file.names() {
        if store.id(name).is_none() {
            problems.push(format!("'{name}' is not a parameter of the model"));
        }
    }
    if !problems.is_empty() {
        let total = problems.len();
        problems.truncate(8);
        let more = if total > 8 { format!("; and {} more", total - 8) } else { String::new() };
        return Err(Error::Format {
            path: path.to_path_buf(),
            message: format!(
                "checkpoint does not match the model ({} parameters): {}{more}",
                store.len(),
                problems.join("; ")
            ),
        });
    }
    for (id, v) in values {
        store.set(id, v)?;
    }
    Ok(())
}
