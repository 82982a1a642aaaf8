//! Unrolling recurrent layers over a fixed sequence length.
//!
//! [`unroll`] replaces every `LongShortTermMemory`, `GatedRecurrent` and
//! `BasicRecurrent` layer by a nested net (same node name) of ordinary layers
//! that computes the same thing step by step, the way the reference exports
//! recurrent nets. The fused layer's input is time-major (T, N, I); T must be
//! known from the net's input shapes. Per layer l and direction d:
//!
//! * `{p}input`: one `Linear` (flatten off) of G·H rows projects the whole
//!   sequence with the gates' input weights and biases (gate order as MXNet:
//!   lstm i f g o, gru r z n; G = 4, 3, 1).
//! * per step t (the backward direction runs t = T−1…0): `{p}t{t}_x`, the
//!   step's slice of the projection (1, N, G·H); `{p}t{t}_state`, a `Linear`
//!   of G·H rows with the state weights and biases applied to the previous
//!   hidden state (1, N, H); then the gates as `Part` slices of the last axis,
//!   `Elementwise` (LogisticSigmoid, Tanh, Ramp) and `Threading` (Plus,
//!   Times) layers, with MXNet's equations (spec §4.4):
//!   - lstm: c' = σ(f)⊙c + σ(i)⊙tanh(g), h' = σ(o)⊙tanh(c');
//!   - gru: r, z = σ(x_rz + h_rz), n = tanh(x_n + r⊙h_n),
//!     h' = (1 − z)⊙n + z⊙h;
//!   - rnn: h' = act(x + h).
//! * the outputs of the steps are joined on the time axis (`Catenate` axis 0)
//!   and, when bidirectional, [forward, backward] on the last axis.
//!
//! `{p}` is `l{l}{f|b}_` (empty for one unidirectional layer). The input
//! first goes through two `Reshape`s, (T', N, I) → (T, 1, N, I) → (T, N, I),
//! so that a sequence of another length T' is an error when the graph runs
//! (in MXNet too) rather than a wrong result; the batch size stays free.
//! Initial states
//! are slices of the state inputs (`state_inputs`) or zeros (`zeros_like` of
//! a slice of the first projection, an `MXNetOp` layer, so any batch size
//! works). Final states, when the net reads them, are joined layer-major as
//! the fused op's (L·D, N, H). Dropout between layers becomes `Dropout`
//! layers. The state weights are copied into every step's `Linear` (a layer
//! owns its arrays), so the state matrices are stored T times.

use std::collections::HashMap;

use mxnet_format::DType;
use mxnet_ops::{Program, Tensor, Weights};

use crate::error::NetError;
use crate::layer::{ElementwiseFunction, Layer, LayerKind, RecurrentOptions, ThreadingFunction};
use crate::net::{Element, Net, NetNode, Port, Source};
use crate::rules::{recurrent_gates, recurrent_prefix};
use crate::translate::{ExportOptions, to_symbol};

/// Returns `net` with every recurrent layer (also inside nested nets)
/// replaced by an equivalent nested net of non-recurrent layers over the
/// sequence length the net's input shapes give (see the module docs).
///
/// Fails when a recurrent layer's sequence length is not known: set the
/// input shapes first ([`Net::set_input_shape`], or `--input-shape` on the
/// command line).
///
/// ```
/// use mxnet_net::{Element, Layer, LayerKind, Net, Port, RecurrentOptions, unroll::unroll};
///
/// let gru = Layer::new(LayerKind::GatedRecurrent(RecurrentOptions {
///     hidden: 4, layers: 1, bidirectional: false, state_inputs: false,
///     state_outputs: false, input_size: Some(3), dropout: 0.0,
/// }));
/// let mut net = Net::chain(Port::new("data"), vec![("gru".into(), Element::Layer(gru))])?;
/// assert!(unroll(&net).unwrap_err().to_string().contains("must be fixed"));
/// net.set_input_shape("data", vec![5, 1, 3])?;
/// let unrolled = unroll(&net)?;
/// assert!(unrolled.layers().iter().all(|(_, l)| l.type_name() != "GatedRecurrent"));
/// # Ok::<(), mxnet_net::NetError>(())
/// ```
pub fn unroll(net: &Net) -> Result<Net, NetError> {
    unroll_net(net)
}

fn is_recurrent(kind: &LayerKind) -> bool {
    matches!(
        kind,
        LayerKind::LongShortTermMemory(_)
            | LayerKind::GatedRecurrent(_)
            | LayerKind::BasicRecurrent { .. }
    )
}

