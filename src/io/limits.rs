//! How much memory a loader may commit to a file's contents: every loader
//! (`.npy`, CSV, IDX, PNG, safetensors, TOML settings) checks what a file's
//! header promises against a [`LoadLimits`] before it allocates for it, so a
//! damaged or hostile header cannot make a reader reserve more than this.
//!
//! The limit is [`LoadLimits::DEFAULT_MAX_BYTES`] unless the environment
//! variable `WASSERFLOW_MAX_LOAD_BYTES` says otherwise (a number of bytes,
//! optionally with a `K`, `M`, `G` or `T` suffix in powers of 1024); the
//! `*_within` forms of the loaders take an explicit one.

use std::path::Path;

use crate::{Error, Result};

/// The most bytes a loader may allocate for one file's decoded contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadLimits {
    pub max_bytes: u64,
}

impl LoadLimits {
    /// 16 GiB: more than any data set the crate ships or downloads, less than
    /// what a corrupt 64-bit size field would ask for.
    pub const DEFAULT_MAX_BYTES: u64 = 16 << 30;
    /// The environment variable that overrides the default.
    pub const ENV: &'static str = "WASSERFLOW_MAX_LOAD_BYTES";

    pub fn new(max_bytes: u64) -> Self {
        LoadLimits { max_bytes }
    }

    /// The limit from `WASSERFLOW_MAX_LOAD_BYTES`, or the default when it is unset.
    pub fn from_env() -> Result<Self> {
        match std::env::var(Self::ENV) {
            Ok(text) => parse_bytes(&text).map(LoadLimits::new).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{}={text:?} is not a number of bytes (e.g. 2000000000, 512M or 8G)",
                    Self::ENV
                ))
            }),
            Err(std::env::VarError::NotPresent) => Ok(LoadLimits::new(Self::DEFAULT_MAX_BYTES)),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::InvalidArgument(format!("{} is not valid Unicode", Self::ENV)))
            }
        }
    }

    /// Refuses `path` when loading `what` needs `bytes` (`None`: more than
    /// fits in 64 bits) of memory beyond the limit.
    pub fn check(&self, path: &Path, what: &str, bytes: Option<u64>) -> Result<()> {
        match bytes {
            Some(b) if b <= self.max_bytes => Ok(()),
            _ => Err(Error::Format {
                path: path.to_path_buf(),
                message: format!(
                    "{what} needs {} bytes of memory, more than the load limit of {} bytes \
                     (raise it with {}=<bytes>)",
                    bytes.map_or_else(|| "more than 2^64".to_string(), |b| b.to_string()),
                    self.max_bytes,
                    Self::ENV
                ),
            }),
        }
    }

    /// The refusal of something found, while reading it, to exceed the limit.
    pub fn exceeded(&self, path: &Path, what: &str) -> Error {
        Error::Format {
            path: path.to_path_buf(),
            message: format!(
                "{what} exceeds the load limit of {} bytes (raise it with {}=<bytes>)",
                self.max_bytes,
                Self::ENV
            ),
        }
    }

    /// Refuses a file longer than the limit before it is read whole.
    pub fn check_file_len(&self, path: &Path, len: u64) -> Result<()> {
        self.check(path, &format!("reading this {len}-byte file"), Some(len))
    }
}

/// `123`, `64K`, `512M`, `8G`, `1T` (powers of 1024; `KiB`/`KB` spellings too).
fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_with_units() {
        assert_eq!(parse_bytes("123"), Some(123));
        assert_eq!(parse_bytes(" 64K "), Some(64 << 10));
        assert_eq!(parse_bytes("512MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("8g"), Some(8 << 30));
        assert_eq!(parse_bytes("1T"), Some(1 << 40));
        for bad in ["", "G", "-1", "1.5G", "12X", "99999999999999999999", "18446744073709551615T"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_refusal_names_the_file_the_need_and_the_limit() {
        let l = LoadLimits::new(1000);
        assert!(l.check(Path::new("a.npy"), "x", Some(1000)).is_ok());
        let e = l.check(Path::new("a.npy"), "the array", Some(1001)).unwrap_err().to_string();
        assert!(e.contains("a.npy") && e.contains("1001") && e.contains("1000") && e.contains(LoadLimits::ENV), "{e}");
        let e = l.check(Path::new("b.idx"), "x", None).unwrap_err().to_string();
        assert!(e.contains("2^64"), "{e}");
    }
}
