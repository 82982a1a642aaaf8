//! Writes files with our writers for real MXNet 1.9.1 to check
//! (`scripts/interop.py`, run in CI):
//!
//! ```text
//! cargo run -p mxnet-format --example interop_write -- target/interop
//! .venv-mxnet/bin/python scripts/interop.py target/interop
//! ```
//!
//! Every array is built here from known values (not copied from a fixture),
//! so MXNet loading them checks our encoder: names, dtypes, storage types,
//! shapes and values. Symbols are built or upgraded here and MXNet must list
//! the same arguments, auxiliary states and outputs, and re-save them to the
//! same bytes. Two fixture models are re-written through both writers and
//! MXNet must compute the reference outputs from our files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use mxnet_format::params::{Array, ParamsFile, ParamsWriter, RecordPolicy};
use mxnet_format::symbol::{Node, NodeEntry, Symbol};
use mxnet_format::{DType, symbol};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn num(v: f64) -> Value {
    if v.is_nan() {
        json!("nan")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(v)
    }
}

/// The manifest description of an array, with values from our own decoder
/// of what we just built (checked against the inputs by the asserts below).
fn describe(name: Option<&str>, a: &Array<'_>, record: &str) -> Value {
    let values: Vec<Value> = a.to_f64_vec().unwrap().into_iter().map(num).collect();
    let mut obj = json!({
        "name": name,
        "dtype": a.dtype().as_str(),
        "stype": a.stype().as_str(),
        "shape": a.shape(),
        "record": record,
        "values": values,
    });
    match a.storage() {
        mxnet_format::params::Storage::RowSparse { indices, .. } => {
            obj["indices"] = json!(indices.to_vec());
        }
        mxnet_format::params::Storage::Csr {
            indptr, indices, ..
        } => {
            obj["indptr"] = json!(indptr.to_vec());
            obj["indices"] = json!(indices.to_vec());
        }
        _ => {}
    }
    obj
}

struct Out {
    dir: PathBuf,
    expect: BTreeMap<String, Value>,
}

