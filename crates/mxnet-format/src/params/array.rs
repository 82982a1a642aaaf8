//! Array views and owned arrays.

use std::borrow::Cow;
use std::fmt;

use crate::dtype::DType;

use super::element::{Element, decode_f32_into, extend_f32, extend_f64, index_at};
use super::error::ValueError;
use super::read::{AuxMeta, RecordKind, RecordMeta, StorageMeta, byte_size};

/// How an array's values are stored (spec §1.9).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageType {
    /// Every element, row-major (`stype` 0, MXNet's "default").
    Dense,
    /// Only some rows of the first axis, with their row numbers (`stype` 1).
    RowSparse,
    /// Compressed sparse rows of a 2-D array (`stype` 2).
    Csr,
}

impl StorageType {
    /// MXNet's name: `default`, `row_sparse` or `csr`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageType::Dense => "default",
            StorageType::RowSparse => "row_sparse",
            StorageType::Csr => "csr",
        }
    }
    /// MXNet's storage-type code.
    pub fn code(self) -> i32 {
        match self {
            StorageType::Dense => 0,
            StorageType::RowSparse => 1,
            StorageType::Csr => 2,
        }
    }
}

impl fmt::Display for StorageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 1-D integer array of a sparse record (`indices` or `indptr`): int64 as
/// MXNet writes, or int32 from hand-made files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexArray<'a> {
    dtype: DType,
    bytes: Cow<'a, [u8]>,
}

impl<'a> IndexArray<'a> {
    /// An int64 index array.
    pub fn from_i64(values: &[i64]) -> IndexArray<'static> {
        let mut bytes = Vec::with_capacity(values.len() * 8);
        for &v in values {
            v.put_le(&mut bytes);
        }
        IndexArray {
            dtype: DType::I64,
            bytes: Cow::Owned(bytes),
        }
    }
    /// int64 or int32.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Number of indices.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size()
    }
    /// True when there are no indices.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// Index `i`; panics if `i >= len()`.
    pub fn get(&self, i: usize) -> i64 {
        index_at(self.dtype, &self.bytes, i)
    }
    /// All indices as `i64`.
    pub fn to_vec(&self) -> Vec<i64> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
    /// The little-endian bytes as stored.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    fn into_owned(self) -> IndexArray<'static> {
        IndexArray {
            dtype: self.dtype,
            bytes: Cow::Owned(self.bytes.into_owned()),
        }
    }
}

/// The stored data of an array.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage<'a> {
    /// A "none" array: MXNet's empty handle, no dtype and no data (spec §1.6).
    None,
    /// All elements, little-endian, row-major.
    Dense {
        /// The element bytes.
        values: Cow<'a, [u8]>,
    },
    /// Stored rows plus their row numbers.
    RowSparse {
        /// The stored rows, row-major.
        values: Cow<'a, [u8]>,
        /// Row numbers of the stored rows, ascending.
        indices: IndexArray<'a>,
    },
    /// Compressed sparse rows.
    Csr {
        /// The non-zero values.
        values: Cow<'a, [u8]>,
        /// Row pointers, `rows + 1` of them.
        indptr: IndexArray<'a>,
        /// Column of each value.
        indices: IndexArray<'a>,
    },
}

/// An array: a view into a `.params` file (values borrowed, decoded on
/// request) or an owned array to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Array<'a> {
    dtype: DType,
    shape: Cow<'a, [usize]>,
    storage: Storage<'a>,
    record: Option<RecordKind>,
}