fn contains_recurrent(net: &Net) -> bool {
    net.layers().iter().any(|(_, l)| is_recurrent(&l.kind))
}

fn unroll_net(net: &Net) -> Result<Net, NetError> {
    // Nodes to rewrite and the sources whose shapes they need.
    let mut targets = Vec::new();
    let mut wanted: Vec<Source> = Vec::new();
    for (i, node) in net.nodes.iter().enumerate() {
        let needs: &[Source] = match &node.element {
            Element::Layer(l) if is_recurrent(&l.kind) => &node.inputs[..node.inputs.len().min(1)],
            Element::Net(inner) if contains_recurrent(inner) => &node.inputs,
            _ => continue,
        };
        targets.push(i);
        for s in needs {
            if !wanted.contains(s) {
                wanted.push(s.clone());
            }
        }
    }
    if targets.is_empty() {
        return Ok(net.clone());
    }
    let shapes = source_shapes(net, &wanted);
    let mut out = net.clone();
    for i in targets {
        let node = &net.nodes[i];
        let element = match &node.element {
            Element::Layer(layer) => {
                let data = node.inputs.first().ok_or_else(|| NetError::Export {
                    layer: node.name.clone(),
                    kind: layer.type_name(),
                    reason: "the layer has no input".into(),
                })?;
                let shape = match shapes.get(data) {
                    Some(Ok(s)) => s.clone(),
                    Some(Err(e)) => return Err(unknown_length(net, node, layer, Some(e))),
                    None => return Err(unknown_length(net, node, layer, None)),
                };
                let states_read = reads_states(net, &node.name);
                Element::Net(unroll_layer(&node.name, layer, &shape, states_read)?)
            }
            Element::Net(inner) => {
                let mut inner = inner.clone();
                for (port, src) in inner.inputs.iter_mut().zip(&node.inputs) {
                    if let Some(Ok(s)) = shapes.get(src) {
                        port.shape = Some(s.clone());
                    }
                }
                Element::Net(unroll_net(&inner)?)
            }
        };
        out.nodes[i].element = element;
    }
    out.validate()?;
    Ok(out)
}

/// True when something reads an output of node `name` other than output 0.
fn reads_states(net: &Net, name: &str) -> bool {
    let reads =
        |s: &Source| matches!(s, Source::Node { node, output } if node == name && *output > 0);
    net.nodes.iter().flat_map(|n| &n.inputs).any(reads) || net.outputs.iter().any(|(_, s)| reads(s))
}

/// The error for a recurrent layer whose input length is unknown.
fn unknown_length(net: &Net, node: &NetNode, layer: &Layer, cause: Option<&str>) -> NetError {
    let mut missing: Vec<&Port> = net.inputs.iter().filter(|p| p.shape.is_none()).collect();
    if let Some(Source::Input(n)) = node.inputs.first()
        && missing.iter().any(|p| &p.name == n)
    {
        missing.retain(|p| &p.name == n);
    }
    // The layer's own input is time-major; another input is given as laid out.
    let (example, dims) = match node.inputs.first() {
        Some(Source::Input(n)) => (n.as_str(), "T,N,I"),
        _ => (
            missing.first().map_or("data", |p| p.name.as_str()),
            "D1,D2,… (all of its dimensions)",
        ),
    };
    let why = if missing.is_empty() {
        format!(
            "its input shape could not be inferred{}",
            cause.map(|c| format!(" ({c})")).unwrap_or_default()
        )
    } else {
        let names: Vec<String> = missing.iter().map(|p| format!("{:?}", p.name)).collect();
        match names.len() {
            1 => format!("the shape of input {} is not known", names[0]),
            _ => format!("the shapes of inputs {} are not known", names.join(", ")),
        }
    };
    NetError::Export {
        layer: node.name.clone(),
        kind: layer.type_name(),
        reason: format!(
            "the sequence length must be fixed for unrolling, but {why}; give the input \
             shapes, e.g. `--input-shape {example}={dims}` on the command line or \
             `Net::set_input_shape(\"{example}\", …)` in Rust"
        ),
    }
}

