//! Nets defined in Rust: build, initialise, evaluate, describe as JSON and
//! read back, replace parts, set input shapes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use mxnet_format::params::ParamsFile;
use mxnet_format::symbol::Symbol;
use mxnet_net::describe::{from_json, initialize, output_shapes, to_json};
use mxnet_net::{
    Element, ElementwiseFunction, Layer, LayerKind, Net, NetKind, NetNode, PoolingConvention,
    PoolingFunction, Port, RecurrentOptions, Source, ThreadingFunction, evaluate, import_symbol,
};
use mxnet_ops::{Tensor, Weights};

fn layer(kind: LayerKind) -> Element {
    Element::Layer(Layer::new(kind))
}

fn small_cnn() -> Net {
    Net::chain(
        Port::with_shape("data", vec![2, 3, 8, 8]),
        vec![
            (
                "conv".into(),
                layer(LayerKind::Convolution {
                    channels: 4,
                    kernel: vec![3, 3],
                    stride: vec![1, 1],
                    padding: vec![1, 1],
                    dilation: vec![1, 1],
                    groups: 1,
                    bias: true,
                }),
            ),
            (
                "bn".into(),
                layer(LayerKind::BatchNormalization {
                    epsilon: 1e-5,
                    momentum: 0.9,
                    axis: 1,
                }),
            ),
            (
                "relu".into(),
                layer(LayerKind::Elementwise {
                    function: ElementwiseFunction::Ramp,
                }),
            ),
            (
                "pool".into(),
                layer(LayerKind::Pooling {
                    function: PoolingFunction::Max,
                    kernel: vec![2, 2],
                    stride: vec![2, 2],
                    padding: vec![0, 0],
                    convention: PoolingConvention::Valid,
                    count_padding: true,
                }),
            ),
            ("flat".into(), layer(LayerKind::Flatten)),
            (
                "fc".into(),
                layer(LayerKind::Linear {
                    size: 5,
                    bias: true,
                    flatten: true,
                }),
            ),
            (
                "prob".into(),
                layer(LayerKind::Softmax {
                    axis: Some(-1),
                    log: false,
                }),
            ),
        ],
    )
    .unwrap()
}

#[test]
fn a_defined_chain_initialises_and_evaluates() {
    let mut net = small_cnn();
    assert_eq!(net.kind(), NetKind::Chain);
    assert!(!net.is_initialized());
    initialize(&mut net, 7).unwrap();
    assert!(net.is_initialized());
    let conv = &net.layers()[0].1;
    assert_eq!(conv.array("Weights").unwrap().shape, [4, 3, 3, 3]);
    let x = Tensor::new(
        vec![2, 3, 8, 8],
        (0..384).map(|i| (i as f32 * 0.37).sin()).collect(),
    )
    .unwrap();
    let out = evaluate(&net, &HashMap::from([("data".to_owned(), x)])).unwrap();
    assert_eq!(out[0].shape, [2, 5]);
    for row in out[0].data.chunks(5) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let shapes = output_shapes(&net).unwrap();
    assert_eq!(shapes["pool"], [vec![2, 4, 4, 4]]);
    assert_eq!(shapes["fc"], [vec![2, 5]]);
}

#[test]
fn initialisation_is_deterministic() {
    let (mut a, mut b) = (small_cnn(), small_cnn());
    initialize(&mut a, 7).unwrap();
    initialize(&mut b, 7).unwrap();
    assert_eq!(a, b);
    let mut c = small_cnn();
    initialize(&mut c, 8).unwrap();
    assert_ne!(a, c);
}

#[test]
fn descriptions_round_trip() {
    let mut net = small_cnn();
    initialize(&mut net, 1).unwrap();
    let json = to_json(&net);
    assert_eq!(json["kind"], "NetChain");
    assert_eq!(json["nodes"][0]["layer"]["type"], "Convolution");
    let back = from_json(&json).unwrap();
    assert_eq!(back, net);
    // Through text as well.
    let text = serde_json::to_string(&json).unwrap();
    assert_eq!(
        from_json(&serde_json::from_str(&text).unwrap()).unwrap(),
        net
    );
}

