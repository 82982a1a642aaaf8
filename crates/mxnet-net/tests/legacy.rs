//! Legacy symbols — MXNet ≤ 0.8 (`param`/`attr`, `backward_source_id`), the
//! pre-0.9 spec example, 0.9.3 and 1.0.0 `attr` keys, and the 1.9.1 file they
//! were converted from — import to nets without arrays (uninitialised) with
//! the layers their ops translate to, and export → import gives the same
//! layers, options, wiring and output names.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use mxnet_format::symbol::Symbol;
use mxnet_net::{
    ElementwiseFunction, ExportOptions, LayerKind, Net, NetKind, export, import_symbol, to_symbol,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

struct Case {
    file: String,
    kind: NetKind,
    /// (node name, layer type) in order.
    layers: Vec<(&'static str, &'static str)>,
    /// Nodes that fall back to MXNetOp layers.
    fallbacks: Vec<&'static str>,
    /// Loss labels dropped from the net's inputs.
    dropped: Vec<&'static str>,
}

/// fc1 → bn1 → prelu1 → act1 → fc2 → {softmax, am_last, am_one}.
fn converted(file: &str) -> Case {
    Case {
        file: format!("legacy/{file}"),
        kind: NetKind::Graph,
        layers: vec![
            ("fc1", "Linear"),
            ("bn1", "BatchNormalization"),
            ("prelu1", "ParametricRamp"),
            ("act1", "Elementwise"),
            ("fc2", "Linear"),
            ("softmax", "Softmax"),
            ("am_last", "MXNetOp"),
            ("am_one", "MXNetOp"),
        ],
        fallbacks: vec!["am_last", "am_one"],
        dropped: vec!["softmax_label"],
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "upstream/save_000800.json".into(),
            kind: NetKind::Chain,
            layers: vec![
                ("fc1", "Linear"),
                ("relu1", "Elementwise"),
                ("fc2", "Linear"),
                ("relu2", "Elementwise"),
                ("fc3", "Linear"),
                ("batchnorm0", "BatchNormalization"),
                ("softmax", "Softmax"),
            ],
            fallbacks: vec![],
            dropped: vec!["softmax_label"],
        },
        Case {
            file: "spec-examples/legacy_pre0.9-symbol.json".into(),
            kind: NetKind::Chain,
            layers: vec![
                ("fc1", "Linear"),
                ("bn1", "BatchNormalization"),
                ("am", "MXNetOp"),
            ],
            fallbacks: vec!["am"],
            dropped: vec![],
        },
        converted("base-symbol.json"),
        converted("v0800-symbol.json"),
        converted("v903_attr-symbol.json"),
        converted("v10000_attr-symbol.json"),
    ]
}

fn layer_list(net: &Net) -> Vec<(String, &'static str)> {
    net.layers()
        .into_iter()
        .map(|(n, l)| (n, l.type_name()))
        .collect()
}

#[test]
fn every_legacy_file_has_a_case() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures().join("legacy"))
        .unwrap()
        .map(|e| format!("legacy/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let covered: Vec<String> = cases().into_iter().map(|c| c.file).collect();
    for f in files {
        assert!(covered.contains(&f), "{f} has no case");
    }
}

#[test]
fn legacy_symbols_import_uninitialised_with_the_expected_layers() {
    for case in cases() {
        let f = &case.file;
        let sym = Symbol::open(fixtures().join(f)).unwrap();
        let imported = import_symbol(&sym, None).unwrap_or_else(|e| panic!("{f}: {e}"));
        let net = &imported.net;
        assert_eq!(net.kind(), case.kind, "{f}");
        let want: Vec<(String, &str)> = case
            .layers
            .iter()
            .map(|(n, t)| ((*n).to_owned(), *t))
            .collect();
        assert_eq!(layer_list(net), want, "{f}");
        let fallbacks: Vec<&str> = imported
            .fallbacks
            .iter()
            .map(|fb| fb.node.as_str())
            .collect();
        assert_eq!(fallbacks, case.fallbacks, "{f}");
        assert_eq!(imported.dropped_labels, case.dropped, "{f}");
        assert_eq!(
            net.inputs
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["data"],
            "{f}"
        );
        // No params: every array is there by name, none has a value.
        assert!(!net.is_initialized(), "{f}");
        for (name, layer) in net.layers() {
            assert!(
                layer.arrays.iter().all(|(_, a)| a.is_none()),
                "{f}: {name} has a value"
            );
        }
        let names: Vec<String> = net.outputs.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, sym.list_outputs(), "{f}");
    }
}

