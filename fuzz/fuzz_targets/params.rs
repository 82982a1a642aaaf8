//! `.params` bytes: parse, decode every array, re-write, re-parse.
//!
//! Invariants: no panic; an error names an offset inside the input; a file
//! that parses re-writes to a file that parses, and writing that one again
//! gives the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mxnet_format::params::{ParamsFile, ParamsWriter};

/// Sparse arrays' logical shapes are not backed by file bytes; densifying
/// billions of zeros is the caller's choice, not a parser property.
const DENSIFY_CAP: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let file = match ParamsFile::from_bytes(data.to_vec()) {
        Ok(f) => f,
        Err(e) => {
            assert!(e.offset <= data.len() as u64, "offset past the end: {e}");
            let _ = e.to_string();
            return;
        }
    };
    for w in file.warnings() {
        let _ = w.to_string();
    }
    for entry in file.iter() {
        let _ = entry.name();
        let a = &entry.array;
        if a.len() <= DENSIFY_CAP {
            if let Ok(v) = a.to_f64_vec() {
                assert_eq!(v.len(), a.len());
            }
            let _ = a.to_f32_vec();
            let _ = a.to_dense();
        }
        let _ = a.check_sparse_indices();
    }
    let mut writer = ParamsWriter::new();
    for e in file.iter() {
        writer.push_raw_name(e.name_bytes, e.array.clone());
    }
    let Ok(bytes) = writer.to_vec() else { return };
    let back = match ParamsFile::from_bytes(bytes.clone()) {
        Ok(b) => b,
        Err(e) => panic!("re-written file does not parse: {e}"),
    };
    assert_eq!(back.len(), file.len());
    let mut again = ParamsWriter::new();
    for e in back.iter() {
        again.push_raw_name(e.name_bytes, e.array.clone());
    }
    assert!(
        again.to_vec().ok() == Some(bytes),
        "second re-write differs"
    );
});
