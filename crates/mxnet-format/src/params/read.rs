//! The zero-copy `.params` parser.
//!
//! Every length read from the file is checked against the bytes that remain
//! before anything is allocated, with checked arithmetic, so a header that
//! claims 2^60 elements is an error, not an allocation. Each loop iteration
//! consumes at least four bytes, so parsing ends.

use std::ops::Range;

use crate::dtype::DType;
use crate::sniff::{FileKind, sniff};

use super::array::StorageType;
use super::error::{ParamsError, ParamsErrorKind, ParamsWarning};
use super::{LIST_MAGIC, MAX_NDIM, V1_MAGIC, V2_MAGIC, V3_MAGIC};

/// The layout of one NDArray record (spec §1.3).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Pre-V1: no magic, the first word is the dimension count, `u32` dims.
    V0,
    /// `0xF993FAC8`: `i64` dims, no storage type.
    V1,
    /// `0xF993FAC9`: storage type and `i64` dims; what MXNet writes normally.
    V2,
    /// `0xF993FACA`: V2 layout under NumPy shape semantics (0-d arrays exist).
    V3,
}

impl RecordKind {
    /// `"v0"`, `"v1"`, `"v2"` or `"v3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::V0 => "v0",
            RecordKind::V1 => "v1",
            RecordKind::V2 => "v2",
            RecordKind::V3 => "v3",
        }
    }
}

/// The device a record says its array lived on. Readers ignore it; writers
/// write `cpu(0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// 1 cpu, 2 gpu, 3 cpu_pinned, 5 cpu_shared.
    pub dev_type: i32,
    /// Device ordinal.
    pub dev_id: i32,
}

impl Context {
    /// `cpu(0)`, what `save_checkpoint` and Gluon `export` store.
    pub const CPU: Context = Context {
        dev_type: 1,
        dev_id: 0,
    };
}

/// Where an aux (index) array of a sparse record lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuxMeta {
    pub(crate) dtype: DType,
    pub(crate) len: usize,
    pub(crate) bytes: Range<usize>,
}

/// Where the parts of a record's data lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StorageMeta {
    /// A "none" array: nothing after the shape.
    None,
    Dense {
        values: Range<usize>,
    },
    RowSparse {
        values: Range<usize>,
        indices: AuxMeta,
    },
    Csr {
        values: Range<usize>,
        indptr: AuxMeta,
        indices: AuxMeta,
    },
}

/// One parsed record: its header fields and the byte ranges of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    pub(crate) offset: usize,
    pub(crate) end: usize,
    pub(crate) kind: RecordKind,
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<usize>,
    pub(crate) context: Context,
    pub(crate) storage: StorageMeta,
}

impl RecordMeta {
    /// Byte offset of the record's first word.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Byte range of the whole record.
    pub fn byte_range(&self) -> Range<usize> {
        self.offset..self.end
    }
    /// The record layout.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }
    /// The stored context.
    pub fn context(&self) -> Context {
        self.context
    }
}

/// The result of [`parse`]: every record's layout and every name's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsIndex {
    pub(crate) records: Vec<RecordMeta>,
    /// `None` for the list form (no names).
    pub(crate) names: Option<Vec<Range<usize>>>,
    pub(crate) warnings: Vec<ParamsWarning>,
}

impl ParamsIndex {
    /// Number of arrays.
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// True when the file holds no arrays.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    /// True for the dict form (every array named).
    pub fn is_named(&self) -> bool {
        self.names.is_some()
    }
    /// The records, in file order.
    pub fn records(&self) -> &[RecordMeta] {
        &self.records
    }
    /// What MXNet would tolerate silently and we report.
    pub fn warnings(&self) -> &[ParamsWarning] {
        &self.warnings
    }
}

/// Parses a whole `.params` file held in `bytes`.
///
/// Also accepts a single record without list header (MXNet's raw-bytes form),
/// with a warning. Fails with a [`ParamsError`] that names the byte offset and
/// record; recognises HTML pages, Git LFS pointers, NumPy and ZIP files and
/// JSON (swapped files) by their first bytes.
pub fn parse(bytes: &[u8]) -> Result<ParamsIndex, ParamsError> {
    match Parser::new(bytes, false).run() {
        Ok(index) => Ok(index),
        Err((err, trap_candidates)) if trap_candidates > 0 => {
            // Retry reading V2 records with ndim 0 and a plausible context after
            // them as the 0-d arrays legacy-mode MXNet writes (spec §1.5).
            Parser::new(bytes, true).run().map_err(|_| err)
        }
        Err((err, _)) => Err(err),
    }
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    record: Option<usize>,
    read_scalar_trap: bool,
    trap_candidates: usize,
    warnings: Vec<ParamsWarning>,
}

