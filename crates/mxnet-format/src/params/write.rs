//! The `.params` writer.

use std::io::Write;
use std::path::Path;

use super::array::{Array, IndexArray, Storage};
use super::error::WriteError;
use super::read::RecordKind;
use super::{LIST_MAGIC, V2_MAGIC, V3_MAGIC};
use crate::fsutil::write_atomically;

/// Which record layout the writer uses.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordPolicy {
    /// V2 records, loadable by every MXNet since 0.12; but V3 for every record
    /// when an array is 0-d or any array was read from a V3 record (MXNet
    /// checks the mode per record, so one file should not mix them). This
    /// reproduces what MXNet writes after loading the same arrays.
    #[default]
    Auto,
    /// V2 records only (0-d arrays are an error).
    V2,
    /// V3 records only, for NumPy-mode consumers (sparse arrays are an error).
    V3,
}

/// Collects named or unnamed arrays and writes them as one NDArray list.
///
/// ```
/// use mxnet_format::params::{Array, ParamsFile, ParamsWriter};
///
/// let w = Array::from_values(vec![2, 3], &[1f32, 2., 3., 4., 5., 6.])?;
/// let mut writer = ParamsWriter::new();
/// writer.push(Some("arg:w"), w);
/// let bytes = writer.to_vec()?;
/// let back = ParamsFile::from_bytes(bytes)?;
/// assert_eq!(back.get(0).unwrap().name().as_deref(), Some("arg:w"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct ParamsWriter<'a> {
    entries: Vec<(Option<Vec<u8>>, Array<'a>)>,
    policy: RecordPolicy,
}

impl<'a> ParamsWriter<'a> {
    /// An empty writer with [`RecordPolicy::Auto`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the record layout policy.
    pub fn policy(mut self, policy: RecordPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Appends an array; `name` is written as given (raw bytes of the UTF-8),
    /// so include `arg:`/`aux:` prefixes when the file is a checkpoint.
    pub fn push(&mut self, name: Option<&str>, array: Array<'a>) -> &mut Self {
        self.entries
            .push((name.map(|n| n.as_bytes().to_vec()), array));
        self
    }

    /// Appends an array whose name is arbitrary bytes (MXNet does not require
    /// names to be UTF-8).
    pub fn push_raw_name(&mut self, name: Option<&[u8]>, array: Array<'a>) -> &mut Self {
        self.entries.push((name.map(<[u8]>::to_vec), array));
        self
    }

    /// Number of arrays collected.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no array was pushed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn record_kind(&self) -> Result<RecordKind, WriteError> {
        let label = |i: usize| -> String {
            match &self.entries[i].0 {
                Some(n) => format!("{:?}", String::from_utf8_lossy(n)),
                None => format!("#{i}"),
            }
        };
        let scalar = self
            .entries
            .iter()
            .position(|(_, a)| a.shape().is_empty() && !a.is_none());
        let from_v3 = self
            .entries
            .iter()
            .any(|(_, a)| a.record_kind() == Some(RecordKind::V3));
        let kind = match self.policy {
            RecordPolicy::V2 => {
                if let Some(i) = scalar {
                    return Err(WriteError::ScalarInV2 { name: label(i) });
                }
                RecordKind::V2
            }
            RecordPolicy::V3 => RecordKind::V3,
            RecordPolicy::Auto if scalar.is_some() || from_v3 => RecordKind::V3,
            RecordPolicy::Auto => RecordKind::V2,
        };
        if kind == RecordKind::V3 {
            for (i, (_, a)) in self.entries.iter().enumerate() {
                if a.is_none() {
                    return Err(WriteError::NoneInV3 { name: label(i) });
                }
                if !matches!(a.storage(), Storage::Dense { .. }) {
                    return Err(WriteError::SparseInV3 { name: label(i) });
                }
            }
        }
        Ok(kind)
    }

