//! Property tests: damaged files are errors or valid files, never panics;
//! what the writer writes reads back to the same arrays and re-writes to the
//! same bytes.
//!
//! * `.params` fixtures with 1–8 bit flips or byte overwrites (aimed at the
//!   header, at record headers, or anywhere): parsing gives `Ok` or `Err`,
//!   and on `Ok` every array decodes (`to_f64_vec`, `to_f32_vec`,
//!   `to_dense`) and re-writes to a file that parses.
//! * symbol fixtures with byte ranges deleted, inserted or replaced: parsing
//!   gives `Ok` or `Err`, and on `Ok` the graph's listings work and its JSON
//!   re-reads to the same JSON.
//! * random arrays (every dtype, up to 4 small dims, dense, row_sparse and
//!   csr, named with arbitrary Unicode or unnamed) survive write → parse →
//!   write byte for byte.
//!
//! Case counts are modest so the suite takes seconds; raise them with
//! `PROPTEST_CASES=10000`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use common::fixture_bytes;
use mxnet_format::DType;
use mxnet_format::params::{Array, ParamsFile, ParamsWriter, StorageType, WriteError, parse};
use mxnet_format::symbol::Symbol;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// Arrays with more logical elements than this are not densified (a sparse
/// array's logical shape is not backed by file bytes; a flipped bit can make
/// it ask for gigabytes of zeros, which is the caller's call to make).
const DENSIFY_CAP: usize = 1 << 22;

struct ParamsFixture {
    path: String,
    bytes: Vec<u8>,
    /// Offsets of the records, to aim changes at their headers.
    records: Vec<usize>,
}

fn params_fixtures() -> &'static [ParamsFixture] {
    static FILES: OnceLock<Vec<ParamsFixture>> = OnceLock::new();
    FILES.get_or_init(|| {
        fixture_bytes("params")
            .into_iter()
            .map(|(path, bytes)| {
                let records = parse(&bytes)
                    .map(|i| i.records().iter().map(|r| r.offset()).collect())
                    .unwrap_or_default();
                ParamsFixture {
                    path,
                    bytes,
                    records,
                }
            })
            .collect()
    })
}

fn symbol_fixtures() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        // The model-zoo graphs are large and add nothing the small ones lack.
        fixture_bytes("symbol")
            .into_iter()
            .filter(|(_, b)| b.len() <= 12 * 1024)
            .collect()
    })
}

/// Where a change lands.
#[derive(Debug, Clone)]
enum Target {
    Anywhere(Index),
    /// Within the first 64 bytes (list header, first record header).
    Head(Index),
    /// Within the first 48 bytes of some record (magic, stype, shapes, dtype).
    RecordHeader(Index, usize),
}

#[derive(Debug, Clone)]
enum Change {
    Flip(Target, u8),
    Set(Target, u8),
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        any::<Index>().prop_map(Target::Anywhere),
        any::<Index>().prop_map(Target::Head),
        (any::<Index>(), 0usize..48).prop_map(|(i, k)| Target::RecordHeader(i, k)),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (target(), 0u8..8).prop_map(|(t, bit)| Change::Flip(t, bit)),
        (
            target(),
            prop_oneof![Just(0u8), Just(0xFF), Just(0x7F), Just(0x80), any::<u8>()]
        )
            .prop_map(|(t, b)| Change::Set(t, b)),
    ]
}

fn position(fixture: &ParamsFixture, t: &Target) -> usize {
    let len = fixture.bytes.len();
    match t {
        Target::Anywhere(i) => i.index(len),
        Target::Head(i) => i.index(len.min(64)),
        Target::RecordHeader(i, k) if !fixture.records.is_empty() => {
            let start = fixture.records[i.index(fixture.records.len())];
            (start + k).min(len - 1)
        }
        Target::RecordHeader(i, _) => i.index(len),
    }
}

