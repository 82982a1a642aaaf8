//! Inputs that once made the codecs panic, hang, allocate without bound or
//! write something they could not read back, found by the property tests
//! (`corruption.rs`), the fuzz targets (`fuzz/`) and review.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use mxnet_format::params::{ParamsFile, StorageType, ValueError};
use mxnet_format::symbol::{Symbol, SymbolError};

fn i32le(v: i32) -> [u8; 4] {
    v.to_le_bytes()
}
fn i64le(v: i64) -> [u8; 8] {
    v.to_le_bytes()
}
fn shape(out: &mut Vec<u8>, dims: &[i64]) {
    out.extend(i32le(dims.len() as i32));
    for &d in dims {
        out.extend(i64le(d));
    }
}

/// A one-record list: a V2 sparse record with the given shapes and no values.
fn sparse_file(stype: i32, storage: &[i64], logical: &[i64], aux: &[&[i64]]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0x112u64.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(0xF993_FAC9u32.to_le_bytes());
    b.extend(i32le(stype));
    shape(&mut b, storage);
    shape(&mut b, logical);
    b.extend(i32le(1));
    b.extend(i32le(0));
    b.extend(i32le(0)); // float32
    for a in aux {
        b.extend(i32le(6)); // int64
        shape(&mut b, &[a.len() as i64]);
    }
    // No stored values (nnz 0); then the aux values.
    for a in aux {
        for &v in *a {
            b.extend(i64le(v));
        }
    }
    b.extend(0u64.to_le_bytes()); // no names
    b
}

/// A row_sparse array with no stored rows whose logical shape has more
/// elements than a `usize` counts: `Array::len` overflowed (a panic in debug
/// builds, a wrong count in release). Now `len` saturates and densifying is
/// a `TooLarge` error.
#[test]
fn sparse_logical_shape_overflowing_usize_is_an_error_not_a_panic() {
    let big = 1i64 << 40;
    let rsp = sparse_file(1, &[0, big, big], &[big, big, big], &[&[]]);
    let file = ParamsFile::from_bytes(rsp).unwrap();
    let a = file.get(0).unwrap().array;
    assert_eq!(a.stype(), StorageType::RowSparse);
    assert_eq!(a.len(), usize::MAX);
    assert!(matches!(a.to_f64_vec(), Err(ValueError::TooLarge { .. })));
    assert!(matches!(a.to_f32_vec(), Err(ValueError::TooLarge { .. })));
    assert!(a.to_dense().is_err());

    let csr = sparse_file(2, &[0], &[4, 1 << 62], &[&[0, 0, 0, 0, 0], &[]]);
    let file = ParamsFile::from_bytes(csr).unwrap();
    let a = file.get(0).unwrap().array;
    assert_eq!(a.len(), usize::MAX);
    assert!(matches!(a.to_f64_vec(), Err(ValueError::TooLarge { .. })));
}

/// Zero rows, but the row size (2^80 elements) overflows: densifying gave a
/// multiplication overflow although the dense form is empty.
#[test]
fn empty_row_sparse_with_huge_rows_densifies_to_nothing() {
    let big = 1i64 << 40;
    let file =
        ParamsFile::from_bytes(sparse_file(1, &[0, big, big], &[0, big, big], &[&[]])).unwrap();
    let a = file.get(0).unwrap().array;
    assert_eq!(a.len(), 0);
    assert_eq!(a.to_f64_vec().unwrap(), Vec::<f64>::new());
}