    /// Writes the list to `out`.
    pub fn write_to(&self, mut out: impl Write) -> Result<(), WriteError> {
        let kind = self.record_kind()?;
        let named = self.entries.first().is_some_and(|(n, _)| n.is_some());
        if let Some(index) = self.entries.iter().position(|(n, _)| n.is_some() != named) {
            return Err(WriteError::MixedNames { index });
        }
        let mut buf = Vec::new();
        put_u64(&mut buf, LIST_MAGIC);
        put_u64(&mut buf, 0);
        put_u64(&mut buf, self.entries.len() as u64);
        out.write_all(&buf)?;
        for (_, array) in &self.entries {
            buf.clear();
            record_header(&mut buf, array, kind);
            out.write_all(&buf)?;
            match array.storage() {
                Storage::None => {}
                Storage::Dense { values } => out.write_all(values)?,
                Storage::RowSparse { values, indices } => {
                    out.write_all(values)?;
                    out.write_all(indices.bytes())?;
                }
                Storage::Csr {
                    values,
                    indptr,
                    indices,
                } => {
                    out.write_all(values)?;
                    out.write_all(indptr.bytes())?;
                    out.write_all(indices.bytes())?;
                }
            }
        }
        buf.clear();
        if named {
            put_u64(&mut buf, self.entries.len() as u64);
            for (name, _) in &self.entries {
                let name = name.as_deref().unwrap_or_default();
                put_u64(&mut buf, name.len() as u64);
                buf.extend_from_slice(name);
            }
        } else {
            put_u64(&mut buf, 0);
        }
        out.write_all(&buf)?;
        Ok(())
    }

    /// The encoded file in memory.
    pub fn to_vec(&self) -> Result<Vec<u8>, WriteError> {
        let mut v = Vec::new();
        self.write_to(&mut v)?;
        Ok(v)
    }

    /// Writes the file at `path` atomically: to a temporary file in the same
    /// folder, flushed to disk, then renamed over `path`. On failure `path` is
    /// untouched.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), WriteError> {
        // Validate before creating anything on disk.
        self.record_kind()?;
        write_atomically(path.as_ref(), |w| self.write_to(w))
    }
}

fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}
fn put_i32(buf: &mut Vec<u8>, v: i32) {
    buf.extend_from_slice(&v.to_le_bytes());
}
fn put_shape(buf: &mut Vec<u8>, dims: &[usize]) {
    put_i32(buf, dims.len() as i32);
    for &d in dims {
        buf.extend_from_slice(&(d as i64).to_le_bytes());
    }
}

fn put_aux(buf: &mut Vec<u8>, aux: &IndexArray<'_>) {
    put_i32(buf, aux.dtype().code());
    put_shape(buf, &[aux.len()]);
}

/// Everything of a V2/V3 record before its value bytes.
fn record_header(buf: &mut Vec<u8>, array: &Array<'_>, kind: RecordKind) {
    let magic = if kind == RecordKind::V3 {
        V3_MAGIC
    } else {
        V2_MAGIC
    };
    buf.extend_from_slice(&magic.to_le_bytes());
    put_i32(buf, array.stype().code());
    let shape = array.shape();
    match array.storage() {
        Storage::RowSparse { indices, .. } => {
            let mut sshape = shape.to_vec();
            if let Some(first) = sshape.first_mut() {
                *first = indices.len();
            }
            put_shape(buf, &sshape);
        }
        Storage::Csr { indices, .. } => put_shape(buf, &[indices.len()]),
        Storage::None | Storage::Dense { .. } => {}
    }
    if array.is_none() {
        put_shape(buf, &[]);
        return;
    }
    put_shape(buf, shape);
    put_i32(buf, 1); // cpu
    put_i32(buf, 0);
    put_i32(buf, array.dtype().code());
    match array.storage() {
        Storage::RowSparse { indices, .. } => put_aux(buf, indices),
        Storage::Csr {
            indptr, indices, ..
        } => {
            put_aux(buf, indptr);
            put_aux(buf, indices);
        }
        Storage::None | Storage::Dense { .. } => {}
    }
}