#[test]
fn legacy_options_survive_the_upgrade() {
    let open = |f: &str| {
        import_symbol(&Symbol::open(fixtures().join(f)).unwrap(), None)
            .unwrap()
            .net
    };
    let kind = |net: &Net, name: &str| {
        net.layers()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .kind
            .clone()
    };
    // ≤ 0.8: options in "param".
    let net = open("upstream/save_000800.json");
    assert_eq!(
        kind(&net, "fc1"),
        LayerKind::Linear {
            size: 128,
            bias: true,
            flatten: true
        }
    );
    // SoftmaxOutput after a BatchNorm: softmax over the flattened axes.
    assert_eq!(
        kind(&net, "softmax"),
        LayerKind::Softmax {
            axis: None,
            log: false
        }
    );
    let bn = &net.layers()[5].1;
    let arrays: Vec<&str> = bn.arrays.iter().map(|(n, _)| n.as_str()).collect();
    // The moving statistics the 0.8 file lacks are added, as MXNet does.
    assert_eq!(
        arrays,
        ["Scaling", "Biases", "MovingMean", "MovingVariance"]
    );
    let net = open("legacy/v0800-symbol.json");
    assert_eq!(
        kind(&net, "act1"),
        LayerKind::Elementwise {
            function: ElementwiseFunction::Tanh
        }
    );
    assert_eq!(
        kind(&net, "softmax"),
        LayerKind::Softmax {
            axis: Some(-1),
            log: false
        }
    );
    match kind(&net, "am_one") {
        LayerKind::MXNetOp { op, attrs, .. } => {
            assert_eq!(op, "argmax");
            assert_eq!(attrs.get("axis").map(String::as_str), Some("1"));
        }
        other => panic!("am_one is {other:?}"),
    }
    let net = open("spec-examples/legacy_pre0.9-symbol.json");
    assert_eq!(
        kind(&net, "bn1"),
        LayerKind::BatchNormalization {
            epsilon: 0.001,
            momentum: 0.9,
            axis: 1
        }
    );
}

#[test]
fn legacy_nets_export_and_import_to_the_same_layers() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let f = &case.file;
        let sym = Symbol::open(fixtures().join(f)).unwrap();
        let net = import_symbol(&sym, None).unwrap().net;
        let exported = to_symbol(&net, &ExportOptions::default())
            .unwrap_or_else(|e| panic!("{f}: export: {e}"));
        // Uninitialised: variables without arrays, nothing to write.
        assert!(exported.params.is_empty(), "{f}");
        assert!(!exported.missing.is_empty(), "{f}");
        assert_eq!(exported.symbol.list_outputs(), sym.list_outputs(), "{f}");
        let again = import_symbol(&exported.symbol, None)
            .unwrap_or_else(|e| panic!("{f}: re-import: {e}"))
            .net;
        assert_eq!(again.kind(), net.kind(), "{f}");
        assert_eq!(layer_list(&again), layer_list(&net), "{f}");
        for ((name, a), (_, b)) in net.layers().iter().zip(again.layers()) {
            assert_eq!(a, &b, "{f}: layer {name} changed");
        }
        assert_eq!(again, net, "{f}: wiring changed");
        // Writing files needs arrays: the error says to initialise.
        let err = export(
            &net,
            &dir.path().join("x-symbol.json"),
            &dir.path().join("x-0000.params"),
            &ExportOptions::default(),
        )
        .err()
        .unwrap_or_else(|| panic!("{f}: exported without arrays"));
        assert!(err.to_string().contains("initialise the net"), "{f}: {err}");
    }
}