/// Shapes of `sources` (net inputs from their ports, node outputs through
/// shape inference); an error string where they cannot be inferred.
fn source_shapes(net: &Net, sources: &[Source]) -> HashMap<Source, Result<Vec<usize>, String>> {
    let mut out = HashMap::new();
    let mut nodes = Vec::new();
    for s in sources {
        match s {
            Source::Input(name) => {
                let shape = net
                    .inputs
                    .iter()
                    .find(|p| &p.name == name)
                    .and_then(|p| p.shape.clone())
                    .ok_or_else(|| format!("input {name:?} has no shape"));
                out.insert(s.clone(), shape);
            }
            Source::Node { .. } => nodes.push(s.clone()),
        }
    }
    if nodes.is_empty() {
        return out;
    }
    match probe(net, &nodes) {
        Ok(shapes) => out.extend(nodes.into_iter().zip(shapes.into_iter().map(Ok))),
        // One at a time, so that an unrelated unknown shape does not hide the others.
        Err(_) => {
            for s in nodes {
                let shape = probe(net, std::slice::from_ref(&s))
                    .and_then(|mut v| v.pop().ok_or_else(|| "no shape was inferred".to_owned()));
                out.insert(s, shape);
            }
        }
    }
    out
}

/// Infers the shapes of node outputs `sources` from the net's input shapes.
fn probe(net: &Net, sources: &[Source]) -> Result<Vec<Vec<usize>>, String> {
    let mut p = net.clone();
    p.outputs = sources
        .iter()
        .enumerate()
        .map(|(k, s)| (format!("probe{k}"), s.clone()))
        .collect();
    let exported = to_symbol(&p, &ExportOptions::default()).map_err(|e| e.to_string())?;
    let mut weights = Weights::new();
    for (k, t) in &exported.params {
        weights.insert(k.split_once(':').map_or(k.as_str(), |(_, n)| n), t.clone());
    }
    let shapes: HashMap<String, Vec<usize>> = net
        .inputs
        .iter()
        .filter_map(|p| p.shape.clone().map(|s| (p.name.clone(), s)))
        .collect();
    let program = Program::compile(&exported.symbol, None).map_err(|e| e.to_string())?;
    let plan = program.bind(&weights, &shapes).map_err(|e| e.to_string())?;
    Ok(plan
        .output_shapes()
        .into_iter()
        .map(<[usize]>::to_vec)
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Lstm,
    Gru,
    Tanh,
    Relu,
}

/// The nodes of an unrolled layer, in order.
struct Nodes(Vec<NetNode>);

impl Nodes {
    fn add(&mut self, name: String, layer: Layer, inputs: Vec<Source>) -> Source {
        let src = Source::node(&name);
        self.0.push(NetNode {
            name,
            element: Element::Layer(layer),
            inputs,
        });
        src
    }

    /// `input[begin..end]` along `axis` (all earlier axes whole).
    fn part(
        &mut self,
        name: String,
        input: &Source,
        axis: usize,
        begin: usize,
        end: usize,
    ) -> Source {
        let mut b = vec![None; axis + 1];
        let mut e = vec![None; axis + 1];
        b[axis] = Some(begin as i64);
        e[axis] = Some(end as i64);
        let layer = Layer::new(LayerKind::Part {
            begin: b,
            end: e,
            step: Vec::new(),
        });
        self.add(name, layer, vec![input.clone()])
    }

    fn elementwise(
        &mut self,
        name: String,
        function: ElementwiseFunction,
        input: &Source,
    ) -> Source {
        let layer = Layer::new(LayerKind::Elementwise { function });
        self.add(name, layer, vec![input.clone()])
    }

    fn threading(
        &mut self,
        name: String,
        function: ThreadingFunction,
        a: &Source,
        b: &Source,
    ) -> Source {
        let layer = Layer::new(LayerKind::Threading {
            function,
            inputs: 2,
            broadcast: false,
        });
        self.add(name, layer, vec![a.clone(), b.clone()])
    }

    /// Joins `parts` along `axis` (the part itself when there is one).
    fn catenate(&mut self, name: String, axis: i64, parts: Vec<Source>) -> Source {
        let mut parts = parts;
        if parts.len() == 1
            && let Some(only) = parts.pop()
        {
            return only;
        }
        let layer = Layer::new(LayerKind::Catenate {
            axis,
            inputs: parts.len(),
        });
        self.add(name, layer, parts)
    }
}

/// A `Linear` of `size` rows acting on the last axis.
fn linear(size: usize, weights: Option<Tensor>, biases: Option<Tensor>) -> Layer {
    Layer {
        kind: LayerKind::Linear {
            size,
            bias: true,
            flatten: false,
        },
        arrays: vec![("Weights".into(), weights), ("Biases".into(), biases)],
    }
}

/// The arrays `names` of `layer` stacked along their first axis (`None`
/// when one is missing).
fn stacked(layer: &Layer, names: &[String]) -> Result<Option<Tensor>, NetError> {
    let mut parts = Vec::with_capacity(names.len());
    for n in names {
        match layer.array(n) {
            Some(t) => parts.push(t),
            None => return Ok(None),
        }
    }
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    let tail = &first.shape[1.min(first.shape.len())..];
    if parts
        .iter()
        .any(|t| t.shape.is_empty() || t.shape[1..] != *tail)
    {
        return Err(NetError::Invalid(format!(
            "recurrent arrays {} do not have matching shapes",
            names.join(", ")
        )));
    }
    let rows: usize = parts.iter().map(|t| t.shape[0]).sum();
    let mut shape = vec![rows];
    shape.extend_from_slice(tail);
    let data: Vec<f32> = parts.iter().flat_map(|t| t.data.iter().copied()).collect();
    Ok(Some(Tensor {
        dtype: DType::F32,
        shape,
        data,
    }))
}

/// The unrolled net of a recurrent layer whose data input has shape `shape`
/// (T, N, I); `states` adds the final-state outputs.
fn unroll_layer(name: &str, layer: &Layer, shape: &[usize], states: bool) -> Result<Net, NetError> {
    let fail = |reason: String| NetError::Export {
        layer: name.to_owned(),
        kind: layer.type_name(),
        reason,
    };
    let (mode, o): (Mode, &RecurrentOptions) = match &layer.kind {
        LayerKind::LongShortTermMemory(o) => (Mode::Lstm, o),
        LayerKind::GatedRecurrent(o) => (Mode::Gru, o),
        LayerKind::BasicRecurrent {
            options,
            activation,
        } => match activation.as_str() {
            "tanh" => (Mode::Tanh, options),
            "relu" => (Mode::Relu, options),
            other => return Err(fail(format!("unknown activation {other:?}"))),
        },
        _ => return Err(fail("not a recurrent layer".into())),
    };
    if shape.len() != 3 {
        return Err(fail(format!(
            "the input must be time-major (T, N, I), its shape is {shape:?}"
        )));
    }
    let steps = shape[0];
    if steps == 0 {
        return Err(fail("the sequence is empty (length 0)".into()));
    }
    let h = o.hidden;
    let gates = recurrent_gates(match mode {
        Mode::Lstm => "lstm",
        Mode::Gru => "gru",
        _ => "rnn",
    });
    let gh = gates.len() * h;
    let dirs = if o.bidirectional { 2 } else { 1 };
    let layers = o.layers.max(1);

    let mut inputs = vec![Port::with_shape("Input", shape.to_vec())];
    if o.state_inputs {
        inputs.push(Port::new("State"));
        if mode == Mode::Lstm {
            inputs.push(Port::new("CellState"));
        }
    }
    let mut nodes = Nodes(Vec::new());
    // (T', N, I) → (T, 1, N, I) → (T, N, I): splitting T' into (T, 1) fails
    // unless T' = T (MXNet's Reshape does not check sizes with code 0 alone),
    // so a sequence of another length cannot be silently misread.
    let split = Layer::new(LayerKind::Reshape {
        shape: vec![-4, steps as i64, 1, -2],
    });
    let split = nodes.add(
        "check_length".into(),
        split,
        vec![Source::Input("Input".into())],
    );
    let merge = Layer::new(LayerKind::Reshape {
        shape: vec![0, -3, -2],
    });
    let mut layer_in = nodes.add("checked_input".into(), merge, vec![split]);
    let mut zeros: Option<Source> = None;
    let mut finals_h = Vec::new();
    let mut finals_c = Vec::new();
    for l in 0..layers {
        let mut seqs = Vec::new();
        for d in 0..dirs {
            let p = if layers == 1 && dirs == 1 {
                String::new()
            } else {
                format!(
                    "l{}{}_",
                    l + 1,
                    match (dirs, d) {
                        (1, _) => "",
                        (_, 0) => "f",
                        _ => "b",
                    }
                )
            };
            let ap = recurrent_prefix(o, l, d);
            let names = |kind: &str, what: &str| -> Vec<String> {
                gates
                    .iter()
                    .map(|g| format!("{ap}{g}{kind}{what}"))
                    .collect()
            };
            let wx = stacked(layer, &names("Input", "Weights"))?;
            let bx = stacked(layer, &names("Input", "Biases"))?;
            let wh = stacked(layer, &names("State", "Weights"))?;
            let bh = stacked(layer, &names("State", "Biases"))?;
            let xproj = nodes.add(
                format!("{p}input"),
                linear(gh, wx, bx),
                vec![layer_in.clone()],
            );
            // Initial states: (1, N, H).
            let k = l * dirs + d;
            let (mut hs, mut cs) = if o.state_inputs {
                let hs = nodes.part(
                    format!("{p}state"),
                    &Source::Input("State".into()),
                    0,
                    k,
                    k + 1,
                );
                let cs = (mode == Mode::Lstm).then(|| {
                    nodes.part(
                        format!("{p}cellstate"),
                        &Source::Input("CellState".into()),
                        0,
                        k,
                        k + 1,
                    )
                });
                (hs, cs)
            } else {
                let z = match &zeros {
                    Some(z) => z.clone(),
                    None => {
                        // Step 0, first H features of the projection: (1, N, H).
                        let like = Layer::new(LayerKind::Part {
                            begin: vec![Some(0), None, Some(0)],
                            end: vec![Some(1), None, Some(h as i64)],
                            step: Vec::new(),
                        });
                        let like = nodes.add("zeros_like_input".into(), like, vec![xproj.clone()]);
                        let z = nodes.add("zeros".into(), zeros_like(), vec![like]);
                        zeros = Some(z.clone());
                        z
                    }
                };
                (z.clone(), (mode == Mode::Lstm).then_some(z))
            };
            let order: Vec<usize> = if d == 0 {
                (0..steps).collect()
            } else {
                (0..steps).rev().collect()
            };
            let mut outs: Vec<Option<Source>> = vec![None; steps];
            for t in order {
                let q = format!("{p}t{t}_");
                let x = nodes.part(format!("{q}x"), &xproj, 0, t, t + 1);
                let hp = nodes.add(
                    format!("{q}state"),
                    linear(gh, wh.clone(), bh.clone()),
                    vec![hs.clone()],
                );
                let new_h = match mode {
                    Mode::Tanh | Mode::Relu => {
                        let sum =
                            nodes.threading(format!("{q}sum"), ThreadingFunction::Plus, &x, &hp);
                        let f = if mode == Mode::Tanh {
                            ElementwiseFunction::Tanh
                        } else {
                            ElementwiseFunction::Ramp
                        };
                        nodes.elementwise(format!("{q}h"), f, &sum)
                    }
                    Mode::Lstm => {
                        let sum =
                            nodes.threading(format!("{q}sum"), ThreadingFunction::Plus, &x, &hp);
                        let mut gate = |g: &str, k: usize, f: ElementwiseFunction| {
                            let pre =
                                nodes.part(format!("{q}{g}_pre"), &sum, 2, k * h, (k + 1) * h);
                            nodes.elementwise(format!("{q}{g}"), f, &pre)
                        };
                        let i = gate("i", 0, ElementwiseFunction::LogisticSigmoid);
                        let f = gate("f", 1, ElementwiseFunction::LogisticSigmoid);
                        let g = gate("g", 2, ElementwiseFunction::Tanh);
                        let og = gate("o", 3, ElementwiseFunction::LogisticSigmoid);
                        let c_prev = cs.clone().ok_or_else(|| fail("no cell state".into()))?;
                        let fc = nodes.threading(
                            format!("{q}fc"),
                            ThreadingFunction::Times,
                            &f,
                            &c_prev,
                        );
                        let ig =
                            nodes.threading(format!("{q}ig"), ThreadingFunction::Times, &i, &g);
                        let c = nodes.threading(format!("{q}c"), ThreadingFunction::Plus, &fc, &ig);
                        let tc =
                            nodes.elementwise(format!("{q}c_tanh"), ElementwiseFunction::Tanh, &c);
                        cs = Some(c);
                        nodes.threading(format!("{q}h"), ThreadingFunction::Times, &og, &tc)
                    }
                    Mode::Gru => {
                        let x_rz = nodes.part(format!("{q}x_rz"), &x, 2, 0, 2 * h);
                        let h_rz = nodes.part(format!("{q}state_rz"), &hp, 2, 0, 2 * h);
                        let sum = nodes.threading(
                            format!("{q}rz_sum"),
                            ThreadingFunction::Plus,
                            &x_rz,
                            &h_rz,
                        );
                        let rz = nodes.elementwise(
                            format!("{q}rz"),
                            ElementwiseFunction::LogisticSigmoid,
                            &sum,
                        );
                        let r = nodes.part(format!("{q}r"), &rz, 2, 0, h);
                        let z = nodes.part(format!("{q}z"), &rz, 2, h, 2 * h);
                        let x_n = nodes.part(format!("{q}x_n"), &x, 2, 2 * h, 3 * h);
                        let h_n = nodes.part(format!("{q}state_n"), &hp, 2, 2 * h, 3 * h);
                        let rh = nodes.threading(
                            format!("{q}r_state_n"),
                            ThreadingFunction::Times,
                            &r,
                            &h_n,
                        );
                        let pre = nodes.threading(
                            format!("{q}n_pre"),
                            ThreadingFunction::Plus,
                            &x_n,
                            &rh,
                        );
                        let n = nodes.elementwise(format!("{q}n"), ElementwiseFunction::Tanh, &pre);
                        let one_minus_z = nodes.elementwise(
                            format!("{q}one_minus_z"),
                            ElementwiseFunction::Scalar("_rminus_scalar".into(), 1.0),
                            &z,
                        );
                        let a = nodes.threading(
                            format!("{q}keep_n"),
                            ThreadingFunction::Times,
                            &one_minus_z,
                            &n,
                        );
                        let b = nodes.threading(
                            format!("{q}keep_state"),
                            ThreadingFunction::Times,
                            &z,
                            &hs,
                        );
                        nodes.threading(format!("{q}h"), ThreadingFunction::Plus, &a, &b)
                    }
                };
                outs[t] = Some(new_h.clone());
                hs = new_h;
            }
            let outs: Vec<Source> = outs.into_iter().flatten().collect();
            seqs.push(nodes.catenate(format!("{p}output"), 0, outs));
            finals_h.push(hs);
            if let Some(c) = cs {
                finals_c.push(c);
            }
        }
        let mut out = if dirs == 2 {
            let p = format!("l{}_", l + 1);
            nodes.catenate(format!("{p}output"), 2, seqs)
        } else {
            seqs.pop().ok_or_else(|| fail("no direction".into()))?
        };
        if o.dropout > 0.0 && l + 1 < layers {
            let drop = Layer::new(LayerKind::Dropout {
                probability: o.dropout,
            });
            out = nodes.add(format!("l{}_dropout", l + 1), drop, vec![out]);
        }
        layer_in = out;
    }
    let mut outputs = vec![("Output".to_owned(), layer_in)];
    if states {
        outputs.push((
            "State".into(),
            nodes.catenate("state_output".into(), 0, finals_h),
        ));
        if mode == Mode::Lstm {
            outputs.push((
                "CellState".into(),
                nodes.catenate("cellstate_output".into(), 0, finals_c),
            ));
        }
    }
    let nodes = dfs_order(nodes.0, &outputs);
    Net::graph(inputs, nodes, outputs)
}

/// The nodes that feed `outputs`, in depth-first post-order from the outputs
/// in order and each node's inputs in order, as an exported graph orders
/// them (a re-import then lists the unrolled layers in this order, unless
/// the outer net reads the outputs in another order).
fn dfs_order(nodes: Vec<NetNode>, outputs: &[(String, Source)]) -> Vec<NetNode> {
    let index: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), i))
        .collect();
    let producer = |s: &Source| match s {
        Source::Node { node, .. } => index.get(node).copied(),
        Source::Input(_) => None,
    };
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    for (_, out) in outputs {
        let Some(root) = producer(out) else { continue };
        if done[root] {
            continue;
        }
        done[root] = true;
        let mut stack = vec![(root, 0usize)];
        while let Some(top) = stack.last_mut() {
            let (v, next) = *top;
            match nodes[v].inputs.get(next) {
                None => {
                    order.push(v);
                    stack.pop();
                }
                Some(src) => {
                    top.1 += 1;
                    if let Some(u) = producer(src)
                        && !done[u]
                    {
                        done[u] = true;
                        stack.push((u, 0));
                    }
                }
            }
        }
    }
    let mut slots: Vec<Option<NetNode>> = nodes.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// `zeros_like`, kept as an `MXNetOp` layer (no layer has it), with the
/// reason the importer gives it so a re-import compares equal.
fn zeros_like() -> Layer {
    Layer {
        kind: LayerKind::MXNetOp {
            op: "zeros_like".into(),
            attrs: Default::default(),
            inputs: 1,
            outputs: 1,
            array_slots: Vec::new(),
            reason: "no rule translates zeros_like".into(),
        },
        arrays: Vec::new(),
    }
}
