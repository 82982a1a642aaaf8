//! Errors and warnings of the `.params` codec.

use std::fmt;

use crate::dtype::{DType, DTypeCodeError};
use crate::sniff::FileKind;

use super::read::RecordKind;

/// A `.params` file could not be parsed.
///
/// Carries where: the byte offset, and the record index when the problem is
/// inside a record. Array names are stored after all records, so a record that
/// fails to parse has no known name yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamsError {
    /// Byte offset in the file where the problem was found.
    pub offset: u64,
    /// Index of the record being read, if any.
    pub record: Option<usize>,
    /// What went wrong.
    pub kind: ParamsErrorKind,
}

/// What went wrong while parsing a `.params` file.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum ParamsErrorKind {
    /// The file is some other kind of file.
    NotParams {
        /// What the first bytes look like.
        found: FileKind,
    },
    /// The first `u64` is not `0x112`.
    BadListMagic {
        /// The value found.
        found: u64,
    },
    /// The file ends before a field it promises.
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },
    /// A record starts with a word that is neither a magic nor a plausible
    /// pre-V1 dimension count.
    BadRecordStart {
        /// The first `u32` of the record.
        word: u32,
    },
    /// A dimension count outside `0..=MAX_NDIM`.
    BadNdim {
        /// The count found.
        ndim: i64,
        /// The record kind being read.
        record_kind: RecordKind,
    },
    /// A dimension that is negative (other than V3's `-1` = unknown).
    NegativeDim {
        /// Axis of the dimension.
        axis: usize,
        /// The value found.
        value: i64,
    },
    /// The element count or byte size of a shape overflows.
    SizeOverflow {
        /// The shape.
        shape: Vec<u64>,
    },
    /// A storage type other than 0 (dense), 1 (row_sparse), 2 (csr).
    BadStorageType {
        /// The code found.
        stype: i32,
    },
    /// A V3 record with sparse storage; MXNet cannot load those.
    SparseV3,
    /// An unusable or unknown dtype code.
    DType(DTypeCodeError),
    /// A sparse record whose storage shape or aux arrays are inconsistent.
    BadSparse {
        /// What is inconsistent.
        reason: String,
    },
    /// The name count is neither 0 nor the array count.
    NameCount {
        /// Names announced.
        names: u64,
        /// Arrays in the file.
        arrays: u64,
    },
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ParamsErrorKind::NotParams { found } = &self.kind {
            return match found {
                FileKind::Json => write!(
                    f,
                    "this is a JSON document, not a .params file (were the -symbol.json and .params files swapped?)"
                ),
                FileKind::Empty => write!(f, "the file is empty; expected an MXNet .params file"),
                other => write!(f, "this is {other}, not an MXNet .params file"),
            };
        }
        match self.record {
            Some(r) => write!(f, "record {r} at byte {}: ", self.offset)?,
            None => write!(f, "at byte {}: ", self.offset)?,
        }
        match &self.kind {
            ParamsErrorKind::NotParams { .. } => Ok(()),
            ParamsErrorKind::BadListMagic { found } => write!(
                f,
                "list magic is {found:#x}; expected 0x112 (the file is not an MXNet .params file)"
            ),
            ParamsErrorKind::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "file ends inside the {what}: {needed} bytes needed, {available} left (truncated or incomplete download?)"
            ),
            ParamsErrorKind::BadRecordStart { word } => {
                if word & 0xFFFF_FF00 == 0xF993_FA00 {
                    write!(
                        f,
                        "record magic {word:#010X} is not one MXNet 1.9.1 knows (V1 0xF993FAC8, V2 0xF993FAC9, V3 0xF993FACA); the file may come from a newer MXNet"
                    )
                } else {
                    write!(
                        f,
                        "record starts with {word:#010X}, which is neither a record magic (0xF993FAC8..=0xF993FACA) nor a plausible pre-V1 dimension count (the file is corrupt)"
                    )
                }
            }
            ParamsErrorKind::BadNdim { ndim, record_kind } => write!(
                f,
                "{} record has {ndim} dimensions; expected 0 to {} (the file is corrupt)",
                record_kind.as_str(),
                super::MAX_NDIM
            ),
            ParamsErrorKind::NegativeDim { axis, value } => write!(
                f,
                "dimension {axis} is {value}; expected a non-negative size"
            ),
            ParamsErrorKind::SizeOverflow { shape } => write!(
                f,
                "shape {shape:?} has more bytes than any file can hold (the file is corrupt)"
            ),
            ParamsErrorKind::BadStorageType { stype } => write!(
                f,
                "storage type {stype}; expected 0 (dense), 1 (row_sparse) or 2 (csr)"
            ),
            ParamsErrorKind::SparseV3 => write!(
                f,
                "V3 (NumPy-shape) record with sparse storage; MXNet only stores dense arrays in V3 records"
            ),
            ParamsErrorKind::DType(e) => write!(f, "{e}"),
            ParamsErrorKind::BadSparse { reason } => {
                write!(f, "inconsistent sparse array: {reason}")
            }
            ParamsErrorKind::NameCount { names, arrays } => write!(
                f,
                "{names} names for {arrays} arrays; expected 0 (a list) or {arrays} (a dict)"
            ),
        }
    }
}

