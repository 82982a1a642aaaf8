//! Errors of building, translating, exporting and evaluating nets.

/// Why a net operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The net's structure is inconsistent (names, sources).
    #[error("invalid net: {0}")]
    Invalid(String),
    /// A layer cannot be exported as it is.
    #[error("layer {layer:?} ({kind}): {reason}")]
    Export {
        /// The layer's node name.
        layer: String,
        /// Its type.
        kind: &'static str,
        /// What prevents the export.
        reason: String,
    },
    /// The symbol cannot be imported.
    #[error(transparent)]
    Symbol(#[from] mxnet_format::symbol::SymbolError),
    /// Running the net failed.
    #[error(transparent)]
    Exec(#[from] mxnet_ops::Error),
    /// Writing files failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// A net description (JSON) is malformed.
    #[error("net description: {0}")]
    Description(String),
}
