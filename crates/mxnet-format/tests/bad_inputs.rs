//! Every malformed file in `tests/bad/` (written by `tests/bad/generate.py`,
//! listed in `tests/bad/README.md`) fails with the error it is paired with:
//! the right variant, and a message that says where (byte offset, record,
//! node index and name) and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::bad;
use mxnet_format::params::{ParamsError, ParamsErrorKind, ParamsFile, ReadError, parse};
use mxnet_format::symbol::{ReadSymbolError, Symbol, SymbolError};
use mxnet_format::{DTypeCodeError, FileKind};

/// Parses `tests/bad/params/NAME` every way a caller can (slice, owned bytes,
/// reader, path) and checks they agree.
fn params_error(name: &str) -> ParamsError {
    let path = bad().join("params").join(name);
    let bytes = std::fs::read(&path).unwrap();
    let from_slice = parse(&bytes).expect_err(name);
    let from_bytes = ParamsFile::from_bytes(bytes.clone()).expect_err(name);
    assert_eq!(from_slice, from_bytes, "{name}: parse vs from_bytes");
    match ParamsFile::from_reader(bytes.as_slice()).expect_err(name) {
        ReadError::Params(e) => assert_eq!(e, from_slice, "{name}: from_reader"),
        other => panic!("{name}: from_reader gave {other}"),
    }
    match ParamsFile::open(&path).expect_err(name) {
        ReadError::Params(e) => assert_eq!(e, from_slice, "{name}: open"),
        other => panic!("{name}: open gave {other}"),
    }
    from_slice
}

/// Parses `tests/bad/symbol/NAME` from bytes and from the path.
fn symbol_error(name: &str) -> SymbolError {
    let path = bad().join("symbol").join(name);
    let bytes = std::fs::read(&path).unwrap();
    let err = Symbol::from_slice(&bytes).expect_err(name);
    match Symbol::open(&path).expect_err(name) {
        ReadSymbolError::Symbol(e) => assert_eq!(e, err, "{name}: open"),
        other => panic!("{name}: open gave {other}"),
    }
    if let Ok(text) = std::str::from_utf8(&bytes) {
        assert_eq!(
            Symbol::from_json(text).expect_err(name),
            err,
            "{name}: from_json"
        );
    }
    err
}

fn assert_words(name: &str, message: &str, words: &[&str]) {
    for w in words {
        assert!(
            message.contains(w),
            "{name}: message lacks {w:?}:\n  {message}"
        );
    }
}

type ParamsCase = (
    &'static str,
    fn(&ParamsError) -> bool,
    &'static [&'static str],
);