impl std::error::Error for ParamsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ParamsErrorKind::DType(e) => Some(e),
            _ => None,
        }
    }
}

/// Something MXNet tolerates and we report.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsWarning {
    /// Bytes after the last name; MXNet ignores them.
    TrailingBytes {
        /// Where they start.
        offset: u64,
        /// How many.
        count: u64,
    },
    /// A 0-d array that MXNet wrote as a V2 record, which MXNet itself cannot
    /// read back (spec §1.5); read as the scalar it holds.
    LegacyScalarRecord {
        /// Record index.
        record: usize,
        /// Byte offset of the record.
        offset: u64,
    },
    /// One NDArray record without the list header (MXNet's raw-bytes form, as
    /// pickled NDArrays use); read as a one-element list.
    RawRecord,
    /// The reserved header word is not 0; MXNet ignores it.
    ReservedNotZero {
        /// The value found.
        value: u64,
    },
}

impl fmt::Display for ParamsWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrailingBytes { offset, count } => write!(
                f,
                "{count} trailing bytes after the names at byte {offset} (ignored, as MXNet does)"
            ),
            Self::LegacyScalarRecord { record, offset } => write!(
                f,
                "record {record} at byte {offset} is a 0-d array saved in a V2 record, which MXNet itself cannot load; read as a scalar"
            ),
            Self::RawRecord => write!(
                f,
                "a single NDArray record without list header (pickled-NDArray form); read as a one-array list"
            ),
            Self::ReservedNotZero { value } => write!(
                f,
                "reserved header word is {value}, not 0 (ignored, as MXNet does)"
            ),
        }
    }
}

/// Opening or reading a `.params` source failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The operating system refused.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The bytes are not a valid `.params` file.
    #[error(transparent)]
    Params(#[from] ParamsError),
}

/// Values of an array could not be produced as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The array holds no data (a "none" record).
    #[error("the array holds no data (a 'none' record)")]
    NoData,
    /// The requested native type is not the array's dtype.
    #[error("the array holds {found}, not {requested}")]
    DTypeMismatch {
        /// Type asked for.
        requested: DType,
        /// Type stored.
        found: DType,
    },
    /// A sparse index points outside the array.
    #[error("sparse {which} value {value} at position {position} is out of range (limit {limit})")]
    SparseIndex {
        /// `indices` or `indptr`.
        which: &'static str,
        /// Position in the aux array.
        position: usize,
        /// The value found.
        value: i64,
        /// The exclusive upper bound.
        limit: u64,
    },
    /// The dense form would not fit in memory.
    #[error("the dense form of shape {shape:?} needs {bytes} bytes, more than can be allocated")]
    TooLarge {
        /// Logical shape.
        shape: Vec<usize>,
        /// Bytes needed (saturating).
        bytes: u128,
    },
    /// The given data does not match the shape.
    #[error("{found} bytes of data for shape {shape:?} of {dtype}; expected {expected}")]
    Length {
        /// Shape.
        shape: Vec<usize>,
        /// Element type.
        dtype: DType,
        /// Bytes expected.
        expected: u128,
        /// Bytes given.
        found: usize,
    },
}

/// Arrays could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The operating system refused.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Some arrays are named and some are not; a file is either a dict or a list.
    #[error(
        "array {index} has no name while others do; a .params file is either all named or all unnamed"
    )]
    MixedNames {
        /// Index of the first unnamed array.
        index: usize,
    },
    /// A 0-d array cannot be stored in a V2 record (MXNet could not read it back).
    #[error(
        "array {name} is 0-d, which a V2 record cannot hold (MXNet would write a file it cannot load); use RecordPolicy::V3 or reshape it to (1,)"
    )]
    ScalarInV2 {
        /// Name or index of the array.
        name: String,
    },
    /// A sparse array cannot be stored in a V3 record.
    #[error(
        "array {name} is sparse, which a V3 (NumPy-shape) record cannot hold; write V2 records"
    )]
    SparseInV3 {
        /// Name or index of the array.
        name: String,
    },
    /// A "none" array cannot be stored in a V3 record.
    #[error("array {name} holds no data, which a V3 record cannot express")]
    NoneInV3 {
        /// Name or index of the array.
        name: String,
    },
}
