//! Symbol JSON bytes: parse, list, write, re-parse.
//!
//! Invariants: no panic; a graph that parses writes JSON that parses again
//! and writes the same JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mxnet_format::symbol::Symbol;

fuzz_target!(|data: &[u8]| {
    let sym = match Symbol::from_slice(data) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
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
    let back = match Symbol::from_json(&json) {
        Ok(b) => b,
        Err(e) => panic!("written JSON does not re-read: {e}\n{json}"),
    };
    assert_eq!(back.to_json(), json, "JSON changes when re-read");
});