const PARAMS_CASES: &[ParamsCase] = &[
    // The wrong kind of file.
    (
        "html_page.params",
        |e| {
            matches!(
                e.kind,
                ParamsErrorKind::NotParams {
                    found: FileKind::Html
                }
            )
        },
        &["HTML page", "not an MXNet .params file"],
    ),
    (
        "git_lfs_pointer.params",
        |e| {
            matches!(
                e.kind,
                ParamsErrorKind::NotParams {
                    found: FileKind::GitLfsPointer
                }
            )
        },
        &["Git LFS pointer", "git lfs pull"],
    ),
    (
        "numpy_array.params",
        |e| {
            matches!(
                e.kind,
                ParamsErrorKind::NotParams {
                    found: FileKind::Npy
                }
            )
        },
        &["NumPy .npy", "not an MXNet .params file"],
    ),
    (
        "zip_archive.params",
        |e| {
            matches!(
                e.kind,
                ParamsErrorKind::NotParams {
                    found: FileKind::Zip
                }
            )
        },
        &["ZIP archive"],
    ),
    (
        "gzipped.params",
        |e| {
            matches!(
                e.kind,
                ParamsErrorKind::NotParams {
                    found: FileKind::Gzip
                }
            )
        },
        &["gzip", "decompress"],
    ),
    (
        "symbol_json.params",
        |e| {
            matches!(
                e.kind,
                ParamsErrorKind::NotParams {
                    found: FileKind::Json
                }
            )
        },
        &["JSON", "swapped"],
    ),
    (
        "empty.params",
        |e| {
            matches!(
                e.kind,
                ParamsErrorKind::NotParams {
                    found: FileKind::Empty
                }
            )
        },
        &["empty"],
    ),
    // Broken list structure.
    (
        "five_bytes.params",
        |e| {
            e.offset == 0
                && e.record.is_none()
                && matches!(
                    e.kind,
                    ParamsErrorKind::Truncated {
                        what: "list magic",
                        needed: 8,
                        available: 5
                    }
                )
        },
        &[
            "byte 0",
            "list magic",
            "8 bytes needed, 5 left",
            "truncated",
        ],
    ),
    (
        "bad_list_magic.params",
        |e| e.offset == 0 && matches!(e.kind, ParamsErrorKind::BadListMagic { found: 0x113 }),
        &["byte 0", "0x113", "expected 0x112"],
    ),
    (
        "truncated_record_data.params",
        |e| {
            e.offset == 0x40
                && e.record == Some(0)
                && matches!(
                    e.kind,
                    ParamsErrorKind::Truncated {
                        what: "array values",
                        needed: 24,
                        available: 10
                    }
                )
        },
        &[
            "record 0 at byte 64",
            "array values",
            "24 bytes needed, 10 left",
        ],
    ),
    (
        "truncated_in_names.params",
        |e| {
            e.offset == 0xA5
                && e.record.is_none()
                && matches!(
                    e.kind,
                    ParamsErrorKind::Truncated {
                        what: "name",
                        needed: 5,
                        available: 2
                    }
                )
        },
        &["byte 165", "inside the name", "5 bytes needed, 2 left"],
    ),
    (
        "name_count_mismatch.params",
        |e| {
            e.offset == 0x88
                && matches!(
                    e.kind,
                    ParamsErrorKind::NameCount {
                        names: 1,
                        arrays: 2
                    }
                )
        },
        &[
            "byte 136",
            "1 names for 2 arrays",
            "expected 0 (a list) or 2",
        ],
    ),
    (
        "second_record_truncated.params",
        |e| {
            e.record == Some(1)
                && e.offset == 76
                && matches!(
                    e.kind,
                    ParamsErrorKind::Truncated {
                        what: "shape",
                        needed: 16,
                        available: 8
                    }
                )
        },
        &["record 1 at byte 76", "shape"],
    ),
    // Broken records.
    (
        "huge_element_count.params",
        |e| {
            e.record == Some(0)
                && matches!(
                    e.kind,
                    ParamsErrorKind::Truncated {
                        what: "array values",
                        needed: 1_152_921_504_606_846_976,
                        available: 24
                    }
                )
        },
        &["record 0", "1152921504606846976 bytes needed, 24 left"],
    ),
    (
        "size_overflow.params",
        |e| {
            e.record == Some(0)
                && matches!(&e.kind, ParamsErrorKind::SizeOverflow { shape } if shape.len() == 3)
        },
        &["record 0", "more bytes than any file can hold"],
    ),
    (
        "ndim_1000.params",
        |e| {
            e.offset == 32
                && matches!(
                    e.kind,
                    ParamsErrorKind::BadNdim {
                        ndim: 1000,
                        record_kind: mxnet_format::params::RecordKind::V2
                    }
                )
        },
        &["record 0 at byte 32", "1000 dimensions", "expected 0 to 64"],
    ),
    (
        "negative_dim.params",
        |e| {
            e.record == Some(0)
                && matches!(e.kind, ParamsErrorKind::NegativeDim { axis: 1, value: -3 })
        },
        &["record 0 at byte 24", "dimension 1 is -3", "non-negative"],
    ),
    (
        "storage_type_7.params",
        |e| e.offset == 28 && matches!(e.kind, ParamsErrorKind::BadStorageType { stype: 7 }),
        &["record 0 at byte 28", "storage type 7", "row_sparse", "csr"],
    ),
    (
        "dtype_9_uint16.params",
        |e| {
            e.offset == 52
                && matches!(
                    e.kind,
                    ParamsErrorKind::DType(DTypeCodeError::Unusable {
                        code: 9,
                        name: "uint16"
                    })
                )
        },
        &[
            "record 0 at byte 52",
            "dtype code 9",
            "uint16",
            "cannot load",
        ],
    ),
    (
        "dtype_42.params",
        |e| {
            e.offset == 52
                && matches!(
                    e.kind,
                    ParamsErrorKind::DType(DTypeCodeError::Unknown { code: 42 })
                )
        },
        &["record 0 at byte 52", "dtype code 42", "expected 0-7 or 12"],
    ),
    (
        "v3_sparse.params",
        |e| e.offset == 28 && matches!(e.kind, ParamsErrorKind::SparseV3),
        &["record 0 at byte 28", "V3", "sparse"],
    ),
    (
        "row_sparse_bad_indices.params",
        |e| {
            e.record == Some(0)
                && matches!(&e.kind, ParamsErrorKind::BadSparse { reason } if reason.contains("indices"))
        },
        &[
            "record 0",
            "row_sparse indices have shape [3]",
            "expected (2,)",
        ],
    ),
    (
        "newer_record_magic.params",
        |e| {
            e.offset == 24
                && matches!(
                    e.kind,
                    ParamsErrorKind::BadRecordStart { word: 0xF993_FACB }
                )
        },
        &["record 0 at byte 24", "0xF993FACB", "newer MXNet"],
    ),
    (
        "garbage_record_start.params",
        |e| {
            e.offset == 24
                && matches!(
                    e.kind,
                    ParamsErrorKind::BadRecordStart { word: 0xEFBE_ADDE }
                )
        },
        &["record 0 at byte 24", "corrupt"],
    ),
];