#[test]
fn imported_nets_describe_and_read_back() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models");
    let sym = Symbol::open(dir.join("gluon_resnet-symbol.json")).unwrap();
    let params = ParamsFile::open(dir.join("gluon_resnet-0000.params")).unwrap();
    let w = Weights::from_params(&params).unwrap();
    let net = import_symbol(&sym, Some(&w)).unwrap().net;
    assert_eq!(net.kind(), NetKind::Graph);
    assert_eq!(from_json(&to_json(&net)).unwrap(), net);
}

#[test]
fn graphs_with_branches_and_replaced_parts() {
    // out = relu(x) + x·2, with the second branch replaced by x·3.
    let scale = |s: f64| {
        layer(LayerKind::Elementwise {
            function: ElementwiseFunction::Scalar("_mul_scalar".into(), s),
        })
    };
    let mut net = Net::graph(
        vec![Port::with_shape("x", vec![3])],
        vec![
            NetNode {
                name: "relu".into(),
                element: layer(LayerKind::Elementwise {
                    function: ElementwiseFunction::Ramp,
                }),
                inputs: vec![Source::Input("x".into())],
            },
            NetNode {
                name: "twice".into(),
                element: scale(2.0),
                inputs: vec![Source::Input("x".into())],
            },
            NetNode {
                name: "sum".into(),
                element: layer(LayerKind::Threading {
                    function: ThreadingFunction::Plus,
                    inputs: 2,
                    broadcast: false,
                }),
                inputs: vec![Source::node("relu"), Source::node("twice")],
            },
        ],
        vec![("out".into(), Source::node("sum"))],
    )
    .unwrap();
    assert_eq!(net.kind(), NetKind::Graph);
    let x = Tensor::new(vec![3], vec![-1.0, 0.5, 2.0]).unwrap();
    let run = |net: &Net| {
        evaluate(net, &HashMap::from([("x".to_owned(), x.clone())])).unwrap()[0]
            .data
            .clone()
    };
    assert_eq!(run(&net), [-2.0, 1.5, 6.0]);
    net.replace("twice", scale(3.0)).unwrap();
    assert_eq!(run(&net), [-3.0, 2.0, 8.0]);
    net.set_input_shape("x", vec![3]).unwrap();
    assert!(net.set_input_shape("y", vec![3]).is_err());
    // Sources must exist and come earlier.
    let bad = Net::graph(
        vec![Port::new("x")],
        vec![NetNode {
            name: "a".into(),
            element: scale(1.0),
            inputs: vec![Source::node("b")],
        }],
        vec![("out".into(), Source::node("a"))],
    );
    assert!(bad.unwrap_err().to_string().contains("\"b\""));
}

#[test]
fn nested_nets_flatten_on_evaluation() {
    let inner = Net::chain(
        Port::new("in"),
        vec![(
            "twice".into(),
            layer(LayerKind::Elementwise {
                function: ElementwiseFunction::Scalar("_mul_scalar".into(), 2.0),
            }),
        )],
    )
    .unwrap();
    let net = Net::chain(
        Port::with_shape("x", vec![2]),
        vec![
            ("block".into(), Element::Net(inner)),
            (
                "relu".into(),
                layer(LayerKind::Elementwise {
                    function: ElementwiseFunction::Ramp,
                }),
            ),
        ],
    )
    .unwrap();
    let x = Tensor::new(vec![2], vec![-1.0, 3.0]).unwrap();
    let out = evaluate(&net, &HashMap::from([("x".to_owned(), x)])).unwrap();
    assert_eq!(out[0].data, [0.0, 6.0]);
    assert_eq!(net.layers()[0].0, "block/twice");
}

#[test]
fn recurrent_layers_initialise_and_run() {
    let o = RecurrentOptions {
        hidden: 4,
        layers: 2,
        bidirectional: true,
        state_inputs: false,
        state_outputs: false,
        input_size: None,
        dropout: 0.0,
    };
    let mut net = Net::chain(
        Port::with_shape("data", vec![5, 2, 3]),
        vec![("lstm".into(), layer(LayerKind::LongShortTermMemory(o)))],
    )
    .unwrap();
    initialize(&mut net, 3).unwrap();
    let lstm = net.layers()[0].1;
    assert_eq!(
        lstm.array("L1/F/InputGateInputWeights").unwrap().shape,
        [4, 3]
    );
    assert_eq!(
        lstm.array("L2/B/OutputGateInputWeights").unwrap().shape,
        [4, 8]
    );
    let x = Tensor::new(vec![5, 2, 3], (0..30).map(|i| i as f32 / 30.0).collect()).unwrap();
    let out = evaluate(&net, &HashMap::from([("data".to_owned(), x)])).unwrap();
    assert_eq!(out[0].shape, [5, 2, 8]);
}

