//! Recognising what a file is from its first bytes.
//!
//! Users hand us the wrong file more often than a corrupt one: a web page saved
//! instead of the download, a Git LFS pointer checked out without `git lfs pull`,
//! a NumPy file, or the `.json` and `.params` of a model swapped. [`sniff`] names
//! these so that errors can say so plainly.

use std::fmt;

/// What the start of a file looks like.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An MXNet NDArray list (`.params`): starts with the `u64` magic `0x112`.
    Params,
    /// A single MXNet NDArray record without list header (a pickled NDArray).
    RawNdArray,
    /// A JSON object (possibly an MXNet symbol).
    Json,
    /// An HTML or XML page (a web page saved instead of the file it links to).
    Html,
    /// A Git LFS pointer file (`version https://git-lfs.github.com/spec/v1`).
    GitLfsPointer,
    /// A NumPy `.npy` array.
    Npy,
    /// A ZIP archive (a NumPy `.npz`, a PyTorch `.pt`, a Keras `.keras`, …).
    Zip,
    /// gzip-compressed data.
    Gzip,
    /// A Python pickle.
    Pickle,
    /// An HDF5 file (Keras `.h5`).
    Hdf5,
    /// A protobuf-looking ONNX model (`.onnx`), recognised loosely.
    Onnx,
    /// A zero-length file.
    Empty,
    /// None of the above.
    Unknown,
}

impl FileKind {
    /// A phrase describing the kind, for error messages ("an HTML page").
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Params => "an MXNet .params file (NDArray list)",
            FileKind::RawNdArray => "a single MXNet NDArray record without list header",
            FileKind::Json => "a JSON document",
            FileKind::Html => {
                "an HTML page (probably a web page saved instead of the file it links to)"
            }
            FileKind::GitLfsPointer => {
                "a Git LFS pointer file, not the model itself (run `git lfs pull` to fetch the real file)"
            }
            FileKind::Npy => "a NumPy .npy array",
            FileKind::Zip => "a ZIP archive (e.g. a NumPy .npz or a PyTorch checkpoint)",
            FileKind::Gzip => "gzip-compressed data (decompress it first)",
            FileKind::Pickle => "a Python pickle",
            FileKind::Hdf5 => "an HDF5 file (e.g. a Keras .h5 model)",
            FileKind::Onnx => "what looks like an ONNX model",
            FileKind::Empty => "an empty file",
            FileKind::Unknown => "not a recognised format",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Classifies a file from its first bytes (64 are plenty).
pub fn sniff(head: &[u8]) -> FileKind {
    if head.is_empty() {
        return FileKind::Empty;
    }
    if head.len() >= 8 && head[..8] == [0x12, 0x01, 0, 0, 0, 0, 0, 0] {
        return FileKind::Params;
    }
    if head.len() >= 4 && matches!(head[..4], [0xC8..=0xCA, 0xFA, 0x93, 0xF9]) {
        return FileKind::RawNdArray;
    }
    if head.starts_with(b"version https://git-lfs") {
        return FileKind::GitLfsPointer;
    }
    if head.starts_with(b"\x93NUMPY") {
        return FileKind::Npy;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return FileKind::Zip;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return FileKind::Gzip;
    }
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return FileKind::Hdf5;
    }
    if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        return FileKind::Pickle;
    }
    let text = skip_bom_and_space(head);
    match text.first() {
        Some(b'{') | Some(b'[') => return FileKind::Json,
        Some(b'<') => return FileKind::Html,
        _ => {}
    }
    // ONNX ModelProto starts with field 1 (ir_version, varint): 0x08 then a small version.
    if head.len() >= 4 && head[0] == 0x08 && (3..=12).contains(&head[1]) && head[2] == 0x12 {
        return FileKind::Onnx;
    }
    FileKind::Unknown
}

fn skip_bom_and_space(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_common_mistakes() {
        assert_eq!(sniff(b""), FileKind::Empty);
        assert_eq!(sniff(b"\x12\x01\0\0\0\0\0\0\0\0"), FileKind::Params);
        assert_eq!(sniff(b"\xc9\xfa\x93\xf9\0\0"), FileKind::RawNdArray);
        assert_eq!(sniff(b"  \n<!DOCTYPE html>"), FileKind::Html);
        assert_eq!(sniff(b"<html><body>"), FileKind::Html);
        assert_eq!(
            sniff(b"version https://git-lfs.github.com/spec/v1\noid sha256:"),
            FileKind::GitLfsPointer
        );
        assert_eq!(sniff(b"\x93NUMPY\x01\x00"), FileKind::Npy);
        assert_eq!(sniff(b"PK\x03\x04...."), FileKind::Zip);
        assert_eq!(sniff(b"\x1f\x8b\x08"), FileKind::Gzip);
        assert_eq!(sniff(b"\xEF\xBB\xBF{\"nodes\""), FileKind::Json);
        assert_eq!(sniff(b"\x80\x04\x95"), FileKind::Pickle);
        assert_eq!(sniff(b"hello"), FileKind::Unknown);
    }
}
