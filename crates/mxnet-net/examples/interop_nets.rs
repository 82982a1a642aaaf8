//! Writes nets for real MXNet 1.9.1 to check (`scripts/interop.py`, run in CI):
//!
//! ```text
//! cargo run -p mxnet-net --example interop_nets -- target/interop-nets
//! .venv-mxnet/bin/python scripts/interop.py target/interop-nets
//! ```
//!
//! 1. Nets defined here in Rust, together using every layer kind that has an
//!    export rule (and `MXNetOp` layers), as chains, graphs and a nested net.
//!    Each is initialised with a fixed seed (biases, scalings, moving
//!    statistics and slopes then get random values too, so that a misplaced
//!    one shows), run by OUR executor on seeded random inputs, and exported as
//!    `NAME-symbol.json` + `NAME-0000.params`; `NAME-io.params` holds the
//!    inputs (by input name) and our outputs (by the exported symbol's output
//!    names). MXNet must load the export and compute our outputs.
//! 2. Every fixture model with reference outputs (`tests/fixtures/models`,
//!    `tests/fixtures/nets`), imported as a net with its arrays and exported;
//!    the fixture's own io file (MXNet's outputs on the original graph) is
//!    copied beside it. MXNet must compute its own outputs from our export.
//!
//! `expect.json` lists every symbol with its arguments, auxiliary states and
//! outputs, `resave_identical`, its params and io files, and `io_source`
//! (`ours` or `mxnet`: the script's tolerance depends on it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use mxnet_format::params::{ParamsFile, ParamsWriter};
use mxnet_format::symbol::{self, Symbol};
use mxnet_net::describe::initialize;
use mxnet_net::{
    Element, ElementwiseFunction as F, ExportOptions, Layer, LayerKind, Net, NetNode, PaddingMode,
    PoolingConvention, PoolingFunction as P, Port, RecurrentOptions, ResizeMethod, Source,
    ThreadingFunction as T, evaluate, export, import_symbol,
};
use mxnet_ops::{Tensor, Weights};
use serde_json::{Value, json};

#[path = "../../../tests/support/fixtures.rs"]
mod support;
use support::fixture_models;

// ------------------------------------------------------------------ helpers

/// Deterministic uniform values in [lo, hi) (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    fn uniform(&mut self, shape: &[usize], lo: f32, hi: f32) -> Tensor {
        let n = shape.iter().product();
        let data = (0..n).map(|_| lo + (hi - lo) * self.next()).collect();
        Tensor::new(shape.to_vec(), data).unwrap()
    }

    /// Integer-valued indices in [0, n).
    fn indices(&mut self, shape: &[usize], n: usize) -> Tensor {
        let count = shape.iter().product();
        let data = (0..count)
            .map(|_| ((self.next() * n as f32) as usize).min(n - 1) as f32)
            .collect();
        Tensor::new(shape.to_vec(), data).unwrap()
    }
}

fn layer(kind: LayerKind) -> Element {
    Element::Layer(Layer::new(kind))
}

fn node(name: &str, kind: LayerKind, inputs: &[Source]) -> NetNode {
    NetNode {
        name: name.to_owned(),
        element: layer(kind),
        inputs: inputs.to_vec(),
    }
}

fn input(name: &str) -> Source {
    Source::Input(name.to_owned())
}

fn from(name: &str) -> Source {
    Source::node(name)
}

fn out(name: &str, output: usize) -> Source {
    Source::Node {
        node: name.to_owned(),
        output,
    }
}

fn elementwise(function: F) -> LayerKind {
    LayerKind::Elementwise { function }
}

fn conv(
    channels: usize,
    kernel: &[usize],
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
    groups: usize,
    bias: bool,
) -> LayerKind {
    LayerKind::Convolution {
        channels,
        kernel: kernel.to_vec(),
        stride: stride.to_vec(),
        padding: padding.to_vec(),
        dilation: dilation.to_vec(),
        groups,
        bias,
    }
}

fn deconv(
    channels: usize,
    kernel: &[usize],
    stride: &[usize],
    padding: &[usize],
    output_padding: &[usize],
    groups: usize,
    bias: bool,
) -> LayerKind {
    LayerKind::Deconvolution {
        channels,
        kernel: kernel.to_vec(),
        stride: stride.to_vec(),
        padding: padding.to_vec(),
        output_padding: output_padding.to_vec(),
        dilation: vec![1; kernel.len()],
        groups,
        bias,
    }
}

fn pool(
    function: P,
    kernel: &[usize],
    stride: &[usize],
    padding: &[usize],
    convention: PoolingConvention,
    count_padding: bool,
) -> LayerKind {
    LayerKind::Pooling {
        function,
        kernel: kernel.to_vec(),
        stride: stride.to_vec(),
        padding: padding.to_vec(),
        convention,
        count_padding,
    }
}

fn recurrent(hidden: usize, state_inputs: bool, state_outputs: bool) -> RecurrentOptions {
    RecurrentOptions {
        hidden,
        layers: 2,
        bidirectional: true,
        state_inputs,
        state_outputs,
        input_size: None,
        dropout: 0.0,
    }
}

fn mxnet_op(op: &str, attrs: &[(&str, &str)], array_slots: &[(usize, &str)]) -> LayerKind {
    LayerKind::MXNetOp {
        op: op.to_owned(),
        attrs: attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        inputs: 1,
        outputs: 1,
        array_slots: array_slots
            .iter()
            .map(|(p, n)| (*p, (*n).to_owned(), false))
            .collect(),
        reason: "carried as an MXNet op (interop test)".to_owned(),
    }
}

