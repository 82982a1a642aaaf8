//! Shared helpers for the fixture tests: the manifest written by
//! `tests/fixtures/generate.py` from real MXNet 1.9.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// `tests/fixtures/` at the workspace root.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// `tests/bad/` at the workspace root: malformed files and `README.md`.
pub fn bad() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/bad")
}

/// Paths (relative to `tests/fixtures/`) of every `kind` fixture, `params`
/// or `symbol`, with its bytes.
pub fn fixture_bytes(kind: &str) -> Vec<(String, Vec<u8>)> {
    entries(kind)
        .into_iter()
        .map(|(path, _)| {
            let bytes = std::fs::read(fixtures().join(&path)).expect("fixture file");
            (path, bytes)
        })
        .collect()
}

/// The manifest's `files` map, sorted by path.
pub fn manifest() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest.json");
    let v: Value = serde_json::from_str(&text).expect("manifest is JSON");
    let files = v["files"].as_object().expect("files map");
    let mut out: Vec<(String, Value)> = files.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Entries of one kind (`params` or `symbol`).
pub fn entries(kind: &str) -> Vec<(String, Value)> {
    manifest()
        .into_iter()
        .filter(|(_, v)| v["kind"] == kind)
        .collect()
}

/// The path of MXNet's re-save of `path`, if the manifest lists one.
pub fn resaved_of(path: &str) -> Option<String> {
    manifest()
        .into_iter()
        .find(|(_, v)| v["source"].as_str() == Some(path))
        .map(|(k, _)| k)
}

/// A manifest number: a JSON number or one of the strings "nan", "inf", "-inf".
pub fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("finite"),
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => panic!("not a number: {other}"),
    }
}

/// Exact equality that treats NaN as equal to NaN and tells -0.0 from 0.0.
pub fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
}
