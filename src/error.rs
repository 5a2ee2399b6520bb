//! The crate's error type: everything a user can cause is reported as a value.

use std::fmt;
use std::path::PathBuf;

/// Errors reported by wasserflow.
#[derive(Debug)]
pub enum Error {
    /// Shapes that do not fit the operation, with what was expected.
    Shape(String),
    /// An argument outside its valid range (negative step size, unknown name, ...).
    InvalidArgument(String),
    /// A device that is not available (CUDA feature off, no GPU, ...).
    Device(String),
    /// A computation produced NaN or infinity where finite numbers were required.
    NonFinite(String),
    /// A file could not be read or written.
    Io { path: PathBuf, source: std::io::Error },
    /// A file's contents are not what its format promises.
    Format { path: PathBuf, message: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(m) => write!(f, "shape error: {m}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Device(m) => write!(f, "device error: {m}"),
            Error::NonFinite(m) => write!(f, "non-finite value: {m}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Returns early with an [`Error::Shape`] built from a format string.
#[macro_export]
macro_rules! shape_err {
    ($($arg:tt)*) => {
        return Err($crate::Error::Shape(format!($($arg)*)))
    };
}

/// Returns early with an [`Error::InvalidArgument`] built from a format string.
#[macro_export]
macro_rules! invalid_arg {
    ($($arg:tt)*) => {
        return Err($crate::Error::InvalidArgument(format!($($arg)*)))
    };
}

/// The error of a function whose implementation this build leaves out: `what`
/// needs the cargo feature `feature`. The function still exists, so code that
/// uses it compiles with any features.
#[cfg_attr(feature = "formats", allow(dead_code))]
pub(crate) fn feature_missing(feature: &str, what: &str) -> Error {
    Error::InvalidArgument(format!(
        "{what} needs wasserflow's `{feature}` feature, which this build leaves out \
         (build with `--features {feature}`)"
    ))
}