impl Out {
    fn params(
        &mut self,
        file: &str,
        arrays: Vec<(Option<&str>, Array<'static>)>,
        policy: RecordPolicy,
        record: &str,
    ) {
        let mut w = ParamsWriter::new().policy(policy);
        let named = arrays.first().is_some_and(|(n, _)| n.is_some());
        let mut described = Vec::new();
        for (name, a) in arrays {
            described.push(describe(name, &a, record));
            w.push(name, a);
        }
        let path = self.dir.join(file);
        w.save(&path).unwrap();
        // Our reader must agree before MXNet is asked.
        let back = ParamsFile::open(&path).unwrap();
        assert_eq!(back.len(), described.len());
        self.expect.insert(
            file.to_owned(),
            json!({"kind": "params", "form": if named { "dict" } else { "list" }, "arrays": described}),
        );
    }

    fn symbol(&mut self, file: &str, sym: &Symbol, extra: Value) {
        sym.save(self.dir.join(file)).unwrap();
        let mut entry = json!({
            "kind": "symbol",
            "arguments": sym.list_arguments(),
            "aux": sym.list_auxiliary_states(),
            "outputs": sym.list_outputs(),
            "resave_identical": true,
        });
        if let (Value::Object(e), Value::Object(x)) = (&mut entry, extra) {
            e.extend(x);
        }
        self.expect.insert(file.to_owned(), entry);
    }
}

fn dtype_arrays() -> Vec<(&'static str, Array<'static>)> {
    let f = [
        1.5f64,
        -2.25,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        1e-40,
        65504.0,
    ];
    vec![
        (
            "float32",
            Array::from_values(vec![2, 4], &f.map(|v| v as f32)).unwrap(),
        ),
        (
            "float64",
            Array::from_values(
                vec![2, 2, 2],
                &[0.1, -1e300, f64::NAN, 5e-324, -0.0, 3.0, 1.0, 2.0],
            )
            .unwrap(),
        ),
        (
            "float16",
            Array::from_values(vec![4], &[1.0, -65504.0, 0.5, -0.0].map(f16::from_f64)).unwrap(),
        ),
        (
            "uint8",
            Array::from_values(vec![1, 5], &[0u8, 1, 127, 128, 255]).unwrap(),
        ),
        (
            "int32",
            Array::from_values(vec![3], &[i32::MIN, i32::MAX, -1]).unwrap(),
        ),
        (
            "int8",
            Array::from_values(vec![4, 1], &[-128i8, 127, -1, 0]).unwrap(),
        ),
        (
            "int64",
            Array::from_values(vec![2], &[-(1i64 << 53), 1 << 40]).unwrap(),
        ),
        (
            "bool",
            Array::from_values(vec![2, 2], &[true, false, false, true]).unwrap(),
        ),
        (
            "bfloat16",
            Array::from_values(vec![3], &[1.0, -2.0, 0.5].map(bf16::from_f64)).unwrap(),
        ),
    ]
}

fn op(op: &str, name: &str, a: &[(&str, &str)], inputs: &[u32]) -> Node {
    let inputs = inputs.iter().map(|&i| NodeEntry::new(i, 0)).collect();
    Node::operator(op, name, a, inputs)
}

/// conv → BatchNorm → relu → max-pool → FC → SoftmaxOutput, built by hand.
fn built_cnn() -> Symbol {
    let mut nodes = vec![
        Node::variable("data"),
        Node::variable("c_weight"),
        Node::variable("c_bias"),
        op(
            "Convolution",
            "c",
            &[("kernel", "(3, 3)"), ("num_filter", "4"), ("pad", "(1, 1)")],
            &[0, 1, 2],
        ),
        Node::variable("bn_gamma"),
        Node::variable("bn_beta"),
        Node::variable("bn_moving_mean"),
        Node::variable("bn_moving_var"),
        op(
            "BatchNorm",
            "bn",
            &[("fix_gamma", "False")],
            &[3, 4, 5, 6, 7],
        ),
        op("Activation", "relu", &[("act_type", "relu")], &[8]),
        op(
            "Pooling",
            "pool",
            &[
                ("kernel", "(2, 2)"),
                ("pool_type", "max"),
                ("stride", "(2, 2)"),
            ],
            &[9],
        ),
        Node::variable("fc_weight"),
        Node::variable("fc_bias"),
        op(
            "FullyConnected",
            "fc",
            &[("num_hidden", "3")],
            &[10, 11, 12],
        ),
        Node::variable("softmax_label"),
        op("SoftmaxOutput", "softmax", &[], &[13, 14]),
    ];
    nodes[6]
        .attrs
        .insert("__init__".into(), "[\"zero\", {}]".into());
    // Non-ASCII names and attribute values survive as raw UTF-8.
    nodes[0]
        .attrs
        .insert("__shape__".into(), "(1, 1, 4, 4)".into());
    nodes[9]
        .attrs
        .insert("__note__".into(), "caf\u{e9} \u{540d}\u{524d}".into());
    Symbol::new(nodes, vec![NodeEntry::new(15, 0)]).unwrap()
}

/// A branchy graph with aliases, a variadic op, a multi-output op used at
/// index 1 and a control dependency.
fn built_branchy() -> Symbol {
    let nodes = vec![
        Node::variable("a"),
        Node::variable("b"),
        op("_Plus", "plus", &[], &[0, 1]),
        op(
            "SliceChannel",
            "split",
            &[("num_outputs", "2"), ("axis", "1")],
            &[2],
        ),
        Node {
            inputs: vec![
                NodeEntry::new(3, 1),
                NodeEntry::new(3, 0),
                NodeEntry::new(0, 0),
            ],
            ..op("Concat", "cat", &[("num_args", "3"), ("dim", "1")], &[])
        },
        op("_MulScalar", "twice", &[("scalar", "2")], &[4]),
    ];
    Symbol::new(nodes, vec![NodeEntry::new(5, 0), NodeEntry::new(3, 1)]).unwrap()
}

fn rewrite_model(out: &mut Out, prefix: &str, epoch: &str) {
    let sym = Symbol::open(fixtures().join(format!("models/{prefix}-symbol.json"))).unwrap();
    let params =
        ParamsFile::open(fixtures().join(format!("models/{prefix}-{epoch}.params"))).unwrap();
    let mut w = ParamsWriter::new();
    for e in params.iter() {
        w.push_raw_name(e.name_bytes, e.array.clone());
    }
    let params_file = format!("ours_{prefix}-{epoch}.params");
    w.save(out.dir.join(&params_file)).unwrap();
    std::fs::copy(
        fixtures().join(format!("models/{prefix}-io.params")),
        out.dir.join(format!("ours_{prefix}-io.params")),
    )
    .unwrap();
    out.symbol(
        &format!("ours_{prefix}-symbol.json"),
        &sym,
        json!({"params": params_file, "io": format!("ours_{prefix}-io.params")}),
    );
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/interop".to_owned());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut out = Out {
        dir: dir.to_owned(),
        expect: BTreeMap::new(),
    };