type Fail = (ParamsError, usize);

impl<'a> Parser<'a> {
    fn new(buf: &'a [u8], read_scalar_trap: bool) -> Self {
        Parser {
            buf,
            pos: 0,
            record: None,
            read_scalar_trap,
            trap_candidates: 0,
            warnings: Vec::new(),
        }
    }

    fn run(mut self) -> Result<ParamsIndex, Fail> {
        self.list().map_err(|e| (e, self.trap_candidates))
    }

    fn error(&self, offset: usize, kind: ParamsErrorKind) -> ParamsError {
        ParamsError {
            offset: offset as u64,
            record: self.record,
            kind,
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<Range<usize>, ParamsError> {
        let available = self.remaining() as u64;
        if n > available {
            return Err(self.error(
                self.pos,
                ParamsErrorKind::Truncated {
                    what,
                    needed: n,
                    available,
                },
            ));
        }
        // n <= available <= usize::MAX
        let start = self.pos;
        self.pos += n as usize;
        Ok(start..self.pos)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ParamsError> {
        let r = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[r]);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ParamsError> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, ParamsError> {
        self.array::<4>(what).map(i32::from_le_bytes)
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, ParamsError> {
        self.array::<8>(what).map(u64::from_le_bytes)
    }

    fn list(&mut self) -> Result<ParamsIndex, ParamsError> {
        let kind = sniff(&self.buf[..self.buf.len().min(64)]);
        match kind {
            FileKind::Params => {}
            FileKind::RawNdArray => return self.raw_record(),
            FileKind::Unknown => {
                if self.buf.len() < 8 {
                    self.u64("list magic")?;
                }
                let found = u64::from_le_bytes(
                    self.buf[..8]
                        .try_into()
                        .map_err(|_| self.error(0, ParamsErrorKind::NotParams { found: kind }))?,
                );
                return Err(self.error(0, ParamsErrorKind::BadListMagic { found }));
            }
            found => return Err(self.error(0, ParamsErrorKind::NotParams { found })),
        }
        let _magic = self.u64("list magic")?;
        debug_assert_eq!(_magic, LIST_MAGIC);
        let reserved = self.u64("reserved header word")?;
        if reserved != 0 {
            self.warnings
                .push(ParamsWarning::ReservedNotZero { value: reserved });
        }
        let count_at = self.pos;
        let n = self.u64("array count")?;
        // Every record takes at least 4 bytes; never reserve more than that
        // allows, nor more than a modest start (a record's metadata is ~35
        // times the size of the smallest record; the vector grows as records
        // actually parse).
        let mut records = Vec::with_capacity((n as usize).min(self.remaining() / 4).min(1024));
        for i in 0..n {
            self.record = Some(i as usize);
            records.push(self.record_meta(i as usize)?);
        }
        self.record = None;
        let names_at = self.pos;
        let k = self.u64("name count")?;
        let names = if k == 0 {
            None
        } else if k == n {
            let mut names = Vec::with_capacity(records.len());
            for _ in 0..k {
                let len = self.u64("name length")?;
                names.push(self.take(len, "name")?);
            }
            Some(names)
        } else {
            let _ = count_at;
            return Err(self.error(
                names_at,
                ParamsErrorKind::NameCount {
                    names: k,
                    arrays: n,
                },
            ));
        };
        if self.remaining() > 0 {
            self.warnings.push(ParamsWarning::TrailingBytes {
                offset: self.pos as u64,
                count: self.remaining() as u64,
            });
        }
        Ok(ParamsIndex {
            records,
            names,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    fn raw_record(&mut self) -> Result<ParamsIndex, ParamsError> {
        self.record = Some(0);
        let meta = self.record_meta(0)?;
        self.record = None;
        self.warnings.push(ParamsWarning::RawRecord);
        if self.remaining() > 0 {
            self.warnings.push(ParamsWarning::TrailingBytes {
                offset: self.pos as u64,
                count: self.remaining() as u64,
            });
        }
        Ok(ParamsIndex {
            records: vec![meta],
            names: None,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    fn record_meta(&mut self, index: usize) -> Result<RecordMeta, ParamsError> {
        let offset = self.pos;
        let word = self.u32("record magic")?;
        let kind = match word {
            V1_MAGIC => RecordKind::V1,
            V2_MAGIC => RecordKind::V2,
            V3_MAGIC => RecordKind::V3,
            _ => RecordKind::V0,
        };
        let none = |kind| RecordMeta {
            offset,
            end: 0,
            kind,
            dtype: DType::F32,
            shape: Vec::new(),
            context: Context::CPU,
            storage: StorageMeta::None,
        };
        let (stype, storage_shape, shape) = match kind {
            RecordKind::V0 => {
                if word as usize > MAX_NDIM {
                    return Err(self.error(offset, ParamsErrorKind::BadRecordStart { word }));
                }
                let ndim = word as usize;
                let dims = self.take(ndim as u64 * 4, "shape")?;
                let shape: Vec<usize> = self.buf[dims]
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
                    .collect();
                if ndim == 0 {
                    // Old writers stored only the shape of an empty ("none") array.
                    let mut m = none(kind);
                    m.end = self.pos;
                    return Ok(m);
                }
                (StorageType::Dense, None, shape)
            }
            RecordKind::V1 => {
                let shape = self.shape_i64(kind)?;
                if shape.is_empty() {
                    let mut m = none(kind);
                    m.end = self.pos;
                    return Ok(m);
                }
                (StorageType::Dense, None, to_dims(self, &shape, offset)?)
            }
            RecordKind::V2 | RecordKind::V3 => {
                let stype_at = self.pos;
                let stype = self.i32("storage type")?;
                let stype = match stype {
                    0 => StorageType::Dense,
                    1 => StorageType::RowSparse,
                    2 => StorageType::Csr,
                    _ => {
                        return Err(self.error(stype_at, ParamsErrorKind::BadStorageType { stype }));
                    }
                };
                if kind == RecordKind::V3 && stype != StorageType::Dense {
                    return Err(self.error(stype_at, ParamsErrorKind::SparseV3));
                }
                let storage_shape = if stype != StorageType::Dense {
                    Some(self.shape_i64(kind)?)
                } else {
                    None
                };
                let shape = self.shape_i64(kind)?;
                let is_none = match kind {
                    RecordKind::V2 => shape.is_empty() && !self.scalar_trap(),
                    _ => shape.contains(&-1),
                };
                if is_none {
                    let mut m = none(kind);
                    m.end = self.pos;
                    return Ok(m);
                }
                if kind == RecordKind::V2 && shape.is_empty() {
                    self.warnings.push(ParamsWarning::LegacyScalarRecord {
                        record: index,
                        offset: offset as u64,
                    });
                }
                let storage_shape = match storage_shape {
                    Some(s) => Some(to_dims(self, &s, offset)?),
                    None => None,
                };
                (stype, storage_shape, to_dims(self, &shape, offset)?)
            }
        };
        let dev_type = self.i32("context")?;
        let dev_id = self.i32("context")?;
        let dtype_at = self.pos;
        let dtype = self.dtype("dtype", dtype_at)?;
        let context = Context { dev_type, dev_id };

        let storage = match stype {
            StorageType::Dense => {
                let values = self.data(dtype, &shape, "array values")?;
                StorageMeta::Dense { values }
            }
            StorageType::RowSparse => {
                let sshape = storage_shape.unwrap_or_default();
                let aux = self.aux_header()?;
                check_row_sparse(&shape, &sshape, &aux.1)
                    .map_err(|reason| self.error(offset, ParamsErrorKind::BadSparse { reason }))?;
                let values = self.data(dtype, &sshape, "row_sparse values")?;
                let indices = self.aux_data(aux, "row_sparse indices")?;
                StorageMeta::RowSparse { values, indices }
            }
            StorageType::Csr => {
                let sshape = storage_shape.unwrap_or_default();
                let a0 = self.aux_header()?;
                let a1 = self.aux_header()?;
                check_csr(&shape, &sshape, &a0.1, &a1.1)
                    .map_err(|reason| self.error(offset, ParamsErrorKind::BadSparse { reason }))?;
                let values = self.data(dtype, &sshape, "csr values")?;
                let indptr = self.aux_data(a0, "csr indptr")?;
                let indices = self.aux_data(a1, "csr indices")?;
                StorageMeta::Csr {
                    values,
                    indptr,
                    indices,
                }
            }
        };
        Ok(RecordMeta {
            offset,
            end: self.pos,
            kind,
            dtype,
            shape,
            context,
            storage,
        })
    }

    /// A V2 record has ndim 0. MXNet ≥ 1.5 in legacy mode writes 0-d arrays
    /// this way, followed by a context, a dtype and one value. Counts such
    /// places; in the second pass reads them as scalars.
    fn scalar_trap(&mut self) -> bool {
        let Some(next) = self.buf.get(self.pos..self.pos + 12) else {
            return false;
        };
        let word = |i: usize| i32::from_le_bytes([next[i], next[i + 1], next[i + 2], next[i + 3]]);
        let plausible = matches!(word(0), 1 | 2 | 3 | 5)
            && (0..1024).contains(&word(4))
            && DType::from_code(word(8))
                .is_ok_and(|d| self.remaining() as u64 >= 12 + d.size() as u64);
        if plausible {
            self.trap_candidates += 1;
        }
        plausible && self.read_scalar_trap
    }

    fn dtype(&mut self, what: &'static str, at: usize) -> Result<DType, ParamsError> {
        let code = self.i32(what)?;
        DType::from_code(code).map_err(|e| self.error(at, ParamsErrorKind::DType(e)))
    }

    /// A V1–V3 shape: `i32 ndim` then `ndim × i64`.
    fn shape_i64(&mut self, kind: RecordKind) -> Result<Vec<i64>, ParamsError> {
        let at = self.pos;
        let ndim = self.i32("dimension count")?;
        if ndim < 0 || ndim as usize > MAX_NDIM {
            return Err(self.error(
                at,
                ParamsErrorKind::BadNdim {
                    ndim: ndim.into(),
                    record_kind: kind,
                },
            ));
        }
        let dims = self.take(ndim as u64 * 8, "shape")?;
        Ok(self.buf[dims]
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    fn aux_header(&mut self) -> Result<(DType, Vec<usize>), ParamsError> {
        let at = self.pos;
        let dtype = self.dtype("aux dtype", at)?;
        if !matches!(dtype, DType::I64 | DType::I32) {
            return Err(self.error(
                at,
                ParamsErrorKind::BadSparse {
                    reason: format!("aux array of dtype {dtype}; expected int64 (or int32)"),
                },
            ));
        }
        let kind = RecordKind::V2;
        let shape = self.shape_i64(kind)?;
        let dims = to_dims(self, &shape, at)?;
        Ok((dtype, dims))
    }

    fn aux_data(
        &mut self,
        (dtype, shape): (DType, Vec<usize>),
        what: &'static str,
    ) -> Result<AuxMeta, ParamsError> {
        let bytes = self.data(dtype, &shape, what)?;
        Ok(AuxMeta {
            dtype,
            len: shape.first().copied().unwrap_or(0),
            bytes,
        })
    }

    fn data(
        &mut self,
        dtype: DType,
        shape: &[usize],
        what: &'static str,
    ) -> Result<Range<usize>, ParamsError> {
        let bytes = byte_size(dtype, shape).ok_or_else(|| {
            self.error(
                self.pos,
                ParamsErrorKind::SizeOverflow {
                    shape: shape.iter().map(|&d| d as u64).collect(),
                },
            )
        })?;
        self.take(bytes, what)
    }
}

/// Converts file dims to sizes, rejecting negatives.
fn to_dims(p: &Parser<'_>, dims: &[i64], offset: usize) -> Result<Vec<usize>, ParamsError> {
    dims.iter()
        .enumerate()
        .map(|(axis, &d)| {
            usize::try_from(d)
                .map_err(|_| p.error(offset, ParamsErrorKind::NegativeDim { axis, value: d }))
        })
        .collect()
}

/// Bytes needed by `shape` elements of `dtype`, if that fits in a `u64`.
pub(crate) fn byte_size(dtype: DType, shape: &[usize]) -> Option<u64> {
    shape
        .iter()
        .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d as u64))
}

fn check_row_sparse(shape: &[usize], sshape: &[usize], aux: &[usize]) -> Result<(), String> {
    if shape.is_empty() || sshape.len() != shape.len() || sshape[1..] != shape[1..] {
        return Err(format!(
            "row_sparse storage shape {sshape:?} does not match shape {shape:?} (expected (rows, {:?}))",
            shape.get(1..).unwrap_or(&[])
        ));
    }
    if aux != [sshape[0]] {
        return Err(format!(
            "row_sparse indices have shape {aux:?}; expected ({},)",
            sshape[0]
        ));
    }
    if sshape[0] > shape[0] {
        return Err(format!(
            "row_sparse stores {} rows of a {}-row array",
            sshape[0], shape[0]
        ));
    }
    Ok(())
}

fn check_csr(
    shape: &[usize],
    sshape: &[usize],
    indptr: &[usize],
    indices: &[usize],
) -> Result<(), String> {
    if shape.len() != 2 {
        return Err(format!("csr array of shape {shape:?}; csr arrays are 2-D"));
    }
    if sshape.len() != 1 {
        return Err(format!("csr storage shape {sshape:?}; expected (nnz,)"));
    }
    if indptr != [shape[0].saturating_add(1)] {
        return Err(format!(
            "csr indptr has shape {indptr:?}; expected ({},)",
            shape[0].saturating_add(1)
        ));
    }
    if indices != sshape {
        return Err(format!(
            "csr indices have shape {indices:?}; expected ({},) like the values",
            sshape[0]
        ));
    }
    Ok(())
}
