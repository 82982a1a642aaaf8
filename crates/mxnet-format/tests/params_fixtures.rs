//! Every `.params` fixture reads with the names, dtypes, shapes, storage
//! types, record kinds and values MXNet 1.9.1 reported for it, and writes back
//! to the bytes MXNet writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{entries, fixtures, number, resaved_of, same};
use mxnet_format::params::{Array, ParamsFile, ParamsWarning, ParamsWriter, Storage};

fn check_array(path: &str, i: usize, array: &Array<'_>, expected: &serde_json::Value) {
    let ctx = format!("{path} array {i}");
    assert_eq!(array.dtype().as_str(), expected["dtype"], "{ctx}: dtype");
    assert_eq!(array.stype().as_str(), expected["stype"], "{ctx}: stype");
    let shape: Vec<usize> = expected["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(array.shape(), shape.as_slice(), "{ctx}: shape");
    if let Some(kind) = expected["record"].as_str() {
        assert_eq!(
            array.record_kind().unwrap().as_str(),
            kind,
            "{ctx}: record kind"
        );
    }
    let values = array.to_f64_vec().unwrap();
    if let Some(exp) = expected["values"].as_array() {
        assert_eq!(values.len(), exp.len(), "{ctx}: value count");
        for (k, (got, want)) in values.iter().zip(exp).enumerate() {
            assert!(
                same(*got, number(want)),
                "{ctx}: value {k}: {got} != {want}"
            );
        }
    } else {
        let sum: f64 = values.iter().sum();
        let want = number(&expected["sum"]);
        assert!(
            (sum - want).abs() <= 1e-6 * want.abs().max(1.0),
            "{ctx}: sum {sum} != {want}"
        );
        for (k, want) in expected["first"].as_array().unwrap().iter().enumerate() {
            assert!(same(values[k], number(want)), "{ctx}: first[{k}]");
        }
        let last = expected["last"].as_array().unwrap();
        for (k, want) in last.iter().enumerate() {
            assert!(
                same(values[values.len() - last.len() + k], number(want)),
                "{ctx}: last[{k}]"
            );
        }
    }
    let aux = |which: &str| -> Option<Vec<i64>> {
        expected[which]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_i64().unwrap()).collect())
    };
    match array.storage() {
        Storage::RowSparse { indices, .. } => {
            assert_eq!(Some(indices.to_vec()), aux("indices"), "{ctx}: indices");
        }
        Storage::Csr {
            indptr, indices, ..
        } => {
            assert_eq!(Some(indptr.to_vec()), aux("indptr"), "{ctx}: indptr");
            assert_eq!(Some(indices.to_vec()), aux("indices"), "{ctx}: indices");
        }
        _ => {}
    }
}

#[test]
fn every_params_fixture_reads_as_mxnet_reports() {
    let all = entries("params");
    assert!(
        all.len() >= 30,
        "manifest lists only {} params files",
        all.len()
    );
    for (path, entry) in &all {
        let file =
            ParamsFile::open(fixtures().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let expected = entry["arrays"].as_array().unwrap();
        assert_eq!(file.len(), expected.len(), "{path}: array count");
        assert_eq!(file.is_named(), entry["form"] == "dict", "{path}: form");
        for (i, (got, want)) in file.iter().zip(expected).enumerate() {
            assert_eq!(
                got.name().as_deref(),
                want["name"].as_str(),
                "{path} array {i}: name"
            );
            check_array(path, i, &got.array, want);
        }
        if entry.get("mxnet_error").is_some() {
            assert!(
                file.warnings()
                    .iter()
                    .any(|w| matches!(w, ParamsWarning::LegacyScalarRecord { .. })),
                "{path}: the unloadable 0-d record should be reported"
            );
        }
    }
}

#[test]
fn rewriting_gives_the_bytes_mxnet_writes() {
    let mut checked = 0;
    for (path, entry) in entries("params") {
        if entry.get("mxnet_error").is_some() {
            continue;
        }
        let original = std::fs::read(fixtures().join(&path)).unwrap();
        let file = ParamsFile::from_bytes(original.clone()).unwrap();
        let mut writer = ParamsWriter::new();
        for e in file.iter() {
            writer.push_raw_name(e.name_bytes, e.array.clone());
        }
        let ours = writer.to_vec().unwrap();
        let expected = match resaved_of(&path) {
            Some(resaved) => std::fs::read(fixtures().join(resaved)).unwrap(),
            None => original,
        };
        assert!(
            ours == expected,
            "{path}: rewritten bytes differ from MXNet's"
        );
        checked += 1;
    }
    assert!(checked >= 30);
}