type SymbolCase = (
    &'static str,
    fn(&SymbolError) -> bool,
    &'static [&'static str],
);

const SYMBOL_CASES: &[SymbolCase] = &[
    // The wrong kind of file.
    (
        "params_given_as_json-symbol.json",
        |e| {
            matches!(
                e,
                SymbolError::NotSymbol {
                    found: FileKind::Params
                }
            )
        },
        &[".params file", "swapped"],
    ),
    (
        "html_page-symbol.json",
        |e| {
            matches!(
                e,
                SymbolError::NotSymbol {
                    found: FileKind::Html
                }
            )
        },
        &["HTML page", "not an MXNet symbol JSON"],
    ),
    (
        "git_lfs_pointer-symbol.json",
        |e| {
            matches!(
                e,
                SymbolError::NotSymbol {
                    found: FileKind::GitLfsPointer
                }
            )
        },
        &["Git LFS pointer", "git lfs pull"],
    ),
    (
        "empty-symbol.json",
        |e| {
            matches!(
                e,
                SymbolError::NotSymbol {
                    found: FileKind::Empty
                }
            )
        },
        &["empty", "symbol JSON"],
    ),
    (
        "not_utf8-symbol.json",
        |e| matches!(e, SymbolError::NotUtf8 { offset: 35 }),
        &["byte 35", "UTF-8"],
    ),
    // JSON, but not a symbol.
    (
        "json_array-symbol.json",
        |e| matches!(e, SymbolError::Syntax { line: 1, .. }),
        &["line 1", "expected an MXNet symbol"],
    ),
    (
        "keras_model-symbol.json",
        |e| {
            matches!(e, SymbolError::NotASymbolObject { keys }
                if keys == &["modelTopology", "weightsManifest"])
        },
        &[
            "modelTopology",
            "weightsManifest",
            "not an MXNet symbol",
            "\"nodes\"",
        ],
    ),
    (
        "onnx_like_json-symbol.json",
        |e| matches!(e, SymbolError::NotASymbolObject { keys } if keys == &["graph", "ir_version"]),
        &["\"graph\"", "not an MXNet symbol"],
    ),
    (
        "invalid_json-symbol.json",
        |e| matches!(e, SymbolError::Syntax { line: 3, column, .. } if *column > 1),
        &["line 3, column", "expected"],
    ),
    (
        "truncated-symbol.json",
        |e| matches!(e, SymbolError::Syntax { message, .. } if message.contains("EOF")),
        &["line", "column", "EOF"],
    ),
    (
        "missing_heads-symbol.json",
        |e| matches!(e, SymbolError::MissingField { field: "heads" }),
        &["\"heads\"", "MXNet requires"],
    ),
    (
        "four_element_entry-symbol.json",
        |e| matches!(e, SymbolError::Syntax { message, .. } if message.contains("invalid length 4")),
        &[
            "line",
            "invalid length 4",
            "[node_id, output_index, version]",
        ],
    ),
    (
        "negative_node_id-symbol.json",
        |e| matches!(e, SymbolError::Syntax { message, .. } if message.contains("-1")),
        &["line", "-1"],
    ),
    (
        "bare_version_number-symbol.json",
        |e| matches!(e, SymbolError::BadGraphAttr { key, .. } if key == "mxnet_version"),
        &["mxnet_version", "[\"int\", 10901]", "found 10901"],
    ),
    (
        "version_as_string-symbol.json",
        |e| matches!(e, SymbolError::BadGraphAttr { key, .. } if key == "mxnet_version"),
        &["mxnet_version", "[\"int\", 10901]", "\"1.9.1\""],
    ),
    // Broken graphs.
    (
        "input_out_of_range-symbol.json",
        |e| {
            matches!(e, SymbolError::InputOutOfRange { node, input: 1, target: 7, count: 4 }
                if node.index == 3 && node.name == "fc1")
        },
        &["node 3 \"fc1\"", "input 1", "node 7", "4 nodes"],
    ),
    (
        "head_out_of_range-symbol.json",
        |e| {
            matches!(
                e,
                SymbolError::HeadOutOfRange {
                    head: 1,
                    target: 9,
                    count: 4
                }
            )
        },
        &["head 1", "node 9", "4 nodes"],
    ),
    (
        "head_output_5_of_convolution-symbol.json",
        |e| {
            matches!(e, SymbolError::OutputOutOfRange { user, node, op, index: 5, outputs: 1 }
                if user == "head 0" && node.index == 3 && node.name == "conv0" && op == "Convolution")
        },
        &[
            "head 0",
            "output 5",
            "node 3 \"conv0\"",
            "Convolution",
            "1 output",
        ],
    ),
    (
        "input_output_2_of_relu-symbol.json",
        |e| {
            matches!(e, SymbolError::OutputOutOfRange { user, node, index: 2, outputs: 1, .. }
                if user.contains("relu0") && node.name == "conv0")
        },
        &["node 4 \"relu0\"", "output 2", "node 3 \"conv0\""],
    ),
    (
        "cycle-symbol.json",
        |e| matches!(e, SymbolError::Cycle { node } if node.index == 2 && node.name == "add_b"),
        &["node 2 \"add_b\"", "cycle"],
    ),
    (
        "self_loop-symbol.json",
        |e| matches!(e, SymbolError::Cycle { node } if node.index == 1 && node.name == "r"),
        &["node 1 \"r\"", "cycle"],
    ),
    (
        "bad_subgraph-symbol.json",
        |e| {
            matches!(e, SymbolError::Subgraph { node, subgraph: 0, error }
                if node.index == 2 && node.name == "_foreach0"
                    && matches!(**error, SymbolError::HeadOutOfRange { head: 1, target: 5, count: 3 }))
        },
        &["node 2 \"_foreach0\"", "subgraph 0", "head 1", "node 5"],
    ),
];

