#!/usr/bin/env python3
"""Writes the malformed model files in this folder (tests/bad/).

Run from anywhere: `python3 tests/bad/generate.py`. Deterministic, standard
library only. Each file is paired with the error it must produce in
`crates/mxnet-format/tests/bad_inputs.rs`; README.md lists them.
"""

import gzip
import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"

V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA


def u32(v):
    return struct.pack("<I", v)


def i32(v):
    return struct.pack("<i", v)


def u64(v):
    return struct.pack("<Q", v)


def i64(v):
    return struct.pack("<q", v)


def shape(dims):
    return i32(len(dims)) + b"".join(i64(d) for d in dims)


def header(n):
    return u64(0x112) + u64(0) + u64(n)


def names(ns):
    return u64(len(ns)) + b"".join(u64(len(n)) + n for n in ns)


def dense(dims, dtype=0, data=None, magic=V2, size=4):
    count = 1
    for d in dims:
        count *= d
    if data is None:
        data = bytes(count * size)
    return u32(magic) + i32(0) + shape(dims) + i32(1) + i32(0) + i32(dtype) + data


def params(records, ns=()):
    return header(len(records)) + b"".join(records) + names(list(ns))


def write(name, data):
    if isinstance(data, str):
        data = data.encode()
    (HERE / name).write_bytes(data)


SMALL_DICT = (FIXTURES / "spec-examples/params/small_dict.params").read_bytes()
CNN_SYMBOL = (FIXTURES / "spec-examples/cnn-symbol.json").read_bytes()

# --- .params: the wrong kind of file ------------------------------------------

HTML = (
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head><title>resnet-0000.params · model zoo</title></head>\n"
    "<body><p>Click <a href=\"/download/resnet-0000.params\">here</a> to download.</p></body>\n</html>\n"
)
LFS = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 46827520\n"
)
write("params/html_page.params", HTML)
write("params/git_lfs_pointer.params", LFS)

npy_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
npy_header += " " * (64 - 10 - len(npy_header) - 1) + "\n"
write(
    "params/numpy_array.params",
    b"\x93NUMPY\x01\x00" + struct.pack("<H", len(npy_header)) + npy_header.encode() + bytes(24),
)

# A minimal stored ZIP entry (what np.savez / torch.save produce is a ZIP).
write(
    "params/zip_archive.params",
    b"PK\x03\x04" + bytes([20, 0, 0, 0, 0, 0]) + bytes(16) + u32(0)[:2] + bytes(2) + b"PK\x05\x06" + bytes(18),
)
write("params/gzipped.params", gzip.compress(SMALL_DICT, mtime=0))
write("params/symbol_json.params", CNN_SYMBOL)
write("params/empty.params", b"")

# --- .params: broken list structure ----------------------------------------------

write("params/five_bytes.params", SMALL_DICT[:5])
write("params/bad_list_magic.params", u64(0x113) + SMALL_DICT[8:])
# small_dict: record 0 values at 0x40..0x58, names from 0x88; "aux:m" at 0xa5.
write("params/truncated_record_data.params", SMALL_DICT[: 0x40 + 10])
write("params/truncated_in_names.params", SMALL_DICT[: 0xA5 + 2])
write("params/name_count_mismatch.params", SMALL_DICT[:0x88] + names([b"arg:w"]))

# --- .params: broken records --------------------------------------------------------

write("params/huge_element_count.params", params([dense([1 << 60], dtype=3, data=b"\0" * 16)]))
write(
    "params/size_overflow.params",
    params([dense([1 << 40, 1 << 40, 1 << 40], dtype=0, data=b"\0" * 16)]),
)
write("params/ndim_1000.params", header(1) + u32(V2) + i32(0) + i32(1000) + i64(1) * 16)
write("params/negative_dim.params", header(1) + u32(V2) + i32(0) + shape([2, -3]) + i32(1) + i32(0) + i32(0))
write("params/storage_type_7.params", header(1) + u32(V2) + i32(7) + shape([2]) + bytes(32))
write("params/dtype_9_uint16.params", params([dense([2], dtype=9, data=bytes(4))]))
write("params/dtype_42.params", params([dense([2], dtype=42, data=bytes(8))]))
write(
    "params/v3_sparse.params",
    header(1) + u32(V3) + i32(1) + shape([1, 3]) + shape([4, 3]) + i32(1) + i32(0) + i32(0)
    + i32(6) + shape([1]) + bytes(12) + i64(2) + names([]),
)
write(
    "params/row_sparse_bad_indices.params",
    header(1) + u32(V2) + i32(1) + shape([2, 3]) + shape([4, 3]) + i32(1) + i32(0) + i32(0)
    + i32(6) + shape([3]) + bytes(24) + i64(0) + i64(1) + i64(3) + names([]),
)
write(
    "params/newer_record_magic.params",
    header(1) + u32(0xF993FACB) + i32(0) + shape([2]) + i32(1) + i32(0) + i32(0) + bytes(8) + names([]),
)
write("params/garbage_record_start.params", header(1) + b"\xde\xad\xbe\xef" + bytes(28) + names([]))
# Record 0 is complete; record 1 ends inside its shape: the error names record 1.
write(
    "params/second_record_truncated.params",
    header(2) + dense([2]) + (u32(V2) + i32(0) + i32(2) + i64(2))
)

# --- symbol JSON ------------------------------------------------------------------------


