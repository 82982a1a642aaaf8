//! Every symbol fixture reads with MXNet's arguments, auxiliary states and
//! outputs, and writes back to the bytes MXNet 1.9.1 writes (legacy files:
//! the bytes MXNet writes after upgrading them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{entries, fixtures, resaved_of};
use mxnet_format::symbol::Symbol;

fn strings(v: &serde_json::Value) -> Option<Vec<String>> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
}

#[test]
fn every_symbol_fixture_lists_what_mxnet_lists() {
    let all = entries("symbol");
    assert!(all.len() >= 25, "manifest lists only {} symbols", all.len());
    for (path, entry) in &all {
        let sym = Symbol::open(fixtures().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        if let Some(args) = strings(&entry["arguments"]) {
            assert_eq!(sym.list_arguments(), args, "{path}: arguments");
        }
        if let Some(aux) = strings(&entry["aux"]) {
            assert_eq!(sym.list_auxiliary_states(), aux, "{path}: aux");
        }
        if let Some(outputs) = strings(&entry["outputs"]) {
            assert_eq!(sym.list_outputs(), outputs, "{path}: outputs");
        }
    }
}

#[test]
fn rewriting_gives_the_bytes_mxnet_writes() {
    let (mut identical, mut upgraded) = (0, 0);
    for (path, entry) in entries("symbol") {
        let text = std::fs::read_to_string(fixtures().join(&path)).unwrap();
        let sym = Symbol::from_json(&text).unwrap();
        let expected = match resaved_of(&path) {
            Some(resaved) => {
                upgraded += 1;
                std::fs::read_to_string(fixtures().join(resaved)).unwrap()
            }
            None if entry["resave_identical"] == true => text,
            None => continue,
        };
        let ours = sym.to_json();
        if ours != expected {
            let line = ours
                .lines()
                .zip(expected.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{path}: differs from MXNet's bytes at line {}:\n ours: {:?}\nmxnet: {:?}",
                line + 1,
                ours.lines().nth(line),
                expected.lines().nth(line)
            );
        }
        identical += 1;
    }
    assert!(identical >= 25, "only {identical} symbols compared");
    assert!(
        upgraded >= 5,
        "only {upgraded} legacy symbols compared with MXNet's re-save"
    );
}
