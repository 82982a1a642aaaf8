//! The fused `RNN` op ⇄ `LongShortTermMemory`, `GatedRecurrent`,
//! `BasicRecurrent`.
//!
//! MXNet packs every weight into one flat `parameters` vector (spec §4.4):
//! first all matrices, per layer and direction, W_x (G·H × in) then W_h
//! (G·H × H); then all biases in the same order, b_x then b_h; gate order
//! lstm i, f, g, o and gru r, z, n. The layer keeps one array per gate and
//! kind, named `{Gate}{Input|State}{Weights|Biases}` (prefixed `L{l}/` and
//! `F/`/`B/` for stacked or bidirectional layers). Gluon feeds the vector
//! through `_rnn_param_concat` of reshaped per-piece parameters and gives the
//! initial states as `_zeros` nodes; the importer absorbs both. Initial states
//! given as graph inputs become layer inputs (`state_inputs`).
//!
//! Export writes the fused op with one flat `NAME_parameters` variable and,
//! without state inputs, `_zeros` initial states whose batch size MXNet infers.

use mxnet_format::symbol::NodeEntry;
use mxnet_ops::Tensor;

use super::{Builder, ImportFn, NodeView, Translated, py_bool, tuple};
use crate::layer::{Layer, LayerKind, RecurrentOptions};

pub(crate) static IMPORTS: &[(&str, ImportFn)] = &[("RNN", import)];

/// Gate names in MXNet's order (`lstm`, `gru`, anything else: one unnamed gate).
pub(crate) fn gates(mode: &str) -> &'static [&'static str] {
    match mode {
        "lstm" => &["InputGate", "ForgetGate", "MemoryGate", "OutputGate"],
        "gru" => &["ResetGate", "UpdateGate", "MemoryGate"],
        _ => &[""],
    }
}

/// The array-name prefix of layer `l`, direction `d` (`L2/B/`; empty for
/// one unidirectional layer).
pub(crate) fn prefix(o: &RecurrentOptions, l: usize, d: usize) -> String {
    if o.layers == 1 && !o.bidirectional {
        return String::new();
    }
    let dir = if o.bidirectional {
        if d == 0 { "F/" } else { "B/" }
    } else {
        ""
    };
    format!("L{}/{dir}", l + 1)
}

/// Array names in flat-vector order: all weights, then all biases.
pub(crate) fn array_names(mode: &str, o: &RecurrentOptions) -> Vec<String> {
    let dirs = if o.bidirectional { 2 } else { 1 };
    let mut w = Vec::new();
    let mut b = Vec::new();
    for l in 0..o.layers {
        for d in 0..dirs {
            let p = prefix(o, l, d);
            for kind in ["Input", "State"] {
                for g in gates(mode) {
                    w.push(format!("{p}{g}{kind}Weights"));
                    b.push(format!("{p}{g}{kind}Biases"));
                }
            }
        }
    }
    w.extend(b);
    w
}

/// Per-array shapes in flat order, for input size `input`.
fn array_shapes(mode: &str, o: &RecurrentOptions, input: usize) -> Vec<Vec<usize>> {
    let dirs = if o.bidirectional { 2 } else { 1 };
    let h = o.hidden;
    let g = gates(mode).len();
    let mut w = Vec::new();
    let mut b = Vec::new();
    for l in 0..o.layers {
        let inp = if l == 0 { input } else { dirs * h };
        for _ in 0..dirs {
            for (cols, _) in [(inp, "Input"), (h, "State")] {
                for _ in 0..g {
                    w.push(vec![h, cols]);
                    b.push(vec![h]);
                }
            }
        }
    }
    w.extend(b);
    w
}

fn mode_of(kind: &LayerKind) -> (&'static str, &RecurrentOptions) {
    match kind {
        LayerKind::LongShortTermMemory(o) => ("lstm", o),
        LayerKind::GatedRecurrent(o) => ("gru", o),
        LayerKind::BasicRecurrent {
            options,
            activation,
        } => (
            if activation == "relu" {
                "rnn_relu"
            } else {
                "rnn_tanh"
            },
            options,
        ),
        _ => super::linear::unreachable_kind(),
    }
}

