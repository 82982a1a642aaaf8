//! The error type of the import API.

use std::path::{Path, PathBuf};

use mxnet_format::params::{ParamsError, ReadError};
use mxnet_format::symbol::{ReadSymbolError, SymbolError};

/// Why an import or export failed. Every variant names the file.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused to read or write a file.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A `.params` file is malformed.
    #[error("{}: {error}", path.display())]
    Params {
        /// The file.
        path: PathBuf,
        /// What is wrong and where.
        error: Box<ParamsError>,
    },
    /// A symbol JSON is malformed.
    #[error("{}: {error}", path.display())]
    Symbol {
        /// The file.
        path: PathBuf,
        /// What is wrong and where.
        error: Box<SymbolError>,
    },
    /// The element cannot be imported from this kind of file.
    #[error("{}: element {element} comes from {needs} files, and this is {found}", path.display())]
    WrongFileForElement {
        /// The file.
        path: PathBuf,
        /// The element asked for.
        element: &'static str,
        /// The kind of file the element needs (`.json` symbol, `.params`).
        needs: &'static str,
        /// What the file is.
        found: &'static str,
    },
    /// The kind of a file could not be told from its name or contents.
    #[error("{}: cannot tell whether this is a symbol (.json) or a .params file: {detail}", path.display())]
    UnknownFileKind {
        /// The file.
        path: PathBuf,
        /// What it looks like.
        detail: String,
    },
    /// An element name that does not exist.
    #[error("unknown element {name:?}; expected one of {expected}")]
    UnknownElement {
        /// The name given.
        name: String,
        /// The valid names.
        expected: String,
    },
    /// An input value could not be read.
    #[error("input {name:?} from {}: {reason}", path.display())]
    Input {
        /// The input.
        name: String,
        /// The file it was read from.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The graph cannot be compiled, bound or run.
    #[error("{}: {error}", path.display())]
    Exec {
        /// The symbol file.
        path: PathBuf,
        /// What went wrong, with the node.
        error: Box<mxnet_ops::Error>,
    },
    /// The graph does not translate to a net, or a net cannot be exported.
    #[error("{}: {error}", path.display())]
    Net {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: Box<mxnet_net::NetError>,
    },
    /// Values of an array could not be decoded.
    #[error("{}: array {array}: {error}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// The array name (or index).
        array: String,
        /// What went wrong.
        error: mxnet_format::params::ValueError,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, error: std::io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            error,
        }
    }

    pub(crate) fn from_params(path: &Path, e: ReadError) -> Error {
        match e {
            ReadError::Io(source) => Error::io(path, source),
            ReadError::Params(source) => Error::Params {
                path: path.to_owned(),
                error: Box::new(source),
            },
            other => Error::io(path, std::io::Error::other(other.to_string())),
        }
    }

    pub(crate) fn from_symbol(path: &Path, e: ReadSymbolError) -> Error {
        match e {
            ReadSymbolError::Io(source) => Error::io(path, source),
            ReadSymbolError::Symbol(source) => Error::Symbol {
                path: path.to_owned(),
                error: Box::new(source),
            },
            other => Error::io(path, std::io::Error::other(other.to_string())),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