/// A name with a form feed (written `\f` in the JSON) was written back raw,
/// which is not JSON: the written file did not re-read. Found by
/// `corruption.rs` (an inserted `\f` in `gluon_gru-symbol.json`).
#[test]
fn control_characters_in_names_are_escaped_when_written() {
    let text = r#"{"nodes": [{"op": "null", "name": "a\fb\u0001", "inputs": []}], "arg_nodes": [0], "heads": [[0, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}}"#;
    let sym = Symbol::from_json(text).unwrap();
    assert_eq!(sym.nodes()[0].name, "a\u{c}b\u{1}");
    let json = sym.to_json();
    assert!(json.contains(r#""a\u000cb\u0001""#), "{json}");
    let back = Symbol::from_json(&json).unwrap();
    assert_eq!(back.to_json(), json);
}

/// A `node_row_ptr` that gives a variable two outputs let a head use output
/// 1 of it; the writer writes one output per variable, so the written JSON
/// was rejected on re-reading. Found by the `symbol` fuzz target. A variable
/// has exactly one output.
#[test]
fn a_variable_has_one_output_whatever_node_row_ptr_says() {
    let text = r#"{"nodes": [{"op": "null", "name": "begin_c", "inputs": []}], "arg_nodes": [0], "node_row_ptr": [0, 2], "heads": [[0, 1, 0]], "attrs": {"mxnet_version": ["int", 10901]}}"#;
    let err = Symbol::from_json(text).unwrap_err();
    assert!(
        matches!(&err, SymbolError::OutputOutOfRange { node, index: 1, outputs: 1, .. } if node.name == "begin_c"),
        "{err:?}"
    );
}

/// 20 000 heads into a node declaring 65 536 inputs: its signature (65 536
/// input names) was rebuilt for every entry, so this 160 KB file took two
/// minutes to parse (and as long again to list its outputs).
#[test]
fn many_entries_into_a_wide_variadic_node_parse_quickly() {
    let heads = vec!["[1, 0, 0]"; 20_000].join(", ");
    let text = format!(
        r#"{{"nodes": [{{"op": "null", "name": "x", "inputs": []}}, {{"op": "Concat", "name": "c", "attrs": {{"num_args": "65536"}}, "inputs": [[0, 0, 0]]}}], "arg_nodes": [0], "heads": [{heads}], "attrs": {{"mxnet_version": ["int", 10901]}}}}"#
    );
    let start = std::time::Instant::now();
    let sym = Symbol::from_json(&text).unwrap();
    assert_eq!(sym.list_outputs().len(), 20_000);
    assert_eq!(sym.list_outputs()[0], "c_output");
    let back = Symbol::from_json(&sym.to_json()).unwrap();
    assert_eq!(back.heads().len(), 20_000);
    // Generous for a debug build on a loaded machine; it used to take minutes.
    assert!(start.elapsed().as_secs() < 60, "took {:?}", start.elapsed());
}

/// A pre-0.9 file (no `mxnet_version`) whose Concat nodes declare 65 536
/// inputs but have one: the legacy upgrade created the 65 535 "missing" ones
/// as variables for every node (300 nodes in 23 KB became 19.6 million nodes
/// and 20 GB). It adds only the declared inputs pre-0.9 files omit
/// (auxiliary states), never count-driven ones.
#[test]
fn legacy_upgrade_does_not_expand_variadic_counts() {
    let mut nodes = vec![r#"{"op": "null", "name": "x", "inputs": []}"#.to_owned()];
    for i in 0..300 {
        nodes.push(format!(
            r#"{{"op": "Concat", "name": "c{i}", "param": {{"num_args": "65536"}}, "inputs": [[{i}, 0]]}}"#
        ));
    }
    let text = format!(
        r#"{{"nodes": [{}], "arg_nodes": [0], "heads": [[300, 0]]}}"#,
        nodes.join(", ")
    );
    let sym = Symbol::from_json(&text).unwrap();
    assert_eq!(sym.nodes().len(), 301);

    // The upgrade still adds BatchNorm's moving statistics (spec §2.12).
    let legacy = r#"{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "null", "name": "bn_gamma", "inputs": []}, {"op": "null", "name": "bn_beta", "inputs": []}, {"op": "BatchNorm", "name": "bn", "param": {"eps": "0.001"}, "inputs": [[0, 0], [1, 0], [2, 0]]}], "arg_nodes": [0, 1, 2], "heads": [[3, 0]]}"#;
    let sym = Symbol::from_json(legacy).unwrap();
    assert_eq!(
        sym.list_auxiliary_states(),
        ["bn_moving_mean", "bn_moving_var"]
    );
}

/// `"mxnet_version": 10901` (a bare number) was a JSON syntax error that
/// did not name the key; it is a `BadGraphAttr` naming it.
#[test]
fn malformed_graph_attribute_names_its_key() {
    let text = r#"{"nodes": [{"op": "null", "name": "x", "inputs": []}], "arg_nodes": [0], "heads": [[0, 0, 0]], "attrs": {"is_np_shape": {"a": 1}, "mxnet_version": ["int", 10901]}}"#;
    let err = Symbol::from_json(text).unwrap_err();
    assert!(
        matches!(&err, SymbolError::BadGraphAttr { key, .. } if key == "is_np_shape"),
        "{err:?}"
    );
    assert!(err.to_string().contains("[\"TYPE\", VALUE]"), "{err}");
}