/// Gives biases, scalings, moving statistics and slopes random values
/// (initialisation makes them zeros and ones, which would hide a misplaced
/// array).
fn perturb(net: &mut Net, rng: &mut Rng) {
    for n in &mut net.nodes {
        match &mut n.element {
            Element::Net(inner) => perturb(inner, rng),
            Element::Layer(l) => {
                for (name, value) in &mut l.arrays {
                    let Some(t) = value else { continue };
                    let (lo, hi) = match name.as_str() {
                        "Scaling" | "MovingVariance" => (0.5, 1.5),
                        "Slope" => (0.0, 0.5),
                        "MovingMean" => (-0.3, 0.3),
                        n if n.ends_with("Biases") => (-0.3, 0.3),
                        _ => continue,
                    };
                    *t = rng.uniform(&t.shape, lo, hi);
                }
            }
        }
    }
}

fn close(a: &[f32], b: &[f32]) -> bool {
    let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-5 * scale + 1e-5 * y.abs())
}

// ------------------------------------------------------------------ output

struct Out {
    dir: PathBuf,
    expect: BTreeMap<String, Value>,
}

impl Out {
    fn entry(&mut self, name: &str, sym: &Symbol, io_source: &str) {
        self.expect.insert(
            format!("{name}-symbol.json"),
            json!({
                "kind": "symbol",
                "arguments": sym.list_arguments(),
                "aux": sym.list_auxiliary_states(),
                "outputs": sym.list_outputs(),
                "resave_identical": true,
                "params": format!("{name}-0000.params"),
                "io": format!("{name}-io.params"),
                "io_source": io_source,
            }),
        );
    }

