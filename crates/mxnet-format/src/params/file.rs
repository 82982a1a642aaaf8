//! A parsed `.params` file that owns its bytes.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::array::Array;
use super::error::{ParamsError, ParamsWarning, ReadError};
use super::read::{ParamsIndex, RecordMeta, parse};

enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A `.params` file: its bytes (memory-mapped or in a buffer) and its index.
///
/// Parsing happens once, in the constructor; afterwards arrays are views that
/// borrow the bytes and decode values only when asked.
pub struct ParamsFile {
    bytes: Bytes,
    index: ParamsIndex,
}

/// One array of a file, with its position and name.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Position in the file (0-based).
    pub index: usize,
    /// The name as stored (raw bytes; MXNet does not interpret them), or
    /// `None` in a list-form file.
    pub name_bytes: Option<&'a [u8]>,
    /// The array.
    pub array: Array<'a>,
    /// Where the record lies.
    pub record: &'a RecordMeta,
}

impl Entry<'_> {
    /// The name decoded as UTF-8 (invalid bytes replaced), or `None` in a list.
    pub fn name(&self) -> Option<Cow<'_, str>> {
        self.name_bytes.map(String::from_utf8_lossy)
    }
}

impl std::fmt::Debug for ParamsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamsFile")
            .field("bytes", &self.bytes.len())
            .field("index", &self.index)
            .finish()
    }
}

impl ParamsFile {
    /// Maps the file at `path` into memory and parses it.
    ///
    /// The map is read-only. As with every memory map, the file must not be
    /// truncated by another process while the `ParamsFile` lives (the OS would
    /// then signal a bus error on access); model files are not rewritten in
    /// place in practice, and our own writers replace files by rename, which
    /// leaves existing maps intact.
    pub fn open(path: impl AsRef<Path>) -> Result<ParamsFile, ReadError> {
        let file = File::open(path.as_ref())?;
        let len = file.metadata()?.len();
        let bytes = if len < 64 * 1024 {
            // Small files: a read is cheaper than a map.
            let mut v = Vec::with_capacity(len as usize);
            (&file).take(len).read_to_end(&mut v)?;
            Bytes::Owned(v)
        } else {
            // SAFETY: read-only map; see the contract above about concurrent truncation.
            Bytes::Mapped(unsafe { memmap2::Mmap::map(&file)? })
        };
        let index = parse(&bytes)?;
        Ok(ParamsFile { bytes, index })
    }

    /// Parses bytes already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<ParamsFile, ParamsError> {
        let index = parse(&bytes)?;
        Ok(ParamsFile {
            bytes: Bytes::Owned(bytes),
            index,
        })
    }

    /// Reads everything from `reader` (e.g. stdin) and parses it, with the
    /// same checks as [`ParamsFile::open`]. Memory grows with the bytes that
    /// actually arrive, never with what a header claims.
    pub fn from_reader(mut reader: impl Read) -> Result<ParamsFile, ReadError> {
        let mut v = Vec::new();
        reader.read_to_end(&mut v)?;
        Ok(ParamsFile::from_bytes(v)?)
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The parsed layout.
    pub fn index(&self) -> &ParamsIndex {
        &self.index
    }
    /// Number of arrays.
    pub fn len(&self) -> usize {
        self.index.len()
    }
    /// True when the file holds no arrays.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    /// True for the dict form (every array named).
    pub fn is_named(&self) -> bool {
        self.index.is_named()
    }
    /// Things MXNet tolerates that we noticed.
    pub fn warnings(&self) -> &[ParamsWarning] {
        self.index.warnings()
    }

    /// Array `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Entry<'_>> {
        let record = self.index.records.get(i)?;
        let name_bytes = self
            .index
            .names
            .as_ref()
            .and_then(|n| n.get(i))
            .map(|r| &self.bytes[r.clone()]);
        Some(Entry {
            index: i,
            name_bytes,
            array: Array::from_meta(record, &self.bytes),
            record,
        })
    }

    /// The last array called `name` (MXNet's Python loader keeps the last of
    /// duplicates).
    pub fn get_by_name(&self, name: &str) -> Option<Entry<'_>> {
        let names = self.index.names.as_ref()?;
        let i = names
            .iter()
            .rposition(|r| &self.bytes[r.clone()] == name.as_bytes())?;
        self.get(i)
    }

    /// Every array in file order.
    pub fn iter(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }
}