    let named: Vec<(Option<&str>, Array<'static>)> = dtype_arrays()
        .into_iter()
        .map(|(n, a)| (Some(n), a))
        .collect();
    out.params("dtypes_dict.params", named, RecordPolicy::Auto, "v2");
    let unnamed = dtype_arrays().into_iter().map(|(_, a)| (None, a)).collect();
    out.params("dtypes_list.params", unnamed, RecordPolicy::Auto, "v2");

    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let sparse = vec![
        (
            Some("rsp"),
            Array::row_sparse(
                DType::F32,
                vec![5, 2],
                f32s(&[1.0, -2.0, 3.5, 0.25]),
                &[1, 4],
            )
            .unwrap(),
        ),
        (
            Some("rsp_rank3_f64"),
            Array::row_sparse(
                DType::F64,
                vec![3, 2, 1],
                [7.0f64, -8.0]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
                &[2],
            )
            .unwrap(),
        ),
        (
            Some("rsp_empty"),
            Array::row_sparse(DType::F32, vec![3, 4], Vec::new(), &[]).unwrap(),
        ),
        (
            Some("csr"),
            Array::csr(
                DType::F32,
                [3, 4],
                f32s(&[1.0, 2.0, 3.0]),
                &[0, 2, 2, 3],
                &[0, 3, 1],
            )
            .unwrap(),
        ),
        (
            Some("csr_int32"),
            Array::csr(
                DType::I32,
                [2, 2],
                [5i32, -6].iter().flat_map(|x| x.to_le_bytes()).collect(),
                &[0, 1, 2],
                &[1, 0],
            )
            .unwrap(),
        ),
        (
            Some("csr_empty"),
            Array::csr(DType::F32, [2, 3], Vec::new(), &[0, 0, 0], &[]).unwrap(),
        ),
    ];
    out.params("sparse.params", sparse, RecordPolicy::Auto, "v2");

    let v3 = vec![
        (
            Some("scalar"),
            Array::from_values(vec![], &[3.0f32]).unwrap(),
        ),
        (
            Some("scalar_i64"),
            Array::from_values(vec![], &[-7i64]).unwrap(),
        ),
        (
            Some("empty"),
            Array::from_values::<f32>(vec![0], &[]).unwrap(),
        ),
        (
            Some("m"),
            Array::from_values(vec![2, 2], &[1.0f32, 2.0, 3.0, 4.0]).unwrap(),
        ),
    ];
    out.params("v3_scalars.params", v3, RecordPolicy::Auto, "v3");

    let names = vec![
        (
            Some("arg:conv0_weight"),
            Array::from_values(vec![1], &[1.0f32]).unwrap(),
        ),
        (
            Some("aux:bn_moving_mean"),
            Array::from_values(vec![1], &[2.0f32]).unwrap(),
        ),
        (
            Some("caf\u{e9}"),
            Array::from_values(vec![1], &[3.0f32]).unwrap(),
        ),
        (
            Some("\u{540d}\u{524d}"),
            Array::from_values(vec![1], &[4.0f32]).unwrap(),
        ),
        (
            Some("arg:a:b"),
            Array::from_values(vec![1], &[5.0f32]).unwrap(),
        ),
        (
            Some(""),
            Array::from_values(vec![2, 0], &[] as &[f32]).unwrap(),
        ),
    ];
    out.params("names.params", names, RecordPolicy::Auto, "v2");

    out.symbol("built_cnn-symbol.json", &built_cnn(), json!({}));
    out.symbol("built_branchy-symbol.json", &built_branchy(), json!({}));
    for legacy in [
        "upstream/save_000800.json",
        "spec-examples/legacy_pre0.9-symbol.json",
        "legacy/v0800-symbol.json",
        "legacy/v903_attr-symbol.json",
    ] {
        let sym = Symbol::open(fixtures().join(legacy)).unwrap();
        let name = format!("upgraded_{}", legacy.rsplit('/').next().unwrap());
        out.symbol(&name, &sym, json!({}));
    }
    rewrite_model(&mut out, "cnn", "0003");
    rewrite_model(&mut out, "gluon_lstm", "0000");

    let expect = json!({"generator": {"writer": "mxnet-format interop_write", "mxnet_version": symbol::MXNET_VERSION}, "files": out.expect});
    std::fs::write(
        dir.join("expect.json"),
        serde_json::to_string_pretty(&expect).unwrap(),
    )
    .unwrap();
    println!(
        "wrote {} files to {} (check with scripts/interop.py)",
        out.expect.len(),
        dir.display()
    );
}