impl<'a> Array<'a> {
    pub(crate) fn from_meta(meta: &'a RecordMeta, buf: &'a [u8]) -> Array<'a> {
        let aux = |a: &AuxMeta| IndexArray {
            dtype: a.dtype,
            bytes: Cow::Borrowed(&buf[a.bytes.clone()]),
        };
        let storage = match &meta.storage {
            StorageMeta::None => Storage::None,
            StorageMeta::Dense { values } => Storage::Dense {
                values: Cow::Borrowed(&buf[values.clone()]),
            },
            StorageMeta::RowSparse { values, indices } => Storage::RowSparse {
                values: Cow::Borrowed(&buf[values.clone()]),
                indices: aux(indices),
            },
            StorageMeta::Csr {
                values,
                indptr,
                indices,
            } => Storage::Csr {
                values: Cow::Borrowed(&buf[values.clone()]),
                indptr: aux(indptr),
                indices: aux(indices),
            },
        };
        Array {
            dtype: meta.dtype,
            shape: Cow::Borrowed(&meta.shape),
            storage,
            record: Some(meta.kind),
        }
    }

    /// A dense array from typed values in row-major order.
    pub fn from_values<T: Element>(
        shape: Vec<usize>,
        values: &[T],
    ) -> Result<Array<'static>, ValueError> {
        let mut bytes = Vec::with_capacity(values.len() * T::DTYPE.size());
        for &v in values {
            v.put_le(&mut bytes);
        }
        Array::from_bytes(T::DTYPE, shape, bytes)
    }

    /// A dense array from little-endian bytes; fails if the length does not
    /// match the shape. A `shape` of `[]` is a 0-d scalar (one element).
    pub fn from_bytes(
        dtype: DType,
        shape: Vec<usize>,
        bytes: Vec<u8>,
    ) -> Result<Array<'static>, ValueError> {
        check_len(dtype, &shape, bytes.len())?;
        Ok(Array {
            dtype,
            shape: Cow::Owned(shape),
            storage: Storage::Dense {
                values: Cow::Owned(bytes),
            },
            record: None,
        })
    }

    /// A row_sparse array: `values` holds `indices.len()` rows of `shape[1..]`.
    pub fn row_sparse(
        dtype: DType,
        shape: Vec<usize>,
        values: Vec<u8>,
        indices: &[i64],
    ) -> Result<Array<'static>, ValueError> {
        let mut sshape = shape.clone();
        if let Some(first) = sshape.first_mut() {
            *first = indices.len();
        }
        check_len(dtype, &sshape, values.len())?;
        let array = Array {
            dtype,
            shape: Cow::Owned(shape),
            storage: Storage::RowSparse {
                values: Cow::Owned(values),
                indices: IndexArray::from_i64(indices),
            },
            record: None,
        };
        array.check_sparse_indices()?;
        Ok(array)
    }

    /// A csr array of shape `(rows, cols)`.
    pub fn csr(
        dtype: DType,
        shape: [usize; 2],
        values: Vec<u8>,
        indptr: &[i64],
        indices: &[i64],
    ) -> Result<Array<'static>, ValueError> {
        check_len(dtype, &[indices.len()], values.len())?;
        let array = Array {
            dtype,
            shape: Cow::Owned(shape.to_vec()),
            storage: Storage::Csr {
                values: Cow::Owned(values),
                indptr: IndexArray::from_i64(indptr),
                indices: IndexArray::from_i64(indices),
            },
            record: None,
        };
        array.check_sparse_indices()?;
        Ok(array)
    }

    /// A "none" array (no data), as old MXNet versions stored empty handles.
    pub fn none() -> Array<'static> {
        Array {
            dtype: DType::F32,
            shape: Cow::Owned(Vec::new()),
            storage: Storage::None,
            record: None,
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The logical shape; `[]` is a 0-d scalar (or a none array).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The logical number of elements (1 for a 0-d array, 0 for a none array).
    ///
    /// Saturates at `usize::MAX`: a sparse array's logical shape is not
    /// backed by stored bytes, so a corrupt file can declare more elements
    /// than a `usize` counts.
    pub fn len(&self) -> usize {
        self.checked_len().unwrap_or(usize::MAX)
    }

    /// The logical number of elements, `None` if it overflows a `usize`.
    fn checked_len(&self) -> Option<usize> {
        if self.is_none() {
            Some(0)
        } else {
            checked_product(&self.shape)
        }
    }
    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True for a "none" array.
    pub fn is_none(&self) -> bool {
        matches!(self.storage, Storage::None)
    }
    /// The storage type (`Dense` for none arrays).
    pub fn stype(&self) -> StorageType {
        match self.storage {
            Storage::None | Storage::Dense { .. } => StorageType::Dense,
            Storage::RowSparse { .. } => StorageType::RowSparse,
            Storage::Csr { .. } => StorageType::Csr,
        }
    }
    /// The stored data.
    pub fn storage(&self) -> &Storage<'a> {
        &self.storage
    }
    /// The record layout this array was read from, if it was read.
    pub fn record_kind(&self) -> Option<RecordKind> {
        self.record
    }
    /// The stored value bytes: all elements when dense, the stored ones when
    /// sparse, nothing for a none array.
    pub fn value_bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::None => &[],
            Storage::Dense { values }
            | Storage::RowSparse { values, .. }
            | Storage::Csr { values, .. } => values,
        }
    }
    /// The values without copying, when the array is dense, of dtype `T`, and
    /// its bytes happen to be aligned for `T` (records are not padded, so this
    /// depends on what precedes the array in the file).
    pub fn try_as_slice<T: Element + bytemuck::Pod>(&self) -> Option<&[T]> {
        match &self.storage {
            Storage::Dense { values }
                if T::DTYPE == self.dtype && cfg!(target_endian = "little") =>
            {
                bytemuck::try_cast_slice(values).ok()
            }
            _ => None,
        }
    }

    /// Like [`Array::try_as_slice`], with the lifetime of the borrowed file
    /// bytes rather than of this view (`None` for owned arrays).
    pub fn borrowed_slice<T: Element + bytemuck::Pod>(&self) -> Option<&'a [T]> {
        match &self.storage {
            Storage::Dense {
                values: Cow::Borrowed(bytes),
            } if T::DTYPE == self.dtype && cfg!(target_endian = "little") => {
                bytemuck::try_cast_slice(bytes).ok()
            }
            _ => None,
        }
    }

    /// All logical values converted to `f32` (sparse arrays densified).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>, ValueError> {
        self.dense_with(1, extend_f32)
    }

    /// Decodes all logical values, converted to `f32`, into `out`, whose
    /// length must be [`Array::len`]. Reusing one buffer for many arrays avoids
    /// the page faults of fresh allocations, the main cost of reading a large
    /// file from the page cache.
    pub fn read_f32_into(&self, out: &mut [f32]) -> Result<(), ValueError> {
        if out.len() != self.len() {
            return Err(ValueError::Length {
                shape: self.shape.to_vec(),
                dtype: DType::F32,
                expected: self.len() as u128 * 4,
                found: out.len() * 4,
            });
        }
        match &self.storage {
            Storage::Dense { values } => {
                decode_f32_into(self.dtype, values, out);
                Ok(())
            }
            Storage::None => Err(ValueError::NoData),
            _ => {
                out.copy_from_slice(&self.to_f32_vec()?);
                Ok(())
            }
        }
    }

    /// All logical values converted to `f64` (sparse arrays densified).
    pub fn to_f64_vec(&self) -> Result<Vec<f64>, ValueError> {
        self.dense_with(1, extend_f64)
    }

    /// All logical values in their native type `T`, which must be the dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, ValueError> {
        if T::DTYPE != self.dtype {
            return Err(ValueError::DTypeMismatch {
                requested: T::DTYPE,
                found: self.dtype,
            });
        }
        let size = self.dtype.size();
        self.dense_with(1, |_, bytes, out: &mut Vec<T>| {
            out.extend(bytes.chunks_exact(size).map(T::read_le))
        })
    }

    /// The values as an `ndarray` array of the native type `T`.
    #[cfg(feature = "ndarray")]
    pub fn to_ndarray<T: Element>(&self) -> Result<ndarray::ArrayD<T>, ValueError> {
        let values = self.to_vec::<T>()?;
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&self.shape), values).map_err(|_| {
            ValueError::Length {
                shape: self.shape.to_vec(),
                dtype: self.dtype,
                expected: self.len() as u128,
                found: 0,
            }
        })
    }

    /// The values converted to `f32`, as an `ndarray` array.
    #[cfg(feature = "ndarray")]
    pub fn to_ndarray_f32(&self) -> Result<ndarray::ArrayD<f32>, ValueError> {
        let values = self.to_f32_vec()?;
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&self.shape), values).map_err(|_| {
            ValueError::Length {
                shape: self.shape.to_vec(),
                dtype: self.dtype,
                expected: self.len() as u128,
                found: 0,
            }
        })
    }

    /// The same array with dense storage (a copy of the values).
    pub fn to_dense(&self) -> Result<Array<'static>, ValueError> {
        let size = self.dtype.size();
        let values = self.dense_with(size, |_, bytes, out: &mut Vec<u8>| {
            out.extend_from_slice(bytes)
        })?;
        Ok(Array {
            dtype: self.dtype,
            shape: Cow::Owned(self.shape.to_vec()),
            storage: Storage::Dense {
                values: Cow::Owned(values),
            },
            record: self.record,
        })
    }

    /// An owned copy that no longer borrows the file.
    pub fn into_owned(self) -> Array<'static> {
        let storage = match self.storage {
            Storage::None => Storage::None,
            Storage::Dense { values } => Storage::Dense {
                values: Cow::Owned(values.into_owned()),
            },
            Storage::RowSparse { values, indices } => Storage::RowSparse {
                values: Cow::Owned(values.into_owned()),
                indices: indices.into_owned(),
            },
            Storage::Csr {
                values,
                indptr,
                indices,
            } => Storage::Csr {
                values: Cow::Owned(values.into_owned()),
                indptr: indptr.into_owned(),
                indices: indices.into_owned(),
            },
        };
        Array {
            dtype: self.dtype,
            shape: Cow::Owned(self.shape.into_owned()),
            storage,
            record: self.record,
        }
    }

    /// Checks that sparse indices point inside the array and that csr row
    /// pointers are monotonic and cover every value.
    pub fn check_sparse_indices(&self) -> Result<(), ValueError> {
        match &self.storage {
            Storage::RowSparse { indices, .. } => {
                let rows = self.shape.first().copied().unwrap_or(0) as u64;
                let mut last = -1i64;
                for i in 0..indices.len() {
                    let v = indices.get(i);
                    if v < 0 || v as u64 >= rows || v <= last {
                        return Err(ValueError::SparseIndex {
                            which: "row_sparse indices (ascending, unique)",
                            position: i,
                            value: v,
                            limit: rows,
                        });
                    }
                    last = v;
                }
                Ok(())
            }
            Storage::Csr {
                indptr, indices, ..
            } => {
                let cols = self.shape.get(1).copied().unwrap_or(0) as u64;
                let nnz = indices.len() as u64;
                let mut last = 0i64;
                for i in 0..indptr.len() {
                    let v = indptr.get(i);
                    let bad = v < last
                        || v as u64 > nnz
                        || (i == 0 && v != 0)
                        || (i + 1 == indptr.len() && v as u64 != nnz);
                    if bad {
                        return Err(ValueError::SparseIndex {
                            which: "csr indptr (0, non-decreasing, ending at nnz)",
                            position: i,
                            value: v,
                            limit: nnz + 1,
                        });
                    }
                    last = v;
                }
                for i in 0..indices.len() {
                    let v = indices.get(i);
                    if v < 0 || v as u64 >= cols {
                        return Err(ValueError::SparseIndex {
                            which: "csr indices",
                            position: i,
                            value: v,
                            limit: cols,
                        });
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Builds the dense sequence with `extend`, which appends the decoded form
    /// of a block of stored elements, `unit_per_elem` output items per element;
    /// zeros fill the gaps of sparse arrays.
    fn dense_with<T: Clone + Default>(
        &self,
        unit_per_elem: usize,
        extend: impl Fn(DType, &[u8], &mut Vec<T>),
    ) -> Result<Vec<T>, ValueError> {
        let size = self.dtype.size();
        let units = self
            .checked_len()
            .and_then(|n| n.checked_mul(unit_per_elem));
        let zero_fill = |units: Option<usize>| -> Result<Vec<T>, ValueError> {
            let units = units.ok_or_else(|| self.too_large())?;
            let mut v = Vec::new();
            v.try_reserve_exact(units).map_err(|_| self.too_large())?;
            v.resize(units, T::default());
            Ok(v)
        };
        match &self.storage {
            Storage::None => Err(ValueError::NoData),
            Storage::Dense { values } => {
                let mut out = Vec::new();
                out.try_reserve_exact(units.ok_or_else(|| self.too_large())?)
                    .map_err(|_| self.too_large())?;
                extend(self.dtype, values, &mut out);
                Ok(out)
            }
            Storage::RowSparse { values, indices } => {
                self.check_sparse_indices()?;
                let mut out = zero_fill(units)?;
                if indices.is_empty() {
                    return Ok(out);
                }
                // Stored rows are file bytes, so one row's size fits.
                let row_elems =
                    checked_product(&self.shape[1..]).ok_or_else(|| self.too_large())?;
                let row_units = row_elems * unit_per_elem;
                let mut tmp = Vec::with_capacity(row_units);
                for k in 0..indices.len() {
                    let row = indices.get(k) as usize;
                    tmp.clear();
                    let src = &values[k * row_elems * size..(k + 1) * row_elems * size];
                    extend(self.dtype, src, &mut tmp);
                    out[row * row_units..(row + 1) * row_units].clone_from_slice(&tmp);
                }
                Ok(out)
            }
            Storage::Csr {
                values,
                indptr,
                indices,
            } => {
                self.check_sparse_indices()?;
                let mut out = zero_fill(units)?;
                let cols = self.shape[1];
                let mut tmp = Vec::with_capacity(unit_per_elem);
                for r in 0..indptr.len().saturating_sub(1) {
                    for j in indptr.get(r) as usize..indptr.get(r + 1) as usize {
                        let col = indices.get(j) as usize;
                        tmp.clear();
                        extend(self.dtype, &values[j * size..(j + 1) * size], &mut tmp);
                        let at = (r * cols + col) * unit_per_elem;
                        out[at..at + unit_per_elem].clone_from_slice(&tmp);
                    }
                }
                Ok(out)
            }
        }
    }

    fn too_large(&self) -> ValueError {
        let elems = saturating_product(&self.shape);
        ValueError::TooLarge {
            shape: self.shape.to_vec(),
            bytes: elems.saturating_mul(self.dtype.size() as u128),
        }
    }
}

fn check_len(dtype: DType, shape: &[usize], found: usize) -> Result<(), ValueError> {
    let expected = byte_size(dtype, shape);
    if expected != Some(found as u64) {
        return Err(ValueError::Length {
            shape: shape.to_vec(),
            dtype,
            expected: saturating_product(shape).saturating_mul(dtype.size() as u128),
            found,
        });
    }
    Ok(())
}

/// The product of `dims`, `None` on overflow (0 if any dim is 0).
fn checked_product(dims: &[usize]) -> Option<usize> {
    if dims.contains(&0) {
        return Some(0);
    }
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// The product of `dims` as `u128`, saturating.
fn saturating_product(dims: &[usize]) -> u128 {
    if dims.contains(&0) {
        return 0;
    }
    dims.iter()
        .fold(1u128, |acc, &d| acc.saturating_mul(d as u128))
}
