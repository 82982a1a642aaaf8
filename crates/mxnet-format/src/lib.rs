//! Byte-level reader and writer for Apache MXNet model files.
//!
//! An MXNet model is a pair of files: `PREFIX-symbol.json`, the graph, and
//! `PREFIX-EEEE.params`, the named weights. This crate reads and writes both,
//! faithfully, for every MXNet version from 0.8 to 1.9.1:
//!
//! * [`params`]: the NDArray list codec — pre-V1, V1, V2 and V3 records, every
//!   dtype MXNet can save, `row_sparse` and `csr` storage, named and unnamed
//!   lists. Parsing is zero-copy over a memory map; values are decoded on
//!   request.
//! * [`symbol`]: the graph codec — the 0.8 (`param`), 0.9–0.12 (`attr`) and
//!   1.x (`attrs`) dialects, MXNet's legacy upgrade pipeline, validation of
//!   what MXNet leaves unchecked, and a writer that reproduces MXNet's bytes.
//! * [`pairing`]: which `.params` file belongs to a symbol file (MXNet's
//!   `PREFIX-EEEE.params` checkpoint naming).
//! * [`schema`]: the op signatures the codecs need (canonical names and
//!   aliases, input names, output counts, auxiliary-state inputs).
//!
//! Policy — which arrays are weights, what can run — is decided by the crates
//! above this one; this one keeps everything it reads.
//!
//! ```
//! use mxnet_format::symbol::Symbol;
//!
//! let json = std::fs::read_to_string(concat!(
//!     env!("CARGO_MANIFEST_DIR"),
//!     "/../../tests/fixtures/spec-examples/cnn-symbol.json"
//! ))?;
//! let sym = Symbol::from_json(&json)?;
//! assert_eq!(sym.nodes().len(), 16);
//! // Writing it back reproduces MXNet's bytes.
//! assert_eq!(sym.to_json(), json);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod attr;
mod dtype;
pub mod fsutil;
pub mod pairing;
pub mod params;
pub mod schema;
mod sniff;
pub mod symbol;

pub use dtype::{DType, DTypeCodeError, ParseDTypeError};
pub use sniff::{FileKind, sniff};