/// Decodes every array of a file that parsed, and re-writes it.
fn exercise_params(bytes: &[u8]) -> Result<(), TestCaseError> {
    let file = match ParamsFile::from_bytes(bytes.to_vec()) {
        Ok(f) => f,
        Err(e) => {
            prop_assert!(
                e.offset <= bytes.len() as u64,
                "error offset {} past the end ({} bytes): {e}",
                e.offset,
                bytes.len()
            );
            prop_assert!(!e.to_string().is_empty());
            return Ok(());
        }
    };
    for w in file.warnings() {
        let _ = w.to_string();
    }
    for entry in file.iter() {
        let _ = entry.name();
        let a = &entry.array;
        let elements = a.len();
        if a.stype() == StorageType::Dense && !a.is_none() {
            // Dense values are file bytes: their count is backed by the input.
            prop_assert_eq!(
                a.value_bytes().len() as u128,
                elements as u128 * a.dtype().size() as u128
            );
        }
        if elements <= DENSIFY_CAP {
            let f64s = a.to_f64_vec();
            let f32s = a.to_f32_vec();
            prop_assert_eq!(f64s.is_ok(), f32s.is_ok());
            if let Ok(v) = &f64s {
                prop_assert_eq!(v.len(), elements);
            }
            if let Ok(d) = a.to_dense() {
                prop_assert_eq!(d.value_bytes().len(), elements * a.dtype().size());
            }
        }
        let _ = a.check_sparse_indices();
    }
    let mut writer = ParamsWriter::new();
    for e in file.iter() {
        writer.push_raw_name(e.name_bytes, e.array.clone());
    }
    if let Ok(out) = writer.to_vec() {
        let back = ParamsFile::from_bytes(out);
        prop_assert!(
            back.is_ok(),
            "re-written file does not parse: {:?}",
            back.err()
        );
        prop_assert_eq!(back.map(|b| b.len()).ok(), Some(file.len()));
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(Index, usize),
    Insert(Index, Vec<u8>),
    Replace(Index, u8),
}

/// Bytes that keep JSON JSON-like often enough to get past the parser.
fn json_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(b"{}[],:\" 0123456789-.enulltrfa_".to_vec()),
        1 => any::<u8>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1usize..32).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), vec(json_byte(), 1..8)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<Index>(), json_byte()).prop_map(|(i, b)| Edit::Replace(i, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    match e {
        Edit::Delete(i, n) => {
            if !bytes.is_empty() {
                let at = i.index(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
        }
        Edit::Insert(i, b) => {
            let at = i.index(bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Edit::Replace(i, b) => {
            if !bytes.is_empty() {
                let at = i.index(bytes.len());
                bytes[at] = *b;
            }
        }
    }
}

fn exercise_symbol(bytes: &[u8]) -> Result<(), TestCaseError> {
    let sym = match Symbol::from_slice(bytes) {
        Ok(s) => s,
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            return Ok(());
        }
    };
    let _ = sym.list_arguments();
    let _ = sym.list_auxiliary_states();
    let _ = sym.list_outputs();
    let _ = sym.node_row_ptr();
    for w in sym.warnings() {
        let _ = w.to_string();
    }
    let json = sym.to_json();
    let back = Symbol::from_json(&json);
    prop_assert!(
        back.is_ok(),
        "written JSON does not re-read: {:?}\n{json}",
        back.err()
    );
    let again = back.map(|b| b.to_json()).unwrap_or_default();
    prop_assert_eq!(again, json, "JSON changes when re-read and re-written");
    Ok(())
}

/// One random array for the writer: every dtype, dense / row_sparse / csr.
fn array() -> impl Strategy<Value = Array<'static>> {
    let dense = (0..DType::ALL.len(), vec(0usize..4, 0..=4)).prop_flat_map(|(d, shape)| {
        let dtype = DType::ALL[d];
        let n = shape.iter().product::<usize>() * dtype.size();
        vec(any::<u8>(), n)
            .prop_map(move |b| Array::from_bytes(dtype, shape.clone(), b).expect("dense"))
    });
    let row_sparse = (
        0..DType::ALL.len(),
        0usize..6,
        vec(0usize..4, 0..=3),
        vec(any::<bool>(), 6),
    )
        .prop_flat_map(|(d, rows, rest, pick)| {
            let dtype = DType::ALL[d];
            let indices: Vec<i64> = (0..rows).filter(|&r| pick[r]).map(|r| r as i64).collect();
            let n = indices.len() * rest.iter().product::<usize>() * dtype.size();
            let mut shape = vec![rows];
            shape.extend(rest);
            vec(any::<u8>(), n).prop_map(move |b| {
                Array::row_sparse(dtype, shape.clone(), b, &indices).expect("row_sparse")
            })
        });
    let csr = (
        0..DType::ALL.len(),
        0usize..5,
        0usize..5,
        vec(any::<bool>(), 25),
    )
        .prop_flat_map(|(d, rows, cols, pick)| {
            let dtype = DType::ALL[d];
            let mut indptr = vec![0i64];
            let mut indices = Vec::new();
            for r in 0..rows {
                for c in 0..cols {
                    if pick[r * 5 + c] {
                        indices.push(c as i64);
                    }
                }
                indptr.push(indices.len() as i64);
            }
            let n = indices.len() * dtype.size();
            vec(any::<u8>(), n).prop_map(move |b| {
                Array::csr(dtype, [rows, cols], b, &indptr, &indices).expect("csr")
            })
        });
    prop_oneof![2 => dense, 1 => row_sparse, 1 => csr]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn damaged_params_files_never_panic(
        file in any::<Index>(),
        changes in vec(change(), 1..=8),
    ) {
        let files = params_fixtures();
        let fixture = &files[file.index(files.len())];
        let mut bytes = fixture.bytes.clone();
        for c in &changes {
            match c {
                Change::Flip(t, bit) => bytes[position(fixture, t)] ^= 1 << bit,
                Change::Set(t, b) => bytes[position(fixture, t)] = *b,
            }
        }
        exercise_params(&bytes).map_err(|e| {
            TestCaseError::fail(format!("{}: {e}", fixture.path))
        })?;
    }

    #[test]
    fn edited_symbol_files_never_panic(
        file in any::<Index>(),
        edits in vec(edit(), 1..=4),
    ) {
        let files = symbol_fixtures();
        let (path, original) = &files[file.index(files.len())];
        let mut bytes = original.clone();
        for e in &edits {
            apply(&mut bytes, e);
        }
        exercise_symbol(&bytes).map_err(|e| TestCaseError::fail(format!("{path}: {e}")))?;
    }

    #[test]
    fn written_arrays_read_back_and_rewrite_identically(
        arrays in vec(array(), 0..6),
        named in any::<bool>(),
        names in vec("\\PC{0,12}", 6),
    ) {
        let mut writer = ParamsWriter::new();
        for (i, a) in arrays.iter().enumerate() {
            writer.push(named.then(|| names[i].as_str()), a.clone());
        }
        let scalar = arrays.iter().any(|a| a.shape().is_empty());
        let sparse = arrays.iter().any(|a| a.stype() != StorageType::Dense);
        let bytes = match writer.to_vec() {
            Ok(b) => b,
            Err(WriteError::SparseInV3 { .. }) if scalar && sparse => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("write failed: {e}"))),
        };
        let file = ParamsFile::from_bytes(bytes.clone())
            .map_err(|e| TestCaseError::fail(format!("written file does not parse: {e}")))?;
        prop_assert_eq!(file.len(), arrays.len());
        prop_assert_eq!(file.is_named(), named && !arrays.is_empty());
        prop_assert!(file.warnings().is_empty(), "{:?}", file.warnings());
        for (i, entry) in file.iter().enumerate() {
            let want = &arrays[i];
            prop_assert_eq!(
                entry.name_bytes,
                named.then(|| names[i].as_bytes()),
                "array {} name", i
            );
            prop_assert_eq!(entry.array.dtype(), want.dtype(), "array {} dtype", i);
            prop_assert_eq!(entry.array.shape(), want.shape(), "array {} shape", i);
            prop_assert_eq!(entry.array.storage(), want.storage(), "array {} storage", i);
            prop_assert_eq!(
                entry.array.to_f64_vec().map(|v| v.len()),
                want.to_f64_vec().map(|v| v.len())
            );
        }
        let mut again = ParamsWriter::new();
        for e in file.iter() {
            again.push_raw_name(e.name_bytes, e.array.clone());
        }
        prop_assert!(again.to_vec().ok() == Some(bytes), "re-written bytes differ");
    }
}