def node(op, name, inputs=(), attrs=None, **extra):
    n = {"op": op, "name": name}
    if attrs:
        n["attrs"] = attrs
    n["inputs"] = [list(e) for e in inputs]
    n.update(extra)
    return n


def graph(nodes, heads, version=True, **extra):
    g = {
        "nodes": nodes,
        "arg_nodes": [i for i, n in enumerate(nodes) if n["op"] == "null"],
        "heads": [list(h) for h in heads],
    }
    if version:
        g["attrs"] = {"mxnet_version": ["int", 10901]}
    g.update(extra)
    return g


def sym(name, g):
    write("symbol/" + name, json.dumps(g, indent=2))


FC = [
    node("null", "data"),
    node("null", "fc1_weight"),
    node("null", "fc1_bias"),
    node("FullyConnected", "fc1", [(0, 0, 0), (1, 0, 0), (2, 0, 0)], {"num_hidden": "4"}),
]

write("symbol/params_given_as_json-symbol.json", SMALL_DICT)
write("symbol/html_page-symbol.json", HTML.replace("resnet-0000.params", "resnet-symbol.json"))
write("symbol/git_lfs_pointer-symbol.json", LFS)
write("symbol/empty-symbol.json", b"")
write("symbol/json_array-symbol.json", "[1, 2, 3]\n")
write("symbol/keras_model-symbol.json", json.dumps({"modelTopology": {}, "weightsManifest": []}))
write("symbol/onnx_like_json-symbol.json", json.dumps({"graph": {"node": []}, "ir_version": 7}))
write(
    "symbol/invalid_json-symbol.json",
    '{\n  "nodes": [\n    {"op": "null", "name": "data" "inputs": []}\n  ],\n  "arg_nodes": [0],\n  "heads": [[0, 0, 0]]\n}\n',
)
write("symbol/not_utf8-symbol.json", b'{"nodes": [{"op": "null", "name": "\xff\xfe", "inputs": []}]}')
sym("missing_heads-symbol.json", {k: v for k, v in graph(FC, [(3, 0, 0)]).items() if k != "heads"})
bad_input = [dict(n) for n in FC]
bad_input[3] = node("FullyConnected", "fc1", [(0, 0, 0), (7, 0, 0), (2, 0, 0)], {"num_hidden": "4"})
sym("input_out_of_range-symbol.json", graph(bad_input, [(3, 0, 0)]))
sym("head_out_of_range-symbol.json", graph(FC, [(3, 0, 0), (9, 0, 0)]))
conv = [
    node("null", "data"),
    node("null", "conv0_weight"),
    node("null", "conv0_bias"),
    node(
        "Convolution",
        "conv0",
        [(0, 0, 0), (1, 0, 0), (2, 0, 0)],
        {"kernel": "(3, 3)", "num_filter": "4"},
    ),
]
sym("head_output_5_of_convolution-symbol.json", graph(conv, [(3, 5, 0)]))
sym(
    "input_output_2_of_relu-symbol.json",
    graph(conv + [node("Activation", "relu0", [(3, 2, 0)], {"act_type": "relu"})], [(4, 0, 0)]),
)
sym(
    "cycle-symbol.json",
    graph(
        [
            node("null", "data"),
            node("elemwise_add", "add_a", [(0, 0, 0), (2, 0, 0)]),
            node("elemwise_add", "add_b", [(1, 0, 0), (0, 0, 0)]),
        ],
        [(2, 0, 0)],
    ),
)
sym("self_loop-symbol.json", graph([node("null", "data"), node("relu", "r", [(1, 0, 0)])], [(1, 0, 0)]))
g = graph(FC, [(3, 0, 0)])
g["attrs"] = {"mxnet_version": 10901}
sym("bare_version_number-symbol.json", g)
g = graph(FC, [(3, 0, 0)])
g["attrs"] = {"mxnet_version": ["str", "1.9.1"]}
sym("version_as_string-symbol.json", g)
four = [dict(n) for n in FC]
four[3] = node("FullyConnected", "fc1", [(0, 0, 0, 0), (1, 0, 0), (2, 0, 0)], {"num_hidden": "4"})
sym("four_element_entry-symbol.json", graph(four, [(3, 0, 0)]))
sym(
    "negative_node_id-symbol.json",
    graph(FC[:3] + [node("FullyConnected", "fc1", [(0, 0, 0), (-1, 0, 0), (2, 0, 0)], {"num_hidden": "4"})], [(3, 0, 0)]),
)
body = graph(
    [
        node("null", "init-0"),
        node("null", "data-0"),
        node("elemwise_add", "_plus0", [(0, 0, 0), (1, 0, 0)]),
    ],
    [(2, 0, 0), (5, 0, 0)],
    version=False,
)
sym(
    "bad_subgraph-symbol.json",
    graph(
        [
            node("null", "data"),
            node("null", "init"),
            node(
                "_foreach",
                "_foreach0",
                [(0, 0, 0), (1, 0, 0)],
                {
                    "in_data_locs": "[1]",
                    "in_state_locs": "[0]",
                    "num_args": "3",
                    "num_out_data": "1",
                    "num_outputs": "2",
                    "remain_locs": "[]",
                },
                subgraphs=[body],
            ),
        ],
        [(2, 0, 0)],
    ),
)
# Truncated halfway: the JSON parser reports where the text ends.
write("symbol/truncated-symbol.json", CNN_SYMBOL[: len(CNN_SYMBOL) // 2])
