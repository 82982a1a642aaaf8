//! Every proper prefix of every fixture — a download cut short — is an error,
//! never a panic and never a valid shorter file; `.params` errors point at a
//! byte inside the prefix.
//!
//! Files up to 4 KiB are cut at every length. Larger ones at ~300 lengths:
//! all of the first 256 bytes, a few bytes around every record and name
//! boundary (for `.params`), the last 64 bytes (8 for symbols), and evenly
//! spaced ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::fixture_bytes;
use mxnet_format::FileKind;
use mxnet_format::params::{ParamsErrorKind, ParamsFile, parse};
use mxnet_format::symbol::Symbol;

const SMALL: usize = 4096;
const SAMPLES: usize = 300;

/// The prefix lengths to try for a file of `len` bytes with interesting
/// offsets `marks` (record and name boundaries).
fn cut_points(len: usize, marks: &[usize], tail: usize) -> BTreeSet<usize> {
    if len <= SMALL {
        return (0..len).collect();
    }
    let mut cuts: BTreeSet<usize> = (0..256).collect();
    cuts.extend(len - tail..len);
    for &m in marks {
        cuts.extend(m.saturating_sub(3)..(m + 4).min(len));
    }
    let even = SAMPLES.saturating_sub(cuts.len()).max(16);
    cuts.extend((1..=even).map(|k| k * len / (even + 1)));
    cuts.retain(|&c| c < len);
    cuts
}

/// Record starts and ends and name positions of a valid `.params` file.
fn params_marks(bytes: &[u8]) -> Vec<usize> {
    let index = parse(bytes).unwrap();
    let mut marks = Vec::new();
    for r in index.records() {
        marks.push(r.byte_range().start);
        marks.push(r.byte_range().end);
    }
    if let Some(last) = index.records().last() {
        // The name count follows the last record; names follow it.
        let mut at = last.byte_range().end + 8;
        marks.push(at);
        while at + 8 <= bytes.len() {
            let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
            at += 8;
            marks.push(at);
            at = at.saturating_add(usize::try_from(len).unwrap());
            marks.push(at);
        }
    }
    marks
}

#[test]
fn every_params_prefix_is_an_error_inside_the_prefix() {
    let mut tried = 0usize;
    for (path, bytes) in fixture_bytes("params") {
        // The one file whose record MXNet itself cannot read back: the reader
        // parses it with a second, look-ahead pass, so a cut can surface as
        // a different error than `Truncated`; it must still be an error.
        let lenient = path.ends_with("v2_scalar_UNLOADABLE.params");
        for cut in cut_points(bytes.len(), &params_marks(&bytes), 64) {
            let prefix = &bytes[..cut];
            let err = match parse(prefix) {
                Ok(index) => panic!(
                    "{path}: the first {cut} of {} bytes parse as a valid file with {} arrays",
                    bytes.len(),
                    index.len()
                ),
                Err(e) => e,
            };
            assert!(
                err.offset <= cut as u64,
                "{path}[..{cut}]: error offset {} is past the end: {err}",
                err.offset
            );
            let expected_kind = match &err.kind {
                ParamsErrorKind::Truncated {
                    needed, available, ..
                } => err.offset + available == cut as u64 && needed > available,
                ParamsErrorKind::NotParams {
                    found: FileKind::Empty,
                } => cut == 0,
                _ => lenient,
            };
            assert!(expected_kind, "{path}[..{cut}]: {err:?}");
            let message = err.to_string();
            if cut > 0 {
                assert!(
                    message.contains(&format!("byte {}", err.offset)),
                    "{path}[..{cut}]: message does not name the offset: {message}"
                );
            }
            // The owned-buffer entry point agrees.
            assert_eq!(
                ParamsFile::from_bytes(prefix.to_vec()).unwrap_err(),
                err,
                "{path}[..{cut}]"
            );
            tried += 1;
        }
    }
    assert!(tried > 10_000, "only {tried} prefixes tried");
}

fn symbol_prefixes_fail(files: impl Iterator<Item = (String, Vec<u8>)>) -> usize {
    let mut tried = 0usize;
    for (path, bytes) in files {
        // Symbols have no inner boundaries worth aiming at, and each cut of a
        // large graph costs a full parse: the last 8 bytes (closing brackets)
        // plus the evenly spaced ones.
        for cut in cut_points(bytes.len(), &[], 8) {
            let prefix = &bytes[..cut];
            match Symbol::from_slice(prefix) {
                Err(e) => {
                    // Each message is non-empty and says something specific.
                    assert!(!e.to_string().is_empty(), "{path}[..{cut}]");
                }
                // Cutting off only trailing whitespace leaves the same JSON.
                Ok(_) if bytes[cut..].iter().all(u8::is_ascii_whitespace) => {}
                Ok(_) => panic!(
                    "{path}: the first {cut} of {} bytes parse as a valid symbol",
                    bytes.len()
                ),
            }
            tried += 1;
        }
    }
    tried
}

/// Small symbols, every prefix: split in two halves that run in parallel.
fn small_symbols(half: usize) -> impl Iterator<Item = (String, Vec<u8>)> {
    fixture_bytes("symbol")
        .into_iter()
        .filter(|(_, b)| b.len() <= SMALL)
        .enumerate()
        .filter(move |(i, _)| i % 2 == half)
        .map(|(_, f)| f)
}

#[test]
fn every_prefix_of_a_small_symbol_is_an_error_1() {
    let tried = symbol_prefixes_fail(small_symbols(0));
    assert!(tried > 10_000, "only {tried} prefixes tried");
}

#[test]
fn every_prefix_of_a_small_symbol_is_an_error_2() {
    let tried = symbol_prefixes_fail(small_symbols(1));
    assert!(tried > 10_000, "only {tried} prefixes tried");
}

#[test]
fn sampled_prefixes_of_a_large_symbol_are_errors() {
    let files = fixture_bytes("symbol").into_iter();
    let tried = symbol_prefixes_fail(files.filter(|(_, b)| b.len() > SMALL));
    assert!(tried > 3_000, "only {tried} prefixes tried");
}
