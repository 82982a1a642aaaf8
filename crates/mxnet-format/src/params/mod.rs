//! The `.params` codec: MXNet's NDArray list (spec §1).
//!
//! A `.params` file is `u64 0x112 | u64 0 | u64 N | N records | u64 K | K names`.
//! [`parse`] walks it once over a borrowed byte slice and returns a
//! [`ParamsIndex`]: for every record its kind (pre-V1 … V3), dtype, shape,
//! storage type and the byte ranges of its values — nothing is decoded or
//! copied. [`ParamsFile`] owns the bytes (a memory map of the file, or a buffer
//! read from any [`std::io::Read`]) together with that index and hands out
//! [`Array`] views that decode values only on request.
//!
//! ```
//! use mxnet_format::params::ParamsFile;
//!
//! let bytes = std::fs::read(concat!(
//!     env!("CARGO_MANIFEST_DIR"),
//!     "/../../tests/fixtures/spec-examples/params/small_dict.params"
//! ))?;
//! let file = ParamsFile::from_bytes(bytes)?;
//! let w = file.get_by_name("arg:w").expect("present");
//! assert_eq!(w.array.shape(), &[2, 3]);
//! assert_eq!(w.array.to_f32_vec()?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Writing goes through [`ParamsWriter`], which emits V2 records (V3 only where
//! MXNet needs them) and saves atomically.

mod array;
mod element;
mod error;
mod file;
mod read;
mod write;

pub use array::{Array, IndexArray, Storage, StorageType};
pub use element::Element;
pub use error::{ParamsError, ParamsErrorKind, ParamsWarning, ReadError, ValueError, WriteError};
pub use file::{Entry, ParamsFile};
pub use read::{Context, ParamsIndex, RecordKind, RecordMeta, parse};
pub use write::{ParamsWriter, RecordPolicy};

/// The `u64` that starts every NDArray list.
pub const LIST_MAGIC: u64 = 0x112;
/// First word of a V1 record.
pub const V1_MAGIC: u32 = 0xF993_FAC8;
/// First word of a V2 record (what MXNet writes in normal mode).
pub const V2_MAGIC: u32 = 0xF993_FAC9;
/// First word of a V3 record (what MXNet writes in NumPy-shape mode).
pub const V3_MAGIC: u32 = 0xF993_FACA;
/// The most dimensions an array may have. MXNet sets no limit; real arrays
/// have at most a handful and NumPy allows 64, so a larger count means the
/// bytes are not a record.
pub const MAX_NDIM: usize = 64;
