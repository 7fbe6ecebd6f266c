//! Errors of the host helpers: an I/O error with the path it concerns, or an image error.

use std::fmt;
use std::path::PathBuf;

/// An error from packing, unpacking or importing.
#[derive(Debug)]
#[non_exhaustive]
pub enum HostError {
    /// A host filesystem call failed on `path`.
    Io {
        /// The path involved.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The image (or the tree being built) is invalid.
    Image(crate::Error),
    /// An `--exclude` pattern does not parse.
    Glob(String),
    /// A tar archive is malformed.
    Tar(String),
}

impl HostError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> HostError {
        let path = path.into();
        move |source| HostError::Io { path, source }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            HostError::Image(e) => write!(f, "{e}"),
            HostError::Glob(e) => write!(f, "bad exclude pattern: {e}"),
            HostError::Tar(e) => write!(f, "bad tar archive: {e}"),
        }
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HostError::Io { source, .. } => Some(source),
            HostError::Image(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::Error> for HostError {
    fn from(e: crate::Error) -> Self {
        HostError::Image(e)
    }
}