    /// Part 1: initialise, evaluate, export, write the io file.
    fn net(&mut self, name: &str, mut net: Net, seed: u64, inputs: Vec<(&str, Tensor)>) {
        initialize(&mut net, seed).unwrap_or_else(|e| panic!("{name}: initialize: {e}"));
        assert!(net.is_initialized(), "{name}: not initialised");
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
        perturb(&mut net, &mut rng);
        let values: HashMap<String, Tensor> = inputs
            .iter()
            .map(|(k, t)| ((*k).to_owned(), t.clone()))
            .collect();
        let outputs = evaluate(&net, &values).unwrap_or_else(|e| panic!("{name}: evaluate: {e}"));
        let exported = export(
            &net,
            &self.dir.join(format!("{name}-symbol.json")),
            &self.dir.join(format!("{name}-0000.params")),
            &ExportOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: export: {e}"));
        let names = exported.symbol.list_outputs();
        assert_eq!(names.len(), outputs.len(), "{name}: output count");
        for (n, t) in names.iter().zip(&outputs) {
            assert!(
                t.data.iter().all(|v| v.is_finite()),
                "{name}: output {n} is not finite"
            );
        }
        // Our own import of the export must compute the same.
        let mut w = Weights::new();
        for (k, t) in &exported.params {
            w.insert(k.split_once(':').unwrap().1, t.clone());
        }
        let again = import_symbol(&exported.symbol, Some(&w))
            .unwrap_or_else(|e| panic!("{name}: re-import: {e}"));
        let outputs2 = evaluate(&again.net, &values)
            .unwrap_or_else(|e| panic!("{name}: evaluate after re-import: {e}"));
        for ((n, a), b) in names.iter().zip(&outputs).zip(&outputs2) {
            assert!(
                a.shape == b.shape && close(&b.data, &a.data),
                "{name}: output {n} changes on re-import"
            );
        }
        let mut io = ParamsWriter::new();
        for (k, t) in &inputs {
            io.push(Some(k), t.to_array());
        }
        for (n, t) in names.iter().zip(&outputs) {
            io.push(Some(n), t.to_array());
        }
        io.save(self.dir.join(format!("{name}-io.params"))).unwrap();
        println!(
            "{name}: {} layers, {} inputs, {} outputs",
            net.layers().len(),
            inputs.len(),
            outputs.len()
        );
        self.entry(name, &exported.symbol, "ours");
    }

    /// Part 2: a fixture model imported with its arrays and exported; its
    /// own io file (MXNet's outputs) goes beside the export.
    fn fixture(&mut self, name: &str, sym: &Path, params: &Path, io: &Path) {
        let s = Symbol::open(sym).unwrap();
        let p = ParamsFile::open(params).unwrap();
        let w = Weights::from_params(&p).unwrap();
        let mut net = import_symbol(&s, Some(&w))
            .unwrap_or_else(|e| panic!("{name}: import: {e}"))
            .net;
        // The io file gives the input shapes (written as `__shape__` hints).
        let io_file = ParamsFile::open(io).unwrap();
        for port in net.inputs.clone() {
            if let Some(e) = io_file.get_by_name(&port.name) {
                net.set_input_shape(&port.name, e.array.shape().to_vec())
                    .unwrap();
            }
        }
        let exported = export(
            &net,
            &self.dir.join(format!("{name}-symbol.json")),
            &self.dir.join(format!("{name}-0000.params")),
            &ExportOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: export: {e}"));
        std::fs::copy(io, self.dir.join(format!("{name}-io.params"))).unwrap();
        println!("{name}: {} layers (fixture)", net.layers().len());
        self.entry(name, &exported.symbol, "mxnet");
    }
}

// ------------------------------------------------------------------ nets

/// A 2-D CNN chain: convolutions (plain, grouped+dilated without bias,
/// depthwise strided), batch norm, LRN, PReLU, max pooling, a grouped
/// deconvolution with output padding, instance and group norm, global mean
/// pooling, flatten, linear and log-softmax.
fn cnn2d() -> Net {
    let l = |n: &str, k: LayerKind| (n.to_owned(), layer(k));
    Net::chain(
        Port::with_shape("data", vec![2, 4, 12, 12]),
        vec![
            l("conv", conv(8, &[3, 3], &[1, 1], &[1, 1], &[1, 1], 1, true)),
            l(
                "bn",
                LayerKind::BatchNormalization {
                    epsilon: 1e-5,
                    momentum: 0.9,
                    axis: 1,
                },
            ),
            l("relu", elementwise(F::Ramp)),
            l(
                "conv_grouped",
                conv(8, &[3, 3], &[1, 1], &[2, 2], &[2, 2], 2, false),
            ),
            l(
                "conv_depthwise",
                conv(8, &[3, 3], &[2, 2], &[1, 1], &[1, 1], 8, true),
            ),
            l(
                "lrn",
                LayerKind::LocalResponseNormalization {
                    size: 3,
                    alpha: 0.1,
                    beta: 0.75,
                    bias: 2.0,
                },
            ),
            l("prelu", LayerKind::ParametricRamp),
            l(
                "pool",
                pool(
                    P::Max,
                    &[2, 2],
                    &[2, 2],
                    &[0, 0],
                    PoolingConvention::Valid,
                    true,
                ),
            ),
            l(
                "deconv",
                deconv(6, &[3, 3], &[2, 2], &[1, 1], &[1, 1], 2, true),
            ),
            l("inorm", LayerKind::InstanceNormalization { epsilon: 1e-5 }),
            l(
                "gnorm",
                LayerKind::GroupNormalization {
                    groups: 3,
                    epsilon: 1e-5,
                },
            ),
            l("tanh", elementwise(F::Tanh)),
            l("gap", LayerKind::Aggregation { function: P::Mean }),
            l("flat", LayerKind::Flatten),
            l(
                "fc",
                LayerKind::Linear {
                    size: 5,
                    bias: true,
                    flatten: true,
                },
            ),
            l(
                "logprob",
                LayerKind::Softmax {
                    axis: Some(1),
                    log: true,
                },
            ),
        ],
    )
    .unwrap()
}

/// 1-D and 3-D convolutions, pooling and deconvolutions, batch norm on the
/// last axis.
fn conv1d3d() -> Net {
    Net::graph(
        vec![
            Port::with_shape("x1", vec![2, 3, 16]),
            Port::with_shape("x3", vec![2, 2, 6, 6, 6]),
        ],
        vec![
            node(
                "c1",
                conv(4, &[3], &[2], &[1], &[2], 1, true),
                &[input("x1")],
            ),
            node(
                "p1",
                pool(P::Lp(2), &[2], &[1], &[0], PoolingConvention::Valid, true),
                &[from("c1")],
            ),
            node(
                "d1",
                deconv(2, &[3], &[2], &[0], &[1], 1, false),
                &[from("p1")],
            ),
            node(
                "bn_last",
                LayerKind::BatchNormalization {
                    epsilon: 1e-3,
                    momentum: 0.9,
                    axis: -1,
                },
                &[from("d1")],
            ),
            node(
                "c3",
                conv(4, &[3, 3, 3], &[1, 1, 1], &[1, 1, 1], &[1, 1, 1], 2, true),
                &[input("x3")],
            ),
            node(
                "p3",
                pool(
                    P::Mean,
                    &[2, 2, 2],
                    &[2, 2, 2],
                    &[0, 0, 0],
                    PoolingConvention::Valid,
                    true,
                ),
                &[from("c3")],
            ),
            node(
                "d3",
                deconv(2, &[2, 2, 2], &[2, 2, 2], &[0, 0, 0], &[0, 0, 0], 1, true),
                &[from("p3")],
            ),
            node(
                "c3_nobias",
                conv(3, &[2, 3, 2], &[2, 1, 1], &[0, 1, 0], &[1, 1, 2], 1, false),
                &[from("d3")],
            ),
            node(
                "agg3",
                LayerKind::Aggregation { function: P::Max },
                &[from("c3_nobias")],
            ),
            node(
                "p1_max_full",
                pool(P::Max, &[3], &[2], &[1], PoolingConvention::Full, true),
                &[input("x1")],
            ),
            node(
                "p3_mean_uncounted",
                pool(
                    P::Mean,
                    &[3, 3, 2],
                    &[2, 2, 1],
                    &[1, 1, 1],
                    PoolingConvention::Full,
                    false,
                ),
                &[input("x3")],
            ),
            node(
                "d1_dilated",
                LayerKind::Deconvolution {
                    channels: 4,
                    kernel: vec![3],
                    stride: vec![1],
                    padding: vec![1],
                    output_padding: vec![0],
                    dilation: vec![2],
                    groups: 1,
                    bias: true,
                },
                &[from("p1_max_full")],
            ),
            node(
                "agg1",
                LayerKind::Aggregation { function: P::Total },
                &[from("c1")],
            ),
            node(
                "agg3_lp",
                LayerKind::Aggregation { function: P::Lp(1) },
                &[from("d3")],
            ),
        ],
        vec![
            ("one_d".into(), from("bn_last")),
            ("one_d_total".into(), from("agg1")),
            ("one_d_dilated".into(), from("d1_dilated")),
            ("three_d_mean".into(), from("p3_mean_uncounted")),
            ("three_d_lp".into(), from("agg3_lp")),
            ("three_d".into(), from("d3")),
            ("three_d_pooled".into(), from("agg3")),
        ],
    )
    .unwrap()
}

/// Every pooling function, both conventions, padding counted or not, and
/// every aggregation.
fn pooling() -> Net {
    use PoolingConvention::{Full, Valid};
    let cases: Vec<(&str, LayerKind)> = vec![
        (
            "max_valid",
            pool(P::Max, &[3, 3], &[2, 2], &[0, 0], Valid, true),
        ),
        (
            "max_full",
            pool(P::Max, &[3, 3], &[2, 2], &[1, 1], Full, true),
        ),
        (
            "mean_pad_counted",
            pool(P::Mean, &[3, 3], &[2, 2], &[1, 1], Valid, true),
        ),
        (
            "mean_pad_not_counted",
            pool(P::Mean, &[3, 3], &[2, 2], &[1, 1], Valid, false),
        ),
        (
            "mean_full_counted",
            pool(P::Mean, &[2, 2], &[3, 3], &[1, 1], Full, true),
        ),
        (
            "mean_full_not_counted",
            pool(P::Mean, &[2, 2], &[3, 3], &[1, 1], Full, false),
        ),
        (
            "total",
            pool(P::Total, &[2, 3], &[2, 1], &[0, 1], Valid, true),
        ),
        (
            "total_full",
            pool(P::Total, &[2, 2], &[2, 2], &[0, 0], Full, true),
        ),
        (
            "lp1",
            pool(P::Lp(1), &[2, 2], &[1, 1], &[0, 0], Valid, true),
        ),
        (
            "lp2",
            pool(P::Lp(2), &[3, 3], &[2, 2], &[1, 1], Valid, true),
        ),
        ("lp3", pool(P::Lp(3), &[2, 2], &[2, 2], &[0, 0], Full, true)),
        ("agg_max", LayerKind::Aggregation { function: P::Max }),
        ("agg_mean", LayerKind::Aggregation { function: P::Mean }),
        ("agg_total", LayerKind::Aggregation { function: P::Total }),
        ("agg_lp2", LayerKind::Aggregation { function: P::Lp(2) }),
    ];
    let mut nodes = vec![node(
        "positive",
        elementwise(F::Math("abs".into())),
        &[input("data")],
    )];
    let mut outputs = Vec::new();
    for (name, kind) in cases {
        // Lp pooling of odd powers is only real for non-negative inputs.
        let src = if name.starts_with("lp") || name == "agg_lp2" {
            from("positive")
        } else {
            input("data")
        };
        nodes.push(node(name, kind, &[src]));
        outputs.push((name.to_owned(), from(name)));
    }
    Net::graph(
        vec![Port::with_shape("data", vec![2, 3, 11, 11])],
        nodes,
        outputs,
    )
    .unwrap()
}

/// Every element-wise function, one output each (`xp` is a positive input
/// for the functions defined only there).
fn elementwise_net() -> Net {
    let mut cases: Vec<(String, F, &str)> = vec![
        ("ramp".into(), F::Ramp, "x"),
        ("sigmoid".into(), F::LogisticSigmoid, "x"),
        ("tanh".into(), F::Tanh, "x"),
        ("softplus".into(), F::SoftPlus, "x"),
        ("softsign".into(), F::SoftSign, "x"),
        ("elu".into(), F::Elu(0.7), "x"),
        ("selu".into(), F::Selu, "x"),
        ("gelu".into(), F::Gelu, "x"),
        ("leaky".into(), F::LeakyRamp(0.1), "x"),
        ("clip".into(), F::Clip(-0.5, 0.8), "x"),
    ];
    for m in [
        "abs", "exp", "expm1", "sin", "cos", "tan", "arctan", "arcsinh", "sinh", "cosh", "erf",
        "square", "sigmoid", "relu", "negative", "floor", "ceil", "round", "trunc", "sign", "cbrt",
        "tanh", "softsign", "degrees", "radians", "fix", "rint",
    ] {
        cases.push((format!("math_{m}"), F::Math(m.into()), "x"));
    }
    for m in ["arcsin", "arccos", "arctanh", "erfinv"] {
        cases.push((format!("math_{m}"), F::Math(m.into()), "xu"));
    }
    for m in [
        "log",
        "log2",
        "log10",
        "log1p",
        "sqrt",
        "rsqrt",
        "rcbrt",
        "reciprocal",
        "gammaln",
        "gamma",
        "arccosh",
    ] {
        cases.push((format!("math_{m}"), F::Math(m.into()), "xp"));
    }
    for (op, c, src) in [
        ("_plus_scalar", 1.5, "x"),
        ("_minus_scalar", 0.25, "x"),
        ("_rminus_scalar", 2.0, "x"),
        ("_mul_scalar", -3.0, "x"),
        ("_div_scalar", 4.0, "x"),
        ("_rdiv_scalar", 2.0, "xp"),
        ("_power_scalar", 3.0, "x"),
        ("_power_scalar", 0.5, "xp"),
        ("_rpower_scalar", 2.0, "x"),
        ("_maximum_scalar", 0.3, "x"),
        ("_minimum_scalar", -0.2, "x"),
        ("_hypot_scalar", 1.5, "x"),
        ("_mod_scalar", 0.7, "xp"),
        ("_rmod_scalar", 2.5, "xp"),
    ] {
        let name = format!(
            "scalar{op}_{}",
            c.to_string().replace('.', "p").replace('-', "m")
        );
        cases.push((name, F::Scalar(op.into(), c), src));
    }
    let mut nodes = Vec::new();
    let mut outputs = Vec::new();
    for (name, f, src) in cases {
        nodes.push(node(&name, elementwise(f), &[input(src)]));
        outputs.push((name.clone(), from(&name)));
    }
    nodes.push(node("prelu", LayerKind::ParametricRamp, &[input("x")]));
    outputs.push(("prelu".into(), from("prelu")));
    Net::graph(
        vec![
            Port::with_shape("x", vec![2, 3, 4, 5]),
            Port::with_shape("xp", vec![2, 3, 4, 5]),
            Port::with_shape("xu", vec![2, 3, 4, 5]),
        ],
        nodes,
        outputs,
    )
    .unwrap()
}

/// Flatten, reshape codes, transpose, catenate, total, dropout, padding
/// modes, resizing, replicate and slices.
fn shapes() -> Net {
    let reshape = |s: &[i64]| LayerKind::Reshape { shape: s.to_vec() };
    let total = |axes: &[i64], keep_dims| LayerKind::Total {
        axes: axes.to_vec(),
        keep_dims,
    };
    let pad = |p: &[(usize, usize)], mode| LayerKind::Padding {
        padding: p.to_vec(),
        mode,
    };
    let resize = |scale: &[f64], method| LayerKind::Resize {
        scale: scale.to_vec(),
        method,
    };
    let x = || input("x");
    let cases: Vec<(&str, LayerKind, Vec<Source>)> = vec![
        ("flatten", LayerKind::Flatten, vec![x()]),
        ("reshape_keep", reshape(&[0, -1]), vec![x()]),
        ("reshape_merge", reshape(&[0, -3, -1]), vec![x()]),
        ("reshape_split", reshape(&[-4, 1, 2, -2]), vec![x()]),
        (
            "reshape_split_infer",
            reshape(&[0, -4, -1, 3, -2]),
            vec![x()],
        ),
        ("reshape_rest", reshape(&[-1, 5]), vec![x()]),
        ("reshape_copy", reshape(&[0, 0, -1]), vec![x()]),
        (
            "transpose",
            LayerKind::Transpose {
                axes: vec![0, 2, 3, 1],
            },
            vec![x()],
        ),
        (
            "transpose_reverse",
            LayerKind::Transpose { axes: vec![] },
            vec![x()],
        ),
        (
            "part",
            LayerKind::Part {
                begin: vec![None, Some(1), Some(0)],
                end: vec![None, Some(3), None],
                step: vec![],
            },
            vec![x()],
        ),
        (
            "part_step",
            LayerKind::Part {
                begin: vec![Some(0), None, Some(-1)],
                end: vec![Some(2), None, Some(0)],
                step: vec![Some(1), Some(-1), Some(-2)],
            },
            vec![x()],
        ),
        (
            "catenate",
            LayerKind::Catenate { axis: 1, inputs: 3 },
            vec![x(), from("part"), x()],
        ),
        (
            "catenate_last",
            LayerKind::Catenate {
                axis: -1,
                inputs: 2,
            },
            vec![x(), x()],
        ),
        ("total_axes", total(&[1, 3], false), vec![x()]),
        ("total_keep", total(&[-1], true), vec![x()]),
        ("total_all", total(&[], false), vec![x()]),
        (
            "dropout",
            LayerKind::Dropout { probability: 0.3 },
            vec![x()],
        ),
        (
            "pad_fixed",
            pad(&[(0, 0), (0, 0), (1, 2), (2, 1)], PaddingMode::Fixed(0.5)),
            vec![x()],
        ),
        (
            "pad_edge",
            pad(&[(0, 0), (0, 0), (2, 0), (1, 3)], PaddingMode::Edge),
            vec![x()],
        ),
        (
            "pad_reflected",
            pad(&[(0, 0), (0, 0), (2, 1), (1, 3)], PaddingMode::Reflected),
            vec![x()],
        ),
        (
            "pad_5d",
            pad(
                &[(0, 0), (0, 0), (1, 0), (0, 1), (1, 1)],
                PaddingMode::Fixed(0.0),
            ),
            vec![from("reshape_split_5d")],
        ),
        (
            "resize_nearest",
            resize(&[2.0, 2.0], ResizeMethod::Nearest),
            vec![x()],
        ),
        (
            "resize_kernel",
            resize(&[2.0, 2.0], ResizeMethod::BilinearKernel),
            vec![x()],
        ),
        (
            "resize_bilinear",
            resize(
                &[2.0, 1.5],
                ResizeMethod::Bilinear {
                    align_corners: true,
                },
            ),
            vec![x()],
        ),
        (
            "resize_bilinear_unaligned",
            resize(
                &[1.5, 3.0],
                ResizeMethod::Bilinear {
                    align_corners: false,
                },
            ),
            vec![x()],
        ),
        (
            "resize_nearest3",
            resize(&[3.0, 3.0], ResizeMethod::Nearest),
            vec![x()],
        ),
        (
            "resize_kernel3",
            resize(&[3.0, 3.0], ResizeMethod::BilinearKernel),
            vec![x()],
        ),
        (
            "linear_4d_flatten",
            LayerKind::Linear {
                size: 3,
                bias: true,
                flatten: true,
            },
            vec![x()],
        ),
        (
            "linear_4d_last_axis",
            LayerKind::Linear {
                size: 3,
                bias: false,
                flatten: false,
            },
            vec![x()],
        ),
        (
            "replicate",
            LayerKind::Replicate {
                reps: vec![1, 2, 1, 2],
            },
            vec![x()],
        ),
        (
            "replicate_more_axes",
            LayerKind::Replicate { reps: vec![2, 1] },
            vec![x()],
        ),
    ];
    let mut nodes = vec![node(
        "reshape_split_5d",
        reshape(&[0, 0, 2, 2, -1]),
        &[input("x")],
    )];
    let mut outputs = Vec::new();
    for (name, kind, ins) in cases {
        nodes.push(node(name, kind, &ins));
        outputs.push((name.to_owned(), from(name)));
    }
    Net::graph(
        vec![Port::with_shape("x", vec![2, 3, 4, 5])],
        nodes,
        outputs,
    )
    .unwrap()
}

/// Every threading function, with and without broadcasting, and a 3-input sum.
fn threading() -> Net {
    let mut nodes = Vec::new();
    let mut outputs = Vec::new();
    let functions = [
        ("plus", T::Plus),
        ("subtract", T::Subtract),
        ("times", T::Times),
        ("divide", T::Divide),
        ("max", T::Max),
        ("min", T::Min),
        ("power", T::Power),
    ];
    for (name, f) in functions {
        // Powers of a positive base only.
        let a = if f == T::Power { "p" } else { "a" };
        for (suffix, b, broadcast) in [("", "b", false), ("_broadcast", "c", true)] {
            let n = format!("{name}{suffix}");
            nodes.push(node(
                &n,
                LayerKind::Threading {
                    function: f,
                    inputs: 2,
                    broadcast,
                },
                &[input(a), input(b)],
            ));
            outputs.push((n.clone(), from(&n)));
        }
    }
    nodes.push(node(
        "plus3",
        LayerKind::Threading {
            function: T::Plus,
            inputs: 3,
            broadcast: false,
        },
        &[input("a"), input("b"), input("p")],
    ));
    outputs.push(("plus3".into(), from("plus3")));
    // Broadcasting both ways: (1, 3, 1) against (2, 1, 4).
    nodes.push(node(
        "times_both_ways",
        LayerKind::Threading {
            function: T::Times,
            inputs: 2,
            broadcast: true,
        },
        &[input("c"), input("d")],
    ));
    outputs.push(("times_both_ways".into(), from("times_both_ways")));
    Net::graph(
        vec![
            Port::with_shape("a", vec![2, 3, 4]),
            Port::with_shape("b", vec![2, 3, 4]),
            Port::with_shape("p", vec![2, 3, 4]),
            Port::with_shape("c", vec![1, 3, 1]),
            Port::with_shape("d", vec![2, 1, 4]),
        ],
        nodes,
        outputs,
    )
    .unwrap()
}

/// Embedding, linear layers (flatten both ways, with and without bias),
/// layer and batch norm on other axes, dot products, softmaxes.
fn dense() -> Net {
    let linear = |size, bias, flatten| LayerKind::Linear {
        size,
        bias,
        flatten,
    };
    let dot = |transpose_a, transpose_b, batched| LayerKind::Dot {
        transpose_a,
        transpose_b,
        batched,
    };
    let softmax = |axis, log| LayerKind::Softmax { axis, log };
    let cases: Vec<(&str, LayerKind, Vec<Source>)> = vec![
        (
            "embed",
            LayerKind::Embedding {
                vocabulary: 10,
                size: 6,
            },
            vec![input("tokens")],
        ),
        (
            "fc_seq_nobias",
            linear(3, false, false),
            vec![from("embed")],
        ),
        ("fc_seq", linear(4, true, false), vec![input("x")]),
        ("fc_flat", linear(7, true, true), vec![input("x")]),
        ("fc_flat_nobias", linear(2, false, true), vec![input("x")]),
        (
            "layer_norm",
            LayerKind::Normalization {
                axis: -1,
                epsilon: 1e-5,
            },
            vec![from("embed")],
        ),
        (
            "layer_norm_axis1",
            LayerKind::Normalization {
                axis: 1,
                epsilon: 1e-3,
            },
            vec![input("x")],
        ),
        (
            "batch_norm_last",
            LayerKind::BatchNormalization {
                epsilon: 1e-5,
                momentum: 0.9,
                axis: -1,
            },
            vec![input("x")],
        ),
        (
            "dot",
            dot(false, true, false),
            vec![input("m1"), input("m2")],
        ),
        (
            "dot_ta",
            dot(true, false, false),
            vec![input("m1"), input("m1")],
        ),
        (
            "dot_plain",
            dot(false, false, false),
            vec![input("m2"), from("dot_ta")],
        ),
        (
            "batch_dot",
            dot(false, true, true),
            vec![input("b1"), input("b2")],
        ),
        (
            "batch_dot_ta",
            dot(true, false, true),
            vec![input("b1"), input("b1")],
        ),
        (
            "batch_dot_both",
            dot(true, true, true),
            vec![input("b1"), input("b3")],
        ),
        (
            "batch_dot_layers",
            dot(true, false, true),
            vec![from("embed"), from("fc_seq_nobias")],
        ),
        (
            "dot_both",
            dot(true, true, false),
            vec![input("m1"), input("m3")],
        ),
        ("softmax_axis1", softmax(Some(1), false), vec![input("x")]),
        (
            "log_softmax_last",
            softmax(Some(-1), true),
            vec![input("x")],
        ),
        ("softmax_flat", softmax(None, false), vec![input("x")]),
        ("log_softmax_flat", softmax(None, true), vec![from("embed")]),
    ];
    let mut nodes = Vec::new();
    let mut outputs = Vec::new();
    for (name, kind, ins) in cases {
        nodes.push(node(name, kind, &ins));
        outputs.push((name.to_owned(), from(name)));
    }
    Net::graph(
        vec![
            Port::with_shape("tokens", vec![2, 5]),
            Port::with_shape("x", vec![2, 5, 6]),
            Port::with_shape("m1", vec![3, 4]),
            Port::with_shape("m2", vec![5, 4]),
            Port::with_shape("b1", vec![2, 3, 4]),
            Port::with_shape("b2", vec![2, 5, 4]),
            Port::with_shape("m3", vec![2, 3]),
            Port::with_shape("b3", vec![2, 6, 3]),
        ],
        nodes,
        outputs,
    )
    .unwrap()
}

/// A chain of 2-layer bidirectional recurrent layers without state ports.
fn recurrent_chain() -> Net {
    let l = |n: &str, k: LayerKind| (n.to_owned(), layer(k));
    Net::chain(
        Port::with_shape("data", vec![5, 2, 3]),
        vec![
            l(
                "lstm",
                LayerKind::LongShortTermMemory(RecurrentOptions {
                    dropout: 0.2,
                    ..recurrent(4, false, false)
                }),
            ),
            l("gru", LayerKind::GatedRecurrent(recurrent(3, false, false))),
            l(
                "rnn_tanh",
                LayerKind::BasicRecurrent {
                    options: recurrent(4, false, false),
                    activation: "tanh".into(),
                },
            ),
            l(
                "rnn_relu",
                LayerKind::BasicRecurrent {
                    options: recurrent(2, false, false),
                    activation: "relu".into(),
                },
            ),
        ],
    )
    .unwrap()
}

/// Recurrent layers with state inputs and/or state outputs.
fn recurrent_states() -> Net {
    let mut uni = recurrent(3, false, true);
    uni.bidirectional = false;
    Net::graph(
        vec![
            Port::with_shape("data", vec![5, 2, 3]),
            Port::with_shape("h", vec![4, 2, 4]),
            Port::with_shape("c", vec![4, 2, 4]),
            Port::with_shape("hg", vec![4, 2, 3]),
        ],
        vec![
            node(
                "lstm",
                LayerKind::LongShortTermMemory(recurrent(4, true, true)),
                &[input("data"), input("h"), input("c")],
            ),
            node(
                "gru",
                LayerKind::GatedRecurrent(recurrent(3, true, true)),
                &[input("data"), input("hg")],
            ),
            node(
                "rnn_relu",
                LayerKind::BasicRecurrent {
                    options: recurrent(4, false, true),
                    activation: "relu".into(),
                },
                &[input("data")],
            ),
            node(
                "rnn_tanh",
                LayerKind::BasicRecurrent {
                    options: recurrent(4, true, false),
                    activation: "tanh".into(),
                },
                &[from("lstm"), input("h")],
            ),
            node("gru_uni", LayerKind::GatedRecurrent(uni), &[from("gru")]),
        ],
        vec![
            ("lstm_out".into(), from("lstm")),
            ("lstm_h".into(), out("lstm", 1)),
            ("lstm_c".into(), out("lstm", 2)),
            ("gru_out".into(), from("gru")),
            ("gru_h".into(), out("gru", 1)),
            ("relu_out".into(), from("rnn_relu")),
            ("relu_h".into(), out("rnn_relu", 1)),
            ("tanh_out".into(), from("rnn_tanh")),
            ("gru_uni_out".into(), from("gru_uni")),
            ("gru_uni_h".into(), out("gru_uni", 1)),
        ],
    )
    .unwrap()
}

/// Nested nets (a chain and a two-input graph) and MXNetOp layers, one of
/// them with arrays.
fn nested() -> Net {
    let block = Net::chain(
        Port::new("in"),
        vec![
            (
                "conv".into(),
                layer(conv(4, &[3, 3], &[1, 1], &[1, 1], &[1, 1], 1, true)),
            ),
            (
                "bn".into(),
                layer(LayerKind::BatchNormalization {
                    epsilon: 1e-5,
                    momentum: 0.9,
                    axis: 1,
                }),
            ),
            ("relu".into(), layer(elementwise(F::Ramp))),
        ],
    )
    .unwrap();
    let gate = Net::graph(
        vec![Port::new("a"), Port::new("b")],
        vec![
            node("sig", elementwise(F::LogisticSigmoid), &[input("b")]),
            node(
                "times",
                LayerKind::Threading {
                    function: T::Times,
                    inputs: 2,
                    broadcast: false,
                },
                &[input("a"), from("sig")],
            ),
            node(
                "conv",
                conv(6, &[1, 1], &[1, 1], &[0, 0], &[1, 1], 1, false),
                &[from("times")],
            ),
        ],
        vec![("out".into(), from("conv"))],
    )
    .unwrap();
    // A nested net with two outputs, read by index.
    let two_way = Net::graph(
        vec![Port::new("in")],
        vec![
            node("pos", elementwise(F::Ramp), &[input("in")]),
            node(
                "neg",
                elementwise(F::Math("negative".into())),
                &[input("in")],
            ),
        ],
        vec![("pos".into(), from("pos")), ("neg".into(), from("neg"))],
    )
    .unwrap();
    Net::graph(
        vec![Port::with_shape("x", vec![2, 4, 8, 8])],
        vec![
            NetNode {
                name: "block".into(),
                element: Element::Net(block),
                inputs: vec![input("x")],
            },
            node(
                "residual",
                LayerKind::Threading {
                    function: T::Plus,
                    inputs: 2,
                    broadcast: false,
                },
                &[from("block"), input("x")],
            ),
            NetNode {
                name: "gate".into(),
                element: Element::Net(gate),
                inputs: vec![from("residual"), input("x")],
            },
            node(
                "swap",
                mxnet_op("SwapAxis", &[("dim1", "1"), ("dim2", "3")], &[]),
                &[from("gate")],
            ),
            node(
                "adaptive",
                mxnet_op(
                    "_contrib_AdaptiveAvgPooling2D",
                    &[("output_size", "(3, 3)")],
                    &[],
                ),
                &[from("residual")],
            ),
            node(
                "fc_op",
                mxnet_op(
                    "FullyConnected",
                    &[("num_hidden", "5")],
                    &[(1, "weight"), (2, "bias")],
                ),
                &[from("adaptive")],
            ),
            NetNode {
                name: "two_way".into(),
                element: Element::Net(two_way),
                inputs: vec![from("adaptive")],
            },
            node(
                "difference",
                LayerKind::Threading {
                    function: T::Subtract,
                    inputs: 2,
                    broadcast: false,
                },
                &[out("two_way", 1), out("two_way", 0)],
            ),
        ],
        vec![
            ("swapped".into(), from("swap")),
            ("difference".into(), from("difference")),
            ("pooled".into(), from("adaptive")),
            ("scores".into(), from("fc_op")),
        ],
    )
    .unwrap()
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/interop-nets".to_owned());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut out = Out {
        dir: dir.to_owned(),
        expect: BTreeMap::new(),
    };
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut u = |shape: &[usize], lo, hi| rng.uniform(shape, lo, hi);

    out.net(
        "cnn2d",
        cnn2d(),
        1,
        vec![("data", u(&[2, 4, 12, 12], -1., 1.))],
    );
    out.net(
        "conv1d3d",
        conv1d3d(),
        2,
        vec![
            ("x1", u(&[2, 3, 16], -1., 1.)),
            ("x3", u(&[2, 2, 6, 6, 6], -1., 1.)),
        ],
    );
    out.net(
        "pooling",
        pooling(),
        3,
        vec![("data", u(&[2, 3, 11, 11], -1., 1.))],
    );
    out.net(
        "elementwise",
        elementwise_net(),
        4,
        vec![
            ("x", u(&[2, 3, 4, 5], -2., 2.)),
            ("xp", u(&[2, 3, 4, 5], 1.1, 3.)),
            ("xu", u(&[2, 3, 4, 5], -0.9, 0.9)),
        ],
    );
    out.net(
        "shapes",
        shapes(),
        5,
        vec![("x", u(&[2, 3, 4, 5], -1., 1.))],
    );
    out.net(
        "threading",
        threading(),
        6,
        vec![
            ("a", u(&[2, 3, 4], -1., 1.)),
            ("b", u(&[2, 3, 4], 0.5, 1.5)),
            ("p", u(&[2, 3, 4], 0.5, 2.)),
            ("c", u(&[1, 3, 1], 0.5, 1.5)),
            ("d", u(&[2, 1, 4], -1., 1.)),
        ],
    );
    let tokens = rng.indices(&[2, 5], 10);
    let mut u = |shape: &[usize], lo, hi| rng.uniform(shape, lo, hi);
    out.net(
        "dense",
        dense(),
        7,
        vec![
            ("tokens", tokens),
            ("x", u(&[2, 5, 6], -1., 1.)),
            ("m1", u(&[3, 4], -1., 1.)),
            ("m2", u(&[5, 4], -1., 1.)),
            ("b1", u(&[2, 3, 4], -1., 1.)),
            ("b2", u(&[2, 5, 4], -1., 1.)),
            ("m3", u(&[2, 3], -1., 1.)),
            ("b3", u(&[2, 6, 3], -1., 1.)),
        ],
    );
    out.net(
        "recurrent",
        recurrent_chain(),
        8,
        vec![("data", u(&[5, 2, 3], -1., 1.))],
    );
    out.net(
        "recurrent_states",
        recurrent_states(),
        9,
        vec![
            ("data", u(&[5, 2, 3], -1., 1.)),
            ("h", u(&[4, 2, 4], -0.5, 0.5)),
            ("c", u(&[4, 2, 4], -0.5, 0.5)),
            ("hg", u(&[4, 2, 3], -0.5, 0.5)),
        ],
    );
    out.net(
        "nested",
        nested(),
        10,
        vec![("x", u(&[2, 4, 8, 8], -1., 1.))],
    );

    for m in fixture_models(&["models", "nets"]) {
        let name = format!("{}_{}", m.dir, m.prefix);
        out.fixture(&name, &m.symbol, &m.params, &m.io);
    }

    let expect = json!({
        "generator": {"writer": "mxnet-net interop_nets", "mxnet_version": symbol::MXNET_VERSION},
        "files": out.expect,
    });
    std::fs::write(
        dir.join("expect.json"),
        serde_json::to_string_pretty(&expect).unwrap(),
    )
    .unwrap();
    println!(
        "wrote {} symbols to {} (check with scripts/interop.py)",
        out.expect.len(),
        dir.display()
    );
}