/// The flat parameter vector: the array itself, or Gluon's concatenation
/// of reshaped per-piece arrays.
fn flat_parameters(v: &NodeView<'_>) -> Option<Vec<f32>> {
    if let Some(t) = v.array("parameters") {
        return Some(t.data);
    }
    let e = v.node.inputs.get(1)?;
    let concat = &v.sym.nodes()[e.node as usize];
    if !matches!(concat.canonical_op(), "_rnn_param_concat" | "Concat") {
        return None;
    }
    let mut out = Vec::new();
    for piece in &concat.inputs {
        let mut n = &v.sym.nodes()[piece.node as usize];
        if n.canonical_op() == "Reshape" {
            n = &v.sym.nodes()[n.inputs.first()?.node as usize];
        }
        if !n.is_variable() {
            return None;
        }
        out.extend_from_slice(&v.weights?.get(&n.name)?.data);
    }
    Some(out)
}

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let a = &v.attrs;
    let e = |e: mxnet_ops::AttrError| e.to_string();
    let mode = a
        .choice("mode", &["lstm", "gru", "rnn_tanh", "rnn_relu"], "lstm")
        .map_err(e)?;
    if a.opt_int("projection_size").map_err(e)?.is_some() {
        return Err("projection_size (LSTMP) is set".into());
    }
    if a.bool("use_sequence_length", false).map_err(e)? {
        return Err("use_sequence_length is set".into());
    }
    if a.opt_float("lstm_state_clip_min").map_err(e)?.is_some()
        || a.opt_float("lstm_state_clip_max").map_err(e)?.is_some()
    {
        return Err("LSTM state clipping is set".into());
    }
    let hidden = a.req_count("state_size").map_err(e)?;
    let layers = a.req_count("num_layers").map_err(e)?.max(1);
    let bidirectional = a.bool("bidirectional", false).map_err(e)?;
    let state_outputs = a.bool("state_outputs", false).map_err(e)?;
    // Initial states: graph inputs (variables) or zeros (Gluon's `_zeros`).
    let n_states = if mode == "lstm" { 2 } else { 1 };
    let state_nodes: Vec<&mxnet_format::symbol::Node> = v
        .node
        .inputs
        .iter()
        .skip(2)
        .take(n_states)
        .map(|e| &v.sym.nodes()[e.node as usize])
        .collect();
    let state_inputs = !state_nodes.iter().all(|n| n.canonical_op() == "_zeros");
    let dirs = if bidirectional { 2 } else { 1 };
    let g = gates(mode).len();
    let flat = flat_parameters(v);
    // Solve the input size from the vector length (spec §4.4).
    let input_size = flat.as_ref().and_then(|p| {
        let gh = g * hidden;
        let per_upper = gh * dirs * hidden + gh * hidden + 2 * gh;
        let rest = p.len() / dirs;
        let first = rest
            .checked_sub((layers - 1) * per_upper)?
            .checked_sub(gh * hidden + 2 * gh)?;
        (gh > 0 && first % gh == 0 && p.len() % dirs == 0).then_some(first / gh)
    });
    let options = RecurrentOptions {
        hidden,
        layers,
        bidirectional,
        state_inputs,
        state_outputs,
        input_size,
        dropout: a.float("p", 0.0).map_err(e)?,
    };
    let kind = match mode {
        "lstm" => LayerKind::LongShortTermMemory(options.clone()),
        "gru" => LayerKind::GatedRecurrent(options.clone()),
        m => LayerKind::BasicRecurrent {
            options: options.clone(),
            activation: if m == "rnn_relu" { "relu" } else { "tanh" }.to_owned(),
        },
    };
    let names = array_names(if mode.starts_with("rnn") { "rnn" } else { mode }, &options);
    let arrays: Vec<(String, Option<Tensor>)> = match (flat, input_size) {
        (Some(p), Some(input)) => {
            let shapes = array_shapes(mode, &options, input);
            let mut at = 0;
            names
                .into_iter()
                .zip(shapes)
                .map(|(n, s)| {
                    let len: usize = s.iter().product();
                    let data = p[at..at + len].to_vec();
                    at += len;
                    (
                        n,
                        Some(Tensor {
                            dtype: mxnet_format::DType::F32,
                            shape: s,
                            data,
                        }),
                    )
                })
                .collect()
        }
        _ => names.into_iter().map(|n| (n, None)).collect(),
    };
    let mut data = vec![0];
    if state_inputs {
        data.extend(2..2 + n_states);
    }
    Ok(Translated {
        layer: Layer { kind, arrays },
        data,
    })
}