#[test]
fn aggregation_pools_any_spatial_rank_and_exports_without_a_kernel() {
    use mxnet_net::{ExportOptions, to_symbol};
    for (shape, function) in [
        (vec![2, 3, 7], PoolingFunction::Total),
        (vec![2, 2, 3, 4, 5], PoolingFunction::Mean),
    ] {
        let net = Net::chain(
            Port::with_shape("data", shape.clone()),
            vec![("agg".into(), layer(LayerKind::Aggregation { function }))],
        )
        .unwrap();
        // A fixed-rank kernel (the old "(1, 1)") fails in MXNet on 1-D and 3-D data.
        let exported = to_symbol(&net, &ExportOptions::default()).unwrap();
        let pool = exported.symbol.nodes().last().unwrap();
        assert_eq!(pool.op, "Pooling");
        assert!(!pool.attrs.contains_key("kernel"), "{:?}", pool.attrs);
        let n: usize = shape.iter().product();
        let x = Tensor::new(shape.clone(), vec![1.0; n]).unwrap();
        let out = evaluate(&net, &HashMap::from([("data".to_owned(), x)])).unwrap();
        let per_plane: usize = shape[2..].iter().product();
        let mut want_shape = shape[..2].to_vec();
        want_shape.extend(vec![1; shape.len() - 2]);
        assert_eq!(out[0].shape, want_shape);
        let want = if function == PoolingFunction::Total {
            per_plane as f32
        } else {
            1.0
        };
        assert!(out[0].data.iter().all(|&v| (v - want).abs() < 1e-5));
    }
}

#[test]
fn flattened_softmax_exports_as_three_ops_and_imports_as_one_layer() {
    use mxnet_net::{ExportOptions, to_symbol};
    for log in [false, true] {
        let net = Net::chain(
            Port::with_shape("data", vec![2, 3, 4]),
            vec![("prob".into(), layer(LayerKind::Softmax { axis: None, log }))],
        )
        .unwrap();
        let exported = to_symbol(&net, &ExportOptions::default()).unwrap();
        let ops: Vec<&str> = exported
            .symbol
            .nodes()
            .iter()
            .map(|n| n.op.as_str())
            .collect();
        let soft = if log { "log_softmax" } else { "softmax" };
        assert_eq!(ops, ["null", "Flatten", soft, "reshape_like"]);
        let again = import_symbol(&exported.symbol, None).unwrap();
        assert!(again.fallbacks.is_empty());
        // The same layer and wiring (the output is named as MXNet names it).
        assert_eq!(again.net.inputs, net.inputs);
        assert_eq!(again.net.nodes, net.nodes);
        assert_eq!(again.net.outputs[0].0, "prob_output");
        // Softmax over all 12 values of each sample.
        let x = Tensor::new(vec![2, 3, 4], (0..24).map(|i| i as f32 / 10.0).collect()).unwrap();
        let out = evaluate(&net, &HashMap::from([("data".to_owned(), x)])).unwrap();
        assert_eq!(out[0].shape, [2, 3, 4]);
        for sample in out[0].data.chunks(12) {
            let total: f32 = if log {
                sample.iter().map(|v| v.exp()).sum()
            } else {
                sample.iter().sum()
            };
            assert!((total - 1.0).abs() < 1e-5);
        }
    }
    // A reshape_like outside the pattern stays an MXNetOp layer.
    let nodes = vec![
        mxnet_format::symbol::Node::variable("a"),
        mxnet_format::symbol::Node::variable("b"),
        mxnet_format::symbol::Node {
            op: "reshape_like".into(),
            name: "r".into(),
            inputs: vec![
                mxnet_format::symbol::NodeEntry::new(0, 0),
                mxnet_format::symbol::NodeEntry::new(1, 0),
            ],
            ..Default::default()
        },
    ];
    let sym = Symbol::new(nodes, vec![mxnet_format::symbol::NodeEntry::new(2, 0)]).unwrap();
    let imported = import_symbol(&sym, None).unwrap();
    assert_eq!(imported.net.layers()[0].1.type_name(), "MXNetOp");
    assert_eq!(imported.fallbacks[0].op, "reshape_like");
}