#[test]
fn bad_params_files_give_their_errors() {
    for &(name, check, words) in PARAMS_CASES {
        let err = params_error(name);
        assert!(check(&err), "{name}: unexpected error {err:?}\n  {err}");
        assert_words(name, &err.to_string(), words);
    }
}

#[test]
fn bad_symbol_files_give_their_errors() {
    for &(name, check, words) in SYMBOL_CASES {
        let err = symbol_error(name);
        assert!(check(&err), "{name}: unexpected error {err:?}\n  {err}");
        assert_words(name, &err.to_string(), words);
    }
}

/// Every file in `tests/bad/` has a case here and a line in the README, and
/// nothing is listed that does not exist.
#[test]
fn every_bad_file_is_tested_and_documented() {
    let readme = std::fs::read_to_string(bad().join("README.md")).unwrap();
    for (dir, cases) in [
        (
            "params",
            PARAMS_CASES.iter().map(|c| c.0).collect::<Vec<_>>(),
        ),
        ("symbol", SYMBOL_CASES.iter().map(|c| c.0).collect()),
    ] {
        let on_disk: BTreeSet<String> = std::fs::read_dir(bad().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let tested: BTreeSet<String> = cases.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(on_disk, tested, "tests/bad/{dir}: files vs cases");
        for name in &on_disk {
            assert!(
                readme.contains(&format!("`{dir}/{name}`")),
                "README.md does not list {dir}/{name}"
            );
        }
    }
}

/// The generator is committed alongside the files it wrote; they agree.
#[test]
fn files_match_their_description() {
    // Spot-check a few byte-level facts the cases above rely on.
    let read = |p: &str| std::fs::read(bad().join(p)).unwrap();
    assert_eq!(read("params/five_bytes.params").len(), 5);
    assert!(read("params/empty.params").is_empty());
    assert!(read("params/zip_archive.params").starts_with(b"PK\x03\x04"));
    assert!(read("params/gzipped.params").starts_with(&[0x1f, 0x8b]));
    assert!(read("params/numpy_array.params").starts_with(b"\x93NUMPY"));
    assert_eq!(
        &read("params/newer_record_magic.params")[24..28],
        &0xF993_FACBu32.to_le_bytes()
    );
}