pub(crate) fn export(
    b: &mut Builder,
    name: &str,
    layer: &Layer,
    inputs: &[NodeEntry],
) -> Result<Vec<NodeEntry>, String> {
    let (mode, o) = mode_of(&layer.kind);
    let n_states = if mode == "lstm" { 2 } else { 1 };
    let want = if o.state_inputs { 1 + n_states } else { 1 };
    if inputs.len() != want {
        return Err(format!(
            "has {} inputs connected, expects {want}",
            inputs.len()
        ));
    }
    let flat: Option<Tensor> = if layer.is_initialized() {
        let data: Vec<f32> = layer
            .arrays
            .iter()
            .filter_map(|(_, a)| a.as_ref())
            .flat_map(|a| a.data.iter().copied())
            .collect();
        Some(Tensor {
            dtype: mxnet_format::DType::F32,
            shape: vec![data.len()],
            data,
        })
    } else {
        None
    };
    let mut entries = vec![
        inputs[0],
        b.param(&format!("{name}_parameters"), flat.as_ref(), false),
    ];
    let dirs = if o.bidirectional { 2 } else { 1 };
    if o.state_inputs {
        entries.extend_from_slice(&inputs[1..]);
    } else {
        for k in 0..n_states {
            let z = b.op(
                "_zeros",
                &format!("{name}_begin_state_{k}"),
                &[("shape", tuple(&[o.layers * dirs, 0, o.hidden]))],
                &[],
            );
            entries.push(z);
        }
    }
    let first = b.op(
        "RNN",
        name,
        &[
            ("bidirectional", py_bool(o.bidirectional)),
            ("mode", mode.to_owned()),
            ("num_layers", o.layers.to_string()),
            ("p", super::py_float(o.dropout)),
            ("state_outputs", py_bool(o.state_outputs)),
            ("state_size", o.hidden.to_string()),
        ],
        &entries,
    );
    let outs = if o.state_outputs { 1 + n_states } else { 1 };
    Ok((0..outs as u32)
        .map(|k| NodeEntry::new(first.node, k))
        .collect())
}

/// Fills a recurrent layer's arrays with uniform values in ±1/√hidden (zero
/// biases), with the input size solved from the parameter vector's length.
pub(crate) fn initialize(
    layer: &mut Layer,
    flat_len: Option<usize>,
    seed: &mut u64,
) -> Result<(), crate::error::NetError> {
    let (mode, o) = mode_of(&layer.kind);
    let o = o.clone();
    let dirs = if o.bidirectional { 2 } else { 1 };
    let gh = gates(mode).len() * o.hidden;
    let input = match (o.input_size, flat_len) {
        (Some(i), _) => i,
        (None, Some(len)) => {
            let per_upper = gh * dirs * o.hidden + gh * o.hidden + 2 * gh;
            let first = (len / dirs)
                .checked_sub((o.layers - 1) * per_upper + gh * o.hidden + 2 * gh)
                .filter(|f| gh > 0 && f % gh == 0)
                .ok_or_else(|| {
                    crate::error::NetError::Invalid("recurrent parameter size does not fit".into())
                })?;
            first / gh
        }
        (None, None) => {
            return Err(crate::error::NetError::Invalid(
                "the input size of a recurrent layer could not be inferred".into(),
            ));
        }
    };
    let shapes = array_shapes(mode, &o, input);
    let scale = 1.0 / (o.hidden.max(1) as f32).sqrt();
    for ((name, value), shape) in layer.arrays.iter_mut().zip(shapes) {
        if value.is_some() {
            continue;
        }
        let n: usize = shape.iter().product();
        let data = if name.ends_with("Biases") {
            vec![0.0; n]
        } else {
            (0..n)
                .map(|_| {
                    *seed ^= *seed << 13;
                    *seed ^= *seed >> 7;
                    *seed ^= *seed << 17;
                    (((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0) * scale
                })
                .collect()
        };
        *value = Some(Tensor {
            dtype: mxnet_format::DType::F32,
            shape,
            data,
        });
    }
    Ok(())
}

/// Nodes the importer folds into an RNN layer: Gluon's parameter packing
/// (`_rnn_param_concat` of `Reshape`s of variables) and `_zeros` initial
/// states, when the RNN is their only consumer.
pub(crate) fn absorbed(sym: &mxnet_format::symbol::Symbol) -> Vec<usize> {
    let nodes = sym.nodes();
    let consumers = super::consumers(sym);
    let mut out = Vec::new();
    for n in nodes.iter().filter(|n| n.canonical_op() == "RNN") {
        if let Some(p) = n.inputs.get(1) {
            let c = p.node as usize;
            if matches!(nodes[c].canonical_op(), "_rnn_param_concat") && consumers[c] == 1 {
                out.push(c);
                for piece in &nodes[c].inputs {
                    let r = piece.node as usize;
                    if nodes[r].canonical_op() == "Reshape" && consumers[r] == 1 {
                        out.push(r);
                    }
                }
            }
        }
        for s in n.inputs.iter().skip(2) {
            let z = s.node as usize;
            if nodes[z].canonical_op() == "_zeros" && consumers[z] == 1 {
                out.push(z);
            }
        }
    }
    out
}
